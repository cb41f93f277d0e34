/*  actors/run.c — the run actor: executes nodes, snapshots after each. */
#include "actors/run.h"
#include "actors/definition.h"
#include "actors/keys.h"
#include "actors/step.h"
#include "actors/template.h"
#include "broker/client.h"
#include "broker/errors.h"
#include "broker/actor.h"
#include "broker/codec.h"
#include "broker/ids.h"
#include "broker/msg.h"

#include <string.h>

#define S_LOG_OUTPUT_MAX 500    // log entries keep this many chars of output
#define S_ACK_TIMEOUT_MS 60000  // a writer that does not ack in a minute is broken

//  A snapshot sent to the writer, waiting for its durable ack.
typedef struct {
    zf_run_task_t *task;      // run that waits (owned by the engine)
    int64_t sent;             // when the snapshot left (monotonic ms)
    int64_t timer_due;        // timer armed by this snapshot (0 = none)
    bool has_log;             // the snapshot carried a log entry
    bool advance;             // status stays running: the run has more steps
    char status[16];          // status the snapshot stores
    char node_id[72];         // step event to publish once durable ("" = none)
    const char *step_status;  // its log status (static string)
    char error[256];          // its error ("" = none)
} s_pending_t;

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
    zhashx_t *pending;        // snapshot message id -> s_pending_t* (owned)
    int64_t next_sweep;       // next check for acks that never came (monotonic ms)
    bool terminated;          // $TERM seen: finish acks in flight, then hand back
} self_t;

/* ---- task ----------------------------------------------------------------- */

json_t *
zf_run_state_new(void)
{
    return json_pack("{s:{}, s:{}, s:[], s:[], s:[], s:{}, s:n}", "variables", "stepOutputs",
                     "completedNodeIds", "pendingNodeIds", "skippedNodeIds", "retryCount", "wait");
}

zf_run_task_t *
zf_run_task_new(const char *tenant, json_t *workflow, json_t *run, json_t *state)
{
    zf_run_task_t *t = calloc(1, sizeof *t);
    assert(t);
    snprintf(t->tenant, sizeof t->tenant, "%s", tenant);
    snprintf(t->run_id, sizeof t->run_id, "%s", json_string_value(json_object_get(run, "id")));
    snprintf(t->wf_id, sizeof t->wf_id, "%s",
             json_string_value(json_object_get(run, "workflow_id")));
    t->workflow = json_incref(workflow);
    t->run = run;
    t->state = state ? state : zf_run_state_new();
    json_t *seq = json_object_get(t->state, "logSeq");
    t->log_seq = json_is_integer(seq) ? (uint32_t)json_integer_value(seq) : 0;
    t->slot = -1;
    const char *st = json_string_value(json_object_get(run, "status"));
    snprintf(t->stored_status, sizeof t->stored_status, "%s", st ? st : "");
    return t;
}

void
zf_run_task_destroy(zf_run_task_t **self_p)
{
    zf_run_task_t *t = *self_p;
    if (!t) return;
    json_decref(t->workflow);
    json_decref(t->run);
    json_decref(t->state);
    free(t);
    *self_p = NULL;
}

int
zf_run_status_terminal(const char *s)
{
    return s &&
           (strcmp(s, "completed") == 0 || strcmp(s, "failed") == 0 || strcmp(s, "cancelled") == 0);
}

/* ---- state helpers -------------------------------------------------------- */

static bool
s_in_list(const json_t *list, const char *id)
{
    size_t i;
    json_t *x;
    json_array_foreach (list, i, x)
        if (strcmp(json_string_value(x), id) == 0) return true;
    return false;
}

static void
s_list_remove(json_t *list, const char *id)
{
    for (size_t i = 0; i < json_array_size(list); i++) {
        if (strcmp(json_string_value(json_array_get(list, i)), id) == 0) {
            json_array_remove(list, i);
            return;
        }
    }
}

static json_t *
s_st(zf_run_task_t *t, const char *k)
{
    return json_object_get(t->state, k);
}

static bool
s_node_settled(zf_run_task_t *t, const char *id)
{
    return s_in_list(s_st(t, "completedNodeIds"), id) || s_in_list(s_st(t, "skippedNodeIds"), id);
}

