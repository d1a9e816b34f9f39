/*
 * buckets.c - histogram bucket presets (seed 004's fast/medium/slow) and the
 * linear and exponential generators.
 */
#include <math.h>

#include "tally.h"

const double tally_buckets_default[11] = {.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10};
const double tally_buckets_fast[6] = {.01, .05, .1, .25, .5, 1};
const double tally_buckets_medium[6] = {.25, .5, 1, 2, 5, 10};
const double tally_buckets_slow[6] = {1, 5, 10, 30, 60, 120};

tally_err tally_buckets_linear(double *out, double start, double width, size_t count)
{
    if (!out || count == 0 || !(width > 0) || !isfinite(start) || !isfinite(width))
        return TALLY_ERR_BUCKETS;
    for (size_t i = 0; i < count; i++)
        out[i] = start + width * (double)i;
    return TALLY_OK;
}

tally_err tally_buckets_exponential(double *out, double start, double factor, size_t count)
{
    if (!out || count == 0 || !(start > 0) || !(factor > 1) || !isfinite(start) ||
        !isfinite(factor))
        return TALLY_ERR_BUCKETS;
    double v = start;
    for (size_t i = 0; i < count; i++, v *= factor)
        out[i] = v;
    return TALLY_OK;
}
