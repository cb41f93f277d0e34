/*  http/dialects/coherence.c — seed 003, the Coherence "Automation API".

    An automation is a core workflow seen through the seed's field names:
    id "auto_<workflow id>" (paths accept it with or without "auto_"),
    trigger/conditions/enabled/error_handling as stored, actions <->
    definition.nodes ({"id": "action_<n>", "type", "config"}), run_count and
    last_run_at from workflow.stats. A log is a run: id "log_<run id>",
    status success|failed|running|cancelled, actions_executed built from the
    run's step logs. Times are ISO-8601 UTC to the second, like the seed
    ("2024-01-15T10:30:00Z"). Envelopes {"data": ...} (+ "meta" on lists);
    errors {"error": {"code", "message"}} with the seed's codes.
    docs/api/coherence.md documents every route.
*/
#include "broker/ids.h"
#include "broker/isotime.h"
#include "http/dialect.h"
#include "http/dialects/dialects.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_PER_PAGE     25   // default page size (automations and logs)
#define S_MAX_PER_PAGE 100  // the seed's maximum for logs; also for automations
#define S_MAX_PAGE     100000
#define S_MAX_ACTIONS  500  // ZF_DEF_MAX_NODES
#define S_MAX_RUN_SCAN 500  // run.list's maximum limit (merging several statuses)
#define S_WHY          256

static const char *const S_AUTO_404 = "Automation not found";
static const char *const S_HOOK_404 = "Webhook not found";

static const char *const s_trigger_types[] = {
    "manual",         "webhook",        "schedule",      "record.created",
    "record.updated", "record.deleted", "field.changed", NULL};
static const char *const s_action_types[] = {
    "update_record", "create_record", "send_email", "send_notification",
    "call_webhook",  "delay",         NULL};
//  Execution error codes of the seed; an engine error text that starts
//  with one of them is reported with that code.
static const char *const s_exec_codes[] = {"condition_evaluation_failed",
                                           "action_timeout",
                                           "webhook_connection_failed",
                                           "email_delivery_failed",
                                           "record_not_found",
                                           "permission_denied",
                                           NULL};

static bool
s_in(const char *s, const char *const *set)
{
    for (int i = 0; s && set[i]; i++) {
        if (strcmp(s, set[i]) == 0) return true;
    }
    return false;
}

/* ---- times and ids ------------------------------------------------------------- */

//  Unix ms -> "2024-01-15T10:30:00Z" (seconds, as in the seed), null when not an int.
static json_t *
s_time(const json_t *ms)
{
    if (!json_is_integer(ms)) return json_null();
    time_t t = (time_t)(json_integer_value(ms) / 1000);
    struct tm tm;
    char out[32];
    if (!gmtime_r(&t, &tm) || !strftime(out, sizeof out, "%Y-%m-%dT%H:%M:%SZ", &tm))
        return json_null();
    return json_string(out);
}

//  "auto_" + core id (a JSON string), or null.
static json_t *
s_prefixed(const char *prefix, const json_t *id)
{
    const char *s = json_string_value(id);
    return s ? json_sprintf("%s%s", prefix, s) : json_null();
}

//  The core id of path parameter name ("auto_<uuid>" or "<uuid>"); else
//  answers 404 (text not_found) and returns NULL.
static const char *
s_auto_id(zf_http_req_t *req, const char *name, const char *not_found)
{
    const char *id = zf_http_param(req, name);
    if (id && strncmp(id, "auto_", 5) == 0) id += 5;
    if (id && zf_uuid_valid(id)) return id;
    zf_http_fail(req, ZF_ENOTFOUND, "%s", not_found);
    return NULL;
}

static bool
s_nonempty(const json_t *v, size_t max)
{
    const char *s = json_string_value(v);
    return s && *s && strlen(s) <= max;
}

/* ---- views ----------------------------------------------------------------------- */

static json_t *
s_actions_view(const json_t *wf)
{
    json_t *out = json_array(), *node;
    size_t i;
    json_array_foreach (json_object_get(json_object_get(wf, "definition"), "nodes"), i, node) {
        json_t *cfg = json_object_get(node, "config");
        json_array_append_new(out, json_pack("{s:O?, s:o}", "type", json_object_get(node, "type"),
                                             "config", cfg ? json_deep_copy(cfg) : json_object()));
    }
    return out;
}

//  The seed's error_handling (plus retry_delays_s); threshold default 5.
static json_t *
s_eh_view(const json_t *eh)
{
    const json_t *th = json_object_get(eh, "breaker_threshold");
    if (!json_is_integer(th)) th = json_object_get(eh, "disable_after_failures");
    const json_t *delays = json_object_get(eh, "retry_delays_s");
    return json_pack("{s:b, s:o, s:o, s:o}", "notify_on_failure",
                     json_is_true(json_object_get(eh, "notify_on_failure")), "notify_email",
                     zf_http_or_null(json_object_get(eh, "notify_email")), "disable_after_failures",
                     json_is_integer(th) ? json_deep_copy(th) : json_integer(5), "retry_delays_s",
                     zf_http_or_null(delays));
}

