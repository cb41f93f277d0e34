/*  actors/run.c — the run actor: executes nodes, snapshots after each. */
#include "actors/run_int.h"
#include "actors/keys.h"
#include "actors/template.h"
#include "broker/broker.h"
#include "broker/client.h"
#include "broker/errors.h"
#include "broker/actor.h"
#include "broker/codec.h"
#include "broker/ids.h"
#include "broker/msg.h"
#include "storage/writer.h"

#include <inttypes.h>

#include <string.h>

#define S_ACK_TIMEOUT_MS 60000  // a writer that does not ack in a minute is broken

//  A snapshot of one run, sent to the writer, waiting for its durable ack.
typedef struct {
    zf_run_task_t *task;      // run that waits (owned by the engine)
    int64_t timer_due;        // timer armed by this snapshot (0 = none)
    bool has_log;             // the snapshot carried a log entry
    bool advance;             // status stays running: the run has more steps
    char status[16];          // status the snapshot stores
    char node_id[72];         // step event to publish once durable ("" = none)
    const char *step_status;  // its log status (static string)
    char error[256];          // its error ("" = none)
} s_pending_t;

//  Snapshots of one pass over the ready runs, staged into ONE batch and
//  handed to the writer as one store.commit (one request, one ack). The
//  host computes the next pass while the writer commits this one.
typedef struct {
    zf_batch_t *batch;   // staged snapshots (until sent)
    s_pending_t **runs;  // what each snapshot's ack applies to (owned)
    size_t n;            // snapshots staged
    size_t cap;          // room in runs
    int64_t sent;        // when the message left (monotonic ms)
} s_outbox_t;

typedef struct {
    zsock_t *pipe;            // engine -> host commands
    zsock_t *writer;          // DEALER to the group-commit writer
    zsock_t *done;            // PUSH to the engine
    zsock_t *events;          // DEALER to the broker: step events (NULL = none)
    zsock_t *client;          // DEALER to the broker for steps' requests (lazy)
    zpoller_t *poller;        // pipe, writer
    const zf_run_env_t *env;  // shared configuration
    bool shared;              // hosts many runs; blocking steps migrate
    zlistx_t *ready;          // zf_run_task_t* to advance (tasks are the engine's)
    s_outbox_t *out;          // snapshots of this pass, not sent yet (NULL = none)
    zhashx_t *pending;        // snapshot message id -> s_outbox_t* sent (owned)
    uint64_t seq;             // commits sent (request ids)
    int64_t next_sweep;       // next check for acks that never came (monotonic ms)
    bool terminated;          // $TERM seen: finish acks in flight, then hand back
} self_t;

/* ---- snapshots ------------------------------------------------------------- */

static void
s_hand_back(self_t *self, zf_run_task_t *t)
{
    zsock_send(self->done, "sp", "DONE", t);
}

static void
s_outbox_destroy(s_outbox_t **self_p)
{
    s_outbox_t *o = *self_p;
    if (!o) return;
    zf_batch_destroy(&o->batch);
    for (size_t i = 0; i < o->n; i++)
        free(o->runs[i]);
    free(o->runs);
    free(o);
    *self_p = NULL;
}

static void
s_outbox_free(void **item)
{
    s_outbox_destroy((s_outbox_t **)item);
}

