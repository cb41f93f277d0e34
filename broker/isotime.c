/*  broker/isotime.c — ISO-8601 dates to Unix ms (see isotime.h). */
#include "broker/isotime.h"
#include "broker/errors.h"

#include <string.h>

//  Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
//  days_from_civil): pure arithmetic, no timegm/TZ environment games.
static long long
s_days_from_civil(long long y, unsigned m, unsigned d)
{
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long long)doe - 719468;
}

static int
s_days_in_month(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

//  Reads exactly n digits at *p; -1 if they are not there.
static int
s_digits(const char **p, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9') return -1;
        v = v * 10 + (c - '0');
    }
    *p += n;
    return v;
}

//  Parses the optional ".fff" fraction into ms (digits past 3 are dropped).
static int
s_parse_fraction(const char **p, long long *ms)
{
    if (**p != '.' && **p != ',') return 0;
    (*p)++;
    int n = 0, scale = 100;
    while (**p >= '0' && **p <= '9') {
        if (n < 3) *ms += (**p - '0') * scale;
        scale /= 10;
        n++;
        (*p)++;
    }
    return n >= 1 && n <= 9 ? 0 : ZF_EINVAL;
}

//  Parses "Z", "+HH:MM", "+HHMM", "+HH" or nothing (UTC) into seconds east.
static int
s_parse_offset(const char *p, long long *off_s)
{
    *off_s = 0;
    if (*p == '\0' || ((*p == 'Z' || *p == 'z') && p[1] == '\0')) return 0;
    if (*p != '+' && *p != '-') return ZF_EINVAL;
    int sign = *p++ == '-' ? -1 : 1;
    int hh = s_digits(&p, 2), mm = 0;
    if (*p == ':' || (*p >= '0' && *p <= '9')) {
        p += *p == ':';
        mm = s_digits(&p, 2);
    }
    if (hh < 0 || hh > 23 || mm < 0 || mm > 59 || *p) return ZF_EINVAL;
    *off_s = sign * (hh * 3600LL + mm * 60LL);
    return 0;
}

//  Parses "THH:MM[:SS[.fff]][offset]" into ms since midnight UTC shift.
static int
s_parse_time(const char *p, long long *ms_out)
{
    int hh = s_digits(&p, 2);
    if (hh < 0 || *p++ != ':') return ZF_EINVAL;
    int mi = s_digits(&p, 2), ss = 0;
    long long frac = 0, off = 0;
    if (*p == ':') {
        p++;
        ss = s_digits(&p, 2);
        if (ss < 0 || s_parse_fraction(&p, &frac) != 0) return ZF_EINVAL;
    }
    if (hh > 23 || mi < 0 || mi > 59 || ss > 59 || s_parse_offset(p, &off) != 0) return ZF_EINVAL;
    *ms_out = ((hh * 3600LL + mi * 60LL + ss) - off) * 1000 + frac;
    return 0;
}

int
zf_iso8601_ms(const char *s, long long *ms_out)
{
    if (!s || strlen(s) > 64) return ZF_EINVAL;
    const char *p = s;
    int y = s_digits(&p, 4);
    if (y < 0 || *p++ != '-') return ZF_EINVAL;
    int mo = s_digits(&p, 2);
    if (mo < 1 || mo > 12 || *p++ != '-') return ZF_EINVAL;
    int d = s_digits(&p, 2);
    if (d < 1 || d > s_days_in_month(y, mo)) return ZF_EINVAL;
    long long tod = 0;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        if (s_parse_time(p + 1, &tod) != 0) return ZF_EINVAL;
    } else if (*p) {
        return ZF_EINVAL;
    }
    if (ms_out) *ms_out = s_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400000LL + tod;
    return 0;
}
