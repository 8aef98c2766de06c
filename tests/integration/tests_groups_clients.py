"""Consumer groups through unmodified third-party clients: kafka-python (2.0.2) and kafkajs
(2.2.4) consumers share a topic's partitions in one group, commit, and a later member resumes
from the committed offsets; each client's admin API lists, describes and deletes the group.
kafka-python and librdkafka (confluent-kafka) members also share one group.

The scenarios tests_groups.py runs with librdkafka, with kafka-python and kafkajs consumers:
members rebalancing as they come and go (3 -> 4 -> 7 on six partitions), the group following
its coordinator when the broker leading its __consumer_offsets partition is killed -9 (no
committed offset goes backwards, every partition ends committed at its log end), and
`gregor consumer-groups --reset-offsets --to-earliest` (dry run, execute, replay).

Every group is made stable before its records are produced: a member that read records before
a rebalance took its partitions away would (correctly, at-least-once) let the next owner read
them again, and "each record exactly once" could not be asserted.
"""
# Not tested here, because neither client can do it (read in their sources):
#
# Static membership (KIP-345, group.instance.id): kafka-python 2.0.2 has no such setting
# (consumer/group.py DEFAULT_CONFIG) and sends JoinGroup v0-v2 only (protocol/group.py defines
# JoinGroupRequest_v0..v2; coordinator/base.py picks among them), which have no group instance
# id field.  kafkajs 2.2.4 has JoinGroup v5 / SyncGroup v3 / Heartbeat v3 / LeaveGroup v3
# encoders that take a groupInstanceId (src/protocol/requests/*), but nothing passes one:
# Broker.joinGroup (src/broker/index.js) forwards only groupId, sessionTimeout,
# rebalanceTimeout, memberId, protocolType and groupProtocols, and kafka.consumer() has no
# option for it, so it is always null.
#
# Cooperative rebalancing (KIP-429, "cooperative-sticky"): kafka-python 2.0.2 ships the range,
# roundrobin and (eager, KIP-54) sticky assignors (coordinator/assignors/) -- the sticky one
# fails in the client itself on Python 3.11 (its user data encoder passes a dict iterator where
# a list is needed: "object of type 'dict_itemiterator' has no len()"); its member metadata
# (coordinator/protocol.py: version, subscription, user_data) has no owned partitions, and
# ConsumerCoordinator._on_join_prepare revokes every assigned partition before each rejoin.
# kafkajs 2.2.4 ships only the roundRobin assigner (src/consumer/assigners/index.js) and has
# no cooperative / incremental rebalance code anywhere in src/: every rebalance is eager.
#
# Coordinator failover with kafkajs 2.2.4: a consumer keeps the coordinator of its last join
# and fails against the killed broker until its retrier gives up; it then crashes, restarts
# and joins as a new member (see js/kafkajs_group_scenarios.js).  Its producer can drop
# records when a leader moves during a send() to several leaders (also there).
import json
import os
import queue
import shutil
import struct
import subprocess
import tempfile
import threading
import time

from harness import Cluster, Node, create_topics, gregor, metadata


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


def kafka_python_member(name, n, group, topic, commit_every=None, **configs):
    """A Member with a kafka-python consumer.  With commit_every (seconds), it also commits
    what it consumed that often (synchronously); a commit that fails (a rebalance under way)
    is retried at the next one, and its error kept in the member's commit_errors."""
    from kafka import KafkaConsumer
    from kafka import errors as Errors
    last_commit = [time.time()]

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
            out.extend((tp.partition, r.offset, r.key.decode() if r.key else None)
                       for r in msgs)
        if commit_every and time.time() - last_commit[0] >= commit_every:
            last_commit[0] = time.time()
            try:
                c.commit()
            except Errors.KafkaError as e:
                member.commit_errors.append(repr(e))
        return out

    member = Member(name, make, poll, lambda c: {tp.partition for tp in c.assignment()},
               lambda c: c.commit(), lambda c: c.close(autocommit=False))
    member.commit_errors = []
    return member


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


