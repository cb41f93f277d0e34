/*  actors/engine_api.c — request handlers: auth, workflows, dispatch (runs
    in engine_runs.c).
    Each handler either replies at once (reads, validation errors) or stages
    a batch and replies from the commit continuation (writes), so a success
    reply always means "on disk".
*/
#include "actors/automation.h"
#include "actors/definition.h"
#include "actors/engine_int.h"
#include "actors/keys.h"
#include "broker/errors.h"
#include "broker/ids.h"

#include <stdarg.h>
#include <stdatomic.h>

//  auth.note: a front end's own refusal, noted as a security event
//  (engine_keys.c; to move into engine_int.h, whose owner is another).

enum { S_VIEWER = 1, S_MEMBER, S_ADMIN, S_OWNER, S_ADMIN_SOCKET, S_INTERNAL, S_PUBLIC_INTERNAL };
//  S_PUBLIC_INTERNAL: from in-process front ends only, without a tenant
//  (public routes such as webhooks; the handler finds the tenant).

/* ---- small helpers ---------------------------------------------------------- */

int
zf_eng_int_field(const json_t *body, const char *k, json_int_t dflt, json_int_t lo, json_int_t hi,
                 json_int_t *out)
{
    json_t *v = json_object_get(body, k);
    if (!v || json_is_null(v)) {
        *out = dflt;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) return -1;
    *out = json_integer_value(v);
    return 0;
}

const char *
zf_eng_req_id(const zf_msg_t *req)
{
    const char *id = zf_eng_str(req->body, "id");
    return id && id[0] && strlen(id) <= 64 ? id : NULL;
}

/* ---- auth ---------------------------------------------------------------------- */

//  Establishes tenant/role/user of the request according to its origin.
static int
s_authenticate(engine_t *e, zf_msg_t *req, const char **why)
{
    if (strcmp(req->origin, "admin") == 0) {
        snprintf(req->role, sizeof req->role, "owner");
        return 0;
    }
    if (strcmp(req->origin, "api") == 0) {
        if (!req->auth[0]) {
            *why = "missing API key: set the header field `auth`";
            return ZF_EUNAUTH;
        }
        json_t *k = zf_eng_key_auth(e, req->auth, "zmq", req->type);  // notes revoked keys
        if (!k) {
            *why = "invalid or revoked API key";
            return ZF_EUNAUTH;
        }
        snprintf(req->tenant, sizeof req->tenant, "%s", zf_eng_str(k, "tenant"));
        snprintf(req->role, sizeof req->role, "%s", zf_eng_str(k, "role"));
        snprintf(req->user, sizeof req->user, "%s", zf_eng_str(k, "id"));
        json_decref(k);
        return 0;
    }
    if (strcmp(req->origin, "internal") == 0) return 0;
    *why = "unknown origin";
    return ZF_EFORBIDDEN;
}

/* ---- workflows ------------------------------------------------------------------ */

static const char *const s_wf_statuses[] = {"draft", "active", "paused", "archived", NULL};

static bool
s_in_set(const char *v, const char *const *set)
{
    for (int i = 0; v && set[i]; i++) {
        if (strcmp(v, set[i]) == 0) return true;
    }
    return false;
}

static void
s_name_key(char out[320], const char *tenant, const char *name)
{
    snprintf(out, 320, "%s\x1f%s", tenant, name);
}

//  Is `name` used by a workflow other than `self_id`, counting staged
//  but unacknowledged creates and renames?
static bool
s_name_taken(engine_t *e, const char *tenant, const char *name, const char *self_id)
{
    char nk[320];
    s_name_key(nk, tenant, name);
    const char *pending = zhashx_lookup(e->names, nk);
    if (pending && (!self_id || strcmp(pending, self_id) != 0)) return true;
    char *owner = zf_rec_wf_by_name(e->store, tenant, name);
    if (!owner) return false;
    bool taken = !self_id || strcmp(owner, self_id) != 0;
    if (taken) {  // the stored owner may have been renamed or deleted meanwhile
        json_t *wf = zf_eng_wf_load(e, tenant, owner);
        taken = wf && strcmp(zf_eng_str(wf, "name"), name) == 0;
        json_decref(wf);
    }
    free(owner);
    return taken;
}

