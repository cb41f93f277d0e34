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

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define S_SECRET "fuzz-secret-0123456789"
#define S_NOW    1773943200  // a fixed "now" (Unix s)

static size_t
s_b64url(const unsigned char *in, size_t len, char *out)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t n = 0;
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (i + 1 < len ? (unsigned)in[i + 1] << 8 : 0) |
                     (i + 2 < len ? in[i + 2] : 0);
        out[n++] = a[v >> 18 & 63];
        out[n++] = a[v >> 12 & 63];
        if (i + 1 < len) out[n++] = a[v >> 6 & 63];
        if (i + 2 < len) out[n++] = a[v & 63];
    }
    out[n] = '\0';
    return n;
}

//  header.claims.signature, signed with S_SECRET (malloc'd).
static char *
s_signed(const uint8_t *claims, size_t size)
{
    static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    char *tok = malloc(4 * (sizeof header + size + 32) / 3 + 16);
    if (!tok) abort();
    size_t n = s_b64url((const unsigned char *)header, sizeof header - 1, tok);
    tok[n++] = '.';
    n += s_b64url(claims, size, tok + n);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mlen = 0;
    HMAC(EVP_sha256(), S_SECRET, (int)strlen(S_SECRET), (const unsigned char *)tok, n, mac, &mlen);
    tok[n++] = '.';
    s_b64url(mac, mlen, tok + n);
    return tok;
}

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

    char *tok = s_signed(data, size);
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
