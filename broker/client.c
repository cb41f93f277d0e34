/*  broker/client.c — broker round trips from in-process threads. See client.h. */
#include "broker/client.h"

#include "broker/errors.h"
#include "broker/ids.h"

#include <string.h>

zsock_t *
zf_client_dealer_new(const char *endpoint)
{
    zsock_t *s = zsock_new(ZMQ_DEALER);
    if (!s) return NULL;
    zsock_set_linger(s, 0);
    zsock_set_sndhwm(s, 10000);
    zsock_set_rcvhwm(s, 10000);
    if (zsock_connect(s, "%s", endpoint) < 0) zsock_destroy(&s);
    return s;
}

//  Waits for the reply whose corr is id until deadline (zclock_mono ms).
static int
s_await(zsock_t *dealer, const char *id, int64_t deadline, zf_msg_t **reply)
{
    zmq_pollitem_t item = {.socket = zsock_resolve(dealer), .events = ZMQ_POLLIN};
    for (;;) {
        int64_t left = deadline - zclock_mono();
        if (left <= 0) return ZF_ETIMEOUT;
        int rc = zmq_poll(&item, 1, (long)left);
        if (rc < 0 && zmq_errno() == EINTR) continue;
        if (rc < 0) return ZF_EUNAVAIL;
        if (rc == 0) return ZF_ETIMEOUT;
        const char *why = NULL;
        zf_msg_t *m = zf_msg_recv(item.socket, true, NULL, &why);
        if (m && m->kind != ZF_MSG_REQUEST && strcmp(m->corr, id) == 0) {
            *reply = m;
            return 0;
        }
        zf_msg_destroy(&m);  // a late reply to an abandoned request
    }
}

int
zf_client_call(zsock_t *dealer, zf_msg_t **req_p, int64_t timeout_ms, zf_msg_t **reply)
{
    zf_msg_t *req = *req_p;
    *req_p = NULL;
    *reply = NULL;
    if (timeout_ms > 0) req->deadline = zf_now_ms() + timeout_ms;
    char id[sizeof req->id];
    memcpy(id, req->id, sizeof id);
    if (!req->route) {
        req->route = zmsg_new();
        zmsg_addmem(req->route, "", 0);
    }
    if (zf_msg_send(&req, zsock_resolve(dealer), ZMQ_DONTWAIT) < 0) return ZF_EUNAVAIL;
    return s_await(dealer, id, zclock_mono() + timeout_ms, reply);
}
