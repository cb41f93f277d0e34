/*  broker/msg.c — the message envelope: encode, decode, send, receive.

    Hot path (~200k messages/s): the header is packed into a stack buffer
    and read straight from its bytes into the struct (after one validating
    pass of zf_codec_check), the body is packed directly into its zframe,
    and zf_msg_send moves the route/extra frames instead of copying them.
*/
#include "broker/msg.h"
#include "broker/codec.h"
#include "broker/errors.h"
#include "broker/ids.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define S_HEADER_MAX 1024  // packed header bytes (fields are bounded: < 700)

//  Headers are small metadata; unknown fields may nest, but not much.
static const zf_codec_limits_t s_header_limits = {
    .max_bytes = 64u * 1024u,
    .max_depth = 16,
    .max_items = 4096,
    .max_str = 64u * 1024u,
};

//  Body limits: a body fills at most one frame.
static const zf_codec_limits_t s_body_limits = {
    .max_bytes = ZF_MAX_FRAME,
    .max_depth = 64,
    .max_items = 1000000,
    .max_str = ZF_MAX_FRAME,
};

//  Bodies from the tcp API: as s_body_limits, and no NUL in a string,
//  which HTTP's strict JSON refuses too (a NUL would cut a key built from
//  the string short: names, idempotency keys).
static const zf_codec_limits_t s_api_body_limits = {
    .max_bytes = ZF_MAX_FRAME,
    .max_depth = 64,
    .max_items = 1000000,
    .max_str = ZF_MAX_FRAME,
    .no_nul = true,
};

typedef enum { S_DECODE, S_DECODE_RAW, S_DECODE_RAW_API } s_decode_mode_t;

//  ---------------------------------------------------------------------
//  Construction

zf_msg_t *
zf_msg_new(const char *type)
{
    assert(type && strlen(type) < sizeof(((zf_msg_t *)0)->type));
    zf_msg_t *self = calloc(1, sizeof *self);
    if (!self) abort();
    self->v = ZF_PROTO_VERSION;
    strcpy(self->type, type);
    zf_uuid7(self->id);
    self->ts = zf_now_ms();
    self->kind = ZF_MSG_REQUEST;
    self->body = json_object();
    return self;
}

void
zf_msg_destroy(zf_msg_t **self_p)
{
    if (!self_p || !*self_p) return;
    zf_msg_t *self = *self_p;
    zmsg_destroy(&self->route);
    zmsg_destroy(&self->extra);
    zframe_destroy(&self->raw_body);
    json_decref(self->body);
    free(self);
    *self_p = NULL;
}

void
zf_msg_set_body(zf_msg_t *self, json_t *body)
{
    assert(self);
    assert(!body || json_is_object(body));
    zframe_destroy(&self->raw_body);
    json_decref(self->body);
    self->body = body ? body : json_object();
}

zf_msg_t *
zf_msg_reply(zf_msg_t *req, json_t *body)
{
    assert(req);
    zf_msg_t *self = zf_msg_new("reply");
    self->route = req->route;
    req->route = NULL;
    memcpy(self->corr, req->id, sizeof self->corr);
    memcpy(self->tenant, req->tenant, sizeof self->tenant);
    self->kind = ZF_MSG_REPLY_OK;
    zf_msg_set_body(self, body);
    return self;
}

static json_t *
s_error_body(int err, const char *message, json_t *detail)
{
    json_t *body = json_object();
    json_object_set_new(body, "code", json_string(zf_err_name(err)));
    json_object_set_new(body, "message", json_string(message ? message : zf_err_name(err)));
    if (detail) json_object_set_new(body, "detail", detail);
    return body;
}

zf_msg_t *
zf_msg_error(zf_msg_t *req, int err, const char *message, json_t *detail)
{
    zf_msg_t *self = zf_msg_reply(req, s_error_body(err, message, detail));
    self->kind = ZF_MSG_REPLY_ERR;
    return self;
}

static const char *
s_error_field(const zf_msg_t *self, const char *name)
{
    if (!self || self->kind != ZF_MSG_REPLY_ERR) return NULL;
    return json_string_value(json_object_get(self->body, name));
}

