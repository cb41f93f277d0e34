/*  broker/broker.h — message routing between front ends and services.

    The broker is one actor thread with these sockets:

      internal  ROUTER  inproc, trusted in-process front ends (HTTP)  origin=internal
      api       ROUTER  tcp, external clients; each request carries an
                        API key that the engine checks                  origin=api
      admin     ROUTER  ipc://<data>/admin.sock, mode 0600; key.* only  origin=admin
      services  ROUTER  inproc; services connect a DEALER and announce
                        the type prefixes they serve ("svc.ready")
      tap       XPUB    every routed message, secrets redacted

    A request is decoded (bounded), stamped with its origin, checked against
    what that origin may send, and forwarded to the service owning the
    longest matching type prefix. The service's reply is forwarded back to
    the front end it came from. Messages of type "event.*" sent by services
    are published on the tap (redacted) and on the in-process events socket
    (below); nobody answers them. "ping" is answered by the broker itself.

    Events for in-process front ends: an XPUB bound at ZF_EVENTS_ENDPOINT
    publishes every event.* message as [type][header][body] (msgpack maps,
    unredacted: only code in this process can connect to inproc). Connect
    a SUB and subscribe to "event." (or a narrower prefix). Best effort like
    the tap: nothing is encoded while nobody subscribes, and a subscriber
    more than its high-water mark behind loses events; runs never wait.
    Publishers ask zf_broker_events_wanted() first and build no event at
    all while nobody subscribes to the tap or the events socket (events
    were ~12 % of the server's CPU per W1 run).

    Nothing is dropped silently: routers are ROUTER_MANDATORY; a request that
    cannot be forwarded (no service, service queue full) gets an error
    reply `unavailable`; a malformed request gets `validation` / `too_large`
    when it still has a routable envelope.
*/
#ifndef ZF_BROKER_H
#define ZF_BROKER_H

#include <stdbool.h>
#include <stdint.h>

//  In-process PUB of every event (see above). One per process.
#define ZF_EVENTS_ENDPOINT "inproc://zf-events"

typedef struct zf_broker_t zf_broker_t;

//  Whether any broker of this process has a subscriber on its tap or
//  events socket, i.e. whether event.* messages are worth building. May lag
//  a new subscription by the time the broker takes to see it.
bool zf_broker_events_wanted(void);
//  Subscribe messages the in-process events sockets have seen, ever (all
//  brokers): a subscriber reads it, subscribes, and waits for it to grow
//  to know that the broker publishes to it.
unsigned zf_broker_events_subscribes_seen(void);

typedef struct {
    const char *internal_endpoint;  // e.g. "inproc://zf-broker" (required)
    const char *service_endpoint;   // e.g. "inproc://zf-services" (required)
    const char *api_endpoint;       // e.g. "tcp://127.0.0.1:5559", NULL = none
    const char *admin_endpoint;     // e.g. "ipc:///data/admin.sock", NULL = none
    const char *tap_endpoint;       // e.g. "tcp://127.0.0.1:5561", NULL = none
    const char *version;            // reported by ping
} zf_broker_conf_t;

typedef struct {
    uint64_t routed;      // requests forwarded to a service
    uint64_t replies;     // replies forwarded back
    uint64_t rejected;    // malformed or refused requests answered with an error
    uint64_t unroutable;  // replies whose client had gone
    uint64_t tapped;      // messages published on the tap
} zf_broker_stats_t;

//  Starts the broker. Returns NULL (and a malloc'd reason in *err) if a
//  bind fails, e.g. the port is taken.
zf_broker_t *zf_broker_new(const zf_broker_conf_t *conf, char **err);
void zf_broker_destroy(zf_broker_t **self_p);
void zf_broker_stats(zf_broker_t *self, zf_broker_stats_t *out);

//  Service side: announce on a DEALER connected to service_endpoint that
//  this socket serves the given NULL-terminated type prefixes.
int zf_broker_announce(void *dealer, const char *name, const char *const *prefixes);

#endif
