/*  http/dialects/v2.c — seed 002, "Workflows API" v2: the native dialect.

    Envelopes: {"success": true, "workflow"|"workflows"+"count"|"run"|
    "runs"+"count"|"schema"|"message": ...}; errors {"success": false,
    "error": message, "code": zflow code}. Workflows and runs are the core
    records in the seed's field names (tenant -> customer_id, Unix ms ->
    ISO-8601, run status cancelled -> terminated, run error -> its message).
    Ids that are malformed, unknown or another tenant's all answer the same
    404. /parse (natural-language parsing) answers 501.
*/
#include "broker/ids.h"
#include "http/dialect.h"
#include "http/dialects/dialects.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_WAIT_MS 30000  // ?wait=true: how long run.start waits for the run to settle

static const char *const S_WF_404 = "Workflow not found";
static const char *const S_RUN_404 = "Workflow run not found";

/* ---- views -------------------------------------------------------------------- */

static const char *
s_run_status(const char *core)
{
    return core && strcmp(core, "cancelled") == 0 ? "terminated" : core;
}

static json_t *
s_wf_view(const json_t *wf, bool definition_as_text)
{
    const json_t *def = json_object_get(wf, "definition");
    json_t *d;
    if (definition_as_text) {
        char *text = json_dumps(def ? def : json_object(), JSON_ENCODE_ANY);
        d = json_string(text ? text : "{}");
        free(text);
    } else {
        d = def ? json_deep_copy(def) : json_object();
    }
    const json_t *desc = json_object_get(wf, "description");
    return json_pack("{s:O?, s:O?, s:O?, s:o, s:o, s:O?, s:O?, s:O?, s:o, s:o}", "id",
                     json_object_get(wf, "id"), "customer_id", json_object_get(wf, "tenant"),
                     "name", json_object_get(wf, "name"), "description", zf_http_or_null(desc),
                     "definition", d, "version", json_object_get(wf, "version"), "status",
                     json_object_get(wf, "status"), "created_by", json_object_get(wf, "created_by"),
                     "created_at", zf_http_time_json(json_object_get(wf, "created_at")),
                     "updated_at", zf_http_time_json(json_object_get(wf, "updated_at")));
}

//  The seed's view, plus zflow's extensions where a workflow uses them
//  (a non-manual trigger, conditions, disabled, error handling): clients
//  of the plain seed API see exactly the seed's fields.
static json_t *
s_wf_view_full(const json_t *wf, bool definition_as_text)
{
    json_t *v = s_wf_view(wf, definition_as_text);
    const json_t *trig = json_object_get(wf, "trigger"), *conds = json_object_get(wf, "conditions");
    const json_t *eh = json_object_get(wf, "error_handling");
    const char *ttype = json_string_value(json_object_get(trig, "type"));
    if (ttype && strcmp(ttype, "manual") != 0) json_object_set(v, "trigger", (json_t *)trig);
    if (json_array_size(conds) > 0) json_object_set(v, "conditions", (json_t *)conds);
    if (json_is_false(json_object_get(wf, "enabled")))
        json_object_set_new(v, "enabled", json_false());
    if (json_object_size(eh) > 0) json_object_set(v, "error_handling", (json_t *)eh);
    return v;
}

//  started_at falls back to created_at: in the seed a run's started_at is
//  set when the run record is created, queued or not.
static json_t *
s_run_view(const json_t *run, const zf_http_identity_t *who)
{
    const json_t *started = json_object_get(run, "started_at");
    if (!json_is_integer(started)) started = json_object_get(run, "created_at");
    const json_t *tenant = json_object_get(run, "tenant");
    const json_t *out = json_object_get(run, "outputs");
    return json_pack(
        "{s:O?, s:O?, s:o, s:s?, s:o, s:o, s:o, s:o, s:o}", "id", json_object_get(run, "id"),
        "workflow_id", json_object_get(run, "workflow_id"), "customer_id",
        json_is_string(tenant) ? json_deep_copy(tenant) : json_string(who->tenant), "status",
        s_run_status(json_string_value(json_object_get(run, "status"))), "inputs",
        zf_http_or_null(json_object_get(run, "inputs")), "outputs", zf_http_or_null(out), "error",
        zf_http_run_error(json_object_get(run, "error")), "started_at", zf_http_time_json(started),
        "finished_at", zf_http_time_json(json_object_get(run, "finished_at")));
}

