/*  actors/jsvm.c — a sandboxed JavaScript run on duktape (see jsvm.h).

    Duktape is compiled from Debian's source with our overrides
    (actors/jsvm_duk_config.h, actors/duktape.cmake, which also patches the
    regexp executor to check the deadline); this file is the only one that
    includes duktape.h. The deadline hooks it provides: zf_jsvm_interrupt
    (bytecode executor) and zf_jsvm_expired (regexp executor).

    A run: create a heap whose allocator keeps every block on a list and
    refuses to grow past the cap; strip `Duktape` and add `console`; load
    the globals from JSON; compile "(function(){" + src + "\n})" as a
    program, so that a stray `}` in the body is a syntax error rather than
    the end of the function; call the function; encode the result with the
    original JSON.stringify and a replacer that rejects functions; copy the
    text out (duktape's CESU-8 turned into UTF-8) and destroy the heap. If
    duktape hits a fatal error the handler longjmps back here and the block
    list frees whatever the heap held.
*/
#include "actors/jsvm.h"

#include "duktape.h"

#include <assert.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if !defined(DUK_USE_EXEC_TIMEOUT_CHECK) || !defined(DUK_USE_INTERRUPT_COUNTER) ||                 \
    !defined(ZF_DUK_REGEXP_CHECK)
#error "duktape.h is not the one configured by actors/duktape.cmake"
#endif

#define S_PREFIX         "(function(){"  // before the body (same line: lines stay right)
#define S_SUFFIX         "\n})"          // after it (newline: a trailing // comment)
#define S_FILENAME       "code"          // fileName of compiled code
#define S_CHECK_NS       1000000LL       // aim: one deadline check per ms of execution
#define S_INTERVAL_MAX   4096L           // most instructions between two checks
#define S_CHECK_MEMORY   (16u << 20)     // heap cap while only compiling (zf_jsvm_check)
#define S_ERROR_TEXT_MAX 200             // bytes of a message kept

// =========================================================================
//  Run state and allocator
// =========================================================================

//  Header of every block duktape allocates: the list lets a fatal error
//  free the heap without duktape; size feeds the cap.
typedef struct s_block {
    struct s_block *prev;  // previous block (the list is circular with a sentinel)
    struct s_block *next;  // next block
    size_t size;           // payload bytes
    size_t pad;            // keeps the payload 16-byte aligned
} s_block_t;

typedef struct {
    s_block_t blocks;             // sentinel of the block list
    size_t used;                  // bytes held: payloads + headers
    size_t peak;                  // most bytes held at once
    size_t cap;                   // the memory cap
    int refused;                  // allocations refused by the cap
    int64_t deadline_ns;          // monotonic deadline
    int64_t last_check_ns;        // time of the previous deadline check
    long interval;                // instructions between the previous two checks
    int timed_out;                // the deadline has passed (sticky)
    duk_context *ctx;             // the heap (NULL outside s_guarded)
    jmp_buf fatal;                // where the fatal handler jumps
    char fatal_msg[128];          // duktape's fatal message
    const zf_jsvm_limits_t *lim;  // limits of this run
    const json_t *globals;        // globals to define (borrowed)
    char *pending;                // JSON text being pushed (freed here if duktape throws)
    json_t *logs;                 // console lines (owned until handed to the result)
    int logs_dropped;             // console lines over the limit
    char reject[128];             // why the replacer refused the result
} s_vm_t;

_Static_assert(sizeof(s_block_t) % 16 == 0, "block header keeps 16-byte alignment");

static int64_t
s_clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int64_t
s_now_ns(void)
{
    return s_clock_ns(CLOCK_MONOTONIC);
}

//  1 once the deadline has passed (sticky). The allocator asks with the
//  coarse clock (a few ns, a few ms late at worst).
static int
s_expired(s_vm_t *vm, int64_t now)
{
    if (!vm->timed_out && now >= vm->deadline_ns) vm->timed_out = 1;
    return vm->timed_out;
}

static void
s_link(s_vm_t *vm, s_block_t *b)
{
    b->prev = &vm->blocks;
    b->next = vm->blocks.next;
    b->next->prev = b;
    vm->blocks.next = b;
}

