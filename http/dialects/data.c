/*  http/dialects/data.c — the tenant's data in the v2 style, mounted at
    /api/v2: module records, event ingestion and in-app notifications
    (issue 5). Envelopes as v2: {"success": true, "record"|"records"+
    "count"+"total"|...}; errors {"success": false, "error", "code"}.

      POST   /records/:module          body = the record's fields   -> 201 record
      GET    /records/:module          ?limit (<= 500) &offset       -> records
      GET    /records/:module/:id                                     -> record
      PATCH  /records/:module/:id      body = fields (null removes)  -> record, changed
      DELETE /records/:module/:id                                     -> message
      POST   /events                   {"events": [...]}              -> 202 accepted
      GET    /notifications            ?user_id (default: caller)     -> notifications

    Record changes emit record.created / record.updated / record.deleted
    (and field.changed per changed field) to the automations; the reply
    tells how many runs they started. Times are ISO-8601 UTC with ms.
*/
#include "broker/ids.h"
#include "http/dialect.h"
#include "http/dialects/dialects.h"

#include <stdio.h>
#include <string.h>

static const char *const S_REC_404 = "Record not found";

/* ---- views and answers ------------------------------------------------------------ */

//  A record with its time fields in ISO form.
static json_t *
s_record_view(const json_t *rec)
{
    json_t *out = json_deep_copy(rec);
    static const char *const times[] = {"created_at", "updated_at"};
    for (int i = 0; i < 2; i++) {
        json_t *v = json_object_get(out, times[i]);
        if (json_is_integer(v)) json_object_set_new(out, times[i], zf_http_time_json(v));
    }
    return out;
}

static void
s_fail_call(zf_http_req_t *req, int rc, const char *msg)
{
    if (rc == ZF_ENOTFOUND)
        zf_http_fail(req, rc, "%s", S_REC_404);
    else
        zf_http_fail(req, rc, "%s", *msg ? msg : "Request failed");
}

//  One broker call; answers the failure itself and returns NULL.
static json_t *
s_call(zf_http_req_t *req, const char *type, json_t *body)
{
    json_t *out = NULL;
    char msg[512];
    int rc = zf_http_call(req, type, body, ZF_HTTP_CALL_TIMEOUT_MS, &out, msg, sizeof msg);
    if (rc) {
        s_fail_call(req, rc, msg);
        return NULL;
    }
    return out;
}

//  :id must look like one of our ids; anything else is simply not found.
static const char *
s_id(zf_http_req_t *req)
{
    const char *id = zf_http_param(req, "id");
    if (id && zf_uuid_valid(id)) return id;
    zf_http_fail(req, ZF_ENOTFOUND, "%s", S_REC_404);
    return NULL;
}

/* ---- records ---------------------------------------------------------------------- */

static void
s_rec_create(zf_http_req_t *req)
{
    json_t *body = zf_http_body(req);
    json_t *rec = json_object_get(body, "record");
    //  Either {"record": {...}} or the fields themselves.
    json_t *fields = json_is_object(rec) && json_object_size(body) == 1 ? rec : body;
    json_t *out =
        s_call(req, "rec.create",
               json_pack("{s:s, s:O}", "module", zf_http_param(req, "module"), "record", fields));
    if (!out) return;
    zf_http_respond(req, 201,
                    json_pack("{s:b, s:o, s:O}", "success", 1, "record",
                              s_record_view(json_object_get(out, "record")), "runs_started",
                              json_object_get(out, "runs_started")));
    json_decref(out);
}

static void
s_rec_list(zf_http_req_t *req)
{
    int64_t limit, offset;
    if (zf_http_query_int(req, "limit", 50, 0, 500, &limit) ||
        zf_http_query_int(req, "offset", 0, 0, INT32_MAX, &offset)) {
        zf_http_fail(req, ZF_EINVAL, "limit must be 0..500 and offset >= 0");
        return;
    }
    json_t *out = s_call(req, "rec.list",
                         json_pack("{s:s, s:I, s:I}", "module", zf_http_param(req, "module"),
                                   "limit", (json_int_t)limit, "offset", (json_int_t)offset));
    if (!out) return;
    json_t *items = json_array();
    size_t i;
    json_t *r;
    json_array_foreach (json_object_get(out, "records"), i, r)
        json_array_append_new(items, s_record_view(r));
    zf_http_respond(req, 200,
                    json_pack("{s:b, s:o, s:I, s:O}", "success", 1, "records", items, "count",
                              (json_int_t)json_array_size(items), "total",
                              json_object_get(out, "total")));
    json_decref(out);
}