# ---------------------------------------------------------------------------------------------
# The scenarios of tests_groups.py (librdkafka) with kafka-python and kafkajs consumers.

SCENARIOS_JS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "js",
                            "kafkajs_group_scenarios.js")


def kafkajs_env():
    from tests_clients import kafkajs_dir
    if not shutil.which("node") or not shutil.which("npm"):
        raise AssertionError("node and npm are needed for the kafkajs tests")
    d = kafkajs_dir()
    assert d, "could not install kafkajs@2.2.4 from npm"
    return dict(os.environ, NODE_PATH=os.path.join(os.path.abspath(d), "node_modules"))


def run_kafkajs(mode, *args, timeout=40):
    """Runs one mode of js/kafkajs_group_scenarios.js to its end; its stdout if it printed
    'kafkajs MODE: ok' (and exited 0)."""
    r = subprocess.run(["node", SCENARIOS_JS, mode, *map(str, args)], capture_output=True,
                       text=True, env=kafkajs_env(), timeout=timeout)
    assert r.returncode == 0 and f"kafkajs {mode}: ok" in r.stdout, \
        f"kafkajs {mode} exited {r.returncode}:\n{r.stdout}\n{r.stderr[-6000:]}"
    return r.stdout


def js_events(stdout):
    return [json.loads(ln) for ln in stdout.splitlines() if ln.startswith("{")]


def kafka_python_view(admin, group, topic):
    """(state, {client id: sorted partitions of topic}) of group, as DescribeGroups has it."""
    desc = bounded(lambda: admin.describe_consumer_groups([group]))
    assert len(desc) == 1 and desc[0].group == group, desc
    members = {}
    for m in desc[0].members:
        a = m.member_assignment
        members[m.client_id] = sorted(p for t, ps in (a.assignment if a else []) if t == topic
                                      for p in ps)
    return desc[0].state, members


def wait_settled(members, partitions, shares, view, timeout):
    """Waits until the members' assignments (as each consumer has it) have the sizes in
    shares, are disjoint and cover every partition, and view() (the broker's DescribeGroups)
    shows the group Stable with exactly these members and assignments."""
    last = {}

    def settled():
        mine = {m.name: sorted(m.snapshot()[1]) for m in members}
        last["members"] = mine
        if sorted(len(a) for a in mine.values()) != sorted(shares):
            return False
        if sorted(p for a in mine.values() for p in a) != list(range(partitions)):
            return False
        state, described = view()
        last["described"] = (state, described)
        return state == "Stable" and described == mine
    wait_until(settled, timeout, lambda: f"shares {shares}: {last}")


def stop_members(members, timeout=25):
    """Stops (closes) every member at once: one at a time, each close would start a
    rebalance the others have to go through before they look at close_now again."""
    for m in members:
        m.close_now.set()
    deadline = time.time() + timeout
    for m in members:
        m.join(max(0.1, deadline - time.time()))
    alive = [m.name for m in members if m.is_alive()]
    assert not alive, f"{alive} did not close within {timeout}s"


