#!/usr/bin/env bash
# bench/run.sh — Gregor against librdkafka's in-process mock cluster, same client, same run.
#
# Assumes `make bench` has been run (build/bench/bench_*, bin/gregord, bin/gregor).  Starts a
# fresh single-node gregord on free ports in a temporary data dir, then for 100 B and 1 KiB records
# and acks=1/all runs bench_produce against gregord and against --mock, then bench_consume against
# both, RUNS times each, and finally a latency run at moderate load (linger.ms=0, acks=all).
# Prints medians as a markdown table ready for docs/BENCHMARKS.md.  The gregord it started is
# always stopped (by PID) and its data dir removed.
#
# Environment (defaults in brackets):
#   RUNS [3]            runs per configuration; the table shows the median
#   N100 [2000000]      records per 100 B run        N1K [500000]   records per 1 KiB run
#   LAT_N100 [300000]   records in the 100 B latency run, at LAT_RATE100 [104858] records/s (~10 MB/s)
#   LAT_N1K [150000]    records in the 1 KiB latency run, at LAT_RATE1K [51200] records/s (~50 MB/s)
#   PACING_US [50]      bench_produce --throttle-min-sleep-us of the latency runs (50 = even pacing)
#   PARTITIONS [1]      partitions of the gregord topics (and the mock producer topics)
#   ACKS ["1 all"]      SIZES ["100 1024"]
#   MOCK_ONLY [0]       1 = skip gregord entirely (baseline only)
#   WARM_MB [free memory - 2 GiB]  write and delete a file this large first (0 = skip): see below
#   BUILD [build]  BENCH_DIR [$BUILD/bench]  BIN [bin]  TMPDIR [/tmp]  KEEP_LOG [0] (1 = print gregord's log at the end)
set -u -o pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
RUNS=${RUNS:-3}
N100=${N100:-2000000}
N1K=${N1K:-500000}
LAT_N100=${LAT_N100:-300000}
LAT_N1K=${LAT_N1K:-150000}
LAT_RATE100=${LAT_RATE100:-104858}
LAT_RATE1K=${LAT_RATE1K:-51200}
PACING_US=${PACING_US:-50}
PARTITIONS=${PARTITIONS:-1}
ACKS=${ACKS:-"1 all"}
SIZES=${SIZES:-"100 1024"}
MOCK_ONLY=${MOCK_ONLY:-0}
BUILD=${BUILD:-build}
BIN=${BIN:-bin}
KEEP_LOG=${KEEP_LOG:-0}
BENCH_DIR=${BENCH_DIR:-$ROOT/$BUILD/bench}
PRODUCE="$BENCH_DIR/bench_produce"
CONSUME="$BENCH_DIR/bench_consume"
GREGORD="$ROOT/$BIN/gregord"
GREGOR="$ROOT/$BIN/gregor"

BENCH_NAME="run.sh"
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

for b in "$PRODUCE" "$CONSUME"; do [ -x "$b" ] || die "$b missing: run 'make bench' first"; done
if [ "$MOCK_ONLY" != 1 ]; then
    for b in "$GREGORD" "$GREGOR"; do [ -x "$b" ] || die "$b missing: run 'make bench' first"; done
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gregor-bench.XXXXXX") || die "mktemp failed"
GREGORD_PID=""
cleanup() {
    if [ -n "$GREGORD_PID" ] && kill -0 "$GREGORD_PID" 2>/dev/null; then
        kill "$GREGORD_PID" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$GREGORD_PID" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$GREGORD_PID" 2>/dev/null
        wait "$GREGORD_PID" 2>/dev/null
    fi
    if [ "$KEEP_LOG" = 1 ] && [ -f "$WORK/gregord.log" ]; then
        echo "---- gregord.log (tail)" >&2; tail -50 "$WORK/gregord.log" >&2
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_port() { # host port timeout_s
    python3 - "$1" "$2" "$3" <<'EOF'
import socket, sys, time
host, port, deadline = sys.argv[1], int(sys.argv[2]), time.time() + float(sys.argv[3])
while time.time() < deadline:
    try:
        socket.create_connection((host, port), 0.5).close(); sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)
EOF
}

