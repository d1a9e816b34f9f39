/* usage.c: GET /admin/v1/usage (ledger totals) and GET /admin/v1/audit
 * (the audit table, newest first), and the times the usage query takes. */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin/ops.h"
#include "admin/response.h"

#define AUDIT_LIMIT_DEFAULT 100
#define AUDIT_LIMIT_MAX 1000
#define TIME_END 253402300800.0 /* 10000-01-01T00:00:00Z: past any YYYY date, and an int64 as JSON shows it */

/* n digits at *p as a number; *p moves past them. */
static bool digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return false;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return true;
}

static bool expect(const char **p, const char *chars)
{
    if (**p == '\0' || strchr(chars, **p) == NULL)
        return false;
    (*p)++;
    return true;
}

/* Unix seconds ("1764460800", a fraction allowed), a day "2026-11-30"
 * (its midnight, UTC) or RFC 3339 "2026-11-30T12:00:00[.frac](Z|+hh:mm)". */
static bool parse_time(const char *s, double *out)
{
    char *end;
    if (isdigit((unsigned char)s[0]) && strspn(s, "0123456789.") == strlen(s)) {
        *out = strtod(s, &end);
        return *end == '\0' && isfinite(*out);
    }
    struct tm tm = {0};
    int year, month, day, hour = 0, minute = 0, second = 0, off_h = 0, off_m = 0, sign = 0;
    double fraction = 0;
    const char *p = s;
    if (!digits(&p, 4, &year) || !expect(&p, "-") || !digits(&p, 2, &month) || !expect(&p, "-") ||
        !digits(&p, 2, &day))
        return false;
    if (*p != '\0') {
        if (!expect(&p, "Tt") || !digits(&p, 2, &hour) || !expect(&p, ":") || !digits(&p, 2, &minute) ||
            !expect(&p, ":") || !digits(&p, 2, &second))
            return false;
        if (*p == '.' && isdigit((unsigned char)p[1])) {
            fraction = strtod(p, &end);
            p = end;
        }
        if (*p == '+' || *p == '-') {
            sign = *p++ == '+' ? 1 : -1;
            if (!digits(&p, 2, &off_h) || !expect(&p, ":") || !digits(&p, 2, &off_m) || off_h > 23 || off_m > 59)
                return false;
        } else if (!expect(&p, "Zz")) {
            return false;
        }
        if (*p != '\0' || hour > 23 || minute > 59 || second > 60)
            return false;
    }
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = minute;
    tm.tm_sec = second;
    time_t t = timegm(&tm);
    /* timegm carries a day past the month's end into the next month: such
     * a date does not exist. */
    if (month < 1 || month > 12 || tm.tm_mon != month - 1 || tm.tm_mday != day)
        return false;
    *out = (double)t + fraction - sign * (off_h * 3600 + off_m * 60);
    return true;
}

static bool read_time(tg_admin_call_t *c, const char *param, const char *text, double *out)
{
    *out = 0;
    if (text[0] == '\0')
        return true;
    if (parse_time(text, out) && *out >= 0 && *out < TIME_END)
        return true;
    tg_admin_fail(c->resp, TG_ADMIN_ERR_INVALID_REQUEST, param,
                  "%s must be Unix seconds, YYYY-MM-DD or RFC 3339 (2026-11-30T12:00:00Z), from 1970 to 9999",
                  param);
    return false;
}

static bool read_name_param(tg_admin_call_t *c, const char *param, const char *text)
{
    if (text[0] == '\0' || tg_admin_valid_name(text))
        return true;
    tg_admin_fail(c->resp, TG_ADMIN_ERR_INVALID_REQUEST, param, "%s must be 1..64 characters of [A-Za-z0-9._-]", param);
    return false;
}

static json_t *total_json(const tg_usage_total_t *t, json_t *group)
{
    json_t *o = json_object();
    if (group != NULL)
        json_object_set_new(o, "group", group);
    json_object_set_new(o, "requests", json_integer(t->requests));
    json_object_set_new(o, "prompt_tokens", json_integer(t->prompt_tokens));
    json_object_set_new(o, "cached_tokens", json_integer(t->cached_tokens));
    json_object_set_new(o, "cache_write_tokens", json_integer(t->cache_write_tokens));
    json_object_set_new(o, "completion_tokens", json_integer(t->completion_tokens));
    json_object_set_new(o, "reasoning_tokens", json_integer(t->reasoning_tokens));
    json_object_set_new(o, "total_tokens", json_integer(t->prompt_tokens + t->completion_tokens));
    json_object_set_new(o, "cost_usd", json_real(t->cost_usd));
    json_object_set_new(o, "estimated_requests", json_integer(t->estimated_requests));
    return o;
}

