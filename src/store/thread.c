/* thread.c: see thread.h.
 *
 * The job queue is a lock-free stack: a submitter pushes with one CAS, the
 * store thread takes the whole stack with one exchange and reverses it
 * into arrival order. The thread sleeps in poll(2) on an eventfd; a
 * submitter writes the eventfd only when the thread said it is going to
 * sleep, so that under load a job costs no system call. The `sleeping`
 * flag and the stack head are both seq_cst: the thread sets the flag then
 * looks at the stack, a submitter pushes then looks at the flag, so one of
 * them always sees the other.
 *
 * Ledger rows do not queue as jobs: workers write them into the journal
 * (store/journal.h) and the thread moves them into the store every
 * ledger.flush_ms, so that rows wake nobody under load. Only the first row
 * after a quiet spell wakes the thread (`ledger_idle`, the same handshake
 * as `sleeping`, against the journal's head); the thread then waits
 * flush_ms for the rows that follow it, so that a commit is shared.
 *
 * One round of the thread: take the jobs; write audit entries and key uses
 * in one transaction; answer the lookups; run the admin operations (each
 * its own transaction, after moving the journal's rows in, so that usage
 * counts every answered request); when keys or orgs changed, build and
 * publish a new key index. Every flush_ms while rows wait: move the
 * journal's rows into the store, ledger.batch_max rows a transaction.
 * Every 250 ms: look for another process's changes and for spooled rows. */
#include "store/thread.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "limits/budget.h"
#include "obs/log.h"
#include "store/journal.h"

#define PERIOD_MS 250
#define CACHE_EVICT_PERIODS 20 /* the cache tier's eviction: every 5 s */
#define OTHER_JOBS_MAX 4096 /* lookups, admin operations, audit entries, key uses queued at once */
#define SPOOL_ROWS_PER_PERIOD 8192 /* a period replays at most these: jobs and the journal get their turn */
#define SPOOL_MAGIC 0x544c4732u /* "TLG2": the record layout of this build (a new layout, a new number) */

typedef struct spool_record {
    uint32_t magic;
    uint32_t check; /* FNV-1a of row: a torn or foreign record is skipped */
    tg_ledger_row_t row;
} spool_record_t;

typedef struct subscriber {
    h2o_multithread_receiver_t *receiver;
} subscriber_t;

typedef struct index_message {
    h2o_multithread_message_t super;
    tg_key_index_t *index;
} index_message_t;

struct tg_store_thread {
    tg_store_t *store;
    tg_obs_t *obs;
    tg_limit_registry_t *limits;      /* the key index's entries point into it */
    pthread_t thread;
    int wake_fd;
    _Atomic(tg_store_job_t *) head;
    atomic_bool sleeping;
    atomic_bool stopping;
    atomic_bool plans_changed;        /* a reload: orgs{plan} is recounted at the next period */
    atomic_int other_queued;
    uint32_t batch_max;
    tg_store_job_t **batch;           /* batch_max: the round's audit entries and key uses */
    tg_ledger_row_t *rows;            /* batch_max: a transaction's ledger rows */
    _Atomic int64_t next_row_id;

    tg_journal_t *journal;            /* the rows workers wrote, not yet in the store */
    atomic_bool ledger_idle;          /* the thread sleeps with an empty journal: wake it for a row */
    double flush_seconds;             /* ledger.flush_ms */
    bool ledger_failing;              /* the last transaction of rows failed (logged once a streak) */
    bool journal_removed;             /* its file is gone (logged once) */
    char *journal_path;

    pthread_mutex_t spool_lock;       /* the spool file: workers append (rarely), the thread replays */
    int spool_fd;
    char *spool_path;
    off_t spool_at;                   /* replayed up to here; emptied once all of it is */
    size_t spool_moved;               /* rows the replay under way inserted so far */

    pthread_mutex_t config_lock;      /* plans: a reload replaces them */
    char **plans;
    size_t plan_count;

    pthread_mutex_t subscribers_lock; /* workers come and go at start and stop */
    subscriber_t *subscribers;
    size_t subscriber_count;
    tg_key_index_t *index;            /* the latest, the thread's reference */
    uint64_t data_version;
    _Atomic int64_t cache_max_bytes;  /* < 0: no cache tier */
    unsigned periods;                 /* since start: the cache's eviction runs every few */
};

/* ------------------------------------------------------------- plumbing */

static void observe(void *ctx, tg_db_operation_t op, double seconds)
{
    tg_obs_record_db_query(ctx, op, seconds);
}

static void wake(tg_store_thread_t *t)
{
    uint64_t one = 1;
    if (write(t->wake_fd, &one, sizeof(one)) < 0) {
        /* EAGAIN: the counter is full, so the thread is awake anyway */
    }
}

static void free_plans(char **plans, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(plans[i]);
    free(plans);
}