const char *
zf_msg_error_code(const zf_msg_t *self)
{
    return s_error_field(self, "code");
}

const char *
zf_msg_error_message(const zf_msg_t *self)
{
    return s_error_field(self, "message");
}

//  ---------------------------------------------------------------------
//  Encoding

typedef struct {
    char buf[S_HEADER_MAX];  // packed header
    size_t len;              // bytes used
} s_hdrbuf_t;

static int
s_hdrbuf_write(void *data, const char *buf, size_t len)
{
    s_hdrbuf_t *h = data;
    assert(sizeof h->buf - h->len >= len);
    memcpy(h->buf + h->len, buf, len);
    h->len += len;
    return 0;
}

static void
s_pack_str_field(msgpack_packer *pk, const char *key, const char *value)
{
    if (!value[0]) return;
    msgpack_pack_str_with_body(pk, key, strlen(key));
    msgpack_pack_str_with_body(pk, value, strlen(value));
}

static void
s_pack_int_field(msgpack_packer *pk, const char *key, int64_t value)
{
    msgpack_pack_str_with_body(pk, key, strlen(key));
    msgpack_pack_int64(pk, value);
}

//  Writes the header map: empty strings are omitted, `ok` only on replies,
//  `deadline` only when set; `v` and `ts` always.
static zframe_t *
s_header_frame(const zf_msg_t *self)
{
    const char *keys[] = {"type", "id", "corr", "tenant", "user", "role", "auth", "origin"};
    const char *vals[] = {self->type, self->id,   self->corr, self->tenant,
                          self->user, self->role, self->auth, self->origin};
    size_t n = 2 + (self->deadline != 0) + (self->kind != ZF_MSG_REQUEST);
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        n += vals[i][0] != '\0';
    s_hdrbuf_t h;
    h.len = 0;
    msgpack_packer pk;
    msgpack_packer_init(&pk, &h, s_hdrbuf_write);
    msgpack_pack_map(&pk, n);
    s_pack_int_field(&pk, "v", self->v);
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        s_pack_str_field(&pk, keys[i], vals[i]);
    s_pack_int_field(&pk, "ts", self->ts);
    if (self->deadline) s_pack_int_field(&pk, "deadline", self->deadline);
    if (self->kind != ZF_MSG_REQUEST) {
        msgpack_pack_str_with_body(&pk, "ok", 2);
        if (self->kind == ZF_MSG_REPLY_OK)
            msgpack_pack_true(&pk);
        else
            msgpack_pack_false(&pk);
    }
    return zframe_new(h.buf, h.len);
}

static zframe_t *
s_body_frame(const zf_msg_t *self)
{
    if (self->raw_body) return zframe_dup(self->raw_body);
    size_t size = zf_codec_size(self->body);
    zframe_t *frame = zframe_new(NULL, size);
    zf_codec_pack_into(self->body, zframe_data(frame), size);
    return frame;
}

static void
s_append_copies(zmsg_t *dst, zmsg_t *src)
{
    if (!src) return;
    for (zframe_t *f = zmsg_first(src); f; f = zmsg_next(src)) {
        zframe_t *copy = zframe_dup(f);
        zmsg_append(dst, &copy);
    }
}

zmsg_t *
zf_msg_encode(const zf_msg_t *self)
{
    assert(self);
    zmsg_t *m = zmsg_new();
    s_append_copies(m, self->route);
    zframe_t *header = s_header_frame(self);
    zframe_t *body = s_body_frame(self);
    zmsg_append(m, &header);
    zmsg_append(m, &body);
    s_append_copies(m, self->extra);
    return m;
}

//  Sends *frame_p (consumed on success; destroyed here on failure).
static int
s_send_frame(zframe_t **frame_p, void *sock, int fflags, bool more)
{
    int rc = zframe_send(frame_p, sock, fflags | (more ? ZFRAME_MORE : 0));
    if (rc != 0) zframe_destroy(frame_p);
    return rc;
}

