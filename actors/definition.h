/*  actors/definition.h — the workflow definition model and its validation.

    A definition is {nodes: [node...], inputs?: {}, outputs?: {}}. A node:
      id          1..64 chars [A-Za-z0-9_-], unique
      type        a registered step kind (actors/step.h); unknown = error
      config      object (default {}), checked by the kind's validate()
      input_from  id of an EARLIER node: its output is this node's input
      branch      "true"|"false": run only on that outcome of the
                  input_from condition (which must then be a condition)
      retry       {max_attempts, initial_interval_ms, backoff_coefficient,
                   max_interval_ms, jitter, non_retryable}
      timeout_ms  1..3,600,000
    Nodes run in list order; input_from may only point backwards, so the
    list order is a topological order of the DAG and no cycle can exist.

    non_retryable lists substrings of step error messages (e.g. "HTTP 500",
    "egress refused"): a failure whose message contains one is final.

    Retry defaults (documented in README): max_attempts 3,
    initial_interval_ms 1000, backoff_coefficient 2.0, max_interval_ms
    300000, jitter 0.2, non_retryable [].
*/
#ifndef ZF_DEFINITION_H
#define ZF_DEFINITION_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define ZF_DEF_MAX_NODES 500

typedef struct {
    int max_attempts;  // total tries including the first (1..20)
    int64_t initial_interval_ms;
    double backoff_coefficient;  // >= 1
    int64_t max_interval_ms;
    double jitter;  // 0..1: +/- fraction of the interval
} zf_retry_t;

//  Validates def (borrowed). 0 if valid; else ZF_EINVAL and a message in
//  err naming the node and field: `nodes[1] (id "s2"): type "x" is not a known step type`.
int zf_def_validate(const json_t *def, char *err, size_t errlen);

//  The node's effective retry policy (defaults filled in).
void zf_def_retry(const json_t *node, zf_retry_t *out);
//  Back-off before attempt `attempt`+1 after `attempt` failed (attempt >= 1),
//  with jitter drawn from rnd in [0,1).
int64_t zf_def_backoff_ms(const zf_retry_t *r, int attempt, double rnd);

#endif
