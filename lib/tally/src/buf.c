/*
 * buf.c - the growable byte buffer every renderer writes into.
 *
 * Renderers reserve room for a whole token (a number, an escaped string)
 * and then write straight into the buffer, so growth happens rarely and
 * never per character.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Below this, doubling would cost more reallocations than it saves. */
#define TALLY_BUF_MIN_CAP 4096

int tally__buf_reserve(tally_buf *b, size_t extra)
{
    if (extra <= b->cap - b->len)
        return TALLY_OK;
    if (extra > SIZE_MAX - b->len)
        return TALLY_ERR_NOMEM;
    size_t need = b->len + extra;
    size_t cap = b->cap < TALLY_BUF_MIN_CAP ? TALLY_BUF_MIN_CAP : b->cap;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) {
            cap = need;
            break;
        }
        cap *= 2;
    }
    char *data = realloc(b->data, cap);
    if (data == NULL)
        return TALLY_ERR_NOMEM;
    b->data = data;
    b->cap = cap;
    return TALLY_OK;
}

int tally__buf_append(tally_buf *b, const char *s, size_t n)
{
    int rc = tally__buf_reserve(b, n);
    if (rc != TALLY_OK)
        return rc;
    if (n > 0)
        memcpy(b->data + b->len, s, n);
    b->len += n;
    return TALLY_OK;
}

void tally_buf_free(tally_buf *b)
{
    if (b == NULL)
        return;
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}
