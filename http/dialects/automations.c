/*  http/dialects/automations.c — seed 001, the "Automations API" at
    /api/workflows (mount name "automations").

    An automation is a core workflow seen through the seed's names: status
    DRAFT/ACTIVE/PAUSED/ARCHIVED <-> the engine's lowercase, formId in the
    workflow's "extra", trigger {type, config} <-> the engine trigger, steps
    [{id, name, type, config, order}] <-> definition.nodes in step order
    (node id = step id, or "step_<n>"), _count.runs from stats.run_count.
    Times are ISO-8601 UTC with milliseconds. Every error, the pipeline's
    included, is {"error": {"code": "NOT_FOUND", "message", "details"?}}.
    Runs, export, resume, stats and send-email are in automations_runs.c,
    the public approval pages in automations_callback.c;
    docs/api/automations.md documents every route.
*/
#include "http/dialects/automations_int.h"

#include "broker/ids.h"
#include "http/dialects/dialects.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_STEPS  500  // ZF_DEF_MAX_NODES
#define S_WHY        256  // bytes of a validation message
#define S_LIST_PAGE  500  // wf.list's maximum limit
#define S_LIST_PAGES 40   // GET / lists at most 20,000 automations

const char *const zf_auto_wf_404 = "Automation not found";
const char *const zf_auto_run_404 = "Run not found";

static const char *const s_statuses[] = {"DRAFT", "ACTIVE", "PAUSED", "ARCHIVED", NULL};
static const char *const s_trigger_types[] = {"form_submission", "webhook", "schedule",
                                              "event",           "manual",  NULL};
static const char *const s_events[] = {"MATTER_STEP_COMPLETED",
                                       "MATTER_STEP_REJECTED",
                                       "FORM_APPROVED",
                                       "FORM_REJECTED",
                                       "ROW_ADDED",
                                       "RECORD_UPDATED",
                                       NULL};
//  Event trigger filters: the seed's config field -> the engine filter key.
static const char *const s_filters[][2] = {{"filterTableId", "table_id"},
                                           {"filterFormId", "form_id"},
                                           {"filterMatterTemplateId", "matter_template_id"}};
//  Node fields beyond the seed's step fields, passed through both ways.
static const char *const s_node_extras[] = {"input_from", "branch", "retry",
                                            "timeout_ms", "action", NULL};

static bool
s_in(const char *s, const char *const *set)
{
    for (int i = 0; s && set[i]; i++) {
        if (strcmp(s, set[i]) == 0) return true;
    }
    return false;
}

//  Uppercased copy of s as a JSON string (statuses are short).
static json_t *
s_upper(const char *s)
{
    char buf[64];
    size_t i = 0;
    for (; s && s[i] && i < sizeof buf - 1; i++)
        buf[i] = (char)toupper((unsigned char)s[i]);
    buf[i] = '\0';
    return json_string(buf);
}

static size_t
s_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

//  A string of 1..max characters?
static bool
s_str_ok(const json_t *v, size_t max)
{
    const char *s = json_string_value(v);
    return s && *s && s_chars(s) <= max;
}

static int s_why(char *why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

//  Writes a validation message; returns -1 for `return s_why(...)`.
static int
s_why(char *why, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, S_WHY, fmt, ap);
    va_end(ap);
    return -1;
}

/* ---- views ------------------------------------------------------------------------ */

json_t *
zf_auto_run_status(const char *core)
{
    if (!core || !strcmp(core, "queued") || !strcmp(core, "running")) return json_string("RUNNING");
    if (!strcmp(core, "waiting") || !strcmp(core, "paused")) return json_string("PAUSED");
    return s_upper(core);  // waiting_for_child, completed, failed, cancelled
}

static void
s_copy(json_t *dst, const char *dk, const json_t *src, const char *sk)
{
    json_t *v = json_object_get(src, sk);
    if (v && !json_is_null(v)) json_object_set(dst, dk, v);
}