static void
s_rec_get(zf_http_req_t *req)
{
    const char *id = s_id(req);
    if (!id) return;
    json_t *out = s_call(req, "rec.get",
                         json_pack("{s:s, s:s}", "module", zf_http_param(req, "module"), "id", id));
    if (!out) return;
    zf_http_respond(req, 200,
                    json_pack("{s:b, s:o}", "success", 1, "record",
                              s_record_view(json_object_get(out, "record"))));
    json_decref(out);
}

static void
s_rec_update(zf_http_req_t *req)
{
    const char *id = s_id(req);
    if (!id) return;
    json_t *body = zf_http_body(req);
    if (json_object_size(body) == 0) {
        zf_http_fail(req, ZF_EINVAL, "body: the fields to change are required");
        return;
    }
    json_t *out = s_call(req, "rec.update",
                         json_pack("{s:s, s:s, s:O}", "module", zf_http_param(req, "module"), "id",
                                   id, "patch", body));
    if (!out) return;
    zf_http_respond(req, 200,
                    json_pack("{s:b, s:o, s:O, s:O}", "success", 1, "record",
                              s_record_view(json_object_get(out, "record")), "changed",
                              json_object_get(out, "changed"), "runs_started",
                              json_object_get(out, "runs_started")));
    json_decref(out);
}

static void
s_rec_delete(zf_http_req_t *req)
{
    const char *id = s_id(req);
    if (!id) return;
    json_t *out = s_call(req, "rec.delete",
                         json_pack("{s:s, s:s}", "module", zf_http_param(req, "module"), "id", id));
    if (!out) return;
    zf_http_respond(req, 200,
                    json_pack("{s:b, s:s, s:O}", "success", 1, "message",
                              "Record deleted successfully", "runs_started",
                              json_object_get(out, "runs_started")));
    json_decref(out);
}

/* ---- events and notifications -------------------------------------------------------- */

static void
s_events(zf_http_req_t *req)
{
    json_t *events = json_object_get(zf_http_body(req), "events");
    if (!json_is_array(events)) {
        zf_http_fail(req, ZF_EINVAL, "events: required array");
        return;
    }
    json_t *out = s_call(req, "events.ingest", json_pack("{s:O}", "events", events));
    if (!out) return;
    zf_http_respond(req, 202,
                    json_pack("{s:b, s:O, s:O}", "success", 1, "accepted",
                              json_object_get(out, "accepted"), "runs_started",
                              json_object_get(out, "runs_started")));
    json_decref(out);
}

static void
s_notifications(zf_http_req_t *req)
{
    char user[129];
    int64_t limit;
    json_t *body = json_object();
    if (zf_http_query_int(req, "limit", 50, 0, 500, &limit)) {
        json_decref(body);
        zf_http_fail(req, ZF_EINVAL, "limit must be 0..500");
        return;
    }
    json_object_set_new(body, "limit", json_integer(limit));
    int got = zf_http_query(req, "user_id", user, sizeof user);
    if (got == ZF_HTTP_QUERY_BAD) {
        json_decref(body);
        zf_http_fail(req, ZF_EINVAL, "user_id: at most %zu bytes, no NUL", sizeof user - 1);
        return;
    }
    if (got > 0) json_object_set_new(body, "user_id", json_string(user));
    json_t *out = s_call(req, "notify.list", body);
    if (!out) return;
    json_t *items = json_array();
    size_t i;
    json_t *n;
    json_array_foreach (json_object_get(out, "notifications"), i, n)
        json_array_append_new(items, s_record_view(n));
    zf_http_respond(req, 200,
                    json_pack("{s:b, s:o, s:I, s:O}", "success", 1, "notifications", items, "count",
                              (json_int_t)json_array_size(items), "total",
                              json_object_get(out, "total")));
    json_decref(out);
}

/* ---- dialect ------------------------------------------------------------------------ */

static json_t *
s_render_error(int status, const char *code, const char *message)
{
    (void)status;
    return json_pack("{s:b, s:s, s:s}", "success", 0, "error", message, "code", code);
}

static const zf_http_route_t s_routes[] = {
    {"POST", "/records/:module", ZF_HTTP_MEMBER, s_rec_create},
    {"GET", "/records/:module", ZF_HTTP_VIEWER, s_rec_list},
    {"GET", "/records/:module/:id", ZF_HTTP_VIEWER, s_rec_get},
    {"PATCH", "/records/:module/:id", ZF_HTTP_MEMBER, s_rec_update},
    {"DELETE", "/records/:module/:id", ZF_HTTP_MEMBER, s_rec_delete},
    {"POST", "/events", ZF_HTTP_MEMBER, s_events},
    {"GET", "/notifications", ZF_HTTP_VIEWER, s_notifications},
    {NULL, NULL, 0, NULL},
};

const zf_http_dialect_t zf_dialect_data = {
    .name = "data",
    .default_prefix = "/api/v2",
    .routes = s_routes,
    .render_error = s_render_error,
    .status_for = NULL,
    .render_event = NULL,
};
