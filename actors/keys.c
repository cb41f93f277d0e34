/*  actors/keys.c — API key generation, roles and revocation. */
#include "actors/keys.h"
#include "broker/ids.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

void
zf_keys_hash(const char *key, unsigned char out[32])
{
    zf_sha256(key, strlen(key), out);
}

static const char *const s_roles[] = {"viewer", "member", "admin", "owner"};

int
zf_keys_role_level(const char *role)
{
    for (int i = 0; role && i < 4; i++) {
        if (strcmp(role, s_roles[i]) == 0) return i + 1;
    }
    return 0;
}

const char *
zf_keys_role_name(int level)
{
    return level >= 1 && level <= 4 ? s_roles[level - 1] : NULL;
}

//  Shared by key.revoke on the engine and `zflow keys revoke` without a
//  server, so both store the same thing: the first revocation time wins.
int
zf_keys_mark_revoked(json_t *rec, int64_t now_ms)
{
    json_object_del(rec, "hash");
    if (json_is_true(json_object_get(rec, "revoked"))) return 0;
    json_object_set_new(rec, "revoked", json_true());
    json_object_set_new(rec, "revoked_at", json_integer(now_ms));
    return 1;
}

static int
s_tenant_valid(const char *t)
{
    size_t n = t ? strlen(t) : 0;
    if (n == 0 || n > 64) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return 0;
    }
    return 1;
}

json_t *
zf_keys_new(const char *tenant, const char *role, const json_t *name, char key_out[ZF_KEY_LEN + 1],
            unsigned char hash_out[32], char *err, size_t errlen)
{
    if (!s_tenant_valid(tenant)) {
        snprintf(err, errlen, "tenant: 1-64 characters of A-Z a-z 0-9 _ - .");
        return NULL;
    }
    if (!zf_keys_role_level(role)) {
        snprintf(err, errlen, "role: must be owner, admin, member or viewer");
        return NULL;
    }
    if (name && !json_is_string(name) && !json_is_null(name)) {
        snprintf(err, errlen, "name: must be a string");
        return NULL;
    }
    unsigned char raw[32], idraw[8];
    char id[4 + 17];
    zf_random_bytes(raw, sizeof raw);
    zf_random_bytes(idraw, sizeof idraw);
    memcpy(key_out, "zfk_", 4);
    zf_hex(raw, sizeof raw, key_out + 4);
    memcpy(id, "key_", 4);
    zf_hex(idraw, sizeof idraw, id + 4);
    zf_keys_hash(key_out, hash_out);
    return json_pack("{s:s, s:s, s:s, s:O?, s:I, s:b}", "id", id, "tenant", tenant, "role", role,
                     "name", json_is_string(name) ? name : NULL, "created_at",
                     (json_int_t)zf_now_ms(), "revoked", 0);
}

void
zf_keys_thread_end(void)
{
    OPENSSL_thread_stop();
}
