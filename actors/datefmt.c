/*  actors/datefmt.c — see datefmt.h. Calendar arithmetic is tz.c's. */
#include "actors/datefmt.h"
#include "actors/expr.h"
#include "broker/isotime.h"
#include "actors/tz.h"
#include "broker/errors.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    int year, mon, day;      // civil date
    int hour, min, sec, ms;  // time of day
    int wday;                // 0 = Sunday
} s_tm_t;

//  Breaks Unix ms into a UTC date (calendar arithmetic shared with tz.c).
static void
s_tm_from_ms(long long ms, s_tm_t *tm)
{
    long long days = ms / ZF_DATE_DAY_MS, rem = ms % ZF_DATE_DAY_MS;
    int64_t year;
    if (rem < 0) {
        rem += ZF_DATE_DAY_MS;
        days--;
    }
    zf_tz_civil_from_days(days, &year, &tm->mon, &tm->day);
    tm->year = (int)year;
    tm->wday = zf_tz_weekday(days);
    tm->hour = (int)(rem / 3600000);
    tm->min = (int)(rem / 60000 % 60);
    tm->sec = (int)(rem / 1000 % 60);
    tm->ms = (int)(rem % 1000);
}

void
zf_date_iso(long long ms, char out[64])
{
    s_tm_t tm;
    s_tm_from_ms(ms, &tm);
    snprintf(out, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.year, tm.mon, tm.day, tm.hour,
             tm.min, tm.sec, tm.ms);
}

//  A date operand: ISO-8601 string (expr.c's parser) or Unix ms number.
int
zf_date_value_ms(const json_t *v, long long *ms)
{
    if (json_is_string(v)) {
        if (strlen(json_string_value(v)) != json_string_length(v) ||
            zf_iso8601_ms(json_string_value(v), ms) != 0)
            return ZF_EINVAL;
    } else if (json_is_integer(v)) {
        *ms = json_integer_value(v);
    } else if (json_is_real(v) && fabs(json_real_value(v)) < 1e15) {
        *ms = (long long)floor(json_real_value(v));
    } else {
        return ZF_EINVAL;
    }
    return *ms < ZF_DATE_MS_MIN || *ms > ZF_DATE_MS_MAX ? ZF_EINVAL : 0;
}

typedef enum {
    T_YEAR,
    T_YEAR2,
    T_MON,
    T_MONNAME,
    T_DAY,
    T_ORD,
    T_WDAY,
    T_DAYNAME,
    T_HOUR,
    T_H12,
    T_MIN,
    T_SEC,
    T_MS,
    T_AMPM,
    T_AMPM_LO,
    T_ZONE,
    T_ZONE_COLON
} s_field_t;

//  moment.js tokens, longest first so "MMMM" wins over "MM" and "Do" over "D".
static const struct {
    const char *tok;  // as written in the pattern
    s_field_t field;  // what it prints
    int width;        // zero-pad width (numbers) or letters kept (names; 0 = all)
} s_tokens[] = {
    {"YYYY", T_YEAR, 4},   {"MMMM", T_MONNAME, 0}, {"dddd", T_DAYNAME, 0}, {"SSS", T_MS, 3},
    {"MMM", T_MONNAME, 3}, {"ddd", T_DAYNAME, 3},  {"YY", T_YEAR2, 2},     {"MM", T_MON, 2},
    {"DD", T_DAY, 2},      {"Do", T_ORD, 0},       {"dd", T_DAYNAME, 2},   {"HH", T_HOUR, 2},
    {"hh", T_H12, 2},      {"mm", T_MIN, 2},       {"ss", T_SEC, 2},       {"ZZ", T_ZONE, 0},
    {"M", T_MON, 1},       {"D", T_DAY, 1},        {"d", T_WDAY, 1},       {"H", T_HOUR, 1},
    {"h", T_H12, 1},       {"m", T_MIN, 1},        {"s", T_SEC, 1},        {"A", T_AMPM, 0},
    {"a", T_AMPM_LO, 0},   {"Z", T_ZONE_COLON, 0},
};

