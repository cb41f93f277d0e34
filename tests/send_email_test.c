/*  tests/send_email_test.c — step kinds send_email / email against a
    real SMTP server (tests/smtp_fixture.h): the tests send through the
    kind's exec() and assert on what the server received.
*/
#include "tests/smtp_fixture.h"

// =========================================================================
//  Validation
// =========================================================================

static void
test_validate(void **state)
{
    (void)state;
    static const s_vcase_t cases[] = {
        {"{'to':'a@x.test','subject':'s','body':'b'}", NULL},
        {"{'to':['A <a@x.test>','b@x.test'],'cc':'c@x.test','bcc':[],'subject':'s','html':'<p>'}",
         NULL},
        {"{'to':'{{record.email}}','template':'welcome_email','data':{'n':'{{record.name}}'}}",
         NULL},
        {"{'to':'{{record.email}}','cc':['{{user.email}}'],'from':'{{vars.from}}',"
         "'reply_to':'{{x}}','subject':'{{record.name}}','body':'b'}",
         NULL},
        {"{'to':'a@x.test','subject':3,'body':true}", NULL},
        {"[]", "config: must be an object"},
        {"{'subject':'s','body':'b'}", "config.to: required"},
        {"{'to':[],'subject':'s','body':'b'}", "config.to: required"},
        {"{'to':'a@x.test'}", "needs \"template\""},
        {"{'to':'a@x.test','subject':'s'}", "needs \"template\""},
        {"{'to':'a@x.test','body':'b'}", "needs \"template\""},
        {"{'to':'nobody','subject':'s','body':'b'}", "config.to[0]: invalid email address"},
        {"{'to':['a@x.test','a b@x.test'],'subject':'s','body':'b'}", "config.to[1]"},
        {"{'to':'a@x.test, b@x.test','subject':'s','body':'b'}", "config.to[0]"},
        {"{'to':'<a@x.test>>','subject':'s','body':'b'}", "config.to[0]"},
        {"{'to':'a@x.test\\r\\nBcc: e@x.test','subject':'s','body':'b'}", "config.to[0]"},
        {"{'to':'a@@x.test','subject':'s','body':'b'}", "config.to[0]"},
        {"{'to':'a@-x.test','subject':'s','body':'b'}", "config.to[0]"},
        {"{'to':'.a@x.test','subject':'s','body':'b'}", "config.to[0]"},
        {"{'to':'a@x.test','cc':5,'subject':'s','body':'b'}", "config.cc: must be an address"},
        {"{'to':'a@x.test','bcc':[1],'subject':'s','body':'b'}", "config.bcc: addresses must"},
        {"{'to':'a@x.test','from':'me','subject':'s','body':'b'}",
         "config.from: invalid email address"},
        {"{'to':'a@x.test','reply_to':['r@x.test'],'subject':'s','body':'b'}",
         "config.reply_to: must be an email address"},
        {"{'to':'a@x.test','subject':{},'body':'b'}", "config.subject: must be a string"},
        {"{'to':'a@x.test','template':'t','data':[1]}", "config.data: must be an object"},
        {"{'to':'a@x.test','template':['t']}", "config.template: must be a string"},
    };
    CHECK_VALIDATE("send_email", cases);
    const zf_step_kind_t *k = zf_step_find("send_email");
    assert_non_null(k);
    assert_int_equal(k->cpu_only, 0);
    //  51 recipients in to + cc + bcc.
    json_t *c = s_json("{\"to\":[],\"cc\":\"c@x.test\",\"template\":\"t\"}");
    for (int i = 0; i < 50; i++) {
        char a[32];
        snprintf(a, sizeof a, "u%d@x.test", i);
        json_array_append_new(json_object_get(c, "to"), json_string(a));
    }
    char err[256] = "";
    assert_int_not_equal(k->validate(c, err, sizeof err), 0);
    assert_non_null(strstr(err, "at most 50 recipients"));
    json_object_del(c, "cc");
    assert_int_equal(k->validate(c, err, sizeof err), 0);
    json_decref(c);
}

// =========================================================================
//  Delivery
// =========================================================================

