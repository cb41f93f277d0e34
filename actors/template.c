/*  actors/template.c — "{{ path | filter: arg }}" templates (see template.h).

    A template string is scanned once, left to right: text is copied, each
    {{...}} is parsed into an operand plus a filter list, evaluated against
    the scope and written out. Nothing that was written is ever scanned
    again, so record data holding "{{x}}" stays text. The same scanner runs
    without a scope for the create-time syntax check, so check and render
    agree on what is valid.
*/
#include "actors/template_int.h"

#include "actors/datefmt.h"
#include "actors/expr.h"
#include "broker/errors.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_PATH_MAX 254  // bytes of a path ("$." is prepended for expr.c)

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
    const zf_tpl_filter_def_t *def;  // which filter
    size_t off;                      // byte offset of its name in the template
    int has_arg;                     // 1 if ": operand" was given
    s_operand_t arg;                 // the argument when has_arg
} s_filter_t;

typedef struct {
    s_operand_t head;                        // the value the filters start from
    int nfilters;                            // used entries of filters
    s_filter_t filters[ZF_TPL_FILTERS_MAX];  // in application order
} s_expr_t;

typedef struct {
    const char *s;      // expression text, NUL-terminated copy
    size_t pos;         // read position in s
    size_t base;        // offset of s[0] in the template
    zf_tpl_ctx_t *ctx;  // error sink
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
    return zf_tpl_errf(p->ctx, rc, "offset %zu: %s", p->base + p->pos, msg);
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
    static const char *const roots[] = {"record",     "previous", "user",     "trigger", "steps",
                                        "vars",       "inputs",   "event",    "item",    "index",
                                        "submission", "run",      "approval", "form"};
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
                      "inputs, event, submission, run, item, index, approval, form or now)",
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
    const zf_tpl_filter_def_t *def = zf_tpl_filter_find(p->s + start, n);
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
    ZF_TPL_TRY(s_parse_operand(p, &f->arg));
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
s_parse_expr(zf_tpl_ctx_t *ctx, const char *text, size_t n, size_t base, s_expr_t *e)
{
    char buf[ZF_TPL_EXPR_MAX + 1];
    memset(e, 0, sizeof *e);
    s_parser_t p = {buf, 0, base, ctx};
    if (memchr(text, '\0', n)) return s_perr(&p, ZF_EINVAL, "NUL byte in expression");
    memcpy(buf, text, n);
    buf[n] = '\0';
    s_skip_ws(&p);
    if (!buf[p.pos]) return s_perr(&p, ZF_EINVAL, "empty expression");
    ZF_TPL_TRY(s_parse_operand(&p, &e->head));
    for (;;) {
        s_skip_ws(&p);
        if (!buf[p.pos]) return 0;
        if (buf[p.pos] != '|') return s_perr(&p, ZF_EINVAL, "expected '|' or '}}'");
        p.pos++;
        ZF_TPL_TRY(s_parse_filter(&p, e));
    }
}

//  The operand's value: a new reference, or NULL when absent.
static json_t *
s_operand_eval(zf_tpl_ctx_t *ctx, const s_operand_t *op)
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
s_expr_eval(zf_tpl_ctx_t *ctx, const s_expr_t *e, json_t **out)
{
    json_t *v = s_operand_eval(ctx, &e->head);
    for (int i = 0; i < e->nfilters; i++) {
        const s_filter_t *f = &e->filters[i];
        json_t *arg = f->has_arg ? s_operand_eval(ctx, &f->arg) : NULL;
        ctx->off = f->off;
        ctx->fname = f->def->name;
        const char *msg = f->def->check && f->arg.kind != S_OP_LIT ? f->def->check(arg) : NULL;
        int rc = msg ? zf_tpl_ferr(ctx, "%s", msg) : f->def->apply(ctx, &v, arg);
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
s_find_close(zf_tpl_ctx_t *ctx, const char *tpl, size_t len, size_t open, size_t *close)
{
    char q = 0;
    for (size_t i = open + 2; i < len; i++) {
        if (i - open - 2 > ZF_TPL_EXPR_MAX)
            return zf_tpl_errf(ctx, ZF_ELIMIT, "offset %zu: expression longer than %d bytes", open,
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
    return zf_tpl_errf(ctx, ZF_EINVAL, "offset %zu: %s", open,
                       q ? "unterminated string in expression" : "unterminated '{{' (no '}}')");
}

static int
s_too_large(zf_tpl_ctx_t *ctx, size_t off)
{
    return zf_tpl_errf(ctx, ZF_ELIMIT, "offset %zu: rendered output larger than %d bytes", off,
                       ZF_TPL_OUTPUT_MAX);
}

//  Parses and (with a scope) evaluates the expression at tpl[open..close+2):
//  into *typed when the string is this one expression, else as text into b.
static int
s_render_expr(zf_tpl_ctx_t *ctx, const char *tpl, size_t open, size_t close, json_t **typed,
              zf_tpl_buf_t *b)
{
    s_expr_t e;
    json_t *v = NULL;
    int rc = s_parse_expr(ctx, tpl + open + 2, close - open - 2, open + 2, &e);
    if (rc == 0 && ctx->scope) rc = s_expr_eval(ctx, &e, &v);
    s_expr_free(&e);
    if (rc || !ctx->scope) return rc;
    if (typed) {
        zf_tpl_buf_t count = {.budget = &ctx->used, .limit = ZF_TPL_OUTPUT_MAX, .count_only = 1};
        if (v && zf_tpl_put_json(&count, v, 0) != 0)
            rc = s_too_large(ctx, open);
        else
            *typed = v ? json_deep_copy(v) : json_null();
    } else if (zf_tpl_put_text(b, v) != 0) {
        rc = s_too_large(ctx, open);
    }
    json_decref(v);
    return rc;
}

//  Renders tpl[0..len) into *out, or only checks it when ctx has no scope.
static int
s_render_string(zf_tpl_ctx_t *ctx, const char *tpl, size_t len, json_t **out)
{
    //  A check charges nothing: sizes are a render-time property.
    zf_tpl_buf_t b = {.budget = ctx->scope ? &ctx->used : NULL,
                      .limit = ctx->scope ? ZF_TPL_OUTPUT_MAX : SIZE_MAX,
                      .count_only = !ctx->scope};
    size_t pos = 0, close = 0;
    int rc = 0;
    *out = NULL;
    while (rc == 0 && pos < len) {
        size_t open = s_find_open(tpl, len, pos);
        if (zf_tpl_buf_put(&b, tpl + pos, open - pos) != 0) rc = s_too_large(ctx, pos);
        if (rc || open == len) break;
        rc = s_find_close(ctx, tpl, len, open, &close);
        if (rc == 0)
            rc = s_render_expr(ctx, tpl, open, close, open == 0 && close + 2 == len ? out : NULL,
                               &b);
        pos = close + 2;
    }
    if (rc == 0 && ctx->scope && !*out) {
        *out = json_stringn(b.data ? b.data : "", b.len);
        if (!*out) rc = zf_tpl_errf(ctx, ZF_EINVAL, "rendered text is not valid UTF-8");
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
s_loc_push(zf_tpl_ctx_t *ctx, const char *key, size_t index)
{
    size_t was = ctx->loclen;
    char part[64], snip[48];
    if (key) {
        zf_tpl_snip(key, strlen(key), snip);
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
s_locate(zf_tpl_ctx_t *ctx)
{
    char tmp[512];
    if (!ctx->err || ctx->errlen == 0 || ctx->loclen == 0) return;
    snprintf(tmp, sizeof tmp, "%s: %s", ctx->loc, ctx->err);
    snprintf(ctx->err, ctx->errlen, "%s", tmp);
}

//  Rebuilds v with every string rendered (or checked: the copy is then a
//  throwaway). Recursion is bounded by ZF_TPL_DEPTH_MAX.
static json_t *
s_render_node(zf_tpl_ctx_t *ctx, const json_t *v, int depth)
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
        zf_tpl_errf(ctx, ZF_ELIMIT, "nesting deeper than %d", ZF_TPL_DEPTH_MAX);
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
s_ctx_init(zf_tpl_ctx_t *ctx, const zf_tpl_scope_t *scope, char *err, size_t errlen)
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
    zf_tpl_ctx_t ctx;
    s_ctx_init(&ctx, scope, err, errlen);
    if (!scope || !v) {
        zf_tpl_errf(&ctx, ZF_EINVAL, "no scope or no value");
        return NULL;
    }
    return s_render_node(&ctx, v, 0);
}

json_t *
zf_tpl_render(const zf_tpl_scope_t *scope, const char *tpl, char *err, size_t errlen)
{
    zf_tpl_ctx_t ctx;
    json_t *out = NULL;
    s_ctx_init(&ctx, scope, err, errlen);
    if (!scope || !tpl) {
        zf_tpl_errf(&ctx, ZF_EINVAL, "no scope or no template");
        return NULL;
    }
    return s_render_string(&ctx, tpl, strlen(tpl), &out) == 0 ? out : NULL;
}

int
zf_tpl_check(const char *tpl, char *err, size_t errlen)
{
    zf_tpl_ctx_t ctx;
    json_t *out = NULL;
    s_ctx_init(&ctx, NULL, err, errlen);
    if (!tpl) return zf_tpl_errf(&ctx, ZF_EINVAL, "no template");
    return s_render_string(&ctx, tpl, strlen(tpl), &out);
}

int
zf_tpl_check_value(const json_t *v, char *err, size_t errlen)
{
    zf_tpl_ctx_t ctx;
    s_ctx_init(&ctx, NULL, err, errlen);
    if (!v) return zf_tpl_errf(&ctx, ZF_EINVAL, "no value");
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

int
zf_tpl_is_text(const json_t *v)
{
    return json_is_string(v) || json_is_number(v) || json_is_boolean(v);
}

int
zf_tpl_pending(const json_t *v, int strict)
{
    return !strict && json_is_string(v) && zf_tpl_has(json_string_value(v));
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