//  Sends and drains every frame of m (moved, not copied); stops at the first failure.
static int
s_send_frames(zmsg_t *m, void *sock, int fflags, bool more_after)
{
    zframe_t *f;
    while (m && (f = zmsg_pop(m)))
        if (s_send_frame(&f, sock, fflags, more_after || zmsg_size(m) > 0) != 0) return -1;
    return 0;
}

//  A reply whose body is over ZF_MAX_FRAME would be refused unread by the
//  receiver (which then waits for its timeout): it becomes a too_large
//  error that says so.
static void
s_reply_too_large(zf_msg_t *self, zframe_t **body_p)
{
    char text[200];
    snprintf(text, sizeof text,
             "the answer would be %zu MiB, over the %u MiB one reply may carry: "
             "ask for fewer items (a smaller limit or page size)",
             (zframe_size(*body_p) + (1u << 20) - 1) >> 20, ZF_MAX_FRAME >> 20);
    zframe_destroy(body_p);
    zf_msg_set_body(self, s_error_body(ZF_ELIMIT, text, NULL));
    self->kind = ZF_MSG_REPLY_ERR;
    *body_p = s_body_frame(self);
}

//  Frames are sent one by one with zframe_send (it takes ZFRAME_DONTWAIT,
//  zmsg_send takes no flags); route and extra frames are moved, not copied.
int
zf_msg_send(zf_msg_t **self_p, void *sock, int flags)
{
    assert(self_p);
    zf_msg_t *self = *self_p;
    if (!self) {
        errno = EINVAL;
        return -1;
    }
    int fflags = (flags & ZMQ_DONTWAIT) ? ZFRAME_DONTWAIT : 0;
    bool has_extra = self->extra && zmsg_size(self->extra) > 0;
    zframe_t *body = self->raw_body ? self->raw_body : s_body_frame(self);
    self->raw_body = NULL;
    if (self->kind != ZF_MSG_REQUEST && zframe_size(body) > ZF_MAX_FRAME)
        s_reply_too_large(self, &body);
    zframe_t *header = s_header_frame(self);
    int rc = s_send_frames(self->route, sock, fflags, true);
    if (rc == 0) rc = s_send_frame(&header, sock, fflags, true);
    if (rc == 0) rc = s_send_frame(&body, sock, fflags, has_extra);
    if (rc == 0 && has_extra) rc = s_send_frames(self->extra, sock, fflags, false);
    int saved = errno;
    zframe_destroy(&header);
    zframe_destroy(&body);
    zf_msg_destroy(self_p);
    errno = saved;
    return rc == 0 ? 0 : -1;
}

//  ---------------------------------------------------------------------
//  Header decoding, straight from validated bytes

typedef struct {
    const uint8_t *p;    // next byte (input already passed zf_codec_check)
    const uint8_t *end;  // one past the last byte
} s_cur_t;

static uint64_t
s_take(s_cur_t *c, int n)
{
    uint64_t v = 0;
    assert(c->end - c->p >= n);
    for (int i = 0; i < n; i++)
        v = (v << 8) | *c->p++;
    return v;
}

//  Length/count of a str, map or array at the cursor (type byte consumed),
//  or -1 if the value is of another type (cursor unchanged).
static int64_t
s_take_len(s_cur_t *c, bool want_map)
{
    uint8_t t = *c->p;
    if (!want_map && t >= 0xa0 && t <= 0xbf) return c->p++, t & 0x1f;
    if (!want_map && t >= 0xd9 && t <= 0xdb) return c->p++, (int64_t)s_take(c, 1 << (t - 0xd9));
    if (want_map && t >= 0x80 && t <= 0x8f) return c->p++, t & 0x0f;
    if (want_map && (t == 0xde || t == 0xdf)) return c->p++, (int64_t)s_take(c, t == 0xde ? 2 : 4);
    return -1;
}

//  Integer at the cursor; -1 if not an integer (cursor unchanged).
static int
s_take_int(s_cur_t *c, int64_t *out)
{
    uint8_t t = *c->p;
    if (t <= 0x7f || t >= 0xe0) {
        *out = (int8_t)t;
        if (t <= 0x7f) *out = t;
        c->p++;
        return 0;
    }
    if (t < 0xcc || t > 0xd3) return -1;
    c->p++;
    int width = 1 << ((t - 0xcc) & 3);
    uint64_t u = s_take(c, width);
    if (t >= 0xd0 && width < 8 && ((u >> (8 * width - 1)) & 1)) u |= ~0ull << (8 * width);
    *out = (int64_t)u;  // uint64 above INT64_MAX was rejected by the check
    return 0;
}

