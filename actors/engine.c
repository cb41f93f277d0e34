/*  actors/engine.c — the engine loop: commits, supervisor, timers, recovery.
    Request handlers are in engine_api.c.
*/
#include "actors/engine_int.h"
#include "actors/notify.h"
#include "actors/keys.h"
#include "broker/actor.h"
#include "broker/broker.h"
#include "broker/errors.h"
#include "broker/ids.h"
#include "storage/writer.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <unistd.h>

struct zf_engine_t {
    zactor_t *actor;  // the engine thread
};

typedef struct {
    const zf_engine_conf_t *conf;  // start-up configuration
    char *err;                     // start-up failure (malloc'd)
} s_args_t;

static _Atomic int s_instance;  // distinct inproc names per engine (tests run several)

/* ---- replies, events -------------------------------------------------------- */

void
zf_eng_reply(engine_t *e, zf_msg_t *req, json_t *body)
{
    zf_msg_t *r = zf_msg_reply(req, body);
    zf_msg_send(&r, e->broker, 0);
}

void
zf_eng_verror(engine_t *e, zf_msg_t *req, int err, const char *fmt, va_list ap)
{
    char text[512];
    vsnprintf(text, sizeof text, fmt, ap);
    zf_msg_t *r = zf_msg_error(req, err, text, NULL);
    zf_msg_send(&r, e->broker, 0);
}

int
zf_eng_fail(engine_t *e, zf_msg_t *req, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    zf_eng_verror(e, req, err, fmt, ap);
    va_end(ap);
    return 0;
}

void
zf_eng_error_detail(engine_t *e, zf_msg_t *req, int err, const char *detail, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    zf_msg_t *r = zf_msg_error(req, err, text, detail ? json_string(detail) : NULL);
    zf_msg_send(&r, e->broker, 0);
}

void
zf_eng_error(engine_t *e, zf_msg_t *req, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    zf_eng_verror(e, req, err, fmt, ap);
    va_end(ap);
}

//  Events go to the broker, which publishes them on the tap.
void
zf_eng_event(engine_t *e, const char *type, const char *tenant, const json_t *run,
             const char *node_id)
{
    if (!zf_broker_events_wanted()) return;  // nobody subscribes: build nothing
    zf_msg_t *m = zf_msg_new(type);
    snprintf(m->tenant, sizeof m->tenant, "%s", tenant);
    json_t *body =
        json_pack("{s:s, s:O?, s:O?, s:O?, s:O?}", "tenant", tenant, "run_id",
                  json_object_get(run, "id"), "workflow_id", json_object_get(run, "workflow_id"),
                  "status", json_object_get(run, "status"), "error", json_object_get(run, "error"));
    if (node_id) json_object_set_new(body, "node_id", json_string(node_id));
    zf_msg_set_body(m, body);
    m->route = zmsg_new();
    zmsg_addmem(m->route, "", 0);
    zf_msg_send(&m, e->broker, ZMQ_DONTWAIT);
}

//  Continuation for housekeeping commits nobody waits for; a failure is
//  already logged by s_handle_writer.
void
zf_eng_ignore_ack(engine_t *e, cont_t *c, int rc)
{
    (void)e;
    (void)c;
    (void)rc;
}

void
zf_eng_reply_data(engine_t *e, cont_t *c, int rc)
{
    if (rc)
        zf_eng_error(e, c->req, ZF_EIO, "storage failure; nothing was changed");
    else {
        zf_eng_reply(e, c->req, c->data);
        c->data = NULL;
    }
}

/* ---- commits ---------------------------------------------------------------- */

cont_t *
zf_eng_cont(cont_fn *fn, zf_msg_t *req)
{
    cont_t *c = calloc(1, sizeof *c);
    assert(c);
    c->fn = fn;
    c->req = req;
    return c;
}