static void
s_ok(zf_http_req_t *req, int status, const char *key, json_t *value)
{
    zf_http_respond(req, status, json_pack("{s:b, s:o}", "success", 1, key, value));
}

static void
s_ok_list(zf_http_req_t *req, const char *key, json_t *items)
{
    zf_http_respond(req, 200,
                    json_pack("{s:b, s:o, s:I}", "success", 1, key, items, "count",
                              (json_int_t)json_array_size(items)));
}

static void
s_ok_message(zf_http_req_t *req, const char *message)
{
    zf_http_respond(req, 200, json_pack("{s:b, s:s}", "success", 1, "message", message));
}

/* ---- errors of broker calls ---------------------------------------------------- */

//  Maps a failed call: not_found gets the fixed 404 text (so unknown and
//  foreign ids answer byte-identically), the rest keeps the engine's
//  message (the framework hides it for internal errors).
static void
s_fail_call(zf_http_req_t *req, int rc, const char *msg, const char *not_found)
{
    if (rc == ZF_ENOTFOUND)
        zf_http_fail(req, rc, "%s", not_found);
    else if (rc == ZF_ETIMEOUT)
        zf_http_fail(req, rc, "%s", *msg ? msg : "The engine did not answer in time, retry");
    else if (rc == ZF_EUNAVAIL)
        zf_http_fail(req, rc, "%s", *msg ? msg : "Service unavailable, retry");
    else
        zf_http_fail(req, rc, "%s", *msg ? msg : "Request failed");
}

//  The :id (or :runId) parameter when it is a well-formed id; otherwise
//  answers the 404 itself and returns NULL.
static const char *
s_id_param(zf_http_req_t *req, const char *name, const char *not_found)
{
    const char *id = zf_http_param(req, name);
    if (id && zf_uuid_valid(id)) return id;
    zf_http_fail(req, ZF_ENOTFOUND, "%s", not_found);
    return NULL;
}

//  Calls type with body; on failure answers (with not_found for 404s) and
//  returns NULL, else the reply body (caller decrefs).
static json_t *
s_call(zf_http_req_t *req, const char *type, json_t *body, int64_t timeout_ms,
       const char *not_found)
{
    json_t *rep = NULL;
    char msg[512];
    int rc = zf_http_call(req, type, body, timeout_ms, &rep, msg, sizeof msg);
    if (rc) s_fail_call(req, rc, msg, not_found);
    return rep;
}

/* ---- input validation ------------------------------------------------------------ */

static size_t
s_utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

//  Checks one workflow field from a create/patch body; returns a message
//  for the client, or NULL if v is acceptable.
static const char *
s_check_field(const char *field, const json_t *v)
{
    if (strcmp(field, "name") == 0) {
        const char *s = json_string_value(v);
        if (!s || !*s || s_utf8_chars(s) > 200)
            return "name must be a non-empty string of at most 200 characters";
    } else if (strcmp(field, "description") == 0) {
        if (!json_is_string(v) && !json_is_null(v)) return "description must be a string";
    } else if (strcmp(field, "definition") == 0) {
        if (!json_is_object(v) || !json_is_array(json_object_get(v, "nodes")))
            return "definition must be an object with a nodes array";
    } else if (strcmp(field, "version") == 0) {
        const char *s = json_string_value(v);
        if (!s || !*s || strlen(s) > 64)
            return "version must be a non-empty string of at most 64 characters";
    } else if (strcmp(field, "status") == 0) {
        const char *s = json_string_value(v);
        if (!s || (strcmp(s, "active") && strcmp(s, "archived")))
            return "status must be active or archived";
    } else if (strcmp(field, "enabled") == 0) {
        if (!json_is_boolean(v)) return "enabled must be a boolean";
    }
    return NULL;
}

