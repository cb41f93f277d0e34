/*  actors/egress.c — the outbound address guard. */
#include "actors/egress.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_RULES_MAX 256  // CIDRs in one --egress-allow spec
#define S_ITEM_MAX  64   // bytes in one CIDR item

//  One CIDR: family, network bytes (4 or 16 used), prefix length.
typedef struct {
    int family;        // AF_INET or AF_INET6
    uint8_t addr[16];  // network address
    int prefix;        // prefix length in bits
} s_cidr_t;

struct zf_egress_t {
    size_t count;                 // used entries of allow
    s_cidr_t allow[S_RULES_MAX];  // operator exceptions
};

//  Denied IPv4 ranges (applied to embedded IPv4 in IPv6 forms too).
static const struct {
    uint8_t net[4];  // network
    int prefix;      // prefix length
} s_deny4[] = {
    {{0, 0, 0, 0}, 8},    {{10, 0, 0, 0}, 8},     {{100, 64, 0, 0}, 10},
    {{127, 0, 0, 0}, 8},  {{169, 254, 0, 0}, 16}, {{172, 16, 0, 0}, 12},
    {{192, 0, 0, 0}, 24}, {{192, 168, 0, 0}, 16}, {{198, 18, 0, 0}, 15},
    {{224, 0, 0, 0}, 4},  {{240, 0, 0, 0}, 4},    {{255, 255, 255, 255}, 32},
};

//  Denied IPv6 ranges that embed no IPv4 address.
static const struct {
    uint8_t net[16];  // network
    int prefix;       // prefix length
} s_deny6[] = {
    {{0}, 128},                                               // :: unspecified
    {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 128},  // ::1 loopback
    {{0xfc}, 7},                                              // fc00::/7 ULA
    {{0xfe, 0x80}, 10},                                       // fe80::/10 link-local
    {{0xfe, 0xc0}, 10},                                       // fec0::/10 old site-local
    {{0xff}, 8},                                              // ff00::/8 multicast
    {{0xfd, 0x00, 0x0e, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x54}, 128},  // EC2 metadata
    {{0x00, 0x64, 0xff, 0x9b, 0x00, 0x01}, 48},  // 64:ff9b:1::/48 local-use NAT64
};

//  1 if the first `prefix` bits of a and b agree.
static int
s_prefix_match(const uint8_t *a, const uint8_t *b, int prefix)
{
    int full = prefix / 8, rest = prefix % 8;
    if (memcmp(a, b, (size_t)full) != 0) return 0;
    if (rest == 0) return 1;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[full] & mask) == (b[full] & mask);
}

//  Parses one "addr[/prefix]" item of n bytes into c.
static int
s_parse_cidr(const char *item, size_t n, s_cidr_t *c)
{
    char buf[S_ITEM_MAX];
    if (n == 0 || n >= sizeof buf) return -1;
    memcpy(buf, item, n);
    buf[n] = '\0';
    char *slash = strchr(buf, '/');
    if (slash) *slash = '\0';
    memset(c, 0, sizeof *c);
    if (inet_pton(AF_INET, buf, c->addr) == 1)
        c->family = AF_INET;
    else if (inet_pton(AF_INET6, buf, c->addr) == 1)
        c->family = AF_INET6;
    else
        return -1;
    int max = c->family == AF_INET ? 32 : 128;
    c->prefix = max;
    if (slash) {
        const char *p = slash + 1;
        if (*p == '\0' || strlen(p) > 3 || strspn(p, "0123456789") != strlen(p)) return -1;
        c->prefix = atoi(p);
        if (c->prefix > max) return -1;
    }
    return 0;
}

//  Trims spaces around [*s, *s + *n).
static void
s_trim(const char **s, size_t *n)
{
    while (*n > 0 && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
        (*n)--;
}

zf_egress_t *
zf_egress_new(const char *spec, char *err, size_t errlen)
{
    zf_egress_t *self = calloc(1, sizeof *self);
    if (!self) abort();
    const char *p = spec ? spec : "";
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        const char *item = p;
        s_trim(&item, &n);
        if (self->count == S_RULES_MAX || s_parse_cidr(item, n, &self->allow[self->count]) != 0) {
            if (err && errlen)
                snprintf(err, errlen, "bad egress CIDR '%.*s'", (int)(n > 64 ? 64 : n), item);
            free(self);
            return NULL;
        }
        self->count++;
        p = comma ? comma + 1 : p + strlen(p);
        if (comma && *p == '\0') {
            if (err && errlen) snprintf(err, errlen, "bad egress CIDR '' (trailing comma)");
            free(self);
            return NULL;
        }
    }
    return self;
}

void
zf_egress_destroy(zf_egress_t **self_p)
{
    if (self_p && *self_p) {
        free(*self_p);
        *self_p = NULL;
    }
}

static int
s_allow_listed(const zf_egress_t *self, int family, const uint8_t *addr)
{
    for (size_t i = 0; self && i < self->count; i++)
        if (self->allow[i].family == family &&
            s_prefix_match(self->allow[i].addr, addr, self->allow[i].prefix))
            return 1;
    return 0;
}

static int
s_denied4(const uint8_t *a)
{
    for (size_t i = 0; i < sizeof s_deny4 / sizeof s_deny4[0]; i++)
        if (s_prefix_match(s_deny4[i].net, a, s_deny4[i].prefix)) return 1;
    return 0;
}

//  The IPv4 address an IPv6 address stands for, if it embeds one:
//  ::ffff:a.b.c.d (mapped), ::a.b.c.d (compatible), 64:ff9b::a.b.c.d
//  (NAT64), 2002:aabb:ccdd::/48 (6to4). NULL if none.
static const uint8_t *
s_embedded4(const uint8_t *a)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const uint8_t compat[12] = {0};
    static const uint8_t nat64[12] = {0x00, 0x64, 0xff, 0x9b};
    if (memcmp(a, mapped, 12) == 0 || memcmp(a, compat, 12) == 0 || memcmp(a, nat64, 12) == 0)
        return a + 12;
    if (a[0] == 0x20 && a[1] == 0x02) return a + 2;
    return NULL;
}

static int
s_denied6(const uint8_t *a)
{
    for (size_t i = 0; i < sizeof s_deny6 / sizeof s_deny6[0]; i++)
        if (s_prefix_match(s_deny6[i].net, a, s_deny6[i].prefix)) return 1;
    const uint8_t *v4 = s_embedded4(a);
    return v4 && s_denied4(v4);
}

//  An allow-listed CIDR covering the address (or, for ::ffff:a.b.c.d, the
//  IPv4 address it maps) wins; otherwise the deny tables decide.
bool
zf_egress_allowed(const zf_egress_t *self, const struct sockaddr *addr)
{
    if (!addr) return false;
    if (addr->sa_family == AF_INET) {
        const uint8_t *a = (const uint8_t *)&((const struct sockaddr_in *)addr)->sin_addr;
        return s_allow_listed(self, AF_INET, a) || !s_denied4(a);
    }
    if (addr->sa_family == AF_INET6) {
        const uint8_t *a = ((const struct sockaddr_in6 *)addr)->sin6_addr.s6_addr;
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        int is_mapped = memcmp(a, mapped, 12) == 0;  // same host as the IPv4 address
        if (s_allow_listed(self, AF_INET6, a) ||
            (is_mapped && s_allow_listed(self, AF_INET, a + 12)))
            return true;
        return !s_denied6(a);
    }
    return false;
}