typedef struct usage_acc {
    json_t *data;
    tg_usage_total_t total;
} usage_acc_t;

static int add_total(void *ctx, const tg_usage_total_t *t)
{
    usage_acc_t *acc = ctx;
    acc->total.requests += t->requests;
    acc->total.prompt_tokens += t->prompt_tokens;
    acc->total.cached_tokens += t->cached_tokens;
    acc->total.cache_write_tokens += t->cache_write_tokens;
    acc->total.completion_tokens += t->completion_tokens;
    acc->total.reasoning_tokens += t->reasoning_tokens;
    acc->total.cost_usd += t->cost_usd;
    acc->total.estimated_requests += t->estimated_requests;
    json_t *group = t->group[0] != '\0' ? json_string(t->group) : json_null();
    return json_array_append_new(acc->data, total_json(t, group));
}

void tg_admin_usage(tg_admin_call_t *c)
{
    const char *org = c->query[0], *key = c->query[1], *group_name = c->query[4];
    tg_usage_query_t q = {.org = org[0] != '\0' ? org : NULL, .key_id = key[0] != '\0' ? key : NULL};
    if (!read_name_param(c, "org", org) || !read_name_param(c, "key", key) ||
        !read_time(c, "from", c->query[2], &q.from) || !read_time(c, "to", c->query[3], &q.to))
        return;
    if (c->query[3][0] != '\0' && q.to <= q.from) {
        tg_admin_fail(c->resp, TG_ADMIN_ERR_INVALID_REQUEST, "to", "to must be after from");
        return;
    }
    int group = group_name[0] != '\0' ? tg_usage_group_from_name(group_name) : TG_USAGE_GROUP_NONE;
    if (group < 0) {
        char groups[128] = "";
        for (int g = 0; g < TG_USAGE_GROUP_COUNT; g++)
            tg_admin_join(groups, sizeof(groups), tg_usage_group_name((tg_usage_group_t)g));
        tg_admin_fail(c->resp, TG_ADMIN_ERR_INVALID_REQUEST, "group_by", "group_by must be one of: %s", groups);
        return;
    }
    q.group_by = (tg_usage_group_t)group;
    usage_acc_t acc = {.data = json_array()};
    tg_store_status_t st = c->s->methods->usage(c->s, &q, add_total, &acc);
    if (st != TG_STORE_OK) {
        json_decref(acc.data);
        tg_admin_fail_store(c->resp, st);
        return;
    }
    json_t *o = json_object();
    json_object_set_new(o, "object", json_string("usage"));
    json_object_set_new(o, "group_by", q.group_by != TG_USAGE_GROUP_NONE ? json_string(tg_usage_group_name(q.group_by))
                                                                          : json_null());
    json_object_set_new(o, "from", tg_admin_time_json(q.from));
    json_object_set_new(o, "to", tg_admin_time_json(q.to));
    json_object_set_new(o, "data", acc.data);
    json_object_set_new(o, "total", total_json(&acc.total, NULL));
    tg_admin_reply(c->resp, 200, o);
}

static int add_entry(void *ctx, const tg_audit_entry_t *e)
{
    return json_array_append_new(ctx, tg_admin_audit_json(e));
}

void tg_admin_audit(tg_admin_call_t *c)
{
    const char *org = c->query[0], *action_name = c->query[1], *limit_text = c->query[2];
    if (!read_name_param(c, "org", org))
        return;
    int action = action_name[0] != '\0' ? tg_audit_action_from_name(action_name) : -1;
    if (action_name[0] != '\0' && action < 0) {
        char actions[256] = "";
        for (int a = 0; a < TG_AUDIT_ACTION_COUNT; a++)
            tg_admin_join(actions, sizeof(actions), tg_audit_action_name((tg_audit_action_t)a));
        tg_admin_fail(c->resp, TG_ADMIN_ERR_INVALID_REQUEST, "action", "action must be one of: %s", actions);
        return;
    }
    long limit = AUDIT_LIMIT_DEFAULT;
    if (limit_text[0] != '\0') {
        char *end;
        limit = strtol(limit_text, &end, 10);
        if (!isdigit((unsigned char)limit_text[0]) || *end != '\0' || limit < 1 || limit > AUDIT_LIMIT_MAX) {
            tg_admin_fail(c->resp, TG_ADMIN_ERR_INVALID_REQUEST, "limit", "limit must be an integer from 1 to %d",
                          AUDIT_LIMIT_MAX);
            return;
        }
    }
    json_t *data = json_array();
    tg_store_status_t st = c->s->methods->audit_list(c->s, org[0] != '\0' ? org : NULL, action, (size_t)limit,
                                                     add_entry, data);
    tg_admin_reply_list(c->resp, st, data);
}