//  Stages record (unless unchanged) + state (+ log entry) of a run into
//  this pass's outbox; the run continues when the durable ack arrives
//  (s_on_ack). Takes p. timer_due > 0 arms a wake-up.
static void
s_snapshot(self_t *self, zf_run_task_t *t, const void *log, size_t log_len, int64_t timer_due,
           const char *timer_kind, s_pending_t *p, const json_t *token)
{
    if (!self->out) {
        self->out = calloc(1, sizeof *self->out);
        assert(self->out);
        self->out->batch = zf_batch_new();
    }
    s_outbox_t *o = self->out;
    json_object_set_new(t->state, "logSeq", json_integer(t->log_seq + (log ? 1 : 0)));
    const char *status = json_string_value(json_object_get(t->run, "status"));
    //  Between two steps of a running run only the record's updated_at
    //  moves: the stored record stays (updated_at on disk = the last
    //  status change), one memtable entry and one encoding less per step.
    bool keep = timer_due == 0 && !token && strcmp(status, "running") == 0 &&
                strcmp(t->stored_status, "running") == 0;
    zf_rec_snapshot_put(o->batch, &(zf_rec_snapshot_t){
                                      .tenant = t->tenant,
                                      .run_id = t->run_id,
                                      .wf_id = t->wf_id,
                                      .status = status,
                                      .prev_status = t->stored_status[0] ? t->stored_status : NULL,
                                      .rec = keep ? NULL : t->run,
                                      .state = t->state,
                                      .log = log,
                                      .log_len = log_len,
                                      .log_seq = t->log_seq,
                                      .timer_due = timer_due,
                                      .timer_kind = timer_kind,
                                      .timer_clear = t->timer_due,
                                      .token = token,
                                  });
    p->task = t;
    p->timer_due = timer_due;
    p->has_log = log != NULL;
    snprintf(p->status, sizeof p->status, "%s", status);
    if (o->n == o->cap) {
        o->cap = o->cap ? 2 * o->cap : 16;
        o->runs = realloc(o->runs, o->cap * sizeof *o->runs);
        assert(o->runs);
    }
    o->runs[o->n++] = p;
}

//  Hands the outbox's batch to the writer as one store.commit. If it
//  cannot be sent, every run in it goes back as last stored.
static void
s_flush(self_t *self)
{
    s_outbox_t *o = self->out;
    if (!o) return;
    self->out = NULL;
    char id[40];
    snprintf(id, sizeof id, "snap-%" PRIu64, ++self->seq);
    o->sent = zclock_mono();
    if (zf_writer_submit(self->writer, &o->batch, id) != 0) {
        for (size_t i = 0; i < o->n; i++) {
            o->runs[i]->task->persist_failed = 1;
            s_hand_back(self, o->runs[i]->task);
        }
        s_outbox_destroy(&o);
        return;
    }
    zhashx_insert(self->pending, id, o);
}

//  A snapshot whose step produced no event (cancel, empty tail).
static void
s_snapshot_final(self_t *self, zf_run_task_t *t)
{
    s_pending_t *p = calloc(1, sizeof *p);
    assert(p);
    s_snapshot(self, t, NULL, 0, 0, "", p, NULL);
}

/* ---- executing ------------------------------------------------------------- */

/* ---- steps' requests and templates -------------------------------------------- */

typedef struct {
    self_t *self;         // host
    zf_run_task_t *task;  // run making the request
} s_call_t;

//  ctx->call: one request to a service as the run's tenant (role admin: the
//  automation acts with the rights its creator needed to define it).
static int
s_call(void *arg, const char *type, json_t *body, json_t **reply, char *err, size_t errlen)
{
    s_call_t *c = arg;
    self_t *self = c->self;
    *reply = NULL;
    if (!self->client && self->env->internal_endpoint)
        self->client = zf_client_dealer_new(self->env->internal_endpoint);
    if (!self->client) {
        json_decref(body);
        snprintf(err, errlen, "no service connection");
        return ZF_EUNAVAIL;
    }
    zf_msg_t *m = zf_msg_new(type), *rep = NULL;
    zf_msg_set_body(m, body);
    snprintf(m->tenant, sizeof m->tenant, "%s", c->task->tenant);
    snprintf(m->role, sizeof m->role, "admin");
    const char *user = json_string_value(json_object_get(c->task->run, "created_by"));
    snprintf(m->user, sizeof m->user, "%s", user ? user : "");
    int rc = zf_client_call(self->client, &m, 15000, &rep);
    if (rc) {
        snprintf(err, errlen, "%s",
                 rc == ZF_ETIMEOUT ? "service timed out" : "service unavailable");
        return rc;
    }
    const char *code = zf_msg_error_code(rep);
    if (code) {
        rc = zf_err_from_name(code);
        const char *detail = json_string_value(json_object_get(rep->body, "detail"));
        snprintf(err, errlen, "%s%s%s", detail ? detail : "", detail ? ": " : "",
                 zf_msg_error_message(rep) ? zf_msg_error_message(rep) : code);
    } else
        *reply = json_incref(rep->body);
    zf_msg_destroy(&rep);
    return rc;
}

