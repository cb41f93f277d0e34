/*  http/auth.c — API keys (cached auth.resolve) and HS256 JWTs. See auth.h. */
#include "http/auth.h"

#include "broker/errors.h"
#include "broker/ids.h"

#include <assert.h>
#include <jwt.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define S_KEY_MAX 128  // longest API key sent to the engine

typedef struct {
    zf_http_identity_t who;  // resolved identity
    int64_t expires;         // zclock_mono ms
} s_entry_t;

struct zf_http_auth_t {
    char *secret;          // JWT secret, NULL = JWTs off
    int64_t cache_ms;      // API-key cache lifetime
    size_t cache_max;      // entries held at most
    pthread_mutex_t lock;  // guards cache
    zhashx_t *cache;       // sha256 hex of key -> s_entry_t (owned)
};

static void
s_entry_free(void **item)
{
    free(*item);
    *item = NULL;
}

zf_http_auth_t *
zf_http_auth_new(const char *jwt_secret, int64_t cache_ms, size_t cache_max)
{
    zf_http_auth_t *self = calloc(1, sizeof *self);
    assert(self);
    self->secret = jwt_secret && *jwt_secret ? strdup(jwt_secret) : NULL;
    self->cache_ms = cache_ms;
    self->cache_max = cache_max ? cache_max : 1;
    pthread_mutex_init(&self->lock, NULL);
    self->cache = zhashx_new();
    zhashx_set_destructor(self->cache, s_entry_free);
    return self;
}

void
zf_http_auth_destroy(zf_http_auth_t **self_p)
{
    if (!self_p || !*self_p) return;
    zf_http_auth_t *self = *self_p;
    zhashx_destroy(&self->cache);
    pthread_mutex_destroy(&self->lock);
    if (self->secret) OPENSSL_cleanse(self->secret, strlen(self->secret));
    free(self->secret);
    free(self);
    *self_p = NULL;
}

static const char *const s_roles[] = {"viewer", "member", "admin", "owner"};

int
zf_http_role_level(const char *role)
{
    for (int i = 0; role && i < 4; i++) {
        if (strcmp(role, s_roles[i]) == 0) return i + 1;
    }
    return 0;
}

const char *
zf_http_role_name(int level)
{
    return level >= 1 && level <= 4 ? s_roles[level - 1] : NULL;
}

bool
zf_http_auth_bearer(const char *header, char *out)
{
    if (!header || strncasecmp(header, "Bearer ", 7) != 0) return false;
    const char *t = header + 7;
    while (*t == ' ')
        t++;
    size_t len = strcspn(t, " \t");
    if (len == 0 || len > ZF_HTTP_TOKEN_MAX || t[len + strspn(t + len, " \t")] != '\0')
        return false;
    memcpy(out, t, len);
    out[len] = '\0';
    return true;
}

static bool
s_b64url_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

bool
zf_http_token_is_jwt(const char *token)
{
    int dots = 0;
    size_t part = 0;
    for (const char *p = token; *p; p++) {
        if (*p == '.') {
            if (part == 0 || ++dots > 2) return false;
            part = 0;
        } else if (!s_b64url_char(*p)) {
            return false;
        } else {
            part++;
        }
    }
    return dots == 2;
}

//  Decodes base64url without padding into out (cap bytes). Returns the
//  decoded length or -1.
static long
s_b64url_decode(const char *in, size_t len, unsigned char *out, size_t cap)
{
    unsigned acc = 0;
    int bits = 0;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        int v = c >= 'A' && c <= 'Z'   ? c - 'A'
                : c >= 'a' && c <= 'z' ? c - 'a' + 26
                : c >= '0' && c <= '9' ? c - '0' + 52
                : c == '-'             ? 62
                : c == '_'             ? 63
                                       : -1;
        if (v < 0) return -1;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n >= cap) return -1;
            out[n++] = (unsigned char)((acc >> bits) & 0xff);
        }
    }
    return len % 4 == 1 ? -1 : (long)n;
}

