/*  actors/steps/record_ops.h — shared by the kinds that talk to the
    records and notification services (update_record, create_record,
    send_notification): one request through ctx->call, errors classified.
*/
#ifndef ZF_STEPS_RECORD_OPS_H
#define ZF_STEPS_RECORD_OPS_H

#include "actors/step.h"

#define ZF_CHAIN_MAX 8  // automations triggered by automations, at most this deep

//  Sends type/body (taken) as the run's tenant, with the causal depth of
//  the run's trigger + 1 (the engine starts no runs beyond ZF_CHAIN_MAX).
//  rec.create carries the idempotency key "<run_id>.<node_id>": a step
//  re-run after a crash gets the record of its first run back.
//  On success res is OK with output = the reply (or its `key` member when
//  key != NULL). not_found/validation fail final with `prefix` + message;
//  unavailable/timeout are retryable.
void zf_record_call(zf_step_ctx_t *ctx, const char *type, json_t *body, const char *key,
                    const char *prefix, zf_step_result_t *res);

#endif
