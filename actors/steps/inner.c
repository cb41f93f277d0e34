/*  actors/steps/inner.c — see inner.h. */
#include "actors/steps/inner.h"
#include "actors/template.h"

#include <stdio.h>
#include <string.h>

static const char *const s_refused[] = {"delay",        "approval", "send_form",
                                        "run_workflow", "loop",     NULL};

int
zf_inner_validate(const json_t *config, const char *key, char *err, size_t errlen)
{
    const json_t *step = json_object_get(config, key);
    const char *type = json_string_value(json_object_get(step, "type"));
    const zf_step_kind_t *kind = zf_step_find(type);
    if (!json_is_object(step) || !kind)
        return snprintf(err, errlen, "config.%s.type: must be a known step type", key), -1;
    for (int i = 0; s_refused[i]; i++)
        if (strcmp(type, s_refused[i]) == 0)
            return snprintf(err, errlen, "config.%s.type: %s cannot run inside another step", key,
                            type),
                   -1;
    const json_t *inner = json_object_get(step, "config");
    if (inner && !json_is_object(inner))
        return snprintf(err, errlen, "config.%s.config: must be an object", key), -1;
    //  Templates inside are checked by the definition; values that are
    //  templates are checked by the kind at run time, once rendered.
    char ierr[200];
    if (inner && kind->validate && !zf_tpl_has_value(inner) &&
        kind->validate(inner, ierr, sizeof ierr))
        return snprintf(err, errlen, "config.%s: %s", key, ierr), -1;
    return 0;
}

int
zf_inner_exec(zf_step_ctx_t *ctx, const json_t *step, const json_t *root, const char *node_id,
              const json_t *input, zf_step_result_t *r)
{
    const zf_step_kind_t *kind = zf_step_find(json_string_value(json_object_get(step, "type")));
    if (!kind) {
        zf_step_fail(r, ZF_STEP_FAIL_FINAL, "unknown step type");
        return -1;
    }
    const json_t *inner = json_object_get(step, "config");
    zf_tpl_scope_t scope = {.root = root, .now_ms = ctx->now_ms};
    char err[200];
    json_t *cfg = inner ? zf_tpl_render_value(&scope, inner, err, sizeof err) : json_object();
    if (!cfg) {
        zf_step_fail(r, ZF_STEP_FAIL_FINAL, "template: %s", err);
        return -1;
    }
    zf_step_ctx_t sub = *ctx;
    sub.node_id = node_id;
    sub.input = input;
    sub.resumed = 0;
    sub.resume = NULL;
    kind->exec(&sub, cfg, r);
    json_decref(cfg);
    if (r->status == ZF_STEP_OK || r->status == ZF_STEP_STOP) return 0;
    if (r->status == ZF_STEP_WAIT || r->status == ZF_STEP_SUSPEND || r->status == ZF_STEP_BLOCKED)
        zf_step_fail(r, ZF_STEP_FAIL, "the step asked to wait (%s)",
                     r->status == ZF_STEP_BLOCKED ? "host breaker open" : "not possible here");
    return -1;
}
