/* dashboard.h: the built-in status page served at GET /dashboard
 * (docs/observability.md, "The status page"): one HTML document with its script and
 * style inline, generated into the build from obs/dashboard.html by
 * obs/embed.cmake. It polls /prometheus/metrics/summary?series=true and
 * fetches nothing else. */
#ifndef TOLLGATE_OBS_DASHBOARD_H
#define TOLLGATE_OBS_DASHBOARD_H

#include <stddef.h>

extern const unsigned char tg_dashboard_html[];
extern const size_t tg_dashboard_html_len;

#endif
