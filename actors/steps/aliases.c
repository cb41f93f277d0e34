/*  actors/steps/aliases.c — seed 001's names for kinds zflow already has.

    ("email", send_email under seed 001's name, lives in send_email.c.)
    "notification" is send_notification for the workflow's people:
    config {"title", "message"?, "link"?, "user_ids"?: [str] | "user_id"?:
    str}; without users it notifies whoever started the run (the trigger's
    user), else "owner". Output: {"notifications": [...], "count"}.
*/
#include "actors/step.h"

#include <stdio.h>
#include <string.h>

extern const zf_step_kind_t zf_step_kind_send_notification;

//  The users to notify (new array).
static json_t *
s_users(const zf_step_ctx_t *ctx, const json_t *config)
{
    const json_t *list = json_object_get(config, "user_ids");
    if (json_is_array(list) && json_array_size(list) > 0) return json_deep_copy(list);
    const json_t *one = json_object_get(config, "user_id");
    if (json_is_string(one)) return json_pack("[O]", one);
    const char *user =
        json_string_value(json_object_get(json_object_get(ctx->trigger, "user"), "id"));
    return json_pack("[s]", user && *user ? user : "owner");
}

static int
s_notify_validate(const json_t *config, char *err, size_t errlen)
{
    const json_t *list = json_object_get(config, "user_ids");
    size_t i;
    json_t *x;
    if (list && (!json_is_array(list) || json_array_size(list) > 100))
        return snprintf(err, errlen, "config.user_ids: must be a list of at most 100 user ids"), -1;
    json_array_foreach (list, i, x)
        if (!json_is_string(x) || json_string_length(x) == 0)
            return snprintf(err, errlen, "config.user_ids[%zu]: must be a user id", i), -1;
    json_t *probe = json_deep_copy(config);
    json_object_del(probe, "user_ids");
    if (!json_object_get(probe, "user_id")) json_object_set_new(probe, "user_id", json_string("x"));
    int rc = zf_step_kind_send_notification.validate(probe, err, errlen);
    json_decref(probe);
    return rc;
}

static void
s_notify_exec(zf_step_ctx_t *ctx, const json_t *config, zf_step_result_t *res)
{
    if (!zf_step_config_ok(s_notify_validate, config, res)) return;
    json_t *users = s_users(ctx, config), *out = json_array();
    size_t i;
    json_t *u;
    json_array_foreach (users, i, u) {
        json_t *one = json_deep_copy(config);
        json_object_del(one, "user_ids");
        json_object_set(one, "user_id", u);
        zf_step_result_t r = {0};
        zf_step_kind_send_notification.exec(ctx, one, &r);
        json_decref(one);
        if (r.status != ZF_STEP_OK) {
            zf_step_fail(res, r.status, "%s", r.error);
            zf_step_result_clear(&r);
            json_decref(users);
            json_decref(out);
            return;
        }
        json_array_append(out, r.output ? r.output : json_null());
        zf_step_result_clear(&r);
    }
    json_decref(users);
    res->status = ZF_STEP_OK;
    res->output =
        json_pack("{s:I, s:o}", "count", (json_int_t)json_array_size(out), "notifications", out);
}

const zf_step_kind_t zf_step_kind_notification = {
    .name = "notification", .validate = s_notify_validate, .exec = s_notify_exec, .cpu_only = 0};