//  The node's config with {{templates}} rendered (new ref), or NULL with err.
static json_t *
s_render_config(const zf_step_ctx_t *ctx, const json_t *cfg, char *err, size_t errlen)
{
    if (!zf_tpl_has_value(cfg)) return json_incref((json_t *)cfg);
    json_t *root = zf_step_template_root(ctx);
    zf_tpl_scope_t scope = {.root = root, .now_ms = ctx->now_ms};
    json_t *out = zf_tpl_render_value(&scope, cfg, err, errlen);
    json_decref(root);
    return out;
}

//  A variable stored apart (storage/store.h) that a step replaces must be
//  stored again: before the step each one is held (so no new value can
//  take its address), after it any that is no longer the same value is
//  marked changed (s_apart_vars_check).
static json_t *
s_apart_vars_hold(zf_run_task_t *t)
{
    json_t *apart = json_object_get(t->state, "variablesApart");
    if (!json_is_object(apart) || json_object_size(apart) == 0) return NULL;
    json_t *vars = zf_run_st(t, "variables"), *held = json_object(), *x;
    const char *name;
    void *tmp;
    json_object_foreach_safe (apart, tmp, name, x) {
        json_t *v = json_object_get(vars, name);
        if (v)
            json_object_set(held, name, v);
        else
            zf_rec_state_changed(t->state, "variables", name);  // gone: its entry goes too
    }
    return held;
}

static void
s_apart_vars_check(zf_run_task_t *t, json_t *held)
{
    const char *name;
    json_t *v, *vars = zf_run_st(t, "variables");
    json_object_foreach (held, name, v) {
        if (json_object_get(vars, name) != v) zf_rec_state_changed(t->state, "variables", name);
    }
    json_decref(held);
}

//  Fills the context for one node and executes its kind.
static void
s_exec_node(self_t *self, zf_run_task_t *t, zf_run_step_t *st, zf_step_result_t *res)
{
    const json_t *node = st->node;
    const char *from = json_string_value(json_object_get(node, "input_from"));
    const json_t *inputs = json_object_get(t->run, "inputs");
    const json_t *input = from ? json_object_get(zf_run_st(t, "stepOutputs"), from) : inputs;
    json_t *wait = zf_run_st(t, "wait");
    const char *wait_node = json_string_value(json_object_get(wait, "node_id"));
    const char *wait_kind = json_string_value(json_object_get(wait, "kind"));
    json_t *cfg = json_object_get(node, "config");
    s_call_t call = {.self = self, .task = t};
    zf_step_ctx_t ctx = {
        .tenant = t->tenant,
        .run_id = t->run_id,
        .workflow_id = t->wf_id,
        .node_id = st->id,
        .node = node,
        .input = input ? input : json_null(),
        .inputs = inputs,
        .vars = zf_run_st(t, "variables"),
        .steps = zf_run_st(t, "stepOutputs"),
        .attempt = st->attempt,
        .resumed = wait_node && strcmp(wait_node, st->id) == 0 && wait_kind &&
                   (strcmp(wait_kind, "delay") == 0 || strcmp(wait_kind, "suspend") == 0),
        .now_ms = st->started,
        .timeout_ms = json_integer_value(json_object_get(node, "timeout_ms")),
        .egress = self->env->egress,
        .breakers = self->env->breakers,
        .smtp_url = self->env->smtp_url,
        .smtp_from = self->env->smtp_from,
        .trigger = json_object_get(t->run, "trigger"),
        .call = s_call,
        .call_arg = &call,
        .links_url = self->env->links_url,
        .ai_url = self->env->ai_url,
        .ai_model = self->env->ai_model,
        .ai_key = self->env->ai_key,
    };
    json_t *resume = zf_run_st(t, "resume");
    if (ctx.resumed && json_is_object(resume)) ctx.resume = resume;
    zf_step_result_clear(res);
    const zf_step_kind_t *kind = zf_step_find(json_string_value(json_object_get(node, "type")));
    char err[200];
    //  A kind may render one config key itself (a loop's inner step, once
    //  per item): that key is set aside and put back unrendered.
    const char *raw = kind ? kind->raw_key : NULL;
    json_t *kept = raw ? json_object_get(cfg, raw) : NULL;
    json_t *own = kept ? json_copy(cfg) : json_incref(cfg);
    if (kept) json_object_del(own, raw);
    json_t *rendered = own ? s_render_config(&ctx, own, err, sizeof err) : json_object();
    json_decref(own);
    if (kept && rendered) {
        json_t *copy = json_copy(rendered);
        json_decref(rendered);
        json_object_set(copy, raw, kept);
        rendered = copy;
    }
    if (!kind)
        zf_step_fail(res, ZF_STEP_FAIL_FINAL, "unknown step type");
    else if (!rendered)
        zf_step_fail(res, ZF_STEP_FAIL_FINAL, "template: %s", err);
    else {
        json_t *held = s_apart_vars_hold(t);
        kind->exec(&ctx, rendered, res);
        s_apart_vars_check(t, held);
    }
    json_decref(rendered);
}

