/* cli.c: `tollgate orgs|keys|usage|audit ...` (docs/tenancy.md, "CLI").
 * A command becomes the request the admin API would get (method, path,
 * query string, JSON body; user_id "cli"), runs through tg_admin_execute
 * on the store the configuration names, and its answer is printed: the
 * JSON verbatim with --json (an error's too), else as text (a table for a
 * list); a failure's message goes to stderr. So the CLI and the API cannot
 * disagree about what an operation does. */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin/admin.h"
#include "core/clock.h"
#include "config.h"
#include "obs/log.h"

/* The options: flag, the API's field or parameter, how its value is
 * written in a body. */
#define CLI_OPTION_MAP(X)                                                                          \
    X(CONFIG, "config", NULL, TEXT) X(JSON, "json", NULL, FLAG) X(PLAN, "plan", "plan", TEXT)      \
    X(ORG, "org", "org", TEXT) X(NAME, "name", "name", TEXT) X(KEY, "key", "key", TEXT)            \
    X(FROM, "from", "from", TEXT) X(TO, "to", "to", TEXT) X(GROUP_BY, "group-by", "group_by", TEXT) \
    X(ACTION, "action", "action", TEXT) X(LIMIT, "limit", "limit", TEXT)                            \
    X(RPM, "rpm", "rpm", INTEGER) X(TPM, "tpm", "tpm", INTEGER)                                    \
    X(MAX_CONCURRENT, "max-concurrent", "max_concurrent", INTEGER)                                 \
    X(BUDGET_USD, "budget-usd", "budget_usd", NUMBER) X(MODELS, "models", "models", LIST)
#define CLI_OPTION_ENUM(name, flag, field, kind) OPT_##name,
enum { CLI_OPTION_MAP(CLI_OPTION_ENUM) OPT_COUNT };

typedef enum { FLAG, TEXT, INTEGER, NUMBER, LIST } value_kind_t;

static const struct option {
    const char *flag;
    const char *field;
    value_kind_t kind;
} options[] = {
#define CLI_OPTION_ROW(name, flag, field, kind) {flag, field, kind},
    CLI_OPTION_MAP(CLI_OPTION_ROW)
};

#define BIT(opt) (1u << OPT_##opt)
#define POLICY_OPTIONS (BIT(RPM) | BIT(TPM) | BIT(MAX_CONCURRENT) | BIT(BUDGET_USD) | BIT(MODELS))

/* How an answer is shown as text. */
typedef enum { SHOW_ORG, SHOW_ORGS, SHOW_KEY, SHOW_NEW_KEY, SHOW_KEYS, SHOW_USAGE, SHOW_AUDIT } show_t;

static const struct command {
    const char *noun;
    const char *verb;       /* NULL: the noun alone (usage, audit) */
    const char *operand;    /* "NAME", "ID": in the path (or the body's name), or NULL */
    tg_method_t method;
    const char *path;       /* under /admin/v1/ */
    unsigned allowed;       /* options besides --config and --json */
    unsigned required;
    show_t show;
} commands[] = {
    {"orgs", "create", "NAME", TG_METHOD_POST, "orgs", BIT(PLAN) | POLICY_OPTIONS, 0, SHOW_ORG},
    {"orgs", "list", NULL, TG_METHOD_GET, "orgs", 0, 0, SHOW_ORGS},
    {"orgs", "update", "NAME", TG_METHOD_PATCH, "orgs", BIT(PLAN) | POLICY_OPTIONS, 0, SHOW_ORG},
    {"keys", "create", NULL, TG_METHOD_POST, "keys", BIT(ORG) | BIT(NAME) | POLICY_OPTIONS, BIT(ORG) | BIT(NAME),
     SHOW_NEW_KEY},
    {"keys", "list", NULL, TG_METHOD_GET, "keys", BIT(ORG), 0, SHOW_KEYS},
    {"keys", "update", "ID", TG_METHOD_PATCH, "keys", BIT(NAME) | POLICY_OPTIONS, 0, SHOW_KEY},
    {"keys", "revoke", "ID", TG_METHOD_DELETE, "keys", 0, 0, SHOW_KEY},
    {"usage", NULL, NULL, TG_METHOD_GET, "usage", BIT(ORG) | BIT(KEY) | BIT(FROM) | BIT(TO) | BIT(GROUP_BY), 0,
     SHOW_USAGE},
    {"audit", NULL, NULL, TG_METHOD_GET, "audit", BIT(ORG) | BIT(ACTION) | BIT(LIMIT), 0, SHOW_AUDIT},
};

