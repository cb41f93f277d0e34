/*  actors/engine_data.c — the engine's data side: module records and the
    events their changes emit, event ingestion, and the trigger index that
    maps events to automations (stats, dry runs, webhooks and notifications
    are in engine_auto.c).

    Fan-out is synchronous and atomic: an event's matching automations are
    found through the in-memory trigger index (tenant + trigger type +
    module, never a scan of workflows), their guards are evaluated, and the
    runs they start are staged in the SAME batch as the change that caused
    them. The reply (and the 202 of the REST front end) comes after the
    durable ack, so an acknowledged event can no longer be lost: its runs are
    on disk. Events that start no run leave nothing to store.
*/
#include "actors/automation.h"
#include "actors/engine_int.h"
#include "actors/steps/record_ops.h"
#include "actors/template.h"
#include "broker/errors.h"
#include "broker/ids.h"

#define S_EVENTS_MAX      10000  // events per events.ingest message
#define S_RECORD_KEYS_MAX 500    // fields per record

/* ---- trigger index ------------------------------------------------------------ */

static void
s_trig_key(char out[256], const char *tenant, const char *type, const char *module)
{
    snprintf(out, 256, "%s\x1f%s\x1f%s", tenant, type, module ? module : "");
}

//  Record and field triggers are indexed; webhooks go to the hooks map.
static void
s_trig_apply(engine_t *e, const char *tenant, const json_t *wf, bool add)
{
    const json_t *trig = json_object_get(wf, "trigger");
    const char *type = zf_eng_str(trig, "type"), *id = zf_eng_str(wf, "id");
    if (!type || !id) return;
    if (strcmp(type, "webhook") == 0) {
        if (add)
            zhashx_update(e->hooks, id, json_string(tenant));
        else
            zhashx_delete(e->hooks, id);
        return;
    }
    const char *module = zf_eng_str(trig, "module");
    if (strcmp(type, "event") == 0 || strcmp(type, "form_submission") == 0)
        type = zf_auto_event_index(trig, &module);  // seed 001: index as the event it awaits
    if (!type || (strncmp(type, "record.", 7) != 0 && strcmp(type, "field.changed") != 0 &&
                  strncmp(type, "form.", 5) != 0 && strncmp(type, "matter.", 7) != 0))
        return;
    char key[256];
    s_trig_key(key, tenant, type, module);
    json_t *set = zhashx_lookup(e->triggers, key);
    if (add) {
        if (!set) {
            set = json_object();
            zhashx_insert(e->triggers, key, set);
        }
        json_object_set_new(set, id, json_true());
    } else if (set) {
        json_object_del(set, id);
        if (json_object_size(set) == 0) zhashx_delete(e->triggers, key);
    }
}

void
zf_eng_trig_update(engine_t *e, const char *tenant, const json_t *old_wf, const json_t *new_wf)
{
    if (old_wf) s_trig_apply(e, tenant, old_wf, false);
    if (new_wf) s_trig_apply(e, tenant, new_wf, true);
}

static void
s_index_one(const char *tenant, const json_t *wf, void *arg)
{
    s_trig_apply(arg, tenant, wf, true);
}

static void
s_json_free(void **item)
{
    json_t *v = *item;
    json_decref(v);
    *item = NULL;
}

static zhashx_t *
s_json_hash(void)
{
    zhashx_t *h = zhashx_new();
    zhashx_set_destructor(h, s_json_free);
    return h;
}

void
zf_eng_data_start(engine_t *e)
{
    e->triggers = s_json_hash();
    e->hooks = s_json_hash();
    e->stats = s_json_hash();
    e->stats_dirty = zhashx_new();
    e->rec_overlay = s_json_hash();
    e->rec_pending = zhashx_new();
    zf_rec_wf_each(e->store, s_index_one, e);
}

void
zf_eng_data_stop(engine_t *e)
{
    zhashx_destroy(&e->triggers);
    zhashx_destroy(&e->hooks);
    zhashx_destroy(&e->stats);
    zhashx_destroy(&e->stats_dirty);
    zhashx_destroy(&e->rec_overlay);
    zhashx_destroy(&e->rec_pending);
}

