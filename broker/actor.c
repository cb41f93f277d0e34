/*  broker/actor.c — see actor.h. */
#include "broker/actor.h"

#include <pthread.h>
#include <stdio.h>

zactor_t *
zf_actor_start(zactor_fn *fn, void *args, char **err_slot, char **err)
{
    zactor_t *actor = zactor_new(fn, args);
    //  zactor_new returns after the actor's signal, so the slot is settled.
    if (*err_slot) {
        if (err)
            *err = *err_slot;
        else
            free(*err_slot);
        *err_slot = NULL;
        zactor_destroy(&actor);
    }
    return actor;
}

void
zf_actor_name(const char *name)
{
    char buf[16];
    snprintf(buf, sizeof buf, "%s", name);
    pthread_setname_np(pthread_self(), buf);
}
