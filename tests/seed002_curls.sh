#!/bin/bash
# tests/seed002_curls.sh — every curl example of seed 002 (the Workflows v2
# API, ../shared/seeds/002_6d682aed6a8fb33c.txt), stored verbatim below and
# run against a local zflow. tests/it_seed002.py drives it and checks each
# answer; `--extract SEED` re-extracts the examples from the seed text so
# the test can prove the stored copy is byte-for-byte the seed's.
#
# usage:
#   seed002_curls.sh                run all examples in order
#   seed002_curls.sh N              run example N (1-based)
#   seed002_curls.sh --count        how many examples there are
#   seed002_curls.sh --print [N]    the examples as they will run (after substitution)
#   seed002_curls.sh --embedded     the examples exactly as stored (the seed's text)
#   seed002_curls.sh --extract FILE the curl examples found in a seed file
#
# environment:
#   ZF_BASE         server base URL, default http://127.0.0.1:8080
#   ZF_KEY          API key (or JWT) for "YOUR_API_KEY"; the examples create and
#                   delete workflows, so use an admin or owner key
#   ZF_WF_ID        a real workflow id for the seed's a1b2c3d4-e5f6-7890-abcd-ef1234567890
#                   ("Weekly Sales Report")
#   ZF_NEW_WF_ID    id for c3d4e5f6-a7b8-9012-cdef-345678901234 (the workflow that
#                   example 4 creates; when running all, taken from example 4's answer)
#   ZF_RUN_ID       id for e5f6a7b8-c9d0-1234-ef56-789012345678 (the run that example 9
#                   starts; when running all, taken from example 9's answer)
#   ZF_SCHEDULE_ID  id for f6a7b8c9-d0e1-2345-f678-901234567890 (the schedule that
#                   example 13 creates; when running all, taken from example 13's answer)
#
# Only the host, the key and the example ids are replaced (sed on the example
# text); every other byte of each command is the seed's. The command runs
# through a shell function `curl` that adds -sS, a timeout and a trailing
# "=== status NNN" line (curl -w) so a caller can check the status.
# Output per example: "=== example N", the response body, "=== status NNN".
set -u

examples() {
cat <<'SEED_EXAMPLES'
curl -X GET https://api.lvng.ai/api/v2/workflows/health
#----
curl -X POST https://api.lvng.ai/api/v2/workflows/parse \
  -H "Authorization: Bearer YOUR_API_KEY" \
  -H "Content-Type: application/json" \
  -d '{
    "instruction": "Every Monday at 9am, pull the latest sales data, generate a summary report, and email it to the sales team.",
    "context": {
      "availableTools": ["salesforce.query", "email.send"]
    }
  }'
#----
curl -X GET "https://api.lvng.ai/api/v2/workflows?status=active&limit=10" \
  -H "Authorization: Bearer YOUR_API_KEY"
#----
curl -X POST https://api.lvng.ai/api/v2/workflows \
  -H "Authorization: Bearer YOUR_API_KEY" \
  -H "Content-Type: application/json" \
  -d '{
    "name": "Deploy Notification",
    "description": "Notify the team when a deployment completes",
    "definition": {
      "nodes": [
        {
          "id": "step_1",
          "type": "condition",
          "action": "check_status",
          "config": {
            "field": "$.deployment.status",
            "operator": "equals",
            "value": "success"
          }
        },
        {
          "id": "step_2",
          "type": "integration",
          "action": "slack.post_message",
          "input_from": "step_1",
          "config": {
            "channel": "#deployments",
            "message": "Deployment completed successfully!"
          }
        }
      ],
      "inputs": {},
      "outputs": {}
    }
  }'
#----
curl -X GET https://api.lvng.ai/api/v2/workflows/a1b2c3d4-e5f6-7890-abcd-ef1234567890 \
  -H "Authorization: Bearer YOUR_API_KEY"
#----
curl -X PATCH https://api.lvng.ai/api/v2/workflows/a1b2c3d4-e5f6-7890-abcd-ef1234567890 \
  -H "Authorization: Bearer YOUR_API_KEY" \
  -H "Content-Type: application/json" \
  -d '{
    "name": "Weekly Sales & Marketing Report",
    "status": "active"
  }'
#----
curl -X DELETE https://api.lvng.ai/api/v2/workflows/c3d4e5f6-a7b8-9012-cdef-345678901234 \
  -H "Authorization: Bearer YOUR_API_KEY"
#----
curl -X GET https://api.lvng.ai/api/v2/workflows/a1b2c3d4-e5f6-7890-abcd-ef1234567890/schema \
  -H "Authorization: Bearer YOUR_API_KEY"
