/*  actors/engine_idem.c — idempotency records: idem.claim, idem.store,
    idem.release (docs/protocol.md section 6).

    A front end claims (tenant, scope, key) with the request's fingerprint
    before doing a mutating request, stores the response it sent, or
    releases the claim when it answered 5xx. A claim is "pending" for
    S_PENDING_MS, a stored response is replayed for S_DONE_MS; an expired
    record counts as absent (checked at read), is overwritten by the next
    claim, and is deleted by a bounded purge that runs every
    S_PURGE_EVERY_MS from the engine loop (zf_eng_idem_tick).

    Writes go through the group commit like every other handler: a claim
    answers "new" only once the pending record is durable. Records staged
    but not yet acknowledged live in e->idem (key -> s_staged_t), which
    every read consults first, so two claims of one key back to back see
    each other even inside one commit window.
*/
#include "actors/engine_int.h"
#include "broker/errors.h"
#include "broker/ids.h"
#include "storage/idem.h"

#include <string.h>

#define S_PENDING_MS     60000LL               // a claim without a stored response
#define S_DONE_MS        (24LL * 3600 * 1000)  // a stored response
#define S_PURGE_EVERY_MS 60000LL               // between purges when nothing is left
#define S_PURGE_SOON_MS  1000LL                // between purges while a backlog remains
#define S_PURGE_MAX      256                   // expired entries deleted per purge
#define S_BODY_MAX       (4 * 1024 * 1024)     // bytes of a stored response body

//  A record staged for commit (rec NULL = staged deletion).
typedef struct {
    json_t *rec;   // latest staged version, or NULL
    int inflight;  // commits staged for this key and not yet acknowledged
} s_staged_t;

//  The identity of a record, from the request.
typedef struct {
    const char *tenant;  // from the header (auth)
    const char *scope;   // body.scope: the user the key belongs to
    const char *key;     // body.key: the Idempotency-Key
    char hkey[600];      // "tenant\x1fscope\x1fkey": key of e->idem
} s_ident_t;

/* ---- validation ------------------------------------------------------------ */

//  1 if v is a string of 1..max bytes in [lo, 0x7e] (or any byte >= 0x80
//  when utf8): no NUL, no control characters.
static int
s_text_ok(const json_t *v, size_t max, unsigned char lo, int utf8)
{
    size_t n = json_string_length(v);
    const unsigned char *s = (const unsigned char *)json_string_value(v);
    if (!s || n == 0 || n > max) return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < lo || s[i] == 0x7f || (s[i] > 0x7f && !utf8)) return 0;
    return 1;
}

//  Fills id from the request; replies validation and returns -1 if bad.
static int
s_ident(engine_t *e, zf_msg_t *req, s_ident_t *id, bool with_fp)
{
    const json_t *b = req->body;
    const char *why = NULL;
    if (!s_text_ok(json_object_get(b, "scope"), 255, 0x20, 1))
        why = "scope: required string of 1 to 255 bytes without control characters";
    else if (!s_text_ok(json_object_get(b, "key"), 255, 0x20, 0))
        why = "key: required string of 1 to 255 printable ASCII characters";
    else if (with_fp && !s_text_ok(json_object_get(b, "fingerprint"), 128, 0x21, 0))
        why = "fingerprint: required string of 1 to 128 printable ASCII characters";
    if (why) {
        zf_eng_error(e, req, ZF_EINVAL, "%s", why);
        return -1;
    }
    id->tenant = req->tenant;
    id->scope = json_string_value(json_object_get(b, "scope"));
    id->key = json_string_value(json_object_get(b, "key"));
    snprintf(id->hkey, sizeof id->hkey, "%s\x1f%s\x1f%s", id->tenant, id->scope, id->key);
    return 0;
}

/* ---- staged overlay ------------------------------------------------------- */

static void
s_staged_destroy(void **item)
{
    s_staged_t *st = *item;
    if (st) json_decref(st->rec);
    free(st);
    *item = NULL;
}

static zhashx_t *
s_overlay(engine_t *e)
{
    if (!e->idem) {
        e->idem = zhashx_new();
        zhashx_set_destructor(e->idem, s_staged_destroy);
    }
    return e->idem;
}

