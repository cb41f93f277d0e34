/*  actors/template.c — "{{ path | filter: arg }}" templates (see template.h).

    A template string is scanned once, left to right: text is copied, each
    {{...}} is parsed into an operand plus a filter list, evaluated against
    the scope and written out. Nothing that was written is ever scanned
    again, so record data holding "{{x}}" stays text. The same scanner runs
    without a scope for the create-time syntax check, so check and render
    agree on what is valid.
*/
#include "actors/template.h"
#include "actors/datefmt.h"

#include "actors/expr.h"
#include "actors/tz.h"
#include "broker/errors.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_PATH_MAX   254        // bytes of a path ("$." is prepended for expr.c)
#define S_FMT_MAX    256        // bytes of a date_format pattern
#define S_DUMP_DEPTH 512        // nesting of a value written as JSON text
#define S_DAYS_MAX   3650000LL  // |N| of add_days
#define S_LOC_MAX    160        // bytes of the error location prefix

#define S_TRY(x)                                                                                   \
    do {                                                                                           \
        int rc_ = (x);                                                                             \
        if (rc_) return rc_;                                                                       \
    } while (0)

// =========================================================================
//  Context, errors, output buffer
// =========================================================================

typedef struct {
    const zf_tpl_scope_t *scope;  // NULL: syntax check only, nothing is evaluated
    size_t used;                  // rendered bytes charged so far in this call
    int rc;                       // error code of the first failure
    size_t off;                   // offset of the filter being applied (for errors)
    const char *fname;            // name of the filter being applied
    char *err;                    // caller's error buffer (may be NULL)
    size_t errlen;                // its size
    char loc[S_LOC_MAX];          // where in the template value we are ("body.text")
    size_t loclen;                // used bytes of loc
} s_ctx_t;

typedef struct {
    char *data;      // rendered bytes (not NUL-terminated); unused when count_only
    size_t len;      // bytes written
    size_t cap;      // bytes allocated
    size_t *budget;  // bytes charged across the call; NULL: len is the charge
    size_t limit;    // most bytes the charge may reach
    int count_only;  // 1: count, never store
} s_buf_t;

