/*  actors/expr.c — JSON paths and the condition evaluator. */
#include "actors/expr.h"
#include "broker/isotime.h"

#include "broker/errors.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_PATH_MAX  256      // bytes in a path
#define S_SEG_MAX   32       // key/index segments after the scope
#define S_INDEX_MAX 1000000  // largest array index

// =========================================================================
//  Paths
// =========================================================================

typedef enum { S_SCOPE_INPUT, S_SCOPE_INPUTS, S_SCOPE_VARS, S_SCOPE_STEPS } s_scope_t;

typedef struct {
    int is_index;     // 1: [N], 0: key
    long index;       // array index when is_index
    const char *key;  // decoded key (NUL-terminated, in keybuf) when !is_index
} s_seg_t;

//  A parsed path: segments point into keybuf, which holds the decoded keys.
typedef struct {
    s_scope_t scope;                      // where resolution starts
    int nseg;                             // used entries of seg
    s_seg_t seg[S_SEG_MAX];               // segments in order
    char keybuf[S_PATH_MAX + S_SEG_MAX];  // decoded keys, NUL-separated
    size_t keylen;                        // used bytes of keybuf
} s_path_t;

static int
s_is_key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

//  Reads the scope name right after '$' ("" = node input).
static const char *
s_parse_scope(const char *p, s_scope_t *scope, const char **err)
{
    static const struct {
        const char *name;
        s_scope_t scope;
    } names[] = {{"inputs", S_SCOPE_INPUTS},
                 {"input", S_SCOPE_INPUTS},
                 {"vars", S_SCOPE_VARS},
                 {"variables", S_SCOPE_VARS},
                 {"steps", S_SCOPE_STEPS}};
    size_t n = 0;
    while (s_is_key_char(p[n]) && p[n] != '-')
        n++;
    if (n == 0) {
        *scope = S_SCOPE_INPUT;
        return p;
    }
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strlen(names[i].name) == n && memcmp(names[i].name, p, n) == 0) {
            *scope = names[i].scope;
            return p + n;
        }
    }
    *err = "unknown path scope (use $., $inputs, $vars or $steps)";
    return NULL;
}

//  Appends a decoded key segment of n bytes to the path.
static void
s_add_key(s_path_t *path, const char *key, size_t n)
{
    char *dst = path->keybuf + path->keylen;
    memcpy(dst, key, n);
    dst[n] = '\0';
    path->keylen += n + 1;
    path->seg[path->nseg++] = (s_seg_t){.is_index = 0, .key = dst};
}

//  Parses `.key` at p (p points past the dot).
static const char *
s_parse_dot(s_path_t *path, const char *p, const char **err)
{
    size_t n = 0;
    while (s_is_key_char(p[n]))
        n++;
    if (n == 0) {
        *err = "empty or invalid key after '.'";
        return NULL;
    }
    s_add_key(path, p, n);
    return p + n;
}

//  Parses `"key"]` or `'key'` ]` at p (p points at the quote).
static const char *
s_parse_quoted(s_path_t *path, const char *p, const char **err)
{
    char quote = *p++;
    char tmp[S_PATH_MAX + 1];
    size_t n = 0;
    while (*p && *p != quote) {
        if (*p == '\\' && (p[1] == quote || p[1] == '\\')) p++;
        tmp[n++] = *p++;
    }
    if (*p != quote || p[1] != ']') {
        *err = "unterminated quoted key";
        return NULL;
    }
    s_add_key(path, tmp, n);
    return p + 2;
}

//  Parses `N]` or a quoted key at p (p points past '[').
static const char *
s_parse_bracket(s_path_t *path, const char *p, const char **err)
{
    if (*p == '"' || *p == '\'') return s_parse_quoted(path, p, err);
    long v = 0;
    size_t n = 0;
    while (p[n] >= '0' && p[n] <= '9') {
        v = v * 10 + (p[n] - '0');
        if (v > S_INDEX_MAX) {
            *err = "array index too large";
            return NULL;
        }
        n++;
    }
    if (n == 0 || p[n] != ']') {
        *err = "bad or unterminated array index";
        return NULL;
    }
    path->seg[path->nseg++] = (s_seg_t){.is_index = 1, .index = v};
    return p + n + 1;
}

