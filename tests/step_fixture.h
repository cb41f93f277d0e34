/*  tests/step_fixture.h — shared fixture for step-kind tests.

    Starts tests/http_sink.py (a real HTTP server on 127.0.0.1) once per
    test group, builds run contexts with owned scopes, runs a kind by name,
    and checks validate() against tables of configs. Test-only: everything
    is static so each test file gets its own copy.
*/
#ifndef ZF_TESTS_STEP_FIXTURE_H
#define ZF_TESTS_STEP_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "actors/breaker.h"
#include "actors/egress.h"
#include "actors/step.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t s_sink_pid;
static int s_port;

// =========================================================================
//  Fixtures
// =========================================================================

//  Path of http_sink.py: $ZF_SOURCE_DIR/tests, else beside this file.
static inline void
s_sink_path(char *buf, size_t len)
{
    const char *root = getenv("ZF_SOURCE_DIR");
    if (root) {
        snprintf(buf, len, "%s/tests/http_sink.py", root);
        return;
    }
    snprintf(buf, len, "%s", __FILE__);
    char *slash = strrchr(buf, '/');
    snprintf(slash ? slash + 1 : buf, len - (size_t)(slash ? slash + 1 - buf : 0), "http_sink.py");
}

static inline int
s_start_sink(void **state)
{
    (void)state;
    char path[1024], line[32] = "";
    int fds[2];
    s_sink_path(path, sizeof path);
    if (pipe(fds) != 0) return -1;
    s_sink_pid = fork();
    if (s_sink_pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execl("/usr/bin/python3", "python3", path, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    FILE *f = fdopen(fds[0], "r");
    if (!f || !fgets(line, sizeof line, f)) return -1;
    fclose(f);
    s_port = atoi(line);
    return s_port > 0 ? 0 : -1;
}

static inline int
s_stop_sink(void **state)
{
    (void)state;
    if (s_sink_pid > 0) {
        kill(s_sink_pid, SIGTERM);
        waitpid(s_sink_pid, NULL, 0);
    }
    return 0;
}

static inline json_t *
s_json(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    if (!j) fail_msg("bad test JSON %s: %s", text, e.text);
    return j;
}

//  JSON config from a printf template (use %1$d for the sink port).
__attribute__((format(printf, 1, 2))) static inline json_t *
s_cfg(const char *fmt, ...)
{
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return s_json(buf);
}

//  A run context with owned scopes; egress allows loopback unless bare.
typedef struct {
    zf_step_ctx_t ctx;
    json_t *input, *inputs, *vars, *steps;
    zf_egress_t *egress;
    zf_breakers_t *breakers;
} s_env_t;

static inline void
s_env_init(s_env_t *env, const char *allow)
{
    char err[128];
    memset(env, 0, sizeof *env);
    env->input = s_json("{\"order\":{\"id\":\"o-1\",\"total\":120},\"record\":{\"stage\":"
                        "\"proposal\"},\"previous\":{\"stage\":\"draft\"}}");
    env->inputs = s_json("{\"user\":{\"email\":\"a@b.c\"}}");
    env->vars = s_json("{\"x\":1}");
    env->steps = s_json("{\"n1\":{\"status\":200}}");
    env->egress = allow ? zf_egress_new(allow, err, sizeof err) : NULL;
    env->ctx = (zf_step_ctx_t){.tenant = "t1",
                               .run_id = "run-1",
                               .node_id = "node-1",
                               .input = env->input,
                               .inputs = env->inputs,
                               .vars = env->vars,
                               .steps = env->steps,
                               .attempt = 1,
                               .now_ms = 1700000000000LL,
                               .egress = env->egress};
}

static inline void
s_env_free(s_env_t *env)
{
    json_decref(env->input);
    json_decref(env->inputs);
    json_decref(env->vars);
    json_decref(env->steps);
    zf_egress_destroy(&env->egress);
    zf_breakers_destroy(&env->breakers);
}

//  Runs kind `type` with config (consumed) and returns the result.
static inline zf_step_result_t
s_run(s_env_t *env, const char *type, json_t *config)
{
    zf_step_result_t res = {0};
    const zf_step_kind_t *kind = zf_step_find(type);
    assert_non_null(kind);
    kind->exec(&env->ctx, config, &res);
    json_decref(config);
    return res;
}

static inline const char *
s_str(const json_t *root, const char *path)
{
    json_t *v = json_object_get(root, path);
    return json_string_value(v);
}

//  A validate() case: config is JSON with ' for "; want NULL = valid,
//  else a substring of the expected error.
typedef struct {
    const char *config;
    const char *want;
} s_vcase_t;

static inline void
s_check_validate(const char *type, const s_vcase_t *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char text[512], err[256] = "";
        snprintf(text, sizeof text, "%s", cases[i].config);
        for (char *q = text; *q; q++)
            if (*q == '\'') *q = '"';
        json_t *c = s_json(text);
        int rc = zf_step_find(type)->validate(c, err, sizeof err);
        json_decref(c);
        if (cases[i].want ? rc == 0 || !strstr(err, cases[i].want) : rc != 0)
            fail_msg("%s %s: rc %d err '%s', want '%s'", type, text, rc, err,
                     cases[i].want ? cases[i].want : "valid");
    }
}

#define CHECK_VALIDATE(type, cases) s_check_validate(type, cases, sizeof cases / sizeof cases[0])
#endif
