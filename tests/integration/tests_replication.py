"""Partition replication, as Kafka does it: followers fetch from the leader; the high watermark
is the smallest log end offset of the ISR and consumers see only what lies below it; acks=all is
answered once every ISR member has the batch, and fails with NOT_ENOUGH_REPLICAS while the ISR
is smaller than min.insync.replicas; a follower that falls behind for replica.lag.time.max.ms
leaves the ISR and comes back once caught up; the controller takes a fenced broker out of every
ISR and elects leaders from the ISR only (unclean.leader.election.enable=false).  And `gregor
topics --describe` with kafka-topics.sh's report options, which show those states.

Every test runs real gregord processes (three controllers and three brokers, except the first,
which needs one node) and kills, stops and restarts them.  None is in the --quick subset.  Every
wait is a poll with a deadline; the only fixed sleeps pace the fault schedule and the producers,
and decide nothing.  The random choices come from one seed, printed by each test that uses it;
GREGOR_TEST_SEED=N replays it.

Run this module alone with

    python3 tests/integration/tests_replication.py [-k NAME]
"""
import os
import random
import re
import signal
import struct
import sys
import threading
import time

from harness import (ERR_FENCED_LEADER_EPOCH, ERR_NONE, ERR_NOT_ENOUGH_REPLICAS,
                     ERR_NOT_LEADER_OR_FOLLOWER, Cluster, Node, gregor, list_offset, log_batches,
                     metadata, partition_states, produce, record_batch, request)
from tests_cluster import wait_for

SESSION_TIMEOUT_S = 3.0  # broker.session.timeout.ms of the harness's clusters
LAG_TIME_MS = 5000       # replica.lag.time.max.ms where a test sets it
KILL_ROUNDS = 4          # kill -9 and restart rounds of the rolling-kill test

# Kafka errors after which a produce was certainly not appended (the request was refused
# before the append): a record failing with one of these may be sent again without risking a
# duplicate.
ERR_UNKNOWN_TOPIC_OR_PART = 3
ERR_LEADER_NOT_AVAILABLE = 5
NOT_APPENDED = (ERR_UNKNOWN_TOPIC_OR_PART, ERR_LEADER_NOT_AVAILABLE, ERR_NOT_LEADER_OR_FOLLOWER,
                ERR_NOT_ENOUGH_REPLICAS, ERR_FENCED_LEADER_EPOCH)


def seed_for(test):
    """The test's random seed: GREGOR_TEST_SEED, or a fresh one; printed either way."""
    seed = int(os.environ.get("GREGOR_TEST_SEED") or random.randrange(1 << 31))
    print(f"  {test}: seed {seed} (GREGOR_TEST_SEED={seed} replays it)", flush=True)
    return seed


# ---------------------------------------------------------------------------------------------
# `gregor topics`

PART_LINE = re.compile(r"^\tTopic: (\S+)\tPartition: (\d+)\tLeader: (\S+)\tReplicas: ([\d,]*)"
                       r"\tIsr: ([\d,]*)$")


def _ids(s):
    return [int(x) for x in s.split(",") if x]


def describe(bootstrap, *flags):
    """`gregor topics --describe` with flags: (topic header lines, partition lines as
    {(topic, partition): (leader or None, replicas, isr)}).  Any other line fails the test."""
    out = gregor("topics", "--bootstrap-server", bootstrap, "--describe", *flags).stdout
    headers, parts = [], {}
    for line in out.splitlines():
        if line.startswith("Topic: "):
            headers.append(line.split("\t")[0][len("Topic: "):])
            continue
        m = PART_LINE.match(line)
        assert m, f"unexpected line in --describe {' '.join(flags)}: {line!r}\n{out}"
        topic, p, leader, replicas, isr = m.groups()
        parts[(topic, int(p))] = (None if leader == "none" else int(leader), _ids(replicas),
                                  _ids(isr))
    return headers, parts


def create_topic(bootstrap, name, partitions, rf, *configs):
    args = ["topics", "--bootstrap-server", bootstrap, "--create", "--topic", name,
            "--partitions", str(partitions), "--replication-factor", str(rf)]
    for cfg in configs:
        args += ["--config", cfg]
    gregor(*args)


def malformed(states):
    """For failure messages: the partitions whose replicas repeat a broker or whose ISR is not
    a set of those replicas (what no controller may write), or ""."""
    if not isinstance(states, dict):
        return ""
    bad = {p: s for p, s in states.items()
           if len(set(s[1])) != len(s[1]) or len(set(s[2])) != len(s[2])
           or not set(s[2]) <= set(s[1])}
    return f"; MALFORMED (replicas or ISR repeat a broker, or ISR not in replicas): {bad}" \
        if bad else ""


