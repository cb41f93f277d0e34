/*  actors/steps/send_notification.c — kind "send_notification" (seed 003).

    config: {"user_id", "title", "message"?, "link"?}: an in-app
    notification stored for the user (GET /api/v2/notifications lists
    them). Output: the notification.
*/
#include "actors/steps/record_ops.h"

#include <stdio.h>
#include <string.h>

static int
s_validate(const json_t *config, char *err, size_t errlen)
{
    static const char *const fields[] = {"user_id", "title", NULL};
    for (int i = 0; fields[i]; i++) {
        const json_t *v = json_object_get(config, fields[i]);
        if (!json_is_string(v) || json_string_length(v) == 0) {
            snprintf(err, errlen, "config.%s: required non-empty string", fields[i]);
            return -1;
        }
    }
    static const char *const optional[] = {"message", "link", NULL};
    for (int i = 0; optional[i]; i++) {
        const json_t *v = json_object_get(config, optional[i]);
        if (v && !json_is_string(v) && !json_is_null(v)) {
            snprintf(err, errlen, "config.%s: must be a string", optional[i]);
            return -1;
        }
    }
    return 0;
}

static void
s_exec(zf_step_ctx_t *ctx, const json_t *config, zf_step_result_t *res)
{
    if (!zf_step_config_ok(s_validate, config, res)) return;
    json_t *body = json_pack(
        "{s:O, s:O, s:O?, s:O?, s:{s:s, s:s}}", "user_id", json_object_get(config, "user_id"),
        "title", json_object_get(config, "title"), "message", json_object_get(config, "message"),
        "link", json_object_get(config, "link"), "source", "run_id", ctx->run_id, "node_id",
        ctx->node_id);
    zf_record_call(ctx, "notify.create", body, "notification", "send_notification", res);
}

const zf_step_kind_t zf_step_kind_send_notification = {
    .name = "send_notification", .validate = s_validate, .exec = s_exec, .cpu_only = 0};
