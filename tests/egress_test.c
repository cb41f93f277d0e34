/*  tests/egress_test.c — the outbound address guard: deny table, allow list. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "actors/egress.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

//  true if `text` (IPv4 or IPv6) may be connected to under policy e.
static bool
s_allowed(const zf_egress_t *e, const char *text)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, text, &v4->sin_addr) == 1)
        v4->sin_family = AF_INET;
    else if (inet_pton(AF_INET6, text, &v6->sin6_addr) == 1)
        v6->sin6_family = AF_INET6;
    else
        fail_msg("bad test address %s", text);
    return zf_egress_allowed(e, (struct sockaddr *)&ss);
}

static void
s_expect(const zf_egress_t *e, const char *const *addrs, size_t n, bool want)
{
    for (size_t i = 0; i < n; i++)
        if (s_allowed(e, addrs[i]) != want)
            fail_msg("%s: %s, want %s", addrs[i], want ? "denied" : "allowed",
                     want ? "allowed" : "denied");
}

static const char *const s_denied[] = {
    // IPv4 ranges, both edges where it matters
    "0.0.0.0", "0.255.255.255", "10.0.0.1", "10.255.255.255", "100.64.0.1", "100.127.255.254",
    "127.0.0.1", "127.255.255.254", "169.254.0.1", "169.254.169.254", "172.16.0.1",
    "172.31.255.255", "192.0.0.1", "192.0.0.170", "192.168.0.1", "192.168.255.255", "198.18.0.1",
    "198.19.255.255", "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.254",
    "255.255.255.255",
    // IPv6 ranges
    "::", "::1", "fc00::1", "fd12:3456::1", "fe80::1", "febf::1", "ff02::1", "ff0e::1",
    "fd00:ec2::254",
    // IPv4-mapped, IPv4-compatible, NAT64 and 6to4 forms of denied IPv4
    "::ffff:127.0.0.1", "::ffff:10.1.2.3", "::ffff:169.254.169.254", "::127.0.0.1", "::10.0.0.1",
    "64:ff9b::7f00:1", "64:ff9b::192.168.1.1", "64:ff9b::a9fe:a9fe",
    "2002:7f00:1::", "2002:0a00:0001::1", "2002:c0a8:0101::", "64:ff9b:1::1"};

static const char *const s_public[] = {
    "1.1.1.1",         "8.8.8.8",          "9.255.255.255",        "11.0.0.0",
    "100.63.255.255",  "100.128.0.0",      "126.255.255.255",      "128.0.0.1",
    "169.253.255.255", "169.255.0.0",      "172.15.255.255",       "172.32.0.0",
    "192.0.1.1",       "192.167.255.255",  "192.169.0.0",          "198.17.255.255",
    "198.20.0.0",      "223.255.255.255",  "2606:4700:4700::1111", "2001:4860:4860::8888",
    "::ffff:8.8.8.8",  "64:ff9b::808:808", "2002:0808:0808::1",    "fbff:ffff::1"};

static void
test_default_denies_private_ranges(void **state)
{
    (void)state;
    s_expect(NULL, s_denied, sizeof s_denied / sizeof s_denied[0], false);
}

static void
test_public_addresses_allowed(void **state)
{
    (void)state;
    s_expect(NULL, s_public, sizeof s_public / sizeof s_public[0], true);
    //  fec0::/10 (deprecated site-local) is denied too.
    assert_false(s_allowed(NULL, "fec0::1"));
}

static void
test_allow_list_overrides_deny(void **state)
{
    (void)state;
    char err[128] = "";
    zf_egress_t *e = zf_egress_new("127.0.0.1/32, 10.0.0.0/8,::1/128", err, sizeof err);
    assert_non_null(e);
    static const char *const now_ok[] = {"127.0.0.1", "10.0.0.1",         "10.255.1.2",
                                         "::1",       "::ffff:127.0.0.1", "::ffff:10.9.9.9"};
    s_expect(e, now_ok, sizeof now_ok / sizeof now_ok[0], true);
    static const char *const still_denied[] = {
        "127.0.0.2",       "192.168.1.1",     "::2", "169.254.169.254", "fd00:ec2::254",
        "64:ff9b::7f00:1", "::ffff:127.0.0.2"};
    s_expect(e, still_denied, sizeof still_denied / sizeof still_denied[0], false);
    assert_true(s_allowed(e, "11.0.0.0"));
    zf_egress_destroy(&e);
    assert_null(e);
    zf_egress_destroy(&e);
}

static void
test_bare_addresses_and_v6_prefixes(void **state)
{
    (void)state;
    char err[128];
    zf_egress_t *e = zf_egress_new("169.254.169.254,fd00::/8", err, sizeof err);
    assert_non_null(e);
    assert_true(s_allowed(e, "169.254.169.254"));
    assert_false(s_allowed(e, "169.254.169.253"));
    assert_true(s_allowed(e, "fd00:ec2::254"));
    assert_true(s_allowed(e, "fdff::1"));
    assert_false(s_allowed(e, "fc00::1"));
    zf_egress_destroy(&e);
    e = zf_egress_new("", err, sizeof err);
    assert_non_null(e);
    assert_false(s_allowed(e, "127.0.0.1"));
    assert_true(s_allowed(e, "8.8.8.8"));
    zf_egress_destroy(&e);
    e = zf_egress_new(NULL, err, sizeof err);
    assert_non_null(e);
    zf_egress_destroy(&e);
}

static void
test_malformed_specs_rejected(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "127.0.0.1/33", "::1/129",   "10.0.0.0/", "10.0.0.0/x",       "10.0.0/8",
        "localhost",    "1.2.3.4,",  ",1.2.3.4",  "1.2.3.4,,5.6.7.8", "1.2.3.4/-1",
        "1.2.3.4/ 8",   "256.0.0.1", "::1::2",    "10.0.0.0/8/8",     "1.2.3.4/0008"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[128] = "";
        zf_egress_t *e = zf_egress_new(bad[i], err, sizeof err);
        if (e) fail_msg("accepted spec '%s'", bad[i]);
        assert_non_null(strstr(err, "bad egress CIDR"));
    }
    char err[32];
    assert_null(
        zf_egress_new("1.2.3.4/8, nonsense-that-is-long-enough-to-truncate", err, sizeof err));
    assert_true(strlen(err) < sizeof err);
}

static void
test_non_ip_family_denied(void **state)
{
    (void)state;
    struct sockaddr sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_family = AF_UNIX;
    assert_false(zf_egress_allowed(NULL, &sa));
    assert_false(zf_egress_allowed(NULL, NULL));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_denies_private_ranges),
        cmocka_unit_test(test_public_addresses_allowed),
        cmocka_unit_test(test_allow_list_overrides_deny),
        cmocka_unit_test(test_bare_addresses_and_v6_prefixes),
        cmocka_unit_test(test_malformed_specs_rejected),
        cmocka_unit_test(test_non_ip_family_denied),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