static json_t *
s_auto_view(const json_t *wf)
{
    const json_t *stats = json_object_get(wf, "stats"), *trig = json_object_get(wf, "trigger");
    const json_t *cond = json_object_get(wf, "conditions");
    const json_t *runs = json_object_get(stats, "run_count"),
                 *desc = json_object_get(wf, "description");
    return json_pack(
        "{s:o, s:O?, s:o, s:b, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:I}", "id",
        s_prefixed("auto_", json_object_get(wf, "id")), "name", json_object_get(wf, "name"),
        "description", s_nonempty(desc, SIZE_MAX) ? json_deep_copy(desc) : json_null(), "enabled",
        json_is_true(json_object_get(wf, "enabled")), "trigger",
        json_is_object(trig) ? json_deep_copy(trig) : json_pack("{s:s}", "type", "manual"),
        "conditions", json_is_array(cond) ? json_deep_copy(cond) : json_array(), "actions",
        s_actions_view(wf), "error_handling", s_eh_view(json_object_get(wf, "error_handling")),
        "created_at", s_time(json_object_get(wf, "created_at")), "updated_at",
        s_time(json_object_get(wf, "updated_at")), "last_run_at",
        s_time(json_object_get(stats, "last_run_at")), "run_count",
        (json_int_t)(json_is_integer(runs) ? json_integer_value(runs) : 0));
}

//  Sets "error" (text) and "error_code" (a seed code when the text starts
//  with one; action_timeout for time-outs; else fallback) on obj.
static void
s_set_error(json_t *obj, const char *text, const char *fallback)
{
    const char *code = fallback, *msg = text;
    for (int i = 0; s_exec_codes[i]; i++) {
        size_t n = strlen(s_exec_codes[i]);
        if (strncmp(text, s_exec_codes[i], n) == 0 && (!text[n] || text[n] == ':')) {
            code = s_exec_codes[i];
            msg = text[n] ? text + n + 1 : text;
            while (*msg == ' ')
                msg++;
            break;
        }
    }
    if (code == fallback && (strstr(text, "timed out") || strstr(text, "timeout")))
        code = "action_timeout";
    json_object_set_new(obj, "error", json_string(*msg ? msg : text));
    json_object_set_new(obj, "error_code", json_string(code));
}

static const char *
s_step_status(const char *core)
{
    static const char *const map[][2] = {{"completed", "success"}, {"failed", "failed"},
                                         {"blocked", "failed"},    {"waiting", "running"},
                                         {"skipped", "skipped"},   {"retrying", "retrying"}};
    for (size_t i = 0; core && i < sizeof map / sizeof map[0]; i++) {
        if (strcmp(core, map[i][0]) == 0) return map[i][1];
    }
    return core ? core : "running";
}

//  One entry per action (node) in order of first execution; a later log
//  entry of the same node (a retry) replaces the earlier one.
static json_t *
s_actions_executed(const json_t *logs)
{
    json_t *out = json_array(), *pos = json_object(), *e;
    size_t i;
    json_array_foreach (logs, i, e) {
        const char *node = json_string_value(json_object_get(e, "nodeId"));
        const json_t *dur = json_object_get(e, "durationMs");
        json_t *a =
            json_pack("{s:O?, s:s, s:o}", "type", json_object_get(e, "nodeType"), "status",
                      s_step_status(json_string_value(json_object_get(e, "status"))), "duration_ms",
                      json_is_integer(dur) ? json_deep_copy(dur) : json_null());
        const json_t *att = json_object_get(e, "attempt");
        if (json_is_integer(att)) json_object_set(a, "attempts", (json_t *)att);
        const char *err = json_string_value(json_object_get(e, "error"));
        if (err && *err) s_set_error(a, err, "action_failed");
        json_t *at = node ? json_object_get(pos, node) : NULL;
        if (at) {
            json_array_set_new(out, (size_t)json_integer_value(at), a);
        } else {
            if (node)
                json_object_set_new(pos, node, json_integer((json_int_t)json_array_size(out)));
            json_array_append_new(out, a);
        }
    }
    json_decref(pos);
    return out;
}

static const char *
s_log_status(const char *core)
{
    if (!core) return "running";
    if (strcmp(core, "completed") == 0) return "success";
    if (strcmp(core, "failed") == 0 || strcmp(core, "cancelled") == 0) return core;
    return "running";  // queued, running, waiting, paused
}

