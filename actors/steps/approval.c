/*  actors/steps/approval.c — kinds "approval" and "send_form": wait for a person.

    approval:  {"title"?: text, "message"?: text, "approvers"?: [email],
                "expires_in_hours"?: 1..720 (default 168 = 7 days),
                "on_reject"?: "stop" (default) | "continue" | "fail"}
    send_form: {"title"?: text, "message"?: text, "recipients"?: [email],
                "fields": [{"name", "label"?, "type"?: text|email|number|
                textarea|checkbox, "required"?: bool}] (1..50),
                "expires_in_hours"?}

    First exec: a fresh 256-bit token; the run pauses (ZF_STEP_SUSPEND)
    with its deadline at the expiry, and the engine indexes the token's
    SHA-256 in the batch that stores the paused run. The interim output —
    in the run's state at once — holds the link (callback_url / form_url,
    under --public-url). With approvers / recipients the step emails the
    link itself (mail.send) before pausing: in a sequential run no later
    step runs before the decision, so this is where the link goes out.
    "notify"?: {"type": kind, "config": {...}} sends it any other way: one
    step (email, slack, notification, http_request, ...) run right after
    the link is made and before the run pauses, rendered with one more
    template root, `approval` (send_form: `form`) = the interim output, e.g.
    "{{approval.callback_url}}". It runs as node "<id>.notify"; its output
    is the interim output's "notify"; if it fails the step fails (retryable
    or not, like the inner step), and a retry makes a new link.

    Resumed by a decision (approval.decide, run.resume) the output is
    {"status": decision, "decision", "passed", "data", "by", "decided_at"}:
    approved passes; rejected stops the run (completed, later steps
    skipped), continues with passed=false (nodes on branch "false" run) or
    fails it, per on_reject. A form resumes with {"status": "submitted",
    "data": the submitted fields}. Woken by the deadline: the step fails
    (final) with "approval expired" / "form expired".
*/
#include "actors/step.h"
#include "actors/steps/inner.h"
#include "broker/errors.h"
#include "broker/ids.h"

#include <stdbool.h>
#include <stdint.h>

#include <stdio.h>
#include <string.h>

#define S_DEFAULT_HOURS 168
#define S_MAX_HOURS     720
#define S_MAX_FIELDS    50

static const char *const s_field_types[] = {"text",     "email",    "number",
                                            "textarea", "checkbox", NULL};

static int
s_validate_common(const json_t *config, const char *list, char *err, size_t errlen)
{
    static const char *const texts[] = {"title", "message", NULL};
    for (int i = 0; texts[i]; i++) {
        const json_t *v = json_object_get(config, texts[i]);
        if (v && !json_is_string(v))
            return snprintf(err, errlen, "config.%s: must be a string", texts[i]), -1;
    }
    const json_t *h = json_object_get(config, "expires_in_hours");
    if (h &&
        (!json_is_integer(h) || json_integer_value(h) < 1 || json_integer_value(h) > S_MAX_HOURS))
        return snprintf(err, errlen, "config.expires_in_hours: must be an integer 1..%d",
                        S_MAX_HOURS),
               -1;
    const json_t *to = json_object_get(config, list);
    size_t i;
    json_t *x;
    if (to && (!json_is_array(to) || json_array_size(to) > 50))
        return snprintf(err, errlen, "config.%s: must be a list of at most 50 email addresses",
                        list),
               -1;
    json_array_foreach (to, i, x)
        if (!json_is_string(x) || !strchr(json_string_value(x), '@'))
            return snprintf(err, errlen, "config.%s[%zu]: must be an email address", list, i), -1;
    return 0;
}

static int
s_validate_approval(const json_t *config, char *err, size_t errlen)
{
    if (s_validate_common(config, "approvers", err, errlen)) return -1;
    if (json_object_get(config, "notify") && zf_inner_validate(config, "notify", err, errlen))
        return -1;
    const char *r = json_string_value(json_object_get(config, "on_reject"));
    if (json_object_get(config, "on_reject") &&
        (!r || (strcmp(r, "stop") && strcmp(r, "continue") && strcmp(r, "fail"))))
        return snprintf(err, errlen, "config.on_reject: must be stop, continue or fail"), -1;
    return 0;
}

