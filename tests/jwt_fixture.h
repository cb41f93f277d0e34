/*  tests/jwt_fixture.h — HS256 tokens over claims text taken as given, for
    the JWT unit test and fuzz target (libjwt's own encoder refuses some of
    the claims they need, e.g. duplicate names). Header-only: each includer
    gets its own static copies.
*/
#ifndef ZF_TESTS_JWT_FIXTURE_H
#define ZF_TESTS_JWT_FIXTURE_H

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

//  base64url without padding of in[0..len) into out (NUL-terminated);
//  returns its length. out needs 4 * len / 3 + 4 bytes.
static inline size_t
zf_fx_b64url(const unsigned char *in, size_t len, char *out)
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

//  header.claims.signature with alg HS256 over claims[0..len), signed with
//  secret (malloc'd; NULL if out of memory).
static inline char *
zf_fx_jwt_hs256(const char *secret, const unsigned char *claims, size_t len)
{
    static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    char *tok = malloc(4 * (sizeof header + len + EVP_MAX_MD_SIZE) / 3 + 16);
    if (!tok) return NULL;
    size_t n = zf_fx_b64url((const unsigned char *)header, sizeof header - 1, tok);
    tok[n++] = '.';
    n += zf_fx_b64url(claims, len, tok + n);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mlen = 0;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)tok, n, mac, &mlen);
    tok[n++] = '.';
    zf_fx_b64url(mac, mlen, tok + n);
    return tok;
}

#endif