def wait_leaders(c, topic, partitions, timeout=20):
    """Polls until every running broker's Metadata lists each partition of topic with a
    leader; returns the states from the last broker asked."""
    def ready():
        st = None
        for b in c.running_brokers():
            st = c.partitions(topic, via=b)
            if len(st) != partitions or any(s[0] < 0 for s in st.values()):
                return None
        return st
    return wait_for(ready, timeout, f"leaders for the {partitions} partitions of {topic}", c)


# ---------------------------------------------------------------------------------------------
# Producing numbered records and reading them back


class NumberedProducer:
    """Produces the records 0..count-1 (key and value: the number) with acks=all from a thread,
    paced at rate_per_s, and records every delivery report.

    With retries (librdkafka's own, resend=False) a record has one report: acked[value] =
    (partition, offset) or failed[value] = error.  Without them (resend=True: librdkafka
    retries nothing) the producer itself sends a record again only after an error that says
    it was not appended (NOT_APPENDED); any other failure makes the record "unknown" (it may or
    may not be in the log) and it is not sent again, so no record can be written twice."""

    def __init__(self, bootstrap, topic, count, rate_per_s, conf=None, resend=False,
                 partition=None):
        from confluent_kafka import Producer
        base = {"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": False,
                "linger.ms": 5, "message.timeout.ms": 60000, "retry.backoff.ms": 100,
                "message.send.max.retries": 0 if resend else 1000000}
        base.update(conf or {})
        self.p = Producer(base)
        self.topic, self.count, self.rate, self.resend = topic, count, rate_per_s, resend
        self.partition = partition
        self.acked, self.failed, self.unknown = {}, {}, {}
        self.attempts = {}  # value -> sends
        self.stop_evt = threading.Event()
        self.lock = threading.Lock()
        self.retry_queue = []
        self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def _report(self, err, msg):
        v = int(msg.value())
        with self.lock:
            if err is None:
                self.acked[v] = (msg.partition(), msg.offset())
            elif self.resend and err.code() in NOT_APPENDED:
                self.retry_queue.append(v)
            elif self.resend:
                self.unknown[v] = err
            else:
                self.failed[v] = err

    def _send(self, v):
        kw = {} if self.partition is None else {"partition": self.partition}
        with self.lock:  # stats() reads it from the test's thread
            self.attempts[v] = self.attempts.get(v, 0) + 1
        while True:
            try:
                self.p.produce(self.topic, key=str(v).encode(), value=str(v).encode(),
                               on_delivery=self._report, **kw)
                return
            except BufferError:
                self.p.poll(0.05)

    def _run(self):
        try:
            t0 = time.time()
            for i in range(self.count):
                if self.stop_evt.is_set():
                    break
                with self.lock:
                    again, self.retry_queue = self.retry_queue, []
                for v in again:
                    time.sleep(0.01)  # pace resends (the leader may still be moving)
                    self._send(v)
                self._send(i)
                self.p.poll(0)
                ahead = t0 + (i + 1) / self.rate - time.time()
                if ahead > 0:
                    time.sleep(ahead)
            self._drain()
        except Exception as e:  # noqa: BLE001 - reported by join()
            self.error = e

    def _drain(self, timeout=120):
        """Flushes, sending again what was refused unappended, until nothing is outstanding."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            self.p.flush(1)
            with self.lock:
                again, self.retry_queue = self.retry_queue, []
            for v in again:
                self._send(v)
            if not again and len(self.p) == 0:
                return
        raise AssertionError(f"{len(self.p)} records still outstanding after {timeout}s")

    def sent(self):
        return len(self.attempts)

    def stats(self):
        """A summary for failure messages: counts, and the errors seen with how often."""
        with self.lock:
            errs = {}
            for e in list(self.failed.values()) + list(self.unknown.values()):
                errs[e.name()] = errs.get(e.name(), 0) + 1
            return (f"sent {self.sent()}, acked {len(self.acked)}, failed {len(self.failed)}, "
                    f"in doubt {len(self.unknown)}, to resend {len(self.retry_queue)}, "
                    f"resends {sum(self.attempts.values()) - self.sent()}, errors {errs}")

    def stop(self):
        self.stop_evt.set()

    def join(self, timeout=180):
        self.thread.join(timeout)
        if self.thread.is_alive():
            raise AssertionError(f"the producer did not finish within {timeout}s")
        if self.error is not None:
            raise self.error


def wait_acked(c, prod, n, what, timeout=20):
    """Polls until prod has n records acknowledged."""
    deadline = time.time() + timeout
    while len(prod.acked) < n:
        c.check_alive()
        if prod.error is not None or not prod.thread.is_alive():
            raise AssertionError(f"the producer stopped: {prod.error!r}; {prod.stats()}")
        if time.time() > deadline:
            raise AssertionError(f"fewer than {n} records acknowledged {what} within {timeout}s: "
                                 f"{prod.stats()}")
        time.sleep(0.1)


def read_partitions(bootstrap, topic, ends, timeout=60):
    """Consumes each partition p of ends from offset 0 up to ends[p] (exclusive) with assign()
    and explicit offsets (no consumer group); returns {(partition, offset): value}."""
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "replication-verify",
                  "enable.auto.commit": False, "auto.offset.reset": "error"})
    got = {}
    todo = {p for p, end in ends.items() if end > 0}
    c.assign([TopicPartition(topic, p, 0) for p in todo])
    deadline = time.time() + timeout
    try:
        while todo:
            if time.time() > deadline:
                raise AssertionError(f"reading {topic}: partitions {sorted(todo)} not read up "
                                     f"to {ends} within {timeout}s")
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                raise AssertionError(f"reading {topic}-{m.partition()}: {m.error()}")
            got[(m.partition(), m.offset())] = int(m.value())
            if m.offset() + 1 >= ends[m.partition()]:
                todo.discard(m.partition())
    finally:
        c.close()
    return got


def high_watermarks(c, topic, partitions):
    """{partition: high watermark}: ListOffsets latest, asked of each partition's leader."""
    out = {}
    for p, (leader, _, _) in c.partitions(topic).items():
        err, hw = list_offset(c.node(leader).bootstrap, topic, p)
        assert err == ERR_NONE, f"ListOffsets {topic}-{p} on leader {leader}: error {err}"
        out[p] = hw
    assert len(out) == partitions, out
    return out


