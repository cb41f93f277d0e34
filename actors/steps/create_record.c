/*  actors/steps/create_record.c — kind "create_record" (seed 003).

    config: {"module": name, "data": {field: value}}. Output: the new
    record. Exactly once: rec.create carries the idempotency key
    "<run_id>.<node_id>", so a step re-run after a crash gets the record its
    first run created (no second record, no second record.created event).
*/
#include "actors/automation.h"
#include "actors/steps/record_ops.h"

#include <stdio.h>
#include <string.h>

static int
s_validate(const json_t *config, char *err, size_t errlen)
{
    const char *m = json_string_value(json_object_get(config, "module"));
    if (!m || (!strstr(m, "{{") && !zf_auto_module_valid(m))) {
        snprintf(err, errlen, "config.module: required module name (a-z, 0-9, _ and -)");
        return -1;
    }
    if (!json_is_object(json_object_get(config, "data"))) {
        snprintf(err, errlen, "config.data: required object");
        return -1;
    }
    return 0;
}

static void
s_exec(zf_step_ctx_t *ctx, const json_t *config, zf_step_result_t *res)
{
    if (!zf_step_config_ok(s_validate, config, res)) return;
    json_t *body = json_pack("{s:O, s:O}", "module", json_object_get(config, "module"), "record",
                             json_object_get(config, "data"));
    zf_record_call(ctx, "rec.create", body, "record", "create_record", res);
}

const zf_step_kind_t zf_step_kind_create_record = {
    .name = "create_record", .validate = s_validate, .exec = s_exec, .cpu_only = 0};
