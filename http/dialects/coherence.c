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
    docs/api/coherence.md documents every route. Logs, manual triggers,
    dry runs and webhooks are in coherence_runs.c.
*/
#include "broker/ids.h"
#include "http/dialect.h"
#include "http/dialects/coherence_int.h"
#include "http/dialects/dialects.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_MAX_ACTIONS 500  // ZF_DEF_MAX_NODES
#define S_WHY         256

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
json_t *
zf_coh_time(const json_t *ms)
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
json_t *
zf_coh_prefixed(const char *prefix, const json_t *id)
{
    const char *s = json_string_value(id);
    return s ? json_sprintf("%s%s", prefix, s) : json_null();
}

//  The core id of path parameter name ("auto_<uuid>" or "<uuid>"); else
//  answers 404 (text not_found) and returns NULL.
const char *
zf_coh_auto_id(zf_http_req_t *req, const char *name, const char *not_found)
{
    const char *id = zf_http_param(req, name);
    if (id && strncmp(id, "auto_", 5) == 0) id += 5;
    if (id && zf_uuid_valid(id)) return id;
    zf_http_fail(req, ZF_ENOTFOUND, "%s", not_found);
    return NULL;
}

bool
zf_coh_nonempty(const json_t *v, size_t max)
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
        zf_coh_prefixed("auto_", json_object_get(wf, "id")), "name", json_object_get(wf, "name"),
        "description", zf_coh_nonempty(desc, SIZE_MAX) ? json_deep_copy(desc) : json_null(),
        "enabled", json_is_true(json_object_get(wf, "enabled")), "trigger",
        json_is_object(trig) ? json_deep_copy(trig) : json_pack("{s:s}", "type", "manual"),
        "conditions", json_is_array(cond) ? json_deep_copy(cond) : json_array(), "actions",
        s_actions_view(wf), "error_handling", s_eh_view(json_object_get(wf, "error_handling")),
        "created_at", zf_coh_time(json_object_get(wf, "created_at")), "updated_at",
        zf_coh_time(json_object_get(wf, "updated_at")), "last_run_at",
        zf_coh_time(json_object_get(stats, "last_run_at")), "run_count",
        (json_int_t)(json_is_integer(runs) ? json_integer_value(runs) : 0));
}

//  Sets "error" (text) and "error_code" (a seed code when the text starts
//  with one; action_timeout for time-outs; else fallback) on obj.
void
zf_coh_set_error(json_t *obj, const char *text, const char *fallback)
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

/* ---- answers and errors ----------------------------------------------------------- */

void
zf_coh_data(zf_http_req_t *req, int status, json_t *data)
{
    zf_http_respond(req, status, json_pack("{s:o}", "data", data));
}

void
zf_coh_data_list(zf_http_req_t *req, json_t *items, json_int_t total, int64_t page, int64_t per)
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
            zf_coh_set_error(tmp, last, "action_failed");
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
json_t *
zf_coh_call(zf_http_req_t *req, const char *type, json_t *body, const char *wf_id,
            const char *not_found)
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
    if (v && (!zf_coh_nonempty(v, 800) || s_utf8_chars(json_string_value(v)) > 200))
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
    if (zf_http_query_int(req, "page", 1, 1, ZF_COH_MAX_PAGE, &page) ||
        zf_http_query_int(req, "per_page", ZF_COH_PER_PAGE, 1, ZF_COH_MAX_PER_PAGE, &per)) {
        zf_http_fail(req, ZF_EINVAL, "page must be an integer >= 1 and per_page 1..%d",
                     ZF_COH_MAX_PER_PAGE);
        return;
    }
    json_t *q =
        json_pack("{s:I, s:I}", "limit", (json_int_t)per, "offset", (json_int_t)((page - 1) * per));
    const char *why = NULL;
    int n = zf_http_query(req, "module", buf, sizeof buf);
    if (n == ZF_HTTP_QUERY_BAD)
        why = "module: must be a module name (at most 255 bytes, no NUL)";
    else if (n >= 0) {
        if (*buf)
            json_object_set_new(q, "module", json_string(buf));
        else
            why = "module: must not be empty";
    }
    if (!why && zf_http_query(req, "enabled", buf, sizeof buf) != -1) {
        if (strcmp(buf, "true") && strcmp(buf, "false"))
            why = "enabled: must be true or false";
        else
            json_object_set_new(q, "enabled", json_boolean(strcmp(buf, "true") == 0));
    }
    if (!why && zf_http_query(req, "trigger_type", buf, sizeof buf) != -1) {
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
    json_t *rep = zf_coh_call(req, "wf.list", q, NULL, ZF_COH_AUTO_404), *items = json_array(), *wf;
    if (!rep) {
        json_decref(items);
        return;
    }
    size_t i;
    json_array_foreach (json_object_get(rep, "workflows"), i, wf)
        json_array_append_new(items, s_auto_view(wf));
    const json_t *total = json_object_get(rep, "total");
    zf_coh_data_list(req, items,
                     json_is_integer(total) ? json_integer_value(total)
                                            : (json_int_t)json_array_size(items),
                     page, per);
    json_decref(rep);
}