static void
s_unlink(s_block_t *b)
{
    b->prev->next = b->next;
    b->next->prev = b->prev;
}

//  1 if `more` bytes fit under the cap and the deadline has not passed;
//  counts a refusal by the cap. Refusing every allocation after the
//  deadline stops long built-in calls (a big replace, join or sort)
//  between two deadline checks of the executor: duktape throws as on any
//  failed allocation, and the sticky check ends the script.
static int
s_fits(s_vm_t *vm, size_t more)
{
    if (s_expired(vm, s_clock_ns(CLOCK_MONOTONIC_COARSE))) return 0;
    if (more <= vm->cap - vm->used) return 1;
    vm->refused++;
    return 0;
}

static void
s_account(s_vm_t *vm, size_t add, size_t sub)
{
    vm->used = vm->used + add - sub;
    if (vm->used > vm->peak) vm->peak = vm->used;
}

static void *
s_alloc(void *udata, duk_size_t size)
{
    s_vm_t *vm = udata;
    if (size == 0 || size > SIZE_MAX / 2 || !s_fits(vm, sizeof(s_block_t) + size)) return NULL;
    s_block_t *b = malloc(sizeof(s_block_t) + size);
    if (!b) return NULL;
    b->size = size;
    s_link(vm, b);
    s_account(vm, sizeof(s_block_t) + size, 0);
    return b + 1;
}

static void
s_free(void *udata, void *ptr)
{
    s_vm_t *vm = udata;
    if (!ptr) return;
    s_block_t *b = (s_block_t *)ptr - 1;
    s_unlink(b);
    s_account(vm, 0, sizeof(s_block_t) + b->size);
    free(b);
}

//  The block is unlinked while realloc may move it, and linked back
//  (moved or not, grown or not) before returning.
static void *
s_realloc(void *udata, void *ptr, duk_size_t size)
{
    s_vm_t *vm = udata;
    if (!ptr) return s_alloc(udata, size);
    if (size == 0) {
        s_free(udata, ptr);
        return NULL;
    }
    s_block_t *b = (s_block_t *)ptr - 1;
    size_t old = b->size;
    if (size > SIZE_MAX / 2 || (size > old && !s_fits(vm, size - old))) return NULL;
    s_unlink(b);
    s_block_t *nb = realloc(b, sizeof(s_block_t) + size);
    if (!nb) {
        s_link(vm, b);
        return NULL;
    }
    nb->size = size;
    s_link(vm, nb);
    s_account(vm, size, old);
    return nb + 1;
}

//  Frees every block still on the list (after a fatal error, or leftovers
//  after duk_destroy_heap, which should be none).
static void
s_free_all(s_vm_t *vm)
{
    while (vm->blocks.next != &vm->blocks)
        s_free(vm, vm->blocks.next + 1);
}

//  Duktape's fatal handler must not return: jump back to zf_jsvm_run, which
//  discards the heap through the block list.
static void
s_fatal(void *udata, const char *msg)
{
    s_vm_t *vm = udata;
    snprintf(vm->fatal_msg, sizeof vm->fatal_msg, "%s", msg ? msg : "fatal error");
    longjmp(vm->fatal, 1);
}

//  The deadline check of jsvm_duk_config.h: 0 once the deadline has
//  passed, else how many instructions to run before the next check. The
//  count aims at one check per S_CHECK_NS of execution: it starts at 1,
//  at most doubles per check and never exceeds S_INTERVAL_MAX, and drops
//  at once (down to 1) when instructions turn slow (a loop over slow
//  built-ins), so that the deadline is missed by at most S_INTERVAL_MAX
//  slow instructions that do not allocate (allocations fail after it).
long
zf_jsvm_interrupt(void *udata)
{
    s_vm_t *vm = udata;
    int64_t now = s_now_ns(), spent = now - vm->last_check_ns;
    if (s_expired(vm, now)) return 0;
    long next = 1;
    if (vm->interval > 0) {
        int64_t n = spent > 0 ? (int64_t)vm->interval * S_CHECK_NS / spent : S_INTERVAL_MAX;
        n = n > 2 * (int64_t)vm->interval ? 2 * (int64_t)vm->interval : n;
        next = n < 1 ? 1 : n > S_INTERVAL_MAX ? S_INTERVAL_MAX : (long)n;
    }
    vm->last_check_ns = now;
    vm->interval = next;
    return next;
}

