/*  http/dialects/automations_int.h — what the seed 001 "Automations API"
    files share: automations.c (views, workflows, errors, the route table),
    automations_runs.c (execute, runs, run detail, export, resume, stats,
    send-email) and automations_callback.c (the public approval pages).
    docs/api/automations.md documents the dialect.
*/
#ifndef ZF_HTTP_AUTOMATIONS_INT_H
#define ZF_HTTP_AUTOMATIONS_INT_H

#include "http/dialect.h"

#include <stdbool.h>
#include <stddef.h>

extern const char *const zf_auto_wf_404;   // "Automation not found"
extern const char *const zf_auto_run_404;  // "Run not found"

//  The :name path parameter when it is a well-formed id; otherwise
//  answers 404 (text not_found) and returns NULL.
const char *zf_auto_id_param(zf_http_req_t *req, const char *name, const char *not_found);

//  Answers a failed broker call in the dialect's envelope: not_found gets
//  the fixed text, validation messages about definition nodes are renamed
//  to steps (perm maps node positions to the request's step indexes; NULL
//  = identity), timeouts and unavailability keep a retry hint.
void zf_auto_fail_call(zf_http_req_t *req, int rc, const char *msg, const char *not_found,
                       const size_t *perm, size_t nperm);

//  Answers status with {"error": {"code", "message"}} as given: for 5xx
//  answers whose message is safe to show (the framework hides others').
void zf_auto_error(zf_http_req_t *req, int status, const char *code, const char *message);

//  One broker round trip; on failure answers (zf_auto_fail_call) and
//  returns NULL, else the reply body (caller decrefs).
json_t *zf_auto_call(zf_http_req_t *req, const char *type, json_t *body, const char *not_found);

//  Seed status of an engine run status: queued/running -> RUNNING,
//  waiting/paused -> PAUSED, waiting_for_child -> WAITING_FOR_CHILD, the
//  rest uppercased (new reference).
json_t *zf_auto_run_status(const char *core);

//  The automation view of an engine workflow (new reference).
json_t *zf_auto_view(const json_t *wf);

//  Route handlers of automations_runs.c.
void zf_auto_execute(zf_http_req_t *req);
void zf_auto_runs(zf_http_req_t *req);
void zf_auto_run_get(zf_http_req_t *req);
void zf_auto_export(zf_http_req_t *req);
void zf_auto_resume(zf_http_req_t *req);
void zf_auto_stats(zf_http_req_t *req);
void zf_auto_send_email(zf_http_req_t *req);

//  Route handlers of automations_callback.c (public).
void zf_auto_callback_get(zf_http_req_t *req);
void zf_auto_callback_post(zf_http_req_t *req);
//  send_form links: the form page and its submission (form.get / form.submit).
void zf_auto_form_get(zf_http_req_t *req);
void zf_auto_form_post(zf_http_req_t *req);

#endif
