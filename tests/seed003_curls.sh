#!/bin/bash
# tests/seed003_curls.sh — every curl example of seed 003 (the Coherence
# Automation API, ../shared/seeds/003_d8c5ba762ffc311b.txt), stored verbatim
# below and run against a local zflow (the coherence dialect, mounted at
# /coherence/v1). tests/it_coherence.py drives it and checks each answer;
# `--extract SEED` re-extracts the examples from the seed text so the test
# can prove the stored copy is byte-for-byte the seed's.
#
# usage:
#   seed003_curls.sh                run all examples in order
#   seed003_curls.sh N              run example N (1-based)
#   seed003_curls.sh --count        how many examples there are
#   seed003_curls.sh --print [N]    the examples as they will run (after substitution)
#   seed003_curls.sh --embedded     the examples exactly as stored (the seed's text)
#   seed003_curls.sh --extract FILE the curl examples found in a seed file
#
# environment:
#   ZF_BASE       server base URL, default http://127.0.0.1:8080; the seed's
#                 https://api.getcoherence.io/v1 becomes $ZF_BASE/coherence/v1
#   ZF_KEY        API key (or JWT) for "YOUR_API_KEY"; the examples create,
#                 update and delete automations, so use an admin or owner key
#   ZF_AUTO_ID    an automation id for the seed's auto_abc123
#   ZF_RECORD_ID  a record id for the seed's rec_xyz789
#
# Only the host, the key and the example ids are replaced (sed on the example
# text); every other byte of each command is the seed's. The command runs
# through a shell function `curl` that adds -sS, a timeout and a trailing
# "=== status NNN" line (curl -w) so a caller can check the status.
# Output per example: "=== example N", the response body, "=== status NNN".
# When running all in one go, note that example 5 deletes auto_abc123, so
# examples 6.. answer 404 unless ZF_AUTO_ID is changed in between (the test
# runs them one by one with a fresh automation where needed).
set -u

examples() {
cat <<'SEED_EXAMPLES'
curl -X GET "https://api.getcoherence.io/v1/automations" \
  -H "Authorization: Bearer YOUR_API_KEY" \
  -H "Content-Type: application/json"
#----
curl -X GET "https://api.getcoherence.io/v1/automations/auto_abc123" \
  -H "Authorization: Bearer YOUR_API_KEY" \
  -H "Content-Type: application/json"
#----
curl -X POST "https://api.getcoherence.io/v1/automations" \
  -H "Authorization: Bearer YOUR_API_KEY" \
  -H "Content-Type: application/json" \
  -d '{
    "name": "Welcome email for new contacts",
    "description": "Send a welcome email when a contact is added",
    "trigger": {
      "type": "record.created",
      "module": "contacts"
    },
    "conditions": [
      {
        "field": "email",
        "operator": "is_not_empty"
      }
    ],
    "actions": [
      {
        "type": "send_email",
        "config": {
          "to": "{{record.email}}",
          "template": "welcome_email"
        }
      }
    ]
  }'
#----
curl -X PATCH "https://api.getcoherence.io/v1/automations/auto_abc123" \
  -H "Authorization: Bearer YOUR_API_KEY" \
  -H "Content-Type: application/json" \
  -d '{
    "name": "Updated automation name",
    "conditions": [
      {
        "field": "status",
        "operator": "equals",
        "value": "qualified"
      }
    ]
  }'
#----
curl -X DELETE "https://api.getcoherence.io/v1/automations/auto_abc123" \
  -H "Authorization: Bearer YOUR_API_KEY"
#----
curl -X POST "https://api.getcoherence.io/v1/automations/auto_abc123/enable" \
  -H "Authorization: Bearer YOUR_API_KEY"
#----
curl -X POST "https://api.getcoherence.io/v1/automations/auto_abc123/disable" \
  -H "Authorization: Bearer YOUR_API_KEY"
#----
curl -X POST "https://api.getcoherence.io/v1/automations/auto_abc123/trigger" \
  -H "Authorization: Bearer YOUR_API_KEY" \
  -H "Content-Type: application/json" \
  -d '{
    "record_id": "rec_xyz789"
  }'
#----
curl -X GET "https://api.getcoherence.io/v1/automations/auto_abc123/logs" \
  -H "Authorization: Bearer YOUR_API_KEY"
#----
curl -X POST "https://api.getcoherence.io/v1/automations/auto_abc123/test" \
  -H "Authorization: Bearer YOUR_API_KEY" \
  -H "Content-Type: application/json" \
  -d '{
    "record_id": "rec_xyz789"
  }'
#----
curl -X POST "https://api.getcoherence.io/v1/automations/auto_abc123/enable" \
  -H "Authorization: Bearer YOUR_API_KEY"
#----
SEED_EXAMPLES
}

substituted() {
    example "$1" | sed \
        -e "s|https://api.getcoherence.io/v1|${ZF_BASE:-http://127.0.0.1:8080}/coherence/v1|g" \
        -e "s|YOUR_API_KEY|${ZF_KEY:-YOUR_API_KEY}|g" \
        -e "s|auto_abc123|${ZF_AUTO_ID:-auto_abc123}|g" \
        -e "s|rec_xyz789|${ZF_RECORD_ID:-rec_xyz789}|g"
}

. "$(dirname "${BASH_SOURCE[0]}")/seed_curls_lib.sh"
seed_curls_main "$@"