static bool
s_field_type_ok(const char *t)
{
    for (int i = 0; t && s_field_types[i]; i++)
        if (strcmp(s_field_types[i], t) == 0) return true;
    return false;
}

static int
s_validate_form(const json_t *config, char *err, size_t errlen)
{
    if (s_validate_common(config, "recipients", err, errlen)) return -1;
    if (json_object_get(config, "notify") && zf_inner_validate(config, "notify", err, errlen))
        return -1;
    const json_t *fields = json_object_get(config, "fields");
    if (!json_is_array(fields) || json_array_size(fields) < 1 ||
        json_array_size(fields) > S_MAX_FIELDS)
        return snprintf(err, errlen, "config.fields: must be a list of 1..%d fields", S_MAX_FIELDS),
               -1;
    size_t i;
    json_t *f;
    json_array_foreach (fields, i, f) {
        const char *name = json_string_value(json_object_get(f, "name"));
        const json_t *type = json_object_get(f, "type");
        if (!name || !*name || strlen(name) > 64)
            return snprintf(err, errlen, "config.fields[%zu].name: required, 1..64 chars", i), -1;
        if (type && !s_field_type_ok(json_string_value(type)))
            return snprintf(err, errlen,
                            "config.fields[%zu].type: must be text, email, number, textarea "
                            "or checkbox",
                            i),
                   -1;
    }
    return 0;
}

//  Emails the link to the listed people through the engine (mail.send).
static int
s_notify(zf_step_ctx_t *ctx, const json_t *to, const char *subject, const char *text,
         zf_step_result_t *res)
{
    if (!json_array_size(to)) return 0;
    if (!ctx->call) {
        zf_step_fail(res, ZF_STEP_FAIL_FINAL, "cannot send the link: no mail service");
        return -1;
    }
    json_t *reply = NULL;
    char err[200];
    int rc = ctx->call(ctx->call_arg, "mail.send",
                       json_pack("{s:O, s:s, s:s}", "to", to, "subject", subject, "body", text),
                       &reply, err, sizeof err);
    json_decref(reply);
    if (rc == 0) return 0;
    zf_step_fail(res, rc == ZF_EINVAL ? ZF_STEP_FAIL_FINAL : ZF_STEP_FAIL,
                 "cannot send the link: %s", err);
    return -1;
}

//  Runs config.notify with the link in scope; 0 when there is none or it worked.
static int
s_notify_step(zf_step_ctx_t *ctx, const json_t *config, bool form, zf_step_result_t *res)
{
    const json_t *step = json_object_get(config, "notify");
    if (!step) return 0;
    json_t *root = zf_step_template_root(ctx);
    json_object_set(root, form ? "form" : "approval", res->output);
    char node_id[96];
    snprintf(node_id, sizeof node_id, "%s.notify", ctx->node_id);
    zf_step_result_t r = {0};
    int rc = zf_inner_exec(ctx, step, root, node_id, res->output, &r);
    json_decref(root);
    if (rc == 0)
        json_object_set(res->output, "notify", r.output ? r.output : json_null());
    else
        zf_step_fail(res, r.status, "notify: %s", r.error);
    zf_step_result_clear(&r);
    return rc;
}

