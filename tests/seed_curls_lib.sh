# tests/seed_curls_lib.sh — shared by the seedNNN_curls.sh scripts, which
# hold a seed's curl examples verbatim (function `examples`), define
# `substituted N` (example N with host, key and ids replaced) and may define
# `after_example N OUTPUT` (e.g. to pick up an id for later examples).
# Then they call: seed_curls_main "$@"
#
#   (no args)      run every example in order; exit 1 if any curl failed
#   N              run example N
#   --count        number of examples
#   --print [N]    the substituted example(s)
#   --embedded     the examples as stored
#   --extract F    the curl examples of seed file F

extract() {
    # A curl example starts with "curl " and ends at the first line that
    # closes every single quote opened so far and does not end with "\".
    awk '
    /^curl /{ inq = 1; q = 0 }
    inq { print; q += gsub(/\047/, "&"); if (q % 2 == 0 && $0 !~ /\\$/) { print "#----"; inq = 0 } }
    ' "$1"
}

count() { examples | grep -c '^#----$'; }

example() {
    examples | awk -v n="$1" '/^#----$/ { i++; next } i == n - 1 { print }'
}

curl() { command curl -sS --max-time 60 -w '\n=== status %{http_code}\n' "$@"; }

run_one() {
    echo "=== example $1"
    eval "$(substituted "$1")"
}

first_id() { grep -o '"id" *: *"[^"]*"' | head -n 1 | sed 's/.*"\([^"]*\)"$/\1/'; }

seed_curls_main() {
    case "${1:-}" in
    --count) count ;;
    --embedded) examples ;;
    --extract) extract "$2" ;;
    --print)
        if [ -n "${2:-}" ]; then substituted "$2"; else
            for i in $(seq 1 "$(count)"); do substituted "$i"; echo "#----"; done
        fi ;;
    "")
        local rc=0 i out
        for i in $(seq 1 "$(count)"); do
            out=$(run_one "$i") || rc=1
            printf '%s\n' "$out"
            if declare -F after_example > /dev/null; then after_example "$i" "$out"; fi
        done
        return $rc ;;
    *) run_one "$1" ;;
    esac
}