static void
test_plain_message_headers_and_envelope(void **state)
{
    (void)state;
    s_env_t env;
    s_env_mail(&env);
    size_t n = s_mail_count();
    zf_step_result_t res = s_run(
        &env, "send_email",
        s_json("{\"to\":[\"Ann Smith <ann@x.test>\",\"bob@x.test\"],\"cc\":\"carol@x.test\","
               "\"bcc\":[\"dave@x.test\",\"BOB@x.test\"],\"subject\":\"Welcome, Ann\","
               "\"body\":\"Hi Ann,\\n\\nThanks for signing up!\\n.\\n..two\\n.hidden\\nend\"}"));
    assert_int_equal(res.status, ZF_STEP_OK);
    json_t *want = s_json("{\"message_id\":\"<run-1.node-1@zflow>\",\"accepted\":[\"ann@x.test\","
                          "\"bob@x.test\",\"carol@x.test\",\"dave@x.test\"],\"rejected\":[]}");
    assert_true(json_equal(res.output, want));
    json_decref(want);
    json_t *m = s_last_mail(n + 1);
    s_assert_wire_ok(m);
    assert_string_equal(s_str(m, "mail_from"), "robot@zflow.test");
    want = s_json("[\"ann@x.test\",\"bob@x.test\",\"carol@x.test\",\"dave@x.test\"]");
    assert_true(json_equal(json_object_get(m, "rcpt_tos"), want));
    json_decref(want);
    //  Bcc is envelope-only.
    assert_int_equal(s_header_count(m, "Bcc"), 0);
    assert_null(strstr(s_str(m, "data"), "dave@x.test"));
    assert_string_equal(s_parsed(m, "from"), "robot@zflow.test");
    assert_string_equal(s_parsed(m, "to"), "Ann Smith <ann@x.test>, bob@x.test");
    assert_string_equal(s_parsed(m, "cc"), "carol@x.test");
    assert_string_equal(s_parsed(m, "subject"), "Welcome, Ann");
    assert_string_equal(s_parsed(m, "message_id"), "<run-1.node-1@zflow>");
    assert_string_equal(s_parsed(m, "date"), "Tue, 14 Nov 2023 22:13:20 +0000");
    assert_string_equal(s_parsed(m, "content_type"), "text/plain");
    assert_int_equal(s_header_count(m, "MIME-Version"), 1);
    assert_int_equal(s_header_count(m, "Auto-Submitted"), 1);
    assert_int_equal(s_header_count(m, "Reply-To"), 0);
    //  Lines of dots survive libcurl's dot-stuffing and the server's undoing.
    const json_t *p = s_part(m, 0);
    assert_string_equal(s_str(p, "charset"), "utf-8");
    assert_string_equal(s_str(p, "cte"), "quoted-printable");
    assert_string_equal(
        s_str(p, "content"),
        "Hi Ann,\r\n\r\nThanks for signing up!\r\n.\r\n..two\r\n.hidden\r\nend\r\n");
    json_decref(m);
    zf_step_result_clear(&res);
    s_env_free(&env);
}

static void
test_header_injection_is_stripped(void **state)
{
    (void)state;
    s_env_t env;
    s_env_mail(&env);
    size_t n = s_mail_count();
    zf_step_result_t res =
        s_run(&env, "send_email",
              s_json("{\"to\":\"Eve\\r\\nBcc: evil@x.test <eve@x.test>\","
                     "\"from\":\"Robot\\nX-Injected: yes <robot@zflow.test>\","
                     "\"reply_to\":\"Help\\r\\n\\r\\nbody <help@x.test>\","
                     "\"subject\":\"Hi\\r\\nBcc: evil@x.test\\r\\nX-Evil: 1\\n\\nfake body\","
                     "\"body\":\"ok\"}"));
    assert_int_equal(res.status, ZF_STEP_OK);
    json_t *m = s_last_mail(n + 1);
    s_assert_wire_ok(m);
    assert_int_equal(s_header_count(m, "Bcc"), 0);
    assert_int_equal(s_header_count(m, "X-Evil"), 0);
    assert_int_equal(s_header_count(m, "X-Injected"), 0);
    assert_false(s_array_has(json_object_get(m, "rcpt_tos"), "evil@x.test"));
    assert_string_equal(s_parsed(m, "subject"), "Hi Bcc: evil@x.test X-Evil: 1 fake body");
    assert_string_equal(s_parsed(m, "to"), "\"Eve Bcc: evil@x.test\" <eve@x.test>");
    assert_string_equal(s_parsed(m, "from"), "\"Robot X-Injected: yes\" <robot@zflow.test>");
    assert_string_equal(s_parsed(m, "reply_to"), "Help body <help@x.test>");
    assert_string_equal(s_str(s_part(m, 0), "content"), "ok\r\n");
    json_decref(m);
    zf_step_result_clear(&res);
    //  CR/LF inside an address is refused outright, and nothing is sent.
    res = s_run(&env, "send_email",
                s_json("{\"to\":\"eve@x.test\\r\\nBcc: evil@x.test\",\"subject\":\"s\","
                       "\"body\":\"b\"}"));
    assert_int_equal(res.status, ZF_STEP_FAIL_FINAL);
    assert_non_null(strstr(res.error, "email_delivery_failed: config.to[0]: invalid email"));
    assert_int_equal(s_mail_count(), n + 1);
    zf_step_result_clear(&res);
    s_env_free(&env);
}