//  Parses a whole path into `path`. 0 ok, ZF_EINVAL with *err set.
static int
s_path_parse(const char *s, s_path_t *path, const char **err)
{
    const char *dummy;
    if (!err) err = &dummy;
    memset(path, 0, sizeof *path);
    if (!s || *s != '$') {
        *err = s && *s ? "path must start with '$'" : "empty path";
        return ZF_EINVAL;
    }
    if (strlen(s) > S_PATH_MAX) {
        *err = "path longer than 256 bytes";
        return ZF_EINVAL;
    }
    const char *p = s_parse_scope(s + 1, &path->scope, err);
    if (!p) return ZF_EINVAL;
    if (path->scope == S_SCOPE_INPUT && *p == '\0') {
        *err = "path '$' names no field (use $.field)";
        return ZF_EINVAL;
    }
    while (p && *p) {
        if (path->nseg == S_SEG_MAX) {
            *err = "path has more than 32 segments";
            return ZF_EINVAL;
        }
        if (*p == '.')
            p = s_parse_dot(path, p + 1, err);
        else if (*p == '[')
            p = s_parse_bracket(path, p + 1, err);
        else {
            *err = "unexpected character in path";
            return ZF_EINVAL;
        }
    }
    return p ? 0 : ZF_EINVAL;
}

//  One step of resolution; an all-digit key also indexes an array ($.a.0).
static const json_t *
s_step(const json_t *v, const s_seg_t *seg)
{
    if (!v) return NULL;
    if (seg->is_index) return json_is_array(v) ? json_array_get(v, (size_t)seg->index) : NULL;
    if (json_is_object(v)) return json_object_get(v, seg->key);
    if (json_is_array(v) && seg->key[0] && strlen(seg->key) <= 7 &&
        strspn(seg->key, "0123456789") == strlen(seg->key))
        return json_array_get(v, strtoul(seg->key, NULL, 10));
    return NULL;
}

const json_t *
zf_expr_path(const zf_expr_scope_t *scope, const char *path, const char **err)
{
    s_path_t parsed;
    if (s_path_parse(path, &parsed, err) != 0) return NULL;
    if (err) *err = NULL;
    if (!scope) return NULL;
    const json_t *roots[] = {scope->input, scope->inputs, scope->vars, scope->steps};
    const json_t *v = roots[parsed.scope];
    for (int i = 0; i < parsed.nseg && v; i++)
        v = s_step(v, &parsed.seg[i]);
    return v;
}

int
zf_expr_path_valid(const char *path)
{
    s_path_t parsed;
    return s_path_parse(path, &parsed, NULL) == 0;
}

// =========================================================================
//  Operators
// =========================================================================

typedef enum {
    S_EQ,
    S_NE,
    S_CONTAINS,
    S_NOT_CONTAINS,
    S_STARTS,
    S_ENDS,
    S_GT,
    S_LT,
    S_GE,
    S_LE,
    S_EMPTY,
    S_NOT_EMPTY,
    S_IN,
    S_CHANGED,
    S_CHANGED_TO,
    S_CHANGED_FROM
} s_op_t;

//  Seed 003's names plus the engine's ordering/membership extensions.
static const struct {
    const char *name;  // operator name as written in conditions
    s_op_t op;         // internal code
    int needs_value;   // 1 if "value" is required
} s_ops[] = {
    {"equals", S_EQ, 1},
    {"not_equals", S_NE, 1},
    {"contains", S_CONTAINS, 1},
    {"not_contains", S_NOT_CONTAINS, 1},
    {"starts_with", S_STARTS, 1},
    {"ends_with", S_ENDS, 1},
    {"greater_than", S_GT, 1},
    {"less_than", S_LT, 1},
    {"greater_than_or_equal", S_GE, 1},
    {"less_than_or_equal", S_LE, 1},
    {"is_empty", S_EMPTY, 0},
    {"is_not_empty", S_NOT_EMPTY, 0},
    {"in", S_IN, 1},
    {"changed", S_CHANGED, 0},
    {"changed_to", S_CHANGED_TO, 1},
    {"changed_from", S_CHANGED_FROM, 1},
};

