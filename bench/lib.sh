# bench/lib.sh — shell helpers shared by bench/run.sh and bench/run-cluster.sh (sourced).
#
# The caller sets BENCH_NAME (prefix of messages) and RESULTS (a file of result lines) first.

die() { echo "$BENCH_NAME: $*" >&2; exit 1; }
log() { echo "$BENCH_NAME: $*" >&2; }

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# run_bench LABEL CMD...: runs CMD, stores "LABEL <RESULT line>" or "LABEL FAILED" in RESULTS.
run_bench() {
    local label=$1 out rc line
    shift
    out=$("$@" 2>"$RESULTS.err")
    rc=$?
    line=$(printf '%s\n' "$out" | grep '^RESULT ' | tail -1)
    if [ $rc -ne 0 ] || [ -z "$line" ]; then
        log "$label: FAILED (exit $rc): $(tail -3 "$RESULTS.err" | tr '\n' ' ')"
        echo "$label FAILED" >>"$RESULTS"
    else
        log "$label: ${line#RESULT }"
        echo "$label $line" >>"$RESULTS"
    fi
}

# median LABEL FIELD: median of FIELD over the successful runs of LABEL ("-" if none).
median() {
    grep "^$1 RESULT" "$RESULTS" | sed -n "s/.* $2=\([^ ]*\).*/\1/p" | sort -g |
        awk '{v[NR]=$1} END {if (NR==0) print "-"; else if (NR%2) print v[(NR+1)/2];
             else printf "%.3f\n", (v[NR/2]+v[NR/2+1])/2}'
}

# values LABEL FIELD: every run's FIELD, in run order, comma-separated.
values() {
    grep "^$1 RESULT" "$RESULTS" | sed -n "s/.* $2=\([^ ]*\).*/\1/p" | paste -sd, - |
        sed 's/,/, /g'
}

count_ok() { grep -c "^$1 RESULT" "$RESULTS"; }

ratio() { # a b -> a/b in percent
    awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-";
                                     else printf "%.0f %%\n", 100 * a / b }'
}

machine_line() {
    local cpu mem
    cpu=$(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -1)
    mem=$(free -g 2>/dev/null | awk '/^Mem:/ {print $2 " GiB RAM"}')
    echo "${cpu:-unknown CPU}, $(nproc) cores, ${mem:-?}, Linux $(uname -r)"
}

git_rev() { git rev-parse --short HEAD 2>/dev/null || echo "uncommitted"; }
rdkafka_version() { dpkg-query -W -f='${Version}' librdkafka1 2>/dev/null || echo "?"; }

# The failure summary every run ends with; exits 1 if any run failed.
finish_report() {
    local failed
    failed=$(grep -c ' FAILED$' "$RESULTS")
    echo
    echo "Runs: $(grep -c RESULT "$RESULTS") ok, $failed failed.  $1"
    if [ "$failed" -gt 0 ]; then
        grep ' FAILED$' "$RESULTS" | sed 's/^/  failed: /'
        exit 1
    fi
    exit 0
}
