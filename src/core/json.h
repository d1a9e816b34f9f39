/* json.h: the small JSON helpers the gateway shares. Full parsing is left
 * to jansson and to pipeline/json_body.c's validator; these read just
 * enough of a document the gateway only passes on. */
#ifndef TOLLGATE_CORE_JSON_H
#define TOLLGATE_CORE_JSON_H

#include <stddef.h>

/* The end (one past the closing bracket) of the object or array that
 * starts at p ('{' or '['), or NULL when it is not closed before end or
 * its brackets do not balance. Strings are skipped whole (escaped quotes
 * included); nothing else is validated. */
const char *tg_json_container_end(const char *p, const char *end);

/* Appends s (n bytes) to dst as JSON string content (no quotes), escaping
 * quotes, backslashes, control characters and invalid UTF-8 (as U+FFFD).
 * Writes at most cap bytes and returns the number written; stops early
 * rather than split an escape (an escape is at most 6 bytes). */
size_t tg_json_escape(char *dst, size_t cap, const char *s, size_t n);

/* The value of one hexadecimal digit, -1 for any other character. */
int tg_hex_value(int c);

/* Writes v in decimal at out (room for 20 digits); returns the length.
 * By hand: snprintf was a tenth of the request path's instructions. */
size_t tg_format_decimal(char *out, size_t v);

#endif
