/*  actors/tz.c — TZif reader, POSIX TZ rules and the zone cache. */
#include "actors/tz.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_NAME_MAX    64            // longest accepted zone name
#define S_FILE_MAX    (256 * 1024)  // largest TZif file we read
#define S_TIMES_MAX   65536         // most transitions in a file
#define S_CACHE_MAX   2048          // most distinct zones loaded at once
#define S_DEFAULT_DIR "/usr/share/zoneinfo"
#define S_T_MAX       (INT64_C(1) << 50)  // rule evaluation clamps |t| (~35 My)

// =========================================================================
//  Calendar
// =========================================================================

//  Howard Hinnant's days_from_civil: exact for the proleptic Gregorian
//  calendar over the whole int64 range we use (years -1e9..1e9).
int64_t
zf_tz_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void
zf_tz_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

int
zf_tz_weekday(int64_t days)
{
    int64_t w = (days + 4) % 7;  // 1970-01-01 was a Thursday
    return (int)(w < 0 ? w + 7 : w);
}

static int
s_is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int
zf_tz_month_days(int64_t y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && s_is_leap(y) ? 29 : days[m - 1];
}

static int64_t
s_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

// =========================================================================
//  POSIX TZ rules (the TZif footer)
// =========================================================================

typedef struct {
    char kind;     // 'J' Jn (1-365, no leap day), 'D' n (0-365), 'M' Mm.w.d
    int a, b, c;   // J/D: day in a; M: month a, week b (1-5), weekday c
    int32_t time;  // seconds after local midnight (-167h..167h)
} s_rule_date_t;

typedef struct {
    int valid;                 // 1 if the file had a usable footer
    int has_dst;               // 1 if the rule has a daylight-saving part
    int32_t std_off;           // standard offset, seconds east of UTC
    int32_t dst_off;           // daylight offset, seconds east of UTC
    s_rule_date_t start, end;  // DST starts / ends (local time)
} s_posix_t;

typedef struct {
    int64_t at;  // transition instant (Unix seconds)
    int dst;     // 1 if DST is in effect from `at`
} s_event_t;

static const char *
s_posix_name(const char *p)
{
    const char *s = p;
    if (*p == '<') {
        for (s = ++p; *p && *p != '>'; p++)
            if (!(*p == '+' || *p == '-' || (*p >= '0' && *p <= '9') || (*p >= 'A' && *p <= 'Z') ||
                  (*p >= 'a' && *p <= 'z')))
                return NULL;
        return *p == '>' && p - s >= 3 ? p + 1 : NULL;
    }
    while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))
        p++;
    return p - s >= 3 ? p : NULL;
}

//  [+-]h[h[h]][:mm[:ss]] into seconds; hours up to 167 (RFC 8536 §3.3.1).
static const char *
s_posix_hms(const char *p, int32_t *out)
{
    int sign = 1, part[3] = {0, 0, 0}, n = 0;
    if (*p == '+' || *p == '-') sign = *p++ == '-' ? -1 : 1;
    for (; n < 3; n++) {
        if (n > 0 && *p != ':') break;
        if (n > 0) p++;
        if (*p < '0' || *p > '9') return NULL;
        int digits = 0;
        for (; *p >= '0' && *p <= '9' && digits < 3; p++, digits++)
            part[n] = part[n] * 10 + (*p - '0');
    }
    if (part[0] > 167 || part[1] > 59 || part[2] > 59) return NULL;
    *out = sign * (part[0] * 3600 + part[1] * 60 + part[2]);
    return p;
}

static const char *
s_posix_num(const char *p, int *out, int lo, int hi)
{
    int v = 0, digits = 0;
    for (; *p >= '0' && *p <= '9' && digits < 4; p++, digits++)
        v = v * 10 + (*p - '0');
    if (digits == 0 || v < lo || v > hi) return NULL;
    *out = v;
    return p;
}