//  The regexp executor's deadline check (ZF_DUK_REGEXP_CHECK in
//  jsvm_duk_config.h, every 2^16 matcher steps): 1 once the deadline has
//  passed. Only the clock and the sticky flag: the instruction interval
//  above is the bytecode executor's and stays as it is.
int
zf_jsvm_expired(void *udata)
{
    return s_expired(udata, s_now_ns());
}

// =========================================================================
//  Strings: duktape's CESU-8 to UTF-8
// =========================================================================

//  Length of the continuation run after a lead byte (0 if malformed).
static size_t
s_cont(const unsigned char *p, size_t avail, size_t want)
{
    if (avail < want + 1) return 0;
    for (size_t i = 1; i <= want; i++)
        if ((p[i] & 0xC0) != 0x80) return 0;
    return want;
}

//  Decodes one sequence at p: the code point, or -1 if malformed; *n is
//  the bytes consumed (at least 1).
static long
s_decode(const unsigned char *p, size_t avail, size_t *n)
{
    *n = 1;
    if (p[0] < 0x80) return p[0];
    size_t k = p[0] >= 0xF0 && p[0] <= 0xF4  ? 3
               : p[0] >= 0xE0 && p[0] < 0xF0 ? 2
               : p[0] >= 0xC2 && p[0] < 0xE0 ? 1
                                             : 0;
    if (k == 0 || s_cont(p, avail, k) != k) return -1;
    long cp = p[0] & (0x3F >> k);
    for (size_t i = 1; i <= k; i++)
        cp = (cp << 6) | (p[i] & 0x3F);
    *n = k + 1;
    if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10FFFF))) return -1;
    return cp;
}

//  Writes cp (at most 0x10FFFF) as UTF-8 into out; returns the bytes.
static size_t
s_put_utf8(unsigned char *out, long cp)
{
    static const unsigned char lead[] = {0x00, 0xC0, 0xE0, 0xF0};
    size_t n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    for (size_t i = n - 1; i > 0; i--) {
        out[i] = (unsigned char)(0x80 | (cp & 0x3F));
        cp >>= 6;
    }
    out[0] = (unsigned char)(lead[n - 1] | cp);
    return n;
}

//  Duktape strings hold non-BMP characters as CESU-8 surrogate pairs (and
//  may hold lone surrogates); jansson wants strict UTF-8. Pairs are joined,
//  anything else malformed becomes U+FFFD. Stops before exceeding max
//  bytes. Returns a malloc'd NUL-terminated string and its length in *olen.
static char *
s_to_utf8(const char *s, size_t len, size_t max, size_t *olen)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    size_t cap = (max < 3 * len ? max : 3 * len), o = 0, n, n2;
    unsigned char *out = malloc(cap + 1), buf[4];
    if (!out) abort();
    while (p < end) {
        long cp = s_decode(p, (size_t)(end - p), &n);
        if (cp >= 0xD800 && cp <= 0xDBFF && p + n < end) {
            long lo = s_decode(p + n, (size_t)(end - p - n), &n2);
            if (lo >= 0xDC00 && lo <= 0xDFFF) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                n += n2;
            }
        }
        if (cp < 0 || (cp >= 0xD800 && cp <= 0xDFFF)) cp = 0xFFFD;
        size_t w = s_put_utf8(buf, cp);
        if (o + w > cap) break;
        memcpy(out + o, buf, w);
        o += w;
        p += n;
    }
    out[o] = '\0';
    *olen = o;
    return (char *)out;
}

//  A duktape string at idx as a jansson string, cut at max bytes.
static json_t *
s_json_string(duk_context *ctx, duk_idx_t idx, size_t max)
{
    duk_size_t len;
    const char *s = duk_get_lstring(ctx, idx, &len);
    size_t n;
    char *u = s_to_utf8(s ? s : "", s ? len : 0, max, &n);
    json_t *j = json_stringn(u, n);
    free(u);
    return j;
}

// =========================================================================
//  Sandbox: globals, console, result encoding
// =========================================================================

