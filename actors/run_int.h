/*  actors/run_int.h — what the run actor (run.c) and the run's state
    bookkeeping (run_state.c) share. Not a public header.
*/
#ifndef ZF_RUN_INT_H
#define ZF_RUN_INT_H

#include "actors/run.h"
#include "actors/step.h"

#include <stdbool.h>

//  One node being executed.
typedef struct {
    const json_t *node;  // node executed
    const char *id;      // its id
    int attempt;         // 1-based
    int64_t started;     // ms
} zf_run_step_t;

//  A member of the state object (borrowed).
static inline json_t *
zf_run_st(zf_run_task_t *t, const char *k)
{
    return json_object_get(t->state, k);
}

//  Index of the next node to execute, marking nodes skipped on the way;
//  -1 when every node is settled.
int zf_run_next_node(zf_run_task_t *t, const json_t *nodes);
//  Sets the record's status (a terminal one also ends every wait).
void zf_run_set_status(zf_run_task_t *t, const char *status, int64_t now);
//  A log entry, msgpack-encoded (malloc'd, *len bytes); output is kept as
//  JSON text of at most 500 chars.
void *zf_run_log_encode(zf_run_task_t *t, const json_t *node, const char *status, int attempt,
                        int64_t started, int64_t finished, const json_t *output, const char *error,
                        size_t *len);
//  A step's outcome applied to record and state; each returns the run's
//  next status. on_failure sets *wake for a retry; on_suspend sets *wake
//  for a deadline and *token (new ref) for a callback token to index.
const char *zf_run_on_success(zf_run_task_t *t, const json_t *nodes, zf_run_step_t *st,
                              zf_step_result_t *res);
const char *zf_run_on_failure(zf_run_task_t *t, zf_run_step_t *st, zf_step_result_t *res,
                              int64_t *wake);
const char *zf_run_on_suspend(zf_run_task_t *t, zf_run_step_t *st, zf_step_result_t *res,
                              int64_t *wake, json_t **token);

#endif