static char **copy_plans(const tg_config_t *cfg)
{
    char **plans = calloc(cfg->tenancy.plan_count, sizeof(*plans));
    for (size_t i = 0; plans != NULL && i < cfg->tenancy.plan_count; i++)
        if ((plans[i] = strdup(cfg->tenancy.plans[i])) == NULL) {
            free_plans(plans, i);
            return NULL;
        }
    return plans;
}

/* ------------------------------------------------------------ key index */

typedef struct org_list {
    tg_org_t *orgs;
    size_t count, cap;
    bool failed;
} org_list_t;

static int collect_org(void *ctx, const tg_org_t *org)
{
    org_list_t *l = ctx;
    if (l->count == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        tg_org_t *grown = realloc(l->orgs, cap * sizeof(*grown));
        if (grown == NULL) {
            l->failed = true;
            return 1;
        }
        l->orgs = grown;
        l->cap = cap;
    }
    l->orgs[l->count++] = *org;
    return 0;
}

static int collect_key(void *ctx, const tg_key_t *key)
{
    tg_key_index_add(ctx, key);
    return 0;
}

static void publish_to(h2o_multithread_receiver_t *receiver, tg_key_index_t *index)
{
    index_message_t *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return; /* that worker keeps its index until the next change */
    tg_key_index_retain(index);
    m->index = index;
    h2o_multithread_send_message(receiver, &m->super);
}

/* Reads every org and key, builds the index, hands it to every worker and
 * sets active_api_keys and orgs{plan}. On failure the workers keep theirs. */
static void rebuild_index(tg_store_thread_t *t)
{
    const tg_store_methods_t *m = t->store->methods;
    org_list_t orgs = {0};
    if (m->org_list(t->store, collect_org, &orgs) != TG_STORE_OK || orgs.failed) {
        free(orgs.orgs);
        tg_log(TG_LOG_ERROR, "store", "cannot read the organisations; the key index is unchanged");
        return;
    }
    tg_key_index_builder_t *b = tg_key_index_begin(orgs.orgs, orgs.count, t->limits);
    tg_key_index_t *index = NULL;
    if (b != NULL) {
        tg_store_status_t st = m->key_list(t->store, NULL, collect_key, b);
        index = tg_key_index_end(b);
        if (st != TG_STORE_OK) {
            tg_key_index_release(index);
            index = NULL;
        }
    }
    if (index == NULL) {
        free(orgs.orgs);
        tg_log(TG_LOG_ERROR, "store", "cannot build the key index; workers keep the previous one");
        return;
    }
    pthread_mutex_lock(&t->config_lock);
    int64_t *per_plan = calloc(t->plan_count ? t->plan_count : 1, sizeof(*per_plan));
    for (size_t i = 0; per_plan != NULL && i < orgs.count; i++)
        for (size_t p = 0; p < t->plan_count; p++)
            if (strcmp(orgs.orgs[i].plan, t->plans[p]) == 0)
                per_plan[p]++;
    if (per_plan != NULL)
        tg_obs_set_tenancy(t->obs, (int64_t)tg_key_index_active(index), (const char *const *)t->plans, per_plan,
                           t->plan_count);
    pthread_mutex_unlock(&t->config_lock);
    free(per_plan);
    free(orgs.orgs);

    pthread_mutex_lock(&t->subscribers_lock);
    tg_key_index_t *old = t->index;
    t->index = index;
    for (size_t i = 0; i < t->subscriber_count; i++)
        publish_to(t->subscribers[i].receiver, index);
    pthread_mutex_unlock(&t->subscribers_lock);
    tg_key_index_release(old);
}

/* ---------------------------------------------------------------- spool */

static uint32_t fnv1a(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 16777619u;
    return h;
}

/* Under spool_lock. A write cut short (a full disk) is cut off again:
 * part of a record left at the end would put every record appended after
 * it out of step, and the replay would drop them all as unreadable. */
static int spool_locked(tg_store_thread_t *t, const tg_ledger_row_t *rows, size_t n)
{
    off_t end = lseek(t->spool_fd, 0, SEEK_END);
    for (size_t i = 0; i < n; i++) {
        spool_record_t rec;
        memset(&rec, 0, sizeof(rec));
        rec.magic = SPOOL_MAGIC;
        rec.row = rows[i];
        rec.check = fnv1a(&rec.row, sizeof(rec.row));
        const char *p = (const char *)&rec;
        size_t left = sizeof(rec);
        while (left > 0) {
            ssize_t w = write(t->spool_fd, p, left);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                int saved = errno;
                if (end >= 0 && ftruncate(t->spool_fd, end) != 0) {
                    /* the replay skips the torn record, and the rest with it */
                }
                errno = saved;
                return -1;
            }
            p += w;
            left -= (size_t)w;
        }
    }
    return 0;
}

