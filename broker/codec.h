/*  broker/codec.h — msgpack <-> JSON values, bounded.

    In memory, dynamic values (workflow definitions, bodies, run state) are
    jansson json_t trees. On the wire and on disk they are msgpack. This
    module converts between the two.

    Decoding never trusts declared lengths: before anything is allocated,
    every declared string/bin length and array/map count is checked against
    the bytes that remain and against the limits, so a 5-byte header that
    declares 4 billion elements fails at once. Map keys must be strings
    (without NUL bytes: jansson's key lookups are C strings); duplicate keys
    and trailing bytes are rejected.
    ext types, and uint64 above INT64_MAX, are rejected. bin decodes to a
    string only if it is valid UTF-8 (rejected otherwise).

    Ownership: decode returns a new reference (caller json_decref's it) or
    NULL with *why set to a static reason. Encode never fails on a valid
    json_t tree (real numbers are packed as float64).
*/
#ifndef ZF_CODEC_H
#define ZF_CODEC_H

#include <jansson.h>
#include <stdbool.h>
#include <msgpack.h>
#include <stddef.h>

typedef struct {
    size_t max_bytes;  // whole buffer
    size_t max_depth;  // nesting of arrays/maps (top level = 1)
    size_t max_items;  // total elements + map entries across the value
    size_t max_str;    // one string/bin
    bool no_nul;       // strings may not hold NUL (bodies from outside: as strict JSON)
} zf_codec_limits_t;

//  16 MiB, depth 64, 1,000,000 items, 16 MiB strings.
extern const zf_codec_limits_t zf_codec_default_limits;

//  Decodes exactly one msgpack value occupying all of data[0..len).
//  lim NULL = defaults. Returns new ref or NULL (and *why, if why != NULL).
json_t *zf_codec_decode(const void *data, size_t len, const zf_codec_limits_t *lim,
                        const char **why);

//  Validates like zf_codec_decode without building anything (used to check
//  stored/forwarded raw values cheaply). Returns 0 or ZF_EINVAL/ZF_ELIMIT.
int zf_codec_check(const void *data, size_t len, const zf_codec_limits_t *lim, const char **why);

//  Packs v with pk. Returns 0, or ZF_EINVAL if v is NULL.
int zf_codec_pack(msgpack_packer *pk, const json_t *v);

//  Packs the object obj as a map of the entries keep(key, arg) accepts
//  (keep NULL: all), each value packed by pack(pk, key, value, arg)
//  (pack NULL: zf_codec_pack). For encoders that leave out or transform
//  some entries (storage's run state). Returns 0, or non-zero on error.
typedef bool(zf_codec_keep_fn)(const char *key, void *arg);
typedef int(zf_codec_entry_fn)(msgpack_packer *pk, const char *key, const json_t *value, void *arg);
int zf_codec_pack_entries(msgpack_packer *pk, const json_t *obj, zf_codec_keep_fn *keep,
                          zf_codec_entry_fn *pack, void *arg);

//  Encodes v into a new malloc'd buffer (caller frees) and sets *len.
void *zf_codec_encode(const json_t *v, size_t *len);

//  Exact number of bytes zf_codec_pack writes for v (v not NULL).
size_t zf_codec_size(const json_t *v);
//  Packs v into buf, whose size must be exactly zf_codec_size(v) (lets
//  callers pack straight into a zframe without an intermediate buffer).
void zf_codec_pack_into(const json_t *v, void *buf, size_t size);

#endif