def check_replicas_identical(c, topic, partitions):
    """Each partition's log below the high watermark is byte-identical on every replica: the
    same record batches, compared whole (partitionLeaderEpoch included, since followers keep
    the leader's), read from the segment files in each broker's data dir.  Needs a full ISR
    and no writes in progress.  Returns the high watermarks."""
    hws = high_watermarks(c, topic, partitions)
    states = c.partitions(topic)
    for p, hw in sorted(hws.items()):
        leader, replicas, _ = states[p]
        logs = {}
        for r in replicas:
            batches = [b for b in log_batches(c.partition_dir(c.node(r), topic, p))
                       if b.base_offset < hw]
            logs[r] = batches
            for prev, b in zip(batches, batches[1:]):
                assert b.base_offset == prev.last_offset + 1, \
                    f"{topic}-{p} on broker {r}: {b!r} does not follow {prev!r}"
            if hw > 0:
                assert batches and batches[-1].last_offset == hw - 1, \
                    f"{topic}-{p} on broker {r}: batches below HW {hw} end at " \
                    f"{batches[-1] if batches else None!r}"
        ref = logs[leader]
        for r, batches in logs.items():
            if r == leader:
                continue
            assert len(batches) == len(ref), \
                f"{topic}-{p}: broker {r} has {len(batches)} batches below HW {hw}, the " \
                f"leader {leader} {len(ref)}"
            for mine, theirs in zip(ref, batches):
                assert mine.data == theirs.data, \
                    f"{topic}-{p}: broker {r}'s {theirs!r} differs from leader {leader}'s " \
                    f"{mine!r} (first at byte {first_difference(mine.data, theirs.data)})"
    return hws


def first_difference(a, b):
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


# ---------------------------------------------------------------------------------------------
# --describe report options (kafka-topics.sh)


def test_describe_report_options_use_the_effective_min_isr_and_print_no_topic_headers():
    """One node whose brokers' min.insync.replicas is 2: a topic without an override has 2 as
    its effective value (DescribeConfigs says so), one with min.insync.replicas=1 has 1.  Every
    ISR there has one member."""
    n = Node({"min.insync.replicas": "2"}).start()
    bs = n.bootstrap
    create_topic(bs, "one", 2, 1, "min.insync.replicas=1")
    create_topic(bs, "two", 1, 1)
    create_topic(bs, "__internal", 1, 1, "min.insync.replicas=1")

    headers, parts = describe(bs)
    assert headers == ["__internal", "one", "two"], headers
    assert set(parts) == {("__internal", 0), ("one", 0), ("one", 1), ("two", 0)}, parts
    headers, parts = describe(bs, "--exclude-internal")
    assert headers == ["one", "two"] and ("__internal", 0) not in parts, (headers, parts)
    listed = gregor("topics", "--bootstrap-server", bs, "--list", "--exclude-internal").stdout
    assert listed.split() == ["one", "two"], listed

    # Report options: only matching partitions, never a topic header.
    headers, parts = describe(bs, "--at-min-isr-partitions")
    assert not headers and set(parts) == {("__internal", 0), ("one", 0), ("one", 1)}, \
        (headers, parts)
    headers, parts = describe(bs, "--under-min-isr-partitions")
    assert not headers and set(parts) == {("two", 0)}, (headers, parts)
    headers, parts = describe(bs, "--under-min-isr-partitions", "--at-min-isr-partitions",
                              "--exclude-internal")
    assert not headers and set(parts) == {("one", 0), ("one", 1), ("two", 0)}, (headers, parts)
    headers, parts = describe(bs, "--at-min-isr-partitions", "--topic", "two")
    assert not headers and not parts, (headers, parts)
    for flag in ("--under-replicated-partitions", "--unavailable-partitions"):
        headers, parts = describe(bs, flag)
        assert not headers and not parts, (flag, headers, parts)
    assert describe(bs, "--under-min-isr-partitions")[1] == {("two", 0): (1, [1], [1])}

    # As in kafka-topics.sh, the report options go with --describe only, --exclude-internal
    # with --list and --describe.
    for args, bad, action in ((["--list", "--under-replicated-partitions"],
                               "under-replicated-partitions", "list"),
                              (["--delete", "--topic", "one", "--at-min-isr-partitions"],
                               "at-min-isr-partitions", "delete"),
                              (["--create", "--topic", "x", "--exclude-internal"],
                               "exclude-internal", "create")):
        r = gregor("topics", "--bootstrap-server", bs, *args, check=False)
        assert r.returncode == 1, (args, r.stdout, r.stderr)
        assert f'Option "[{bad}]" can\'t be used with option "[{action}]"' in r.stderr, \
            (args, r.stderr)
    assert "one" in gregor("topics", "--bootstrap-server", bs, "--list").stdout.split()
    n.stop()