/* ---- record overlay ----------------------------------------------------------------
    Like the workflow overlay: a staged record is what readers see until it
    is durable, so read-modify-write sequences never lose an update. */

static void
s_rec_key(char out[224], const char *tenant, const char *module, const char *id)
{
    snprintf(out, 224, "%s\x1f%s\x1f%s", tenant, module, id);
}

json_t *
zf_eng_rec_load(engine_t *e, const char *tenant, const char *module, const char *id)
{
    char key[224];
    s_rec_key(key, tenant, module, id);
    json_t *o = zhashx_lookup(e->rec_overlay, key);
    if (o) return json_is_null(o) ? NULL : json_incref(o);
    return zf_rec_data_get(e->store, tenant, module, id);
}

static void
s_rec_stage(engine_t *e, zf_batch_t *b, cont_t *c, const char *tenant, const char *module,
            const char *id, json_t *rec)
{
    s_rec_key(c->rec_key, tenant, module, id);
    if (rec)
        zf_rec_data_put(b, tenant, module, rec);
    else
        zf_rec_data_del(b, tenant, module, id);
    zhashx_update(e->rec_overlay, c->rec_key, rec ? json_incref(rec) : json_null());
    intptr_t n = (intptr_t)zhashx_lookup(e->rec_pending, c->rec_key) + 1;
    zhashx_update(e->rec_pending, c->rec_key, (void *)n);
}

void
zf_eng_rec_release(engine_t *e, const char *key)
{
    intptr_t n = (intptr_t)zhashx_lookup(e->rec_pending, key) - 1;
    if (n > 0) {
        zhashx_update(e->rec_pending, key, (void *)n);
        return;
    }
    zhashx_delete(e->rec_pending, key);
    zhashx_delete(e->rec_overlay, key);  // durable now: the store has it
}

/* ---- fan-out ------------------------------------------------------------------------ */

typedef struct {
    const char *tenant;      // tenant of the event
    const char *type;        // record.created|record.updated|record.deleted
    const char *module;      // module of the record
    const json_t *record;    // the record (after the change; before it for deletes)
    const json_t *previous;  // values before an update (NULL otherwise)
    const json_t *changed;   // array of changed field names (updates)
    const json_t *user;      // {id, email?} of who caused it (may be NULL)
    json_int_t depth;        // automations in the causal chain (a run's change: its depth)
} s_event_t;

typedef struct {
    zf_batch_t *b;   // batch the runs are staged in
    cont_t *c;       // continuation that starts them
    size_t started;  // runs staged
    json_t *once;    // seed-001 event workflows already started by this batch of events
} s_fanout_t;

static json_t *
s_trigger_ctx(const s_event_t *ev)
{
    json_t *ctx =
        json_pack("{s:s, s:s, s:s, s:O?, s:O, s:O?, s:O?, s:I}", "type", "event", "event", ev->type,
                  "module", ev->module, "record_id", json_object_get(ev->record, "id"), "record",
                  ev->record, "previous", ev->previous, "user", ev->user, "depth", ev->depth);
    //  Seed 001's context variables ({{event.tableId}}, {{submission.x}}).
    if (strncmp(ev->type, "record.", 7) == 0)
        json_object_set_new(ctx, "data",
                            json_pack("{s:O?, s:s, s:s}", "rowId",
                                      json_object_get(ev->record, "id"), "tableId", ev->module,
                                      "tableName", ev->module));
    else
        json_object_set(ctx, "data", (json_t *)ev->record);
    return ctx;
}

//  A run that fails before its first step (its guard cannot be evaluated):
//  stored failed so the automation's logs show why.
static void
s_run_rejected(engine_t *e, s_fanout_t *f, const char *tenant, const json_t *wf, json_t *trigger,
               const char *why)
{
    zf_run_task_t *t = zf_eng_run_new(e, f->b, tenant, wf, NULL, trigger, NULL);
    int64_t now = zf_now_ms();
    json_object_set_new(t->run, "status", json_string("failed"));
    json_object_set_new(t->run, "finished_at", json_integer(now));
    json_object_set_new(
        t->run, "error",
        json_pack("{s:s, s:s}", "code", "condition_evaluation_failed", "message", why));
    zf_rec_run_put(f->b, tenant, t->run);
    zf_run_task_destroy(&t);
}