int tg_store_spool(tg_store_thread_t *t, const tg_ledger_row_t *row)
{
    /* a rare path (the queue is full): a lock and a write(2) on the
     * worker are what it costs never to lose the row */
    pthread_mutex_lock(&t->spool_lock);
    int rc = spool_locked(t, row, 1);
    pthread_mutex_unlock(&t->spool_lock);
    if (rc == 0)
        tg_obs_record_ledger(t->obs, 0, 0, 1);
    else
        tg_log(TG_LOG_ERROR, "ledger", "cannot write to the spool %s: %s", t->spool_path, strerror(errno));
    return rc;
}

/* NULL when the spool is empty or starts as a record of ours does;
 * otherwise the error: ledger.spool_path names another file (the
 * database, a config) or a spool of another layout, which must be neither
 * read as rows nor emptied. */
static char *check_spool(tg_store_thread_t *t)
{
    uint32_t magic = SPOOL_MAGIC;
    unsigned char head[sizeof(magic)];
    ssize_t n = pread(t->spool_fd, head, sizeof(head), 0);
    if (n >= 0 && memcmp(head, &magic, (size_t)n) == 0)
        return NULL;
    return tg_store_message("the ledger spool %s is not a spool of this tollgate: ledger.spool_path names another"
                            " file, or a spool of another version; move it away", t->spool_path);
}

/* Removes the spool's first `head` bytes, replayed, keeping what workers
 * appended meanwhile. Under spool_lock. Usually nothing was: the file is
 * emptied. Otherwise the rest is copied to a new file that replaces it, so
 * that no failure on the way can lose those rows (the old file stays, and
 * its replayed rows are skipped by id next time). */
static int spool_drop(tg_store_thread_t *t, off_t head)
{
    struct stat st;
    if (fstat(t->spool_fd, &st) != 0)
        return -1;
    if (st.st_size == head)
        return ftruncate(t->spool_fd, 0);
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", t->spool_path) >= (int)sizeof(tmp))
        return -1;
    int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    char buf[65536];
    ssize_t n = 0;
    for (off_t at = head; at < st.st_size; at += n)
        if ((n = pread(t->spool_fd, buf, sizeof(buf), at)) <= 0 || write(fd, buf, (size_t)n) != n)
            break;
    if (n <= 0 || rename(tmp, t->spool_path) != 0) {
        close(fd);
        unlink(tmp);
        return -1;
    }
    close(t->spool_fd);
    t->spool_fd = fd;
    return 0;
}

/* rows[0..n) into the ledger in a transaction of their own, counted in
 * ledger_rows_written_total; false, rolled back, when the store refused
 * them. `replayed` as for ledger_append: the spool and a killed run's
 * journal may repeat rows already committed. */
static bool commit_rows(tg_store_thread_t *t, const tg_ledger_row_t *rows, size_t n, bool replayed,
                        size_t *inserted)
{
    const tg_store_methods_t *m = t->store->methods;
    *inserted = 0;
    if (m->begin(t->store) != TG_STORE_OK || m->ledger_append(t->store, rows, n, replayed, inserted) != TG_STORE_OK ||
        m->commit(t->store) != TG_STORE_OK) {
        m->rollback(t->store);
        return false;
    }
    tg_obs_record_ledger(t->obs, *inserted, 0, 0);
    return true;
}

/* Moves the spooled rows into the ledger, SPOOL_ROWS_PER_PERIOD a call
 * (all of them with `all`), and empties the spool once every row is in:
 * a spool of a long outage does not hold up the jobs and the journal for
 * the whole replay. The lock
 * is taken to read the file's size and to drop what was moved, never
 * around the store's statements: those may wait store.busy_timeout_ms for
 * another process's lock, and a worker whose queue is full waits for the
 * lock to append (its event loop stalled). Rows are inserted by id, so a
 * replay cut short by a crash repeats nothing. */
static void replay_spool(tg_store_thread_t *t, bool all)
{
    struct stat st;
    pthread_mutex_lock(&t->spool_lock);
    int fd = t->spool_fd, rc = fstat(fd, &st);
    pthread_mutex_unlock(&t->spool_lock);
    if (rc != 0 || st.st_size < t->spool_at + (off_t)sizeof(spool_record_t))
        return;
    /* only this thread truncates or replaces the file, and workers append
     * past st_size: the records before it hold still without the lock */
    size_t count = (size_t)(st.st_size - t->spool_at) / sizeof(spool_record_t), skipped = 0;
    size_t budget = all ? SIZE_MAX : SPOOL_ROWS_PER_PERIOD;
    tg_ledger_row_t *rows = t->rows;
    bool ok = true;
    while (ok && count > 0 && budget > 0) {
        size_t n = 0;
        off_t at = t->spool_at;
        spool_record_t rec;
        while (n < t->batch_max && count > 0 && pread(fd, &rec, sizeof(rec), at) == (ssize_t)sizeof(rec)) {
            at += (off_t)sizeof(rec);
            count--;
            if (rec.magic == SPOOL_MAGIC && rec.check == fnv1a(&rec.row, sizeof(rec.row)))
                rows[n++] = rec.row;
            else
                skipped++;
        }
        size_t inserted = 0;
        if (n > 0 && !(ok = commit_rows(t, rows, n, true, &inserted)))
            break; /* this batch again next time */
        t->spool_at = at;
        t->spool_moved += inserted;
        budget = budget > n ? budget - n : 0;
        if (n == 0)
            break; /* a short read: the rest next time */
    }
    if (ok && t->spool_at >= st.st_size) {
        pthread_mutex_lock(&t->spool_lock);
        ok = spool_drop(t, st.st_size) == 0;
        pthread_mutex_unlock(&t->spool_lock);
        if (ok) {
            tg_log(TG_LOG_INFO, "ledger", "moved %zu spooled rows into the ledger%s", t->spool_moved,
                   skipped ? " (skipped unreadable records)" : "");
            t->spool_at = 0;
            t->spool_moved = 0;
        }
    }
    if (!ok)
        tg_log(TG_LOG_WARN, "ledger", "spooled rows stay in %s: the store refused them; retrying later", t->spool_path);
}