static void
s_cont_destroy(cont_t **c_p)
{
    cont_t *c = *c_p;
    if (!c) return;
    zf_msg_destroy(&c->req);
    json_decref(c->data);
    json_decref(c->events);
    zf_run_task_destroy(&c->task);
    zf_run_task_t *t;
    while (c->tasks && (t = zlist_pop(c->tasks)))
        zf_run_task_destroy(&t);
    zlist_destroy(&c->tasks);
    free(c);
    *c_p = NULL;
}

//  Hands the batch to the writer; c->fn runs when it is durable.
void
zf_eng_commit(engine_t *e, zf_batch_t **batch_p, cont_t *c)
{
    char id[ZF_UUID_LEN + 1];
    zf_uuid7(id);
    zhashx_insert(e->conts, id, c);
    if (zf_writer_submit(zsock_resolve(e->writer), batch_p, id) < 0) {
        zhashx_delete(e->conts, id);
        c->fn(e, c, ZF_EIO);
        s_cont_destroy(&c);
    }
}

static void
s_overlay_release(engine_t *e, const char *key)
{
    intptr_t n = (intptr_t)zhashx_lookup(e->overlay_pending, key) - 1;
    if (n > 0)
        zhashx_update(e->overlay_pending, key, (void *)n);
    else
        zhashx_delete(e->overlay_pending, key);  // the entry stays as a cache entry
}

static void
s_handle_writer(engine_t *e)
{
    zf_msg_t *r = zf_msg_recv(e->writer, true, NULL, NULL);
    if (!r) return;
    cont_t *c = zhashx_lookup(e->conts, r->corr);
    if (c) {
        zhashx_delete(e->conts, r->corr);
        int rc = r->kind == ZF_MSG_REPLY_OK ? 0 : ZF_EIO;
        if (rc) zsys_error("engine: commit failed: %s", zf_msg_error_message(r));
        c->fn(e, c, rc);
        if (c->wf_key[0]) s_overlay_release(e, c->wf_key);
        if (c->rec_key[0]) zf_eng_rec_release(e, c->rec_key);
        if (c->sched_key[0]) zf_eng_sched_release(e, c->sched_key);
        s_cont_destroy(&c);
    }
    zf_msg_destroy(&r);
}

/* ---- workflow overlay and cache ------------------------------------------------
    The engine is the only writer of workflow records, but a write is on disk
    only after the group commit. Reads in between must see the staged version,
    so every staged workflow goes into the overlay, and stays there as a
    cache entry (decoding the record from RocksDB on every run start and
    finish showed in the profile). Cached values are shared with run actors
    and never modified: writers stage a deep copy. */

#define S_WF_CACHE_MAX 20000  // cache entries kept; beyond it, unpinned ones are dropped

//  Drops cache entries that have no commit in flight, when the cache is full.
static void
s_overlay_trim(engine_t *e)
{
    if (zhashx_size(e->overlay) < S_WF_CACHE_MAX) return;
    zlistx_t *keys = zhashx_keys(e->overlay);
    for (const char *k = zlistx_first(keys); k; k = zlistx_next(keys)) {
        if (!zhashx_lookup(e->overlay_pending, k)) zhashx_delete(e->overlay, k);
    }
    zlistx_destroy(&keys);
}

static void
s_wf_key(char out[128], const char *tenant, const char *id)
{
    snprintf(out, 128, "%s\x1f%s", tenant, id);
}

json_t *
zf_eng_wf_load(engine_t *e, const char *tenant, const char *wf_id)
{
    char key[128];
    s_wf_key(key, tenant, wf_id);
    json_t *o = zhashx_lookup(e->overlay, key);
    if (o) return json_is_null(o) ? NULL : json_incref(o);
    json_t *wf = zf_rec_wf_get(e->store, tenant, wf_id);
    if (wf) {
        s_overlay_trim(e);
        zhashx_insert(e->overlay, key, json_incref(wf));
    }
    return wf;
}