#----
curl -X POST https://api.lvng.ai/api/v2/workflows/a1b2c3d4-e5f6-7890-abcd-ef1234567890/execute \
  -H "Authorization: Bearer YOUR_API_KEY" \
  -H "Content-Type: application/json" \
  -d '{
    "inputs": {
      "date_range": "LAST_MONTH",
      "recipients": ["ceo@company.com", "sales-lead@company.com"]
    }
  }'
#----
curl -X GET "https://api.lvng.ai/api/v2/workflows/a1b2c3d4-e5f6-7890-abcd-ef1234567890/runs?status=completed&limit=5" \
  -H "Authorization: Bearer YOUR_API_KEY"
#----
curl -X GET https://api.lvng.ai/api/v2/workflows/a1b2c3d4-e5f6-7890-abcd-ef1234567890/runs/e5f6a7b8-c9d0-1234-ef56-789012345678 \
  -H "Authorization: Bearer YOUR_API_KEY"
#----
curl -X DELETE https://api.lvng.ai/api/v2/workflows/a1b2c3d4-e5f6-7890-abcd-ef1234567890/runs/e5f6a7b8-c9d0-1234-ef56-789012345678 \
  -H "Authorization: Bearer YOUR_API_KEY"
#----
curl -X POST https://api.lvng.ai/api/v2/workflows/a1b2c3d4-e5f6-7890-abcd-ef1234567890/schedules \
  -H "Authorization: Bearer YOUR_API_KEY" \
  -H "Content-Type: application/json" \
  -d '{
    "cron_expression": "0 9 * * 1",
    "timezone": "America/New_York",
    "inputs": { "date_range": "LAST_WEEK" },
    "missed_execution_policy": "run_immediately"
  }'
#----
curl -X GET https://api.lvng.ai/api/v2/workflows/a1b2c3d4-e5f6-7890-abcd-ef1234567890/schedules \
  -H "Authorization: Bearer YOUR_API_KEY"
#----
curl -X PATCH https://api.lvng.ai/api/v2/workflows/a1b2c3d4-e5f6-7890-abcd-ef1234567890/schedules/f6a7b8c9-d0e1-2345-f678-901234567890 \
  -H "Authorization: Bearer YOUR_API_KEY" \
  -H "Content-Type: application/json" \
  -d '{
    "cron_expression": "0 9 * * 1,4",
    "enabled": true
  }'
#----
curl -X DELETE https://api.lvng.ai/api/v2/workflows/a1b2c3d4-e5f6-7890-abcd-ef1234567890/schedules/f6a7b8c9-d0e1-2345-f678-901234567890 \
  -H "Authorization: Bearer YOUR_API_KEY"
#----
SEED_EXAMPLES
}

substituted() {
    example "$1" | sed \
        -e "s|https://api.lvng.ai|${ZF_BASE:-http://127.0.0.1:8080}|g" \
        -e "s|YOUR_API_KEY|${ZF_KEY:-YOUR_API_KEY}|g" \
        -e "s|a1b2c3d4-e5f6-7890-abcd-ef1234567890|${ZF_WF_ID:-a1b2c3d4-e5f6-7890-abcd-ef1234567890}|g" \
        -e "s|c3d4e5f6-a7b8-9012-cdef-345678901234|${ZF_NEW_WF_ID:-c3d4e5f6-a7b8-9012-cdef-345678901234}|g" \
        -e "s|e5f6a7b8-c9d0-1234-ef56-789012345678|${ZF_RUN_ID:-e5f6a7b8-c9d0-1234-ef56-789012345678}|g" \
        -e "s|f6a7b8c9-d0e1-2345-f678-901234567890|${ZF_SCHEDULE_ID:-f6a7b8c9-d0e1-2345-f678-901234567890}|g"
}

after_example() {
    [ "$1" = 4 ] && [ -z "${ZF_NEW_WF_ID:-}" ] && ZF_NEW_WF_ID=$(printf '%s' "$2" | first_id)
    [ "$1" = 9 ] && [ -z "${ZF_RUN_ID:-}" ] && ZF_RUN_ID=$(printf '%s' "$2" | first_id)
    [ "$1" = 13 ] && [ -z "${ZF_SCHEDULE_ID:-}" ] && ZF_SCHEDULE_ID=$(printf '%s' "$2" | first_id)
    return 0
}

. "$(dirname "${BASH_SOURCE[0]}")/seed_curls_lib.sh"
seed_curls_main "$@"
