/*
 * counter.c - counter updates and reads. Cell per stripe: word 0 counts
 * integer increments, word 1 holds the bits of a double for float adds, so
 * the common integer path never needs a floating-point CAS.
 */
#include <math.h>

#include "store.h"

#define CHILD(c) ((tally__child *)(c))

/* Updates ignore a NULL handle: a lookup refused (say) a non-UTF-8 value
 * from a client, and a predictable branch is cheaper than a crash. */
void tally_counter_inc(tally_counter *c)
{
    if (TALLY_UNLIKELY(!c))
        return;
    unsigned s = tally__stripe();
    tally__cell_add_u64(tally__cell(CHILD(c)->cells, s), s, 1);
}

void tally_counter_add_int(tally_counter *c, uint64_t n)
{
    if (TALLY_UNLIKELY(!c))
        return;
    unsigned s = tally__stripe();
    tally__cell_add_u64(tally__cell(CHILD(c)->cells, s), s, n);
}

tally_err tally_counter_add(tally_counter *c, double v)
{
    if (!c)
        return TALLY_ERR_FORMAT;
    if (!(v >= 0))
        return TALLY_ERR_INVALID_VALUE; /* negative or NaN */
    unsigned s = tally__stripe();
    tally__cell_add_double(tally__cell(CHILD(c)->cells, s) + 1, s, v);
    return TALLY_OK;
}

tally_err tally_counter_add_exemplar(tally_counter *c, double v, const tally_exemplar *ex)
{
    if (!c)
        return TALLY_ERR_FORMAT;
    if (!(v >= 0))
        return TALLY_ERR_INVALID_VALUE;
    tally_err err = tally__exemplar_store(CHILD(c), 0, 1, v, ex);
    if (err == TALLY_OK)
        tally_counter_add(c, v);
    return err;
}

double tally_counter_value(const tally_counter *c)
{
    const tally__child *ch = (const tally__child *)c;
    if (!ch)
        return 0;
    return (double)tally__sum_u64(ch->cells, 0) + tally__sum_double(ch->cells, 1);
}
