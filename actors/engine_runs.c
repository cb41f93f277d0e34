/*  actors/engine_runs.c — run.* handlers: start (manual, child runs),
    get, list, cancel, and the staging of new runs shared with events,
    schedules and webhooks. Like every handler, a write replies from its
    commit continuation, so a success reply means "on disk".
*/
#include "actors/engine_int.h"
#include "actors/steps/record_ops.h"
#include "broker/errors.h"
#include "broker/ids.h"

#include <stdatomic.h>
#include <string.h>

/* ---- runs ------------------------------------------------------------------------ */

bool
zf_eng_wf_startable(const json_t *wf)
{
    const char *status = zf_eng_str(wf, "status");
    return json_is_true(json_object_get(wf, "enabled")) && status && strcmp(status, "active") == 0;
}

zf_run_task_t *
zf_eng_run_new(engine_t *e, zf_batch_t *b, const char *tenant, const json_t *wf,
               const json_t *inputs, json_t *trigger, const char *user)
{
    (void)e;
    char id[ZF_UUID_LEN + 1];
    zf_uuid7(id);
    int64_t now = zf_now_ms();
    json_t *run = json_pack(
        "{s:s, s:O, s:O, s:s, s:s, s:o, s:n, s:n, s:I, s:n, s:I, s:n, s:n, s:n, s:s?, s:o}", "id",
        id, "workflow_id", json_object_get(wf, "id"), "workflow_version",
        json_object_get(wf, "version"), "tenant", tenant, "status", "queued", "inputs",
        json_is_object(inputs) ? json_deep_copy(inputs) : json_object(), "outputs", "error",
        "created_at", (json_int_t)now, "started_at", "updated_at", (json_int_t)now, "finished_at",
        "wake_at", "parent_run_id", "created_by", user && user[0] ? user : NULL, "trigger",
        trigger ? trigger : json_pack("{s:s}", "type", "manual"));
    json_t *trig = json_object_get(run, "trigger");
    if (json_is_string(json_object_get(trig, "parent_run_id"))) {
        json_object_set(run, "parent_run_id", json_object_get(trig, "parent_run_id"));
        json_object_set(run, "parent_node_id", json_object_get(trig, "parent_node_id"));
    }
    if (!json_object_get(run, "created_by")) json_object_set_new(run, "created_by", json_null());
    json_t *state = zf_run_state_new();
    size_t i;
    json_t *node;
    json_array_foreach (json_object_get(json_object_get(wf, "definition"), "nodes"), i, node)
        json_array_append(json_object_get(state, "pendingNodeIds"), json_object_get(node, "id"));
    if (b) {
        zf_rec_run_put(b, tenant, run);
        zf_rec_state_put(b, tenant, id, state);
    }
    zf_run_task_t *t = zf_run_task_new(tenant, (json_t *)wf, run, state);
    if (!b) t->stored_status[0] = '\0';  // nothing on disk: the first snapshot creates it
    return t;
}

void
zf_eng_runs_started(engine_t *e, cont_t *c, int rc)
{
    zf_run_task_t *t;
    while (c->tasks && (t = zlist_pop(c->tasks))) {
        if (rc)
            zf_run_task_destroy(&t);
        else {
            zf_eng_event(e, "event.run.started", t->tenant, t->run, NULL);
            zf_eng_start_task(e, t);
        }
    }
    if ((t = c->task)) {
        c->task = NULL;
        if (rc)
            zf_run_task_destroy(&t);
        else {
            zf_eng_event(e, "event.run.started", t->tenant, t->run, NULL);
            zf_eng_start_task(e, t);
        }
    }
    size_t i;
    json_t *ev;
    json_array_foreach (rc ? NULL : c->events, i, ev) {
        zf_msg_t *m = zf_msg_new(zf_eng_str(ev, "type"));
        json_t *body = json_object_get(ev, "body");
        snprintf(m->tenant, sizeof m->tenant, "%s", zf_eng_str(body, "tenant"));
        zf_msg_set_body(m, json_incref(body));
        m->route = zmsg_new();
        zmsg_addmem(m->route, "", 0);
        zf_msg_send(&m, e->broker, ZMQ_DONTWAIT);
    }
}

