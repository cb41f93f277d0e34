/*  actors/steps/delay.c — kind "delay": passivate the run for a while.

    config: {"duration": N, "unit": "seconds"} with the maxima of seed 003:
    seconds <= 86400, minutes <= 1440, hours <= 24, days <= 7
    (milliseconds <= 86,400,000 is accepted for tests). First exec returns
    ZF_STEP_WAIT until now + duration; the resumed exec completes with
    {"delayed_ms": N}. A zero delay completes at once.
*/
#include "actors/step.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;  // unit name
    double ms;         // milliseconds per unit
    double max;        // largest duration in this unit
} s_units[] = {
    {"milliseconds", 1, 86400000}, {"seconds", 1000, 86400}, {"minutes", 60000, 1440},
    {"hours", 3600000, 24},        {"days", 86400000, 7},
};

static int
s_unit(const json_t *config)
{
    const json_t *u = json_object_get(config, "unit");
    const char *name = u ? json_string_value(u) : "seconds";
    for (size_t i = 0; name && i < sizeof s_units / sizeof s_units[0]; i++)
        if (strcmp(s_units[i].name, name) == 0) return (int)i;
    return -1;
}

static int
s_validate(const json_t *config, char *err, size_t errlen)
{
    const json_t *d = json_object_get(config, "duration");
    int u = s_unit(config);
    if (!json_is_number(d) || !isfinite(json_number_value(d)) || json_number_value(d) < 0) {
        snprintf(err, errlen, "config.duration: must be a non-negative number");
        return -1;
    }
    if (u < 0) {
        snprintf(err, errlen, "config.unit: must be milliseconds, seconds, minutes, hours or days");
        return -1;
    }
    if (json_number_value(d) > s_units[u].max) {
        snprintf(err, errlen, "config.duration: at most %.0f %s", s_units[u].max, s_units[u].name);
        return -1;
    }
    return 0;
}

static void
s_exec(zf_step_ctx_t *ctx, const json_t *config, zf_step_result_t *res)
{
    if (!zf_step_config_ok(s_validate, config, res)) return;
    int u = s_unit(config);
    double d = json_number_value(json_object_get(config, "duration"));
    json_int_t ms = (json_int_t)(d * s_units[u].ms + 0.5);
    if (!ctx->resumed && ms > 0) {
        res->status = ZF_STEP_WAIT;
        res->wake_at_ms = ctx->now_ms + ms;
        return;
    }
    res->status = ZF_STEP_OK;
    res->output = json_pack("{s:I}", "delayed_ms", ms);
}

const zf_step_kind_t zf_step_kind_delay = {
    .name = "delay", .validate = s_validate, .exec = s_exec, .cpu_only = 1};
