/* server.h: the HTTP front end. `tg_server_run` binds the listeners, starts
 * one h2o event loop per worker thread and then waits for signals on the
 * calling thread: SIGHUP reloads the configuration, SIGTERM/SIGINT drain
 * and stop. Internals shared by server.c and handler.c live in worker.h. */
#ifndef TOLLGATE_SERVER_SERVER_H
#define TOLLGATE_SERVER_SERVER_H

#include "config.h"

/* Takes ownership of cfg (already loaded from config_path). Returns the
 * process exit status: 0 after a graceful stop, 1 when it cannot start. */
int tg_server_run(const char *config_path, tg_config_t *cfg);

#endif
