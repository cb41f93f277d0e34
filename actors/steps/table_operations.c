/*  actors/steps/table_operations.c — kind "table_operations" (seed 001).

    A table is a records module (tableId = module name), a row is a record.
    config: {"operation": "create"|"update"|"delete"|"get"|"query",
             "table": module, "row_id"? (update, delete, get),
             "data"? (create, update: a map; update merges, null removes),
             "filter"? (query: {field: value}, all must be equal),
             "limit"? (query: 1..500, default 50)}
    output: create/update/get {"row": record} (update adds "changed"),
            delete {"deleted": true, "row_id"},
            query {"rows": [...], "count", "scanned", "truncated"}.

    Everything goes through the records service (rec.* via ctx->call), so
    a created or updated row fires ROW_ADDED / RECORD_UPDATED automations
    like any other change, with the run's causal depth. A query reads
    rec.list pages (newest first) and filters them here, reading at most
    S_SCAN_MAX records; "truncated" says the bound cut the scan short.
    Filter equality is JSON equality on top-level fields, except that
    numbers compare by value (1 equals 1.0).

    Exactly-once creates like create_record: rec.create carries the
    idempotency key "<run_id>.<node_id>", so a step re-run after a crash
    gets the row its first run created instead of a second one.
*/
#include "actors/automation.h"
#include "actors/step.h"
#include "broker/errors.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define S_LIMIT_DEFAULT 50    // rows a query returns by default
#define S_LIMIT_MAX     500   // rows a query returns at most
#define S_PAGE          500   // records per rec.list page (the service's maximum)
#define S_SCAN_MAX      5000  // records a query reads at most
#define S_ID_MAX        128   // bytes in a row id

static const char *const s_ops[] = {"create", "update", "delete", "get", "query", NULL};

static bool
s_is_tpl(const json_t *v)
{
    return json_is_string(v) && strstr(json_string_value(v), "{{");
}

//  The operation's index in s_ops, -1 if unknown.
static int
s_op_index(const char *op)
{
    for (int i = 0; op && s_ops[i]; i++)
        if (strcmp(op, s_ops[i]) == 0) return i;
    return -1;
}

// =========================================================================
//  Validation: tpl_ok at create time (templates are rendered later), never
//  once rendered (a rendered value holding "{{" is data, not a template).
// =========================================================================

static int
s_check_row_id(const json_t *config, bool tpl_ok, const char *op, char *err, size_t errlen)
{
    const json_t *id = json_object_get(config, "row_id");
    if (json_is_string(id) && json_string_length(id) > 0 && json_string_length(id) <= S_ID_MAX &&
        (tpl_ok || !s_is_tpl(id)))
        return 0;
    return zf_errf(err, errlen, "config.row_id: required string of 1..%d bytes for %s", S_ID_MAX,
                   op);
}

static int
s_check_data(const json_t *config, bool tpl_ok, const char *op, char *err, size_t errlen)
{
    const json_t *d = json_object_get(config, "data");
    bool update = strcmp(op, "update") == 0;
    if (tpl_ok && s_is_tpl(d)) return 0;
    if (json_is_object(d) && (!update || json_object_size(d) > 0)) return 0;
    return zf_errf(err, errlen, "config.data: required %sobject for %s", update ? "non-empty " : "",
                   op);
}

static int
s_check_query(const json_t *config, bool tpl_ok, char *err, size_t errlen)
{
    const json_t *f = json_object_get(config, "filter"), *lim = json_object_get(config, "limit");
    if (f && !json_is_null(f) && !json_is_object(f) && !(tpl_ok && s_is_tpl(f)))
        return zf_errf(err, errlen, "config.filter: must be an object {field: value}");
    if (lim && !(tpl_ok && s_is_tpl(lim)) &&
        (!json_is_integer(lim) || json_integer_value(lim) < 1 ||
         json_integer_value(lim) > S_LIMIT_MAX))
        return zf_errf(err, errlen, "config.limit: must be an integer 1..%d", S_LIMIT_MAX);
    return 0;
}

static int
s_check(const json_t *config, bool tpl_ok, char *err, size_t errlen)
{
    const json_t *opv = json_object_get(config, "operation");
    const char *op = json_string_value(opv);
    int idx = s_op_index(op);
    if (idx < 0 && !(tpl_ok && s_is_tpl(opv)))
        return zf_errf(err, errlen,
                       "config.operation: required, one of create, update, delete, get, query");
    const json_t *t = json_object_get(config, "table");
    if (!(tpl_ok && s_is_tpl(t)) && !zf_auto_module_valid(json_string_value(t)))
        return zf_errf(err, errlen,
                       "config.table: required table name (1 to 64 of a-z, 0-9, _ and -, "
                       "starting with a letter)");
    if (idx < 0) return 0;  // a templated operation is checked once rendered
    if (idx == 1 || idx == 2 || idx == 3) {
        if (s_check_row_id(config, tpl_ok, op, err, errlen)) return ZF_EINVAL;
    }
    if (idx == 0 || idx == 1) return s_check_data(config, tpl_ok, op, err, errlen);
    return idx == 4 ? s_check_query(config, tpl_ok, err, errlen) : 0;
}

static int
s_validate(const json_t *config, char *err, size_t errlen)
{
    return s_check(config, true, err, errlen) ? -1 : 0;
}

// =========================================================================
//  Requests
// =========================================================================

