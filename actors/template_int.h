/*  actors/template_int.h — what the template parser/renderer (template.c)
    and its text output and filters (template_text.c) share. Not public.
*/
#ifndef ZF_TEMPLATE_INT_H
#define ZF_TEMPLATE_INT_H

#include "actors/template.h"

#include <stddef.h>

#define ZF_TPL_LOC_MAX 160  // bytes of the error location prefix

//  Returns from the calling function with x's error code when it fails.
#define ZF_TPL_TRY(x)                                                                              \
    do {                                                                                           \
        int rc_ = (x);                                                                             \
        if (rc_) return rc_;                                                                       \
    } while (0)

typedef struct {
    const zf_tpl_scope_t *scope;  // NULL: syntax check only, nothing is evaluated
    size_t used;                  // rendered bytes charged so far in this call
    int rc;                       // error code of the first failure
    size_t off;                   // offset of the filter being applied (for errors)
    const char *fname;            // name of the filter being applied
    char *err;                    // caller's error buffer (may be NULL)
    size_t errlen;                // its size
    char loc[ZF_TPL_LOC_MAX];     // where in the template value we are ("body.text")
    size_t loclen;                // used bytes of loc
} zf_tpl_ctx_t;

typedef struct {
    char *data;      // rendered bytes (not NUL-terminated); unused when count_only
    size_t len;      // bytes written
    size_t cap;      // bytes allocated
    size_t *budget;  // bytes charged across the call; NULL: len is the charge
    size_t limit;    // most bytes the charge may reach
    int count_only;  // 1: count, never store
} zf_tpl_buf_t;

typedef struct {
    const char *name;                         // as written after '|'
    int needs_arg;                            // 1: ": arg" is required
    const char *(*check)(const json_t *arg);  // validates the argument; NULL: takes none
    int (*apply)(zf_tpl_ctx_t *ctx, json_t **v, const json_t *arg);  // replaces *v
} zf_tpl_filter_def_t;

//  Records the first error (later ones would only hide the cause); returns rc.
int zf_tpl_errf(zf_tpl_ctx_t *ctx, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
//  A filter's error, prefixed with the filter's name and offset.
int zf_tpl_ferr(zf_tpl_ctx_t *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
//  The first bytes of s for an error message (into out).
void zf_tpl_snip(const char *s, size_t n, char out[48]);
//  Appends n bytes (charged against the budget); ZF_ELIMIT past it.
int zf_tpl_buf_put(zf_tpl_buf_t *b, const char *s, size_t n);
//  Writes v as compact JSON text.
int zf_tpl_put_json(zf_tpl_buf_t *b, const json_t *v, int depth);
//  Writes v as template text (strings raw, null empty, others as JSON).
int zf_tpl_put_text(zf_tpl_buf_t *b, const json_t *v);
//  The filter named by n bytes of name, or NULL.
const zf_tpl_filter_def_t *zf_tpl_filter_find(const char *name, size_t n);

#endif
