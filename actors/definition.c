/*  actors/definition.c — validation of workflow definitions. */
#include "actors/definition.h"
#include "actors/template.h"
#include "actors/step.h"
#include "broker/errors.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static int
s_id_valid(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > 64) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

//  Index of the node with this id among the first `before` nodes, or -1.
static int
s_find_before(const json_t *nodes, const char *id, size_t before)
{
    for (size_t i = 0; i < before; i++) {
        const char *other = json_string_value(json_object_get(json_array_get(nodes, i), "id"));
        if (other && strcmp(other, id) == 0) return (int)i;
    }
    return -1;
}

static int
s_number_in(const json_t *v, double lo, double hi)
{
    if (!json_is_number(v)) return 0;
    double d = json_number_value(v);
    return isfinite(d) && d >= lo && d <= hi;
}

#define S_NODE_FAIL(fmt, ...)                                                                      \
    zf_errf(err, errlen, "nodes[%zu] (id \"%s\"): " fmt, idx, id ? id : "?", __VA_ARGS__)

static int
s_validate_retry(const json_t *retry, size_t idx, const char *id, char *err, size_t errlen)
{
    if (!json_is_object(retry)) return S_NODE_FAIL("%s", "retry: must be an object");
    static const struct {
        const char *name;
        double lo, hi;
    } fields[] = {{"max_attempts", 1, 20},
                  {"initial_interval_ms", 0, 86400000},
                  {"backoff_coefficient", 1, 100},
                  {"max_interval_ms", 0, 7 * 86400000.0},
                  {"jitter", 0, 1}};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        json_t *v = json_object_get(retry, fields[i].name);
        if (v && !s_number_in(v, fields[i].lo, fields[i].hi))
            return S_NODE_FAIL("retry.%s: must be a number between %g and %g", fields[i].name,
                               fields[i].lo, fields[i].hi);
    }
    json_t *ma = json_object_get(retry, "max_attempts");
    if (ma && !json_is_integer(ma))
        return S_NODE_FAIL("%s", "retry.max_attempts: must be an integer");
    json_t *nr = json_object_get(retry, "non_retryable");
    if (nr) {
        size_t i;
        json_t *x;
        if (!json_is_array(nr))
            return S_NODE_FAIL("%s", "retry.non_retryable: must be an array of strings");
        json_array_foreach (nr, i, x)
            if (!json_is_string(x))
                return S_NODE_FAIL("%s", "retry.non_retryable: must be an array of strings");
    }
    return 0;
}

//  Checks input_from/branch against the earlier nodes.
static int
s_validate_links(const json_t *nodes, const json_t *node, size_t idx, const char *id, char *err,
                 size_t errlen)
{
    json_t *from = json_object_get(node, "input_from");
    json_t *branch = json_object_get(node, "branch");
    int dep = -1;
    if (from && !json_is_null(from)) {
        if (!json_is_string(from)) return S_NODE_FAIL("%s", "input_from: must be a node id string");
        dep = s_find_before(nodes, json_string_value(from), idx);
        if (dep < 0)
            return S_NODE_FAIL("input_from: \"%s\" is not an earlier node",
                               json_string_value(from));
    }
    if (branch && !json_is_null(branch)) {
        const char *b = json_is_string(branch) ? json_string_value(branch) : "";
        if (strcmp(b, "true") != 0 && strcmp(b, "false") != 0)
            return S_NODE_FAIL("%s", "branch: must be \"true\" or \"false\"");
        const char *dtype =
            dep < 0
                ? NULL
                : json_string_value(json_object_get(json_array_get(nodes, (size_t)dep), "type"));
        if (!dtype || (strcmp(dtype, "condition") != 0 && strcmp(dtype, "approval") != 0))
            return S_NODE_FAIL("%s",
                               "branch: needs input_from naming a condition or approval node");
    }
    return 0;
}

