/*  tools/keys_cli.c — `zflow keys create|list|revoke`.

    With no server running, the CLI opens the store itself. When a server
    holds the store (RocksDB's lock says so), the same request goes to the
    server's admin socket ipc://<data>/admin.sock (mode 0600: only this
    user may manage keys). create prints only the new key on stdout.
*/
#include "actors/keys.h"
#include "broker/errors.h"
#include "broker/ids.h"
#include "broker/msg.h"
#include "storage/store.h"
#include "tools/cli.h"

#include <czmq.h>
#include <getopt.h>
#include <limits.h>

typedef struct {
    const char *data;    // --data
    const char *tenant;  // --tenant
    const char *role;    // --role
    const char *name;    // --name
    const char *id;      // revoke: positional key id
} s_opts_t;

//  Sends one request to the running server's admin socket. Returns the
//  reply (caller destroys) or NULL on timeout.
static zf_msg_t *
s_admin_call(const char *data, zf_msg_t **req_p)
{
    char path[PATH_MAX], ep[PATH_MAX + 32];
    if (!realpath(data, path)) return NULL;
    snprintf(ep, sizeof ep, "ipc://%s/admin.sock", path);
    zsock_t *s = zsock_new_dealer(ep);
    if (!s) return NULL;
    zsock_set_rcvtimeo(s, 10000);
    (*req_p)->route = zmsg_new();
    zmsg_addmem((*req_p)->route, "", 0);
    zf_msg_t *r = NULL;
    if (zf_msg_send(req_p, s, 0) == 0) r = zf_msg_recv(s, true, NULL, NULL);
    zsock_destroy(&s);
    return r;
}

static int
s_print_reply(zf_msg_t *r, const char *verb)
{
    if (!r) {
        fprintf(stderr, "zflow keys: the server did not answer on its admin socket\n");
        return 1;
    }
    int rc = 0;
    if (r->kind != ZF_MSG_REPLY_OK) {
        fprintf(stderr, "zflow keys %s: %s: %s\n", verb, zf_msg_error_code(r),
                zf_msg_error_message(r));
        rc = 1;
    } else if (strcmp(verb, "create") == 0)
        printf("%s\n", json_string_value(json_object_get(r->body, "key")));
    else if (strcmp(verb, "list") == 0) {
        size_t i;
        json_t *k;
        json_array_foreach (json_object_get(r->body, "keys"), i, k) {
            char *line = json_dumps(k, JSON_COMPACT | JSON_SORT_KEYS);
            printf("%s\n", line);
            free(line);
        }
    } else
        printf("revoked %s\n", json_string_value(json_object_get(r->body, "id")));
    zf_msg_destroy(&r);
    return rc;
}

//  Direct mode: the CLI owns the store for the duration of the command.
static int
s_direct(zf_store_t *store, const char *verb, const s_opts_t *o)
{
    if (strcmp(verb, "create") == 0) {
        char key[ZF_KEY_LEN + 1], why[160];
        unsigned char hash[32];
        json_t *name = o->name ? json_string(o->name) : NULL;
        json_t *rec = zf_keys_new(o->tenant, o->role, name, key, hash, why, sizeof why);
        json_decref(name);
        if (!rec) {
            fprintf(stderr, "zflow keys create: %s\n", why);
            return 2;
        }
        zf_batch_t *b = zf_batch_new();
        zf_rec_key_put(b, hash, rec);
        int rc = zf_store_write(store, b);
        zf_batch_destroy(&b);
        json_decref(rec);
        if (rc) {
            fprintf(stderr, "zflow keys create: storage failure\n");
            return 1;
        }
        printf("%s\n", key);
        return 0;
    }
    zf_msg_t *r = zf_msg_new("reply");
    r->kind = ZF_MSG_REPLY_OK;
    if (strcmp(verb, "list") == 0) {
        json_t *keys = zf_rec_key_list(store, o->tenant);
        size_t i;
        json_t *k;
        json_array_foreach (keys, i, k)
            json_object_del(k, "hash");
        zf_msg_set_body(r, json_pack("{s:o}", "keys", keys ? keys : json_array()));
        return s_print_reply(r, verb);
    }
    unsigned char hash[32];
    json_t *rec = zf_rec_key_find(store, o->id, hash);
    if (!rec) {
        zf_msg_destroy(&r);
        fprintf(stderr, "zflow keys revoke: not_found: key not found\n");
        return 1;
    }
    zf_keys_mark_revoked(rec, zf_now_ms());
    zf_batch_t *b = zf_batch_new();
    zf_rec_key_put(b, hash, rec);
    int rc = zf_store_write(store, b);
    zf_batch_destroy(&b);
    json_decref(rec);
    zf_msg_set_body(r, json_pack("{s:s}", "id", o->id));
    if (rc) {
        zf_msg_destroy(&r);
        fprintf(stderr, "zflow keys revoke: storage failure\n");
        return 1;
    }
    return s_print_reply(r, verb);
}

static int
s_parse(int argc, char **argv, const char *verb, s_opts_t *o)
{
    static const struct option longopts[] = {{"data", required_argument, NULL, 'd'},
                                             {"tenant", required_argument, NULL, 't'},
                                             {"role", required_argument, NULL, 'r'},
                                             {"name", required_argument, NULL, 'n'},
                                             {NULL, 0, NULL, 0}};
    *o = (s_opts_t){.data = "./zflow-data"};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (c == 'd')
            o->data = optarg;
        else if (c == 't')
            o->tenant = optarg;
        else if (c == 'r')
            o->role = optarg;
        else if (c == 'n')
            o->name = optarg;
        else
            return -1;
    }
    if (strcmp(verb, "revoke") == 0) {
        if (optind + 1 != argc) return -1;
        o->id = argv[optind];
    } else if (optind != argc)
        return -1;
    if (strcmp(verb, "create") == 0 && (!o->tenant || !o->role)) return -1;
    return 0;
}

int
zf_cli_keys(int argc, char **argv)
{
    const char *verb = argc >= 2 ? argv[1] : "";
    s_opts_t o;
    if ((strcmp(verb, "create") && strcmp(verb, "list") && strcmp(verb, "revoke")) ||
        s_parse(argc - 1, argv + 1, verb, &o) < 0) {
        fprintf(stderr, "usage: zflow keys create --tenant T --role owner|admin|member|viewer "
                        "[--name N] [--data DIR]\n"
                        "       zflow keys list [--tenant T] [--data DIR]\n"
                        "       zflow keys revoke KEY_ID [--data DIR]\n");
        return 2;
    }
    zsys_handler_set(NULL);
    char *err = NULL;
    zf_store_t *store = zf_store_open(o.data, true, &err);
    if (store) {
        int rc = s_direct(store, verb, &o);
        zf_store_destroy(&store);
        return rc;
    }
    bool locked = err && (strstr(err, "lock") || strstr(err, "Lock"));
    if (!locked) {
        fprintf(stderr, "zflow keys: cannot open store in %s: %s\n", o.data, err ? err : "?");
        free(err);
        return 1;
    }
    free(err);
    char type[16];
    snprintf(type, sizeof type, "key.%s", verb);
    zf_msg_t *req = zf_msg_new(type);
    json_t *body = json_object();
    if (o.tenant) json_object_set_new(body, "tenant", json_string(o.tenant));
    if (o.role) json_object_set_new(body, "role", json_string(o.role));
    if (o.name) json_object_set_new(body, "name", json_string(o.name));
    if (o.id) json_object_set_new(body, "id", json_string(o.id));
    zf_msg_set_body(req, body);
    return s_print_reply(s_admin_call(o.data, &req), verb);
}