//  ctx: the event's trigger context, built once per event and shared by
//  every candidate's guard; a run gets its own copy.
static void
s_fan_one(engine_t *e, s_fanout_t *f, const s_event_t *ev, const json_t *ctx, const char *wf_id,
          bool field_trigger)
{
    //  A seed-001 event automation fires once per table per batch of
    //  events: a bulk sync of many rows is one event, not one per row.
    if (f->once && json_object_get(f->once, wf_id)) return;
    json_t *wf = zf_eng_wf_load(e, ev->tenant, wf_id);
    const char *ttype = zf_eng_str(json_object_get(wf, "trigger"), "type");
    if (f->once && ttype && strcmp(ttype, "event") == 0)
        json_object_set_new(f->once, wf_id, json_true());
    if (!wf || !zf_eng_wf_startable(wf) ||
        (field_trigger &&
         !zf_run_in_list(ev->changed, zf_eng_str(json_object_get(wf, "trigger"), "field")))) {
        json_decref(wf);
        return;
    }
    char why[256];
    int pass = zf_auto_guard(json_object_get(wf, "conditions"), ctx, NULL, why, sizeof why);
    if (pass < 0)
        s_run_rejected(e, f, ev->tenant, wf, json_deep_copy(ctx), why);
    else if (pass) {
        zf_run_task_t *t = zf_eng_run_new(e, f->b, ev->tenant, wf, NULL, json_deep_copy(ctx), NULL);
        if (!f->c->tasks) f->c->tasks = zlist_new();
        zlist_append(f->c->tasks, t);
        f->started++;
    }
    json_decref(wf);
}

//  Starts the runs of every automation the event matches. A change made
//  by a run deeper than ZF_CHAIN_MAX in a chain of automations starts
//  nothing: an automation that updates the records it triggers on would
//  otherwise loop forever. Staging runs never changes the trigger index,
//  so its sets are iterated in place.
static void
s_fanout(engine_t *e, s_fanout_t *f, const s_event_t *ev)
{
    char key[256];
    if (ev->depth > ZF_CHAIN_MAX) {
        zsys_warning("engine: %s in %s not fanned out: automation chain deeper than %d", ev->type,
                     ev->module, ZF_CHAIN_MAX);
        return;
    }
    json_t *ctx = NULL;
    for (int pass = 0; pass < 3; pass++) {
        bool field = pass == 1;
        if (field && strcmp(ev->type, "record.updated") != 0) continue;
        //  pass 2: automations of any table / form / template (seed 001
        //  event triggers without a filter id)
        s_trig_key(key, ev->tenant, field ? "field.changed" : ev->type,
                   pass == 2 ? "*" : ev->module);
        json_t *set = zhashx_lookup(e->triggers, key);
        if (!set) continue;
        if (!ctx) ctx = s_trigger_ctx(ev);
        const char *id;
        json_t *v;
        json_object_foreach (set, id, v)
            s_fan_one(e, f, ev, ctx, id, field);
    }
    json_decref(ctx);
}

//  Whether the tenant has field.changed automations on module (an update
//  event's diff is only needed then).
static bool
s_has_field_triggers(engine_t *e, const char *tenant, const char *module)
{
    char key[256];
    s_trig_key(key, tenant, "field.changed", module);
    return zhashx_lookup(e->triggers, key) != NULL;
}

static void
s_add_event(cont_t *c, const char *type, json_t *body)
{
    if (!c->events) c->events = json_array();
    json_array_append_new(c->events, json_pack("{s:s, s:o}", "type", type, "body", body));
}

/* ---- records ------------------------------------------------------------------------- */

