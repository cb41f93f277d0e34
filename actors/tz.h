/*  actors/tz.h — IANA time zones read from the system tzdata, thread-safe.

    A zone is loaded from a TZif file (RFC 8536, versions 1-4) under
    $ZONEINFO, default /usr/share/zoneinfo. Version 2+ files are read from
    their 64-bit section; instants after the last listed transition follow
    the POSIX TZ footer, so "slim" files work. Zones with leap-second
    records ("right/...") are refused. "UTC" and "Etc/UTC" are built in and
    work without tzdata.

    Names: 1-64 characters of [A-Za-z0-9_+-/], no leading or trailing '/',
    no empty or ".." component. Case-sensitive, as in the tz database.

    Ownership: zf_tz_get returns a borrowed, immutable zone that stays valid
    until zf_tz_shutdown(); every call with the same name returns the same
    pointer. All functions are safe to call from any thread (a mutex guards
    the cache; no setenv("TZ"), no localtime()). zf_tz_shutdown must not
    race with other calls; zones may be loaded again after it.
*/
#ifndef ZF_TZ_H
#define ZF_TZ_H

#include <stddef.h>
#include <stdint.h>

typedef struct zf_tz zf_tz_t;

#define ZF_TZ_NONE_BEFORE INT64_MIN  // zf_tz_prev_transition: none
#define ZF_TZ_NONE_AFTER  INT64_MAX  // zf_tz_next_transition: none

//  Loads (once) and returns the zone `name`, or NULL with a message in err
//  (`unknown timezone "Mars/Base"`, `invalid timezone name ...`, ...).
//  err may be NULL.
const zf_tz_t *zf_tz_get(const char *name, char *err, size_t errlen);

//  The built-in UTC zone (never NULL).
const zf_tz_t *zf_tz_utc(void);

//  The zone's name as given to zf_tz_get (borrowed).
const char *zf_tz_name(const zf_tz_t *tz);

//  1 if `name` is syntactically acceptable (says nothing about existence).
int zf_tz_name_valid(const char *name);

//  Seconds east of UTC in effect at Unix second utc_s; *is_dst (if not
//  NULL) is set to 1 during daylight-saving time.
int zf_tz_offset(const zf_tz_t *tz, int64_t utc_s, int *is_dst);

//  The latest transition instant <= utc_s, or ZF_TZ_NONE_BEFORE. The
//  offset in effect changes (or may change) at a transition: the instant
//  `t` itself already has the new offset.
int64_t zf_tz_prev_transition(const zf_tz_t *tz, int64_t utc_s);

//  The earliest transition instant > utc_s, or ZF_TZ_NONE_AFTER.
int64_t zf_tz_next_transition(const zf_tz_t *tz, int64_t utc_s);

//  Frees every loaded zone. Pointers from zf_tz_get become invalid.
void zf_tz_shutdown(void);

//  Proleptic Gregorian calendar helpers (shared with the cron module).
//  Days since 1970-01-01 for y-m-d (m 1-12, d 1-31); no validation.
int64_t zf_tz_days_from_civil(int64_t y, int m, int d);
//  Inverse of zf_tz_days_from_civil.
void zf_tz_civil_from_days(int64_t days, int64_t *y, int *m, int *d);
//  Day of week for days since 1970-01-01, Sunday = 0.
int zf_tz_weekday(int64_t days);
//  Days in month m (1-12) of year y.
int zf_tz_month_days(int64_t y, int m);

#endif
