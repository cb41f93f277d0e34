/*  actors/jsvm.h — a sandboxed JavaScript run on duktape.

    One call = one fresh duktape heap, destroyed before the call returns:
    nothing survives between runs. The heap's allocator enforces a memory
    cap (every byte duktape holds, headers included), the bytecode and
    regexp executors check a wall-clock deadline (a script that catches the
    timeout still ends with it), and the global object is stripped of the
    `Duktape` built-in (the only non-standard object with powers: gc, act,
    fin, Thread, ...). duktape has no filesystem, network, process or
    module loading of its own, so nothing else needs removing. The language
    is ECMAScript 5.1 plus the ES2015 built-ins duktape 2.7 ships.

    The source is the body of a function (so it may `return`); its return
    value is the result, undefined becomes null. Named JSON values are
    defined as globals beforehand (copies: changing them changes nothing
    outside). The result crosses back as JSON: functions, symbols and
    cycles are errors, and its size is capped.

    Ownership: zf_jsvm_run fills a caller-owned result; release it with
    zf_jsvm_result_clear. Thread-safe: runs share no state.
*/
#ifndef ZF_JSVM_H
#define ZF_JSVM_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    ZF_JSVM_OK = 0,   // result in value
    ZF_JSVM_SYNTAX,   // the source does not compile
    ZF_JSVM_ERROR,    // the script threw (or a global could not be loaded)
    ZF_JSVM_TIMEOUT,  // the deadline passed
    ZF_JSVM_MEMORY,   // the memory cap was hit
    ZF_JSVM_RESULT,   // the result is not JSON-serialisable or too large
    ZF_JSVM_INTERNAL  // duktape gave up (fatal error); the heap was discarded
} zf_jsvm_status_t;

typedef struct {
    int64_t timeout_ms;     // wall-clock budget of the whole run (> 0)
    size_t memory_bytes;    // cap on what the heap holds (>= 1 MiB is sensible)
    size_t output_bytes;    // cap on the result as JSON text
    size_t log_lines;       // console.log lines kept (0: console.* discards)
    size_t log_line_bytes;  // bytes kept of one line (longer ones are cut)
} zf_jsvm_limits_t;

typedef struct {
    zf_jsvm_status_t status;  // outcome
    json_t *value;            // OK: the result (owned); else NULL
    json_t *logs;             // console lines as an array of strings (owned), or NULL
    int logs_dropped;         // console lines beyond log_lines
    char error[256];          // not OK: "TypeError: x is undefined (line 3)" and the like
    int line;                 // SYNTAX/ERROR: 1-based source line, 0 = unknown
    int64_t elapsed_ms;       // wall time of the run
    size_t peak_bytes;        // most memory the heap held at once
} zf_jsvm_result_t;

//  Runs src (a function body, UTF-8, len bytes) with each member of globals
//  (an object, may be NULL) defined as a global variable. Fills res (which
//  need not be initialised) and returns res->status.
zf_jsvm_status_t zf_jsvm_run(const char *src, size_t len, const json_t *globals,
                             const zf_jsvm_limits_t *limits, zf_jsvm_result_t *res);

//  Compiles src as zf_jsvm_run would, without running it: 0 if it
//  compiles, else -1 with "SyntaxError: ... (line N)" in err and the line
//  in *line (may be NULL).
int zf_jsvm_check(const char *src, size_t len, char *err, size_t errlen, int *line);

//  Releases value and logs and zeroes res. Accepts NULL.
void zf_jsvm_result_clear(zf_jsvm_result_t *res);

#endif