static void
test_non_ascii_subject_and_names_are_encoded(void **state)
{
    (void)state;
    s_env_t env;
    s_env_mail(&env);
    size_t n = s_mail_count();
    const char *subject = "Grüße aus Köln — 東京の注文 #42 ✓ ещё одно длинное предложение";
    char cfg[1024];
    snprintf(cfg, sizeof cfg,
             "{\"to\":\"Zoë Ünal <zoe@x.test>\",\"from\":\"Café Bot <cafe@x.test>\","
             "\"subject\":\"%s\",\"body\":\"Ça va? 東京\"}",
             subject);
    zf_step_result_t res = s_run(&env, "send_email", s_json(cfg));
    assert_int_equal(res.status, ZF_STEP_OK);
    json_t *m = s_last_mail(n + 1);
    s_assert_wire_ok(m);
    const char *d = s_str(m, "data");
    assert_non_null(strstr(d, "\r\nSubject: =?UTF-8?B?"));
    assert_non_null(strstr(d, "?=\r\n =?UTF-8?B?"));  // long: several folded words
    assert_string_equal(s_parsed(m, "subject"), subject);
    assert_string_equal(s_parsed(m, "to"), "Zoë Ünal <zoe@x.test>");
    assert_string_equal(s_parsed(m, "from"), "Café Bot <cafe@x.test>");
    assert_string_equal(s_str(m, "mail_from"), "cafe@x.test");
    assert_string_equal(s_str(s_part(m, 0), "content"), "Ça va? 東京\r\n");
    json_decref(m);
    zf_step_result_clear(&res);
    s_env_free(&env);
}

static void
test_html_makes_multipart_alternative(void **state)
{
    (void)state;
    s_env_t env;
    s_env_mail(&env);
    size_t n = s_mail_count();
    zf_step_result_t res = s_run(
        &env, "send_email",
        s_json(
            "{\"to\":\"a@x.test\",\"subject\":\"Report\",\"body\":\"Total: 5 = 2 + 3\","
            "\"html\":\"<p style=\\\"color:red\\\">Total: <b>5</b></p>\\n--=_zflow_alt_part\"}"));
    assert_int_equal(res.status, ZF_STEP_OK);
    json_t *m = s_last_mail(n + 1);
    s_assert_wire_ok(m);
    assert_string_equal(s_parsed(m, "content_type"), "multipart/alternative");
    assert_int_equal(json_array_size(json_object_get(json_object_get(m, "parsed"), "parts")), 2);
    assert_string_equal(s_str(s_part(m, 0), "type"), "text/plain");
    assert_string_equal(s_str(s_part(m, 0), "content"), "Total: 5 = 2 + 3\r\n");
    assert_string_equal(s_str(s_part(m, 1), "type"), "text/html");
    //  A body line that looks like the boundary cannot end the part.
    assert_string_equal(s_str(s_part(m, 1), "content"),
                        "<p style=\"color:red\">Total: <b>5</b></p>\r\n--=_zflow_alt_part\r\n");
    json_decref(m);
    zf_step_result_clear(&res);
    //  html alone: a single text/html part.
    res = s_run(&env, "send_email",
                s_json("{\"to\":\"a@x.test\",\"subject\":\"H\",\"html\":\"<i>x</i>\"}"));
    assert_int_equal(res.status, ZF_STEP_OK);
    m = s_last_mail(n + 2);
    assert_string_equal(s_parsed(m, "content_type"), "text/html");
    assert_string_equal(s_str(s_part(m, 0), "content"), "<i>x</i>\r\n");
    json_decref(m);
    zf_step_result_clear(&res);
    s_env_free(&env);
}

