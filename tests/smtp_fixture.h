/*  tests/smtp_fixture.h — a real SMTP server for step and mail tests.

    tests/smtp_sink.py (Debian's python3-aiosmtpd) runs once per test file
    on 127.0.0.1; it answers 550 to RCPT TO bad@x.test and worse@x.test,
    451 to busy@x.test, and appends every accepted message to a JSON-lines
    file together with what Python's email package parses out of it (text
    parts only: a binary attachment would not fit its JSON). Test-only:
    everything is static so each test file gets its own copy.
*/
#ifndef ZF_TESTS_SMTP_FIXTURE_H
#define ZF_TESTS_SMTP_FIXTURE_H

#include "tests/step_fixture.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>

static pid_t s_smtp_pid;     // the sink process
static char s_smtp_url[64];  // smtp://127.0.0.1:PORT
static char s_dir[64];       // temp dir holding the sink's output
static char s_out[128];      // the sink's JSON-lines file

// =========================================================================
//  Fixture
// =========================================================================

static inline int
s_smtp_start(void **state)
{
    (void)state;
    char path[1024], line[64] = "";
    const char *root = getenv("ZF_SOURCE_DIR");
    int fds[2];
    snprintf(s_dir, sizeof s_dir, "/tmp/zf-mail-XXXXXX");
    if (!mkdtemp(s_dir) || pipe(fds) != 0) return -1;
    snprintf(s_out, sizeof s_out, "%s/mail.jsonl", s_dir);
    if (root) {
        snprintf(path, sizeof path, "%s/tests/smtp_sink.py", root);
    } else {  // beside this file
        snprintf(path, sizeof path, "%s", __FILE__);
        char *slash = strrchr(path, '/');
        snprintf(slash ? slash + 1 : path, sizeof path - (size_t)(slash ? slash + 1 - path : 0),
                 "smtp_sink.py");
    }
    s_smtp_pid = fork();
    if (s_smtp_pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execl("/usr/bin/python3", "python3", path, "--port", "0", "--out", s_out, "--reject",
              "bad@x.test", "--reject", "worse@x.test", "--defer", "busy@x.test", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    FILE *f = fdopen(fds[0], "r");
    if (!f || !fgets(line, sizeof line, f)) return -1;
    fclose(f);
    int port = strncmp(line, "PORT ", 5) == 0 ? atoi(line + 5) : 0;
    snprintf(s_smtp_url, sizeof s_smtp_url, "smtp://127.0.0.1:%d", port);
    return port > 0 ? 0 : -1;
}

static inline int
s_smtp_stop(void **state)
{
    (void)state;
    if (s_smtp_pid > 0) {
        kill(s_smtp_pid, SIGTERM);
        waitpid(s_smtp_pid, NULL, 0);
    }
    if (getenv("ZF_KEEP_MAIL")) {  // debugging: keep what the sink received
        fprintf(stderr, "messages kept in %s\n", s_out);
        return 0;
    }
    unlink(s_out);
    rmdir(s_dir);
    return 0;
}

//  Every message the sink accepted so far, as a JSON array.
static inline json_t *
s_mails(void)
{
    json_t *all = json_array();
    char *line = NULL;
    size_t cap = 0;
    FILE *f = fopen(s_out, "r");
    while (f && getline(&line, &cap, f) > 0) {
        json_error_t e;
        json_t *m = json_loads(line, 0, &e);
        if (!m) fail_msg("sink wrote bad JSON: %s", e.text);
        json_array_append_new(all, m);
    }
    free(line);
    if (f) fclose(f);
    return all;
}

static inline size_t
s_mail_count(void)
{
    json_t *all = s_mails();
    size_t n = json_array_size(all);
    json_decref(all);
    return n;
}

//  The newest message (new ref), asserting that exactly `want` exist.
static inline json_t *
s_last_mail(size_t want)
{
    json_t *all = s_mails();
    assert_int_equal(json_array_size(all), want);
    json_t *m = json_incref(json_array_get(all, want - 1));
    json_decref(all);
    assert_null(json_object_get(json_object_get(m, "parsed"), "error"));
    return m;
}

static inline const char *
s_parsed(const json_t *mail, const char *key)
{
    return json_string_value(json_object_get(json_object_get(mail, "parsed"), key));
}

//  How many headers named `name` (case-insensitive) the message has.
static inline size_t
s_header_count(const json_t *mail, const char *name)
{
    const json_t *h = json_object_get(json_object_get(mail, "parsed"), "headers"), *e;
    size_t i, n = 0;
    json_array_foreach (h, i, e)
        n += strcasecmp(json_string_value(json_array_get(e, 0)), name) == 0;
    return n;
}

static inline const json_t *
s_part(const json_t *mail, size_t i)
{
    return json_array_get(json_object_get(json_object_get(mail, "parsed"), "parts"), i);
}

//  Wire-format checks every message must pass: CRLF only, short lines,
//  7-bit, and no defects found by Python's parser.
static inline void
s_assert_wire_ok(const json_t *mail)
{
    const char *d = json_string_value(json_object_get(mail, "data"));
    size_t col = 0;
    assert_non_null(d);
    for (size_t i = 0; d[i]; i++) {
        assert_true((unsigned char)d[i] < 0x80);
        if (d[i] == '\n') {
            assert_true(i > 0 && d[i - 1] == '\r');
            col = 0;
        } else {
            assert_true(++col <= 78);
        }
    }
    assert_int_equal(json_array_size(json_object_get(json_object_get(mail, "parsed"), "defects")),
                     0);
}

static inline void
s_env_mail(s_env_t *env)
{
    s_env_init(env, NULL);
    env->ctx.smtp_url = s_smtp_url;
    env->ctx.smtp_from = "robot@zflow.test";
    env->ctx.timeout_ms = 10000;
}

static inline int
s_array_has(const json_t *a, const char *s)
{
    size_t i;
    const json_t *e;
    json_array_foreach (a, i, e)
        if (json_is_string(e) && !strcmp(json_string_value(e), s)) return 1;
    return 0;
}

//  A loopback port nothing listens on (bound, then closed), or with
//  listen=1 a socket that accepts connections but never says anything.
static inline int
s_dead_port(int listen_too, int *port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    if (listen_too) {
        assert_int_equal(listen(fd, 4), 0);
        return fd;
    }
    close(fd);
    return -1;
}

#endif