//  Skips one (validated) value of any type.
static void
s_skip(s_cur_t *c)
{
    uint8_t t = *c->p++;
    uint64_t bytes = 0, values = 0;
    if (t >= 0x80 && t <= 0x8f)
        values = 2u * (t & 0x0f);
    else if (t >= 0x90 && t <= 0x9f)
        values = t & 0x0f;
    else if (t >= 0xa0 && t <= 0xbf)
        bytes = t & 0x1f;
    else if (t >= 0xc4 && t <= 0xc6)
        bytes = s_take(c, 1 << (t - 0xc4));
    else if (t == 0xca || t == 0xcb)
        bytes = t == 0xca ? 4 : 8;
    else if (t >= 0xcc && t <= 0xd3)
        bytes = 1u << ((t - 0xcc) & 3);
    else if (t >= 0xd9 && t <= 0xdb)
        bytes = s_take(c, 1 << (t - 0xd9));
    else if (t == 0xdc || t == 0xdd)
        values = s_take(c, t == 0xdc ? 2 : 4);
    else if (t == 0xde || t == 0xdf)
        values = 2 * s_take(c, t == 0xde ? 2 : 4);
    assert((uint64_t)(c->end - c->p) >= bytes);
    c->p += bytes;
    while (values--)
        s_skip(c);
}

//  Copies a str value into a char[cap]; must fit with its NUL and hold no NUL.
static int
s_take_str(s_cur_t *c, char *dst, size_t cap)
{
    int64_t n = s_take_len(c, false);
    if (n < 0 || (uint64_t)n >= cap || memchr(c->p, '\0', (size_t)n)) return -1;
    memcpy(dst, c->p, (size_t)n);
    dst[n] = '\0';
    c->p += n;
    return 0;
}

typedef enum { S_F_STR, S_F_INT, S_F_V, S_F_OK } s_field_kind_t;

typedef struct {
    const char *name;     // header key
    size_t len;           // strlen(name)
    s_field_kind_t kind;  // expected type
    size_t offset;        // into zf_msg_t
    size_t cap;           // char array size (strings)
} s_field_t;

#define S_STR(name)                                                                                \
    {                                                                                              \
#name, sizeof #name - 1, S_F_STR, offsetof(zf_msg_t, name), sizeof(((zf_msg_t *)0)->name)  \
    }

static const s_field_t s_fields[] = {
    S_STR(type),
    S_STR(id),
    S_STR(corr),
    S_STR(tenant),
    S_STR(user),
    S_STR(role),
    S_STR(auth),
    S_STR(origin),
    {"v", 1, S_F_V, offsetof(zf_msg_t, v), 0},
    {"ts", 2, S_F_INT, offsetof(zf_msg_t, ts), 0},
    {"deadline", 8, S_F_INT, offsetof(zf_msg_t, deadline), 0},
    {"ok", 2, S_F_OK, offsetof(zf_msg_t, kind), 0},
};

static const s_field_t *
s_field_find(const uint8_t *key, size_t len)
{
    for (size_t i = 0; i < sizeof s_fields / sizeof s_fields[0]; i++)
        if (s_fields[i].len == len && memcmp(s_fields[i].name, key, len) == 0) return &s_fields[i];
    return NULL;
}

//  Reads one known field's value into self; nil means "absent".
static int
s_take_field(s_cur_t *c, const s_field_t *f, zf_msg_t *self)
{
    char *dst = (char *)self + f->offset;
    int64_t i;
    if (*c->p == 0xc0) return c->p++, 0;
    switch (f->kind) {
    case S_F_STR:
        return s_take_str(c, dst, f->cap);
    case S_F_INT:
        if (s_take_int(c, &i)) return -1;
        memcpy(dst, &i, sizeof i);
        return 0;
    case S_F_V:
        if (s_take_int(c, &i) || i < 0 || i > INT32_MAX) return -1;
        self->v = (int)i;
        return 0;
    default:
        if (*c->p != 0xc2 && *c->p != 0xc3) return -1;
        self->kind = *c->p++ == 0xc3 ? ZF_MSG_REPLY_OK : ZF_MSG_REPLY_ERR;
        return 0;
    }
}