//  Characters (UTF-8 code points) in a string: limits are documented in
//  characters, and jansson's length is in bytes.
static size_t
s_utf8_chars(const json_t *s)
{
    const char *p = json_string_value(s);
    size_t n = 0;
    for (size_t i = 0, len = json_string_length(s); i < len; i++)
        n += ((unsigned char)p[i] & 0xC0) != 0x80;
    return n;
}

#define ZF_WF_DESCRIPTION_MAX 10000  // characters; a listing carries every description

//  Whether s holds a control character (C0, including NUL, or DEL).
static bool
s_has_control(const json_t *s)
{
    const unsigned char *p = (const unsigned char *)json_string_value(s);
    for (size_t i = 0, len = json_string_length(s); i < len; i++)
        if (p[i] < 0x20 || p[i] == 0x7f) return true;
    return false;
}

//  Checks the settable fields of a workflow (create or patch). Sets *why.
//  A name is a key of the name index (tenant\0name): a NUL in it would
//  cut it short there and collide with another name.
static int
s_wf_check_fields(const json_t *in, char *why, size_t whylen)
{
    json_t *v;
    if ((v = json_object_get(in, "name")) &&
        (!json_is_string(v) || json_string_length(v) == 0 || s_utf8_chars(v) > 200)) {
        snprintf(why, whylen, "name: must be a string of 1 to 200 characters");
        return ZF_EINVAL;
    }
    if (v && s_has_control(v)) {
        snprintf(why, whylen, "name: must not contain control characters (NUL, tab, newline...)");
        return ZF_EINVAL;
    }
    if ((v = json_object_get(in, "description")) && !json_is_string(v) && !json_is_null(v)) {
        snprintf(why, whylen, "description: must be a string");
        return ZF_EINVAL;
    }
    if (v && json_is_string(v) && s_utf8_chars(v) > ZF_WF_DESCRIPTION_MAX) {
        snprintf(why, whylen, "description: at most %d characters", ZF_WF_DESCRIPTION_MAX);
        return ZF_EINVAL;
    }
    if ((v = json_object_get(in, "version")) &&
        (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 64)) {
        snprintf(why, whylen, "version: must be a string of 1 to 64 characters");
        return ZF_EINVAL;
    }
    if ((v = json_object_get(in, "status")) && !s_in_set(json_string_value(v), s_wf_statuses)) {
        snprintf(why, whylen, "status: must be one of draft, active, paused, archived");
        return ZF_EINVAL;
    }
    if ((v = json_object_get(in, "enabled")) && !json_is_boolean(v)) {
        snprintf(why, whylen, "enabled: must be a boolean");
        return ZF_EINVAL;
    }
    if ((v = json_object_get(in, "trigger")) && zf_auto_trigger_check(v, why, whylen))
        return ZF_EINVAL;
    if ((v = json_object_get(in, "conditions")) && !json_is_null(v) &&
        zf_auto_conditions_check(v, why, whylen))
        return ZF_EINVAL;
    if ((v = json_object_get(in, "error_handling")) && zf_auto_error_handling_check(v, why, whylen))
        return ZF_EINVAL;
    if ((v = json_object_get(in, "definition")) && zf_def_validate(v, why, whylen))
        return ZF_EINVAL;
    //  extra: what a dialect keeps without engine meaning (seed 001 formId).
    if ((v = json_object_get(in, "extra")) && !json_is_null(v)) {
        char *text = json_is_object(v) ? json_dumps(v, JSON_COMPACT) : NULL;
        size_t n = text ? strlen(text) : SIZE_MAX;
        free(text);
        if (n > 8192) {
            snprintf(why, whylen, "extra: must be an object of at most 8 KiB as JSON");
            return ZF_EINVAL;
        }
    }
    return 0;
}

