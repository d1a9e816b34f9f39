/* fuzz_redact.c: libFuzzer target for the log redaction, which reads request
 * paths and upstream text as they come. The first input byte picks the
 * copy's size; the rest is redacted into it (tg_log_redact_copy) and logged
 * as a message and as text and id fields (to /dev/null). Checked: the copy
 * fits, a registered secret never shows whole, and every "[R" in the copy
 * is a whole "[REDACTED]" when the input had none of its own. */
#define _GNU_SOURCE  /* memmem */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "obs/log.h"

#define REGISTERED "fuzz-Registered-Secret"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int devnull = -1;
    if (devnull < 0) {
        devnull = open("/dev/null", O_WRONLY);
        tg_log_configure(devnull, TG_LOG_JSON, TG_LOG_DEBUG);
        tg_log_add_secret(REGISTERED);
    }
    if (size < 1)
        return 0;
    size_t cap = 1 + data[0];
    const char *src = (const char *)data + 1;
    size_t len = size - 1;

    char copy[257];
    size_t n = tg_log_redact_copy(copy, cap, src, len);
    if (n > cap - 1 || copy[n] != '\0')
        __builtin_trap();
    if (memmem(copy, n, REGISTERED, strlen(REGISTERED)) != NULL)
        __builtin_trap();
    if (memmem(src, len, "[R", 2) == NULL)
        for (const char *m = copy; (m = memmem(m, n - (size_t)(m - copy), "[R", 2)) != NULL; m++)
            if (n - (size_t)(m - copy) < 10 || memcmp(m, "[REDACTED]", 10) != 0)
                __builtin_trap();

    char *text = malloc(len + 1);
    if (text == NULL)
        return 0;
    memcpy(text, src, len);
    text[len] = '\0';
    tg_log_field_t f[] = {
        {.key = "detail", .type = TG_LF_STR, .str = text},
        {.key = "request_id", .type = TG_LF_STR, .str = text},
    };
    tg_log_fields(TG_LOG_INFO, "fuzz", text, f, 2);
    free(text);
    return 0;
}
