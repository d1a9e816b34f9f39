/* journal.c: see journal.h. */
#include "store/journal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define JOURNAL_MAGIC 0x314a4c54u /* "TLJ1" */
#define HEADER_BYTES 4096         /* the slots start on a page of their own */

typedef struct header {
    uint32_t magic;
    uint32_t layout; /* row_layout(): another layout is another build's journal */
    uint32_t slots;
} header_t;

typedef struct slot {
    _Atomic uint64_t seq; /* the ticket of the row in the slot; 0: free */
    uint64_t check;       /* slot_check(seq, row) */
    tg_ledger_row_t row;
} slot_t;

_Static_assert(sizeof(tg_ledger_row_t) % 8 == 0, "the check reads the row as 64-bit words");

#define SLOT_BYTES ((sizeof(slot_t) + 63) & ~(size_t)63) /* a slot per cache line run: no false sharing */

/* The row's layout as a number: its size and each field's offset and
 * size, hashed (FNV-1a). A build whose row differs by more than its size
 * (fields moved, or resized within the same total) refuses the journal
 * instead of reading garbage into the ledger; the slot check, a hash of
 * the bytes, could not tell. A field retyped in place is not seen: that
 * needs a new JOURNAL_MAGIC. */
#define FIELD(name) offsetof(tg_ledger_row_t, name), sizeof(((tg_ledger_row_t *)0)->name)
static uint32_t row_layout(void)
{
    static const size_t parts[] = {
        sizeof(tg_ledger_row_t), FIELD(id), FIELD(ts), FIELD(request_id), FIELD(org), FIELD(key_id),
        FIELD(model_requested), FIELD(model_used), FIELD(provider), FIELD(operation), FIELD(prompt_tokens),
        FIELD(cached_tokens), FIELD(cache_write_tokens), FIELD(completion_tokens), FIELD(reasoning_tokens),
        FIELD(cost_usd), FIELD(cache_hit), FIELD(cache_tier), FIELD(status), FIELD(latency_seconds),
        FIELD(ttft_seconds), FIELD(estimated),
    };
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
        h = (h ^ (uint32_t)parts[i]) * 16777619u;
    return h;
}

struct tg_journal {
    int fd;
    char *base;        /* the mapping: header, then the slots */
    size_t map_bytes;
    uint32_t count;
    _Atomic uint64_t head;  /* the next ticket to claim */
    _Atomic uint64_t freed; /* tickets below it are free */
    uint64_t cursor;        /* the store thread's: the next ticket to take */
};

static slot_t *slot_at(char *slots, uint64_t index)
{
    return (slot_t *)(slots + index * SLOT_BYTES);
}

static slot_t *slot_of(const tg_journal_t *j, uint64_t ticket)
{
    return slot_at(j->base + HEADER_BYTES, (ticket - 1) % j->count);
}

/* A 64-bit hash of the row and its ticket, four words at a time (on a
 * worker, before the last byte of every response: a byte-wise hash of the
 * ~600 bytes cost more than the rest of the ledger's stage). Not a defence
 * against anyone: it tells a torn or stale slot from a written one. */
static uint64_t slot_check(uint64_t seq, const tg_ledger_row_t *row)
{
    const unsigned char *p = (const unsigned char *)row;
    const uint64_t prime = 0x100000001b3ull;
    uint64_t h[4] = {seq ^ 0xcbf29ce484222325ull, 0x9e3779b97f4a7c15ull, 0xbf58476d1ce4e5b9ull,
                     0x94d049bb133111ebull};
    size_t words = sizeof(*row) / 8, i = 0;
    for (; i + 4 <= words; i += 4)
        for (int lane = 0; lane < 4; lane++) {
            uint64_t w;
            memcpy(&w, p + 8 * (i + (size_t)lane), 8);
            h[lane] = (h[lane] ^ w) * prime;
        }
    for (; i < words; i++) {
        uint64_t w;
        memcpy(&w, p + 8 * i, 8);
        h[0] = (h[0] ^ w) * prime;
    }
    uint64_t x = h[0] ^ (h[1] << 1 | h[1] >> 63) ^ (h[2] << 2 | h[2] >> 62) ^ (h[3] << 3 | h[3] >> 61);
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    return x ^ (x >> 33);
}

