/*  http/dialects/coherence_int.h — what the seed 003 dialect's files
    (coherence.c: automations, coherence_runs.c: logs, trigger, test,
    webhooks) share. Not a public header.
*/
#ifndef ZF_COHERENCE_INT_H
#define ZF_COHERENCE_INT_H

#include "http/dialect.h"

#include <stdbool.h>

#define ZF_COH_PER_PAGE     25   // default page size (automations and logs)
#define ZF_COH_MAX_PER_PAGE 100  // the seed's maximum for logs; also for automations
#define ZF_COH_MAX_PAGE     100000
#define ZF_COH_MAX_RUN_SCAN 500  // run.list's maximum limit (merging several statuses)
#define ZF_COH_AUTO_404     "Automation not found"
#define ZF_COH_HOOK_404     "Webhook not found"

//  Unix ms -> "2024-01-15T10:30:00Z" (seconds, as in the seed), null when not an int.
json_t *zf_coh_time(const json_t *ms);
//  prefix + id as a JSON string ("log_<run id>").
json_t *zf_coh_prefixed(const char *prefix, const json_t *id);
//  The core id of path parameter name ("auto_<uuid>" or "<uuid>"); else
//  answers 404 with not_found and returns NULL.
const char *zf_coh_auto_id(zf_http_req_t *req, const char *name, const char *not_found);
//  A non-empty string of at most max bytes.
bool zf_coh_nonempty(const json_t *v, size_t max);
//  Sets "error" (text) and "error_code" (a seed code when the text starts
//  with one, else fallback) in obj.
void zf_coh_set_error(json_t *obj, const char *text, const char *fallback);
//  Answers {"data": data} (taken).
void zf_coh_data(zf_http_req_t *req, int status, json_t *data);
//  Answers a page of items (taken) with the seed's meta.
void zf_coh_data_list(zf_http_req_t *req, json_t *items, json_int_t total, int64_t page,
                      int64_t per);
//  One broker round trip; on failure answers and returns NULL.
json_t *zf_coh_call(zf_http_req_t *req, const char *type, json_t *body, const char *wf_id,
                    const char *not_found);

//  coherence_runs.c: the routes on logs and runs.
void zf_coh_logs(zf_http_req_t *req);
void zf_coh_trigger(zf_http_req_t *req);
void zf_coh_test(zf_http_req_t *req);
void zf_coh_webhook(zf_http_req_t *req);

#endif
