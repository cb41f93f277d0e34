/*  actors/steps/integration.c — kind "integration": call a named connector.

    node: {"id", "type": "integration", "action": "slack.post_message",
           "input_from"?, "config": {...}}
    The action is a node-level field (seed 002); config.action is accepted
    too, and the node-level one wins when both are set.

    Connectors:
      http.request  an HTTP call; config is exactly the http_request kind's
                    ({url, method, headers, body, timeout_ms, ...}) and the
                    call runs through that kind (egress guard, breaker,
                    Idempotency-Key, retry classification).
      anything else fails the step FINAL (no retries) with
                    `connector "<action>" is not configured`.

    At create time the definition validator hands validate() the config
    with the node-level action merged in, so a missing action or a bad
    http.request config is a validation error naming the node; exec()
    re-checks (stored definitions may predate a rule) and fails FINAL.
*/
#include "actors/step.h"

#include <stdio.h>
#include <string.h>

#define S_ACTION_MAX 128  // bytes in an action name

extern const zf_step_kind_t zf_step_kind_http_request;

static const char s_http_action[] = "http.request";

static int
s_action_ok(const json_t *a)
{
    return json_is_string(a) && json_string_length(a) >= 1 &&
           json_string_length(a) <= S_ACTION_MAX &&
           strlen(json_string_value(a)) == json_string_length(a);
}

static int
s_validate(const json_t *config, char *err, size_t errlen)
{
    const json_t *a = json_object_get(config, "action");
    if (!a) {
        snprintf(err, errlen, "action: required (the connector, e.g. \"http.request\")");
        return -1;
    }
    if (!s_action_ok(a)) {
        snprintf(err, errlen, "config.action: must be a string of 1 to %d characters",
                 S_ACTION_MAX);
        return -1;
    }
    if (strcmp(json_string_value(a), s_http_action) == 0)
        return zf_step_kind_http_request.validate(config, err, errlen);
    return 0;
}

//  The action to run: the node's "action", else config.action. NULL (and
//  res failed FINAL) when neither is a valid action name.
static const char *
s_action(const zf_step_ctx_t *ctx, const json_t *config, zf_step_result_t *res)
{
    const json_t *a = json_object_get(ctx->node, "action");
    const char *field = "action";
    if (!a) {
        a = json_object_get(config, "action");
        field = "config.action";
    }
    if (!a) {
        zf_step_fail(res, ZF_STEP_FAIL_FINAL,
                     "action: required (the connector to call, e.g. \"%s\")", s_http_action);
        return NULL;
    }
    if (!s_action_ok(a)) {
        zf_step_fail(res, ZF_STEP_FAIL_FINAL, "%s: must be a string of 1 to %d characters", field,
                     S_ACTION_MAX);
        return NULL;
    }
    return json_string_value(a);
}

static void
s_exec(zf_step_ctx_t *ctx, const json_t *config, zf_step_result_t *res)
{
    const char *action = s_action(ctx, config, res);
    if (!action) return;
    if (strcmp(action, s_http_action) == 0)
        zf_step_kind_http_request.exec(ctx, config, res);
    else
        zf_step_fail(res, ZF_STEP_FAIL_FINAL, "connector \"%s\" is not configured", action);
}

const zf_step_kind_t zf_step_kind_integration = {
    .name = "integration", .validate = s_validate, .exec = s_exec, .cpu_only = 0};