//  console.log/info/warn/error/debug(...): the arguments as one line,
//  strings as is, other values as String(value). Kept in vm->logs up to
//  the limits; never throws for the caller's values.
static duk_ret_t
s_console_log(duk_context *ctx)
{
    duk_memory_functions mf;
    duk_get_memory_functions(ctx, &mf);
    s_vm_t *vm = mf.udata;
    duk_idx_t n = duk_get_top(ctx);
    if (vm->lim->log_lines == 0) return 0;
    if (json_array_size(vm->logs) >= vm->lim->log_lines) {
        vm->logs_dropped++;
        return 0;
    }
    for (duk_idx_t i = 0; i < n; i++)
        duk_safe_to_string(ctx, i);
    duk_push_string(ctx, " ");
    duk_insert(ctx, 0);
    duk_join(ctx, n);
    json_array_append_new(vm->logs, s_json_string(ctx, -1, vm->lim->log_line_bytes));
    return 0;
}

//  Safe-call body: [object key] -> deletes key (throws if not configurable).
static duk_ret_t
s_delete_key(duk_context *ctx, void *udata)
{
    (void)udata;
    duk_del_prop(ctx, -2);
    return 0;
}

//  Deletes the own properties of the Duktape object (act, gc, fin, Thread,
//  Pointer, enc, ...; "version" and "env" are not configurable and stay)
//  and then the global binding itself, so that neither `Duktape`,
//  `this.Duktape` nor `Function('return this')().Duktape` reach it. Only
//  duktape's internal table of built-ins still refers to the object.
static void
s_strip_duktape(duk_context *ctx)
{
    duk_push_global_object(ctx);
    duk_get_prop_string(ctx, -1, "Duktape");
    if (duk_is_object(ctx, -1)) {
        duk_enum(ctx, -1,
                 DUK_ENUM_OWN_PROPERTIES_ONLY | DUK_ENUM_INCLUDE_NONENUMERABLE |
                     DUK_ENUM_INCLUDE_SYMBOLS);
        while (duk_next(ctx, -1, 0)) {  // [global Duktape enum key]
            duk_dup(ctx, -3);
            duk_insert(ctx, -2);
            duk_safe_call(ctx, s_delete_key, NULL, 2, 1);
            duk_pop(ctx);
        }
        duk_pop(ctx);
    }
    duk_pop(ctx);
    duk_del_prop_string(ctx, -1, "Duktape");
    duk_pop(ctx);
}

static void
s_define_console(duk_context *ctx)
{
    static const char *const names[] = {"log", "info", "warn", "error", "debug"};
    duk_push_object(ctx);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        duk_push_c_function(ctx, s_console_log, DUK_VARARGS);
        duk_put_prop_string(ctx, -2, names[i]);
    }
    duk_put_global_string(ctx, "console");
}

//  Defines each member of vm->globals as a global, through JSON text that
//  is pure ASCII (non-BMP characters as \u escape pairs, which duktape
//  decodes to proper surrogate pairs). The text stays in vm->pending while
//  duktape may throw (a failed allocation), for s_execute to free.
static void
s_define_globals(duk_context *ctx, s_vm_t *vm)
{
    const char *name;
    const json_t *v;
    json_object_foreach ((json_t *)vm->globals, name, v) {
        vm->pending = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_ENSURE_ASCII);
        if (!vm->pending) abort();
        duk_push_string(ctx, vm->pending);
        free(vm->pending);
        vm->pending = NULL;
        duk_json_decode(ctx, -1);
        duk_put_global_string(ctx, name);
    }
}

//  Safe-call body preparing a fresh heap: keep the original JSON.stringify
//  in the heap stash (unreachable from scripts) for s_encode, strip
//  Duktape, add console and the globals.
static duk_ret_t
s_setup(duk_context *ctx, void *udata)
{
    s_vm_t *vm = udata;
    duk_push_heap_stash(ctx);
    duk_get_global_string(ctx, "JSON");
    duk_get_prop_string(ctx, -1, "stringify");
    duk_put_prop_string(ctx, -3, "stringify");
    duk_pop_2(ctx);
    s_strip_duktape(ctx);
    s_define_console(ctx);
    if (vm->globals) s_define_globals(ctx, vm);
    return 0;
}

