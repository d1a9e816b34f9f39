/*
 * config.c - YAML (libyaml document API) -> validated, immutable tg_config_t.
 *
 * Validation does not stop at the first problem: every error found is
 * reported as its own "FILE:LINE: message" line, so one run of
 * `tollgate check-config` shows everything to fix.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#include "health/breaker.h"
#include "upstream/tls.h"

#define DEFAULT_HOST "127.0.0.1"
#define DEFAULT_PORT 8080
#define DEFAULT_MAX_BODY_BYTES (1024 * 1024)
#define DEFAULT_REQUEST_TIMEOUT_MS 120000
#define DEFAULT_HEADER_TIMEOUT_MS 10000
#define DEFAULT_PROVIDER_TIMEOUT_MS 30000
#define DEFAULT_MAX_RETRIES 1
#define DEFAULT_RETRY_BACKOFF_MS 100
#define DEFAULT_MAX_CONNECTIONS 64
/* Circuit breakers: on, opening on 5 failures in a row or on half of at
 * least 20 attempts in 30 s failing; a first probe after 30 s, the
 * cooldown doubling per reopen up to 5 minutes. */
#define DEFAULT_BREAKER ((tg_breaker_config_t){ \
    .enabled = true, .failures = 5, .error_ratio = 0.5, .window_seconds = 30, .min_requests = 20, \
    .cooldown_ms = 30000, .max_cooldown_ms = 300000, .half_open_probes = 1, .close_after = 1})
#define DEFAULT_CHECK_PATH "/models"
#define DEFAULT_CHECK_INTERVAL_MS 30000
#define DEFAULT_CHECK_TIMEOUT_MS 5000
/* The housekeeping tick's period: nothing on it runs more often. */
#define MIN_TICK_INTERVAL_MS 100
#define MAX_WORKERS 256

typedef struct parse_ctx {
    const char *path;
    yaml_document_t doc;
    char *errors;        /* accumulated "FILE:LINE: message\n" lines */
    size_t errors_len;
    bool failed;         /* set even when the message could not be stored */
    tg_config_t *cfg;
    X509_STORE *system_trust; /* shared by the https providers without ca_file */
} parse_ctx_t;

static void add_error(parse_ctx_t *c, size_t line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void add_error(parse_ctx_t *c, size_t line, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    c->failed = true;
    char head[64];
    int head_len = line ? snprintf(head, sizeof(head), ":%zu: ", line) : snprintf(head, sizeof(head), ": ");
    size_t add = strlen(c->path) + (size_t)head_len + strlen(msg) + 1;
    char *grown = realloc(c->errors, c->errors_len + add + 1);
    if (grown == NULL)
        return;  /* the errors already collected still say the config is bad */
    c->errors = grown;
    c->errors_len += (size_t)sprintf(c->errors + c->errors_len, "%s%s%s\n", c->path, head, msg);
}

static size_t node_line(const yaml_node_t *n)
{
    return n ? n->start_mark.line + 1 : 0;
}

static yaml_node_t *node_at(parse_ctx_t *c, int index)
{
    return yaml_document_get_node(&c->doc, index);
}

/* ------------------------------------------------------------ scalars */

/* Expands ${VAR} and ${VAR:-default} in s; NULL (with an error) if a
 * reference is malformed or names an unset variable without a default. */
static char *expand_env(parse_ctx_t *c, const yaml_node_t *n, const char *s)
{
    size_t cap = strlen(s) + 1;
    size_t len = 0;
    char *out = malloc(cap);
    if (out == NULL)
        return NULL;
    while (*s) {
        const char *piece = s;
        size_t piece_len = 1;
        if (s[0] == '$' && s[1] == '{') {
            const char *close = strchr(s + 2, '}');
            if (close == NULL) {
                add_error(c, node_line(n), "unterminated \"${\" in \"%s\"", piece);
                free(out);
                return NULL;
            }
            const char *name = s + 2;
            const char *def = strstr(name, ":-");
            size_t name_len = (def && def < close) ? (size_t)(def - name) : (size_t)(close - name);
            bool name_ok = name_len > 0 && (isalpha((unsigned char)name[0]) || name[0] == '_');
            for (size_t i = 0; name_ok && i < name_len; i++)
                name_ok = isalnum((unsigned char)name[i]) || name[i] == '_';
            if (!name_ok) {
                add_error(c, node_line(n), "bad variable reference \"%.*s\"",
                          (int)(close - s + 1), s);
                free(out);
                return NULL;
            }
            char var[256];
            snprintf(var, sizeof(var), "%.*s", (int)name_len, name);
            const char *value = getenv(var);
            if (def && def < close) {
                if (value == NULL || value[0] == '\0') {
                    value = def + 2;
                    piece_len = (size_t)(close - value);
                } else {
                    piece_len = strlen(value);
                }
            } else if (value == NULL) {
                add_error(c, node_line(n), "environment variable %s is not set", var);
                free(out);
                return NULL;
            } else {
                piece_len = strlen(value);
            }
            piece = value;
            s = close + 1;
        } else {
            s++;
        }
        if (len + piece_len + 1 > cap) {
            cap = (len + piece_len + 1) * 2;
            char *grown = realloc(out, cap);
            if (grown == NULL) {
                free(out);
                return NULL;
            }
            out = grown;
        }
        memcpy(out + len, piece, piece_len);
        len += piece_len;
    }
    out[len] = '\0';
    return out;
}

/* The expanded text of a scalar node; NULL (with an error) otherwise. */
static char *scalar_text(parse_ctx_t *c, const yaml_node_t *n, const char *what)
{
    if (n == NULL || n->type != YAML_SCALAR_NODE) {
        add_error(c, node_line(n), "%s must be a scalar", what);
        return NULL;
    }
    return expand_env(c, n, (const char *)n->data.scalar.value);
}

static bool get_string(parse_ctx_t *c, const yaml_node_t *n, const char *what, char **out)
{
    char *s = scalar_text(c, n, what);
    if (s == NULL)
        return false;
    free(*out);
    *out = s;
    return true;
}

static bool get_uint(parse_ctx_t *c, const yaml_node_t *n, const char *what,
                     uint64_t max, uint64_t *out)
{
    char *s = scalar_text(c, n, what);
    if (s == NULL)
        return false;
    bool ok = false;
    const char *p = s;
    while (isspace((unsigned char)*p))
        p++;
    if (*p == '-') {
        add_error(c, node_line(n), "%s must not be negative (got \"%s\")", what, s);
    } else if (!isdigit((unsigned char)*p)) {
        add_error(c, node_line(n), "%s must be an integer (got \"%s\")", what, s);
    } else {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(p, &end, 10);
        if (*end != '\0' || errno == ERANGE)
            add_error(c, node_line(n), "%s must be an integer (got \"%s\")", what, s);
        else if (v > max)
            add_error(c, node_line(n), "%s must be at most %llu (got %llu)", what,
                      (unsigned long long)max, v);
        else {
            *out = v;
            ok = true;
        }
    }
    free(s);
    return ok;
}

static void get_u32(parse_ctx_t *c, const yaml_node_t *n, const char *what, uint32_t *out)
{
    uint64_t v;
    if (get_uint(c, n, what, UINT32_MAX, &v))
        *out = (uint32_t)v;
}

/* A number from 0 to max (INFINITY: any number that is not negative). */
static void get_number_in(parse_ctx_t *c, const yaml_node_t *n, const char *what, double max, double *out)
{
    char *s = scalar_text(c, n, what);
    if (s == NULL)
        return;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || errno == ERANGE || !isfinite(v))
        add_error(c, node_line(n), "%s must be a number (got \"%s\")", what, s);
    else if (v < 0 && isinf(max))
        add_error(c, node_line(n), "%s must not be negative (got \"%s\")", what, s);
    else if (v < 0 || v > max)
        add_error(c, node_line(n), "%s must be a number from 0 to %g (got \"%s\")", what, max, s);
    else
        *out = v;
    free(s);
}

static void get_number(parse_ctx_t *c, const yaml_node_t *n, const char *what, double *out)
{
    get_number_in(c, n, what, INFINITY, out);
}

/* A share from 0 to 1. */
static void get_ratio(parse_ctx_t *c, const yaml_node_t *n, const char *what, double *out)
{
    get_number_in(c, n, what, 1, out);
}

static void get_bool(parse_ctx_t *c, const yaml_node_t *n, const char *what, bool *out)
{
    char *s = scalar_text(c, n, what);
    if (s == NULL)
        return;
    if (strcmp(s, "true") == 0 || strcmp(s, "yes") == 0 || strcmp(s, "on") == 0)
        *out = true;
    else if (strcmp(s, "false") == 0 || strcmp(s, "no") == 0 || strcmp(s, "off") == 0)
        *out = false;
    else
        add_error(c, node_line(n), "%s must be true or false (got \"%s\")", what, s);
    free(s);
}

/* "host:port" or "[v6]:port" -> host (malloc'd) and port. */
static bool parse_listen(parse_ctx_t *c, const yaml_node_t *n, const char *what,
                         char **host, uint16_t *port)
{
    char *s = scalar_text(c, n, what);
    if (s == NULL)
        return false;
    char *colon = strrchr(s, ':');
    char *h = s;
    size_t h_len = colon ? (size_t)(colon - s) : 0;
    if (h_len >= 2 && h[0] == '[' && h[h_len - 1] == ']') {
        h++;
        h_len -= 2;
    }
    char *end = NULL;
    long p = colon ? strtol(colon + 1, &end, 10) : 0;
    bool ok = colon && h_len > 0 && colon[1] != '\0' && *end == '\0' && p >= 0 && p <= 65535;
    if (!ok) {
        add_error(c, node_line(n), "%s must be HOST:PORT with a port in 0..65535 (got \"%s\")",
                  what, s);
    } else {
        free(*host);
        *host = strndup(h, h_len);
        *port = (uint16_t)p;
    }
    free(s);
    return ok;
}