/* ----------------------------------------------------------------- jobs */

static void finish(tg_store_job_t *job)
{
    if (job->done != NULL)
        job->done(job);
    else
        free(job);
}

/* Audit entries and key uses, in one transaction. */
static void write_batch(tg_store_thread_t *t, size_t n)
{
    const tg_store_methods_t *m = t->store->methods;
    tg_store_job_t **jobs = t->batch;
    bool ok = m->begin(t->store) == TG_STORE_OK;
    double now = tg_clock_wall_seconds();
    for (size_t i = 0; i < n && ok; i++) {
        tg_store_job_t *job = jobs[i];
        if (job->kind == TG_JOB_AUDIT)
            ok = m->audit_append(t->store, &job->u.audit) == TG_STORE_OK;
        else
            ok = m->key_touch(t->store, (const char(*)[TG_STORE_KEY_ID_MAX + 1]) job->u.key_id, 1, now) == TG_STORE_OK;
    }
    if (ok)
        ok = m->commit(t->store) == TG_STORE_OK;
    if (!ok) {
        m->rollback(t->store);
        tg_log(TG_LOG_ERROR, "store", "%zu audit entries and key uses were not written", n);
    }
    for (size_t i = 0; i < n; i++) {
        atomic_fetch_sub(&t->other_queued, 1);
        finish(jobs[i]);
    }
}

/* Moves the journal's rows into the store, ledger.batch_max rows a
 * transaction, and frees their slots once committed. A transaction that
 * fails leaves its rows in the journal, where they are safe, for the next
 * flush; if the journal fills meanwhile, workers spool their rows. */
static void ingest(tg_store_thread_t *t)
{
    /* the rows written so far, no more: under a load that writes rows as
     * fast as they commit, the jobs and periodic() must still get a turn */
    uint64_t left = tg_journal_depth(t->journal);
    size_t n;
    while (left > 0 &&
           (n = tg_journal_take(t->journal, t->rows, left < t->batch_max ? (size_t)left : t->batch_max)) > 0) {
        left -= n;
        size_t inserted;
        if (!commit_rows(t, t->rows, n, false, &inserted)) {
            tg_journal_rewind(t->journal);
            tg_obs_record_ledger(t->obs, 0, 1, 0);
            if (!t->ledger_failing)
                tg_log(TG_LOG_ERROR, "ledger", "a transaction of %zu ledger rows failed; the rows stay in the journal"
                       " and are tried again every %.0f ms", n, t->flush_seconds * 1000);
            t->ledger_failing = true;
            break;
        }
        tg_journal_release(t->journal);
        if (t->ledger_failing)
            tg_log(TG_LOG_INFO, "ledger", "ledger rows are written again");
        t->ledger_failing = false;
    }
    tg_obs_ledger_queue(t->obs, (int64_t)tg_journal_depth(t->journal));
}

static bool run_lookup(tg_store_thread_t *t, tg_store_job_t *job)
{
    const tg_store_methods_t *m = t->store->methods;
    tg_store_status_t st = m->key_find(t->store, job->u.lookup.hash, &job->u.lookup.key);
    job->u.lookup.found = st == TG_STORE_OK;
    job->u.lookup.store_failed = st != TG_STORE_OK && st != TG_STORE_NOT_FOUND;
    if (job->u.lookup.found)
        job->u.lookup.org_found = m->org_get(t->store, job->u.lookup.key.org, &job->u.lookup.org) == TG_STORE_OK;
    return job->u.lookup.found; /* the index missed a key that exists: it is stale */
}

static bool run_admin(tg_store_thread_t *t, tg_store_job_t *job)
{
    pthread_mutex_lock(&t->config_lock);
    tg_admin_env_t env = {(const char *const *)t->plans, t->plan_count, tg_clock_wall_seconds()};
    tg_admin_execute(t->store, &env, &job->u.admin.request, &job->u.admin.response);
    pthread_mutex_unlock(&t->config_lock);
    return job->u.admin.response.keys_changed || job->u.admin.response.orgs_changed;
}

