/*  actors/steps/slack.c — kind "slack" (seed 001): a message to a Slack
    incoming webhook.

    config: {"webhook_url" (required: https://hooks.slack.com/services/...
             or any http(s) URL the egress policy allows), "text" (required),
             "channel"?, "username"?, "blocks"? [block], "timeout_ms"?}
    POSTs the JSON {"text", "channel"?, "username"?, "blocks"?} through the
    http_request kind, so the egress policy, the per-host breakers, the
    timeouts, the retry classification (408/429/5xx and transport errors
    retryable, other statuses final) and the Idempotency-Key header
    (<run_id>.<node_id>) are the same. output: {"status", "ok": true}.
    The webhook URL is a secret of sorts: it is never copied into the
    output or the error messages (only its host is, by http_request).
*/
#include "actors/step.h"
#include "broker/errors.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define S_TEXT_MAX   40000  // bytes in text (Slack truncates long messages itself)
#define S_NAME_MAX   200    // bytes in channel and username
#define S_BLOCKS_MAX 50     // blocks per message (Slack's limit)

extern const zf_step_kind_t zf_step_kind_http_request;

static bool
s_is_tpl(const json_t *v)
{
    return json_is_string(v) && strstr(json_string_value(v), "{{");
}

static int
s_check_fields(const json_t *config, bool tpl_ok, char *err, size_t errlen)
{
    const json_t *text = json_object_get(config, "text");
    if (!json_is_string(text) || json_string_length(text) < 1 ||
        json_string_length(text) > S_TEXT_MAX)
        return zf_errf(err, errlen, "config.text: required string of 1..%d bytes", S_TEXT_MAX);
    static const char *const names[] = {"channel", "username", NULL};
    for (int i = 0; names[i]; i++) {
        const json_t *v = json_object_get(config, names[i]);
        if (v && !json_is_null(v) &&
            (!json_is_string(v) || json_string_length(v) < 1 || json_string_length(v) > S_NAME_MAX))
            return zf_errf(err, errlen, "config.%s: must be a string of 1..%d bytes", names[i],
                           S_NAME_MAX);
    }
    const json_t *b = json_object_get(config, "blocks");
    if (b && !json_is_null(b) && !(tpl_ok && s_is_tpl(b)) &&
        (!json_is_array(b) || json_array_size(b) > S_BLOCKS_MAX))
        return zf_errf(err, errlen, "config.blocks: must be an array of at most %d blocks",
                       S_BLOCKS_MAX);
    return 0;
}

//  The http_request config for this message (new reference).
static json_t *
s_http_config(const json_t *config)
{
    json_t *msg = json_pack("{s:O}", "text", json_object_get(config, "text"));
    static const char *const optional[] = {"channel", "username", "blocks", NULL};
    for (int i = 0; optional[i]; i++) {
        json_t *v = json_object_get(config, optional[i]);
        if (v && !json_is_null(v)) json_object_set(msg, optional[i], v);
    }
    json_t *http = json_pack("{s:s, s:O, s:o}", "method", "POST", "url",
                             json_object_get(config, "webhook_url"), "body", msg);
    json_t *t = json_object_get(config, "timeout_ms");
    if (t) json_object_set(http, "timeout_ms", t);
    return http;
}

//  webhook_url first, so a missing one is the error reported; then the
//  message fields; then the URL and timeout as http_request checks them.
static int
s_check(const json_t *config, bool tpl_ok, char *err, size_t errlen)
{
    const json_t *url = json_object_get(config, "webhook_url");
    if (!json_is_string(url) || json_string_length(url) == 0)
        return zf_errf(err, errlen,
                       "config.webhook_url: required Slack incoming-webhook URL "
                       "(http or https)");
    if (!tpl_ok && s_is_tpl(url))
        return zf_errf(err, errlen, "config.webhook_url: must be an http or https URL");
    if (s_check_fields(config, tpl_ok, err, errlen)) return ZF_EINVAL;
    json_t *http = s_http_config(config);
    char herr[256];
    int rc = zf_step_kind_http_request.validate(http, herr, sizeof herr);
    json_decref(http);
    if (rc == 0) return 0;
    //  http_request names its own field ("config.url"): say which one it is here.
    const char *field = strncmp(herr, "config.url", 10) == 0 ? herr + 10 : NULL;
    return field ? zf_errf(err, errlen, "config.webhook_url%s", field)
                 : zf_errf(err, errlen, "%s", herr);
}

static int
s_validate(const json_t *config, char *err, size_t errlen)
{
    return s_check(config, true, err, errlen) ? -1 : 0;
}

static void
s_exec(zf_step_ctx_t *ctx, const json_t *config, zf_step_result_t *res)
{
    char err[256];
    if (s_check(config, false, err, sizeof err)) {
        zf_step_fail(res, ZF_STEP_FAIL_FINAL, "slack: %s", err);
        return;
    }
    json_t *http = s_http_config(config);
    zf_step_kind_http_request.exec(ctx, http, res);
    json_decref(http);
    if (res->status == ZF_STEP_OK) {
        json_t *out =
            json_pack("{s:O, s:b}", "status", json_object_get(res->output, "status"), "ok", 1);
        json_decref(res->output);
        res->output = out;
    } else if (res->status == ZF_STEP_FAIL || res->status == ZF_STEP_FAIL_FINAL) {
        char msg[sizeof res->error];
        snprintf(msg, sizeof msg, "%s", res->error);
        snprintf(res->error, sizeof res->error, "slack: %.*s", (int)sizeof res->error - 8, msg);
    }
}

const zf_step_kind_t zf_step_kind_slack = {
    .name = "slack", .validate = s_validate, .exec = s_exec, .cpu_only = 0};