/* http[s]://host[:port][/path] -> scheme, host (malloc'd), port and where
 * the path starts in url ("" when none); false when it is not such a URL
 * (no query, fragment or credentials). */
static bool split_http_url(const char *url, bool *tls, char **host_out, uint16_t *port_out, const char **path_out)
{
    const char *rest;
    if (strncmp(url, "http://", 7) == 0) {
        *tls = false;
        rest = url + 7;
    } else if (strncmp(url, "https://", 8) == 0) {
        *tls = true;
        rest = url + 8;
    } else {
        return false;
    }
    const char *path = rest + strcspn(rest, "/?#");
    const char *host_end = path;
    const char *port_str = NULL;
    const char *host = rest;
    if (*host == '[') {
        const char *close = memchr(host, ']', (size_t)(path - host));
        if (close == NULL)
            return false;
        host_end = close;
        host++;
        if (close + 1 < path) {
            if (close[1] != ':')
                return false;
            port_str = close + 2;
        }
    } else {
        const char *colon = memchr(host, ':', (size_t)(path - host));
        if (colon) {
            host_end = colon;
            port_str = colon + 1;
        }
    }
    if (host_end == host || memchr(host, '@', (size_t)(host_end - host)) || *path == '?' || *path == '#')
        return false;
    long port = *tls ? 443 : 80;
    if (port_str) {
        char *end;
        port = strtol(port_str, &end, 10);
        if (end != path || end == port_str || port < 1 || port > 65535)
            return false;
    }
    if (strpbrk(path, "?# ") != NULL)
        return false;
    *host_out = strndup(host, (size_t)(host_end - host));
    *port_out = (uint16_t)port;
    *path_out = path;
    return *host_out != NULL;
}

/* A provider's base_url -> its connection fields. */
static bool parse_base_url(parse_ctx_t *c, const yaml_node_t *n, tg_provider_config_t *p)
{
    const char *url = p->base_url, *path;
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
        add_error(c, node_line(n), "provider \"%s\": base_url \"%s\" must start with http:// or https://",
                  p->name ? p->name : "?", url);
        return false;
    }
    if (!split_http_url(url, &p->tls, &p->host, &p->port, &path)) {
        add_error(c, node_line(n), "provider \"%s\": base_url \"%s\" is not a valid http(s) URL "
                  "(scheme://host[:port][/path], no query or credentials)", p->name ? p->name : "?", url);
        return false;
    }
    size_t path_len = strlen(path);
    while (path_len > 0 && path[path_len - 1] == '/')
        path_len--;
    p->path_prefix = strndup(path, path_len);
    return p->path_prefix != NULL;
}

/* ------------------------------------------------------------ mappings */

/* Looks up the value nodes of `keys` in mapping n (values[i] = NULL when
 * absent) and reports unknown and duplicate keys. false if n is not a
 * mapping. */
static bool map_fields(parse_ctx_t *c, const yaml_node_t *n, const char *section,
                       const char *const *keys, size_t key_count, yaml_node_t **values)
{
    memset(values, 0, key_count * sizeof(*values));
    if (n == NULL || n->type != YAML_MAPPING_NODE) {
        add_error(c, node_line(n), "%s must be a mapping", section);
        return false;
    }
    for (yaml_node_pair_t *pair = n->data.mapping.pairs.start; pair < n->data.mapping.pairs.top; pair++) {
        yaml_node_t *k = node_at(c, pair->key);
        if (k == NULL || k->type != YAML_SCALAR_NODE) {
            add_error(c, node_line(k), "%s: keys must be scalars", section);
            continue;
        }
        const char *name = (const char *)k->data.scalar.value;
        size_t i = 0;
        while (i < key_count && strcmp(keys[i], name) != 0)
            i++;
        if (i == key_count)
            add_error(c, node_line(k), "unknown key \"%s\" in %s", name, section);
        else if (values[i] != NULL)
            add_error(c, node_line(k), "duplicate key \"%s\" in %s", name, section);
        else
            values[i] = node_at(c, pair->value);
    }
    return true;
}

/* A YAML null: "key:" with nothing after it, "~" or "null". */
static bool is_null_node(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
           (n->data.scalar.length == 0 || strcmp((const char *)n->data.scalar.value, "~") == 0 ||
            strcmp((const char *)n->data.scalar.value, "null") == 0);
}

static void require(parse_ctx_t *c, const yaml_node_t *parent, const yaml_node_t *value,
                    const char *key, const char *section)
{
    if (value == NULL)
        add_error(c, node_line(parent), "%s: missing required key \"%s\"", section, key);
}

/* ------------------------------------------------------------ sections */

static void parse_server(parse_ctx_t *c, const yaml_node_t *n)
{
    enum { LISTEN, WORKERS, MAX_BODY, REQ_TIMEOUT, HDR_TIMEOUT, NKEYS };
    static const char *const keys[NKEYS] = {
        "listen", "workers", "max_body_bytes", "request_timeout_ms", "header_timeout_ms",
    };
    yaml_node_t *v[NKEYS];
    if (!map_fields(c, n, "server", keys, NKEYS, v))
        return;
    tg_config_t *cfg = c->cfg;
    if (v[LISTEN])
        parse_listen(c, v[LISTEN], "server.listen", &cfg->server.host, &cfg->server.port);
    uint64_t u;
    if (v[WORKERS] && get_uint(c, v[WORKERS], "server.workers", MAX_WORKERS, &u))
        cfg->server.workers = (unsigned)u;
    if (v[MAX_BODY] && get_uint(c, v[MAX_BODY], "server.max_body_bytes", SIZE_MAX, &u)) {
        if (u == 0)
            add_error(c, node_line(v[MAX_BODY]), "server.max_body_bytes must be positive");
        else
            cfg->server.max_body_bytes = (size_t)u;
    }
    if (v[REQ_TIMEOUT])
        get_u32(c, v[REQ_TIMEOUT], "server.request_timeout_ms", &cfg->server.request_timeout_ms);
    if (v[HDR_TIMEOUT])
        get_u32(c, v[HDR_TIMEOUT], "server.header_timeout_ms", &cfg->server.header_timeout_ms);
}

static void parse_logging(parse_ctx_t *c, const yaml_node_t *n)
{
    enum { FORMAT, LEVEL, SCRAPES, NKEYS };
    static const char *const keys[NKEYS] = {"format", "level", "metrics_scrapes"};
    yaml_node_t *v[NKEYS];
    if (!map_fields(c, n, "logging", keys, NKEYS, v))
        return;
    char *s;
    if (v[FORMAT] && (s = scalar_text(c, v[FORMAT], "logging.format"))) {
        if (tg_log_format_parse(s, &c->cfg->logging.format) != 0)
            add_error(c, node_line(v[FORMAT]), "logging.format must be text or json (got \"%s\")", s);
        free(s);
    }
    if (v[LEVEL] && (s = scalar_text(c, v[LEVEL], "logging.level"))) {
        if (tg_log_level_parse(s, &c->cfg->logging.level) != 0)
            add_error(c, node_line(v[LEVEL]),
                      "logging.level must be debug, info, warn or error (got \"%s\")", s);
        free(s);
    }
    if (v[SCRAPES] && (s = scalar_text(c, v[SCRAPES], "logging.metrics_scrapes"))) {
        if (tg_log_level_parse(s, &c->cfg->logging.metrics_scrapes) != 0)
            add_error(c, node_line(v[SCRAPES]),
                      "logging.metrics_scrapes must be debug, info, warn or error (got \"%s\")", s);
        free(s);
    }
}

static void parse_metrics(parse_ctx_t *c, const yaml_node_t *n)
{
    enum { NAMESPACE, LISTEN, BEARER, GENAI, NKEYS };
    static const char *const keys[NKEYS] = {"namespace", "listen", "bearer_token", "genai"};
    yaml_node_t *v[NKEYS];
    if (!map_fields(c, n, "metrics", keys, NKEYS, v))
        return;
    tg_config_t *cfg = c->cfg;
    if (v[NAMESPACE] && get_string(c, v[NAMESPACE], "metrics.namespace", &cfg->metrics.metric_namespace)) {
        const char *ns = cfg->metrics.metric_namespace;
        bool ok = ns[0] == '\0' || isalpha((unsigned char)ns[0]) || ns[0] == '_';
        for (const char *p = ns; ok && *p; p++)
            ok = isalnum((unsigned char)*p) || *p == '_';
        if (!ok)
            add_error(c, node_line(v[NAMESPACE]),
                      "metrics.namespace \"%s\" must match [a-zA-Z_][a-zA-Z0-9_]* or be empty", ns);
    }
    if (v[LISTEN])
        cfg->metrics.has_listen = parse_listen(c, v[LISTEN], "metrics.listen",
                                               &cfg->metrics.listen_host, &cfg->metrics.listen_port);
    if (v[BEARER] && get_string(c, v[BEARER], "metrics.bearer_token", &cfg->metrics.bearer_token) &&
        cfg->metrics.bearer_token[0] == '\0') {
        /* An empty token (e.g. ${METRICS_TOKEN:-}) means "no token". */
        free(cfg->metrics.bearer_token);
        cfg->metrics.bearer_token = NULL;
    }
    if (cfg->metrics.bearer_token)
        tg_log_add_secret(cfg->metrics.bearer_token);
    if (v[GENAI])
        get_bool(c, v[GENAI], "metrics.genai", &cfg->metrics.genai);
}