static const char usage_text[] =
    "usage: tollgate orgs create NAME [--plan PLAN] [POLICY]\n"
    "       tollgate orgs list\n"
    "       tollgate orgs update NAME [--plan PLAN] [POLICY]\n"
    "       tollgate keys create --org ORG --name NAME [POLICY]\n"
    "       tollgate keys list [--org ORG]\n"
    "       tollgate keys update ID [--name NAME] [POLICY]\n"
    "       tollgate keys revoke ID\n"
    "       tollgate usage [--org ORG] [--key ID] [--from T] [--to T] [--group-by model|provider|day|key|org]\n"
    "       tollgate audit [--org ORG] [--action ACTION] [--limit N]\n"
    "POLICY: --rpm N --tpm N --max-concurrent N --budget-usd X --models a,b\n"
    "        (the value \"none\" clears a field in update)\n"
    "Every command takes --config FILE (default: $TOLLGATE_CONFIG) and --json\n"
    "(print the admin API's JSON answer instead of text). T is Unix seconds,\n"
    "YYYY-MM-DD or RFC 3339 (2026-11-30T12:00:00Z).\n";

/* A parsed command line. */
typedef struct cli_args {
    const struct command *command;
    const char *operand;
    const char *values[OPT_COUNT]; /* NULL: not given; "" for a flag */
} cli_args_t;

static int usage_error(const char *fmt, const char *arg)
{
    fputs("tollgate: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\n", stderr);
    fputs(usage_text, stderr);
    return 2;
}

/* argv -> *a; 0, or the exit status of a usage error. */
static int parse_args(int argc, char **argv, cli_args_t *a)
{
    memset(a, 0, sizeof(*a));
    const char *verb = argc > 1 && argv[1][0] != '-' ? argv[1] : NULL;
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]) && a->command == NULL; i++) {
        const struct command *c = &commands[i];
        if (strcmp(c->noun, argv[0]) == 0 && (c->verb == NULL || (verb != NULL && strcmp(c->verb, verb) == 0)))
            a->command = c;
    }
    if (a->command == NULL)
        return usage_error("unknown command %s", verb != NULL ? verb : argv[0]);
    for (int i = a->command->verb != NULL ? 2 : 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strncmp(arg, "--", 2) != 0) {
            if (a->command->operand == NULL || a->operand != NULL)
                return usage_error("unexpected argument %s", arg);
            a->operand = arg;
            continue;
        }
        const char *eq = strchr(arg, '=');
        size_t flag_len = eq != NULL ? (size_t)(eq - arg - 2) : strlen(arg + 2);
        int o = 0;
        while (o < OPT_COUNT && (strlen(options[o].flag) != flag_len || memcmp(options[o].flag, arg + 2, flag_len) != 0))
            o++;
        bool common = o == OPT_CONFIG || o == OPT_JSON;
        if (o == OPT_COUNT || (!common && !(a->command->allowed & (1u << o))))
            return usage_error("unknown option %s", arg);
        if (a->values[o] != NULL)
            return usage_error("option %s given twice", arg);
        if (options[o].kind == FLAG) {
            if (eq != NULL)
                return usage_error("option %s takes no value", arg);
            a->values[o] = "";
        } else if (eq != NULL) {
            a->values[o] = eq + 1;
        } else if (i + 1 < argc) {
            a->values[o] = argv[++i];
        } else {
            return usage_error("option %s needs a value", arg);
        }
    }
    if (a->command->operand != NULL && a->operand == NULL)
        return usage_error("missing %s", a->command->operand);
    for (int o = 0; o < OPT_COUNT; o++)
        if ((a->command->required & (1u << o)) && a->values[o] == NULL)
            return usage_error("missing --%s", options[o].flag);
    return 0;
}

