/*  actors/engine_int.h — engine internals shared by engine.c (loop,
    supervisor, timers, recovery) and engine_api.c (request handlers).
    Not a public header: only those two files (and engine_idem.c, the
    idem.* handlers) include it.
*/
#ifndef ZF_ENGINE_INT_H
#define ZF_ENGINE_INT_H

#include "actors/breaker.h"
#include "actors/engine.h"
#include "actors/run.h"
#include "broker/msg.h"
#include "storage/store.h"

#include <czmq.h>
#include <stdarg.h>

typedef struct engine_t engine_t;
typedef struct cont_t cont_t;

//  Called when a staged commit is durable (rc 0) or failed (rc < 0).
typedef void(cont_fn)(engine_t *e, cont_t *c, int rc);

struct cont_t {
    cont_fn *fn;          // what to do on ack
    zf_msg_t *req;        // request to answer (owned), may be NULL
    json_t *data;         // handler data (owned), may be NULL
    zf_run_task_t *task;  // run to dispatch after the ack (owned), may be NULL
    char wf_key[128];     // workflow overlay entry to release ("" = none)
};

struct engine_t {
    zsock_t *pipe;              // actor pipe
    zsock_t *broker;            // DEALER to the broker's service router
    zsock_t *writer;            // DEALER to the group-commit writer
    zsock_t *done;              // PULL: finished tasks from run actors
    zpoller_t *poller;          // pipe, broker, writer, done
    zf_store_t *store;          // reads
    zhashx_t *conts;            // commit id -> cont_t*
    zhashx_t *overlay;          // "tenant\x1fwf_id" -> latest staged workflow (json null = deleted)
    zhashx_t *overlay_pending;  // same key -> (void*)(intptr_t) commits in flight
    zhashx_t *names;            // "tenant\x1fname" -> wf_id being created/renamed, not yet acked
    zhashx_t *active;           // run_id -> zf_run_task_t* owned here (queued or in an actor)
    zhashx_t *waiters;          // run_id -> zlist of zf_msg_t* waiting for the run to settle
    zhashx_t *key_cache;        // sha256 hex -> json {tenant, role, id, at}
    zlistx_t *queue;            // zf_run_task_t* waiting for a free actor (durably "queued")
    zactor_t **actors;          // run hosts: [0, nshared) shared, then dedicated
    int nactors;                // started (shared ones at start, dedicated lazily)
    int nshared;                // shared hosts
    int *load;                  // runs on each shared host
    int *idle;                  // stack of idle dedicated host indexes
    int nidle;                  // entries on the stack
    int max_active;             // cap on runs in hosts; the rest queue
    int nrunning;               // runs in hosts now
    zf_run_host_t host_shared;  // args of shared hosts
    zf_run_host_t host_single;  // args of dedicated hosts
    int64_t next_timer;         // earliest known due timer (INT64_MAX none)
    zf_breakers_t *breakers;    // per-host breakers shared by actors
    zf_run_env_t env;           // what actors get
    char done_endpoint[64];     // inproc endpoint of `done`
    zhashx_t *idem;             // engine_idem.c: staged idempotency records (NULL until used)
    int64_t idem_purge_at;      // engine_idem.c: next purge of expired idempotency records
    bool terminated;            // $TERM seen
};

/* engine.c */
void zf_eng_reply(engine_t *e, zf_msg_t *req, json_t *body);
void zf_eng_error(engine_t *e, zf_msg_t *req, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void zf_eng_verror(engine_t *e, zf_msg_t *req, int err, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));
void zf_eng_commit(engine_t *e, zf_batch_t **batch_p, cont_t *c);
cont_t *zf_eng_cont(cont_fn *fn, zf_msg_t *req);
json_t *zf_eng_wf_load(engine_t *e, const char *tenant, const char *wf_id);
void zf_eng_wf_stage(engine_t *e, zf_batch_t *b, cont_t *c, const char *tenant, json_t *wf,
                     const char *old_name, bool deleted);
void zf_eng_start_task(engine_t *e, zf_run_task_t *t);
void zf_eng_add_waiter(engine_t *e, const char *run_id, zf_msg_t *req);
void zf_eng_event(engine_t *e, const char *type, const char *tenant, const json_t *run,
                  const char *node_id);
json_t *zf_eng_run_view(engine_t *e, const char *tenant, const char *run_id);

/* engine_api.c */
void zf_eng_handle_request(engine_t *e, zf_msg_t *req);

/* engine_idem.c: idem.* handlers (return 1 if they kept req) and the purge tick */
int zf_eng_idem_claim(engine_t *e, zf_msg_t *req);
int zf_eng_idem_store(engine_t *e, zf_msg_t *req);
int zf_eng_idem_release(engine_t *e, zf_msg_t *req);
void zf_eng_idem_tick(engine_t *e, int64_t now);

#endif
