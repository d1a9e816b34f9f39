/* journal.h: the ledger's journal, a ring of row slots in a file that
 * every worker maps (MAP_SHARED). A worker makes its request's row durable
 * by copying it into a slot before the response's last byte: memory
 * stores into the page cache, which outlive a killed process, with no
 * system call, no lock and no wait for another thread. The store thread
 * moves the rows into the store in large transactions at its own pace and
 * frees their slots after the commit; a gateway that was killed finds its
 * rows at the next start (tg_journal_open's recover callback). The ring
 * is the ledger's bounded queue: a worker that finds it full spools its
 * row instead (store/thread.h).
 *
 * File layout (native byte order; a journal is this machine's):
 *
 *   offset 0      header: magic "TLJ1", the row's layout (its fields'
 *                 offsets and sizes, hashed), slot count
 *   offset 4096   slot[0] .. slot[count-1], each a multiple of 64 bytes:
 *                 seq (the ticket of the row in it, 0 when free), check (a
 *                 hash of seq and row: a torn slot is skipped), the row
 *
 * Tickets count from 1 and slot (ticket - 1) % count holds ticket's row.
 * Three counters, all in process memory: `head`, the next ticket to claim;
 * `cursor`, the next the store thread reads; `freed`, the first not yet
 * freed. freed <= cursor <= head, and head - freed <= count (full).
 *
 *   claim    (any worker)    head++ unless full; the slot is the worker's
 *   publish  (that worker)   fills check, then seq = ticket (release)
 *   take     (store thread)  copies rows while slot[cursor].seq == cursor
 *   release  (store thread)  after the commit: zero their seq, then freed
 *   rewind   (store thread)  the commit failed: cursor = freed, read again
 *
 * A slot is read only after its publish (acquire on seq) and claimed again
 * only after its release (acquire on freed), so that rows are plain memory
 * between the two. */
#ifndef TOLLGATE_STORE_JOURNAL_H
#define TOLLGATE_STORE_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

typedef struct tg_journal tg_journal_t;

/* Rows a previous run left, handed over in batches before the journal is
 * emptied: 0 when they are safely in the store, anything else to keep them
 * (the open fails). */
typedef int (*tg_journal_recover_fn)(void *ctx, const tg_ledger_row_t *rows, size_t n);

/* Opens the journal at path with `slots` slots (creating the file, or
 * resizing an empty one), after giving `recover` every readable row of the
 * file (in batches of at most batch_max; 0 is taken as 1). It takes an
 * exclusive lock on the file, so that a second gateway on the same
 * journal is refused. NULL with *err (malloc'd): the file cannot be made,
 * is locked, is no journal of this build, or recover refused its rows. */
tg_journal_t *tg_journal_open(const char *path, uint32_t slots, size_t batch_max, tg_journal_recover_fn recover,
                              void *ctx, char **err);

/* Unmaps and closes; the rows still in it are read at the next open. */
void tg_journal_close(tg_journal_t *j);

/* Any thread. A slot for one row, or NULL when the ring is full. The row
 * is uninitialised; publish it at once (the store thread waits at it). */
tg_ledger_row_t *tg_journal_claim(tg_journal_t *j, uint64_t *ticket);
void tg_journal_publish(tg_journal_t *j, uint64_t ticket);

/* Store thread. Copies up to max published rows from the cursor on. */
size_t tg_journal_take(tg_journal_t *j, tg_ledger_row_t *out, size_t max);
/* Store thread. Frees every row taken so far (they are committed). */
void tg_journal_release(tg_journal_t *j);
/* Store thread. The rows taken since the last release are to be read
 * again (their transaction failed). */
void tg_journal_rewind(tg_journal_t *j);

/* Whether the file was removed, or renamed over, since the open: the
 * rows go on through the mapping, but a kill would take those not yet
 * in the store with it. Store thread (one fstat). */
bool tg_journal_removed(tg_journal_t *j);

/* Rows claimed and not yet released: the ledger's queue depth. Its read
 * of head is seq_cst (see tg_journal_claim). */
uint64_t tg_journal_depth(tg_journal_t *j);

#endif