//  The engine trigger in the seed's {type, config} form; another
//  dialect's trigger type shows its fields as config.
static json_t *
s_trigger_view(const json_t *trig)
{
    const char *type = json_string_value(json_object_get(trig, "type"));
    json_t *cfg = json_object();
    if (!type) type = "manual";
    if (strcmp(type, "form_submission") == 0) {
        s_copy(cfg, "formId", trig, "form_id");
    } else if (strcmp(type, "webhook") == 0) {
        s_copy(cfg, "path", trig, "webhook_path");
    } else if (strcmp(type, "schedule") == 0) {
        s_copy(cfg, "cron", trig, "schedule");
        s_copy(cfg, "timezone", trig, "timezone");
    } else if (strcmp(type, "event") == 0) {
        s_copy(cfg, "triggerType", trig, "event");
        for (size_t i = 0; i < sizeof s_filters / sizeof s_filters[0]; i++)
            s_copy(cfg, s_filters[i][0], json_object_get(trig, "filter"), s_filters[i][1]);
    } else if (strcmp(type, "manual") != 0) {
        const char *k;
        json_t *v;
        json_object_foreach ((json_t *)trig, k, v) {
            if (strcmp(k, "type") != 0) json_object_set(cfg, k, v);
        }
    }
    json_t *out = json_pack("{s:s, s:o}", "type", type, "config", cfg);
    if (strcmp(type, "form_submission") == 0) s_copy(out, "formId", cfg, "formId");
    return out;
}

static json_t *
s_steps_view(const json_t *wf)
{
    json_t *out = json_array(), *node;
    size_t i;
    json_array_foreach (json_object_get(json_object_get(wf, "definition"), "nodes"), i, node) {
        json_t *cfg = json_object_get(node, "config");
        json_t *st = json_pack("{s:O?, s:o, s:O?, s:I, s:o}", "id", json_object_get(node, "id"),
                               "name", zf_http_or_null(json_object_get(node, "name")), "type",
                               json_object_get(node, "type"), "order", (json_int_t)i, "config",
                               json_is_object(cfg) ? json_deep_copy(cfg) : json_object());
        for (int k = 0; s_node_extras[k]; k++)
            s_copy(st, s_node_extras[k], node, s_node_extras[k]);
        json_array_append_new(out, st);
    }
    return out;
}

json_t *
zf_auto_view(const json_t *wf)
{
    const json_t *extra = json_object_get(wf, "extra"), *stats = json_object_get(wf, "stats");
    const json_t *runs = json_object_get(stats, "run_count"),
                 *desc = json_object_get(wf, "description");
    const char *status = json_string_value(json_object_get(wf, "status"));
    json_t *v = json_pack(
        "{s:O?, s:O?, s:o, s:o, s:o, s:o, s:o, s:{s:I}, s:o, s:o}", "id", json_object_get(wf, "id"),
        "name", json_object_get(wf, "name"), "description",
        s_str_ok(desc, SIZE_MAX) ? json_deep_copy(desc) : json_null(), "status",
        s_upper(status ? status : "active"), "formId",
        zf_http_or_null(json_object_get(extra, "formId")), "trigger",
        s_trigger_view(json_object_get(wf, "trigger")), "steps", s_steps_view(wf), "_count", "runs",
        (json_int_t)(json_is_integer(runs) ? json_integer_value(runs) : 0), "createdAt",
        zf_http_time_json(json_object_get(wf, "created_at")), "updatedAt",
        zf_http_time_json(json_object_get(wf, "updated_at")));
    if (json_is_false(json_object_get(wf, "enabled")))
        json_object_set_new(v, "enabled", json_false());
    return v;
}

/* ---- errors ------------------------------------------------------------------------ */

//  Engine field names in validation messages -> the seed's.
static const char *const s_renames[][2] = {
    {"trigger.schedule", "trigger.config.cron"},
    {"trigger.timezone", "trigger.config.timezone"},
    {"trigger.webhook_path", "trigger.config.path"},
    {"trigger.event", "trigger.config.triggerType"},
    {"trigger.form_id", "trigger.config.formId"},
    {"trigger.filter.table_id", "trigger.config.filterTableId"},
    {"trigger.filter.form_id", "trigger.config.filterFormId"},
    {"trigger.filter.matter_template_id", "trigger.config.filterMatterTemplateId"},
    {"extra", "formId"},
};