static json_t *
s_log_view(const json_t *run)
{
    const json_t *trig = json_object_get(run, "trigger");
    const json_t *rid = json_object_get(trig, "record_id");
    if (!json_is_string(rid)) rid = json_object_get(json_object_get(trig, "record"), "id");
    const json_t *event = json_object_get(trig, "event");
    if (!json_is_string(event)) event = json_object_get(trig, "type");
    const json_t *started = json_object_get(run, "started_at");
    if (!json_is_integer(started)) started = json_object_get(run, "created_at");
    const json_t *fin = json_object_get(run, "finished_at");
    json_t *dur = json_is_integer(started) && json_is_integer(fin)
                      ? json_integer(json_integer_value(fin) - json_integer_value(started))
                      : json_null();
    json_t *v =
        json_pack("{s:o, s:o, s:O?, s:s, s:{s:o, s:o}, s:o, s:o, s:o, s:o}", "id",
                  s_prefixed("log_", json_object_get(run, "id")), "automation_id",
                  s_prefixed("auto_", json_object_get(run, "workflow_id")), "run_id",
                  json_object_get(run, "id"), "status",
                  s_log_status(json_string_value(json_object_get(run, "status"))), "trigger_data",
                  "record_id", zf_http_or_null(rid), "event",
                  json_is_string(event) ? json_deep_copy(event) : json_string("manual"),
                  "actions_executed", s_actions_executed(json_object_get(run, "logs")),
                  "started_at", s_time(started), "completed_at", s_time(fin), "duration_ms", dur);
    const char *err = json_string_value(json_object_get(json_object_get(run, "error"), "message"));
    if (err && *err) s_set_error(v, err, "action_failed");
    return v;
}

/* ---- answers and errors ----------------------------------------------------------- */

static void
s_data(zf_http_req_t *req, int status, json_t *data)
{
    zf_http_respond(req, status, json_pack("{s:o}", "data", data));
}

static void
s_data_list(zf_http_req_t *req, json_t *items, json_int_t total, int64_t page, int64_t per)
{
    zf_http_respond(req, 200,
                    json_pack("{s:o, s:{s:I, s:I, s:I}}", "data", items, "meta", "total", total,
                              "page", (json_int_t)page, "per_page", (json_int_t)per));
}

//  409 automation_disabled as in the seed's circuit-breaker example, with
//  last_error (a seed code when known) read from the automation's stats.
static void
s_fail_disabled(zf_http_req_t *req, const char *wf_id)
{
    json_t *rep = NULL, *err = json_pack("{s:s}", "code", "automation_disabled");
    char msg[160] = "Automation is disabled; enable it first";
    if (wf_id && zf_http_who(req)->tenant[0] &&
        zf_http_call(req, "wf.get", json_pack("{s:s}", "id", wf_id), ZF_HTTP_CALL_TIMEOUT_MS, &rep,
                     NULL, 0) == 0) {
        const json_t *wf = json_object_get(rep, "workflow");
        const json_t *n = json_object_get(wf, "consecutive_failures");
        if (json_is_string(json_object_get(wf, "disabled_reason")) && json_is_integer(n))
            snprintf(msg, sizeof msg, "Automation disabled after %lld consecutive failures",
                     (long long)json_integer_value(n));
        const char *last =
            json_string_value(json_object_get(json_object_get(wf, "stats"), "last_error"));
        if (last && *last) {
            json_t *tmp = json_object();
            s_set_error(tmp, last, "action_failed");
            json_object_set(err, "last_error", json_object_get(tmp, "error_code"));
            json_decref(tmp);
        }
    }
    json_decref(rep);
    json_object_set_new(err, "message", json_string(msg));
    zf_http_respond(req, 409, json_pack("{s:o}", "error", err));
}

//  Maps a failed call. not_found answers the fixed text (unknown and
//  foreign ids answer byte-identically) or record_not_found; conflict with
//  detail automation_disabled becomes the seed's error; engine validation
//  messages about definition nodes are renamed to actions.
static void
s_fail_call(zf_http_req_t *req, int rc, const char *msg, const char *wf_id, const char *not_found)
{
    const char *detail = zf_http_last_detail(req);
    if (rc == ZF_ENOTFOUND && strcmp(detail, "record_not_found") == 0) {
        zf_http_fail_code(req, 404, "record_not_found", "%s", *msg ? msg : "Record not found");
    } else if (rc == ZF_ENOTFOUND) {
        zf_http_fail(req, rc, "%s", not_found);
    } else if (rc == ZF_ECONFLICT && strcmp(detail, "automation_disabled") == 0) {
        s_fail_disabled(req, wf_id);
    } else if (rc == ZF_EINVAL) {
        const char *p = strncmp(msg, "definition.", 11) == 0 ? msg + 11 : msg;
        if (strncmp(p, "nodes[", 6) == 0)
            zf_http_fail(req, rc, "actions[%s", p + 6);
        else
            zf_http_fail(req, rc, "%s", *p ? p : "Invalid request");
    } else if (rc == ZF_ETIMEOUT || rc == ZF_EUNAVAIL) {
        zf_http_fail(req, rc, "%s", *msg ? msg : "Service unavailable, retry");
    } else {
        zf_http_fail(req, rc, "%s", *msg ? msg : "Request failed");
    }
}