static int
s_op_find(const char *name)
{
    for (size_t i = 0; name && i < sizeof s_ops / sizeof s_ops[0]; i++)
        if (strcmp(s_ops[i].name, name) == 0) return (int)i;
    return -1;
}

int
zf_expr_op_valid(const char *op)
{
    return s_op_find(op) >= 0;
}

int
zf_expr_op_needs_value(const char *op)
{
    int i = s_op_find(op);
    return i >= 0 && s_ops[i].needs_value;
}

int
zf_expr_op_uses_previous(const char *op)
{
    int i = s_op_find(op);
    return i >= 0 && s_ops[i].op >= S_CHANGED;
}

//  Parses a JSON string holding a plain decimal number ("12", "-3.5e2").
static int
s_numeric_string(const json_t *v, double *out)
{
    if (!json_is_string(v)) return 0;
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n == 0 || n > 64 || strpbrk(s, "xXpPiInN") || !strchr("+-.0123456789", s[0])) return 0;
    char *end;
    double d = strtod(s, &end);
    if (end != s + n || !isfinite(d)) return 0;
    *out = d;
    return 1;
}

//  Three-way compare of two numbers, exact for two integers.
static int
s_cmp_numbers(const json_t *a, const json_t *b, double da, double db)
{
    if (json_is_integer(a) && json_is_integer(b)) {
        json_int_t x = json_integer_value(a), y = json_integer_value(b);
        return (x > y) - (x < y);
    }
    return (da > db) - (da < db);
}

//  Orders a against b: numbers (numeric strings count), dates, strings by
//  bytes, booleans. 0 ok with *cmp set; -1 if the two are not comparable.
static int
s_order(const json_t *a, const json_t *b, int *cmp)
{
    double da = 0, db = 0;
    int na = json_is_number(a), nb = json_is_number(b);
    if (na) da = json_number_value(a);
    if (nb) db = json_number_value(b);
    if ((na || s_numeric_string(a, &da)) && (nb || s_numeric_string(b, &db))) {
        *cmp = s_cmp_numbers(a, b, da, db);
        return 0;
    }
    if (json_is_string(a) && json_is_string(b)) {
        long long ta, tb;
        if (zf_iso8601_ms(json_string_value(a), &ta) == 0 &&
            zf_iso8601_ms(json_string_value(b), &tb) == 0) {
            *cmp = (ta > tb) - (ta < tb);
            return 0;
        }
        size_t la = json_string_length(a), lb = json_string_length(b);
        int c = memcmp(json_string_value(a), json_string_value(b), la < lb ? la : lb);
        *cmp = c ? (c > 0) - (c < 0) : (la > lb) - (la < lb);
        return 0;
    }
    if (json_is_boolean(a) && json_is_boolean(b)) {
        *cmp = json_is_true(a) - json_is_true(b);
        return 0;
    }
    return -1;
}

static int
s_is_nullish(const json_t *v)
{
    return v == NULL || json_is_null(v);
}

//  Type-aware equality: absent == null, 1 == "1", dates by instant,
//  true == "true", containers structurally.
static int
s_equals(const json_t *a, const json_t *b)
{
    if (s_is_nullish(a) || s_is_nullish(b)) return s_is_nullish(a) && s_is_nullish(b);
    if (json_equal((json_t *)a, (json_t *)b)) return 1;
    if (json_is_boolean(a) != json_is_boolean(b)) {
        const json_t *bo = json_is_boolean(a) ? a : b, *st = bo == a ? b : a;
        return json_is_string(st) &&
               strcmp(json_string_value(st), json_is_true(bo) ? "true" : "false") == 0;
    }
    int cmp;
    if (json_is_boolean(a) || json_is_object(a) || json_is_array(a) || json_is_object(b) ||
        json_is_array(b))
        return 0;
    return s_order(a, b, &cmp) == 0 && cmp == 0;
}