/* An option's value as JSON: "none" is null (cleared); numbers must read
 * as numbers (their range is the API's to check), text must be UTF-8.
 * NULL when it does not. */
static json_t *option_json(int o, const char *value)
{
    if (strcmp(value, "none") == 0)
        return json_null();
    char *end;
    errno = 0;
    switch (options[o].kind) {
    case INTEGER: {
        long long v = strtoll(value, &end, 10);
        return end != value && *end == '\0' && errno == 0 ? json_integer(v) : NULL;
    }
    case NUMBER: {
        double v = strtod(value, &end);
        return end != value && *end == '\0' && errno == 0 ? json_real(v) : NULL;
    }
    case LIST: {
        json_t *list = json_array();
        for (const char *p = value;; p++) {
            size_t n = strcspn(p, ",");
            if (json_array_append_new(list, json_stringn(p, n)) != 0) {
                json_decref(list);
                return NULL;
            }
            if (p[n] == '\0')
                break;
            p += n;
        }
        return list;
    }
    default:
        return json_string(value);
    }
}

/* Appends s percent-encoded (all but RFC 3986's unreserved characters). */
static void append_encoded(char *buf, size_t cap, const char *s)
{
    size_t len = strlen(buf);
    for (; *s != '\0' && len + 4 < cap; s++) {
        unsigned char ch = (unsigned char)*s;
        if (isalnum(ch) || strchr("-._~", ch) != NULL)
            buf[len++] = (char)ch;
        else
            len += (size_t)snprintf(buf + len, cap - len, "%%%02X", ch);
    }
    buf[len] = '\0';
}

typedef struct cli_request {
    char path[512];
    char query[1024];
    char *body; /* malloc'd */
} cli_request_t;

/* The API request of a command line; 0, or 2 for a value that is not a
 * number. */
static int build_request(const cli_args_t *a, cli_request_t *r)
{
    const struct command *c = a->command;
    snprintf(r->path, sizeof(r->path), "/admin/v1/%s", c->path);
    r->query[0] = '\0';
    r->body = NULL;
    bool in_path = c->operand != NULL && c->method != TG_METHOD_POST;
    if (in_path) {
        strcat(r->path, "/");
        append_encoded(r->path, sizeof(r->path), a->operand);
    }
    if (c->method == TG_METHOD_GET) {
        for (int o = 0; o < OPT_COUNT; o++) {
            if (!(c->allowed & (1u << o)) || a->values[o] == NULL)
                continue;
            size_t len = strlen(r->query);
            snprintf(r->query + len, sizeof(r->query) - len, "%s%s=", len > 0 ? "&" : "", options[o].field);
            append_encoded(r->query, sizeof(r->query), a->values[o]);
        }
        return 0;
    }
    if (c->method == TG_METHOD_DELETE)
        return 0;
    json_t *body = json_object();
    if (c->operand != NULL && !in_path && json_object_set_new(body, "name", json_string(a->operand)) != 0) {
        json_decref(body);
        return usage_error("%s must be UTF-8 text", c->operand);
    }
    for (int o = 0; o < OPT_COUNT; o++) {
        if (!(c->allowed & (1u << o)) || a->values[o] == NULL)
            continue;
        json_t *v = option_json(o, a->values[o]);
        if (v == NULL) {
            json_decref(body);
            bool number = options[o].kind == INTEGER || options[o].kind == NUMBER;
            return usage_error(number ? "--%s needs a number or none" : "--%s needs UTF-8 text", options[o].flag);
        }
        json_object_set_new(body, options[o].field, v);
    }
    r->body = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(body);
    return 0;
}

