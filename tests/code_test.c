/*  tests/code_test.c — step kind "code": JavaScript on the real duktape.

    Every test runs scripts through the kind's exec() (or zf_jsvm_run) on
    duktape compiled from Debian's source: results of each JSON type, the
    scopes, errors with lines, the limits (time, memory, C stack, output)
    and the sandbox (no Duktape, require, process, print). Timeouts use
    300 ms budgets so the whole file stays within a few seconds.
*/
#include "tests/step_fixture.h"

#include "actors/jsvm.h"

#include <time.h>

// =========================================================================
//  Helpers
// =========================================================================

static int64_t
s_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

//  Runs `src` as a code step; extra is a JSON object of more config
//  fields (or NULL). The caller clears the result.
static zf_step_result_t
s_code(s_env_t *env, const char *src, const char *extra)
{
    json_t *config = extra ? s_json(extra) : json_object();
    json_object_set_new(config, "code", json_string(src));
    return s_run(env, "code", config);
}

//  Runs src in a fresh env and checks the output equals want (JSON text).
static void
s_expect(const char *src, const char *want)
{
    s_env_t env;
    s_env_init(&env, NULL);
    zf_step_result_t r = s_code(&env, src, NULL);
    json_t *w = s_json(want);
    if (r.status != ZF_STEP_OK || !json_equal(r.output, w)) {
        char *got = r.output ? json_dumps(r.output, JSON_ENCODE_ANY) : NULL;
        fail_msg("%s: status %d error '%s' output %s, want %s", src, r.status, r.error,
                 got ? got : "-", want);
    }
    json_decref(w);
    zf_step_result_clear(&r);
    s_env_free(&env);
}

//  Runs src (extra config as in s_code) and checks it fails FINAL with an
//  error containing want; returns the elapsed milliseconds.
static int64_t
s_expect_fail(const char *src, const char *extra, const char *want)
{
    s_env_t env;
    s_env_init(&env, NULL);
    int64_t t0 = s_mono_ms();
    zf_step_result_t r = s_code(&env, src, extra);
    int64_t ms = s_mono_ms() - t0;
    if (r.status != ZF_STEP_FAIL_FINAL || !strstr(r.error, want) || r.output)
        fail_msg("%.80s: status %d error '%s', want FAIL_FINAL with '%s'", src, r.status, r.error,
                 want);
    zf_step_result_clear(&r);
    s_env_free(&env);
    return ms;
}

// =========================================================================
//  Results and scopes
// =========================================================================

static void
test_returns_each_json_type(void **state)
{
    (void)state;
    s_expect("return 42", "42");
    s_expect("return -1.5", "-1.5");
    s_expect("return 'text'", "\"text\"");
    s_expect("return true", "true");
    s_expect("return false", "false");
    s_expect("return null", "null");
    s_expect("return undefined", "null");
    s_expect("var x = 1;", "null");  // no return
    s_expect("return [1, 'a', [], {}]", "[1, \"a\", [], {}]");
    s_expect("return {a: {b: [1, 2]}, c: null, d: undefined}",
             "{\"a\": {\"b\": [1, 2]}, \"c\": null}");
    s_expect("return 1e21", "1e21");
    s_expect("return Math.pow(2, 64)", "18446744073709551616.0");  // beyond int64: a real
    s_expect("return NaN", "null");                                // as JSON.stringify does
    s_expect("return new Date(0)", "\"1970-01-01T00:00:00.000Z\"");
    s_expect("'use strict'; return this === undefined", "true");  // directive of the body
    s_expect("function f(n) { return n < 2 ? n : f(n - 1) + f(n - 2); } return f(15)", "610");
}

