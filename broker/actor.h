/*  broker/actor.h — starting an actor whose start-up can fail.

    czmq's zactor_new cannot report a failed start. The actor function gets
    an argument block holding a `char *err` slot: on failure it stores a
    malloc'd reason there before signalling. zf_actor_start then destroys
    the actor and hands the reason to the caller.
*/
#ifndef ZF_ACTOR_H
#define ZF_ACTOR_H

#include <czmq.h>

//  Starts fn(args). *err_slot is the actor's failure reason (NULL = fine).
//  On failure returns NULL and moves the reason to *err (or frees it).
zactor_t *zf_actor_start(zactor_fn *fn, void *args, char **err_slot, char **err);

//  Names the calling thread (≤ 15 chars shown) so top -H and perf tell
//  the broker, writer, engine and run hosts apart.
void zf_actor_name(const char *name);

#endif