/* The response cache's tier: a put is its own (implicit) transaction,
 * apart from the ledger's batches, so that a failed put never sends rows
 * to the spool; its payload goes with the job. */
static void run_cache(tg_store_thread_t *t, tg_store_job_t *job)
{
    const tg_store_methods_t *m = t->store->methods;
    if (job->kind == TG_JOB_CACHE_GET) {
        job->u.cache.found = m->cache_get(t->store, job->u.cache.key, job->u.cache.now, &job->u.cache.payload,
                                          &job->u.cache.len, &job->u.cache.expires) == TG_STORE_OK;
        return;
    }
    m->cache_put(t->store, job->u.cache.key, job->u.cache.org, tg_clock_wall_seconds(), job->u.cache.expires,
                 job->u.cache.payload, job->u.cache.len);
}

static void evict_cache(tg_store_thread_t *t)
{
    int64_t max = atomic_load(&t->cache_max_bytes), evicted = 0;
    if (max < 0)
        return;
    if (t->store->methods->cache_evict(t->store, tg_clock_wall_seconds(), max, &evicted) == TG_STORE_OK && evicted > 0)
        tg_log(TG_LOG_DEBUG, "cache", "evicted %lld rows of the SQLite tier", (long long)evicted);
}

/* The SQLite tier's cap from cfg; -1 when the tier is off. */
static void set_cache_cap(tg_store_thread_t *t, const tg_config_t *cfg)
{
    bool on = cfg->cache.enabled && cfg->cache.sqlite.enabled;
    atomic_store(&t->cache_max_bytes, on ? (int64_t)cfg->cache.sqlite.max_bytes : -1);
}

/* One round over the jobs taken from the queue, in arrival order. */
static void run_jobs(tg_store_thread_t *t, tg_store_job_t *list)
{
    size_t batch_len = 0;
    bool changed = false;
    tg_obs_db_busy(t->obs, 1);
    for (tg_store_job_t *job = list, *next; job != NULL; job = next) {
        next = job->next;
        switch (job->kind) {
        case TG_JOB_AUDIT:
        case TG_JOB_TOUCH:
            t->batch[batch_len++] = job;
            if (batch_len == t->batch_max) {
                write_batch(t, batch_len);
                batch_len = 0;
            }
            break;
        case TG_JOB_CACHE_GET:
        case TG_JOB_CACHE_PUT:
            run_cache(t, job);
            atomic_fetch_sub(&t->other_queued, 1);
            finish(job);
            break;
        case TG_JOB_LOOKUP:
            changed |= run_lookup(t, job);
            atomic_fetch_sub(&t->other_queued, 1);
            finish(job);
            break;
        case TG_JOB_ADMIN:
            if (batch_len > 0) { /* entries that came first are written first */
                write_batch(t, batch_len);
                batch_len = 0;
            }
            ingest(t); /* usage counts every request answered so far */
            if (run_admin(t, job))
                rebuild_index(t); /* every worker has it before the answer goes out */
            atomic_fetch_sub(&t->other_queued, 1);
            finish(job);
            break;
        }
    }
    if (batch_len > 0)
        write_batch(t, batch_len);
    if (changed)
        rebuild_index(t);
    tg_obs_db_busy(t->obs, -1);
}

/* Takes the whole stack and reverses it into arrival order. */
static tg_store_job_t *take_jobs(tg_store_thread_t *t)
{
    tg_store_job_t *stack = atomic_exchange(&t->head, NULL), *list = NULL;
    while (stack != NULL) {
        tg_store_job_t *next = stack->next;
        stack->next = list;
        list = stack;
        stack = next;
    }
    return list;
}

static void periodic(tg_store_thread_t *t)
{
    uint64_t version = t->store->methods->data_version(t->store);
    if (version != t->data_version || atomic_exchange(&t->plans_changed, false)) {
        t->data_version = version;
        rebuild_index(t); /* another process (the CLI) changed keys or orgs, or a reload the plans */
    }
    if (!t->journal_removed && (t->journal_removed = tg_journal_removed(t->journal)))
        tg_log(TG_LOG_ERROR, "ledger", "the ledger journal %s was removed while in use: rows still go through it,"
               " but a kill would lose those not yet in the database, and another gateway could start on the"
               " same path; restart this one", t->journal_path);
    replay_spool(t, false);
    if (t->store->methods->maintain(t->store) == TG_STORE_ERROR)
        tg_log(TG_LOG_WARN, "store", "a write-ahead log checkpoint failed; retrying in %d ms", PERIOD_MS);
    if (++t->periods % CACHE_EVICT_PERIODS == 0)
        evict_cache(t);
}

