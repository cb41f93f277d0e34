/*  actors/engine_int.h — engine internals shared by engine.c (loop,
    supervisor, timers, recovery) and engine_api.c (request handlers).
    Not a public header: only those two files (and engine_idem.c, the
    idem.* handlers) include it.
*/
#ifndef ZF_ENGINE_INT_H
#define ZF_ENGINE_INT_H

#include "actors/breaker.h"
#include "actors/engine.h"
#include "actors/run.h"
#include "broker/msg.h"
#include "storage/store.h"

#include <czmq.h>
#include <stdarg.h>

typedef struct engine_t engine_t;
typedef struct cont_t cont_t;
typedef struct zf_eng_sec_t zf_eng_sec_t;

//  Called when a staged commit is durable (rc 0) or failed (rc < 0).
typedef void(cont_fn)(engine_t *e, cont_t *c, int rc);

struct cont_t {
    cont_fn *fn;          // what to do on ack
    zf_msg_t *req;        // request to answer (owned), may be NULL
    json_t *data;         // handler data (owned), may be NULL
    zf_run_task_t *task;  // run to dispatch after the ack (owned), may be NULL
    char wf_key[128];     // workflow overlay entry to release ("" = none)
    char rec_key[224];    // record overlay entry to release ("" = none)
    char sched_key[128];  // schedule with this commit in flight ("" = none)
    zlist_t *tasks;       // more runs to dispatch after the ack (owned), may be NULL
    json_t *events;       // event.* messages to publish after the ack [{type, body}], may be NULL
};

struct engine_t {
    zsock_t *pipe;              // actor pipe
    zsock_t *broker;            // DEALER to the broker's service router
    zsock_t *writer;            // DEALER to the group-commit writer
    zsock_t *done;              // PULL: finished tasks from run actors
    zpoller_t *poller;          // pipe, broker, writer, done
    zf_store_t *store;          // reads
    zhashx_t *conts;            // commit id -> cont_t*
    zhashx_t *overlay;          // "tenant\x1fwf_id" -> latest staged workflow (json null = deleted)
    zhashx_t *overlay_pending;  // same key -> (void*)(intptr_t) commits in flight
    zhashx_t *names;            // "tenant\x1fname" -> wf_id being created/renamed, not yet acked
    zhashx_t *active;           // run_id -> zf_run_task_t* owned here (queued or in an actor)
    zhashx_t *waiters;          // run_id -> zlist of zf_msg_t* waiting for the run to settle
    zhashx_t *key_cache;        // sha256 hex -> json {tenant, role, id, at}
    zlistx_t *queue;            // zf_run_task_t* waiting for a free actor (durably "queued")
    zactor_t **actors;          // run hosts: [0, nshared) shared, then dedicated
    int nactors;                // started (shared ones at start, dedicated lazily)
    int nshared;                // shared hosts
    int *load;                  // runs on each shared host
    int *idle;                  // stack of idle dedicated host indexes
    int nidle;                  // entries on the stack
    int max_active;             // cap on runs in hosts; the rest queue
    size_t max_queued;          // queued runs beyond which clients' new runs are refused
    size_t max_queued_tenant;   // the same bound for the queued runs of one tenant
    zhashx_t *queued_by;        // tenant -> its runs in queue (uintptr_t), absent when none
    int nrunning;               // runs in hosts now
    zf_run_host_t host_shared;  // args of shared hosts
    zf_run_host_t host_single;  // args of dedicated hosts
    int64_t next_timer;         // earliest known due timer (INT64_MAX none)
    zf_breakers_t *breakers;    // per-host breakers shared by actors
    zf_run_env_t env;           // what actors get
    char done_endpoint[64];     // inproc endpoint of `done`
    zhashx_t *idem;             // engine_idem.c: staged idempotency records (NULL until used)
    int64_t idem_purge_at;      // engine_idem.c: next purge of expired idempotency records
    zhashx_t *triggers;      // engine_data.c: "tenant\x1ftype\x1fmodule" -> json set {wf_id: true}
    zhashx_t *hooks;         // engine_data.c: wf_id -> json tenant (webhook-triggered workflows)
    zhashx_t *stats;         // engine_data.c: "tenant\x1fwf_id" -> json stats (cache)
    zhashx_t *stats_dirty;   // engine_data.c: keys of stats to flush
    int64_t stats_flush_at;  // engine_data.c: next time stats may be written
    zhashx_t
        *rec_overlay;  // engine_data.c: "tenant\x1fmodule\x1fid" -> staged record (null = deleted)
    zhashx_t *rec_pending;  // engine_data.c: same key -> commits in flight
    zhashx_t *sched_busy;   // engine_sched.c: "tenant\x1fsched_id" -> commits in flight
    zf_eng_sec_t *sec;      // engine_keys.c: security event windows (NULL until the first)
    bool test_clock;        // clock.set allowed (zflow serve --test-clock)
    bool terminated;        // $TERM seen
};