static void
s_run_created(engine_t *e, cont_t *c, int rc)
{
    if (rc) {
        zf_eng_error(e, c->req, ZF_EIO, "storage failure; the run was not started");
        return;
    }
    zf_run_task_t *t = c->task;
    if (c->req->deadline > 0) {  // wait=true: answer when the run settles
        zf_eng_add_waiter(e, t->run_id, c->req);
        c->req = NULL;
    } else
        zf_eng_reply(e, c->req, json_pack("{s:O}", "run", t->run));
    zf_eng_runs_started(e, c, 0);
}

//  The trigger context of a manual start: who started it and, with
//  run.start with "parent" (a run_workflow step starting its child): only
//  from in-process steps; the parent must be a live run of this tenant,
//  and the chain of parents at most ZF_CHAIN_MAX deep. Returns 1 to go on,
//  0 when answered (refused, or the node's existing child re-announced:
//  a step re-run after a crash must not start a second child).
static int
s_child_parent(engine_t *e, zf_msg_t *req, json_t *parent)
{
    const char *prun = zf_eng_str(parent, "run_id"), *pnode = zf_eng_str(parent, "node_id");
    if (strcmp(req->origin, "internal") != 0)
        return zf_eng_fail(e, req, ZF_EFORBIDDEN, "parent: only run_workflow steps may set it");
    if (!json_is_object(parent) || !prun || !pnode)
        return zf_eng_fail(e, req, ZF_EINVAL, "parent: must be {run_id, node_id}");
    json_t *child = zf_eng_child_existing(e, req->tenant, parent);
    if (child) {
        zf_eng_reply(e, req, json_pack("{s:o}", "run", child));
        return 0;
    }
    json_t *prec = zf_rec_run_get(e->store, req->tenant, prun);
    if (!prec) return zf_eng_fail(e, req, ZF_ENOTFOUND, "parent run not found");
    json_int_t depth =
        json_integer_value(json_object_get(json_object_get(prec, "trigger"), "depth")) + 1;
    json_decref(prec);
    if (depth > ZF_CHAIN_MAX)
        return zf_eng_fail(e, req, ZF_ELIMIT, "workflows calling workflows nest at most %d deep",
                           ZF_CHAIN_MAX);
    json_object_set_new(parent, "depth", json_integer(depth));
    return 1;
}

//  record_id, the record (error reply and -1 when it does not exist).
static int
s_manual_trigger(engine_t *e, zf_msg_t *req, const json_t *wf, json_t **trigger)
{
    json_t *rec = NULL;
    if (zf_eng_named_record(e, req, wf, false, &rec)) return -1;
    const json_t *parent = json_object_get(req->body, "parent");
    *trigger = json_pack("{s:s}", "type", parent ? "run_workflow" : "manual");
    if (req->user[0]) json_object_set_new(*trigger, "user", json_pack("{s:s}", "id", req->user));
    json_t *data = json_object_get(req->body, "trigger_data");
    if (json_is_object(data)) json_object_set(*trigger, "data", data);
    if (parent) {
        json_object_set(*trigger, "parent_run_id", json_object_get(parent, "run_id"));
        json_object_set(*trigger, "parent_node_id", json_object_get(parent, "node_id"));
        json_object_set_new(*trigger, "depth",
                            json_integer(json_integer_value(json_object_get(parent, "depth"))));
    }
    if (rec) {
        const char *module = zf_eng_str(req->body, "module");
        if (!module) module = zf_eng_str(json_object_get(wf, "trigger"), "module");
        json_object_set_new(*trigger, "module", json_string(module));
        json_object_set(*trigger, "record_id", json_object_get(req->body, "record_id"));
        json_object_set_new(*trigger, "record", rec);
    }
    return 0;
}

//  Whether the workflow's first node only computes (set, condition,
//  delay...): its snapshot follows the start within microseconds.
static bool
s_first_computes(const json_t *wf)
{
    const json_t *nodes = json_object_get(json_object_get(wf, "definition"), "nodes");
    const json_t *first = json_array_get(nodes, 0);
    const zf_step_kind_t *kind = zf_step_find(json_string_value(json_object_get(first, "type")));
    return kind && kind->cpu_only;
}

