/*  actors/steps/evidence_snapshot.c — kind "evidence_snapshot" (seed 001):
    a point-in-time copy of compliance evidence, with its SHA-256.

    config: {"source": "TABLE_ROWS"|"AUDIT_LOGS"|"SECURITY_EVENTS"|
             "ORG_MEMBERS", "table"? (TABLE_ROWS: required, a module name),
             "limit"? (1..1000, default 100), "since"? (ISO-8601 or Unix ms)}
    output: {"source", "table"? (TABLE_ROWS), "rowCount", "capturedAt" (ISO,
             the step's start), "sha256" (hex, of the canonical JSON of
             rows), "rows": [...]}

    TABLE_ROWS reads the table through rec.list, newest first; with since,
    only rows whose updated_at >= since (added or changed since), reading
    at most S_SCAN_MAX records. The other sources come from the engine's
    own data through evidence.collect (actors/engine_evidence.c, where each
    row shape is described).

    Canonical JSON (so anyone can recompute sha256 from rows): no
    whitespace; object keys sorted by their UTF-8 bytes; strings as UTF-8
    with only '"', '\\' and control characters escaped (\b \f \n \r \t,
    others \u00xx in lower-case hex); integers in decimal; a real number
    that is integral and below 2^53 in magnitude is written as an integer,
    others in the shortest "%.Ng" form that reads back exactly. For rows of
    strings, integers, booleans and null this equals Python's
    json.dumps(rows, sort_keys=True, separators=(",", ":"), ensure_ascii=False).
*/
#include "actors/automation.h"
#include "actors/datefmt.h"
#include "actors/growbuf.h"
#include "actors/step.h"
#include "actors/steps/record_ops.h"
#include "broker/errors.h"

#include <math.h>
#include <openssl/sha.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_LIMIT_DEFAULT 100   // rows by default
#define S_LIMIT_MAX     1000  // rows at most
#define S_PAGE          500   // records per rec.list page (the service's maximum)
#define S_SCAN_MAX      5000  // TABLE_ROWS with since: records read at most
#define S_CANON_DEPTH   128   // nesting the canonical writer accepts

static const char *const s_sources[] = {"TABLE_ROWS", "AUDIT_LOGS", "SECURITY_EVENTS",
                                        "ORG_MEMBERS", NULL};

static bool
s_is_tpl(const json_t *v)
{
    return json_is_string(v) && strstr(json_string_value(v), "{{");
}

// =========================================================================
//  Validation
// =========================================================================

static int
s_check_since(const json_t *since, bool tpl_ok, char *err, size_t errlen)
{
    long long ms = 0;
    if (!since || json_is_null(since) || (tpl_ok && s_is_tpl(since))) return 0;
    if ((json_is_string(since) || (json_is_integer(since) && json_integer_value(since) >= 0)) &&
        zf_date_value_ms(since, &ms) == 0)
        return 0;
    return zf_errf(err, errlen, "config.since: must be an ISO-8601 date or Unix ms (>= 0)");
}

static int
s_check(const json_t *config, bool tpl_ok, char *err, size_t errlen)
{
    const json_t *src = json_object_get(config, "source");
    const char *s = json_string_value(src);
    int idx = -1;
    for (int i = 0; s && s_sources[i]; i++)
        if (strcmp(s, s_sources[i]) == 0) idx = i;
    if (idx < 0 && !(tpl_ok && s_is_tpl(src)))
        return zf_errf(err, errlen,
                       "config.source: required, one of TABLE_ROWS, AUDIT_LOGS, "
                       "SECURITY_EVENTS, ORG_MEMBERS");
    const json_t *t = json_object_get(config, "table");
    if ((idx == 0 || (t && !json_is_null(t))) && !(tpl_ok && s_is_tpl(t)) &&
        !zf_auto_module_valid(json_string_value(t)))
        return zf_errf(err, errlen,
                       "config.table: %s table name (1 to 64 of a-z, 0-9, _ and -, starting with "
                       "a letter)",
                       idx == 0 ? "TABLE_ROWS needs a" : "must be a");
    const json_t *lim = json_object_get(config, "limit");
    if (lim && !(tpl_ok && s_is_tpl(lim)) &&
        (!json_is_integer(lim) || json_integer_value(lim) < 1 ||
         json_integer_value(lim) > S_LIMIT_MAX))
        return zf_errf(err, errlen, "config.limit: must be an integer 1..%d", S_LIMIT_MAX);
    return s_check_since(json_object_get(config, "since"), tpl_ok, err, errlen);
}