static void
s_wf_written(engine_t *e, cont_t *c, int rc)
{
    json_t *wf = c->data;
    char nk[320];
    s_name_key(nk, zf_eng_str(wf, "tenant"), zf_eng_str(wf, "name"));
    const char *pending = zhashx_lookup(e->names, nk);
    if (pending && strcmp(pending, zf_eng_str(wf, "id")) == 0) zhashx_delete(e->names, nk);
    c->data = json_pack("{s:o}", "workflow", zf_eng_wf_with_stats(e, zf_eng_str(wf, "tenant"), wf));
    json_decref(wf);
    zf_eng_reply_data(e, c, rc);
}

static int
s_wf_create(engine_t *e, zf_msg_t *req)
{
    json_t *in = json_object_get(req->body, "workflow");
    char why[512];
    if (!json_is_object(in)) return zf_eng_fail(e, req, ZF_EINVAL, "workflow: required object");
    if (!json_is_string(json_object_get(in, "name")))
        return zf_eng_fail(e, req, ZF_EINVAL, "name: required string");
    if (!json_object_get(in, "definition"))
        return zf_eng_fail(e, req, ZF_EINVAL, "definition: required object with a nodes array");
    if (s_wf_check_fields(in, why, sizeof why)) return zf_eng_fail(e, req, ZF_EINVAL, "%s", why);
    const char *name = zf_eng_str(in, "name");
    if (s_name_taken(e, req->tenant, name, NULL))
        return zf_eng_fail(e, req, ZF_ECONFLICT, "a workflow named \"%s\" already exists", name);
    char id[ZF_UUID_LEN + 1];
    zf_uuid7(id);
    int64_t now = zf_now_ms();
    json_t *def = json_deep_copy(json_object_get(in, "definition"));
    if (!json_object_get(def, "inputs")) json_object_set_new(def, "inputs", json_object());
    if (!json_object_get(def, "outputs")) json_object_set_new(def, "outputs", json_object());
    json_t *wf =
        json_pack("{s:s, s:s, s:O, s:O?, s:s, s:b, s:s, s:O?, s:o, s:O?, s:s, s:I, s:I, s:i, s:n}",
                  "id", id, "tenant", req->tenant, "name", json_object_get(in, "name"),
                  "description", json_object_get(in, "description"), "status",
                  zf_eng_str(in, "status") ? zf_eng_str(in, "status") : "active", "enabled",
                  json_is_false(json_object_get(in, "enabled")) ? 0 : 1, "version",
                  zf_eng_str(in, "version") ? zf_eng_str(in, "version") : "1.0.0", "trigger",
                  json_object_get(in, "trigger"), "definition", def, "error_handling",
                  json_object_get(in, "error_handling"), "created_by", req->user, "created_at",
                  (json_int_t)now, "updated_at", (json_int_t)now, "consecutive_failures", 0,
                  "disabled_reason");
    if (!json_object_get(wf, "description")) json_object_set_new(wf, "description", json_null());
    if (!json_is_object(json_object_get(wf, "trigger")))
        json_object_set_new(wf, "trigger", json_pack("{s:s}", "type", "manual"));
    if (!json_is_object(json_object_get(wf, "error_handling")))
        json_object_set_new(wf, "error_handling", json_object());
    json_t *conds = json_object_get(in, "conditions");
    json_object_set_new(wf, "conditions",
                        json_is_array(conds) ? json_deep_copy(conds) : json_array());
    json_t *extra = json_object_get(in, "extra");
    if (json_is_object(extra)) json_object_set_new(wf, "extra", json_deep_copy(extra));
    char nk[320];
    s_name_key(nk, req->tenant, name);
    zhashx_update(e->names, nk, id);
    zf_batch_t *b = zf_batch_new();
    cont_t *c = zf_eng_cont(s_wf_written, req);
    c->data = wf;
    zf_eng_wf_stage(e, b, c, req->tenant, wf, NULL, false);
    zf_eng_commit(e, &b, c);
    return 1;
}

static int
s_wf_get(engine_t *e, zf_msg_t *req)
{
    const char *id = zf_eng_req_id(req);
    if (!id) return zf_eng_fail(e, req, ZF_EINVAL, "id: required string");
    json_t *wf = zf_eng_wf_load(e, req->tenant, id);
    if (!wf)
        zf_eng_error(e, req, ZF_ENOTFOUND, "workflow not found");
    else {
        zf_eng_reply(e, req,
                     json_pack("{s:o}", "workflow", zf_eng_wf_with_stats(e, req->tenant, wf)));
        json_decref(wf);
    }
    return 0;
}