//  First exec of both kinds: token, link, optional email, pause.
static void
s_issue(zf_step_ctx_t *ctx, const json_t *config, bool form, zf_step_result_t *res)
{
    unsigned char raw[32];
    char token[64];
    zf_random_bytes(raw, sizeof raw);
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t n = 0;
    for (size_t i = 0; i < sizeof raw; i += 3) {  // base64url, no padding: 43 chars
        uint32_t v = (uint32_t)raw[i] << 16 | (i + 1 < sizeof raw ? raw[i + 1] : 0) << 8 |
                     (i + 2 < sizeof raw ? raw[i + 2] : 0);
        int out = i + 2 < sizeof raw ? 4 : i + 1 < sizeof raw ? 3 : 2;
        for (int k = 0; k < out; k++)
            token[n++] = b64[(v >> (18 - 6 * k)) & 63];
    }
    token[n] = '\0';
    json_int_t hours = json_integer_value(json_object_get(config, "expires_in_hours"));
    int64_t expires = ctx->now_ms + (hours > 0 ? hours : S_DEFAULT_HOURS) * 3600000LL;
    char url[512], iso[32];
    snprintf(url, sizeof url, "%s/%s/%s",
             ctx->links_url ? ctx->links_url : "http://127.0.0.1:8080/api/workflows",
             form ? "forms" : "callback", token);
    zf_iso8601(expires, iso);
    const char *title = json_string_value(json_object_get(config, "title"));
    const char *message = json_string_value(json_object_get(config, "message"));
    if (!title) title = form ? "Please fill in this form" : "Approval requested";
    res->output = json_pack("{s:s, s:s, s:s, s:s?, s:s, s:I}", "status", "pending",
                            form ? "form_url" : "callback_url", url, "title", title, "message",
                            message, "expires_at", iso, "expires_at_ms", (json_int_t)expires);
    if (form) json_object_set(res->output, "fields", json_object_get(config, "fields"));
    const json_t *to = json_object_get(config, form ? "recipients" : "approvers");
    if (to) json_object_set(res->output, form ? "recipients" : "approvers", (json_t *)to);
    char text[2048];
    snprintf(text, sizeof text, "%s\n\n%s%sOpen this link to %s (valid until %s):\n%s\n", title,
             message ? message : "", message ? "\n\n" : "",
             form ? "fill in the form" : "approve or reject", iso, url);
    if (s_notify(ctx, to, title, text, res) || s_notify_step(ctx, config, form, res)) {
        json_decref(res->output);  // the link was never stored: it must not show
        res->output = NULL;
        return;
    }
    res->status = ZF_STEP_SUSPEND;
    res->suspend_status = "paused";
    res->wake_at_ms = expires;
    snprintf(res->token, sizeof res->token, "%s", token);
}

//  Resumed: by a decision / submission, or by the deadline (resume NULL).
static void
s_decided(zf_step_ctx_t *ctx, const json_t *config, bool form, zf_step_result_t *res)
{
    const char *decision = json_string_value(json_object_get(ctx->resume, "decision"));
    if (!ctx->resume || !decision) {
        zf_step_fail(res, ZF_STEP_FAIL_FINAL, "%s expired without a %s", form ? "form" : "approval",
                     form ? "submission" : "decision");
        return;
    }
    bool approved = strcmp(decision, "approved") == 0 || strcmp(decision, "submitted") == 0 ||
                    strcmp(decision, "resumed") == 0;
    res->output = json_pack(
        "{s:s, s:s, s:b, s:O?, s:O?, s:O?}", "status", decision, "decision", decision, "passed",
        approved, "data", json_object_get(ctx->resume, "data"), "by",
        json_object_get(ctx->resume, "by"), "decided_at", json_object_get(ctx->resume, "at"));
    const char *on_reject = json_string_value(json_object_get(config, "on_reject"));
    if (approved || (on_reject && strcmp(on_reject, "continue") == 0))
        res->status = ZF_STEP_OK;
    else if (on_reject && strcmp(on_reject, "fail") == 0)
        zf_step_fail(res, ZF_STEP_FAIL_FINAL, "approval rejected");
    else
        res->status = ZF_STEP_STOP;
}

static void
s_exec_approval(zf_step_ctx_t *ctx, const json_t *config, zf_step_result_t *res)
{
    if (!zf_step_config_ok(s_validate_approval, config, res)) return;
    if (ctx->resumed)
        s_decided(ctx, config, false, res);
    else
        s_issue(ctx, config, false, res);
}

static void
s_exec_form(zf_step_ctx_t *ctx, const json_t *config, zf_step_result_t *res)
{
    if (!zf_step_config_ok(s_validate_form, config, res)) return;
    if (ctx->resumed)
        s_decided(ctx, config, true, res);
    else
        s_issue(ctx, config, true, res);
}

//  Not cpu_only: with approvers the first exec sends mail.
//  "notify" is rendered by the kind itself, once the link exists.
const zf_step_kind_t zf_step_kind_approval = {.name = "approval",
                                              .validate = s_validate_approval,
                                              .exec = s_exec_approval,
                                              .cpu_only = 0,
                                              .raw_key = "notify"};
const zf_step_kind_t zf_step_kind_send_form = {.name = "send_form",
                                               .validate = s_validate_form,
                                               .exec = s_exec_form,
                                               .cpu_only = 0,
                                               .raw_key = "notify"};
