/*  http/dialects/lendworks.c — seeds 000/004, the LendWorks API (/v1):
    automations, status, the webhook event catalogue and the OpenAPI
    document of this dialect.

    A template is a core workflow of the tenant, whichever dialect made it
    (id "tmpl_<workflow id>"); an instance is a run (id "inst_<run id>").
    JSON:API-style envelopes: {"data": {"id", "type", "attributes"} | [...],
    "meta": {"requestId", ...}}; errors {"errors": [{"code", "message",
    "detail"?}], "meta": {"requestId"}} with upper-case codes
    (VALIDATION_ERROR is 422, as in the seed). meta.requestId is always the
    answer's X-Request-Id. Times are ISO-8601 UTC to the second, like the
    seed ("2025-01-15T14:30:00Z"). Every answer carries LW-API-Version and
    X-RateLimit-* (seed 004): answers without an authenticated caller are
    counted per client address (limit_by_address).
    docs/api/lendworks.md documents every route; lendworks_openapi.json is
    served at /openapi.json (embedded at build time).
*/
#include "broker/ids.h"
#include "http/dialect.h"
#include "http/dialects/dialects.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_API_VERSION     "2025-01-15"
#define S_DEF_LIMIT       20       // automations per page by default
#define S_MAX_LIMIT       100      // the seed's maximum page size
#define S_MAX_PAGE        1000000  // keeps (page - 1) * limit well inside wf.list's offset
#define S_ENTITY_TYPE_MAX 64       // bytes of entityType
#define S_ENTITY_ID_MAX   255      // bytes of entityId
#define S_PING_MS         2000     // /status: how long the broker has to answer
#define S_CANCEL_TRIES    5        // run.cancel attempts while a run changes state

//  The OpenAPI document, generated from lendworks_openapi.json at build
//  time (http/dialects/lendworks.cmake).
extern const unsigned char zf_lendworks_openapi[];
extern const size_t zf_lendworks_openapi_len;

static const char *const S_TMPL_404 = "Automation template not found";
static const char *const S_INST_404 = "Automation instance not found";

/* ---- envelopes ------------------------------------------------------------------ */

//  Unix ms -> "2025-01-15T14:30:00Z" (seconds, as in the seed), or null.
static json_t *
s_time_ms(int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char out[32];
    if (!gmtime_r(&t, &tm) || !strftime(out, sizeof out, "%Y-%m-%dT%H:%M:%SZ", &tm))
        return json_null();
    return json_string(out);
}

//  The same for a JSON integer; null when ms is not one.
static json_t *
s_time(const json_t *ms)
{
    return json_is_integer(ms) ? s_time_ms(json_integer_value(ms)) : json_null();
}

//  {"requestId": id} (null when unknown: a WebSocket handshake has no request).
static json_t *
s_meta(const char *request_id)
{
    return json_pack("{s:s?}", "requestId", request_id);
}

static void
s_data(zf_http_req_t *req, int status, json_t *data)
{
    zf_http_respond(req, status,
                    json_pack("{s:o, s:o}", "data", data, "meta", s_meta(zf_http_request_id(req))));
}

static json_t *
s_error_body(const char *code, const char *message, json_t *detail, const char *request_id)
{
    json_t *e = json_pack("{s:s, s:s}", "code", code, "message", message);
    if (detail) json_object_set_new(e, "detail", detail);
    return json_pack("{s:[o], s:o}", "errors", e, "meta", s_meta(request_id));
}

//  422 VALIDATION_ERROR with detail {"field": field}.
static void
s_fail_field(zf_http_req_t *req, const char *field, const char *message)
{
    zf_http_respond(req, 422,
                    s_error_body("VALIDATION_ERROR", message, json_pack("{s:s}", "field", field),
                                 zf_http_request_id(req)));
}

//  Maps a failed broker call: not_found answers the fixed text (unknown
//  and foreign ids answer alike); the framework hides internal messages.
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

/* ---- ids -------------------------------------------------------------------------- */

//  prefix + core id (a JSON string), or null.
static json_t *
s_prefixed(const char *prefix, const json_t *id)
{
    const char *s = json_string_value(id);
    return s ? json_sprintf("%s%s", prefix, s) : json_null();
}