//  Whether a node is skipped by its dependency: the dependency was
//  skipped, or it is a condition whose outcome does not match `branch`
//  (no branch = needs a true outcome).
static bool
s_node_skips(zf_run_task_t *t, const json_t *node)
{
    const char *from = json_string_value(json_object_get(node, "input_from"));
    if (!from) return false;
    if (s_in_list(s_st(t, "skippedNodeIds"), from)) return true;
    json_t *out = json_object_get(s_st(t, "stepOutputs"), from);
    json_t *passed = json_object_get(out, "passed");
    if (!json_is_boolean(passed)) return false;
    const char *branch = json_string_value(json_object_get(node, "branch"));
    bool want = !branch || strcmp(branch, "true") == 0;
    return json_is_true(passed) != want;
}

//  Index of the next node to execute, marking nodes skipped on the way;
//  -1 when every node is settled.
static int
s_next_node(zf_run_task_t *t, const json_t *nodes)
{
    for (size_t i = 0; i < json_array_size(nodes); i++) {
        const json_t *node = json_array_get(nodes, i);
        const char *id = json_string_value(json_object_get(node, "id"));
        if (s_node_settled(t, id)) continue;
        if (s_node_skips(t, node)) {
            json_array_append_new(s_st(t, "skippedNodeIds"), json_string(id));
            s_list_remove(s_st(t, "pendingNodeIds"), id);
            continue;
        }
        return (int)i;
    }
    return -1;
}

//  Marks every unsettled node skipped (the run stops early).
static void
s_skip_rest(zf_run_task_t *t, const json_t *nodes)
{
    size_t i;
    json_t *node;
    json_array_foreach (nodes, i, node) {
        const char *id = json_string_value(json_object_get(node, "id"));
        if (!s_node_settled(t, id))
            json_array_append_new(s_st(t, "skippedNodeIds"), json_string(id));
    }
    json_array_clear(s_st(t, "pendingNodeIds"));
}

//  A terminal status ends every wait: no wake-up time may outlive it.
static void
s_set_status(zf_run_task_t *t, const char *status, int64_t now)
{
    json_object_set_new(t->run, "status", json_string(status));
    json_object_set_new(t->run, "updated_at", json_integer(now));
    if (zf_run_status_terminal(status)) {
        json_object_set_new(t->run, "finished_at", json_integer(now));
        json_object_set_new(t->run, "wake_at", json_null());
        json_object_set_new(t->state, "wait", json_null());
    }
}

/* ---- snapshots ------------------------------------------------------------- */

static void
s_hand_back(self_t *self, zf_run_task_t *t)
{
    zsock_send(self->done, "sp", "DONE", t);
}

//  Sends record + state (+ log entry) to the writer; the run continues
//  when the durable ack arrives (s_on_ack). Takes p. timer_due > 0 arms a
//  wake-up. Returns 0 when sent.
static int
s_snapshot(self_t *self, zf_run_task_t *t, json_t *log, int64_t timer_due, const char *timer_kind,
           s_pending_t *p, json_t *token)
{
    zf_msg_t *m = zf_msg_new("run.snapshot");
    snprintf(m->tenant, sizeof m->tenant, "%s", t->tenant);
    json_object_set_new(t->state, "logSeq", json_integer(t->log_seq + (log ? 1 : 0)));
    const char *status = json_string_value(json_object_get(t->run, "status"));
    json_t *body = json_pack("{s:s, s:s, s:s}", "run_id", t->run_id, "workflow_id", t->wf_id,
                             "status", status);
    if (t->stored_status[0])
        json_object_set_new(body, "prev_status", json_string(t->stored_status));
    if (log) json_object_set_new(body, "log_seq", json_integer(t->log_seq));
    if (timer_due > 0)
        json_object_set_new(
            body, "timer",
            json_pack("{s:I, s:s}", "due", (json_int_t)timer_due, "kind", timer_kind));
    if (t->timer_due > 0) json_object_set_new(body, "timer_clear", json_integer(t->timer_due));
    if (token) json_object_set(body, "token", token);
    zf_msg_set_body(m, body);
    m->route = zmsg_new();
    zmsg_addmem(m->route, "", 0);
    m->extra = zmsg_new();
    const json_t *parts[3] = {t->run, t->state, log};
    for (int i = 0; i < 3 && parts[i]; i++) {
        size_t len;
        void *buf = zf_codec_encode(parts[i], &len);
        zmsg_addmem(m->extra, buf, len);
        free(buf);
    }
    p->task = t;
    p->sent = zclock_mono();
    p->timer_due = timer_due;
    p->has_log = log != NULL;
    snprintf(p->status, sizeof p->status, "%s", status);
    char id[40];
    snprintf(id, sizeof id, "%s", m->id);
    if (zf_msg_send(&m, self->writer, 0) < 0) {
        zf_msg_destroy(&m);
        free(p);
        return -1;
    }
    zhashx_insert(self->pending, id, p);
    return 0;
}

