#!/bin/bash
# tests/seed001_curls.sh — the requests of seed 001 (the Automations API,
# ../shared/seeds/001_16938ad4d0bc9d58.txt) as curl commands, run against a
# local zflow (the automations dialect, mounted at /api/workflows).
#
# The seed has no curl examples, only a table of routes and JSON examples,
# so the commands below are built from them: the seed's own request bodies
# (create, resume, send-email) are stored verbatim (the test checks each is
# a verbatim part of the seed text); the other requests are the routes of
# the seed's table with the documented query parameters. Each example is
# preceded by a line "# expect: KEY ..." naming the keys the seed documents
# for its answer ("[]" first: the answer is an array whose items have them;
# "run.KEY": keys inside "run").
#
# usage:
#   seed001_curls.sh                run all examples in order
#   seed001_curls.sh N              run example N (1-based)
#   seed001_curls.sh --check        run all; each must answer 2xx with its
#                                   documented keys; prints "N passed, N failed"
#   seed001_curls.sh --count        how many examples there are
#   seed001_curls.sh --print [N]    the examples as they will run (after substitution)
#   seed001_curls.sh --embedded     the examples exactly as stored
#
# environment:
#   ZF_BASE           server base URL (default http://127.0.0.1:8080) for the
#                     examples' http://localhost:3000
#   ZF_KEY            API key (or JWT) for YOUR_API_KEY: an admin or owner key
#                     (the examples create, update and delete automations)
#   ZF_WF_ID          an automation id for AUTOMATION_ID; when unset, the id
#                     the create example answers is used by the later ones
#   ZF_RUN_ID         a run of that automation for RUN_ID; when unset, the
#                     run the execute example started
#   ZF_PAUSED_RUN_ID  a paused run (an approval step) for PAUSED_RUN_ID
#
# Replaced in the text (sed): the host, the key, the three ids, and the
# send-email example's placeholder "base64-encoded-content..." (not base64)
# by "JVBERi0xLjQK" (the bytes "%PDF-1.4\n"). Every other byte is as stored.
# Output per example: "=== example N", the answer's body, "=== status NNN".
set -u

examples() {
cat <<'SEED_EXAMPLES'
# expect: [] id name status trigger steps _count createdAt
curl -X GET "http://localhost:3000/api/workflows" \
  -H "Authorization: Bearer YOUR_API_KEY"
#----
# expect: id name status trigger steps _count createdAt
curl -X POST "http://localhost:3000/api/workflows" \
  -H "Authorization: Bearer YOUR_API_KEY" \
  -H "Content-Type: application/json" \
  -d '{
"name": "Welcome Email on Signup",
"description": "Sends welcome email when a form is submitted",
"formId": "cm...",
"status": "ACTIVE",
"trigger": {
"type": "form_submission",
"config": { "formId": "cm..." }
},
"steps": [
{
"name": "Send Welcome Email",
"type": "email",
"config": {
"to": "{{submission.email}}",
"subject": "Welcome!",
"body": "Thank you for signing up."
},
"order": 0
}
]
}'
#----
# expect: id name status trigger steps _count createdAt
curl -X GET "http://localhost:3000/api/workflows/AUTOMATION_ID" \
  -H "Authorization: Bearer YOUR_API_KEY"
#----
# expect: runId status startedAt
curl -X POST "http://localhost:3000/api/workflows/AUTOMATION_ID/execute" \
  -H "Authorization: Bearer YOUR_API_KEY"
#----
# expect: runs pagination
curl -X GET "http://localhost:3000/api/workflows/AUTOMATION_ID/runs?page=1&pageSize=20" \
  -H "Authorization: Bearer YOUR_API_KEY"
#----
# expect: run run.id run.status run.startedAt run.completedAt run.error run.logs run.state run.workflow run.childRuns
curl -X GET "http://localhost:3000/api/workflows/AUTOMATION_ID/runs/RUN_ID" \
  -H "Authorization: Bearer YOUR_API_KEY"
#----
# expect: workflow exportedAt runCount runs
curl -X GET "http://localhost:3000/api/workflows/AUTOMATION_ID/runs/export" \
  -H "Authorization: Bearer YOUR_API_KEY"
#----
# expect: workflow exportedAt runCount runs
curl -X GET "http://localhost:3000/api/workflows/AUTOMATION_ID/runs/export?runId=RUN_ID" \
  -H "Authorization: Bearer YOUR_API_KEY"
