/* audit.h: the audit log line (docs/tenancy.md, "Audit log"): one JSON
 * line per action with logger "audit", written beside the entry the store
 * keeps in its audit table. Callable from any thread. */
#ifndef TOLLGATE_OBS_AUDIT_H
#define TOLLGATE_OBS_AUDIT_H

#include "store/store.h"

/* Writes e's line: level warn for failures (auth_failure,
 * admin_auth_failure), info for changes. Empty strings are written as
 * null; fields that do not apply to the action are left out. */
void tg_audit_log(const tg_audit_entry_t *e);

#endif
