/*  actors/engine_resume.c — runs that wait for people or for other runs.

    A step that suspends (approval, send_form, run_workflow) leaves its run
    `paused` or `waiting_for_child` on disk with no thread; approvals and
    forms also leave a callback token indexed by its SHA-256 (the writer
    stores it in the batch of the paused snapshot). Whatever wakes such a
    run — run.resume, approval.decide, form.submit, the end of its child —
    goes through s_resume on the engine's only thread: it checks that the
    run is passivated and not already being woken, stores {run: queued,
    state.resume: what woke it} (with the token marked decided) in one
    batch, and hands the run to a host when that is durable. A guard task
    enters e->active before the commit, so of two concurrent resumes the
    second always sees it and gets `conflict`: never a double resume.

    Crash safety: the resume is durable before the caller hears "ok"; a
    crash after that finds the run queued with state.resume set, and
    recovery runs the step with it. A parent waiting for a child is also
    woken by its own deadline (run_workflow polls), so a crash between a
    child's end and its parent's wake-up delays the parent, never strands it.
*/
#include "actors/engine_int.h"
#include "actors/keys.h"
#include "broker/errors.h"
#include "broker/ids.h"

#include <string.h>

#define S_CHILDREN_MAX 200     // children listed in run.get
#define S_STATS_SCAN   100000  // unfinished runs read by wf.stats at most

/* ---- the one way to wake a passivated run ------------------------------------- */

typedef struct {
    const char *tenant;       // run's tenant
    const char *run_id;       // run to wake
    json_t *resume;           // state.resume (taken)
    const char *busy_detail;  // detail when the run is being changed already
    bool from_child;          // the child ended (may wake waiting_for_child)
    json_t *extra;            // merged into the reply (taken, may be NULL)
} s_wake_t;

static void
s_resumed(engine_t *e, cont_t *c, int rc)
{
    zf_run_task_t *t = c->task;
    c->task = NULL;
    zhashx_delete(e->active, t->run_id);  // the guard
    if (rc) {
        if (c->req) zf_eng_error(e, c->req, ZF_EIO, "storage failure; the run stays paused");
        zf_run_task_destroy(&t);
        return;
    }
    if (c->req) {
        json_t *view = json_deep_copy(t->run);
        json_object_set_new(view, "status", json_string("running"));
        json_t *body = json_pack("{s:o}", "run", view);
        if (c->data) json_object_update(body, c->data);
        zf_eng_reply(e, c->req, body);
    }
    zf_eng_event(e, "event.run.resumed", t->tenant, t->run, NULL);
    zf_eng_start_task(e, t);
}

//  Why the run cannot be woken (error replied when req), or 0 with *out.
static int
s_wake_check(engine_t *e, zf_msg_t *req, const s_wake_t *w, zf_run_task_t **out)
{
    *out = NULL;
    zf_run_task_t *busy = zhashx_lookup(e->active, w->run_id);
    if (busy && strcmp(busy->tenant, w->tenant) == 0) {
        if (req)
            zf_eng_error_detail(e, req, ZF_ECONFLICT, w->busy_detail,
                                "run is running or already being resumed");
        return ZF_ECONFLICT;
    }
    zf_run_task_t *t = zf_eng_load_task(e, w->tenant, w->run_id);
    if (!t) {
        if (req) zf_eng_error(e, req, ZF_ENOTFOUND, "run not found");
        return ZF_ENOTFOUND;
    }
    const char *status = zf_eng_str(t->run, "status");
    const char *kind = zf_eng_str(json_object_get(t->state, "wait"), "kind");
    bool ok = kind && ((strcmp(status, "paused") == 0 && strcmp(kind, "suspend") == 0) ||
                       (strcmp(status, "waiting") == 0 && strcmp(kind, "delay") == 0) ||
                       (w->from_child && strcmp(status, "waiting_for_child") == 0));
    if (!ok) {
        if (req && strcmp(status, "waiting_for_child") == 0)
            zf_eng_error_detail(e, req, ZF_ECONFLICT, "not_paused",
                                "run is waiting for its child run; it resumes when the child "
                                "ends");
        else if (req)
            zf_eng_error_detail(e, req, ZF_ECONFLICT, "not_paused",
                                "run is %s%s; only paused runs (approval, form, webhook or "
                                "delay waits) can be resumed",
                                status, strcmp(status, "waiting") == 0 ? " to retry a step" : "");
        zf_run_task_destroy(&t);
        return ZF_ECONFLICT;
    }
    *out = t;
    return 0;
}