def test_kafka_python_members_rebalance_as_they_come_and_go():
    from kafka.admin import KafkaAdminClient
    n = Node(GROUP_OVERRIDES).start()
    topic, group = "kreb", "kreb-group"
    create_topic(n, topic, 6)
    admin = KafkaAdminClient(bootstrap_servers=n.bootstrap, client_id="kreb-admin")
    members = []
    try:
        def view():
            return kafka_python_view(admin, group, topic)

        def add(k):
            fresh = [kafka_python_member(f"kpy-{len(members) + i}", n, group, topic)
                     for i in range(k)]
            members.extend(fresh)
            for m in fresh:
                m.start()
        add(3)
        wait_settled(members, 6, [2, 2, 2], view, 20)
        before = {m.name: m.snapshot()[1] for m in members}
        # settled before anything is produced: each record is read once, by its owner
        produce_kafka_python(n, topic, 6, 600)
        wait_until(lambda: sum(len(m.snapshot()[0]) for m in members) >= 600, 20,
                   lambda: "600 records: " + ", ".join(f"{m.name} {len(m.snapshot()[0])}"
                                                       for m in members))
        seen = {}
        for m in members:
            recs, assigned = m.snapshot()
            assert assigned == before[m.name], ("a rebalance while consuming", m.name)
            for p, o, k in recs:
                assert p in assigned and (p, o) not in seen, (m.name, p, o, seen.get((p, o)))
                seen[(p, o)] = m.name
                assert k == f"k{o * 6 + p}", (p, o, k)
        assert sorted(seen) == [(p, o) for p in range(6) for o in range(100)]
        # a fourth member: a rebalance, all six still covered, nobody with more than two
        add(1)
        wait_settled(members, 6, [1, 1, 2, 2], view, 20)
        # seven on six partitions: one idle
        add(3)
        wait_settled(members, 6, [0, 1, 1, 1, 1, 1, 1], view, 25)
    finally:
        try:
            stop_members(members)
        finally:
            admin.close()
    for m in members:
        m.snapshot()  # a member's error, if any
    n.stop()


def test_kafkajs_members_rebalance_as_they_come_and_go():
    n = Node(GROUP_OVERRIDES).start()
    create_topic(n, "jreb", 6)
    run_kafkajs("rebalance", n.bootstrap, "jreb", "jreb-group", 6, 100)
    n.stop()


# --- coordinator failover --------------------------------------------------------------------

FAILOVER_OVERRIDES = dict(GROUP_OVERRIDES, **{"offsets.topic.num.partitions": "6"})


def start_failover_cluster(topic):
    c = Cluster(controllers=3, brokers=3, overrides=FAILOVER_OVERRIDES).start()
    gregor("topics", "--bootstrap-server", c.bootstrap, "--create", "--topic", topic,
           "--partitions", "6", "--replication-factor", "3", "--config",
           "min.insync.replicas=2")
    c.wait_isr_full(topic, 6, timeout=20)
    return c


class CommitWatcher(threading.Thread):
    """Polls the group's committed offsets (librdkafka, through any running broker) every
    0.2 s; keeps the highest seen per partition and every one that went backwards."""

    def __init__(self, cluster, group, topic):
        super().__init__(daemon=True)
        self.cluster, self.group, self.topic = cluster, group, topic
        self.lock = threading.Lock()
        self.seen = {}
        self.backwards = []
        self.stop_now = threading.Event()

    def run(self):
        from tests_groups import committed
        while not self.stop_now.is_set():
            try:
                got = committed(self.cluster.bootstrap, self.group, self.topic, 6)
            except Exception:  # noqa: BLE001 - no coordinator right now: next time
                got = {}
            with self.lock:
                for p, off in got.items():
                    if off < 0:
                        continue
                    if off < self.seen.get(p, -1):
                        self.backwards.append((p, self.seen[p], off, time.time()))
                    self.seen[p] = max(self.seen.get(p, -1), off)
            self.stop_now.wait(0.2)

    def latest(self):
        with self.lock:
            return dict(self.seen)

    def stop(self):
        self.stop_now.set()
        self.join(15)
        assert not self.is_alive(), "the commit watcher did not stop"


def kill_coordinator(c, group):
    """kill -9 of the broker leading group's __consumer_offsets partition (the group's
    coordinator); waits until another broker leads it.  Returns (old, new, time of the kill)."""
    from tests_cluster import wait_for
    from tests_groups import offsets_partition
    c.wait_isr_full("__consumer_offsets", 6, timeout=20)
    part = offsets_partition(group, 6)
    old = c.partitions("__consumer_offsets")[part][0]
    c.node(old).kill9()
    killed_at = time.time()
    new = wait_for(lambda: c.partitions("__consumer_offsets")[part][0] not in (-1, old)
                   and c.partitions("__consumer_offsets")[part][0], 20, "a new coordinator", c)
    return old, new, killed_at