static const char *const s_month_names[] = {"January",   "February", "March",    "April",
                                            "May",       "June",     "July",     "August",
                                            "September", "October",  "November", "December"};
static const char *const s_day_names[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                          "Thursday", "Friday", "Saturday"};

static const char *
s_ordinal_suffix(int n)
{
    if (n % 100 >= 11 && n % 100 <= 13) return "th";
    return n % 10 == 1 ? "st" : n % 10 == 2 ? "nd" : n % 10 == 3 ? "rd" : "th";
}

//  Writes one token's text for tm into out[32].
static void
s_token_text(const s_tm_t *tm, size_t t, char out[32])
{
    const int h12 = tm->hour % 12 ? tm->hour % 12 : 12;
    const int nums[] = {[T_YEAR] = tm->year, [T_YEAR2] = tm->year % 100, [T_MON] = tm->mon,
                        [T_DAY] = tm->day,   [T_WDAY] = tm->wday,        [T_HOUR] = tm->hour,
                        [T_H12] = h12,       [T_MIN] = tm->min,          [T_SEC] = tm->sec,
                        [T_MS] = tm->ms};
    int w = s_tokens[t].width;
    switch (s_tokens[t].field) {
    case T_MONNAME:
        snprintf(out, 32, "%.*s", w ? w : 16, s_month_names[tm->mon - 1]);
        break;
    case T_DAYNAME:
        snprintf(out, 32, "%.*s", w ? w : 16, s_day_names[tm->wday]);
        break;
    case T_ORD:
        snprintf(out, 32, "%d%s", tm->day, s_ordinal_suffix(tm->day));
        break;
    case T_AMPM:
    case T_AMPM_LO:
        if (s_tokens[t].field == T_AMPM)
            snprintf(out, 32, "%s", tm->hour < 12 ? "AM" : "PM");
        else
            snprintf(out, 32, "%s", tm->hour < 12 ? "am" : "pm");
        break;
    case T_ZONE:
    case T_ZONE_COLON:
        snprintf(out, 32, "%s", s_tokens[t].field == T_ZONE ? "+0000" : "+00:00");
        break;
    default:
        snprintf(out, 32, "%0*d", w, nums[s_tokens[t].field]);
    }
}

//  Appends n bytes to out (len used of cap); -1 when it does not fit.
static int
s_put(char *out, size_t cap, size_t *len, const char *s, size_t n)
{
    if (*len + n + 1 > cap) return -1;
    memcpy(out + *len, s, n);
    *len += n;
    out[*len] = '\0';
    return 0;
}

int
zf_date_format(long long ms, const char *fmt, char *out, size_t outlen)
{
    s_tm_t tm;
    char tmp[32];
    size_t len = 0;
    if (outlen == 0) return ZF_ELIMIT;
    out[0] = '\0';
    s_tm_from_ms(ms, &tm);
    for (const char *p = fmt; *p;) {
        const char *close = *p == '[' ? strchr(p + 1, ']') : NULL;
        int rc;
        if (close) {
            rc = s_put(out, outlen, &len, p + 1, (size_t)(close - p - 1));
            p = close + 1;
        } else {
            size_t t = 0, n = sizeof s_tokens / sizeof s_tokens[0];
            while (t < n && strncmp(p, s_tokens[t].tok, strlen(s_tokens[t].tok)) != 0)
                t++;
            if (t == n)
                rc = s_put(out, outlen, &len, p++, 1);
            else {
                s_token_text(&tm, t, tmp);
                rc = s_put(out, outlen, &len, tmp, strlen(tmp));
                p += strlen(s_tokens[t].tok);
            }
        }
        if (rc) return ZF_ELIMIT;
    }
    return 0;
}