static const char *
s_posix_date(const char *p, s_rule_date_t *d)
{
    d->time = 7200;
    if (*p == 'J') {
        d->kind = 'J';
        p = s_posix_num(p + 1, &d->a, 1, 365);
    } else if (*p == 'M') {
        d->kind = 'M';
        p = s_posix_num(p + 1, &d->a, 1, 12);
        if (p && *p++ == '.')
            p = s_posix_num(p, &d->b, 1, 5);
        else
            p = NULL;
        if (p && *p++ == '.')
            p = s_posix_num(p, &d->c, 0, 6);
        else
            p = NULL;
    } else {
        d->kind = 'D';
        p = s_posix_num(p, &d->a, 0, 365);
    }
    if (p && *p == '/') p = s_posix_hms(p + 1, &d->time);
    return p;
}

//  Parses a TZ string such as "EST5EDT,M3.2.0,M11.1.0" or "<+0530>-5:30".
//  A DST name without rules gets the US rules, as glibc does.
static int
s_posix_parse(const char *p, s_posix_t *r)
{
    memset(r, 0, sizeof *r);
    int32_t off;
    if (!(p = s_posix_name(p)) || !(p = s_posix_hms(p, &off))) return -1;
    r->std_off = -off;
    if (*p == '\0') return r->valid = 1, 0;
    if (!(p = s_posix_name(p))) return -1;
    r->has_dst = 1;
    r->dst_off = r->std_off + 3600;
    if (*p && *p != ',') {
        if (!(p = s_posix_hms(p, &off))) return -1;
        r->dst_off = -off;
    }
    if (*p == '\0') p = ",M3.2.0,M11.1.0";
    if (*p++ != ',' || !(p = s_posix_date(p, &r->start))) return -1;
    if (*p++ != ',' || !(p = s_posix_date(p, &r->end))) return -1;
    if (*p != '\0') return -1;
    return r->valid = 1, 0;
}

//  Days since the epoch of a rule date in year y.
static int64_t
s_rule_day(const s_rule_date_t *d, int64_t y)
{
    int64_t jan1 = zf_tz_days_from_civil(y, 1, 1);
    if (d->kind == 'J') return jan1 + d->a - 1 + (s_is_leap(y) && d->a >= 60);
    if (d->kind == 'D') return jan1 + d->a;
    int64_t first = zf_tz_days_from_civil(y, d->a, 1);
    int64_t day = first + (d->c - zf_tz_weekday(first) + 7) % 7 + 7 * (d->b - 1);
    int mdays = zf_tz_month_days(y, d->a);
    while (day >= first + mdays)  // week 5 means "last"
        day -= 7;
    return day;
}

//  The DST start/end instants of years y-1..y+1, sorted by time; ties keep
//  year order, so the later year's state wins at an instant.
static void
s_posix_events(const s_posix_t *r, int64_t y, s_event_t ev[6])
{
    for (int i = 0; i < 3; i++) {
        int64_t yy = y - 1 + i;
        ev[2 * i].at = s_rule_day(&r->start, yy) * 86400 + r->start.time - r->std_off;
        ev[2 * i].dst = 1;
        ev[2 * i + 1].at = s_rule_day(&r->end, yy) * 86400 + r->end.time - r->dst_off;
        ev[2 * i + 1].dst = 0;
        if (ev[2 * i + 1].at < ev[2 * i].at) {  // southern hemisphere
            s_event_t t = ev[2 * i];
            ev[2 * i] = ev[2 * i + 1];
            ev[2 * i + 1] = t;
        }
    }
    for (int i = 1; i < 6; i++)
        for (int j = i; j > 0 && ev[j].at < ev[j - 1].at; j--) {
            s_event_t t = ev[j];
            ev[j] = ev[j - 1];
            ev[j - 1] = t;
        }
}

static int64_t
s_year_of(int64_t t)
{
    int64_t y;
    int m, d;
    zf_tz_civil_from_days(s_floor_div(t, 86400), &y, &m, &d);
    return y;
}

//  Index of the last event <= t, or -1.
static int
s_posix_locate(const s_posix_t *r, int64_t t, s_event_t ev[6])
{
    if (t > S_T_MAX) t = S_T_MAX;  // keep the calendar arithmetic far from overflow
    if (t < -S_T_MAX) t = -S_T_MAX;
    s_posix_events(r, s_year_of(t), ev);
    int k = -1;
    for (int i = 0; i < 6; i++)
        if (ev[i].at <= t) k = i;
    return k;
}