//  One broker round trip; on failure answers and returns NULL.
static json_t *
s_call(zf_http_req_t *req, const char *type, json_t *body, const char *wf_id, const char *not_found)
{
    json_t *rep = NULL;
    char msg[512];
    int rc = zf_http_call(req, type, body, ZF_HTTP_CALL_TIMEOUT_MS, &rep, msg, sizeof msg);
    if (rc) s_fail_call(req, rc, msg, wf_id, not_found);
    return rep;
}

/* ---- input validation -------------------------------------------------------------- */

static size_t
s_utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

static bool
s_check_actions(const json_t *a, char *why)
{
    if (!json_is_array(a) || json_array_size(a) == 0 || json_array_size(a) > S_MAX_ACTIONS) {
        snprintf(why, S_WHY, "actions: must be an array of 1 to %d actions", S_MAX_ACTIONS);
        return false;
    }
    json_t *e;
    size_t i;
    json_array_foreach (a, i, e) {
        const json_t *cfg = json_object_get(e, "config");
        if (!json_is_object(e))
            snprintf(why, S_WHY, "actions[%zu]: must be an object with type and config", i);
        else if (!s_in(json_string_value(json_object_get(e, "type")), s_action_types))
            snprintf(why, S_WHY,
                     "actions[%zu].type: must be one of update_record, create_record, "
                     "send_email, send_notification, call_webhook, delay",
                     i);
        else if (cfg && !json_is_object(cfg))
            snprintf(why, S_WHY, "actions[%zu].config: must be an object", i);
        else
            continue;
        return false;
    }
    return true;
}

//  The core error_handling: base (may be NULL) with the seed's fields of
//  in applied (disable_after_failures -> breaker_threshold).
static json_t *
s_eh_core(const json_t *in, const json_t *base)
{
    json_t *out = json_is_object(base) ? json_deep_copy(base) : json_object();
    static const char *const keys[] = {"notify_on_failure", "notify_email", "retry_delays_s"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        json_t *v = json_object_get(in, keys[i]);
        if (v) json_object_set(out, keys[i], v);
    }
    json_t *th = json_object_get(in, "disable_after_failures");
    if (th) {
        json_object_set(out, "breaker_threshold", th);
        json_object_del(out, "disable_after_failures");
    }
    return out;
}

static json_t *
s_definition(const json_t *actions)
{
    json_t *nodes = json_array(), *a;
    size_t i;
    json_array_foreach (actions, i, a) {
        json_t *cfg = json_object_get(a, "config");
        json_array_append_new(nodes,
                              json_pack("{s:o, s:O, s:o}", "id", json_sprintf("action_%zu", i + 1),
                                        "type", json_object_get(a, "type"), "config",
                                        cfg ? json_deep_copy(cfg) : json_object()));
    }
    return json_pack("{s:o}", "nodes", nodes);
}

//  The JSON type of each automation field copied as is; the engine checks
//  the contents in depth (its messages name the field: "trigger.module: ...").
static const struct {
    const char *field;  // body field = core workflow field
    json_type type;     // required JSON type
    bool copy;          // copied into the workflow as is (else merged by the handler)
    const char *why;    // message when it has another type
} s_plain[] = {{"trigger", JSON_OBJECT, true, "trigger: must be an object with a type"},
               {"conditions", JSON_ARRAY, true, "conditions: must be an array"},
               {"error_handling", JSON_OBJECT, false, "error_handling: must be an object"}};

//  Checks and copies the automation fields present in body into the core
//  workflow fields of out (error_handling is only checked: see s_eh_core).
//  Returns false with why set on the first problem.
static bool
s_take_fields(const json_t *body, json_t *out, char *why)
{
    const json_t *v = json_object_get(body, "name"), *d = json_object_get(body, "description");
    if (v && (!s_nonempty(v, 800) || s_utf8_chars(json_string_value(v)) > 200))
        return snprintf(why, S_WHY, "name: must be a non-empty string of at most 200 characters"),
               false;
    if (d && !json_is_string(d) && !json_is_null(d))
        return snprintf(why, S_WHY, "description: must be a string"), false;
    if (v) json_object_set(out, "name", (json_t *)v);
    if (d)
        json_object_set_new(out, "description",
                            json_string(json_is_string(d) ? json_string_value(d) : ""));
    for (size_t i = 0; i < sizeof s_plain / sizeof s_plain[0]; i++) {
        if (!(v = json_object_get(body, s_plain[i].field))) continue;
        if (json_typeof(v) != s_plain[i].type)
            return snprintf(why, S_WHY, "%s", s_plain[i].why), false;
        if (s_plain[i].copy) json_object_set(out, s_plain[i].field, (json_t *)v);
    }
    if ((v = json_object_get(body, "actions"))) {
        if (!s_check_actions(v, why)) return false;
        json_object_set_new(out, "definition", s_definition(v));
    }
    return true;
}

