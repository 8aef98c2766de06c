"""Consumer groups with librdkafka (confluent-kafka): rebalancing across members, the
cooperative-sticky protocol, static membership, committed offsets surviving a kill -9 of the
node and of the coordinator's broker in a cluster.  kafka-python and kafkajs groups are in
tests_groups_clients.py."""
import os
import struct
import threading
import time

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

import harness
from harness import Cluster, Node, gregor
from tests_clients import quick
from tests_cluster import wait_for

FAST_GROUPS = {"group.initial.rebalance.delay.ms": "0", "offsets.topic.num.partitions": "5"}


def java_hash(s):
    h = 0
    for b in range(0, len(s.encode("utf-16-be")), 2):
        unit = int.from_bytes(s.encode("utf-16-be")[b:b + 2], "big")
        h = (31 * h + unit) & 0xFFFFFFFF
    return h - (1 << 32) if h >= (1 << 31) else h


def offsets_partition(group, partitions):
    h = java_hash(group)
    return 0 if h == -(1 << 31) else abs(h) % partitions


def produce(bootstrap, topic, n, partitions):
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for i in range(n):
        p.produce(topic, value=str(i).encode(), partition=i % partitions)
    assert p.flush(30) == 0


class Member:
    """A librdkafka consumer in a group, polled by its own thread; keeps what it received and
    the rebalance callbacks it saw."""

    def __init__(self, bootstrap, group, topic, name, **conf):
        c = {"bootstrap.servers": bootstrap, "group.id": group, "client.id": name,
             "auto.offset.reset": "earliest", "enable.auto.commit": False,
             "session.timeout.ms": 10000, "heartbeat.interval.ms": 500}
        c.update(conf)
        self.name = name
        self.consumer = Consumer(c)
        self.lock = threading.Lock()
        self.assigned = set()
        self.events = []  # ("assign"|"revoke", frozenset)
        self.errors = []
        self.values = []
        self.stopping = False
        self.commit_every = None
        self.cooperative = "cooperative" in str(conf.get("partition.assignment.strategy", ""))
        self.consumer.subscribe([topic], on_assign=self._on_assign, on_revoke=self._on_revoke)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _on_assign(self, consumer, parts):
        with self.lock:
            ps = frozenset(p.partition for p in parts)
            self.events.append(("assign", ps))
            self.assigned = self.assigned | ps if self.cooperative else set(ps)

    def _on_revoke(self, consumer, parts):
        with self.lock:
            ps = frozenset(p.partition for p in parts)
            self.events.append(("revoke", ps))
            self.assigned = self.assigned - ps if self.cooperative else set()

    def _run(self):
        last_commit = time.time()
        while not self.stopping:
            m = self.consumer.poll(0.1)
            if m is not None:
                if m.error():
                    with self.lock:
                        self.errors.append(m.error())
                else:
                    with self.lock:
                        self.values.append((m.partition(), m.offset()))
            if self.commit_every and time.time() - last_commit >= self.commit_every:
                last_commit = time.time()
                try:
                    self.consumer.commit(asynchronous=False)
                except Exception:  # nothing to commit, or a rebalance under way: next time
                    pass

    def partitions(self):
        with self.lock:
            return set(self.assigned)

    def stop(self, close=True):
        self.stopping = True
        self.thread.join(10)
        if close:
            self.consumer.close()


def assignment_is(members, sizes):
    return sorted(len(m.partitions()) for m in members) == sorted(sizes)


@quick
def test_members_share_partitions_and_rebalance_as_they_come_and_go():
    n = Node(FAST_GROUPS).start()
    gregor("topics", "--bootstrap-server", n.bootstrap, "--create", "--topic", "t",
           "--partitions", "6")
    ms = [Member(n.bootstrap, "g", "t", f"c{i}") for i in range(3)]
    wait_for(lambda: assignment_is(ms, [2, 2, 2]), 30, "three members with two partitions each")
    # produced once the group has settled: a rebalance would hand uncommitted records on
    produce(n.bootstrap, "t", 600, 6)
    wait_for(lambda: sum(len(m.values) for m in ms) >= 600, 30, "all 600 records")
    time.sleep(0.5)  # nothing more arrives
    got = sorted(v for m in ms for v in m.values)
    assert len(got) == 600 and len(set(got)) == 600, "a record was delivered twice"
    # a fourth member: a rebalance, everyone still covered, nobody with more than two
    ms.append(Member(n.bootstrap, "g", "t", "c3"))
    wait_for(lambda: assignment_is(ms, [1, 1, 2, 2]), 30, "a rebalance over four members")
    assert set().union(*(m.partitions() for m in ms)) == set(range(6))
    # seven on six partitions: one idle
    ms += [Member(n.bootstrap, "g", "t", f"c{i}") for i in range(4, 7)]
    wait_for(lambda: assignment_is(ms, [0, 1, 1, 1, 1, 1, 1]), 40,
             "seven members on six partitions, one idle")
    for m in ms:
        m.stop()
    log = n.log()
    assert "group g: PreparingRebalance -> Empty" in log, log[-2000:]
    n.stop()