static const char *
s_module_arg(engine_t *e, zf_msg_t *req)
{
    const char *m = zf_eng_str(req->body, "module");
    if (!zf_auto_module_valid(m)) {
        zf_eng_fail(e, req, ZF_EINVAL,
                    "module: must be 1 to 64 of a-z, 0-9, _ and -, starting with a letter");
        return NULL;
    }
    return m;
}

static int
s_fields_check(engine_t *e, zf_msg_t *req, const json_t *fields, const char *name)
{
    if (!json_is_object(fields))
        return zf_eng_fail(e, req, ZF_EINVAL, "%s: required object", name), -1;
    if (json_object_size(fields) > S_RECORD_KEYS_MAX)
        return zf_eng_fail(e, req, ZF_EINVAL, "%s: at most %d fields", name, S_RECORD_KEYS_MAX), -1;
    return 0;
}

//  Reply data for record writes, sent after the ack with their events.
void
zf_eng_reply_started(engine_t *e, cont_t *c, int rc)
{
    if (rc) {
        zf_eng_error(e, c->req, ZF_EIO, "storage failure; nothing was changed");
        zlist_t *l = c->tasks;
        zf_run_task_t *t;
        while (l && (t = zlist_pop(l)))
            zf_run_task_destroy(&t);
        return;
    }
    zf_eng_reply(e, c->req, c->data);
    c->data = NULL;
    zf_eng_runs_started(e, c, rc);
}

json_t *
zf_eng_user_json(const zf_msg_t *req)
{
    return req->user[0] ? json_pack("{s:s}", "id", req->user) : NULL;
}

//  Stages a record change and its fan-out, then commits.
static int
s_rec_commit(engine_t *e, zf_msg_t *req, s_event_t *ev, json_t *stored, json_t *reply)
{
    zf_batch_t *b = zf_batch_new();
    cont_t *c = zf_eng_cont(zf_eng_reply_started, req);
    s_rec_stage(e, b, c, ev->tenant, ev->module, zf_eng_str(ev->record, "id"), stored);
    const char *idem =
        strcmp(ev->type, "record.created") == 0 ? zf_eng_str(req->body, "idempotency_key") : NULL;
    if (idem) zf_rec_created_put(b, ev->tenant, ev->module, idem, zf_eng_str(stored, "id"));
    if (!stored)  // deleted: its idempotency key (if any) goes with it
        zf_rec_created_del(e->store, b, ev->tenant, ev->module, zf_eng_str(ev->record, "id"));
    s_fanout_t f = {.b = b, .c = c};
    json_t *user = zf_eng_user_json(req);
    ev->user = user;
    //  Only steps (in-process, origin internal) carry a causal depth; a
    //  client's `depth` must not switch automations off.
    if (strcmp(req->origin, "internal") == 0)
        ev->depth = json_integer_value(json_object_get(req->body, "depth"));
    s_fanout(e, &f, ev);
    json_object_set_new(reply, "runs_started", json_integer((json_int_t)f.started));
    c->data = reply;
    s_add_event(c, "event.record.changed",
                json_pack("{s:s, s:s, s:s, s:O, s:O?, s:O?}", "tenant", ev->tenant, "event",
                          ev->type, "module", ev->module, "record", ev->record, "previous",
                          ev->previous, "changed", ev->changed));
    json_decref(user);
    zf_eng_commit(e, &b, c);
    return 1;
}

//  A create whose idempotency key already made a record that still exists
//  answers that record (replayed: true) and changes nothing, fires nothing:
//  a step re-run after a crash does not create its row twice.
static bool
s_rec_replay(engine_t *e, zf_msg_t *req, const char *module, const char *key)
{
    char *id = zf_rec_created_get(e->store, req->tenant, module, key);
    json_t *rec = id ? zf_eng_rec_load(e, req->tenant, module, id) : NULL;
    free(id);
    if (!rec) return false;
    zf_eng_reply(e, req,
                 json_pack("{s:o, s:s, s:i, s:b}", "record", rec, "module", module, "runs_started",
                           0, "replayed", 1));
    return true;
}

