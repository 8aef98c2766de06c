"""Consumer groups through unmodified third-party clients: kafka-python (2.0.2) and kafkajs
(2.2.4) consumers share a topic's partitions in one group, commit, and a later member resumes
from the committed offsets; each client's admin API lists, describes and deletes the group.
kafka-python and librdkafka (confluent-kafka) members also share one group.

Every group is made stable before its records are produced: a member that read records before
a rebalance took its partitions away would (correctly, at-least-once) let the next owner read
them again, and "each record exactly once" could not be asserted.
"""
import os
import shutil
import struct
import subprocess
import threading
import time

from harness import Node, create_topics, metadata


def quick(fn):
    fn.quick = True
    return fn


GROUP_OVERRIDES = {"group.initial.rebalance.delay.ms": "0", "offsets.topic.num.partitions": "5"}


def wait_until(cond, timeout, what):
    """Polls cond() until it returns something truthy (returned) or timeout seconds pass;
    what (a string, or a function giving one at the timeout) names the condition."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = cond()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for "
                         f"{what() if callable(what) else what}")


def create_topic(n, topic, partitions):
    res = create_topics(n.bootstrap, [topic], partitions=partitions)
    assert res[topic][0] == 0, res

    def ready():
        try:
            t = metadata(n.bootstrap)["topics"].get(topic)
        except (OSError, struct.error):
            return False
        return (t is not None and len(t["partitions"]) == partitions
                and all(p[0] == 0 and p[1] >= 0 for p in t["partitions"].values()))
    wait_until(ready, 10, f"{topic}'s {partitions} partitions to have a leader")


def bounded(fn, timeout=15):
    """fn() in a daemon thread, at most timeout seconds: kafka-python 2.0.2's admin client
    waits for its futures in a loop that never ends when a request fails."""
    out = {}

    def run():
        try:
            out["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller
            out["error"] = e
    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        raise AssertionError(f"{fn} did not return within {timeout}s")
    if "error" in out:
        raise out["error"]
    return out["value"]


def produce_kafka_python(n, topic, partitions, count):
    """count records, k<i>/v<i>, record i to partition i % partitions; all acked."""
    from kafka import KafkaProducer
    prod = KafkaProducer(bootstrap_servers=n.bootstrap, acks="all", linger_ms=5)
    try:
        futures = [prod.send(topic, key=f"k{i}".encode(), value=f"v{i}".encode(),
                             partition=i % partitions) for i in range(count)]
        prod.flush(timeout=20)
        for f in futures:
            f.get(timeout=20)
    finally:
        prod.close(timeout=10)


class Member(threading.Thread):
    """One group consumer polled by its own thread (kafka-python's consumer is not
    thread-safe, and its JoinGroup blocks the polling thread until every other member has
    rejoined, so members of one group cannot share a thread).

    make() builds and subscribes the consumer; poll(c) returns [(partition, offset, key)],
    assignment(c) the set of assigned partitions, commit(c) commits synchronously and close(c)
    leaves the group.  The thread polls until commit_now is set, then commits, stops polling
    (so that it does not follow the rebalance the other members' departure starts) and waits
    for close_now to close."""

    def __init__(self, name, make, poll, assignment, commit, close):
        super().__init__(name=name, daemon=True)
        self.make, self._poll, self._assignment = make, poll, assignment
        self._commit, self._close = commit, close
        self.lock = threading.Lock()
        self.records = []
        self.assigned = set()
        self.commit_now = threading.Event()
        self.committed = threading.Event()
        self.close_now = threading.Event()
        self.error = None

    def run(self):
        c = None
        try:
            c = self.make()
            while not self.commit_now.is_set() and not self.close_now.is_set():
                recs = self._poll(c)
                with self.lock:
                    self.records.extend(recs)
                    self.assigned = set(self._assignment(c))
            if self.commit_now.is_set():
                self._commit(c)
                self.committed.set()
                self.close_now.wait(60)
        except BaseException as e:  # noqa: BLE001 - reported by the main thread
            self.error = e
        finally:
            if c is not None:
                try:
                    self._close(c)
                except BaseException as e:  # noqa: BLE001
                    self.error = self.error or e

    def snapshot(self):
        if self.error is not None:
            raise AssertionError(f"{self.name} failed: {self.error!r}") from self.error
        with self.lock:
            return list(self.records), set(self.assigned)

    def stop(self, timeout=20):
        self.close_now.set()
        self.join(timeout)
        assert not self.is_alive(), f"{self.name} did not close within {timeout}s"


def kafka_python_member(name, n, group, topic, **configs):
    from kafka import KafkaConsumer

    def make():
        c = KafkaConsumer(bootstrap_servers=n.bootstrap, group_id=group, client_id=name,
                          auto_offset_reset="earliest", enable_auto_commit=False,
                          heartbeat_interval_ms=300, session_timeout_ms=10000,
                          fetch_max_wait_ms=100, **configs)
        c.subscribe([topic])
        return c

    def poll(c):
        out = []
        for tp, msgs in c.poll(timeout_ms=100).items():
            out.extend((tp.partition, m.offset, m.key.decode()) for m in msgs)
        return out

    return Member(name, make, poll, lambda c: {tp.partition for tp in c.assignment()},
                  lambda c: c.commit(), lambda c: c.close(autocommit=False))


def confluent_member(name, n, group, topic, **configs):
    from confluent_kafka import Consumer, KafkaException

    def make():
        conf = {"bootstrap.servers": n.bootstrap, "group.id": group, "client.id": name,
                "auto.offset.reset": "earliest", "enable.auto.commit": False,
                "heartbeat.interval.ms": 300, "session.timeout.ms": 10000,
                "fetch.wait.max.ms": 100}
        conf.update(configs)
        c = Consumer(conf)
        c.subscribe([topic])
        return c

    def poll(c):
        out = []
        for m in c.consume(num_messages=500, timeout=0.1):
            if m.error():
                raise KafkaException(m.error())
            out.append((m.partition(), m.offset(), m.key().decode()))
        return out

    return Member(name, make, poll, lambda c: {tp.partition for tp in c.assignment()},
                  lambda c: c.commit(asynchronous=False), lambda c: c.close())


def run_group(members, n, topic, partitions, per_partition, shares, produce):
    """Starts members, waits until their assignments are disjoint, cover the topic and have
    the sizes in shares, produces per_partition records to each partition, waits until every
    record arrived exactly once, has every member commit, and closes them.  Returns
    {member name: (records, assigned partitions)}."""
    for m in members:
        m.start()
    try:
        def stable():
            snaps = [m.snapshot() for m in members]
            sizes = sorted(len(a) for _, a in snaps)
            union = set().union(*(a for _, a in snaps))
            return sizes == sorted(shares) and union == set(range(partitions))
        wait_until(stable, 20, lambda: f"the group to settle on shares {shares}: " +
                   ", ".join(f"{m.name} {sorted(m.snapshot()[1])}" for m in members))
        produce(n, topic, partitions, partitions * per_partition)
        total = partitions * per_partition

        def all_in():
            snaps = [m.snapshot() for m in members]
            return sum(len(r) for r, _ in snaps) >= total
        wait_until(all_in, 20, lambda: f"{total} records; have " + ", ".join(
            f"{m.name} {len(m.snapshot()[0])}" for m in members))
        for m in members:
            m.commit_now.set()
        for m in members:
            assert m.committed.wait(15), f"{m.name} did not commit"
            m.snapshot()  # raises the member's error, if any
        out = {m.name: m.snapshot() for m in members}
    finally:
        for m in members:
            m.stop()
    for m in members:
        m.snapshot()
    # exactly once, each record from the partition it was produced to, at its offset
    seen = {}
    for name, (recs, assigned) in out.items():
        for p, o, k in recs:
            assert p in assigned, (name, p, sorted(assigned))
            assert (p, o) not in seen, ("read twice", p, o, seen[(p, o)], name)
            seen[(p, o)] = name
            i = int(k[1:])
            assert i % partitions == p and i // partitions == o, (p, o, k)
    assert sorted(seen) == [(p, o) for p in range(partitions) for o in range(per_partition)]
    return out


def group_is_empty(admin, group):
    desc = bounded(lambda: admin.describe_consumer_groups([group]))
    assert len(desc) == 1 and desc[0].group == group, desc
    return desc[0].state == "Empty" and desc[0].members == []


@quick
def test_kafka_python_consumer_group_shares_partitions_and_commits():
    from kafka.admin import KafkaAdminClient
    n = Node(GROUP_OVERRIDES).start()
    topic, group = "kpg", "kpy-group"
    create_topic(n, topic, 6)
    members = [kafka_python_member(f"kpy-{i}", n, group, topic) for i in (1, 2)]
    out = run_group(members, n, topic, 6, 100, [3, 3], produce_kafka_python)
    assert all(len(a) == 3 for _, a in out.values()), out

    admin = KafkaAdminClient(bootstrap_servers=n.bootstrap, client_id="kpy-admin")
    try:
        kafka_python_admin_checks(admin, n, topic, group)
    finally:
        admin.close()
    n.stop()


def kafka_python_admin_checks(admin, n, topic, group):
    """The rest of test_kafka_python_consumer_group_shares_partitions_and_commits, after its
    two members committed and left: a third member resumes at the committed offsets, and the
    admin client lists, describes and deletes the group."""
    from kafka import KafkaConsumer, TopicPartition
    from kafka import errors as Errors
    tps = [TopicPartition(topic, p) for p in range(6)]
    third = KafkaConsumer(bootstrap_servers=n.bootstrap, group_id=group, client_id="kpy-3",
                          auto_offset_reset="earliest", enable_auto_commit=False,
                          heartbeat_interval_ms=300, fetch_max_wait_ms=100)
    try:
        # the group's committed offsets, through the admin client
        offs = bounded(lambda: admin.list_consumer_group_offsets(group))
        assert {tp: o.offset for tp, o in offs.items()} == {tp: 100 for tp in tps}, offs
        wait_until(lambda: group_is_empty(admin, group), 10,
                   "the group to be empty after its two members left")
        # a third member resumes at the committed offsets: nothing is delivered again
        third.subscribe([topic])
        got = []

        def assigned_all():
            for msgs in third.poll(timeout_ms=100).values():
                got.extend(msgs)
            return third.assignment() == set(tps)
        wait_until(assigned_all, 20, "the third member to be assigned all 6 partitions")
        for tp in tps:
            assert third.committed(tp) == 100, (tp, third.committed(tp))
            assert third.position(tp) == 100, (tp, third.position(tp))
        assert third.end_offsets(tps) == {tp: 100 for tp in tps}
        for msgs in third.poll(timeout_ms=300).values():
            got.extend(msgs)
        assert got == [], [(m.partition, m.offset) for m in got]

        groups = bounded(lambda: admin.list_consumer_groups())
        assert (group, "consumer") in groups, groups
        desc = bounded(lambda: admin.describe_consumer_groups([group]))[0]
        assert desc.state == "Stable" and desc.protocol_type == "consumer", desc
        assert desc.protocol in ("range", "roundrobin"), desc
        assert len(desc.members) == 1 and desc.members[0].client_id == "kpy-3", desc
        assignment = desc.members[0].member_assignment.assignment
        assert [(t, sorted(ps)) for t, ps in assignment] == [(topic, list(range(6)))], desc
        # a group with an active member cannot be deleted
        res = bounded(lambda: admin.delete_consumer_groups([group]))
        assert res == [(group, Errors.NonEmptyGroupError)], res
    finally:
        third.close(autocommit=False)

    # polled: gregord empties a Stable group its last member left only at its next tick
    # (test_group_is_empty_as_soon_as_its_last_member_has_left)
    wait_until(lambda: group_is_empty(admin, group), 10,
               "the group to be empty after the third member left")
    res = bounded(lambda: admin.delete_consumer_groups([group]))
    assert res == [(group, Errors.NoError)], res
    groups = bounded(lambda: admin.list_consumer_groups())
    assert group not in [g for g, _ in groups], groups
    offs = bounded(lambda: admin.list_consumer_group_offsets(group))
    assert offs == {}, offs
    desc = bounded(lambda: admin.describe_consumer_groups([group]))[0]
    assert desc.state == "Dead" and desc.members == [], desc


def test_group_is_empty_as_soon_as_its_last_member_has_left():
    """Kafka completes the rebalance that the last member's LeaveGroup starts before it
    answers (no member is left to wait for), so a tool that closes the group's last consumer
    and then deletes the group (or resets its offsets) finds it Empty at once."""
    from kafka import KafkaConsumer
    from kafka.admin import KafkaAdminClient
    from kafka import errors as Errors
    n = Node(GROUP_OVERRIDES).start()
    create_topic(n, "leave", 2)
    # the admin client is connected to the coordinator before the member leaves, so that it
    # asks at once (connecting takes longer than gregord's tick)
    admin = KafkaAdminClient(bootstrap_servers=n.bootstrap, client_id="leave-admin")
    try:
        c = KafkaConsumer(bootstrap_servers=n.bootstrap, group_id="leave-group",
                          enable_auto_commit=False, heartbeat_interval_ms=300)
        try:
            c.subscribe(["leave"])
            wait_until(lambda: (c.poll(timeout_ms=100) or True) and len(c.assignment()) == 2,
                       20, "the only member to be assigned both partitions")
            desc = bounded(lambda: admin.describe_consumer_groups(["leave-group"]))[0]
            assert desc.state == "Stable" and len(desc.members) == 1, desc
        finally:
            c.close(autocommit=False)  # waits for the LeaveGroup response
        desc = bounded(lambda: admin.describe_consumer_groups(["leave-group"]))[0]
        assert desc.members == [], desc  # the LeaveGroup was handled ...
        assert desc.state == "Empty", desc  # ... so the group has no rebalance to wait for
        res = bounded(lambda: admin.delete_consumer_groups(["leave-group"]))
        assert res == [("leave-group", Errors.NoError)], res
    finally:
        admin.close()
    n.stop()


def test_kafkajs_consumer_group_shares_partitions_and_commits():
    from tests_clients import kafkajs_dir
    if not shutil.which("node") or not shutil.which("npm"):
        raise AssertionError("node and npm are needed for the kafkajs test")
    d = kafkajs_dir()
    assert d, "could not install kafkajs@2.2.4 from npm"
    n = Node(GROUP_OVERRIDES).start()
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "js", "kafkajs_group.js")
    env = dict(os.environ, NODE_PATH=os.path.join(os.path.abspath(d), "node_modules"))
    r = subprocess.run(["node", script, n.bootstrap], capture_output=True, text=True, env=env,
                       timeout=60)
    assert r.returncode == 0 and "kafkajs group: ok" in r.stdout, r.stdout + r.stderr
    n.stop()


def test_kafka_python_and_librdkafka_in_one_group():
    from confluent_kafka import Consumer, TopicPartition as CTopicPartition
    n = Node(GROUP_OVERRIDES).start()
    topic, group = "mixed", "mixed-group"
    create_topic(n, topic, 4)
    members = [kafka_python_member("kpy", n, group, topic),
               confluent_member("rdk", n, group, topic, **{"partition.assignment.strategy":
                                                           "range"})]
    out = run_group(members, n, topic, 4, 50, [2, 2], produce_kafka_python)
    assert {name: len(a) for name, (_, a) in out.items()} == {"kpy": 2, "rdk": 2}, out
    # range over 4 partitions and 2 members: each gets a contiguous half
    assert sorted(sorted(a) for _, a in out.values()) == [[0, 1], [2, 3]], out
    # both clients' commits landed: read back through each of them
    from kafka import TopicPartition
    from kafka.admin import KafkaAdminClient
    admin = KafkaAdminClient(bootstrap_servers=n.bootstrap, client_id="mixed-admin")
    try:
        offs = bounded(lambda: admin.list_consumer_group_offsets(group))
    finally:
        admin.close()
    assert {tp: o.offset for tp, o in offs.items()} == {
        TopicPartition(topic, p): 50 for p in range(4)}, offs
    c = Consumer({"bootstrap.servers": n.bootstrap, "group.id": group})
    try:
        committed = c.committed([CTopicPartition(topic, p) for p in range(4)], timeout=10)
    finally:
        c.close()
    assert {tp.partition: tp.offset for tp in committed} == {p: 50 for p in range(4)}, committed
    n.stop()
