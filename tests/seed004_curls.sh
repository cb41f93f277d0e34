#!/bin/bash
# tests/seed004_curls.sh — every curl example of the LendWorks seeds (one
# vendor: ../shared/seeds/000_7eb098cc7d87da44.txt, the Automations page,
# then ../shared/seeds/004_559d45a2a0de01b1.txt, the API reference), stored
# verbatim below and run against a local zflow (the lendworks dialect,
# mounted at /v1). tests/it_lendworks.py drives it and checks each answer;
# `--extract SEED` re-extracts the examples from a seed text so the test can
# prove the stored copy is byte-for-byte the seeds' (000's, then 004's).
#
# usage:
#   seed004_curls.sh                run all examples in order
#   seed004_curls.sh N              run example N (1-based)
#   seed004_curls.sh --count        how many examples there are
#   seed004_curls.sh --print [N]    the examples as they will run (after substitution)
#   seed004_curls.sh --embedded     the examples exactly as stored (the seeds' text)
#   seed004_curls.sh --extract FILE the curl examples found in a seed file
#
# environment:
#   ZF_BASE     server base URL, default http://127.0.0.1:8080; the seeds'
#               https://api.lend.works/v1 becomes $ZF_BASE$ZF_PREFIX
#   ZF_PREFIX   the dialect's mount, default /v1 (--mount lendworks=PREFIX)
#   ZF_KEY      API key (or JWT) for the seeds' "lw_live_xxxx"; the examples
#               trigger and cancel, so use a member key or above
#   ZF_TMPL_ID  optional: a real template id (tmpl_...) for the seed's
#               tmpl_a1b2c3d4-1234-5678-9abc-def012345678
#   ZF_INST_ID  optional: a real instance id (inst_...) for the seed's
#               inst_f1e2d3c4-1234-5678-9abc-def012345678; when running all
#               with ZF_TMPL_ID set, taken from example 2's answer
#
# Only the host and the key are replaced (sed on the example text), plus the
# two example ids when ZF_TMPL_ID / ZF_INST_ID are given; without them the
# seed's ids stay and trigger and cancel answer 404 NOT_FOUND (no such
# template or instance here). One more edit, not of the commands: the seed
# pages were scraped with the next heading glued to the last line of each
# code block ('..."Example Response', "...}'Response — 201 Created",
# '...xxxx"Response — 200 OK', '...openapi.jsonYou can use this spec with:');
# that heading text is cut off, as a reader copying the block would.
# The command runs through a shell function `curl` that adds -sS, a timeout
# and a trailing "=== status NNN" line (curl -w) so a caller can check the
# status. Output per example: "=== example N", the response body, "=== status NNN".
set -u

examples() {
cat <<'SEED_EXAMPLES'
curl -H "Authorization: Bearer lw_live_xxxx" \
"https://api.lend.works/v1/automations?limit=10"Example Response
#----
curl -X POST https://api.lend.works/v1/automations/tmpl_a1b2c3d4-1234-5678-9abc-def012345678/trigger \
-H "Authorization: Bearer lw_live_xxxx" \
-H "Content-Type: application/json" \
-d '{
"entityType": "lead",
"entityId": "d290f1ee-6c54-4b01-90e6-d701748f0851"
}'Response — 201 Created
#----
curl -X POST https://api.lend.works/v1/automations/inst_f1e2d3c4-1234-5678-9abc-def012345678/cancel \
-H "Authorization: Bearer lw_live_xxxx"Response — 200 OK
#----
curl https://api.lend.works/v1/openapi.jsonYou can use this spec with:
#----
SEED_EXAMPLES
}

substituted() {
    local base="${ZF_BASE:-http://127.0.0.1:8080}${ZF_PREFIX:-/v1}"
    example "$1" | sed \
        -e 's|"Example Response$|"|' \
        -e "s|'Response — 201 Created\$|'|" \
        -e 's|"Response — 200 OK$|"|' \
        -e 's|/openapi.jsonYou can use this spec with:$|/openapi.json|' \
        -e "s|https://api.lend.works/v1|${base}|g" \
        -e "s|lw_live_xxxx|${ZF_KEY:-lw_live_xxxx}|g" \
        -e "s|tmpl_a1b2c3d4-1234-5678-9abc-def012345678|${ZF_TMPL_ID:-tmpl_a1b2c3d4-1234-5678-9abc-def012345678}|g" \
        -e "s|inst_f1e2d3c4-1234-5678-9abc-def012345678|${ZF_INST_ID:-inst_f1e2d3c4-1234-5678-9abc-def012345678}|g"
}

after_example() {
    if [ "$1" = 2 ] && [ -n "${ZF_TMPL_ID:-}" ] && [ -z "${ZF_INST_ID:-}" ]; then
        ZF_INST_ID=$(printf '%s' "$2" | first_id)
    fi
    return 0
}

. "$(dirname "${BASH_SOURCE[0]}")/seed_curls_lib.sh"
seed_curls_main "$@"
