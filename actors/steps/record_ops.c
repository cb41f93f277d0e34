/*  actors/steps/record_ops.c — see record_ops.h. */
#include "actors/steps/record_ops.h"
#include "broker/errors.h"

#include <stdbool.h>

#include <stdio.h>
#include <string.h>

void
zf_record_call(zf_step_ctx_t *ctx, const char *type, json_t *body, const char *key,
               const char *prefix, zf_step_result_t *res)
{
    if (!ctx->call) {
        json_decref(body);
        zf_step_fail(res, ZF_STEP_FAIL_FINAL, "%s: no records service here", prefix);
        return;
    }
    json_int_t depth = json_integer_value(json_object_get(ctx->trigger, "depth"));
    json_object_set_new(body, "depth", json_integer(depth + 1));
    //  A step re-run after a crash gets the record its first run made.
    if (strcmp(type, "rec.create") == 0 && ctx->run_id && ctx->node_id) {
        char idem[160];
        snprintf(idem, sizeof idem, "%s.%s", ctx->run_id, ctx->node_id);
        json_object_set_new(body, "idempotency_key", json_string(idem));
    }
    json_t *reply = NULL;
    char err[200];
    int rc = ctx->call(ctx->call_arg, type, body, &reply, err, sizeof err);
    if (rc == 0) {
        res->status = ZF_STEP_OK;
        res->output = key ? json_incref(json_object_get(reply, key)) : json_incref(reply);
        json_decref(reply);
        return;
    }
    bool retry = rc == ZF_EUNAVAIL || rc == ZF_ETIMEOUT || rc == ZF_EIO;
    zf_step_fail(res, retry ? ZF_STEP_FAIL : ZF_STEP_FAIL_FINAL, "%s: %s", prefix, err);
}