//  run.start with wait=true when a host is free: the caller hears only
//  when the run has settled, so nothing needs to be on disk before the
//  first step; the record, index entries and state are stored with the
//  first step's snapshot, which saves one group commit per run (and its
//  latency). A crash before that snapshot loses a run whose start was
//  never acknowledged — as if the request had not arrived. The host
//  publishes event.run.started once that snapshot is durable. A run that
//  would queue, a child run (its parent needs the link) and a run without
//  wait are stored first, as before. So is a run whose first step may
//  block (http_request, ...): it must be visible (run.list) at once, e.g.
//  to a caller whose wait_timeout_ms ends before that step does.
static void
s_run_start_unstored(engine_t *e, zf_msg_t *req, const json_t *wf, const json_t *inputs,
                     json_t *trigger)
{
    zf_run_task_t *t = zf_eng_run_new(e, NULL, req->tenant, wf, inputs, trigger, req->user);
    zf_eng_add_waiter(e, t->run_id, req);
    zf_eng_start_task(e, t);
}

bool
zf_eng_overloaded(engine_t *e, zf_msg_t *req)
{
    size_t queued = zlistx_size(e->queue);
    size_t mine = (uintptr_t)zhashx_lookup(e->queued_by, req->tenant);
    if (queued >= e->max_queued)
        zf_eng_fail(e, req, ZF_EUNAVAIL, "%zu runs are queued; retry in a moment", queued);
    else if (mine >= e->max_queued_tenant)
        zf_eng_fail(e, req, ZF_EUNAVAIL,
                    "%zu runs of this tenant are queued, its share of the run queue; retry in a "
                    "moment",
                    mine);
    else
        return false;
    return true;
}

int
zf_eng_run_start(engine_t *e, zf_msg_t *req)
{
    const char *wf_id = zf_eng_str(req->body, "workflow_id");
    json_t *inputs = json_object_get(req->body, "inputs");
    json_t *wait = json_object_get(req->body, "wait");
    json_int_t wait_ms;
    if (!wf_id) return zf_eng_fail(e, req, ZF_EINVAL, "workflow_id: required string");
    if (inputs && !json_is_object(inputs) && !json_is_null(inputs))
        return zf_eng_fail(e, req, ZF_EINVAL, "inputs: must be an object");
    if (wait && !json_is_boolean(wait))
        return zf_eng_fail(e, req, ZF_EINVAL, "wait: must be a boolean");
    if (zf_eng_int_field(req->body, "wait_timeout_ms", 30000, 1, 300000, &wait_ms))
        return zf_eng_fail(e, req, ZF_EINVAL,
                           "wait_timeout_ms: must be an integer from 1 to 300000");
    json_t *data = json_object_get(req->body, "trigger_data");
    if (data && !json_is_object(data))
        return zf_eng_fail(e, req, ZF_EINVAL, "trigger_data: must be an object");
    json_t *parent = json_object_get(req->body, "parent");
    if (parent) {
        int prc = s_child_parent(e, req, parent);
        if (prc <= 0) return 0;  // answered: refused, or the existing child
    }
    if (!parent && zf_eng_overloaded(e, req)) return 0;  // a step's child is never refused
    json_t *wf = zf_eng_wf_load(e, req->tenant, wf_id);
    if (!wf) return zf_eng_fail(e, req, ZF_ENOTFOUND, "workflow not found");
    const char *status = zf_eng_str(wf, "status");
    json_t *trigger = NULL;
    int rc = 0;
    if (strcmp(status, "archived") == 0 || strcmp(status, "paused") == 0)
        rc = zf_eng_fail(e, req, ZF_ECONFLICT, "workflow is %s; set status to active to run it",
                         status);
    else if (json_is_false(json_object_get(wf, "enabled"))) {
        const char *why = zf_eng_str(wf, "disabled_reason");
        zf_eng_error_detail(e, req, ZF_ECONFLICT, "automation_disabled",
                            "workflow is disabled%s%s; enable it to run it", why ? ": " : "",
                            why ? why : "");
    } else if (s_manual_trigger(e, req, wf, &trigger) == 0) {
        req->deadline = json_is_true(wait) ? zf_now_ms() + wait_ms : 0;
        rc = 1;
        if (req->deadline > 0 && !parent && e->nrunning < e->max_active && s_first_computes(wf)) {
            s_run_start_unstored(e, req, wf, inputs, trigger);
            json_decref(wf);
            return rc;
        }
        zf_batch_t *b = zf_batch_new();
        cont_t *c = zf_eng_cont(s_run_created, req);
        c->task = zf_eng_run_new(e, b, req->tenant, wf, inputs, trigger, req->user);
        if (parent) {  // the link finds this child again if the parent's step re-runs
            json_t *link = json_pack("{s:s, s:s, s:O}", "child_id", c->task->run_id, "workflow_id",
                                     wf_id, "node_id", json_object_get(parent, "node_id"));
            zf_rec_child_put(b, req->tenant, zf_eng_str(parent, "run_id"),
                             zf_eng_str(parent, "node_id"), link);
            json_decref(link);
        }
        zf_eng_commit(e, &b, c);
    }
    json_decref(wf);
    return rc;
}