/* ---- automations -------------------------------------------------------------------- */

static void
s_auto_list(zf_http_req_t *req)
{
    int64_t page, per;
    char buf[256];
    if (zf_http_query_int(req, "page", 1, 1, S_MAX_PAGE, &page) ||
        zf_http_query_int(req, "per_page", S_PER_PAGE, 1, S_MAX_PER_PAGE, &per)) {
        zf_http_fail(req, ZF_EINVAL, "page must be an integer >= 1 and per_page 1..%d",
                     S_MAX_PER_PAGE);
        return;
    }
    json_t *q =
        json_pack("{s:I, s:I}", "limit", (json_int_t)per, "offset", (json_int_t)((page - 1) * per));
    const char *why = NULL;
    if (zf_http_query(req, "module", buf, sizeof buf) >= 0) {
        if (*buf)
            json_object_set_new(q, "module", json_string(buf));
        else
            why = "module: must not be empty";
    }
    if (!why && zf_http_query(req, "enabled", buf, sizeof buf) >= 0) {
        if (strcmp(buf, "true") && strcmp(buf, "false"))
            why = "enabled: must be true or false";
        else
            json_object_set_new(q, "enabled", json_boolean(strcmp(buf, "true") == 0));
    }
    if (!why && zf_http_query(req, "trigger_type", buf, sizeof buf) >= 0) {
        if (!s_in(buf, s_trigger_types))
            why = "trigger_type: not a trigger type";
        else
            json_object_set_new(q, "trigger_type", json_string(buf));
    }
    if (why) {
        json_decref(q);
        zf_http_fail(req, ZF_EINVAL, "%s", why);
        return;
    }
    json_t *rep = s_call(req, "wf.list", q, NULL, S_AUTO_404), *items = json_array(), *wf;
    if (!rep) {
        json_decref(items);
        return;
    }
    size_t i;
    json_array_foreach (json_object_get(rep, "workflows"), i, wf)
        json_array_append_new(items, s_auto_view(wf));
    const json_t *total = json_object_get(rep, "total");
    s_data_list(req, items,
                json_is_integer(total) ? json_integer_value(total)
                                       : (json_int_t)json_array_size(items),
                page, per);
    json_decref(rep);
}

static void
s_auto_get(zf_http_req_t *req)
{
    const char *id = s_auto_id(req, "id", S_AUTO_404);
    json_t *rep = id ? s_call(req, "wf.get", json_pack("{s:s}", "id", id), id, S_AUTO_404) : NULL;
    if (!rep) return;
    s_data(req, 200, s_auto_view(json_object_get(rep, "workflow")));
    json_decref(rep);
}

static void
s_auto_create(zf_http_req_t *req)
{
    json_t *body = zf_http_body(req), *wf = json_object(), *en = json_object_get(body, "enabled");
    char why[S_WHY] = "";
    if (s_take_fields(body, wf, why)) {
        if (!json_object_get(wf, "name"))
            snprintf(why, S_WHY, "name: required (a non-empty string of at most 200 characters)");
        else if (!json_object_get(wf, "trigger"))
            snprintf(why, S_WHY, "trigger: required (an object with a type)");
        else if (!json_object_get(wf, "definition"))
            snprintf(why, S_WHY, "actions: required (an array of 1 to %d actions)", S_MAX_ACTIONS);
        else if (en && !json_is_boolean(en))
            snprintf(why, S_WHY, "enabled: must be a boolean");
    }
    if (*why) {
        json_decref(wf);
        zf_http_fail(req, ZF_EINVAL, "%s", why);
        return;
    }
    json_t *eh = s_eh_core(json_object_get(body, "error_handling"), NULL);
    if (!json_object_get(eh, "retry_delays_s"))  // the seed's 1 min, 5 min, 30 min
        json_object_set_new(eh, "retry_delays_s", json_pack("[i, i, i]", 60, 300, 1800));
    json_object_set_new(wf, "error_handling", eh);
    json_object_set_new(wf, "enabled", json_boolean(json_is_true(en)));
    if (!json_object_get(wf, "conditions")) json_object_set_new(wf, "conditions", json_array());
    json_t *rep = s_call(req, "wf.create", json_pack("{s:o}", "workflow", wf), NULL, S_AUTO_404);
    if (!rep) return;
    s_data(req, 201, s_auto_view(json_object_get(rep, "workflow")));
    json_decref(rep);
}