//  The core id of :id when it is prefix + a UUID; otherwise answers 404
//  (with a hint when it carries the other kind's prefix) and returns NULL.
static const char *
s_id_param(zf_http_req_t *req, const char *prefix, const char *not_found)
{
    const char *id = zf_http_param(req, "id");
    size_t n = strlen(prefix);
    if (id && strncmp(id, prefix, n) == 0 && zf_uuid_valid(id + n)) return id + n;
    if (id && strcmp(prefix, "inst_") == 0 && strncmp(id, "tmpl_", 5) == 0)
        zf_http_fail(req, ZF_ENOTFOUND,
                     "%s: cancel takes an instance id (inst_...) as returned by trigger, "
                     "not a template id",
                     not_found);
    else if (id && strcmp(prefix, "tmpl_") == 0 && strncmp(id, "inst_", 5) == 0)
        zf_http_fail(req, ZF_ENOTFOUND,
                     "%s: trigger takes a template id (tmpl_...), not an instance id", not_found);
    else
        zf_http_fail(req, ZF_ENOTFOUND, "%s", not_found);
    return NULL;
}

/* ---- views ------------------------------------------------------------------------ */

//  trigger.type, or "<module>.<event>" for record triggers ("lead.created";
//  field.changed: "<module>.<field>.changed").
static json_t *
s_trigger_type(const json_t *trig)
{
    const char *type = json_string_value(json_object_get(trig, "type"));
    const char *module = json_string_value(json_object_get(trig, "module"));
    const char *field = json_string_value(json_object_get(trig, "field"));
    if (!type) return json_string("manual");
    if (module && strncmp(type, "record.", 7) == 0) return json_sprintf("%s.%s", module, type + 7);
    if (module && field && strcmp(type, "field.changed") == 0)
        return json_sprintf("%s.%s.changed", module, field);
    return json_string(type);
}

static json_int_t
s_count(const json_t *stats, const char *name)
{
    const json_t *v = json_object_get(stats, name);
    return json_is_integer(v) ? json_integer_value(v) : 0;
}

static json_t *
s_template_view(const json_t *wf)
{
    const json_t *stats = json_object_get(wf, "stats");
    const json_t *desc = json_object_get(wf, "description");
    const char *status = json_string_value(json_object_get(wf, "status"));
    bool active =
        status && strcmp(status, "active") == 0 && !json_is_false(json_object_get(wf, "enabled"));
    json_t *attrs = json_pack(
        "{s:O?, s:o, s:o, s:b, s:{s:I, s:I, s:I, s:o}, s:o, s:o}", "name",
        json_object_get(wf, "name"), "description",
        json_is_string(desc) && *json_string_value(desc) ? json_deep_copy(desc) : json_null(),
        "triggerType", s_trigger_type(json_object_get(wf, "trigger")), "isActive", active, "stats",
        "totalRuns", s_count(stats, "run_count"), "successCount", s_count(stats, "success_count"),
        "failureCount", s_count(stats, "failure_count"), "lastRunAt",
        s_time(json_object_get(stats, "last_run_at")), "createdAt",
        s_time(json_object_get(wf, "created_at")), "updatedAt",
        s_time(json_object_get(wf, "updated_at")));
    return json_pack("{s:o, s:s, s:o}", "id", s_prefixed("tmpl_", json_object_get(wf, "id")),
                     "type", "automation_template", "attributes", attrs);
}

//  Engine statuses -> the seed's: every non-terminal one is "running".
static const char *
s_inst_status(const char *core)
{
    static const char *const terminal[] = {"completed", "failed", "cancelled"};
    for (size_t i = 0; core && i < sizeof terminal / sizeof terminal[0]; i++) {
        if (strcmp(core, terminal[i]) == 0) return terminal[i];
    }
    return "running";
}

static json_t *
s_instance_view(const json_t *run, const char *entity_type, const char *entity_id)
{
    const json_t *started = json_object_get(run, "started_at");
    if (!json_is_integer(started)) started = json_object_get(run, "created_at");
    json_t *attrs =
        json_pack("{s:o, s:s, s:s, s:s, s:o, s:o, s:o}", "templateId",
                  s_prefixed("tmpl_", json_object_get(run, "workflow_id")), "status",
                  s_inst_status(json_string_value(json_object_get(run, "status"))), "entityType",
                  entity_type, "entityId", entity_id, "startedAt", s_time(started), "createdAt",
                  s_time(json_object_get(run, "created_at")), "updatedAt",
                  s_time(json_object_get(run, "updated_at")));
    return json_pack("{s:o, s:s, s:o}", "id", s_prefixed("inst_", json_object_get(run, "id")),
                     "type", "automation_instance", "attributes", attrs);
}