def test_describe_reports_under_replicated_and_unavailable_partitions_after_a_kill9():
    """Three brokers; r3 has replication factor 3 (min.insync.replicas=2), r1 factor 1.  A
    kill -9 of a broker, once its fencing took it out of every ISR: the r3 partitions are under
    replicated (and at min ISR), the r1 partition it held is unavailable (and, leaderless,
    under min ISR), and nothing else is listed."""
    c = Cluster(controllers=3, brokers=3).start()
    bs = c.bootstrap
    create_topic(bs, "r3", 3, 3, "min.insync.replicas=2")
    create_topic(bs, "r1", 3, 1)
    wait_leaders(c, "r3", 3)
    wait_leaders(c, "r1", 3)
    for flag in ("--under-replicated-partitions", "--unavailable-partitions",
                 "--under-min-isr-partitions"):
        headers, parts = describe(bs, flag)
        assert not headers and not parts, (flag, headers, parts)

    r1 = c.partitions("r1")
    victim = c.node(r1[0][0])  # the broker holding r1-0
    lost = {("r1", p) for p, (_, replicas, _) in r1.items() if victim.node_id in replicas}
    watch = next(b for b in c.brokers if b is not victim)
    victim.kill9()
    wait_for(lambda: all(victim.node_id not in isr and leader != victim.node_id
                         for leader, _, isr in c.partitions("r3", via=watch).values()),
             SESSION_TIMEOUT_S + 10,
             f"the controller to take fenced broker {victim.node_id} out of every r3 ISR", c)

    headers, parts = describe(watch.bootstrap, "--under-replicated-partitions")
    assert not headers and set(parts) == {("r3", p) for p in range(3)}, (headers, parts)
    for (_, p), (leader, replicas, isr) in parts.items():
        assert len(replicas) == 3 and len(isr) == 2 and victim.node_id not in isr, parts
        assert leader in isr, parts

    headers, parts = describe(watch.bootstrap, "--unavailable-partitions")
    assert not headers and set(parts) == lost, (headers, parts, lost)
    assert all(v == (None, [victim.node_id], [victim.node_id]) for v in parts.values()), parts

    headers, parts = describe(watch.bootstrap, "--under-min-isr-partitions")
    assert not headers and set(parts) == lost, (headers, parts)
    headers, parts = describe(watch.bootstrap, "--at-min-isr-partitions", "--topic", "r3")
    assert not headers and set(parts) == {("r3", p) for p in range(3)}, (headers, parts)
    headers, parts = describe(watch.bootstrap, "--under-replicated-partitions",
                              "--unavailable-partitions")
    assert set(parts) == lost | {("r3", p) for p in range(3)}, parts

    victim.start()
    c.wait_ready(timeout=30)
    wait_for(lambda: not describe(watch.bootstrap, "--unavailable-partitions")[1], 20,
             "r1's partitions on the restarted broker to have a leader again", c)
    c.stop()


# ---------------------------------------------------------------------------------------------
# Replication under faults


