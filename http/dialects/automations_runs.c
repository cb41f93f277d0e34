/*  http/dialects/automations_runs.c — seed 001 runs: execute, the paginated
    run list, run detail (logs, state, child runs), the streamed export,
    resume, statistics and send-email. See automations.c for the dialect
    and docs/api/automations.md for the shapes.
*/
#include "http/dialects/automations_int.h"

#include "broker/ids.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_PAGE_SIZE       20           // runs per page by default
#define S_MAX_PAGE_SIZE   100          // the largest pageSize
#define S_MAX_PAGE        1000000      // the largest page number
#define S_EXPORT_MAX      500          // runs in one export (newest first)
#define S_OUTPUT_MAX      500          // characters of a log entry's output
#define S_CHUNK           (64 * 1024)  // bytes buffered per streamed chunk
#define S_MAX_RECIPS      100          // addresses in to, cc or bcc
#define S_MAIL_TIMEOUT_MS 40000        // mail.send: the SMTP exchange may take 30 s

/* ---- views -------------------------------------------------------------------------- */

//  started_at, or created_at while the run is queued.
static json_t *
s_started(const json_t *run)
{
    const json_t *t = json_object_get(run, "started_at");
    return zf_http_time_json(json_is_integer(t) ? t : json_object_get(run, "created_at"));
}

static json_t *
s_run_summary(const json_t *run)
{
    return json_pack("{s:O?, s:o, s:o, s:o, s:o}", "id", json_object_get(run, "id"), "status",
                     zf_auto_run_status(json_string_value(json_object_get(run, "status"))),
                     "startedAt", s_started(run), "completedAt",
                     zf_http_time_json(json_object_get(run, "finished_at")), "error",
                     zf_http_run_error(json_object_get(run, "error")));
}

static const char *
s_step_status(const char *core)
{
    static const char *const map[][2] = {{"completed", "success"}, {"failed", "failed"},
                                         {"blocked", "failed"},    {"waiting", "paused"},
                                         {"paused", "paused"},     {"retrying", "retrying"},
                                         {"skipped", "skipped"},   {"running", "running"}};
    for (size_t i = 0; core && i < sizeof map / sizeof map[0]; i++) {
        if (strcmp(core, map[i][0]) == 0) return map[i][1];
    }
    return core ? core : "running";
}

//  A log entry's output as text of at most S_OUTPUT_MAX characters.
static json_t *
s_output(const json_t *out)
{
    if (!out || json_is_null(out)) return json_null();
    char *dumped = json_is_string(out) ? NULL : json_dumps(out, JSON_COMPACT | JSON_ENCODE_ANY);
    const char *s = dumped ? dumped : json_string_value(out);
    size_t bytes = 0, chars = 0;
    for (; s && s[bytes]; bytes++) {
        if (((unsigned char)s[bytes] & 0xc0) != 0x80 && chars++ == S_OUTPUT_MAX) break;
    }
    json_t *v = s ? json_stringn(s, bytes) : json_null();
    free(dumped);
    return v ? v : json_null();
}

static json_t *
s_log_view(const json_t *e, const json_t *names)
{
    const char *node = json_string_value(json_object_get(e, "nodeId"));
    const json_t *dur = json_object_get(e, "durationMs"), *at = json_object_get(e, "startedAt");
    if (!json_is_integer(at)) at = json_object_get(e, "finishedAt");
    json_t *v =
        json_pack("{s:O?, s:O?, s:o, s:s, s:o, s:o, s:o}", "stepId", json_object_get(e, "nodeId"),
                  "stepType", json_object_get(e, "nodeType"), "stepName",
                  zf_http_or_null(node ? json_object_get(names, node) : NULL), "status",
                  s_step_status(json_string_value(json_object_get(e, "status"))), "durationMs",
                  json_is_integer(dur) ? json_deep_copy(dur) : json_null(), "timestamp",
                  zf_http_time_json(at), "output", s_output(json_object_get(e, "output")));
    const char *err = json_string_value(json_object_get(e, "error"));
    if (err && *err) json_object_set_new(v, "error", json_string(err));
    return v;
}

