/*  tests/msg_test.c — the envelope over real inproc/tcp zmq sockets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/codec.h"
#include "broker/errors.h"
#include "broker/ids.h"
#include "broker/msg.h"

typedef struct {
    zsock_t *router;  // server side (routed)
    zsock_t *dealer;  // client side
} s_pair_t;

static int
s_setup(void **state)
{
    static int seq;
    char ep[64];
    snprintf(ep, sizeof ep, "inproc://msg-test-%d", seq++);
    s_pair_t *p = calloc(1, sizeof *p);
    p->router = zsock_new_router(ep);
    p->dealer = zsock_new_dealer(ep);
    assert_non_null(p->router);
    assert_non_null(p->dealer);
    zsock_set_rcvtimeo(p->router, 5000);
    zsock_set_rcvtimeo(p->dealer, 5000);
    *state = p;
    return 0;
}

static int
s_teardown(void **state)
{
    s_pair_t *p = *state;
    zsock_destroy(&p->router);
    zsock_destroy(&p->dealer);
    free(p);
    return 0;
}

//  A DEALER client adds the "" delimiter itself (REQ would do it for it).
static void
s_add_delimiter(zf_msg_t *m)
{
    m->route = zmsg_new();
    zmsg_addmem(m->route, "", 0);
}

static zframe_t *
s_packed_frame(const char *json)
{
    json_t *v = json_loads(json, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    assert_non_null(v);
    size_t len;
    void *buf = zf_codec_encode(v, &len);
    zframe_t *f = zframe_new(buf, len);
    free(buf);
    json_decref(v);
    return f;
}

static zf_msg_t *
s_full_request(void)
{
    zf_msg_t *m = zf_msg_new("wf.create");
    strcpy(m->corr, "corr-1");
    strcpy(m->tenant, "acme");
    strcpy(m->user, "alice");
    strcpy(m->role, "admin");
    strcpy(m->auth, "zf_live_secret");
    strcpy(m->origin, "api");
    m->deadline = m->ts + 30000;
    zf_msg_set_body(m, json_pack("{s:s, s:[i,i], s:{s:b}}", "name", "wf", "n", 1, 2, "o", "x", 1));
    return m;
}

//  ---------------------------------------------------------------------

static void
test_request_round_trip_all_fields(void **state)
{
    s_pair_t *p = *state;
    zf_msg_t *m = s_full_request();
    zf_msg_t *copy = s_full_request();  // same fields, to compare against
    strcpy(copy->id, m->id);
    copy->ts = m->ts;
    copy->deadline = m->deadline;
    s_add_delimiter(m);
    assert_int_equal(zf_msg_send(&m, p->dealer, 0), 0);
    assert_null(m);

    const char *why = "unset";
    zmsg_t *bad = NULL;
    zf_msg_t *got = zf_msg_recv(p->router, true, &bad, &why);
    assert_non_null(got);
    assert_null(why);
    assert_null(bad);
    assert_int_equal(zmsg_size(got->route), 2);  // identity + ""
    assert_int_equal(zframe_size(zmsg_last(got->route)), 0);
    assert_int_equal(got->v, ZF_PROTO_VERSION);
    assert_string_equal(got->type, "wf.create");
    assert_string_equal(got->id, copy->id);
    assert_true(zf_uuid_valid(got->id));
    assert_string_equal(got->corr, "corr-1");
    assert_string_equal(got->tenant, "acme");
    assert_string_equal(got->user, "alice");
    assert_string_equal(got->role, "admin");
    assert_string_equal(got->auth, "zf_live_secret");
    assert_string_equal(got->origin, "api");
    assert_int_equal(got->ts, copy->ts);
    assert_int_equal(got->deadline, copy->deadline);
    assert_int_equal(got->kind, ZF_MSG_REQUEST);
    assert_true(json_equal(got->body, copy->body));
    assert_null(got->extra);
    zf_msg_destroy(&got);
    zf_msg_destroy(&copy);
    zf_msg_destroy(&copy);  // idempotent
}

static void
test_reply_keeps_route_and_sets_corr(void **state)
{
    s_pair_t *p = *state;
    zf_msg_t *m = zf_msg_new("run.start");
    strcpy(m->tenant, "acme");
    char sent_id[40];
    strcpy(sent_id, m->id);
    s_add_delimiter(m);
    assert_int_equal(zf_msg_send(&m, p->dealer, 0), 0);

    zf_msg_t *req = zf_msg_recv(p->router, true, NULL, NULL);
    assert_non_null(req);
    zf_msg_t *rep = zf_msg_reply(req, json_pack("{s:s}", "run_id", "r1"));
    assert_null(req->route);  // moved
    assert_non_null(rep->route);
    assert_string_equal(rep->corr, sent_id);
    assert_string_equal(rep->type, "reply");
    assert_int_equal(rep->kind, ZF_MSG_REPLY_OK);
    assert_null(zf_msg_error_code(rep));
    assert_int_equal(zf_msg_send(&rep, p->router, 0), 0);
    zf_msg_destroy(&req);

    zf_msg_t *back = zf_msg_recv(p->dealer, true, NULL, NULL);
    assert_non_null(back);
    assert_int_equal(zmsg_size(back->route), 1);  // the "" the ROUTER kept
    assert_int_equal(back->kind, ZF_MSG_REPLY_OK);
    assert_string_equal(back->corr, sent_id);
    assert_string_equal(back->tenant, "acme");
    assert_string_equal(json_string_value(json_object_get(back->body, "run_id")), "r1");
    zf_msg_destroy(&back);
}

static void
test_error_reply_code_message(void **state)
{
    s_pair_t *p = *state;
    zf_msg_t *m = zf_msg_new("wf.get");
    s_add_delimiter(m);
    assert_int_equal(zf_msg_send(&m, p->dealer, 0), 0);
    zf_msg_t *req = zf_msg_recv(p->router, true, NULL, NULL);
    assert_non_null(req);
    zf_msg_t *err =
        zf_msg_error(req, ZF_ENOTFOUND, "no such workflow", json_pack("{s:s}", "id", "w9"));
    assert_int_equal(zf_msg_send(&err, p->router, 0), 0);
    zf_msg_destroy(&req);

    zf_msg_t *back = zf_msg_recv(p->dealer, true, NULL, NULL);
    assert_non_null(back);
    assert_int_equal(back->kind, ZF_MSG_REPLY_ERR);
    assert_string_equal(zf_msg_error_code(back), "not_found");
    assert_string_equal(zf_msg_error_message(back), "no such workflow");
    json_t *detail = json_object_get(back->body, "detail");
    assert_string_equal(json_string_value(json_object_get(detail, "id")), "w9");
    assert_int_equal(zf_err_from_name(zf_msg_error_code(back)), ZF_ENOTFOUND);
    zf_msg_destroy(&back);
}

//  REQ adds and strips the delimiter itself: the peer decodes unrouted.
static void
test_req_client_unrouted(void **state)
{
    (void)state;
    zsock_t *router = zsock_new_router("inproc://msg-test-req");
    zsock_t *req = zsock_new_req("inproc://msg-test-req");
    zsock_set_rcvtimeo(router, 5000);
    zsock_set_rcvtimeo(req, 5000);
    zf_msg_t *m = zf_msg_new("ping");
    assert_int_equal(zf_msg_send(&m, req, 0), 0);
    zf_msg_t *in = zf_msg_recv(router, true, NULL, NULL);
    assert_non_null(in);
    assert_string_equal(in->type, "ping");
    zf_msg_t *rep = zf_msg_reply(in, NULL);
    assert_true(json_is_object(rep->body));
    assert_int_equal(zf_msg_send(&rep, router, 0), 0);
    zf_msg_t *back = zf_msg_recv(req, false, NULL, NULL);
    assert_non_null(back);
    assert_null(back->route);
    assert_string_equal(back->corr, in->id);
    zf_msg_destroy(&in);
    zf_msg_destroy(&back);
    zsock_destroy(&req);
    zsock_destroy(&router);
}

//  Several routing frames before the delimiter all land in route, in order,
//  and the reply travels back through them.
static void
test_routed_decode_multiple_frames(void **state)
{
    s_pair_t *p = *state;
    zf_msg_t *m = zf_msg_new("run.step");
    m->route = zmsg_new();
    zmsg_addstr(m->route, "hop1");
    zmsg_addstr(m->route, "hop2");
    zmsg_addmem(m->route, "", 0);
    assert_int_equal(zf_msg_send(&m, p->dealer, 0), 0);

    zf_msg_t *in = zf_msg_recv(p->router, true, NULL, NULL);
    assert_non_null(in);
    assert_int_equal(zmsg_size(in->route), 4);  // identity, hop1, hop2, ""
    zframe_t *f = zmsg_first(in->route);
    f = zmsg_next(in->route);
    assert_true(zframe_streq(f, "hop1"));
    f = zmsg_next(in->route);
    assert_true(zframe_streq(f, "hop2"));
    zf_msg_t *rep = zf_msg_reply(in, NULL);
    assert_int_equal(zf_msg_send(&rep, p->router, 0), 0);

    zmsg_t *raw = zmsg_recv(p->dealer);
    assert_non_null(raw);
    assert_int_equal(zmsg_size(raw), 5);
    const char *why = NULL;
    zf_msg_t *back = zf_msg_decode(&raw, true, NULL, &why);
    assert_null(raw);
    assert_non_null(back);
    assert_int_equal(zmsg_size(back->route), 3);
    assert_true(zframe_streq(zmsg_first(back->route), "hop1"));
    assert_string_equal(back->corr, in->id);
    zf_msg_destroy(&in);
    zf_msg_destroy(&back);
}

//  ---------------------------------------------------------------------
//  Malformed multipart, sent raw by a DEALER

typedef enum { S_WITH_DELIM, S_NO_DELIM } s_delim_t;

//  Sends [""?][frames...] from the DEALER (frames consumed) and returns
//  what the ROUTER side makes of them.
static zf_msg_t *
s_send_raw(s_pair_t *p, s_delim_t delim, zframe_t **frames, size_t n, zmsg_t **bad,
           const char **why)
{
    zmsg_t *raw = zmsg_new();
    if (delim == S_WITH_DELIM) zmsg_addmem(raw, "", 0);
    for (size_t i = 0; i < n; i++)
        zmsg_append(raw, &frames[i]);
    assert_int_equal(zmsg_send(&raw, p->dealer), 0);
    return zf_msg_recv(p->router, true, bad, why);
}

//  The handed-back route must be usable: answer with an error reply and
//  check the DEALER gets it.
static void
s_answer_bad_route(s_pair_t *p, zmsg_t *bad, const char *why)
{
    zf_msg_t *fake = zf_msg_new("invalid");
    fake->route = bad;
    zf_msg_t *err = zf_msg_error(fake, ZF_EINVAL, why, NULL);
    assert_int_equal(zf_msg_send(&err, p->router, 0), 0);
    zf_msg_destroy(&fake);
    zf_msg_t *back = zf_msg_recv(p->dealer, true, NULL, NULL);
    assert_non_null(back);
    assert_string_equal(zf_msg_error_code(back), "validation");
    assert_string_equal(zf_msg_error_message(back), why);
    zf_msg_destroy(&back);
}

static void
test_malformed_multipart(void **state)
{
    s_pair_t *p = *state;
    static const struct {
        const char *header;  // JSON of the header frame, NULL = leave out
        const char *body;    // JSON of the body frame, NULL = leave out
    } cases[] = {
        {"{\"v\":1,\"type\":\"x\"}", NULL},  // missing body
        {NULL, NULL},                        // nothing after ""
        {"[1,2]", "{}"},                     // header not a map
        {"\"type\"", "{}"},                  // header a string
        {"{\"v\":1,\"id\":\"a\"}", "{}"},    // type missing
        {"{\"type\":\"\"}", "{}"},           // type empty
        {"{\"type\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}", "{}"},  // 48 chars
        {"{\"type\":7}", "{}"},                               // type not a string
        {"{\"type\":\"x\",\"ts\":\"now\"}", "{}"},            // ts not an int
        {"{\"type\":\"x\",\"ok\":1}", "{}"},                  // ok not a bool
        {"{\"type\":\"x\",\"v\":-1}", "{}"},                  // v out of range
        {"{\"type\":\"x\",\"tenant\":\"a\\u0000b\"}", "{}"},  // NUL inside a string
        {"{\"type\":\"x\"}", "[1]"},                          // body is an array
        {"{\"type\":\"x\"}", "\"text\""},                     // body is a string
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        zframe_t *frames[2];
        size_t n = 0;
        if (cases[i].header) frames[n++] = s_packed_frame(cases[i].header);
        if (cases[i].body) frames[n++] = s_packed_frame(cases[i].body);
        zmsg_t *bad = NULL;
        const char *why = NULL;
        zf_msg_t *m = s_send_raw(p, S_WITH_DELIM, frames, n, &bad, &why);
        assert_null(m);
        assert_non_null(why);
        assert_non_null(bad);
        assert_int_equal(zmsg_size(bad), 2);  // identity + ""
        s_answer_bad_route(p, bad, why);
    }
}

static void
test_malformed_raw_bytes(void **state)
{
    s_pair_t *p = *state;
    //  header with trailing garbage; body that is not msgpack at all
    const uint8_t hdr_trailing[] = {0x81, 0xa4, 't', 'y', 'p', 'e', 0xa1, 'x', 0x00};
    const uint8_t hdr_ok[] = {0x81, 0xa4, 't', 'y', 'p', 'e', 0xa1, 'x'};
    const uint8_t body_bad[] = {0xc1};
    const uint8_t body_dup[] = {0x82, 0xa1, 'a', 0x01, 0xa1, 'a', 0x02};
    struct {
        const uint8_t *h, *b;
        size_t hl, bl;
    } cases[] = {
        {hdr_trailing, hdr_ok + 6, sizeof hdr_trailing, 0},
        {hdr_ok, body_bad, sizeof hdr_ok, sizeof body_bad},
        {hdr_ok, body_dup, sizeof hdr_ok, sizeof body_dup},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        zframe_t *frames[2] = {zframe_new(cases[i].h, cases[i].hl),
                               zframe_new(cases[i].b, cases[i].bl)};
        zmsg_t *bad = NULL;
        const char *why = NULL;
        assert_null(s_send_raw(p, S_WITH_DELIM, frames, 2, &bad, &why));
        assert_non_null(why);
        assert_non_null(bad);
        zmsg_destroy(&bad);
    }
}

//  No "" frame at all: the identity alone is handed back, so the caller can
//  still answer a client that forgot the delimiter.
static void
test_missing_delimiter(void **state)
{
    s_pair_t *p = *state;
    zframe_t *frames[2] = {s_packed_frame("{\"type\":\"x\"}"), s_packed_frame("{}")};
    zmsg_t *bad = NULL;
    const char *why = NULL;
    assert_null(s_send_raw(p, S_NO_DELIM, frames, 2, &bad, &why));
    assert_string_equal(why, "missing routing delimiter");
    assert_non_null(bad);
    assert_int_equal(zmsg_size(bad), 1);
    zmsg_destroy(&bad);

    //  Unrouted decode of an empty zmsg and a NULL zmsg.
    zmsg_t *empty = zmsg_new();
    assert_null(zf_msg_decode(&empty, false, &bad, &why));
    assert_null(empty);
    assert_null(bad);
    assert_non_null(why);
    zmsg_t *none = NULL;
    assert_null(zf_msg_decode(&none, true, NULL, &why));
}

static void
test_oversize_frame_rejected(void **state)
{
    s_pair_t *p = *state;
    size_t big = ZF_MAX_FRAME + 1;
    zframe_t *frames[2] = {s_packed_frame("{\"type\":\"x\"}"), zframe_new(NULL, big)};
    memset(zframe_data(frames[1]), 0xc0, big);  // would be "trailing bytes" if read
    zmsg_t *bad = NULL;
    const char *why = NULL;
    assert_null(s_send_raw(p, S_WITH_DELIM, frames, 2, &bad, &why));
    assert_string_equal(why, "frame too large");
    assert_int_equal(zmsg_size(bad), 2);
    zmsg_destroy(&bad);

    //  an oversize extra frame is rejected too
    zframe_t *frames2[3] = {s_packed_frame("{\"type\":\"x\"}"), s_packed_frame("{}"),
                            zframe_new(NULL, big)};
    assert_null(s_send_raw(p, S_WITH_DELIM, frames2, 3, &bad, &why));
    assert_string_equal(why, "frame too large");
    zmsg_destroy(&bad);
}

//  ---------------------------------------------------------------------

static void
test_extra_frames_preserved(void **state)
{
    s_pair_t *p = *state;
    zf_msg_t *m = zf_msg_new("run.snapshot");
    s_add_delimiter(m);
    m->extra = zmsg_new();
    zframe_t *snap = s_packed_frame("{\"vars\":{\"a\":1},\"done\":[\"n1\"]}");
    zframe_t *snap_copy = zframe_dup(snap);
    zmsg_append(m->extra, &snap);
    zmsg_addmem(m->extra, "\x92\x01\x02", 3);

    //  zf_msg_encode copies: m keeps its frames.
    zmsg_t *enc = zf_msg_encode(m);
    assert_int_equal(zmsg_size(enc), 5);  // "" header body extra extra
    assert_int_equal(zmsg_size(m->extra), 2);
    assert_int_equal(zmsg_size(m->route), 1);
    zmsg_destroy(&enc);

    assert_int_equal(zf_msg_send(&m, p->dealer, 0), 0);
    zf_msg_t *in = zf_msg_recv(p->router, true, NULL, NULL);
    assert_non_null(in);
    assert_non_null(in->extra);
    assert_int_equal(zmsg_size(in->extra), 2);
    assert_true(zframe_eq(zmsg_first(in->extra), snap_copy));
    zframe_t *second = zmsg_next(in->extra);
    assert_int_equal(zframe_size(second), 3);
    assert_memory_equal(zframe_data(second), "\x92\x01\x02", 3);
    zframe_destroy(&snap_copy);
    zf_msg_destroy(&in);
}

//  decode_raw keeps the body bytes: forwarded unchanged, decoded on demand,
//  and still rejected when malformed or not a map.
static void
test_raw_body_forwarded_unchanged(void **state)
{
    s_pair_t *p = *state;
    zf_msg_t *m = s_full_request();
    json_t *want = json_incref(m->body);
    s_add_delimiter(m);
    assert_int_equal(zf_msg_send(&m, p->dealer, 0), 0);
    zmsg_t *raw = zmsg_recv(p->router);
    zframe_t *sent_body = zframe_dup(zmsg_last(raw));
    zf_msg_t *in = zf_msg_decode_raw(&raw, true, NULL, NULL);
    assert_non_null(in);
    assert_non_null(in->raw_body);
    assert_int_equal(json_object_size(in->body), 0);
    json_t *got = zf_msg_body_decode(in);
    assert_true(json_equal(got, want));
    json_decref(got);
    zmsg_t *out = zf_msg_encode(in);
    assert_true(zframe_eq(zmsg_last(out), sent_body));
    zmsg_destroy(&out);
    zf_msg_set_body(in, json_pack("{s:i}", "x", 1));  // a new body replaces the raw one
    assert_null(in->raw_body);
    zf_msg_destroy(&in);

    zframe_t *bad[] = {s_packed_frame("[1,2]"), zframe_new("\xc1", 1), zframe_new("\x81\xa1k", 3)};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        zf_msg_t *h = zf_msg_new("wf.get");
        zmsg_t *enc = zf_msg_encode(h);  // [header][body]
        zframe_t *body = zmsg_last(enc);
        zmsg_remove(enc, body);
        zframe_destroy(&body);
        zmsg_append(enc, &bad[i]);
        const char *why = NULL;
        assert_null(zf_msg_decode_raw(&enc, false, NULL, &why));
        assert_non_null(why);
        zf_msg_destroy(&h);
    }
    zframe_destroy(&sent_body);
    json_decref(want);
}

//  The header frame carries only what is set; the layout is what a Python
//  client reads with msgpack.unpackb.
static void
test_encode_header_layout(void **state)
{
    (void)state;
    zf_msg_t *m = zf_msg_new("wf.list");
    strcpy(m->tenant, "t1");
    zmsg_t *enc = zf_msg_encode(m);
    assert_int_equal(zmsg_size(enc), 2);
    zframe_t *h = zmsg_first(enc), *b = zmsg_next(enc);
    json_t *hj = zf_codec_decode(zframe_data(h), zframe_size(h), NULL, NULL);
    json_t *bj = zf_codec_decode(zframe_data(b), zframe_size(b), NULL, NULL);
    assert_non_null(hj);
    assert_int_equal(json_object_size(hj), 5);  // v type id tenant ts
    assert_int_equal(json_integer_value(json_object_get(hj, "v")), ZF_PROTO_VERSION);
    assert_string_equal(json_string_value(json_object_get(hj, "type")), "wf.list");
    assert_string_equal(json_string_value(json_object_get(hj, "id")), m->id);
    assert_int_equal(json_integer_value(json_object_get(hj, "ts")), m->ts);
    assert_null(json_object_get(hj, "ok"));
    assert_null(json_object_get(hj, "deadline"));
    assert_true(json_is_object(bj) && json_object_size(bj) == 0);
    json_decref(hj);
    json_decref(bj);
    zmsg_destroy(&enc);

    zf_msg_t *err = zf_msg_error(m, ZF_ECONFLICT, NULL, NULL);
    enc = zf_msg_encode(err);
    h = zmsg_first(enc);
    hj = zf_codec_decode(zframe_data(h), zframe_size(h), NULL, NULL);
    assert_true(json_is_false(json_object_get(hj, "ok")));
    assert_string_equal(json_string_value(json_object_get(hj, "corr")), m->id);
    assert_string_equal(zf_msg_error_message(err), "conflict");
    json_decref(hj);
    zmsg_destroy(&enc);
    zf_msg_destroy(&err);
    zf_msg_destroy(&m);
}

//  Unknown header fields (even nested) are skipped; nil means absent.
static void
test_unknown_and_nil_header_fields(void **state)
{
    (void)state;
    zmsg_t *raw = zmsg_new();
    zframe_t *h = s_packed_frame("{\"x\":{\"deep\":[1,{\"y\":null}],\"f\":1.5},\"type\":\"t\","
                                 "\"deadline\":null,\"tenant\":\"acme\",\"z\":\"\\u00e9\","
                                 "\"b\":true,\"ts\":-5,\"big\":-5000000000,\"v\":2}");
    zframe_t *b = s_packed_frame("{\"k\":[]}");
    zmsg_append(raw, &h);
    zmsg_append(raw, &b);
    const char *why = NULL;
    zf_msg_t *m = zf_msg_decode(&raw, false, NULL, &why);
    assert_non_null(m);
    assert_null(why);
    assert_string_equal(m->type, "t");
    assert_string_equal(m->tenant, "acme");
    assert_int_equal(m->deadline, 0);
    assert_int_equal(m->ts, -5);
    assert_int_equal(m->v, 2);
    assert_int_equal(m->kind, ZF_MSG_REQUEST);
    zf_msg_destroy(&m);
}

static void
test_header_json_redacts_auth(void **state)
{
    (void)state;
    zf_msg_t *m = s_full_request();
    json_t *h = zf_msg_header_json(m);
    assert_string_equal(json_string_value(json_object_get(h, "auth")), "[redacted]");
    assert_string_equal(json_string_value(json_object_get(h, "tenant")), "acme");
    assert_string_equal(json_string_value(json_object_get(h, "type")), "wf.create");
    assert_int_equal(json_integer_value(json_object_get(h, "deadline")), m->deadline);
    char *text = json_dumps(h, 0);
    assert_null(strstr(text, "zf_live_secret"));
    free(text);
    json_decref(h);

    m->auth[0] = '\0';
    h = zf_msg_header_json(m);
    assert_null(json_object_get(h, "auth"));
    json_decref(h);
    zf_msg_destroy(&m);
}

//  A failed non-blocking send still frees the message.
static void
test_send_failure_destroys(void **state)
{
    (void)state;
    zsock_t *lonely = zsock_new(ZMQ_DEALER);  // no peer: nothing to send to
    zf_msg_t *m = s_full_request();
    m->extra = zmsg_new();
    zmsg_addstr(m->extra, "x");
    assert_int_equal(zf_msg_send(&m, lonely, ZMQ_DONTWAIT), -1);
    assert_int_equal(errno, EAGAIN);
    assert_null(m);
    zf_msg_t *none = NULL;
    assert_int_equal(zf_msg_send(&none, lonely, 0), -1);
    zsock_destroy(&lonely);
}

//  A raw libzmq socket works as well as a zsock_t.
static void
test_raw_libzmq_socket(void **state)
{
    s_pair_t *p = *state;
    void *raw = zsock_resolve(p->dealer);
    zf_msg_t *m = zf_msg_new("raw");
    s_add_delimiter(m);
    assert_int_equal(zf_msg_send(&m, raw, 0), 0);
    zf_msg_t *in = zf_msg_recv(zsock_resolve(p->router), true, NULL, NULL);
    assert_non_null(in);
    assert_string_equal(in->type, "raw");
    zf_msg_destroy(&in);
}

//  An independent client (python3-zmq + python3-msgpack) over tcp.
static void
test_python_client_interop(void **state)
{
    (void)state;
    zsock_t *router = zsock_new_router("tcp://127.0.0.1:*");
    assert_non_null(router);
    zsock_set_rcvtimeo(router, 10000);
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c '\n"
             "import zmq, msgpack, sys\n"
             "s = zmq.Context().socket(zmq.DEALER); s.connect(sys.argv[1])\n"
             "s.setsockopt(zmq.RCVTIMEO, 10000); s.setsockopt(zmq.LINGER, 0)\n"
             "h = {\"v\": 1, \"type\": \"ping\", \"id\": \"py-1\", \"tenant\": \"t\", \"ts\": 1}\n"
             "s.send_multipart([b\"\", msgpack.packb(h), msgpack.packb({\"q\": [1, \"x\"]})])\n"
             "f = s.recv_multipart()\n"
             "r = msgpack.unpackb(f[1]); b = msgpack.unpackb(f[2])\n"
             "ok = f[0] == b\"\" and r[\"ok\"] is True and r[\"corr\"] == \"py-1\" and "
             "r[\"type\"] == \"reply\" and b == {\"echo\": [1, \"x\"]} and \"auth\" not in r\n"
             "sys.exit(0 if ok else 3)' %s",
             zsock_endpoint(router));
    FILE *py = popen(cmd, "r");
    assert_non_null(py);
    zf_msg_t *in = zf_msg_recv(router, true, NULL, NULL);
    assert_non_null(in);
    assert_string_equal(in->type, "ping");
    assert_string_equal(in->id, "py-1");
    assert_string_equal(in->tenant, "t");
    assert_int_equal(in->ts, 1);
    json_t *q = json_incref(json_object_get(in->body, "q"));
    zf_msg_t *rep = zf_msg_reply(in, json_pack("{s:o}", "echo", q));
    assert_int_equal(zf_msg_send(&rep, router, 0), 0);
    assert_int_equal(pclose(py), 0);
    zf_msg_destroy(&in);
    zsock_destroy(&router);
}

int
main(void)
{
    zsys_init();
    zsys_set_linger(0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_request_round_trip_all_fields, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_reply_keeps_route_and_sets_corr, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_error_reply_code_message, s_setup, s_teardown),
        cmocka_unit_test(test_req_client_unrouted),
        cmocka_unit_test_setup_teardown(test_routed_decode_multiple_frames, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_malformed_multipart, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_malformed_raw_bytes, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_missing_delimiter, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_oversize_frame_rejected, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_extra_frames_preserved, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_raw_body_forwarded_unchanged, s_setup, s_teardown),
        cmocka_unit_test(test_encode_header_layout),
        cmocka_unit_test(test_unknown_and_nil_header_fields),
        cmocka_unit_test(test_header_json_redacts_auth),
        cmocka_unit_test(test_send_failure_destroys),
        cmocka_unit_test_setup_teardown(test_raw_libzmq_socket, s_setup, s_teardown),
        cmocka_unit_test(test_python_client_interop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