def test_acks_all_survives_rolling_kill9_and_replicas_are_byte_identical():
    """(a) 20,000 numbered records with acks=all (retries on, no idempotence) to 6 partitions
    of replication factor 3 (min.insync.replicas=2) while a random broker is killed -9 and
    restarted four times, about every 3 s.  Every acknowledged record is at its acknowledged
    partition and offset, and once the ISR is full again each partition's log below the high
    watermark is byte-identical on its three replicas."""
    seed = seed_for("rolling kill -9")
    rng = random.Random(seed)
    topic, partitions, count = "chaos", 6, 20000
    c = Cluster(controllers=3, brokers=3).start()
    create_topic(c.bootstrap, topic, partitions, 3, "min.insync.replicas=2")
    wait_leaders(c, topic, partitions)
    c.wait_isr_full(topic, partitions)

    prod = NumberedProducer(c.bootstrap, topic, count, rate_per_s=800).start()
    wait_acked(c, prod, 500, "before the first kill")
    schedule = []
    for _ in range(KILL_ROUNDS):
        victim = rng.choice(c.brokers)
        t_kill = time.time()
        victim.kill9()
        schedule.append((round(t_kill, 1), victim.node_id, prod.sent()))
        while time.time() < t_kill + 3:  # pacing the faults, not a check
            c.check_alive()
            time.sleep(0.1)
        t_start = time.time()
        victim.start()
        c.wait_ready(brokers=[victim], timeout=30)
        while time.time() < t_start + 3:
            c.check_alive()
            time.sleep(0.1)
    print(f"  kills (time, broker, records sent by then): {schedule}; producer at "
          f"{prod.sent()}/{count}", flush=True)
    prod.join()
    if prod.failed or len(prod.acked) != count:
        try:
            state = c.partitions(topic)
        except AssertionError as e:
            state = e
        raise AssertionError(f"seed {seed}: {prod.stats()}; e.g. failed "
                             f"{sorted(prod.failed.items())[:3]}; (leader, replicas, isr) per "
                             f"partition now: {state}{malformed(state)}")

    c.wait_isr_full(topic, partitions, timeout=60)
    hws = check_replicas_identical(c, topic, partitions)
    for v, (p, o) in prod.acked.items():
        assert o < hws[p], f"seed {seed}: record {v} acknowledged at {p}/{o}, above HW {hws[p]}"
    got = read_partitions(c.bootstrap, topic, hws)
    wrong = [(v, po, got.get(po)) for v, po in prod.acked.items() if got.get(po) != v]
    assert not wrong, f"seed {seed}: {len(wrong)} acknowledged records not where they were " \
                      f"acknowledged, e.g. (value, (partition, offset), found): {wrong[:10]}"
    dupes = len(got) - len(set(got.values()))
    print(f"  high watermarks {hws}; {dupes} duplicate(s) from retries", flush=True)
    c.stop()


def test_acks_all_fails_below_min_isr_and_the_isr_refills_within_lag_time():
    """(b) Replication factor 3, min.insync.replicas=2: with both followers killed -9 and out
    of the ISR, acks=all gets NOT_ENOUGH_REPLICAS and appends nothing, acks=1 is written; once
    the followers are back, the ISR is full again within replica.lag.time.max.ms and acks=all
    works, and the acks=1 record is on all three replicas."""
    topic = "minisr"
    c = Cluster(controllers=3, brokers=3,
                broker_overrides={"replica.lag.time.max.ms": str(LAG_TIME_MS)}).start()
    create_topic(c.bootstrap, topic, 1, 3, "min.insync.replicas=2")
    wait_leaders(c, topic, 1)
    leader_id, replicas, _ = c.wait_isr_full(topic, 1)[0]
    leader = c.node(leader_id)
    followers = [c.node(r) for r in replicas if r != leader_id]
    err, _ = produce(leader.bootstrap, topic, 0, record_batch([b"all-3"]), acks=-1)
    assert err == ERR_NONE, f"acks=all with a full ISR: error {err}"

    for f in followers:
        f.kill9()
    wait_for(lambda: partition_states(metadata(leader.bootstrap), topic)[0][2] == [leader_id],
             SESSION_TIMEOUT_S + 10, f"the ISR of {topic}-0 to shrink to its leader", c)

    _, hw = list_offset(leader.bootstrap, topic, 0)
    err, _ = produce(leader.bootstrap, topic, 0, record_batch([b"refused"]), acks=-1)
    assert err == ERR_NOT_ENOUGH_REPLICAS, \
        f"acks=all with ISR [{leader_id}] below min.insync.replicas=2 answered {err}, " \
        f"expected NOT_ENOUGH_REPLICAS ({ERR_NOT_ENOUGH_REPLICAS})"
    assert list_offset(leader.bootstrap, topic, 0) == (ERR_NONE, hw), "the refused batch was " \
                                                                      "appended"
    err, base = produce(leader.bootstrap, topic, 0, record_batch([b"acks-1"]), acks=1)
    assert (err, base) == (ERR_NONE, hw), f"acks=1 with ISR [{leader_id}]: {(err, base)}, " \
                                          f"expected (0, {hw})"

    for f in followers:
        f.start()
    c.wait_ready(brokers=followers, timeout=30)
    t_back = time.time()
    c.wait_isr_full(topic, 1, timeout=LAG_TIME_MS / 1000 + 20, via=leader)
    refill_s = time.time() - t_back
    print(f"  ISR full {refill_s:.2f}s after the followers were back", flush=True)
    assert refill_s <= LAG_TIME_MS / 1000, \
        f"the ISR took {refill_s:.1f}s to fill, more than replica.lag.time.max.ms"
    err, base = produce(leader.bootstrap, topic, 0, record_batch([b"all-3-again"]), acks=-1)
    assert (err, base) == (ERR_NONE, hw + 1), (err, base, hw)
    hws = check_replicas_identical(c, topic, 1)
    assert hws == {0: hw + 2}, hws
    c.stop()