def test_cooperative_sticky_members_keep_their_partitions_across_a_rebalance():
    n = Node(FAST_GROUPS).start()
    gregor("topics", "--bootstrap-server", n.bootstrap, "--create", "--topic", "t",
           "--partitions", "6")
    conf = {"partition.assignment.strategy": "cooperative-sticky"}
    ms = [Member(n.bootstrap, "coop", "t", f"c{i}", **conf) for i in range(3)]
    wait_for(lambda: assignment_is(ms, [2, 2, 2]), 30, "three members with two partitions each")
    before = {m.name: m.partitions() for m in ms}
    marks = {m.name: len(m.events) for m in ms}
    ms.append(Member(n.bootstrap, "coop", "t", "c3", **conf))
    wait_for(lambda: assignment_is(ms, [1, 1, 2, 2]), 40, "an incremental rebalance")
    moved = set()
    for m in ms[:3]:
        revoked = set()
        for kind, ps in m.events[marks[m.name]:]:
            if kind == "revoke":
                revoked |= ps
        # only what moves away is revoked; what a member keeps is never taken from it
        assert revoked <= before[m.name], (m.name, revoked, before[m.name])
        assert m.partitions() == before[m.name] - revoked, (m.name, m.partitions(), revoked)
        moved |= revoked
    assert ms[3].partitions() == moved and moved, (moved, ms[3].partitions())
    for m in ms:
        m.stop()
    n.stop()


def test_a_static_member_restarted_within_its_session_keeps_its_partitions_without_a_rebalance():
    n = Node(FAST_GROUPS).start()
    gregor("topics", "--bootstrap-server", n.bootstrap, "--create", "--topic", "t",
           "--partitions", "6")
    a = Member(n.bootstrap, "static", "t", "a", **{"group.instance.id": "a"})
    b = Member(n.bootstrap, "static", "t", "b", **{"group.instance.id": "b"})
    wait_for(lambda: assignment_is([a, b], [3, 3]), 30, "two static members with three each")
    a_parts, b_parts, b_events = a.partitions(), b.partitions(), len(b.events)
    rebalances = n.log().count("group static: preparing to rebalance")
    a.stop()  # a static member does not leave the group when it closes (KIP-345)
    a2 = Member(n.bootstrap, "static", "t", "a", **{"group.instance.id": "a"})
    wait_for(lambda: a2.partitions(), 20, "the restarted member's assignment")
    assert a2.partitions() == a_parts, (a2.partitions(), a_parts)
    time.sleep(2)  # heartbeats go on: no rebalance is pending either
    assert b.partitions() == b_parts and len(b.events) == b_events, b.events
    log = n.log()
    assert log.count("group static: preparing to rebalance") == rebalances, log[-3000:]
    assert "static member a rejoins as" in log, log[-3000:]
    # a second process with the same instance id fences the first
    a3 = Member(n.bootstrap, "static", "t", "a3", **{"group.instance.id": "a"})
    wait_for(lambda: any(e.code() in (KafkaError.FENCED_INSTANCE_ID, KafkaError._FATAL)
                         for e in a2.errors), 20, "FENCED_INSTANCE_ID at the older member")
    for m in (a2, a3, b):
        m.stop()
    n.stop()


def committed(bootstrap, group, topic, partitions):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        res = c.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
        return {tp.partition: tp.offset for tp in res}
    finally:
        c.close()


@quick
def test_committed_offsets_survive_a_kill9_of_the_node():
    n = Node(FAST_GROUPS).start()
    gregor("topics", "--bootstrap-server", n.bootstrap, "--create", "--topic", "t",
           "--partitions", "3")
    c = Consumer({"bootstrap.servers": n.bootstrap, "group.id": "dur", "enable.auto.commit": False})
    c.assign([TopicPartition("t", p) for p in range(3)])
    c.commit(offsets=[TopicPartition("t", p, 10 * (p + 1)) for p in range(3)],
             asynchronous=False)
    c.close()
    n.kill9()
    n.start()
    got = committed(n.bootstrap, "dur", "t", 3)
    assert got == {0: 10, 1: 20, 2: 30}, got
    assert "loaded __consumer_offsets" in n.log()
    n.stop()