static int
s_validate(const json_t *config, char *err, size_t errlen)
{
    return s_check(config, true, err, errlen) ? -1 : 0;
}

// =========================================================================
//  Canonical JSON and its digest
// =========================================================================

static void
s_put_string(zf_growbuf_t *b, const char *s, size_t n)
{
    zf_growbuf_put(b, "\"", 1);
    size_t run = 0;  // bytes copied as they are, pending
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        zf_growbuf_put(b, s + run, i - run);
        run = i + 1;
        char esc[8];
        const char *named = c == '"'    ? "\\\""
                            : c == '\\' ? "\\\\"
                            : c == '\b' ? "\\b"
                            : c == '\f' ? "\\f"
                            : c == '\n' ? "\\n"
                            : c == '\r' ? "\\r"
                            : c == '\t' ? "\\t"
                                        : NULL;
        if (!named) snprintf(esc, sizeof esc, "\\u%04x", c);
        zf_growbuf_put(b, named ? named : esc, strlen(named ? named : esc));
    }
    zf_growbuf_put(b, s + run, n - run);
    zf_growbuf_put(b, "\"", 1);
}

static void
s_put_real(zf_growbuf_t *b, double d)
{
    char num[40];
    if (d == 0)
        snprintf(num, sizeof num, "0");
    else if (d == floor(d) && fabs(d) < 9007199254740992.0)
        snprintf(num, sizeof num, "%.0f", d);
    else {
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(num, sizeof num, "%.*g", prec, d);
            if (strtod(num, NULL) == d) break;
        }
    }
    zf_growbuf_put(b, num, strlen(num));
}

static int
s_key_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int s_put_value(zf_growbuf_t *b, const json_t *v, int depth);

static int
s_put_object(zf_growbuf_t *b, const json_t *v, int depth)
{
    size_t n = json_object_size(v), i = 0;
    const char **keys = malloc((n ? n : 1) * sizeof *keys);
    if (!keys) abort();
    const char *k;
    json_t *x;
    json_object_foreach ((json_t *)v, k, x)
        keys[i++] = k;
    qsort(keys, n, sizeof *keys, s_key_cmp);
    int rc = 0;
    zf_growbuf_put(b, "{", 1);
    for (i = 0; i < n && rc == 0; i++) {
        if (i) zf_growbuf_put(b, ",", 1);
        s_put_string(b, keys[i], strlen(keys[i]));
        zf_growbuf_put(b, ":", 1);
        rc = s_put_value(b, json_object_get(v, keys[i]), depth + 1);
    }
    zf_growbuf_put(b, "}", 1);
    free(keys);
    return rc;
}

//  Writes v canonically; -1 past S_CANON_DEPTH.
static int
s_put_value(zf_growbuf_t *b, const json_t *v, int depth)
{
    char num[32];
    if (depth > S_CANON_DEPTH) return -1;
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return s_put_object(b, v, depth);
    case JSON_ARRAY: {
        size_t i;
        json_t *x;
        int rc = 0;
        zf_growbuf_put(b, "[", 1);
        json_array_foreach ((json_t *)v, i, x) {
            if (i) zf_growbuf_put(b, ",", 1);
            if (rc == 0) rc = s_put_value(b, x, depth + 1);
        }
        zf_growbuf_put(b, "]", 1);
        return rc;
    }
    case JSON_STRING:
        s_put_string(b, json_string_value(v), json_string_length(v));
        return 0;
    case JSON_INTEGER:
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        zf_growbuf_put(b, num, strlen(num));
        return 0;
    case JSON_REAL:
        s_put_real(b, json_real_value(v));
        return 0;
    case JSON_TRUE:
        zf_growbuf_put(b, "true", 4);
        return 0;
    case JSON_FALSE:
        zf_growbuf_put(b, "false", 5);
        return 0;
    default:
        zf_growbuf_put(b, "null", 4);
        return 0;
    }
}

