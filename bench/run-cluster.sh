#!/usr/bin/env bash
# bench/run-cluster.sh — three brokers, RF=3, acks=all on loopback, against the baselines of the
# same run: librdkafka's in-process mock cluster, and what this machine's page cache takes.
#
# Assumes `make bench` has been run.  Starts deploy/local-cluster.sh (three controllers and
# three brokers, default configs) in a temporary directory on free ports and, RUNS times, in
# this order per run:
#   - throughput, 100 B and 1 KiB: a new topic (PARTITIONS partitions, RF 3,
#     min.insync.replicas=MIN_ISR, leaders spread over the three brokers), bench_produce with
#     acks=all against the three brokers, then the same against --mock;
#   - the page-cache baseline, right after each gregord throughput run and before its topic is
#     deleted: dd writes three times the run's volume into a new file (a replica per broker) and
#     the figure is that rate divided by three: the most an RF=3 cluster on this one machine could
#     take if storing were all it did.  Neither gets memory the other freed: the file and the
#     topic are deleted only after both;
#   - the machine's own jitter: bench_jitter for JITTER_S seconds (how late a sleeping thread
#     wakes up; on a shared VM the host takes the vCPUs away now and then, and no latency figure
#     of this run can be better than that);
#   - latency: acks=all, linger.ms=0, at ~10 MB/s (100 B) and ~50 MB/s (1 KiB), as
#     PERFORMANCE.md states the target, then the same against --mock.
# Every topic is deleted after its run, and every scenario starts after a `sync`.  Prints medians (and every run's value) as markdown for
# docs/BENCHMARKS.md, with the PERFORMANCE.md targets.  The cluster it started is stopped and its
# directory removed on exit.
#
# Why the page-cache baseline: on the VMs this project runs on, the first touch of a guest page
# costs 2-15 µs (PERFORMANCE.md), and memory freed more than a few seconds ago is cold again.  A
# log's appends always take new page-cache pages, three copies of every byte at RF=3 on one host,
# so the 1 KiB figure follows the state of the guest's memory; the dd column says which state a
# run met.
#
# Environment (defaults in brackets):
#   RUNS [3]              runs per scenario; tables show the median and each run
#   N100 [2000000]        records per 100 B throughput run     N1K [500000] per 1 KiB run
#   LAT_N100 [1000000]    records per 100 B latency run, at LAT_RATE100 [104858] records/s
#   LAT_N1K [500000]      records per 1 KiB latency run, at LAT_RATE1K [51200] records/s
#   JITTER_S [5]          seconds of bench_jitter before each round's latency runs
#   PACING_US [50]        bench_produce --throttle-min-sleep-us in latency runs: 50 paces records
#                         evenly; 2000 sends kafka-producer-perf-test's 2 ms bursts
#   PARTITIONS [6]  MIN_ISR [2]  SIZES ["100 1024"]  MOCK [1] (0 = skip the mock runs)
#   PAGECACHE [1]         0 = skip the dd baseline      THROUGHPUT [1]  0 = latency runs only
#   BUILD [build]  BIN [bin]  TMPDIR [/tmp]  KEEP_LOGS [0] (1 = print the brokers' log tails)
set -u -o pipefail

cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)
RUNS=${RUNS:-3}
N100=${N100:-2000000}
N1K=${N1K:-500000}
LAT_N100=${LAT_N100:-1000000}
LAT_N1K=${LAT_N1K:-500000}
LAT_RATE100=${LAT_RATE100:-104858}
LAT_RATE1K=${LAT_RATE1K:-51200}
PACING_US=${PACING_US:-50}
JITTER_S=${JITTER_S:-5}
PARTITIONS=${PARTITIONS:-6}
MIN_ISR=${MIN_ISR:-2}
SIZES=${SIZES:-"100 1024"}
MOCK=${MOCK:-1}
THROUGHPUT=${THROUGHPUT:-1}
PAGECACHE=${PAGECACHE:-1}
BUILD=${BUILD:-build}
BIN=${BIN:-bin}
KEEP_LOGS=${KEEP_LOGS:-0}
PRODUCE="$ROOT/$BUILD/bench/bench_produce"
JITTER="$ROOT/$BUILD/bench/bench_jitter"
GREGOR="$ROOT/$BIN/gregor"
CLUSTER="$ROOT/deploy/local-cluster.sh"

BENCH_NAME="run-cluster.sh"
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