def log_end_offsets(c, topic):
    from confluent_kafka import Consumer, TopicPartition as CTopicPartition
    k = Consumer({"bootstrap.servers": c.bootstrap, "group.id": "leo-probe"})
    try:
        return {p: k.get_watermark_offsets(CTopicPartition(topic, p), timeout=5)[1]
                for p in range(6)}
    finally:
        k.close()


def wait_all_committed_at_end(c, watcher, topic, per_partition, timeout, alive=lambda: True):
    """Once per_partition records were acked to each partition: waits until every
    partition's committed offset is its log end offset, and checks that each holds at least
    per_partition records (more if a retried produce was written twice).  Returns the log end
    offsets.  alive() raises if the consumers died."""
    from confluent_kafka import KafkaException
    last = {}

    def done():
        c.check_alive()
        alive()
        try:
            leo = log_end_offsets(c, topic)
        except KafkaException as e:  # a partition between leaders
            last.update(error=e)
            return False
        last.update(leo=leo, committed=watcher.latest())
        return watcher.latest() == leo and leo
    leo = wait_until(done, timeout, lambda: f"every partition committed at its end: {last}")
    assert all(leo[p] >= per_partition for p in range(6)), f"acked records missing: {leo}"
    return leo


def test_kafka_python_consumers_follow_the_group_to_a_new_coordinator():
    from kafka import KafkaProducer
    from kafka.admin import KafkaAdminClient
    topic, group = "kfo", "kfo-group"
    c = start_failover_cluster(topic)
    members = [kafka_python_member(f"kpy-{i}", c, group, topic, commit_every=1.0,
                                   request_timeout_ms=15000) for i in range(3)]
    watcher = CommitWatcher(c, group, topic)
    produced = {}
    stop_producing = threading.Event()

    def produce_slowly():  # 1000 records a partition over ~8 s: before, during, after the kill
        try:
            prod = KafkaProducer(bootstrap_servers=c.bootstrap, acks="all", retries=1000,
                                 retry_backoff_ms=100, linger_ms=5, request_timeout_ms=10000)
            try:
                futures = []
                produced["first"] = time.time()
                for i in range(6000):
                    futures.append(prod.send(topic, value=str(i).encode(), partition=i % 6))
                    if i % 60 == 59 and stop_producing.wait(0.08):
                        raise RuntimeError("stopped")
                prod.flush(timeout=40)
                for f in futures:
                    f.get(timeout=1)
                produced["last_ack"] = time.time()
            finally:
                prod.close(timeout=10)
        except BaseException as e:  # noqa: BLE001 - reported by the test
            produced["error"] = e

    try:
        admin = KafkaAdminClient(bootstrap_servers=c.bootstrap, client_id="kfo-admin")
        try:
            for m in members:
                m.start()
            wait_settled(members, 6, [2, 2, 2],
                         lambda: kafka_python_view(admin, group, topic), 30)
        finally:
            admin.close()
        settled = {m.name: m.snapshot()[1] for m in members}
        watcher.start()
        pt = threading.Thread(target=produce_slowly, daemon=True)
        pt.start()
        wait_until(lambda: len(watcher.latest()) == 6 and min(watcher.latest().values()) > 0,
                   20, lambda: f"committed offsets for every partition: {watcher.latest()}")
        old, new, killed_at = kill_coordinator(c, group)
        pt.join(45)
        assert not pt.is_alive() and "error" not in produced, produced
        # production went on across the kill
        assert produced["first"] < killed_at < produced["last_ack"], (produced, killed_at)
        # the consumers carry on: everything is consumed and committed at its end
        wait_all_committed_at_end(c, watcher, topic, 1000, 30)
        # the new coordinator loaded the group (members, generation) from __consumer_offsets:
        # kafka-python's members went on heartbeating there, without a rebalance
        assert {m.name: m.snapshot()[1] for m in members} == settled, settled
        print(f"  coordinator {old} -> {new}; every offset committed "
              f"{time.time() - killed_at:.1f}s after the kill -9; "
              f"{sum(len(m.commit_errors) for m in members)} commits failed and were retried")
        watcher.stop()
        assert not watcher.backwards, watcher.backwards
        for m in members:
            m.snapshot()  # a member's error, if any
    finally:
        stop_producing.set()
        watcher.stop_now.set()
        stop_members(members)
    c.stop()