void
zf_eng_wf_stage(engine_t *e, zf_batch_t *b, cont_t *c, const char *tenant, json_t *wf,
                const char *old_name, bool deleted)
{
    const char *id = json_string_value(json_object_get(wf, "id"));
    s_wf_key(c->wf_key, tenant, id);
    json_t *old = zf_eng_wf_load(e, tenant, id);
    zf_eng_trig_update(e, tenant, old, deleted ? NULL : wf);
    zf_eng_sched_wf_changed(e, b, tenant, old, deleted ? NULL : wf);
    if (deleted) {
        zf_eng_sched_wf_deleted(e, b, tenant, id);
        zf_eng_stats_forget(e, b, tenant, id);
    }
    json_decref(old);
    if (deleted)
        zf_rec_wf_del(e->store, b, tenant, wf);
    else
        zf_rec_wf_put(b, tenant, wf, old_name);
    zhashx_update(e->overlay, c->wf_key, deleted ? json_null() : json_incref(wf));
    intptr_t n = (intptr_t)zhashx_lookup(e->overlay_pending, c->wf_key) + 1;
    zhashx_update(e->overlay_pending, c->wf_key, (void *)n);
}

/* ---- supervisor ---------------------------------------------------------------- */

//  Counts a task of tenant into (delta 1) or out of (-1) the queue.
static void
s_queued_count(engine_t *e, const char *tenant, int delta)
{
    uintptr_t n = (uintptr_t)zhashx_lookup(e->queued_by, tenant);
    assert(delta > 0 || n > 0);
    n = delta > 0 ? n + 1 : n - 1;
    if (n)
        zhashx_update(e->queued_by, tenant, (void *)n);
    else
        zhashx_delete(e->queued_by, tenant);
}

void
zf_eng_queue_drop(engine_t *e, zf_run_task_t *t)
{
    void *handle = zlistx_find(e->queue, t);
    if (!handle) return;
    zlistx_delete(e->queue, handle);
    s_queued_count(e, t->tenant, -1);
}

//  Gives the task to the least loaded shared host, or queues it when
//  max_active runs are in hosts already.
static void
s_dispatch(engine_t *e, zf_run_task_t *t)
{
    if (e->nrunning >= e->max_active) {
        t->slot = -1;
        zlistx_add_end(e->queue, t);
        s_queued_count(e, t->tenant, 1);
        return;
    }
    int slot = 0;
    for (int i = 1; i < e->nshared; i++)
        if (e->load[i] < e->load[slot]) slot = i;
    e->load[slot]++;
    e->nrunning++;
    t->slot = slot;
    zsock_send(e->actors[slot], "sp", "RUN", t);
}

//  A run whose next step blocks moves to a dedicated host. It is counted
//  in nrunning already, so at most max_active - 1 dedicated hosts are busy
//  and one is always free or can be started.
static void
s_dispatch_dedicated(engine_t *e, zf_run_task_t *t)
{
    int slot;
    if (e->nidle > 0)
        slot = e->idle[--e->nidle];
    else {
        assert(e->nactors < e->nshared + e->max_active);
        slot = e->nactors++;
        e->actors[slot] = zactor_new(zf_run_actor, &e->host_single);
    }
    t->slot = slot;
    zsock_send(e->actors[slot], "sp", "RUN", t);
}

//  A host gave a run back: free its place and start queued runs.
static void
s_release_slot(engine_t *e, zf_run_task_t *t)
{
    if (t->slot < e->nshared)
        e->load[t->slot]--;
    else
        e->idle[e->nidle++] = t->slot;
    t->slot = -1;
    e->nrunning--;
    zf_run_task_t *next;
    while (e->nrunning < e->max_active && (next = zlistx_detach(e->queue, NULL))) {
        s_queued_count(e, next->tenant, -1);
        s_dispatch(e, next);
    }
}

//  Takes ownership of a task whose run record is durable.
void
zf_eng_start_task(engine_t *e, zf_run_task_t *t)
{
    zhashx_insert(e->active, t->run_id, t);
    s_dispatch(e, t);
}