//  A run's state as callers see it: whole, without the store's bookkeeping
//  of which outputs are stored apart (JSON null if there is none).
static json_t *
s_state_view(engine_t *e, const char *tenant, const char *run_id)
{
    json_t *state = zf_rec_state_get(e->store, tenant, run_id);
    if (!state) return json_null();
    zf_rec_state_view(state);
    return state;
}

json_t *
zf_eng_run_view(engine_t *e, const char *tenant, const char *run_id)
{
    json_t *run = zf_rec_run_get(e->store, tenant, run_id);
    if (!run) return NULL;
    json_t *state = s_state_view(e, tenant, run_id);
    json_t *logs = zf_rec_logs_get(e->store, tenant, run_id);
    return json_pack("{s:o, s:o, s:o}", "run", run, "state", state, "logs",
                     logs ? logs : json_array());
}

int
zf_eng_run_get(engine_t *e, zf_msg_t *req)
{
    const char *id = zf_eng_req_id(req);
    if (!id) return zf_eng_fail(e, req, ZF_EINVAL, "id: required string");
    json_t *view = id ? zf_eng_run_view(e, req->tenant, id) : NULL;
    if (!view) return zf_eng_fail(e, req, ZF_ENOTFOUND, "run not found");
    json_object_set_new(view, "children", zf_eng_children(e, req->tenant, id));
    json_t *run = json_object_get(view, "run");
    if (zf_eng_str(run, "parent_run_id"))
        json_object_set_new(view, "parent",
                            json_pack("{s:O, s:O?}", "run_id",
                                      json_object_get(run, "parent_run_id"), "node_id",
                                      json_object_get(run, "parent_node_id")));
    zf_eng_reply(e, req, view);
    return 0;
}

int
zf_eng_run_list(engine_t *e, zf_msg_t *req)
{
    const char *wf_id = zf_eng_str(req->body, "workflow_id");
    json_t *st = json_object_get(req->body, "status");
    json_int_t limit, offset;
    if (!wf_id) return zf_eng_fail(e, req, ZF_EINVAL, "workflow_id: required string");
    if (zf_eng_int_field(req->body, "limit", 50, 0, 500, &limit) ||
        zf_eng_int_field(req->body, "offset", 0, 0, INT32_MAX, &offset))
        return zf_eng_fail(e, req, ZF_EINVAL, "limit must be 0..500 and offset >= 0");
    json_int_t since;
    json_t *logs = json_object_get(req->body, "with_logs");
    if (st && !json_is_string(st))
        return zf_eng_fail(e, req, ZF_EINVAL, "status: must be a string");
    if (zf_eng_int_field(req->body, "since", 0, 0, INT64_MAX, &since))
        return zf_eng_fail(e, req, ZF_EINVAL, "since: must be a Unix time in ms");
    if (logs && !json_is_boolean(logs))
        return zf_eng_fail(e, req, ZF_EINVAL, "with_logs: must be a boolean");
    json_t *with_state = json_object_get(req->body, "with_state");
    if (with_state && !json_is_boolean(with_state))
        return zf_eng_fail(e, req, ZF_EINVAL, "with_state: must be a boolean");
    json_t *wf = zf_eng_wf_load(e, req->tenant, wf_id);
    if (!wf) return zf_eng_fail(e, req, ZF_ENOTFOUND, "workflow not found");
    json_decref(wf);
    size_t total = 0;
    json_t *runs = zf_rec_runs_list_since(e->store, req->tenant, wf_id, json_string_value(st),
                                          since, (size_t)offset, (size_t)limit, &total);
    size_t i;
    json_t *run;
    json_array_foreach (json_is_true(logs) ? runs : NULL, i, run) {
        json_t *l = zf_rec_logs_get(e->store, req->tenant, zf_eng_str(run, "id"));
        json_object_set_new(run, "logs", l ? l : json_array());
    }
    json_array_foreach (json_is_true(with_state) ? runs : NULL, i, run) {
        json_object_set_new(run, "state", s_state_view(e, req->tenant, zf_eng_str(run, "id")));
    }
    zf_eng_reply(
        e, req,
        json_pack("{s:o, s:I}", "runs", runs ? runs : json_array(), "total", (json_int_t)total));
    return 0;
}