//  Publishes an event of run t: {tenant, run_id, workflow_id, status
//  (the run's unless given)} plus the fields of extra (taken; may be
//  NULL). Built only while someone listens; best effort: a full queue
//  drops the event rather than delaying the run.
static bool
s_events_wanted(const self_t *self)
{
    return self->events && zf_broker_events_wanted();
}

static void
s_publish(self_t *self, zf_run_task_t *t, const char *type, const char *status, json_t *extra)
{
    if (!s_events_wanted(self)) {
        json_decref(extra);
        return;
    }
    zf_msg_t *m = zf_msg_new(type);
    snprintf(m->tenant, sizeof m->tenant, "%s", t->tenant);
    json_t *body = json_pack("{s:s, s:s, s:s, s:O?}", "tenant", t->tenant, "run_id", t->run_id,
                             "workflow_id", t->wf_id, "status", json_object_get(t->run, "status"));
    if (status) json_object_set_new(body, "status", json_string(status));
    if (extra) json_object_update(body, extra);
    json_decref(extra);
    zf_msg_set_body(m, body);
    m->route = zmsg_new();
    zmsg_addmem(m->route, "", 0);
    zf_msg_send(&m, self->events, ZMQ_DONTWAIT);
}

//  event.run.step, once the step is durable.
static void
s_step_event(self_t *self, zf_run_task_t *t, const char *node_id, const char *step_status,
             const char *error)
{
    if (!s_events_wanted(self)) return;  // build nothing nobody reads
    s_publish(self, t, "event.run.step", NULL,
              json_pack("{s:s, s:s, s:s?}", "node_id", node_id, "step_status", step_status, "error",
                        error));
}

//  The run-level event of a run leaving its host (completed, failed,
//  waiting, paused), published on the same socket as its step events and
//  after them: subscribers see a run's steps before its end.
static void
s_run_event(self_t *self, zf_run_task_t *t)
{
    const char *status = json_string_value(json_object_get(t->run, "status"));
    const char *type = !status                            ? NULL
                       : strcmp(status, "completed") == 0 ? "event.run.completed"
                       : strcmp(status, "failed") == 0    ? "event.run.failed"
                       : strcmp(status, "waiting") == 0   ? "event.run.waiting"
                       : strcmp(status, "paused") == 0 || strcmp(status, "waiting_for_child") == 0
                           ? "event.run.paused"
                           : NULL;
    if (type && s_events_wanted(self))
        s_publish(self, t, type, NULL,
                  json_pack("{s:O?}", "error", json_object_get(t->run, "error")));
}