int
zf_eng_rec_create(engine_t *e, zf_msg_t *req)
{
    const char *module = s_module_arg(e, req);
    if (!module) return 0;
    json_t *in = json_object_get(req->body, "record");
    if (s_fields_check(e, req, in, "record")) return 0;
    json_t *idem = json_object_get(req->body, "idempotency_key");
    if (idem &&
        (!json_is_string(idem) || json_string_length(idem) < 1 || json_string_length(idem) > 200))
        return zf_eng_fail(e, req, ZF_EINVAL, "idempotency_key: must be a string of 1..200 chars");
    if (idem && s_rec_replay(e, req, module, json_string_value(idem))) return 0;
    char id[ZF_UUID_LEN + 1];
    zf_uuid7(id);
    json_int_t now = zf_now_ms();
    json_t *rec = json_deep_copy(in);
    json_object_set_new(rec, "id", json_string(id));
    json_object_set_new(rec, "created_at", json_integer(now));
    json_object_set_new(rec, "updated_at", json_integer(now));
    s_event_t ev = {
        .tenant = req->tenant, .type = "record.created", .module = module, .record = rec};
    int rc =
        s_rec_commit(e, req, &ev, rec, json_pack("{s:O, s:s}", "record", rec, "module", module));
    json_decref(rec);
    return rc;
}

int
zf_eng_rec_get(engine_t *e, zf_msg_t *req)
{
    const char *module = s_module_arg(e, req), *id = zf_eng_str(req->body, "id");
    if (!module) return 0;
    json_t *rec = id ? zf_eng_rec_load(e, req->tenant, module, id) : NULL;
    if (!rec) return zf_eng_fail(e, req, ZF_ENOTFOUND, "record not found");
    zf_eng_reply(e, req, json_pack("{s:o, s:s}", "record", rec, "module", module));
    return 0;
}

int
zf_eng_rec_list(engine_t *e, zf_msg_t *req)
{
    const char *module = s_module_arg(e, req);
    if (!module) return 0;
    json_t *lim = json_object_get(req->body, "limit"), *off = json_object_get(req->body, "offset");
    json_int_t limit = lim ? json_integer_value(lim) : 50,
               offset = off ? json_integer_value(off) : 0;
    if ((lim && (!json_is_integer(lim) || limit < 0 || limit > 500)) ||
        (off && (!json_is_integer(off) || offset < 0)))
        return zf_eng_fail(e, req, ZF_EINVAL, "limit must be 0..500 and offset >= 0");
    size_t total = 0;
    json_t *items =
        zf_rec_data_list(e->store, req->tenant, module, (size_t)offset, (size_t)limit, &total);
    zf_eng_reply(e, req, json_pack("{s:o, s:I}", "records", items, "total", (json_int_t)total));
    return 0;
}

static bool
s_reserved(const char *k)
{
    return strcmp(k, "id") == 0 || strcmp(k, "created_at") == 0 || strcmp(k, "updated_at") == 0;
}

