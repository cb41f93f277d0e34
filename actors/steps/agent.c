/*  actors/steps/agent.c — kind "agent": an AI agent step (seed 002).

    node: {"id", "type": "agent", "action": "generate_report", "input_from"?,
           "config"?: {free-form}}
    The action is the node-level "action" (seed 002), else config.action;
    the node-level one wins. It runs one chat completion on the same
    provider as the `ai` kind (actors/ai.h), built like this:

      system  config.system, else "You are an AI agent that performs the
              step \"<action>\" of an automated workflow. ..." (see s_system)
      user    Action: <action>
              Instructions: <config.prompt>            (when set)
              Parameters: <the other config keys as compact JSON>  (when any)
              Input: <the node's input as compact JSON>

    The node's input is the output of its input_from node, else the run's
    inputs. config.model, temperature, max_tokens and json mean what they
    mean for `ai` and are not repeated under Parameters; every other
    config key is. {{templates}} in the config are rendered first.
    output: the ai kind's ({"text", "model", "finish_reason", "usage",
    "json"?}) plus "action".
*/
#include "actors/ai.h"
#include "actors/step.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_ACTION_MAX 128  // bytes in an action name

//  Config keys with a meaning of their own (not sent as Parameters).
static const char *const s_reserved[] = {"action",      "prompt",     "system", "model",
                                         "temperature", "max_tokens", "json",   NULL};

static int
s_action_ok(const json_t *a)
{
    return json_is_string(a) && json_string_length(a) >= 1 &&
           json_string_length(a) <= S_ACTION_MAX &&
           strlen(json_string_value(a)) == json_string_length(a);
}

//  At create time the definition validator merges the node-level action
//  into config, so a missing action is reported naming the node.
static int
s_validate(const json_t *config, char *err, size_t errlen)
{
    const json_t *a = json_object_get(config, "action");
    const json_t *p = json_object_get(config, "prompt");
    if (!json_is_object(config)) {
        snprintf(err, errlen, "config: must be an object");
        return -1;
    }
    if (!a) {
        snprintf(err, errlen, "action: required (the agent action, e.g. \"generate_report\")");
        return -1;
    }
    if (!s_action_ok(a)) {
        snprintf(err, errlen, "action: must be a string of 1 to %d characters", S_ACTION_MAX);
        return -1;
    }
    if (p && !(json_is_string(p) && json_string_length(p) <= ZF_AI_TEXT_MAX)) {
        snprintf(err, errlen, "config.prompt: must be a string of at most %d bytes",
                 ZF_AI_TEXT_MAX);
        return -1;
    }
    return zf_ai_check_options(config, err, errlen);
}

static int
s_reserved_key(const char *k)
{
    for (size_t i = 0; s_reserved[i]; i++)
        if (strcmp(s_reserved[i], k) == 0) return 1;
    return 0;
}

//  Compact JSON with sorted keys (stable prompts), caller frees.
static char *
s_dump(const json_t *v)
{
    char *s = json_dumps(v ? v : json_null(), JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    if (!s) abort();
    return s;
}

static char *
s_system(const char *action)
{
    char *s = NULL;
    if (asprintf(&s,
                 "You are an AI agent that performs the step \"%s\" of an automated workflow. "
                 "Carry out that task on the input data you are given, following the "
                 "instructions and parameters when present. Answer with the result only, "
                 "without preamble.",
                 action) < 0)
        abort();
    return s;
}

//  The user message (see the file comment), caller frees.
static char *
s_prompt(const char *action, const json_t *config, const json_t *input)
{
    json_t *params = json_object();
    const char *k, *instr = json_string_value(json_object_get(config, "prompt"));
    json_t *v;
    json_object_foreach ((json_t *)config, k, v)
        if (!s_reserved_key(k)) json_object_set(params, k, v);
    char *p = json_object_size(params) ? s_dump(params) : NULL, *in = s_dump(input), *out = NULL;
    if (asprintf(&out, "Action: %s\n%s%s%s%s%s%sInput: %s", action, instr ? "Instructions: " : "",
                 instr ? instr : "", instr ? "\n" : "", p ? "Parameters: " : "", p ? p : "",
                 p ? "\n" : "", in) < 0)
        abort();
    free(p);
    free(in);
    json_decref(params);
    return out;
}

static void
s_exec(zf_step_ctx_t *ctx, const json_t *config, zf_step_result_t *res)
{
    json_t *cfg = json_copy((json_t *)config);
    const json_t *node_action = json_object_get(ctx->node, "action");
    if (!cfg) abort();
    if (node_action) json_object_set(cfg, "action", (json_t *)node_action);
    if (zf_step_config_ok(s_validate, cfg, res)) {
        const char *action = json_string_value(json_object_get(cfg, "action"));
        const char *sys = json_string_value(json_object_get(cfg, "system"));
        char *dflt = sys ? NULL : s_system(action), *prompt = s_prompt(action, cfg, ctx->input);
        zf_ai_step_run(ctx, cfg, sys ? sys : dflt, prompt, res);
        if (res->status == ZF_STEP_OK)
            json_object_set_new(res->output, "action", json_string(action));
        free(dflt);
        free(prompt);
    }
    json_decref(cfg);
}

const zf_step_kind_t zf_step_kind_agent = {
    .name = "agent", .validate = s_validate, .exec = s_exec, .cpu_only = 0};
