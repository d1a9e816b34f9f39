/* store.c: the parts of store.h every backend shares: the names of its
 * enums, the table of backends compiled in, and the one-line messages of
 * their errors. */
#include "store/store.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const tg_store_methods_t tg_store_sqlite_methods;

#define TG_STORE_WORD(name, label) label,
static const char *const status_names[] = {TG_STORE_STATUS_MAP(TG_STORE_WORD)};
static const char *const operation_names[] = {TG_DB_OPERATION_MAP(TG_STORE_WORD)};
static const char *const action_names[] = {TG_AUDIT_ACTION_MAP(TG_STORE_WORD)};
static const char *const group_names[] = {TG_USAGE_GROUP_MAP(TG_STORE_WORD)};

#define NAME_OR_UNKNOWN(table, i) ((unsigned)(i) < sizeof(table) / sizeof(table[0]) ? (table)[i] : "unknown")
const char *tg_store_status_name(tg_store_status_t s) { return NAME_OR_UNKNOWN(status_names, s); }
const char *tg_db_operation_name(tg_db_operation_t op) { return NAME_OR_UNKNOWN(operation_names, op); }
const char *tg_audit_action_name(tg_audit_action_t a) { return NAME_OR_UNKNOWN(action_names, a); }
const char *tg_usage_group_name(tg_usage_group_t g) { return NAME_OR_UNKNOWN(group_names, g); }

static int index_of(const char *const *names, size_t n, const char *name)
{
    for (size_t i = 0; name != NULL && i < n; i++)
        if (strcmp(names[i], name) == 0)
            return (int)i;
    return -1;
}

int tg_audit_action_from_name(const char *name) { return index_of(action_names, TG_AUDIT_ACTION_COUNT, name); }
int tg_usage_group_from_name(const char *name) { return index_of(group_names, TG_USAGE_GROUP_COUNT, name); }

void tg_policy_init(tg_policy_t *p)
{
    memset(p, 0, sizeof(*p));
    p->rpm = p->tpm = p->max_concurrent = -1;
    p->budget_usd = -1;
}

const tg_store_methods_t *tg_store_backend(const char *name)
{
    static const tg_store_methods_t *const backends[] = {&tg_store_sqlite_methods};
    for (size_t i = 0; name != NULL && i < sizeof(backends) / sizeof(backends[0]); i++)
        if (strcmp(backends[i]->name, name) == 0)
            return backends[i];
    return NULL;
}

char *tg_store_message(const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    for (char *p = line; *p != '\0'; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    return strdup(line);
}