/* Sleeps until a job comes, or `until` (monotonic seconds). With
 * announce_idle, the journal was empty: the next row wakes the thread too,
 * and true says one came. */
static bool sleep_until(tg_store_thread_t *t, double until, bool announce_idle)
{
    atomic_store(&t->sleeping, true);
    if (announce_idle)
        atomic_store(&t->ledger_idle, true);
    bool row = announce_idle && tg_journal_depth(t->journal) > 0; /* came meanwhile */
    if (!row && atomic_load(&t->head) == NULL && !atomic_load(&t->stopping)) {
        double wait = until - tg_clock_seconds();
        struct pollfd pfd = {.fd = t->wake_fd, .events = POLLIN};
        if (wait > 0 && poll(&pfd, 1, (int)(wait * 1000) + 1) > 0) {
            uint64_t drained;
            if (read(t->wake_fd, &drained, sizeof(drained)) < 0) {
                /* EAGAIN: another submitter's wake-up was read already */
            }
        }
    }
    atomic_store(&t->sleeping, false);
    if (announce_idle)
        atomic_store(&t->ledger_idle, false);
    return announce_idle && tg_journal_depth(t->journal) > 0;
}

static void *thread_main(void *arg)
{
    tg_store_thread_t *t = arg;
    double now = tg_clock_seconds(), next_period = now + PERIOD_MS / 1000.0, next_flush = 0;
    for (;;) {
        tg_store_job_t *jobs = take_jobs(t);
        if (jobs != NULL)
            run_jobs(t, jobs);
        now = tg_clock_seconds();
        bool rows = tg_journal_depth(t->journal) > 0;
        if (atomic_load(&t->stopping) && jobs == NULL) {
            ingest(t); /* the workers are gone: every row they wrote */
            break;
        }
        if (rows && now >= next_flush) {
            ingest(t);
            next_flush = tg_clock_seconds() + t->flush_seconds; /* a failed commit may have waited busy_timeout */
        }
        if (now >= next_period) {
            periodic(t);
            next_period = tg_clock_seconds() + PERIOD_MS / 1000.0;
        }
        if (jobs != NULL)
            continue;
        /* rows waiting: back at the next flush, whatever workers write
         * meanwhile; none: asleep until the period, the first row wakes */
        rows = tg_journal_depth(t->journal) > 0;
        double until = rows && next_flush < next_period ? next_flush : next_period;
        if (sleep_until(t, until, !rows))
            next_flush = tg_clock_seconds() + t->flush_seconds; /* gather the rows behind the first */
    }
    return NULL;
}

int tg_store_submit(tg_store_thread_t *t, tg_store_job_t *job)
{
    if (atomic_fetch_add(&t->other_queued, 1) >= OTHER_JOBS_MAX) {
        atomic_fetch_sub(&t->other_queued, 1);
        return -1;
    }
    tg_store_job_t *head = atomic_load(&t->head);
    do
        job->next = head;
    while (!atomic_compare_exchange_weak(&t->head, &head, job));
    if (atomic_load(&t->sleeping) && atomic_exchange(&t->sleeping, false))
        wake(t); /* the first job since the thread went to sleep wakes it; the rest ride along */
    return 0;
}

tg_ledger_row_t *tg_store_ledger_claim(tg_store_thread_t *t, uint64_t *ticket)
{
    return tg_journal_claim(t->journal, ticket);
}

void tg_store_ledger_publish(tg_store_thread_t *t, uint64_t ticket)
{
    tg_journal_publish(t->journal, ticket);
    /* seq_cst, after the claim's seq_cst CAS on the journal's head: the
     * thread announces idle then reads head, so one of the two sees the
     * other (a plain load on x86: free while the thread is busy) */
    if (atomic_load(&t->ledger_idle) && atomic_exchange(&t->ledger_idle, false))
        wake(t);
}

int64_t tg_store_thread_row_id(tg_store_thread_t *t)
{
    return atomic_fetch_add_explicit(&t->next_row_id, 1, memory_order_relaxed);
}

/* ------------------------------------------------------------ lifecycle */

static void thread_free(tg_store_thread_t *t)
{
    if (t->store != NULL)
        t->store->methods->close(t->store);
    if (t->wake_fd >= 0)
        close(t->wake_fd);
    if (t->spool_fd >= 0)
        close(t->spool_fd);
    tg_journal_close(t->journal);
    free(t->spool_path);
    free(t->journal_path);
    free_plans(t->plans, t->plan_count);
    free(t->subscribers);
    free(t->batch);
    free(t->rows);
    tg_key_index_release(t->index);
    pthread_mutex_destroy(&t->spool_lock);
    pthread_mutex_destroy(&t->config_lock);
    pthread_mutex_destroy(&t->subscribers_lock);
    free(t);
}

static char *fail(tg_store_thread_t *t, char *why)
{
    thread_free(t);
    return why;
}

/* The month's spend so far of each org and key, into their budgets. */
typedef struct seed {
    tg_limit_registry_t *limits;
    bool is_org;
    int64_t month;
} seed_t;