static void
s_auto_get(zf_http_req_t *req)
{
    const char *id = zf_coh_auto_id(req, "id", ZF_COH_AUTO_404);
    json_t *rep =
        id ? zf_coh_call(req, "wf.get", json_pack("{s:s}", "id", id), id, ZF_COH_AUTO_404) : NULL;
    if (!rep) return;
    zf_coh_data(req, 200, s_auto_view(json_object_get(rep, "workflow")));
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
    json_t *rep =
        zf_coh_call(req, "wf.create", json_pack("{s:o}", "workflow", wf), NULL, ZF_COH_AUTO_404);
    if (!rep) return;
    zf_coh_data(req, 201, s_auto_view(json_object_get(rep, "workflow")));
    json_decref(rep);
}

//  PATCH: any of name, description, trigger, conditions, actions,
//  error_handling; always sends enabled: false (the seed: updating an
//  automation disables it). error_handling is merged into the stored one.
static void
s_auto_update(zf_http_req_t *req)
{
    const char *id = zf_coh_auto_id(req, "id", ZF_COH_AUTO_404);
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
        json_t *cur = zf_coh_call(req, "wf.get", json_pack("{s:s}", "id", id), id, ZF_COH_AUTO_404);
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
    json_t *rep = zf_coh_call(req, "wf.update", json_pack("{s:s, s:o}", "id", id, "patch", patch),
                              id, ZF_COH_AUTO_404);
    if (!rep) return;
    zf_coh_data(req, 200, s_auto_view(json_object_get(rep, "workflow")));
    json_decref(rep);
}

static void
s_auto_delete(zf_http_req_t *req)
{
    const char *id = zf_coh_auto_id(req, "id", ZF_COH_AUTO_404);
    json_t *rep =
        id ? zf_coh_call(req, "wf.delete", json_pack("{s:s}", "id", id), id, ZF_COH_AUTO_404)
           : NULL;
    if (!rep) return;
    json_decref(rep);
    zf_coh_data(req, 200, json_pack("{s:o, s:b}", "id", json_sprintf("auto_%s", id), "deleted", 1));
}

static void
s_set_enabled(zf_http_req_t *req, bool on)
{
    const char *id = zf_coh_auto_id(req, "id", ZF_COH_AUTO_404);
    if (!id) return;
    json_t *rep =
        zf_coh_call(req, "wf.update", json_pack("{s:s, s:{s:b}}", "id", id, "patch", "enabled", on),
                    id, ZF_COH_AUTO_404);
    if (!rep) return;
    const json_t *wf = json_object_get(rep, "workflow");
    zf_coh_data(req, 200,
                json_pack("{s:o, s:b}", "id", zf_coh_prefixed("auto_", json_object_get(wf, "id")),
                          "enabled", json_is_true(json_object_get(wf, "enabled"))));
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
    {"GET", "/automations/:id/logs", ZF_HTTP_VIEWER, zf_coh_logs},
    {"POST", "/automations/:id/trigger", ZF_HTTP_MEMBER, zf_coh_trigger},
    {"POST", "/automations/:id/test", ZF_HTTP_MEMBER, zf_coh_test},
    {"POST", "/webhooks/:automation_id/:path", ZF_HTTP_PUBLIC, zf_coh_webhook},
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