//  A snapshot whose step produced no event (cancel, empty tail).
static void
s_snapshot_final(self_t *self, zf_run_task_t *t)
{
    s_pending_t *p = calloc(1, sizeof *p);
    assert(p);
    if (s_snapshot(self, t, NULL, 0, "", p, NULL) < 0) {
        t->persist_failed = 1;
        s_hand_back(self, t);
    }
}

static json_t *
s_log_entry(zf_run_task_t *t, const json_t *node, const char *status, int attempt, int64_t started,
            int64_t finished, const json_t *output, const char *error)
{
    json_t *out = json_null();
    if (output) {
        char *text = json_dumps(output, JSON_COMPACT | JSON_ENCODE_ANY);
        if (text && strlen(text) > S_LOG_OUTPUT_MAX) {
            //  Cut on a UTF-8 boundary so the entry stays valid text.
            size_t n = S_LOG_OUTPUT_MAX;
            while (n > 0 && (text[n] & 0xC0) == 0x80)
                n--;
            text[n] = '\0';
        }
        out = text ? json_string(text) : json_null();
        free(text);
    }
    return json_pack("{s:I, s:s, s:s, s:s, s:i, s:I, s:I, s:I, s:o, s:s?}", "seq",
                     (json_int_t)t->log_seq, "nodeId",
                     json_string_value(json_object_get(node, "id")), "nodeType",
                     json_string_value(json_object_get(node, "type")), "status", status, "attempt",
                     attempt, "startedAt", (json_int_t)started, "finishedAt", (json_int_t)finished,
                     "durationMs", (json_int_t)(finished - started), "output", out, "error", error);
}

/* ---- executing ------------------------------------------------------------- */

typedef struct {
    const json_t *node;  // node executed
    const char *id;      // its id
    int attempt;         // 1-based
    int64_t started;     // ms
} s_step_t;

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
s_render_config(zf_run_task_t *t, const json_t *cfg, int64_t now, char *err, size_t errlen)
{
    if (!zf_tpl_has_value(cfg)) return json_incref((json_t *)cfg);
    const json_t *trig = json_object_get(t->run, "trigger");
    json_t *root = json_pack(
        "{s:O?, s:O?, s:O?, s:O?, s:O, s:O, s:O, s:O?, s:O?, s:{s:s, s:s}}", "record",
        json_object_get(trig, "record"), "previous", json_object_get(trig, "previous"), "user",
        json_object_get(trig, "user"), "trigger", trig, "steps", s_st(t, "stepOutputs"), "vars",
        s_st(t, "variables"), "inputs", json_object_get(t->run, "inputs"), "event",
        json_object_get(trig, "data"), "submission", json_object_get(trig, "data"), "run", "id",
        t->run_id, "workflow_id", t->wf_id);
    zf_tpl_scope_t scope = {.root = root, .now_ms = now};
    json_t *out = zf_tpl_render_value(&scope, cfg, err, errlen);
    json_decref(root);
    return out;
}