static void
test_sees_input_inputs_vars_steps_trigger(void **state)
{
    (void)state;
    s_env_t env;
    s_env_init(&env, NULL);
    json_t *trigger = s_json("{\"type\": \"manual\", \"data\": {\"who\": \"ann\"}}");
    env.ctx.trigger = trigger;
    zf_step_result_t r = s_code(&env,
                                "vars.x = 99; input.order.total += 1;\n"
                                "return {id: input.order.id, total: input.order.total,\n"
                                "        email: inputs.user.email, n1: steps.n1.status,\n"
                                "        who: trigger.data.who, x: vars.x};",
                                NULL);
    assert_int_equal(r.status, ZF_STEP_OK);
    json_t *want = s_json("{\"id\": \"o-1\", \"total\": 121, \"email\": \"a@b.c\", \"n1\": 200,"
                          " \"who\": \"ann\", \"x\": 99}");
    assert_true(json_equal(r.output, want));
    //  The script changed copies: the run's scopes are untouched.
    assert_int_equal(json_integer_value(json_object_get(env.vars, "x")), 1);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(env.input, "order"), "total")), 120);
    json_decref(want);
    json_decref(trigger);
    zf_step_result_clear(&r);
    s_env_free(&env);
    s_expect("return [typeof input, typeof trigger]", "[\"object\", \"object\"]");
}

static void
test_unicode_round_trips(void **state)
{
    (void)state;
    s_env_t env;
    s_env_init(&env, NULL);
    json_decref(env.input);
    env.input = s_json("{\"s\": \"h\\u00e9llo \\ud83d\\ude00 \\u4e16\"}");
    env.ctx.input = env.input;
    //  JavaScript semantics: the emoji is a surrogate pair (length 2).
    zf_step_result_t r =
        s_code(&env,
               "return {s: input.s, len: input.s.length,\n"
               "  hi: input.s.charCodeAt(6), lo: input.s.charCodeAt(7),\n"
               "  up: input.s.toUpperCase(), lit: '\xc3\xa9\xf0\x9f\x98\x80'.length};",
               NULL);
    assert_int_equal(r.status, ZF_STEP_OK);
    json_t *want = s_json("{\"s\": \"h\\u00e9llo \\ud83d\\ude00 \\u4e16\", \"len\": 10,"
                          " \"hi\": 55357, \"lo\": 56832,"
                          " \"up\": \"H\\u00c9LLO \\ud83d\\ude00 \\u4e16\", \"lit\": 3}");
    if (!json_equal(r.output, want)) fail_msg("unicode: %s", json_dumps(r.output, 0));
    json_decref(want);
    zf_step_result_clear(&r);
    s_env_free(&env);
    //  Pairs built in the script join; a lone surrogate becomes U+FFFD.
    s_expect("return String.fromCharCode(0xD83D, 0xDE00)", "\"\\ud83d\\ude00\"");
    s_expect("return 'a' + String.fromCharCode(0xD800) + 'b'", "\"a\\ufffdb\"");
    s_expect("return '\\u0000x'.length", "2");
}

// =========================================================================
//  Validation and errors
// =========================================================================

static void
test_validate(void **state)
{
    (void)state;
    static const s_vcase_t cases[] = {
        {"{'code': 'return 1'}", NULL},
        {"{'code': 'return 1', 'timeout_ms': 10000, 'memory_mb': 256, 'logs': true}", NULL},
        {"{'code': 'return 1', 'timeout_ms': 1, 'memory_mb': 1}", NULL},
        {"{}", "config.code: must be a non-empty string"},
        {"{'code': ''}", "config.code: must be a non-empty string"},
        {"{'code': 5}", "config.code: must be a non-empty string"},
        {"{'code': 'return 1', 'timeout_ms': 0}", "config.timeout_ms: must be an integer from 1"},
        {"{'code': 'return 1', 'timeout_ms': 10001}", "config.timeout_ms"},
        {"{'code': 'return 1', 'timeout_ms': '5'}", "config.timeout_ms"},
        {"{'code': 'return 1', 'memory_mb': 0}",
         "config.memory_mb: must be an integer from 1 to 256"},
        {"{'code': 'return 1', 'memory_mb': 257}", "config.memory_mb"},
        {"{'code': 'return 1', 'logs': 'yes'}", "config.logs: must be a boolean"},
        {"{'code': 'var a = 1;\\nreturn a +;'}", "config.code: SyntaxError"},
        {"{'code': 'var a = 1;\\nreturn a +;'}", "(line 2"},
        {"{'code': 'return 1; }'}", "config.code: SyntaxError"},          // a stray brace
        {"{'code': 'let x = 1; return x'}", "config.code: SyntaxError"},  // ES5.1: no let
        {"{'code': 'return (x) => x'}", "config.code: SyntaxError"},      // nor arrows
    };
    CHECK_VALIDATE("code", cases);
    //  64 KiB of source is accepted, one byte more is not.
    char *big = malloc(65537 + 1);
    memset(big, ' ', 65537);
    memcpy(big, "return 1", 8);
    big[65536] = '\0';
    json_t *c = json_pack("{s:s}", "code", big);
    char err[256] = "";
    assert_int_equal(zf_step_find("code")->validate(c, err, sizeof err), 0);
    json_decref(c);
    big[65536] = ' ';
    big[65537] = '\0';
    c = json_pack("{s:s}", "code", big);
    assert_int_not_equal(zf_step_find("code")->validate(c, err, sizeof err), 0);
    assert_non_null(strstr(err, "at most 65536 bytes"));
    json_decref(c);
    free(big);
}

