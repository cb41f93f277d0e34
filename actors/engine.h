/*  actors/engine.h — the engine service: supervisor + request handlers.

    The engine is the service behind the broker for wf.*, run.*, key.* and
    auth.* messages. It is one actor thread that:
      * answers reads straight from the store and stages writes into the
        group-commit writer, replying only after the durable ack;
      * owns the run actors: up to max_active runs at once, hosted by
        `shared_hosts` threads that multiplex runs whose steps only compute
        and by dedicated threads (reused) for runs in a blocking step; a
        durable queue holds the runs over the cap; the due-timer loop that wakes
        passivated runs, and the per-workflow circuit breaker;
      * recovers every unfinished run from its last snapshot at start-up.
*/
#ifndef ZF_ENGINE_H
#define ZF_ENGINE_H

#include "actors/egress.h"
#include "storage/store.h"

#include <stdbool.h>

typedef struct zf_engine_t zf_engine_t;

typedef struct {
    zf_store_t *store;              // borrowed; outlives the engine
    const char *service_endpoint;   // broker's service ROUTER
    const char *writer_endpoint;    // group-commit writer
    int max_active;                 // runs active at once, at most (>= 1)
    size_t max_queued;              // queued runs before clients are refused (0 = default)
    size_t max_queued_tenant;       // queued runs of one tenant before its clients are refused
                                    // (0 = max_queued / 2, at least 1; at most max_queued)
    int shared_hosts;               // threads multiplexing cpu-only steps (0 = cores / 2, >= 1)
    const zf_egress_t *egress;      // outbound policy for http_request (borrowed)
    const char *version;            // reported in replies where useful
    const char *internal_endpoint;  // broker's in-process client endpoint (for steps)
    const char *smtp_url;           // --smtp-url (NULL = no mail)
    const char *smtp_from;          // --smtp-from (NULL = zflow@localhost)
    bool test_clock;                // --test-clock: accept clock.set on the admin socket
    const char *links_url;          // where link pages live: --public-url + the automations mount
    const char *ai_url;             // --ai-url: OpenAI-compatible endpoint (NULL = none)
    const char *ai_model;           // --ai-model (NULL = provider default)
    const char *ai_key;             // ZFLOW_AI_KEY (NULL = none)
} zf_engine_conf_t;

//  Starts the engine (recovery included). NULL + *err on failure.
zf_engine_t *zf_engine_new(const zf_engine_conf_t *conf, char **err);
//  Stops: running steps finish, unfinished runs stay on disk for recovery.
void zf_engine_destroy(zf_engine_t **self_p);

#endif