static void parse_auth(parse_ctx_t *c, const yaml_node_t *n)
{
    static const char *const keys[] = {"allow_anonymous"};
    yaml_node_t *v[1];
    if (map_fields(c, n, "auth", keys, 1, v) && v[0])
        get_bool(c, v[0], "auth.allow_anonymous", &c->cfg->auth.allow_anonymous);
}

/* 1..64 bytes of [A-Za-z0-9._-]: the names the store keeps (a plan). */
static bool valid_name(const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
            return false;
    return n >= 1 && n <= 64;
}

static void parse_store(parse_ctx_t *c, const yaml_node_t *n)
{
    enum { DRIVER, PATH, SYNCHRONOUS, BUSY, NKEYS };
    static const char *const keys[NKEYS] = {"driver", "path", "synchronous", "busy_timeout_ms"};
    yaml_node_t *v[NKEYS];
    if (!map_fields(c, n, "store", keys, NKEYS, v))
        return;
    tg_config_t *cfg = c->cfg;
    if (v[DRIVER] && get_string(c, v[DRIVER], "store.driver", &cfg->store.driver) &&
        strcmp(cfg->store.driver, "sqlite") != 0 && strcmp(cfg->store.driver, "none") != 0)
        add_error(c, node_line(v[DRIVER]), "store.driver must be sqlite or none (got \"%s\")", cfg->store.driver);
    char *path = NULL;
    if (v[PATH] && get_string(c, v[PATH], "store.path", &path)) {
        if (path[0] == '\0')
            add_error(c, node_line(v[PATH]), "store.path must not be empty");
        else {
            free(cfg->store.path);
            cfg->store.path = path;
            path = NULL;
        }
    }
    free(path);
    char *sync = NULL;
    if (v[SYNCHRONOUS] && get_string(c, v[SYNCHRONOUS], "store.synchronous", &sync)) {
        if (strcmp(sync, "full") == 0 || strcmp(sync, "normal") == 0)
            cfg->store.synchronous_full = strcmp(sync, "full") == 0;
        else
            add_error(c, node_line(v[SYNCHRONOUS]), "store.synchronous must be normal or full (got \"%s\")", sync);
    }
    free(sync);
    if (v[BUSY])
        get_u32(c, v[BUSY], "store.busy_timeout_ms", &cfg->store.busy_timeout_ms);
}

/* A u32 key of a mapping within [min, max], when present. */
static void get_u32_in(parse_ctx_t *c, const yaml_node_t *n, const char *what, uint32_t min, uint32_t max,
                       uint32_t *out)
{
    uint64_t v;
    if (n == NULL || !get_uint(c, n, what, max, &v))
        return;
    if (v < min)
        add_error(c, node_line(n), "%s must be at least %u (got %llu)", what, min, (unsigned long long)v);
    else
        *out = (uint32_t)v;
}

static void parse_ledger(parse_ctx_t *c, const yaml_node_t *n)
{
    enum { QUEUE, BATCH, FLUSH, JOURNAL, SPOOL, NKEYS };
    static const char *const keys[NKEYS] = {"queue_size", "batch_max", "flush_ms", "journal_path", "spool_path"};
    yaml_node_t *v[NKEYS];
    if (!map_fields(c, n, "ledger", keys, NKEYS, v))
        return;
    tg_config_t *cfg = c->cfg;
    get_u32_in(c, v[QUEUE], "ledger.queue_size", 1, 1u << 20, &cfg->ledger.queue_size);
    get_u32_in(c, v[BATCH], "ledger.batch_max", 1, 65536, &cfg->ledger.batch_max);
    get_u32_in(c, v[FLUSH], "ledger.flush_ms", 1, 10000, &cfg->ledger.flush_ms);
    if (v[JOURNAL] && get_string(c, v[JOURNAL], "ledger.journal_path", &cfg->ledger.journal_path) &&
        cfg->ledger.journal_path[0] == '\0')
        add_error(c, node_line(v[JOURNAL]), "ledger.journal_path must not be empty");
    if (v[SPOOL] && get_string(c, v[SPOOL], "ledger.spool_path", &cfg->ledger.spool_path) &&
        cfg->ledger.spool_path[0] == '\0')
        add_error(c, node_line(v[SPOOL]), "ledger.spool_path must not be empty");
}

static void parse_limits(parse_ctx_t *c, const yaml_node_t *n)
{
    enum { DEFAULT_MAX_TOKENS, MAX_ORG_SERIES, NKEYS };
    static const char *const keys[NKEYS] = {"default_max_tokens", "max_org_series"};
    yaml_node_t *v[NKEYS];
    if (!map_fields(c, n, "limits", keys, NKEYS, v))
        return;
    if (v[DEFAULT_MAX_TOKENS]) {
        get_u32(c, v[DEFAULT_MAX_TOKENS], "limits.default_max_tokens", &c->cfg->limits.default_max_tokens);
        if (c->cfg->limits.default_max_tokens == 0 || c->cfg->limits.default_max_tokens > 10000000)
            add_error(c, node_line(v[DEFAULT_MAX_TOKENS]), "limits.default_max_tokens must be from 1 to 10000000");
    }
    if (v[MAX_ORG_SERIES]) {
        get_u32(c, v[MAX_ORG_SERIES], "limits.max_org_series", &c->cfg->limits.max_org_series);
        if (c->cfg->limits.max_org_series == 0)
            add_error(c, node_line(v[MAX_ORG_SERIES]), "limits.max_org_series must be positive");
    }
}

static void get_ttl(parse_ctx_t *c, const yaml_node_t *n, const char *what, uint32_t *out)
{
    uint64_t v;
    if (!get_uint(c, n, what, UINT32_MAX, &v))
        return;
    if (v == 0)
        add_error(c, node_line(n), "%s must be at least 1", what);
    else
        *out = (uint32_t)v;
}

static void parse_cache_sqlite(parse_ctx_t *c, const yaml_node_t *n)
{
    enum { ENABLED, MAX_BYTES, TTL, NKEYS };
    static const char *const keys[NKEYS] = {"enabled", "max_bytes", "ttl_seconds"};
    yaml_node_t *v[NKEYS];
    if (!map_fields(c, n, "cache.sqlite", keys, NKEYS, v))
        return;
    if (v[ENABLED])
        get_bool(c, v[ENABLED], "cache.sqlite.enabled", &c->cfg->cache.sqlite.enabled);
    if (v[MAX_BYTES])
        get_uint(c, v[MAX_BYTES], "cache.sqlite.max_bytes", INT64_MAX, &c->cfg->cache.sqlite.max_bytes);
    if (v[TTL])
        get_ttl(c, v[TTL], "cache.sqlite.ttl_seconds", &c->cfg->cache.sqlite.ttl_seconds);
}

static void parse_cache(parse_ctx_t *c, const yaml_node_t *n)
{
    enum { ENABLED, MEMORY, TTL, COALESCE, SQLITE, NKEYS };
    static const char *const keys[NKEYS] = {"enabled", "memory_bytes", "ttl_seconds", "coalesce_wait_ms", "sqlite"};
    yaml_node_t *v[NKEYS];
    if (!map_fields(c, n, "cache", keys, NKEYS, v))
        return;
    tg_config_t *cfg = c->cfg;
    if (v[ENABLED])
        get_bool(c, v[ENABLED], "cache.enabled", &cfg->cache.enabled);
    if (v[MEMORY])
        get_uint(c, v[MEMORY], "cache.memory_bytes", SIZE_MAX, &cfg->cache.memory_bytes);
    if (v[TTL])
        get_ttl(c, v[TTL], "cache.ttl_seconds", &cfg->cache.ttl_seconds);
    if (v[COALESCE]) {
        get_u32(c, v[COALESCE], "cache.coalesce_wait_ms", &cfg->cache.coalesce_wait_ms);
        if (cfg->cache.coalesce_wait_ms > 600000)
            add_error(c, node_line(v[COALESCE]), "cache.coalesce_wait_ms must be at most 600000");
    }
    if (v[SQLITE] && !is_null_node(v[SQLITE]))
        parse_cache_sqlite(c, v[SQLITE]);
}

