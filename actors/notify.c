/*  actors/notify.c — failure notifications by email (error_handling
    notify_on_failure + notify_email, seed 003).

    Best effort and off the engine thread: a detached thread sends one
    message through the send_email kind. A crash between the failure and the
    send loses the notice (the failed run itself is durable and listed in
    the automation's logs); documented in docs/api/coherence.md.
*/
#include "actors/notify.h"
#include "actors/step.h"
#include "broker/ids.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

extern const zf_step_kind_t zf_step_kind_send_email;

typedef struct {
    json_t *config;   // send_email config (owned)
    char run_id[40];  // failed run: makes the Message-ID unique
    char *smtp_url;   // copies: the job may outlive the engine's settings
    char *smtp_from;  // may be NULL
} s_job_t;

static void *
s_send(void *arg)
{
    s_job_t *job = arg;
    zf_step_ctx_t ctx = {.run_id = job->run_id,
                         .node_id = "notify_on_failure",
                         .now_ms = zf_now_ms(),
                         .smtp_url = job->smtp_url,
                         .smtp_from = job->smtp_from,
                         .attempt = 1};
    zf_step_result_t res = {0};
    zf_step_kind_send_email.exec(&ctx, job->config, &res);
    if (res.status != ZF_STEP_OK)
        fprintf(stderr, "zflow: failure notice for run %s not sent: %s\n", job->run_id, res.error);
    zf_step_result_clear(&res);
    json_decref(job->config);
    free(job->smtp_url);
    free(job->smtp_from);
    free(job);
    return NULL;
}

void
zf_notify_failure(const char *smtp_url, const char *smtp_from, const json_t *wf, const json_t *run)
{
    const json_t *eh = json_object_get(wf, "error_handling");
    const char *to = json_string_value(json_object_get(eh, "notify_email"));
    if (!json_is_true(json_object_get(eh, "notify_on_failure")) || !to || !smtp_url) return;
    const char *name = json_string_value(json_object_get(wf, "name"));
    const char *err = json_string_value(json_object_get(json_object_get(run, "error"), "message"));
    const char *run_id = json_string_value(json_object_get(run, "id"));
    char subject[300], body[1200];
    snprintf(subject, sizeof subject, "Automation \"%.200s\" failed", name ? name : "?");
    snprintf(body, sizeof body,
             "The automation \"%.200s\" (%s) failed.\n\nRun: %s\nError: %.600s\n",
             name ? name : "?", json_string_value(json_object_get(wf, "id")), run_id ? run_id : "?",
             err ? err : "unknown");
    s_job_t *job = calloc(1, sizeof *job);
    if (!job) return;
    job->config = json_pack("{s:s, s:s, s:s}", "to", to, "subject", subject, "body", body);
    snprintf(job->run_id, sizeof job->run_id, "%s", run_id ? run_id : "run");
    job->smtp_url = strdup(smtp_url);
    job->smtp_from = smtp_from ? strdup(smtp_from) : NULL;
    pthread_t th;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&th, &attr, s_send, job) != 0) {
        json_decref(job->config);
        free(job->smtp_url);
        free(job->smtp_from);
        free(job);
    }
    pthread_attr_destroy(&attr);
}
