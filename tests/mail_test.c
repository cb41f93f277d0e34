/*  tests/mail_test.c — zf_mail_send (actors/mail.h), the synchronous API
    the engine's mail.send uses, and the send_document step kind, against
    a real SMTP server (tests/smtp_fixture.h). PDF attachments end to end
    (binary parts the sink cannot show) are in tests/it_documents.py.
*/
#include "tests/smtp_fixture.h"

#include "actors/mail.h"
#include "broker/errors.h"

// =========================================================================
//  zf_mail_send: the engine's synchronous API
// =========================================================================

static int
s_api(const char *url, int64_t timeout_ms, const char *body, const char *seed, json_t **out,
      char *err)
{
    zf_mail_conf_t conf = {.smtp_url = url,
                           .smtp_from = "api@zflow.test",
                           .now_ms = 1700000000000LL,
                           .timeout_ms = timeout_ms};
    json_t *cfg = s_json(body);
    int rc = zf_mail_send(&conf, cfg, seed, out, err, 256);
    json_decref(cfg);
    return rc;
}

static void
test_mail_send_api(void **state)
{
    (void)state;
    char err[256];
    json_t *out = NULL;
    size_t n = s_mail_count();
    const char *ok = "{\"to\":[\"a@x.test\",\"bad@x.test\"],\"cc\":\"c@x.test\",\"subject\":\"s\","
                     "\"body\":\"b\",\"attachments\":[{\"filename\":\"r.txt\",\"content\":\"aGk=\","
                     "\"contentType\":\"text/plain\"}]}";
    assert_int_equal(s_api(s_smtp_url, 0, ok, "req-42", &out, err), 0);
    json_t *want = s_json("{\"message_id\":\"<req-42@zflow>\",\"accepted\":[\"a@x.test\","
                          "\"c@x.test\"],\"rejected\":[\"bad@x.test\"]}");
    assert_true(json_equal(out, want));
    json_decref(want);
    json_decref(out);
    json_t *m = s_last_mail(n + 1);
    s_assert_wire_ok(m);
    assert_string_equal(s_str(m, "mail_from"), "api@zflow.test");
    assert_string_equal(s_str(s_part(m, 1), "content"), "hi");
    json_decref(m);
    //  No seed: a random Message-ID; a hostile seed is cleaned.
    assert_int_equal(s_api(s_smtp_url, 0, ok, NULL, &out, err), 0);
    const char *id = s_str(out, "message_id");
    assert_int_equal(strlen(id), 1 + 32 + 7);
    assert_int_equal(strspn(id + 1, "0123456789abcdef"), 32);
    json_decref(out);
    assert_int_equal(s_api(s_smtp_url, 0, ok, ".a..b>\r\n<c.", &out, err), 0);
    assert_string_equal(s_str(out, "message_id"), "<_a._b____c_@zflow>");
    json_decref(out);
    //  Validation names the field without a "config." prefix.
    assert_int_equal(s_api(s_smtp_url, 0, "{\"to\":\"nobody\",\"subject\":\"s\",\"body\":\"b\"}",
                           NULL, &out, err),
                     ZF_EINVAL);
    assert_string_equal(err, "to[0]: invalid email address 'nobody'");
    assert_null(out);
    assert_int_equal(
        s_api(s_smtp_url, 0, "{\"to\":\"a@x.test\",\"subject\":\"s\"}", NULL, &out, err),
        ZF_EINVAL);
    assert_string_equal(err, "needs \"template\", or \"subject\" and \"body\" or \"html\"");
    assert_int_equal(s_api(s_smtp_url, 0,
                           "{\"to\":\"a@x.test\",\"subject\":\"s\",\"body\":\"b\",\"attachments\":"
                           "[{\"filename\":\"x\",\"content\":\"@@\"}]}",
                           NULL, &out, err),
                     ZF_EINVAL);
    assert_string_equal(err, "attachments[0].content: invalid base64");
    assert_int_equal(s_api(s_smtp_url, 0, "[]", NULL, &out, err), ZF_EINVAL);
    assert_string_equal(err, "must be an object");
    //  Not configured (after validation).
    assert_int_equal(s_api(NULL, 0, ok, NULL, &out, err), ZF_EUNAVAIL);
    assert_string_equal(err, "email_not_configured: start zflow with --smtp-url");
    assert_int_equal(s_api("", 0, ok, NULL, &out, err), ZF_EUNAVAIL);
    //  Delivery failures.
    assert_int_equal(s_api(s_smtp_url, 0,
                           "{\"to\":\"bad@x.test\",\"subject\":\"s\",\"body\":\"b\"}", NULL, &out,
                           err),
                     ZF_EIO);
    assert_non_null(strstr(err, "email_delivery_failed: server refused: 550"));
    assert_int_equal(s_api(s_smtp_url, 0,
                           "{\"to\":\"busy@x.test\",\"subject\":\"s\",\"body\":\"b\"}", NULL, &out,
                           err),
                     ZF_EUNAVAIL);
    assert_non_null(strstr(err, "email_delivery_failed: server deferred: 451"));
    assert_int_equal(s_api("http://127.0.0.1:9/", 0, ok, NULL, &out, err), ZF_EIO);
    int port, fd = s_dead_port(1, &port);
    char url[64];
    snprintf(url, sizeof url, "smtp://127.0.0.1:%d", port);
    assert_int_equal(s_api(url, 200, ok, NULL, &out, err), ZF_ETIMEOUT);
    assert_string_equal(err, "email_delivery_failed: timeout after 200 ms");
    close(fd);
    s_dead_port(0, &port);
    snprintf(url, sizeof url, "smtp://127.0.0.1:%d", port);
    assert_int_equal(s_api(url, 0, ok, NULL, &out, err), ZF_EUNAVAIL);
    assert_null(out);
    assert_int_equal(s_mail_count(), n + 3);
}

