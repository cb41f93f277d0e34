/*  tests/mime_test.c — message building (actors/mime.h): mailboxes,
    base64, content types, and whole messages with attachments.

    Messages are checked on the wire (CRLF only, 7-bit, line lengths,
    base64 lines of 76 characters, boundaries) and handed to an
    independent parser, Python's email package (policy=default, run by
    Debian's /usr/bin/python3), which reports the attachments it finds
    (file name, type, SHA-256 of the decoded bytes), the bodies and every
    defect.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "actors/mime.h"

#include <jansson.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define T0 1700000000000LL  // 2023-11-14T22:13:20Z

//  Prints what Python's email package makes of the message in argv[1].
static const char s_oracle[] =
    "import sys, json, email, email.policy, hashlib\n"
    "m = email.message_from_bytes(open(sys.argv[1], 'rb').read(), policy=email.policy.default)\n"
    "d = [repr(x) for p in m.walk() for x in p.defects]\n"
    "atts = []\n"
    "for a in m.iter_attachments():\n"
    "    data = a.get_payload(decode=True)\n"
    "    atts.append({'filename': a.get_filename(), 'type': a.get_content_type(),\n"
    "                 'params': dict(a['content-type'].params), 'cte': "
    "a['content-transfer-encoding'],\n"
    "                 'disposition': a.get_content_disposition(),\n"
    "                 'sha256': hashlib.sha256(data).hexdigest(), 'len': len(data)})\n"
    "b, h = m.get_body(('plain',)), m.get_body(('html',))\n"
    "print(json.dumps({'type': m.get_content_type(), 'defects': d, 'attachments': atts,\n"
    "                  'text': b.get_content() if b else None, 'html': h.get_content() if h else "
    "None,\n"
    "                  'subject': str(m['subject']), 'headers': [k for k, v in m.raw_items()]}))\n";

// =========================================================================
//  Helpers
// =========================================================================

//  Python's view of a message (new ref).
static json_t *
s_parse(const char *msg)
{
    char path[] = "/tmp/zf-mime-XXXXXX", script[] = "/tmp/zf-mime-py-XXXXXX", cmd[200];
    int fd = mkstemp(path), sfd = mkstemp(script);
    assert_true(fd >= 0 && sfd >= 0);
    assert_int_equal(write(fd, msg, strlen(msg)), (ssize_t)strlen(msg));
    assert_int_equal(write(sfd, s_oracle, sizeof s_oracle - 1), (ssize_t)(sizeof s_oracle - 1));
    close(fd);
    close(sfd);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s %s", script, path);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    json_error_t e;
    json_t *j = json_loadf(f, 0, &e);
    assert_int_equal(pclose(f), 0);
    unlink(path);
    unlink(script);
    if (!j) fail_msg("oracle output: %s", e.text);
    return j;
}

//  CRLF only, 7-bit, lines of at most max characters.
static void
s_assert_wire(const char *d, size_t max)
{
    size_t col = 0;
    for (size_t i = 0; d[i]; i++) {
        assert_true((unsigned char)d[i] < 0x80 && d[i] != '\0');
        if (d[i] == '\n') {
            assert_true(i > 0 && d[i - 1] == '\r');
            col = 0;
        } else if (d[i] != '\r' && ++col > max) {
            fail_msg("line longer than %zu at offset %zu: %.100s", max, i, d + i - col + 1);
        }
    }
}

static void
s_sha256_hex(const void *p, size_t n, char hex[65])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(p, n, md);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

static const json_t *
s_att(const json_t *parsed, size_t i)
{
    return json_array_get(json_object_get(parsed, "attachments"), i);
}

static const char *
s_str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

// =========================================================================
//  Pieces
// =========================================================================

static void
test_mailbox_parse(void **state)
{
    (void)state;
    zf_mime_mailbox_t mb;
    assert_int_equal(zf_mime_mailbox_parse("  a.b+c@x-y.test ", &mb), 0);
    assert_string_equal(mb.addr, "a.b+c@x-y.test");
    assert_string_equal(mb.name, "");
    assert_int_equal(zf_mime_mailbox_parse("\"Ann\\\" \r\n Smith\" <ann@x.test>", &mb), 0);
    assert_string_equal(mb.name, "Ann Smith");
    assert_string_equal(mb.addr, "ann@x.test");
    const char *bad[] = {"",
                         "nobody",
                         "a@",
                         "@x.test",
                         "a@@x.test",
                         "a b@x.test",
                         "a@x..test",
                         "a@-x.test",
                         ".a@x.test",
                         "a..b@x.test",
                         "<a@x.test",
                         "a@x.test>",
                         "a@x.test\r\nBcc: e@x.test",
                         "a@x_y.test",
                         NULL};
    for (size_t i = 0; bad[i]; i++)
        if (zf_mime_mailbox_parse(bad[i], &mb) == 0) fail_msg("'%s' parsed", bad[i]);
    assert_int_equal(zf_mime_mailbox_parse(NULL, &mb), -1);
}

static void
test_base64(void **state)
{
    (void)state;
    unsigned char data[300];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (unsigned char)(i * 37 + 11);
    //  Round trips of every length 0..299, also with line breaks and
    //  without padding.
    for (size_t n = 0; n < sizeof data; n++) {
        char *b64 = zf_mime_b64_encode(data, n);
        assert_int_equal(strlen(b64), (n + 2) / 3 * 4);
        size_t len = 99, checked = 0;
        assert_int_equal(zf_mime_b64_check(b64, strlen(b64), &checked), 0);
        assert_int_equal(checked, n);
        unsigned char *back = zf_mime_b64_decode(b64, strlen(b64), &len);
        assert_int_equal(len, n);
        assert_memory_equal(back, data, n);
        free(back);
        char wrapped[600] = "";
        size_t o = 0, k = strlen(b64);
        while (k > 0 && b64[k - 1] == '=')
            k--;
        for (size_t i = 0; i < k; i++) {
            wrapped[o++] = b64[i];
            if (i % 10 == 9) wrapped[o++] = i % 20 == 19 ? '\n' : ' ';
        }
        back = zf_mime_b64_decode(wrapped, o, &len);
        assert_non_null(back);
        assert_int_equal(len, n);
        assert_memory_equal(back, data, n);
        free(back);
        free(b64);
    }
    char *man = zf_mime_b64_encode("Man", 3);
    assert_string_equal(man, "TWFu");
    free(man);
    const char *bad[] = {"A",        "AB=C",  "A===",  "QQ=",      "QQ===", "$$$$",
                         "QQ==QQ==", "QUJD-", "QUJD_", "QQ==\x01", "====",  NULL};
    for (size_t i = 0; bad[i]; i++) {
        size_t n = 0;
        if (zf_mime_b64_check(bad[i], strlen(bad[i]), &n) == 0) fail_msg("'%s' accepted", bad[i]);
        assert_null(zf_mime_b64_decode(bad[i], strlen(bad[i]), &n));
    }
}

static void
test_content_types(void **state)
{
    (void)state;
    const char *good[] = {"application/pdf",
                          "text/csv; charset=utf-8",
                          "text/plain;charset=\"utf-8\"",
                          "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                          "image/svg+xml",
                          "multipart/x-y; a=b; c=\"d e\"",
                          NULL};
    const char *bad[] = {"",
                         "pdf",
                         "application/",
                         "/pdf",
                         "text/plain\r\nBcc: x@x.test",
                         "text/plain; charset",
                         "a/b; c=\"unterminated",
                         "a/b; c=\"x\\\"y\"",
                         "a b/c",
                         "a/b;",
                         "a/b; c=d e",
                         "text/plain; charset=utf-8\n",
                         NULL};
    for (size_t i = 0; good[i]; i++)
        if (!zf_mime_type_ok(good[i])) fail_msg("'%s' refused", good[i]);
    for (size_t i = 0; bad[i]; i++)
        if (zf_mime_type_ok(bad[i])) fail_msg("'%s' accepted", bad[i]);
    char longest[200] = "application/";
    memset(longest + 12, 'x', ZF_MIME_TYPE_MAX - 12);
    assert_true(zf_mime_type_ok(longest));
    strcat(longest, "x");
    assert_false(zf_mime_type_ok(longest));
    assert_false(zf_mime_type_ok(NULL));
}

// =========================================================================
//  Messages
// =========================================================================

static void
test_attachments_structure(void **state)
{
    (void)state;
    zf_mime_mailbox_t from, to[2];
    assert_int_equal(zf_mime_mailbox_parse("Robot <robot@x.test>", &from), 0);
    assert_int_equal(zf_mime_mailbox_parse("Ann <ann@x.test>", &to[0]), 0);
    assert_int_equal(zf_mime_mailbox_parse("bob@x.test", &to[1]), 0);
    static unsigned char pdf[5000], csv[] = "a,b\r\n1,2\r\n";
    for (size_t i = 0; i < sizeof pdf; i++)
        pdf[i] = (unsigned char)(i * 7 + i / 256);
    const char *long_name = "Überweisung für März 2024 – Bestätigung «final» ✓ with a very "
                            "long name that needs continuations (copy).pdf";
    zf_mime_attachment_t att[] = {
        {"report.pdf", "application/pdf", pdf, sizeof pdf},
        {long_name, "application/pdf", pdf, 100},
        {"../evil\"\r\nBcc: eve@x.test\r\n.txt", "text/csv; charset=utf-8", csv, sizeof csv - 1},
        {"", NULL, pdf, 0},
        {"a;b=c 'quoted' %41.bin",
         "application/vnd.openxmlformats-officedocument.presentationml"
         ".presentation",
         pdf, 1},
    };
    zf_mime_message_t m = {.date_ms = T0,
                           .from = &from,
                           .to = to,
                           .n_to = 2,
                           .subject = "Your documents",
                           .message_id = "<run-1.node-1@zflow>",
                           .text = "See attached.\n",
                           .html = "<p>See attached.</p>",
                           .attachments = att,
                           .n_attachments = 5};
    size_t len = 0;
    char *msg = zf_mime_build(&m, &len);
    assert_int_equal(len, strlen(msg));
    s_assert_wire(msg, 78);
    assert_non_null(
        strstr(msg, "\r\nContent-Type: multipart/mixed; boundary=\"=_zflow_mixed_part\""));
    //  The body (the alternatives) comes before the first attachment.
    char *alt = strstr(msg, "Content-Type: multipart/alternative");
    assert_true(alt && alt < strstr(msg, "Content-Type: application/pdf"));
    //  Base64 lines of exactly 76 characters but the last of each part.
    char *b = strstr(msg, "filename=\"report.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n");
    assert_non_null(b);
    b = strstr(b, "\r\n\r\n") + 4;
    size_t full = 0;
    for (char *eol; (eol = strstr(b, "\r\n")) && eol > b; b = eol + 2) {
        if (eol - b != 76) {
            assert_true(eol - b < 76 && strncmp(eol, "\r\n\r\n--=_zflow_mixed_part", 24) == 0);
        } else {
            full++;
        }
    }
    assert_int_equal(full, sizeof pdf / 57);
    //  Nothing in a file name starts a header or a part.
    for (char *p = msg; (p = strstr(p, "\r\n")); p += 2)
        assert_false(strncmp(p + 2, "Bcc:", 4) == 0 || strncmp(p + 2, ".txt", 4) == 0);
    //  What an independent parser sees.
    json_t *j = s_parse(msg);
    assert_int_equal(json_array_size(json_object_get(j, "defects")), 0);
    assert_string_equal(s_str(j, "type"), "multipart/mixed");
    assert_string_equal(s_str(j, "text"), "See attached.\r\n");
    assert_string_equal(s_str(j, "html"), "<p>See attached.</p>\r\n");
    assert_int_equal(json_array_size(json_object_get(j, "attachments")), 5);
    const char *names[] = {"report.pdf", long_name, ".._evil\"Bcc: eve@x.test.txt", "attachment",
                           "a;b=c 'quoted' %41.bin"};
    for (size_t i = 0; i < 5; i++) {
        char hex[65];
        const json_t *a = s_att(j, i);
        s_sha256_hex(att[i].data, att[i].len, hex);
        assert_string_equal(s_str(a, "filename"), names[i]);
        assert_string_equal(s_str(a, "sha256"), hex);
        assert_string_equal(s_str(a, "disposition"), "attachment");
        assert_string_equal(s_str(a, "cte"), "base64");
    }
    assert_string_equal(s_str(s_att(j, 0), "type"), "application/pdf");
    assert_string_equal(s_str(json_object_get(s_att(j, 0), "params"), "name"), "report.pdf");
    assert_string_equal(s_str(json_object_get(s_att(j, 1), "params"), "name"), long_name);
    assert_string_equal(s_str(s_att(j, 2), "type"), "text/csv");
    assert_string_equal(s_str(json_object_get(s_att(j, 2), "params"), "charset"), "utf-8");
    assert_string_equal(s_str(s_att(j, 3), "type"), "application/octet-stream");
    assert_int_equal(json_integer_value(json_object_get(s_att(j, 3), "len")), 0);
    assert_string_equal(
        s_str(s_att(j, 4), "type"),
        "application/vnd.openxmlformats-officedocument.presentationml.presentation");
    //  The long name went out as RFC 2231 continuations.
    assert_non_null(strstr(msg, "Content-Disposition: attachment;\r\n filename*0*=UTF-8''%C3%9C"));
    assert_non_null(strstr(msg, ";\r\n filename*1*="));
    json_decref(j);
    free(msg);
}

static void
test_plain_message_without_attachments(void **state)
{
    (void)state;
    zf_mime_mailbox_t from;
    assert_int_equal(zf_mime_mailbox_parse("robot@x.test", &from), 0);
    zf_mime_message_t m = {.date_ms = T0,
                           .from = &from,
                           .to = &from,
                           .n_to = 1,
                           .subject = NULL,
                           .message_id = "<a@zflow>"};
    char *msg = zf_mime_build(&m, NULL);
    s_assert_wire(msg, 78);
    assert_non_null(strstr(msg, "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\nFrom: robot@x.test\r\n"
                                "To: robot@x.test\r\nSubject: \r\nMessage-ID: <a@zflow>\r\n"));
    assert_non_null(strstr(msg, "Content-Type: text/plain; charset=utf-8\r\n"));
    assert_null(strstr(msg, "multipart"));
    json_t *j = s_parse(msg);
    assert_int_equal(json_array_size(json_object_get(j, "defects")), 0);
    assert_string_equal(s_str(j, "type"), "text/plain");
    json_decref(j);
    free(msg);
    //  Text only plus one attachment: the text part, then the file.
    unsigned char one = 'x';
    zf_mime_attachment_t a = {"x.bin", "application/octet-stream", &one, 1};
    m.text = "hello";
    m.attachments = &a;
    m.n_attachments = 1;
    msg = zf_mime_build(&m, NULL);
    j = s_parse(msg);
    assert_int_equal(json_array_size(json_object_get(j, "defects")), 0);
    assert_string_equal(s_str(j, "text"), "hello\r\n");
    assert_null(json_string_value(json_object_get(j, "html")));
    assert_int_equal(json_integer_value(json_object_get(s_att(j, 0), "len")), 1);
    assert_non_null(strstr(msg, "\r\n\r\neA==\r\n\r\n--=_zflow_mixed_part--\r\n"));
    json_decref(j);
    free(msg);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mailbox_parse),
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_content_types),
        cmocka_unit_test(test_attachments_structure),
        cmocka_unit_test(test_plain_message_without_attachments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