/* ---- public routes ---------------------------------------------------------------- */

//  GET /status: pings the broker, so "ok" means the engine side answers.
static void
s_status(zf_http_req_t *req)
{
    json_t *rep = NULL;
    char msg[256];
    int rc = zf_http_call(req, "ping", json_object(), S_PING_MS, &rep, msg, sizeof msg);
    if (rc) {
        zf_http_fail(req, ZF_EUNAVAIL, "The automation engine is not answering, retry");
        return;
    }
    const json_t *version = json_object_get(rep, "version");
    json_t *attrs = json_pack("{s:s, s:O?, s:s, s:o}", "status", "ok", "version", version,
                              "apiVersion", S_API_VERSION, "timestamp", s_time_ms(zf_now_ms()));
    json_decref(rep);
    s_data(req, 200, json_pack("{s:s, s:o}", "type", "status", "attributes", attrs));
}

typedef struct {
    const char *name;         // event or trigger name
    const char *direction;    // "outbound": zflow emits it; "inbound": it starts runs
    const char *description;  // for humans
} s_event_t;

static const s_event_t s_catalog[] = {
    {"run.started", "outbound", "An automation instance was accepted (queued or running)."},
    {"run.step", "outbound", "A step of an instance finished (any step status)."},
    {"run.waiting", "outbound", "An instance is waiting (delay, retry back-off, breaker)."},
    {"run.completed", "outbound", "An instance completed."},
    {"run.failed", "outbound", "An instance failed; carries the error."},
    {"workflow.disabled", "outbound", "Repeated failures disabled a template (circuit breaker)."},
    {"record.changed", "outbound", "A module record was created, updated or deleted."},
    {"manual", "inbound", "Started by hand: POST /automations/{id}/trigger."},
    {"webhook", "inbound", "Started by a POST to the template's webhook URL."},
    {"schedule", "inbound", "Started by a cron schedule (IANA time zones)."},
    {"record.created", "inbound",
     "A record of the trigger's module was created (<module>.created)."},
    {"record.updated", "inbound",
     "A record of the trigger's module was updated (<module>.updated)."},
    {"record.deleted", "inbound",
     "A record of the trigger's module was deleted (<module>.deleted)."},
    {"field.changed", "inbound",
     "An update changed the trigger's field (<module>.<field>.changed)."},
};

//  GET /webhooks/catalog: what zflow emits and what can start an instance.
static void
s_webhook_catalog(zf_http_req_t *req)
{
    json_t *items = json_array();
    for (size_t i = 0; i < sizeof s_catalog / sizeof s_catalog[0]; i++) {
        const s_event_t *ev = &s_catalog[i];
        json_array_append_new(items, json_pack("{s:s, s:s, s:{s:s, s:s, s:s}}", "id", ev->name,
                                               "type", "webhook_event", "attributes", "name",
                                               ev->name, "direction", ev->direction, "description",
                                               ev->description));
    }
    zf_http_respond(req, 200,
                    json_pack("{s:o, s:{s:I, s:s?}}", "data", items, "meta", "total",
                              (json_int_t)json_array_size(items), "requestId",
                              zf_http_request_id(req)));
}

static void
s_openapi(zf_http_req_t *req)
{
    char *doc = malloc(zf_lendworks_openapi_len + 1);
    if (!doc) {
        zf_http_fail(req, ZF_EIO, "out of memory");
        return;
    }
    memcpy(doc, zf_lendworks_openapi, zf_lendworks_openapi_len);
    doc[zf_lendworks_openapi_len] = '\0';
    zf_http_respond_raw(req, 200, "application/json", doc, zf_lendworks_openapi_len);
}

/* ---- automations ------------------------------------------------------------------- */