# ------------------------------------------------------------------------------ gregord
BOOT=""
start_gregord() {
    local port cport conf id
    port=$(free_port); cport=$(free_port)
    while [ "$cport" = "$port" ]; do cport=$(free_port); done
    conf="$WORK/server.properties"
    mkdir -p "$WORK/data"
    grep -v -E '^(listeners|advertised\.listeners|controller\.quorum\.voters|log\.dirs|node\.id|process\.roles)=' \
        config/server.properties >"$conf"
    cat >>"$conf" <<EOF
process.roles=broker,controller
node.id=1
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.quorum.voters=1@127.0.0.1:$cport
log.dirs=$WORK/data
EOF
    id=$("$GREGOR" storage random-uuid) || die "gregor storage random-uuid failed"
    "$GREGOR" storage format -t "$id" -c "$conf" >"$WORK/format.log" 2>&1 ||
        { cat "$WORK/format.log" >&2; die "gregor storage format failed"; }
    "$GREGORD" "$conf" >"$WORK/gregord.log" 2>&1 &
    GREGORD_PID=$!
    if ! wait_port 127.0.0.1 "$port" 20 || ! kill -0 "$GREGORD_PID" 2>/dev/null; then
        tail -30 "$WORK/gregord.log" >&2
        die "gregord did not start listening on 127.0.0.1:$port"
    fi
    BOOT="127.0.0.1:$port"
    log "gregord pid $GREGORD_PID on $BOOT (data $WORK/data)"
}

create_topic() { # name
    "$GREGOR" topics --bootstrap-server "$BOOT" --create --topic "$1" \
        --partitions "$PARTITIONS" --replication-factor 1 >>"$WORK/topics.log" 2>&1 ||
        { tail -5 "$WORK/topics.log" >&2; log "topic $1: create failed"; return 1; }
}

broker_alive() {
    [ "$MOCK_ONLY" = 1 ] && return 1
    kill -0 "$GREGORD_PID" 2>/dev/null && return 0
    log "gregord (pid $GREGORD_PID) is gone; skipping the remaining broker runs"
    tail -20 "$WORK/gregord.log" >&2
    MOCK_ONLY=1
    return 1
}

# ------------------------------------------------------------------------------ results
RESULTS="$WORK/results"
: >"$RESULTS"

records_for() { [ "$1" = 100 ] && echo "$N100" || echo "$N1K"; }

# ------------------------------------------------------------------------------ run
# On these VMs the first touch of a guest page is slow (PERFORMANCE.md): a brand-new machine
# writes new page-cache pages at ~300 MB/s but reuses touched memory at GB/s.  A log's appends
# always take new page-cache pages, so on a fresh machine the broker would be measuring the
# hypervisor.  Writing and deleting a large file first hands the page cache memory that has been
# touched once, as it is on any machine that has run for a while (its page cache has long since
# filled memory, so new pages come from reclaim).  By default all free memory but 2 GiB.
free_mb=$(awk '/^MemFree:/ {print int($2 / 1024)}' /proc/meminfo 2>/dev/null || echo 0)
WARM_MB=${WARM_MB:-$(( free_mb > 4096 ? free_mb - 2048 : 0 ))}
if [ "$WARM_MB" -gt 0 ] && [ "$MOCK_ONLY" != 1 ]; then
    log "warming ${WARM_MB} MB of guest memory through the page cache"
    warm="$WORK/warm"
    dd if=/dev/zero of="$warm" bs=1M count="$WARM_MB" status=none || true
    rm -f "$warm"
fi
[ "$MOCK_ONLY" = 1 ] || start_gregord

for size in $SIZES; do
    n=$(records_for "$size")
    for acks in $ACKS; do
        for run in $(seq "$RUNS"); do
            topic="bench-p-$size-$acks-$run"
            if broker_alive && create_topic "$topic"; then
                run_bench "produce:gregord:$size:$acks" "$PRODUCE" --bootstrap-server "$BOOT" \
                    --topic "$topic" --num-records "$n" --record-size "$size" --acks "$acks"
            fi
            run_bench "produce:mock:$size:$acks" "$PRODUCE" --mock --partitions "$PARTITIONS" \
                --topic "$topic" --num-records "$n" --record-size "$size" --acks "$acks"
        done
    done