static void
test_syntax_and_runtime_errors(void **state)
{
    (void)state;
    s_expect_fail("var a = 1;\nreturn a +;", NULL, "code: SyntaxError");
    s_expect_fail("var a = 1;\nreturn a +;", NULL, "(line 2");
    s_expect_fail("throw new Error('boom')", NULL, "code: Error: boom (line 1)");
    s_expect_fail("\n\nthrow new RangeError('too far')", NULL,
                  "code: RangeError: too far (line 3)");
    s_expect_fail("throw 'plain text'", NULL, "code: plain text");
    s_expect_fail("throw {reason: 'x'}", NULL, "code: {\"reason\":\"x\"}");
    s_expect_fail("var o = null;\nreturn o.field;", NULL, "code: TypeError");
    s_expect_fail("var o = null;\nreturn o.field;", NULL, "(line 2)");
    s_expect_fail("return missing + 1", NULL, "code: ReferenceError");
    //  A body that closes the function early does not compile.
    s_expect_fail("return 1; } function x() {", NULL, "code: SyntaxError");
}

// =========================================================================
//  Limits
// =========================================================================

static void
test_infinite_loop_times_out(void **state)
{
    (void)state;
    const char *cfg = "{\"timeout_ms\": 300}";
    int64_t ms = s_expect_fail("while (true) {}", cfg, "code: execution timed out after 300 ms");
    assert_in_range(ms, 290, 1500);
    //  try/catch cannot swallow the timeout.
    ms = s_expect_fail("for (;;) { try { while (true) {} } catch (e) {} }", cfg,
                       "code: execution timed out after 300 ms");
    assert_in_range(ms, 290, 1500);
    //  Neither can a loop of slow built-in calls between two checks.
    ms = s_expect_fail("var s = 'x'; for (var i = 0; i < 20; i++) s += s;\n"
                       "for (;;) { try { s.replace(/x/g, 'y'); } catch (e) {} }",
                       cfg, "code: execution timed out after 300 ms");
    assert_in_range(ms, 290, 1500);
    //  The node's own timeout wins when it is shorter.
    s_env_t env;
    s_env_init(&env, NULL);
    env.ctx.timeout_ms = 100;
    zf_step_result_t r = s_code(&env, "for (;;) {}", NULL);
    assert_int_equal(r.status, ZF_STEP_FAIL_FINAL);
    assert_string_equal(r.error, "code: execution timed out after 100 ms");
    zf_step_result_clear(&r);
    s_env_free(&env);
}

