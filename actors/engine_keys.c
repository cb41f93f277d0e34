/*  actors/engine_keys.c — API keys (key.* on the admin socket, the key
    lookup behind every API request and auth.resolve) and the test clock.
*/
#include "actors/engine_int.h"
#include "actors/keys.h"
#include "broker/errors.h"
#include "broker/ids.h"

#define S_KEY_CACHE_MS 60000  // positive key lookups are cached this long

/* ---- lookup ---------------------------------------------------------------------- */

//  Key -> {tenant, role, id}, through a short positive cache. NULL if the
//  key is unknown or revoked. Returns a new reference.
json_t *
zf_eng_key_resolve(engine_t *e, const char *key)
{
    unsigned char hash[32];
    char hex[65];
    zf_keys_hash(key, hash);
    zf_keys_hex(hash, 32, hex);
    json_t *hit = zhashx_lookup(e->key_cache, hex);
    int64_t now = zf_now_ms();
    if (hit && now - json_integer_value(json_object_get(hit, "at")) < S_KEY_CACHE_MS)
        return json_incref(hit);
    json_t *rec = zf_rec_key_get(e->store, hash);
    if (!rec || json_is_true(json_object_get(rec, "revoked"))) {
        json_decref(rec);
        zhashx_delete(e->key_cache, hex);
        return NULL;
    }
    json_object_set_new(rec, "at", json_integer(now));
    zhashx_update(e->key_cache, hex, json_incref(rec));
    return rec;
}

int
zf_eng_auth_resolve(engine_t *e, zf_msg_t *req)
{
    const char *key = zf_eng_str(req->body, "key");
    json_t *k = key ? zf_eng_key_resolve(e, key) : NULL;
    if (!k) return zf_eng_fail(e, req, ZF_EUNAUTH, "invalid or revoked API key");
    zf_eng_reply(e, req,
                 json_pack("{s:O, s:O, s:O}", "tenant", json_object_get(k, "tenant"), "role",
                           json_object_get(k, "role"), "user", json_object_get(k, "id")));
    json_decref(k);
    return 0;
}

/* ---- API keys (admin socket only) ---------------------------------------------- */

int
zf_eng_key_create(engine_t *e, zf_msg_t *req)
{
    char key[ZF_KEY_LEN + 1], why[160];
    unsigned char hash[32];
    json_t *rec = zf_keys_new(zf_eng_str(req->body, "tenant"), zf_eng_str(req->body, "role"),
                              json_object_get(req->body, "name"), key, hash, why, sizeof why);
    if (!rec) return zf_eng_fail(e, req, ZF_EINVAL, "%s", why);
    zf_batch_t *b = zf_batch_new();
    zf_rec_key_put(b, hash, rec);
    cont_t *c = zf_eng_cont(zf_eng_reply_data, req);
    c->data =
        json_pack("{s:s, s:O, s:O, s:O, s:O}", "key", key, "id", json_object_get(rec, "id"),
                  "tenant", json_object_get(rec, "tenant"), "role", json_object_get(rec, "role"),
                  "created_at", json_object_get(rec, "created_at"));
    json_decref(rec);
    zf_eng_commit(e, &b, c);
    return 1;
}

int
zf_eng_key_list(engine_t *e, zf_msg_t *req)
{
    json_t *t = json_object_get(req->body, "tenant");
    if (t && !json_is_string(t)) return zf_eng_fail(e, req, ZF_EINVAL, "tenant: must be a string");
    json_t *keys = zf_rec_key_list(e->store, json_string_value(t));
    size_t i;
    json_t *k;
    json_array_foreach (keys, i, k)
        json_object_del(k, "hash");
    zf_eng_reply(e, req, json_pack("{s:o}", "keys", keys ? keys : json_array()));
    return 0;
}

int
zf_eng_key_revoke(engine_t *e, zf_msg_t *req)
{
    const char *id = zf_eng_str(req->body, "id");
    unsigned char hash[32];
    json_t *rec = id ? zf_rec_key_find(e->store, id, hash) : NULL;
    if (!rec) return zf_eng_fail(e, req, ZF_ENOTFOUND, "key not found");
    json_object_set_new(rec, "revoked", json_true());
    json_object_del(rec, "hash");
    zf_batch_t *b = zf_batch_new();
    zf_rec_key_put(b, hash, rec);
    json_decref(rec);
    zhashx_purge(e->key_cache);  // no cached grant outlives a revocation
    cont_t *c = zf_eng_cont(zf_eng_reply_data, req);
    c->data = json_pack("{s:s, s:b}", "id", id, "revoked", 1);
    zf_eng_commit(e, &b, c);
    return 1;
}

/* ---- test clock ------------------------------------------------------------------ */

//  clock.set {now_ms}: moves the simulated clock (zflow serve --test-clock
//  only), so tests can live through days of schedules in seconds.
int
zf_eng_clock_set(engine_t *e, zf_msg_t *req)
{
    json_t *now = json_object_get(req->body, "now_ms");
    if (!e->test_clock)
        return zf_eng_fail(e, req, ZF_EFORBIDDEN,
                           "the clock is real: start zflow with --test-clock");
    if (!json_is_integer(now) || json_integer_value(now) <= 0)
        return zf_eng_fail(e, req, ZF_EINVAL, "now_ms: required Unix time in ms");
    zf_clock_set(json_integer_value(now));
    e->next_timer = 0;                                        // rescan the timers at the new time
    zf_eng_reply(e, req, json_pack("{s:O}", "now_ms", now));  // the time set, not a ms later
    return 0;
}