/* ---------------------------------------------------------------- text */

typedef enum { CELL_PLAIN, CELL_TIME } cell_kind_t;

/* A column of a table (its title upper-cased) or a line of a record:
 * the answer's member at `path` ("policy.rpm"). */
typedef struct column {
    const char *title;
    const char *path;
    cell_kind_t kind;
} column_t;

static const column_t org_columns[] = {
    {"name", "name", CELL_PLAIN}, {"plan", "plan", CELL_PLAIN}, {"created", "created", CELL_TIME},
    {"rpm", "policy.rpm", CELL_PLAIN}, {"tpm", "policy.tpm", CELL_PLAIN},
    {"max_concurrent", "policy.max_concurrent", CELL_PLAIN}, {"budget_usd", "policy.budget_usd", CELL_PLAIN},
    {"models", "policy.models", CELL_PLAIN},
};
static const column_t key_columns[] = {
    {"id", "id", CELL_PLAIN}, {"org", "org", CELL_PLAIN}, {"name", "name", CELL_PLAIN},
    {"hint", "hint", CELL_PLAIN}, {"created", "created", CELL_TIME}, {"last_used", "last_used", CELL_TIME},
    {"revoked", "revoked", CELL_TIME}, {"rpm", "policy.rpm", CELL_PLAIN}, {"tpm", "policy.tpm", CELL_PLAIN},
    {"max_concurrent", "policy.max_concurrent", CELL_PLAIN}, {"budget_usd", "policy.budget_usd", CELL_PLAIN},
    {"models", "policy.models", CELL_PLAIN},
};
static const column_t usage_columns[] = {
    {"group", "group", CELL_PLAIN}, {"requests", "requests", CELL_PLAIN},
    {"prompt_tokens", "prompt_tokens", CELL_PLAIN}, {"cached_tokens", "cached_tokens", CELL_PLAIN},
    {"cache_write_tokens", "cache_write_tokens", CELL_PLAIN},
    {"completion_tokens", "completion_tokens", CELL_PLAIN}, {"reasoning_tokens", "reasoning_tokens", CELL_PLAIN},
    {"total_tokens", "total_tokens", CELL_PLAIN}, {"cost_usd", "cost_usd", CELL_PLAIN},
    {"estimated_requests", "estimated_requests", CELL_PLAIN},
};
static const column_t audit_columns[] = {
    {"timestamp", "timestamp", CELL_TIME}, {"action", "action", CELL_PLAIN}, {"org", "org_id", CELL_PLAIN},
    {"user", "user_id", CELL_PLAIN}, {"key", "key_id", CELL_PLAIN}, {"hint", "key_hint", CELL_PLAIN},
    {"client", "client_addr", CELL_PLAIN}, {"reason", "reason", CELL_PLAIN}, {"detail", "detail", CELL_PLAIN},
};
#define COLUMNS(table) table, sizeof(table) / sizeof(table[0])

static json_t *member(json_t *o, const char *path)
{
    const char *dot = strchr(path, '.');
    if (dot == NULL)
        return json_object_get(o, path);
    char head[64];
    snprintf(head, sizeof(head), "%.*s", (int)(dot - path), path);
    return member(json_object_get(o, head), dot + 1);
}