void
zf_eng_add_waiter(engine_t *e, const char *run_id, zf_msg_t *req)
{
    zlist_t *l = zhashx_lookup(e->waiters, run_id);
    if (!l) {
        l = zlist_new();
        zhashx_insert(e->waiters, run_id, l);
    }
    zlist_append(l, req);
}

//  Answers everyone waiting for this run to settle. A cancel that met the
//  run passivating (waiting, paused) goes into *cancels: it is applied to
//  the stored run once the task has left e->active.
static void
s_wake_waiters(engine_t *e, zf_run_task_t *t, zlist_t *cancels)
{
    zlist_t *l = zhashx_lookup(e->waiters, t->run_id);
    if (!l) return;
    zf_msg_t *req;
    const char *status = json_string_value(json_object_get(t->run, "status"));
    while ((req = zlist_pop(l))) {
        bool cancel = strcmp(req->type, "run.cancel") == 0;
        if (t->persist_failed)
            zf_eng_error(e, req, ZF_EIO, "storage failure; the run stays as last stored");
        else if (cancel && !zf_run_status_terminal(status)) {
            zlist_append(cancels, req);
            continue;
        } else if (cancel && strcmp(status, "cancelled") != 0)
            zf_eng_error(e, req, ZF_ECONFLICT, "run is already %s", status);
        else
            zf_eng_reply(e, req, json_pack("{s:O}", "run", t->run));
        zf_msg_destroy(&req);
    }
    zhashx_delete(e->waiters, t->run_id);
}

//  An actor hands a task back: finished, passivated, or interrupted.
static void
s_handle_done(engine_t *e)
{
    char *cmd = NULL;
    void *ptr = NULL;
    if (zsock_recv(e->done, "sp", &cmd, &ptr) < 0) return;
    bool mail = cmd && strcmp(cmd, "MAIL") == 0;
    zstr_free(&cmd);
    if (mail) {
        zf_eng_mail_done(e, ptr);
        return;
    }
    zf_run_task_t *t = ptr;
    if (!t) return;
    if (t->migrate) {
        e->load[t->slot]--;
        s_dispatch_dedicated(e, t);
        return;
    }
    s_release_slot(e, t);
    const char *status = json_string_value(json_object_get(t->run, "status"));
    json_t *ended = NULL;      // the run record when it just ended
    char child_wait[40] = "";  // set when the run now waits for a child
    json_t *wf = zf_eng_wf_load(e, t->tenant, t->wf_id);
    bool wf_exists = wf != NULL;
    json_decref(wf);
    if (!wf_exists) {  // deleted while the run was active: its last snapshot re-created it
        zf_batch_t *b = zf_batch_new();
        zf_rec_run_del(e->store, b, t->tenant, t->wf_id, t->run_id);
        zf_eng_commit(e, &b, zf_eng_cont(zf_eng_ignore_ack, NULL));
    }
    if (wf_exists && !t->interrupted && !t->persist_failed) {
        bool paused = strcmp(status, "paused") == 0 || strcmp(status, "waiting_for_child") == 0;
        if (strcmp(status, "waiting") == 0 || paused) {
            int64_t wake = json_integer_value(json_object_get(t->run, "wake_at"));
            if (wake > 0 && wake < e->next_timer) e->next_timer = wake;
            if (strcmp(status, "waiting_for_child") == 0)
                snprintf(child_wait, sizeof child_wait, "%s", t->run_id);
        } else if (strcmp(status, "completed") == 0) {  // the actor published the events
            zf_eng_wf_breaker(e, t, false);
        } else if (strcmp(status, "failed") == 0) {
            zf_eng_wf_breaker(e, t, true);
            zf_notify_failure(e->env.smtp_url, e->env.smtp_from, t->workflow, t->run);
        }
        if (zf_run_status_terminal(status)) {
            zf_eng_stats_run_end(e, t);
            ended = json_incref(t->run);
        }
    }
    zlist_t *cancels = zlist_new();
    if (!t->interrupted) s_wake_waiters(e, t, cancels);
    char tenant[sizeof t->tenant];
    snprintf(tenant, sizeof tenant, "%s", t->tenant);
    zhashx_delete(e->active, t->run_id);  // destroys the task
    //  Parents and children meet here, once neither is held by a host.
    if (ended) zf_eng_child_ended(e, tenant, ended);
    if (child_wait[0]) zf_eng_child_check_id(e, tenant, child_wait);
    json_decref(ended);
    zf_msg_t *req;
    while ((req = zlist_pop(cancels)))
        if (!zf_eng_cancel_passive(e, req)) zf_msg_destroy(&req);
    zlist_destroy(&cancels);
}