//  One rec.* request (body taken). Returns 0 with *reply, or fails res:
//  not_found names the row, unavailable/timeout/internal are retryable,
//  anything else (validation) is final.
static int
s_call(zf_step_ctx_t *ctx, const char *type, json_t *body, const char *row_id, json_t **reply,
       zf_step_result_t *res)
{
    *reply = NULL;
    if (!ctx->call) {
        json_decref(body);
        zf_step_fail(res, ZF_STEP_FAIL_FINAL, "table_operations: no records service here");
        return -1;
    }
    json_int_t depth = json_integer_value(json_object_get(ctx->trigger, "depth"));
    json_object_set_new(body, "depth", json_integer(depth + 1));
    char err[200];
    int rc = ctx->call(ctx->call_arg, type, body, reply, err, sizeof err);
    if (rc == 0) return 0;
    if (rc == ZF_ENOTFOUND && row_id)
        zf_step_fail(res, ZF_STEP_FAIL_FINAL, "table_operations: row %.128s not found", row_id);
    else if (rc == ZF_EUNAVAIL || rc == ZF_ETIMEOUT || rc == ZF_EIO)
        zf_step_fail(res, ZF_STEP_FAIL, "table_operations: %s", err);
    else
        zf_step_fail(res, ZF_STEP_FAIL_FINAL, "table_operations: %s", err);
    return -1;
}

//  Filter equality: numbers by value, everything else as JSON.
static bool
s_equal(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b)) return json_number_value(a) == json_number_value(b);
    return a && b && json_equal(a, b);
}

static bool
s_matches(const json_t *row, const json_t *filter)
{
    const char *k;
    const json_t *v;
    json_object_foreach ((json_t *)filter, k, v) {
        if (!s_equal(json_object_get(row, k), v)) return false;
    }
    return true;
}

//  query: rec.list pages, newest first, filtered here, bounded by S_SCAN_MAX.
static void
s_query(zf_step_ctx_t *ctx, const json_t *config, const char *table, zf_step_result_t *res)
{
    const json_t *filter = json_object_get(config, "filter");
    const json_t *lim = json_object_get(config, "limit");
    size_t limit = lim ? (size_t)json_integer_value(lim) : S_LIMIT_DEFAULT, scanned = 0;
    json_t *rows = json_array();
    bool more = true;
    while (more && scanned < S_SCAN_MAX && json_array_size(rows) < limit) {
        json_t *reply = NULL;
        json_t *body = json_pack("{s:s, s:i, s:I}", "module", table, "limit", S_PAGE, "offset",
                                 (json_int_t)scanned);
        if (s_call(ctx, "rec.list", body, NULL, &reply, res)) {
            json_decref(rows);
            return;
        }
        json_t *page = json_object_get(reply, "records"), *row;
        size_t i, total = (size_t)json_integer_value(json_object_get(reply, "total"));
        json_array_foreach (page, i, row) {
            if (json_array_size(rows) >= limit || scanned >= S_SCAN_MAX) break;
            scanned++;
            if (!json_is_object(filter) || s_matches(row, filter)) json_array_append(rows, row);
        }
        more = json_array_size(page) == S_PAGE && scanned < total;
        json_decref(reply);
    }
    res->status = ZF_STEP_OK;
    res->output =
        json_pack("{s:o, s:I, s:I, s:b}", "rows", rows, "count", (json_int_t)json_array_size(rows),
                  "scanned", (json_int_t)scanned, "truncated", more && scanned >= S_SCAN_MAX);
}

//  create/update/delete/get: one request, output shaped for the operation.
static void
s_single(zf_step_ctx_t *ctx, const json_t *config, int op, const char *table, zf_step_result_t *res)
{
    static const char *const types[] = {"rec.create", "rec.update", "rec.delete", "rec.get"};
    const char *id = json_string_value(json_object_get(config, "row_id"));
    json_t *data = json_object_get(config, "data");
    json_t *body = json_pack("{s:s}", "module", table);
    if (op == 0) json_object_set(body, "record", data);
    if (op != 0) json_object_set_new(body, "id", json_string(id));
    if (op == 1) json_object_set(body, "patch", data);
    json_t *reply = NULL;
    if (s_call(ctx, types[op], body, op == 0 ? NULL : id, &reply, res)) return;
    res->status = ZF_STEP_OK;
    if (op == 2)
        res->output = json_pack("{s:b, s:s}", "deleted", 1, "row_id", id);
    else
        res->output = json_pack("{s:O}", "row", json_object_get(reply, "record"));
    json_t *changed = json_object_get(reply, "changed");
    if (op == 1 && changed) json_object_set(res->output, "changed", changed);
    json_decref(reply);
}

static void
s_exec(zf_step_ctx_t *ctx, const json_t *config, zf_step_result_t *res)
{
    char err[256];
    if (s_check(config, false, err, sizeof err)) {
        zf_step_fail(res, ZF_STEP_FAIL_FINAL, "table_operations: %s", err);
        return;
    }
    int op = s_op_index(json_string_value(json_object_get(config, "operation")));
    const char *table = json_string_value(json_object_get(config, "table"));
    if (op == 4)
        s_query(ctx, config, table, res);
    else
        s_single(ctx, config, op, table, res);
}

const zf_step_kind_t zf_step_kind_table_operations = {
    .name = "table_operations", .validate = s_validate, .exec = s_exec, .cpu_only = 0};
