/*  http/call.h — one request/reply round trip to the broker.

    Every civetweb worker thread owns one DEALER connected to the broker's
    internal endpoint (origin `internal`: the broker trusts the tenant,
    user and role set here). A DEALER may hold replies to requests that
    timed out earlier; they are recognised by `corr` and discarded.
*/
#ifndef ZF_HTTP_CALL_H
#define ZF_HTTP_CALL_H

#include "broker/msg.h"

#include <czmq.h>
#include <stdint.h>

typedef struct {
    char tenant[72];  // tenant the caller acts for
    char user[72];    // user id (API key id or JWT sub)
    char role[16];    // owner|admin|member|viewer
} zf_http_identity_t;

//  A DEALER for the calling thread, connected to endpoint; NULL on failure.
zsock_t *zf_http_dealer_new(const char *endpoint);

//  Sends *req_p (taken) stamped with who (may be NULL) and waits up to
//  timeout_ms for the reply with the matching corr. Returns 0 and *reply
//  (ok or error reply; caller destroys), or ZF_EUNAVAIL (could not send)
//  / ZF_ETIMEOUT (no reply in time).
int zf_http_broker_call(zsock_t *dealer, zf_msg_t **req_p, const zf_http_identity_t *who,
                        int64_t timeout_ms, zf_msg_t **reply);

#endif