for b in "$PRODUCE" "$JITTER"; do [ -x "$b" ] || die "$b missing: run 'make bench' first"; done
for b in "$ROOT/$BIN/gregord" "$GREGOR"; do
    [ -x "$b" ] || die "$b missing: run 'make bench' first"
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gregor-bench-cluster.XXXXXX") || die "mktemp failed"
RESULTS="$WORK/results"
: >"$RESULTS"
export GREGOR_CLUSTER_DIR="$WORK/cluster" GREGOR_BIN="$ROOT/$BIN"
STARTED=0
cleanup() {
    if [ "$STARTED" = 1 ]; then
        if [ "$KEEP_LOGS" = 1 ]; then
            for f in "$GREGOR_CLUSTER_DIR"/node-*/gregord.log; do
                echo "---- $f (tail)" >&2
                tail -20 "$f" >&2
            done
        fi
        "$CLUSTER" stop >"$WORK/stop.log" 2>&1 || cat "$WORK/stop.log" >&2
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A BASE_PORT whose six ports (local-cluster.sh's scheme: +2/+3, +12/+13, +22/+23) are all free.
pick_base_port() {
    python3 - <<'EOF'
import random, socket, sys
for _ in range(200):
    base = random.randrange(20000, 60000, 10)
    socks = []
    try:
        for off in (2, 3, 12, 13, 22, 23):
            s = socket.socket()
            s.bind(("127.0.0.1", base + off))
            socks.append(s)
    except OSError:
        continue
    finally:
        for s in socks:
            s.close()
    print(base)
    sys.exit(0)
sys.exit(1)
EOF
}

STARTED_AT=$(date -u '+%Y-%m-%d %H:%M')
BASE_PORT=$(pick_base_port) || die "no free range of ports for the cluster"
export BASE_PORT
log "starting the cluster in $GREGOR_CLUSTER_DIR (base port $BASE_PORT)"
STARTED=1
"$CLUSTER" start >"$WORK/start.log" 2>&1 || { cat "$WORK/start.log" >&2; die "cluster start failed"; }
BOOT="127.0.0.1:$((BASE_PORT + 2)),127.0.0.1:$((BASE_PORT + 12)),127.0.0.1:$((BASE_PORT + 22))"

create_topic() { # name
    "$GREGOR" topics --bootstrap-server "$BOOT" --create --topic "$1" --partitions "$PARTITIONS" \
        --replication-factor 3 --config "min.insync.replicas=$MIN_ISR" >>"$WORK/topics.log" 2>&1 ||
        { tail -5 "$WORK/topics.log" >&2; log "topic $1: create failed"; return 1; }
    sleep 1 # every follower has its fetcher running before the first record
}

delete_topic() {
    "$GREGOR" topics --bootstrap-server "$BOOT" --delete --topic "$1" >>"$WORK/topics.log" 2>&1 ||
        log "topic $1: delete failed"
}

# pagecache_baseline LABEL BYTES: dd of 3 x BYTES into $WORK/pagecache (left for the caller to
# remove); records "LABEL RESULT mb_per_sec=<rate / 3>".
pagecache_baseline() {
    local label=$1 mib=$(( ($2 * 3 + 1048575) / 1048576 )) t0 t1
    t0=$(date +%s%N)
    if dd if=/dev/zero of="$WORK/pagecache" bs=1M count="$mib" status=none 2>>"$WORK/dd.err"; then
        t1=$(date +%s%N)
        local rate
        rate=$(awk -v m="$mib" -v ns=$((t1 - t0)) 'BEGIN { printf "%.2f", m / (ns / 1e9) / 3 }')
        log "$label: $rate MB/s per replica (dd of $mib MiB)"
        echo "$label RESULT mb_per_sec=$rate" >>"$RESULTS"
    else
        log "$label: dd failed: $(tail -1 "$WORK/dd.err")"
    fi
}

records_for() { [ "$1" = 100 ] && echo "$N100" || echo "$N1K"; }

# Each scenario starts with no dirty page cache left by the one before: a throughput run and its
# dd leave gigabytes to write back, and writers that cross the kernel's dirty limits are made to
# wait (vm.dirty_ratio), which a latency run would otherwise measure.
settle() { sync; }

for run in $(seq "$RUNS"); do
    for size in $SIZES; do
        [ "$THROUGHPUT" = 1 ] || continue
        n=$(records_for "$size")
        topic="rf3-p-$size-$run"
        settle
        if create_topic "$topic"; then
            run_bench "produce:gregord:$size" "$PRODUCE" --bootstrap-server "$BOOT" \
                --topic "$topic" --num-records "$n" --record-size "$size" --acks all \
                --partitions "$PARTITIONS"
            [ "$PAGECACHE" = 1 ] && pagecache_baseline "pagecache:$size" $((n * size))
            rm -f "$WORK/pagecache"
            delete_topic "$topic"
        fi
        [ "$MOCK" = 1 ] && run_bench "produce:mock:$size" "$PRODUCE" --mock \
            --partitions "$PARTITIONS" --topic "$topic" --num-records "$n" --record-size "$size" \
            --acks all
    done
    settle
    run_bench "jitter" "$JITTER" --seconds "$JITTER_S"
    for size in $SIZES; do
        if [ "$size" = 100 ]; then n=$LAT_N100; rate=$LAT_RATE100; else n=$LAT_N1K; rate=$LAT_RATE1K; fi
        topic="rf3-lat-$size-$run"
        settle
        if create_topic "$topic"; then
            run_bench "latency:gregord:$size" "$PRODUCE" --bootstrap-server "$BOOT" \
                --topic "$topic" --num-records "$n" --record-size "$size" --acks all \
                --partitions "$PARTITIONS" --linger-ms 0 --throughput "$rate" \
                --throttle-min-sleep-us "$PACING_US"
            delete_topic "$topic"
        fi
        [ "$MOCK" = 1 ] && run_bench "latency:mock:$size" "$PRODUCE" --mock \
            --partitions "$PARTITIONS" --topic "$topic" --num-records "$n" --record-size "$size" \
            --acks all --linger-ms 0 --throughput "$rate" --throttle-min-sleep-us "$PACING_US"
    done
done

# ------------------------------------------------------------------------------ report
# verdict VALUE OP TARGET: "met" or "not met" (OP: ge or le)
verdict() {
    awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN { if (v == "-") { print "-"; exit }
        ok = (op == "ge") ? (v + 0 >= t) : (v + 0 <= t); print ok ? "**met**" : "not met" }'
}

cat <<EOF

### RF=3 benchmark run $STARTED_AT-$(date -u '+%H:%M') UTC

- Machine: $(machine_line); the client and all six nodes on the same host
- Gregor: git $(git_rev); deploy/local-cluster.sh (3 controllers + 3 brokers, default configs);
  topics of $PARTITIONS partitions, RF 3, min.insync.replicas=$MIN_ISR
- Client: librdkafka $(rdkafka_version) (bench/bench_produce), acks=all; throughput runs with
  librdkafka's defaults (linger.ms 5, batch.size 1 MB); latency runs with linger.ms=0 and
  --throttle-min-sleep-us $PACING_US
- Command: \`RUNS=$RUNS N100=$N100 N1K=$N1K LAT_N100=$LAT_N100 LAT_N1K=$LAT_N1K PACING_US=$PACING_US bench/run-cluster.sh\`; medians of $RUNS runs, then each run
- Page cache: what dd wrote per second into a new file of three times the run's volume, divided
  by three, right after each run (the ceiling for three replicas on this host in that state)

| scenario | record | gregord records/s | gregord MB/s (runs) | page cache MB/s (runs) | mock MB/s | p50 / p99 ms (p99 of runs) | target (PERFORMANCE.md) |
| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |
EOF
for size in $SIZES; do
    [ "$THROUGHPUT" = 1 ] || continue
    g="produce:gregord:$size"
    if [ "$size" = 100 ]; then
        tgt="≥ 800 k records/s: $(verdict "$(median "$g" records_per_sec)" ge 800000)"
    else
        tgt="≥ 300 MB/s: $(verdict "$(median "$g" mb_per_sec)" ge 300)"
    fi
    echo "| throughput | $size B | $(median "$g" records_per_sec) | $(median "$g" mb_per_sec) ($(values "$g" mb_per_sec)) | $(median "pagecache:$size" mb_per_sec) ($(values "pagecache:$size" mb_per_sec)) | $(median "produce:mock:$size" mb_per_sec) | $(median "$g" p50_ms) / $(median "$g" p99_ms) | $tgt |"
done
for size in $SIZES; do
    g="latency:gregord:$size"
    echo "| latency, linger.ms=0 | $size B | $(median "$g" records_per_sec) | $(median "$g" mb_per_sec) | | $(median "latency:mock:$size" mb_per_sec) | $(median "$g" p50_ms) / $(median "$g" p99_ms) ($(values "$g" p99_ms)) | p99 ≤ 5 ms: $(verdict "$(median "$g" p99_ms)" le 5) |"
done
echo
echo "Machine jitter (bench_jitter, ${JITTER_S} s before each round's latency runs): wakeup p99 $(median jitter p99_us) µs, p99.9 $(median jitter p999_us) µs; worst wakeup of each run: $(values jitter max_us) µs."
if [ "$MOCK" = 1 ]; then
    echo "Mock latency (same runs), p50 / p99 ms: $(for size in $SIZES; do printf '%s B %s / %s; ' "$size" "$(median "latency:mock:$size" p50_ms)" "$(median "latency:mock:$size" p99_ms)"; done)"
fi
finish_report "Throughput-run latency is queueing in the client; see the latency rows."