//  The seed's fields, then zflow's extensions (checked by the engine):
//  trigger, conditions, enabled and error_handling of the one workflow model.
static const char *const s_wf_fields[] = {"name",           "description", "definition", "version",
                                          "status",         "trigger",     "conditions", "enabled",
                                          "error_handling", NULL};

//  Copies the known, present fields of body into out after checking
//  them. Returns the first problem, or NULL.
static const char *
s_take_fields(const json_t *body, json_t *out)
{
    for (int i = 0; s_wf_fields[i]; i++) {
        json_t *v = json_object_get(body, s_wf_fields[i]);
        if (!v) continue;
        const char *why = s_check_field(s_wf_fields[i], v);
        if (why) return why;
        if (!json_is_null(v)) json_object_set(out, s_wf_fields[i], v);
    }
    return NULL;
}

/* ---- workflows -------------------------------------------------------------------- */

static void
s_health(zf_http_req_t *req)
{
    char now[32];
    zf_http_iso(zf_now_ms(), now);
    zf_http_respond(req, 200,
                    json_pack("{s:s, s:s, s:s, s:s}", "status", "ok", "service", "workflows-api-v2",
                              "version", "2.0.0", "timestamp", now));
}

static void
s_wf_list(zf_http_req_t *req)
{
    int64_t limit, offset;
    char status[32];
    if (zf_http_query_int(req, "limit", 50, 0, 500, &limit) ||
        zf_http_query_int(req, "offset", 0, 0, INT32_MAX, &offset)) {
        zf_http_fail(req, ZF_EINVAL, "limit must be an integer 0..500 and offset >= 0");
        return;
    }
    json_t *q = json_pack("{s:I, s:I}", "limit", (json_int_t)limit, "offset", (json_int_t)offset);
    if (zf_http_query(req, "status", status, sizeof status) != -1) {
        if (strcmp(status, "active") && strcmp(status, "archived")) {
            json_decref(q);
            zf_http_fail(req, ZF_EINVAL, "status must be active or archived");
            return;
        }
        json_object_set_new(q, "status", json_string(status));
    }
    json_t *rep = s_call(req, "wf.list", q, ZF_HTTP_CALL_TIMEOUT_MS, S_WF_404);
    if (!rep) return;
    json_t *items = json_array(), *wf;
    size_t i;
    json_array_foreach (json_object_get(rep, "workflows"), i, wf)
        json_array_append_new(items, s_wf_view_full(wf, true));
    json_decref(rep);
    s_ok_list(req, "workflows", items);
}

static void
s_wf_create(zf_http_req_t *req)
{
    json_t *body = zf_http_body(req), *wf = json_object();
    const char *why = s_take_fields(body, wf);
    if (!why && !json_object_get(wf, "name"))
        why = "name is required (a non-empty string of at most 200 characters)";
    if (!why && !json_object_get(wf, "definition"))
        why = "definition is required (an object with a nodes array)";
    if (why) {
        json_decref(wf);
        zf_http_fail(req, ZF_EINVAL, "%s", why);
        return;
    }
    if (!json_object_get(wf, "version")) json_object_set_new(wf, "version", json_string("1.0.0"));
    json_t *rep = s_call(req, "wf.create", json_pack("{s:o}", "workflow", wf),
                         ZF_HTTP_CALL_TIMEOUT_MS, S_WF_404);
    if (!rep) return;
    s_ok(req, 201, "workflow", s_wf_view_full(json_object_get(rep, "workflow"), false));
    json_decref(rep);
}

//  GET /:id and GET /:id/schema: one wf.get.
static json_t *
s_wf_fetch(zf_http_req_t *req)
{
    const char *id = s_id_param(req, "id", S_WF_404);
    if (!id) return NULL;
    return s_call(req, "wf.get", json_pack("{s:s}", "id", id), ZF_HTTP_CALL_TIMEOUT_MS, S_WF_404);
}

static void
s_wf_get(zf_http_req_t *req)
{
    json_t *rep = s_wf_fetch(req);
    if (!rep) return;
    s_ok(req, 200, "workflow", s_wf_view_full(json_object_get(rep, "workflow"), false));
    json_decref(rep);
}