//  A catastrophic regexp backtracks inside one built-in call, where the
//  bytecode check never runs: the regexp executor's own deadline check
//  (patched in by actors/duktape.cmake) stops it. Before it, patterns
//  without capture groups ran for duktape's 10^9 steps (about 10 s);
//  those with groups allocate while backtracking, so the allocator's
//  check stopped them.
static void
test_catastrophic_regexp_times_out(void **state)
{
    (void)state;
    static const char *const srcs[] = {
        "return /(?:a+)+b/.test(new Array(40).join('a'))",
        "return /(a+)+b/.test(new Array(40).join('a'))",
        "return /(x+x+)+y/.test(new Array(40).join('x'))",
        "return new Array(40).join('a').replace(/(?:a|a)*b/, 'x')",
        "return new Array(40).join('a').replace(/(?:a|a)*b/g, function (m) { return m; })",
        "return new RegExp('(?:a|aa)+$').exec(new Array(80).join('a') + 'b')",
        "return new Array(40).join('a').split(/(?:a+)+b/)",
    };
    const char *cfg = "{\"timeout_ms\": 300}";
    for (size_t i = 0; i < sizeof srcs / sizeof srcs[0]; i++) {
        int64_t ms = s_expect_fail(srcs[i], cfg, "code: execution timed out after 300 ms");
        if (ms < 290 || ms > 1500) fail_msg("%s: %lld ms", srcs[i], (long long)ms);
    }
    //  The default budget (1 s) holds too.
    int64_t ms = s_expect_fail("return /(?:a+)+b/.test(new Array(40).join('a'))", NULL,
                               "code: execution timed out after 1000 ms");
    assert_in_range(ms, 990, 3000);
    //  The same through zf_jsvm_run: the TIMEOUT status, not a RangeError.
    zf_jsvm_limits_t lim = {.timeout_ms = 200, .memory_bytes = 8u << 20, .output_bytes = 1024};
    zf_jsvm_result_t res;
    const char *src = "return /(?:a|b|ab)*c/.exec(new Array(30).join('ab'))";
    assert_int_equal(zf_jsvm_run(src, strlen(src), NULL, &lim, &res), ZF_JSVM_TIMEOUT);
    assert_string_equal(res.error, "execution timed out after 200 ms");
    assert_in_range(res.elapsed_ms, 195, 1500);
    zf_jsvm_result_clear(&res);
}

//  Catching the regexp's timeout error buys nothing: the catch block,
//  a loop after it, a return from it all end with the timeout.
static void
test_catastrophic_regexp_cannot_be_caught(void **state)
{
    (void)state;
    static const char *const srcs[] = {
        "var s = new Array(40).join('a');\n"
        "try { /(?:a+)+b/.test(s) } catch (e) {} while (true) {}",
        "var s = new Array(40).join('a');\n"
        "try { /(a+)+b/.test(s) } catch (e) {} while (true) {}",
        "var s = new Array(40).join('a');\n"
        "try { /(?:a+)+b/.test(s) } catch (e) { return String(e) }",
        "var s = new Array(40).join('a');\n"
        "try { /(?:a+)+b/.test(s) } catch (e) {} return 5",
        "var s = new Array(40).join('a'), n = 0;\n"
        "for (;;) { try { n += /(?:a+)+b/.test(s) ? 1 : 0 } catch (e) { n++ } }",
    };
    const char *cfg = "{\"timeout_ms\": 300}";
    for (size_t i = 0; i < sizeof srcs / sizeof srcs[0]; i++) {
        int64_t ms = s_expect_fail(srcs[i], cfg, "code: execution timed out after 300 ms");
        if (ms < 290 || ms > 1500) fail_msg("%s: %lld ms", srcs[i], (long long)ms);
    }
}

//  Ordinary regexps are unaffected, including one that backtracks through
//  many more than 2^16 steps (several checks) well within the budget.
static void
test_regexps_still_work(void **state)
{
    (void)state;
    s_expect("return /(\\d+)-(\\d+)/.exec('ab 12-34 x')", "[\"12-34\", \"12\", \"34\"]");
    s_expect("return 'a1b22c333'.replace(/\\d+/g, function (m) { return '<' + m.length + '>' })",
             "\"a<1>b<2>c<3>\"");
    s_expect("return 'x, y ,z'.split(/\\s*,\\s*/)", "[\"x\", \"y\", \"z\"]");
    s_expect("return new RegExp('^[a-z]+@[a-z]+\\\\.[a-z]{2,}$', 'i').test('Ann@Example.ORG')",
             "true");
    s_expect("return /(?:a+)+b/.test(new Array(18).join('a'))", "false");
    s_expect("var s = new Array(500).join('ab') + 'c', n = 0;\n"
             "for (var i = 0; i < 200; i++) n += /(?:a|b)+c/.test(s) ? 1 : 0;\n"
             "return n",
             "200");
}