#----
# expect: runId status
curl -X POST "http://localhost:3000/api/workflows/runs/PAUSED_RUN_ID/resume" \
  -H "Authorization: Bearer YOUR_API_KEY" \
  -H "Content-Type: application/json" \
  -d '{
"decision": "approved",
"data": { "notes": "LGTM" }
}'
#----
# expect: workflows runs
curl -X GET "http://localhost:3000/api/workflows/stats" \
  -H "Authorization: Bearer YOUR_API_KEY"
#----
# expect: messageId provider accepted rejected
curl -X POST "http://localhost:3000/api/workflows/send-email" \
  -H "Authorization: Bearer YOUR_API_KEY" \
  -H "Content-Type: application/json" \
  -d '{
"to": "client@example.com",
"subject": "Your document is ready",
"body": "Please review the attached document.",
"html": "<p>Please review the attached <strong>document</strong>.</p>",
"cc": ["manager@example.com"],
"attachments": [
{
"filename": "report.pdf",
"content": "base64-encoded-content...",
"contentType": "application/pdf"
}
]
}'
#----
# expect: id name status trigger steps _count createdAt
curl -X PATCH "http://localhost:3000/api/workflows/AUTOMATION_ID" \
  -H "Authorization: Bearer YOUR_API_KEY" \
  -H "Content-Type: application/json" \
  -d '{ "status": "PAUSED" }'
#----
# expect: success id
curl -X DELETE "http://localhost:3000/api/workflows/AUTOMATION_ID" \
  -H "Authorization: Bearer YOUR_API_KEY"
#----
SEED_EXAMPLES
}

substituted() {
    example "$1" | sed \
        -e "s|http://localhost:3000|${ZF_BASE:-http://127.0.0.1:8080}|g" \
        -e "s|YOUR_API_KEY|${ZF_KEY:-YOUR_API_KEY}|g" \
        -e "s|AUTOMATION_ID|${ZF_WF_ID:-AUTOMATION_ID}|g" \
        -e "s|PAUSED_RUN_ID|${ZF_PAUSED_RUN_ID:-PAUSED_RUN_ID}|g" \
        -e "s|\bRUN_ID\b|${ZF_RUN_ID:-RUN_ID}|g" \
        -e "s|base64-encoded-content\.\.\.|JVBERi0xLjQK|g"
}

# The create example's id and the execute example's run feed the later
# examples unless ZF_WF_ID / ZF_RUN_ID were given.
after_example() {
    local body
    body=$(printf '%s\n' "$2" | sed -e '1d' -e '/^=== status /d')
    case "$1" in
    2) [ -n "${ZF_WF_ID:-}" ] || export ZF_WF_ID="$(printf '%s' "$body" | first_id)" ;;
    4) [ -n "${ZF_RUN_ID:-}" ] || export ZF_RUN_ID="$(printf '%s' "$body" |
        grep -o '"runId" *: *"[^"]*"' | head -n 1 | sed 's/.*"\([^"]*\)"$/\1/')" ;;
    esac
}

# check_answer N OUTPUT: 2xx and every documented key present.
check_answer() {
    local keys
    keys=$(example "$1" | sed -n 's/^# expect: //p')
    printf '%s\n' "$2" | /usr/bin/python3 -c '
import json, re, sys
keys, text = sys.argv[1].split(), sys.stdin.read()
m = re.search(r"^=== status (\d{3})$", text, re.M)
if not m or not 200 <= int(m.group(1)) < 300:
    sys.exit("status %s" % (m.group(1) if m else "missing"))
body = json.loads(text[text.index("\n") + 1:m.start()])
if keys and keys[0] == "[]":
    keys = keys[1:]
    if not isinstance(body, list):
        sys.exit("not an array")
    items = body
else:
    items = [body]
for it in items:
    for k in keys:
        obj = it
        for part in k.split("."):
            if not isinstance(obj, dict) or part not in obj:
                sys.exit("missing key " + k)
            obj = obj[part]
' "$keys"
}

. "$(dirname "${BASH_SOURCE[0]}")/seed_curls_lib.sh"

if [ "${1:-}" = "--check" ]; then
    passed=0 failed=0
    for i in $(seq 1 "$(count)"); do
        out=$(run_one "$i")
        printf '%s\n' "$out"
        after_example "$i" "$out"
        if why=$(check_answer "$i" "$out" 2>&1); then
            passed=$((passed + 1))
        else
            failed=$((failed + 1))
            echo "=== example $i FAILED: $why"
        fi
    done
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit
fi
seed_curls_main "$@"