/* v as text; "-" for null. The caller frees it. */
static char *cell_text(json_t *v, cell_kind_t kind)
{
    char buf[64];
    if (v == NULL || json_is_null(v))
        return strdup("-");
    if (json_is_string(v))
        return strdup(json_string_value(v));
    if (json_is_integer(v) && kind == CELL_TIME) {
        time_t t = (time_t)json_integer_value(v);
        struct tm tm;
        strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
        return strdup(buf);
    }
    if (json_is_integer(v)) {
        snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
        return strdup(buf);
    }
    if (json_is_real(v)) {
        /* dollars: to the millionth, without trailing zeros */
        size_t len = (size_t)snprintf(buf, sizeof(buf), "%.6f", json_real_value(v));
        while (len > 1 && buf[len - 1] == '0')
            buf[--len] = '\0';
        if (buf[len - 1] == '.')
            buf[len - 1] = '\0';
        return strdup(buf);
    }
    if (json_is_array(v) && json_array_size(v) > 0) {
        char list[2048] = "";
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item) {
            size_t len = strlen(list);
            snprintf(list + len, sizeof(list) - len, "%s%s", i > 0 ? "," : "", json_string_value(item));
        }
        return strdup(list);
    }
    return json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
}

static void print_record(FILE *out, json_t *o, const column_t *cols, size_t n)
{
    for (size_t c = 0; c < n; c++) {
        char *text = cell_text(member(o, cols[c].path), cols[c].kind);
        fprintf(out, "%-15s %s\n", cols[c].title, text != NULL ? text : "?");
        free(text);
    }
}

