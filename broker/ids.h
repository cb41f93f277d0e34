/*  broker/ids.h — identifiers and clocks.

    Run and workflow ids are RFC 9562 UUIDv7: 48-bit Unix ms timestamp, then
    random bits from getrandom(2), so ids sort by creation time and RocksDB
    keys built from them iterate newest-last. Thread-safe.
*/
#ifndef ZF_IDS_H
#define ZF_IDS_H

#include <stddef.h>
#include <stdint.h>

#define ZF_UUID_LEN 36  // textual length, without NUL

//  Writes a new UUIDv7 ("xxxxxxxx-xxxx-7xxx-yxxx-xxxxxxxxxxxx") into out[37].
void zf_uuid7(char out[ZF_UUID_LEN + 1]);
//  Fills buf with n cryptographically random bytes (getrandom); aborts on failure.
void zf_random_bytes(void *buf, size_t n);
//  Wall clock in Unix milliseconds.
int64_t zf_now_ms(void);
//  Test clocks (zflow serve --test-clock): from now on zf_now_ms() reads
//  now_ms and advances with real time. Never used in production.
void zf_clock_set(int64_t now_ms);
//  Formats Unix ms as ISO-8601 UTC with milliseconds: 2026-03-19T18:00:00.000Z.
void zf_iso8601(int64_t ms, char out[32]);
//  1 if s looks like a canonical lower/upper-case UUID (any version).
int zf_uuid_valid(const char *s);
//  SHA-256 of data into out[32] (the algorithm is fetched once per process:
//  OpenSSL 3's SHA256() looks it up on every call, two thirds of the cost
//  of hashing a key). Thread-safe.
void zf_sha256(const void *data, size_t len, unsigned char out[32]);
//  Lower-case hex of in[0..n) into out[2n + 1] (NUL-terminated).
void zf_hex(const unsigned char *in, size_t n, char *out);

#endif