class JsDriver:
    """A node process running a mode of js/kafkajs_group_scenarios.js that talks in JSON
    lines; its stderr goes to a file."""

    def __init__(self, mode, *args):
        self.err = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(["node", SCENARIOS_JS, mode, *map(str, args)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.err, text=True, env=kafkajs_env())
        self.lines = queue.Queue()
        self.stdout = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for ln in self.proc.stdout:
            self.stdout.append(ln)
            if ln.startswith("{"):
                self.lines.put(json.loads(ln))
        self.lines.put(None)  # EOF

    def output(self):
        self.err.seek(0)
        return "".join(self.stdout) + "\n--- stderr ---\n" + self.err.read()[-8000:]

    def event(self, name, timeout):
        deadline = time.time() + timeout
        while True:
            try:
                e = self.lines.get(timeout=max(0.01, deadline - time.time()))
            except queue.Empty:
                raise AssertionError(f"no {name!r} from kafkajs within {timeout}s:\n"
                                     f"{self.output()}") from None
            if e is None:
                raise AssertionError(f"kafkajs exited ({self.proc.wait()}) before {name!r}:\n"
                                     f"{self.output()}")
            if e.get("event") == name:
                return e

    def alive(self):
        """True while the process runs; raises with its output once it has exited."""
        if self.proc.poll() is not None:
            time.sleep(0.2)  # let the reader take the rest of its stdout
            raise RuntimeError(f"kafkajs exited ({self.proc.returncode}):\n{self.output()}")
        return True

    def send(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def finish(self, mode, timeout=20):
        rc = self.proc.wait(timeout)
        assert rc == 0 and f"kafkajs {mode}: ok" in "".join(self.stdout), \
            f"kafkajs {mode} exited {rc}:\n{self.output()}"

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.err.close()


def test_kafkajs_consumers_follow_the_group_to_a_new_coordinator():
    topic, group = "jfo", "jfo-group"
    c = start_failover_cluster(topic)
    watcher = CommitWatcher(c, group, topic)
    js = JsDriver("failover", c.bootstrap, topic, group, 6, 1000)
    try:
        js.event("stable", 30)
        watcher.start()
        wait_until(lambda: js.alive() and len(watcher.latest()) == 6
                   and min(watcher.latest().values()) > 0,
                   20, lambda: f"committed offsets for every partition: {watcher.latest()}")
        old, new, killed_at = kill_coordinator(c, group)
        produced = js.event("produced", 45)
        assert produced["records"] == 6000, produced
        # production went on across the kill
        assert produced["firstSendMs"] / 1000 < killed_at < produced["lastAckMs"] / 1000, \
            (produced, killed_at)
        wait_all_committed_at_end(c, watcher, topic, 1000, 30, js.alive)
        took = time.time() - killed_at
        js.send("stop")
        done = js.event("done", 20)
        js.finish("failover")
        print(f"  coordinator {old} -> {new}; every offset committed {took:.1f}s after the "
              f"kill -9; kafkajs: {done}")
        watcher.stop()
        assert not watcher.backwards, watcher.backwards
    finally:
        watcher.stop_now.set()
        js.kill()
    c.stop()


# --- gregor consumer-groups --reset-offsets ---------------------------------------------------

def groups_cli(bootstrap, *args, check=True):
    return gregor("consumer-groups", "--bootstrap-server", bootstrap, *args, check=check)


def reset_to_earliest_dry_run_then_execute(n, group, topic, partitions, per_partition):
    """The group's consumers have read and committed everything and left: waits for the group
    to be Empty, checks that --dry-run prints the plan and changes nothing, and that
    --execute applies it."""
    from tests_groups import committed
    b = n.bootstrap
    wait_until(lambda: "Empty" in groups_cli(b, "--describe", "--group", group,
                                             "--state").stdout, 10,
               lambda: "the group to be Empty: " + groups_cli(
                   b, "--describe", "--group", group, "--state", check=False).stdout)
    end = {p: per_partition for p in range(partitions)}
    assert committed(b, group, topic, partitions) == end
    want = [[group, topic, str(p), "0"] for p in range(partitions)]
    r = groups_cli(b, "--reset-offsets", "--group", group, "--topic", topic, "--to-earliest",
                   "--dry-run")
    assert [ln.split() for ln in r.stdout.splitlines() if ln.startswith(group + " ")] == want, \
        r.stdout
    assert committed(b, group, topic, partitions) == end
    r = groups_cli(b, "--reset-offsets", "--group", group, "--topic", topic, "--to-earliest",
                   "--execute")
    assert [ln.split() for ln in r.stdout.splitlines() if ln.startswith(group + " ")] == want, \
        r.stdout
    assert committed(b, group, topic, partitions) == {p: 0 for p in range(partitions)}


@quick
def test_kafka_python_group_reads_everything_again_after_reset_offsets_to_earliest():
    from kafka import KafkaConsumer, TopicPartition
    from tests_groups import committed
    n = Node(GROUP_OVERRIDES).start()
    topic, group = "kreset", "kreset-group"
    create_topic(n, topic, 4)
    members = [kafka_python_member(f"kpy-{i}", n, group, topic) for i in (1, 2)]
    run_group(members, n, topic, 4, 100, [2, 2], produce_kafka_python)  # commits, leaves
    reset_to_earliest_dry_run_then_execute(n, group, topic, 4, 100)
    # a new consumer of the group reads everything again: from the committed offsets (0), not
    # from auto_offset_reset, which is "latest" here
    tps = {TopicPartition(topic, p) for p in range(4)}
    c = KafkaConsumer(bootstrap_servers=n.bootstrap, group_id=group, client_id="kpy-again",
                      auto_offset_reset="latest", enable_auto_commit=False,
                      heartbeat_interval_ms=300, fetch_max_wait_ms=100)
    got = []
    try:
        c.subscribe([topic])

        def all_read():
            for msgs in c.poll(timeout_ms=100).values():
                got.extend((m.partition, m.offset, m.key.decode()) for m in msgs)
            return c.assignment() == tps and len(got) >= 400
        wait_until(all_read, 20, lambda: f"the replay of all 400 records (have {len(got)})")
        c.commit()
    finally:
        c.close(autocommit=False)
    assert sorted((p, o) for p, o, _ in got) == [(p, o) for p in range(4) for o in range(100)]
    assert all(k == f"k{o * 4 + p}" for p, o, k in got)
    assert committed(n.bootstrap, group, topic, 4) == {p: 100 for p in range(4)}
    n.stop()


def test_kafkajs_group_reads_everything_again_after_reset_offsets_to_earliest():
    from tests_groups import committed
    n = Node(GROUP_OVERRIDES).start()
    topic, group = "jreset", "jreset-group"
    create_topic(n, topic, 4)
    produce_kafka_python(n, topic, 4, 400)
    # reads all 400 once, auto-commits them, leaves
    out = js_events(run_kafkajs("consume", n.bootstrap, topic, group, "true"))
    assert out == [{"event": "consumed", "count": 400,
                    "high": {str(p): 100 for p in range(4)}}], out
    reset_to_earliest_dry_run_then_execute(n, group, topic, 4, 100)
    # fromBeginning false: where it starts is the committed offset 0, not the topic's start
    out = js_events(run_kafkajs("consume", n.bootstrap, topic, group, "false"))
    assert out == [{"event": "consumed", "count": 400,
                    "high": {str(p): 100 for p in range(4)}}], out
    assert committed(n.bootstrap, group, topic, 4) == {p: 100 for p in range(4)}
    n.stop()

