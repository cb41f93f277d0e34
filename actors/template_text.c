/*  actors/template_text.c — template output and filters: the error
    context, the bounded output buffer, values as text or JSON, and the
    filter table (uppercase, lowercase, add_days, date_format, default,
    json, truncate) with their argument checks.
*/
#include "actors/template_int.h"

#include "actors/datefmt.h"
#include "actors/tz.h"
#include "broker/errors.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_FMT_MAX    256        // bytes of a date_format pattern
#define S_DUMP_DEPTH 512        // nesting of a value written as JSON text
#define S_DAYS_MAX   3650000LL  // |N| of add_days

// =========================================================================
//  Context, errors, output buffer
// =========================================================================

//  Records the first error (later ones would only hide the cause).
int
zf_tpl_errf(zf_tpl_ctx_t *ctx, int rc, const char *fmt, ...)
{
    if (ctx->rc) return rc;
    ctx->rc = rc;
    if (!ctx->err || ctx->errlen == 0) return rc;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->err, ctx->errlen, fmt, ap);
    va_end(ap);
    return rc;
}

//  An evaluation error of the filter being applied.
int
zf_tpl_ferr(zf_tpl_ctx_t *ctx, const char *fmt, ...)
{
    char msg[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return zf_tpl_errf(ctx, ZF_EINVAL, "offset %zu: filter '%s': %s", ctx->off, ctx->fname, msg);
}

//  Copies up to 40 bytes of untrusted text for a message: printable ASCII
//  only, so an error string is always valid UTF-8.
void
zf_tpl_snip(const char *s, size_t n, char out[48])
{
    size_t i = 0;
    for (; i < n && i < 40; i++)
        out[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
    out[i] = '\0';
    if (n > 40) strcpy(out + i, "...");
}

//  Appends n bytes unless that would pass the limit (ZF_ELIMIT).
int
zf_tpl_buf_put(zf_tpl_buf_t *b, const char *s, size_t n)
{
    size_t used = b->budget ? *b->budget : b->len;
    if (n > b->limit - used) return ZF_ELIMIT;
    if (b->budget) *b->budget += n;
    if (!b->count_only && n > 0) {
        if (b->len + n > b->cap) {
            size_t cap = b->cap ? b->cap * 2 : 64;
            while (cap < b->len + n)
                cap *= 2;
            b->data = realloc(b->data, cap);
            if (!b->data) abort();
            b->cap = cap;
        }
        memcpy(b->data + b->len, s, n);
    }
    b->len += n;
    return 0;
}

static int
s_buf_str(zf_tpl_buf_t *b, const char *s)
{
    return zf_tpl_buf_put(b, s, strlen(s));
}

// =========================================================================
//  Values as text
// =========================================================================

//  Shortest text that reads back as the same number; integers (and
//  integral reals) without ".0".
static size_t
s_number_text(const json_t *v, char out[32])
{
    if (json_is_integer(v))
        return (size_t)snprintf(out, 32, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    double d = json_real_value(v);
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, 32, "%.*g", prec, d);
        if (strtod(out, NULL) == d) break;
    }
    return strlen(out);
}

//  Text of a string, number or boolean (into num when needed); NULL for
//  null, objects and arrays.
static const char *
s_scalar_text(const json_t *v, char num[32], size_t *n)
{
    if (json_is_string(v)) {
        *n = json_string_length(v);
        return json_string_value(v);
    }
    if (json_is_number(v)) {
        *n = s_number_text(v, num);
        return num;
    }
    if (json_is_boolean(v)) {
        *n = json_is_true(v) ? 4 : 5;
        return json_is_true(v) ? "true" : "false";
    }
    return NULL;
}

static int
s_put_json_string(zf_tpl_buf_t *b, const char *s, size_t n)
{
    ZF_TPL_TRY(zf_tpl_buf_put(b, "\"", 1));
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c != '"' && c != '\\' && c >= 0x20) continue;
        ZF_TPL_TRY(zf_tpl_buf_put(b, s + run, i - run));
        run = i + 1;
        char esc[8];
        const char *named = c == '"'    ? "\\\""
                            : c == '\\' ? "\\\\"
                            : c == '\n' ? "\\n"
                            : c == '\r' ? "\\r"
                            : c == '\t' ? "\\t"
                                        : NULL;
        if (!named) snprintf(esc, sizeof esc, "\\u%04x", c);
        ZF_TPL_TRY(s_buf_str(b, named ? named : esc));
    }
    ZF_TPL_TRY(zf_tpl_buf_put(b, s + run, n - run));
    return zf_tpl_buf_put(b, "\"", 1);
}