//  "definition.nodes[3] (id ...)" -> "steps[<request index>] (id ...)";
//  engine trigger fields -> the seed's config fields.
static void
s_fail_validation(zf_http_req_t *req, const char *msg, const size_t *perm, size_t nperm)
{
    const char *p = strncmp(msg, "definition.", 11) == 0 ? msg + 11 : msg;
    char *end = NULL;
    if (strncmp(p, "nodes[", 6) == 0) {
        unsigned long long n = strtoull(p + 6, &end, 10);
        if (end && *end == ']') {
            size_t idx = perm && n < nperm ? perm[n] : (size_t)n;
            zf_http_fail(req, ZF_EINVAL, "steps[%zu]%s", idx, end + 1);
            return;
        }
    }
    for (size_t i = 0; i < sizeof s_renames / sizeof s_renames[0]; i++) {
        size_t n = strlen(s_renames[i][0]);
        if (strncmp(p, s_renames[i][0], n) == 0 && (p[n] == ':' || p[n] == '.' || p[n] == ' ')) {
            zf_http_fail(req, ZF_EINVAL, "%s%s", s_renames[i][1], p + n);
            return;
        }
    }
    zf_http_fail(req, ZF_EINVAL, "%s", *p ? p : "Invalid request");
}

void
zf_auto_fail_call(zf_http_req_t *req, int rc, const char *msg, const char *not_found,
                  const size_t *perm, size_t nperm)
{
    const char *detail = zf_http_last_detail(req);
    if (rc == ZF_ENOTFOUND)
        zf_http_fail(req, rc, "%s", not_found);
    else if (rc == ZF_EINVAL)
        s_fail_validation(req, msg, perm, nperm);
    else if (rc == ZF_ECONFLICT && strcmp(detail, "token_expired") == 0)
        zf_http_fail_code(req, 410, detail, "%s", *msg ? msg : "The link has expired");
    else if (rc == ZF_ECONFLICT && *detail)
        zf_http_fail_code(req, 409, detail, "%s", *msg ? msg : "Conflict");
    else if (rc == ZF_ETIMEOUT || rc == ZF_EUNAVAIL)
        zf_http_fail(req, rc, "%s", *msg ? msg : "Service unavailable, retry");
    else
        zf_http_fail(req, rc, "%s", *msg ? msg : "Request failed");
}