static void parse_tenancy(parse_ctx_t *c, const yaml_node_t *n)
{
    static const char *const keys[] = {"plans"};
    yaml_node_t *v[1];
    if (!map_fields(c, n, "tenancy", keys, 1, v) || v[0] == NULL)
        return;
    tg_config_t *cfg = c->cfg;
    if (v[0]->type != YAML_SEQUENCE_NODE || v[0]->data.sequence.items.top == v[0]->data.sequence.items.start) {
        add_error(c, node_line(v[0]), "tenancy.plans must be a non-empty list of names");
        return;
    }
    for (size_t i = 0; i < cfg->tenancy.plan_count; i++)
        free(cfg->tenancy.plans[i]);
    cfg->tenancy.plan_count = 0;
    size_t count = (size_t)(v[0]->data.sequence.items.top - v[0]->data.sequence.items.start);
    char **plans = realloc(cfg->tenancy.plans, count * sizeof(*plans));
    if (plans == NULL) {
        add_error(c, node_line(v[0]), "out of memory");
        return;
    }
    cfg->tenancy.plans = plans;
    for (size_t i = 0; i < count; i++) {
        const yaml_node_t *item = node_at(c, v[0]->data.sequence.items.start[i]);
        char *name = scalar_text(c, item, "a tenancy.plans entry");
        if (name == NULL)
            continue;
        bool duplicate = false;
        for (size_t k = 0; k < cfg->tenancy.plan_count; k++)
            duplicate |= strcmp(name, plans[k]) == 0;
        if (!valid_name(name))
            add_error(c, node_line(item), "tenancy.plans: \"%s\" must be 1 to 64 characters of A-Z a-z 0-9 . _ -", name);
        else if (duplicate)
            add_error(c, node_line(item), "tenancy.plans: \"%s\" is listed twice", name);
        else {
            plans[cfg->tenancy.plan_count++] = name;
            continue;
        }
        free(name);
    }
}

static void parse_anomaly(parse_ctx_t *c, const yaml_node_t *n)
{
    enum { ENABLED, INTERVAL, WARMUP, MIN_REQUESTS, WEIGHT, LATENCY, ERROR, FLOOR, VOLUME, NKEYS };
    static const char *const keys[NKEYS] = {
        "enabled", "interval_ms", "warmup_intervals", "min_requests", "baseline_weight",
        "latency_factor", "error_factor", "error_floor", "volume_factor",
    };
    yaml_node_t *v[NKEYS];
    if (!map_fields(c, n, "anomaly", keys, NKEYS, v))
        return;
    tg_anomaly_config_t *a = &c->cfg->anomaly;
    if (v[ENABLED])
        get_bool(c, v[ENABLED], "anomaly.enabled", &a->enabled);
    if (v[INTERVAL]) {
        get_u32(c, v[INTERVAL], "anomaly.interval_ms", &a->interval_ms);
        if (a->interval_ms < MIN_TICK_INTERVAL_MS)
            add_error(c, node_line(v[INTERVAL]), "anomaly.interval_ms must be at least %d", MIN_TICK_INTERVAL_MS);
    }
    if (v[WARMUP]) {
        get_u32(c, v[WARMUP], "anomaly.warmup_intervals", &a->warmup_intervals);
        if (a->warmup_intervals == 0)
            add_error(c, node_line(v[WARMUP]), "anomaly.warmup_intervals must be positive");
    }
    if (v[MIN_REQUESTS]) {
        get_u32(c, v[MIN_REQUESTS], "anomaly.min_requests", &a->min_requests);
        if (a->min_requests == 0)
            add_error(c, node_line(v[MIN_REQUESTS]), "anomaly.min_requests must be positive");
    }
    if (v[WEIGHT]) {
        get_number(c, v[WEIGHT], "anomaly.baseline_weight", &a->baseline_weight);
        if (!(a->baseline_weight > 0 && a->baseline_weight <= 1))
            add_error(c, node_line(v[WEIGHT]), "anomaly.baseline_weight must be in (0, 1]");
    }
    if (v[FLOOR]) {
        get_number(c, v[FLOOR], "anomaly.error_floor", &a->error_floor);
        if (a->error_floor > 1)
            add_error(c, node_line(v[FLOOR]), "anomaly.error_floor must be in [0, 1]");
    }
    /* A factor of 1 or less would call every interval an anomaly. */
    const struct { int key; const char *what; double *out; } factors[] = {
        {LATENCY, "anomaly.latency_factor", &a->latency_factor},
        {ERROR, "anomaly.error_factor", &a->error_factor},
        {VOLUME, "anomaly.volume_factor", &a->volume_factor},
    };
    for (size_t i = 0; i < sizeof(factors) / sizeof(factors[0]); i++) {
        if (v[factors[i].key] == NULL)
            continue;
        get_number(c, v[factors[i].key], factors[i].what, factors[i].out);
        if (*factors[i].out <= 1)
            add_error(c, node_line(v[factors[i].key]), "%s must be greater than 1", factors[i].what);
    }
}

/* Headers forward_headers may not name, and why: the gateway frames the
 * upstream request and sets these itself, or they carry the client's
 * credentials, which must never reach a third party. */
static const struct {
    const char *name;
    const char *why;
} unforwardable_headers[] = {
    {"host", "is set by the gateway"},
    {"content-length", "is set by the gateway"},
    {"content-type", "is set by the gateway"},
    {"content-encoding", "would not describe the body the gateway sends"},
    {"accept-encoding", "would let the provider compress what the gateway reads"},
    {"transfer-encoding", "is hop-by-hop"},
    {"connection", "is hop-by-hop"},
    {"keep-alive", "is hop-by-hop"},
    {"proxy-connection", "is hop-by-hop"},
    {"te", "is hop-by-hop"},
    {"trailer", "is hop-by-hop"},
    {"upgrade", "is hop-by-hop"},
    {"expect", "is hop-by-hop"},
    {"http2-settings", "is hop-by-hop"},
    {"traceparent", "is set by the gateway"},
    {"x-request-id", "is set by the gateway"},
    {"authorization", "carries client credentials"},
    {"proxy-authorization", "carries client credentials"},
    {"cookie", "carries client credentials"},
    {"x-api-key", "carries client credentials"},
    {"api-key", "carries client credentials"},
    {"x-goog-api-key", "carries client credentials"},
};