static json_t *
s_state_view(const json_t *st)
{
    static const char *const maps[] = {"variables", "stepOutputs", "retryCount"};
    static const char *const lists[] = {"completedNodeIds", "pendingNodeIds", "skippedNodeIds"};
    json_t *v = json_object();
    for (int i = 0; i < 3; i++) {
        json_t *x = json_object_get(st, maps[i]);
        json_object_set_new(v, maps[i], json_is_object(x) ? json_deep_copy(x) : json_object());
        x = json_object_get(st, lists[i]);
        json_object_set_new(v, lists[i], json_is_array(x) ? json_deep_copy(x) : json_array());
    }
    return v;
}

static json_t *
s_children_view(const json_t *children)
{
    json_t *out = json_array(), *c;
    size_t i;
    json_array_foreach (children, i, c) {
        const json_t *st = json_object_get(c, "started_at");
        json_array_append_new(
            out,
            json_pack(
                "{s:O?, s:O?, s:O?, s:o, s:o, s:o}", "id", json_object_get(c, "id"), "workflowId",
                json_object_get(c, "workflow_id"), "workflowName",
                json_object_get(c, "workflow_name"), "status",
                zf_auto_run_status(json_string_value(json_object_get(c, "status"))), "startedAt",
                zf_http_time_json(json_is_integer(st) ? st : json_object_get(c, "created_at")),
                "completedAt", zf_http_time_json(json_object_get(c, "finished_at"))));
    }
    return out;
}

//  node id -> step name of a workflow (new reference).
static json_t *
s_step_names(const json_t *wf)
{
    json_t *names = json_object(), *node;
    size_t i;
    json_array_foreach (json_object_get(json_object_get(wf, "definition"), "nodes"), i, node) {
        const char *id = json_string_value(json_object_get(node, "id"));
        json_t *name = json_object_get(node, "name");
        if (id && json_is_string(name)) json_object_set(names, id, name);
    }
    return names;
}

//  A run.get reply as the seed's run detail (without "workflow").
static json_t *
s_run_detail(const json_t *rep, const json_t *names)
{
    const json_t *run = json_object_get(rep, "run");
    json_t *v = s_run_summary(run), *logs = json_array(), *e;
    size_t i;
    json_array_foreach (json_object_get(rep, "logs"), i, e)
        json_array_append_new(logs, s_log_view(e, names));
    json_object_set(v, "workflowId", json_object_get(run, "workflow_id"));
    json_object_set_new(v, "logs", logs);
    json_object_set_new(v, "state", s_state_view(json_object_get(rep, "state")));
    json_object_set_new(v, "childRuns", s_children_view(json_object_get(rep, "children")));
    const json_t *parent = json_object_get(json_object_get(rep, "parent"), "run_id");
    if (!json_is_string(parent)) parent = json_object_get(run, "parent_run_id");
    if (json_is_string(parent)) json_object_set(v, "parentRunId", (json_t *)parent);
    return v;
}

/* ---- execute and runs -------------------------------------------------------------------- */

void
zf_auto_execute(zf_http_req_t *req)
{
    const char *id = zf_auto_id_param(req, "id", zf_auto_wf_404);
    if (!id) return;
    json_t *body = zf_http_body(req), *in = json_object_get(body, "inputs");
    json_t *vars = json_object_get(body, "variables");
    if ((in && !json_is_object(in) && !json_is_null(in)) ||
        (vars && !json_is_object(vars) && !json_is_null(vars))) {
        zf_http_fail(req, ZF_EINVAL, "%s: must be an object",
                     in && !json_is_object(in) && !json_is_null(in) ? "inputs" : "variables");
        return;
    }
    json_t *inputs = json_is_object(in) ? json_deep_copy(in) : json_object();
    if (json_is_object(vars)) json_object_update(inputs, vars);
    json_t *rep = NULL;
    char msg[512];
    int rc =
        zf_http_call(req, "run.start", json_pack("{s:s, s:o}", "workflow_id", id, "inputs", inputs),
                     ZF_HTTP_CALL_TIMEOUT_MS, &rep, msg, sizeof msg);
    if (rc == ZF_ECONFLICT && !*zf_http_last_detail(req)) {
        zf_http_fail(req, rc, "Cannot execute: %s", msg);
    } else if (rc) {
        zf_auto_fail_call(req, rc, msg, zf_auto_wf_404, NULL, 0);
    } else {
        const json_t *run = json_object_get(rep, "run");
        zf_http_respond(
            req, 202,
            json_pack("{s:O?, s:o, s:o}", "runId", json_object_get(run, "id"), "status",
                      zf_auto_run_status(json_string_value(json_object_get(run, "status"))),
                      "startedAt", s_started(run)));
    }
    json_decref(rep);
}