//  Does wf pass the list filters of the request (status, module, enabled,
//  trigger_type)?
static bool
s_wf_matches(const json_t *wf, const json_t *body)
{
    const json_t *st = json_object_get(body, "status"), *en = json_object_get(body, "enabled");
    const json_t *trig = json_object_get(wf, "trigger");
    const char *module = zf_eng_str(body, "module"), *ttype = zf_eng_str(body, "trigger_type");
    if (st && strcmp(zf_eng_str(wf, "status"), json_string_value(st)) != 0) return false;
    if (en && json_is_true(en) != json_is_true(json_object_get(wf, "enabled"))) return false;
    if (module && (!zf_eng_str(trig, "module") || strcmp(zf_eng_str(trig, "module"), module) != 0))
        return false;
    return !ttype || (zf_eng_str(trig, "type") && strcmp(zf_eng_str(trig, "type"), ttype) == 0);
}

static int
s_wf_list(engine_t *e, zf_msg_t *req)
{
    json_int_t limit, offset;
    json_t *st = json_object_get(req->body, "status"), *en = json_object_get(req->body, "enabled");
    json_t *module = json_object_get(req->body, "module");
    json_t *ttype = json_object_get(req->body, "trigger_type");
    if (zf_eng_int_field(req->body, "limit", 50, 0, 500, &limit) ||
        zf_eng_int_field(req->body, "offset", 0, 0, INT32_MAX, &offset))
        return zf_eng_fail(e, req, ZF_EINVAL, "limit must be 0..500 and offset >= 0");
    if (st && !s_in_set(json_string_value(st), s_wf_statuses))
        return zf_eng_fail(e, req, ZF_EINVAL,
                           "status: must be one of draft, active, paused, archived");
    if ((en && !json_is_boolean(en)) || (module && !json_is_string(module)) ||
        (ttype && !json_is_string(ttype)))
        return zf_eng_fail(e, req, ZF_EINVAL,
                           "enabled must be a boolean; module and trigger_type must be strings");
    json_t *all = zf_rec_wf_list(e->store, req->tenant);
    json_t *out = json_array();
    size_t i, total = 0;
    json_t *wf;
    json_array_foreach (all, i, wf) {
        json_t *cur = zf_eng_wf_load(e, req->tenant, zf_eng_str(wf, "id"));  // staged version wins
        if (cur && s_wf_matches(cur, req->body)) {
            if (total >= (size_t)offset && json_array_size(out) < (size_t)limit)
                json_array_append_new(out, zf_eng_wf_with_stats(e, req->tenant, cur));
            total++;
        }
        json_decref(cur);
    }
    json_decref(all);
    zf_eng_reply(e, req, json_pack("{s:o, s:I}", "workflows", out, "total", (json_int_t)total));
    return 0;
}

static const char *const s_patchable[] = {
    "name",    "description", "definition",     "version", "status", "enabled",
    "trigger", "conditions",  "error_handling", "extra",   NULL};

