/*  tools/zflow.c — the zflow executable: `serve` and `keys`.

    serve wires the whole system into one process (the embedded default):
    store -> group-commit writer -> broker -> engine -> HTTP front end. It
    prints one line starting "zflow ready" once every socket is bound and
    recovery has started, and shuts down cleanly (exit 0) on SIGTERM or
    SIGINT.
*/
#include "actors/egress.h"
#include "actors/engine.h"
#include "broker/broker.h"
#include "broker/ids.h"
#include "http/http.h"
#include "storage/store.h"
#include "storage/writer.h"
#include "tools/cli.h"

#include <czmq.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#define ZF_MAX_BODY_LIMIT   (16u * 1024u * 1024u)  // --max-body at most: one broker frame
#define ZF_MAX_HTTP_THREADS 8192  // --http-threads at most (each may own a zmq socket)

typedef struct {
    const char *http;                            // --http ADDR:PORT
    const char *mounts[ZF_HTTP_MAX_MOUNTS + 1];  // --mount NAME=PREFIX, NULL-terminated
    int nmounts;                                 // entries in mounts
    const char *jwt_secret;                      // --jwt-secret SECRET
    int rate_limit;                              // --rate-limit N per user per minute
    long long max_body;                          // --max-body BYTES
    int http_threads;                            // --http-threads N (0 = the default)
    int header_timeout;                          // --http-header-timeout MS (0 = the default)
    int keepalive_timeout;                       // --http-keepalive-timeout MS (0 = default)
    int body_timeout;                            // --http-body-timeout MS (0 = the default)
    const char *data;                            // --data DIR
    const char *api;                             // --api ENDPOINT
    const char *tap;                             // --tap ENDPOINT
    bool sync;                                   // --durability sync|relaxed
    int max_active;                              // --max-active N
    int compute_threads;                         // --compute-threads N (0 = cores / 2)
    long max_queued;                             // --max-queued N (0 = the default)
    long max_queued_tenant;                      // --max-queued-per-tenant N (0 = the default)
    const char *egress;                          // --egress-allow CIDR,...
    const char *smtp_url;                        // --smtp-url URL
    const char *smtp_from;                       // --smtp-from ADDRESS
    long long test_clock;                        // --test-clock MS (0 = the real clock)
    const char *public_url;                      // --public-url URL
    const char *ai_url;                          // --ai-url URL
    const char *ai_model;                        // --ai-model NAME
} s_serve_opts_t;

static void
s_usage(FILE *out)
{
    fprintf(out,
            "usage: zflow serve [options]\n"
            "       zflow keys create --tenant T --role owner|admin|member|viewer [--name N] "
            "[--data DIR]\n"
            "       zflow keys list [--tenant T] [--data DIR]\n"
            "       zflow keys revoke KEY_ID [--data DIR]\n"
            "       zflow --version\n\n"
            "serve options:\n"
            "  --http ADDR:PORT        HTTP front end (default 127.0.0.1:8080)\n"
            "  --data DIR              data directory (default ./zflow-data)\n"
            "  --api ENDPOINT          zmq API endpoint (default tcp://127.0.0.1:5559)\n"
            "  --tap ENDPOINT          zmq tap endpoint (default tcp://127.0.0.1:5561)\n"
            "  --durability MODE       sync (default: fsync per group commit) or relaxed\n"
            "  --max-active N          runs active at once at most (default 64)\n"
            "  --compute-threads N     threads running steps that only compute (default:\n"
            "                          half the cores, at least 1)\n"
            "  --max-queued N          runs waiting for a slot at most; beyond it new runs\n"
            "                          from clients are refused with 503 / unavailable\n"
            "                          (default max(10000, 50 x --max-active))\n"
            "  --max-queued-per-tenant N  the same bound for one tenant's runs, so a flood\n"
            "                          leaves room for others (default --max-queued / 2)\n"
            "  --egress-allow CIDRS    let http_request reach these private/loopback ranges\n"
            "  --mount NAME=PREFIX     serve an HTTP dialect at PREFIX (repeatable; defaults:\n"
            "                          v2=/api/v2/workflows data=/api/v2\n"
            "                          coherence=/coherence/v1 automations=/api/workflows\n"
            "                          lendworks=/v1)\n"
            "  --jwt-secret SECRET     accept HS256 JWTs signed with SECRET (or set\n"
            "                          ZFLOW_JWT_SECRET: not visible in ps)\n"
            "  --rate-limit N          HTTP requests per user per minute (default 100, 0 = off)\n"
            "  --max-body BYTES        largest HTTP request body (default 1048576)\n"
            "  --http-threads N        HTTP connections served at once, one thread each\n"
            "                          (default 1024); more wait in a queue\n"
            "  --http-header-timeout MS  a request head must arrive within MS of its\n"
            "                          connection being served; a body or an answer\n"
            "                          that stalls that long is cut (default 5000)\n"
            "  --http-keepalive-timeout MS  an idle kept-alive connection is closed after\n"
            "                          MS without a next request (default 5000)\n"
            "  --http-body-timeout MS  a whole request body must arrive within MS, else\n"
            "                          408 (default 30000)\n"
            "  --smtp-url URL          mail server of send_email steps, e.g.\n"
            "                          smtp://127.0.0.1:25 or smtps://user:pass@host:465\n"
            "  --smtp-from ADDRESS     sender of outgoing mail (default zflow@localhost)\n"
            "  --public-url URL        this server's public address in links sent to people\n"
            "                          (approval and form pages under the automations\n"
            "                          mount; default http://<--http>)\n"
            "  --ai-url URL            OpenAI-compatible endpoint of ai/agent steps, e.g.\n"
            "                          http://127.0.0.1:8000/v1 (key: ZFLOW_AI_KEY)\n"
            "  --ai-model NAME         model of ai/agent steps (default gpt-4o-mini)\n"
            "  --test-clock MS         TESTS ONLY: start the clock at Unix time MS and let\n"
            "                          clock.set on the admin socket move it\n");
}