done

for size in $SIZES; do
    n=$(records_for "$size")
    # Consume what the first acks=1 (or first listed) produce run wrote: it is in page cache.
    first_acks=${ACKS%% *}
    for run in $(seq "$RUNS"); do
        if broker_alive; then
            run_bench "consume:gregord:$size" "$CONSUME" --bootstrap-server "$BOOT" \
                --topic "bench-p-$size-$first_acks-1" --messages "$n"
        fi
        run_bench "consume:mock:$size" "$CONSUME" --mock --topic "bench-c-$size" \
            --messages "$n" --record-size "$size"
    done
done

for size in $SIZES; do
    if [ "$size" = 100 ]; then n=$LAT_N100; rate=$LAT_RATE100; else n=$LAT_N1K; rate=$LAT_RATE1K; fi
    topic="bench-lat-$size"
    if broker_alive && create_topic "$topic"; then
        run_bench "latency:gregord:$size" "$PRODUCE" --bootstrap-server "$BOOT" --topic "$topic" \
            --num-records "$n" --record-size "$size" --acks all --linger-ms 0 --throughput "$rate" \
            --throttle-min-sleep-us "$PACING_US"
    fi
    run_bench "latency:mock:$size" "$PRODUCE" --mock --topic "$topic" --num-records "$n" \
        --record-size "$size" --acks all --linger-ms 0 --throughput "$rate" \
        --throttle-min-sleep-us "$PACING_US"
done

# ------------------------------------------------------------------------------ report
rev=$(git_rev)
rdk=$(rdkafka_version)

cat <<EOF

### Benchmark run $(date -u '+%Y-%m-%d %H:%M UTC')

- Machine: $(machine_line); client and broker on the same host
- Gregor: git $rev; single node (broker+controller), fresh data dir, $PARTITIONS partition(s), RF 1
- Client: librdkafka $rdk (bench/bench_produce, bench/bench_consume), default producer settings
  (linger.ms 5, batch.size 1 MB); baseline: librdkafka's in-process mock cluster in the same run
- Command: \`RUNS=$RUNS N100=$N100 N1K=$N1K PARTITIONS=$PARTITIONS bench/run.sh\`; medians of $RUNS runs
- MB = 2^20 bytes (as kafka-*-perf-test); latency = send to delivery report

| scenario | record | gregord records/s | gregord MB/s | mock records/s | mock MB/s | gregord / mock | gregord p50 / p99 ms | mock p50 / p99 ms |
| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
EOF
for size in $SIZES; do
    for acks in $ACKS; do
        g="produce:gregord:$size:$acks"; m="produce:mock:$size:$acks"
        echo "| produce acks=$acks | $size B | $(median "$g" records_per_sec) | $(median "$g" mb_per_sec) | $(median "$m" records_per_sec) | $(median "$m" mb_per_sec) | $(ratio "$(median "$g" records_per_sec)" "$(median "$m" records_per_sec)") | $(median "$g" p50_ms) / $(median "$g" p99_ms) | $(median "$m" p50_ms) / $(median "$m" p99_ms) |"
    done
done
for size in $SIZES; do
    g="consume:gregord:$size"; m="consume:mock:$size"
    echo "| consume | $size B | $(median "$g" records_per_sec) | $(median "$g" mb_per_sec) | $(median "$m" records_per_sec) | $(median "$m" mb_per_sec) | $(ratio "$(median "$g" records_per_sec)" "$(median "$m" records_per_sec)") | | |"
done
for size in $SIZES; do
    g="latency:gregord:$size"; m="latency:mock:$size"
    if [ "$size" = 100 ]; then rate=$LAT_RATE100; else rate=$LAT_RATE1K; fi
    echo "| latency acks=all linger.ms=0 @ $rate rec/s | $size B | $(median "$g" records_per_sec) | $(median "$g" mb_per_sec) | $(median "$m" records_per_sec) | $(median "$m" mb_per_sec) | | $(median "$g" p50_ms) / $(median "$g" p99_ms) | $(median "$m" p50_ms) / $(median "$m" p99_ms) |"
done

finish_report "Full-speed produce latency is queueing in the client, not broker latency; see the latency rows."