//  GET /automations?page=&limit=: one wf.list page of the tenant's workflows.
static void
s_list(zf_http_req_t *req)
{
    int64_t page, limit;
    if (zf_http_query_int(req, "page", 1, 1, S_MAX_PAGE, &page)) {
        s_fail_field(req, "page", "page must be an integer from 1 to 1000000");
        return;
    }
    if (zf_http_query_int(req, "limit", S_DEF_LIMIT, 1, S_MAX_LIMIT, &limit)) {
        s_fail_field(req, "limit", "limit must be an integer from 1 to 100");
        return;
    }
    json_t *rep = NULL;
    char msg[512];
    int rc = zf_http_call(req, "wf.list",
                          json_pack("{s:I, s:I}", "limit", (json_int_t)limit, "offset",
                                    (json_int_t)((page - 1) * limit)),
                          ZF_HTTP_CALL_TIMEOUT_MS, &rep, msg, sizeof msg);
    if (rc) {
        s_fail_call(req, rc, msg, S_TMPL_404);
        return;
    }
    json_t *items = json_array(), *wf;
    size_t i;
    json_array_foreach (json_object_get(rep, "workflows"), i, wf)
        json_array_append_new(items, s_template_view(wf));
    json_int_t total = s_count(rep, "total");
    json_decref(rep);
    zf_http_respond(req, 200,
                    json_pack("{s:o, s:{s:I, s:I, s:I, s:b, s:s?}}", "data", items, "meta", "total",
                              total, "page", (json_int_t)page, "limit", (json_int_t)limit,
                              "hasMore", page * limit < total, "requestId",
                              zf_http_request_id(req)));
}

//  One optional string field of the trigger body: 1..max bytes, or absent
//  / null (then def). Answers 422 and returns NULL when it is neither.
static const char *
s_entity_field(zf_http_req_t *req, const char *field, size_t max, const char *def)
{
    const json_t *v = json_object_get(zf_http_body(req), field);
    if (!v || json_is_null(v)) return def;
    const char *s = json_string_value(v);
    if (s && *s && strlen(s) <= max) return s;
    char why[128];
    snprintf(why, sizeof why, "%s must be a non-empty string of at most %zu bytes", field, max);
    s_fail_field(req, field, why);
    return NULL;
}

//  POST /automations/:id/trigger: run.start with the entity as inputs and
//  trigger data; 201 with the new instance.
static void
s_trigger(zf_http_req_t *req)
{
    const char *wf_id = s_id_param(req, "tmpl_", S_TMPL_404);
    if (!wf_id) return;
    const char *tmpl_id = zf_http_param(req, "id");
    const char *etype = s_entity_field(req, "entityType", S_ENTITY_TYPE_MAX, "api_trigger");
    const char *eid = etype ? s_entity_field(req, "entityId", S_ENTITY_ID_MAX, tmpl_id) : NULL;
    if (!eid) return;
    json_t *entity = json_pack("{s:s, s:s}", "entityType", etype, "entityId", eid);
    json_t *body = json_pack("{s:s, s:o, s:o}", "workflow_id", wf_id, "inputs",
                             json_deep_copy(entity), "trigger_data", entity);
    json_t *rep = NULL;
    char msg[512];
    int rc = zf_http_call(req, "run.start", body, ZF_HTTP_CALL_TIMEOUT_MS, &rep, msg, sizeof msg);
    if (rc == ZF_ECONFLICT)  // archived, paused or disabled: the message says which
        zf_http_fail(req, rc, "The automation cannot run: %s", msg);
    else if (rc)
        s_fail_call(req, rc, msg, S_TMPL_404);
    else
        s_data(req, 201, s_instance_view(json_object_get(rep, "run"), etype, eid));
    json_decref(rep);
}

//  After a run.cancel conflict: 1 when the run has ended (or is gone),
//  0 when it is still in progress (the conflict was a race with its own
//  state change), -1 when run.get failed (answered).
static int
s_run_ended(zf_http_req_t *req, const char *run_id)
{
    json_t *rep = NULL;
    char msg[512];
    int rc = zf_http_call(req, "run.get", json_pack("{s:s}", "id", run_id), ZF_HTTP_CALL_TIMEOUT_MS,
                          &rep, msg, sizeof msg);
    if (rc == ZF_ENOTFOUND) return 1;
    if (rc) {
        s_fail_call(req, rc, msg, S_INST_404);
        return -1;
    }
    const char *st = json_string_value(json_object_get(json_object_get(rep, "run"), "status"));
    int ended = strcmp(s_inst_status(st), "running") != 0;
    json_decref(rep);
    return ended;
}

