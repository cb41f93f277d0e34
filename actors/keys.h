/*  actors/keys.h — API key generation and validation rules.

    A key is "zfk_" + 64 hex chars (32 random bytes). Only its SHA-256 is
    stored; the plaintext is shown once, at creation. Used by the engine
    (key.create over the admin socket) and by `zflow keys` when no server
    runs and the CLI opens the store itself.
*/
#ifndef ZF_KEYS_H
#define ZF_KEYS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define ZF_KEY_LEN 68  // "zfk_" + 64 hex

//  Validates tenant/role/name and creates a key. Returns the record to store
//  ({id, tenant, role, name, created_at, revoked:false}, new ref) and fills
//  key_out and hash_out; NULL with a message in err if invalid.
json_t *zf_keys_new(const char *tenant, const char *role, const json_t *name,
                    char key_out[ZF_KEY_LEN + 1], unsigned char hash_out[32], char *err,
                    size_t errlen);
//  SHA-256 of a key (hex it with zf_hex, broker/ids.h).
void zf_keys_hash(const char *key, unsigned char out[32]);
//  1..4 for viewer, member, admin, owner; 0 for anything else.
int zf_keys_role_level(const char *role);
//  The role of a level (1..4), or NULL.
const char *zf_keys_role_name(int level);
//  Marks a key record revoked at now_ms (Unix ms). A record revoked before
//  keeps its first revoked_at (one revoked before revoked_at existed gets
//  none: its time is unknown). Drops any "hash" field, so the record can be
//  stored as is. Returns 1 if it was not revoked yet, else 0.
int zf_keys_mark_revoked(json_t *rec, int64_t now_ms);

//  Frees the calling thread's OpenSSL state (hashing here, TLS in curl).
//  Threads that used OpenSSL call it last: otherwise a thread still
//  exiting when the process ends leaves that state behind (LeakSanitizer
//  reports it).
void zf_keys_thread_end(void);

#endif
