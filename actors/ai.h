/*  actors/ai.h — the AI provider interface of the `ai` and `agent` steps.

    A provider is a const table of function pointers (like a step kind).
    One implementation ships: "openai", any OpenAI-compatible endpoint
    (POST {url}/chat/completions). The endpoint comes from the operator
    (--ai-url, --ai-model, ZFLOW_AI_KEY), never from a workflow, so these
    calls skip the egress guard that protects http_request (docs/ai.md).

    Ownership: a request borrows everything it points to; chat() fills a
    zf_ai_reply_t whose strings and json are owned by the reply until
    zf_ai_reply_clear(). chat() never aborts on provider input: malformed,
    oversized or failed answers come back as an error status with a
    message in reply->error.
*/
#ifndef ZF_AI_H
#define ZF_AI_H

#include "actors/step.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define ZF_AI_DEFAULT_MODEL    "gpt-4o-mini"  // when neither the node nor --ai-model says
#define ZF_AI_TIMEOUT_MS       60000          // default request timeout (node timeout_ms wins)
#define ZF_AI_RESPONSE_MAX     (1024 * 1024)  // response body cap
#define ZF_AI_TEXT_MAX         (512 * 1024)   // rendered prompt / system text cap
#define ZF_AI_MAX_TOKENS_LIMIT 32768          // max_tokens upper bound
#define ZF_AI_UNCONFIGURED                                                                         \
    "ai: no AI provider is configured: start zflow with --ai-url (key in ZFLOW_AI_KEY)"

typedef enum {
    ZF_AI_OK = 0,  // reply filled
    ZF_AI_RETRY,   // failed, worth retrying (408, 429, 5xx, transport, timeout)
    ZF_AI_FINAL    // failed for good (other 4xx, malformed or oversized answer)
} zf_ai_status_t;

//  Where the provider lives (operator settings).
typedef struct {
    const char *url;  // base URL, e.g. "http://127.0.0.1:8000/v1" (a trailing '/' is ignored)
    const char *key;  // bearer key; NULL or "" = no Authorization header
} zf_ai_endpoint_t;

//  One chat completion.
typedef struct {
    const char *model;       // model name (required)
    const json_t *messages;  // [{"role": "system"|"user"|..., "content": str}, ...]
    double temperature;      // < 0 = not sent
    int max_tokens;          // 0 = not sent
    int json;                // 1: response_format {"type": "json_object"}
    long timeout_ms;         // whole-request timeout
} zf_ai_request_t;

//  The answer (or the failure).
typedef struct {
    char *text;              // message content (owned); NULL on failure
    char *model;             // model that answered (owned): the response's, else the request's
    char *finish_reason;     // owned; NULL when the provider sent none
    json_t *usage;           // {"prompt_tokens", "completion_tokens", "total_tokens"}: int or null
    long http_status;        // last HTTP status (0 = no answer)
    int64_t retry_after_ms;  // ZF_AI_RETRY: Retry-After asked for this long (0 = none)
    char error[256];         // failure message, "" on success
} zf_ai_reply_t;

typedef struct {
    const char *name;  // provider name ("openai")
    //  One request; blocks up to req->timeout_ms. Fills reply (zeroed by
    //  the caller) and returns its status.
    zf_ai_status_t (*chat)(const zf_ai_endpoint_t *ep, const zf_ai_request_t *req,
                           zf_ai_reply_t *reply);
} zf_ai_provider_t;

//  The OpenAI-compatible provider.
extern const zf_ai_provider_t zf_ai_openai;

//  Releases what a reply owns and zeroes it (idempotent).
void zf_ai_reply_clear(zf_ai_reply_t *reply);

// -------------------------------------------------------------------------
//  Shared by the ai and agent step kinds

//  Checks the model/system/temperature/max_tokens/json keys of a step
//  config (each optional); 0 or -1 with err naming the field.
int zf_ai_check_options(const json_t *config, char *err, size_t errlen);

//  Runs one completion for a step: system (may be NULL) and prompt become
//  the messages, the options come from config (model, temperature,
//  max_tokens, json), the endpoint from ctx. Sets res: OK with output
//  {"text", "model", "finish_reason", "usage", "json"?}, FAIL (retryable)
//  or FAIL_FINAL (unconfigured, 4xx, malformed answer); errors start "ai: ".
void zf_ai_step_run(zf_step_ctx_t *ctx, const json_t *config, const char *system,
                    const char *prompt, zf_step_result_t *res);

#endif
