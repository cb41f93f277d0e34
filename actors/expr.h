/*  actors/expr.h — JSON paths and the condition evaluator.

    Paths: "$.a.b[0].c" resolves from the node input; "$inputs.x",
    "$vars.x", "$steps.<node>.x" from the run context. Conditions compare a
    resolved value with a literal using the operators of seed 003:

      equals, not_equals, contains, not_contains, starts_with, ends_with,
      greater_than, less_than, is_empty, is_not_empty,
      changed, changed_to, changed_from        (need the previous value)

    plus the engine's extensions greater_than_or_equal, less_than_or_equal
    and in (actual is an element of the expected array).

    Comparison is type-aware: numbers numerically (numeric strings count as
    numbers when the other side is a number or a numeric string), ISO-8601
    dates chronologically when both sides parse as dates, strings by bytes,
    booleans as booleans; absent equals null. contains is substring for
    strings, element membership for arrays, key membership for objects.
    is_empty: absent, null, "", [], {}. Ordering operators on incomparable
    operands (null, mixed types) are false, not errors.
    Hostile input is data: no evaluation, bounded path length (256 bytes),
    segments (32) and indexes (<= 1e6). Keys are [A-Za-z0-9_-]+ after a dot,
    or any text in brackets: $.a["weird key"]. A bare "$" is not a path.
*/
#ifndef ZF_EXPR_H
#define ZF_EXPR_H

#include <jansson.h>
#include <stddef.h>

typedef struct {
    const json_t *input;   // node input ("$.")
    const json_t *inputs;  // run inputs ("$inputs.")
    const json_t *vars;    // variables ("$vars.")
    const json_t *steps;   // step outputs ("$steps.")
} zf_expr_scope_t;

//  Resolves path; returns a borrowed value or NULL when absent.
//  Returns NULL and sets *err for a malformed path (if err != NULL).
const json_t *zf_expr_path(const zf_expr_scope_t *scope, const char *path, const char **err);

//  1 if `path` is syntactically valid.
int zf_expr_path_valid(const char *path);

//  1 if op is a known operator name.
int zf_expr_op_valid(const char *op);
//  1 if the operator needs a "value" operand (is_empty/is_not_empty don't).
int zf_expr_op_needs_value(const char *op);

//  Evaluates `actual op expected`: returns 1 true, 0 false, or negative
//  ZF_EINVAL for an unknown operator or incompatible operand (e.g. "in"
//  with a non-array). actual may be NULL (absent).
int zf_expr_compare(const json_t *actual, const char *op, const json_t *expected);

//  1 if the operator compares with the field's previous value (changed*).
int zf_expr_op_uses_previous(const char *op);
//  zf_expr_compare with the field's previous value for changed,
//  changed_to and changed_from (changed: actual != previous; changed_to:
//  changed and actual == expected; changed_from: changed and previous ==
//  expected). previous may be NULL (absent); other operators ignore it.
//  zf_expr_compare is this with previous = NULL.
int zf_expr_compare_change(const json_t *actual, const json_t *previous, const char *op,
                           const json_t *expected);

#endif