/* engine.c */
void zf_eng_reply(engine_t *e, zf_msg_t *req, json_t *body);
void zf_eng_error(engine_t *e, zf_msg_t *req, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void zf_eng_verror(engine_t *e, zf_msg_t *req, int err, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));
void zf_eng_commit(engine_t *e, zf_batch_t **batch_p, cont_t *c);
cont_t *zf_eng_cont(cont_fn *fn, zf_msg_t *req);
json_t *zf_eng_wf_load(engine_t *e, const char *tenant, const char *wf_id);
void zf_eng_wf_stage(engine_t *e, zf_batch_t *b, cont_t *c, const char *tenant, json_t *wf,
                     const char *old_name, bool deleted);
void zf_eng_start_task(engine_t *e, zf_run_task_t *t);
void zf_eng_add_waiter(engine_t *e, const char *run_id, zf_msg_t *req);
void zf_eng_event(engine_t *e, const char *type, const char *tenant, const json_t *run,
                  const char *node_id);
json_t *zf_eng_run_view(engine_t *e, const char *tenant, const char *run_id);
//  Loads a stored run into a task. NULL if the run or workflow is gone.
zf_run_task_t *zf_eng_load_task(engine_t *e, const char *tenant, const char *run_id);

//  Replies with an error and returns 0: `return zf_eng_fail(...)` in a
//  handler means "answered, req not kept".
int zf_eng_fail(engine_t *e, zf_msg_t *req, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
//  A string member of a JSON object, or NULL.
static inline const char *
zf_eng_str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}
void zf_eng_error_detail(engine_t *e, zf_msg_t *req, int err, const char *detail, const char *fmt,
                         ...) __attribute__((format(printf, 5, 6)));

//  Continuations: nothing to do / reply c->data (stolen) or an internal error.
void zf_eng_ignore_ack(engine_t *e, cont_t *c, int rc);
void zf_eng_reply_data(engine_t *e, cont_t *c, int rc);

/* engine_api.c */
void zf_eng_handle_request(engine_t *e, zf_msg_t *req);
//  Reads an optional bounded integer field; -1 if present but invalid.
int zf_eng_int_field(const json_t *body, const char *k, json_int_t dflt, json_int_t lo,
                     json_int_t hi, json_int_t *out);
//  The request's "id": a non-empty string of at most 64 bytes, else NULL.
const char *zf_eng_req_id(const zf_msg_t *req);

/* engine_runs.c: run.* handlers */
int zf_eng_run_start(engine_t *e, zf_msg_t *req);
int zf_eng_run_get(engine_t *e, zf_msg_t *req);
int zf_eng_run_list(engine_t *e, zf_msg_t *req);
int zf_eng_run_cancel(engine_t *e, zf_msg_t *req);
//  Stages a new queued run of wf (record + fresh state) into b and returns
//  its task (start it after the ack). trigger (taken, may be NULL) is the
//  run's trigger context; inputs borrowed (NULL = {}).
zf_run_task_t *zf_eng_run_new(engine_t *e, zf_batch_t *b, const char *tenant, const json_t *wf,
                              const json_t *inputs, json_t *trigger, const char *user);
//  Refuses (answers "unavailable, retry") and returns true when a client's
//  request would add runs to a queue already max_queued long, or when the
//  caller's tenant has max_queued_tenant runs in it already: runs started
//  by events or run.start must not pile up without bound faster than they
//  execute, and one tenant's flood must leave room for the others. Callers
//  exempt what must not fail this way (child runs; schedules and retries
//  never ask).
bool zf_eng_overloaded(engine_t *e, zf_msg_t *req);
//  Takes a queued task out of the queue (it stays in e->active).
void zf_eng_queue_drop(engine_t *e, zf_run_task_t *t);
//  Continuation that starts c->task and c->tasks and publishes c->events.
void zf_eng_runs_started(engine_t *e, cont_t *c, int rc);
//  Cancels a stored run that no host holds (req kept: returns 1, or
//  answered: 0).
int zf_eng_cancel_passive(engine_t *e, zf_msg_t *req);
//  Whether events/schedules/webhooks may start wf (enabled and active).
bool zf_eng_wf_startable(const json_t *wf);