static void
test_template_renders_data_lines(void **state)
{
    (void)state;
    s_env_t env;
    s_env_mail(&env);
    env.ctx.smtp_from = NULL;
    size_t n = s_mail_count();
    zf_step_result_t res =
        s_run(&env, "send_email",
              s_json("{\"to\":\"a@x.test\",\"template\":\"welcome_email\",\"data\":{\"first_name\":"
                     "\"Ann\",\"company\":\"Acme\",\"seats\":3,\"tags\":[\"a\",\"b\"]}}"));
    assert_int_equal(res.status, ZF_STEP_OK);
    json_t *m = s_last_mail(n + 1);
    s_assert_wire_ok(m);
    assert_string_equal(s_str(m, "mail_from"), "zflow@localhost");
    assert_string_equal(s_parsed(m, "subject"), "welcome_email");
    assert_string_equal(s_str(s_part(m, 0), "content"),
                        "first_name: Ann\r\ncompany: Acme\r\nseats: 3\r\ntags: [\"a\",\"b\"]\r\n");
    json_decref(m);
    zf_step_result_clear(&res);
    //  A template with its own subject and numbers rendered from "{{x}}".
    res = s_run(&env, "send_email",
                s_json("{\"to\":\"a@x.test\",\"template\":\"t\",\"subject\":42,\"body\":true,"
                       "\"reply_to\":\"Help Desk <help@x.test>\"}"));
    assert_int_equal(res.status, ZF_STEP_OK);
    m = s_last_mail(n + 2);
    assert_string_equal(s_parsed(m, "subject"), "42");
    assert_string_equal(s_parsed(m, "reply_to"), "Help Desk <help@x.test>");
    assert_string_equal(s_str(s_part(m, 0), "content"), "true\r\n");
    json_decref(m);
    zf_step_result_clear(&res);
    s_env_free(&env);
}

static void
test_long_lines_and_stable_message_id(void **state)
{
    (void)state;
    s_env_t env;
    s_env_mail(&env);
    size_t n = s_mail_count();
    char body[6000];
    size_t o = 0;
    for (int i = 0; o < 2500; i++)
        o += (size_t)snprintf(body + o, sizeof body - o, "word%d ", i);
    body[o++] = '\n';
    for (int i = 0; i < 2000; i++)
        body[o++] = i % 7 == 0 ? '=' : 'x';
    snprintf(body + o, sizeof body - o, "\ttrailing tab and space \t \nlast");
    json_t *cfg = s_json("{\"to\":\"a@x.test\",\"subject\":\"long\"}");
    json_object_set_new(cfg, "body", json_string(body));
    zf_step_result_t res = s_run(&env, "send_email", json_deep_copy(cfg));
    assert_int_equal(res.status, ZF_STEP_OK);
    json_t *m = s_last_mail(n + 1);
    s_assert_wire_ok(m);  // every line ≤ 78 characters
    //  The decoded text is the original with CRLF line ends.
    char want[6100];
    size_t w = 0;
    for (size_t i = 0; body[i]; i++) {
        if (body[i] == '\n') want[w++] = '\r';
        want[w++] = body[i];
    }
    snprintf(want + w, sizeof want - w, "\r\n");
    assert_string_equal(s_str(s_part(m, 0), "content"), want);
    json_decref(m);
    //  A retry (attempt 2) carries the same Message-ID.
    env.ctx.attempt = 2;
    zf_step_result_t again = s_run(&env, "send_email", cfg);
    assert_int_equal(again.status, ZF_STEP_OK);
    assert_string_equal(s_str(again.output, "message_id"), s_str(res.output, "message_id"));
    m = s_last_mail(n + 2);
    assert_string_equal(s_parsed(m, "message_id"), "<run-1.node-1@zflow>");
    json_decref(m);
    zf_step_result_clear(&again);
    zf_step_result_clear(&res);
    s_env_free(&env);
}

// =========================================================================
//  Failures
// =========================================================================

