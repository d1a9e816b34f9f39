/* fuzz_sse.c: libFuzzer target for the SSE parser and the usage scanner,
 * the two pieces that read bytes straight from upstream providers. The
 * first input byte picks how the rest is split into network reads; the
 * passthrough invariant (every byte out once, in order) is checked. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "upstream/sse.h"

typedef struct collected {
    size_t bytes;
    const uint8_t *input;
} collected_t;

static void *heap_alloc(void *ctx, size_t size)
{
    void **blocks = ctx;
    for (int i = 0; i < 64; i++) {
        if (blocks[i] == NULL)
            return blocks[i] = malloc(size);
    }
    return NULL;
}

static int check_event(void *ctx, const tg_sse_event_t *ev)
{
    collected_t *c = ctx;
    if (memcmp(ev->raw, c->input + c->bytes, ev->raw_len) != 0)
        __builtin_trap();
    c->bytes += ev->raw_len;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t piece = 1 + data[0];
    const uint8_t *input = data + 1;
    size_t len = size - 1;

    tg_usage_t usage;
    tg_usage_scan((const char *)input, len, &usage);

    void *blocks[64] = {0};
    tg_sse_parser_t p;
    tg_sse_init(&p, 4096, heap_alloc, blocks);
    collected_t c = {0, input};
    int rc = 0;
    for (size_t off = 0; off < len && rc == 0; off += piece)
        rc = tg_sse_feed(&p, (const char *)input + off, off + piece <= len ? piece : len - off, check_event, &c);
    if (rc == 0 && c.bytes + tg_sse_pending(&p) != len)
        __builtin_trap();
    for (int i = 0; i < 64; i++)
        free(blocks[i]);
    return 0;
}
