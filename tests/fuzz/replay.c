/*  tests/fuzz/replay.c — runs a libFuzzer target without libFuzzer.

    Linked with one tests/fuzz/fuzz_*.c file, it gives every build (gcc,
    and CI's ASan + UBSan pass) a ctest that compiles the target and feeds
    it inputs, so the targets cannot rot between fuzzing sessions and their
    invariants are checked on every commit. A broken invariant aborts, as
    under libFuzzer.

      replay_T [--runs N] [--seed S] [--dict FILE] [FILE|DIR ...]

    First every FILE (and every regular file in every DIR: a corpus that
    libFuzzer wrote) as it is; then N inputs drawn deterministically from S,
    made of the dictionary's tokens (the libFuzzer -dict format: one
    "quoted" token per line, \\ \" \xNN escapes, # comments) and random
    bytes (s_generate). The same dictionary serves the real fuzzer
    (tests/fuzz/README.md).
*/
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define S_TOKENS_MAX 512
#define S_TOKEN_MAX  256
#define S_INPUT_MAX  4096

typedef struct {
    unsigned char bytes[S_TOKEN_MAX];
    size_t len;
} s_token_t;

static s_token_t s_tokens[S_TOKENS_MAX];
static size_t s_ntokens;

static uint64_t
s_next(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

static int
s_hex(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

//  One dictionary line: [name=]"token". Returns 0, or -1 if malformed.
static int
s_dict_line(const char *line, s_token_t *t)
{
    const char *q = strchr(line, '"');
    if (!q) return -1;
    t->len = 0;
    for (const char *p = q + 1; *p; p++) {
        int c = (unsigned char)*p;
        if (c == '"') return 0;
        if (c == '\\') {
            p++;
            if (*p == 'x' && s_hex(p[1]) >= 0 && s_hex(p[2]) >= 0) {
                c = s_hex(p[1]) * 16 + s_hex(p[2]);
                p += 2;
            } else if (*p == '\\' || *p == '"')
                c = *p;
            else
                return -1;
        }
        if (t->len == S_TOKEN_MAX) return -1;
        t->bytes[t->len++] = (unsigned char)c;
    }
    return -1;  // no closing quote
}

//  fopen that says why it failed.
static FILE *
s_open(const char *path, const char *mode)
{
    FILE *f = fopen(path, mode);
    if (!f) fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
    return f;
}

static int
s_dict_load(const char *path)
{
    FILE *f = s_open(path, "r");
    if (!f) return -1;
    char line[1024];
    int no = 0;
    while (fgets(line, sizeof line, f)) {
        no++;
        const char *p = line + strspn(line, " \t");
        if (*p == '#' || *p == '\n' || *p == '\0') continue;
        if (s_ntokens == S_TOKENS_MAX || s_dict_line(p, &s_tokens[s_ntokens]) != 0) {
            fprintf(stderr, "replay: %s:%d: bad or too many tokens\n", path, no);
            fclose(f);
            return -1;
        }
        s_ntokens++;
    }
    fclose(f);
    return 0;
}

static int
s_run_file(const char *path)
{
    FILE *f = s_open(path, "rb");
    if (!f) return -1;
    static unsigned char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    //  A copy of exactly n bytes, so ASan sees reads past the input.
    unsigned char *in = malloc(n ? n : 1);
    if (!in) abort();
    memcpy(in, buf, n);
    LLVMFuzzerTestOneInput(in, n);
    free(in);
    return 0;
}

static int
s_run_path(const char *path, size_t *count)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        (*count)++;
        return s_run_file(path);
    }
    DIR *d = opendir(path);
    if (!d) return -1;
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char sub[4096];
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        if (stat(sub, &st) == 0 && S_ISREG(st.st_mode)) {
            (*count)++;
            rc = s_run_file(sub);
        }
    }
    closedir(d);
    return rc;
}

static size_t
s_put_token(uint64_t *x, unsigned char *buf, size_t len, size_t at)
{
    const s_token_t *t = &s_tokens[s_next(x) % s_ntokens];
    if (len + t->len > S_INPUT_MAX) return len;
    memmove(buf + at + t->len, buf + at, len - at);
    memcpy(buf + at, t->bytes, t->len);
    return len + t->len;
}

//  One generated input into buf; returns its length. Half are pieces put
//  end to end (mostly tokens, some printable or raw bytes), half a token
//  mutated a few times (a token inserted, a byte replaced, a span dropped
//  or doubled), so well-formed inputs and near misses both come up.
static size_t
s_generate(uint64_t *x, unsigned char *buf)
{
    size_t len = 0;
    if (!s_ntokens || s_next(x) % 2) {
        size_t pieces = s_next(x) % 17;
        for (size_t i = 0; i < pieces && len < S_INPUT_MAX; i++) {
            unsigned pick = s_next(x) % 20;
            if (s_ntokens && pick < 15)
                len = s_put_token(x, buf, len, len);
            else if (pick < 18)
                buf[len++] = (unsigned char)(0x20 + s_next(x) % 95);
            else
                buf[len++] = (unsigned char)s_next(x);
        }
        return len;
    }
    len = s_put_token(x, buf, 0, 0);
    for (size_t m = 1 + s_next(x) % 4; m > 0; m--) {
        size_t at = len ? s_next(x) % (len + 1) : 0;
        switch (s_next(x) % 4) {
        case 0:
            len = s_put_token(x, buf, len, at);
            break;
        case 1:
            if (at < len) buf[at] = (unsigned char)s_next(x);
            break;
        case 2: {
            size_t n = at < len ? 1 + s_next(x) % (len - at) : 0;
            memmove(buf + at, buf + at + n, len - at - n);
            len -= n;
            break;
        }
        default: {
            size_t n = at < len ? 1 + s_next(x) % (len - at) : 0;
            if (len + n > S_INPUT_MAX) break;
            memmove(buf + at + n, buf + at, len - at);
            len += n;  // buf[at, at + n) now repeats what follows it
            break;
        }
        }
    }
    return len;
}

int
main(int argc, char **argv)
{
    unsigned long runs = 10000;
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    size_t files = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
            seed = strtoull(argv[++i], NULL, 10) | 1;
        else if (!strcmp(argv[i], "--dict") && i + 1 < argc) {
            if (s_dict_load(argv[++i]) != 0) return 2;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "usage: %s [--runs N] [--seed S] [--dict FILE] [FILE|DIR ...]\n",
                    argv[0]);
            return 2;
        } else if (s_run_path(argv[i], &files) != 0)
            return 1;
    }
    static unsigned char buf[S_INPUT_MAX];
    for (unsigned long r = 0; r < runs; r++) {
        size_t n = s_generate(&seed, buf);
        unsigned char *in = malloc(n ? n : 1);
        if (!in) abort();
        memcpy(in, buf, n);
        LLVMFuzzerTestOneInput(in, n);
        free(in);
    }
    printf("replay: %zu files, %lu generated inputs (%zu dictionary tokens): no invariant broken\n",
           files, runs, s_ntokens);
    return 0;
}