//  PATCH: any of name, description, trigger, conditions, actions,
//  error_handling; always sends enabled: false (the seed: updating an
//  automation disables it). error_handling is merged into the stored one.
static void
s_auto_update(zf_http_req_t *req)
{
    const char *id = s_auto_id(req, "id", S_AUTO_404);
    if (!id) return;
    json_t *body = zf_http_body(req), *patch = json_object();
    json_t *eh = json_object_get(body, "error_handling");
    char why[S_WHY] = "";
    if (s_take_fields(body, patch, why) && json_object_size(patch) == 0 && !eh)
        snprintf(why, S_WHY,
                 "No valid fields to update (name, description, trigger, conditions, "
                 "actions, error_handling)");
    if (*why) {
        json_decref(patch);
        zf_http_fail(req, ZF_EINVAL, "%s", why);
        return;
    }
    if (eh) {
        json_t *cur = s_call(req, "wf.get", json_pack("{s:s}", "id", id), id, S_AUTO_404);
        if (!cur) {
            json_decref(patch);
            return;
        }
        json_object_set_new(
            patch, "error_handling",
            s_eh_core(eh, json_object_get(json_object_get(cur, "workflow"), "error_handling")));
        json_decref(cur);
    }
    json_object_set_new(patch, "enabled", json_false());
    json_t *rep =
        s_call(req, "wf.update", json_pack("{s:s, s:o}", "id", id, "patch", patch), id, S_AUTO_404);
    if (!rep) return;
    s_data(req, 200, s_auto_view(json_object_get(rep, "workflow")));
    json_decref(rep);
}

static void
s_auto_delete(zf_http_req_t *req)
{
    const char *id = s_auto_id(req, "id", S_AUTO_404);
    json_t *rep =
        id ? s_call(req, "wf.delete", json_pack("{s:s}", "id", id), id, S_AUTO_404) : NULL;
    if (!rep) return;
    json_decref(rep);
    s_data(req, 200, json_pack("{s:o, s:b}", "id", json_sprintf("auto_%s", id), "deleted", 1));
}

static void
s_set_enabled(zf_http_req_t *req, bool on)
{
    const char *id = s_auto_id(req, "id", S_AUTO_404);
    if (!id) return;
    json_t *rep =
        s_call(req, "wf.update", json_pack("{s:s, s:{s:b}}", "id", id, "patch", "enabled", on), id,
               S_AUTO_404);
    if (!rep) return;
    const json_t *wf = json_object_get(rep, "workflow");
    s_data(req, 200,
           json_pack("{s:o, s:b}", "id", s_prefixed("auto_", json_object_get(wf, "id")), "enabled",
                     json_is_true(json_object_get(wf, "enabled"))));
    json_decref(rep);
}

static void
s_auto_enable(zf_http_req_t *req)
{
    s_set_enabled(req, true);
}

static void
s_auto_disable(zf_http_req_t *req)
{
    s_set_enabled(req, false);
}

/* ---- logs, trigger, test, webhooks --------------------------------------------------- */

static int
s_by_created_desc(const void *a, const void *b)
{
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    json_int_t cx = json_integer_value(json_object_get(x, "created_at"));
    json_int_t cy = json_integer_value(json_object_get(y, "created_at"));
    if (cx != cy) return cx < cy ? 1 : -1;
    const char *ix = json_string_value(json_object_get(x, "id"));
    const char *iy = json_string_value(json_object_get(y, "id"));
    return -strcmp(ix ? ix : "", iy ? iy : "");
}

//  Why: "running" covers four core statuses and run.list filters on one,
//  so each is listed (first offset+limit, at most 500) and the lists are
//  merged newest first. Returns the page (new ref) and *total, or NULL
//  after answering an error.
static json_t *
s_runs_page(zf_http_req_t *req, const json_t *base, const char *const *st, const char *id,
            int64_t offset, int64_t limit, json_int_t *total)
{
    json_t *all = json_array(), *r;
    int64_t want = offset + limit > S_MAX_RUN_SCAN ? S_MAX_RUN_SCAN : offset + limit;
    *total = 0;
    for (int k = 0; st[k]; k++) {
        json_t *q = json_deep_copy(base);
        json_object_set_new(q, "status", json_string(st[k]));
        json_object_set_new(q, "limit", json_integer(st[1] ? want : limit));
        json_object_set_new(q, "offset", json_integer(st[1] ? 0 : offset));
        json_t *rep = s_call(req, "run.list", q, id, S_AUTO_404);
        if (!rep) {
            json_decref(all);
            return NULL;
        }
        *total += json_integer_value(json_object_get(rep, "total"));
        json_array_extend(all, json_object_get(rep, "runs"));
        json_decref(rep);
    }
    size_t n = json_array_size(all), i;
    json_t **v = calloc(n + 1, sizeof *v), *page = json_array();
    json_array_foreach (all, i, r)
        v[i] = r;
    qsort(v, n, sizeof *v, s_by_created_desc);
    for (i = st[1] ? (size_t)offset : 0; i < n && json_array_size(page) < (size_t)limit; i++)
        json_array_append(page, v[i]);
    free(v);
    json_decref(all);
    return page;
}