/* engine_resume.c: paused runs, approvals, forms, child runs */
int zf_eng_run_resume(engine_t *e, zf_msg_t *req);
int zf_eng_approval_get(engine_t *e, zf_msg_t *req);
int zf_eng_approval_decide(engine_t *e, zf_msg_t *req);
//  A run reached a terminal status: wake its parent if it waits for it.
void zf_eng_child_ended(engine_t *e, const char *tenant, const json_t *run);
//  A run passivated waiting for a child: the child may have ended already.
void zf_eng_child_check_id(engine_t *e, const char *tenant, const char *run_id);
//  run.start with "parent": the existing child of that node (new ref), or NULL.
json_t *zf_eng_child_existing(engine_t *e, const char *tenant, const json_t *parent);
int zf_eng_wf_stats_all(engine_t *e, zf_msg_t *req);
//  run.get's "children" of a run (new array).
json_t *zf_eng_children(engine_t *e, const char *tenant, const char *run_id);

/* engine_mail.c: mail.send on worker threads */
int zf_eng_mail_send(engine_t *e, zf_msg_t *req);
//  A worker's ["MAIL"][job] on the done socket: answer its request.
void zf_eng_mail_done(engine_t *e, void *job);

/* engine_keys.c: API keys and the test clock */
//  Key -> {tenant, role, id} through a short positive cache; NULL if the
//  key is unknown or revoked (new reference).
json_t *zf_eng_key_resolve(engine_t *e, const char *key);
int zf_eng_auth_resolve(engine_t *e, zf_msg_t *req);
int zf_eng_key_create(engine_t *e, zf_msg_t *req);
int zf_eng_key_list(engine_t *e, zf_msg_t *req);
int zf_eng_key_revoke(engine_t *e, zf_msg_t *req);
int zf_eng_clock_set(engine_t *e, zf_msg_t *req);
int zf_eng_evidence_collect(engine_t *e, zf_msg_t *req);  // engine_evidence.c

/* engine_data.c: records, events, the trigger index and fan-out */
void zf_eng_data_start(engine_t *e);
void zf_eng_data_stop(engine_t *e);
//  Keeps the trigger index in step with a staged workflow (old/new may be NULL).
void zf_eng_trig_update(engine_t *e, const char *tenant, const json_t *old_wf,
                        const json_t *new_wf);
//  A workflow with its stats attached (new reference).
//  The run statistics of a workflow (borrowed; valid until the next call).
const json_t *zf_eng_wf_stats(engine_t *e, const char *tenant, const char *wf_id);
json_t *zf_eng_wf_with_stats(engine_t *e, const char *tenant, const json_t *wf);
void zf_eng_stats_run_end(engine_t *e, zf_run_task_t *t);
//  Per-workflow circuit breaker: counts consecutive failed runs (persisted
//  in the workflow) and disables the workflow at its threshold.
void zf_eng_wf_breaker(engine_t *e, zf_run_task_t *t, bool failed);
//  Writes changed stats; without force at most every 200 ms.
void zf_eng_stats_flush(engine_t *e, bool force);
void zf_eng_stats_forget(engine_t *e, zf_batch_t *b, const char *tenant, const char *wf_id);
void zf_eng_rec_release(engine_t *e, const char *key);
int zf_eng_rec_create(engine_t *e, zf_msg_t *req);
int zf_eng_rec_get(engine_t *e, zf_msg_t *req);
int zf_eng_rec_list(engine_t *e, zf_msg_t *req);
int zf_eng_rec_update(engine_t *e, zf_msg_t *req);
int zf_eng_rec_delete(engine_t *e, zf_msg_t *req);
int zf_eng_events_ingest(engine_t *e, zf_msg_t *req);
int zf_eng_wf_test(engine_t *e, zf_msg_t *req);
int zf_eng_wf_webhook(engine_t *e, zf_msg_t *req);
int zf_eng_notify_create(engine_t *e, zf_msg_t *req);
int zf_eng_notify_list(engine_t *e, zf_msg_t *req);
/* engine_sched.c: schedules */
int zf_eng_sched_create(engine_t *e, zf_msg_t *req);
int zf_eng_sched_list(engine_t *e, zf_msg_t *req);
int zf_eng_sched_update(engine_t *e, zf_msg_t *req);
int zf_eng_sched_delete(engine_t *e, zf_msg_t *req);
//  Keeps a workflow's own schedule (trigger.type "schedule") in step.
void zf_eng_sched_wf_changed(engine_t *e, zf_batch_t *b, const char *tenant, const json_t *old_wf,
                             const json_t *new_wf);