//  Compact JSON with shortest numbers (jansson prints 0.1 as
//  0.10000000000000001). Depth is bounded so hostile data cannot exhaust
//  the stack; ZF_ELIMIT on depth or size.
int
zf_tpl_put_json(zf_tpl_buf_t *b, const json_t *v, int depth)
{
    char num[32];
    size_t n;
    const char *key;
    json_t *x;
    size_t i;
    if (depth > S_DUMP_DEPTH) return ZF_ELIMIT;
    if (json_is_string(v)) return s_put_json_string(b, json_string_value(v), json_string_length(v));
    if (json_is_null(v)) return s_buf_str(b, "null");
    if (json_is_object(v)) {
        int first = 1;
        ZF_TPL_TRY(s_buf_str(b, "{"));
        json_object_foreach ((json_t *)v, key, x) {
            if (!first) ZF_TPL_TRY(s_buf_str(b, ","));
            first = 0;
            ZF_TPL_TRY(s_put_json_string(b, key, strlen(key)));
            ZF_TPL_TRY(s_buf_str(b, ":"));
            ZF_TPL_TRY(zf_tpl_put_json(b, x, depth + 1));
        }
        return s_buf_str(b, "}");
    }
    if (json_is_array(v)) {
        ZF_TPL_TRY(s_buf_str(b, "["));
        json_array_foreach ((json_t *)v, i, x) {
            if (i > 0) ZF_TPL_TRY(s_buf_str(b, ","));
            ZF_TPL_TRY(zf_tpl_put_json(b, x, depth + 1));
        }
        return s_buf_str(b, "]");
    }
    const char *s = s_scalar_text(v, num, &n);
    return zf_tpl_buf_put(b, s, n);
}

//  Interpolation: strings as is, null/absent as nothing, containers as JSON.
int
zf_tpl_put_text(zf_tpl_buf_t *b, const json_t *v)
{
    char num[32];
    size_t n;
    if (!v || json_is_null(v)) return 0;
    const char *s = s_scalar_text(v, num, &n);
    return s ? zf_tpl_buf_put(b, s, n) : zf_tpl_put_json(b, v, 0);
}

// =========================================================================
//  Filters
// =========================================================================

//  An integer argument: a JSON integer, an integral real or a decimal
//  string ("3"), within [lo, hi]. 0 ok, -1 otherwise.
static int
s_arg_int(const json_t *arg, long long lo, long long hi, long long *out)
{
    long long n;
    if (json_is_integer(arg)) {
        n = json_integer_value(arg);
    } else if (json_is_real(arg) && fabs(json_real_value(arg)) < 9e15 &&
               floor(json_real_value(arg)) == json_real_value(arg)) {
        n = (long long)json_real_value(arg);
    } else if (json_is_string(arg) && json_string_length(arg) > 0 &&
               json_string_length(arg) <= 20) {
        char *end;
        errno = 0;
        n = strtoll(json_string_value(arg), &end, 10);
        if (errno || *end || !strchr("-0123456789", json_string_value(arg)[0])) return -1;
    } else {
        return -1;
    }
    if (n < lo || n > hi) return -1;
    *out = n;
    return 0;
}

static const char *
s_check_days(const json_t *arg)
{
    long long n;
    return s_arg_int(arg, -S_DAYS_MAX, S_DAYS_MAX, &n) ? "needs an integer number of days" : NULL;
}

static const char *
s_check_count(const json_t *arg)
{
    long long n;
    return s_arg_int(arg, 0, LLONG_MAX, &n) ? "needs a non-negative integer" : NULL;
}

static const char *
s_check_format(const json_t *arg)
{
    if (!json_is_string(arg)) return "needs a format string";
    if (json_string_length(arg) > S_FMT_MAX ||
        strlen(json_string_value(arg)) != json_string_length(arg))
        return "format longer than 256 bytes or holding a NUL";
    return NULL;
}

static const char *
s_check_any(const json_t *arg)
{
    (void)arg;
    return NULL;
}

static const char *
s_type_name(const json_t *v)
{
    static const char *const names[] = {
        [JSON_OBJECT] = "an object", [JSON_ARRAY] = "an array", [JSON_STRING] = "a string",
        [JSON_INTEGER] = "a number", [JSON_REAL] = "a number",  [JSON_TRUE] = "a boolean",
        [JSON_FALSE] = "a boolean",  [JSON_NULL] = "null"};
    return v ? names[json_typeof(v)] : "nothing";
}

//  Replaces *v with fresh (taking it); fails if fresh is NULL (bad UTF-8).
static int
s_replace(zf_tpl_ctx_t *ctx, json_t **v, json_t *fresh)
{
    if (!fresh) return zf_tpl_ferr(ctx, "result is not valid UTF-8");
    json_decref(*v);
    *v = fresh;
    return 0;
}

static int
s_not_date(zf_tpl_ctx_t *ctx, const json_t *v)
{
    char snip[48];
    if (!json_is_string(v))
        return zf_tpl_ferr(ctx, "needs a date (ISO-8601 string or Unix ms), got %s",
                           s_type_name(v));
    zf_tpl_snip(json_string_value(v), json_string_length(v), snip);
    return zf_tpl_ferr(ctx, "'%s' is not an ISO-8601 date in years 0000-9999", snip);
}

