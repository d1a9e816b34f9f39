/* request.h: the per-request context of the pipeline, from a request's
 * arrival to its log line, and the contract of a stage.
 *
 * A stage is a function of the context. It returns
 *   TG_STAGE_CONTINUE  the next stage runs;
 *   TG_STAGE_RESPOND   the answer is decided (r->error, or a reply in
 *                      r->reply): only the stages marked `always` still run
 *                      (accounting: every request is counted and logged);
 *   TG_STAGE_SUSPEND   the stage waits for an answer that comes later, on
 *                      this worker's loop or from another thread
 *                      (pipeline/runner.h); the request resumes with the
 *                      next stage through tg_pipeline_resume().
 *
 * The server owns the context's memory (the h2o request's pool), fills in
 * the arrival part, picks the endpoint's stage list from its route table
 * and answers the client in `respond` once the last stage has run. Stages
 * write only their own part of the context. */
#ifndef TOLLGATE_PIPELINE_REQUEST_H
#define TOLLGATE_PIPELINE_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

#include <h2o.h>
#include <h2o/multithread.h>

#include "config.h"
#include "health/provider.h"
#include "obs/log.h"
#include "obs/metrics.h"
#include "obs/trace.h"
#include "core/error.h"
#include "pipeline/account.h"
#include "pipeline/cache.h"
#include "pipeline/limits.h"
#include "pipeline/parse.h"
#include "server/ids.h"
#include "store/thread.h"
#include "upstream/call.h"

#define TG_LOG_PATH_MAX 256

typedef struct tg_request tg_request_t;

typedef enum tg_stage_result {
    TG_STAGE_CONTINUE = 0,
    TG_STAGE_RESPOND,
    TG_STAGE_SUSPEND
} tg_stage_result_t;

typedef struct tg_stage {
    const char *name;
    tg_stage_result_t (*run)(tg_request_t *r);
    bool always; /* runs after a RESPOND and after the client left, too */
} tg_stage_t;

/* Where the runner is (runner.c has the transition table). */
typedef enum tg_request_state {
    TG_REQ_NEW = 0,   /* not started */
    TG_REQ_RUNNING,   /* inside a stage */
    TG_REQ_SUSPENDED, /* a stage waits for an answer */
    TG_REQ_FINISHED   /* every stage ran; respond() was called */
} tg_request_state_t;

typedef struct tg_wait tg_wait_t;

/* What the worker lends a request: its configuration snapshot (pinned
 * for the request's life) with the snapshot's metric and health views,
 * its loop and timers, its upstream pools. */
typedef struct tg_request_env {
    const tg_config_t *cfg;
    const tg_obs_view_t *view;
    const tg_health_view_t *health;    /* cfg's providers' state (health/provider.h) */
    h2o_loop_t *loop;
    h2o_timeout_t *immediate;          /* 0 ms */
    h2o_timeout_t *deadline;           /* server.request_timeout_ms */
    tg_upstream_pool_t *pools;         /* indexed like cfg->providers */
    h2o_multithread_receiver_t *answers; /* answers from other threads (runner.h) */
    tg_rng_t *rng;                     /* the worker's (weighted routing) */
    const tg_upstream_sink_t *sink;    /* the server's responder, for streams */
    void *sink_ctx;
    tg_store_client_t *store;          /* the worker's key index and the store thread (thread NULL: none) */
    tg_limit_registry_t *limits;       /* every key's and org's limit state (limits/state.h) */
    const uint8_t *admin_key_hash;     /* SHA-256 of TOLLGATE_ADMIN_KEY; NULL: the admin API is off */
    tg_cache_t *cache;                 /* the response cache's memory tier (process-wide) */
    tg_tracer_t *tracer;               /* where spans go; NULL: tracing is off */
} tg_request_env_t;

/* A reply decided by a stage, other than an error or the upstream's own
 * answer (which upstream/ relays): the body of an endpoint. */
typedef struct tg_reply {
    int status;                    /* 0: none */
    const char *content_type;
    const char *content_encoding;  /* NULL: none */
    h2o_iovec_t body;              /* lives as long as the request */
} tg_reply_t;

struct tg_request {
    /* ---- arrival: set by the server */
    h2o_req_t *req;
    tg_request_env_t env;
    tg_route_t route;
    tg_method_t method;
    tg_operation_t operation;     /* TG_OP_COUNT: not an LLM endpoint */
    const char *category;        /* /prometheus/metrics/{category}: static name or NULL */
    double started_at;           /* tg_clock_seconds() */
    char request_id[TG_REQUEST_ID_MAX + 1];
    char traceparent[TG_TRACEPARENT_LEN + 1];
    char trace_id[33];
    tg_trace_ctx_t trace;        /* the request's span and its parent (obs/trace.h) */
    char path[TG_LOG_PATH_MAX + 1]; /* redacted copy: the log line may be written at dispose */
    void (*respond)(tg_request_t *r); /* the server's: answers the client */

    /* ---- the runner's (runner.c) */
    const tg_stage_t *stages;
    size_t stage_count;
    size_t next_stage;
    tg_request_state_t state;
    bool responding;             /* a stage returned RESPOND: only `always` stages run */
    bool client_gone;            /* the client left: nothing may be sent */
    bool answered_early;         /* resumed before its stage returned SUSPEND */
    tg_stage_result_t early_result;
    tg_wait_t *wait;             /* the pending answer from another thread, if any */

    /* ---- what the stages decide */
    tg_error_t error;            /* error.status != 0: the answer is this error */
    tg_reply_t reply;
    tg_parse_out_t parsed;       /* parse */
    const char *org_id;          /* auth: "anonymous", or org_buf */
    char org_buf[TG_STORE_NAME_MAX + 1];
    char key_id[TG_STORE_KEY_ID_MAX + 1]; /* auth: "" when anonymous */
    char plan[TG_STORE_NAME_MAX + 1]; /* auth: the org's plan; "" when anonymous */
    char **allowed_models;       /* auth, GET /v1/models: the key's list (in the pool); NULL: every model */
    size_t allowed_model_count;
    const char *auth_key;        /* auth, while a lookup waits: the presented key (a header's bytes) */
    size_t auth_key_len;
    tg_limit_hold_t hold;        /* auth: the key's limits; limits: what it took; settle gives it back */
    long model_index;            /* route: into cfg->models; -1 = "other" */
    const tg_route_config_t *routes;
    size_t route_count;
    bool probe_open_route;       /* route: every route open; routes[0] is to be probed (when_all_open) */
    bool upstream_started;       /* upstream */
    tg_upstream_call_t call;
    const tg_upstream_result_t *result; /* NULL until the call reported */
    int http_status;             /* account: what the client got */
    tg_account_out_t billed;     /* account: tokens and cost, for the ledger */
    tg_access_record_t access;     /* account: the log line, written by the server */
    tg_request_cache_t cache;      /* cache, cache_fill */
};

#endif