static int32_t
s_posix_offset(const s_posix_t *r, int64_t t, int *is_dst)
{
    int dst = 0;
    if (r->has_dst) {
        s_event_t ev[6];
        int k = s_posix_locate(r, t, ev);
        dst = k >= 0 ? ev[k].dst : !ev[0].dst;
    }
    if (is_dst) *is_dst = dst;
    return dst ? r->dst_off : r->std_off;
}

// =========================================================================
//  Zones
// =========================================================================

typedef struct {
    int32_t utoff;  // seconds east of UTC
    uint8_t isdst;  // 1 during daylight-saving time
} s_ttype_t;

struct zf_tz {
    char name[S_NAME_MAX + 1];  // as requested
    int64_t *times;             // transition instants, strictly ascending
    uint8_t *idx;               // per transition: index into types
    size_t ntimes;              // entries of times/idx
    s_ttype_t *types;           // local time types (at least one)
    size_t ntypes;              // entries of types
    s_posix_t rule;             // footer rule for instants after times[]
};

static s_ttype_t s_utc_type = {0, 0};
static struct zf_tz s_utc = {.name = "UTC", .types = &s_utc_type, .ntypes = 1};
static struct zf_tz s_etc_utc = {.name = "Etc/UTC", .types = &s_utc_type, .ntypes = 1};

static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static zf_tz_t **s_zones;  // loaded zones, guarded by s_lock
static size_t s_nzones;    // entries of s_zones

const zf_tz_t *
zf_tz_utc(void)
{
    return &s_utc;
}

const char *
zf_tz_name(const zf_tz_t *tz)
{
    return tz->name;
}

int
zf_tz_name_valid(const char *name)
{
    if (!name || !*name || strlen(name) > S_NAME_MAX) return 0;
    //  Files of the zoneinfo directory that are not IANA zones: the host's
    //  own zone (differs per machine), tzcode's rule template, the
    //  "Factory" placeholder, and the posix/ and right/ trees (right/
    //  counts leap seconds, which Unix time does not).
    static const char *const not_zones[] = {"localtime", "posixrules", "Factory", NULL};
    for (int i = 0; not_zones[i]; i++)
        if (strcmp(name, not_zones[i]) == 0) return 0;
    if (strncmp(name, "posix/", 6) == 0 || strncmp(name, "right/", 6) == 0) return 0;
    const char *comp = name;
    for (const char *p = name;; p++) {
        if (*p == '/' || *p == '\0') {
            size_t n = (size_t)(p - comp);
            if (n == 0 || (n == 2 && comp[0] == '.' && comp[1] == '.')) return 0;
            if (*p == '\0') return 1;
            comp = p + 1;
        } else if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                     (*p >= '0' && *p <= '9') || *p == '_' || *p == '+' || *p == '-')) {
            return 0;
        }
    }
}

