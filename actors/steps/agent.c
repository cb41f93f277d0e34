/*  actors/steps/agent.c — kind "agent": AI agent steps (seed 002).

    node: {"id", "type": "agent", "action": "generate_report", "input_from"?,
           "config"?: {...}}
    Accepted in definitions so seed workflows can be stored, listed and
    updated; there is no agent runtime yet, so exec fails the step FINAL
    (no retries) with `agent steps are not available yet (action "<action>")`.
    The action is the node-level "action", else config.action.
*/
#include "actors/step.h"

static int
s_validate(const json_t *config, char *err, size_t errlen)
{
    (void)config, (void)err, (void)errlen;
    return 0;
}

static void
s_exec(zf_step_ctx_t *ctx, const json_t *config, zf_step_result_t *res)
{
    const json_t *a = json_object_get(ctx->node, "action");
    if (!a) a = json_object_get(config, "action");
    if (json_is_string(a))
        zf_step_fail(res, ZF_STEP_FAIL_FINAL,
                     "agent steps are not available yet (action \"%.128s\")", json_string_value(a));
    else
        zf_step_fail(res, ZF_STEP_FAIL_FINAL, "agent steps are not available yet");
}

const zf_step_kind_t zf_step_kind_agent = {"agent", s_validate, s_exec, 0};