//  The current record (new ref): staged version first, then the store.
static json_t *
s_current(engine_t *e, const s_ident_t *id)
{
    s_staged_t *st = zhashx_lookup(s_overlay(e), id->hkey);
    if (st) return st->rec ? json_incref(st->rec) : NULL;
    return zf_idem_get(e->store, id->tenant, id->scope, id->key);
}

static int64_t
s_expires(const json_t *rec)
{
    return rec ? (int64_t)json_integer_value(json_object_get(rec, "expires_at")) : 0;
}

static const char *
s_field(const json_t *rec, const char *name)
{
    return json_string_value(json_object_get(rec, name));
}

//  Acknowledged (or failed) commit of a staged record: drop the overlay
//  entry once no commit for the key is in flight, then answer.
static void
s_committed(engine_t *e, cont_t *c, int rc)
{
    const char *hkey = s_field(c->data, "hkey");
    s_staged_t *st = hkey ? zhashx_lookup(e->idem, hkey) : NULL;
    if (st && --st->inflight <= 0) zhashx_delete(e->idem, hkey);
    if (!c->req) return;
    if (rc)
        zf_eng_error(e, c->req, ZF_EIO, "storage failure; nothing was changed");
    else
        zf_eng_reply(e, c->req, json_incref(json_object_get(c->data, "reply")));
}

//  Stages rec (NULL = delete the record whose index entry expires at
//  prev_exp) and commits; req (taken) gets `reply` (stolen) once durable.
static void
s_commit(engine_t *e, zf_msg_t *req, const s_ident_t *id, json_t *rec, int64_t prev_exp,
         json_t *reply)
{
    zf_batch_t *b = zf_batch_new();
    if (rec)
        zf_idem_put(b, id->tenant, id->scope, id->key, rec, prev_exp);
    else
        zf_idem_del(b, id->tenant, id->scope, id->key, prev_exp);
    s_staged_t *st = zhashx_lookup(s_overlay(e), id->hkey);
    if (!st) {
        st = calloc(1, sizeof *st);
        assert(st);
        zhashx_insert(e->idem, id->hkey, st);
    }
    json_decref(st->rec);
    st->rec = rec;  // takes the reference
    st->inflight++;
    cont_t *c = zf_eng_cont(s_committed, req);
    c->data = json_pack("{s:s, s:o}", "hkey", id->hkey, "reply", reply);
    zf_eng_commit(e, &b, c);
}

/* ---- handlers --------------------------------------------------------------- */

//  new (claimed now) | done (stored response) | pending | mismatch.
int
zf_eng_idem_claim(engine_t *e, zf_msg_t *req)
{
    s_ident_t id;
    if (s_ident(e, req, &id, true)) return 0;
    const char *fp = s_field(req->body, "fingerprint");
    int64_t now = zf_now_ms();
    json_t *cur = s_current(e, &id);
    if (cur && s_expires(cur) > now) {
        if (strcmp(s_field(cur, "fingerprint"), fp) != 0)
            zf_eng_reply(e, req, json_pack("{s:s}", "state", "mismatch"));
        else if (strcmp(s_field(cur, "state"), "done") == 0)
            zf_eng_reply(e, req,
                         json_pack("{s:s, s:O?, s:O?}", "state", "done", "status",
                                   json_object_get(cur, "status"), "body",
                                   json_object_get(cur, "body")));
        else
            zf_eng_reply(e, req, json_pack("{s:s}", "state", "pending"));
        json_decref(cur);
        return 0;
    }
    //  Absent or expired: claim it (an expired record is replaced here).
    json_t *rec =
        json_pack("{s:s, s:s, s:I, s:I}", "fingerprint", fp, "state", "pending", "created_at",
                  (json_int_t)now, "expires_at", (json_int_t)(now + S_PENDING_MS));
    s_commit(e, req, &id, rec, s_expires(cur), json_pack("{s:s}", "state", "new"));
    json_decref(cur);
    return 1;
}

