/* linger.c: see linger.h. Each lingering connection is an h2o socket on a
 * dup(2) of the refused connection's descriptor, on its worker's loop. */
#include "server/linger.h"

#include <stdlib.h>
#include <unistd.h>

typedef struct tg_linger {
    tg_worker_t *worker;
    h2o_socket_t *sock;
    h2o_timeout_entry_t deadline;
    h2o_linklist_t link; /* in worker->lingering */
} tg_linger_t;

static void linger_close(tg_linger_t *l)
{
    if (h2o_timeout_is_linked(&l->deadline))
        h2o_timeout_unlink(&l->deadline);
    h2o_linklist_unlink(&l->link);
    h2o_socket_close(l->sock);
    free(l);
}

static void on_linger_deadline(h2o_timeout_entry_t *entry)
{
    linger_close(H2O_STRUCT_FROM_MEMBER(tg_linger_t, deadline, entry));
}

/* What the client still sends is dropped as it comes: one read's worth
 * of memory at most. */
static void on_linger_read(h2o_socket_t *sock, const char *err)
{
    tg_linger_t *l = sock->data;
    if (err != NULL) {
        linger_close(l); /* the client closed or reset: it is done */
        return;
    }
    h2o_buffer_consume(&sock->input, sock->input->size);
}

void tg_linger_start(tg_worker_t *w, h2o_req_t *req)
{
    if (req->version >= 0x200 || req->conn->callbacks->get_socket == NULL)
        return;
    h2o_socket_t *conn_sock = req->conn->callbacks->get_socket(req->conn);
    if (conn_sock == NULL)
        return;
    int fd = dup(h2o_socket_get_fd(conn_sock));
    if (fd < 0)
        return; /* out of descriptors: h2o's plain close it is */
    tg_linger_t *l = calloc(1, sizeof(*l));
    if (l == NULL) {
        close(fd);
        return;
    }
    l->worker = w;
    l->sock = h2o_evloop_socket_create(w->ctx.loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    l->sock->data = l;
    l->deadline = (h2o_timeout_entry_t){.cb = on_linger_deadline};
    h2o_linklist_insert(&w->lingering, &l->link);
    h2o_timeout_link(w->ctx.loop, &w->linger_timeout, &l->deadline);
    h2o_socket_read_start(l->sock, on_linger_read);
}

void tg_linger_close_all(tg_worker_t *w)
{
    while (!h2o_linklist_is_empty(&w->lingering))
        linger_close(H2O_STRUCT_FROM_MEMBER(tg_linger_t, link, w->lingering.next));
}
