/* linger.h: a lingering close for HTTP/1 connections h2o refuses while the
 * client is still uploading (a body over the limit, broken framing).
 *
 * h2o 2.2.5 writes its refusal and closes the socket at once. Closing a
 * socket whose receive queue still holds the client's body makes the
 * kernel answer with a reset, and a client that is still sending then
 * usually loses the 413 it was sent. A lingering connection keeps the
 * socket open through a duplicate descriptor after h2o lets go, reads and
 * discards what the client still sends, and closes once the client is
 * done or TG_LINGER_MS have passed, whichever comes first: the refusal
 * arrives, and nothing of the body is kept. */
#ifndef TOLLGATE_SERVER_LINGER_H
#define TOLLGATE_SERVER_LINGER_H

#include "server/worker.h"

#define TG_LINGER_MS 2000

/* Starts lingering on req's HTTP/1 connection (nothing for HTTP/2, whose
 * refusals are per stream, or when no descriptor is left to duplicate). */
void tg_linger_start(tg_worker_t *w, h2o_req_t *req);

/* Closes every lingering connection of w (at shutdown). */
void tg_linger_close_all(tg_worker_t *w);

#endif