//  Stores the response of a claimed key. The first stored response wins;
//  a live record with another fingerprint belongs to another request.
int
zf_eng_idem_store(engine_t *e, zf_msg_t *req)
{
    s_ident_t id;
    if (s_ident(e, req, &id, true)) return 0;
    const char *fp = s_field(req->body, "fingerprint");
    json_t *status = json_object_get(req->body, "status");
    json_t *body = json_object_get(req->body, "body");
    if (!json_is_integer(status) || json_integer_value(status) < 100 ||
        json_integer_value(status) > 599) {
        zf_eng_error(e, req, ZF_EINVAL, "status: must be an integer from 100 to 599");
        return 0;
    }
    if (!json_is_string(body)) {
        zf_eng_error(e, req, ZF_EINVAL, "body: required string");
        return 0;
    }
    if (json_string_length(body) > S_BODY_MAX) {
        zf_eng_error(e, req, ZF_ELIMIT, "body: at most %d bytes", S_BODY_MAX);
        return 0;
    }
    int64_t now = zf_now_ms();
    json_t *cur = s_current(e, &id);
    bool live = cur && s_expires(cur) > now;
    int kept = 0;
    if (live && strcmp(s_field(cur, "fingerprint"), fp) != 0)
        zf_eng_error(e, req, ZF_ECONFLICT, "the key is held by a request with another fingerprint");
    else if (live && strcmp(s_field(cur, "state"), "done") == 0)
        zf_eng_reply(e, req, json_object());
    else {
        json_t *created = live ? json_object_get(cur, "created_at") : NULL;
        json_t *rec = json_pack("{s:s, s:s, s:O, s:O, s:I, s:I}", "fingerprint", fp, "state",
                                "done", "status", status, "body", body, "created_at",
                                json_is_integer(created) ? json_integer_value(created) : now,
                                "expires_at", (json_int_t)(now + S_DONE_MS));
        s_commit(e, req, &id, rec, s_expires(cur), json_object());
        kept = 1;
    }
    json_decref(cur);
    return kept;
}

//  Forgets a pending claim (the front end answered 5xx: a retry may run
//  the request again). A stored response is never released.
int
zf_eng_idem_release(engine_t *e, zf_msg_t *req)
{
    s_ident_t id;
    if (s_ident(e, req, &id, false)) return 0;
    json_t *cur = s_current(e, &id);
    int kept = 0;
    if (cur && strcmp(s_field(cur, "state"), "pending") == 0) {
        s_commit(e, req, &id, NULL, s_expires(cur), json_object());
        kept = 1;
    } else
        zf_eng_reply(e, req, json_object());
    json_decref(cur);
    return kept;
}

/* ---- purge ------------------------------------------------------------------ */

typedef struct {
    engine_t *e;    // engine
    zf_batch_t *b;  // deletions staged
} s_purge_t;

//  One expired index entry: delete it, and the record if it is the one the
//  entry points at. Keys with a commit in flight are left to a later purge.
static void
s_purge_one(int64_t exp, const char *tenant, const char *scope, const char *key, void *arg)
{
    s_purge_t *p = arg;
    char hkey[600];
    snprintf(hkey, sizeof hkey, "%s\x1f%s\x1f%s", tenant, scope, key);
    if (p->e->idem && zhashx_lookup(p->e->idem, hkey)) return;
    json_t *rec = zf_idem_get(p->e->store, tenant, scope, key);
    if (rec && s_expires(rec) == exp)
        zf_idem_del(p->b, tenant, scope, key, exp);
    else
        zf_idem_index_del(p->b, exp, tenant, scope, key);
    json_decref(rec);
}

static void
s_purged(engine_t *e, cont_t *c, int rc)
{
    (void)e, (void)c, (void)rc;  // a failure is logged by the engine; the next purge retries
}

//  Called from the engine loop: at most S_PURGE_MAX expired entries per
//  call, again soon while a backlog remains, else once a minute.
void
zf_eng_idem_tick(engine_t *e, int64_t now)
{
    if (now < e->idem_purge_at) return;
    s_purge_t p = {.e = e, .b = zf_batch_new()};
    size_t n = zf_idem_expired(e->store, now, S_PURGE_MAX, s_purge_one, &p);
    e->idem_purge_at = now + (n >= S_PURGE_MAX ? S_PURGE_SOON_MS : S_PURGE_EVERY_MS);
    if (zf_batch_count(p.b) > 0) zf_eng_commit(e, &p.b, zf_eng_cont(s_purged, NULL));
    zf_batch_destroy(&p.b);
}