//  An integer option in lo..hi into *out; 0, or -1 with the reason printed.
static int
s_int_arg(const char *flag, const char *arg, long long lo, long long hi, long long *out)
{
    char *end = NULL;
    long long v = strtoll(arg, &end, 10);
    if (!*arg || !end || *end || v < lo || v > hi) {
        fprintf(stderr, "zflow: --%s must be %lld..%lld\n", flag, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

//  The HTTP connection options: --http-threads and the timeouts.
static int
s_parse_http_conn_opt(int c, const char *arg, s_serve_opts_t *o)
{
    static const struct {
        int c;             // getopt code
        const char *flag;  // without "--"
        long long lo, hi;  // accepted range
    } opts[] = {{'W', "http-threads", 8, ZF_MAX_HTTP_THREADS},
                {'O', "http-header-timeout", 100, 600000},
                {'K', "http-keepalive-timeout", 100, 600000},
                {'B', "http-body-timeout", 100, 3600000}};
    int *dest[] = {&o->http_threads, &o->header_timeout, &o->keepalive_timeout, &o->body_timeout};
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
        long long v;
        if (opts[i].c != c) continue;
        if (s_int_arg(opts[i].flag, arg, opts[i].lo, opts[i].hi, &v)) return -1;
        *dest[i] = (int)v;
        return 0;
    }
    return -1;
}

//  The HTTP front end's options (--mount, --jwt-secret, --rate-limit,
//  --max-body, and the connection options above).
static int
s_parse_http_opt(int c, const char *arg, s_serve_opts_t *o)
{
    char err[256];
    if (c == 'M') {
        if (zf_http_mount_check(arg, err, sizeof err) < 0 || o->nmounts == ZF_HTTP_MAX_MOUNTS) {
            fprintf(stderr, "zflow: %s\n",
                    o->nmounts == ZF_HTTP_MAX_MOUNTS ? "too many --mount" : err);
            return -1;
        }
        o->mounts[o->nmounts++] = arg;
    } else if (c == 'j') {
        if (!*arg) {
            fprintf(stderr, "zflow: --jwt-secret must not be empty\n");
            return -1;
        }
        o->jwt_secret = arg;
    } else if (c == 'r') {
        long long v;
        if (s_int_arg("rate-limit", arg, 0, 100000000, &v)) return -1;
        o->rate_limit = (int)v;
    } else if (c == 'b') {
        if (s_int_arg("max-body", arg, 1, ZF_MAX_BODY_LIMIT, &o->max_body)) return -1;
    } else {
        return s_parse_http_conn_opt(c, arg, o);
    }
    return 0;
}

static int
s_parse_serve(int argc, char **argv, s_serve_opts_t *o)
{
    static const struct option longopts[] = {
        {"http", required_argument, NULL, 'h'},
        {"data", required_argument, NULL, 'd'},
        {"api", required_argument, NULL, 'a'},
        {"tap", required_argument, NULL, 't'},
        {"durability", required_argument, NULL, 'D'},
        {"max-active", required_argument, NULL, 'm'},
        {"max-queued", required_argument, NULL, 'Q'},
        {"max-queued-per-tenant", required_argument, NULL, 'q'},
        {"compute-threads", required_argument, NULL, 'T'},
        {"egress-allow", required_argument, NULL, 'e'},
        {"mount", required_argument, NULL, 'M'},
        {"jwt-secret", required_argument, NULL, 'j'},
        {"rate-limit", required_argument, NULL, 'r'},
        {"max-body", required_argument, NULL, 'b'},
        {"http-threads", required_argument, NULL, 'W'},
        {"http-header-timeout", required_argument, NULL, 'O'},
        {"http-keepalive-timeout", required_argument, NULL, 'K'},
        {"http-body-timeout", required_argument, NULL, 'B'},
        {"smtp-url", required_argument, NULL, 'S'},
        {"smtp-from", required_argument, NULL, 'F'},
        {"test-clock", required_argument, NULL, 'C'},
        {"public-url", required_argument, NULL, 'P'},
        {"ai-url", required_argument, NULL, 'A'},
        {"ai-model", required_argument, NULL, 'I'},
        {"help", no_argument, NULL, 'H'},
        {NULL, 0, NULL, 0}};
    *o = (s_serve_opts_t){.http = "127.0.0.1:8080",
                          .rate_limit = 100,
                          .max_body = 1048576,
                          .data = "./zflow-data",
                          .api = "tcp://127.0.0.1:5559",
                          .tap = "tcp://127.0.0.1:5561",
                          .sync = true,
                          .max_active = 64};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        char *end = NULL;
        long long v = 0;
        switch (c) {
        case 'h':
            o->http = optarg;
            break;
        case 'd':
            o->data = optarg;
            break;
        case 'a':
            o->api = optarg;
            break;
        case 't':
            o->tap = optarg;
            break;
        case 'e':
            o->egress = optarg;
            break;
        case 'C':
            o->test_clock = strtoll(optarg, &end, 10);
            if (!end || *end || o->test_clock <= 0) {
                fprintf(stderr, "zflow: --test-clock must be a Unix time in ms\n");
                return -1;
            }
            break;
        case 'S':
            if (strncmp(optarg, "smtp://", 7) && strncmp(optarg, "smtps://", 8)) {
                fprintf(stderr, "zflow: --smtp-url must start with smtp:// or smtps://\n");
                return -1;
            }
            o->smtp_url = optarg;
            break;
        case 'F':
            if (!strchr(optarg, '@') || strpbrk(optarg, "\r\n<> ,")) {
                fprintf(stderr, "zflow: --smtp-from must be a plain email address\n");
                return -1;
            }
            o->smtp_from = optarg;
            break;
        case 'P':
        case 'A':
            if (strncmp(optarg, "http://", 7) && strncmp(optarg, "https://", 8)) {
                fprintf(stderr, "zflow: --%s must start with http:// or https://\n",
                        c == 'P' ? "public-url" : "ai-url");
                return -1;
            }
            *(c == 'P' ? &o->public_url : &o->ai_url) = optarg;
            break;
        case 'I':
            o->ai_model = optarg;
            break;
        case 'M':
        case 'j':
        case 'r':
        case 'b':
        case 'W':
        case 'O':
        case 'K':
        case 'B':
            if (s_parse_http_opt(c, optarg, o) < 0) return -1;
            break;
        case 'H':
            s_usage(stdout);
            exit(0);
        case 'D':
            if (strcmp(optarg, "sync") && strcmp(optarg, "relaxed")) {
                fprintf(stderr, "zflow: --durability must be sync or relaxed\n");
                return -1;
            }
            o->sync = strcmp(optarg, "sync") == 0;
            break;
        case 'Q':
            if (s_int_arg("max-queued", optarg, 1, 100000000, &v)) return -1;
            o->max_queued = (long)v;
            break;
        case 'q':
            if (s_int_arg("max-queued-per-tenant", optarg, 1, 100000000, &v)) return -1;
            o->max_queued_tenant = (long)v;
            break;
        case 'T':
            if (s_int_arg("compute-threads", optarg, 1, 64, &v)) return -1;
            o->compute_threads = (int)v;
            break;
        case 'm':
            if (s_int_arg("max-active", optarg, 1, 4096, &v)) return -1;
            o->max_active = (int)v;
            break;
        default:
            s_usage(stderr);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "zflow: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    return 0;
}

//  Blocks SIGINT/SIGTERM in every thread (threads inherit the mask), so
//  the main thread can sigwait() for them instead of polling a flag.
static void
s_block_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

//  Each HTTP connection being served is a descriptor, and so is each
//  worker's zmq socket: the soft open-file limit (often 1024) is raised
//  to the hard one, and a limit still too low for the workers is told.
static void
s_raise_nofile(int http_threads)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
    rlim_t want = rl.rlim_max == RLIM_INFINITY ? 1048576 : rl.rlim_max;
    if (rl.rlim_cur < want) {
        rl.rlim_cur = want;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) (void)getrlimit(RLIMIT_NOFILE, &rl);
    }
    rlim_t need = (rlim_t)http_threads * 2 + 1024;  // connections, DEALERs, store, sockets
    if (rl.rlim_cur < need)
        fprintf(stderr,
                "zflow: warning: the open-file limit (%llu) is low for %d HTTP threads; "
                "raise it (ulimit -n) to at least %llu or lower --http-threads\n",
                (unsigned long long)rl.rlim_cur, http_threads, (unsigned long long)need);
}

static int
s_serve(int argc, char **argv)
{
    s_serve_opts_t o;
    if (s_parse_serve(argc, argv, &o) < 0) return 2;
    char err_buf[256] = "";
    zf_egress_t *egress = NULL;
    if (o.egress && !(egress = zf_egress_new(o.egress, err_buf, sizeof err_buf))) {
        fprintf(stderr, "zflow: --egress-allow: %s\n", err_buf);
        return 2;
    }
    s_raise_nofile(o.http_threads ? o.http_threads : ZF_HTTP_DEFAULT_THREADS);
    sigset_t sigs;
    s_block_signals(&sigs);
    zsys_handler_set(NULL);
    zsys_set_max_sockets(16384);
    if (mkdir(o.data, 0700) < 0 && errno != EEXIST) {
        fprintf(stderr, "zflow: cannot create %s: %s\n", o.data, strerror(errno));
        return 1;
    }
    char data_abs[PATH_MAX], admin[PATH_MAX + 32];
    if (!realpath(o.data, data_abs)) {
        fprintf(stderr, "zflow: %s: %s\n", o.data, strerror(errno));
        return 1;
    }
    char *err = NULL;
    zf_store_t *store = zf_store_open(data_abs, o.sync, &err);
    if (!store) {
        bool locked = err && strcasestr(err, "lock");
        fprintf(stderr, "zflow: cannot open store in %s: %s\n", data_abs,
                locked ? "another zflow process holds the lock on this data directory"
                       : (err ? err : "?"));
        free(err);
        return 1;
    }
    //  The store lock is ours: a leftover socket file is from a dead server.
    snprintf(admin, sizeof admin, "%s/admin.sock", data_abs);
    unlink(admin);
    snprintf(admin, sizeof admin, "ipc://%s/admin.sock", data_abs);
    if (o.test_clock > 0) zf_clock_set(o.test_clock);
    //  Approval and form links point at the automations dialect's pages,
    //  wherever --mount put them.
    const char *auto_prefix = "/api/workflows";
    for (int i = 0; i < o.nmounts; i++)
        if (strncmp(o.mounts[i], "automations=", 12) == 0) auto_prefix = o.mounts[i] + 12;
    char links_url[768];
    snprintf(links_url, sizeof links_url, "%s", o.public_url ? o.public_url : "");
    if (!o.public_url) snprintf(links_url, sizeof links_url, "http://%s", o.http);
    size_t plen = strlen(links_url);
    while (plen > 0 && links_url[plen - 1] == '/')  // the prefix starts with "/"
        links_url[--plen] = '\0';
    snprintf(links_url + plen, sizeof links_url - plen, "%s", auto_prefix);
    zf_writer_t *writer = zf_writer_new(store, "inproc://zf-writer");
    zf_broker_conf_t bc = {.internal_endpoint = "inproc://zf-broker",
                           .service_endpoint = "inproc://zf-services",
                           .api_endpoint = o.api,
                           .admin_endpoint = admin,
                           .tap_endpoint = o.tap,
                           .version = ZF_VERSION};
    zf_broker_t *broker = writer ? zf_broker_new(&bc, &err) : NULL;
    zf_engine_conf_t ec = {.store = store,
                           .service_endpoint = bc.service_endpoint,
                           .writer_endpoint = "inproc://zf-writer",
                           .max_active = o.max_active,
                           .shared_hosts = o.compute_threads,
                           .max_queued = (size_t)o.max_queued,
                           .max_queued_tenant = (size_t)o.max_queued_tenant,
                           .egress = egress,
                           .version = ZF_VERSION,
                           .internal_endpoint = bc.internal_endpoint,
                           .smtp_url = o.smtp_url,
                           .smtp_from = o.smtp_from,
                           .test_clock = o.test_clock > 0,
                           .links_url = links_url,
                           .ai_url = o.ai_url,
                           .ai_model = o.ai_model ? o.ai_model : "gpt-4o-mini",
                           .ai_key = getenv("ZFLOW_AI_KEY") && *getenv("ZFLOW_AI_KEY")
                                         ? getenv("ZFLOW_AI_KEY")
                                         : NULL};
    zf_engine_t *engine = broker ? zf_engine_new(&ec, &err) : NULL;
    zf_http_conf_t hc = {.listen = o.http,
                         .broker_endpoint = bc.internal_endpoint,
                         .events_endpoint = "inproc://zf-events",
                         .mounts = o.nmounts ? o.mounts : NULL,
                         .jwt_secret = o.jwt_secret ? o.jwt_secret
                                       : getenv("ZFLOW_JWT_SECRET") && *getenv("ZFLOW_JWT_SECRET")
                                           ? getenv("ZFLOW_JWT_SECRET")
                                           : NULL,
                         .rate_limit = o.rate_limit,
                         .max_body = (size_t)o.max_body,
                         .threads = o.http_threads,
                         .header_timeout_ms = o.header_timeout,
                         .keepalive_timeout_ms = o.keepalive_timeout,
                         .body_timeout_ms = o.body_timeout};
    zf_http_t *http = engine ? zf_http_new(&hc, &err) : NULL;
    int rc = 0;
    if (!http) {
        fprintf(stderr, "zflow: start-up failed: %s\n", err ? err : "writer could not start");
        rc = 1;
    } else {
        char mounts[512];
        zf_http_describe(http, mounts, sizeof mounts);
        printf("zflow ready api=%s tap=%s admin=%s data=%s durability=%s max-active=%d "
               "http=%s mounts=%s\n",
               o.api, o.tap, admin, data_abs, o.sync ? "sync" : "relaxed", o.max_active, o.http,
               mounts);
        fflush(stdout);
        int sig = 0;
        sigwait(&sigs, &sig);
        fprintf(stderr, "zflow: signal %d, shutting down\n", sig);
    }
    free(err);
    //  Order matters: stop intake (HTTP, then the broker), then runs (they
    //  need the writer for their last snapshot), then the writer, the store.
    zf_http_destroy(&http);
    zf_broker_destroy(&broker);
    zf_engine_destroy(&engine);
    zf_writer_destroy(&writer);
    zf_store_destroy(&store);
    zf_egress_destroy(&egress);
    if (rc == 0) fprintf(stderr, "zflow: stopped cleanly\n");
    return rc;
}

int
main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        s_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("zflow %s\n", ZF_VERSION);
        return 0;
    }
    if (strcmp(argv[1], "serve") == 0) return s_serve(argc - 1, argv + 1);
    if (strcmp(argv[1], "keys") == 0) return zf_cli_keys(argc - 1, argv + 1);
    fprintf(stderr, "zflow: unknown command '%s'\n", argv[1]);
    s_usage(stderr);
    return 2;
}