static int s_errf(s_ctx_t *ctx, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int s_ferr(s_ctx_t *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

//  Records the first error (later ones would only hide the cause).
static int
s_errf(s_ctx_t *ctx, int rc, const char *fmt, ...)
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
static int
s_ferr(s_ctx_t *ctx, const char *fmt, ...)
{
    char msg[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return s_errf(ctx, ZF_EINVAL, "offset %zu: filter '%s': %s", ctx->off, ctx->fname, msg);
}

//  Copies up to 40 bytes of untrusted text for a message: printable ASCII
//  only, so an error string is always valid UTF-8.
static void
s_snip(const char *s, size_t n, char out[48])
{
    size_t i = 0;
    for (; i < n && i < 40; i++)
        out[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
    out[i] = '\0';
    if (n > 40) strcpy(out + i, "...");
}

//  Appends n bytes unless that would pass the limit (ZF_ELIMIT).
static int
s_buf_put(s_buf_t *b, const char *s, size_t n)
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
s_buf_str(s_buf_t *b, const char *s)
{
    return s_buf_put(b, s, strlen(s));
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
s_put_json_string(s_buf_t *b, const char *s, size_t n)
{
    S_TRY(s_buf_put(b, "\"", 1));
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c != '"' && c != '\\' && c >= 0x20) continue;
        S_TRY(s_buf_put(b, s + run, i - run));
        run = i + 1;
        char esc[8];
        const char *named = c == '"'    ? "\\\""
                            : c == '\\' ? "\\\\"
                            : c == '\n' ? "\\n"
                            : c == '\r' ? "\\r"
                            : c == '\t' ? "\\t"
                                        : NULL;
        if (!named) snprintf(esc, sizeof esc, "\\u%04x", c);
        S_TRY(s_buf_str(b, named ? named : esc));
    }
    S_TRY(s_buf_put(b, s + run, n - run));
    return s_buf_put(b, "\"", 1);
}

//  Compact JSON with shortest numbers (jansson prints 0.1 as
//  0.10000000000000001). Depth is bounded so hostile data cannot exhaust
//  the stack; ZF_ELIMIT on depth or size.
static int
s_put_json(s_buf_t *b, const json_t *v, int depth)
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
        S_TRY(s_buf_str(b, "{"));
        json_object_foreach ((json_t *)v, key, x) {
            if (!first) S_TRY(s_buf_str(b, ","));
            first = 0;
            S_TRY(s_put_json_string(b, key, strlen(key)));
            S_TRY(s_buf_str(b, ":"));
            S_TRY(s_put_json(b, x, depth + 1));
        }
        return s_buf_str(b, "}");
    }
    if (json_is_array(v)) {
        S_TRY(s_buf_str(b, "["));
        json_array_foreach ((json_t *)v, i, x) {
            if (i > 0) S_TRY(s_buf_str(b, ","));
            S_TRY(s_put_json(b, x, depth + 1));
        }
        return s_buf_str(b, "]");
    }
    const char *s = s_scalar_text(v, num, &n);
    return s_buf_put(b, s, n);
}

//  Interpolation: strings as is, null/absent as nothing, containers as JSON.
static int
s_put_text(s_buf_t *b, const json_t *v)
{
    char num[32];
    size_t n;
    if (!v || json_is_null(v)) return 0;
    const char *s = s_scalar_text(v, num, &n);
    return s ? s_buf_put(b, s, n) : s_put_json(b, v, 0);
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
s_replace(s_ctx_t *ctx, json_t **v, json_t *fresh)
{
    if (!fresh) return s_ferr(ctx, "result is not valid UTF-8");
    json_decref(*v);
    *v = fresh;
    return 0;
}

static int
s_not_date(s_ctx_t *ctx, const json_t *v)
{
    char snip[48];
    if (!json_is_string(v))
        return s_ferr(ctx, "needs a date (ISO-8601 string or Unix ms), got %s", s_type_name(v));
    s_snip(json_string_value(v), json_string_length(v), snip);
    return s_ferr(ctx, "'%s' is not an ISO-8601 date in years 0000-9999", snip);
}

//  ASCII case mapping; bytes >= 0x80 (UTF-8) are left as they are.
static int
s_f_case(s_ctx_t *ctx, json_t **v, int upper)
{
    char num[32];
    size_t n;
    if (!*v || json_is_null(*v)) return 0;
    const char *s = s_scalar_text(*v, num, &n);
    if (!s) return s_ferr(ctx, "needs a string, got %s", s_type_name(*v));
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
s_f_upper(s_ctx_t *ctx, json_t **v, const json_t *arg)
{
    (void)arg;
    return s_f_case(ctx, v, 1);
}

static int
s_f_lower(s_ctx_t *ctx, json_t **v, const json_t *arg)
{
    (void)arg;
    return s_f_case(ctx, v, 0);
}

static int
s_f_add_days(s_ctx_t *ctx, json_t **v, const json_t *arg)
{
    long long days = 0, ms;
    char iso[64];
    if (!*v || json_is_null(*v)) return 0;
    s_arg_int(arg, -S_DAYS_MAX, S_DAYS_MAX, &days);
    if (zf_date_value_ms(*v, &ms) != 0) return s_not_date(ctx, *v);
    ms += days * ZF_DATE_DAY_MS;
    if (ms < ZF_DATE_MS_MIN || ms > ZF_DATE_MS_MAX)
        return s_ferr(ctx, "result is outside years 0000-9999");
    zf_date_iso(ms, iso);
    return s_replace(ctx, v, json_string(iso));
}

static int
s_f_date_format(s_ctx_t *ctx, json_t **v, const json_t *arg)
{
    long long ms;
    if (!*v || json_is_null(*v)) return 0;
    if (zf_date_value_ms(*v, &ms) != 0) return s_not_date(ctx, *v);
    char out[16 * S_FMT_MAX];
    if (zf_date_format(ms, json_string_value(arg), out, sizeof out) != 0)
        return s_ferr(ctx, "formatted date too long");
    return s_replace(ctx, v, json_string(out));
}

//  default: the argument when the value is absent, null or "".
static int
s_f_default(s_ctx_t *ctx, json_t **v, const json_t *arg)
{
    (void)ctx;
    if (*v && !json_is_null(*v) && !(json_is_string(*v) && json_string_length(*v) == 0)) return 0;
    json_decref(*v);
    *v = arg ? json_incref((json_t *)arg) : NULL;
    return 0;
}

static int
s_f_json(s_ctx_t *ctx, json_t **v, const json_t *arg)
{
    (void)arg;
    s_buf_t b = {.limit = ZF_TPL_OUTPUT_MAX};
    int rc = *v ? s_put_json(&b, *v, 0) : s_buf_str(&b, "null");
    if (rc == 0)
        rc = s_replace(ctx, v, json_stringn(b.data, b.len));
    else
        rc = s_ferr(ctx, "value larger than 256 KiB or nested deeper than 512");
    free(b.data);
    return rc;
}

//  truncate: N keeps the first N characters (UTF-8 code points).
static int
s_f_truncate(s_ctx_t *ctx, json_t **v, const json_t *arg)
{
    char num[32];
    size_t n, i;
    long long keep = 0, chars = 0;
    if (!*v || json_is_null(*v)) return 0;
    s_arg_int(arg, 0, LLONG_MAX, &keep);
    const char *s = s_scalar_text(*v, num, &n);
    if (!s) return s_ferr(ctx, "needs a string, got %s", s_type_name(*v));
    for (i = 0; i < n; i++) {
        if (((unsigned char)s[i] & 0xC0) == 0x80) continue;
        if (chars++ == keep) break;
    }
    return s_replace(ctx, v, json_stringn(s, i));
}

typedef struct {
    const char *name;                         // as written after '|'
    int needs_arg;                            // 1: ": arg" is required
    const char *(*check)(const json_t *arg);  // validates the argument; NULL: takes none
    int (*apply)(s_ctx_t *ctx, json_t **v, const json_t *arg);  // replaces *v
} s_filter_def_t;

static const s_filter_def_t s_filters[] = {
    {"uppercase", 0, NULL, s_f_upper},
    {"lowercase", 0, NULL, s_f_lower},
    {"add_days", 1, s_check_days, s_f_add_days},
    {"date_format", 1, s_check_format, s_f_date_format},
    {"default", 1, s_check_any, s_f_default},
    {"json", 0, NULL, s_f_json},
    {"truncate", 1, s_check_count, s_f_truncate},
};

static const s_filter_def_t *
s_filter_find(const char *name, size_t n)
{
    for (size_t i = 0; i < sizeof s_filters / sizeof s_filters[0]; i++)
        if (strlen(s_filters[i].name) == n && memcmp(s_filters[i].name, name, n) == 0)
            return &s_filters[i];
    return NULL;
}

// =========================================================================
//  Expressions: operand ( '|' filter ( ':' operand )? )*
// =========================================================================

typedef enum { S_OP_LIT, S_OP_PATH, S_OP_NOW } s_opkind_t;

typedef struct {
    s_opkind_t kind;            // literal, path or now
    json_t *lit;                // owned literal when S_OP_LIT
    char path[S_PATH_MAX + 3];  // "$." + path when S_OP_PATH (expr.c syntax)
} s_operand_t;

typedef struct {
    const s_filter_def_t *def;  // which filter
    size_t off;                 // byte offset of its name in the template
    int has_arg;                // 1 if ": operand" was given
    s_operand_t arg;            // the argument when has_arg
} s_filter_t;

typedef struct {
    s_operand_t head;                        // the value the filters start from
    int nfilters;                            // used entries of filters
    s_filter_t filters[ZF_TPL_FILTERS_MAX];  // in application order
} s_expr_t;

typedef struct {
    const char *s;  // expression text, NUL-terminated copy
    size_t pos;     // read position in s
    size_t base;    // offset of s[0] in the template
    s_ctx_t *ctx;   // error sink
} s_parser_t;

static int s_perr(s_parser_t *p, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
s_perr(s_parser_t *p, int rc, const char *fmt, ...)
{
    char msg[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return s_errf(p->ctx, rc, "offset %zu: %s", p->base + p->pos, msg);
}

static int
s_is_word(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

static int
s_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static void
s_skip_ws(s_parser_t *p)
{
    while (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' || p->s[p->pos] == '\n' ||
           p->s[p->pos] == '\r')
        p->pos++;
}

//  'text' or "text"; \n and \t are escapes, \x is x.
static int
s_parse_string(s_parser_t *p, s_operand_t *op)
{
    char tmp[ZF_TPL_EXPR_MAX + 1];
    size_t n = 0, start = p->pos;
    char quote = p->s[p->pos++];
    while (p->s[p->pos] && p->s[p->pos] != quote) {
        char c = p->s[p->pos++];
        if (c == '\\' && p->s[p->pos]) {
            c = p->s[p->pos++];
            c = c == 'n' ? '\n' : c == 't' ? '\t' : c;
        }
        tmp[n++] = c;
    }
    if (p->s[p->pos] != quote) {
        p->pos = start;
        return s_perr(p, ZF_EINVAL, "unterminated string");
    }
    p->pos++;
    op->lit = json_stringn(tmp, n);
    if (!op->lit) return s_perr(p, ZF_EINVAL, "string is not valid UTF-8");
    return 0;
}

//  JSON-style number: -?digits(.digits)?([eE][+-]?digits)?
static int
s_parse_number(s_parser_t *p, s_operand_t *op)
{
    const char *s = p->s;
    size_t i = p->pos + (s[p->pos] == '-');
    int real = 0;
    while (s_is_digit(s[i]))
        i++;
    if (s[i] == '.' && s_is_digit(s[i + 1]))
        for (real = 1, i++; s_is_digit(s[i]); i++) {
        }
    if (s[i] == 'e' || s[i] == 'E') {
        real = 1;
        i += 1 + (s[i + 1] == '+' || s[i + 1] == '-');
        if (!s_is_digit(s[i])) return s_perr(p, ZF_EINVAL, "malformed number");
        while (s_is_digit(s[i]))
            i++;
    }
    if (s_is_word(s[i]) || s[i] == '.' || i - p->pos > 40)
        return s_perr(p, ZF_EINVAL, "malformed number");
    char tmp[48];
    memcpy(tmp, s + p->pos, i - p->pos);
    tmp[i - p->pos] = '\0';
    errno = 0;
    long long n = real ? 0 : strtoll(tmp, NULL, 10);
    double d = strtod(tmp, NULL);
    if (!isfinite(d)) return s_perr(p, ZF_EINVAL, "number out of range");
    op->lit = real || errno == ERANGE ? json_real(d) : json_integer(n);
    p->pos = i;
    return 0;
}

//  A root variable, now, true/false/null; the rest of the path is
//  validated by expr.c's path parser ("$." + path).
static int
s_parse_path(s_parser_t *p, s_operand_t *op)
{
    static const char *const roots[] = {"record", "previous", "user",       "trigger",
                                        "steps",  "vars",     "inputs",     "event",
                                        "item",   "index",    "submission", "run"};
    const char *s = p->s + p->pos;
    size_t n = 0, word = 0, i;
    while (s_is_word(s[word]))
        word++;
    while (s[n] && (s_is_word(s[n]) || s[n] == '.' || s[n] == '-' || s[n] == '[')) {
        if (s[n++] != '[') continue;
        for (char q = 0; s[n] && (q || s[n] != ']'); n++) {
            if (q && s[n] == '\\' && s[n + 1])
                n++;
            else if (s[n] == q)
                q = 0;
            else if (!q && (s[n] == '"' || s[n] == '\''))
                q = s[n];
        }
        n += s[n] == ']';
    }
    const char *lits[] = {"true", "false", "null"};
    for (i = 0; i < 3; i++)
        if (strlen(lits[i]) == n && memcmp(s, lits[i], n) == 0) {
            op->lit = i == 0 ? json_true() : i == 1 ? json_false() : json_null();
            p->pos += n;
            return 0;
        }
    if (word == 3 && memcmp(s, "now", 3) == 0) {
        if (n != 3) return s_perr(p, ZF_EINVAL, "'now' has no fields");
        op->kind = S_OP_NOW;
        p->pos += n;
        return 0;
    }
    for (i = 0; i < sizeof roots / sizeof roots[0]; i++)
        if (strlen(roots[i]) == word && memcmp(s, roots[i], word) == 0) break;
    if (i == sizeof roots / sizeof roots[0])
        return s_perr(p, ZF_EINVAL,
                      "unknown variable '%.*s' (use record, previous, user, trigger, steps, vars, "
                      "inputs, event, submission, run, item, index or now)",
                      (int)(word > 32 ? 32 : word), s);
    if (n > S_PATH_MAX) return s_perr(p, ZF_ELIMIT, "path longer than %d bytes", S_PATH_MAX);
    op->kind = S_OP_PATH;
    snprintf(op->path, sizeof op->path, "$.%.*s", (int)n, s);
    const char *perr = NULL;
    zf_expr_path(NULL, op->path, &perr);
    if (perr) return s_perr(p, ZF_EINVAL, "bad path: %s", perr);
    p->pos += n;
    return 0;
}

static int
s_parse_operand(s_parser_t *p, s_operand_t *op)
{
    s_skip_ws(p);
    char c = p->s[p->pos];
    if (c == '"' || c == '\'') return s_parse_string(p, op);
    if (s_is_digit(c) || (c == '-' && s_is_digit(p->s[p->pos + 1]))) return s_parse_number(p, op);
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') return s_parse_path(p, op);
    return s_perr(p, ZF_EINVAL, c ? "expected a variable, string or number" : "missing value");
}

//  '|' was read: name ( ':' operand )?
static int
s_parse_filter(s_parser_t *p, s_expr_t *e)
{
    if (e->nfilters == ZF_TPL_FILTERS_MAX)
        return s_perr(p, ZF_ELIMIT, "more than %d filters", ZF_TPL_FILTERS_MAX);
    s_skip_ws(p);
    size_t start = p->pos, n = 0;
    while (s_is_word(p->s[start + n]))
        n++;
    if (n == 0) return s_perr(p, ZF_EINVAL, "expected a filter name after '|'");
    const s_filter_def_t *def = s_filter_find(p->s + start, n);
    if (!def)
        return s_perr(p, ZF_EINVAL, "unknown filter '%.*s'", (int)(n > 32 ? 32 : n), p->s + start);
    s_filter_t *f = &e->filters[e->nfilters++];
    f->def = def;
    f->off = p->base + start;
    p->pos += n;
    s_skip_ws(p);
    if (p->s[p->pos] != ':') {
        if (!def->needs_arg) return 0;
        p->pos = start;
        return s_perr(p, ZF_EINVAL, "filter '%s' needs an argument", def->name);
    }
    if (!def->check) return s_perr(p, ZF_EINVAL, "filter '%s' takes no argument", def->name);
    p->pos++;
    s_skip_ws(p);
    size_t arg_at = p->pos;
    S_TRY(s_parse_operand(p, &f->arg));
    f->has_arg = 1;
    const char *msg = f->arg.kind == S_OP_LIT ? def->check(f->arg.lit) : NULL;
    if (!msg) return 0;
    p->pos = arg_at;
    return s_perr(p, ZF_EINVAL, "filter '%s': %s", def->name, msg);
}

static void
s_expr_free(s_expr_t *e)
{
    json_decref(e->head.lit);
    for (int i = 0; i < e->nfilters; i++)
        json_decref(e->filters[i].arg.lit);
}

//  Parses text[0..n) (between the braces; base = its offset) into e.
static int
s_parse_expr(s_ctx_t *ctx, const char *text, size_t n, size_t base, s_expr_t *e)
{
    char buf[ZF_TPL_EXPR_MAX + 1];
    memset(e, 0, sizeof *e);
    s_parser_t p = {buf, 0, base, ctx};
    if (memchr(text, '\0', n)) return s_perr(&p, ZF_EINVAL, "NUL byte in expression");
    memcpy(buf, text, n);
    buf[n] = '\0';
    s_skip_ws(&p);
    if (!buf[p.pos]) return s_perr(&p, ZF_EINVAL, "empty expression");
    S_TRY(s_parse_operand(&p, &e->head));
    for (;;) {
        s_skip_ws(&p);
        if (!buf[p.pos]) return 0;
        if (buf[p.pos] != '|') return s_perr(&p, ZF_EINVAL, "expected '|' or '}}'");
        p.pos++;
        S_TRY(s_parse_filter(&p, e));
    }
}

//  The operand's value: a new reference, or NULL when absent.
static json_t *
s_operand_eval(s_ctx_t *ctx, const s_operand_t *op)
{
    char iso[64];
    if (op->kind == S_OP_LIT) return json_incref(op->lit);
    if (op->kind == S_OP_NOW) {
        zf_date_iso(ctx->scope->now_ms, iso);
        return json_string(iso);
    }
    zf_expr_scope_t es = {.input = ctx->scope->root};
    const json_t *v = zf_expr_path(&es, op->path, NULL);
    return v ? json_incref((json_t *)v) : NULL;
}

static int
s_expr_eval(s_ctx_t *ctx, const s_expr_t *e, json_t **out)
{
    json_t *v = s_operand_eval(ctx, &e->head);
    for (int i = 0; i < e->nfilters; i++) {
        const s_filter_t *f = &e->filters[i];
        json_t *arg = f->has_arg ? s_operand_eval(ctx, &f->arg) : NULL;
        ctx->off = f->off;
        ctx->fname = f->def->name;
        const char *msg = f->def->check && f->arg.kind != S_OP_LIT ? f->def->check(arg) : NULL;
        int rc = msg ? s_ferr(ctx, "%s", msg) : f->def->apply(ctx, &v, arg);
        json_decref(arg);
        if (rc) {
            json_decref(v);
            return rc;
        }
    }
    *out = v;
    return 0;
}

// =========================================================================
//  Template strings
// =========================================================================

static size_t
s_find_open(const char *tpl, size_t len, size_t from)
{
    for (size_t i = from; i + 1 < len; i++)
        if (tpl[i] == '{' && tpl[i + 1] == '{') return i;
    return len;
}

//  Finds the "}}" closing the expression opened at tpl[open], skipping
//  quoted literals; bounded by the expression length limit.
static int
s_find_close(s_ctx_t *ctx, const char *tpl, size_t len, size_t open, size_t *close)
{
    char q = 0;
    for (size_t i = open + 2; i < len; i++) {
        if (i - open - 2 > ZF_TPL_EXPR_MAX)
            return s_errf(ctx, ZF_ELIMIT, "offset %zu: expression longer than %d bytes", open,
                          ZF_TPL_EXPR_MAX);
        char c = tpl[i];
        if (q && c == '\\')
            i++;
        else if (q && c == q)
            q = 0;
        else if (!q && (c == '"' || c == '\''))
            q = c;
        else if (!q && c == '}' && i + 1 < len && tpl[i + 1] == '}') {
            *close = i;
            return 0;
        }
    }
    return s_errf(ctx, ZF_EINVAL, "offset %zu: %s", open,
                  q ? "unterminated string in expression" : "unterminated '{{' (no '}}')");
}

static int
s_too_large(s_ctx_t *ctx, size_t off)
{
    return s_errf(ctx, ZF_ELIMIT, "offset %zu: rendered output larger than %d bytes", off,
                  ZF_TPL_OUTPUT_MAX);
}

//  Parses and (with a scope) evaluates the expression at tpl[open..close+2):
//  into *typed when the string is this one expression, else as text into b.
static int
s_render_expr(s_ctx_t *ctx, const char *tpl, size_t open, size_t close, json_t **typed, s_buf_t *b)
{
    s_expr_t e;
    json_t *v = NULL;
    int rc = s_parse_expr(ctx, tpl + open + 2, close - open - 2, open + 2, &e);
    if (rc == 0 && ctx->scope) rc = s_expr_eval(ctx, &e, &v);
    s_expr_free(&e);
    if (rc || !ctx->scope) return rc;
    if (typed) {
        s_buf_t count = {.budget = &ctx->used, .limit = ZF_TPL_OUTPUT_MAX, .count_only = 1};
        if (v && s_put_json(&count, v, 0) != 0)
            rc = s_too_large(ctx, open);
        else
            *typed = v ? json_deep_copy(v) : json_null();
    } else if (s_put_text(b, v) != 0) {
        rc = s_too_large(ctx, open);
    }
    json_decref(v);
    return rc;
}

//  Renders tpl[0..len) into *out, or only checks it when ctx has no scope.
static int
s_render_string(s_ctx_t *ctx, const char *tpl, size_t len, json_t **out)
{
    //  A check charges nothing: sizes are a render-time property.
    s_buf_t b = {.budget = ctx->scope ? &ctx->used : NULL,
                 .limit = ctx->scope ? ZF_TPL_OUTPUT_MAX : SIZE_MAX,
                 .count_only = !ctx->scope};
    size_t pos = 0, close = 0;
    int rc = 0;
    *out = NULL;
    while (rc == 0 && pos < len) {
        size_t open = s_find_open(tpl, len, pos);
        if (s_buf_put(&b, tpl + pos, open - pos) != 0) rc = s_too_large(ctx, pos);
        if (rc || open == len) break;
        rc = s_find_close(ctx, tpl, len, open, &close);
        if (rc == 0)
            rc = s_render_expr(ctx, tpl, open, close, open == 0 && close + 2 == len ? out : NULL,
                               &b);
        pos = close + 2;
    }
    if (rc == 0 && ctx->scope && !*out) {
        *out = json_stringn(b.data ? b.data : "", b.len);
        if (!*out) rc = s_errf(ctx, ZF_EINVAL, "rendered text is not valid UTF-8");
    }
    free(b.data);
    return rc;
}

// =========================================================================
//  Template values
// =========================================================================

//  Appends ".key" or "[i]" (printable ASCII only) to the error location;
//  returns the previous length for s_loc_pop.
static size_t
s_loc_push(s_ctx_t *ctx, const char *key, size_t index)
{
    size_t was = ctx->loclen;
    char part[64], snip[48];
    if (key) {
        s_snip(key, strlen(key), snip);
        snprintf(part, sizeof part, "%s%s", was ? "." : "", snip);
    } else {
        snprintf(part, sizeof part, "[%zu]", index);
    }
    if (was + strlen(part) < sizeof ctx->loc) {
        memcpy(ctx->loc + was, part, strlen(part) + 1);
        ctx->loclen += strlen(part);
    }
    return was;
}

//  Prefixes the error with the location of the failing string.
static void
s_locate(s_ctx_t *ctx)
{
    char tmp[512];
    if (!ctx->err || ctx->errlen == 0 || ctx->loclen == 0) return;
    snprintf(tmp, sizeof tmp, "%s: %s", ctx->loc, ctx->err);
    snprintf(ctx->err, ctx->errlen, "%s", tmp);
}

//  Rebuilds v with every string rendered (or checked: the copy is then a
//  throwaway). Recursion is bounded by ZF_TPL_DEPTH_MAX.
static json_t *
s_render_node(s_ctx_t *ctx, const json_t *v, int depth)
{
    if (json_is_string(v)) {
        json_t *out = NULL;
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        if (s_find_open(s, n, 0) == n) return json_copy((json_t *)v);
        if (s_render_string(ctx, s, n, &out) != 0) {
            s_locate(ctx);
            return NULL;
        }
        return out ? out : json_null();
    }
    if (!json_is_object(v) && !json_is_array(v)) return json_copy((json_t *)v);
    if (depth >= ZF_TPL_DEPTH_MAX) {
        s_errf(ctx, ZF_ELIMIT, "nesting deeper than %d", ZF_TPL_DEPTH_MAX);
        s_locate(ctx);
        return NULL;
    }
    json_t *res = json_is_object(v) ? json_object() : json_array(), *x, *r;
    const char *key;
    size_t i;
    json_object_foreach ((json_t *)v, key, x) {
        size_t was = s_loc_push(ctx, key, 0);
        r = s_render_node(ctx, x, depth + 1);
        ctx->loclen = was, ctx->loc[was] = '\0';
        if (!r) goto fail;
        json_object_set_new(res, key, r);
    }
    json_array_foreach ((json_t *)v, i, x) {
        size_t was = s_loc_push(ctx, NULL, i);
        r = s_render_node(ctx, x, depth + 1);
        ctx->loclen = was, ctx->loc[was] = '\0';
        if (!r) goto fail;
        json_array_append_new(res, r);
    }
    return res;
fail:
    json_decref(res);
    return NULL;
}

// =========================================================================
//  Public API
// =========================================================================

static void
s_ctx_init(s_ctx_t *ctx, const zf_tpl_scope_t *scope, char *err, size_t errlen)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->scope = scope;
    ctx->err = err;
    ctx->errlen = errlen;
    if (err && errlen) err[0] = '\0';
}

json_t *
zf_tpl_render_value(const zf_tpl_scope_t *scope, const json_t *v, char *err, size_t errlen)
{
    s_ctx_t ctx;
    s_ctx_init(&ctx, scope, err, errlen);
    if (!scope || !v) {
        s_errf(&ctx, ZF_EINVAL, "no scope or no value");
        return NULL;
    }
    return s_render_node(&ctx, v, 0);
}

json_t *
zf_tpl_render(const zf_tpl_scope_t *scope, const char *tpl, char *err, size_t errlen)
{
    s_ctx_t ctx;
    json_t *out = NULL;
    s_ctx_init(&ctx, scope, err, errlen);
    if (!scope || !tpl) {
        s_errf(&ctx, ZF_EINVAL, "no scope or no template");
        return NULL;
    }
    return s_render_string(&ctx, tpl, strlen(tpl), &out) == 0 ? out : NULL;
}

int
zf_tpl_check(const char *tpl, char *err, size_t errlen)
{
    s_ctx_t ctx;
    json_t *out = NULL;
    s_ctx_init(&ctx, NULL, err, errlen);
    if (!tpl) return s_errf(&ctx, ZF_EINVAL, "no template");
    return s_render_string(&ctx, tpl, strlen(tpl), &out);
}

int
zf_tpl_check_value(const json_t *v, char *err, size_t errlen)
{
    s_ctx_t ctx;
    s_ctx_init(&ctx, NULL, err, errlen);
    if (!v) return s_errf(&ctx, ZF_EINVAL, "no value");
    json_t *copy = s_render_node(&ctx, v, 0);
    if (!copy) return ctx.rc ? ctx.rc : ZF_EINVAL;
    json_decref(copy);
    return 0;
}

int
zf_tpl_has(const char *s)
{
    return s && strstr(s, "{{") != NULL;
}

static int
s_has_value(const json_t *v, int depth)
{
    if (depth > 32) return 0;
    if (json_is_string(v)) return zf_tpl_has(json_string_value(v));
    size_t i;
    const char *k;
    json_t *x;
    if (json_is_array(v)) {
        json_array_foreach (v, i, x)
            if (s_has_value(x, depth + 1)) return 1;
    } else if (json_is_object(v)) {
        json_object_foreach ((json_t *)v, k, x)
            if (s_has_value(x, depth + 1)) return 1;
    }
    return 0;
}

int
zf_tpl_has_value(const json_t *v)
{
    return s_has_value(v, 0);
}
