/* answer.h: what the response cache keeps of one answer, as one byte
 * string (the SQLite tier's payload, the memory tier's entry), and how an
 * answer recorded in one form is replayed in the other.
 *
 * A plain answer is kept as its status, content type and body; a stream
 * as its data events, byte for byte, without the usage-only chunk and
 * without [DONE], plus the usage chunk apart (a replay adds it when the
 * client asks for usage). Both keep the usage numbers (billing, saved
 * dollars), the provider and the upstream model that answered.
 *
 * Conversion (chat only; embeddings are plain only): a stream replayed to
 * a plain request becomes the chat.completion its deltas add up to; a
 * plain answer replayed to a stream becomes chat.completion.chunk events,
 * one with each choice's message, one with its finish_reason. */
#ifndef TOLLGATE_CACHE_ANSWER_H
#define TOLLGATE_CACHE_ANSWER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/words.h"
#include "upstream/usage.h"

typedef struct tg_bytes {
    const char *base;
    size_t len;
} tg_bytes_t;

/* An answer: views into its payload (or, to encode, into the caller's
 * buffers). The strings are NUL-terminated in a payload. */
typedef struct tg_cache_answer {
    bool streamed;          /* recorded from a stream */
    tg_operation_t operation;
    int status;             /* plain: the HTTP status (200) */
    tg_bytes_t content_type; /* plain */
    tg_bytes_t body;        /* plain: the body; stream: the data events */
    tg_bytes_t usage_event; /* stream: the usage-only event as received; may be empty */
    tg_bytes_t provider;    /* the provider's name */
    tg_bytes_t model_used;  /* the upstream model */
    tg_usage_t usage;
} tg_cache_answer_t;

/* Writes a's payload into buf when it fits in cap; returns its length. */
size_t tg_cache_answer_encode(const tg_cache_answer_t *a, char *buf, size_t cap);

/* Reads a payload: 0 and *a viewing into p, or -1 when p is not one
 * (truncated, another version, lengths that do not add up). */
int tg_cache_answer_decode(const char *p, size_t len, tg_cache_answer_t *a);

/* The body of a streamed replay: the events (or, from a plain answer,
 * events made from it), the usage chunk when include_usage, then
 * `data: [DONE]`. malloc'd; NULL when a plain answer is not a chat
 * completion it can convert, or out of memory. */
char *tg_cache_replay_stream(const tg_cache_answer_t *a, bool include_usage, size_t *len);

/* The chat.completion a recorded stream adds up to, compact JSON,
 * malloc'd; NULL when the events are not chat chunks, or out of memory. */
char *tg_cache_replay_plain(const tg_cache_answer_t *a, size_t *len);

#endif
