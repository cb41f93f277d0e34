/*  actors/steps/create_matter.c — kind "create_matter" (seed 001).

    A matter is a record in module "matters".
    config: {"title" (required), "template_id"? (board template id),
             "tags"? [str], "priority"? "low"|"medium"|"high"|"urgent"
             (default "medium"), "description"?, "assignee"?}
    output: {"matter": record, "matter_id"}. The record holds the fields
    given, "status": "open", "tags" ([] when none) and "source": {"run_id",
    "node_id"}; zflow adds id, created_at and updated_at. Created through
    the records service, so ROW_ADDED automations on "matters" fire.
    Exactly once like create_record: a step re-run after a crash gets the
    matter its first run created (rec.create's idempotency key).
*/
#include "actors/step.h"
#include "actors/steps/record_ops.h"
#include "broker/errors.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define S_MODULE    "matters"
#define S_TITLE_MAX 500    // bytes in a title
#define S_TEXT_MAX  20000  // bytes in a description
#define S_ID_MAX    200    // bytes in template_id and assignee
#define S_TAGS_MAX  50     // tags per matter
#define S_TAG_MAX   100    // bytes in a tag

static const char *const s_priorities[] = {"low", "medium", "high", "urgent", NULL};

static bool
s_is_tpl(const json_t *v)
{
    return json_is_string(v) && strstr(json_string_value(v), "{{");
}

//  A string of 1..max bytes (0..max when empty_ok); absent is fine unless required.
static int
s_check_str(const json_t *config, const char *name, size_t max, bool required, char *err,
            size_t errlen)
{
    const json_t *v = json_object_get(config, name);
    if ((!v || json_is_null(v)) && !required) return 0;
    if (json_is_string(v) && json_string_length(v) >= 1 && json_string_length(v) <= max) return 0;
    return zf_errf(err, errlen, "config.%s: %s string of 1..%zu bytes", name,
                   required ? "required" : "must be a", max);
}

static int
s_check_tags(const json_t *tags, bool tpl_ok, char *err, size_t errlen)
{
    if (!tags || json_is_null(tags) || (tpl_ok && s_is_tpl(tags))) return 0;
    if (!json_is_array(tags) || json_array_size(tags) > S_TAGS_MAX)
        return zf_errf(err, errlen, "config.tags: must be an array of at most %d strings",
                       S_TAGS_MAX);
    size_t i;
    const json_t *t;
    json_array_foreach (tags, i, t) {
        if (!json_is_string(t) || json_string_length(t) < 1 || json_string_length(t) > S_TAG_MAX)
            return zf_errf(err, errlen, "config.tags[%zu]: must be a string of 1..%d bytes", i,
                           S_TAG_MAX);
    }
    return 0;
}

static int
s_check_priority(const json_t *p, bool tpl_ok, char *err, size_t errlen)
{
    if (!p || json_is_null(p) || (tpl_ok && s_is_tpl(p))) return 0;
    for (int i = 0; json_is_string(p) && s_priorities[i]; i++)
        if (strcmp(json_string_value(p), s_priorities[i]) == 0) return 0;
    return zf_errf(err, errlen, "config.priority: must be low, medium, high or urgent");
}

//  tpl_ok: at create time a tags or priority template is checked once rendered.
static int
s_check(const json_t *config, bool tpl_ok, char *err, size_t errlen)
{
    if (s_check_str(config, "title", S_TITLE_MAX, true, err, errlen) ||
        s_check_str(config, "template_id", S_ID_MAX, false, err, errlen) ||
        s_check_str(config, "assignee", S_ID_MAX, false, err, errlen))
        return ZF_EINVAL;
    const json_t *d = json_object_get(config, "description");
    if (d && !json_is_null(d) && (!json_is_string(d) || json_string_length(d) > S_TEXT_MAX))
        return zf_errf(err, errlen, "config.description: must be a string of at most %d bytes",
                       S_TEXT_MAX);
    if (s_check_tags(json_object_get(config, "tags"), tpl_ok, err, errlen)) return ZF_EINVAL;
    return s_check_priority(json_object_get(config, "priority"), tpl_ok, err, errlen);
}

static int
s_validate(const json_t *config, char *err, size_t errlen)
{
    return s_check(config, true, err, errlen) ? -1 : 0;
}

//  The matter record to create from a checked, rendered config.
static json_t *
s_matter(const zf_step_ctx_t *ctx, const json_t *config)
{
    const json_t *tags = json_object_get(config, "tags");
    const json_t *prio = json_object_get(config, "priority");
    json_t *p = json_is_string(prio) ? json_incref((json_t *)prio) : json_string("medium");
    json_t *t = json_is_array(tags) ? json_incref((json_t *)tags) : json_array();
    json_t *m =
        json_pack("{s:O, s:o, s:o, s:s, s:{s:s, s:s}}", "title", json_object_get(config, "title"),
                  "priority", p, "tags", t, "status", "open", "source", "run_id",
                  ctx->run_id ? ctx->run_id : "", "node_id", ctx->node_id ? ctx->node_id : "");
    static const char *const optional[] = {"template_id", "description", "assignee", NULL};
    for (int i = 0; optional[i]; i++) {
        const json_t *v = json_object_get(config, optional[i]);
        if (json_is_string(v)) json_object_set(m, optional[i], (json_t *)v);
    }
    return m;
}

static void
s_exec(zf_step_ctx_t *ctx, const json_t *config, zf_step_result_t *res)
{
    char err[256];
    if (s_check(config, false, err, sizeof err)) {
        zf_step_fail(res, ZF_STEP_FAIL_FINAL, "create_matter: %s", err);
        return;
    }
    json_t *body = json_pack("{s:s, s:o}", "module", S_MODULE, "record", s_matter(ctx, config));
    zf_record_call(ctx, "rec.create", body, "record", "create_matter", res);
    if (res->status != ZF_STEP_OK) return;
    json_t *matter = res->output;
    res->output =
        json_pack("{s:o, s:O?}", "matter", matter, "matter_id", json_object_get(matter, "id"));
}

const zf_step_kind_t zf_step_kind_create_matter = {
    .name = "create_matter", .validate = s_validate, .exec = s_exec, .cpu_only = 0};
