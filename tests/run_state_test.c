/*  tests/run_state_test.c — the run actor's state helpers: log entries
    (output cut to 500 bytes of JSON text on a UTF-8 boundary) and string
    lists.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "actors/run_int.h"
#include "broker/codec.h"

typedef struct {
    zf_run_task_t *task;  // a task to log for
    json_t *node;         // the node logged
} s_fix_t;

static int
s_setup(void **state)
{
    s_fix_t *f = calloc(1, sizeof *f);
    json_t *wf = json_pack("{s:s, s:{s:[]}}", "id", "wf-1", "definition", "nodes");
    json_t *run =
        json_pack("{s:s, s:s, s:s}", "id", "run-1", "workflow_id", "wf-1", "status", "running");
    f->task = zf_run_task_new("t1", wf, run, NULL);
    json_decref(wf);
    f->node = json_pack("{s:s, s:s}", "id", "n1", "type", "set");
    *state = f;
    return 0;
}

static int
s_teardown(void **state)
{
    s_fix_t *f = *state;
    zf_run_task_destroy(&f->task);
    json_decref(f->node);
    free(f);
    return 0;
}

//  The log entry for output (taken), decoded back.
static json_t *
s_entry(s_fix_t *f, json_t *output)
{
    size_t len = 0;
    void *bytes =
        zf_run_log_encode(f->task, f->node, "completed", 1, 1000, 1250, output, NULL, &len);
    json_decref(output);
    assert_non_null(bytes);
    json_t *entry = zf_codec_decode(bytes, len, NULL, NULL);
    free(bytes);
    assert_non_null(entry);
    return entry;
}

static void
test_small_output_is_kept_whole(void **state)
{
    json_t *e = s_entry(*state, json_pack("{s:i, s:s}", "x", 1, "y", "two"));
    assert_string_equal(json_string_value(json_object_get(e, "output")), "{\"x\":1,\"y\":\"two\"}");
    assert_string_equal(json_string_value(json_object_get(e, "nodeId")), "n1");
    assert_string_equal(json_string_value(json_object_get(e, "nodeType")), "set");
    assert_string_equal(json_string_value(json_object_get(e, "status")), "completed");
    assert_int_equal(json_integer_value(json_object_get(e, "durationMs")), 250);
    assert_true(json_is_null(json_object_get(e, "error")));
    json_decref(e);
}

static void
test_no_output_is_nil(void **state)
{
    json_t *e = s_entry(*state, NULL);
    assert_true(json_is_null(json_object_get(e, "output")));
    json_decref(e);
}

//  A JSON string value whose compact text is exactly `bytes` long.
static json_t *
s_ascii_of_text_len(size_t bytes)
{
    char *v = malloc(bytes - 1);
    memset(v, 'a', bytes - 2);
    json_t *s = json_stringn(v, bytes - 2);  // + 2 quotes
    free(v);
    return s;
}

static void
test_cut_at_500_bytes_exactly(void **state)
{
    json_t *e = s_entry(*state, s_ascii_of_text_len(500));
    assert_int_equal(strlen(json_string_value(json_object_get(e, "output"))), 500);
    assert_int_equal(json_string_value(json_object_get(e, "output"))[499], '"');
    json_decref(e);
    e = s_entry(*state, s_ascii_of_text_len(501));
    const char *out = json_string_value(json_object_get(e, "output"));
    assert_int_equal(strlen(out), 500);
    assert_int_equal(out[499], 'a');  // the closing quote was cut
    json_decref(e);
}

//  A megabyte of 2-byte characters: the text is a prefix of the whole
//  encoding, at most 500 bytes, and ends on a character boundary (the
//  decoder only builds valid UTF-8 strings, so it decoded at all).
static void
test_large_multibyte_output_is_a_valid_prefix(void **state)
{
    size_t chars = 512 * 1024;
    char *blob = malloc(2 * chars + 1);
    for (size_t i = 0; i < chars; i++)
        memcpy(blob + 2 * i, "\xc3\xa9", 2);  // é
    blob[2 * chars] = '\0';
    json_t *output = json_pack("{s:s}", "blob", blob);
    free(blob);
    char *whole = json_dumps(output, JSON_COMPACT);
    json_t *e = s_entry(*state, output);
    const char *out = json_string_value(json_object_get(e, "output"));
    assert_non_null(out);
    size_t n = strlen(out);
    assert_true(n <= 500 && n >= 497);
    assert_memory_equal(out, whole, n);
    assert_true((out[n - 1] & 0xC0) != 0xC0);  // no lead byte left without its tail
    free(whole);
    json_decref(e);
}

static void
test_in_list_matches_strings_only(void **state)
{
    (void)state;
    json_t *list = json_pack("[s, i, n, s]", "a", 7, "b");
    assert_true(zf_run_in_list(list, "a"));
    assert_true(zf_run_in_list(list, "b"));
    assert_false(zf_run_in_list(list, "7"));
    assert_false(zf_run_in_list(list, NULL));
    assert_false(zf_run_in_list(NULL, "a"));
    json_decref(list);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_small_output_is_kept_whole, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_no_output_is_nil, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_cut_at_500_bytes_exactly, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_large_multibyte_output_is_a_valid_prefix, s_setup,
                                        s_teardown),
        cmocka_unit_test(test_in_list_matches_strings_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