/* Hands every readable row of the file (a previous run's) to recover. */
static char *recover_rows(int fd, const char *path, off_t size, size_t batch_max, tg_journal_recover_fn recover,
                          void *ctx)
{
    header_t h;
    if (pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) || h.magic != JOURNAL_MAGIC ||
        h.layout != row_layout() || h.slots == 0)
        return tg_store_message("the ledger journal %s is not a journal of this tollgate: ledger.journal_path names another"
                     " file, or a journal of another version; move it away", path);
    /* shorter than its slots: cut while it was made (the header comes
     * first), or by something else; the slots that are there are read */
    if (size < (off_t)(HEADER_BYTES + (size_t)h.slots * SLOT_BYTES))
        h.slots = size > HEADER_BYTES ? (uint32_t)(((size_t)size - HEADER_BYTES) / SLOT_BYTES) : 0;
    const size_t chunk = 256, batch = batch_max > 0 ? batch_max : 1;
    char *buf = malloc(chunk * SLOT_BYTES);
    tg_ledger_row_t *rows = malloc(batch * sizeof(*rows));
    char *err = NULL;
    size_t n = 0;
    if (buf == NULL || rows == NULL)
        err = tg_store_message("out of memory reading the ledger journal %s", path);
    for (uint32_t at = 0; err == NULL && at < h.slots; at += chunk) {
        size_t want = h.slots - at < chunk ? h.slots - at : chunk;
        ssize_t got = pread(fd, buf, want * SLOT_BYTES, (off_t)(HEADER_BYTES + (size_t)at * SLOT_BYTES));
        if (got != (ssize_t)(want * SLOT_BYTES)) {
            err = tg_store_message("cannot read the ledger journal %s: %s", path, got < 0 ? strerror(errno) : "short read");
            break;
        }
        for (size_t i = 0; i < want && err == NULL; i++) {
            slot_t *s = slot_at(buf, i);
            uint64_t seq = atomic_load_explicit(&s->seq, memory_order_relaxed);
            if (seq == 0 || s->check != slot_check(seq, &s->row))
                continue; /* free, or torn by a crash of the machine */
            rows[n++] = s->row;
            if (n == batch) {
                if (recover(ctx, rows, n) != 0)
                    err = tg_store_message("cannot move the rows of the ledger journal %s into the store", path);
                n = 0;
            }
        }
    }
    if (err == NULL && n > 0 && recover(ctx, rows, n) != 0)
        err = tg_store_message("cannot move the rows of the ledger journal %s into the store", path);
    free(buf);
    free(rows);
    return err;
}

