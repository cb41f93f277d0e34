/*  actors/run_state.c — a run's task and state bookkeeping: which node is
    next, what a step's outcome does to the record and state (completed,
    retry or failed, suspended), and log entries. The run actor (run.c)
    drives it and makes each result durable.
*/
#include "actors/definition.h"
#include "actors/keys.h"
#include "actors/run_int.h"
#include "broker/ids.h"
#include "storage/store.h"

#include <msgpack.h>
#include <string.h>

#define S_LOG_OUTPUT_MAX 500  // log entries keep this many chars of output

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

bool
zf_run_in_list(const json_t *list, const char *id)
{
    if (!id) return false;
    size_t i;
    json_t *x;
    json_array_foreach (list, i, x) {
        const char *s = json_string_value(x);
        if (s && strcmp(s, id) == 0) return true;
    }
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

static bool
s_node_settled(zf_run_task_t *t, const char *id)
{
    return zf_run_in_list(zf_run_st(t, "completedNodeIds"), id) ||
           zf_run_in_list(zf_run_st(t, "skippedNodeIds"), id);
}

//  Whether a node is skipped by its dependency: the dependency was
//  skipped, or it is a condition whose outcome does not match `branch`
//  (no branch = needs a true outcome).
static bool
s_node_skips(zf_run_task_t *t, const json_t *node)
{
    const char *from = json_string_value(json_object_get(node, "input_from"));
    if (!from) return false;
    if (zf_run_in_list(zf_run_st(t, "skippedNodeIds"), from)) return true;
    json_t *out = json_object_get(zf_run_st(t, "stepOutputs"), from);
    json_t *passed = json_object_get(out, "passed");
    if (!json_is_boolean(passed)) return false;
    const char *branch = json_string_value(json_object_get(node, "branch"));
    bool want = !branch || strcmp(branch, "true") == 0;
    return json_is_true(passed) != want;
}

//  Index of the next node to execute, marking nodes skipped on the way;
//  -1 when every node is settled.
int
zf_run_next_node(zf_run_task_t *t, const json_t *nodes)
{
    for (size_t i = 0; i < json_array_size(nodes); i++) {
        const json_t *node = json_array_get(nodes, i);
        const char *id = json_string_value(json_object_get(node, "id"));
        if (s_node_settled(t, id)) continue;
        if (s_node_skips(t, node)) {
            json_array_append_new(zf_run_st(t, "skippedNodeIds"), json_string(id));
            s_list_remove(zf_run_st(t, "pendingNodeIds"), id);
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
            json_array_append_new(zf_run_st(t, "skippedNodeIds"), json_string(id));
    }
    json_array_clear(zf_run_st(t, "pendingNodeIds"));
}

//  A terminal status ends every wait: no wake-up time may outlive it.
void
zf_run_set_status(zf_run_task_t *t, const char *status, int64_t now)
{
    json_object_set_new(t->run, "status", json_string(status));
    json_object_set_new(t->run, "updated_at", json_integer(now));
    if (zf_run_status_terminal(status)) {
        json_object_set_new(t->run, "finished_at", json_integer(now));
        json_object_set_new(t->run, "wake_at", json_null());
        json_object_set_new(t->state, "wait", json_null());
    }
}

static void
s_pack_str(msgpack_packer *pk, const char *v)
{
    if (!v) {
        msgpack_pack_nil(pk);
        return;
    }
    size_t n = strlen(v);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, v, n);
}

//  The first S_LOG_OUTPUT_MAX bytes of a value's compact JSON text.
typedef struct {
    char text[S_LOG_OUTPUT_MAX + 2];  // the text so far (one byte past the cap), NUL-terminated
    size_t len;                       // bytes in text
} s_capped_t;

//  json_dump_callback sink: keeps what fits, then stops the dump (-1), so
//  a large output (an HTTP body of megabytes) is not encoded whole only to
//  keep its first 500 bytes.
static int
s_capped_write(const char *buf, size_t size, void *data)
{
    s_capped_t *c = data;
    size_t room = sizeof c->text - 1 - c->len;
    size_t n = size < room ? size : room;
    memcpy(c->text + c->len, buf, n);
    c->len += n;
    c->text[c->len] = '\0';
    return n < size ? -1 : 0;
}

//  Compact JSON text of output cut to S_LOG_OUTPUT_MAX bytes on a UTF-8
//  boundary (so the entry stays valid text) into c; false if it cannot be
//  encoded.
static bool
s_log_output(const json_t *output, s_capped_t *c)
{
    c->len = 0;
    c->text[0] = '\0';
    int rc = json_dump_callback(output, s_capped_write, c, JSON_COMPACT | JSON_ENCODE_ANY);
    if (c->len <= S_LOG_OUTPUT_MAX) return rc == 0;  // whole, or a real failure
    size_t n = S_LOG_OUTPUT_MAX;
    while (n > 0 && (c->text[n] & 0xC0) == 0x80)
        n--;
    c->text[n] = '\0';
    return true;
}

//  Packed straight to msgpack: the entry is only ever stored, and building
//  it as a JSON tree first (then encoding and freeing it) was a tenth of a
//  shared host's time at W1.
void *
zf_run_log_encode(zf_run_task_t *t, const json_t *node, const char *status, int attempt,
                  int64_t started, int64_t finished, const json_t *output, const char *error,
                  size_t *len)
{
    s_capped_t capped;
    const char *text = output && s_log_output(output, &capped) ? capped.text : NULL;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    const struct {
        const char *key;  // field name
        const char *str;  // string value (when !is_int)
        int64_t num;      // integer value
        bool is_int;      // which one
    } f[] = {
        {"seq", NULL, t->log_seq, true},
        {"nodeId", json_string_value(json_object_get(node, "id")), 0, false},
        {"nodeType", json_string_value(json_object_get(node, "type")), 0, false},
        {"status", status, 0, false},
        {"attempt", NULL, attempt, true},
        {"startedAt", NULL, started, true},
        {"finishedAt", NULL, finished, true},
        {"durationMs", NULL, finished - started, true},
        {"output", text, 0, false},
        {"error", error, 0, false},
    };
    size_t n = sizeof f / sizeof f[0];
    msgpack_pack_map(&pk, n);
    for (size_t i = 0; i < n; i++) {
        s_pack_str(&pk, f[i].key);
        if (f[i].is_int)
            msgpack_pack_int64(&pk, f[i].num);
        else
            s_pack_str(&pk, f[i].str);
    }
    *len = sb.size;
    return sb.data;  // malloc'd by msgpack_sbuffer: free() releases it
}

//  Records a completed (or stopping) node; returns the next status.
const char *
zf_run_on_success(zf_run_task_t *t, const json_t *nodes, zf_run_step_t *st, zf_step_result_t *res)
{
    json_t *out = res->output ? json_incref(res->output) : json_null();
    json_object_set_new(zf_run_st(t, "stepOutputs"), st->id, out);
    zf_rec_state_changed(t->state, "stepOutputs", st->id);
    json_array_append_new(zf_run_st(t, "completedNodeIds"), json_string(st->id));
    s_list_remove(zf_run_st(t, "pendingNodeIds"), st->id);
    json_object_set_new(t->state, "wait", json_null());
    json_object_set_new(t->run, "wake_at", json_null());
    if (res->status == ZF_STEP_STOP) s_skip_rest(t, nodes);
    if (zf_run_next_node(t, nodes) >= 0) return "running";
    //  outputs: the last step's output (when an object) with the final
    //  variables on top — what a caller of a finished run usually wants.
    json_t *outputs = json_is_object(out) ? json_deep_copy(out) : json_object();
    json_object_update(outputs, zf_run_st(t, "variables"));
    json_object_set_new(t->run, "outputs", outputs);
    return "completed";
}

//  Decides between a retry (passivate until the back-off ends) and failure.
const char *
zf_run_on_failure(zf_run_task_t *t, zf_run_step_t *st, zf_step_result_t *res, int64_t *wake)
{
    zf_retry_t policy;
    zf_def_retry(st->node, &policy);
    //  A workflow-wide retry schedule (error_handling.retry_delays_s, seed
    //  003: 1, 5, 30 minutes) applies to nodes without their own policy.
    const json_t *delays =
        json_object_get(json_object_get(t->workflow, "error_handling"), "retry_delays_s");
    bool fixed = json_is_array(delays) && !json_object_get(st->node, "retry");
    if (fixed) policy.max_attempts = (int)json_array_size(delays) + 1;
    json_object_set_new(zf_run_st(t, "retryCount"), st->id, json_integer(st->attempt));
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
const char *
zf_run_on_suspend(zf_run_task_t *t, zf_run_step_t *st, zf_step_result_t *res, int64_t *wake,
                  json_t **token)
{
    const char *status = res->suspend_status ? res->suspend_status : "paused";
    json_object_set(zf_run_st(t, "stepOutputs"), st->id, res->output ? res->output : json_null());
    zf_rec_state_changed(t->state, "stepOutputs", st->id);
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
        zf_hex(h, sizeof h, hex);
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