/* ---- waking runs: timers and recovery ------------------------------------------ */

//  Loads a stored run into a task. NULL if the run or workflow is gone.
zf_run_task_t *
zf_eng_load_task(engine_t *e, const char *tenant, const char *run_id)
{
    json_t *run = zf_rec_run_get(e->store, tenant, run_id);
    if (!run) return NULL;
    json_t *wf = zf_eng_wf_load(e, tenant, json_string_value(json_object_get(run, "workflow_id")));
    if (!wf) {
        json_decref(run);
        return NULL;
    }
    json_t *state = zf_rec_state_get(e->store, tenant, run_id);
    zf_run_task_t *t = zf_run_task_new(tenant, wf, run, state);
    json_decref(wf);
    return t;
}

typedef struct {
    engine_t *e;        // engine
    zf_batch_t *stale;  // timers that no longer match their run
    bool retry;         // a due timer must wait for a commit in flight
} s_timer_scan_t;

static void
s_timer_due(int64_t due, const char *tenant, const char *run_id, const char *kind, void *arg)
{
    s_timer_scan_t *scan = arg;
    engine_t *e = scan->e;
    if (kind && strcmp(kind, "schedule") == 0) {  // run_id is a schedule id here
        if (zf_eng_sched_fire(e, scan->stale, due, tenant, run_id)) scan->retry = true;
        return;
    }
    if (zhashx_lookup(e->active, run_id)) return;  // already being woken
    zf_run_task_t *t = zf_eng_load_task(e, tenant, run_id);
    const char *status = t ? json_string_value(json_object_get(t->run, "status")) : NULL;
    json_int_t wake = t ? json_integer_value(json_object_get(t->run, "wake_at")) : 0;
    bool passive = status && (strcmp(status, "waiting") == 0 || strcmp(status, "paused") == 0 ||
                              strcmp(status, "waiting_for_child") == 0);
    if (!t || !passive || wake != due) {
        zf_rec_timer_del(scan->stale, due, tenant, run_id);
        zf_run_task_destroy(&t);
        return;
    }
    t->timer_due = due;  // the actor's first snapshot clears it
    zf_eng_start_task(e, t);
}

static void
s_fire_timers(engine_t *e)
{
    int64_t now = zf_now_ms();
    if (e->next_timer > now) return;
    s_timer_scan_t scan = {.e = e, .stale = zf_batch_new()};
    int64_t next = INT64_MAX;
    //  Firing a schedule stages its next timer and lowers next_timer to it
    //  during the scan (it may be past already: queued catch-up).
    e->next_timer = INT64_MAX;
    zf_rec_timers_due(e->store, now, 1024, s_timer_due, &scan, &next);
    if (scan.retry && next > now + 20) next = now + 20;
    if (e->next_timer > next) e->next_timer = next;
    if (zf_batch_count(scan.stale) > 0)
        zf_eng_commit(e, &scan.stale, zf_eng_cont(zf_eng_ignore_ack, NULL));
    zf_batch_destroy(&scan.stale);
}

