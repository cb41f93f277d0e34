/*  actors/datefmt.h — dates for templates: UTC, proleptic Gregorian,
    years 0000-9999, moment.js format tokens. */
#ifndef ZF_DATEFMT_H
#define ZF_DATEFMT_H

#include <jansson.h>
#include <stddef.h>

#define ZF_DATE_DAY_MS 86400000LL           // ms per day
#define ZF_DATE_MS_MIN (-62167219200000LL)  // 0000-01-01T00:00:00.000Z
#define ZF_DATE_MS_MAX 253402300799999LL    // 9999-12-31T23:59:59.999Z

//  A date operand: an ISO-8601 string or a Unix ms number, within years
//  0000-9999. 0 and *ms, or ZF_EINVAL.
int zf_date_value_ms(const json_t *v, long long *ms);
//  ISO-8601 UTC with ms: "2026-03-19T18:00:00.000Z".
void zf_date_iso(long long ms, char out[64]);
//  Formats ms with a moment.js pattern (tokens YYYY YY MMMM MMM MM M DD D
//  Do dddd ddd dd d HH H hh h mm m ss s SSS A a Z ZZ; "[text]" literal; any
//  other character stands for itself) into out. 0, or ZF_ELIMIT when the
//  result does not fit in outlen.
int zf_date_format(long long ms, const char *fmt, char *out, size_t outlen);

#endif
