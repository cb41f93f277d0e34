/*  actors/steps/call_webhook.c — kind "call_webhook" (seed 003): an
    http_request under the Coherence name. Same config (url, method,
    headers, body, timeout_ms) and output; failures carry the seed's error
    codes: "webhook_connection_failed: ..." for transport errors and HTTP
    failures, "action_timeout: ..." for timeouts.
*/
#include "actors/step.h"

#include <stdio.h>
#include <string.h>

extern const zf_step_kind_t zf_step_kind_http_request;

static int
s_validate(const json_t *config, char *err, size_t errlen)
{
    return zf_step_kind_http_request.validate(config, err, errlen);
}

static void
s_exec(zf_step_ctx_t *ctx, const json_t *config, zf_step_result_t *res)
{
    zf_step_kind_http_request.exec(ctx, config, res);
    if (res->status != ZF_STEP_FAIL && res->status != ZF_STEP_FAIL_FINAL) return;
    char msg[sizeof res->error + 32];
    const char *code =
        strncmp(res->error, "timeout", 7) == 0 ? "action_timeout" : "webhook_connection_failed";
    snprintf(msg, sizeof msg, "%s: %s", code, res->error);
    snprintf(res->error, sizeof res->error, "%.*s", (int)sizeof res->error - 1, msg);
}

const zf_step_kind_t zf_step_kind_call_webhook = {
    .name = "call_webhook", .validate = s_validate, .exec = s_exec, .cpu_only = 0};