def test_consumers_follow_the_group_to_a_new_coordinator_and_no_commit_goes_backwards():
    parts = 6
    c = Cluster(controllers=3, brokers=3,
                overrides=dict(FAST_GROUPS, **{"offsets.topic.num.partitions": str(parts)})).start()
    gregor("topics", "--bootstrap-server", c.bootstrap, "--create", "--topic", "t",
           "--partitions", "6", "--replication-factor", "3", "--config",
           "min.insync.replicas=2")
    ms = [Member(c.bootstrap, "fo", "t", f"c{i}", **{"max.poll.interval.ms": 60000})
          for i in range(3)]
    for m in ms:
        m.commit_every = 1.0
    wait_for(lambda: assignment_is(ms, [2, 2, 2]), 40, "the group to be stable")
    c.wait_isr_full("__consumer_offsets", parts, timeout=30)
    coord_part = offsets_partition("fo", parts)
    leader = c.partitions("__consumer_offsets")[coord_part][0]

    seen = {}
    backwards = []
    advanced = []  # when a committed offset moved forward
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            try:
                got = committed(c.bootstrap, "fo", "t", 6)
            except Exception:
                continue
            for p, off in got.items():
                if off < 0:
                    continue
                if off < seen.get(p, -1):
                    backwards.append((p, seen[p], off))
                if off > seen.get(p, -1):
                    advanced.append(time.time())
                seen[p] = max(seen.get(p, -1), off)
            time.sleep(0.2)

    def produce_slowly():  # 1000 per partition over ~8 s: before, during and after the kill
        p = Producer({"bootstrap.servers": c.bootstrap, "acks": "all",
                      "message.timeout.ms": 60000})
        for i in range(6000):
            p.produce("t", value=str(i).encode(), partition=i % 6)
            if i % 60 == 59:
                p.poll(0)
                time.sleep(0.08)
        assert p.flush(60) == 0

    w = threading.Thread(target=watch, daemon=True)
    w.start()
    pt = threading.Thread(target=produce_slowly, daemon=True)
    pt.start()
    wait_for(lambda: len(seen) == 6 and min(seen.values()) > 0, 30,
             "committed offsets for every partition")
    before_kill = dict(seen)
    c.node(leader).kill9()
    t0 = time.time()
    new_leader = wait_for(lambda: c.partitions("__consumer_offsets", via=c.running_brokers()[0])
                          [coord_part][0] not in (-1, leader), 20, "a new coordinator")
    assert new_leader
    # the consumers carry on: everything gets consumed and committed at the end
    pt.join(90)
    wait_for(lambda: seen and all(seen.get(p) == 1000 for p in range(6)), 60,
             "every partition committed to its end after the failover", c)
    assert max(before_kill.values()) < 1000, before_kill
    after = [t for t in advanced if t > t0]
    print(f"  first commit after the coordinator's kill -9: {after[0] - t0:.1f}s; all offsets "
          f"committed {time.time() - t0:.1f}s after it")
    stop.set()
    w.join(10)
    assert not backwards, backwards
    for m in ms:
        m.stop()
    c.stop()


def groups_cli(bootstrap, *args, check=True):
    return gregor("consumer-groups", "--bootstrap-server", bootstrap, *args, check=check)