static void
test_memory_bombs_hit_the_cap(void **state)
{
    (void)state;
    const char *cfg = "{\"memory_mb\": 8, \"timeout_ms\": 10000}";  // slow under ASan
    s_expect_fail("var s = 'x'; for (;;) s += s;", cfg, "code: memory limit of 8 MiB exceeded");
    s_expect_fail("var a = []; for (;;) a.push({n: a.length});", cfg,
                  "code: memory limit of 8 MiB exceeded");
    s_expect_fail("var a = []; for (;;) a.push(new Array(1000).join('x') + a.length);", cfg,
                  "code: memory limit of 8 MiB exceeded");
    s_expect_fail("return new ArrayBuffer(64 * 1024 * 1024).byteLength", cfg,
                  "code: memory limit of 8 MiB exceeded");
    //  Within the cap, big is fine.
    s_expect("var s = 'x'; while (s.length < 1048576) s += s; return s.length", "1048576");
    //  The cap holds: what the heap held never exceeded it.
    zf_jsvm_limits_t lim = {.timeout_ms = 2000, .memory_bytes = 4u << 20, .output_bytes = 1024};
    zf_jsvm_result_t res;
    const char *src = "var a = []; for (;;) a.push('k' + a.length);";
    assert_int_equal(zf_jsvm_run(src, strlen(src), NULL, &lim, &res), ZF_JSVM_MEMORY);
    assert_true(res.peak_bytes <= lim.memory_bytes);
    assert_true(res.peak_bytes > lim.memory_bytes / 2);
    zf_jsvm_result_clear(&res);
    //  So are inputs too big for the heap.
    char *big = malloc(2u << 20);
    memset(big, 'x', (2u << 20) - 1);
    big[(2u << 20) - 1] = '\0';
    json_t *g = json_pack("{s:s}", "big", big);
    free(big);
    assert_int_equal(zf_jsvm_run("return big.length", 17, g, &lim, &res), ZF_JSVM_MEMORY);
    assert_string_equal(res.error, "memory limit of 4 MiB exceeded");  // the decoded copy
    zf_jsvm_result_clear(&res);
    lim.memory_bytes = 2u << 20;
    assert_int_equal(zf_jsvm_run("return big.length", 17, g, &lim, &res), ZF_JSVM_MEMORY);
    assert_string_equal(res.error, "memory limit of 2 MiB exceeded");  // the JSON text
    zf_jsvm_result_clear(&res);
    lim.memory_bytes = 8u << 20;
    assert_int_equal(zf_jsvm_run("return big.length", 17, g, &lim, &res), ZF_JSVM_OK);
    assert_int_equal(json_integer_value(res.value), (2 << 20) - 1);
    zf_jsvm_result_clear(&res);
    json_decref(g);
    //  A cap too small for duktape's own start-up is a memory error too.
    lim.memory_bytes = 16 << 10;
    assert_int_equal(zf_jsvm_run("return 1", 8, NULL, &lim, &res), ZF_JSVM_MEMORY);
    zf_jsvm_result_clear(&res);
}