//  Start-up: every queued or running run resumes from its last snapshot.
//  Waiting runs stay passivated: their timers wake them.
static void
s_recover_one(const char *tenant, const char *run_id, void *arg)
{
    engine_t *e = arg;
    zf_run_task_t *t = zf_eng_load_task(e, tenant, run_id);
    if (!t) return;
    const char *status = json_string_value(json_object_get(t->run, "status"));
    if (strcmp(status, "queued") == 0 || strcmp(status, "running") == 0)
        zf_eng_start_task(e, t);
    else
        zf_run_task_destroy(&t);
}

/* ---- waits with deadlines --------------------------------------------------------
    run.start with wait=true parks the request until the run settles; the
    deadline is checked here, on the loop's own timeout. */

static int64_t
s_expire_waiters(engine_t *e, int64_t now)
{
    int64_t next = INT64_MAX;
    zlist_t *l;
    for (l = zhashx_first(e->waiters); l; l = zhashx_next(e->waiters)) {
        zf_msg_t *req = zlist_first(l);
        while (req) {
            zf_msg_t *nxt = zlist_next(l);
            if (req->deadline > 0 && req->deadline <= now) {
                zlist_remove(l, req);
                zf_eng_error(e, req, ZF_ETIMEOUT,
                             "run %s did not settle before wait_timeout_ms; it continues",
                             (const char *)zhashx_cursor(e->waiters));
                zf_msg_destroy(&req);
            } else if (req->deadline > 0 && req->deadline < next)
                next = req->deadline;
            req = nxt;
        }
    }
    return next;
}

/* ---- actor ------------------------------------------------------------------ */

static void
s_json_destructor(void **item)
{
    json_t *v = *item;
    json_decref(v);
    *item = NULL;
}

static void
s_task_destructor(void **item)
{
    zf_run_task_destroy((zf_run_task_t **)item);
}

static void
s_list_destructor(void **item)
{
    zlist_t *l = *item;
    zf_msg_t *m;
    while ((m = zlist_pop(l)))
        zf_msg_destroy(&m);
    zlist_destroy(&l);
    *item = NULL;
}

static void
s_self_destroy(engine_t **e_p)
{
    engine_t *e = *e_p;
    if (!e) return;
    for (int i = 0; i < e->nactors; i++)
        zactor_destroy(&e->actors[i]);
    //  Actors stopped at a step boundary; their tasks are on disk as they were.
    char *cmd = NULL;
    void *ptr = NULL;
    while (e->done && (zsock_events(e->done) & ZMQ_POLLIN) &&
           zsock_recv(e->done, "sp", &cmd, &ptr) == 0) {
        zstr_free(&cmd);
        zf_run_task_t *t = ptr;
        if (t) zhashx_delete(e->active, t->run_id);  // destroys the task
    }
    zlistx_destroy(&e->queue);  // queued tasks are owned by `active`
    zhashx_destroy(&e->queued_by);
    zhashx_destroy(&e->active);
    cont_t *c;
    for (c = zhashx_first(e->conts); c; c = zhashx_next(e->conts))
        s_cont_destroy(&c);
    zhashx_destroy(&e->conts);
    zhashx_destroy(&e->overlay);
    zhashx_destroy(&e->overlay_pending);
    zhashx_destroy(&e->names);
    zhashx_destroy(&e->waiters);
    zhashx_destroy(&e->key_cache);
    zhashx_destroy(&e->idem);
    zf_eng_data_stop(e);
    zf_eng_sched_stop(e);
    zpoller_destroy(&e->poller);
    zsock_destroy(&e->broker);
    zsock_destroy(&e->writer);
    zsock_destroy(&e->done);
    zf_breakers_destroy(&e->breakers);
    free(e->actors);
    free(e->load);
    free(e->idle);
    free(e);
    *e_p = NULL;
}

