/* framing.c: see framing.h. */
#include "server/framing.h"

#include <string.h>

typedef struct framing_scan {
    unsigned lengths;          /* Content-Length headers seen */
    unsigned encodings;        /* Transfer-Encoding headers seen */
    const char *length;        /* the first Content-Length value */
    size_t length_len;
    bool conflicting_lengths;  /* a later Content-Length differs from the first */
} framing_scan_t;

/* A header line's value without the optional whitespace around it. */
static void header_value(const char *line, size_t len, size_t name_len, const char **value, size_t *value_len)
{
    const char *v = line + name_len, *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    *value = v;
    *value_len = (size_t)(end - v);
}

static void scan_line(framing_scan_t *scan, const char *line, size_t len)
{
    static const char cl[] = "content-length:", te[] = "transfer-encoding:";
    if (len >= sizeof(te) - 1 && memcmp(line, te, sizeof(te) - 1) == 0) {
        scan->encodings++;
    } else if (len >= sizeof(cl) - 1 && memcmp(line, cl, sizeof(cl) - 1) == 0) {
        const char *value;
        size_t value_len;
        header_value(line, len, sizeof(cl) - 1, &value, &value_len);
        if (scan->lengths++ == 0) {
            scan->length = value;
            scan->length_len = value_len;
        } else if (value_len != scan->length_len || memcmp(value, scan->length, value_len) != 0) {
            scan->conflicting_lengths = true; /* equal repeats are allowed (RFC 9110 8.6) */
        }
    }
}

int tg_framing_check_head(const char *head, size_t len)
{
    framing_scan_t scan = {0};
    const char *p = head, *end = head + len;
    bool request_line = true;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = nl != NULL ? nl : end;
        size_t line_len = (size_t)(line_end - p);
        if (line_len > 0 && p[line_len - 1] == '\r')
            line_len--;
        if (line_len == 0 && !request_line)
            break; /* the blank line: the body follows */
        if (!request_line)
            scan_line(&scan, p, line_len);
        request_line = false;
        if (nl == NULL)
            break;
        p = nl + 1;
    }
    return scan.conflicting_lengths || scan.encodings > 1 || (scan.encodings != 0 && scan.lengths != 0) ? -1 : 0;
}

int tg_framing_check(h2o_req_t *req, tg_error_t *err)
{
    /* Only a request with a body can be framed two ways; h2o copies the
     * entity of every such request, so the check costs a scan of the head
     * (about 0.1 us for 300 bytes) on bodies alone. */
    if (req->version >= 0x200 || req->entity.base == NULL)
        return 0;
    h2o_socket_t *sock = req->conn->callbacks->get_socket != NULL ? req->conn->callbacks->get_socket(req->conn) : NULL;
    if (sock == NULL || sock->input == NULL)
        return 0;
    size_t len = sock->input->size < H2O_MAX_REQLEN ? sock->input->size : H2O_MAX_REQLEN;
    if (tg_framing_check_head(sock->input->bytes, len) == 0)
        return 0;
    tg_error_set(err, 400, TG_ERR_INVALID_REQUEST, TG_CODE_INVALID_REQUEST,
                 "Conflicting Content-Length or Transfer-Encoding headers.", NULL);
    return -1;
}