static void
s_run_cancelled(engine_t *e, cont_t *c, int rc)
{
    json_t *run = c->data;
    zhashx_delete(e->active, zf_eng_str(run, "id"));  // releases the timer guard / queued task
    if (!rc) zf_eng_child_ended(e, zf_eng_str(run, "tenant"), run);  // a parent may wait for it
    c->data = json_pack("{s:O}", "run", run);
    json_decref(run);
    zf_eng_reply_data(e, c, rc);
}

//  Cancels a run that no actor is executing: queued, waiting or paused.
static int
s_cancel_passive(engine_t *e, zf_msg_t *req, zf_run_task_t *queued)
{
    const char *id = zf_eng_str(req->body, "id");
    json_t *run = queued ? json_incref(queued->run) : zf_rec_run_get(e->store, req->tenant, id);
    if (!run) return zf_eng_fail(e, req, ZF_ENOTFOUND, "run not found");
    const char *status = zf_eng_str(run, "status");
    if (zf_run_status_terminal(status)) {
        int rc = zf_eng_fail(e, req, ZF_ECONFLICT, "run is already %s", status);
        json_decref(run);
        return rc;
    }
    json_t *copy = json_deep_copy(run);
    json_decref(run);
    int64_t now = zf_now_ms();
    json_int_t wake = json_integer_value(json_object_get(copy, "wake_at"));
    json_object_set_new(copy, "status", json_string("cancelled"));
    json_object_set_new(copy, "finished_at", json_integer(now));
    json_object_set_new(copy, "updated_at", json_integer(now));
    json_object_set_new(copy, "wake_at", json_null());
    json_t *reason = json_object_get(req->body, "reason");
    json_object_set_new(copy, "error",
                        json_pack("{s:s, s:O?}", "code", "cancelled", "message",
                                  json_is_string(reason) ? reason : NULL));
    zf_batch_t *b = zf_batch_new();
    zf_rec_run_put(b, req->tenant, copy);
    if (wake > 0) zf_rec_timer_del(b, wake, req->tenant, id);
    if (queued)
        zf_eng_queue_drop(e, queued);
    else  //  guard: a due timer must not wake the run while the cancel commits
        zhashx_insert(e->active, id,
                      zf_run_task_new(req->tenant, json_null(), json_incref(copy), NULL));
    cont_t *c = zf_eng_cont(s_run_cancelled, req);
    c->data = copy;
    zf_eng_commit(e, &b, c);
    return 1;
}

int
zf_eng_cancel_passive(engine_t *e, zf_msg_t *req)
{
    return s_cancel_passive(e, req, NULL);
}

int
zf_eng_run_cancel(engine_t *e, zf_msg_t *req)
{
    const char *id = zf_eng_req_id(req);
    if (!id) return zf_eng_fail(e, req, ZF_EINVAL, "id: required string");
    zf_run_task_t *t = zhashx_lookup(e->active, id);
    if (t && strcmp(t->tenant, req->tenant) != 0) t = NULL;
    if (t && t->slot < 0 && !json_is_null(t->workflow)) return s_cancel_passive(e, req, t);
    if (t && json_is_null(t->workflow))
        return zf_eng_fail(e, req, ZF_ECONFLICT, "run is changing state (cancel or resume); retry");
    if (!t) return s_cancel_passive(e, req, NULL);
    atomic_store(&t->cancel, 1);  // the actor stops at the next step boundary
    zf_eng_add_waiter(e, id, req);
    return 1;
}
