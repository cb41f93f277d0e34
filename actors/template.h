/*  actors/template.h — "{{ path | filter: arg }}" templates over a JSON scope.

    Syntax: {{ operand | filter | filter: operand ... }}, whitespace allowed
    inside the braces. An operand is
      * a path: a root name then ".key" / "[N]" / ["any key"] segments,
        resolved like actors/expr.h paths ("record.items[0].id"); roots:
        record, previous, user, trigger, steps, vars, inputs, event and
        submission (the trigger's data: seed 001 event context and form
        submissions), run ({id, workflow_id}), item and index (inside a
        loop's step);
      * now: the scope clock as ISO-8601 UTC with ms ("2026-03-19T18:00:00.000Z");
      * a literal: "text" or 'text' (escapes \" \' \\ \n \t), a JSON number,
        true, false, null.
    A string that is exactly one {{...}} yields the typed JSON value (absent
    becomes null). Otherwise the string is text with each {{...}} replaced:
    strings as is, numbers in shortest round-trip form, booleans as
    true/false, null/absent as "", objects/arrays as compact JSON.
    A literal "{{" in text is written {{ "{{" }}. Object keys are not rendered.

    Filters: uppercase, lowercase (ASCII letters only; other bytes unchanged),
    add_days: N, date_format: "fmt" (moment tokens, UTC), default: value,
    json, truncate: N (characters, no ellipsis). Dates are ISO-8601 strings
    or Unix ms numbers. null/absent pass through every filter but default and
    json; a wrong type is an error, never a crash.

    Hostile input is data: rendered output is never re-rendered; limits:
    256 KiB rendered output per call, 32 levels of nesting in the template
    value, 1 KiB per expression, 16 filters per expression, 32 path segments.
    Errors are written into err ("where: offset N: what"); err may be NULL.
*/
#ifndef ZF_TEMPLATE_H
#define ZF_TEMPLATE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define ZF_TPL_OUTPUT_MAX  (256 * 1024)  // bytes of rendered output per call
#define ZF_TPL_DEPTH_MAX   32            // nesting of arrays/objects in a template value
#define ZF_TPL_EXPR_MAX    1024          // bytes between "{{" and "}}"
#define ZF_TPL_FILTERS_MAX 16            // filters in one expression

typedef struct {
    const json_t *root;  // object: record, previous, user, trigger, steps, vars, inputs
    int64_t now_ms;      // the clock "now" reads (Unix ms, injectable)
} zf_tpl_scope_t;

//  Renders every string inside v (objects and arrays recursively) and
//  returns a new value (the caller's), or NULL with err set.
json_t *zf_tpl_render_value(const zf_tpl_scope_t *scope, const json_t *v, char *err, size_t errlen);

//  Renders one template string; returns a new value or NULL with err set.
json_t *zf_tpl_render(const zf_tpl_scope_t *scope, const char *tpl, char *err, size_t errlen);

//  Syntax check without a scope: 0 ok, else ZF_EINVAL/ZF_ELIMIT with err
//  naming the problem and its byte offset.
int zf_tpl_check(const char *tpl, char *err, size_t errlen);
//  zf_tpl_check on every string inside v; err names the location too.
int zf_tpl_check_value(const json_t *v, char *err, size_t errlen);

//  1 if s contains "{{".
int zf_tpl_has(const char *s);
//  1 for a value a "{{x}}" may render to as text: string, number, boolean.
int zf_tpl_is_text(const json_t *v);
//  1 for a string still holding a template when the check is not strict
//  (create time: it is checked again once rendered).
int zf_tpl_pending(const json_t *v, int strict);
//  1 if any string inside v (nested up to 32 levels) contains "{{".
int zf_tpl_has_value(const json_t *v);

#endif
