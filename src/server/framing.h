/* framing.h: the HTTP/1 request-smuggling checks h2o 2.2.5 does not make.
 *
 * h2o frames a request body by the first Content-Length header, or by
 * Transfer-Encoding when both are present, and keeps the connection alive.
 * A peer that frames the same bytes differently (two lengths, or a length
 * and chunking) would read a second, smuggled request out of this one's
 * body (RFC 9112 6.1 and 6.3). h2o drops both headers from req->headers,
 * so the check reads the request head itself, still at the start of the
 * connection's input buffer while the request is processed. */
#ifndef TOLLGATE_SERVER_FRAMING_H
#define TOLLGATE_SERVER_FRAMING_H

#include <h2o.h>

#include "core/error.h"

/* 0 when req's framing is unambiguous (always for HTTP/2); otherwise -1
 * with a 400 in *err. The caller must close the connection after the
 * response. */
int tg_framing_check(h2o_req_t *req, tg_error_t *err);

/* The check itself, on a raw request head (request line and header lines,
 * names already lower-cased as h2o leaves them; "\n" or "\r\n" line ends);
 * bytes after the blank line are ignored. Exposed for unit tests. */
int tg_framing_check_head(const char *head, size_t len);

#endif