static int seed_budget(void *ctx, const tg_usage_total_t *total)
{
    seed_t *sd = ctx;
    tg_limit_state_t *s = total->group[0] != '\0' ? tg_limit_state_get(sd->limits, sd->is_org, total->group) : NULL;
    if (s != NULL)
        tg_budget_seed(s, sd->month, (int64_t)llround(total->cost_usd * TG_NANO_DOLLARS));
    return 0;
}

static tg_store_status_t seed_budgets(tg_store_thread_t *t)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    tm.tm_mday = 1;
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    tg_usage_query_t q = {.from = (double)timegm(&tm), .group_by = TG_USAGE_GROUP_ORG};
    seed_t sd = {t->limits, true, tg_budget_month((double)now)};
    tg_store_status_t st = t->store->methods->usage(t->store, &q, seed_budget, &sd);
    if (st == TG_STORE_OK) {
        q.group_by = TG_USAGE_GROUP_KEY;
        sd.is_org = false;
        st = t->store->methods->usage(t->store, &q, seed_budget, &sd);
    }
    return st;
}

typedef struct recovery {
    tg_store_thread_t *t;
    size_t moved;
} recovery_t;

/* A previous run's rows from the journal, inserted by id: the rows it had
 * committed already are skipped. */
static int recover_rows(void *ctx, const tg_ledger_row_t *rows, size_t n)
{
    recovery_t *rc = ctx;
    size_t inserted;
    if (!commit_rows(rc->t, rows, n, true, &inserted))
        return -1;
    rc->moved += inserted;
    return 0;
}

static char *start(tg_store_thread_t *t, const tg_config_t *cfg)
{
    const tg_store_methods_t *m = tg_store_backend(cfg->store.driver);
    if (m == NULL)
        return strdup("unknown store driver");
    tg_store_options_t options = {
        .path = cfg->store.path,
        .synchronous_full = cfg->store.synchronous_full,
        .busy_timeout_ms = (int)cfg->store.busy_timeout_ms,
        .manual_checkpoints = true,
        .observe = observe,
        .observe_ctx = t->obs,
    };
    char *err = NULL;
    if (m->open(&options, &t->store, &err) != TG_STORE_OK) {
        t->store = NULL;
        return err != NULL ? err : strdup("cannot open the store");
    }
    if ((t->spool_fd = open(cfg->ledger.spool_path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600)) < 0)
        return tg_store_message("cannot open the ledger spool %s: %s", cfg->ledger.spool_path, strerror(errno));
    char *why = check_spool(t);
    if (why != NULL)
        return why;
    /* one file as both (by name, a link, or a path spelt otherwise): the
     * journal's header would go into the spool, and the spool's replay
     * would truncate the journal under its mapping (SIGBUS) */
    struct stat spool_st, journal_st;
    if (fstat(t->spool_fd, &spool_st) == 0 && stat(cfg->ledger.journal_path, &journal_st) == 0 &&
        spool_st.st_dev == journal_st.st_dev && spool_st.st_ino == journal_st.st_ino)
        return tg_store_message("ledger.journal_path %s and ledger.spool_path %s are the same file: each needs one of"
                                " its own", cfg->ledger.journal_path, cfg->ledger.spool_path);
    recovery_t rc = {t, 0};
    t->journal = tg_journal_open(cfg->ledger.journal_path, cfg->ledger.queue_size, t->batch_max, recover_rows, &rc,
                                 &why);
    if (t->journal == NULL)
        return why;
    if (rc.moved > 0)
        tg_log(TG_LOG_INFO, "ledger", "moved %zu rows a previous run left in the journal into the ledger", rc.moved);
    /* ids: the start second above 32 bits of sequence, never below a row
     * already there, so that ids grow across restarts and never repeat;
     * the spool's rows first, whose ids a run that lived less than a
     * second shares the start second with; all of them, as the budgets
     * are summed from the ledger next */
    replay_spool(t, true);
    int64_t max_id = 0;
    if (m->ledger_max_id(t->store, &max_id) != TG_STORE_OK)
        return strdup("cannot read the ledger");
    int64_t seconds = (int64_t)time(NULL), last = max_id >> 32;
    atomic_init(&t->next_row_id, (seconds > last ? seconds : last + 1) << 32);
    if (seed_budgets(t) != TG_STORE_OK)
        return strdup("cannot read this month's spend from the ledger");
    t->data_version = m->data_version(t->store);
    rebuild_index(t);
    if (t->index == NULL)
        return strdup("cannot read the API keys");
    return NULL;
}