//  event.run.started of a run whose record its first snapshot created (a
//  run.start with wait=true, see engine_runs.c): published once durable,
//  like the engine does for runs it stores itself.
static void
s_started_event(self_t *self, zf_run_task_t *t)
{
    s_publish(self, t, "event.run.started", "running", NULL);
}

//  Runs one node to its outcome and sends the snapshot; the run goes on
//  when the ack arrives.
static void
s_step(self_t *self, zf_run_task_t *t, const json_t *nodes, int idx)
{
    zf_run_step_t st = {.node = json_array_get(nodes, (size_t)idx)};
    st.id = json_string_value(json_object_get(st.node, "id"));
    st.attempt = (int)json_integer_value(json_object_get(zf_run_st(t, "retryCount"), st.id)) + 1;
    st.started = zf_now_ms();
    if (!zf_run_in_list(zf_run_st(t, "pendingNodeIds"), st.id))
        json_array_append_new(zf_run_st(t, "pendingNodeIds"), json_string(st.id));
    zf_step_result_t res = {0};  // clear() releases output: never pass garbage
    s_exec_node(self, t, &st, &res);
    int64_t now = zf_now_ms(), wake = 0;
    const char *status, *log_status, *kind = NULL;
    json_t *token = NULL;
    json_object_del(t->state, "resume");  // consumed by this exec (if it was for it)
    switch (res.status) {
    case ZF_STEP_OK:
    case ZF_STEP_STOP:
        status = zf_run_on_success(t, nodes, &st, &res);
        log_status = "completed";
        break;
    case ZF_STEP_WAIT:
    case ZF_STEP_BLOCKED:
        status = "waiting";
        wake = res.wake_at_ms;
        kind = res.status == ZF_STEP_WAIT ? "delay" : "breaker";
        log_status = res.status == ZF_STEP_WAIT ? "waiting" : "blocked";
        break;
    case ZF_STEP_SUSPEND:
        status = log_status = zf_run_on_suspend(t, &st, &res, &wake, &token);
        kind = "deadline";
        break;
    default:
        status = zf_run_on_failure(t, &st, &res, &wake);
        kind = "retry";
        log_status = strcmp(status, "waiting") == 0 ? "retrying" : "failed";
        break;
    }
    if (wake > 0 && res.status != ZF_STEP_SUSPEND) {
        json_object_set_new(t->state, "wait",
                            json_pack("{s:s, s:I, s:s}", "node_id", st.id, "until",
                                      (json_int_t)wake, "kind", kind));
        json_object_set_new(t->run, "wake_at", json_integer(wake));
    }
    zf_run_set_status(t, status, now);
    const char *err = res.error[0] ? res.error : NULL;
    size_t log_len = 0;
    void *log = zf_run_log_encode(t, st.node, log_status, st.attempt, st.started, now, res.output,
                                  err, &log_len);
    json_decref(res.output);
    s_pending_t *p = calloc(1, sizeof *p);
    assert(p);
    p->advance = strcmp(status, "running") == 0;
    snprintf(p->node_id, sizeof p->node_id, "%s", st.id);
    p->step_status = log_status;
    snprintf(p->error, sizeof p->error, "%s", err ? err : "");
    s_snapshot(self, t, log, log_len, wake, kind ? kind : "", p, token);
    free(log);
    json_decref(token);
}