static void
test_deep_recursion_fails_cleanly(void **state)
{
    (void)state;
    //  Script recursion: the call stack limit.
    s_expect_fail("function f(n) { return 1 + f(n + 1); } return f(0);", NULL, "code: RangeError");
    //  Recursion through native calls: the C stack limit.
    s_expect_fail("function f() { return [1].map(f); } return f();", NULL, "code: RangeError");
    s_expect_fail("var o = {}; o.toString = function () { return String(o); }; return String(o);",
                  NULL, "code: RangeError");
    s_expect_fail("function f() { return JSON.stringify({toJSON: f}); } return f();", NULL,
                  "code: RangeError");
    //  Deep nesting in the compiler, in regexps, in JSON.
    s_expect_fail("return eval(new Array(5000).join('(') + '1' + new Array(5000).join(')'))", NULL,
                  "code: RangeError");
    s_expect_fail("return new RegExp(new Array(5000).join('(') + new Array(5000).join(')'))", NULL,
                  "code: RangeError");
    s_expect_fail("return /(?:a|b)*c/.test(new Array(20000).join('a'))", NULL, "code: RangeError");
    s_expect_fail("return JSON.parse(new Array(5000).join('[') + new Array(5000).join(']'))", NULL,
                  "code: RangeError");
    s_expect_fail("var a = []; for (var i = 0; i < 5000; i++) a = [a]; return a;", NULL,
                  "code: the result is not JSON-serialisable");
}

static void
test_output_cap_and_serialisation(void **state)
{
    (void)state;
    s_expect_fail("return new Array(300 * 1024).join('x')", NULL, "more than the limit of 256 KiB");
    s_expect("return new Array(200 * 1024 + 1).join('x').length", "204800");
    s_env_t env;
    s_env_init(&env, NULL);
    zf_step_result_t r = s_code(&env, "return new Array(250 * 1024).join('x')", NULL);
    assert_int_equal(r.status, ZF_STEP_OK);
    assert_int_equal(json_string_length(r.output), 250 * 1024 - 1);
    zf_step_result_clear(&r);
    s_env_free(&env);
    s_expect_fail("return function () {}", NULL,
                  "code: the result is not JSON-serialisable: a function");
    s_expect_fail("return {a: {f: Math.max}}", NULL, "a function at key \"f\"");
    s_expect_fail("return [1, function () {}]", NULL, "a function at key \"1\"");
    s_expect_fail("var o = {}; o.self = o; return o", NULL,
                  "code: the result is not JSON-serialisable");
    s_expect_fail("return {s: Symbol('x')}", NULL, "a symbol at key \"s\"");
}

// =========================================================================
//  Sandbox
// =========================================================================

static void
test_no_way_out(void **state)
{
    (void)state;
    s_expect("return [typeof require, typeof process, typeof Duktape, typeof print,\n"
             "        typeof alert, typeof module, typeof exports, typeof load]",
             "[\"undefined\", \"undefined\", \"undefined\", \"undefined\", \"undefined\","
             " \"undefined\", \"undefined\", \"undefined\"]");
    s_expect(
        "return [typeof this.Duktape, typeof globalThis.Duktape,\n"
        "  typeof Function('return this')().Duktape,\n"
        "  typeof (0, eval)('this').Duktape, eval('typeof Duktape'),\n"
        "  [].constructor.constructor('return typeof Duktape')(),\n"
        "  typeof Object.getPrototypeOf(function () {}).constructor('return this')().Duktape,\n"
        "  typeof Object.getPrototypeOf(this).Duktape,\n"
        "  Object.getOwnPropertyNames(this).indexOf('Duktape'),\n"
        "  typeof Reflect.get(this, 'Duktape'), 'Duktape' in this]",
        "[\"undefined\", \"undefined\", \"undefined\", \"undefined\", \"undefined\","
        " \"undefined\", \"undefined\", \"undefined\", -1, \"undefined\", false]");
    //  Using them is a ReferenceError, not a capability.
    s_expect_fail("return require('fs')", NULL, "code: ReferenceError");
    s_expect_fail("return process.env", NULL, "code: ReferenceError");
    s_expect_fail("return Duktape.version", NULL, "code: ReferenceError");
    s_expect_fail("Duktape.gc(); return 1", NULL, "code: ReferenceError");
    s_expect_fail("return Function('return this')().Duktape.act(-1)", NULL, "code: TypeError");
}