//  The JSON object in the base64url segment that starts at seg (up to the
//  next '.' or the end), parsed strictly: duplicate names are refused here
//  as everywhere else. NULL if it is not one.
static json_t *
s_segment_object(const char *seg)
{
    size_t len = strcspn(seg, ".");
    unsigned char *buf = malloc(len ? len : 1);
    if (!buf) abort();
    long n = s_b64url_decode(seg, len, buf, len);
    json_t *v =
        n > 0 ? json_loadb((const char *)buf, (size_t)n, JSON_REJECT_DUPLICATES, NULL) : NULL;
    free(buf);
    if (!json_is_object(v)) {
        json_decref(v);
        return NULL;
    }
    return v;
}

//  The JOSE header must say alg "HS256" before any verification runs, so
//  no other algorithm (none, HS512, RS256 with the secret as a "public
//  key") is ever tried.
static bool
s_header_is_hs256(const char *token)
{
    json_t *h = s_segment_object(token);
    const char *alg = json_string_value(json_object_get(h, "alg"));
    bool ok = alg && strcmp(alg, "HS256") == 0;
    json_decref(h);
    return ok;
}

//  No control characters: a tenant or user name with one could never come
//  from an API key, and zflow joins names with \x1f in its in-memory keys.
static bool
s_printable(const char *v)
{
    for (; *v; v++)
        if ((unsigned char)*v < 0x20 || *v == 0x7f) return false;
    return true;
}

//  Checks exp/nbf (numbers when present) and copies the identity claims.
static int
s_check_claims(const json_t *claims, int64_t now_s, zf_http_identity_t *out, const char **why)
{
    const json_t *exp = json_object_get(claims, "exp"), *nbf = json_object_get(claims, "nbf");
    const char *tenant = json_string_value(json_object_get(claims, "customer_id"));
    const char *sub = json_string_value(json_object_get(claims, "sub"));
    const char *role = json_string_value(json_object_get(claims, "role"));
    *why = "invalid token";
    if ((exp && !json_is_number(exp)) || (nbf && !json_is_number(nbf))) return ZF_EUNAUTH;
    *why = "token has expired";
    if (exp && (double)now_s >= json_number_value(exp)) return ZF_EUNAUTH;
    *why = "token is not valid yet";
    if (nbf && (double)now_s < json_number_value(nbf)) return ZF_EUNAUTH;
    *why = "token lacks a customer_id or sub claim";
    if (!tenant || !*tenant || strlen(tenant) >= sizeof out->tenant || !sub || !*sub ||
        strlen(sub) >= sizeof out->user)
        return ZF_EUNAUTH;
    *why = "token's customer_id or sub claim has control characters";
    if (!s_printable(tenant) || !s_printable(sub)) return ZF_EUNAUTH;
    snprintf(out->tenant, sizeof out->tenant, "%s", tenant);
    snprintf(out->user, sizeof out->user, "%s", sub);
    snprintf(out->role, sizeof out->role, "%s", zf_http_role_level(role) ? role : "admin");
    return 0;
}

int
zf_http_jwt_verify(const char *secret, const char *token, int64_t now_s, zf_http_identity_t *out,
                   const char **why)
{
    *why = "invalid token";
    if (!secret || !*secret || !zf_http_token_is_jwt(token) || !s_header_is_hs256(token))
        return ZF_EUNAUTH;
    jwt_t *jwt = NULL;
    if (jwt_decode(&jwt, token, (const unsigned char *)secret, (int)strlen(secret)) != 0 ||
        jwt_get_alg(jwt) != JWT_ALG_HS256) {
        jwt_free(jwt);
        return ZF_EUNAUTH;
    }
    jwt_free(jwt);
    //  The claims are read from the signed payload itself, strictly: libjwt
    //  keeps the last of duplicate claim names, and re-serialised its
    //  grants without them, so {"sub":"a", ..., "sub":"b"} passed as "b".
    //  A JWT with a duplicate claim name is refused (RFC 7519 4: reject, or
    //  keep the last).
    json_t *claims = s_segment_object(strchr(token, '.') + 1);
    int rc = claims ? s_check_claims(claims, now_s, out, why) : ZF_EUNAUTH;
    json_decref(claims);
    return rc;
}

