/*  tools/zmq_tap.c — zmq-tap: print what the broker taps, one JSON line each.

        zmq-tap [--connect ENDPOINT] [--filter PREFIX]

    Subscribes to the broker's tap (an XPUB) and prints every message as
    {"topic":..., "header":{...}, "body":{...}} on stdout, flushed per line
    so it can be piped. A message that is not [topic][header map][body map]
    is reported on stderr as {"topic":..., "error":...} and skipped.
    SIGINT/SIGTERM end it with status 0; bad arguments with status 2.
*/
#include "broker/codec.h"
#include "broker/msg.h"

#include <czmq.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#define S_DEFAULT_CONNECT "tcp://127.0.0.1:5561"
#define S_TAP_HWM         100000  // queued messages before the publisher drops

static volatile sig_atomic_t s_stop = 0;

static void
s_on_signal(int sig)
{
    (void)sig;
    s_stop = 1;
}

static void
s_usage(FILE *out)
{
    fprintf(out, "usage: zmq-tap [--connect ENDPOINT] [--filter PREFIX]\n"
                 "Prints every message tapped by the zflow broker as one JSON line:\n"
                 "  {\"topic\":..., \"header\":{...}, \"body\":{...}}\n"
                 "  --connect ENDPOINT  tap endpoint (default " S_DEFAULT_CONNECT ")\n"
                 "  --filter PREFIX     only topics starting with PREFIX (default: all)\n"
                 "  --help              this text\n");
}

//  Our own handlers instead of CZMQ's, so a signal just interrupts the
//  blocking receive and the loop ends with status 0.
static void
s_install_signals(void)
{
    zsys_handler_set(NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

//  The topic as a JSON string, or null if it is not valid UTF-8.
static json_t *
s_topic_json(zframe_t *frame)
{
    json_t *topic = json_stringn((const char *)zframe_data(frame), zframe_size(frame));
    return topic ? topic : json_null();
}

//  Decodes one frame that must hold a msgpack map. NULL + *why otherwise.
static json_t *
s_decode_map(zframe_t *frame, const char *what, char *why, size_t why_size)
{
    const char *reason = NULL;
    json_t *v = zf_codec_decode(zframe_data(frame), zframe_size(frame), NULL, &reason);
    if (!v) {
        snprintf(why, why_size, "%s: %s", what, reason ? reason : "undecodable msgpack");
        return NULL;
    }
    if (!json_is_object(v)) {
        snprintf(why, why_size, "%s: not a map", what);
        json_decref(v);
        return NULL;
    }
    return v;
}

static void
s_print_line(FILE *out, json_t *line)
{
    json_dumpf(line, out, JSON_COMPACT);
    fputc('\n', out);
    fflush(out);
}

//  Turns one tapped message into its output line: to stdout when it is
//  well formed, to stderr with the reason when not.
static void
s_handle(zmsg_t *msg)
{
    char why[160] = "";
    json_t *line = json_object();
    zframe_t *topic = zmsg_first(msg);
    json_object_set_new(line, "topic", topic ? s_topic_json(topic) : json_null());
    if (topic && json_is_null(json_object_get(line, "topic"))) {
        snprintf(why, sizeof why, "topic is not valid UTF-8");
    } else if (zmsg_size(msg) != 3) {
        snprintf(why, sizeof why, "expected 3 frames, got %zu", zmsg_size(msg));
    } else {
        json_t *header = s_decode_map(zmsg_next(msg), "header", why, sizeof why);
        json_t *body = header ? s_decode_map(zmsg_next(msg), "body", why, sizeof why) : NULL;
        if (header && body) {
            json_object_set_new(line, "header", header);
            json_object_set_new(line, "body", body);
        } else {
            json_decref(header);
        }
    }
    if (why[0]) {
        json_object_set_new(line, "error", json_string(why));
        s_print_line(stderr, line);
    } else {
        s_print_line(stdout, line);
    }
    json_decref(line);
}

//  Parses argv into *connect / *filter. Returns 0, 1 for --help, -1 on error.
static int
s_parse_args(int argc, char **argv, const char **connect, const char **filter)
{
    static const struct option opts[] = {{"connect", required_argument, NULL, 'c'},
                                         {"filter", required_argument, NULL, 'f'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'c')
            *connect = optarg;
        else if (c == 'f')
            *filter = optarg;
        else if (c == 'h')
            return 1;
        else
            return -1;
    }
    return optind == argc ? 0 : -1;
}

int
main(int argc, char **argv)
{
    const char *connect = S_DEFAULT_CONNECT;
    const char *filter = "";
    int rc = s_parse_args(argc, argv, &connect, &filter);
    if (rc != 0) {
        s_usage(rc > 0 ? stdout : stderr);
        return rc > 0 ? 0 : 2;
    }
    s_install_signals();
    zsock_t *sub = zsock_new(ZMQ_SUB);
    zsock_set_rcvhwm(sub, S_TAP_HWM);
    zsock_set_maxmsgsize(sub, (int64_t)ZF_MAX_FRAME);
    zsock_set_subscribe(sub, filter);
    if (zsock_connect(sub, "%s", connect) != 0) {
        fprintf(stderr, "zmq-tap: cannot connect to %s: %s\n", connect, zmq_strerror(zmq_errno()));
        zsock_destroy(&sub);
        return 2;
    }
    int status = 0;
    while (!s_stop) {
        zmsg_t *msg = zmsg_recv(sub);
        if (msg) {
            s_handle(msg);
            zmsg_destroy(&msg);
        } else if (!s_stop && zmq_errno() != EINTR) {
            fprintf(stderr, "zmq-tap: receive failed: %s\n", zmq_strerror(zmq_errno()));
            status = 1;
            break;
        }
    }
    zsock_destroy(&sub);
    return status;
}