static void
test_rejected_recipients(void **state)
{
    (void)state;
    s_env_t env;
    s_env_mail(&env);
    size_t n = s_mail_count();
    //  One refused: the others still get it, the output says who did not.
    zf_step_result_t res =
        s_run(&env, "send_email",
              s_json("{\"to\":[\"good@x.test\",\"bad@x.test\"],\"bcc\":\"busy@x.test\","
                     "\"subject\":\"s\",\"body\":\"b\"}"));
    assert_int_equal(res.status, ZF_STEP_OK);
    json_t *want = s_json("{\"message_id\":\"<run-1.node-1@zflow>\",\"accepted\":[\"good@x.test\"],"
                          "\"rejected\":[\"bad@x.test\",\"busy@x.test\"]}");
    assert_true(json_equal(res.output, want));
    json_decref(want);
    json_t *m = s_last_mail(n + 1);
    want = s_json("[\"good@x.test\"]");
    assert_true(json_equal(json_object_get(m, "rcpt_tos"), want));
    json_decref(want);
    json_decref(m);
    zf_step_result_clear(&res);
    //  Every recipient refused with 5xx: final, nothing delivered.
    res = s_run(&env, "send_email",
                s_json("{\"to\":[\"bad@x.test\",\"worse@x.test\"],\"subject\":\"s\","
                       "\"body\":\"b\"}"));
    assert_int_equal(res.status, ZF_STEP_FAIL_FINAL);
    assert_non_null(strstr(res.error, "email_delivery_failed: server refused: 550"));
    assert_null(res.output);
    zf_step_result_clear(&res);
    //  A 4xx reply: retryable.
    res = s_run(&env, "send_email",
                s_json("{\"to\":\"busy@x.test\",\"subject\":\"s\",\"body\":\"b\"}"));
    assert_int_equal(res.status, ZF_STEP_FAIL);
    assert_non_null(strstr(res.error, "email_delivery_failed: server deferred: 451"));
    zf_step_result_clear(&res);
    assert_int_equal(s_mail_count(), n + 1);
    s_env_free(&env);
}

static void
test_unconfigured_and_bad_url(void **state)
{
    (void)state;
    s_env_t env;
    s_env_mail(&env);
    const char *cfg = "{\"to\":\"a@x.test\",\"subject\":\"s\",\"body\":\"b\"}";
    const char *urls[] = {NULL, ""};
    for (size_t i = 0; i < 2; i++) {
        env.ctx.smtp_url = urls[i];
        zf_step_result_t res = s_run(&env, "send_email", s_json(cfg));
        assert_int_equal(res.status, ZF_STEP_FAIL_FINAL);
        assert_string_equal(res.error, "email_delivery_failed: email is not configured: start "
                                       "zflow with --smtp-url");
        zf_step_result_clear(&res);
    }
    env.ctx.smtp_url = "http://127.0.0.1:9/";
    zf_step_result_t res = s_run(&env, "send_email", s_json(cfg));
    assert_int_equal(res.status, ZF_STEP_FAIL_FINAL);
    assert_non_null(strstr(res.error, "email_delivery_failed: --smtp-url must be"));
    zf_step_result_clear(&res);
    //  exec re-validates the rendered config.
    env.ctx.smtp_url = s_smtp_url;
    res = s_run(&env, "send_email", s_json("{\"to\":\"not rendered\",\"template\":\"t\"}"));
    assert_int_equal(res.status, ZF_STEP_FAIL_FINAL);
    assert_non_null(strstr(res.error, "email_delivery_failed: config.to[0]: invalid email"));
    zf_step_result_clear(&res);
    res = s_run(&env, "send_email", s_json("{\"to\":\"{{record.email}}\",\"template\":\"t\"}"));
    assert_int_equal(res.status, ZF_STEP_FAIL_FINAL);
    zf_step_result_clear(&res);
    s_env_free(&env);
}