static int
s_wf_update(engine_t *e, zf_msg_t *req)
{
    const char *id = zf_eng_req_id(req);
    if (!id) return zf_eng_fail(e, req, ZF_EINVAL, "id: required string");
    json_t *patch = json_object_get(req->body, "patch");
    char why[512];
    if (!json_is_object(patch)) return zf_eng_fail(e, req, ZF_EINVAL, "patch: required object");
    int known = 0;
    for (int i = 0; s_patchable[i]; i++)
        known += json_object_get(patch, s_patchable[i]) != NULL;
    if (!known)
        return zf_eng_fail(
            e, req, ZF_EINVAL,
            "no valid field to update (name, description, definition, version, status, "
            "enabled, trigger, conditions, error_handling, extra)");
    if (s_wf_check_fields(patch, why, sizeof why)) return zf_eng_fail(e, req, ZF_EINVAL, "%s", why);
    json_t *cur = id ? zf_eng_wf_load(e, req->tenant, id) : NULL;
    if (!cur) return zf_eng_fail(e, req, ZF_ENOTFOUND, "workflow not found");
    const char *new_name = zf_eng_str(patch, "name");
    if (new_name && strcmp(new_name, zf_eng_str(cur, "name")) != 0 &&
        s_name_taken(e, req->tenant, new_name, id)) {
        json_decref(cur);
        return zf_eng_fail(e, req, ZF_ECONFLICT, "a workflow named \"%s\" already exists",
                           new_name);
    }
    json_t *wf = json_deep_copy(cur);
    for (int i = 0; s_patchable[i]; i++) {
        json_t *v = json_object_get(patch, s_patchable[i]);
        if (v)
            json_object_set(
                wf, s_patchable[i],
                json_is_null(v) && strcmp(s_patchable[i], "conditions") == 0 ? json_array() : v);
    }
    if (json_is_true(json_object_get(patch, "enabled"))) {  // re-arming resets the breaker
        json_object_set_new(wf, "consecutive_failures", json_integer(0));
        json_object_set_new(wf, "disabled_reason", json_null());
    }
    json_object_set_new(wf, "updated_at", json_integer(zf_now_ms()));
    if (new_name) {
        char nk[320];
        s_name_key(nk, req->tenant, new_name);
        zhashx_update(e->names, nk, (void *)id);
    }
    zf_batch_t *b = zf_batch_new();
    cont_t *c = zf_eng_cont(s_wf_written, req);
    c->data = wf;
    zf_eng_wf_stage(e, b, c, req->tenant, wf, zf_eng_str(cur, "name"), false);
    json_decref(cur);
    zf_eng_commit(e, &b, c);
    return 1;
}

static int
s_wf_delete(engine_t *e, zf_msg_t *req)
{
    const char *id = zf_eng_req_id(req);
    if (!id) return zf_eng_fail(e, req, ZF_EINVAL, "id: required string");
    json_t *wf = id ? zf_eng_wf_load(e, req->tenant, id) : NULL;
    if (!wf) return zf_eng_fail(e, req, ZF_ENOTFOUND, "workflow not found");
    //  Active runs of the workflow stop at their next step boundary.
    for (zf_run_task_t *t = zhashx_first(e->active); t; t = zhashx_next(e->active)) {
        if (strcmp(t->tenant, req->tenant) == 0 && strcmp(t->wf_id, id) == 0)
            atomic_store(&t->cancel, 1);
    }
    zf_batch_t *b = zf_batch_new();
    cont_t *c = zf_eng_cont(zf_eng_reply_data, req);
    c->data = json_pack("{s:s, s:b}", "id", id, "deleted", 1);
    zf_eng_wf_stage(e, b, c, req->tenant, wf, NULL, true);
    json_decref(wf);
    zf_eng_commit(e, &b, c);
    return 1;
}

/* ---- dispatch ------------------------------------------------------------------- */

typedef struct {
    const char *type;                       // message type
    int level;                              // minimum role, or S_ADMIN_SOCKET / S_INTERNAL
    int (*fn)(engine_t *e, zf_msg_t *req);  // returns 1 if it kept req
} s_route_t;