# A stopped broker keeps its connections open, so only timeouts tell the producer to give up
# on it: short ones (librdkafka's are a minute), and metadata asked for every second.
STOPPED_BROKER_CONF = {"request.timeout.ms": 4000, "socket.timeout.ms": 6000,
                       "topic.metadata.refresh.interval.ms": 1000}


def test_sigstopped_leader_steps_down_and_no_acked_write_is_lost_or_duplicated():
    """(c) SIGSTOP the leader of a partition (replication factor 3, min.insync.replicas=2) for
    longer than broker.session.timeout.ms while numbered records are produced with acks=all:
    another replica leads, and after SIGCONT the old leader follows (its Metadata names the new
    leader and it refuses a Produce with NOT_LEADER_OR_FOLLOWER or FENCED_LEADER_EPOCH).
    Every acknowledged record is in the log exactly once, at its offset; a record whose send
    ended in doubt is there at most once; the replicas agree byte for byte.

    librdkafka retries nothing here: the producer sends a record again only after an error
    that says it was not appended, so a second copy of any record would be the broker's."""
    topic = "stopped"
    c = Cluster(controllers=3, brokers=3).start()
    create_topic(c.bootstrap, topic, 1, 3, "min.insync.replicas=2")
    wait_leaders(c, topic, 1)
    old_id = c.wait_isr_full(topic, 1)[0][0]
    old = c.node(old_id)
    watch = next(b for b in c.brokers if b is not old)
    prod = NumberedProducer(c.bootstrap, topic, 10 ** 6, rate_per_s=200, resend=True,
                            partition=0, conf=STOPPED_BROKER_CONF).start()
    wait_acked(c, prod, 100, "by the first leader")

    t_stop = time.time()
    old.send_signal(signal.SIGSTOP)
    try:
        new_id = wait_for(
            lambda: (lambda l: l if l not in (old_id, -1) else None)(
                c.partitions(topic, via=watch)[0][0]),
            SESSION_TIMEOUT_S + 15, f"a leader other than the stopped broker {old_id}", c)
        acked_before = len(prod.acked)
        wait_acked(c, prod, acked_before + 100, f"by the new leader {new_id}")
        stopped_s = time.time() - t_stop
        assert stopped_s > SESSION_TIMEOUT_S, stopped_s
    finally:
        old.proc.send_signal(signal.SIGCONT)
    print(f"  leader {old_id} stopped for {stopped_s:.1f}s; new leader {new_id}", flush=True)

    wait_for(lambda: partition_states(metadata(old.bootstrap, timeout=2), topic)[0][0]
             not in (old_id, -1), 30, f"the old leader {old_id} to learn of the new one", c)
    err, _ = produce(old.bootstrap, topic, 0, record_batch([b"-1"]), acks=-1)
    assert err in (ERR_NOT_LEADER_OR_FOLLOWER, ERR_FENCED_LEADER_EPOCH), \
        f"Produce to the old leader answered {err}, expected NOT_LEADER_OR_FOLLOWER " \
        f"({ERR_NOT_LEADER_OR_FOLLOWER}) or FENCED_LEADER_EPOCH ({ERR_FENCED_LEADER_EPOCH})"

    acked_after_cont = len(prod.acked)
    wait_acked(c, prod, acked_after_cont + 100, "after SIGCONT")
    prod.stop()
    prod.join()

    c.wait_isr_full(topic, 1, timeout=30)
    hws = check_replicas_identical(c, topic, 1)
    got = read_partitions(c.bootstrap, topic, hws)
    by_value = {}
    for (_, o), v in got.items():
        by_value.setdefault(v, []).append(o)
    twice = {v: os for v, os in by_value.items() if len(os) > 1}
    assert not twice, f"records written more than once (value: offsets): " \
                      f"{dict(list(twice.items())[:10])}"
    lost = [(v, o) for v, (_, o) in prod.acked.items() if got.get((0, o)) != v]
    assert not lost, f"{len(lost)} acknowledged records not at their offsets, e.g. " \
                     f"(value, offset): {lost[:10]}"
    stray = set(by_value) - set(prod.acked) - set(prod.unknown)
    assert not stray, f"records in the log that were refused unappended (or never sent): " \
                      f"{sorted(stray)[:10]}"
    print(f"  {len(prod.acked)} acknowledged, {len(prod.unknown)} in doubt "
          f"({len(set(prod.unknown) & set(by_value))} of those written), HW {hws[0]}",
          flush=True)
    c.stop()


