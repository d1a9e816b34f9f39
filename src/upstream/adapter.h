/* adapter.h: what an attempt's client and provider speak, and so what the
 * call does to the bytes between them (docs/gateway-behaviour.md,
 * "Anthropic"). An OpenAI chat client on an Anthropic provider, or an
 * Anthropic client on an OpenAI-compatible one, is translated both ways
 * (upstream/anthropic.h); a client of the provider's own API passes
 * through, its model name replaced. */
#ifndef TOLLGATE_UPSTREAM_ADAPTER_H
#define TOLLGATE_UPSTREAM_ADAPTER_H

#include "config.h"
#include "core/words.h"

typedef enum tg_dialect {
    TG_DIALECT_NATIVE,             /* the provider's own API: bytes pass */
    TG_DIALECT_CHAT_TO_ANTHROPIC,  /* OpenAI chat client, Anthropic provider */
    TG_DIALECT_MESSAGES_TO_OPENAI, /* Anthropic client, OpenAI-compatible provider (chat) */
    TG_DIALECT_MESSAGES_NATIVE,    /* Anthropic on both sides: bytes pass, usage read through a translation */
    TG_DIALECT_UNSUPPORTED         /* an Anthropic provider for anything but chat and messages */
} tg_dialect_t;

tg_dialect_t tg_dialect_of(tg_operation_t op, tg_provider_type_t provider);

/* The path after the provider's base URL path. */
const char *tg_dialect_path(tg_dialect_t d, tg_operation_t op);

#endif
