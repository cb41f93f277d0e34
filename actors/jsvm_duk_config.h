/*  actors/jsvm_duk_config.h — our overrides of Debian's duk_config.h.

    Debian's duktape-dev ships the amalgamated source with a generated
    duk_config.h whose options are plain #define/#undef lines, so -D flags
    cannot change them. actors/duktape.cmake copies that duk_config.h into
    the build directory and puts an #include of this file at its
    "__OVERRIDE_DEFINES__" mark (the place configure.py reserves for
    overrides), so these lines come after Debian's and before duktape's own
    consistency checks. Nothing else includes this file.
*/
#ifndef ZF_JSVM_DUK_CONFIG_H
#define ZF_JSVM_DUK_CONFIG_H

//  Execution timeout. The bytecode executor runs its interrupt handler
//  when a countdown of instructions reaches zero; the check below is part
//  of that handler. zf_jsvm_interrupt (actors/jsvm.c) answers 0 once the
//  deadline has passed (and keeps answering 0: duktape then throws at
//  every instruction, so try/catch cannot swallow the timeout), else the
//  number of instructions until the next check. Duktape itself would use a
//  fixed 256k, far too coarse when each instruction is a slow built-in
//  call (a loop of big regexp replaces); the assignment to the handler's
//  local `ctr` is how the count gets back to it (duktape 2.7's
//  duk__executor_interrupt; a compile error if that name ever changes).
//  udata is the heap's udata: the zf_jsvm run state.
long zf_jsvm_interrupt(void *udata);
#define DUK_USE_INTERRUPT_COUNTER
#undef DUK_USE_EXEC_TIMEOUT_CHECK
#define DUK_USE_EXEC_TIMEOUT_CHECK(udata) ((ctr = (duk_int_t)zf_jsvm_interrupt(udata)) <= 0)

//  Execution timeout inside the regexp executor. A whole match runs in
//  one built-in call, so the check above never sees a catastrophic
//  pattern (/(?:a+)+b/ backtracks for duktape's fixed 10^9 steps, about
//  10 s). actors/duktape.cmake patches duk__match_regexp to invoke this
//  macro after each `re_ctx->steps_count++;` (not a duk_config.h option:
//  a name of ours). Every 2^16 steps (well under a millisecond without
//  sanitizers) it asks zf_jsvm_expired (actors/jsvm.c), which only reads
//  the clock and the sticky flag and leaves the executor's check interval
//  alone. Once the deadline has passed it throws the RangeError of the
//  bytecode check, after zeroing the thread's interrupt counter as that
//  check does: the next bytecode instruction, the first of a `catch`
//  block included, then runs the check above, which keeps throwing.
int zf_jsvm_expired(void *udata);
#define ZF_DUK_REGEXP_CHECK_MASK 0xffffUL
#define ZF_DUK_REGEXP_CHECK(thr, steps)                                                            \
    do {                                                                                           \
        if (DUK_UNLIKELY(((steps)&ZF_DUK_REGEXP_CHECK_MASK) == 0) &&                               \
            zf_jsvm_expired((thr)->heap->heap_udata)) {                                            \
            (thr)->interrupt_init = 0;                                                             \
            (thr)->interrupt_counter = 0;                                                          \
            DUK_ERROR_RANGE((thr), "execution timeout");                                           \
        }                                                                                          \
    } while (0)

//  C stack. Script-to-script calls do not recurse in C, but native call
//  levels do (Array.prototype.map calling a function that calls map
//  again, toString/toJSON hooks), and so do the compiler (nested
//  expressions), the regexp compiler (nested groups) and the regexp
//  executor (one level per iteration of a complex quantifier). Debian's
//  limits (1000, 2500, 10000, 10000) need more than 1 MiB of stack; these
//  fit in 1 MiB (4 MiB under ASan; threads get 8 MiB) and are far beyond
//  what real scripts nest. Hitting one is a RangeError, never a crash.
#undef DUK_USE_NATIVE_CALL_RECLIMIT
#define DUK_USE_NATIVE_CALL_RECLIMIT 200
#undef DUK_USE_COMPILER_RECLIMIT
#define DUK_USE_COMPILER_RECLIMIT 1000
#undef DUK_USE_REGEXP_COMPILER_RECLIMIT
#define DUK_USE_REGEXP_COMPILER_RECLIMIT 1000
#undef DUK_USE_REGEXP_EXECUTOR_RECLIMIT
#define DUK_USE_REGEXP_EXECUTOR_RECLIMIT 5000

//  Script-to-script calls do not use the C stack; the call stack limit
//  bounds them (a RangeError, not a crash). Lowered from 10000 so that the
//  error comes quickly and a deep stack cannot take much memory.
#undef DUK_USE_CALLSTACK_LIMIT
#define DUK_USE_CALLSTACK_LIMIT 2000

#endif