static zsock_t *
s_socket(int type, const char *endpoint, bool bind)
{
    zsock_t *s = zsock_new(type);
    zsock_set_sndhwm(s, 0);
    zsock_set_rcvhwm(s, 0);
    int rc = bind ? zsock_bind(s, "%s", endpoint) : zsock_connect(s, "%s", endpoint);
    if (rc < 0) zsock_destroy(&s);
    return s;
}

static engine_t *
s_self_new(zsock_t *pipe, s_args_t *args)
{
    const zf_engine_conf_t *conf = args->conf;
    engine_t *e = calloc(1, sizeof *e);
    assert(e);
    e->pipe = pipe;
    e->store = conf->store;
    e->max_active = conf->max_active > 0 ? conf->max_active : 1;
    e->test_clock = conf->test_clock;
    //  Default: half the cores. On 2 cores one compute thread beat two
    //  (BENCHMARKS.md, session 7): the other core serves the writer, the
    //  engine and the broker, and one host makes bigger commits.
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    e->nshared = conf->shared_hosts > 0 ? conf->shared_hosts : cores >= 4 ? (int)(cores / 2) : 1;
    e->actors = calloc((size_t)(e->nshared + e->max_active), sizeof(zactor_t *));
    e->load = calloc((size_t)e->nshared, sizeof(int));
    e->idle = calloc((size_t)e->max_active, sizeof(int));
    e->next_timer = 0;  // scan once at start
    e->conts = zhashx_new();
    e->overlay = zhashx_new();
    zhashx_set_destructor(e->overlay, s_json_destructor);
    e->overlay_pending = zhashx_new();
    e->names = zhashx_new();
    zhashx_set_destructor(e->names, (zhashx_destructor_fn *)zstr_free);
    zhashx_set_duplicator(e->names, (zhashx_duplicator_fn *)strdup);
    e->active = zhashx_new();
    zhashx_set_destructor(e->active, s_task_destructor);
    e->waiters = zhashx_new();
    zhashx_set_destructor(e->waiters, s_list_destructor);
    e->key_cache = zhashx_new();
    zhashx_set_destructor(e->key_cache, s_json_destructor);
    e->queue = zlistx_new();
    //  Default: ~1-2 s of backlog at W1 speed, at least 10,000 runs.
    e->max_queued = conf->max_queued             ? conf->max_queued
                    : e->max_active * 50 > 10000 ? (size_t)e->max_active * 50
                                                 : 10000;
    size_t half = e->max_queued / 2 ? e->max_queued / 2 : 1;
    e->max_queued_tenant = !conf->max_queued_tenant                  ? half
                           : conf->max_queued_tenant > e->max_queued ? e->max_queued
                                                                     : conf->max_queued_tenant;
    e->queued_by = zhashx_new();
    e->breakers = zf_breakers_new(NULL);
    snprintf(e->done_endpoint, sizeof e->done_endpoint, "inproc://zf-engine-done-%d",
             atomic_fetch_add(&s_instance, 1));
    //  HWMs are set before bind/connect (they apply to pipes created later):
    //  replies and finished tasks are never dropped; memory is the limit.
    e->done = s_socket(ZMQ_PULL, e->done_endpoint, true);
    e->writer = s_socket(ZMQ_DEALER, conf->writer_endpoint, false);
    e->broker = s_socket(ZMQ_DEALER, conf->service_endpoint, false);
    if (!e->done || !e->writer || !e->broker) {
        args->err = strdup("engine: cannot create sockets");
        s_self_destroy(&e);
        return NULL;
    }
    e->env = (zf_run_env_t){.writer_endpoint = conf->writer_endpoint,
                            .done_endpoint = e->done_endpoint,
                            .events_endpoint = conf->service_endpoint,
                            .egress = conf->egress,
                            .breakers = e->breakers,
                            .internal_endpoint = conf->internal_endpoint,
                            .smtp_url = conf->smtp_url,
                            .smtp_from = conf->smtp_from,
                            .links_url = conf->links_url,
                            .ai_url = conf->ai_url,
                            .ai_model = conf->ai_model,
                            .ai_key = conf->ai_key};
    e->host_shared = (zf_run_host_t){.env = &e->env, .shared = 1};
    e->host_single = (zf_run_host_t){.env = &e->env, .shared = 0};
    for (; e->nactors < e->nshared; e->nactors++)
        e->actors[e->nactors] = zactor_new(zf_run_actor, &e->host_shared);
    e->poller = zpoller_new(pipe, e->broker, e->writer, e->done, NULL);
    static const char *const prefixes[] = {"wf.",       "run.",      "key.",    "auth.",  "idem.",
                                           "rec.",      "events.",   "notify.", "sched.", "clock.",
                                           "evidence.", "approval.", "form.",   "mail.",  NULL};
    zf_eng_data_start(e);
    zf_eng_sched_start(e);
    zf_broker_announce(zsock_resolve(e->broker), "engine", prefixes);
    zf_rec_active_each(e->store, s_recover_one, e);
    return e;
}

