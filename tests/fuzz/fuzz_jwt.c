/*  tests/fuzz/fuzz_jwt.c — libFuzzer target for JWT verification
    (http/auth.c, zf_http_jwt_verify).

    The input is tried twice: as a raw bearer token, which must never be
    accepted (it cannot carry a valid HS256 signature for the secret), and
    as the claims text of a token signed correctly with the secret, which
    exercises the claim checks behind the signature. A token that passes
    must name a tenant and user equal to its customer_id and sub claims,
    both non-empty, short enough and free of control characters.
*/
#include "broker/errors.h"
#include "http/auth.h"
#include "tests/jwt_fixture.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define S_SECRET "fuzz-secret-0123456789"
#define S_NOW    1773943200  // a fixed "now" (Unix s)

static bool
s_printable(const char *v)
{
    for (; *v; v++)
        if ((unsigned char)*v < 0x20 || *v == 0x7f) return false;
    return true;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096) return 0;
    zf_http_identity_t who;
    const char *why = NULL;
    char *raw = malloc(size + 1);
    if (!raw) abort();
    memcpy(raw, data, size);
    raw[size] = '\0';
    if (zf_http_jwt_verify(S_SECRET, raw, S_NOW, &who, &why) == 0) abort();  // a forgery
    if (!why) abort();
    free(raw);

    char *tok = zf_fx_jwt_hs256(S_SECRET, data, size);
    if (!tok) abort();
    memset(&who, 0, sizeof who);
    int rc = zf_http_jwt_verify(S_SECRET, tok, S_NOW, &who, &why);
    free(tok);
    if (rc != 0) {
        if (rc != ZF_EUNAUTH || !why) abort();
        return 0;
    }
    json_t *claims = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    const char *tenant = json_string_value(json_object_get(claims, "customer_id"));
    const char *sub = json_string_value(json_object_get(claims, "sub"));
    if (!tenant || !sub || strcmp(tenant, who.tenant) != 0 || strcmp(sub, who.user) != 0) abort();
    if (!who.tenant[0] || !who.user[0] || !s_printable(who.tenant) || !s_printable(who.user))
        abort();
    if (!zf_http_role_level(who.role)) abort();
    json_decref(claims);
    return 0;
}