//  The core statuses of a log status filter; NULL if it is not one.
static const char *const *
s_core_statuses(const char *status)
{
    static const char *const success[] = {"completed", NULL}, *const failed[] = {"failed", NULL};
    static const char *const cancelled[] = {"cancelled", NULL};
    static const char *const running[] = {"queued", "running", "waiting", "paused", NULL};
    if (strcmp(status, "success") == 0) return success;
    if (strcmp(status, "failed") == 0) return failed;
    if (strcmp(status, "cancelled") == 0) return cancelled;
    if (strcmp(status, "running") == 0) return running;
    return NULL;
}

static void
s_logs(zf_http_req_t *req)
{
    static const char *const any[] = {"", NULL};
    const char *id = s_auto_id(req, "id", S_AUTO_404);
    if (!id) return;
    int64_t limit, page;
    long long since = 0;
    char status[32] = "", when[64] = "";
    const char *const *st = any;
    const char *why = NULL;
    if (zf_http_query_int(req, "limit", S_PER_PAGE, 1, S_MAX_PER_PAGE, &limit))
        why = "limit: must be an integer 1..100";
    else if (zf_http_query_int(req, "page", 1, 1, S_MAX_PAGE, &page))
        why = "page: must be an integer >= 1";
    else if (zf_http_query(req, "status", status, sizeof status) >= 0 &&
             !(st = s_core_statuses(status)))
        why = "status: must be one of success, failed, running, cancelled";
    else if (zf_http_query(req, "since", when, sizeof when) >= 0 && zf_iso8601_ms(when, &since))
        why = "since: must be an ISO-8601 timestamp such as 2024-01-15T00:00:00Z";
    if (why) {
        zf_http_fail(req, ZF_EINVAL, "%s", why);
        return;
    }
    json_t *base = json_pack("{s:s, s:b}", "workflow_id", id, "with_logs", 1), *r;
    if (*when) json_object_set_new(base, "since", json_integer(since));
    json_int_t total = 0;
    json_t *runs;
    if (st == any) {  // no status filter: one plain page
        json_object_set_new(base, "limit", json_integer(limit));
        json_object_set_new(base, "offset", json_integer((page - 1) * limit));
        json_t *rep = s_call(req, "run.list", json_incref(base), id, S_AUTO_404);
        runs = rep ? json_incref(json_object_get(rep, "runs")) : NULL;
        total = rep ? json_integer_value(json_object_get(rep, "total")) : 0;
        json_decref(rep);
    } else {
        runs = s_runs_page(req, base, st, id, (page - 1) * limit, limit, &total);
    }
    json_decref(base);
    if (!runs) return;
    json_t *items = json_array();
    size_t i;
    json_array_foreach (runs, i, r)
        json_array_append_new(items, s_log_view(r));
    json_decref(runs);
    s_data_list(req, items, total, page, limit);
}

static void
s_trigger(zf_http_req_t *req)
{
    const char *id = s_auto_id(req, "id", S_AUTO_404);
    if (!id) return;
    json_t *body = zf_http_body(req), *rid = json_object_get(body, "record_id");
    json_t *mod = json_object_get(body, "module");
    if ((rid && !s_nonempty(rid, 128)) || (mod && !s_nonempty(mod, 128))) {
        zf_http_fail(req, ZF_EINVAL, "%s: must be a non-empty string",
                     rid && !s_nonempty(rid, 128) ? "record_id" : "module");
        return;
    }
    json_t *q = json_pack("{s:s, s:{}, s:O*, s:O*}", "workflow_id", id, "inputs", "record_id", rid,
                          "module", mod);
    json_t *rep = s_call(req, "run.start", q, id, S_AUTO_404);
    if (!rep) return;
    s_data(req, 202, s_log_view(json_object_get(rep, "run")));
    json_decref(rep);
}

