/*  http/auth.h — who is calling: API keys and HS256 JWTs.

    `Authorization: Bearer <token>`. With a JWT secret configured, a token
    of the JWT form (three base64url parts) is verified as HS256: the
    header's alg must be exactly "HS256" (checked here before libjwt
    verifies the signature, in constant time), exp and nbf are checked
    when present (no leeway), customer_id (tenant) and sub (user) are
    required strings, role is the `role` claim when it names a role, else
    admin. Any other token is an API key, resolved by the engine
    (`auth.resolve`) and cached for at most cache_ms, so a revoked key
    stops working within that time. The cache is keyed by the SHA-256 of
    the key, never the key itself. Tokens are never logged.
*/
#ifndef ZF_HTTP_AUTH_H
#define ZF_HTTP_AUTH_H

#include "http/call.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ZF_HTTP_TOKEN_MAX 4096  // longest bearer token accepted, bytes

typedef struct zf_http_auth_t zf_http_auth_t;

//  jwt_secret NULL or "" = JWTs off. cache_ms: API-key cache lifetime.
zf_http_auth_t *zf_http_auth_new(const char *jwt_secret, int64_t cache_ms, size_t cache_max);
void zf_http_auth_destroy(zf_http_auth_t **self_p);

//  Frees the calling thread's OpenSSL state; worker threads call it as
//  they exit (else LeakSanitizer may see it when the process ends first).
void zf_http_auth_thread_end(void);

//  Copies the token of an "Authorization: Bearer <token>" value into
//  out[ZF_HTTP_TOKEN_MAX + 1]. Returns false if absent or malformed.
bool zf_http_auth_bearer(const char *header, char *out);

//  True if token has the JWT form: base64url "." base64url "." base64url*.
bool zf_http_token_is_jwt(const char *token);

//  Verifies an HS256 JWT at now_s (Unix seconds). Returns 0 and fills out,
//  or ZF_EUNAUTH with a static reason in *why (safe to show: it names no
//  part of the token).
int zf_http_jwt_verify(const char *secret, const char *token, int64_t now_s,
                       zf_http_identity_t *out, const char **why);

//  Resolves a bearer token. API keys go to the engine over dealer on a
//  cache miss, with request (may be NULL): the route the token was
//  presented for ("GET /api/v2/workflows/:id", never a raw path), which
//  the engine keeps with the auth.failed event of a revoked key. Returns
//  0, ZF_EUNAUTH (*why set), or the error of the round trip
//  (ZF_EUNAVAIL, ZF_ETIMEOUT, ZF_EIO).
int zf_http_auth_resolve(zf_http_auth_t *self, zsock_t *dealer, const char *token,
                         const char *request, zf_http_identity_t *out, const char **why);

//  1..4 for viewer, member, admin, owner; 0 for anything else.
int zf_http_role_level(const char *role);
//  The role of level 1..4; NULL for any other level.
const char *zf_http_role_name(int level);

#endif