//  Fills the context for one node and executes its kind.
static void
s_exec_node(self_t *self, zf_run_task_t *t, s_step_t *st, zf_step_result_t *res)
{
    const json_t *node = st->node;
    const char *from = json_string_value(json_object_get(node, "input_from"));
    const json_t *inputs = json_object_get(t->run, "inputs");
    const json_t *input = from ? json_object_get(s_st(t, "stepOutputs"), from) : inputs;
    json_t *wait = s_st(t, "wait");
    const char *wait_node = json_string_value(json_object_get(wait, "node_id"));
    const char *wait_kind = json_string_value(json_object_get(wait, "kind"));
    json_t *cfg = json_object_get(node, "config");
    s_call_t call = {.self = self, .task = t};
    zf_step_ctx_t ctx = {
        .tenant = t->tenant,
        .run_id = t->run_id,
        .node_id = st->id,
        .node = node,
        .input = input ? input : json_null(),
        .inputs = inputs,
        .vars = s_st(t, "variables"),
        .steps = s_st(t, "stepOutputs"),
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
        .public_url = self->env->public_url,
        .ai_url = self->env->ai_url,
        .ai_model = self->env->ai_model,
        .ai_key = self->env->ai_key,
    };
    json_t *resume = s_st(t, "resume");
    if (ctx.resumed && json_is_object(resume)) ctx.resume = resume;
    zf_step_result_clear(res);
    const zf_step_kind_t *kind = zf_step_find(json_string_value(json_object_get(node, "type")));
    char err[200];
    //  A loop renders its inner step's config itself, once per item.
    bool loop = strcmp(json_string_value(json_object_get(node, "type")), "loop") == 0;
    json_t *own = loop && json_object_get(cfg, "step") ? json_copy(cfg) : json_incref(cfg);
    if (loop) json_object_del(own, "step");
    json_t *rendered = own ? s_render_config(t, own, st->started, err, sizeof err) : json_object();
    json_decref(own);
    if (loop && rendered && json_object_get(cfg, "step")) {
        json_t *copy = json_copy(rendered);
        json_decref(rendered);
        json_object_set(copy, "step", json_object_get(cfg, "step"));
        rendered = copy;
    }
    if (!kind)
        zf_step_fail(res, ZF_STEP_FAIL_FINAL, "unknown step type");
    else if (!rendered)
        zf_step_fail(res, ZF_STEP_FAIL_FINAL, "template: %s", err);
    else
        kind->exec(&ctx, rendered, res);
    json_decref(rendered);
}

//  Records a completed (or stopping) node; returns the next status.
static const char *
s_on_success(zf_run_task_t *t, const json_t *nodes, s_step_t *st, zf_step_result_t *res)
{
    json_t *out = res->output ? json_incref(res->output) : json_null();
    json_object_set_new(s_st(t, "stepOutputs"), st->id, out);
    json_array_append_new(s_st(t, "completedNodeIds"), json_string(st->id));
    s_list_remove(s_st(t, "pendingNodeIds"), st->id);
    json_object_set_new(t->state, "wait", json_null());
    json_object_set_new(t->run, "wake_at", json_null());
    if (res->status == ZF_STEP_STOP) s_skip_rest(t, nodes);
    if (s_next_node(t, nodes) >= 0) return "running";
    //  outputs: the last step's output (when an object) with the final
    //  variables on top — what a caller of a finished run usually wants.
    json_t *outputs = json_is_object(out) ? json_deep_copy(out) : json_object();
    json_object_update(outputs, s_st(t, "variables"));
    json_object_set_new(t->run, "outputs", outputs);
    return "completed";
}

//  Decides between a retry (passivate until the back-off ends) and failure.
static const char *
s_on_failure(zf_run_task_t *t, s_step_t *st, zf_step_result_t *res, int64_t *wake)
{
    zf_retry_t policy;
    zf_def_retry(st->node, &policy);
    //  A workflow-wide retry schedule (error_handling.retry_delays_s, seed
    //  003: 1, 5, 30 minutes) applies to nodes without their own policy.
    const json_t *delays =
        json_object_get(json_object_get(t->workflow, "error_handling"), "retry_delays_s");
    bool fixed = json_is_array(delays) && !json_object_get(st->node, "retry");
    if (fixed) policy.max_attempts = (int)json_array_size(delays) + 1;
    json_object_set_new(s_st(t, "retryCount"), st->id, json_integer(st->attempt));
    bool retry = res->status == ZF_STEP_FAIL && st->attempt < policy.max_attempts;
    size_t i;
    json_t *x;
    json_array_foreach (json_object_get(json_object_get(st->node, "retry"), "non_retryable"), i,
                        x) {
        if (json_is_string(x) && strstr(res->error, json_string_value(x))) retry = false;
    }
    if (retry) {
        double rnd = (double)(zf_now_ms() % 1000) / 1000.0;
        int64_t back =
            fixed ? (int64_t)(json_number_value(json_array_get(delays, (size_t)st->attempt - 1)) *
                              1000)
                  : zf_def_backoff_ms(&policy, st->attempt, rnd);
        if (res->retry_after_ms > back) back = res->retry_after_ms;
        *wake = zf_now_ms() + back;
        return "waiting";
    }
    json_object_set_new(t->run, "error",
                        json_pack("{s:s, s:s, s:s}", "code", "step_failed", "message", res->error,
                                  "node_id", st->id));
    return "failed";
}