def test_describe_shows_the_isr_shrink_and_grow_back_around_a_kill9():
    """(d) `gregor topics --describe` during a kill -9 of a broker: the partitions it led get
    another leader, every Isr loses it while Replicas stay, and after its restart every Isr
    holds all three replicas again (and --under-replicated-partitions is empty again)."""
    seed = seed_for("describe around a kill -9")
    topic = "shown"
    c = Cluster(controllers=3, brokers=3).start()
    create_topic(c.bootstrap, topic, 3, 3)
    wait_leaders(c, topic, 3)
    c.wait_isr_full(topic, 3)
    _, before = describe(c.bootstrap, "--topic", topic)
    assert len(before) == 3 and all(sorted(i) == sorted(r) and len(r) == 3
                                    for _, r, i in before.values()), before
    victim = random.Random(seed).choice(c.brokers)
    led = {k for k, (leader, _, _) in before.items() if leader == victim.node_id}
    watch = next(b for b in c.brokers if b is not victim)
    victim.kill9()

    def shrunk():
        _, now = describe(watch.bootstrap, "--topic", topic)
        ok = all(leader is not None and leader != victim.node_id and leader in isr
                 and replicas == before[k][1] and len(isr) == 2 and victim.node_id not in isr
                 for k, (leader, replicas, isr) in now.items())
        return now if ok and len(now) == 3 else None
    during = wait_for(shrunk, SESSION_TIMEOUT_S + 10,
                      f"--describe to show broker {victim.node_id} out of every Isr", c)
    assert all(during[k][0] != before[k][0] for k in led), (before, during)
    assert set(describe(watch.bootstrap, "--under-replicated-partitions")[1]) == set(before)

    victim.start()
    c.wait_ready(timeout=30)

    def grown():
        _, now = describe(watch.bootstrap, "--topic", topic)
        ok = all(leader is not None and sorted(isr) == sorted(replicas)
                 and replicas == before[k][1] for k, (leader, replicas, isr) in now.items())
        return now if ok and len(now) == 3 else None
    after = wait_for(grown, 30, f"--describe to show broker {victim.node_id} back in every Isr",
                     c)
    print(f"  before {before}\n  during {during}\n  after  {after}", flush=True)
    headers, parts = describe(watch.bootstrap, "--under-replicated-partitions")
    assert not headers and not parts, parts
    c.stop()


if __name__ == "__main__":
    import importlib

    import run
    run.MODULES[:] = [importlib.import_module("tests_replication")]
    sys.exit(run.main())


# ---------------------------------------------------------------------------------------------
# Fetch from the closest replica (KIP-392)


def fetch_v11(addr, topic, partition, offset, rack):
    """A consumer's Fetch v11 of one partition: (error, high watermark, preferred read replica,
    record bytes)."""
    t = topic.encode()
    body = (struct.pack(">iiiibii", -1, 0, 1, 1 << 20, 0, 0, -1) + struct.pack(">i", 1) +
            struct.pack(">h", len(t)) + t + struct.pack(">i", 1) +
            struct.pack(">iiqqi", partition, -1, offset, -1, 1 << 20) + struct.pack(">i", 0) +
            struct.pack(">h", len(rack)) + rack.encode())
    r = request(addr, 1, 11, body)
    off = 4 + 2 + 4 + 4  # throttle, error, session id, topics count
    (tl,) = struct.unpack_from(">h", r, off)
    off += 2 + tl + 4
    _p, err, hw, _lso, _lstart = struct.unpack_from(">ihqqq", r, off)
    off += 4 + 2 + 8 + 8 + 8
    (naborted,) = struct.unpack_from(">i", r, off)
    off += 4 + max(naborted, 0) * 16
    preferred, nrec = struct.unpack_from(">ii", r, off)
    return err, hw, preferred, max(nrec, 0)


def test_consumers_read_from_an_in_sync_replica_in_their_rack():
    selector = "org.apache.kafka.common.replica.RackAwareReplicaSelector"
    c = Cluster(controllers=1, brokers=0,
                broker_overrides={"replica.selector.class": selector})
    racks = {}
    for rack in ("a", "b", "c"):
        racks[c.add_broker(overrides={"broker.rack": rack}).node_id] = rack
    c.start()
    topic = "racked"
    create_topic(c.bootstrap, topic, 1, 3, "min.insync.replicas=2")
    leader_id = c.wait_isr_full(topic, 1)[0][0]
    leader = c.node(leader_id)
    for i in range(10):
        assert produce(leader.bootstrap, topic, 0, record_batch([b"r%d" % i]))[0] == ERR_NONE
    near = next(b for b in c.brokers if b.node_id != leader_id)
    rack = racks[near.node_id]
    # the leader sends a consumer of another rack to the in-sync replica there, without records
    err, hw, preferred, nbytes = fetch_v11(leader.bootstrap, topic, 0, 0, rack)
    assert (err, preferred, nbytes) == (ERR_NONE, near.node_id, 0), (err, preferred, nbytes)
    assert hw == 10, hw
    # ... which serves it up to its own high watermark
    got = wait_for(lambda: (lambda r: r if r[3] > 0 and r[1] == 10 else None)(
        fetch_v11(near.bootstrap, topic, 0, 0, rack)), 20, "the follower to serve the records", c)
    assert got[0] == ERR_NONE and got[2] == -1, got
    # a consumer in the leader's rack (or none) reads from the leader as before
    err, _, preferred, nbytes = fetch_v11(leader.bootstrap, topic, 0, 0, racks[leader_id])
    assert (err, preferred) == (ERR_NONE, -1) and nbytes > 0, (err, preferred, nbytes)
    c.stop()


