/*  actors/steps/update_record.c — kind "update_record" (seed 003).

    config: {"record": "trigger" (default) | "related", "module"?,
             "record_id"?, "updates": {field: value}}
    "trigger" updates the record that triggered the run (its module and id
    come from the run's trigger); "related" needs module and record_id
    (usually templates: "{{record.account_id}}"). A null value removes the
    field. Output: {"record", "changed"}. A missing record fails at once
    (record_not_found); the update itself goes through the records service,
    so it emits record.updated / field.changed like any other change.
*/
#include "actors/automation.h"
#include "actors/steps/record_ops.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static int
s_validate(const json_t *config, char *err, size_t errlen)
{
    const char *which = json_string_value(json_object_get(config, "record"));
    json_t *rec = json_object_get(config, "record");
    if (rec && (!which || (strcmp(which, "trigger") && strcmp(which, "related")))) {
        snprintf(err, errlen, "config.record: must be \"trigger\" or \"related\"");
        return -1;
    }
    if (!json_is_object(json_object_get(config, "updates")) ||
        json_object_size(json_object_get(config, "updates")) == 0) {
        snprintf(err, errlen, "config.updates: required non-empty object");
        return -1;
    }
    if (which && strcmp(which, "related") == 0) {
        const char *m = json_string_value(json_object_get(config, "module"));
        if (!m || (!strstr(m, "{{") && !zf_auto_module_valid(m))) {
            snprintf(err, errlen, "config.module: required module name for a related record");
            return -1;
        }
        if (!json_is_string(json_object_get(config, "record_id"))) {
            snprintf(err, errlen, "config.record_id: required string for a related record");
            return -1;
        }
    }
    return 0;
}

static void
s_exec(zf_step_ctx_t *ctx, const json_t *config, zf_step_result_t *res)
{
    if (!zf_step_config_ok(s_validate, config, res)) return;
    const char *which = json_string_value(json_object_get(config, "record"));
    bool related = which && strcmp(which, "related") == 0;
    const char *module =
        json_string_value(json_object_get(related ? config : ctx->trigger, "module"));
    const char *id =
        json_string_value(json_object_get(related ? config : ctx->trigger, "record_id"));
    if (!module || !id || !id[0]) {
        zf_step_fail(res, ZF_STEP_FAIL_FINAL, "record_not_found: %s",
                     related ? "the related record id is empty"
                             : "this run was not triggered by a record");
        return;
    }
    json_t *body = json_pack("{s:s, s:s, s:O}", "module", module, "id", id, "patch",
                             json_object_get(config, "updates"));
    zf_record_call(ctx, "rec.update", body, NULL, "update_record", res);
    if (res->status == ZF_STEP_OK) json_object_del(res->output, "module");
}

const zf_step_kind_t zf_step_kind_update_record = {
    .name = "update_record", .validate = s_validate, .exec = s_exec, .cpu_only = 0};