void
zf_auto_error(zf_http_req_t *req, int status, const char *code, const char *message)
{
    zf_http_respond(req, status,
                    json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", message));
}

json_t *
zf_auto_call(zf_http_req_t *req, const char *type, json_t *body, const char *not_found)
{
    json_t *rep = NULL;
    char msg[512];
    int rc = zf_http_call(req, type, body, ZF_HTTP_CALL_TIMEOUT_MS, &rep, msg, sizeof msg);
    if (rc) zf_auto_fail_call(req, rc, msg, not_found, NULL, 0);
    return rep;
}

const char *
zf_auto_id_param(zf_http_req_t *req, const char *name, const char *not_found)
{
    const char *id = zf_http_param(req, name);
    if (id && zf_uuid_valid(id)) return id;
    zf_http_fail(req, ZF_ENOTFOUND, "%s", not_found);
    return NULL;
}

/* ---- input: trigger ----------------------------------------------------------------- */

//  An optional string config field of 1..max characters; -1 if invalid.
static int
s_opt_str(const json_t *cfg, const char *k, size_t max, json_t *dst, const char *dk, char *why)
{
    json_t *v = json_object_get(cfg, k);
    if (!v || json_is_null(v)) return 0;
    if (!s_str_ok(v, max))
        return s_why(why, "trigger.config.%s: must be a string of 1 to %zu characters", k, max);
    json_object_set(dst, dk, v);
    return 0;
}

static int
s_trigger_event(const json_t *cfg, json_t *o, char *why)
{
    const char *ev = json_string_value(json_object_get(cfg, "triggerType"));
    if (!s_in(ev, s_events))
        return s_why(why, "trigger.config.triggerType: required, one of MATTER_STEP_COMPLETED, "
                          "MATTER_STEP_REJECTED, FORM_APPROVED, FORM_REJECTED, ROW_ADDED, "
                          "RECORD_UPDATED");
    json_object_set_new(o, "event", json_string(ev));
    json_t *filter = json_object();
    json_object_set_new(o, "filter", filter);
    for (size_t i = 0; i < sizeof s_filters / sizeof s_filters[0]; i++) {
        if (s_opt_str(cfg, s_filters[i][0], 128, filter, s_filters[i][1], why)) return -1;
    }
    if (json_object_size(filter) == 0) json_object_del(o, "filter");
    return 0;
}

//  The engine trigger of a seed trigger {type, config}. form_id is the
//  fallback form of a form_submission trigger (the automation's formId).
static int
s_trigger_core(const json_t *t, const json_t *form_id, json_t **out, char *why)
{
    if (!json_is_object(t)) return s_why(why, "trigger: must be an object with a type");
    const char *type = json_string_value(json_object_get(t, "type"));
    json_t *cfg = json_object_get(t, "config");
    if (!s_in(type, s_trigger_types))
        return s_why(why, "trigger.type: must be one of form_submission, webhook, schedule, event, "
                          "manual");
    if (cfg && !json_is_null(cfg) && !json_is_object(cfg))
        return s_why(why, "trigger.config: must be an object");
    json_t *o = json_pack("{s:s}", "type", type);
    int rc = 0;
    if (strcmp(type, "form_submission") == 0) {
        rc = s_opt_str(cfg, "formId", 128, o, "form_id", why);
        if (!rc && !json_object_get(o, "form_id")) s_copy(o, "form_id", t, "formId");
        if (!rc && !json_object_get(o, "form_id") && json_is_string(form_id))
            json_object_set(o, "form_id", (json_t *)form_id);
    } else if (strcmp(type, "webhook") == 0) {
        rc = s_opt_str(cfg, "path", 128, o, "webhook_path", why);
        if (!json_object_get(o, "webhook_path"))
            json_object_set_new(o, "webhook_path", json_string("default"));
    } else if (strcmp(type, "schedule") == 0) {
        if (!s_str_ok(json_object_get(cfg, "cron"), 128))
            rc = s_why(why, "trigger.config.cron: required, a 5-field cron expression");
        else
            json_object_set(o, "schedule", json_object_get(cfg, "cron"));
        if (!rc) rc = s_opt_str(cfg, "timezone", 64, o, "timezone", why);
    } else if (strcmp(type, "event") == 0) {
        rc = s_trigger_event(cfg, o, why);
    }
    if (rc)
        json_decref(o);
    else
        *out = o;
    return rc;
}

/* ---- input: steps ------------------------------------------------------------------- */

typedef struct {
    json_int_t key;  // the step's order (its index when it has none)
    size_t idx;      // its index in the request
} s_ord_t;

static int
s_by_order(const void *a, const void *b)
{
    const s_ord_t *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static bool
s_id_ok(const json_t *v)
{
    const char *s = json_string_value(v);
    size_t n = s ? strlen(s) : 0;
    return n >= 1 && n <= 64 &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == n;
}

static int
s_step_check(const json_t *st, size_t i, char *why)
{
    const json_t *name = json_object_get(st, "name"), *cfg = json_object_get(st, "config");
    const json_t *order = json_object_get(st, "order"), *id = json_object_get(st, "id");
    if (!json_is_object(st)) return s_why(why, "steps[%zu]: must be an object", i);
    if (!s_str_ok(json_object_get(st, "type"), 64))
        return s_why(why, "steps[%zu].type: required, a step type such as email or delay", i);
    if (name && !json_is_null(name) && !s_str_ok(name, 200))
        return s_why(why, "steps[%zu].name: must be a string of 1 to 200 characters", i);
    if (cfg && !json_is_null(cfg) && !json_is_object(cfg))
        return s_why(why, "steps[%zu].config: must be an object", i);
    if (order && !json_is_null(order) && !json_is_integer(order))
        return s_why(why, "steps[%zu].order: must be an integer", i);
    if (id && !json_is_null(id) && !s_id_ok(id))
        return s_why(why, "steps[%zu].id: must be 1 to 64 characters of A-Z a-z 0-9 _ -", i);
    return 0;
}

//  One node of step st; its id is the step's or the first free
//  "step_<pos>[_k]" (ids holds every id taken).
static json_t *
s_node(const json_t *st, size_t pos, json_t *ids)
{
    const json_t *id = json_object_get(st, "id"), *cfg = json_object_get(st, "config");
    char gen[80];
    if (!json_is_string(id)) {
        snprintf(gen, sizeof gen, "step_%zu", pos + 1);
        for (int k = 2; json_object_get(ids, gen); k++)
            snprintf(gen, sizeof gen, "step_%zu_%d", pos + 1, k);
        json_object_set_new(ids, gen, json_true());
    }
    json_t *node = json_pack("{s:o, s:O, s:o}", "id",
                             json_is_string(id) ? json_incref((json_t *)id) : json_string(gen),
                             "type", json_object_get(st, "type"), "config",
                             json_is_object(cfg) ? json_deep_copy(cfg) : json_object());
    s_copy(node, "name", st, "name");
    for (int k = 0; s_node_extras[k]; k++)
        s_copy(node, s_node_extras[k], st, s_node_extras[k]);
    return node;
}

//  definition.nodes from seed steps, sorted by order (stable). *perm
//  (malloc'd) maps node positions back to request indexes.
static int
s_nodes(const json_t *steps, json_t **out, size_t **perm, char *why)
{
    if (!json_is_array(steps)) return s_why(why, "steps: must be an array");
    size_t n = json_array_size(steps), i;
    if (n > S_MAX_STEPS) return s_why(why, "steps: at most %d steps", S_MAX_STEPS);
    json_t *ids = json_object(), *st;
    json_array_foreach (steps, i, st) {
        const char *id = json_string_value(json_object_get(st, "id"));
        if (s_step_check(st, i, why) ||
            (id && json_object_get(ids, id) && s_why(why, "steps[%zu].id: duplicate id", i))) {
            json_decref(ids);
            return -1;
        }
        if (id) json_object_set_new(ids, id, json_true());
    }
    s_ord_t *ord = calloc(n + 1, sizeof *ord);
    *perm = calloc(n + 1, sizeof **perm);
    json_array_foreach (steps, i, st) {
        const json_t *o = json_object_get(st, "order");
        ord[i] = (s_ord_t){json_is_integer(o) ? json_integer_value(o) : (json_int_t)i, i};
    }
    qsort(ord, n, sizeof *ord, s_by_order);
    *out = json_array();
    for (i = 0; i < n; i++) {
        (*perm)[i] = ord[i].idx;
        json_array_append_new(*out, s_node(json_array_get(steps, ord[i].idx), i, ids));
    }
    free(ord);
    json_decref(ids);
    return 0;
}

/* ---- input: automation fields --------------------------------------------------------- */

//  name, description, status, formId.
static int
s_plain_fields(const json_t *body, const json_t *cur, json_t *f, char *why)
{
    json_t *v;
    if ((v = json_object_get(body, "name"))) {
        if (!s_str_ok(v, 200)) return s_why(why, "name: must be a string of 1 to 200 characters");
        json_object_set(f, "name", v);
    }
    if ((v = json_object_get(body, "description"))) {
        if (!json_is_string(v) && !json_is_null(v))
            return s_why(why, "description: must be a string or null");
        if (json_is_string(v) || cur)  // null clears it on update
            json_object_set_new(f, "description",
                                json_string(json_is_string(v) ? json_string_value(v) : ""));
    }
    if ((v = json_object_get(body, "status"))) {
        const char *s = json_string_value(v);
        if (!s_in(s, s_statuses))
            return s_why(why, "status: must be one of DRAFT, ACTIVE, PAUSED, ARCHIVED");
        char low[16];
        size_t i = 0;
        for (; s[i] && i < sizeof low - 1; i++)
            low[i] = (char)tolower((unsigned char)s[i]);
        low[i] = '\0';
        json_object_set_new(f, "status", json_string(low));
        //  Seed 001 has no enable switch: an update to ACTIVE also re-arms
        //  a workflow the failure breaker (or another dialect) disabled.
        if (cur && strcmp(low, "active") == 0) json_object_set_new(f, "enabled", json_true());
    }
    if ((v = json_object_get(body, "formId"))) {
        if (!json_is_null(v) && !s_str_ok(v, 128))
            return s_why(why, "formId: must be a string of 1 to 128 characters or null");
        json_t *extra = json_object_get(cur, "extra");
        extra = json_is_object(extra) ? json_deep_copy(extra) : json_object();
        if (json_is_null(v))
            json_object_del(extra, "formId");
        else
            json_object_set(extra, "formId", v);
        json_object_set_new(f, "extra", extra);
    }
    return 0;
}

//  The engine fields of a create (cur NULL) or update (cur: the stored
//  workflow, or NULL for a validation-only pass) body. Returns the fields
//  (new ref) or NULL with why set; *perm as s_nodes (may stay NULL).
static json_t *
s_fields(const json_t *body, const json_t *cur, bool update, size_t **perm, size_t *nperm,
         char *why)
{
    json_t *f = json_object(), *v, *x = NULL;
    if (s_plain_fields(body, update ? (cur ? cur : json_null()) : NULL, f, why)) goto fail;
    if ((v = json_object_get(body, "trigger"))) {
        const json_t *form = json_object_get(body, "formId");
        if (!json_is_string(form)) form = json_object_get(json_object_get(cur, "extra"), "formId");
        if (s_trigger_core(v, form, &x, why)) goto fail;
        json_object_set_new(f, "trigger", x);
    }
    if ((v = json_object_get(body, "steps"))) {
        if (s_nodes(v, &x, perm, why)) goto fail;
        *nperm = json_array_size(x);
        json_t *def = json_object_get(cur, "definition");
        def = json_is_object(def) ? json_deep_copy(def) : json_object();
        json_object_set_new(def, "nodes", x);
        json_object_set_new(f, "definition", def);
    }
    return f;
fail:
    json_decref(f);
    return NULL;
}

/* ---- routes: automations --------------------------------------------------------------- */

static void
s_list(zf_http_req_t *req)
{
    char st[16];
    json_t *base = json_object();
    if (zf_http_query(req, "status", st, sizeof st) != -1) {  // BAD: "" is no status
        json_t *tmp = json_object(), *f = json_pack("{s:s}", "status", st);
        char why[S_WHY];
        int bad = s_plain_fields(f, NULL, tmp, why);
        json_object_update(base, tmp);
        json_decref(tmp);
        json_decref(f);
        if (bad) {
            json_decref(base);
            zf_http_fail(req, ZF_EINVAL, "%s", why);
            return;
        }
    }
    json_t *items = json_array(), *wf;
    json_int_t offset = 0;
    for (int page = 0; page < S_LIST_PAGES; page++) {
        json_t *q = json_deep_copy(base);
        json_object_set_new(q, "limit", json_integer(S_LIST_PAGE));
        json_object_set_new(q, "offset", json_integer(offset));
        json_t *rep = zf_auto_call(req, "wf.list", q, zf_auto_wf_404);
        if (!rep) {
            json_decref(items);
            json_decref(base);
            return;
        }
        size_t i, got = json_array_size(json_object_get(rep, "workflows"));
        json_array_foreach (json_object_get(rep, "workflows"), i, wf)
            json_array_append_new(items, zf_auto_view(wf));
        offset += (json_int_t)got;
        bool more = got > 0 && offset < json_integer_value(json_object_get(rep, "total"));
        json_decref(rep);
        if (!more) break;
    }
    json_decref(base);
    zf_http_respond(req, 200, items);
}

static void
s_create(zf_http_req_t *req)
{
    json_t *body = zf_http_body(req);
    size_t *perm = NULL, nperm = 0;
    char why[S_WHY] = "";
    json_t *f = NULL;
    if (!json_object_get(body, "name"))
        s_why(why, "name: required, a string of 1 to 200 characters");
    else
        f = s_fields(body, NULL, false, &perm, &nperm, why);
    if (!f) {
        free(perm);
        zf_http_fail(req, ZF_EINVAL, "%s", why);
        return;
    }
    if (!json_object_get(f, "definition"))
        json_object_set_new(f, "definition", json_pack("{s:[]}", "nodes"));
    if (!json_object_get(f, "status")) json_object_set_new(f, "status", json_string("active"));
    json_t *rep = NULL;
    char msg[512];
    int rc = zf_http_call(req, "wf.create", json_pack("{s:o}", "workflow", f),
                          ZF_HTTP_CALL_TIMEOUT_MS, &rep, msg, sizeof msg);
    if (rc)
        zf_auto_fail_call(req, rc, msg, zf_auto_wf_404, perm, nperm);
    else
        zf_http_respond(req, 201, zf_auto_view(json_object_get(rep, "workflow")));
    json_decref(rep);
    free(perm);
}

static void
s_get(zf_http_req_t *req)
{
    const char *id = zf_auto_id_param(req, "id", zf_auto_wf_404);
    json_t *rep =
        id ? zf_auto_call(req, "wf.get", json_pack("{s:s}", "id", id), zf_auto_wf_404) : NULL;
    if (!rep) return;
    zf_http_respond(req, 200, zf_auto_view(json_object_get(rep, "workflow")));
    json_decref(rep);
}

//  PATCH: any of name, description, formId, status, trigger, steps. The
//  body is validated whole before anything is read or written; the
//  engine's wf.update then applies it atomically (or not at all).
static void
s_update(zf_http_req_t *req)
{
    const char *id = zf_auto_id_param(req, "id", zf_auto_wf_404);
    if (!id) return;
    json_t *body = zf_http_body(req), *f, *cur = NULL;
    size_t *perm = NULL, nperm = 0;
    char why[S_WHY] = "";
    f = s_fields(body, NULL, true, &perm, &nperm, why);  // validation only
    if (f && json_object_size(f) == 0)
        s_why(why, "No valid fields to update (name, description, formId, status, trigger, steps)");
    json_decref(f);
    free(perm);
    perm = NULL;
    if (*why) {
        zf_http_fail(req, ZF_EINVAL, "%s", why);
        return;
    }
    bool merge = json_object_get(body, "formId") || json_object_get(body, "trigger") ||
                 json_object_get(body, "steps");
    if (merge && !(cur = zf_auto_call(req, "wf.get", json_pack("{s:s}", "id", id), zf_auto_wf_404)))
        return;
    f = s_fields(body, json_object_get(cur, "workflow"), true, &perm, &nperm, why);
    json_decref(cur);
    json_t *rep = NULL;
    char msg[512];
    int rc = zf_http_call(req, "wf.update", json_pack("{s:s, s:o}", "id", id, "patch", f),
                          ZF_HTTP_CALL_TIMEOUT_MS, &rep, msg, sizeof msg);
    if (rc)
        zf_auto_fail_call(req, rc, msg, zf_auto_wf_404, perm, nperm);
    else
        zf_http_respond(req, 200, zf_auto_view(json_object_get(rep, "workflow")));
    json_decref(rep);
    free(perm);
}

static void
s_delete(zf_http_req_t *req)
{
    const char *id = zf_auto_id_param(req, "id", zf_auto_wf_404);
    json_t *rep =
        id ? zf_auto_call(req, "wf.delete", json_pack("{s:s}", "id", id), zf_auto_wf_404) : NULL;
    if (!rep) return;
    json_decref(rep);
    zf_http_respond(req, 200, json_pack("{s:b, s:s}", "success", 1, "id", id));
}

/* ---- dialect ------------------------------------------------------------------------- */

//  Wire codes -> the envelope's uppercase codes.
static const char *
s_code(const char *code, char *buf, size_t len)
{
    static const char *const map[][2] = {{"validation", "VALIDATION_ERROR"},
                                         {"too_large", "PAYLOAD_TOO_LARGE"},
                                         {"internal", "INTERNAL_ERROR"},
                                         {"unavailable", "SERVICE_UNAVAILABLE"}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        if (strcmp(code, map[i][0]) == 0) return map[i][1];
    }
    size_t i = 0;
    for (; code[i] && i < len - 1; i++)
        buf[i] = (char)toupper((unsigned char)code[i]);
    buf[i] = '\0';
    return buf;
}

//  The field a validation message starts with ("steps[1].type: ..."), or
//  NULL (new reference).
static json_t *
s_field_of(const char *message)
{
    size_t n =
        strspn(message, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.[]");
    if (n == 0 || n > 128 || (message[n] != ':' && strncmp(message + n, " (id", 4) != 0))
        return NULL;
    return json_stringn(message, n);
}

static json_t *
s_render_error(int status, const char *code, const char *message)
{
    (void)status;
    char buf[64];
    json_t *err =
        json_pack("{s:s, s:s}", "code", s_code(code, buf, sizeof buf), "message", message);
    json_t *field = strcmp(code, "validation") == 0 ? s_field_of(message) : NULL;
    if (field) json_object_set_new(err, "details", json_pack("{s:o}", "field", field));
    return json_pack("{s:o}", "error", err);
}

static int
s_status_for(const char *code)
{
    static const char *const conflicts[] = {"already_decided", "not_paused", "automation_disabled",
                                            NULL};
    if (s_in(code, conflicts)) return 409;
    if (strcmp(code, "token_expired") == 0) return 410;
    if (strcmp(code, "email_not_configured") == 0) return 503;
    return zf_http_status_for(code);
}

//  First match wins: the literal segments (stats, send-email, callback,
//  runs) come before /:id, and /:id/runs/export before /:id/runs/:runId.
static const zf_http_route_t s_routes[] = {
    {"GET", "", ZF_HTTP_VIEWER, s_list},
    {"POST", "", ZF_HTTP_ADMIN, s_create},
    {"GET", "/stats", ZF_HTTP_VIEWER, zf_auto_stats},
    {"POST", "/send-email", ZF_HTTP_MEMBER, zf_auto_send_email},
    {"GET", "/callback/:token", ZF_HTTP_PUBLIC, zf_auto_callback_get},
    {"POST", "/callback/:token", ZF_HTTP_PUBLIC, zf_auto_callback_post},
    {"GET", "/forms/:token", ZF_HTTP_PUBLIC, zf_auto_form_get},
    {"POST", "/forms/:token", ZF_HTTP_PUBLIC, zf_auto_form_post},
    {"POST", "/runs/:runId/resume", ZF_HTTP_MEMBER, zf_auto_resume},
    {"GET", "/:id", ZF_HTTP_VIEWER, s_get},
    {"PATCH", "/:id", ZF_HTTP_ADMIN, s_update},
    {"DELETE", "/:id", ZF_HTTP_ADMIN, s_delete},
    {"POST", "/:id/execute", ZF_HTTP_MEMBER, zf_auto_execute},
    {"GET", "/:id/runs", ZF_HTTP_VIEWER, zf_auto_runs},
    {"GET", "/:id/runs/export", ZF_HTTP_VIEWER, zf_auto_export},
    {"GET", "/:id/runs/:runId", ZF_HTTP_VIEWER, zf_auto_run_get},
    {NULL, NULL, 0, NULL},
};

const zf_http_dialect_t zf_dialect_automations = {
    .name = "automations",
    .default_prefix = "/api/workflows",
    .routes = s_routes,
    .render_error = s_render_error,
    .status_for = s_status_for,
    .render_event = NULL,
    .form_bodies = true,
};
