/*  actors/automation.h — the automation parts of a workflow: its trigger,
    its guard conditions and its error handling (docs/protocol.md, wf.create).

    trigger     {"type": manual|webhook|schedule|record.created|record.updated|
                 record.deleted|field.changed, "module"?, "field"?,
                 "schedule"?, "timezone"?, "webhook_path"?}
    conditions  [{"field", "operator", "value"?}]: all must pass, evaluated
                against the trigger context before any node runs. A field
                is a path into the record ("stage", "address.city",
                "items[0]") unless it starts with record., previous.,
                trigger. or user. (then from that root).
    error_handling {"breaker_threshold"|"disable_after_failures": 1..1000000,
                 "notify_on_failure": bool, "notify_email": address,
                 "retry_delays_s": [0..86400, ...] (at most 10)}
*/
#ifndef ZF_AUTOMATION_H
#define ZF_AUTOMATION_H

#include <stdbool.h>
#include <jansson.h>
#include <stddef.h>

//  Module names: 1..64 of [a-z0-9_-], starting with a letter.
int zf_auto_module_valid(const char *module);

//  0 if valid; else ZF_EINVAL and err names the field ("trigger.module: ...").
int zf_auto_trigger_check(const json_t *trigger, char *err, size_t errlen);
//  Seed 001 triggers ("event", "form_submission"): the engine event type
//  they wait for ("record.created", "form.approved", ...) and in *module
//  the filter id ("*" = any); NULL for other triggers.
const char *zf_auto_event_index(const json_t *trigger, const char **module);
//  Whether events.ingest accepts this event type.
bool zf_auto_event_type_ok(const char *type);
int zf_auto_conditions_check(const json_t *conditions, char *err, size_t errlen);
int zf_auto_error_handling_check(const json_t *eh, char *err, size_t errlen);

//  Evaluates the guard against ctx ({record, previous, trigger, user}).
//  Returns 1 (all pass; also for NULL/empty conditions), 0 (one fails) or
//  ZF_EINVAL with err set (a condition cannot be evaluated). With
//  evaluated != NULL every condition is evaluated (no short cut) and
//  described in a new array [{field, operator, value, actual_value, passed}].
int zf_auto_guard(const json_t *conditions, const json_t *ctx, json_t **evaluated, char *err,
                  size_t errlen);

#endif