tg_store_thread_t *tg_store_thread_start(const tg_config_t *cfg, tg_obs_t *obs, tg_limit_registry_t *limits,
                                         char **err)
{
    tg_store_thread_t *t = calloc(1, sizeof(*t));
    *err = NULL;
    if (t == NULL || tg_obs_store_bind(obs) != 0) {
        free(t);
        *err = strdup("out of memory");
        return NULL;
    }
    t->obs = obs;
    t->limits = limits;
    t->wake_fd = t->spool_fd = -1;
    set_cache_cap(t, cfg);
    t->batch_max = cfg->ledger.batch_max;
    t->flush_seconds = cfg->ledger.flush_ms / 1000.0;
    pthread_mutex_init(&t->spool_lock, NULL);
    pthread_mutex_init(&t->config_lock, NULL);
    pthread_mutex_init(&t->subscribers_lock, NULL);
    t->plans = copy_plans(cfg);
    t->plan_count = t->plans != NULL ? cfg->tenancy.plan_count : 0;
    t->spool_path = strdup(cfg->ledger.spool_path);
    t->journal_path = strdup(cfg->ledger.journal_path);
    t->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    t->batch = malloc(t->batch_max * sizeof(*t->batch));
    t->rows = malloc(t->batch_max * sizeof(*t->rows));
    if (t->plans == NULL || t->spool_path == NULL || t->journal_path == NULL || t->wake_fd < 0 || t->batch == NULL || t->rows == NULL) {
        *err = fail(t, strdup("out of memory or descriptors"));
        return NULL;
    }
    char *why = start(t, cfg);
    if (why != NULL) {
        *err = fail(t, why);
        return NULL;
    }
    if (pthread_create(&t->thread, NULL, thread_main, t) != 0) {
        *err = fail(t, strdup("cannot start the store thread"));
        return NULL;
    }
    return t;
}

void tg_store_thread_stop(tg_store_thread_t *t)
{
    if (t == NULL)
        return;
    atomic_store(&t->stopping, true);
    wake(t);
    pthread_join(t->thread, NULL);
    thread_free(t);
}

void tg_store_thread_reconfigure(tg_store_thread_t *t, const tg_config_t *cfg)
{
    char **plans = copy_plans(cfg);
    if (plans == NULL)
        return;
    pthread_mutex_lock(&t->config_lock);
    char **old = t->plans;
    size_t old_count = t->plan_count;
    t->plans = plans;
    t->plan_count = cfg->tenancy.plan_count;
    pthread_mutex_unlock(&t->config_lock);
    free_plans(old, old_count);
    atomic_store(&t->plans_changed, true);
    set_cache_cap(t, cfg);
}

/* --------------------------------------------------------------- client */

static void on_index(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    tg_store_client_t *c = H2O_STRUCT_FROM_MEMBER(tg_store_client_t, updates, receiver);
    while (!h2o_linklist_is_empty(messages)) {
        index_message_t *m = H2O_STRUCT_FROM_MEMBER(index_message_t, super.link, messages->next);
        h2o_linklist_unlink(&m->super.link);
        tg_key_index_release(c->index);
        c->index = m->index;
        c->miss_count = c->miss_next = 0; /* a key unknown before may be in the new index */
        free(m);
    }
}

bool tg_store_client_known_miss(const tg_store_client_t *c, const uint8_t hash[32])
{
    for (size_t i = 0; i < c->miss_count; i++)
        if (memcmp(c->misses[i], hash, 32) == 0)
            return true;
    return false;
}

void tg_store_client_note_miss(tg_store_client_t *c, const uint8_t hash[32])
{
    memcpy(c->misses[c->miss_next], hash, 32);
    c->miss_next = (c->miss_next + 1) % TG_STORE_MISSES;
    if (c->miss_count < TG_STORE_MISSES)
        c->miss_count++;
}

void tg_store_client_open(tg_store_client_t *c, tg_store_thread_t *t, h2o_multithread_queue_t *queue)
{
    memset(c, 0, sizeof(*c));
    c->thread = t;
    if (t == NULL)
        return;
    h2o_multithread_register_receiver(queue, &c->updates, on_index);
    pthread_mutex_lock(&t->subscribers_lock);
    subscriber_t *grown = realloc(t->subscribers, (t->subscriber_count + 1) * sizeof(*grown));
    if (grown != NULL) {
        t->subscribers = grown;
        t->subscribers[t->subscriber_count++].receiver = &c->updates;
    }
    /* the current index, directly: this is the worker's own thread */
    tg_key_index_retain(t->index);
    c->index = t->index;
    pthread_mutex_unlock(&t->subscribers_lock);
}

void tg_store_client_close(tg_store_client_t *c)
{
    tg_store_thread_t *t = c->thread;
    if (t == NULL)
        return;
    pthread_mutex_lock(&t->subscribers_lock);
    for (size_t i = 0; i < t->subscriber_count; i++)
        if (t->subscribers[i].receiver == &c->updates) {
            t->subscribers[i] = t->subscribers[--t->subscriber_count];
            break;
        }
    pthread_mutex_unlock(&t->subscribers_lock);
    tg_key_index_release(c->index);
    c->index = NULL;
    c->thread = NULL;
}
