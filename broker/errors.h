/*  broker/errors.h — the project's error codes.

    Every function that can fail returns 0 or one of these negative codes.
    Each code has a stable wire name (`not_found`, `validation`, ...) that
    replies carry and that every HTTP dialect maps to its own status/envelope.
*/
#ifndef ZF_ERRORS_H
#define ZF_ERRORS_H

#include <stddef.h>

enum {
    ZF_OK = 0,
    ZF_EINVAL = -1,        // "validation": the request is malformed or invalid
    ZF_ENOTFOUND = -2,     // "not_found": no such id for this tenant
    ZF_ECONFLICT = -3,     // "conflict": duplicate name, wrong state transition
    ZF_EFORBIDDEN = -4,    // "forbidden": role too weak for the operation
    ZF_EUNAUTH = -5,       // "unauthorized": missing or bad credentials
    ZF_EUNAVAIL = -6,      // "unavailable": overloaded or shutting down; retry
    ZF_ELIMIT = -7,        // "too_large": a size/depth/count limit was exceeded
    ZF_ETIMEOUT = -8,      // "timeout": a deadline passed
    ZF_EIO = -9,           // "internal": storage or system failure (no details leak)
    ZF_ERATE = -10,        // "rate_limited"
    ZF_EUNSUPPORTED = -11  // "not_implemented"
};

//  Stable wire name for an error code ("internal" for unknown codes).
const char *zf_err_name(int code);
//  Inverse of zf_err_name; unknown names map to ZF_EIO.
int zf_err_from_name(const char *name);
//  Writes a validation message into err (if err and errlen) and returns
//  ZF_EINVAL: `return zf_errf(err, errlen, "nodes[%zu]: ...", i);`.
int zf_errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
