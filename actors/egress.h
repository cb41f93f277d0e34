/*  actors/egress.h — the outbound address guard.

    http_request must not reach loopback, private (RFC 1918, ULA), link-local,
    CGNAT, multicast, unspecified, cloud-metadata (169.254.169.254,
    fd00:ec2::254) addresses, nor IPv4-mapped/compatible/NAT64 IPv6 forms of
    them, unless the operator allowed a CIDR covering the address
    (--egress-allow). The check is on the address actually connected to
    (curl CURLOPT_OPENSOCKETFUNCTION), so DNS tricks and redirects are covered.
*/
#ifndef ZF_EGRESS_H
#define ZF_EGRESS_H

#include <stdbool.h>
#include <sys/socket.h>

typedef struct zf_egress_t zf_egress_t;

//  Parses "CIDR[,CIDR...]" (IPv4 and IPv6; a bare address = /32 or /128).
//  spec NULL or "" = no exceptions. Returns NULL on a malformed spec and
//  writes the bad part to err.
zf_egress_t *zf_egress_new(const char *spec, char *err, size_t errlen);
void zf_egress_destroy(zf_egress_t **self_p);

//  true if connecting to addr is permitted. self NULL = no exceptions.
bool zf_egress_allowed(const zf_egress_t *self, const struct sockaddr *addr);

#endif