int
zf_eng_rec_update(engine_t *e, zf_msg_t *req)
{
    const char *module = s_module_arg(e, req), *id = zf_eng_str(req->body, "id");
    if (!module) return 0;
    json_t *patch = json_object_get(req->body, "patch");
    if (s_fields_check(e, req, patch, "patch")) return 0;
    json_t *cur = id ? zf_eng_rec_load(e, req->tenant, module, id) : NULL;
    if (!cur) return zf_eng_fail(e, req, ZF_ENOTFOUND, "record not found");
    json_t *rec = json_deep_copy(cur), *previous = json_object(), *changed = json_array();
    const char *k;
    json_t *v;
    json_object_foreach (patch, k, v) {
        if (s_reserved(k)) continue;
        json_t *old = json_object_get(cur, k);
        bool differs = json_is_null(v) ? old != NULL : !old || !json_equal(old, v);
        if (!differs) continue;
        json_object_set(previous, k, old ? old : json_null());
        json_array_append_new(changed, json_string(k));
        if (json_is_null(v))
            json_object_del(rec, k);  // merge-patch: null removes the field
        else
            json_object_set(rec, k, v);
    }
    if (json_object_size(rec) > S_RECORD_KEYS_MAX + 3) {
        json_decref(cur), json_decref(rec), json_decref(previous), json_decref(changed);
        return zf_eng_fail(e, req, ZF_EINVAL, "patch: a record has at most %d fields",
                           S_RECORD_KEYS_MAX);
    }
    json_object_set_new(rec, "updated_at", json_integer(zf_now_ms()));
    //  `previous` holds every field's old value (the changed ones from the
    //  patch), so templates can read {{previous.x}} for any field.
    json_t *prev_full = json_deep_copy(cur);
    json_object_update(prev_full, previous);
    s_event_t ev = {.tenant = req->tenant,
                    .type = "record.updated",
                    .module = module,
                    .record = rec,
                    .previous = prev_full,
                    .changed = changed};
    int rc = 0;
    if (json_array_size(changed) == 0)  // nothing changed: no write, no event
        zf_eng_reply(e, req,
                     json_pack("{s:O, s:s, s:[], s:i}", "record", cur, "module", module, "changed",
                               "runs_started", 0));
    else
        rc = s_rec_commit(e, req, &ev, rec,
                          json_pack("{s:O, s:s, s:O, s:O}", "record", rec, "module", module,
                                    "previous", previous, "changed", changed));
    json_decref(cur), json_decref(rec), json_decref(previous), json_decref(changed);
    json_decref(prev_full);
    return rc;
}

int
zf_eng_rec_delete(engine_t *e, zf_msg_t *req)
{
    const char *module = s_module_arg(e, req), *id = zf_eng_str(req->body, "id");
    if (!module) return 0;
    json_t *cur = id ? zf_eng_rec_load(e, req->tenant, module, id) : NULL;
    if (!cur) return zf_eng_fail(e, req, ZF_ENOTFOUND, "record not found");
    s_event_t ev = {
        .tenant = req->tenant, .type = "record.deleted", .module = module, .record = cur};
    int rc = s_rec_commit(e, req, &ev, NULL,
                          json_pack("{s:s, s:s, s:b}", "id", id, "module", module, "deleted", 1));
    json_decref(cur);
    return rc;
}

/* ---- records named by requests ------------------------------------------------------ */

int
zf_eng_named_record(engine_t *e, zf_msg_t *req, const json_t *wf, bool allow_inline, json_t **rec)
{
    *rec = NULL;
    json_t *given = allow_inline ? json_object_get(req->body, "record") : NULL;
    if (given && !json_is_object(given))
        return zf_eng_fail(e, req, ZF_EINVAL, "record: must be an object"), -1;
    if (given) {
        *rec = json_incref(given);
        return 0;
    }
    json_t *r = json_object_get(req->body, "record_id");
    if (!r) return 0;
    const char *rid = json_string_value(r);
    if (!rid || !rid[0] || strlen(rid) > 64)
        return zf_eng_fail(e, req, ZF_EINVAL, "record_id: must be a string of 1 to 64 bytes"), -1;
    const char *module = zf_eng_str(req->body, "module");
    if (!module) module = zf_eng_str(json_object_get(wf, "trigger"), "module");
    if (!zf_auto_module_valid(module))
        return zf_eng_fail(e, req, ZF_EINVAL, "module: required to look up record_id"), -1;
    *rec = zf_eng_rec_load(e, req->tenant, module, rid);
    if (!*rec) {
        zf_eng_error_detail(e, req, ZF_ENOTFOUND, "record_not_found", "record %s not found in %s",
                            rid, module);
        return -1;
    }
    return 0;
}

/* ---- event ingestion ------------------------------------------------------------------ */