//  Index of the last transition <= t, or -1 (binary search).
static ptrdiff_t
s_find(const zf_tz_t *tz, int64_t t)
{
    ptrdiff_t lo = 0, hi = (ptrdiff_t)tz->ntimes;  // answer in [lo-1, hi-1]
    while (lo < hi) {
        ptrdiff_t mid = lo + (hi - lo) / 2;
        if (tz->times[mid] <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo - 1;
}

//  1 if t is governed by the footer rule rather than the table.
static int
s_uses_rule(const zf_tz_t *tz, ptrdiff_t i)
{
    return tz->rule.valid && (tz->ntimes == 0 || i == (ptrdiff_t)tz->ntimes - 1);
}

int
zf_tz_offset(const zf_tz_t *tz, int64_t utc_s, int *is_dst)
{
    ptrdiff_t i = s_find(tz, utc_s);
    if (s_uses_rule(tz, i)) return s_posix_offset(&tz->rule, utc_s, is_dst);
    const s_ttype_t *ty = &tz->types[i < 0 ? 0 : tz->idx[i]];
    if (is_dst) *is_dst = ty->isdst;
    return ty->utoff;
}

int64_t
zf_tz_prev_transition(const zf_tz_t *tz, int64_t utc_s)
{
    ptrdiff_t i = s_find(tz, utc_s);
    int64_t best = i < 0 ? ZF_TZ_NONE_BEFORE : tz->times[i];
    if (s_uses_rule(tz, i) && tz->rule.has_dst) {
        s_event_t ev[6];
        int k = s_posix_locate(&tz->rule, utc_s, ev);
        if (k >= 0 && ev[k].at > best) best = ev[k].at;
    }
    return best;
}

int64_t
zf_tz_next_transition(const zf_tz_t *tz, int64_t utc_s)
{
    ptrdiff_t i = s_find(tz, utc_s);
    if (i + 1 < (ptrdiff_t)tz->ntimes) return tz->times[i + 1];
    if (!tz->rule.valid || !tz->rule.has_dst) return ZF_TZ_NONE_AFTER;
    s_event_t ev[6];
    int k = s_posix_locate(&tz->rule, utc_s, ev);
    return k + 1 < 6 ? ev[k + 1].at : ZF_TZ_NONE_AFTER;
}

// =========================================================================
//  TZif parsing
// =========================================================================

typedef struct {
    const uint8_t *p;  // file bytes
    size_t len;        // file size
    size_t pos;        // read position
} s_reader_t;

static int64_t
s_be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    if (n == 4) return (int32_t)(uint32_t)v;
    return (int64_t)v;
}

//  Reads a 44-byte header; counts[] = isut, isstd, leap, time, type, char.
static int
s_read_header(s_reader_t *r, int *version, uint32_t counts[6])
{
    if (r->len - r->pos < 44 || memcmp(r->p + r->pos, "TZif", 4) != 0) return -1;
    uint8_t v = r->p[r->pos + 4];
    *version = v == 0 ? 1 : v - '0';
    if (*version < 1 || *version > 9) return -1;
    for (int i = 0; i < 6; i++)
        counts[i] = (uint32_t)s_be(r->p + r->pos + 20 + 4 * i, 4);
    r->pos += 44;
    return 0;
}

static size_t
s_block_size(const uint32_t c[6], int tsize)
{
    return (size_t)c[3] * (size_t)tsize + c[3] + (size_t)c[4] * 6 + c[5] +
           (size_t)c[2] * (size_t)(tsize + 4) + c[1] + c[0];
}

//  Decodes one data block into tz; validates every index and ordering.
static int
s_read_block(s_reader_t *r, const uint32_t c[6], int tsize, zf_tz_t *tz, const char **why)
{
    if (c[3] > S_TIMES_MAX || c[4] == 0 || c[4] > 256) return *why = "bad counts", -1;
    if (c[2] > 0) return *why = "leap-second zones are not supported", -1;
    if (r->len - r->pos < s_block_size(c, tsize)) return *why = "truncated", -1;
    const uint8_t *p = r->p + r->pos;
    tz->ntimes = c[3];
    tz->ntypes = c[4];
    tz->times = calloc(tz->ntimes + 1, sizeof *tz->times);
    tz->idx = calloc(tz->ntimes + 1, 1);
    tz->types = calloc(tz->ntypes, sizeof *tz->types);
    if (!tz->times || !tz->idx || !tz->types) abort();
    for (size_t i = 0; i < tz->ntimes; i++, p += tsize) {
        tz->times[i] = s_be(p, tsize);
        if (i > 0 && tz->times[i] <= tz->times[i - 1]) return *why = "unordered", -1;
    }
    for (size_t i = 0; i < tz->ntimes; i++, p++) {
        tz->idx[i] = *p;
        if (*p >= tz->ntypes) return *why = "bad type index", -1;
    }
    for (size_t i = 0; i < tz->ntypes; i++, p += 6) {
        int64_t off = s_be(p, 4);
        if (off <= -100000 || off >= 100000 || p[4] > 1) return *why = "bad local time type", -1;
        tz->types[i].utoff = (int32_t)off;
        tz->types[i].isdst = p[4];
    }
    r->pos += s_block_size(c, tsize);
    return 0;
}

static int
s_parse_tzif(const uint8_t *buf, size_t len, zf_tz_t *tz, const char **why)
{
    s_reader_t r = {buf, len, 0};
    int version;
    uint32_t c[6];
    if (s_read_header(&r, &version, c) != 0) return *why = "not a TZif file", -1;
    if (version >= 2) {
        if (len - r.pos < s_block_size(c, 4)) return *why = "truncated", -1;
        r.pos += s_block_size(c, 4);
        if (s_read_header(&r, &version, c) != 0) return *why = "bad v2 header", -1;
    }
    if (s_read_block(&r, c, version >= 2 ? 8 : 4, tz, why) != 0) return -1;
    if (version < 2) return 0;
    if (r.pos >= len || buf[r.pos] != '\n') return *why = "missing footer", -1;
    const uint8_t *nl = memchr(buf + r.pos + 1, '\n', len - r.pos - 1);
    size_t flen = nl ? (size_t)(nl - (buf + r.pos + 1)) : 0;
    if (!nl || flen > 128) return *why = "bad footer", -1;
    char footer[129];
    memcpy(footer, buf + r.pos + 1, flen);
    footer[flen] = '\0';
    if (flen > 0 && s_posix_parse(footer, &tz->rule) != 0) return *why = "bad footer rule", -1;
    return 0;
}

static void
s_zone_free(zf_tz_t *tz)
{
    if (!tz) return;
    free(tz->times);
    free(tz->idx);
    free(tz->types);
    free(tz);
}

//  Reads <dir>/<name> (a regular file, bounded size) into a new buffer.
static uint8_t *
s_read_file(const char *name, size_t *len, int *missing)
{
    const char *dir = getenv("ZONEINFO");
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : S_DEFAULT_DIR, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    *missing = 1;
    if (fd < 0) return NULL;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > S_FILE_MAX) {
        close(fd);
        return NULL;
    }
    *missing = 0;
    uint8_t *buf = malloc((size_t)st.st_size + 1);
    if (!buf) abort();
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
    }
    close(fd);
    *len = got;
    return buf;
}

