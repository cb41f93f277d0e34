/*  http/http.h — the REST front end (civetweb), as started by `zflow serve`.

    zf_http_new binds the listen address, mounts every dialect at its
    prefix and starts civetweb's worker threads (one per connection being
    served), each with its own DEALER to the broker's internal endpoint,
    plus one thread that forwards the engine's events to WebSocket
    clients. It must be started after the broker (the endpoints exist)
    and destroyed before it.
*/
#ifndef ZF_HTTP_H
#define ZF_HTTP_H

#include <stddef.h>

typedef struct zf_http_t zf_http_t;

#define ZF_HTTP_MAX_MOUNTS 16  // --mount arguments at most

//  Defaults of zf_http_conf_t (and of zflow serve's flags).
#define ZF_HTTP_DEFAULT_THREADS           1024   // connections served at once
#define ZF_HTTP_DEFAULT_HEADER_TIMEOUT_MS 5000   // --http-header-timeout
#define ZF_HTTP_DEFAULT_KEEPALIVE_MS      5000   // --http-keepalive-timeout
#define ZF_HTTP_DEFAULT_BODY_TIMEOUT_MS   30000  // --http-body-timeout

typedef struct {
    const char *listen;           // "127.0.0.1:8080" (a bare port means 127.0.0.1)
    const char *broker_endpoint;  // "inproc://zf-broker"
    const char *events_endpoint;  // "inproc://zf-events" (engine events PUB)
    const char *const *mounts;    // "name=prefix" strings, NULL-terminated; NULL = defaults
    const char *jwt_secret;       // HS256 secret; NULL or "" = JWTs off
    int rate_limit;               // requests per user per minute; 0 = off
    size_t max_body;              // request body limit, bytes
    int threads;                  // civetweb worker threads; 0 = ZF_HTTP_DEFAULT_THREADS
    int header_timeout_ms;        // request head, and any silence in a body; 0 = default
    int keepalive_timeout_ms;     // idle wait for the next request; 0 = default
    int body_timeout_ms;          // a whole request body; 0 = default
} zf_http_conf_t;

//  Starts the server. Returns NULL and a malloc'd reason in *err when the
//  configuration is invalid or the address cannot be bound.
zf_http_t *zf_http_new(const zf_http_conf_t *conf, char **err);
//  Stops accepting, finishes requests in flight, joins every thread.
void zf_http_destroy(zf_http_t **self_p);

//  Checks one --mount value ("v2=/api/v2/workflows"). Returns 0, or -1
//  with a message in err.
int zf_http_mount_check(const char *spec, char *err, size_t errlen);

//  "v2=/api/v2/workflows ..." for the ready line: the effective mounts.
//  Writes into out (truncated to outlen).
void zf_http_describe(const zf_http_t *self, char *out, size_t outlen);

#endif
