/*  storage/rec_int.h — key building and value coding shared by the typed
    record files (records.c, data.c). Not a public header.
*/
#ifndef ZF_REC_INT_H
#define ZF_REC_INT_H

#include "storage/store.h"

#include <stdint.h>

typedef struct {
    unsigned char *p;  // malloc'd key bytes (room for 8 more)
    size_t len;        // key length
} zf_rkey_t;

//  Joins parts with \0 separators: a\0b, a\0b\0c. A NULL part ends the
//  list; an empty last part gives a trailing separator (a prefix).
zf_rkey_t zf_rkey(const char *a, const char *b, const char *c);
void zf_rk_be_put(unsigned char *out, uint64_t v, int bytes);
uint64_t zf_rk_be_get(const unsigned char *in, int bytes);
//  Reports a bad stored value (rate-limited).
void zf_rk_corrupt(zf_cf_t cf, const char *why);
//  Decodes a stored value; NULL (and one report) if not msgpack of type want.
json_t *zf_rk_decode(zf_cf_t cf, const void *val, size_t vlen, json_type want);
//  Reads and decodes a value; takes (frees) k.
json_t *zf_rk_get(zf_store_t *s, zf_cf_t cf, zf_rkey_t k, json_type want);
//  Stages a put / delete; take (free) k.
void zf_rk_put_json(zf_batch_t *b, zf_cf_t cf, zf_rkey_t k, const json_t *v);
void zf_rk_put_str(zf_batch_t *b, zf_cf_t cf, zf_rkey_t k, const char *str);
void zf_rk_del(zf_batch_t *b, zf_cf_t cf, zf_rkey_t k);
const char *zf_rk_field(const json_t *obj, const char *name);

//  Scan callback collecting decoded objects into items (corrupt ones skipped).
typedef struct {
    zf_cf_t cf;     // column family scanned (for reports)
    json_t *items;  // array being filled
} zf_rk_collect_t;
int zf_rk_collect(const void *key, size_t klen, const void *val, size_t vlen, void *arg);

#endif
