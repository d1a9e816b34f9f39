/* multipart.h: just enough of multipart/form-data (RFC 7578) for the audio
 * transcription endpoint: the boundary of a Content-Type, and where the
 * value of one text field (the model) sits in the body, so that the
 * gateway can route on it and replace it, forwarding the rest (the audio
 * file) byte for byte. */
#ifndef TOLLGATE_PIPELINE_MULTIPART_H
#define TOLLGATE_PIPELINE_MULTIPART_H

#include <stdbool.h>
#include <stddef.h>

#include "pipeline/json_body.h"

/* The boundary parameter of a multipart/form-data Content-Type (quotes
 * removed); false when the type is something else or has none. */
bool tg_multipart_boundary(const char *content_type, size_t len, const char **boundary, size_t *boundary_len);

/* The value of the form field `name` (a part without a filename) in body:
 * its span, without the CRLF before the next boundary. false when absent
 * or when the body is not well formed up to it. */
bool tg_multipart_field(const char *body, size_t len, const char *boundary, size_t boundary_len, const char *name,
                        tg_span_t *value);

#endif
