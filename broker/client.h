/*  broker/client.h — one request/reply round trip to the broker from a
    thread inside the process (HTTP workers, run actors calling services).

    The thread owns a DEALER connected to the broker's internal endpoint
    (origin `internal`: the broker trusts the tenant, user and role stamped
    on the request). A DEALER may hold replies to requests that timed out
    earlier; they are recognised by `corr` and discarded.
*/
#ifndef ZF_CLIENT_H
#define ZF_CLIENT_H

#include "broker/msg.h"

#include <czmq.h>
#include <stdint.h>

//  A DEALER for the calling thread, connected to endpoint; NULL on failure.
zsock_t *zf_client_dealer_new(const char *endpoint);

//  Sends *req_p (taken; tenant/user/role already stamped) and waits up to
//  timeout_ms for the reply with the matching corr. Returns 0 and *reply
//  (ok or error reply; caller destroys), or ZF_EUNAVAIL (could not send)
//  / ZF_ETIMEOUT (no reply in time).
int zf_client_call(zsock_t *dealer, zf_msg_t **req_p, int64_t timeout_ms, zf_msg_t **reply);

#endif