//  The node the run waits in (borrowed), or NULL.
static const json_t *
s_wait_node(const zf_run_task_t *t)
{
    const char *id = zf_eng_str(json_object_get(t->state, "wait"), "node_id");
    size_t i;
    json_t *node;
    json_array_foreach (json_object_get(json_object_get(t->workflow, "definition"), "nodes"), i,
                        node)
        if (id && strcmp(zf_eng_str(node, "id"), id) == 0) return node;
    return NULL;
}

//  Stages the wake-up of t (taken) and starts it once durable. token: the
//  decided token entry to store (taken, may be NULL) under hash.
static void
s_wake_commit(engine_t *e, zf_msg_t *req, s_wake_t *w, zf_run_task_t *t, const char *hash,
              json_t *token)
{
    int64_t now = zf_now_ms();
    json_int_t wake = json_integer_value(json_object_get(t->run, "wake_at"));
    json_object_set_new(w->resume, "at", json_integer(now));
    json_object_set_new(t->state, "resume", w->resume);
    w->resume = NULL;
    json_object_set_new(t->run, "status", json_string("queued"));
    json_object_set_new(t->run, "wake_at", json_null());
    json_object_set_new(t->run, "updated_at", json_integer(now));
    t->timer_due = wake;  // the run's first snapshot clears its deadline timer
    snprintf(t->stored_status, sizeof t->stored_status, "queued");
    zf_batch_t *b = zf_batch_new();
    zf_rec_run_put(b, t->tenant, t->run);
    zf_rec_state_put(b, t->tenant, t->run_id, t->state);
    if (token) zf_rec_token_put(b, hash, token);
    json_decref(token);
    zhashx_insert(e->active, t->run_id,
                  zf_run_task_new(t->tenant, json_null(), json_incref(t->run), NULL));
    cont_t *c = zf_eng_cont(s_resumed, req);
    c->task = t;
    c->data = w->extra;
    w->extra = NULL;
    zf_eng_commit(e, &b, c);
}

//  The token entry of a waiting run (new ref) and its hash, or NULL.
static json_t *
s_wait_token(engine_t *e, const zf_run_task_t *t, char hash[65])
{
    const char *h = zf_eng_str(json_object_get(t->state, "wait"), "token_hash");
    if (!h || strlen(h) != 64) return NULL;
    snprintf(hash, 65, "%s", h);
    return zf_rec_token_get(e->store, h);
}

/* ---- run.resume ------------------------------------------------------------------ */

static bool
s_decision_ok(const char *d)
{
    return d && (strcmp(d, "approved") == 0 || strcmp(d, "rejected") == 0);
}

int
zf_eng_run_resume(engine_t *e, zf_msg_t *req)
{
    const char *id = zf_eng_str(req->body, "id");
    json_t *decision = json_object_get(req->body, "decision");
    if (!id) return zf_eng_fail(e, req, ZF_EINVAL, "id: required string");
    if (decision && !s_decision_ok(json_string_value(decision)))
        return zf_eng_fail(e, req, ZF_EINVAL, "decision: must be \"approved\" or \"rejected\"");
    s_wake_t w = {.tenant = req->tenant, .run_id = id, .busy_detail = "not_paused"};
    zf_run_task_t *t;
    if (s_wake_check(e, req, &w, &t)) return 0;
    const json_t *node = s_wait_node(t);
    if (node && strcmp(zf_eng_str(node, "type"), "approval") == 0 && !decision &&
        strcmp(zf_eng_str(t->run, "status"), "paused") == 0) {
        zf_run_task_destroy(&t);
        return zf_eng_fail(e, req, ZF_EINVAL,
                           "decision: required (\"approved\" or \"rejected\") to resume an "
                           "approval");
    }
    w.resume = json_pack("{s:O?, s:O?, s:s?, s:s}", "decision", decision, "data",
                         json_object_get(req->body, "data"), "by", req->user[0] ? req->user : NULL,
                         "via", "run.resume");
    char hash[65];
    json_t *token = s_wait_token(e, t, hash);
    if (token) {  // the emailed link dies with this decision
        json_object_set(token, "decision", decision ? decision : json_string("resumed"));
        json_object_set_new(token, "decided_at", json_integer(zf_now_ms()));
    }
    s_wake_commit(e, req, &w, t, hash, token);
    return 1;
}

/* ---- callback tokens: approval.*, form.* --------------------------------------- */

