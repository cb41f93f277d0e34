/*  broker/errors.c — stable wire names of the project's error codes. */
#include "broker/errors.h"

#include <stdarg.h>
#include <stdio.h>

#include <string.h>

//  Indexed by -code; each name is what replies carry and dialects map.
static const char *const s_names[] = {
    [0] = "ok",
    [-ZF_EINVAL] = "validation",
    [-ZF_ENOTFOUND] = "not_found",
    [-ZF_ECONFLICT] = "conflict",
    [-ZF_EFORBIDDEN] = "forbidden",
    [-ZF_EUNAUTH] = "unauthorized",
    [-ZF_EUNAVAIL] = "unavailable",
    [-ZF_ELIMIT] = "too_large",
    [-ZF_ETIMEOUT] = "timeout",
    [-ZF_EIO] = "internal",
    [-ZF_ERATE] = "rate_limited",
    [-ZF_EUNSUPPORTED] = "not_implemented",
};

#define S_NAME_COUNT ((int)(sizeof(s_names) / sizeof(s_names[0])))

const char *
zf_err_name(int code)
{
    if (code > 0 || code <= -S_NAME_COUNT) return "internal";
    return s_names[-code];
}

int
zf_err_from_name(const char *name)
{
    if (!name) return ZF_EIO;
    for (int i = 0; i < S_NAME_COUNT; i++)
        if (strcmp(s_names[i], name) == 0) return -i;
    return ZF_EIO;
}

int
zf_errf(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return ZF_EINVAL;
}
