/*  tests/http_auth_test.c — HS256 JWT verification and bearer parsing.
    Tokens are minted with libjwt (and by hand for forgeries libjwt will
    not produce). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jwt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "broker/errors.h"
#include "http/auth.h"
#include "tests/jwt_fixture.h"

#define SECRET "test-secret-0123456789"

static int64_t s_now;

//  A token signed with alg/key carrying claims (JSON text). Caller frees.
static char *
s_mint(jwt_alg_t alg, const char *key, const char *claims)
{
    jwt_t *j = NULL;
    assert_int_equal(jwt_new(&j), 0);
    assert_int_equal(jwt_add_grants_json(j, claims), 0);
    assert_int_equal(jwt_set_alg(j, alg, (const unsigned char *)key, key ? (int)strlen(key) : 0),
                     0);
    char *tok = jwt_encode_str(j);
    assert_non_null(tok);
    jwt_free(j);
    return tok;
}

__attribute__((format(printf, 1, 2))) static char *
s_claims(const char *fmt, ...)
{
    static char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return buf;
}

static int
s_verify(const char *tok, zf_http_identity_t *who, const char **why)
{
    memset(who, 0, sizeof *who);
    return zf_http_jwt_verify(SECRET, tok, s_now, who, why);
}

static void
test_good_token(void **state)
{
    (void)state;
    char *tok = s_mint(JWT_ALG_HS256, SECRET,
                       s_claims("{\"sub\":\"u1\",\"customer_id\":\"acme\",\"exp\":%lld,"
                                "\"nbf\":%lld,\"role\":\"member\"}",
                                (long long)s_now + 60, (long long)s_now - 5));
    zf_http_identity_t who;
    const char *why = NULL;
    assert_true(zf_http_token_is_jwt(tok));
    assert_int_equal(s_verify(tok, &who, &why), 0);
    assert_string_equal(who.tenant, "acme");
    assert_string_equal(who.user, "u1");
    assert_string_equal(who.role, "member");
    free(tok);
}

static void
test_role_defaults_to_admin(void **state)
{
    (void)state;
    const char *claims[] = {"{\"sub\":\"u\",\"customer_id\":\"t\"}",
                            "{\"sub\":\"u\",\"customer_id\":\"t\",\"role\":\"root\"}",
                            "{\"sub\":\"u\",\"customer_id\":\"t\",\"role\":7}"};
    for (int i = 0; i < 3; i++) {
        char *tok = s_mint(JWT_ALG_HS256, SECRET, claims[i]);
        zf_http_identity_t who;
        const char *why;
        assert_int_equal(s_verify(tok, &who, &why), 0);
        assert_string_equal(who.role, "admin");
        free(tok);
    }
}

static void
test_bad_signature(void **state)
{
    (void)state;
    char *tok = s_mint(JWT_ALG_HS256, "another-secret", "{\"sub\":\"u\",\"customer_id\":\"t\"}");
    zf_http_identity_t who;
    const char *why;
    assert_int_equal(s_verify(tok, &who, &why), ZF_EUNAUTH);
    assert_string_equal(who.tenant, "");
    free(tok);
    //  a good token whose payload was swapped keeps a signature that no longer fits
    tok = s_mint(JWT_ALG_HS256, SECRET, "{\"sub\":\"u\",\"customer_id\":\"t\"}");
    char *other = s_mint(JWT_ALG_HS256, SECRET, "{\"sub\":\"u\",\"customer_id\":\"evil\"}");
    char forged[1024];
    const char *p1 = strchr(tok, '.'), *s1 = strrchr(tok, '.');
    const char *p2 = strchr(other, '.'), *s2 = strrchr(other, '.');
    snprintf(forged, sizeof forged, "%.*s%.*s%s", (int)(p1 - tok), tok, (int)(s2 - p2), p2, s1);
    assert_int_equal(s_verify(forged, &who, &why), ZF_EUNAUTH);
    free(tok);
    free(other);
}

static void
test_alg_none_rejected(void **state)
{
    (void)state;
    //  {"alg":"none","typ":"JWT"} . {"sub":"u","customer_id":"t"} . (empty)
    const char *tok = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0."
                      "eyJzdWIiOiJ1IiwiY3VzdG9tZXJfaWQiOiJ0In0.";
    zf_http_identity_t who;
    const char *why;
    assert_true(zf_http_token_is_jwt(tok));
    assert_int_equal(s_verify(tok, &who, &why), ZF_EUNAUTH);
    char *none = s_mint(JWT_ALG_NONE, NULL, "{\"sub\":\"u\",\"customer_id\":\"t\"}");
    assert_int_equal(s_verify(none, &who, &why), ZF_EUNAUTH);
    free(none);
}

static void
test_other_hmac_algs_rejected(void **state)
{
    (void)state;
    //  correctly signed with the right secret, but not HS256
    jwt_alg_t algs[] = {JWT_ALG_HS384, JWT_ALG_HS512};
    for (int i = 0; i < 2; i++) {
        char *tok = s_mint(algs[i], SECRET, "{\"sub\":\"u\",\"customer_id\":\"t\"}");
        zf_http_identity_t who;
        const char *why;
        assert_int_equal(s_verify(tok, &who, &why), ZF_EUNAUTH);
        free(tok);
    }
}

static void
test_expired_and_not_yet_valid(void **state)
{
    (void)state;
    zf_http_identity_t who;
    const char *why = NULL;
    char *tok = s_mint(
        JWT_ALG_HS256, SECRET,
        s_claims("{\"sub\":\"u\",\"customer_id\":\"t\",\"exp\":%lld}", (long long)s_now - 1));
    assert_int_equal(s_verify(tok, &who, &why), ZF_EUNAUTH);
    assert_non_null(strstr(why, "expired"));
    free(tok);
    tok = s_mint(JWT_ALG_HS256, SECRET,  // exp == now: already expired (no leeway)
                 s_claims("{\"sub\":\"u\",\"customer_id\":\"t\",\"exp\":%lld}", (long long)s_now));
    assert_int_equal(s_verify(tok, &who, &why), ZF_EUNAUTH);
    free(tok);
    tok = s_mint(
        JWT_ALG_HS256, SECRET,
        s_claims("{\"sub\":\"u\",\"customer_id\":\"t\",\"nbf\":%lld}", (long long)s_now + 30));
    assert_int_equal(s_verify(tok, &who, &why), ZF_EUNAUTH);
    assert_non_null(strstr(why, "not valid yet"));
    free(tok);
    tok = s_mint(JWT_ALG_HS256, SECRET, "{\"sub\":\"u\",\"customer_id\":\"t\",\"exp\":\"soon\"}");
    assert_int_equal(s_verify(tok, &who, &why), ZF_EUNAUTH);
    free(tok);
}

static void
test_required_claims(void **state)
{
    (void)state;
    const char *bad[] = {"{\"sub\":\"u\"}",
                         "{\"customer_id\":\"t\"}",
                         "{\"sub\":\"u\",\"customer_id\":\"\"}",
                         "{\"sub\":\"u\",\"customer_id\":42}",
                         "{\"sub\":[],\"customer_id\":\"t\"}",
                         "{\"sub\":\"u\",\"customer_id\":\"a\\u001fb\"}",
                         "{\"sub\":\"u\\nv\",\"customer_id\":\"t\"}",
                         "{\"sub\":\"u\",\"customer_id\":\"t\\u007f\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *tok = s_mint(JWT_ALG_HS256, SECRET, bad[i]);
        zf_http_identity_t who;
        const char *why;
        assert_int_equal(s_verify(tok, &who, &why), ZF_EUNAUTH);
        free(tok);
    }
}

//  An HS256 token over the claims text as given (libjwt's own encoder
//  refuses duplicate claim names, so it cannot make these).
static char *
s_mint_raw(const char *claims)
{
    char *tok = zf_fx_jwt_hs256(SECRET, (const unsigned char *)claims, strlen(claims));
    assert_non_null(tok);
    return tok;
}

//  Duplicate claim names are refused (libjwt would keep the last one).
static void
test_duplicate_claims_rejected(void **state)
{
    (void)state;
    zf_http_identity_t who;
    const char *why;
    char *ok = s_mint_raw("{\"sub\":\"u\",\"customer_id\":\"t\"}");
    assert_int_equal(s_verify(ok, &who, &why), 0);  // the helper makes valid tokens
    assert_string_equal(who.tenant, "t");
    free(ok);
    const char *dup[] = {"{\"sub\":\"u\",\"customer_id\":\"t\",\"sub\":\"v\"}",
                         "{\"sub\":\"u\",\"customer_id\":\"evil\",\"customer_id\":\"t\"}"};
    for (size_t i = 0; i < sizeof dup / sizeof dup[0]; i++) {
        char *tok = s_mint_raw(dup[i]);
        assert_int_equal(s_verify(tok, &who, &why), ZF_EUNAUTH);
        free(tok);
    }
}

static void
test_jwt_form_and_bearer(void **state)
{
    (void)state;
    assert_false(zf_http_token_is_jwt("zfk_0123abcd"));
    assert_false(zf_http_token_is_jwt("a.b"));
    assert_false(zf_http_token_is_jwt("a.b.c.d"));
    assert_false(zf_http_token_is_jwt(".b.c"));
    assert_false(zf_http_token_is_jwt("a+/.b.c"));
    assert_true(zf_http_token_is_jwt("a.b.c"));
    char out[ZF_HTTP_TOKEN_MAX + 1];
    assert_true(zf_http_auth_bearer("Bearer abc", out));
    assert_string_equal(out, "abc");
    assert_true(zf_http_auth_bearer("bearer   abc  ", out));
    assert_string_equal(out, "abc");
    assert_false(zf_http_auth_bearer("Basic abc", out));
    assert_false(zf_http_auth_bearer("Bearer", out));
    assert_false(zf_http_auth_bearer("Bearer ", out));
    assert_false(zf_http_auth_bearer("Bearer a b", out));
    char *huge = malloc(ZF_HTTP_TOKEN_MAX + 16);
    memcpy(huge, "Bearer ", 7);
    memset(huge + 7, 'a', ZF_HTTP_TOKEN_MAX + 1);
    huge[7 + ZF_HTTP_TOKEN_MAX + 1] = '\0';
    assert_false(zf_http_auth_bearer(huge, out));
    free(huge);
    assert_int_equal(zf_http_role_level("viewer"), 1);
    assert_int_equal(zf_http_role_level("owner"), 4);
    assert_int_equal(zf_http_role_level("Owner"), 0);
}

static void
test_no_secret_no_jwt(void **state)
{
    (void)state;
    char *tok = s_mint(JWT_ALG_HS256, SECRET, "{\"sub\":\"u\",\"customer_id\":\"t\"}");
    zf_http_identity_t who;
    const char *why;
    assert_int_equal(zf_http_jwt_verify("", tok, s_now, &who, &why), ZF_EUNAUTH);
    assert_int_equal(zf_http_jwt_verify(NULL, tok, s_now, &who, &why), ZF_EUNAUTH);
    free(tok);
}

int
main(void)
{
    s_now = (int64_t)time(NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_token),
        cmocka_unit_test(test_role_defaults_to_admin),
        cmocka_unit_test(test_bad_signature),
        cmocka_unit_test(test_alg_none_rejected),
        cmocka_unit_test(test_other_hmac_algs_rejected),
        cmocka_unit_test(test_expired_and_not_yet_valid),
        cmocka_unit_test(test_required_claims),
        cmocka_unit_test(test_duplicate_claims_rejected),
        cmocka_unit_test(test_jwt_form_and_bearer),
        cmocka_unit_test(test_no_secret_no_jwt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