//  A step that waits for someone (approval, form, child run): its interim
//  output (the callback link) is in the state at once, and its token is
//  indexed by hash in the same snapshot (*token, new ref).
static const char *
s_on_suspend(zf_run_task_t *t, s_step_t *st, zf_step_result_t *res, int64_t *wake, json_t **token)
{
    const char *status = res->suspend_status ? res->suspend_status : "paused";
    json_object_set(s_st(t, "stepOutputs"), st->id, res->output ? res->output : json_null());
    json_t *wait =
        json_pack("{s:s, s:s, s:s}", "node_id", st->id, "kind", "suspend", "status", status);
    if (res->wake_at_ms > 0) {
        *wake = res->wake_at_ms;
        json_object_set_new(wait, "until", json_integer(*wake));
    }
    if (res->token[0]) {
        unsigned char h[32];
        char hex[65];
        zf_keys_hash(res->token, h);
        zf_keys_hex(h, sizeof h, hex);
        json_object_set_new(wait, "token_hash", json_string(hex));
        *token = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "hash", hex, "node_id", st->id, "kind",
                           json_string_value(json_object_get(st->node, "type")), "workflow_id",
                           t->wf_id, "expires_at", (json_int_t)res->wake_at_ms, "created_at",
                           (json_int_t)st->started);
    }
    json_object_set_new(t->state, "wait", wait);
    json_object_set_new(t->run, "wake_at", *wake > 0 ? json_integer(*wake) : json_null());
    return status;
}

//  Publishes event.run.step once the step is durable. Best effort: a full
//  queue drops the event rather than delaying the run.
static void
s_step_event(self_t *self, zf_run_task_t *t, const char *node_id, const char *step_status,
             const char *error)
{
    if (!self->events) return;
    zf_msg_t *m = zf_msg_new("event.run.step");
    snprintf(m->tenant, sizeof m->tenant, "%s", t->tenant);
    zf_msg_set_body(m, json_pack("{s:s, s:s, s:s, s:O, s:s, s:s, s:s?}", "tenant", t->tenant,
                                 "run_id", t->run_id, "workflow_id", t->wf_id, "status",
                                 json_object_get(t->run, "status"), "node_id", node_id,
                                 "step_status", step_status, "error", error));
    m->route = zmsg_new();
    zmsg_addmem(m->route, "", 0);
    zf_msg_send(&m, self->events, ZMQ_DONTWAIT);
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
    if (!self->events || !type) return;
    zf_msg_t *m = zf_msg_new(type);
    snprintf(m->tenant, sizeof m->tenant, "%s", t->tenant);
    zf_msg_set_body(m, json_pack("{s:s, s:s, s:s, s:O?, s:O?}", "tenant", t->tenant, "run_id",
                                 t->run_id, "workflow_id", t->wf_id, "status",
                                 json_object_get(t->run, "status"), "error",
                                 json_object_get(t->run, "error")));
    m->route = zmsg_new();
    zmsg_addmem(m->route, "", 0);
    zf_msg_send(&m, self->events, ZMQ_DONTWAIT);
}

