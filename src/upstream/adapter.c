/* adapter.c: see adapter.h. */
#include "upstream/adapter.h"

tg_dialect_t tg_dialect_of(tg_operation_t op, tg_provider_type_t provider)
{
    if (provider == TG_PROVIDER_ANTHROPIC)
        return op == TG_OP_CHAT       ? TG_DIALECT_CHAT_TO_ANTHROPIC
               : op == TG_OP_MESSAGES ? TG_DIALECT_MESSAGES_NATIVE
                                      : TG_DIALECT_UNSUPPORTED;
    return op == TG_OP_MESSAGES ? TG_DIALECT_MESSAGES_TO_OPENAI : TG_DIALECT_NATIVE;
}

const char *tg_dialect_path(tg_dialect_t d, tg_operation_t op)
{
    return d == TG_DIALECT_CHAT_TO_ANTHROPIC || d == TG_DIALECT_MESSAGES_NATIVE ? "/messages"
                                                                                : tg_operation_upstream_path(op);
}