//  Token entry by the token in the body (new ref), with its hash; replies
//  not_found (and returns NULL) when unknown or of another kind.
static json_t *
s_token_entry(engine_t *e, zf_msg_t *req, const char *kind, char hash[65])
{
    const char *token = zf_eng_str(req->body, "token");
    if (!token || strlen(token) < 16 || strlen(token) > 128) {
        zf_eng_error(e, req, ZF_ENOTFOUND, "unknown or invalid link");
        return NULL;
    }
    unsigned char h[32];
    zf_keys_hash(token, h);
    zf_hex(h, sizeof h, hash);
    json_t *entry = zf_rec_token_get(e->store, hash);
    if (!entry || strcmp(zf_eng_str(entry, "kind") ? zf_eng_str(entry, "kind") : "", kind) != 0) {
        json_decref(entry);
        zf_eng_error(e, req, ZF_ENOTFOUND, "unknown or invalid link");
        return NULL;
    }
    return entry;
}

//  What a token's page shows: the entry's state and the step's output.
static json_t *
s_token_view(engine_t *e, const json_t *entry, const char *hash)
{
    const char *tenant = zf_eng_str(entry, "tenant"), *run_id = zf_eng_str(entry, "run_id");
    const char *node_id = zf_eng_str(entry, "node_id");
    json_t *run = zf_rec_run_get(e->store, tenant, run_id);
    json_t *state = zf_rec_state_get(e->store, tenant, run_id);
    json_t *wf = zf_eng_wf_load(e, tenant, zf_eng_str(entry, "workflow_id"));
    json_t *out = json_object_get(json_object_get(state, "stepOutputs"), node_id);
    json_int_t expires = json_integer_value(json_object_get(entry, "expires_at"));
    const char *status = "closed";
    const char *waits = zf_eng_str(json_object_get(state, "wait"), "token_hash");
    if (zf_eng_str(entry, "decision"))
        status = zf_eng_str(entry, "decision");
    else if (expires > 0 && zf_now_ms() >= expires)
        status = "expired";
    else if (run && strcmp(zf_eng_str(run, "status"), "paused") == 0 && waits &&
             strcmp(waits, hash) == 0)
        status = "pending";
    const char *step_name = NULL;
    size_t i;
    json_t *node;
    json_array_foreach (json_object_get(json_object_get(wf, "definition"), "nodes"), i, node)
        if (strcmp(zf_eng_str(node, "id"), node_id) == 0) step_name = zf_eng_str(node, "name");
    json_t *view = json_pack(
        "{s:s, s:s, s:O, s:s?, s:s, s:s?, s:O?, s:O?, s:O?, s:I, s:O?, s:O?}", "status", status,
        "run_id", run_id, "workflow_id", json_object_get(entry, "workflow_id"), "workflow_name",
        zf_eng_str(wf, "name"), "node_id", node_id, "step_name", step_name, "title",
        json_object_get(out, "title"), "message", json_object_get(out, "message"), "fields",
        json_object_get(out, "fields"), "expires_at", expires, "decided_at",
        json_object_get(entry, "decided_at"), "decision", json_object_get(entry, "decision"));
    json_decref(run);
    json_decref(state);
    json_decref(wf);
    return view;
}

static int
s_token_get(engine_t *e, zf_msg_t *req, const char *kind, const char *key)
{
    char hash[65];
    json_t *entry = s_token_entry(e, req, kind, hash);
    if (!entry) return 0;
    zf_eng_reply(e, req, json_pack("{s:o}", key, s_token_view(e, entry, hash)));
    json_decref(entry);
    return 0;
}

//  Applies a decision (approval) or a submission (form) once.
static int
s_token_decide(engine_t *e, zf_msg_t *req, const char *kind, const char *decision, json_t *data)
{
    char hash[65];
    json_t *entry = s_token_entry(e, req, kind, hash);
    if (!entry) return 0;
    json_int_t expires = json_integer_value(json_object_get(entry, "expires_at"));
    int rc = 0;
    if (zf_eng_str(entry, "decision"))
        zf_eng_error_detail(e, req, ZF_ECONFLICT, "already_decided", "this link was already used");
    else if (expires > 0 && zf_now_ms() >= expires)
        zf_eng_error_detail(e, req, ZF_ECONFLICT, "token_expired", "this link has expired");
    else {
        s_wake_t w = {.tenant = zf_eng_str(entry, "tenant"),
                      .run_id = zf_eng_str(entry, "run_id"),
                      .busy_detail = "already_decided"};
        zf_run_task_t *t;
        if (s_wake_check(e, req, &w, &t) == 0) {
            const char *waits = zf_eng_str(json_object_get(t->state, "wait"), "token_hash");
            if (!waits || strcmp(waits, hash) != 0) {
                zf_run_task_destroy(&t);
                zf_eng_error_detail(e, req, ZF_ECONFLICT, "not_paused",
                                    "the run no longer waits for this link");
            } else {
                const char *by = zf_eng_str(req->body, "by");
                w.resume = json_pack("{s:s, s:O?, s:s?, s:s}", "decision", decision, "data", data,
                                     "by", by, "via", "callback");
                json_object_set_new(entry, "decision", json_string(decision));
                json_object_set_new(entry, "decided_at", json_integer(zf_now_ms()));
                w.extra = json_object();
                json_object_set_new(w.extra, strcmp(kind, "approval") == 0 ? "approval" : "form",
                                    s_token_view(e, entry, hash));
                s_wake_commit(e, req, &w, t, hash, json_incref(entry));
                rc = 1;
            }
        }
    }
    json_decref(entry);
    return rc;
}