@quick
def test_consumer_groups_cli_lists_describes_resets_and_deletes_as_kafka_consumer_groups():
    n = Node(FAST_GROUPS).start()
    b = n.bootstrap
    gregor("topics", "--bootstrap-server", b, "--create", "--topic", "t", "--partitions", "3")
    produce(b, "t", 300, 3)
    m = Member(b, "g", "t", "c0")
    wait_for(lambda: len(m.values) == 300, 30, "all 300 records")
    m.consumer.commit(asynchronous=False)
    assert groups_cli(b, "--list").stdout.split() == ["g"]
    r = groups_cli(b, "--describe", "--group", "g")
    rows = [ln.split() for ln in r.stdout.splitlines() if ln.startswith("g ")]
    assert r.stdout.split("\n")[1].split() == ["GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET",
                                              "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST",
                                              "CLIENT-ID"], r.stdout
    assert [row[1:6] for row in rows] == [["t", str(p), "100", "100", "0"] for p in range(3)], rows
    assert all(row[7] == "/127.0.0.1" and row[8] == "c0" for row in rows), rows
    r = groups_cli(b, "--describe", "--group", "g", "--state")
    assert "Stable" in r.stdout and "range" in r.stdout, r.stdout
    # refused while the group has a member, as Kafka does
    r = groups_cli(b, "--reset-offsets", "--group", "g", "--topic", "t", "--to-earliest",
                   "--execute", check=False)
    assert "Assignments can only be reset if the group 'g' is inactive, but the current state " \
           "is Stable." in r.stdout, r.stdout
    r = groups_cli(b, "--delete", "--group", "g", check=False)
    assert "The group is not empty." in r.stdout, r.stdout
    m.stop()
    # --dry-run prints the plan and changes nothing
    r = groups_cli(b, "--reset-offsets", "--group", "g", "--topic", "t", "--to-earliest",
                   "--dry-run")
    plan = [ln.split() for ln in r.stdout.splitlines() if ln.startswith("g ")]
    assert plan == [["g", "t", str(p), "0"] for p in range(3)], r.stdout
    assert committed(b, "g", "t", 3) == {0: 100, 1: 100, 2: 100}
    # --execute applies it, and the group's next consumer reads everything again
    groups_cli(b, "--reset-offsets", "--group", "g", "--topic", "t", "--to-earliest", "--execute")
    assert committed(b, "g", "t", 3) == {0: 0, 1: 0, 2: 0}
    m2 = Member(b, "g", "t", "c1")
    wait_for(lambda: len(m2.values) == 300, 30, "the replay of all 300 records")
    m2.consumer.commit(asynchronous=False)
    m2.stop()
    groups_cli(b, "--reset-offsets", "--group", "g", "--topic", "t:0", "--shift-by", "-10",
               "--execute")
    assert committed(b, "g", "t", 3) == {0: 90, 1: 100, 2: 100}
    # --export prints the plan as CSV, and --from-file applies such a file
    r = groups_cli(b, "--reset-offsets", "--group", "g", "--topic", "t", "--to-earliest",
                   "--export", "--dry-run")
    assert r.stdout.split() == ["t,0,0", "t,1,0", "t,2,0"], r.stdout
    assert committed(b, "g", "t", 3) == {0: 90, 1: 100, 2: 100}
    path = os.path.join(n.dir, "plan.csv")
    with open(path, "w") as f:
        f.write("t,0,5\nt,2,7\n")
    r = groups_cli(b, "--reset-offsets", "--group", "g", "--from-file", path, "--execute")
    plan = [ln.split() for ln in r.stdout.splitlines() if ln.startswith("g ")]
    assert plan == [["g", "t", "0", "5"], ["g", "t", "2", "7"]], r.stdout
    assert committed(b, "g", "t", 3) == {0: 5, 1: 100, 2: 7}
    # --delete-offsets removes one partition's commit only
    r = groups_cli(b, "--delete-offsets", "--group", "g", "--topic", "t:1")
    assert "Request succeed for deleting offsets with topic t:1 group g" in r.stdout, r.stdout
    assert [ln.split() for ln in r.stdout.splitlines() if ln.startswith("t ")] == \
        [["t", "1", "Successful"]], r.stdout
    assert committed(b, "g", "t", 3) == {0: 5, 1: -1001, 2: 7}
    r = groups_cli(b, "--delete", "--group", "g")
    assert "Deletion of requested consumer groups ('g') was successful." in r.stdout, r.stdout
    assert groups_cli(b, "--list").stdout.split() == []
    r = groups_cli(b, "--describe", "--group", "g", check=False)
    assert "Error: Consumer group 'g' does not exist." in r.stdout, r.stdout
    n.stop()


def offset_commit_v1(addr, group, topic, partition, offset, commit_ts):
    """A raw OffsetCommit v1 from outside group management (generation -1, no member id)
    carrying its own commit timestamp; returns the partition's error code."""
    def s(x):
        b = x.encode()
        return struct.pack(">h", len(b)) + b
    body = (s(group) + struct.pack(">i", -1) + s("") + struct.pack(">i", 1) + s(topic) +
            struct.pack(">iiqq", 1, partition, offset, commit_ts) + s(""))
    r = harness._Reader(harness.request(addr, 8, 1, body))
    # topics [name, partitions [index, error]]
    assert r.count() == 1 and r.string() == topic and r.count() == 1
    assert r.take(">i") == partition
    return r.take(">h")