static const s_route_t s_routes[] = {
    {"wf.create", S_ADMIN, s_wf_create},
    {"wf.get", S_VIEWER, s_wf_get},
    {"wf.list", S_VIEWER, s_wf_list},
    {"wf.update", S_ADMIN, s_wf_update},
    {"wf.delete", S_ADMIN, s_wf_delete},
    {"run.start", S_MEMBER, zf_eng_run_start},
    {"run.get", S_VIEWER, zf_eng_run_get},
    {"run.list", S_VIEWER, zf_eng_run_list},
    {"run.cancel", S_MEMBER, zf_eng_run_cancel},
    {"key.create", S_ADMIN_SOCKET, zf_eng_key_create},
    {"key.list", S_ADMIN_SOCKET, zf_eng_key_list},
    {"key.revoke", S_ADMIN_SOCKET, zf_eng_key_revoke},
    {"clock.set", S_ADMIN_SOCKET, zf_eng_clock_set},
    {"auth.resolve", S_INTERNAL, zf_eng_auth_resolve},
    {"auth.note", S_INTERNAL, zf_eng_sec_note},
    {"idem.claim", S_VIEWER, zf_eng_idem_claim},
    {"idem.store", S_VIEWER, zf_eng_idem_store},
    {"idem.release", S_VIEWER, zf_eng_idem_release},
    {"rec.create", S_MEMBER, zf_eng_rec_create},
    {"rec.get", S_VIEWER, zf_eng_rec_get},
    {"rec.list", S_VIEWER, zf_eng_rec_list},
    {"rec.update", S_MEMBER, zf_eng_rec_update},
    {"rec.delete", S_MEMBER, zf_eng_rec_delete},
    {"events.ingest", S_MEMBER, zf_eng_events_ingest},
    {"wf.test", S_MEMBER, zf_eng_wf_test},
    {"wf.webhook", S_PUBLIC_INTERNAL, zf_eng_wf_webhook},
    {"notify.create", S_MEMBER, zf_eng_notify_create},
    {"notify.list", S_VIEWER, zf_eng_notify_list},
    {"sched.create", S_ADMIN, zf_eng_sched_create},
    {"sched.list", S_VIEWER, zf_eng_sched_list},
    {"sched.update", S_ADMIN, zf_eng_sched_update},
    {"sched.delete", S_ADMIN, zf_eng_sched_delete},
    {"evidence.collect", S_MEMBER, zf_eng_evidence_collect},
    {"run.resume", S_MEMBER, zf_eng_run_resume},
    {"approval.get", S_PUBLIC_INTERNAL, zf_eng_approval_get},
    {"approval.decide", S_PUBLIC_INTERNAL, zf_eng_approval_decide},
    {"form.get", S_PUBLIC_INTERNAL, zf_eng_approval_get},
    {"form.submit", S_PUBLIC_INTERNAL, zf_eng_approval_decide},
    {"wf.stats", S_VIEWER, zf_eng_wf_stats_all},
    {"mail.send", S_MEMBER, zf_eng_mail_send},
};

//  Checks who may send what: admin-socket and internal-only types by
//  origin, everything else by the authenticated role within a tenant.
static int
s_authorize(const s_route_t *r, zf_msg_t *req, const char **why)
{
    bool admin = strcmp(req->origin, "admin") == 0;
    if (r->level == S_ADMIN_SOCKET) {
        *why = "this message type is only accepted on the local admin socket (key management)";
        return admin ? 0 : ZF_EFORBIDDEN;
    }
    if (r->level == S_INTERNAL || r->level == S_PUBLIC_INTERNAL) {
        *why = "internal message";
        return strcmp(req->origin, "internal") == 0 ? 0 : ZF_EFORBIDDEN;
    }
    if (admin || !req->tenant[0]) {
        *why =
            admin ? "the admin socket accepts only administrative messages (key.*)" : "no tenant";
        return admin ? ZF_EFORBIDDEN : ZF_EUNAUTH;
    }
    *why = "your role does not allow this operation";
    return zf_keys_role_level(req->role) >= r->level ? 0 : ZF_EFORBIDDEN;
}

void
zf_eng_handle_request(engine_t *e, zf_msg_t *req)
{
    const s_route_t *r = NULL;
    for (size_t i = 0; i < sizeof s_routes / sizeof s_routes[0]; i++) {
        if (strcmp(s_routes[i].type, req->type) == 0) r = &s_routes[i];
    }
    const char *why = NULL;
    int rc = 0;
    zf_eng_sec_tick(e);  // security events whose window ended (engine_keys.c)
    if (!r)
        rc = zf_eng_fail(e, req, ZF_EUNSUPPORTED, "unknown message type \"%s\"", req->type);
    else if ((rc = s_authenticate(e, req, &why)) || (rc = s_authorize(r, req, &why))) {
        if (rc == ZF_EFORBIDDEN) zf_eng_sec_denied(e, req, r->level);
        rc = zf_eng_fail(e, req, rc, "%s", why);
    } else
        rc = r->fn(e, req);
    if (!rc) zf_msg_destroy(&req);
}