void
zf_auto_runs(zf_http_req_t *req)
{
    const char *id = zf_auto_id_param(req, "id", zf_auto_wf_404);
    if (!id) return;
    int64_t page, size;
    if (zf_http_query_int(req, "page", 1, 1, S_MAX_PAGE, &page)) {
        zf_http_fail(req, ZF_EINVAL, "page: must be an integer >= 1");
        return;
    }
    if (zf_http_query_int(req, "pageSize", S_PAGE_SIZE, 1, S_MAX_PAGE_SIZE, &size)) {
        zf_http_fail(req, ZF_EINVAL, "pageSize: must be an integer from 1 to %d", S_MAX_PAGE_SIZE);
        return;
    }
    json_t *rep =
        zf_auto_call(req, "run.list",
                     json_pack("{s:s, s:I, s:I}", "workflow_id", id, "limit", (json_int_t)size,
                               "offset", (json_int_t)((page - 1) * size)),
                     zf_auto_wf_404);
    if (!rep) return;
    json_t *items = json_array(), *run;
    size_t i;
    json_array_foreach (json_object_get(rep, "runs"), i, run)
        json_array_append_new(items, s_run_summary(run));
    json_int_t total = json_integer_value(json_object_get(rep, "total"));
    json_decref(rep);
    zf_http_respond(req, 200,
                    json_pack("{s:o, s:{s:I, s:I, s:I, s:I}}", "runs", items, "pagination", "page",
                              (json_int_t)page, "pageSize", (json_int_t)size, "total", total,
                              "totalPages", (json_int_t)((total + size - 1) / size)));
}

//  run.get of run_id when it belongs to workflow wf_id; else answers
//  404 and returns NULL.
static json_t *
s_run_of(zf_http_req_t *req, const char *wf_id, const char *run_id)
{
    json_t *rep = zf_auto_call(req, "run.get", json_pack("{s:s}", "id", run_id), zf_auto_run_404);
    const char *wf = json_string_value(json_object_get(json_object_get(rep, "run"), "workflow_id"));
    if (rep && (!wf || strcmp(wf, wf_id) != 0)) {
        json_decref(rep);
        zf_http_fail(req, ZF_ENOTFOUND, "%s", zf_auto_run_404);
        return NULL;
    }
    return rep;
}

void
zf_auto_run_get(zf_http_req_t *req)
{
    const char *id = zf_auto_id_param(req, "id", zf_auto_run_404);
    const char *run_id = id ? zf_auto_id_param(req, "runId", zf_auto_run_404) : NULL;
    json_t *rep = run_id ? s_run_of(req, id, run_id) : NULL;
    if (!rep) return;
    json_t *wf = zf_auto_call(req, "wf.get", json_pack("{s:s}", "id", id), zf_auto_run_404);
    if (!wf) {
        json_decref(rep);
        return;
    }
    const json_t *w = json_object_get(wf, "workflow");
    json_t *names = s_step_names(w), *v = s_run_detail(rep, names);
    json_object_set_new(v, "workflow",
                        json_pack("{s:O?, s:O?}", "id", json_object_get(w, "id"), "name",
                                  json_object_get(w, "name")));
    zf_http_respond(req, 200, json_pack("{s:o}", "run", v));
    json_decref(names);
    json_decref(wf);
    json_decref(rep);
}

/* ---- export ------------------------------------------------------------------------------ */

typedef struct {
    zf_http_req_t *req;  // the streaming request
    char *buf;           // pending bytes (S_CHUNK)
    size_t len;          // bytes in buf
    bool broken;         // the client has gone: stop
} s_out_t;

static void
s_flush(s_out_t *o)
{
    if (!o->broken && o->len && zf_http_stream_write(o->req, o->buf, o->len) < 0) o->broken = true;
    o->len = 0;
}

