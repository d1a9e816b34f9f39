/* audit.c: see audit.h. */
#include "obs/audit.h"

#include "obs/log.h"

static void add(tg_log_field_t *f, size_t *n, const char *key, const char *value, bool always)
{
    if (!always && value[0] == '\0')
        return;
    f[(*n)++] = (tg_log_field_t){.key = key, .type = TG_LF_STR, .str = value[0] != '\0' ? value : NULL};
}

void tg_audit_log(const tg_audit_entry_t *e)
{
    bool failure = e->action == TG_AUDIT_AUTH_FAILURE || e->action == TG_AUDIT_ADMIN_AUTH_FAILURE;
    tg_log_level_t level = failure ? TG_LOG_WARN : TG_LOG_INFO;
    if (!tg_log_enabled(level))
        return;
    tg_log_field_t f[10];
    size_t n = 0;
    f[n++] = (tg_log_field_t){.key = "action", .type = TG_LF_STR, .str = tg_audit_action_name(e->action)};
    add(f, &n, "org_id", e->org, true);
    add(f, &n, "user_id", e->user_id, true);
    add(f, &n, "request_id", e->request_id, true);
    add(f, &n, "key_id", e->key_id, false);
    add(f, &n, "key_hint", e->key_hint, false);
    add(f, &n, "client_addr", e->client_addr, false);
    add(f, &n, "reason", e->reason, false);
    add(f, &n, "detail", e->detail, false);
    tg_log_fields(level, "audit", tg_audit_action_name(e->action), f, n);
}
