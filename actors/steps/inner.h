/*  actors/steps/inner.h — a step run inside another step.

    loop runs one per item; approval and send_form run one ("notify") when
    the link exists, before the run pauses. The outer kind declares the key
    as its raw_key so the run actor leaves it unrendered: the outer step
    renders it itself, with roots of its own (item/index, approval/form).
*/
#ifndef ZF_STEPS_INNER_H
#define ZF_STEPS_INNER_H

#include "actors/step.h"

//  Checks config[key] as {"type": kind, "config"?: map}: a known kind that
//  does not wait (delay, approval, send_form, run_workflow and loop are
//  refused); a config without templates is validated by its kind.
int zf_inner_validate(const json_t *config, const char *key, char *err, size_t errlen);
//  Renders step's config with root (zf_step_template_root + the caller's own) and runs the kind as node_id with input.
//  A kind asking to wait fails (retryable). Returns 0 when it succeeded (OK
//  or STOP), else -1; r holds the outcome either way.
int zf_inner_exec(zf_step_ctx_t *ctx, const json_t *step, const json_t *root, const char *node_id,
                  const json_t *input, zf_step_result_t *r);

#endif