//  Takes the run one step further: cancel, finish, migrate, or execute
//  the next node.
static void
s_advance(self_t *self, zf_run_task_t *t)
{
    const json_t *nodes = json_object_get(json_object_get(t->workflow, "definition"), "nodes");
    if (atomic_load(&t->cancel)) {
        zf_run_set_status(t, "cancelled", zf_now_ms());
        s_snapshot_final(self, t);
        return;
    }
    int idx = zf_run_next_node(t, nodes);
    if (idx < 0) {  // nothing (left) to run: e.g. an empty workflow
        zf_run_set_status(t, "completed", zf_now_ms());
        s_snapshot_final(self, t);
        return;
    }
    const json_t *node = json_array_get(nodes, (size_t)idx);
    const zf_step_kind_t *kind = zf_step_find(json_string_value(json_object_get(node, "type")));
    if (self->shared && kind && !kind->cpu_only) {
        t->migrate = 1;
        s_hand_back(self, t);
        return;
    }
    s_step(self, t, nodes, idx);
}

//  One run's snapshot is durable: publish its step and let the run go on
//  (or hand it back when it left the running state).
static void
s_applied(self_t *self, s_pending_t *p)
{
    zf_run_task_t *t = p->task;
    if (p->has_log) t->log_seq++;
    if (!t->stored_status[0]) s_started_event(self, t);  // this snapshot created the run
    snprintf(t->stored_status, sizeof t->stored_status, "%s", p->status);
    t->timer_due = p->timer_due;  // the armed timer (if any) is the one to clear next
    if (p->node_id[0])
        s_step_event(self, t, p->node_id, p->step_status, p->error[0] ? p->error : NULL);
    if (!p->advance) s_run_event(self, t);
    if (p->advance)
        zlistx_add_end(self->ready, t);
    else
        s_hand_back(self, t);
}

//  The writer's ack for one pass's store.commit.
static void
s_on_ack(self_t *self)
{
    zf_msg_t *r = zf_msg_recv(self->writer, true, NULL, NULL);
    if (!r) return;
    s_outbox_t *o = zhashx_lookup(self->pending, r->corr);
    if (!o) {  // swept as lost; the engine already has the runs back
        zf_msg_destroy(&r);
        return;
    }
    for (size_t i = 0; i < o->n; i++) {
        if (r->kind == ZF_MSG_REPLY_OK) {
            s_applied(self, o->runs[i]);
            continue;
        }
        zf_run_task_t *t = o->runs[i]->task;
        zsys_error("run %s: snapshot refused: %s", t->run_id, zf_msg_error_message(r));
        t->persist_failed = 1;
        s_hand_back(self, t);
    }
    zhashx_delete(self->pending, r->corr);  // frees o
    zf_msg_destroy(&r);
}

//  A writer that does not ack within S_ACK_TIMEOUT_MS is broken: the run
//  goes back to the engine as it was last stored.
static void
s_sweep_lost(self_t *self)
{
    int64_t now = zclock_mono();
    if (now < self->next_sweep) return;
    self->next_sweep = now + 1000;
    zlistx_t *lost = zlistx_new();
    zlistx_set_duplicator(lost, (zlistx_duplicator_fn *)strdup);
    zlistx_set_destructor(lost, (zlistx_destructor_fn *)zstr_free);
    s_outbox_t *o;
    for (o = zhashx_first(self->pending); o; o = zhashx_next(self->pending))
        if (now - o->sent > S_ACK_TIMEOUT_MS)
            zlistx_add_end(lost, (void *)zhashx_cursor(self->pending));
    for (const char *id = zlistx_first(lost); id; id = zlistx_next(lost)) {
        o = zhashx_lookup(self->pending, id);
        for (size_t i = 0; i < o->n; i++) {
            zf_run_task_t *t = o->runs[i]->task;
            zsys_error("run %s: no snapshot ack in %d ms", t->run_id, S_ACK_TIMEOUT_MS);
            t->persist_failed = 1;
            s_hand_back(self, t);
        }
        zhashx_delete(self->pending, id);
    }
    zlistx_destroy(&lost);
}

//  A run arrives (new, woken, recovered or migrated).
static void
s_begin(self_t *self, zf_run_task_t *t)
{
    int64_t now = zf_now_ms();
    if (!json_is_integer(json_object_get(t->run, "started_at")))
        json_object_set_new(t->run, "started_at", json_integer(now));
    zf_run_set_status(t, "running", now);
    t->migrate = 0;
    zlistx_add_end(self->ready, t);
}

