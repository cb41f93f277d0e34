/*  actors/steps/ai.c — kind "ai": one chat completion (seed 001).

    config: {"prompt": str (required, {{templates}} allowed), "system"?: str,
             "model"?: str (default --ai-model), "temperature"?: 0..2,
             "max_tokens"?: 1..32768, "json"?: bool}
    output: {"text", "model", "finish_reason": str|null,
             "usage": {"prompt_tokens", "completion_tokens", "total_tokens"},
             "json"?: object (json mode: the answer parsed)}

    The request goes to the operator's OpenAI-compatible endpoint through
    the provider interface (actors/ai.h), which also decides the outcome:
    429/5xx/transport errors are retried under the node's retry policy,
    other 4xx and malformed answers fail for good, and a server started
    without --ai-url fails the step at once with a message saying so.
    Keys other than the ones above are ignored (dialects may keep theirs).
*/
#include "actors/ai.h"
#include "actors/step.h"

#include <stdio.h>
#include <string.h>

static int
s_validate(const json_t *config, char *err, size_t errlen)
{
    const json_t *p = json_object_get(config, "prompt");
    if (!json_is_object(config)) {
        snprintf(err, errlen, "config: must be an object");
        return -1;
    }
    if (!json_is_string(p) || json_string_length(p) == 0 ||
        json_string_length(p) > ZF_AI_TEXT_MAX) {
        snprintf(err, errlen, "config.prompt: required, a non-empty string of at most %d bytes",
                 ZF_AI_TEXT_MAX);
        return -1;
    }
    return zf_ai_check_options(config, err, errlen);
}

static void
s_exec(zf_step_ctx_t *ctx, const json_t *config, zf_step_result_t *res)
{
    if (!zf_step_config_ok(s_validate, config, res)) return;
    zf_ai_step_run(ctx, config, json_string_value(json_object_get(config, "system")),
                   json_string_value(json_object_get(config, "prompt")), res);
}

const zf_step_kind_t zf_step_kind_ai = {
    .name = "ai", .validate = s_validate, .exec = s_exec, .cpu_only = 0};
