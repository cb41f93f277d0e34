/*  actors/cron.h — 5-field cron expressions evaluated in an IANA time zone.

    Syntax: "minute hour day-of-month month day-of-week", fields separated
    by spaces or tabs. Each field is a comma list of items:

      *        every value            a-b      a range (a <= b)
      n        one value              n/s      n, n+s, ... up to the maximum
      any of these followed by /s: every s-th value of it (s >= 1), so
      "star-slash-15" is 0,15,30,45 and 1-10/3 is 1,4,7,10

    Ranges: minute 0-59, hour 0-23, day-of-month 1-31, month 1-12 or
    JAN-DEC, day-of-week 0-7 or SUN-SAT (0 and 7 are Sunday). Names are
    case-insensitive and may appear in ranges (MON-FRI). The macros @yearly
    (@annually), @monthly, @weekly, @daily (@midnight) and @hourly are
    accepted; nothing else is (no seconds field, no L/W/#/?, no @reboot).

    Day matching follows Vixie cron: when both day-of-month and day-of-week
    are restricted (either field is anything but a bare "*"), a day matches
    if EITHER matches ("0 9 13 * FRI" = every 13th and every Friday); when
    one of them is "*", only the other one applies (a stepped "*" such as
    every-other-day counts as restricted). An expression with day-of-week
    "*" whose days of month never occur in its months ("0 0 30 2 *") is
    rejected.

    Time zones and daylight-saving time. Expressions describe local wall
    time in the schedule's zone. Fire instants are whole UTC seconds:
      * A local time skipped by a spring-forward gap fires once, at the
        instant that wall time would have had with the offset in effect
        before the gap: "30 2 * * *" in America/New_York on 2026-03-08
        fires at 07:30Z (= 03:30 EDT). If that instant is also the fire
        instant of a real wall time (03:30 here), it fires only once.
      * A local time that occurs twice (fall-back overlap) fires once, at
        its first occurrence: "30 1 * * *" in New York on 2026-11-01 fires
        at 05:30Z (01:30 EDT), not again at 06:30Z (01:30 EST). The same
        holds for every minute of the repeated hour ("* * * * *" pauses
        for that hour instead of firing twice).
      * zf_cron_next is strictly increasing: feeding a result back as
        `after` yields the next instant, never a duplicate, never an
        earlier one.

    Errors: zf_cron_parse returns ZF_EINVAL and writes a message naming the
    field, e.g. "minute: 61 is out of range 0-59", "day-of-week: unknown
    name \"FOO\"", "expected 5 fields (minute hour day-of-month month
    day-of-week), got 6". All functions are pure and thread-safe.
*/
#ifndef ZF_CRON_H
#define ZF_CRON_H

#include "actors/tz.h"

#include <stddef.h>
#include <stdint.h>

#define ZF_CRON_DOM_STAR 1  // day-of-month was a bare "*"
#define ZF_CRON_DOW_STAR 2  // day-of-week was a bare "*"

//  A parsed expression: one bit per allowed value.
typedef struct {
    uint64_t minute;  // bit m: minute m (0-59)
    uint32_t hour;    // bit h: hour h (0-23)
    uint32_t mday;    // bit d: day of month d (1-31)
    uint16_t month;   // bit m: month m (1-12)
    uint8_t wday;     // bit w: weekday w (0-6, Sunday = 0)
    uint8_t flags;    // ZF_CRON_DOM_STAR | ZF_CRON_DOW_STAR
} zf_cron_t;

//  Parses expr into *out. Returns 0, or ZF_EINVAL with a message in err
//  (err may be NULL; 160 bytes is plenty). Expressions longer than 256
//  bytes are rejected.
int zf_cron_parse(const char *expr, zf_cron_t *out, char *err, size_t errlen);

//  1 if the local wall time y-mon-mday hour:minute matches (Vixie day rule).
int zf_cron_matches(const zf_cron_t *c, int64_t y, int mon, int mday, int hour, int minute);

//  The first fire instant strictly after after_ms (Unix ms, UTC), as Unix
//  ms (always a whole second), evaluated in tz (NULL = UTC). Returns -1 if
//  there is none within 5*366 days of after_ms, or if after_ms lies
//  outside years 1-9994. Skips by month/day/hour/minute: a yearly
//  expression costs microseconds.
int64_t zf_cron_next(const zf_cron_t *c, const zf_tz_t *tz, int64_t after_ms);

#endif