def test_a_follower_behind_the_leaders_retention_restarts_its_log_there():
    """A follower down while its leader's retention deletes what it would fetch next restarts
    its log at the leader's log start (Kafka's truncateFullyAndStartAt) and rejoins the ISR."""
    c = Cluster(controllers=1, brokers=2,
                broker_overrides={"log.retention.check.interval.ms": "200"})
    c.start()
    topic = "retained"
    create_topic(c.bootstrap, topic, 1, 2, "segment.bytes=2048", "retention.bytes=4096")
    leader_id = c.wait_isr_full(topic, 1)[0][0]
    leader = c.node(leader_id)
    follower = next(b for b in c.brokers if b is not leader)
    follower.kill9()
    wait_for(lambda: c.partitions(topic, via=leader)[0][2] == [leader_id], 20,
             "the killed follower to leave the ISR", c)
    for i in range(200):  # ~60 KB: many segments, most of them deleted by retention
        err, _ = produce(leader.bootstrap, topic, 0, record_batch([b"x" * 200]), acks=1)
        assert err == ERR_NONE, err
    start = wait_for(lambda: (lambda r: r[1] if r[0] == ERR_NONE and r[1] > 0 else None)(
        list_offset(leader.bootstrap, topic, 0, -2)), 20, "retention to move the log start", c)
    follower.start()
    c.wait_isr_full(topic, 1, timeout=30)
    assert "restarting our log there" in follower.log(), follower.log()[-3000:]
    batches = log_batches(c.partition_dir(follower, topic, 0))
    assert batches and batches[0].base_offset >= start, (start, batches[:1])
    c.stop()


def test_rolling_restart_of_every_broker_under_load_loses_nothing_and_stalls_briefly():
    """Issue 6's rolling restart: each broker in turn is stopped with SIGTERM (a controlled
    shutdown) and started again, the next only once every ISR is full, while an idempotent
    acks=all producer writes numbered records.  Nothing acknowledged is lost or stored twice,
    and the producer's longest wait for an acknowledgement stays within a few seconds."""
    topic, partitions, count = "rolling", 6, 30000
    c = Cluster(controllers=3, brokers=3).start()
    create_topic(c.bootstrap, topic, partitions, 3, "min.insync.replicas=2")
    wait_leaders(c, topic, partitions)
    c.wait_isr_full(topic, partitions)
    prod = NumberedProducer(c.bootstrap, topic, count, rate_per_s=1500,
                            conf={"enable.idempotence": True}).start()
    wait_acked(c, prod, 500, "before the first restart")
    stalls = []  # (seconds without a new acknowledgement, while restarting broker id)
    state = {"restarting": None, "stop": False}

    def watch():
        last_n, last_t = len(prod.acked), time.time()
        longest = 0.0
        while not state["stop"]:
            n = len(prod.acked)
            now = time.time()
            if n != last_n:
                gap = now - last_t
                if gap > longest:
                    longest = gap
                    stalls.append((round(gap, 2), state["restarting"]))
                last_n, last_t = n, now
            time.sleep(0.02)

    w = threading.Thread(target=watch, daemon=True)
    w.start()
    for b in c.brokers:
        state["restarting"] = b.node_id
        b.stop()  # SIGTERM: controlled shutdown
        b.start()
        c.wait_ready(brokers=[b], timeout=30)
        c.wait_isr_full(topic, partitions, timeout=60)
    state["restarting"] = None
    prod.join()
    state["stop"] = True
    w.join(5)
    assert not prod.failed and len(prod.acked) == count, prod.stats()
    c.wait_isr_full(topic, partitions, timeout=60)
    hws = check_replicas_identical(c, topic, partitions)
    got = read_partitions(c.bootstrap, topic, hws)
    wrong = [(v, po, got.get(po)) for v, po in prod.acked.items() if got.get(po) != v]
    assert not wrong, wrong[:10]
    assert len(got) == len(set(got.values())) == count, (len(got), len(set(got.values())))
    longest = stalls[-1] if stalls else (0.0, None)
    print(f"  {count} records acknowledged, 0 lost, 0 twice; longest wait for an "
          f"acknowledgement {longest[0]} s (restarting broker {longest[1]})", flush=True)
    assert longest[0] < 5, stalls
    c.stop()