// =========================================================================
//  send_document
// =========================================================================

static void
test_send_document_validate(void **state)
{
    (void)state;
    static const s_vcase_t cases[] = {
        {"{'to':'a@x.test','document':'{{steps.gen}}'}", NULL},
        {"{'to':'{{record.email}}','document_step':'gen','subject':'S {{x}}','cc':['c@x.test']}",
         NULL},
        {"{'to':'a@x.test','document':{'filename':'a.pdf','content':'JVBERi0=',"
         "'contentType':'application/pdf'},'html':'<p>x</p>'}",
         NULL},
        {"[]", "config: must be an object"},
        {"{'to':'a@x.test'}", "config: needs either \"document\""},
        {"{'to':'a@x.test','document':'{{steps.gen}}','document_step':'gen'}",
         "config: needs either"},
        {"{'to':'a@x.test','document_step':''}", "config.document_step: must be a node id"},
        {"{'to':'a@x.test','document_step':['gen']}", "config.document_step: must be a node id"},
        {"{'to':'a@x.test','document':'report'}", "config.document: must be a document"},
        {"{'to':'a@x.test','document':{'filename':'a.pdf'}}",
         "config.document.content: required, the document as base64"},
        {"{'to':'a@x.test','document':{'content':'!!'}}",
         "config.document.content: invalid base64"},
        {"{'to':'a@x.test','document':{'content':'','contentType':'x'}}",
         "config.document.contentType: must be a MIME type"},
        {"{'document_step':'gen'}", "config.to: required"},
        {"{'to':'a@x.test','subject':[],'document_step':'gen'}",
         "config.subject: must be a string"},
    };
    CHECK_VALIDATE("send_document", cases);
    assert_int_equal(zf_step_find("send_document")->cpu_only, 0);
}

static void
test_send_document_attaches(void **state)
{
    (void)state;
    s_env_t env;
    s_env_mail(&env);
    size_t n = s_mail_count();
    //  From a previous step's output (document_step), text/plain so the
    //  sink shows the content; defaults for subject and body.
    json_object_set_new((json_t *)env.steps, "gen",
                        s_json("{\"filename\":\"notes.txt\",\"contentType\":\"text/plain\","
                               "\"content\":\"bGluZSAxCmxpbmUgMgo=\",\"pages\":1}"));
    zf_step_result_t res =
        s_run(&env, "send_document", s_json("{\"to\":\"a@x.test\",\"document_step\":\"gen\"}"));
    assert_int_equal(res.status, ZF_STEP_OK);
    json_t *want = s_json("{\"message_id\":\"<run-1.node-1@zflow>\",\"accepted\":[\"a@x.test\"],"
                          "\"rejected\":[],\"filename\":\"notes.txt\"}");
    assert_true(json_equal(res.output, want));
    json_decref(want);
    json_t *m = s_last_mail(n + 1);
    s_assert_wire_ok(m);
    assert_string_equal(s_parsed(m, "subject"), "Document: notes.txt");
    assert_string_equal(s_parsed(m, "content_type"), "multipart/mixed");
    assert_string_equal(s_str(s_part(m, 0), "content"),
                        "Please find the attached document notes.txt.\r\n");
    assert_string_equal(s_str(s_part(m, 1), "type"), "text/plain");
    assert_string_equal(s_str(s_part(m, 1), "content"), "line 1\nline 2\n");
    json_decref(m);
    zf_step_result_clear(&res);
    //  An inline document (what "{{steps.gen}}" renders to), own texts.
    res = s_run(&env, "send_document",
                s_json("{\"to\":\"a@x.test\",\"subject\":\"Your file\",\"body\":\"Here.\","
                       "\"document\":{\"content\":\"eA==\",\"contentType\":\"text/plain\"}}"));
    assert_int_equal(res.status, ZF_STEP_OK);
    assert_string_equal(s_str(res.output, "filename"), "document.pdf");
    m = s_last_mail(n + 2);
    assert_string_equal(s_parsed(m, "subject"), "Your file");
    assert_string_equal(s_str(s_part(m, 1), "content"), "x");
    assert_non_null(strstr(s_str(m, "data"), "filename=\"document.pdf\""));
    json_decref(m);
    zf_step_result_clear(&res);
    //  A step that has not run, or whose output is no document: final.
    res = s_run(&env, "send_document", s_json("{\"to\":\"a@x.test\",\"document_step\":\"nope\"}"));
    assert_int_equal(res.status, ZF_STEP_FAIL_FINAL);
    assert_string_equal(res.error,
                        "email_delivery_failed: config.document_step: step 'nope' has no "
                        "output (it must run before this one)");
    zf_step_result_clear(&res);
    res = s_run(&env, "send_document", s_json("{\"to\":\"a@x.test\",\"document_step\":\"n1\"}"));
    assert_int_equal(res.status, ZF_STEP_FAIL_FINAL);
    assert_non_null(strstr(res.error, "config.document_step.content: required"));
    zf_step_result_clear(&res);
    env.ctx.smtp_url = NULL;
    res = s_run(&env, "send_document", s_json("{\"to\":\"a@x.test\",\"document_step\":\"gen\"}"));
    assert_int_equal(res.status, ZF_STEP_FAIL_FINAL);
    assert_string_equal(res.error, "email_delivery_failed: email is not configured: start zflow "
                                   "with --smtp-url");
    zf_step_result_clear(&res);
    assert_int_equal(s_mail_count(), n + 2);
    s_env_free(&env);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mail_send_api),
        cmocka_unit_test(test_send_document_validate),
        cmocka_unit_test(test_send_document_attaches),
    };
    return cmocka_run_group_tests(tests, s_smtp_start, s_smtp_stop);
}