//  Runs one node to its outcome and sends the snapshot; the run goes on
//  when the ack arrives.
static void
s_step(self_t *self, zf_run_task_t *t, const json_t *nodes, int idx)
{
    s_step_t st = {.node = json_array_get(nodes, (size_t)idx)};
    st.id = json_string_value(json_object_get(st.node, "id"));
    st.attempt = (int)json_integer_value(json_object_get(s_st(t, "retryCount"), st.id)) + 1;
    st.started = zf_now_ms();
    if (!s_in_list(s_st(t, "pendingNodeIds"), st.id))
        json_array_append_new(s_st(t, "pendingNodeIds"), json_string(st.id));
    zf_step_result_t res = {0};  // clear() releases output: never pass garbage
    s_exec_node(self, t, &st, &res);
    int64_t now = zf_now_ms(), wake = 0;
    const char *status, *log_status, *kind = NULL;
    json_t *token = NULL;
    json_object_del(t->state, "resume");  // consumed by this exec (if it was for it)
    switch (res.status) {
    case ZF_STEP_OK:
    case ZF_STEP_STOP:
        status = s_on_success(t, nodes, &st, &res);
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
        status = log_status = s_on_suspend(t, &st, &res, &wake, &token);
        kind = "deadline";
        break;
    default:
        status = s_on_failure(t, &st, &res, &wake);
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
    s_set_status(t, status, now);
    const char *err = res.error[0] ? res.error : NULL;
    json_t *log = s_log_entry(t, st.node, log_status, st.attempt, st.started, now, res.output, err);
    json_decref(res.output);
    s_pending_t *p = calloc(1, sizeof *p);
    assert(p);
    p->advance = strcmp(status, "running") == 0;
    snprintf(p->node_id, sizeof p->node_id, "%s", st.id);
    p->step_status = log_status;
    snprintf(p->error, sizeof p->error, "%s", err ? err : "");
    if (s_snapshot(self, t, log, wake, kind ? kind : "", p, token) < 0) {
        t->persist_failed = 1;
        s_hand_back(self, t);
    }
    json_decref(log);
    json_decref(token);
}

//  Takes the run one step further: cancel, finish, migrate, or execute
//  the next node.
static void
s_advance(self_t *self, zf_run_task_t *t)
{
    const json_t *nodes = json_object_get(json_object_get(t->workflow, "definition"), "nodes");
    if (atomic_load(&t->cancel)) {
        s_set_status(t, "cancelled", zf_now_ms());
        s_snapshot_final(self, t);
        return;
    }
    int idx = s_next_node(t, nodes);
    if (idx < 0) {  // nothing (left) to run: e.g. an empty workflow
        s_set_status(t, "completed", zf_now_ms());
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

//  The writer's ack for one snapshot: the step is durable, so publish it
//  and let the run go on (or hand it back when it left the running state).
static void
s_on_ack(self_t *self)
{
    zf_msg_t *r = zf_msg_recv(self->writer, true, NULL, NULL);
    if (!r) return;
    s_pending_t *p = zhashx_lookup(self->pending, r->corr);
    if (!p) {  // swept as lost; the engine already has the run back
        zf_msg_destroy(&r);
        return;
    }
    zf_run_task_t *t = p->task;
    if (r->kind != ZF_MSG_REPLY_OK) {
        zsys_error("run %s: snapshot refused: %s", t->run_id, zf_msg_error_message(r));
        t->persist_failed = 1;
        s_hand_back(self, t);
    } else {
        if (p->has_log) t->log_seq++;
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
    zhashx_delete(self->pending, r->corr);  // frees p
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
    s_pending_t *p;
    for (p = zhashx_first(self->pending); p; p = zhashx_next(self->pending))
        if (now - p->sent > S_ACK_TIMEOUT_MS)
            zlistx_add_end(lost, (void *)zhashx_cursor(self->pending));
    for (const char *id = zlistx_first(lost); id; id = zlistx_next(lost)) {
        p = zhashx_lookup(self->pending, id);
        zsys_error("run %s: no snapshot ack in %d ms", p->task->run_id, S_ACK_TIMEOUT_MS);
        p->task->persist_failed = 1;
        s_hand_back(self, p->task);
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
    s_set_status(t, "running", now);
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

static void
s_pending_destructor(void **item)
{
    free(*item);
    *item = NULL;
}

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
    s_pending_t *p;
    for (p = zhashx_first(self->pending); p; p = zhashx_next(self->pending)) {
        p->task->interrupted = 1;
        s_hand_back(self, p->task);
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
    zhashx_set_destructor(self.pending, s_pending_destructor);
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