static void
s_put(s_out_t *o, const char *s, size_t n)
{
    if (o->broken) return;
    if (o->len + n > S_CHUNK) s_flush(o);
    if (n > S_CHUNK) {
        if (!o->broken && zf_http_stream_write(o->req, s, n) < 0) o->broken = true;
        return;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
}

static void
s_put_json(s_out_t *o, const json_t *v)
{
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (text) s_put(o, text, strlen(text));
    free(text);
}

//  "<name>" lowercased, runs of other characters as one "-", at most 64.
static void
s_slug(const char *name, char out[72])
{
    size_t j = 0;
    bool dash = false;
    for (const unsigned char *p = (const unsigned char *)(name ? name : ""); *p && j < 64; p++) {
        if (*p < 0x80 && isalnum(*p)) {
            if (dash && j) out[j++] = '-';
            dash = false;
            if (j < 64) out[j++] = (char)tolower(*p);
        } else {
            dash = true;
        }
    }
    out[j] = '\0';
    if (!j) snprintf(out, 72, "automation");
}

//  The ids to export (newest first, at most S_EXPORT_MAX), or the single
//  ?runId= one (checked to be this workflow's). Answers and returns NULL
//  on failure; *first is that run's run.get reply when single.
static json_t *
s_export_ids(zf_http_req_t *req, const char *id, json_t **first)
{
    const char *qwhy = NULL;
    json_t *qmap = zf_http_query_map(req, &qwhy);
    const char *run_id = json_string_value(json_object_get(qmap, "runId"));
    *first = NULL;
    if (!qmap) {
        zf_http_fail(req, ZF_EINVAL, "%s", qwhy);
        return NULL;
    }
    if (json_object_get(qmap, "runId")) {
        if (!run_id || !zf_uuid_valid(run_id))
            zf_http_fail(req, ZF_ENOTFOUND, "%s", zf_auto_run_404);
        else
            *first = s_run_of(req, id, run_id);
        json_t *ids = *first ? json_pack("[s]", run_id) : NULL;
        json_decref(qmap);
        return ids;
    }
    json_decref(qmap);
    json_t *rep = zf_auto_call(req, "run.list",
                               json_pack("{s:s, s:i}", "workflow_id", id, "limit", S_EXPORT_MAX),
                               zf_auto_wf_404);
    if (!rep) return NULL;
    json_t *ids = json_array(), *run;
    size_t i;
    json_array_foreach (json_object_get(rep, "runs"), i, run)
        json_array_append(ids, json_object_get(run, "id"));
    json_decref(rep);
    return ids;
}

//  Streams {"workflow", "exportedAt", "runs": [...], "runCount"}: each run
//  is fetched (run.get) and written as it comes, so memory stays at one
//  run. A run deleted meanwhile is skipped; any other failure after the
//  first byte ends the stream early (the JSON is then incomplete).
static void
s_export_stream(zf_http_req_t *req, const json_t *wf, json_t *ids, json_t *first)
{
    s_out_t o = {.req = req, .buf = malloc(S_CHUNK)};
    json_t *names = s_step_names(wf), *v;
    char now[32];
    zf_http_iso(zf_now_ms(), now);
    json_t *head = json_pack("{s:O?, s:O?}", "id", json_object_get(wf, "id"), "name",
                             json_object_get(wf, "name"));
    s_put(&o, "{\"workflow\":", 12);
    s_put_json(&o, head);
    json_decref(head);
    s_put(&o, ",\"exportedAt\":\"", 15);
    s_put(&o, now, strlen(now));
    s_put(&o, "\",\"runs\":[", 10);
    size_t i, n = 0;
    bool failed = false;
    json_array_foreach (ids, i, v) {
        json_t *rep = i == 0 ? json_incref(first) : NULL;
        int rc = rep ? 0
                     : zf_http_call(req, "run.get", json_pack("{s:O}", "id", v),
                                    ZF_HTTP_CALL_TIMEOUT_MS, &rep, NULL, 0);
        if (rc == ZF_ENOTFOUND) continue;
        if (rc || o.broken) {
            failed = true;
            break;
        }
        json_t *detail = s_run_detail(rep, names);
        if (n++) s_put(&o, ",", 1);
        s_put_json(&o, detail);
        json_decref(detail);
        json_decref(rep);
    }
    if (!failed) {
        char tail[48];
        int len = snprintf(tail, sizeof tail, "],\"runCount\":%zu}", n);
        s_put(&o, tail, (size_t)len);
    }
    s_flush(&o);
    free(o.buf);
    json_decref(names);
}

void
zf_auto_export(zf_http_req_t *req)
{
    const char *id = zf_auto_id_param(req, "id", zf_auto_wf_404);
    json_t *wf = id ? zf_auto_call(req, "wf.get", json_pack("{s:s}", "id", id), zf_auto_wf_404)
                    : NULL,
           *first = NULL;
    json_t *ids = wf ? s_export_ids(req, id, &first) : NULL;
    if (!ids) {
        json_decref(wf);
        return;
    }
    const json_t *w = json_object_get(wf, "workflow");
    char slug[72], disp[128];
    s_slug(json_string_value(json_object_get(w, "name")), slug);
    snprintf(disp, sizeof disp, "attachment; filename=\"%s-runs.json\"", slug);
    zf_http_header(req, "Content-Disposition", disp);
    if (zf_http_stream_begin(req, 200, "application/json; charset=utf-8") == 0)
        s_export_stream(req, w, ids, first);
    json_decref(first);
    json_decref(ids);
    json_decref(wf);
}

/* ---- resume, stats ----------------------------------------------------------------------- */

void
zf_auto_resume(zf_http_req_t *req)
{
    const char *run_id = zf_auto_id_param(req, "runId", zf_auto_run_404);
    if (!run_id) return;
    json_t *body = zf_http_body(req), *dec = json_object_get(body, "decision");
    json_t *data = json_object_get(body, "data");
    const char *d = json_string_value(dec);
    if (dec && !json_is_null(dec) && (!d || (strcmp(d, "approved") && strcmp(d, "rejected")))) {
        zf_http_fail(req, ZF_EINVAL, "decision: must be approved or rejected");
        return;
    }
    json_t *q = json_pack("{s:s}", "id", run_id);
    if (d) json_object_set(q, "decision", dec);
    if (data) json_object_set(q, "data", data);
    json_t *rep = NULL;
    char msg[512];
    int rc = zf_http_call(req, "run.resume", q, ZF_HTTP_CALL_TIMEOUT_MS, &rep, msg, sizeof msg);
    if (rc == ZF_ECONFLICT) {
        const char *detail = zf_http_last_detail(req);
        zf_http_fail_code(req, 409, *detail ? detail : "conflict", "Run cannot be resumed: %s",
                          *msg ? msg : "it is not paused");
    } else if (rc) {
        zf_auto_fail_call(req, rc, msg, zf_auto_run_404, NULL, 0);
    } else {
        const json_t *run = json_object_get(rep, "run");
        zf_http_respond(
            req, 200,
            json_pack("{s:b, s:s, s:o}", "success", 1, "runId", run_id, "status",
                      zf_auto_run_status(json_string_value(json_object_get(run, "status")))));
    }
    json_decref(rep);
}

static json_int_t
s_count(const json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

void
zf_auto_stats(zf_http_req_t *req)
{
    json_t *rep = zf_auto_call(req, "wf.stats", json_object(), zf_auto_wf_404);
    if (!rep) return;
    const json_t *w = json_object_get(rep, "workflows"), *r = json_object_get(rep, "runs");
    zf_http_respond(
        req, 200,
        json_pack("{s:{s:I, s:I, s:I, s:I, s:I}, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I}}",
                  "workflows", "total", s_count(w, "total"), "active", s_count(w, "active"),
                  "draft", s_count(w, "draft"), "paused", s_count(w, "paused"), "archived",
                  s_count(w, "archived"), "runs", "total", s_count(r, "total"), "running",
                  s_count(r, "queued") + s_count(r, "running"), "paused",
                  s_count(r, "waiting") + s_count(r, "paused"), "waitingForChild",
                  s_count(r, "waiting_for_child"), "completed", s_count(r, "completed"), "failed",
                  s_count(r, "failed"), "cancelled", s_count(r, "cancelled")));
    json_decref(rep);
}

/* ---- send-email -------------------------------------------------------------------------- */

//  A recipient field: a non-empty string or 1..S_MAX_RECIPS of them.
static bool
s_addrs_ok(const json_t *v)
{
    if (json_is_string(v)) return json_string_length(v) > 0;
    size_t i, n = json_array_size(v);
    json_t *a;
    if (!json_is_array(v) || n == 0 || n > S_MAX_RECIPS) return false;
    json_array_foreach (v, i, a) {
        if (!json_is_string(a) || json_string_length(a) == 0) return false;
    }
    return true;
}

static bool
s_nonempty(const json_t *v)
{
    return json_is_string(v) && json_string_length(v) > 0;
}

static bool
s_base64_ok(const char *s)
{
    size_t n = strlen(s);
    return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\r\n") == n;
}

//  The first problem of a send-email body, or NULL.
static const char *
s_mail_problem(const json_t *b, char *why, size_t len)
{
    static const char *const opt_addrs[] = {"cc", "bcc"};
    const json_t *atts = json_object_get(b, "attachments"), *a;
    if (!s_addrs_ok(json_object_get(b, "to")))
        return "to: required, an email address or a non-empty array of them";
    for (int i = 0; i < 2; i++) {
        const json_t *v = json_object_get(b, opt_addrs[i]);
        if (v && !json_is_null(v) && !s_addrs_ok(v)) {
            snprintf(why, len, "%s: must be an email address or a non-empty array of them",
                     opt_addrs[i]);
            return why;
        }
    }
    if (!json_is_string(json_object_get(b, "subject"))) return "subject: required string";
    if (!json_is_string(json_object_get(b, "body"))) return "body: required string";
    const json_t *html = json_object_get(b, "html");
    if (html && !json_is_null(html) && !json_is_string(html)) return "html: must be a string";
    if (atts && !json_is_null(atts) && !json_is_array(atts)) return "attachments: must be an array";
    size_t i;
    json_array_foreach (atts, i, a) {
        const char *c = json_string_value(json_object_get(a, "content"));
        const json_t *ct = json_object_get(a, "contentType");
        if (!json_is_object(a) || !s_nonempty(json_object_get(a, "filename")) || !c ||
            !s_base64_ok(c) || (ct && !json_is_string(ct))) {
            snprintf(why, len,
                     "attachments[%zu]: needs filename, content (base64) and contentType strings",
                     i);
            return why;
        }
    }
    return NULL;
}

static json_t *
s_list_or_empty(const json_t *v)
{
    return json_is_array(v) ? json_deep_copy(v) : json_array();
}

void
zf_auto_send_email(zf_http_req_t *req)
{
    static const char *const fields[] = {"to",   "cc",   "bcc",         "subject",
                                         "body", "html", "attachments", NULL};
    json_t *body = zf_http_body(req), *q = json_object();
    char why[160];
    const char *problem = s_mail_problem(body, why, sizeof why);
    if (problem) {
        json_decref(q);
        zf_http_fail(req, ZF_EINVAL, "%s", problem);
        return;
    }
    for (int i = 0; fields[i]; i++) {
        json_t *v = json_object_get(body, fields[i]);
        if (v && !json_is_null(v)) json_object_set(q, fields[i], v);
    }
    json_t *rep = NULL;
    char msg[512];
    int rc = zf_http_call(req, "mail.send", q, S_MAIL_TIMEOUT_MS, &rep, msg, sizeof msg);
    if (rc && strcmp(zf_http_last_detail(req), "email_not_configured") == 0)
        zf_auto_error(req, 503, "EMAIL_NOT_CONFIGURED",
                      "Email is not configured on this server: start zflow with --smtp-url");
    else if (rc && strncmp(msg, "email_delivery_failed", 21) == 0)  // the SMTP server's words
        zf_auto_error(req,
                      rc == ZF_EIO        ? 502
                      : rc == ZF_ETIMEOUT ? 504
                                          : 503,
                      "EMAIL_DELIVERY_FAILED", msg);
    else if (rc)
        zf_auto_fail_call(req, rc, msg, zf_auto_wf_404, NULL, 0);
    else
        zf_http_respond(req, 200,
                        json_pack("{s:O?, s:s, s:o, s:o}", "messageId",
                                  json_object_get(rep, "message_id"), "provider", "smtp",
                                  "accepted", s_list_or_empty(json_object_get(rep, "accepted")),
                                  "rejected", s_list_or_empty(json_object_get(rep, "rejected"))));
    json_decref(rep);
}