int
zf_eng_approval_get(engine_t *e, zf_msg_t *req)
{
    if (strncmp(req->type, "form.", 5) == 0) return s_token_get(e, req, "send_form", "form");
    return s_token_get(e, req, "approval", "approval");
}

int
zf_eng_approval_decide(engine_t *e, zf_msg_t *req)
{
    if (strncmp(req->type, "form.", 5) == 0) {
        json_t *data = json_object_get(req->body, "data");
        if (data && !json_is_object(data))
            return zf_eng_fail(e, req, ZF_EINVAL, "data: must be an object");
        return s_token_decide(e, req, "send_form", "submitted", data);
    }
    const char *d = zf_eng_str(req->body, "decision");
    if (!s_decision_ok(d))
        return zf_eng_fail(e, req, ZF_EINVAL, "decision: must be \"approved\" or \"rejected\"");
    return s_token_decide(e, req, "approval", d, json_object_get(req->body, "data"));
}

/* ---- child runs ---------------------------------------------------------------- */

json_t *
zf_eng_child_existing(engine_t *e, const char *tenant, const json_t *parent)
{
    json_t *link = zf_rec_child_get(e->store, tenant, zf_eng_str(parent, "run_id"),
                                    zf_eng_str(parent, "node_id"));
    json_t *run = link ? zf_rec_run_get(e->store, tenant, zf_eng_str(link, "child_id")) : NULL;
    json_decref(link);
    return run;
}

//  Wakes parent run_id if it waits for a child that has ended.
static void
s_child_check(engine_t *e, const char *tenant, const char *run_id)
{
    if (zhashx_lookup(e->active, run_id)) return;  // it checks again when it passivates
    json_t *run = zf_rec_run_get(e->store, tenant, run_id);
    bool waits = run && strcmp(zf_eng_str(run, "status"), "waiting_for_child") == 0;
    json_decref(run);
    if (!waits) return;
    json_t *state = zf_rec_state_get(e->store, tenant, run_id);
    const char *node_id = zf_eng_str(json_object_get(state, "wait"), "node_id");
    json_t *link = node_id ? zf_rec_child_get(e->store, tenant, run_id, node_id) : NULL;
    json_t *child = link ? zf_rec_run_get(e->store, tenant, zf_eng_str(link, "child_id")) : NULL;
    if (child && zf_run_status_terminal(zf_eng_str(child, "status"))) {
        s_wake_t w = {.tenant = tenant, .run_id = run_id, .busy_detail = "", .from_child = true};
        zf_run_task_t *t;
        if (s_wake_check(e, NULL, &w, &t) == 0) {
            w.resume =
                json_pack("{s:{s:O, s:O, s:O?, s:O?}, s:s}", "child", "id",
                          json_object_get(child, "id"), "status", json_object_get(child, "status"),
                          "outputs", json_object_get(child, "outputs"), "error",
                          json_object_get(child, "error"), "via", "child");
            s_wake_commit(e, NULL, &w, t, NULL, NULL);
        }
    }
    json_decref(child);
    json_decref(link);
    json_decref(state);
}

void
zf_eng_child_ended(engine_t *e, const char *tenant, const json_t *run)
{
    const char *parent = zf_eng_str(run, "parent_run_id");
    if (parent) s_child_check(e, tenant, parent);
}

void
zf_eng_child_check_id(engine_t *e, const char *tenant, const char *run_id)
{
    s_child_check(e, tenant, run_id);
}

