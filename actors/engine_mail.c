/*  actors/engine_mail.c — `mail.send`: one transactional email (seed 001).

    The engine thread never blocks on SMTP: it validates the request, hands
    it to a short-lived worker thread (at most S_WORKERS at once; more is
    `unavailable`, retry), and the worker sends with zf_mail_send and comes
    back on the engine's `done` socket as ["MAIL"][job*]; the engine then
    answers the request it kept. A request the worker cannot finish before
    the server stops is answered `unavailable` by nobody: its client times
    out, like any request in flight at shutdown.
*/
#include "actors/engine_int.h"
#include "actors/mail.h"
#include "broker/errors.h"
#include "broker/ids.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#define S_WORKERS 4

typedef struct {
    zf_msg_t *req;           // request to answer (owned; only the engine touches it)
    json_t *config;          // the email (owned)
    char *smtp_url;          // copies: the job may outlive nothing, but stay simple
    char *smtp_from;         // may be NULL
    char done_endpoint[64];  // where to report
    json_t *out;             // result (worker sets)
    int rc;                  // result code (worker sets)
    char err[256];           // error text (worker sets)
} s_job_t;

static _Atomic int s_busy;

static void *
s_worker(void *arg)
{
    s_job_t *job = arg;
    zf_mail_conf_t conf = {.smtp_url = job->smtp_url,
                           .smtp_from = job->smtp_from,
                           .now_ms = zf_now_ms(),
                           .timeout_ms = 30000};
    char seed[ZF_MAIL_SEED_MAX];
    snprintf(seed, sizeof seed, "mail.%s", job->req->id);
    job->rc = zf_mail_send(&conf, job->config, seed, &job->out, job->err, sizeof job->err);
    zsock_t *push = zsock_new_push(job->done_endpoint);
    if (push) {
        zsock_set_sndhwm(push, 0);
        zsock_send(push, "sp", "MAIL", job);
        zsock_destroy(&push);
    }
    return NULL;
}

int
zf_eng_mail_send(engine_t *e, zf_msg_t *req)
{
    char err[256];
    if (zf_mail_validate(req->body, 1, NULL, err, sizeof err))
        return zf_eng_fail(e, req, ZF_EINVAL, "%s", err);
    if (!e->env.smtp_url || !*e->env.smtp_url) {
        zf_eng_error_detail(e, req, ZF_EUNAVAIL, "email_not_configured",
                            "email is not configured: start zflow with --smtp-url");
        return 0;
    }
    if (atomic_fetch_add(&s_busy, 1) >= S_WORKERS) {
        atomic_fetch_sub(&s_busy, 1);
        return zf_eng_fail(e, req, ZF_EUNAVAIL, "too many emails in flight; retry");
    }
    s_job_t *job = calloc(1, sizeof *job);
    assert(job);
    job->req = req;
    job->config = json_incref(req->body);
    job->smtp_url = strdup(e->env.smtp_url);
    job->smtp_from = e->env.smtp_from ? strdup(e->env.smtp_from) : NULL;
    snprintf(job->done_endpoint, sizeof job->done_endpoint, "%s", e->done_endpoint);
    pthread_t th;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&th, &attr, s_worker, job);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        atomic_fetch_sub(&s_busy, 1);
        job->req = NULL;
        json_decref(job->config);
        free(job->smtp_url);
        free(job->smtp_from);
        free(job);
        return zf_eng_fail(e, req, ZF_EUNAVAIL, "cannot start a mail worker; retry");
    }
    return 1;  // kept: answered in zf_eng_mail_done
}

void
zf_eng_mail_done(engine_t *e, void *ptr)
{
    s_job_t *job = ptr;
    atomic_fetch_sub(&s_busy, 1);
    if (job->rc == 0)
        zf_eng_reply(e, job->req, job->out);
    else
        zf_eng_error(e, job->req, job->rc, "%s", job->err);
    zf_msg_destroy(&job->req);
    json_decref(job->config);
    free(job->smtp_url);
    free(job->smtp_from);
    free(job);
}