static void
s_wf_schema(zf_http_req_t *req)
{
    json_t *rep = s_wf_fetch(req);
    if (!rep) return;
    json_t *def = json_object_get(json_object_get(rep, "workflow"), "definition");
    json_t *in = json_object_get(def, "inputs"), *out = json_object_get(def, "outputs");
    s_ok(req, 200, "schema",
         json_pack("{s:o, s:o}", "inputs", in ? json_deep_copy(in) : json_object(), "outputs",
                   out ? json_deep_copy(out) : json_object()));
    json_decref(rep);
}

static void
s_wf_update(zf_http_req_t *req)
{
    const char *id = s_id_param(req, "id", S_WF_404);
    if (!id) return;
    json_t *patch = json_object();
    const char *why = s_take_fields(zf_http_body(req), patch);
    if (json_is_null(json_object_get(zf_http_body(req), "description")))  // null clears it
        json_object_set_new(patch, "description", json_null());
    if (!why && json_object_size(patch) == 0)
        why = "No valid fields to update (name, description, definition, version, status, "
              "trigger, conditions, enabled, error_handling)";
    if (why) {
        json_decref(patch);
        zf_http_fail(req, ZF_EINVAL, "%s", why);
        return;
    }
    json_t *rep = s_call(req, "wf.update", json_pack("{s:s, s:o}", "id", id, "patch", patch),
                         ZF_HTTP_CALL_TIMEOUT_MS, S_WF_404);
    if (!rep) return;
    s_ok(req, 200, "workflow", s_wf_view_full(json_object_get(rep, "workflow"), false));
    json_decref(rep);
}

static void
s_wf_delete(zf_http_req_t *req)
{
    const char *id = s_id_param(req, "id", S_WF_404);
    if (!id) return;
    json_t *rep =
        s_call(req, "wf.delete", json_pack("{s:s}", "id", id), ZF_HTTP_CALL_TIMEOUT_MS, S_WF_404);
    if (!rep) return;
    json_decref(rep);
    s_ok_message(req, "Workflow deleted successfully");
}

/* ---- runs --------------------------------------------------------------------------- */

static bool
s_query_true(zf_http_req_t *req, const char *name)
{
    char v[8];
    return zf_http_query(req, name, v, sizeof v) >= 0 && (!strcmp(v, "true") || !strcmp(v, "1"));
}

static void
s_run_start(zf_http_req_t *req)
{
    const char *id = s_id_param(req, "id", S_WF_404);
    if (!id) return;
    json_t *inputs = json_object_get(zf_http_body(req), "inputs");
    if (inputs && !json_is_object(inputs) && !json_is_null(inputs)) {
        zf_http_fail(req, ZF_EINVAL, "inputs must be an object");
        return;
    }
    bool wait = s_query_true(req, "wait");
    json_t *body = json_pack("{s:s, s:o}", "workflow_id", id, "inputs",
                             json_is_object(inputs) ? json_deep_copy(inputs) : json_object());
    if (wait) {
        json_object_set_new(body, "wait", json_true());
        json_object_set_new(body, "wait_timeout_ms", json_integer(S_WAIT_MS));
    }
    json_t *rep = NULL;
    char msg[512];
    int rc = zf_http_call(req, "run.start", body, wait ? S_WAIT_MS + 5000 : ZF_HTTP_CALL_TIMEOUT_MS,
                          &rep, msg, sizeof msg);
    if (rc == ZF_ECONFLICT)  // archived, paused or disabled: the message says which
        zf_http_fail(req, ZF_EINVAL, "Cannot execute: %s", msg);
    else if (rc)
        s_fail_call(req, rc, msg, S_WF_404);
    else
        s_ok(req, 201, "run", s_run_view(json_object_get(rep, "run"), zf_http_who(req)));
    json_decref(rep);
}

