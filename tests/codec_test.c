/*  tests/codec_test.c — msgpack <-> JSON codec: round trips, exact
    encodings, malformed and hostile inputs, interop with python3-msgpack. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker/codec.h"
#include "broker/errors.h"

//  ---------------------------------------------------------------------
//  Helpers

//  Parses "dd ff ff" style hex (spaces ignored) into a new exact-size buffer,
//  so ASan flags any read past the end.
static uint8_t *
s_hex(const char *hex, size_t *len)
{
    size_t n = 0;
    uint8_t *buf = malloc(strlen(hex) / 2 + 1);
    assert_non_null(buf);
    for (const char *p = hex; *p;) {
        if (*p == ' ') {
            p++;
            continue;
        }
        unsigned v;
        assert_int_equal(sscanf(p, "%2x", &v), 1);
        buf[n++] = (uint8_t)v;
        p += 2;
    }
    uint8_t *exact = malloc(n ? n : 1);
    memcpy(exact, buf, n);
    free(buf);
    *len = n;
    return exact;
}

static double
s_elapsed_ms(struct timespec a)
{
    struct timespec b;
    clock_gettime(CLOCK_MONOTONIC, &b);
    return (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6;
}

//  Encodes v, checks size agreement, decodes it back and compares.
static void
s_assert_round_trip(json_t *v)
{
    size_t len;
    uint8_t *buf = zf_codec_encode(v, &len);
    assert_non_null(buf);
    assert_int_equal(len, zf_codec_size(v));
    const char *why = "unset";
    assert_int_equal(zf_codec_check(buf, len, NULL, &why), 0);
    assert_null(why);
    json_t *back = zf_codec_decode(buf, len, NULL, &why);
    assert_non_null(back);
    assert_true(json_equal(v, back));
    json_decref(back);
    free(buf);
}

//  Decode and check must both reject (with err) or both accept.
static void
s_assert_agree(const uint8_t *data, size_t len, const zf_codec_limits_t *lim, int err)
{
    const char *why1 = NULL, *why2 = NULL;
    json_t *v = zf_codec_decode(data, len, lim, &why1);
    int rc = zf_codec_check(data, len, lim, &why2);
    if (err == 0) {
        assert_non_null(v);
        assert_int_equal(rc, 0);
    } else {
        assert_null(v);
        assert_non_null(why1);
        assert_int_equal(rc, err);
        assert_string_equal(why1, why2);
    }
    json_decref(v);
}

//  ---------------------------------------------------------------------
//  Round trips

static void
test_round_trip_scalars(void **state)
{
    (void)state;
    json_t *vals[] = {
        json_null(),
        json_true(),
        json_false(),
        json_integer(0),
        json_integer(-1),
        json_real(0.5),
        json_real(-1e300),
        json_real(3.14159),
        json_real(0.0),
        json_string(""),
        json_string("hello"),
        json_string("h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9d\x84\x9e"),
        json_stringn("a\0b", 3),
    };
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        s_assert_round_trip(vals[i]);
        json_decref(vals[i]);
    }
}

//  Every integer width boundary, with the exact encoding msgpack-c picks.
static void
test_round_trip_int_boundaries(void **state)
{
    (void)state;
    static const struct {
        int64_t v;
        const char *hex;
    } cases[] = {
        {0, "00"},
        {127, "7f"},
        {128, "cc 80"},
        {255, "cc ff"},
        {256, "cd 01 00"},
        {65535, "cd ff ff"},
        {65536, "ce 00 01 00 00"},
        {4294967295LL, "ce ff ff ff ff"},
        {4294967296LL, "cf 00 00 00 01 00 00 00 00"},
        {INT64_MAX, "cf 7f ff ff ff ff ff ff ff"},
        {-1, "ff"},
        {-32, "e0"},
        {-33, "d0 df"},
        {-128, "d0 80"},
        {-129, "d1 ff 7f"},
        {-32768, "d1 80 00"},
        {-32769, "d2 ff ff 7f ff"},
        {INT32_MIN, "d2 80 00 00 00"},
        {(int64_t)INT32_MIN - 1, "d3 ff ff ff ff 7f ff ff ff"},
        {INT64_MIN, "d3 80 00 00 00 00 00 00 00"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *v = json_integer(cases[i].v);
        size_t want_len, len;
        uint8_t *want = s_hex(cases[i].hex, &want_len);
        uint8_t *got = zf_codec_encode(v, &len);
        assert_int_equal(len, want_len);
        assert_memory_equal(got, want, len);
        s_assert_round_trip(v);
        json_decref(v);
        free(want);
        free(got);
    }
}

//  Non-canonical but valid encodings decode to the same values.
static void
test_decode_wide_encodings(void **state)
{
    (void)state;
    static const struct {
        const char *hex;
        const char *json;
    } cases[] = {
        {"cf 00 00 00 00 00 00 00 05", "5"},
        {"d0 05", "5"},
        {"d3 ff ff ff ff ff ff ff fe", "-2"},
        {"cd 00 01", "1"},
        {"ca 3f c0 00 00", "1.5"},
        {"cb 3f f8 00 00 00 00 00 00", "1.5"},
        {"c4 03 61 62 63", "\"abc\""},
        {"d9 01 61", "\"a\""},
        {"da 00 01 61", "\"a\""},
        {"db 00 00 00 01 61", "\"a\""},
        {"dc 00 01 c0", "[null]"},
        {"dd 00 00 00 01 c3", "[true]"},
        {"de 00 01 a1 6b c2", "{\"k\":false}"},
        {"df 00 00 00 00", "{}"},
        {"90", "[]"},
        {"80", "{}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len;
        uint8_t *data = s_hex(cases[i].hex, &len);
        json_t *want = json_loads(cases[i].json, JSON_DECODE_ANY, NULL);
        json_t *got = zf_codec_decode(data, len, NULL, NULL);
        assert_non_null(got);
        assert_true(json_equal(want, got));
        assert_int_equal(zf_codec_check(data, len, NULL, NULL), 0);
        json_decref(want);
        json_decref(got);
        free(data);
    }
}

static json_t *
s_nested_doc(void)
{
    json_t *doc = json_loads("{\"name\":\"wf\",\"n\":[1,-1,128,-129,70000,-70000,5000000000,"
                             "-5000000000],\"r\":[0.25,-2.5e-10],\"b\":[true,false,null],"
                             "\"deep\":{\"a\":{\"b\":{\"c\":[[],{},[{}]]}}},\"u\":\"\\u00e9\\u2713"
                             "\\ud834\\udd1e\",\"e\":\"\"}",
                             0, NULL);
    assert_non_null(doc);
    return doc;
}

static void
test_round_trip_nested(void **state)
{
    (void)state;
    json_t *doc = s_nested_doc();
    s_assert_round_trip(doc);
    json_decref(doc);
}

//  Strings and containers long enough for every length encoding.
static void
test_round_trip_long_values(void **state)
{
    (void)state;
    size_t sizes[] = {31, 32, 255, 256, 65535, 65536, 200000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char *s = malloc(sizes[i]);
        memset(s, 'x', sizes[i]);
        json_t *str = json_stringn(s, sizes[i]);
        s_assert_round_trip(str);
        json_t *arr = json_array(), *obj = json_object();
        for (size_t k = 0; k < sizes[i] && k < 70000; k++) {
            json_array_append_new(arr, json_integer((json_int_t)k));
            char key[16];
            snprintf(key, sizeof key, "k%zu", k);
            json_object_set_new(obj, key, json_true());
        }
        s_assert_round_trip(arr);
        s_assert_round_trip(obj);
        json_decref(str);
        json_decref(arr);
        json_decref(obj);
        free(s);
    }
}

static void
test_pack_null_and_encode_null(void **state)
{
    (void)state;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    assert_int_equal(zf_codec_pack(&pk, NULL), ZF_EINVAL);
    json_t *doc = s_nested_doc();
    assert_int_equal(zf_codec_pack(&pk, doc), 0);
    assert_int_equal(sb.size, zf_codec_size(doc));
    size_t len = 99;
    assert_null(zf_codec_encode(NULL, &len));
    assert_int_equal(len, 0);
    json_decref(doc);
    msgpack_sbuffer_destroy(&sb);
}

//  ---------------------------------------------------------------------
//  Malformed and hostile input

static void
test_truncated_at_every_position(void **state)
{
    (void)state;
    json_t *doc = s_nested_doc();
    size_t len;
    uint8_t *full = zf_codec_encode(doc, &len);
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *part = malloc(cut ? cut : 1);
        memcpy(part, full, cut);
        s_assert_agree(part, cut, NULL, ZF_EINVAL);
        free(part);
    }
    s_assert_agree(full, len, NULL, 0);
    free(full);
    json_decref(doc);
}

static size_t s_biggest_alloc;

static void *
s_counting_malloc(size_t n)
{
    if (n > s_biggest_alloc) s_biggest_alloc = n;
    return malloc(n);
}

//  Declared counts of 4 billion in a 5-byte input: fail at once, and the
//  decoder never asks jansson for a big block.
static void
test_huge_declared_counts_fail_fast(void **state)
{
    (void)state;
    const char *hex[] = {
        "dd ff ff ff ff", "df ff ff ff ff", "db ff ff ff ff 61", "c6 ff ff ff ff 61",
        "dc ff ff",       "de ff ff 01",    "91 dd ff ff ff ff", "81 a1 61 df ff ff ff ff"};
    json_set_alloc_funcs(s_counting_malloc, free);
    for (size_t i = 0; i < sizeof hex / sizeof hex[0]; i++) {
        size_t len;
        uint8_t *data = s_hex(hex[i], &len);
        s_biggest_alloc = 0;
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (int k = 0; k < 100; k++)
            s_assert_agree(data, len, NULL, ZF_EINVAL);
        assert_true(s_elapsed_ms(t0) < 200.0);
        assert_true(s_biggest_alloc < 4096);
        free(data);
    }
    json_set_alloc_funcs(malloc, free);
}

static void
test_malformed_table(void **state)
{
    (void)state;
    static const struct {
        const char *hex;
        int err;
        const char *what;
    } cases[] = {
        {"", ZF_EINVAL, "empty input"},
        {"81 01 02", ZF_EINVAL, "int map key"},
        {"81 c0 02", ZF_EINVAL, "nil map key"},
        {"81 c4 01 61 01", ZF_EINVAL, "bin map key"},
        {"81 91 01 02", ZF_EINVAL, "array map key"},
        {"82 a1 61 01 a1 61 02", ZF_EINVAL, "duplicate key"},
        {"81 a1 00 01", ZF_EINVAL, "NUL in key"},
        {"81 a3 61 00 62 01", ZF_EINVAL, "NUL inside key"},
        {"a2 c3 28", ZF_EINVAL, "bad continuation"},
        {"a2 c0 af", ZF_EINVAL, "overlong"},
        {"a3 e0 80 af", ZF_EINVAL, "overlong 3-byte"},
        {"a3 ed a0 80", ZF_EINVAL, "surrogate"},
        {"a4 f4 90 80 80", ZF_EINVAL, "above U+10FFFF"},
        {"a1 e2", ZF_EINVAL, "cut sequence"},
        {"a1 ff", ZF_EINVAL, "0xff byte"},
        {"c4 02 c3 28", ZF_EINVAL, "bin not utf-8"},
        {"81 a2 c3 28 01", ZF_EINVAL, "key not utf-8"},
        {"d4 01 00", ZF_EINVAL, "fixext1"},
        {"d8 01 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00", ZF_EINVAL, "fixext16"},
        {"c7 01 05 00", ZF_EINVAL, "ext8"},
        {"c8 00 01 05 00", ZF_EINVAL, "ext16"},
        {"c9 00 00 00 01 05 00", ZF_EINVAL, "ext32"},
        {"c1", ZF_EINVAL, "never-used byte"},
        {"01 02", ZF_EINVAL, "trailing garbage"},
        {"80 00", ZF_EINVAL, "trailing after map"},
        {"cf ff ff ff ff ff ff ff ff", ZF_EINVAL, "uint64 max"},
        {"cf 80 00 00 00 00 00 00 00", ZF_EINVAL, "INT64_MAX + 1"},
        {"cb 7f f8 00 00 00 00 00 00", ZF_EINVAL, "NaN"},
        {"cb 7f f0 00 00 00 00 00 00", ZF_EINVAL, "Inf"},
        {"ca ff 80 00 00", ZF_EINVAL, "float32 -Inf"},
        {"ca 7f c0 00 00", ZF_EINVAL, "float32 NaN"},
        {"dc 00 05 01", ZF_EINVAL, "array16 short"},
        {"92 01", ZF_EINVAL, "fixarray short"},
        {"82 a1 61 01", ZF_EINVAL, "fixmap short"},
        {"cd 01", ZF_EINVAL, "uint16 cut"},
        {"91 d4", ZF_EINVAL, "ext inside array"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len;
        uint8_t *data = s_hex(cases[i].hex, &len);
        s_assert_agree(data, len, NULL, cases[i].err);
        free(data);
    }
}

//  n nested arrays around a nil.
static uint8_t *
s_nested_arrays(size_t n)
{
    uint8_t *data = malloc(n + 1);
    memset(data, 0x91, n);
    data[n] = 0xc0;
    return data;
}

static void
test_depth_limit(void **state)
{
    (void)state;
    uint8_t *d100 = s_nested_arrays(100), *d64 = s_nested_arrays(64), *d65 = s_nested_arrays(65);
    s_assert_agree(d100, 101, NULL, ZF_ELIMIT);
    s_assert_agree(d64, 65, NULL, 0);
    s_assert_agree(d65, 66, NULL, ZF_ELIMIT);
    zf_codec_limits_t lim = zf_codec_default_limits;
    lim.max_depth = 1;
    uint8_t one[] = {0x91, 0x01}, two[] = {0x91, 0x80}, scalar[] = {0x05};
    s_assert_agree(one, sizeof one, &lim, 0);
    s_assert_agree(two, sizeof two, &lim, ZF_ELIMIT);
    s_assert_agree(scalar, sizeof scalar, &lim, 0);
    free(d100);
    free(d64);
    free(d65);
}

static void
test_items_str_and_size_limits(void **state)
{
    (void)state;
    zf_codec_limits_t lim = zf_codec_default_limits;
    lim.max_items = 10;
    uint8_t ten[11] = {0x9a}, eleven[12] = {0x9b};
    s_assert_agree(ten, sizeof ten, &lim, 0);
    s_assert_agree(eleven, sizeof eleven, &lim, ZF_ELIMIT);
    //  items are counted across the whole value: [[5 nils],[6 nils]] = 13
    uint8_t split[] = {0x92, 0x95, 0, 0, 0, 0, 0, 0x96, 0, 0, 0, 0, 0, 0};
    s_assert_agree(split, sizeof split, &lim, ZF_ELIMIT);

    lim = zf_codec_default_limits;
    lim.max_str = 4;
    uint8_t four[] = {0xa4, 'a', 'b', 'c', 'd'}, five[] = {0xa5, 'a', 'b', 'c', 'd', 'e'};
    uint8_t bin5[] = {0xc4, 5, 'a', 'b', 'c', 'd', 'e'};
    s_assert_agree(four, sizeof four, &lim, 0);
    s_assert_agree(five, sizeof five, &lim, ZF_ELIMIT);
    s_assert_agree(bin5, sizeof bin5, &lim, ZF_ELIMIT);

    lim = zf_codec_default_limits;
    lim.max_bytes = 4;
    s_assert_agree(four, sizeof four, &lim, ZF_ELIMIT);

    //  no_nul: a NUL anywhere in a string value, nested too, is refused;
    //  without it a NUL is data (map keys refuse it always).
    uint8_t nul[] = {0x81, 0xa1, 'k', 0x91, 0xa3, 'a', 0, 'b'};
    s_assert_agree(nul, sizeof nul, NULL, 0);
    lim = zf_codec_default_limits;
    lim.no_nul = true;
    s_assert_agree(nul, sizeof nul, &lim, ZF_EINVAL);
    s_assert_agree(four, sizeof four, &lim, 0);
}

//  Maps past the pairwise size use the hash set in check mode.
static void
test_duplicate_key_in_large_map(void **state)
{
    (void)state;
    for (size_t n = 2; n < 300; n = n * 2 + 1) {
        json_t *obj = json_object();
        for (size_t k = 0; k < n; k++) {
            char key[16];
            snprintf(key, sizeof key, "key%zu", k);
            json_object_set_new(obj, key, json_integer((json_int_t)k));
        }
        size_t len;
        uint8_t *data = zf_codec_encode(obj, &len);
        s_assert_agree(data, len, NULL, 0);
        free(data);
        //  Same keys plus a repeat of a middle one at the end.
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, n + 1);
        for (size_t k = 0; k <= n; k++) {
            char key[16];
            int kl = snprintf(key, sizeof key, "key%zu", k == n ? n / 2 : k);
            msgpack_pack_str_with_body(&pk, key, (size_t)kl);
            msgpack_pack_int64(&pk, (int64_t)k);
        }
        s_assert_agree((uint8_t *)sb.data, sb.size, NULL, ZF_EINVAL);
        msgpack_sbuffer_destroy(&sb);
        json_decref(obj);
    }
}

//  ---------------------------------------------------------------------
//  Interop with an independent implementation (python3-msgpack)

static void
test_interop_python_msgpack(void **state)
{
    (void)state;
    const char *py = "/usr/bin/python3 -c 'import msgpack,sys; sys.stdout.write(msgpack.packb("
                     "{\"s\":\"h\\u00e9\",\"b\":b\"raw\",\"i\":[0,-1,127,128,-33,65536,2**40,"
                     "-(2**40),2**63-1],\"f\":1.5,\"t\":True,\"n\":None,\"m\":{\"x\":[]}},"
                     "use_bin_type=True).hex())'";
    FILE *f = popen(py, "r");
    assert_non_null(f);
    char hex[1024] = {0};
    size_t got = fread(hex, 1, sizeof hex - 1, f);
    assert_int_equal(pclose(f), 0);
    assert_true(got > 0);
    size_t len;
    uint8_t *data = s_hex(hex, &len);
    json_t *v = zf_codec_decode(data, len, NULL, NULL);
    json_t *want = json_loads("{\"s\":\"h\\u00e9\",\"b\":\"raw\",\"i\":[0,-1,127,128,-33,65536,"
                              "1099511627776,-1099511627776,9223372036854775807],\"f\":1.5,"
                              "\"t\":true,\"n\":null,\"m\":{\"x\":[]}}",
                              0, NULL);
    assert_non_null(v);
    assert_true(json_equal(v, want));

    //  And the other way: python unpacks our bytes to the same value.
    size_t elen;
    uint8_t *enc = zf_codec_encode(want, &elen);
    char cmd[2048];
    int off = snprintf(cmd, sizeof cmd,
                       "/usr/bin/python3 -c 'import msgpack,sys; v=msgpack.unpackb(bytes.fromhex("
                       "sys.argv[1])); sys.exit(0 if v=={\"s\":\"h\\u00e9\",\"b\":\"raw\",\"i\":"
                       "[0,-1,127,128,-33,65536,2**40,-(2**40),2**63-1],\"f\":1.5,\"t\":True,"
                       "\"n\":None,\"m\":{\"x\":[]}} else 3)' ");
    for (size_t i = 0; i < elen; i++)
        off += snprintf(cmd + off, sizeof cmd - (size_t)off, "%02x", enc[i]);
    assert_true((size_t)off < sizeof cmd);
    assert_int_equal(system(cmd), 0);
    free(enc);
    json_decref(v);
    json_decref(want);
    free(data);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_scalars),
        cmocka_unit_test(test_round_trip_int_boundaries),
        cmocka_unit_test(test_decode_wide_encodings),
        cmocka_unit_test(test_round_trip_nested),
        cmocka_unit_test(test_round_trip_long_values),
        cmocka_unit_test(test_pack_null_and_encode_null),
        cmocka_unit_test(test_truncated_at_every_position),
        cmocka_unit_test(test_huge_declared_counts_fail_fast),
        cmocka_unit_test(test_malformed_table),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_items_str_and_size_limits),
        cmocka_unit_test(test_duplicate_key_in_large_map),
        cmocka_unit_test(test_interop_python_msgpack),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
