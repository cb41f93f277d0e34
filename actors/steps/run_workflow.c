/*  actors/steps/run_workflow.c — kind "run_workflow": start a child run.

    config: {"workflow_id": str (required), "inputs"?: map,
             "wait_for_completion"?: bool (default false),
             "fail_on_child_failure"?: bool (default true)}

    The child is started with run.start {"parent": {run_id, node_id}}: the
    engine links it to this node in the child's own batch, so a re-run of
    this step after a crash gets the same child back instead of a second
    one. Children nest at most 8 deep (a workflow that calls itself ends
    there with an error).

    Without wait_for_completion the step completes at once with
    {"child_run_id", "workflow_id", "status"}. With it the run becomes
    waiting_for_child (passivated, no thread); the engine wakes it when the
    child ends, and a poll deadline (every 60 s) wakes it anyway, so a
    crash between the child's end and the wake-up delays the parent but
    never strands it. Then the output is {"child_run_id", "workflow_id",
    "status", "outputs", "error"}; a failed or cancelled child fails the
    step (final) unless fail_on_child_failure is false.
*/
#include "actors/step.h"
#include "broker/errors.h"

#include <stdbool.h>

#include <stdio.h>
#include <string.h>

#define S_POLL_MS 60000

static int
s_validate(const json_t *config, char *err, size_t errlen)
{
    const json_t *wf = json_object_get(config, "workflow_id");
    if (!json_is_string(wf) || json_string_length(wf) < 1 || json_string_length(wf) > 64)
        return snprintf(err, errlen, "config.workflow_id: required string (a workflow id)"), -1;
    const json_t *in = json_object_get(config, "inputs");
    if (in && !json_is_object(in) && !json_is_string(in))
        return snprintf(err, errlen, "config.inputs: must be an object"), -1;
    static const char *const flags[] = {"wait_for_completion", "fail_on_child_failure", NULL};
    for (int i = 0; flags[i]; i++) {
        const json_t *v = json_object_get(config, flags[i]);
        if (v && !json_is_boolean(v))
            return snprintf(err, errlen, "config.%s: must be a boolean", flags[i]), -1;
    }
    return 0;
}

//  The finished child's outcome as the step's result.
static void
s_finish(const json_t *config, const json_t *child, zf_step_result_t *res)
{
    const char *status = json_string_value(json_object_get(child, "status"));
    res->output = json_pack(
        "{s:O, s:O, s:O, s:O?, s:O?}", "child_run_id", json_object_get(child, "id"), "workflow_id",
        json_object_get(config, "workflow_id"), "status", json_object_get(child, "status"),
        "outputs", json_object_get(child, "outputs"), "error", json_object_get(child, "error"));
    bool ok = status && strcmp(status, "completed") == 0;
    if (ok || json_is_false(json_object_get(config, "fail_on_child_failure")))
        res->status = ZF_STEP_OK;
    else
        zf_step_fail(res, ZF_STEP_FAIL_FINAL, "child run %s %s",
                     json_string_value(json_object_get(child, "id")), status ? status : "ended");
}

static void
s_wait(zf_step_ctx_t *ctx, const json_t *config, const json_t *child, zf_step_result_t *res)
{
    res->output = json_pack("{s:O, s:O, s:O}", "child_run_id", json_object_get(child, "id"),
                            "workflow_id", json_object_get(config, "workflow_id"), "status",
                            json_object_get(child, "status"));
    res->status = ZF_STEP_SUSPEND;
    res->suspend_status = "waiting_for_child";
    res->wake_at_ms = ctx->now_ms + S_POLL_MS;
}

static void
s_exec(zf_step_ctx_t *ctx, const json_t *config, zf_step_result_t *res)
{
    if (!zf_step_config_ok(s_validate, config, res)) return;
    const json_t *child = json_object_get(ctx->resume, "child");
    if (json_is_object(child)) {
        s_finish(config, child, res);
        return;
    }
    if (!ctx->call) {
        zf_step_fail(res, ZF_STEP_FAIL_FINAL, "run_workflow: no engine connection");
        return;
    }
    //  First exec, or a poll / a re-run: run.start returns the node's
    //  existing child when there is one.
    const json_t *inputs = json_object_get(config, "inputs");
    json_t *body = json_pack("{s:O, s:O?, s:{s:s, s:s}}", "workflow_id",
                             json_object_get(config, "workflow_id"), "inputs",
                             json_is_object(inputs) ? inputs : NULL, "parent", "run_id",
                             ctx->run_id, "node_id", ctx->node_id);
    json_t *reply = NULL;
    char err[200];
    int rc = ctx->call(ctx->call_arg, "run.start", body, &reply, err, sizeof err);
    if (rc) {
        zf_step_fail(res,
                     rc == ZF_EUNAVAIL || rc == ZF_ETIMEOUT || rc == ZF_EIO ? ZF_STEP_FAIL
                                                                            : ZF_STEP_FAIL_FINAL,
                     "run_workflow: %s", err);
        return;
    }
    const json_t *run = json_object_get(reply, "run");
    const char *status = json_string_value(json_object_get(run, "status"));
    bool wait = json_is_true(json_object_get(config, "wait_for_completion"));
    if (wait && status &&
        (!strcmp(status, "completed") || !strcmp(status, "failed") || !strcmp(status, "cancelled")))
        s_finish(config, run, res);
    else if (wait)
        s_wait(ctx, config, run, res);
    else {
        res->status = ZF_STEP_OK;
        res->output = json_pack("{s:O, s:O, s:O}", "child_run_id", json_object_get(run, "id"),
                                "workflow_id", json_object_get(config, "workflow_id"), "status",
                                json_object_get(run, "status"));
    }
    json_decref(reply);
}

const zf_step_kind_t zf_step_kind_run_workflow = {
    .name = "run_workflow", .validate = s_validate, .exec = s_exec, .cpu_only = 0};