//  Text of a scalar for substring operators; 0 if v has none.
static int
s_text(const json_t *v, char *buf, size_t len, const char **out, size_t *n)
{
    if (json_is_string(v)) {
        *out = json_string_value(v);
        *n = json_string_length(v);
        return 1;
    }
    if (json_is_integer(v))
        snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else if (json_is_real(v))
        snprintf(buf, len, "%.17g", json_real_value(v));
    else if (json_is_boolean(v))
        snprintf(buf, len, "%s", json_is_true(v) ? "true" : "false");
    else
        return 0;
    *out = buf;
    *n = strlen(buf);
    return 1;
}

//  contains: substring of a string, element of an array, key of an object.
static int
s_contains(const json_t *a, const json_t *b)
{
    char ba[64], bb[64];
    const char *ta, *tb;
    size_t la, lb;
    if (json_is_array(a)) {
        for (size_t i = 0; i < json_array_size(a); i++)
            if (s_equals(json_array_get(a, i), b)) return 1;
        return 0;
    }
    if (json_is_object(a))
        return json_is_string(b) && json_object_get(a, json_string_value(b)) != NULL;
    if (!s_text(a, ba, sizeof ba, &ta, &la) || !s_text(b, bb, sizeof bb, &tb, &lb)) return 0;
    return memmem(ta, la, tb, lb) != NULL;
}

//  starts_with (end = 0) and ends_with (end = 1) on the text of scalars.
static int
s_affix(const json_t *a, const json_t *b, int end)
{
    char ba[64], bb[64];
    const char *ta, *tb;
    size_t la, lb;
    if (!s_text(a, ba, sizeof ba, &ta, &la) || !s_text(b, bb, sizeof bb, &tb, &lb) || lb > la)
        return 0;
    return memcmp(end ? ta + la - lb : ta, tb, lb) == 0;
}

static int
s_is_empty(const json_t *v)
{
    if (s_is_nullish(v)) return 1;
    if (json_is_string(v)) return json_string_length(v) == 0;
    if (json_is_array(v)) return json_array_size(v) == 0;
    if (json_is_object(v)) return json_object_size(v) == 0;
    return 0;
}

//  Ordering operators: incomparable operands (null, mixed types) are false.
static int
s_ordered(const json_t *a, const json_t *b, s_op_t op)
{
    int cmp;
    if (s_is_nullish(a) || s_is_nullish(b) || s_order(a, b, &cmp) != 0) return 0;
    switch (op) {
    case S_GT:
        return cmp > 0;
    case S_LT:
        return cmp < 0;
    case S_GE:
        return cmp >= 0;
    default:
        return cmp <= 0;
    }
}

//  `in`: actual equals an element of the expected array.
static int
s_in(const json_t *a, const json_t *list)
{
    if (!json_is_array(list)) return ZF_EINVAL;
    for (size_t i = 0; i < json_array_size(list); i++)
        if (s_equals(a, json_array_get(list, i))) return 1;
    return 0;
}

int
zf_expr_compare_change(const json_t *actual, const json_t *previous, const char *op,
                       const json_t *expected)
{
    int i = s_op_find(op);
    if (i < 0) return ZF_EINVAL;
    switch (s_ops[i].op) {
    case S_EQ:
        return s_equals(actual, expected);
    case S_NE:
        return !s_equals(actual, expected);
    case S_CONTAINS:
        return s_contains(actual, expected);
    case S_NOT_CONTAINS:
        return !s_contains(actual, expected);
    case S_STARTS:
        return s_affix(actual, expected, 0);
    case S_ENDS:
        return s_affix(actual, expected, 1);
    case S_EMPTY:
        return s_is_empty(actual);
    case S_NOT_EMPTY:
        return !s_is_empty(actual);
    case S_IN:
        return s_in(actual, expected);
    case S_CHANGED:
        return !s_equals(actual, previous);
    case S_CHANGED_TO:
        return !s_equals(actual, previous) && s_equals(actual, expected);
    case S_CHANGED_FROM:
        return !s_equals(actual, previous) && s_equals(previous, expected);
    default:
        return s_ordered(actual, expected, s_ops[i].op);
    }
}

int
zf_expr_compare(const json_t *actual, const char *op, const json_t *expected)
{
    return zf_expr_compare_change(actual, NULL, op, expected);
}
