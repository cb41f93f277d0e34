/*  actors/step.h — the step-kind interface.

    A step kind is one file in actors/steps/ exporting one const
    zf_step_kind_t; actors/steps/registry.c lists them in a const table.
    validate() runs at workflow create/update time; exec() runs inside a run
    actor thread. exec must not touch storage or other runs: everything it
    needs is in the context, everything it produces goes in the result.
*/
#ifndef ZF_STEP_H
#define ZF_STEP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct zf_egress_t zf_egress_t;
typedef struct zf_breakers_t zf_breakers_t;

typedef enum {
    ZF_STEP_OK = 0,      // done; output set
    ZF_STEP_FAIL,        // failed, retryable under the node's retry policy
    ZF_STEP_FAIL_FINAL,  // failed, never retry (validation, 4xx, egress refused)
    ZF_STEP_WAIT,        // passivate until wake_at_ms, then exec again with resumed=1
    ZF_STEP_STOP,        // condition false with on_false=stop: the run ends, completed
    ZF_STEP_BLOCKED,     // outbound host breaker open: passivate until wake_at_ms,
                         // does not count as an attempt
    ZF_STEP_SUSPEND      // passivate until run.resume (approval, form, webhook) or
                         // the child run ends; also at wake_at_ms when > 0 (a
                         // deadline). Then exec again with resumed=1 and
                         // ctx->resume = what resumed it (NULL: the deadline)
} zf_step_status_t;

typedef struct {
    const char *tenant;         // tenant of the run
    const char *run_id;         // run id
    const char *workflow_id;    // workflow of the run
    const char *node_id;        // node being executed
    const json_t *node;         // the node being executed (borrowed)
    const json_t *input;        // the node's input: output of input_from, else run inputs
    const json_t *inputs;       // run inputs
    json_t *vars;               // run variables (mutable: `set` writes here)
    const json_t *steps;        // stepOutputs so far: {node_id: output}
    int attempt;                // 1 for the first try
    int resumed;                // 1 when exec is called again after ZF_STEP_WAIT
    int64_t now_ms;             // wall clock at step start (injectable in tests)
    int64_t timeout_ms;         // node timeout (0 = kind default)
    const zf_egress_t *egress;  // outbound address policy (may be NULL = deny private)
    zf_breakers_t *breakers;    // per-host circuit breakers (may be NULL)
    const char *smtp_url;       // --smtp-url, e.g. "smtp://127.0.0.1:2525" (NULL/"" = no mail)
    const char *smtp_from;      // sender address of outgoing mail (NULL = "zflow@localhost")
    const json_t *trigger;      // the run's trigger context (record, previous, user, ...)
    //  One request to the engine as this run's tenant (records, notifications):
    //  returns 0 and *reply (new ref) or an error code with the message in err.
    //  NULL when the kind runs without an engine (unit tests).
    int (*call)(void *call_arg, const char *type, json_t *body, json_t **reply, char *err,
                size_t errlen);
    void *call_arg;  // first argument of call
    //  SUSPEND resumed: {"decision"?: str, "data"?: any, "by"?: str, "at": ms,
    //  "child"?: run} (borrowed); NULL on first exec or when the deadline woke it.
    const json_t *resume;
    const char *links_url;  // base of link pages: --public-url + the automations mount
                            // ("http://host:port/api/workflows"), never ends in "/"
    const char *ai_url;     // --ai-url: OpenAI-compatible base URL (NULL/"" = not configured)
    const char *ai_model;   // --ai-model (NULL = the provider's default)
    const char *ai_key;     // ZFLOW_AI_KEY from the environment (NULL = none)
} zf_step_ctx_t;

typedef struct {
    zf_step_status_t status;     // outcome
    json_t *output;              // owned by the result; NULL = none
    char error[256];             // human-readable error for FAIL*/BLOCKED
    int64_t wake_at_ms;          // WAIT/BLOCKED: when to run again
    int64_t retry_after_ms;      // FAIL: server asked to wait at least this long (Retry-After)
    int passed;                  // condition: 1 true, 0 false
    const char *suspend_status;  // SUSPEND: run status while suspended (static string:
                                 // "paused" (default) or "waiting_for_child")
    char token[64];              // SUSPEND: callback token whose SHA-256 the engine indexes
                                 // (approval, send_form); "" = none
} zf_step_result_t;

typedef struct {
    const char *name;  // node "type" value
    //  0 if config is valid; else fills err ("config.url: must be a string").
    int (*validate)(const json_t *config, char *err, size_t errlen);
    void (*exec)(zf_step_ctx_t *ctx, const json_t *config, zf_step_result_t *res);
    //  1: exec only computes (never blocks on I/O or sleeps), so it may run
    //  on a shared run-actor thread that hosts many runs. 0 (the safe
    //  default): the run moves to a dedicated thread for this step.
    int cpu_only;
    //  A config key the run actor leaves unrendered because the kind
    //  renders it itself (loop: "step", once per item); NULL = none.
    const char *raw_key;
} zf_step_kind_t;

//  Kind by type name, or NULL if unknown (an unknown type is a validation error).
const zf_step_kind_t *zf_step_find(const char *type);
//  NULL-terminated list of registered kinds.
const zf_step_kind_t *const *zf_step_kinds(void);

//  Helpers for step implementations. clear() releases res->output and
//  zeroes the result: only call it on an initialised result.
void zf_step_result_clear(zf_step_result_t *res);
//  exec() re-checks its config (stored definitions may predate a rule):
//  returns 1 if valid, else fails res as ZF_STEP_FAIL_FINAL and returns 0.
int zf_step_config_ok(int (*validate)(const json_t *, char *, size_t), const json_t *config,
                      zf_step_result_t *res);
//  The template roots of a step's config (record, previous, user, trigger,
//  steps, vars, inputs, event, submission, run): a new object. The run
//  actor renders configs with it; kinds that render an inner step (loop,
//  approval's notify) add roots of their own.
json_t *zf_step_template_root(const zf_step_ctx_t *ctx);
void zf_step_fail(zf_step_result_t *res, zf_step_status_t st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
