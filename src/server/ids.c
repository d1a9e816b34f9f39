/* ids.c: see ids.h. */
#include "server/ids.h"

#include <string.h>
#include <sys/random.h>
#include <time.h>

static const char hex_digits[] = "0123456789abcdef";

void tg_rng_seed(tg_rng_t *rng)
{
    if (getrandom(&rng->state, sizeof(rng->state), 0) != sizeof(rng->state))
        rng->state = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)rng;
    if (rng->state == 0)
        rng->state = 0x9e3779b97f4a7c15ull;
}

uint64_t tg_rng_next(tg_rng_t *rng)
{
    uint64_t x = rng->state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng->state = x;
    return x * 0x2545f4914f6cdd1dull;
}

static void random_hex(tg_rng_t *rng, char *out, size_t digits)
{
    for (size_t i = 0; i < digits; i += 16) {
        uint64_t r = tg_rng_next(rng);
        for (size_t j = 0; j < 16 && i + j < digits; j++, r >>= 4)
            out[i + j] = hex_digits[r & 15];
    }
}

static bool is_hex(const char *s, size_t n)
{
    bool nonzero = false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
        nonzero |= c != '0';
    }
    return nonzero;
}

void tg_request_id(tg_rng_t *rng, const char *client, size_t client_len, char out[TG_REQUEST_ID_MAX + 1])
{
    bool usable = client != NULL && client_len > 0 && client_len <= TG_REQUEST_ID_MAX;
    for (size_t i = 0; usable && i < client_len; i++)
        usable = client[i] >= 0x20 && client[i] < 0x7f;
    if (usable) {
        memcpy(out, client, client_len);
        out[client_len] = '\0';
        return;
    }
    random_hex(rng, out, 32);
    out[32] = '\0';
}

void tg_traceparent(tg_rng_t *rng, const char *client, size_t client_len, char out[TG_TRACEPARENT_LEN + 1],
                    char trace_id[33], char parent_span[17])
{
    bool valid = client != NULL && client_len == TG_TRACEPARENT_LEN && memcmp(client, "00-", 3) == 0 &&
                 client[35] == '-' && client[52] == '-' && is_hex(client + 3, 32) && is_hex(client + 36, 16) &&
                 (is_hex(client + 53, 2) || memcmp(client + 53, "00", 2) == 0);
    memcpy(out, "00-", 3);
    parent_span[0] = '\0';
    if (valid) {
        memcpy(out + 3, client + 3, 32);
        memcpy(out + 53, client + 53, 2);
        memcpy(parent_span, client + 36, 16);
        parent_span[16] = '\0';
    } else {
        random_hex(rng, out + 3, 32);
        memcpy(out + 53, "01", 2);
    }
    out[35] = '-';
    random_hex(rng, out + 36, 16);
    out[52] = '-';
    out[55] = '\0';
    memcpy(trace_id, out + 3, 32);
    trace_id[32] = '\0';
}