static void
test_transport_errors_are_retryable(void **state)
{
    (void)state;
    s_env_t env;
    char url[64];
    int port;
    s_env_mail(&env);
    const char *cfg = "{\"to\":\"a@x.test\",\"subject\":\"s\",\"body\":\"b\"}";
    s_dead_port(0, &port);
    snprintf(url, sizeof url, "smtp://127.0.0.1:%d", port);
    env.ctx.smtp_url = url;
    zf_step_result_t res = s_run(&env, "send_email", s_json(cfg));
    assert_int_equal(res.status, ZF_STEP_FAIL);
    assert_non_null(strstr(res.error, "email_delivery_failed: "));
    zf_step_result_clear(&res);
    //  A server that never greets: the node timeout applies.
    int fd = s_dead_port(1, &port);
    snprintf(url, sizeof url, "smtp://127.0.0.1:%d", port);
    env.ctx.timeout_ms = 300;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    res = s_run(&env, "send_email", s_json(cfg));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_int_equal(res.status, ZF_STEP_FAIL);
    assert_string_equal(res.error, "email_delivery_failed: timeout after 300 ms");
    assert_true((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 < 3000);
    zf_step_result_clear(&res);
    close(fd);
    s_env_free(&env);
}

// =========================================================================
//  Attachments
// =========================================================================

static void
test_validate_attachments(void **state)
{
    (void)state;
    static const s_vcase_t cases[] = {
        {"{'to':'a@x.test','subject':'s','body':'b','attachments':[{'filename':'a.pdf',"
         "'content':'JVBERi0=','contentType':'application/pdf'},{'filename':'b','content':''}]}",
         NULL},
        {"{'to':'a@x.test','subject':'s','body':'b','attachments':'{{steps.gen.files}}'}", NULL},
        {"{'to':'a@x.test','subject':'s','body':'b','attachments':['{{steps.gen}}',"
         "{'filename':'{{x}}','content':'{{steps.gen.content}}','contentType':'{{t}}'}]}",
         NULL},
        {"{'to':'a@x.test','subject':'s','body':'b','attachments':null}", NULL},
        {"{'to':'a@x.test','subject':'s','body':'b','attachments':{}}",
         "config.attachments: must be an array of at most 10 attachments"},
        {"{'to':'a@x.test','subject':'s','body':'b','attachments':[1]}",
         "config.attachments[0]: must be an object"},
        {"{'to':'a@x.test','subject':'s','body':'b','attachments':[{'content':'QQ=='}]}",
         "config.attachments[0].filename: must be a string of 1 to 255 bytes"},
        {"{'to':'a@x.test','subject':'s','body':'b','attachments':[{'filename':'','content':''}]}",
         "config.attachments[0].filename"},
        {"{'to':'a@x.test','subject':'s','body':'b','attachments':[{'filename':'a','content':'QQ=='"
         "},"
         "{'filename':'b','content':'not base64!'}]}",
         "config.attachments[1].content: invalid base64"},
        {"{'to':'a@x.test','subject':'s','body':'b','attachments':[{'filename':'a'}]}",
         "config.attachments[0].content: must be a base64 string"},
        {"{'to':'a@x.test','subject':'s','body':'b','attachments':[{'filename':'a','content':'',"
         "'contentType':'pdf'}]}",
         "config.attachments[0].contentType: must be a MIME type"},
        {"{'to':'a@x.test','subject':'s','body':'b','attachments':[{'filename':'a','content':'',"
         "'contentType':'text/plain\\r\\nBcc: e@x.test'}]}",
         "config.attachments[0].contentType"},
    };
    CHECK_VALIDATE("send_email", cases);
    CHECK_VALIDATE("email", cases);
    //  At most 10 attachments and 10 MiB decoded.
    const zf_step_kind_t *k = zf_step_find("send_email");
    json_t *c = s_json("{\"to\":\"a@x.test\",\"subject\":\"s\",\"body\":\"b\",\"attachments\":[]}");
    json_t *list = json_object_get(c, "attachments");
    for (int i = 0; i < 11; i++)
        json_array_append_new(list, json_pack("{s:s, s:s}", "filename", "f", "content", "QQ=="));
    char err[256] = "";
    assert_int_not_equal(k->validate(c, err, sizeof err), 0);
    assert_string_equal(err, "config.attachments: must be an array of at most 10 attachments");
    json_array_clear(list);
    size_t big = 10 * 1024 * 1024;  // decoded bytes
    char *b64 = malloc(big / 3 * 4 + 8);
    memset(b64, 'A', big / 3 * 4);
    strcpy(b64 + big / 3 * 4, "AA==");  // big / 3 * 3 + 1 = big bytes exactly
    json_array_append_new(list, json_pack("{s:s, s:s}", "filename", "f", "content", b64));
    assert_int_equal(k->validate(c, err, sizeof err), 0);
    json_array_append_new(list, json_pack("{s:s, s:s}", "filename", "g", "content", "QQ=="));
    assert_int_not_equal(k->validate(c, err, sizeof err), 0);
    assert_string_equal(err, "config.attachments: at most 10 MiB of decoded content in all (got "
                             "10485761 bytes)");
    free(b64);
    json_decref(c);
}

static void
test_attachments_make_multipart_mixed(void **state)
{
    (void)state;
    s_env_t env;
    s_env_mail(&env);
    size_t n = s_mail_count();
    //  Text attachments: the sink's parser can show their content.
    zf_step_result_t res =
        s_run(&env, "send_email",
              s_json("{\"to\":\"a@x.test\",\"subject\":\"Files\",\"body\":\"See the files.\","
                     "\"html\":\"<p>See the files.</p>\",\"attachments\":["
                     "{\"filename\":\"data.csv\",\"content\":\"YSxiDQoxLDINCg==\","
                     "\"contentType\":\"text/csv; charset=utf-8\"},"
                     "{\"filename\":\"Grüße\\r\\nBcc: evil@x.test.txt\",\"content\":\"aMOpIQ\\n\","
                     "\"contentType\":\"text/plain; charset=utf-8\"}]}"));
    assert_int_equal(res.status, ZF_STEP_OK);
    json_t *m = s_last_mail(n + 1);
    s_assert_wire_ok(m);
    assert_string_equal(s_parsed(m, "content_type"), "multipart/mixed");
    assert_int_equal(json_array_size(json_object_get(json_object_get(m, "parsed"), "parts")), 4);
    assert_string_equal(s_str(s_part(m, 0), "type"), "text/plain");
    assert_string_equal(s_str(s_part(m, 0), "content"), "See the files.\r\n");
    assert_string_equal(s_str(s_part(m, 1), "type"), "text/html");
    assert_string_equal(s_str(s_part(m, 2), "type"), "text/csv");
    assert_string_equal(s_str(s_part(m, 2), "cte"), "base64");
    assert_string_equal(s_str(s_part(m, 2), "content"), "a,b\r\n1,2\r\n");
    assert_string_equal(s_str(s_part(m, 3), "content"), "hé!");
    assert_int_equal(s_header_count(m, "Bcc"), 0);
    assert_false(s_array_has(json_object_get(m, "rcpt_tos"), "evil@x.test"));
    const char *d = s_str(m, "data");
    assert_non_null(strstr(d, "filename=\"data.csv\""));
    assert_non_null(strstr(d, "filename*0*=UTF-8''Gr%C3%BC%C3%9FeBcc%3A%20evil%40x.test.txt"));
    json_decref(m);
    zf_step_result_clear(&res);
    //  Invalid base64 after rendering: final, nothing sent.
    res = s_run(&env, "send_email",
                s_json("{\"to\":\"a@x.test\",\"subject\":\"s\",\"body\":\"b\",\"attachments\":"
                       "[{\"filename\":\"x\",\"content\":\"{{steps.gen.content}}\"}]}"));
    assert_int_equal(res.status, ZF_STEP_FAIL_FINAL);
    assert_string_equal(res.error, "email_delivery_failed: config.attachments[0].content: invalid "
                                   "base64");
    zf_step_result_clear(&res);
    assert_int_equal(s_mail_count(), n + 1);
    s_env_free(&env);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_plain_message_headers_and_envelope),
        cmocka_unit_test(test_header_injection_is_stripped),
        cmocka_unit_test(test_non_ascii_subject_and_names_are_encoded),
        cmocka_unit_test(test_html_makes_multipart_alternative),
        cmocka_unit_test(test_template_renders_data_lines),
        cmocka_unit_test(test_long_lines_and_stable_message_id),
        cmocka_unit_test(test_rejected_recipients),
        cmocka_unit_test(test_unconfigured_and_bad_url),
        cmocka_unit_test(test_transport_errors_are_retryable),
        cmocka_unit_test(test_validate_attachments),
        cmocka_unit_test(test_attachments_make_multipart_mixed),
    };
    return cmocka_run_group_tests(tests, s_smtp_start, s_smtp_stop);
}
