/*  storage/idem.h — idempotency records (the idem.* messages).

    A front end that receives a mutating request with an Idempotency-Key
    claims (tenant, scope, key) with the request's fingerprint, and later
    stores the response it sent, so a retry of the same request replays
    that response. The rules (expiry, states) live in actors/engine_idem.c;
    this module only stores.

    Column family "idem" (ZF_CF_IDEM), two key spaces:
      tenant\0scope\0key                        -> record (msgpack map)
      \0 expires_at(u64 BE) tenant\0scope\0key  -> "" (expiry index)
    Tenants are never empty, so the index (first byte \0) sorts before
    every record and a forward scan of it visits the oldest expiry first.
    scope and key must not contain \0.

    record: {"fingerprint": str, "state": "pending"|"done", "status"?: int,
             "body"?: str, "created_at": ms, "expires_at": ms}
*/
#ifndef ZF_IDEM_H
#define ZF_IDEM_H

#include "storage/store.h"

//  Stages rec (which must have an integer "expires_at") and its index
//  entry. prev_expires_at is the expiry of the version being replaced
//  (0 = none): its index entry is removed in the same batch.
void zf_idem_put(zf_batch_t *b, const char *tenant, const char *scope, const char *key,
                 const json_t *rec, int64_t prev_expires_at);
//  Stages deletion of the record and of its index entry at expires_at.
void zf_idem_del(zf_batch_t *b, const char *tenant, const char *scope, const char *key,
                 int64_t expires_at);
//  Stages deletion of one index entry only (one that points at nothing).
void zf_idem_index_del(zf_batch_t *b, int64_t expires_at, const char *tenant, const char *scope,
                       const char *key);
//  The stored record (new ref), or NULL if absent or not a valid record.
//  Expiry is not checked here.
json_t *zf_idem_get(zf_store_t *s, const char *tenant, const char *scope, const char *key);

//  Index entries with expires_at <= now_ms, oldest first, at most max:
//  fn(expires_at, tenant, scope, key, arg). Returns how many were reported.
typedef void(zf_idem_expired_fn)(int64_t expires_at, const char *tenant, const char *scope,
                                 const char *key, void *arg);
size_t zf_idem_expired(zf_store_t *s, int64_t now_ms, size_t max, zf_idem_expired_fn *fn,
                       void *arg);

#endif
