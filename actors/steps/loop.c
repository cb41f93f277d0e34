/*  actors/steps/loop.c — kind "loop": one step per item of a collection.

    config: {"items": array (usually "{{steps.query.rows}}": a string that is
             exactly one template keeps its JSON type),
             "step": {"type": kind, "config": {...}} (required),
             "max_items"?: 1..1000 (default 100: more items fail the step),
             "continue_on_error"?: bool (default false)}

    The run actor renders "items" but leaves "step" alone; the loop renders
    the inner config once per item with two more template roots: `item`
    (the element) and `index` (0-based). The inner step runs with node id
    "<loop id>[<index>]" — http_request's Idempotency-Key and send_email's
    Message-ID differ per item — and sees the item as its input.

    Output: {"count": items run, "results": [output per item], "errors":
    [{"index", "error"}]}. An inner failure fails the loop (retryable if the
    inner failure was) unless continue_on_error. Inner kinds that wait
    (delay, approval, send_form, run_workflow, loop) are refused at
    validation: a loop is one step, durable as a whole — after a crash in
    the middle it runs again from the first item, so inner steps should be
    idempotent (the per-item keys above make http_request and email so for
    receivers that de-duplicate).
*/
#include "actors/step.h"
#include "actors/steps/inner.h"

#include <stdbool.h>

#include <stdio.h>
#include <string.h>

#define S_MAX_ITEMS 1000

static int
s_validate(const json_t *config, char *err, size_t errlen)
{
    const json_t *items = json_object_get(config, "items");
    if (!json_is_array(items) && !json_is_string(items))
        return snprintf(err, errlen, "config.items: required (a list or a {{template}})"), -1;
    if (zf_inner_validate(config, "step", err, errlen)) return -1;
    const json_t *max = json_object_get(config, "max_items");
    if (max && (!json_is_integer(max) || json_integer_value(max) < 1 ||
                json_integer_value(max) > S_MAX_ITEMS))
        return snprintf(err, errlen, "config.max_items: must be an integer 1..%d", S_MAX_ITEMS), -1;
    const json_t *coe = json_object_get(config, "continue_on_error");
    if (coe && !json_is_boolean(coe))
        return snprintf(err, errlen, "config.continue_on_error: must be a boolean"), -1;
    return 0;
}

//  Runs the inner step on items[i]; 0 when it succeeded.
static int
s_one(zf_step_ctx_t *ctx, const json_t *step, const json_t *item, size_t i, json_t *results,
      zf_step_result_t *r)
{
    json_t *root = zf_step_template_root(ctx);
    json_object_set(root, "item", (json_t *)item);
    json_object_set_new(root, "index", json_integer((json_int_t)i));
    char node_id[96];
    snprintf(node_id, sizeof node_id, "%s[%zu]", ctx->node_id, i);
    int rc = zf_inner_exec(ctx, step, root, node_id, item, r);
    json_decref(root);
    json_array_append(results, rc == 0 && r->output ? r->output : json_null());
    return rc;
}

static void
s_exec(zf_step_ctx_t *ctx, const json_t *config, zf_step_result_t *res)
{
    if (!zf_step_config_ok(s_validate, config, res)) return;
    const json_t *items = json_object_get(config, "items");
    json_int_t max = json_integer_value(json_object_get(config, "max_items"));
    if (max <= 0) max = 100;
    if (!json_is_array(items)) {
        zf_step_fail(res, ZF_STEP_FAIL_FINAL, "config.items: did not render to a list");
        return;
    }
    if ((json_int_t)json_array_size(items) > max) {
        zf_step_fail(res, ZF_STEP_FAIL_FINAL, "config.items: %zu items, more than max_items %lld",
                     json_array_size(items), (long long)max);
        return;
    }
    const json_t *step = json_object_get(config, "step");
    bool go_on = json_is_true(json_object_get(config, "continue_on_error"));
    json_t *results = json_array(), *errors = json_array();
    size_t i;
    const json_t *item;
    json_array_foreach (items, i, item) {
        zf_step_result_t r = {0};
        if (s_one(ctx, step, item, i, results, &r)) {
            json_array_append_new(
                errors, json_pack("{s:I, s:s}", "index", (json_int_t)i, "error", r.error));
            if (!go_on) {
                zf_step_fail(res, r.status, "items[%zu]: %s", i, r.error);
                zf_step_result_clear(&r);
                json_decref(results);
                json_decref(errors);
                return;
            }
        }
        zf_step_result_clear(&r);
    }
    res->status = ZF_STEP_OK;
    res->output = json_pack("{s:I, s:o, s:o}", "count", (json_int_t)json_array_size(items),
                            "results", results, "errors", errors);
}

const zf_step_kind_t zf_step_kind_loop = {
    .name = "loop", .validate = s_validate, .exec = s_exec, .cpu_only = 0, .raw_key = "step"};