//  Maps the status filter from v2 names to the core's.
static const char *
s_core_status(const char *v2)
{
    static const char *const ok[] = {"queued",    "running", "waiting",   "paused",
                                     "completed", "failed",  "cancelled", NULL};
    if (strcmp(v2, "terminated") == 0) return "cancelled";
    for (int i = 0; ok[i]; i++) {
        if (strcmp(v2, ok[i]) == 0) return ok[i];
    }
    return NULL;
}

static void
s_run_list(zf_http_req_t *req)
{
    const char *id = s_id_param(req, "id", S_WF_404);
    if (!id) return;
    int64_t limit, offset;
    char status[32];
    if (zf_http_query_int(req, "limit", 50, 0, 500, &limit) ||
        zf_http_query_int(req, "offset", 0, 0, INT32_MAX, &offset)) {
        zf_http_fail(req, ZF_EINVAL, "limit must be an integer 0..500 and offset >= 0");
        return;
    }
    json_t *q = json_pack("{s:s, s:I, s:I}", "workflow_id", id, "limit", (json_int_t)limit,
                          "offset", (json_int_t)offset);
    if (zf_http_query(req, "status", status, sizeof status) != -1) {
        const char *core = s_core_status(status);
        if (!core) {
            json_decref(q);
            zf_http_fail(req, ZF_EINVAL,
                         "status must be one of queued, running, waiting, paused, completed, "
                         "failed, terminated");
            return;
        }
        json_object_set_new(q, "status", json_string(core));
    }
    json_t *rep = s_call(req, "run.list", q, ZF_HTTP_CALL_TIMEOUT_MS, S_WF_404);
    if (!rep) return;
    json_t *items = json_array(), *run;
    size_t i;
    json_array_foreach (json_object_get(rep, "runs"), i, run)
        json_array_append_new(items, s_run_view(run, zf_http_who(req)));
    json_decref(rep);
    s_ok_list(req, "runs", items);
}

//  The run :runId of workflow :id (a run of another workflow is a 404).
//  Answers and returns NULL on failure; else the run.get reply.
static json_t *
s_run_fetch(zf_http_req_t *req)
{
    const char *id = s_id_param(req, "id", S_RUN_404);
    const char *run_id = id ? s_id_param(req, "runId", S_RUN_404) : NULL;
    if (!run_id) return NULL;
    json_t *rep = s_call(req, "run.get", json_pack("{s:s}", "id", run_id), ZF_HTTP_CALL_TIMEOUT_MS,
                         S_RUN_404);
    const char *wf = json_string_value(json_object_get(json_object_get(rep, "run"), "workflow_id"));
    if (rep && (!wf || strcmp(wf, id) != 0)) {
        json_decref(rep);
        zf_http_fail(req, ZF_ENOTFOUND, "%s", S_RUN_404);
        return NULL;
    }
    return rep;
}

static void
s_run_get(zf_http_req_t *req)
{
    json_t *rep = s_run_fetch(req);
    if (!rep) return;
    s_ok(req, 200, "run", s_run_view(json_object_get(rep, "run"), zf_http_who(req)));
    json_decref(rep);
}

static void
s_run_cancel(zf_http_req_t *req)
{
    json_t *rep = s_run_fetch(req);
    if (!rep) return;
    json_t *run = json_object_get(rep, "run");
    json_t *body = json_pack("{s:O}", "id", json_object_get(run, "id"));
    json_decref(rep);
    char msg[512];
    int rc = zf_http_call(req, "run.cancel", body, ZF_HTTP_CALL_TIMEOUT_MS, &rep, msg, sizeof msg);
    if (rc == ZF_ECONFLICT)
        zf_http_fail(req, ZF_EINVAL, "Cannot terminate: %s", msg);
    else if (rc)
        s_fail_call(req, rc, msg, S_RUN_404);
    else
        s_ok_message(req, "Workflow run terminated successfully");
    json_decref(rep);
}

static void
s_parse_not_yet(zf_http_req_t *req)
{
    zf_http_fail(req, ZF_EUNSUPPORTED, "%s",
                 "Natural language parsing is not available yet in this zflow build");
}

/* ---- schedules ---------------------------------------------------------------------- */

