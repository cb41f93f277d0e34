/*  http/call.c — broker round trips from worker threads. See call.h. */
#include "http/call.h"

#include "broker/client.h"

zsock_t *
zf_http_dealer_new(const char *endpoint)
{
    return zf_client_dealer_new(endpoint);
}

int
zf_http_broker_call(zsock_t *dealer, zf_msg_t **req_p, const zf_http_identity_t *who,
                    int64_t timeout_ms, zf_msg_t **reply)
{
    zf_msg_t *req = *req_p;
    if (who) {
        snprintf(req->tenant, sizeof req->tenant, "%s", who->tenant);
        snprintf(req->user, sizeof req->user, "%s", who->user);
        snprintf(req->role, sizeof req->role, "%s", who->role);
    }
    return zf_client_call(dealer, req_p, timeout_ms, reply);
}
