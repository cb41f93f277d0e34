/*  http/idem.c — Idempotency-Key on mutating requests.

    The engine keeps the records (idem.claim / idem.store / idem.release,
    docs/protocol.md); the front end only fingerprints the request (sha256
    of method, path and raw body) and acts on the claim's answer: "new"
    runs the handler and stores its answer (or releases the claim when the
    answer is a 5xx, so a retry can run again), "done" replays the stored
    answer with Idempotent-Replayed: true, "pending" is 409 and "mismatch"
    (same key, different request) is 422.
*/
#include "http/http_int.h"

#include <assert.h>
#include <openssl/evp.h>

#define S_IDEM_TIMEOUT_MS 5000  // round trip of idem.* messages

static bool
s_mutating(const char *method)
{
    return !strcmp(method, "POST") || !strcmp(method, "PATCH") || !strcmp(method, "DELETE") ||
           !strcmp(method, "PUT");
}

static void
s_fingerprint(zf_http_req_t *req)
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    const char *path = req->ri->local_uri ? req->ri->local_uri : "";
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    assert(c);
    EVP_DigestInit_ex(c, EVP_sha256(), NULL);
    EVP_DigestUpdate(c, req->ri->request_method, strlen(req->ri->request_method));
    EVP_DigestUpdate(c, "\n", 1);
    EVP_DigestUpdate(c, path, strlen(path));
    EVP_DigestUpdate(c, "\n", 1);
    if (req->raw) EVP_DigestUpdate(c, req->raw, req->raw_len);
    EVP_DigestFinal_ex(c, d, &dlen);
    EVP_MD_CTX_free(c);
    for (unsigned int i = 0; i < dlen && i < 32; i++)
        snprintf(req->idem_fp + 2 * i, 3, "%02x", d[i]);
}

//  Replays a stored answer: its status and body as stored.
static void
s_replay(zf_http_req_t *req, json_t *rep)
{
    json_int_t status = json_integer_value(json_object_get(rep, "status"));
    const char *body = json_string_value(json_object_get(rep, "body"));
    if (status < 200 || status > 599 || !body) {
        zf_http_fail(req, ZF_EIO, "bad stored answer");
        return;
    }
    req->status = (int)status;
    req->text = strdup(body);
    req->replayed = true;
}

//  Answers for a claim that is not "new"; false if it is new.
static bool
s_claim_answer(zf_http_req_t *req, json_t *rep)
{
    const char *state = json_string_value(json_object_get(rep, "state"));
    if (state && strcmp(state, "new") == 0) {
        req->idem_claimed = true;
        return false;
    }
    if (state && strcmp(state, "done") == 0)
        s_replay(req, rep);
    else if (state && strcmp(state, "pending") == 0)
        zf_http_fail_code(req, 0, "idempotency_in_progress",
                          "A request with this Idempotency-Key is still in progress");
    else if (state && strcmp(state, "mismatch") == 0)
        zf_http_fail_code(req, 0, "idempotency_mismatch",
                          "This Idempotency-Key was used with a different request");
    else
        zf_http_fail(req, ZF_EIO, "bad claim answer");
    return true;
}

bool
zf_http_idem_begin(zf_http_req_t *req)
{
    const char *key = mg_get_header(req->conn, "Idempotency-Key");
    if (!key || !s_mutating(req->ri->request_method)) return false;
    size_t n = strlen(key);
    bool printable = n >= 1 && n <= 255;
    for (size_t i = 0; printable && i < n; i++)
        printable = key[i] >= 0x20 && key[i] < 0x7f;
    if (!printable) {
        zf_http_fail(req, ZF_EINVAL, "Idempotency-Key must be 1..255 printable ASCII characters");
        return true;
    }
    memcpy(req->idem_key, key, n + 1);
    s_fingerprint(req);
    json_t *rep = NULL;
    int rc = zf_http_call(req, "idem.claim",
                          json_pack("{s:s, s:s, s:s}", "scope", req->who.user, "key", key,
                                    "fingerprint", req->idem_fp),
                          S_IDEM_TIMEOUT_MS, &rep, NULL, 0);
    if (rc) {
        zf_http_fail(req, rc == ZF_EUNSUPPORTED ? ZF_EUNSUPPORTED : rc,
                     "Idempotency keys cannot be processed right now");
        return true;
    }
    bool answered = s_claim_answer(req, rep);
    json_decref(rep);
    return answered;
}

void
zf_http_idem_finish(zf_http_req_t *req)
{
    if (!req->idem_claimed) return;
    json_t *rep = NULL, *body;
    if (req->status >= 500)
        body = json_pack("{s:s, s:s}", "scope", req->who.user, "key", req->idem_key);
    else
        body = json_pack("{s:s, s:s, s:s, s:i, s:s}", "scope", req->who.user, "key", req->idem_key,
                         "fingerprint", req->idem_fp, "status", req->status, "body", req->text);
    int rc = zf_http_call(req, req->status >= 500 ? "idem.release" : "idem.store", body,
                          S_IDEM_TIMEOUT_MS, &rep, NULL, 0);
    if (rc) zsys_warning("http: could not record an idempotent answer (%s)", zf_err_name(rc));
    json_decref(rep);
}