//  run.get's "children": the child runs started by the run's nodes.
json_t *
zf_eng_children(engine_t *e, const char *tenant, const char *run_id)
{
    json_t *links = zf_rec_children_list(e->store, tenant, run_id);
    json_t *out = json_array();
    size_t i;
    json_t *link;
    json_array_foreach (links, i, link) {
        if (i >= S_CHILDREN_MAX) break;
        json_t *run = zf_rec_run_get(e->store, tenant, zf_eng_str(link, "child_id"));
        if (!run) continue;
        json_t *wf = zf_eng_wf_load(e, tenant, zf_eng_str(run, "workflow_id"));
        json_array_append_new(out, json_pack("{s:O, s:O, s:s?, s:O, s:O, s:O, s:O, s:O?}", "id",
                                             json_object_get(run, "id"), "workflow_id",
                                             json_object_get(run, "workflow_id"), "workflow_name",
                                             zf_eng_str(wf, "name"), "status",
                                             json_object_get(run, "status"), "created_at",
                                             json_object_get(run, "created_at"), "started_at",
                                             json_object_get(run, "started_at"), "finished_at",
                                             json_object_get(run, "finished_at"), "node_id",
                                             json_object_get(link, "node_id")));
        json_decref(wf);
        json_decref(run);
    }
    json_decref(links);
    return out;
}

/* ---- wf.stats ------------------------------------------------------------------ */

static bool
s_held(const char *run_id, void *arg)
{
    engine_t *e = arg;
    return zhashx_lookup(e->active, run_id) != NULL;
}

int
zf_eng_wf_stats_all(engine_t *e, zf_msg_t *req)
{
    json_t *wfs = zf_rec_wf_list(e->store, req->tenant);
    json_t *w = json_pack("{s:i, s:i, s:i, s:i, s:i}", "total", 0, "active", 0, "draft", 0,
                          "paused", 0, "archived", 0);
    json_t *r = json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i}", "total", 0, "queued", 0,
                          "running", 0, "waiting", 0, "paused", 0, "waiting_for_child", 0,
                          "completed", 0, "failed", 0, "cancelled", 0);
    json_int_t total = 0, done[3] = {0};
    size_t i;
    json_t *wf;
    json_array_foreach (wfs, i, wf) {
        const char *st = zf_eng_str(wf, "status");
        json_object_set_new(w, "total", json_integer((json_int_t)i + 1));
        if (st && json_object_get(w, st))
            json_object_set_new(w, st,
                                json_integer(json_integer_value(json_object_get(w, st)) + 1));
        const json_t *stats = zf_eng_wf_stats(e, req->tenant, zf_eng_str(wf, "id"));
        done[0] += json_integer_value(json_object_get(stats, "success_count"));
        done[1] += json_integer_value(json_object_get(stats, "failure_count"));
        done[2] += json_integer_value(json_object_get(stats, "cancelled_count"));
    }
    json_object_set_new(r, "completed", json_integer(done[0]));
    json_object_set_new(r, "failed", json_integer(done[1]));
    json_object_set_new(r, "cancelled", json_integer(done[2]));
    total = done[0] + done[1] + done[2];
    //  Runs the engine holds (queued, at a host, being resumed) are counted
    //  by their record alone: a host may commit a run's end while this
    //  reads, and the counters above take the end only when the host's
    //  report reaches the engine (then the run leaves e->active). Reading
    //  the active entries as well could see such a run twice or not at
    //  all. The other unfinished runs are passivated: only the engine
    //  changes them, so the active scan reads them steadily.
    json_t *live = zf_rec_active_counts(e->store, req->tenant, S_STATS_SCAN, s_held, e);
    for (zf_run_task_t *t = zhashx_first(e->active); t; t = zhashx_next(e->active)) {
        if (strcmp(t->tenant, req->tenant) != 0) continue;
        json_t *run = zf_rec_run_get(e->store, t->tenant, t->run_id);
        const char *st = zf_eng_str(run, "status");  // no record yet: not stored, not counted
        if (st)
            json_object_set_new(live, st,
                                json_integer(json_integer_value(json_object_get(live, st)) + 1));
        json_decref(run);
    }
    const char *k;
    json_t *n;
    json_object_foreach (live, k, n) {  // terminal ones: ended, not yet in the counters
        if (!json_object_get(r, k)) continue;
        json_object_set_new(
            r, k, json_integer(json_integer_value(json_object_get(r, k)) + json_integer_value(n)));
        total += json_integer_value(n);
    }
    json_decref(live);
    json_object_set_new(r, "total", json_integer(total));
    json_decref(wfs);
    zf_eng_reply(e, req, json_pack("{s:o, s:o}", "workflows", w, "runs", r));
    return 0;
}