static const char *
s_event_check(const json_t *ev, size_t i, char *why, size_t whylen)
{
    const char *type = zf_eng_str(ev, "type");
    if (!json_is_object(ev)) {
        snprintf(why, whylen, "events[%zu]: must be an object", i);
        return NULL;
    }
    if (!type || !zf_auto_event_type_ok(type)) {
        snprintf(why, whylen,
                 "events[%zu].type: must be record.created, record.updated, record.deleted, "
                 "form.approved, form.rejected, form.submitted, matter.step_completed or "
                 "matter.step_rejected",
                 i);
        return NULL;
    }
    const char *module = zf_eng_str(ev, "module");
    bool rec = strncmp(type, "record.", 7) == 0;
    if (rec ? !zf_auto_module_valid(module)
            : !module || !*module || strlen(module) > 64 || strcmp(module, "*") == 0) {
        snprintf(why, whylen, "events[%zu].module: must be %s", i,
                 rec ? "a module name" : "the form or matter template id (1..64 chars)");
        return NULL;
    }
    if (!json_is_object(json_object_get(ev, "record"))) {
        snprintf(why, whylen, "events[%zu].record: required object", i);
        return NULL;
    }
    json_t *prev = json_object_get(ev, "previous");
    if (prev && !json_is_object(prev) && !json_is_null(prev)) {
        snprintf(why, whylen, "events[%zu].previous: must be an object", i);
        return NULL;
    }
    return type;
}

//  Changed fields of an update event: keys whose values differ between
//  previous and record (either side).
static json_t *
s_diff(const json_t *rec, const json_t *prev)
{
    json_t *changed = json_array();
    if (!json_is_object(prev)) return changed;
    const char *k;
    json_t *v;
    json_object_foreach ((json_t *)rec, k, v) {
        json_t *old = json_object_get(prev, k);
        if (!old || !json_equal(old, v)) json_array_append_new(changed, json_string(k));
    }
    json_object_foreach ((json_t *)prev, k, v) {
        if (!json_object_get(rec, k)) json_array_append_new(changed, json_string(k));
    }
    return changed;
}

int
zf_eng_events_ingest(engine_t *e, zf_msg_t *req)
{
    json_t *events = json_object_get(req->body, "events");
    char why[320];
    if (!json_is_array(events)) return zf_eng_fail(e, req, ZF_EINVAL, "events: required array");
    if (json_array_size(events) > S_EVENTS_MAX)
        return zf_eng_fail(e, req, ZF_ELIMIT, "events: at most %d per request", S_EVENTS_MAX);
    size_t i;
    json_t *ev;
    json_array_foreach (events, i, ev) {
        if (!s_event_check(ev, i, why, sizeof why))
            return zf_eng_fail(e, req, ZF_EINVAL, "%s", why);
    }
    if (zf_eng_overloaded(e, req)) return 0;
    zf_batch_t *b = zf_batch_new();
    cont_t *c = zf_eng_cont(zf_eng_reply_started, req);
    s_fanout_t f = {.b = b, .c = c, .once = json_object()};
    json_t *user = zf_eng_user_json(req);
    json_array_foreach (events, i, ev) {
        const json_t *prev = json_object_get(ev, "previous");
        s_event_t one = {.tenant = req->tenant,
                         .type = zf_eng_str(ev, "type"),
                         .module = zf_eng_str(ev, "module"),
                         .record = json_object_get(ev, "record"),
                         .previous = json_is_object(prev) ? prev : NULL,
                         .user = user};
        json_t *changed = strcmp(one.type, "record.updated") == 0 &&
                                  s_has_field_triggers(e, req->tenant, one.module)
                              ? s_diff(one.record, one.previous)
                              : NULL;
        one.changed = changed;
        s_fanout(e, &f, &one);
        json_decref(changed);
    }
    json_decref(user);
    json_decref(f.once);
    c->data = json_pack("{s:I, s:I}", "accepted", (json_int_t)json_array_size(events),
                        "runs_started", (json_int_t)f.started);
    if (zf_batch_count(b) == 0) {  // nothing to make durable: answer now
        zf_batch_destroy(&b);
        zf_eng_reply(e, req, c->data);
        c->data = NULL;
        c->req = NULL;
        free(c);
        return 0;
    }
    //  The events are staged: free them now, while they are hot in the cache,
    //  not after the group commit (in-flight batches then pile up in memory).
    zf_msg_set_body(req, NULL);
    zf_eng_commit(e, &b, c);
    return 1;
}