static int
s_validate_node(const json_t *nodes, size_t idx, char *err, size_t errlen)
{
    const json_t *node = json_array_get(nodes, idx);
    const char *id = NULL;
    if (!json_is_object(node)) return zf_errf(err, errlen, "nodes[%zu]: must be an object", idx);
    json_t *jid = json_object_get(node, "id");
    if (!json_is_string(jid) || !s_id_valid(json_string_value(jid)))
        return zf_errf(err, errlen, "nodes[%zu]: id: must be 1-64 characters of A-Z a-z 0-9 _ -",
                       idx);
    id = json_string_value(jid);
    if (s_find_before(nodes, id, idx) >= 0) return S_NODE_FAIL("%s", "id: duplicate node id");
    json_t *jtype = json_object_get(node, "type");
    if (!json_is_string(jtype)) return S_NODE_FAIL("%s", "type: required string");
    const zf_step_kind_t *kind = zf_step_find(json_string_value(jtype));
    if (!kind) return S_NODE_FAIL("type \"%s\" is not a known step type", json_string_value(jtype));
    json_t *config = json_object_get(node, "config");
    if (config && !json_is_object(config)) return S_NODE_FAIL("%s", "config: must be an object");
    json_t *name = json_object_get(node, "name");
    if (name && !json_is_null(name) &&
        !(json_is_string(name) && json_string_length(name) >= 1 && json_string_length(name) <= 200))
        return S_NODE_FAIL("%s", "name: must be a string of 1 to 200 characters");
    //  Seed 002 puts `action` on the node (a connector for `integration`,
    //  a label elsewhere): the kind checks it as part of its config, the
    //  node-level value winning, so create-time errors name it.
    json_t *action = json_object_get(node, "action");
    if (action && !(json_is_string(action) && json_string_length(action) >= 1 &&
                    json_string_length(action) <= 128))
        return S_NODE_FAIL("%s", "action: must be a string of 1 to 128 characters");
    json_t *cfg = config ? json_copy(config) : json_object();
    if (action) json_object_set(cfg, "action", action);
    char kerr[256] = "";
    int rc = kind->validate(cfg, kerr, sizeof kerr);
    json_decref(cfg);
    if (rc) return S_NODE_FAIL("%s", kerr[0] ? kerr : "config: invalid");
    //  Every string of the config is rendered before the node runs (a
    //  loop's inner step and an approval's notice, later, the same way):
    //  a template that cannot render is refused now, not at the run.
    if (config && (rc = zf_tpl_check_value(config, kerr, sizeof kerr)))
        return S_NODE_FAIL("config.%s", kerr);
    json_t *retry = json_object_get(node, "retry");
    if (retry && (rc = s_validate_retry(retry, idx, id, err, errlen))) return rc;
    json_t *t = json_object_get(node, "timeout_ms");
    if (t && !(json_is_integer(t) && s_number_in(t, 1, 3600000)))
        return S_NODE_FAIL("%s", "timeout_ms: must be an integer between 1 and 3600000");
    return s_validate_links(nodes, node, idx, id, err, errlen);
}

int
zf_def_validate(const json_t *def, char *err, size_t errlen)
{
    if (!json_is_object(def)) return zf_errf(err, errlen, "definition: must be an object");
    json_t *nodes = json_object_get(def, "nodes");
    if (!json_is_array(nodes)) return zf_errf(err, errlen, "definition.nodes: must be an array");
    if (json_array_size(nodes) > ZF_DEF_MAX_NODES)
        return zf_errf(err, errlen, "definition.nodes: at most %d nodes", ZF_DEF_MAX_NODES);
    for (const char *k = "inputs"; k; k = strcmp(k, "inputs") == 0 ? "outputs" : NULL) {
        json_t *v = json_object_get(def, k);
        if (v && !json_is_object(v) && !json_is_null(v))
            return zf_errf(err, errlen, "definition.%s: must be an object", k);
    }
    for (size_t i = 0; i < json_array_size(nodes); i++) {
        int rc = s_validate_node(nodes, i, err, errlen);
        if (rc) return rc;
    }
    return 0;
}

static double
s_num(const json_t *obj, const char *k, double dflt)
{
    json_t *v = json_object_get(obj, k);
    return json_is_number(v) ? json_number_value(v) : dflt;
}

void
zf_def_retry(const json_t *node, zf_retry_t *out)
{
    json_t *r = json_object_get(node, "retry");
    out->max_attempts = (int)s_num(r, "max_attempts", 3);
    out->initial_interval_ms = (int64_t)s_num(r, "initial_interval_ms", 1000);
    out->backoff_coefficient = s_num(r, "backoff_coefficient", 2.0);
    out->max_interval_ms = (int64_t)s_num(r, "max_interval_ms", 300000);
    out->jitter = s_num(r, "jitter", 0.2);
}

int64_t
zf_def_backoff_ms(const zf_retry_t *r, int attempt, double rnd)
{
    double base = (double)r->initial_interval_ms * pow(r->backoff_coefficient, attempt - 1);
    if (base > (double)r->max_interval_ms) base = (double)r->max_interval_ms;
    double j = base * r->jitter * (2.0 * rnd - 1.0);
    double ms = base + j;
    return ms < 0 ? 0 : (int64_t)ms;
}