tg_journal_t *tg_journal_open(const char *path, uint32_t slots, size_t batch_max, tg_journal_recover_fn recover,
                              void *ctx, char **err)
{
    *err = NULL;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        *err = tg_store_message("cannot open the ledger journal %s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        *err = errno == EWOULDBLOCK
                   ? tg_store_message("the ledger journal %s is in use by another tollgate: each gateway needs a"
                           " ledger.journal_path (and a store) of its own", path)
                   : tg_store_message("cannot lock the ledger journal %s: %s", path, strerror(errno));
    } else if (fstat(fd, &st) != 0) {
        *err = tg_store_message("cannot read the ledger journal %s: %s", path, strerror(errno));
    } else if (st.st_size > 0) {
        *err = recover_rows(fd, path, st.st_size, batch_max, recover, ctx);
    }
    size_t bytes = HEADER_BYTES + (size_t)slots * SLOT_BYTES;
    header_t h = {JOURNAL_MAGIC, row_layout(), slots};
    /* every row is in the store: empty the file, write the header (so
     * that a kill from here on leaves a journal, empty or short), then give
     * it its blocks now, so that a full disk is an error here and never a
     * SIGBUS later */
    if (*err == NULL) {
        int rc = ftruncate(fd, 0) != 0 ? errno : 0;
        if (rc == 0 && pwrite(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h))
            rc = errno != 0 ? errno : EIO;
        if (rc == 0)
            rc = ftruncate(fd, (off_t)bytes) != 0 ? errno : posix_fallocate(fd, 0, (off_t)bytes);
        if (rc != 0)
            *err = tg_store_message("cannot make the ledger journal %s (%zu bytes): %s", path, bytes, strerror(rc));
    }
    tg_journal_t *j = NULL;
    if (*err == NULL && (j = calloc(1, sizeof(*j))) == NULL)
        *err = tg_store_message("out of memory");
    if (*err == NULL) {
        /* populated now, at start: the page cache's pages are made and
         * mapped here, not by a worker's first row in each page (a write
         * still takes a minor fault to mark a clean page dirty) */
        j->base = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
        if (j->base == MAP_FAILED)
            *err = tg_store_message("cannot map the ledger journal %s: %s", path, strerror(errno));
    }
    if (*err != NULL) {
        free(j);
        close(fd);
        return NULL;
    }
    j->fd = fd;
    j->map_bytes = bytes;
    j->count = slots;
    atomic_init(&j->head, 1);
    atomic_init(&j->freed, 1);
    j->cursor = 1;
    return j;
}

void tg_journal_close(tg_journal_t *j)
{
    if (j == NULL)
        return;
    munmap(j->base, j->map_bytes);
    close(j->fd); /* and the lock with it */
    free(j);
}

tg_ledger_row_t *tg_journal_claim(tg_journal_t *j, uint64_t *ticket)
{
    uint64_t head = atomic_load_explicit(&j->head, memory_order_relaxed);
    do {
        /* acquire: the release that freed the slot (its reads and its
         * zeroed seq) comes before this worker's writes into it */
        if (head - atomic_load_explicit(&j->freed, memory_order_acquire) >= j->count)
            return NULL;
        /* seq_cst (on x86 a locked CAS costs that anyway): the store thread
         * going idle reads head after announcing it, and the claimer reads
         * the announcement after this (store/thread.c, tg_store_ledger_publish) */
    } while (!atomic_compare_exchange_weak(&j->head, &head, head + 1));
    *ticket = head;
    return &slot_of(j, head)->row;
}

void tg_journal_publish(tg_journal_t *j, uint64_t ticket)
{
    slot_t *s = slot_of(j, ticket);
    s->check = slot_check(ticket, &s->row);
    atomic_store_explicit(&s->seq, ticket, memory_order_release);
}

size_t tg_journal_take(tg_journal_t *j, tg_ledger_row_t *out, size_t max)
{
    size_t n = 0;
    while (n < max) {
        slot_t *s = slot_of(j, j->cursor);
        if (atomic_load_explicit(&s->seq, memory_order_acquire) != j->cursor)
            break; /* not yet claimed, or claimed and being written */
        out[n++] = s->row;
        j->cursor++;
    }
    return n;
}

void tg_journal_release(tg_journal_t *j)
{
    uint64_t freed = atomic_load_explicit(&j->freed, memory_order_relaxed);
    for (uint64_t t = freed; t < j->cursor; t++)
        atomic_store_explicit(&slot_of(j, t)->seq, 0, memory_order_relaxed);
    atomic_store_explicit(&j->freed, j->cursor, memory_order_release);
}

void tg_journal_rewind(tg_journal_t *j)
{
    j->cursor = atomic_load_explicit(&j->freed, memory_order_relaxed);
}

bool tg_journal_removed(tg_journal_t *j)
{
    struct stat st;
    return fstat(j->fd, &st) == 0 && st.st_nlink == 0;
}

uint64_t tg_journal_depth(tg_journal_t *j)
{
    return atomic_load(&j->head) - atomic_load_explicit(&j->freed, memory_order_relaxed);
}