/* RFC 9110 token characters: what a header name is made of. */
static bool is_tchar(unsigned char ch)
{
    return isalnum(ch) || (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

/* forward_headers: a list of header names, stored lower-cased. */
static void parse_forward_headers(parse_ctx_t *c, const yaml_node_t *n, tg_provider_config_t *p)
{
    const char *provider = p->name ? p->name : "?";
    if (n->type != YAML_SEQUENCE_NODE) {
        add_error(c, node_line(n), "provider \"%s\": forward_headers must be a list", provider);
        return;
    }
    size_t count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    p->forward_headers = calloc(count ? count : 1, sizeof(*p->forward_headers));
    if (p->forward_headers == NULL)
        return;
    for (size_t i = 0; i < count; i++) {
        const yaml_node_t *item = node_at(c, n->data.sequence.items.start[i]);
        char *name = scalar_text(c, item, "a forward_headers entry");
        if (name == NULL)
            continue;
        bool valid = name[0] != '\0';
        for (char *q = name; *q != '\0'; q++) {
            valid &= is_tchar((unsigned char)*q);
            *q = (char)tolower((unsigned char)*q);
        }
        const char *refused = NULL;
        for (size_t k = 0; k < sizeof(unforwardable_headers) / sizeof(unforwardable_headers[0]); k++)
            if (strcmp(name, unforwardable_headers[k].name) == 0)
                refused = unforwardable_headers[k].why;
        bool duplicate = false;
        for (size_t k = 0; k < p->forward_header_count; k++)
            duplicate |= strcmp(name, p->forward_headers[k]) == 0;
        if (!valid)
            add_error(c, node_line(item), "provider \"%s\": forward_headers: \"%s\" is not a valid header name",
                      provider, name);
        else if (refused != NULL)
            add_error(c, node_line(item), "provider \"%s\": forward_headers: \"%s\" %s and is never forwarded",
                      provider, name, refused);
        else if (duplicate)
            add_error(c, node_line(item), "provider \"%s\": forward_headers: \"%s\" is listed twice", provider,
                      name);
        else {
            p->forward_headers[p->forward_header_count++] = name;
            continue;
        }
        free(name);
    }
}

/* A relative path in the file is relative to the file's directory, so
 * that a configuration and the files it names can move together whatever
 * the working directory. */
static char *resolve_path(const char *config_path, const char *file)
{
    const char *slash = strrchr(config_path, '/');
    if (file[0] == '/' || slash == NULL)
        return strdup(file);
    size_t dir_len = (size_t)(slash - config_path) + 1, file_len = strlen(file);
    char *out = malloc(dir_len + file_len + 1);
    if (out != NULL) {
        memcpy(out, config_path, dir_len);
        memcpy(out + dir_len, file, file_len + 1);
    }
    return out;
}

/* A path of the file, relative to its directory; unless named, the
 * database's path with `suffix`. */
static char *resolve_beside(parse_ctx_t *c, const char *named, const char *db, const char *suffix)
{
    if (named != NULL)
        return resolve_path(c->path, named);
    char *path = db != NULL ? malloc(strlen(db) + strlen(suffix) + 1) : NULL;
    if (path != NULL)
        sprintf(path, "%s%s", db, suffix);
    return path;
}

/* store.path, ledger.journal_path and ledger.spool_path, relative to the
 * file's directory; the journal and the spool beside the database unless
 * named. */
static void resolve_store_paths(parse_ctx_t *c)
{
    tg_config_t *cfg = c->cfg;
    char *db = resolve_path(c->path, cfg->store.path);
    char *journal = resolve_beside(c, cfg->ledger.journal_path, db, ".journal");
    char *spool = resolve_beside(c, cfg->ledger.spool_path, db, ".spool");
    if (db == NULL || journal == NULL || spool == NULL)
        add_error(c, 0, "out of memory");
    free(cfg->store.path);
    free(cfg->ledger.journal_path);
    free(cfg->ledger.spool_path);
    cfg->store.path = db;
    cfg->ledger.journal_path = journal;
    cfg->ledger.spool_path = spool;
    /* by name here; the same file under another name (a link) is refused
     * at start, by its inode */
    if (journal != NULL && spool != NULL && strcmp(journal, spool) == 0)
        add_error(c, 0, "ledger.journal_path and ledger.spool_path name the same file (%s): each needs one of its own",
                  journal);
    if (db != NULL && journal != NULL && strcmp(db, journal) == 0)
        add_error(c, 0, "ledger.journal_path names the database (%s)", db);
    if (db != NULL && spool != NULL && strcmp(db, spool) == 0)
        add_error(c, 0, "ledger.spool_path names the database (%s)", db);
}

/* The provider's TLS context: built here, not when serving, so that a bad
 * ca_file is reported like any other error in the file. */
static void setup_tls(parse_ctx_t *c, const yaml_node_t *base_url, const yaml_node_t *ca_file, tg_provider_config_t *p)
{
    const char *name = p->name ? p->name : "?";
    if (p->host == NULL || (ca_file != NULL && p->ca_file == NULL))
        return; /* base_url or ca_file missing or bad: already reported */
    if (!p->tls) {
        if (ca_file != NULL)
            add_error(c, node_line(ca_file), "provider \"%s\": ca_file applies only to an https:// base_url", name);
        return;
    }
    char err[300];
    p->tls_ctx = tg_tls_client_new(p->host, p->ca_file, &c->system_trust, err, sizeof(err));
    if (p->tls_ctx == NULL)
        add_error(c, node_line(ca_file ? ca_file : base_url), "provider \"%s\": %s", name, err);
}

static void parse_breaker(parse_ctx_t *c, const yaml_node_t *n, tg_breaker_config_t *b)
{
    enum { ENABLED, FAILURES, RATIO, WINDOW, MIN_REQ, COOLDOWN, MAX_COOLDOWN, PROBES, CLOSE_AFTER, NKEYS };
    static const char *const keys[NKEYS] = {
        "enabled", "failures", "error_ratio", "window_seconds", "min_requests", "cooldown_ms",
        "max_cooldown_ms", "half_open_probes", "close_after",
    };
    yaml_node_t *v[NKEYS];
    if (!map_fields(c, n, "breaker", keys, NKEYS, v))
        return;
    if (v[ENABLED])
        get_bool(c, v[ENABLED], "breaker.enabled", &b->enabled);
    get_u32_in(c, v[FAILURES], "breaker.failures", 0, 1000000, &b->failures);
    if (v[RATIO])
        get_ratio(c, v[RATIO], "breaker.error_ratio", &b->error_ratio);
    get_u32_in(c, v[WINDOW], "breaker.window_seconds", 1, TG_BREAKER_SLOTS, &b->window_seconds);
    get_u32_in(c, v[MIN_REQ], "breaker.min_requests", 1, 1000000, &b->min_requests);
    /* a day bounds the cooldowns: longer is a provider taken out by hand */
    get_u32_in(c, v[COOLDOWN], "breaker.cooldown_ms", 1, 86400000, &b->cooldown_ms);
    get_u32_in(c, v[MAX_COOLDOWN], "breaker.max_cooldown_ms", 1, 86400000, &b->max_cooldown_ms);
    get_u32_in(c, v[PROBES], "breaker.half_open_probes", 1, TG_BREAKER_MAX_PROBES, &b->half_open_probes);
    get_u32_in(c, v[CLOSE_AFTER], "breaker.close_after", 1, TG_BREAKER_MAX_PROBES, &b->close_after);
    if (b->max_cooldown_ms < b->cooldown_ms)
        add_error(c, node_line(v[MAX_COOLDOWN] ? v[MAX_COOLDOWN] : n),
                  "breaker.max_cooldown_ms (%u) must not be below breaker.cooldown_ms (%u)", b->max_cooldown_ms,
                  b->cooldown_ms);
    if (b->close_after > b->half_open_probes)
        add_error(c, node_line(v[CLOSE_AFTER] ? v[CLOSE_AFTER] : n),
                  "breaker.close_after (%u) must not exceed breaker.half_open_probes (%u): it could never close",
                  b->close_after, b->half_open_probes);
    if (b->enabled && b->failures == 0 && b->error_ratio == 0)
        add_error(c, node_line(n), "breaker: failures and error_ratio are both 0, so it never opens "
                  "(say enabled: false)");
}

/* A path for the request line: it must start with "/" and hold only
 * visible ASCII, so that it cannot break the request it goes into. */
static bool valid_request_path(const char *path)
{
    if (path[0] != '/')
        return false;
    for (const char *p = path; *p; p++)
        if (*p <= ' ' || *p >= 0x7f)
            return false;
    return true;
}

static void parse_health_check(parse_ctx_t *c, const yaml_node_t *n, tg_provider_config_t *p)
{
    enum { ENABLED, PATH, INTERVAL, TIMEOUT, NKEYS };
    static const char *const keys[NKEYS] = {"enabled", "path", "interval_ms", "timeout_ms"};
    yaml_node_t *v[NKEYS];
    tg_health_check_config_t *hc = &p->health_check;
    const char *name = p->name ? p->name : "?";
    if (is_null_node(n) || !map_fields(c, n, "health_check", keys, NKEYS, v))
        return;
    if (v[ENABLED])
        get_bool(c, v[ENABLED], "health_check.enabled", &hc->enabled);
    if (v[PATH] && get_string(c, v[PATH], "health_check.path", &hc->path) && !valid_request_path(hc->path))
        add_error(c, node_line(v[PATH]),
                  "provider \"%s\": health_check.path \"%s\" must start with \"/\" and hold no spaces or "
                  "control characters", name, hc->path);
    if (v[INTERVAL]) {
        get_u32(c, v[INTERVAL], "health_check.interval_ms", &hc->interval_ms);
        if (hc->interval_ms < MIN_TICK_INTERVAL_MS)
            add_error(c, node_line(v[INTERVAL]), "provider \"%s\": health_check.interval_ms must be at least %d",
                      name, MIN_TICK_INTERVAL_MS);
    }
    if (v[TIMEOUT]) {
        get_u32(c, v[TIMEOUT], "health_check.timeout_ms", &hc->timeout_ms);
        if (hc->timeout_ms == 0)
            add_error(c, node_line(v[TIMEOUT]), "provider \"%s\": health_check.timeout_ms must be positive", name);
    }
    /* A check that may outlast its interval would run back to back. */
    if (hc->timeout_ms >= hc->interval_ms && hc->interval_ms >= MIN_TICK_INTERVAL_MS)
        add_error(c, node_line(v[TIMEOUT] ? v[TIMEOUT] : v[INTERVAL] ? v[INTERVAL] : n),
                  "provider \"%s\": health_check.timeout_ms (%u) must be less than interval_ms (%u)", name,
                  hc->timeout_ms, hc->interval_ms);
}

static void parse_provider(parse_ctx_t *c, const yaml_node_t *n, tg_provider_config_t *p)
{
    enum {
        NAME, BASE_URL, KEY_ENV, TIMEOUT, FIRST_TOKEN, RETRIES, BACKOFF, MAXCONN, FORWARD, CA_FILE, BREAKER,
        HEALTH_CHECK, TYPE, NKEYS
    };
    static const char *const keys[NKEYS] = {
        "name", "base_url", "api_key_env", "timeout_ms", "first_token_timeout_ms", "max_retries",
        "retry_backoff_ms", "max_connections", "forward_headers", "ca_file", "breaker", "health_check", "type",
    };
    yaml_node_t *v[NKEYS];
    p->timeout_ms = DEFAULT_PROVIDER_TIMEOUT_MS;
    p->max_retries = DEFAULT_MAX_RETRIES;
    p->retry_backoff_ms = DEFAULT_RETRY_BACKOFF_MS;
    p->max_connections = DEFAULT_MAX_CONNECTIONS;
    p->breaker = DEFAULT_BREAKER;
    p->health_check = (tg_health_check_config_t){.enabled = true, .path = strdup(DEFAULT_CHECK_PATH),
                                                  .interval_ms = DEFAULT_CHECK_INTERVAL_MS,
                                                  .timeout_ms = DEFAULT_CHECK_TIMEOUT_MS};
    if (!map_fields(c, n, "provider", keys, NKEYS, v))
        return;
    require(c, n, v[NAME], "name", "provider");
    require(c, n, v[BASE_URL], "base_url", "provider");
    if (v[NAME] && get_string(c, v[NAME], "provider name", &p->name) && p->name[0] == '\0')
        add_error(c, node_line(v[NAME]), "provider name must not be empty");
    if (v[BASE_URL] && get_string(c, v[BASE_URL], "base_url", &p->base_url))
        parse_base_url(c, v[BASE_URL], p);
    char *type = NULL;
    if (v[TYPE] && get_string(c, v[TYPE], "provider type", &type)) {
        if (strcmp(type, "openai") == 0 || strcmp(type, "anthropic") == 0)
            p->type = strcmp(type, tg_provider_type_name(TG_PROVIDER_ANTHROPIC)) == 0 ? TG_PROVIDER_ANTHROPIC
                                                                                        : TG_PROVIDER_OPENAI;
        else
            add_error(c, node_line(v[TYPE]), "provider type must be openai or anthropic (got \"%s\")", type);
    }
    free(type);
    if (v[KEY_ENV] && get_string(c, v[KEY_ENV], "api_key_env", &p->api_key_env)) {
        const char *key = getenv(p->api_key_env);
        if (key && key[0]) {
            p->api_key = strdup(key);
            tg_log_add_secret(key);
        }
    }
    if (v[TIMEOUT])
        get_u32(c, v[TIMEOUT], "timeout_ms", &p->timeout_ms);
    if (v[FIRST_TOKEN])
        get_u32(c, v[FIRST_TOKEN], "first_token_timeout_ms", &p->first_token_timeout_ms);
    if (v[RETRIES])
        get_u32(c, v[RETRIES], "max_retries", &p->max_retries);
    if (v[BACKOFF])
        get_u32(c, v[BACKOFF], "retry_backoff_ms", &p->retry_backoff_ms);
    if (v[MAXCONN]) {
        get_u32(c, v[MAXCONN], "max_connections", &p->max_connections);
        if (p->max_connections == 0)
            add_error(c, node_line(v[MAXCONN]), "max_connections must be positive");
    }
    if (p->timeout_ms == 0 && v[TIMEOUT])
        add_error(c, node_line(v[TIMEOUT]), "timeout_ms must be positive");
    if (v[FORWARD])
        parse_forward_headers(c, v[FORWARD], p);
    char *ca_file = NULL;
    if (v[CA_FILE] && get_string(c, v[CA_FILE], "ca_file", &ca_file)) {
        if (ca_file[0] == '\0')
            add_error(c, node_line(v[CA_FILE]), "ca_file must not be empty");
        else if ((p->ca_file = resolve_path(c->path, ca_file)) == NULL)
            add_error(c, node_line(v[CA_FILE]), "out of memory");
        free(ca_file);
    }
    if (v[BREAKER])
        parse_breaker(c, v[BREAKER], &p->breaker);
    setup_tls(c, v[BASE_URL], v[CA_FILE], p);
    if (v[HEALTH_CHECK])
        parse_health_check(c, v[HEALTH_CHECK], p);
    if (p->health_check.path == NULL)
        add_error(c, node_line(n), "out of memory");
}

static bool breaker_config_equal(const tg_breaker_config_t *a, const tg_breaker_config_t *b)
{
    return a->enabled == b->enabled && a->failures == b->failures && a->error_ratio == b->error_ratio &&
           a->window_seconds == b->window_seconds && a->min_requests == b->min_requests &&
           a->cooldown_ms == b->cooldown_ms && a->max_cooldown_ms == b->max_cooldown_ms &&
           a->half_open_probes == b->half_open_probes && a->close_after == b->close_after;
}

static long find_model_breaker(const tg_config_t *cfg, size_t provider, const char *upstream_model)
{
    for (size_t i = 0; i < cfg->model_breaker_count; i++)
        if (cfg->model_breakers[i].provider == provider &&
            strcmp(cfg->model_breakers[i].upstream_model, upstream_model) == 0)
            return (long)i;
    return -1;
}

/* A route's `breaker` section: the breaker of its (provider, upstream
 * model), made on first mention. Another route to the same pair shares it
 * and may repeat the settings, not change them. */
static void parse_route_breaker(parse_ctx_t *c, const yaml_node_t *n, tg_route_config_t *r)
{
    tg_breaker_config_t b = DEFAULT_BREAKER;
    parse_breaker(c, n, &b);
    long i = find_model_breaker(c->cfg, r->provider, r->upstream_model);
    if (i >= 0) {
        if (!breaker_config_equal(&c->cfg->model_breakers[i].breaker, &b))
            add_error(c, node_line(n), "route breaker for provider \"%s\", model \"%s\" differs from an earlier "
                      "route's: routes to the same provider and upstream model share one breaker",
                      c->cfg->providers[r->provider].name, r->upstream_model);
        r->breaker = i;
        return;
    }
    tg_model_breaker_config_t *grown = realloc(c->cfg->model_breakers,
                                               (c->cfg->model_breaker_count + 1) * sizeof(*grown));
    char *name = strdup(r->upstream_model);
    if (grown == NULL || name == NULL) {
        free(name);
        if (grown)
            c->cfg->model_breakers = grown;
        add_error(c, node_line(n), "out of memory");
        return;
    }
    c->cfg->model_breakers = grown;
    grown[c->cfg->model_breaker_count] = (tg_model_breaker_config_t){r->provider, name, b};
    r->breaker = (long)c->cfg->model_breaker_count++;
}

static void parse_route(parse_ctx_t *c, const yaml_node_t *n, const char *model, tg_route_config_t *r)
{
    enum { PROVIDER, MODEL, WEIGHT, BREAKER, NKEYS };
    static const char *const keys[NKEYS] = {"provider", "model", "weight", "breaker"};
    yaml_node_t *v[NKEYS];
    r->breaker = -1;
    if (!map_fields(c, n, "route", keys, NKEYS, v))
        return;
    require(c, n, v[PROVIDER], "provider", "route");
    char *provider = NULL;
    bool known = false;
    if (v[PROVIDER] && get_string(c, v[PROVIDER], "route provider", &provider)) {
        long idx = tg_config_find_provider(c->cfg, provider);
        if (idx < 0)
            add_error(c, node_line(v[PROVIDER]),
                      "provider \"%s\" referenced by model \"%s\" is not defined", provider, model);
        else
            r->provider = (size_t)idx;
        known = idx >= 0;
    }
    free(provider);
    /* The upstream model name defaults to the model's own name. */
    if (v[MODEL])
        get_string(c, v[MODEL], "route model", &r->upstream_model);
    else
        r->upstream_model = strdup(model);
    r->weight = 1;
    get_u32_in(c, v[WEIGHT], "route weight", 1, TG_ROUTE_WEIGHT_MAX, &r->weight);
    if (v[BREAKER] && known && r->upstream_model != NULL)
        parse_route_breaker(c, v[BREAKER], r);
}

/* After every model: a route without a `breaker` section to a pair that
 * has one (set on another route) shares it too. */
static void share_model_breakers(tg_config_t *cfg)
{
    for (size_t m = 0; m < cfg->model_count; m++)
        for (size_t i = 0; i < cfg->models[m].route_count; i++) {
            tg_route_config_t *r = &cfg->models[m].routes[i];
            if (r->breaker < 0 && r->upstream_model != NULL)
                r->breaker = find_model_breaker(cfg, r->provider, r->upstream_model);
        }
}

static void parse_strategy(parse_ctx_t *c, const yaml_node_t *n, const char *model, tg_strategy_t *out)
{
    char *s = scalar_text(c, n, "model strategy");
    if (s == NULL)
        return;
    for (int i = 0; i < TG_STRATEGY_COUNT; i++)
        if (strcmp(s, tg_strategy_name((tg_strategy_t)i)) == 0) {
            *out = (tg_strategy_t)i;
            free(s);
            return;
        }
    add_error(c, node_line(n),
              "model \"%s\": strategy must be priority, weighted, lowest_latency or health_score (got \"%s\")",
              model, s);
    free(s);
}

static void parse_pricing(parse_ctx_t *c, const yaml_node_t *n, tg_pricing_t *p)
{
    enum { INPUT, CACHED, CACHE_WRITE, OUTPUT, IMAGE, AUDIO_SECOND, CHARACTERS, NKEYS };
    static const char *const keys[NKEYS] = {"input", "cached_input", "cache_write", "output",
                                            "image", "audio_second", "characters"};
    yaml_node_t *v[NKEYS];
    if (!map_fields(c, n, "pricing", keys, NKEYS, v))
        return;
    /* each unit's price: none set is free (0) */
    const struct { int key; const char *what; double *out; } prices[] = {
        {INPUT, "pricing.input", &p->input},
        {OUTPUT, "pricing.output", &p->output},
        {IMAGE, "pricing.image", &p->image},
        {AUDIO_SECOND, "pricing.audio_second", &p->audio_second},
        {CHARACTERS, "pricing.characters", &p->characters},
    };
    for (size_t i = 0; i < sizeof(prices) / sizeof(prices[0]); i++)
        if (v[prices[i].key])
            get_number(c, v[prices[i].key], prices[i].what, prices[i].out);
    /* Without a cache write price, written tokens cost what input tokens cost. */
    p->cache_write = p->input;
    if (v[CACHE_WRITE])
        get_number(c, v[CACHE_WRITE], "pricing.cache_write", &p->cache_write);
    /* Without a cached price, cached tokens cost what input tokens cost. */
    p->cached_input = p->input;
    if (v[CACHED])
        get_number(c, v[CACHED], "pricing.cached_input", &p->cached_input);
}

static void parse_model(parse_ctx_t *c, const yaml_node_t *n, tg_model_config_t *m)
{
    enum { NAME, ROUTES, PRICING, WHEN_ALL_OPEN, STRATEGY, NKEYS };
    static const char *const keys[NKEYS] = {"name", "routes", "pricing", "when_all_open", "strategy"};
    yaml_node_t *v[NKEYS];
    if (!map_fields(c, n, "model", keys, NKEYS, v))
        return;
    require(c, n, v[NAME], "name", "model");
    require(c, n, v[ROUTES], "routes", "model");
    if (v[NAME] && get_string(c, v[NAME], "model name", &m->name) && m->name[0] == '\0')
        add_error(c, node_line(v[NAME]), "model name must not be empty");
    const char *name = m->name ? m->name : "?";
    if (v[ROUTES]) {
        yaml_node_t *seq = v[ROUTES];
        if (seq->type != YAML_SEQUENCE_NODE) {
            add_error(c, node_line(seq), "model \"%s\": routes must be a list", name);
        } else {
            size_t count = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
            if (count == 0)
                add_error(c, node_line(seq), "model \"%s\" has no routes", name);
            m->routes = calloc(count ? count : 1, sizeof(*m->routes));
            if (m->routes) {
                m->route_count = count;
                for (size_t i = 0; i < count; i++)
                    parse_route(c, node_at(c, seq->data.sequence.items.start[i]), name, &m->routes[i]);
            }
        }
    }
    if (v[PRICING])
        parse_pricing(c, v[PRICING], &m->pricing);
    char *s;
    if (v[WHEN_ALL_OPEN] && (s = scalar_text(c, v[WHEN_ALL_OPEN], "when_all_open"))) {
        if (strcmp(s, "probe") == 0)
            m->probe_when_all_open = true;
        else if (strcmp(s, "fail") != 0)
            add_error(c, node_line(v[WHEN_ALL_OPEN]), "model \"%s\": when_all_open must be fail or probe (got \"%s\")",
                      name, s);
        free(s);
    }
    m->strategy = TG_STRATEGY_PRIORITY;
    if (v[STRATEGY])
        parse_strategy(c, v[STRATEGY], name, &m->strategy);
}

/* Allocates *items for the list node n and returns its length. */
static size_t list_items(parse_ctx_t *c, const yaml_node_t *n, const char *what, size_t item_size,
                         void **items)
{
    if (n->type != YAML_SEQUENCE_NODE) {
        add_error(c, node_line(n), "%s must be a list", what);
        return 0;
    }
    size_t count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (count == 0) {
        add_error(c, node_line(n), "%s must not be empty", what);
        return 0;
    }
    *items = calloc(count, item_size);
    return *items ? count : 0;
}

static void parse_providers(parse_ctx_t *c, const yaml_node_t *n)
{
    tg_config_t *cfg = c->cfg;
    size_t count = list_items(c, n, "providers", sizeof(tg_provider_config_t), (void **)&cfg->providers);
    for (size_t i = 0; i < count; i++) {
        const yaml_node_t *item = node_at(c, n->data.sequence.items.start[i]);
        parse_provider(c, item, &cfg->providers[i]);
        const char *name = cfg->providers[i].name;
        /* Search only the providers before this one: duplicates are named
         * at their second occurrence. */
        cfg->provider_count = i;
        if (name && tg_config_find_provider(cfg, name) >= 0)
            add_error(c, node_line(item), "duplicate provider name \"%s\"", name);
        cfg->provider_count = i + 1;
    }
}

static void parse_models(parse_ctx_t *c, const yaml_node_t *n)
{
    tg_config_t *cfg = c->cfg;
    size_t count = list_items(c, n, "models", sizeof(tg_model_config_t), (void **)&cfg->models);
    for (size_t i = 0; i < count; i++) {
        const yaml_node_t *item = node_at(c, n->data.sequence.items.start[i]);
        parse_model(c, item, &cfg->models[i]);
        const char *name = cfg->models[i].name;
        cfg->model_count = i;
        if (name && tg_config_find_model(cfg, name, strlen(name)) >= 0)
            add_error(c, node_line(item), "duplicate model name \"%s\"", name);
        cfg->model_count = i + 1;
    }
}

/* tracing.headers: a mapping of header names to values, kept as the lines
 * of a request head. A value is a credential more often than not (an API
 * key of a hosted backend): each is registered as a secret. */
static void parse_tracing_headers(parse_ctx_t *c, const yaml_node_t *n)
{
    if (n->type != YAML_MAPPING_NODE) {
        add_error(c, node_line(n), "tracing.headers must be a mapping of header names to values");
        return;
    }
    size_t len = 0;
    char *lines = strdup("");
    for (yaml_node_pair_t *pair = n->data.mapping.pairs.start; lines && pair < n->data.mapping.pairs.top; pair++) {
        yaml_node_t *k = node_at(c, pair->key);
        char *name = scalar_text(c, k, "a tracing.headers name");
        char *value = scalar_text(c, node_at(c, pair->value), "a tracing.headers value");
        bool valid = name != NULL && name[0] != '\0';
        for (const char *q = name; valid && *q; q++)
            valid = is_tchar((unsigned char)*q);
        if (name != NULL && !valid)
            add_error(c, node_line(k), "tracing.headers: \"%s\" is not a valid header name", name);
        else if (value != NULL && strpbrk(value, "\r\n") != NULL)
            add_error(c, node_line(k), "tracing.headers: the value of \"%s\" holds a line break", name);
        else if (name != NULL && value != NULL) {
            size_t add = strlen(name) + strlen(value) + 4;
            char *grown = realloc(lines, len + add + 1);
            if (grown != NULL) {
                lines = grown;
                len += (size_t)sprintf(lines + len, "%s: %s\r\n", name, value);
                if (value[0] != '\0')
                    tg_log_add_secret(value);
            }
        }
        free(name);
        if (value != NULL)
            explicit_bzero(value, strlen(value));
        free(value);
    }
    free(c->cfg->tracing.headers);
    c->cfg->tracing.headers = lines;
}

static void parse_tracing(parse_ctx_t *c, const yaml_node_t *n)
{
    enum { ENABLED, ENDPOINT, SERVICE, QUEUE, BATCH, INTERVAL, TIMEOUT, HEADERS, NKEYS };
    static const char *const keys[NKEYS] = {
        "enabled", "endpoint", "service_name", "queue_size", "batch_max", "interval_ms", "timeout_ms", "headers",
    };
    yaml_node_t *v[NKEYS] = {0};
    if (n != NULL && !map_fields(c, n, "tracing", keys, NKEYS, v))
        return; /* no section: the defaults, whose endpoint is split below */
    tg_config_t *cfg = c->cfg;
    if (v[ENABLED])
        get_bool(c, v[ENABLED], "tracing.enabled", &cfg->tracing.enabled);
    if (v[ENDPOINT])
        get_string(c, v[ENDPOINT], "tracing.endpoint", &cfg->tracing.endpoint);
    if (v[SERVICE] && get_string(c, v[SERVICE], "tracing.service_name", &cfg->tracing.service_name) &&
        cfg->tracing.service_name[0] == '\0')
        add_error(c, node_line(v[SERVICE]), "tracing.service_name must not be empty");
    get_u32_in(c, v[QUEUE], "tracing.queue_size", 2, 1u << 24, &cfg->tracing.queue_size);
    get_u32_in(c, v[BATCH], "tracing.batch_max", 1, 65536, &cfg->tracing.batch_max);
    get_u32_in(c, v[INTERVAL], "tracing.interval_ms", 10, 3600000, &cfg->tracing.interval_ms);
    get_u32_in(c, v[TIMEOUT], "tracing.timeout_ms", 1, 600000, &cfg->tracing.timeout_ms);
    if (v[HEADERS] && !is_null_node(v[HEADERS]))
        parse_tracing_headers(c, v[HEADERS]);
    const char *path;
    if (cfg->tracing.endpoint != NULL &&
        !split_http_url(cfg->tracing.endpoint, &cfg->tracing.tls, &cfg->tracing.host, &cfg->tracing.port, &path)) {
        add_error(c, node_line(v[ENDPOINT]), "tracing.endpoint \"%s\" is not a valid http(s) URL "
                  "(scheme://host[:port][/path], no query or credentials)", cfg->tracing.endpoint);
        return;
    }
    if ((cfg->tracing.path = strdup(path[0] != '\0' ? path : "/")) == NULL)
        return;
    if (cfg->tracing.enabled && cfg->tracing.tls) {
        char err[300];
        cfg->tracing.tls_ctx = tg_tls_client_new(cfg->tracing.host, NULL, &c->system_trust, err, sizeof(err));
        if (cfg->tracing.tls_ctx == NULL)
            add_error(c, node_line(v[ENDPOINT]), "tracing.endpoint: %s", err);
    }
}

static void set_defaults(tg_config_t *cfg)
{
    cfg->server.host = strdup(DEFAULT_HOST);
    cfg->server.port = DEFAULT_PORT;
    cfg->server.workers = 0;
    cfg->server.max_body_bytes = DEFAULT_MAX_BODY_BYTES;
    cfg->server.request_timeout_ms = DEFAULT_REQUEST_TIMEOUT_MS;
    cfg->server.header_timeout_ms = DEFAULT_HEADER_TIMEOUT_MS;
    cfg->logging.format = TG_LOG_TEXT;
    cfg->logging.level = TG_LOG_INFO;
    cfg->logging.metrics_scrapes = TG_LOG_DEBUG;
    cfg->tracing.endpoint = strdup("http://127.0.0.1:4318/v1/traces");
    cfg->tracing.service_name = strdup("tollgate");
    cfg->tracing.headers = strdup("");
    cfg->tracing.queue_size = 4096;
    cfg->tracing.batch_max = 512;
    cfg->tracing.interval_ms = 1000;
    cfg->tracing.timeout_ms = 2000;
    cfg->metrics.metric_namespace = strdup("tollgate");
    cfg->auth.allow_anonymous = false;
    cfg->store.driver = strdup("sqlite");
    cfg->store.path = strdup("tollgate.db");
    cfg->store.busy_timeout_ms = 5000;
    cfg->ledger.queue_size = 16384;
    cfg->ledger.flush_ms = 10;
    cfg->limits.default_max_tokens = 4096;
    cfg->limits.max_org_series = 1000;
    cfg->ledger.batch_max = 512;
    static const char *const plans[] = {"free", "trial", "paid", "enterprise"};
    cfg->tenancy.plans = calloc(4, sizeof(char *));
    for (size_t i = 0; cfg->tenancy.plans != NULL && i < 4; i++)
        cfg->tenancy.plans[cfg->tenancy.plan_count++] = strdup(plans[i]);
    cfg->cache.enabled = true;
    cfg->cache.memory_bytes = 64u << 20;
    cfg->cache.ttl_seconds = 3600;
    cfg->cache.coalesce_wait_ms = 30000;
    cfg->cache.sqlite.enabled = true;
    cfg->cache.sqlite.max_bytes = 256u << 20;
    cfg->cache.sqlite.ttl_seconds = 86400;
    cfg->anomaly = (tg_anomaly_config_t){
        .enabled = true, .interval_ms = 60000, .warmup_intervals = 10, .min_requests = 20,
        .baseline_weight = 0.1, .latency_factor = 3, .error_factor = 3, .error_floor = 0.1, .volume_factor = 3,
    };
}

static void parse_root(parse_ctx_t *c, const yaml_node_t *root)
{
    enum { SERVER, LOGGING, METRICS, AUTH, STORE, LEDGER, TENANCY, LIMITS, CACHE, ANOMALY, TRACING, PROVIDERS, MODELS,
           NKEYS };
    static const char *const keys[NKEYS] = {
        "server", "logging", "metrics", "auth", "store", "ledger", "tenancy", "limits", "cache", "anomaly", "tracing",
        "providers", "models",
    };
    yaml_node_t *v[NKEYS];
    if (!map_fields(c, root, "the top level", keys, NKEYS, v))
        return;
    /* An optional section left empty ("auth:") keeps its defaults. */
    for (int i = SERVER; i <= TRACING; i++)
        if (is_null_node(v[i]))
            v[i] = NULL;
    if (v[SERVER])
        parse_server(c, v[SERVER]);
    if (v[LOGGING])
        parse_logging(c, v[LOGGING]);
    if (v[METRICS])
        parse_metrics(c, v[METRICS]);
    if (v[AUTH])
        parse_auth(c, v[AUTH]);
    if (v[STORE])
        parse_store(c, v[STORE]);
    if (v[LEDGER])
        parse_ledger(c, v[LEDGER]);
    if (v[TENANCY])
        parse_tenancy(c, v[TENANCY]);
    if (v[LIMITS])
        parse_limits(c, v[LIMITS]);
    resolve_store_paths(c);
    if (v[CACHE])
        parse_cache(c, v[CACHE]);
    if (v[ANOMALY])
        parse_anomaly(c, v[ANOMALY]);
    parse_tracing(c, v[TRACING]);
    require(c, root, v[PROVIDERS], "providers", "the top level");
    require(c, root, v[MODELS], "models", "the top level");
    /* Providers first: routes refer to them by name. */
    if (v[PROVIDERS])
        parse_providers(c, v[PROVIDERS]);
    if (v[MODELS]) {
        parse_models(c, v[MODELS]);
        share_model_breakers(c->cfg);
    }
    if (!tg_config_has_store(c->cfg) && !c->cfg->auth.allow_anonymous)
        add_error(c, node_line(v[STORE]), "store.driver none keeps no API keys: auth.allow_anonymous must be true");
    if (c->cfg->server.workers == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        c->cfg->server.workers = cpus > 0 ? (unsigned)(cpus < MAX_WORKERS ? cpus : MAX_WORKERS) : 1;
    }
}

/* --------------------------------------------------------------- public */

tg_config_t *tg_config_load(const char *path, char **err_text)
{
    parse_ctx_t c = {.path = path};
    if (err_text)
        *err_text = NULL;
    c.cfg = calloc(1, sizeof(*c.cfg));
    if (c.cfg == NULL) {
        if (err_text)
            *err_text = strdup("out of memory\n");
        return NULL;
    }
    set_defaults(c.cfg);
    c.cfg->path = strdup(path);

    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        add_error(&c, 0, "cannot open: %s", strerror(errno));
    } else {
        yaml_parser_t parser;
        yaml_parser_initialize(&parser);
        yaml_parser_set_input_file(&parser, f);
        if (!yaml_parser_load(&parser, &c.doc)) {
            add_error(&c, parser.problem_mark.line + 1, "YAML syntax error: %s",
                      parser.problem ? parser.problem : "unknown");
        } else {
            yaml_node_t *root = yaml_document_get_root_node(&c.doc);
            if (root == NULL)
                add_error(&c, 0, "the file is empty");
            else
                parse_root(&c, root);
            yaml_document_delete(&c.doc);
        }
        yaml_parser_delete(&parser);
        fclose(f);
    }
    X509_STORE_free(c.system_trust); /* the contexts hold their references */
    if (!c.failed && (c.cfg->path == NULL || c.cfg->server.host == NULL ||
                              c.cfg->metrics.metric_namespace == NULL))
        add_error(&c, 0, "out of memory");
    if (c.failed) {
        tg_config_free(c.cfg);
        if (err_text)
            *err_text = c.errors ? c.errors : strdup("out of memory\n");
        else
            free(c.errors);
        return NULL;
    }
    return c.cfg;
}

void tg_config_free(tg_config_t *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t i = 0; i < cfg->provider_count; i++) {
        tg_provider_config_t *p = &cfg->providers[i];
        free(p->name);
        free(p->base_url);
        free(p->host);
        free(p->path_prefix);
        free(p->api_key_env);
        for (size_t h = 0; h < p->forward_header_count; h++)
            free(p->forward_headers[h]);
        free(p->forward_headers);
        free(p->ca_file);
        free(p->health_check.path);
        SSL_CTX_free(p->tls_ctx);
        if (p->api_key) {
            /* Scrub the key before handing the memory back. */
            explicit_bzero(p->api_key, strlen(p->api_key));
            free(p->api_key);
        }
    }
    free(cfg->providers);
    for (size_t i = 0; i < cfg->model_count; i++) {
        tg_model_config_t *m = &cfg->models[i];
        for (size_t r = 0; r < m->route_count; r++)
            free(m->routes[r].upstream_model);
        free(m->routes);
        free(m->name);
    }
    free(cfg->models);
    for (size_t i = 0; i < cfg->model_breaker_count; i++)
        free(cfg->model_breakers[i].upstream_model);
    free(cfg->model_breakers);
    free(cfg->server.host);
    free(cfg->metrics.metric_namespace);
    free(cfg->metrics.listen_host);
    free(cfg->metrics.bearer_token);
    free(cfg->store.driver);
    free(cfg->store.path);
    free(cfg->ledger.journal_path);
    free(cfg->ledger.spool_path);
    for (size_t i = 0; i < cfg->tenancy.plan_count; i++)
        free(cfg->tenancy.plans[i]);
    free(cfg->tenancy.plans);
    free(cfg->tracing.endpoint);
    free(cfg->tracing.host);
    free(cfg->tracing.path);
    SSL_CTX_free(cfg->tracing.tls_ctx);
    free(cfg->tracing.service_name);
    if (cfg->tracing.headers != NULL)
        explicit_bzero(cfg->tracing.headers, strlen(cfg->tracing.headers));
    free(cfg->tracing.headers);
    free(cfg->path);
    free(cfg);
}

