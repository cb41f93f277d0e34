/*  actors/cron.c — cron parsing and DST-aware next-fire computation. */
#include "actors/cron.h"

#include "broker/errors.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define S_EXPR_MAX 256                                     // longest accepted expression
#define S_HORIZON  (5LL * 366 * 86400)                     // search no further ahead (s)
#define S_MS_MIN   (-62135596800000LL)                     // 0001-01-01T00:00:00Z
#define S_MS_MAX   (253402300799999LL - S_HORIZON * 1000)  // keep results < 10000

// =========================================================================
//  Parsing
// =========================================================================

//  One field's grammar.
typedef struct {
    const char *name;          // "minute", ... (used in messages)
    int min, max;              // accepted numeric range
    const char *const *names;  // 3-letter names for min.., or NULL
} s_field_t;

static const char *const s_months[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL",
                                       "AUG", "SEP", "OCT", "NOV", "DEC", NULL};
static const char *const s_days[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", NULL};

static const s_field_t s_fields[5] = {
    {"minute", 0, 59, NULL},    {"hour", 0, 23, NULL},         {"day-of-month", 1, 31, NULL},
    {"month", 1, 12, s_months}, {"day-of-week", 0, 7, s_days},
};

static const struct {
    const char *macro;  // "@daily", ...
    const char *expr;   // its 5-field equivalent
} s_macros[] = {
    {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

//  Parse state for one field: the text is [p, end).
typedef struct {
    const s_field_t *f;  // grammar
    const char *p;       // cursor
    const char *end;     // end of the field's text
    char *err;           // message buffer (may be NULL)
    size_t errlen;       // its size
} s_cursor_t;

static int s_fail(s_cursor_t *cur, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
s_fail(s_cursor_t *cur, const char *fmt, ...)
{
    if (cur->err && cur->errlen) {
        int n = snprintf(cur->err, cur->errlen, "%s: ", cur->f->name);
        va_list ap;
        va_start(ap, fmt);
        if (n >= 0 && (size_t)n < cur->errlen)
            vsnprintf(cur->err + n, cur->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return ZF_EINVAL;
}

//  Copies a token for a message: at most 24 printable bytes.
static void
s_quote(char out[32], const char *p, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k < 24; i++)
        out[k++] = isprint((unsigned char)p[i]) ? p[i] : '?';
    if (n > 24) memcpy(out + k, "...", 3), k += 3;
    out[k] = '\0';
}

//  Reads a number or (where allowed) a name at the cursor.
static int
s_parse_value(s_cursor_t *cur, int *out)
{
    const char *s = cur->p;
    char tok[32];
    if (cur->p < cur->end && isdigit((unsigned char)*cur->p)) {
        long v = 0;
        while (cur->p < cur->end && isdigit((unsigned char)*cur->p)) {
            if (v < 1000000) v = v * 10 + (*cur->p - '0');
            cur->p++;
        }
        if (v < cur->f->min || v > cur->f->max) {
            s_quote(tok, s, (size_t)(cur->p - s));
            return s_fail(cur, "%s is out of range %d-%d", tok, cur->f->min, cur->f->max);
        }
        *out = (int)v;
        return 0;
    }
    while (cur->p < cur->end && isalpha((unsigned char)*cur->p))
        cur->p++;
    size_t n = (size_t)(cur->p - s);
    s_quote(tok, s, n ? n : (size_t)(cur->end - s));
    if (n == 0) return s_fail(cur, "unexpected \"%s\"", tok);
    if (!cur->f->names) return s_fail(cur, "names are not allowed here (got \"%s\")", tok);
    for (int i = 0; n == 3 && cur->f->names[i]; i++)
        if (strncasecmp(s, cur->f->names[i], 3) == 0) return *out = cur->f->min + i, 0;
    return s_fail(cur, "unknown name \"%s\"", tok);
}

//  One list item: "*", "v", "a-b", each optionally followed by "/step".
static int
s_parse_item(s_cursor_t *cur, uint64_t *bits)
{
    int lo = cur->f->min, hi = cur->f->max, step = 1, rc;
    int single = 0;
    if (cur->p < cur->end && *cur->p == '*') {
        cur->p++;
    } else {
        if ((rc = s_parse_value(cur, &lo)) != 0) return rc;
        hi = lo;
        single = 1;
        if (cur->p < cur->end && *cur->p == '-') {
            cur->p++;
            if ((rc = s_parse_value(cur, &hi)) != 0) return rc;
            //  Sunday is 0 and 7: MON-SUN (1-0) means 1-7, as people read it.
            if (cur->f->max == 7 && hi == 0 && lo > 0) hi = 7;
            if (hi < lo) return s_fail(cur, "range %d-%d is reversed", lo, hi);
            single = 0;
        }
    }
    if (cur->p < cur->end && *cur->p == '/') {
        cur->p++;
        const char *s = cur->p;
        long v = 0;
        while (cur->p < cur->end && isdigit((unsigned char)*cur->p))
            v = v < 1000000 ? v * 10 + (*cur->p++ - '0') : (cur->p++, v);
        if (cur->p == s) return s_fail(cur, "step must be a number");
        if (v < 1) return s_fail(cur, "step 0 is invalid (must be 1 or more)");
        if (v > cur->f->max) {
            char tok[32];
            s_quote(tok, s, (size_t)(cur->p - s));
            return s_fail(cur, "step %s is out of range 1-%d", tok, cur->f->max);
        }
        step = (int)v;
        if (single) hi = cur->f->max;
    }
    for (int v = lo; v <= hi; v += step)
        *bits |= 1ULL << v;
    return 0;
}

static int
s_parse_field(s_cursor_t *cur, uint64_t *bits)
{
    *bits = 0;
    for (;;) {
        if (cur->p == cur->end || *cur->p == ',') return s_fail(cur, "empty list item");
        int rc = s_parse_item(cur, bits);
        if (rc != 0) return rc;
        if (cur->p == cur->end) return 0;
        if (*cur->p != ',') {
            char tok[32];
            s_quote(tok, cur->p, (size_t)(cur->end - cur->p));
            return s_fail(cur, "unexpected \"%s\"", tok);
        }
        cur->p++;
    }
}

//  Rejects a restricted day-of-month that no selected month can hold, when
//  day-of-week cannot rescue it (e.g. "0 0 30 2 *").
static int
s_check_days(const zf_cron_t *c, char *err, size_t errlen)
{
    if ((c->flags & ZF_CRON_DOM_STAR) || !(c->flags & ZF_CRON_DOW_STAR)) return 0;
    for (int m = 1; m <= 12; m++)
        if (c->month & (1u << m))
            for (int d = 1; d <= zf_tz_month_days(2000, m); d++)
                if (c->mday & (1u << d)) return 0;
    return zf_errf(err, errlen, "day-of-month: no selected day occurs in the selected months");
}

//  Splits the expression on blanks into exactly five fields and parses each.
static int
s_parse_fields(const char *expr, zf_cron_t *out, char *err, size_t errlen)
{
    const char *start[6], *stop[6];
    int n = 0;
    for (const char *p = expr; *p;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p) break;
        const char *s = p;
        while (*p && *p != ' ' && *p != '\t')
            p++;
        if (n < 6) start[n] = s, stop[n] = p;
        n++;
    }
    if (n == 0) return zf_errf(err, errlen, "empty cron expression");
    if (n != 5)
        return zf_errf(err, errlen,
                       "expected 5 fields (minute hour day-of-month month day-of-week), got %d", n);
    uint64_t bits[5];
    for (int i = 0; i < 5; i++) {
        s_cursor_t cur = {&s_fields[i], start[i], stop[i], err, errlen};
        int rc = s_parse_field(&cur, &bits[i]);
        if (rc != 0) return rc;
    }
    memset(out, 0, sizeof *out);
    out->minute = bits[0];
    out->hour = (uint32_t)bits[1];
    out->mday = (uint32_t)bits[2];
    out->month = (uint16_t)bits[3];
    out->wday = (uint8_t)((bits[4] | bits[4] >> 7) & 0x7f);  // 7 is Sunday
    if (stop[2] - start[2] == 1 && *start[2] == '*') out->flags |= ZF_CRON_DOM_STAR;
    if (stop[4] - start[4] == 1 && *start[4] == '*') out->flags |= ZF_CRON_DOW_STAR;
    return s_check_days(out, err, errlen);
}

int
zf_cron_parse(const char *expr, zf_cron_t *out, char *err, size_t errlen)
{
    if (err && errlen) err[0] = '\0';
    if (!expr || !out) return zf_errf(err, errlen, "missing cron expression");
    if (strlen(expr) > S_EXPR_MAX) return zf_errf(err, errlen, "cron expression is too long");
    const char *p = expr;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p != '@') return s_parse_fields(expr, out, err, errlen);
    size_t n = strcspn(p, " \t");
    const char *rest = p + n + strspn(p + n, " \t");
    for (size_t i = 0; i < sizeof s_macros / sizeof s_macros[0]; i++)
        if (strlen(s_macros[i].macro) == n && strncasecmp(p, s_macros[i].macro, n) == 0 && !*rest)
            return s_parse_fields(s_macros[i].expr, out, err, errlen);
    char tok[32];
    s_quote(tok, p, strlen(p));
    return zf_errf(err, errlen,
                   "unknown macro \"%s\" (use @yearly, @monthly, @weekly, @daily or @hourly)", tok);
}

// =========================================================================
//  Matching and searching
// =========================================================================

static int
s_day_matches(const zf_cron_t *c, int64_t days, int mday)
{
    int dom = (c->mday >> mday) & 1;
    int dow = (c->wday >> zf_tz_weekday(days)) & 1;
    if (c->flags & ZF_CRON_DOM_STAR) return dow;
    if (c->flags & ZF_CRON_DOW_STAR) return dom;
    return dom || dow;
}

int
zf_cron_matches(const zf_cron_t *c, int64_t y, int mon, int mday, int hour, int minute)
{
    if (mon < 1 || mon > 12 || mday < 1 || mday > zf_tz_month_days(y, mon) || hour < 0 ||
        hour > 23 || minute < 0 || minute > 59)
        return 0;
    return ((c->month >> mon) & 1) && ((c->hour >> hour) & 1) && ((c->minute >> minute) & 1) &&
           s_day_matches(c, zf_tz_days_from_civil(y, mon, mday), mday);
}

static int64_t
s_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

//  Lowest set bit >= from in mask, or -1.
static int
s_next_bit(uint64_t mask, int from)
{
    if (from >= 64) return -1;
    mask &= ~0ULL << from;
    return mask ? __builtin_ctzll(mask) : -1;
}

//  The first matching wall time (seconds of local time counted like Unix
//  time) in [lo, hi), or INT64_MAX. Jumps to the next candidate month, day,
//  hour or minute instead of stepping minute by minute.
static int64_t
s_search_wall(const zf_cron_t *c, int64_t lo, int64_t hi)
{
    int64_t w = s_floor_div(lo + 59, 60) * 60;
    while (w < hi) {
        int64_t days = s_floor_div(w, 86400), y;
        int sec = (int)(w - days * 86400), m, d, h = sec / 3600, mi = sec % 3600 / 60;
        zf_tz_civil_from_days(days, &y, &m, &d);
        if (!((c->month >> m) & 1)) {
            int nm = s_next_bit(c->month, m + 1);
            w = (nm < 0 ? zf_tz_days_from_civil(y + 1, s_next_bit(c->month, 1), 1)
                        : zf_tz_days_from_civil(y, nm, 1)) *
                86400;
        } else if (!s_day_matches(c, days, d)) {
            w = (days + 1) * 86400;
        } else if (!((c->hour >> h) & 1)) {
            int nh = s_next_bit(c->hour, h + 1);
            w = nh < 0 ? (days + 1) * 86400 : days * 86400 + nh * 3600;
        } else if (!((c->minute >> mi) & 1)) {
            int nmi = s_next_bit(c->minute, mi + 1);
            w = nmi < 0 ? days * 86400 + (h + 1) * 3600 : days * 86400 + h * 3600 + nmi * 60;
        } else {
            return w;
        }
    }
    return INT64_MAX;
}

//  One stretch of constant UTC offset [start, end) and the wall-time range
//  it is responsible for (see zf_cron_next).
typedef struct {
    int64_t start, end;        // transition instants (ZF_TZ_NONE_* when open)
    int off;                   // offset in effect, seconds east
    int64_t wall_lo, wall_hi;  // wall times [lo, hi) this stretch fires
} s_stretch_t;

//  The stretch containing instant x. Its wall range starts after any wall
//  time the previous stretch already showed (fall-back: the repeat is
//  skipped) and extends over the wall times a following spring-forward
//  gap skips (they fire with this stretch's offset, i.e. shifted later).
static void
s_stretch_at(const zf_tz_t *tz, int64_t x, s_stretch_t *st)
{
    st->start = zf_tz_prev_transition(tz, x);
    st->end = zf_tz_next_transition(tz, x);
    st->off = zf_tz_offset(tz, x, NULL);
    int prev = st->start == ZF_TZ_NONE_BEFORE ? st->off : zf_tz_offset(tz, st->start - 1, NULL);
    int next = st->end == ZF_TZ_NONE_AFTER ? st->off : zf_tz_offset(tz, st->end, NULL);
    st->wall_lo = st->start == ZF_TZ_NONE_BEFORE ? INT64_MIN / 2
                                                 : st->start + (prev > st->off ? prev : st->off);
    st->wall_hi =
        st->end == ZF_TZ_NONE_AFTER ? INT64_MAX / 2 : st->end + (next > st->off ? next : st->off);
}

//  Walks the stretches of constant offset from the one before `after`
//  (whose gap extension may reach past it) forward, searching each one's
//  wall range for the first match whose instant is > after, and keeps the
//  earliest instant. A stretch starting at or after the best instant
//  cannot improve it, which ends the walk.
int64_t
zf_cron_next(const zf_cron_t *c, const zf_tz_t *tz, int64_t after_ms)
{
    if (!c || after_ms < S_MS_MIN || after_ms > S_MS_MAX) return -1;
    if (!tz) tz = zf_tz_utc();
    int64_t u0 = s_floor_div(after_ms, 1000) + 1;  // earliest acceptable instant
    int64_t limit = u0 + S_HORIZON;                // latest acceptable instant
    int64_t best = INT64_MAX;
    int64_t s = zf_tz_prev_transition(tz, u0);
    int64_t x = s == ZF_TZ_NONE_BEFORE ? u0 : s - 1;
    for (;;) {
        s_stretch_t st;
        s_stretch_at(tz, x, &st);
        if (st.start != ZF_TZ_NONE_BEFORE && (st.start >= best || st.start > limit)) break;
        int64_t lo = st.wall_lo > u0 + st.off ? st.wall_lo : u0 + st.off;
        int64_t hi = st.wall_hi < limit + st.off + 1 ? st.wall_hi : limit + st.off + 1;
        if (lo < hi) {
            int64_t w = s_search_wall(c, lo, hi);
            if (w != INT64_MAX && w - st.off < best) best = w - st.off;
        }
        if (st.end == ZF_TZ_NONE_AFTER || st.end > limit) break;
        x = st.end;
    }
    return best == INT64_MAX ? -1 : best * 1000;
}