//  Handles everything already queued on the work sockets, a bounded
//  number per socket per round, so one wake-up serves many messages
//  (a poll per message would dominate the profile).
static void
s_drain(engine_t *e)
{
    for (int round = 0; round < 64; round++) {
        int handled = 0;
        for (int i = 0; i < 32 && (zsock_events(e->writer) & ZMQ_POLLIN); i++, handled++)
            s_handle_writer(e);
        for (int i = 0; i < 32 && (zsock_events(e->done) & ZMQ_POLLIN); i++, handled++)
            s_handle_done(e);
        for (int i = 0; i < 32 && (zsock_events(e->broker) & ZMQ_POLLIN); i++, handled++) {
            zf_msg_t *req = zf_msg_recv(e->broker, true, NULL, NULL);
            if (req) zf_eng_handle_request(e, req);
        }
        if (!handled) break;
    }
    zf_eng_stats_flush(e, false);
}

static void
s_engine_actor(zsock_t *pipe, void *arg)
{
    s_args_t *args = arg;
    engine_t *e = s_self_new(pipe, args);
    zf_actor_name("zf-engine");
    zsock_signal(pipe, 0);
    if (!e) return;
    while (!e->terminated) {
        int64_t now = zf_now_ms();
        s_fire_timers(e);
        zf_eng_idem_tick(e, now);
        zf_eng_sec_tick(e);
        zf_eng_stats_flush(e, false);
        int64_t next = s_expire_waiters(e, now);
        if (e->next_timer < next) next = e->next_timer;
        int timeout = next == INT64_MAX ? 1000
                                        : (int)(next - now < 1      ? 1
                                                : next - now > 1000 ? 1000
                                                                    : next - now);
        void *which = zpoller_wait(e->poller, timeout);
        if (zpoller_terminated(e->poller)) break;
        if (which == pipe) {
            char *cmd = zstr_recv(pipe);
            if (!cmd || streq(cmd, "$TERM")) e->terminated = true;
            zstr_free(&cmd);
        } else if (which)
            s_drain(e);
    }
    zf_eng_sec_stop(e);
    zf_eng_stats_flush(e, true);  // best effort: the writer may already be stopping
    s_self_destroy(&e);
    zf_keys_thread_end();
}

zf_engine_t *
zf_engine_new(const zf_engine_conf_t *conf, char **err)
{
    zf_engine_t *self = calloc(1, sizeof *self);
    assert(self);
    s_args_t args = {.conf = conf};
    self->actor = zf_actor_start(s_engine_actor, &args, &args.err, err);
    if (!self->actor) {
        free(self);
        return NULL;
    }
    return self;
}

void
zf_engine_destroy(zf_engine_t **self_p)
{
    zf_engine_t *self = *self_p;
    if (!self) return;
    zactor_destroy(&self->actor);
    free(self);
    *self_p = NULL;
}
