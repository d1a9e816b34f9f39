/*
 * errors.c - English descriptions of tally's error codes.
 */
#include "tally.h"

const char *tally_strerror(int err)
{
    switch (err) {
    case TALLY_OK: return "success";
    case TALLY_ERR_NOMEM: return "out of memory";
    case TALLY_ERR_INVALID_NAME: return "invalid metric name";
    case TALLY_ERR_INVALID_LABEL: return "invalid label name";
    case TALLY_ERR_RESERVED_LABEL: return "reserved label name";
    case TALLY_ERR_DUPLICATE: return "metric family already registered";
    case TALLY_ERR_SUFFIX_CLASH: return "exposed sample names clash with another family";
    case TALLY_ERR_RESERVED_SUFFIX: return "name ends in a suffix reserved for another type";
    case TALLY_ERR_UNIT: return "invalid unit, or name does not end in _<unit>";
    case TALLY_ERR_DUPLICATE_LABEL: return "duplicate label name";
    case TALLY_ERR_LABEL_COUNT: return "wrong number of labels";
    case TALLY_ERR_INVALID_VALUE: return "invalid value";
    case TALLY_ERR_BUCKETS: return "invalid histogram buckets";
    case TALLY_ERR_QUANTILES: return "invalid summary quantiles or window";
    case TALLY_ERR_EXEMPLAR: return "invalid exemplar";
    case TALLY_ERR_NOT_FOUND: return "not found";
    case TALLY_ERR_FORMAT: return "invalid format or argument";
    case TALLY_ERR_IO: return "compression failed";
    case TALLY_ERR_UTF8: return "string is not valid UTF-8";
    default: return "unknown error";
    }
}
