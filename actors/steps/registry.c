/*  actors/steps/registry.c — the const table of step kinds. */
#include "actors/step.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

//  Each kind lives in its own file under actors/steps/.
extern const zf_step_kind_t zf_step_kind_set;
extern const zf_step_kind_t zf_step_kind_approval;
extern const zf_step_kind_t zf_step_kind_send_form;
extern const zf_step_kind_t zf_step_kind_run_workflow;
extern const zf_step_kind_t zf_step_kind_loop;
extern const zf_step_kind_t zf_step_kind_email;
extern const zf_step_kind_t zf_step_kind_notification;
extern const zf_step_kind_t zf_step_kind_condition;
extern const zf_step_kind_t zf_step_kind_delay;
extern const zf_step_kind_t zf_step_kind_http_request;
extern const zf_step_kind_t zf_step_kind_integration;
extern const zf_step_kind_t zf_step_kind_agent;
extern const zf_step_kind_t zf_step_kind_ai;
extern const zf_step_kind_t zf_step_kind_send_email;
extern const zf_step_kind_t zf_step_kind_update_record;
extern const zf_step_kind_t zf_step_kind_create_record;
extern const zf_step_kind_t zf_step_kind_send_notification;
extern const zf_step_kind_t zf_step_kind_call_webhook;
extern const zf_step_kind_t zf_step_kind_code;
extern const zf_step_kind_t zf_step_kind_table_operations;
extern const zf_step_kind_t zf_step_kind_create_matter;
extern const zf_step_kind_t zf_step_kind_evidence_snapshot;
extern const zf_step_kind_t zf_step_kind_slack;
extern const zf_step_kind_t zf_step_kind_generate_document;
extern const zf_step_kind_t zf_step_kind_send_document;

static const zf_step_kind_t *const s_kinds[] = {
    &zf_step_kind_set,
    &zf_step_kind_approval,
    &zf_step_kind_send_form,
    &zf_step_kind_run_workflow,
    &zf_step_kind_loop,
    &zf_step_kind_email,
    &zf_step_kind_notification,
    &zf_step_kind_condition,
    &zf_step_kind_delay,
    &zf_step_kind_http_request,
    &zf_step_kind_integration,
    &zf_step_kind_agent,
    &zf_step_kind_ai,
    &zf_step_kind_send_email,
    &zf_step_kind_update_record,
    &zf_step_kind_create_record,
    &zf_step_kind_send_notification,
    &zf_step_kind_call_webhook,
    &zf_step_kind_code,
    &zf_step_kind_table_operations,
    &zf_step_kind_create_matter,
    &zf_step_kind_evidence_snapshot,
    &zf_step_kind_slack,
    &zf_step_kind_generate_document,
    &zf_step_kind_send_document,
    NULL,
};

const zf_step_kind_t *
zf_step_find(const char *type)
{
    for (size_t i = 0; type && s_kinds[i]; i++)
        if (strcmp(s_kinds[i]->name, type) == 0) return s_kinds[i];
    return NULL;
}

const zf_step_kind_t *const *
zf_step_kinds(void)
{
    return s_kinds;
}

//  Releases the output and zeroes the result. res must be zeroed or
//  previously cleared (a fresh `zf_step_result_t r = {0}` is fine).
void
zf_step_result_clear(zf_step_result_t *res)
{
    if (!res) return;
    json_decref(res->output);
    memset(res, 0, sizeof *res);
}

json_t *
zf_step_template_root(const zf_step_ctx_t *ctx)
{
    const json_t *t = ctx->trigger;
    return json_pack("{s:O?, s:O?, s:O?, s:O?, s:O, s:O, s:O, s:O?, s:O?, s:{s:s, s:s?}}", "record",
                     json_object_get(t, "record"), "previous", json_object_get(t, "previous"),
                     "user", json_object_get(t, "user"), "trigger", t, "steps", ctx->steps, "vars",
                     ctx->vars, "inputs", ctx->inputs, "event", json_object_get(t, "data"),
                     "submission", json_object_get(t, "data"), "run", "id", ctx->run_id,
                     "workflow_id", ctx->workflow_id);
}

void
zf_step_fail(zf_step_result_t *res, zf_step_status_t st, const char *fmt, ...)
{
    va_list ap;
    res->status = st;
    va_start(ap, fmt);
    vsnprintf(res->error, sizeof res->error, fmt, ap);
    va_end(ap);
}

int
zf_step_config_ok(int (*validate)(const json_t *, char *, size_t), const json_t *config,
                  zf_step_result_t *res)
{
    char err[256];
    if (validate(config, err, sizeof err) == 0) return 1;
    zf_step_fail(res, ZF_STEP_FAIL_FINAL, "%s", err);
    return 0;
}