void zf_eng_sched_wf_deleted(engine_t *e, zf_batch_t *b, const char *tenant, const char *wf_id);
//  A schedule timer is due. Returns 0 if handled (fired or found stale),
//  1 if the schedule has a commit in flight (try again shortly).
int zf_eng_sched_fire(engine_t *e, zf_batch_t *stale, int64_t due, const char *tenant,
                      const char *sched_id);
void zf_eng_sched_release(engine_t *e, const char *key);
void zf_eng_sched_start(engine_t *e);
void zf_eng_sched_stop(engine_t *e);

//  Continuation: replies c->data, then starts c's runs and publishes its events.
void zf_eng_reply_started(engine_t *e, cont_t *c, int rc);
//  {id} of the request's user, or NULL (new reference).
json_t *zf_eng_user_json(const zf_msg_t *req);
//  The record a request names by record_id (in body.module, default the
//  workflow's trigger module), or its inline body.record when allow_inline.
//  0 with *rec (new ref; NULL when none named), or -1 after replying the
//  error (record_not_found as not_found with that detail).
int zf_eng_named_record(engine_t *e, zf_msg_t *req, const json_t *wf, bool allow_inline,
                        json_t **rec);

/* engine_auto.c: stats, dry runs, webhooks, notifications */

//  Loads a record, staged version first (new reference or NULL).
json_t *zf_eng_rec_load(engine_t *e, const char *tenant, const char *module, const char *id);

/* engine_idem.c: idem.* handlers (return 1 if they kept req) and the purge tick */
int zf_eng_idem_claim(engine_t *e, zf_msg_t *req);
int zf_eng_idem_store(engine_t *e, zf_msg_t *req);
int zf_eng_idem_release(engine_t *e, zf_msg_t *req);
void zf_eng_idem_tick(engine_t *e, int64_t now);

/* ---- engine side: security events (actors/engine_keys.c) ---------------------
    Failed authentications with a revoked key (auth.failed) and refused
    requests of authenticated tenants (access.denied) are counted in memory
    per (tenant, key, action, origin, request type) and written as one
    event per window (ZF_SECURITY_WINDOW_MS, default 60 s) with a count, so
    a flood costs no write per request. Events live in storage/security.c;
    a tenant keeps at most 10,000 (ZF_SECURITY_MAX_EVENTS lowers it) and
    none older than 90 days, pruned in the batches that add new ones.
    Engine thread only; state in engine_t.sec. */

#define ZF_SEC_KEEP_MS (90LL * 24 * 3600 * 1000)  // security events are kept at most 90 days

//  Key -> grant, as zf_eng_key_resolve (new reference, NULL if unknown or
//  revoked). A key that exists but is revoked is noted as auth.failed of
//  its tenant: origin "zmq" or "http", request its message type or NULL.
//  Unknown keys have no tenant: only a process counter (logged per window).
json_t *zf_eng_key_auth(engine_t *e, const char *key, const char *origin, const char *request);
//  req (of an authenticated tenant) was refused as forbidden: notes an
//  access.denied. level: the route's minimum, 1..4 a role (viewer..owner),
//  higher an endpoint restriction (no role would do).
void zf_eng_sec_denied(engine_t *e, const zf_msg_t *req, int level);
//  auth.note from the in-process HTTP front end: a request its own role
//  check refused (access.denied, origin http); never answered.
int zf_eng_sec_note(engine_t *e, zf_msg_t *req);
//  Writes the events whose window has ended. Cheap when none has: the
//  engine calls it for every request and from its periodic tick.
void zf_eng_sec_tick(engine_t *e);
//  Shutdown: writes every open window (best effort) and frees the state.
void zf_eng_sec_stop(engine_t *e);
//  Continues a request once the security events are durable; returns 1 if
//  it kept req (the caller destroys req on 0).
typedef int(zf_eng_sec_fn)(engine_t *e, zf_msg_t *req);
//  Closes the open windows of req's tenant early and calls fn(e, req) once
//  everything noted so far is on disk: at once (returning fn's result) when
//  nothing is pending, else after the commit (returns 1: req kept).
int zf_eng_sec_sync(engine_t *e, zf_msg_t *req, zf_eng_sec_fn *fn);

#endif