static json_t *
s_sched_view(const json_t *sc)
{
    json_t *v = json_pack(
        "{s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?}", "id", json_object_get(sc, "id"),
        "workflow_id", json_object_get(sc, "workflow_id"), "cron_expression",
        json_object_get(sc, "cron_expression"), "timezone", json_object_get(sc, "timezone"),
        "inputs", json_object_get(sc, "inputs"), "missed_execution_policy",
        json_object_get(sc, "missed_execution_policy"), "enabled", json_object_get(sc, "enabled"),
        "created_by", json_object_get(sc, "created_by"));
    static const char *const times[] = {"next_run_at", "last_run_at", "created_at", "updated_at"};
    for (int i = 0; i < 4; i++)
        json_object_set_new(v, times[i], zf_http_time_json(json_object_get(sc, times[i])));
    return v;
}

//  Calls a sched.* message; a not_found answer names what was missing.
static json_t *
s_sched_call(zf_http_req_t *req, const char *type, json_t *body)
{
    json_t *rep = NULL;
    char msg[512];
    int rc = zf_http_call(req, type, body, ZF_HTTP_CALL_TIMEOUT_MS, &rep, msg, sizeof msg);
    if (rc) s_fail_call(req, rc, msg, strstr(msg, "schedule") ? "Schedule not found" : S_WF_404);
    return rep;
}

//  The body's schedule fields (the engine checks their values).
static json_t *
s_sched_fields(zf_http_req_t *req)
{
    static const char *const fields[] = {"cron_expression",         "timezone", "inputs", "enabled",
                                         "missed_execution_policy", NULL};
    json_t *body = zf_http_body(req), *out = json_object();
    for (int i = 0; fields[i]; i++) {
        json_t *v = json_object_get(body, fields[i]);
        if (v) json_object_set(out, fields[i], v);
    }
    return out;
}

static void
s_sched_create(zf_http_req_t *req)
{
    const char *id = s_id_param(req, "id", S_WF_404);
    if (!id) return;
    json_t *body = s_sched_fields(req);
    json_object_set_new(body, "workflow_id", json_string(id));
    json_t *rep = s_sched_call(req, "sched.create", body);
    if (!rep) return;
    s_ok(req, 201, "schedule", s_sched_view(json_object_get(rep, "schedule")));
    json_decref(rep);
}

static void
s_sched_list(zf_http_req_t *req)
{
    const char *id = s_id_param(req, "id", S_WF_404);
    if (!id) return;
    json_t *rep = s_sched_call(req, "sched.list", json_pack("{s:s}", "workflow_id", id));
    if (!rep) return;
    json_t *items = json_array();
    size_t i;
    json_t *sc;
    json_array_foreach (json_object_get(rep, "schedules"), i, sc)
        json_array_append_new(items, s_sched_view(sc));
    s_ok_list(req, "schedules", items);
    json_decref(rep);
}

static void
s_sched_update(zf_http_req_t *req)
{
    const char *id = s_id_param(req, "id", S_WF_404);
    const char *sid = id ? zf_http_param(req, "scheduleId") : NULL;
    if (!id) return;
    json_t *patch = s_sched_fields(req);
    if (json_object_size(patch) == 0) {
        json_decref(patch);
        zf_http_fail(req, ZF_EINVAL, "%s",
                     "No valid fields to update (cron_expression, timezone, inputs, enabled, "
                     "missed_execution_policy)");
        return;
    }
    json_t *rep = s_sched_call(
        req, "sched.update",
        json_pack("{s:s, s:s, s:o}", "workflow_id", id, "id", sid ? sid : "", "patch", patch));
    if (!rep) return;
    s_ok(req, 200, "schedule", s_sched_view(json_object_get(rep, "schedule")));
    json_decref(rep);
}

static void
s_sched_delete(zf_http_req_t *req)
{
    const char *id = s_id_param(req, "id", S_WF_404);
    const char *sid = id ? zf_http_param(req, "scheduleId") : NULL;
    if (!id) return;
    json_t *rep = s_sched_call(req, "sched.delete",
                               json_pack("{s:s, s:s}", "workflow_id", id, "id", sid ? sid : ""));
    if (!rep) return;
    json_decref(rep);
    s_ok_message(req, "Schedule deleted successfully");
}