//  Fills self's header fields from a header frame. Unknown keys are
//  skipped; known keys with the wrong type or an oversize string reject.
static const char *
s_parse_header(zf_msg_t *self, const uint8_t *data, size_t len)
{
    int rc = zf_codec_check(data, len, &s_header_limits, NULL);
    if (rc == ZF_ELIMIT) return "header too large";
    if (rc != 0) return "header is not valid msgpack";
    s_cur_t c = {data, data + len};
    int64_t n = s_take_len(&c, true);
    if (n < 0) return "header is not a map";
    while (n-- > 0) {
        int64_t klen = s_take_len(&c, false);
        assert(klen >= 0);  // the check guarantees string keys
        const s_field_t *f = s_field_find(c.p, (size_t)klen);
        c.p += klen;
        if (!f)
            s_skip(&c);
        else if (s_take_field(&c, f, self) != 0)
            return "header field has the wrong type or is too long";
    }
    if (!self->type[0]) return "header has no type";
    return NULL;
}

//  ---------------------------------------------------------------------
//  Frame decoding

//  Moves frames up to and including the first empty one into *route. With
//  no empty frame, *route gets just the first frame (a ROUTER's peer
//  identity) so the caller can still answer, and -1 is returned.
static int
s_split_route(zmsg_t *m, zmsg_t **route)
{
    size_t count = 0;
    bool found = false;
    for (zframe_t *f = zmsg_first(m); f && !found; f = zmsg_next(m)) {
        count++;
        found = zframe_size(f) == 0;
    }
    *route = zmsg_new();
    for (size_t i = 0; i < (found ? count : 1) && zmsg_size(m) > 0; i++) {
        zframe_t *f = zmsg_pop(m);
        zmsg_append(*route, &f);
    }
    return found ? 0 : -1;
}

static bool
s_has_oversize(zmsg_t *m)
{
    if (!m) return false;
    for (zframe_t *f = zmsg_first(m); f; f = zmsg_next(m))
        if (zframe_size(f) > ZF_MAX_FRAME) return true;
    return false;
}

//  Validates a raw body frame: one bounded msgpack map.
static const char *
s_check_raw_body(const zframe_t *body, const zf_codec_limits_t *lim)
{
    const byte *d = zframe_data((zframe_t *)body);
    size_t n = zframe_size((zframe_t *)body);
    const char *cwhy = NULL;
    if (zf_codec_check(d, n, lim, &cwhy) != 0) return cwhy ? cwhy : "bad body";
    bool is_map = n > 0 && ((d[0] & 0xf0) == 0x80 || d[0] == 0xde || d[0] == 0xdf);
    return is_map ? NULL : "body is not a map";
}

//  Decodes [header][body][extra...] from m (consumed) into self; raw keeps
//  the body frame (checked, not decoded).
static const char *
s_decode_frames(zf_msg_t *self, zmsg_t *m, s_decode_mode_t mode, bool *header_ok)
{
    const char *why = NULL;
    if (zmsg_size(m) < 2)
        why = zmsg_size(m) ? "missing body frame" : "missing header frame";
    else if (s_has_oversize(m))
        why = "frame too large";
    zframe_t *header = why ? NULL : zmsg_pop(m);
    zframe_t *body = why ? NULL : zmsg_pop(m);
    if (!why) why = s_parse_header(self, zframe_data(header), zframe_size(header));
    *header_ok = !why;
    if (!why && mode != S_DECODE) {
        why =
            s_check_raw_body(body, mode == S_DECODE_RAW_API ? &s_api_body_limits : &s_body_limits);
        if (!why) {
            self->body = json_object();
            self->raw_body = body;
            body = NULL;
        }
    } else if (!why) {
        const char *cwhy = NULL;
        self->body = zf_codec_decode(zframe_data(body), zframe_size(body), &s_body_limits, &cwhy);
        if (!self->body)
            why = cwhy;
        else if (!json_is_object(self->body))
            why = "body is not a map";
    }
    zframe_destroy(&header);
    zframe_destroy(&body);
    if (!why && zmsg_size(m) > 0)
        self->extra = m;
    else
        zmsg_destroy(&m);
    return why;
}