int tg_config_check(const char *path, FILE *out)
{
    char *err = NULL;
    tg_config_t *cfg = tg_config_load(path, &err);
    if (cfg == NULL) {
        fputs(err ? err : "out of memory\n", out);
        free(err);
        return 1;
    }
    tg_config_free(cfg);
    fputs("ok\n", out);
    return 0;
}

long tg_config_find_model(const tg_config_t *cfg, const char *name, size_t len)
{
    for (size_t i = 0; i < cfg->model_count; i++) {
        const char *m = cfg->models[i].name;
        if (m && strncmp(m, name, len) == 0 && m[len] == '\0')
            return (long)i;
    }
    return -1;
}

const char *tg_provider_type_name(tg_provider_type_t type)
{
    return type == TG_PROVIDER_ANTHROPIC ? "anthropic" : "openai";
}

bool tg_config_has_store(const tg_config_t *cfg)
{
    return strcmp(cfg->store.driver, "none") != 0;
}

long tg_config_find_provider(const tg_config_t *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->provider_count; i++)
        if (cfg->providers[i].name && strcmp(cfg->providers[i].name, name) == 0)
            return (long)i;
    return -1;
}

double tg_pricing_cost(const tg_pricing_t *p, uint64_t prompt_tokens,
                       uint64_t cached_tokens, uint64_t completion_tokens)
{
    tg_billed_units_t u = {.prompt_tokens = prompt_tokens, .cached_tokens = cached_tokens,
                           .completion_tokens = completion_tokens};
    return tg_pricing_cost_units(p, &u);
}

double tg_pricing_cost_units(const tg_pricing_t *p, const tg_billed_units_t *u)
{
    uint64_t cached = u->cached_tokens, written = u->cache_write_tokens;
    if (cached > u->prompt_tokens)
        cached = u->prompt_tokens;
    if (written > u->prompt_tokens - cached)
        written = u->prompt_tokens - cached;
    return ((double)(u->prompt_tokens - cached - written) * p->input + (double)cached * p->cached_input +
            (double)written * p->cache_write + (double)u->completion_tokens * p->output +
            (double)u->characters * p->characters) / 1e6 +
           (double)u->images * p->image + u->audio_seconds * p->audio_second;
}