/* ---- dialect ------------------------------------------------------------------------ */

static json_t *
s_render_error(int status, const char *code, const char *message)
{
    (void)status;
    return json_pack("{s:b, s:s, s:s}", "success", 0, "error", message, "code", code);
}

//  event.run.* -> {"event": "execution:...", "data": {...}, "timestamp"}.
static char *
s_render_event(const char *type, const json_t *body, int64_t ts)
{
    static const char *const map[][2] = {{"event.run.started", "execution:started"},
                                         {"event.run.step", "execution:step"},
                                         {"event.run.completed", "execution:completed"},
                                         {"event.run.failed", "execution:failed"}};
    const char *event = NULL;
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        if (strcmp(type, map[i][0]) == 0) event = map[i][1];
    }
    const char *step = json_string_value(json_object_get(body, "step_status"));
    bool waits = strcmp(type, "event.run.step") == 0 && step && strcmp(step, "waiting") == 0;
    if (!event || waits) return NULL;  // a step that began a wait is not forwarded
    //  "started" is published when the run is accepted, while still queued;
    //  to a v2 client the execution has started.
    const char *status = strcmp(event, "execution:started") == 0
                             ? "running"
                             : s_run_status(json_string_value(json_object_get(body, "status")));
    json_t *data = json_pack("{s:O?, s:O?, s:s?}", "run_id", json_object_get(body, "run_id"),
                             "workflow_id", json_object_get(body, "workflow_id"), "status", status);
    const char *opt[] = {"node_id", "step_status"};
    for (int i = 0; i < 2; i++) {
        json_t *v = json_object_get(body, opt[i]);
        if (json_is_string(v)) json_object_set(data, opt[i], v);
    }
    json_t *err = json_object_get(body, "error");
    if (err && !json_is_null(err)) json_object_set_new(data, "error", zf_http_run_error(err));
    char when[32];
    zf_http_iso(ts, when);
    json_t *ev = json_pack("{s:s, s:o, s:s}", "event", event, "data", data, "timestamp", when);
    char *text = json_dumps(ev, JSON_COMPACT);
    json_decref(ev);
    return text;
}

static const zf_http_route_t s_routes[] = {
    {"GET", "/health", ZF_HTTP_PUBLIC, s_health},
    {"POST", "/parse", ZF_HTTP_VIEWER, s_parse_not_yet},
    {"GET", "", ZF_HTTP_VIEWER, s_wf_list},
    {"POST", "", ZF_HTTP_ADMIN, s_wf_create},
    {"GET", "/:id", ZF_HTTP_VIEWER, s_wf_get},
    {"PATCH", "/:id", ZF_HTTP_ADMIN, s_wf_update},
    {"DELETE", "/:id", ZF_HTTP_ADMIN, s_wf_delete},
    {"GET", "/:id/schema", ZF_HTTP_VIEWER, s_wf_schema},
    {"POST", "/:id/execute", ZF_HTTP_MEMBER, s_run_start},
    {"GET", "/:id/runs", ZF_HTTP_VIEWER, s_run_list},
    {"GET", "/:id/runs/:runId", ZF_HTTP_VIEWER, s_run_get},
    {"DELETE", "/:id/runs/:runId", ZF_HTTP_MEMBER, s_run_cancel},
    {"GET", "/:id/schedules", ZF_HTTP_VIEWER, s_sched_list},
    {"POST", "/:id/schedules", ZF_HTTP_ADMIN, s_sched_create},
    {"PATCH", "/:id/schedules/:scheduleId", ZF_HTTP_ADMIN, s_sched_update},
    {"DELETE", "/:id/schedules/:scheduleId", ZF_HTTP_ADMIN, s_sched_delete},
    {NULL, NULL, 0, NULL},
};

const zf_http_dialect_t zf_dialect_v2 = {
    .name = "v2",
    .default_prefix = "/api/v2/workflows",
    .routes = s_routes,
    .render_error = s_render_error,
    .status_for = NULL,
    .render_event = s_render_event,
};
