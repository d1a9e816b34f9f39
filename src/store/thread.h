/* thread.h: the store thread, the one owner of the store connection in the
 * gateway (docs/tenancy.md). Workers never touch the database: they hand
 * the thread jobs (a key lookup, an admin operation, an audit entry, a
 * key's last use) through a lock-free queue and get the answer back
 * through a callback that runs on the store thread (the pipeline's posts a
 * message to the worker's loop). Ledger rows go another way: a worker
 * writes its row into the ledger's journal (journal.h), durable at once,
 * and the thread moves the journal's rows into the store every
 * ledger.flush_ms.
 *
 * The thread also keeps every worker's key index in step with the store
 * (key_index.h): after each change it makes, and within 250 ms of a change
 * another process (the CLI) commits. And it owns the ledger's spool: rows
 * the journal had no room for, written to a file and moved into the store
 * when it can.
 *
 * Shutdown (tg_store_thread_stop) runs every queued job, moves every row
 * of the journal into the store, then closes the store. */
#ifndef TOLLGATE_STORE_THREAD_H
#define TOLLGATE_STORE_THREAD_H

#include <stdbool.h>
#include <stdint.h>

#include <h2o.h>
#include <h2o/multithread.h>

#include "admin/admin.h"
#include "config.h"
#include "obs/metrics.h"
#include "store/key_index.h"
#include "store/store.h"

typedef struct tg_store_thread tg_store_thread_t;

typedef enum tg_store_job_kind {
    TG_JOB_LOOKUP, /* a key the worker's index does not know */
    TG_JOB_ADMIN,  /* an admin operation: its own transaction */
    TG_JOB_AUDIT,  /* an audit entry of the request path (auth failures) */
    TG_JOB_TOUCH,  /* a key's last_used */
    TG_JOB_CACHE_GET, /* the response cache's SQLite tier: a lookup */
    TG_JOB_CACHE_PUT  /* ... a new answer (no answer back) */
} tg_store_job_kind_t;

typedef struct tg_store_job tg_store_job_t;

/* One unit of work. The submitter allocates it (usually inside a larger
 * struct of its own) and fills in kind and its part of the union; `done`
 * runs on the store thread once the job ran, and from then on the job is
 * the callback's. With done == NULL the store thread frees the job. */
struct tg_store_job {
    tg_store_job_t *next; /* the queue's */
    tg_store_job_kind_t kind;
    void (*done)(tg_store_job_t *job);
    union {
        struct {
            uint8_t hash[32];
            bool found;          /* the answer */
            bool store_failed;   /* the store could not say */
            bool org_found;
            tg_key_t key;        /* found: the key and its org, copied (no */
            tg_org_t org;        /* allocation: an abandoned answer is just freed) */
        } lookup;
        struct {
            tg_admin_request_t request; /* its strings are the submitter's, alive until done */
            tg_admin_response_t response; /* the answer; the caller frees response.body */
        } admin;
        tg_audit_entry_t audit;  /* AUDIT */
        char key_id[TG_STORE_KEY_ID_MAX + 1]; /* TOUCH: the key was used now */
        struct {
            uint8_t key[32];
            double now;          /* GET: live rows expire after it */
            char org[TG_STORE_NAME_MAX + 1]; /* PUT */
            double expires;      /* PUT: the row's; GET: the answer's */
            /* PUT: the submitter's, freed with the job; GET: the answer,
             * malloc'd by the store thread, the receiver's to free */
            char *payload;
            size_t len;
            bool found;          /* GET */
        } cache;
    } u;
};

/* Opens the store of cfg (migrating it), moves the rows a previous run
 * left in the journal and the spool into it, gives every key's and org's budget the month's spend so far
 * (from the ledger), builds the first key index (its entries point into
 * `limits`) and starts the thread. NULL with *err (malloc'd) when the store
 * cannot be opened. Main thread, at start. */
tg_store_thread_t *tg_store_thread_start(const tg_config_t *cfg, tg_obs_t *obs, tg_limit_registry_t *limits,
                                         char **err);

/* Runs what is queued, commits, closes the store, joins. NULL is fine. */
void tg_store_thread_stop(tg_store_thread_t *t);

/* A reload's new plans (tenancy.plans) for the admin operations, and the
 * response cache's SQLite tier cap (cache.sqlite.max_bytes, enforced every
 * few seconds by deleting expired rows, then the oldest). */
void tg_store_thread_reconfigure(tg_store_thread_t *t, const tg_config_t *cfg);

/* Any thread. 0 when queued; -1 when the queue (a fixed bound) is full. */
int tg_store_submit(tg_store_thread_t *t, tg_store_job_t *job);

/* A request's ledger row, any thread: a slot of the journal to fill in at
 * once, then publish; from the publish on the row survives the process
 * being killed. NULL when the journal (ledger.queue_size rows) is full:
 * spool the row instead. */
tg_ledger_row_t *tg_store_ledger_claim(tg_store_thread_t *t, uint64_t *ticket);
void tg_store_ledger_publish(tg_store_thread_t *t, uint64_t ticket);

/* A ledger row's id: unique and increasing across restarts. Any thread. */
int64_t tg_store_thread_row_id(tg_store_thread_t *t);

/* Appends row to the spool file at once (one write(2)): for a row the
 * journal had no room for. 0 on success. Any thread. */
int tg_store_spool(tg_store_thread_t *t, const tg_ledger_row_t *row);

/* A worker's side: its current key index, replaced by messages from the
 * store thread. Open and close on the worker's thread. */
/* Keys the store said it does not know, per worker, until the next index:
 * a flood of made-up tg- keys costs the store one lookup each, not one a
 * request (a key made since by the CLI is in the next index, 250 ms). */
#define TG_STORE_MISSES 256

typedef struct tg_store_client {
    tg_store_thread_t *thread;               /* NULL: no store */
    h2o_multithread_receiver_t updates;
    tg_key_index_t *index;                   /* NULL until the first arrives */
    uint8_t misses[TG_STORE_MISSES][32];     /* SHA-256 of unknown keys, a ring */
    size_t miss_count;                       /* entries in use (cleared with each new index) */
    size_t miss_next;
} tg_store_client_t;

/* Whether the store answered `unknown` for this hash since the index
 * changed; and noting that it did. Worker thread. */
bool tg_store_client_known_miss(const tg_store_client_t *c, const uint8_t hash[32]);
void tg_store_client_note_miss(tg_store_client_t *c, const uint8_t hash[32]);

void tg_store_client_open(tg_store_client_t *c, tg_store_thread_t *t, h2o_multithread_queue_t *queue);
void tg_store_client_close(tg_store_client_t *c);

#endif