static void
test_each_run_gets_a_fresh_heap(void **state)
{
    (void)state;
    s_expect("globalThis.leak = 1; Object.prototype.polluted = 1; Array.prototype.push = null;"
             " return 1",
             "1");
    s_expect("var a = []; a.push(1);"
             " return [typeof leak, typeof ({}).polluted, a.length]",
             "[\"undefined\", \"undefined\", 1]");
}

static void
test_console_logs(void **state)
{
    (void)state;
    //  Without "logs", console.* is there and the output is the result alone.
    s_expect("console.log('hi', 1); console.error({a: 1}); return 5", "5");
    s_env_t env;
    s_env_init(&env, NULL);
    zf_step_result_t r = s_code(&env,
                                "console.log('total', input.order.total, [1, 2]);\n"
                                "console.warn('\\u00e9\\ud83d\\ude00');\n"
                                "console.info(new Array(3000).join('z'));\n"
                                "for (var i = 0; i < 200; i++) console.debug(i);\n"
                                "return 'ok';",
                                "{\"logs\": true}");
    assert_int_equal(r.status, ZF_STEP_OK);
    assert_string_equal(s_str(r.output, "result"), "ok");
    json_t *logs = json_object_get(r.output, "logs");
    assert_int_equal(json_array_size(logs), 100);
    assert_string_equal(json_string_value(json_array_get(logs, 0)), "total 120 1,2");
    assert_string_equal(json_string_value(json_array_get(logs, 1)), "\xc3\xa9\xf0\x9f\x98\x80");
    assert_int_equal(json_string_length(json_array_get(logs, 2)), 1000);  // cut
    assert_string_equal(json_string_value(json_array_get(logs, 3)), "0");
    zf_step_result_clear(&r);
    s_env_free(&env);
}

static void
test_kind_and_jsvm_api(void **state)
{
    (void)state;
    const zf_step_kind_t *k = zf_step_find("code");
    assert_non_null(k);
    assert_int_equal(k->cpu_only, 0);  // may run a second: never on a shared host
    char err[256];
    int line = 0;
    assert_int_equal(zf_jsvm_check("return 1", 8, err, sizeof err, &line), 0);
    const char *bad = "var a;\n\nvar = 3;";
    assert_int_equal(zf_jsvm_check(bad, strlen(bad), err, sizeof err, &line), -1);
    assert_int_equal(line, 3);
    assert_non_null(strstr(err, "SyntaxError"));
    //  Globals other than the step's five, an error's line in the result.
    zf_jsvm_limits_t lim = {.timeout_ms = 1000, .memory_bytes = 8u << 20, .output_bytes = 1024};
    zf_jsvm_result_t res;
    json_t *g = s_json("{\"a\": 2, \"b\": [3]}");
    const char *src = "return a * b[0]";
    assert_int_equal(zf_jsvm_run(src, strlen(src), g, &lim, &res), ZF_JSVM_OK);
    assert_int_equal(json_integer_value(res.value), 6);
    zf_jsvm_result_clear(&res);
    src = "\nnull.x";
    assert_int_equal(zf_jsvm_run(src, strlen(src), g, &lim, &res), ZF_JSVM_ERROR);
    assert_int_equal(res.line, 2);
    assert_null(res.value);
    zf_jsvm_result_clear(&res);
    json_decref(g);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_returns_each_json_type),
        cmocka_unit_test(test_sees_input_inputs_vars_steps_trigger),
        cmocka_unit_test(test_unicode_round_trips),
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_syntax_and_runtime_errors),
        cmocka_unit_test(test_infinite_loop_times_out),
        cmocka_unit_test(test_catastrophic_regexp_times_out),
        cmocka_unit_test(test_catastrophic_regexp_cannot_be_caught),
        cmocka_unit_test(test_regexps_still_work),
        cmocka_unit_test(test_memory_bombs_hit_the_cap),
        cmocka_unit_test(test_deep_recursion_fails_cleanly),
        cmocka_unit_test(test_output_cap_and_serialisation),
        cmocka_unit_test(test_no_way_out),
        cmocka_unit_test(test_each_run_gets_a_fresh_heap),
        cmocka_unit_test(test_console_logs),
        cmocka_unit_test(test_kind_and_jsvm_api),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