/* Columns on a terminal: UTF-8 characters, not bytes (a hint has "…"). */
static size_t display_width(const char *s)
{
    size_t n = 0;
    for (; *s != '\0'; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static void print_table(FILE *out, json_t *rows, const column_t *cols, size_t n)
{
    size_t count = json_array_size(rows);
    char **cells = calloc((count + 1) * n, sizeof(char *));
    size_t *width = calloc(n, sizeof(size_t));
    if (cells == NULL || width == NULL) {
        free(cells);
        free(width);
        fputs("tollgate: out of memory\n", stderr);
        return;
    }
    for (size_t c = 0; c < n; c++) {
        cells[c] = strdup(cols[c].title);
        for (char *p = cells[c]; p != NULL && *p != '\0'; p++)
            *p = (char)toupper((unsigned char)*p);
        for (size_t r = 0; r < count; r++)
            cells[(r + 1) * n + c] = cell_text(member(json_array_get(rows, r), cols[c].path), cols[c].kind);
        for (size_t r = 0; r <= count; r++)
            if (cells[r * n + c] != NULL && display_width(cells[r * n + c]) > width[c])
                width[c] = display_width(cells[r * n + c]);
    }
    for (size_t r = 0; r <= count; r++) {
        for (size_t c = 0; c < n; c++) {
            const char *text = cells[r * n + c] != NULL ? cells[r * n + c] : "?";
            if (c + 1 < n)
                fprintf(out, "%s%*s", text, (int)(width[c] - display_width(text) + 2), "");
            else
                fprintf(out, "%s\n", text);
        }
    }
    for (size_t i = 0; i < (count + 1) * n; i++)
        free(cells[i]);
    free(cells);
    free(width);
}

/* The answer of a successful command, as text. */
static void print_answer(FILE *out, show_t show, json_t *body)
{
    json_t *data = json_object_get(body, "data");
    switch (show) {
    case SHOW_ORG:
        print_record(out, body, COLUMNS(org_columns));
        break;
    case SHOW_ORGS:
        print_table(out, data, COLUMNS(org_columns));
        break;
    case SHOW_KEY:
        print_record(out, body, COLUMNS(key_columns));
        break;
    case SHOW_NEW_KEY:
        print_record(out, body, COLUMNS(key_columns));
        fprintf(out, "\nThe key, shown this once (only its hash is kept):\n%s\n",
                json_string_value(json_object_get(body, "key")));
        break;
    case SHOW_KEYS:
        print_table(out, data, COLUMNS(key_columns));
        break;
    case SHOW_USAGE: {
        /* the groups, then their total; ungrouped, the total alone */
        json_t *rows = json_is_null(json_object_get(body, "group_by")) ? json_array() : json_copy(data);
        json_t *total = json_copy(json_object_get(body, "total"));
        json_object_set_new(total, "group", json_string("total"));
        json_array_append_new(rows, total);
        print_table(out, rows, COLUMNS(usage_columns));
        json_decref(rows);
        break;
    }
    case SHOW_AUDIT:
        print_table(out, data, COLUMNS(audit_columns));
        break;
    }
}

/* --------------------------------------------------------------- main */

/* Runs the request on the configured store and prints its answer:
 * 0 on success, 1 when it failed. */
static int run(const cli_args_t *a, const tg_config_t *cfg, const cli_request_t *r)
{
    if (strcmp(cfg->store.driver, "none") == 0) {
        fprintf(stderr, "tollgate: %s: store.driver is none: there is no store to manage\n", cfg->path);
        return 1;
    }
    const tg_store_methods_t *methods = tg_store_backend(cfg->store.driver);
    if (methods == NULL) {
        fprintf(stderr, "tollgate: store.driver %s is not compiled in\n", cfg->store.driver);
        return 1;
    }
    tg_store_options_t o = {.path = cfg->store.path,
                            .synchronous_full = cfg->store.synchronous_full,
                            .busy_timeout_ms = cfg->store.busy_timeout_ms};
    tg_store_t *s = NULL;
    char *err = NULL;
    if (methods->open(&o, &s, &err) != TG_STORE_OK) {
        fprintf(stderr, "tollgate: %s\n", err != NULL ? err : "cannot open the store");
        free(err);
        return 1;
    }
    tg_admin_env_t env = {.plans = (const char *const *)cfg->tenancy.plans,
                          .plan_count = cfg->tenancy.plan_count,
                          .now = tg_clock_wall_seconds()};
    tg_admin_request_t req = {.method = a->command->method,
                              .path = r->path,
                              .path_len = strlen(r->path),
                              .query = r->query,
                              .query_len = strlen(r->query),
                              .body = r->body,
                              .body_len = r->body != NULL ? strlen(r->body) : 0,
                              .user_id = "cli"};
    tg_admin_response_t resp;
    tg_admin_execute(s, &env, &req, &resp);
    methods->close(s);
    bool ok = resp.status >= 200 && resp.status < 300;
    json_t *body = resp.body != NULL ? json_loadb(resp.body, resp.body_len, 0, NULL) : NULL;
    if (a->values[OPT_JSON] != NULL && resp.body != NULL)
        fwrite(resp.body, 1, resp.body_len, stdout);
    else if (ok && body != NULL)
        print_answer(stdout, a->command->show, body);
    if (!ok) {
        const char *message = json_string_value(json_object_get(json_object_get(body, "error"), "message"));
        fprintf(stderr, "tollgate: %s\n", message != NULL ? message : "the operation failed");
    }
    json_decref(body);
    if (resp.body != NULL)
        explicit_bzero(resp.body, resp.body_len); /* it may hold a new key */
    free(resp.body);
    return ok ? 0 : 1;
}

int tg_admin_cli(int argc, char **argv)
{
    cli_args_t a;
    int status = argc > 0 ? parse_args(argc, argv, &a) : usage_error("%s", "missing command");
    if (status != 0)
        return status;
    const char *config = a.values[OPT_CONFIG] != NULL ? a.values[OPT_CONFIG] : getenv("TOLLGATE_CONFIG");
    if (config == NULL || config[0] == '\0')
        return usage_error("%s", "no configuration: give --config FILE or set TOLLGATE_CONFIG");
    cli_request_t r;
    if ((status = build_request(&a, &r)) != 0)
        return status;
    char *err = NULL;
    tg_config_t *cfg = tg_config_load(config, &err);
    if (cfg == NULL) {
        fputs(err != NULL ? err : "tollgate: out of memory\n", stderr);
        free(err);
        free(r.body);
        return 1;
    }
    /* The audit lines of the changes go to stderr, as the server's go to its log. */
    tg_log_configure(2, cfg->logging.format, cfg->logging.level);
    status = run(&a, cfg, &r);
    tg_config_free(cfg);
    free(r.body);
    return status;
}