static zf_tz_t *
s_zone_load(const char *name, char *err, size_t errlen)
{
    size_t len = 0;
    int missing;
    uint8_t *buf = s_read_file(name, &len, &missing);
    if (!buf) {
        if (err) snprintf(err, errlen, "unknown timezone \"%s\"", name);
        return NULL;
    }
    zf_tz_t *tz = calloc(1, sizeof *tz);
    if (!tz) abort();
    snprintf(tz->name, sizeof tz->name, "%s", name);
    const char *why = NULL;
    int rc = s_parse_tzif(buf, len, tz, &why);
    free(buf);
    if (rc != 0) {
        if (err) snprintf(err, errlen, "timezone \"%s\": %s", name, why);
        s_zone_free(tz);
        return NULL;
    }
    return tz;
}

static zf_tz_t *
s_cache_find(const char *name)
{
    for (size_t i = 0; i < s_nzones; i++)
        if (strcmp(s_zones[i]->name, name) == 0) return s_zones[i];
    return NULL;
}

//  Looks the zone up under the lock, loads it outside the lock (file I/O),
//  then inserts it unless another thread won the race.
const zf_tz_t *
zf_tz_get(const char *name, char *err, size_t errlen)
{
    if (!zf_tz_name_valid(name)) {
        if (err) snprintf(err, errlen, "invalid timezone name (expected e.g. \"Europe/Berlin\")");
        return NULL;
    }
    if (strcmp(name, "UTC") == 0) return &s_utc;
    if (strcmp(name, "Etc/UTC") == 0) return &s_etc_utc;
    pthread_mutex_lock(&s_lock);
    zf_tz_t *tz = s_cache_find(name);
    pthread_mutex_unlock(&s_lock);
    if (tz) return tz;
    zf_tz_t *fresh = s_zone_load(name, err, errlen);
    if (!fresh) return NULL;
    pthread_mutex_lock(&s_lock);
    tz = s_cache_find(name);
    if (!tz && s_nzones < S_CACHE_MAX) {
        zf_tz_t **grown = realloc(s_zones, (s_nzones + 1) * sizeof *s_zones);
        if (!grown) abort();
        s_zones = grown;
        s_zones[s_nzones++] = tz = fresh;
        fresh = NULL;
    }
    pthread_mutex_unlock(&s_lock);
    s_zone_free(fresh);
    if (!tz && err) snprintf(err, errlen, "too many timezones loaded");
    return tz;
}

void
zf_tz_shutdown(void)
{
    pthread_mutex_lock(&s_lock);
    for (size_t i = 0; i < s_nzones; i++)
        s_zone_free(s_zones[i]);
    free(s_zones);
    s_zones = NULL;
    s_nzones = 0;
    pthread_mutex_unlock(&s_lock);
}