static zf_msg_t *
s_decode(zmsg_t **zmsg_p, bool routed, s_decode_mode_t mode, zmsg_t **bad_route, const char **why,
         char *bad_id)
{
    bool header_ok = false;
    assert(zmsg_p);
    zmsg_t *m = *zmsg_p;
    *zmsg_p = NULL;
    if (bad_route) *bad_route = NULL;
    const char *reason = NULL;
    zmsg_t *route = NULL;
    zf_msg_t *self = calloc(1, sizeof *self);
    if (!self) abort();
    if (!m)
        reason = "no message";
    else if (routed && s_split_route(m, &route) != 0)
        reason = "missing routing delimiter";
    else if (s_has_oversize(route))
        reason = "frame too large";
    if (reason)
        zmsg_destroy(&m);
    else
        reason = s_decode_frames(self, m, mode, &header_ok);
    if (why) *why = reason;
    if (!reason) {
        self->route = route;
        return self;
    }
    if (bad_route && !s_has_oversize(route))
        *bad_route = route;
    else
        zmsg_destroy(&route);
    if (bad_id) snprintf(bad_id, sizeof self->id, "%s", header_ok ? self->id : "");
    zf_msg_destroy(&self);
    return NULL;
}

zf_msg_t *
zf_msg_decode(zmsg_t **zmsg_p, bool routed, zmsg_t **bad_route, const char **why)
{
    return s_decode(zmsg_p, routed, S_DECODE, bad_route, why, NULL);
}

zf_msg_t *
zf_msg_decode_raw(zmsg_t **zmsg_p, bool routed, zmsg_t **bad_route, const char **why)
{
    return s_decode(zmsg_p, routed, S_DECODE_RAW, bad_route, why, NULL);
}

zf_msg_t *
zf_msg_decode_raw_api(zmsg_t **zmsg_p, bool routed, zmsg_t **bad_route, const char **why,
                      char bad_id[ZF_MSG_ID_LEN])
{
    return s_decode(zmsg_p, routed, S_DECODE_RAW_API, bad_route, why, bad_id);
}

json_t *
zf_msg_body_decode(const zf_msg_t *self)
{
    assert(self);
    if (!self->raw_body) return json_incref(self->body);
    return zf_codec_decode(zframe_data(self->raw_body), zframe_size(self->raw_body), &s_body_limits,
                           NULL);
}

zf_msg_t *
zf_msg_recv(void *sock, bool routed, zmsg_t **bad_route, const char **why)
{
    zmsg_t *m = zmsg_recv(sock);
    if (!m) {
        if (bad_route) *bad_route = NULL;
        if (why) *why = "receive failed or interrupted";
        return NULL;
    }
    return zf_msg_decode(&m, routed, bad_route, why);
}

//  ---------------------------------------------------------------------
//  Header as JSON (tap, logs)

json_t *
zf_msg_header_json(const zf_msg_t *self)
{
    assert(self);
    json_t *h = json_object();
    json_object_set_new(h, "v", json_integer(self->v));
    for (size_t i = 0; i < sizeof s_fields / sizeof s_fields[0]; i++) {
        const s_field_t *f = &s_fields[i];
        const char *s = (const char *)self + f->offset;
        if (f->kind != S_F_STR || !s[0]) continue;
        bool secret = strcmp(f->name, "auth") == 0;
        json_object_set_new(h, f->name, json_string(secret ? "[redacted]" : s));
    }
    json_object_set_new(h, "ts", json_integer(self->ts));
    if (self->deadline) json_object_set_new(h, "deadline", json_integer(self->deadline));
    if (self->kind != ZF_MSG_REQUEST)
        json_object_set_new(h, "ok", json_boolean(self->kind == ZF_MSG_REPLY_OK));
    return h;
}