//  SHA-256 (lower-case hex) of the canonical JSON of rows; -1 if too deep.
static int
s_digest(const json_t *rows, char hex[65])
{
    zf_growbuf_t b = {0};
    int rc = s_put_value(&b, rows, 0);
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)(b.p ? b.p : ""), b.len, md);
    free(b.p);
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return rc;
}

// =========================================================================
//  Sources
// =========================================================================

//  TABLE_ROWS: rec.list pages, newest first; since keeps updated_at >= since.
static json_t *
s_table_rows(zf_step_ctx_t *ctx, const char *table, size_t limit, long long since,
             zf_step_result_t *res)
{
    json_t *rows = json_array();
    size_t read = 0, max = since > 0 ? S_SCAN_MAX : limit;
    bool more = true;
    while (more && read < max && json_array_size(rows) < limit) {
        size_t page = max - read < S_PAGE ? max - read : S_PAGE;
        json_t *body = json_pack("{s:s, s:I, s:I}", "module", table, "limit", (json_int_t)page,
                                 "offset", (json_int_t)read);
        zf_record_call(ctx, "rec.list", body, NULL, "evidence_snapshot", res);
        if (res->status != ZF_STEP_OK) {
            json_decref(rows);
            return NULL;
        }
        json_t *recs = json_object_get(res->output, "records"), *r;
        size_t i;
        json_array_foreach (recs, i, r) {
            json_t *u = json_object_get(r, "updated_at");
            if (json_array_size(rows) < limit && (since <= 0 || json_integer_value(u) >= since))
                json_array_append(rows, r);
        }
        read += json_array_size(recs);
        more = json_array_size(recs) == page;
        zf_step_result_clear(res);
    }
    return rows;
}

//  The engine's sources (evidence.collect): the reply's rows, or NULL.
static json_t *
s_engine_rows(zf_step_ctx_t *ctx, const char *source, size_t limit, long long since,
              zf_step_result_t *res)
{
    json_t *body = json_pack("{s:s, s:I}", "source", source, "limit", (json_int_t)limit);
    if (since > 0) json_object_set_new(body, "since", json_integer(since));
    zf_record_call(ctx, "evidence.collect", body, "rows", "evidence_snapshot", res);
    if (res->status != ZF_STEP_OK) return NULL;
    json_t *rows = res->output;
    res->output = NULL;
    zf_step_result_clear(res);
    if (json_is_array(rows)) return rows;
    json_decref(rows);
    zf_step_fail(res, ZF_STEP_FAIL_FINAL, "evidence_snapshot: the engine sent no rows");
    return NULL;
}

static void
s_exec(zf_step_ctx_t *ctx, const json_t *config, zf_step_result_t *res)
{
    char err[256], at[64], hex[65];
    if (s_check(config, false, err, sizeof err)) {
        zf_step_fail(res, ZF_STEP_FAIL_FINAL, "evidence_snapshot: %s", err);
        return;
    }
    const char *source = json_string_value(json_object_get(config, "source"));
    const char *table = json_string_value(json_object_get(config, "table"));
    const json_t *lim = json_object_get(config, "limit"), *since = json_object_get(config, "since");
    size_t limit = lim ? (size_t)json_integer_value(lim) : S_LIMIT_DEFAULT;
    long long since_ms = 0;
    if (since && !json_is_null(since)) zf_date_value_ms(since, &since_ms);
    bool table_rows = strcmp(source, "TABLE_ROWS") == 0;
    json_t *rows = table_rows ? s_table_rows(ctx, table, limit, since_ms, res)
                              : s_engine_rows(ctx, source, limit, since_ms, res);
    if (!rows) return;
    if (s_digest(rows, hex)) {
        json_decref(rows);
        zf_step_fail(res, ZF_STEP_FAIL_FINAL, "evidence_snapshot: rows nested too deeply");
        return;
    }
    zf_date_iso(ctx->now_ms, at);
    res->status = ZF_STEP_OK;
    res->output =
        json_pack("{s:s, s:I, s:s, s:s, s:o}", "source", source, "rowCount",
                  (json_int_t)json_array_size(rows), "capturedAt", at, "sha256", hex, "rows", rows);
    if (table_rows) json_object_set_new(res->output, "table", json_string(table));
}

const zf_step_kind_t zf_step_kind_evidence_snapshot = {
    .name = "evidence_snapshot", .validate = s_validate, .exec = s_exec, .cpu_only = 0};
