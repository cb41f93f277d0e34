/*  actors/run.h — the run actor.

    Every run is an actor: it owns its record and state while active,
    executes its nodes in order, talks to the rest only by messages, and
    after every step stages its snapshot (zf_rec_snapshot_put) and waits
    for the group-commit writer's durable ack before its next step starts.
    A host stages the snapshots of every run it advanced in one pass into
    one batch, hands it to the writer as one store.commit (in-process: the
    batch travels as a pointer), and computes its next pass meanwhile.

    Run actors are hosted by threads of two kinds (see engine.c):
    * shared hosts (--compute-threads; half the cores, at least one)
      multiplex many runs whose next step only
      computes (`cpu_only` kinds: set, condition, delay). Each pass
      advances every ready run by one step and sends all their snapshots
      in one commit, so one ack (and one wake-up) serves the whole pass.
      Measured: a thread per run made every ack a context switch and
      capped W1 at ~6.7k runs/s on 2 cores (BENCHMARKS.md).
    * dedicated hosts run one run at a time, for steps that block
      (http_request, ...). A shared host hands such a run back with
      `migrate` set and the engine moves it to a dedicated host.

    When a run ends, waits (delay, retry back-off, open host breaker), must
    migrate, or its host is told to stop, the task goes back to the engine
    on the `done` PUSH socket: [ "DONE" ][ zf_run_task_t* ]. A waiting run
    is then passivated: no thread holds it, its state is on disk, a timer
    wakes it.
*/
#ifndef ZF_RUN_H
#define ZF_RUN_H

#include "actors/breaker.h"
#include "actors/egress.h"

#include <czmq.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct {
    char tenant[72];         // tenant of the run
    char run_id[40];         // run id
    char wf_id[40];          // workflow id
    json_t *workflow;        // workflow record, shared and never modified
    json_t *run;             // run record (owned); status is the truth
    json_t *state;           // state snapshot (owned)
    uint32_t log_seq;        // next log sequence number
    int64_t timer_due;       // due time of the timer that woke the run (0 = none)
    _Atomic int cancel;      // set by the engine: stop at the next step boundary
    int interrupted;         // set by the actor: left unfinished because of shutdown
    int persist_failed;      // a snapshot commit failed: run left as last stored
    int migrate;             // set by a shared host: the next step blocks, move the run
    int slot;                // engine bookkeeping: index of the hosting thread, -1 none
    char stored_status[16];  // status of the record on disk (index entries match it)
} zf_run_task_t;

typedef struct {
    const char *writer_endpoint;    // group-commit writer ROUTER (store.commit)
    const char *done_endpoint;      // engine PULL for finished tasks
    const char *events_endpoint;    // broker service router: event.run.step (best effort)
    const zf_egress_t *egress;      // outbound address policy (borrowed)
    zf_breakers_t *breakers;        // shared host breakers (borrowed)
    const char *internal_endpoint;  // broker's in-process client endpoint (steps' requests)
    const char *smtp_url;           // outgoing mail server (NULL = none)
    const char *smtp_from;          // sender of outgoing mail (NULL = default)
    const char *links_url;          // base of links sent to people (callbacks, forms)
    const char *ai_url;             // OpenAI-compatible endpoint (NULL = none)
    const char *ai_model;           // model name (NULL = provider default)
    const char *ai_key;             // bearer key (NULL = none)
} zf_run_env_t;

//  New task; takes the references to run and state (state may be NULL =
//  fresh) and borrows a new reference to workflow.
zf_run_task_t *zf_run_task_new(const char *tenant, json_t *workflow, json_t *run, json_t *state);
void zf_run_task_destroy(zf_run_task_t **self_p);

//  Fresh state object for a new run.
json_t *zf_run_state_new(void);

typedef struct {
    const zf_run_env_t *env;  // shared configuration (borrowed)
    int shared;               // 1: a shared host (cpu_only steps, many runs)
} zf_run_host_t;

//  The host thread body (for zactor_new with a zf_run_host_t* that
//  outlives it). Pipe commands: "RUN" + pointer (task taken), "$TERM".
void zf_run_actor(zsock_t *pipe, void *host);

//  Is status terminal (completed, failed, cancelled)?
int zf_run_status_terminal(const char *status);

//  Whether the JSON array `list` holds the string `id` (node ids of the
//  state, a record's changed fields). Non-string items never match; a
//  NULL list or id holds nothing.
bool zf_run_in_list(const json_t *list, const char *id);

#endif