static void
s_test(zf_http_req_t *req)
{
    const char *id = s_auto_id(req, "id", S_AUTO_404);
    if (!id) return;
    json_t *body = zf_http_body(req), *rid = json_object_get(body, "record_id");
    json_t *rec = json_object_get(body, "record"), *mod = json_object_get(body, "module");
    const char *why = NULL;
    if (rid && !s_nonempty(rid, 128))
        why = "record_id: must be a non-empty string";
    else if (rec && !json_is_object(rec))
        why = "record: must be an object";
    else if (mod && !s_nonempty(mod, 128))
        why = "module: must be a non-empty string";
    if (why) {
        zf_http_fail(req, ZF_EINVAL, "%s", why);
        return;
    }
    json_t *q = json_pack("{s:s, s:O*, s:O*, s:O*}", "id", id, "record_id", rid, "record", rec,
                          "module", mod);
    json_t *rep = s_call(req, "wf.test", q, id, S_AUTO_404), *a;
    if (!rep) return;
    json_t *preview = json_array();
    size_t i;
    json_array_foreach (json_object_get(rep, "actions_preview"), i, a)
        json_array_append_new(preview, json_pack("{s:O?, s:O?}", "type", json_object_get(a, "type"),
                                                 "config", json_object_get(a, "config")));
    const json_t *ce = json_object_get(rep, "conditions_evaluated");
    s_data(req, 200,
           json_pack("{s:b, s:b, s:o, s:o}", "would_execute",
                     json_is_true(json_object_get(rep, "would_execute")), "conditions_passed",
                     json_is_true(json_object_get(rep, "conditions_passed")),
                     "conditions_evaluated", json_is_array(ce) ? json_deep_copy(ce) : json_array(),
                     "actions_preview", preview));
    json_decref(rep);
}

//  PUBLIC: the webhook URL. The engine finds the automation by id alone
//  and checks trigger.type, webhook_path and enabled.
static void
s_webhook(zf_http_req_t *req)
{
    const char *id = s_auto_id(req, "automation_id", S_HOOK_404);
    if (!id) return;
    const char *path = zf_http_param(req, "path");
    json_t *q = json_pack("{s:s, s:s, s:O, s:o}", "id", id, "path", path ? path : "", "body",
                          zf_http_body(req), "query", zf_http_query_map(req));
    json_t *rep = s_call(req, "wf.webhook", q, NULL, S_HOOK_404);
    if (!rep) return;
    s_data(req, 202,
           json_pack("{s:b, s:O?}", "accepted", 1, "run_id",
                     json_object_get(json_object_get(rep, "run"), "id")));
    json_decref(rep);
}

/* ---- dialect ------------------------------------------------------------------------ */

//  Wire codes -> the seed's; codes already in the seed's form pass.
static const char *
s_code(const char *code)
{
    static const char *const map[][2] = {{"validation", "validation_error"},
                                         {"forbidden", "permission_denied"},
                                         {"too_large", "payload_too_large"},
                                         {"internal", "internal_error"},
                                         {"unavailable", "service_unavailable"}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        if (strcmp(code, map[i][0]) == 0) return map[i][1];
    }
    return code;
}

static json_t *
s_render_error(int status, const char *code, const char *message)
{
    (void)status;
    return json_pack("{s:{s:s, s:s}}", "error", "code", s_code(code), "message", message);
}

static int
s_status_for(const char *code)
{
    if (strcmp(code, "record_not_found") == 0) return 404;
    if (strcmp(code, "automation_disabled") == 0) return 409;
    return zf_http_status_for(code);
}

static const zf_http_route_t s_routes[] = {
    {"GET", "/automations", ZF_HTTP_VIEWER, s_auto_list},
    {"POST", "/automations", ZF_HTTP_ADMIN, s_auto_create},
    {"GET", "/automations/:id", ZF_HTTP_VIEWER, s_auto_get},
    {"PATCH", "/automations/:id", ZF_HTTP_ADMIN, s_auto_update},
    {"DELETE", "/automations/:id", ZF_HTTP_ADMIN, s_auto_delete},
    {"POST", "/automations/:id/enable", ZF_HTTP_ADMIN, s_auto_enable},
    {"POST", "/automations/:id/disable", ZF_HTTP_ADMIN, s_auto_disable},
    {"GET", "/automations/:id/logs", ZF_HTTP_VIEWER, s_logs},
    {"POST", "/automations/:id/trigger", ZF_HTTP_MEMBER, s_trigger},
    {"POST", "/automations/:id/test", ZF_HTTP_MEMBER, s_test},
    {"POST", "/webhooks/:automation_id/:path", ZF_HTTP_PUBLIC, s_webhook},
    {NULL, NULL, 0, NULL},
};

const zf_http_dialect_t zf_dialect_coherence = {
    .name = "coherence",
    .default_prefix = "/coherence/v1",
    .routes = s_routes,
    .render_error = s_render_error,
    .status_for = s_status_for,
    .render_event = NULL,
};