static void
s_key_digest(const char *key, char hex[65])
{
    unsigned char d[32];
    zf_sha256(key, strlen(key), d);
    zf_hex(d, sizeof d, hex);
}

static bool
s_cache_get(zf_http_auth_t *self, const char *digest, zf_http_identity_t *out)
{
    pthread_mutex_lock(&self->lock);
    s_entry_t *e = zhashx_lookup(self->cache, digest);
    bool hit = e && e->expires > zclock_mono();
    if (hit) *out = e->who;
    pthread_mutex_unlock(&self->lock);
    return hit;
}

//  Stores an identity. A full cache is emptied: it only saves round trips,
//  and refilling it costs one auth.resolve per live key.
static void
s_cache_put(zf_http_auth_t *self, const char *digest, const zf_http_identity_t *who)
{
    s_entry_t *e = malloc(sizeof *e);
    assert(e);
    e->who = *who;
    e->expires = zclock_mono() + self->cache_ms;
    pthread_mutex_lock(&self->lock);
    if (zhashx_size(self->cache) >= self->cache_max) zhashx_purge(self->cache);
    zhashx_update(self->cache, digest, e);
    pthread_mutex_unlock(&self->lock);
}

//  Asks the engine who owns an API key (request: see auth.h).
static int
s_key_resolve(zsock_t *dealer, const char *key, const char *request, zf_http_identity_t *out,
              const char **why)
{
    zf_msg_t *req = zf_msg_new("auth.resolve"), *rep = NULL;
    zf_msg_set_body(req, json_pack("{s:s, s:s*}", "key", key, "request", request));
    int rc = zf_http_broker_call(dealer, &req, NULL, 5000, &rep);
    if (rc) return rc;
    const char *code = zf_msg_error_code(rep);
    const char *t = json_string_value(json_object_get(rep->body, "tenant"));
    const char *u = json_string_value(json_object_get(rep->body, "user"));
    const char *r = json_string_value(json_object_get(rep->body, "role"));
    *why = "invalid or revoked API key";
    if (code)
        rc = zf_err_from_name(code);
    else if (!t || !u || !r || strlen(t) >= sizeof out->tenant || strlen(u) >= sizeof out->user ||
             !zf_http_role_level(r))
        rc = ZF_EIO;
    else {
        snprintf(out->tenant, sizeof out->tenant, "%s", t);
        snprintf(out->user, sizeof out->user, "%s", u);
        snprintf(out->role, sizeof out->role, "%s", r);
    }
    zf_msg_destroy(&rep);
    return rc == ZF_EFORBIDDEN || rc == ZF_EINVAL || rc == ZF_ENOTFOUND ? ZF_EUNAUTH : rc;
}

int
zf_http_auth_resolve(zf_http_auth_t *self, zsock_t *dealer, const char *token, const char *request,
                     zf_http_identity_t *out, const char **why)
{
    if (self->secret && zf_http_token_is_jwt(token))
        return zf_http_jwt_verify(self->secret, token, (int64_t)time(NULL), out, why);
    *why = "invalid or revoked API key";
    size_t len = strlen(token);
    if (len == 0 || len > S_KEY_MAX) return ZF_EUNAUTH;
    for (size_t i = 0; i < len; i++) {
        if (!s_b64url_char(token[i])) return ZF_EUNAUTH;
    }
    char digest[65];
    s_key_digest(token, digest);
    if (s_cache_get(self, digest, out)) return 0;
    int rc = s_key_resolve(dealer, token, request, out, why);
    if (rc == 0) s_cache_put(self, digest, out);
    return rc;
}

void
zf_http_auth_thread_end(void)
{
    OPENSSL_thread_stop();
}