//  JSON.stringify replacer: standard JSON would silently drop functions
//  and symbols (or turn them into null); a result that has one is refused.
static duk_ret_t
s_replacer(duk_context *ctx)
{
    if (duk_is_function(ctx, 1) || duk_is_symbol(ctx, 1)) {
        duk_memory_functions mf;
        duk_get_memory_functions(ctx, &mf);
        s_vm_t *vm = mf.udata;
        const char *key = duk_safe_to_string(ctx, 0);
        snprintf(vm->reject, sizeof vm->reject, "%s at key \"%.64s\"",
                 duk_is_function(ctx, 1) ? "a function" : "a symbol", *key ? key : "(result)");
        return duk_error(ctx, DUK_ERR_TYPE_ERROR, "%s", vm->reject);
    }
    duk_dup(ctx, 1);
    return 1;
}

//  Safe-call body: [value] -> [json text]; undefined becomes "null".
static duk_ret_t
s_encode(duk_context *ctx, void *udata)
{
    (void)udata;
    if (duk_is_undefined(ctx, -1)) {
        duk_pop(ctx);
        duk_push_string(ctx, "null");
        return 1;
    }
    duk_push_heap_stash(ctx);
    duk_get_prop_string(ctx, -1, "stringify");
    duk_remove(ctx, -2);
    duk_insert(ctx, -2);  // [stringify value]
    duk_push_c_function(ctx, s_replacer, 2);
    duk_call(ctx, 2);
    return 1;
}

// =========================================================================
//  Errors
// =========================================================================

//  Safe-call body: [error] -> [error text line]. An Error gives
//  String(error) and its lineNumber; a thrown string is its own text;
//  other values are shown as JSON when they can be.
static duk_ret_t
s_describe(duk_context *ctx, void *udata)
{
    (void)udata;
    duk_idx_t err = duk_get_top_index(ctx);
    if (duk_is_error(ctx, err)) {
        duk_dup(ctx, err);
        duk_to_string(ctx, -1);
        duk_get_prop_string(ctx, err, "lineNumber");
    } else if (duk_is_string(ctx, err) || !duk_is_object(ctx, err) || duk_is_function(ctx, err)) {
        duk_dup(ctx, err);
        duk_to_string(ctx, -1);
        duk_push_undefined(ctx);
    } else {
        duk_dup(ctx, err);
        duk_json_encode(ctx, -1);
        duk_push_undefined(ctx);
    }
    return 2;
}

//  The line of "... (line N..." in text, else 0.
static int
s_line_in(const char *text)
{
    const char *l = strstr(text, "(line ");
    return l ? atoi(l + 6) : 0;
}

//  When a limit was hit: sets the TIMEOUT or MEMORY status and message
//  and returns 1; else 0.
static int
s_limit_hit(const s_vm_t *vm, zf_jsvm_result_t *res)
{
    if (vm->timed_out) {
        res->status = ZF_JSVM_TIMEOUT;
        snprintf(res->error, sizeof res->error, "execution timed out after %lld ms",
                 (long long)vm->lim->timeout_ms);
    } else if (vm->refused) {
        res->status = ZF_JSVM_MEMORY;
        snprintf(res->error, sizeof res->error, "memory limit of %zu MiB exceeded", vm->cap >> 20);
    }
    return vm->timed_out || vm->refused;
}

//  Fills res from the error value on top of the stack: TIMEOUT or MEMORY
//  when a limit caused it (describing the error may itself run into the
//  deadline: user toString), else `status` with prefix + the error's
//  description (+ " (line N)").
static void
s_fail(duk_context *ctx, s_vm_t *vm, zf_jsvm_result_t *res, zf_jsvm_status_t status,
       const char *prefix)
{
    size_t n;
    char *text = NULL;
    if (vm->reject[0]) {
        text = strdup(vm->reject);
    } else if (!vm->timed_out && duk_safe_call(ctx, s_describe, NULL, 1, 2) == DUK_EXEC_SUCCESS) {
        duk_size_t len;
        const char *s = duk_get_lstring(ctx, -2, &len);
        text = s_to_utf8(s ? s : "", s ? len : 0, S_ERROR_TEXT_MAX, &n);
        res->line = duk_is_number(ctx, -1) ? duk_get_int(ctx, -1) : 0;
    } else {
        text = strdup("an error that cannot be shown");
    }
    if (!text) abort();
    if (!res->line) res->line = s_line_in(text);
    res->status = status;
    if (res->line > 0 && !strstr(text, "(line "))
        snprintf(res->error, sizeof res->error, "%s%s (line %d)", prefix, text, res->line);
    else
        snprintf(res->error, sizeof res->error, "%s%s", prefix, text);
    free(text);
    if (s_limit_hit(vm, res)) res->line = 0;
}