static void
s_handle_pipe(self_t *self)
{
    char *name = NULL;
    void *ptr = NULL;
    if (zsock_recv(self->pipe, "sp", &name, &ptr) < 0) {
        self->terminated = true;
        return;
    }
    if (name && streq(name, "RUN") && ptr)
        s_begin(self, ptr);
    else if (!name || streq(name, "$TERM"))
        self->terminated = true;
    zstr_free(&name);
}

/* ---- actor ---------------------------------------------------------------- */

//  Stopping: every run still here goes back unfinished; each is on disk as
//  its last acked snapshot left it, and recovery resumes it from there.
static void
s_hand_back_all(self_t *self)
{
    zf_run_task_t *t;
    while ((t = zlistx_detach(self->ready, NULL))) {
        t->interrupted = 1;
        s_hand_back(self, t);
    }
    s_outbox_t *o;
    for (o = zhashx_first(self->pending); o; o = zhashx_next(self->pending))
        for (size_t i = 0; i < o->n; i++) {
            o->runs[i]->task->interrupted = 1;
            s_hand_back(self, o->runs[i]->task);
        }
    zhashx_purge(self->pending);
}

//  Drains what is queued on the sockets, advances every ready run (so their
//  snapshots meet in one group commit), and sleeps only when idle.
static void
s_loop(self_t *self)
{
    int64_t stop_by = 0;
    for (;;) {
        while (!self->terminated && (zsock_events(self->pipe) & ZMQ_POLLIN))
            s_handle_pipe(self);
        for (int i = 0; i < 1024 && (zsock_events(self->writer) & ZMQ_POLLIN); i++)
            s_on_ack(self);
        if (self->terminated) {
            //  Let snapshots in flight land (briefly), then stop.
            if (!stop_by) stop_by = zclock_mono() + 1000;
            if (zhashx_size(self->pending) == 0 || zclock_mono() > stop_by) break;
        } else if (zlistx_size(self->ready) > 0) {
            for (int i = 0; i < 256; i++) {
                zf_run_task_t *t = zlistx_detach(self->ready, NULL);
                if (!t) break;
                s_advance(self, t);
            }
            s_flush(self);
            continue;
        }
        s_sweep_lost(self);
        zpoller_wait(self->poller, self->terminated ? 50 : 1000);
        if (zpoller_terminated(self->poller)) self->terminated = true;
    }
    s_hand_back_all(self);
}

void
zf_run_actor(zsock_t *pipe, void *arg)
{
    const zf_run_host_t *host = arg;
    const zf_run_env_t *env = host->env;
    self_t self = {.pipe = pipe, .env = env, .shared = host->shared};
    self.writer = zsock_new_dealer(env->writer_endpoint);
    self.done = zsock_new_push(env->done_endpoint);
    if (env->events_endpoint) {
        self.events = zsock_new(ZMQ_DEALER);
        zsock_set_sndhwm(self.events, 10000);  // events are best effort: drop, never block
        zsock_connect(self.events, "%s", env->events_endpoint);
    }
    assert(self.writer && self.done);
    zsock_set_sndhwm(self.done, 0);  // never drop a finished task
    self.poller = zpoller_new(pipe, self.writer, NULL);
    self.ready = zlistx_new();
    self.pending = zhashx_new();
    zhashx_set_destructor(self.pending, s_outbox_free);
    zf_actor_name(host->shared ? "zf-run-shared" : "zf-run");
    zsock_signal(pipe, 0);
    s_loop(&self);
    zhashx_destroy(&self.pending);
    zlistx_destroy(&self.ready);
    zpoller_destroy(&self.poller);
    zsock_destroy(&self.writer);
    zsock_destroy(&self.done);
    zsock_destroy(&self.events);
    zsock_destroy(&self.client);
    zf_keys_thread_end();
}