//  POST /automations/:id/cancel (an instance id): run.cancel; a run that
//  has already ended is "not found" among the in-progress instances. A
//  conflict with a run still in progress (it was passivating or resuming
//  just then) is retried a few times before answering 409.
static void
s_cancel(zf_http_req_t *req)
{
    const char *run_id = s_id_param(req, "inst_", S_INST_404);
    if (!run_id) return;
    for (int attempt = 1;; attempt++) {
        json_t *rep = NULL;
        char msg[512];
        int rc = zf_http_call(req, "run.cancel", json_pack("{s:s}", "id", run_id),
                              ZF_HTTP_CALL_TIMEOUT_MS, &rep, msg, sizeof msg);
        json_decref(rep);
        if (rc == 0) {
            s_data(
                req, 200,
                json_pack("{s:s, s:{s:b}}", "type", "cancel_result", "attributes", "success", 1));
            return;
        }
        if (rc != ZF_ECONFLICT) {
            s_fail_call(req, rc, msg, S_INST_404);
            return;
        }
        int ended = s_run_ended(req, run_id);
        if (ended < 0) return;
        if (ended) {
            zf_http_fail(req, ZF_ENOTFOUND,
                         "%s: only in-progress instances can be cancelled (this one has ended)",
                         S_INST_404);
            return;
        }
        if (attempt == S_CANCEL_TRIES) {
            zf_http_fail(req, ZF_ECONFLICT, "The instance is changing state; retry the cancel");
            return;
        }
        nanosleep(&(struct timespec){.tv_nsec = 20000000L * attempt}, NULL);
    }
}

/* ---- dialect ------------------------------------------------------------------------ */

//  Wire codes -> the seed's upper-case codes; others are upper-cased.
static void
s_code(const char *code, char *out, size_t outlen)
{
    static const char *const map[][2] = {
        {"validation", "VALIDATION_ERROR"}, {"too_large", "PAYLOAD_TOO_LARGE"},
        {"internal", "INTERNAL_ERROR"},     {"unavailable", "SERVICE_UNAVAILABLE"},
        {"rate_limited", "RATE_LIMITED"},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        if (strcmp(code, map[i][0]) == 0) {
            snprintf(out, outlen, "%s", map[i][1]);
            return;
        }
    }
    size_t n = 0;
    for (; code[n] && n + 1 < outlen; n++)
        out[n] = (char)toupper((unsigned char)code[n]);
    out[n] = '\0';
}

static json_t *
s_render_error(int status, const char *code, const char *message)
{
    (void)status;
    char lw[64];
    s_code(code, lw, sizeof lw);
    return s_error_body(lw, message, NULL, zf_http_request_id(NULL));
}

//  VALIDATION_ERROR is 422 (the seed), malformed JSON bodies included.
static int
s_status_for(const char *code)
{
    return strcmp(code, "validation") == 0 ? 422 : zf_http_status_for(code);
}

static const zf_http_route_t s_routes[] = {
    {"GET", "/status", ZF_HTTP_PUBLIC, s_status},
    {"GET", "/webhooks/catalog", ZF_HTTP_PUBLIC, s_webhook_catalog},
    {"GET", "/openapi.json", ZF_HTTP_PUBLIC, s_openapi},
    {"GET", "/automations", ZF_HTTP_VIEWER, s_list},
    {"POST", "/automations/:id/trigger", ZF_HTTP_MEMBER, s_trigger},
    {"POST", "/automations/:id/cancel", ZF_HTTP_MEMBER, s_cancel},
    {NULL, NULL, 0, NULL},
};

const zf_http_dialect_t zf_dialect_lendworks = {
    .name = "lendworks",
    .default_prefix = "/v1",
    .routes = s_routes,
    .render_error = s_render_error,
    .status_for = s_status_for,
    .render_event = NULL,
    .headers = "LW-API-Version: " S_API_VERSION "\r\n",
    .limit_by_address = true,
};
