/*  broker/msg.h — the message envelope.

    On the wire a message is a ZeroMQ multipart:

        [routing frames...] [""] [header] [body] [extra frames...]

    Routing frames exist only on ROUTER sockets and are kept opaque in
    `route` (including the empty delimiter), so a reply goes back the way the
    request came. header and body are msgpack maps. Extra frames carry raw
    msgpack values that the receiver stores without re-encoding (run
    snapshots). A REQ client sends just [header][body]: REQ adds the "".

    Header fields (msgpack map, string keys):
      v        int     protocol version, ZF_PROTO_VERSION
      type     str     message type ("wf.create", "reply", "run.snapshots", ...)
      id       str     unique message id (UUIDv7)
      corr     str     replies: the id of the request answered
      tenant   str     tenant the message acts for
      user     str     acting user (for audit / rate limits)
      role     str     owner|admin|member|viewer
      auth     str     API key on the external endpoint; never tapped
      origin   str     set by the broker only: internal|api|admin
      ts       int     send time, Unix ms
      deadline int     optional: Unix ms after which the sender no longer cares
      ok       bool    replies only: true, or false with body {code,message,detail}
*/
#ifndef ZF_MSG_H
#define ZF_MSG_H

#include <czmq.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define ZF_PROTO_VERSION 1
#define ZF_MAX_FRAME     (16u * 1024u * 1024u)  // bigger frames are rejected unread

typedef enum { ZF_MSG_REQUEST = 0, ZF_MSG_REPLY_OK = 1, ZF_MSG_REPLY_ERR = 2 } zf_msg_kind_t;

typedef struct {
    zmsg_t *route;       // routing frames incl. "" delimiter; NULL when none
    int v;               // protocol version
    char type[48];       // message type
    char id[40];         // message id (ZF_MSG_ID_LEN)
    char corr[40];       // id answered (replies)
    char tenant[72];     // tenant
    char user[72];       // acting user
    char role[16];       // role of the sender
    char auth[96];       // API key (external endpoint only)
    char origin[12];     // internal|api|admin, stamped by the broker
    int64_t ts;          // send time, Unix ms
    int64_t deadline;    // 0 = none
    zf_msg_kind_t kind;  // request, ok reply or error reply
    json_t *body;        // owned; never NULL after new/recv (empty object)
    zframe_t *raw_body;  // owned: the body frame as received, kept by
                         // zf_msg_decode_raw (body is then an empty object
                         // and sends forward this frame unchanged); else NULL
    zmsg_t *extra;       // owned raw frames after the body, or NULL
} zf_msg_t;

//  New request of the given type with fresh id, ts and an empty body.
zf_msg_t *zf_msg_new(const char *type);
void zf_msg_destroy(zf_msg_t **self_p);

//  Sets body, taking the reference (json_t *body is stolen).
void zf_msg_set_body(zf_msg_t *self, json_t *body);

//  Reply to req: same route (moved out of req), corr = req->id, kind ok.
//  Takes the body reference. req keeps everything else.
zf_msg_t *zf_msg_reply(zf_msg_t *req, json_t *body);
//  Error reply: body {code: zf_err_name(err), message, detail?}. detail stolen (may be NULL).
zf_msg_t *zf_msg_error(zf_msg_t *req, int err, const char *message, json_t *detail);

//  Error details of an error reply (borrowed); NULL for non-errors.
const char *zf_msg_error_code(const zf_msg_t *self);
const char *zf_msg_error_message(const zf_msg_t *self);

//  Encodes and sends; destroys *self_p whether or not the send worked.
//  flags: ZMQ_DONTWAIT etc. Returns 0 or -1 (errno from zmq).
int zf_msg_send(zf_msg_t **self_p, void *sock, int flags);

//  Receives one message. routed: the socket is a ROUTER or the peer puts
//  routing frames/"" first (DEALER): frames up to and including the first
//  empty frame go to `route`. Malformed input (missing frames, oversize
//  frames, bad msgpack, wrong header types) returns NULL, sets *why, and if
//  bad_route != NULL hands over the routing frames so the caller can send an
//  error reply. Never asserts on network input.
zf_msg_t *zf_msg_recv(void *sock, bool routed, zmsg_t **bad_route, const char **why);

//  Decodes an already-received zmsg (consumed, even on failure).
zf_msg_t *zf_msg_decode(zmsg_t **zmsg_p, bool routed, zmsg_t **bad_route, const char **why);
//  Like zf_msg_decode, but the body is validated (zf_codec_check, no tree
//  built) and kept as the received frame in raw_body: for routers that
//  forward bodies they never read. zf_msg_body_decode() builds the tree on demand.
zf_msg_t *zf_msg_decode_raw(zmsg_t **zmsg_p, bool routed, zmsg_t **bad_route, const char **why);
//  zf_msg_decode_raw for a message from the tcp API: a string of the body
//  holding NUL is also malformed (HTTP's strict JSON refuses it too). On
//  failure bad_id gets the message's id when its header could be read
//  (the error reply then carries it as corr), else "".
#define ZF_MSG_ID_LEN 40
zf_msg_t *zf_msg_decode_raw_api(zmsg_t **zmsg_p, bool routed, zmsg_t **bad_route, const char **why,
                                char bad_id[ZF_MSG_ID_LEN]);
//  Decoded body of a raw message (new ref; the empty object when there is no
//  raw body); NULL only if raw_body does not decode, which decode_raw rules out.
json_t *zf_msg_body_decode(const zf_msg_t *self);
//  Encodes into a new zmsg (route frames copied first). self unchanged.
zmsg_t *zf_msg_encode(const zf_msg_t *self);

//  Header as a JSON object (auth redacted) — for the tap and logs.
json_t *zf_msg_header_json(const zf_msg_t *self);

#endif