def test_offsets_of_a_group_without_members_expire_after_offsets_retention_minutes():
    n = Node(dict(FAST_GROUPS, **{"offsets.retention.minutes": "60",
                                  "offsets.retention.check.interval.ms": "500"})).start()
    gregor("topics", "--bootstrap-server", n.bootstrap, "--create", "--topic", "t",
           "--partitions", "2")
    # make sure the coordinator is up: FindCoordinator creates __consumer_offsets
    committed(n.bootstrap, "old", "t", 2)
    now = int(time.time() * 1000)
    assert offset_commit_v1(n.bootstrap, "old", "t", 0, 5, now - 2 * 3600 * 1000) == 0
    assert offset_commit_v1(n.bootstrap, "old", "t", 1, 6, now) == 0
    assert offset_commit_v1(n.bootstrap, "new", "t", 0, 7, now) == 0
    wait_for(lambda: committed(n.bootstrap, "old", "t", 2) == {0: -1001, 1: 6}, 15,
             "the offset committed two hours ago to expire (retention 60 minutes)")
    assert committed(n.bootstrap, "new", "t", 2)[0] == 7
    assert "group old: 1 offset(s) expired" in n.log()
    # after a restart the expiry holds: the tombstone is in the log
    n.stop()
    n.start()
    assert committed(n.bootstrap, "old", "t", 2) == {0: -1001, 1: 6}
    n.stop()


def _uvarint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def _cstr(s):  # compact string
    b = s.encode()
    return _uvarint(len(b) + 1) + b


def _flex_request(addr, api_key, version, body):
    """A flexible-version request (header v2: client id, then an empty tag block); returns the
    response body after the correlation id and its header's tag block."""
    hdr = struct.pack(">hhih", api_key, version, 7, 2) + b"it" + b"\x00"
    payload = hdr + body
    host, port = addr.rsplit(":", 1)
    import socket
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(struct.pack(">i", len(payload)) + payload)
        resp = harness.recv_frame(s, timeout=10)
    assert resp is not None and struct.unpack(">i", resp[:4])[0] == 7
    assert resp[4] == 0  # response header v1: no tags
    return resp[5:]


class _FlexReader:
    def __init__(self, data):
        self.d, self.o = data, 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.d, self.o)
        self.o += struct.calcsize(fmt)
        return v[0]

    def uvarint(self):
        n = shift = 0
        while True:
            b = self.d[self.o]
            self.o += 1
            n |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return n

    def cstr(self):
        n = self.uvarint() - 1
        if n < 0:
            return None
        v = self.d[self.o:self.o + n].decode()
        self.o += n
        return v

    def tags(self):
        assert self.uvarint() == 0


@quick
def test_batched_find_coordinator_v4_and_multi_group_offset_fetch_v8():
    n = Node(FAST_GROUPS).start()
    gregor("topics", "--bootstrap-server", n.bootstrap, "--create", "--topic", "t",
           "--partitions", "2")
    committed(n.bootstrap, "a", "t", 2)  # creates __consumer_offsets, waits for it
    assert offset_commit_v1(n.bootstrap, "a", "t", 1, 42, int(time.time() * 1000)) == 0
    # FindCoordinator v4: key type 0, two keys; each answered on its own
    body = b"\x00" + _uvarint(3) + _cstr("a") + _cstr("b") + b"\x00"
    r = _FlexReader(_flex_request(n.bootstrap, 10, 4, body))
    r.take(">i")  # throttle
    got = {}
    for _ in range(r.uvarint() - 1):
        key, node, host, port, err = r.cstr(), r.take(">i"), r.cstr(), r.take(">i"), r.take(">h")
        r.cstr()
        r.tags()
        got[key] = (node, host, port, err)
    assert got == {"a": (1, "127.0.0.1", n.port, 0), "b": (1, "127.0.0.1", n.port, 0)}, got
    # OffsetFetch v8: two groups, one with offsets; partition 0 of "a" has none (-1)
    topics = _uvarint(2) + _cstr("t") + _uvarint(3) + struct.pack(">ii", 0, 1) + b"\x00"
    body = (_uvarint(3) + _cstr("a") + topics + b"\x00" + _cstr("b") + topics + b"\x00" +
            b"\x00" + b"\x00")  # require_stable false, tags
    r = _FlexReader(_flex_request(n.bootstrap, 9, 8, body))
    r.take(">i")
    res = {}
    for _ in range(r.uvarint() - 1):
        gid = r.cstr()
        offs = {}
        for _ in range(r.uvarint() - 1):
            r.cstr()
            for _ in range(r.uvarint() - 1):
                p, off = r.take(">i"), r.take(">q")
                r.take(">i")
                r.cstr()
                assert r.take(">h") == 0
                r.tags()
                offs[p] = off
            r.tags()
        assert r.take(">h") == 0
        r.tags()
        res[gid] = offs
    assert res == {"a": {0: -1, 1: 42}, "b": {0: -1, 1: -1}}, res
    n.stop()