// =========================================================================
//  Runs
// =========================================================================

typedef struct {
    const char *src;  // function body
    size_t len;       // its bytes
} s_source_t;

//  Safe-call body: pushes [source filename] for duk_pcompile.
static duk_ret_t
s_push_source(duk_context *ctx, void *udata)
{
    const s_source_t *s = udata;
    duk_push_string(ctx, S_PREFIX);
    duk_push_lstring(ctx, s->src, s->len);
    duk_push_string(ctx, S_SUFFIX);
    duk_concat(ctx, 3);
    duk_push_string(ctx, S_FILENAME);
    return 2;
}

//  Compiles the wrapped source: [] -> [program] on success (1), else
//  [error] and res filled (0).
static int
s_compile(duk_context *ctx, s_vm_t *vm, const s_source_t *src, zf_jsvm_result_t *res)
{
    if (duk_safe_call(ctx, s_push_source, (void *)src, 0, 2) != DUK_EXEC_SUCCESS) {
        s_fail(ctx, vm, res, ZF_JSVM_MEMORY, "");
        return 0;
    }
    if (duk_pcompile(ctx, 0) != 0) {
        s_fail(ctx, vm, res, ZF_JSVM_SYNTAX, "");
        return 0;
    }
    return 1;
}

//  [value] -> res->value: JSON-encodes in the heap, checks the size, and
//  parses the text with jansson (integers beyond 64 bits become reals).
static void
s_take_result(duk_context *ctx, s_vm_t *vm, zf_jsvm_result_t *res)
{
    if (duk_safe_call(ctx, s_encode, NULL, 1, 1) != DUK_EXEC_SUCCESS) {
        s_fail(ctx, vm, res, ZF_JSVM_RESULT, "the result is not JSON-serialisable: ");
        return;
    }
    duk_size_t len = 0;
    size_t n = 0;
    const char *s = duk_get_lstring(ctx, -1, &len);
    char *text = NULL;
    if (s && len <= 2 * vm->lim->output_bytes) text = s_to_utf8(s, len, SIZE_MAX, &n);
    if (!text || n > vm->lim->output_bytes) {
        res->status = ZF_JSVM_RESULT;
        snprintf(res->error, sizeof res->error,
                 "the result is %zu bytes of JSON, more than the limit of %zu KiB",
                 text ? n : (size_t)len, vm->lim->output_bytes >> 10);
        free(text);
        return;
    }
    json_error_t e;
    res->value = json_loadb(text, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    if (!res->value)
        res->value =
            json_loadb(text, n, JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &e);
    free(text);
    if (!res->value) {
        res->status = ZF_JSVM_RESULT;
        snprintf(res->error, sizeof res->error, "the result is not valid JSON: %s", e.text);
    }
}

//  Everything between heap creation and destruction.
static void
s_execute(duk_context *ctx, s_vm_t *vm, const s_source_t *src, zf_jsvm_result_t *res)
{
    int rc = duk_safe_call(ctx, s_setup, vm, 0, 1);
    free(vm->pending);
    vm->pending = NULL;
    if (rc != DUK_EXEC_SUCCESS) {
        s_fail(ctx, vm, res, ZF_JSVM_ERROR, "could not load the inputs: ");
        return;
    }
    duk_pop(ctx);
    if (!s_compile(ctx, vm, src, res)) return;
    if (duk_pcall(ctx, 0) != DUK_EXEC_SUCCESS) {  // the program: yields the function
        s_fail(ctx, vm, res, ZF_JSVM_ERROR, "");
        return;
    }
    if (!duk_is_function(ctx, -1)) {  // a body that closed the function and opened another
        res->status = ZF_JSVM_SYNTAX;
        snprintf(res->error, sizeof res->error, "SyntaxError: unbalanced braces in the code");
        return;
    }
    if (duk_pcall(ctx, 0) != DUK_EXEC_SUCCESS) {
        s_fail(ctx, vm, res, ZF_JSVM_ERROR, "");
        return;
    }
    if (vm->timed_out) {  // it caught its timeout and returned anyway: still a timeout
        s_limit_hit(vm, res);
        return;
    }
    s_take_result(ctx, vm, res);
}

static s_vm_t *
s_vm_new(const zf_jsvm_limits_t *lim, size_t cap)
{
    s_vm_t *vm = calloc(1, sizeof *vm);
    if (!vm) abort();
    vm->blocks.prev = vm->blocks.next = &vm->blocks;
    vm->cap = cap;
    vm->lim = lim;
    vm->last_check_ns = s_now_ns();
    vm->deadline_ns = vm->last_check_ns + lim->timeout_ms * 1000000LL;
    vm->logs = json_array();
    return vm;
}

//  Creates the heap, compiles (and unless compile_only runs) the source,
//  destroys the heap. A fatal error inside duktape lands at the setjmp:
//  the heap is then freed block by block, without duktape.
static void
s_guarded(s_vm_t *vm, const s_source_t *src, zf_jsvm_result_t *res, int compile_only)
{
    if (setjmp(vm->fatal) != 0) {
        s_free_all(vm);
        free(vm->pending);
        vm->pending = NULL;
        if (!s_limit_hit(vm, res)) {
            res->status = ZF_JSVM_INTERNAL;
            snprintf(res->error, sizeof res->error, "duktape fatal error: %s", vm->fatal_msg);
        }
        return;
    }
    vm->ctx = duk_create_heap(s_alloc, s_realloc, s_free, vm, s_fatal);
    if (!vm->ctx) {  // its start-up did not fit the cap (or the deadline)
        vm->refused += !vm->timed_out;
        s_limit_hit(vm, res);
        s_free_all(vm);
        return;
    }
    if (compile_only) {
        if (s_compile(vm->ctx, vm, src, res)) res->status = ZF_JSVM_OK;
    } else {
        s_execute(vm->ctx, vm, src, res);
    }
    duk_destroy_heap(vm->ctx);
    vm->ctx = NULL;
    assert(vm->used == 0);
    s_free_all(vm);
}

zf_jsvm_status_t
zf_jsvm_run(const char *src, size_t len, const json_t *globals, const zf_jsvm_limits_t *limits,
            zf_jsvm_result_t *res)
{
    assert(src && limits && res && limits->timeout_ms > 0);
    memset(res, 0, sizeof *res);
    s_vm_t *vm = s_vm_new(limits, limits->memory_bytes);
    s_source_t source = {src, len};
    int64_t start = s_now_ns();
    vm->globals = json_is_object(globals) ? globals : NULL;
    s_guarded(vm, &source, res, 0);
    res->elapsed_ms = (s_now_ns() - start) / 1000000LL;
    res->peak_bytes = vm->peak;
    res->logs = vm->logs;
    res->logs_dropped = vm->logs_dropped;
    free(vm);
    if (res->status != ZF_JSVM_OK) {
        json_decref(res->value);
        res->value = NULL;
    }
    return res->status;
}

int
zf_jsvm_check(const char *src, size_t len, char *err, size_t errlen, int *line)
{
    zf_jsvm_limits_t lim = {.timeout_ms = 5000, .memory_bytes = S_CHECK_MEMORY};
    zf_jsvm_result_t res = {0};
    s_vm_t *vm = s_vm_new(&lim, lim.memory_bytes);
    s_source_t source = {src, len};
    s_guarded(vm, &source, &res, 1);
    json_decref(vm->logs);
    free(vm);
    if (line) *line = res.line;
    if (res.status == ZF_JSVM_OK) return 0;
    snprintf(err, errlen, "%s", res.error);
    return -1;
}

void
zf_jsvm_result_clear(zf_jsvm_result_t *res)
{
    if (!res) return;
    json_decref(res->value);
    json_decref(res->logs);
    memset(res, 0, sizeof *res);
}