//  ASCII case mapping; bytes >= 0x80 (UTF-8) are left as they are.
static int
s_f_case(zf_tpl_ctx_t *ctx, json_t **v, int upper)
{
    char num[32];
    size_t n;
    if (!*v || json_is_null(*v)) return 0;
    const char *s = s_scalar_text(*v, num, &n);
    if (!s) return zf_tpl_ferr(ctx, "needs a string, got %s", s_type_name(*v));
    char *out = malloc(n + 1);
    if (!out) abort();
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (upper && c >= 'a' && c <= 'z') c = (char)(c - 32);
        if (!upper && c >= 'A' && c <= 'Z') c = (char)(c + 32);
        out[i] = c;
    }
    int rc = s_replace(ctx, v, json_stringn(out, n));
    free(out);
    return rc;
}

static int
s_f_upper(zf_tpl_ctx_t *ctx, json_t **v, const json_t *arg)
{
    (void)arg;
    return s_f_case(ctx, v, 1);
}

static int
s_f_lower(zf_tpl_ctx_t *ctx, json_t **v, const json_t *arg)
{
    (void)arg;
    return s_f_case(ctx, v, 0);
}

static int
s_f_add_days(zf_tpl_ctx_t *ctx, json_t **v, const json_t *arg)
{
    long long days = 0, ms;
    char iso[64];
    if (!*v || json_is_null(*v)) return 0;
    s_arg_int(arg, -S_DAYS_MAX, S_DAYS_MAX, &days);
    if (zf_date_value_ms(*v, &ms) != 0) return s_not_date(ctx, *v);
    ms += days * ZF_DATE_DAY_MS;
    if (ms < ZF_DATE_MS_MIN || ms > ZF_DATE_MS_MAX)
        return zf_tpl_ferr(ctx, "result is outside years 0000-9999");
    zf_date_iso(ms, iso);
    return s_replace(ctx, v, json_string(iso));
}

static int
s_f_date_format(zf_tpl_ctx_t *ctx, json_t **v, const json_t *arg)
{
    long long ms;
    if (!*v || json_is_null(*v)) return 0;
    if (zf_date_value_ms(*v, &ms) != 0) return s_not_date(ctx, *v);
    char out[16 * S_FMT_MAX];
    if (zf_date_format(ms, json_string_value(arg), out, sizeof out) != 0)
        return zf_tpl_ferr(ctx, "formatted date too long");
    return s_replace(ctx, v, json_string(out));
}

//  default: the argument when the value is absent, null or "".
static int
s_f_default(zf_tpl_ctx_t *ctx, json_t **v, const json_t *arg)
{
    (void)ctx;
    if (*v && !json_is_null(*v) && !(json_is_string(*v) && json_string_length(*v) == 0)) return 0;
    json_decref(*v);
    *v = arg ? json_incref((json_t *)arg) : NULL;
    return 0;
}

static int
s_f_json(zf_tpl_ctx_t *ctx, json_t **v, const json_t *arg)
{
    (void)arg;
    zf_tpl_buf_t b = {.limit = ZF_TPL_OUTPUT_MAX};
    int rc = *v ? zf_tpl_put_json(&b, *v, 0) : s_buf_str(&b, "null");
    if (rc == 0)
        rc = s_replace(ctx, v, json_stringn(b.data, b.len));
    else
        rc = zf_tpl_ferr(ctx, "value larger than 256 KiB or nested deeper than 512");
    free(b.data);
    return rc;
}

//  truncate: N keeps the first N characters (UTF-8 code points).
static int
s_f_truncate(zf_tpl_ctx_t *ctx, json_t **v, const json_t *arg)
{
    char num[32];
    size_t n, i;
    long long keep = 0, chars = 0;
    if (!*v || json_is_null(*v)) return 0;
    s_arg_int(arg, 0, LLONG_MAX, &keep);
    const char *s = s_scalar_text(*v, num, &n);
    if (!s) return zf_tpl_ferr(ctx, "needs a string, got %s", s_type_name(*v));
    for (i = 0; i < n; i++) {
        if (((unsigned char)s[i] & 0xC0) == 0x80) continue;
        if (chars++ == keep) break;
    }
    return s_replace(ctx, v, json_stringn(s, i));
}

static const zf_tpl_filter_def_t s_filters[] = {
    {"uppercase", 0, NULL, s_f_upper},
    {"lowercase", 0, NULL, s_f_lower},
    {"add_days", 1, s_check_days, s_f_add_days},
    {"date_format", 1, s_check_format, s_f_date_format},
    {"default", 1, s_check_any, s_f_default},
    {"json", 0, NULL, s_f_json},
    {"truncate", 1, s_check_count, s_f_truncate},
};

const zf_tpl_filter_def_t *
zf_tpl_filter_find(const char *name, size_t n)
{
    for (size_t i = 0; i < sizeof s_filters / sizeof s_filters[0]; i++)
        if (strlen(s_filters[i].name) == n && memcmp(s_filters[i].name, name, n) == 0)
            return &s_filters[i];
    return NULL;
}
