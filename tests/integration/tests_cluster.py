"""Multi-node clusters, KRaft-style: three controller-only nodes (the metadata quorum) and
broker-only nodes.  Failover of the active controller, loss of the quorum, broker fencing and
controlled shutdown, metadata snapshots with log truncation and catch-up from them, and
deploy/local-cluster.sh.

None of these is in the --quick subset: each runs a cluster of real processes and waits out
failure detection (the harness shortens it: broker.session.timeout.ms=3000,
broker.heartbeat.interval.ms=500, controller.quorum.election.timeout.ms=500).  Every wait is a
poll with a deadline; no fixed sleep decides an outcome.
"""
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time

import harness
from harness import (ERR_NONE, ERR_NOT_CONTROLLER, ERR_REQUEST_TIMED_OUT,
                     ERR_TOPIC_ALREADY_EXISTS, Cluster, create_topics, gregor, metadata)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
RETRIABLE = (ERR_REQUEST_TIMED_OUT, ERR_NOT_CONTROLLER)
TRANSIENT = (OSError, AssertionError, ValueError, KeyError, TypeError, struct.error)


def wait_for(cond, timeout, what, cluster=None):
    """Polls cond() until it returns something truthy and returns that.  An exception from cond
    counts as "not yet" (a broker between states); the last one is reported on timeout."""
    deadline = time.time() + timeout
    last = None
    while True:
        if cluster is not None:
            cluster.check_alive()
        try:
            v = cond()
            if v:
                return v
            last = v
        except TRANSIENT as e:
            last = e
        if time.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")
        time.sleep(0.2)


def create_one(addr, name, timeout_ms):
    """(error code, message) of a CreateTopics for name alone, sent to addr."""
    res = create_topics(addr, [name], timeout_ms=timeout_ms)
    if name not in res:
        raise AssertionError(f"CreateTopics response from {addr} does not name {name!r}: {res!r}")
    return res[name]


def create_until_ok(cluster, name, deadline, request_timeout_ms=2000):
    """Creates topic name through the running brokers, retrying retriable errors and requests
    nobody answered until deadline; returns when it succeeded.  TOPIC_ALREADY_EXISTS counts as
    success only after a failed attempt (which may have committed nonetheless)."""
    history = []
    while True:
        for b in cluster.running_brokers():
            try:
                err, msg = create_one(b.bootstrap, name, request_timeout_ms)
            except (OSError, ValueError, struct.error) as e:
                history.append((b.node_id, repr(e)))
            else:
                if err == ERR_NONE or (err == ERR_TOPIC_ALREADY_EXISTS and history):
                    return time.time()
                history.append((b.node_id, err, msg))
                if err not in RETRIABLE:
                    raise AssertionError(f"creating {name}: non-retriable error; attempts "
                                         f"(broker, error, message): {history}")
            if time.time() > deadline:
                raise AssertionError(f"could not create {name} before the deadline; last "
                                     f"attempts (broker, error, message): {history[-6:]}")
        cluster.check_alive()
        time.sleep(0.2)


def topics_via_all(cluster):
    """The topic names each running broker's Metadata lists, as {broker id: set}."""
    return {b.node_id: set(cluster.metadata(via=b)["topics"]) for b in cluster.running_brokers()}


# ---------------------------------------------------------------------------------------------
# The controller quorum


def test_kill9_of_active_controller_elects_a_new_leader_and_it_catches_up_again():
    c = Cluster(controllers=3, brokers=3).start()
    leader, st = c.wait_leader()
    assert sorted(st["CurrentVoters"]) == [1, 2, 3], st
    wait_for(lambda: set(c.quorum_status()["CurrentObservers"]) >= {4, 5, 6}, 20,
             "the brokers to be observers of the quorum", c)
    gregor("topics", "--bootstrap-server", c.bootstrap, "--create", "--topic", "before",
           "--partitions", "3", "--replication-factor", "1")

    t_kill = time.time()
    leader.kill9()
    t_ok = create_until_ok(c, "after", deadline=t_kill + 10)
    assert t_ok - t_kill <= 10, f"create took {t_ok - t_kill:.1f}s after the kill"
    new_leader, st2 = c.wait_leader(timeout=20, other_than=leader.node_id,
                                    epoch_above=st["LeaderEpoch"])
    assert new_leader is not leader and st2["LeaderEpoch"] > st["LeaderEpoch"], (st, st2)

    restarted_ms = int(time.time() * 1000)
    leader.start()
    row, _ = c.wait_caught_up(leader, timeout=30, fetched_since_ms=restarted_ms)
    assert row["Status"] in ("Follower", "Leader"), row
    r = gregor("topics", "--bootstrap-server", c.bootstrap, "--list")
    assert {"before", "after"} <= set(r.stdout.split()), r.stdout
    c.stop()


def test_three_combined_nodes_survive_the_loss_of_the_active_controller():
    """process.roles=broker,controller on three nodes: the same binary is voter and broker.
    Records written before a kill -9 of the active controller's node are still there (on the
    partitions that node did not lead), topics can be created and grown after it, and the node
    comes back as a broker and a voter."""
    c = Cluster(controllers=0, brokers=0, combined=3).start()
    leader, st = c.wait_leader()
    gregor("topics", "--bootstrap-server", c.bootstrap, "--create", "--topic", "c3",
           "--partitions", "6", "--replication-factor", "1")
    md = wait_for(lambda: (lambda m: m if len(m["topics"].get("c3", {}).get("partitions", {}))
                           == 6 else None)(c.metadata()), 20, "c3 in Metadata", c)
    leaders = {p: v[1] for p, v in md["topics"]["c3"]["partitions"].items()}
    assert set(leaders.values()) == {1, 2, 3}, leaders  # leaders spread over the three nodes
    survivor = next(p for p, l in leaders.items() if l != leader.node_id)
    via = next(n for n in c.brokers if n is not leader)
    subprocess.run(["kcat", "-P", "-b", via.bootstrap, "-t", "c3", "-p", str(survivor)],
                   input=b"before-kill\n", check=True, timeout=30)
    leader.kill9()
    create_until_ok(c, "c3-after", deadline=time.time() + 15)
    gregor("topics", "--bootstrap-server", via.bootstrap, "--alter", "--topic", "c3-after",
           "--partitions", "2")
    out = subprocess.run(["kcat", "-C", "-b", via.bootstrap, "-t", "c3", "-p", str(survivor),
                          "-e", "-q"], capture_output=True, timeout=30).stdout
    assert out == b"before-kill\n", out
    restarted_ms = int(time.time() * 1000)
    leader.start()
    c.wait_ready(timeout=30)
    c.wait_caught_up(leader, timeout=30, fetched_since_ms=restarted_ms)
    assert leader.node_id in c.broker_ids(via=via)
    c.stop()


def test_without_a_quorum_creates_fail_retriably_and_work_again_with_one_back():
    c = Cluster(controllers=3, brokers=3).start()
    leader, _ = c.wait_leader()
    follower = next(n for n in c.controllers if n is not leader)
    # Killing the leader and one follower leaves a follower that can never win an election
    # alone, so no log can hold the record of the create below and commit it later.
    leader.kill9()
    follower.kill9()

    via = c.brokers[0]
    err, msg = create_one(via.bootstrap, "lost", 3000)
    assert err in RETRIABLE, f"create without a quorum answered {err} ({msg}), expected " \
                             f"REQUEST_TIMED_OUT ({ERR_REQUEST_TIMED_OUT}) or NOT_CONTROLLER " \
                             f"({ERR_NOT_CONTROLLER})"
    assert "lost" not in c.topics(via=via)

    leader.start()
    create_until_ok(c, "found", deadline=time.time() + 30)

    def found_everywhere():
        seen = topics_via_all(c)
        return seen if all("found" in t for t in seen.values()) else None

    seen = wait_for(found_everywhere, 20, "every broker to list 'found'", c)
    assert not any("lost" in t for t in seen.values()), f"'lost' was created after all: {seen}"
    c.stop()


# ---------------------------------------------------------------------------------------------
# Broker liveness


def test_broker_fenced_after_kill9_back_after_restart_and_gone_at_once_on_sigterm():
    # A longer session than the harness default, so "gone at once" (under half of it) cannot be
    # mistaken for "fenced when the session expired".
    session_s = 6
    c = Cluster(controllers=3, brokers=3,
                overrides={"broker.session.timeout.ms": str(session_s * 1000)}).start()
    watch, graceful, victim = c.node(4), c.node(5), c.node(6)
    assert c.broker_ids(via=watch) == {4, 5, 6}

    t0 = time.time()
    victim.kill9()
    wait_for(lambda: 6 not in c.broker_ids(via=watch), session_s + 5,
             "the SIGKILLed broker to be fenced out of Metadata", c)
    print(f"  broker 6 fenced {time.time() - t0:.1f}s after kill -9")

    victim.start()
    c.wait_ready(timeout=30)  # every running broker, 6 included, answers listing 4, 5 and 6

    t0 = time.time()
    graceful.send_signal(signal.SIGTERM)
    wait_for(lambda: 5 not in c.broker_ids(via=watch), session_s / 2,
             "the SIGTERMed broker to leave Metadata (controlled shutdown)", c)
    gone_s = time.time() - t0
    graceful.wait_exit(signal.SIGTERM)
    assert gone_s < session_s / 2, gone_s
    assert c.broker_ids(via=watch) == {4, 6}
    c.stop()


# ---------------------------------------------------------------------------------------------
# Snapshots


def rlog_segments(node):
    """First entry index of each metadata log segment of node, ascending."""
    return sorted(int(f[:20]) for f in os.listdir(node.metadata_dir)
                  if re.fullmatch(r"\d{20}\.rlog", f))


def snapshot_index(node):
    """The last entry index a node's stored snapshot covers, or None without a snapshot.
    Layout (raft/raft_io_log.c): u32 magic "GRS1", u32 version, u64 index, u64 term, ..."""
    try:
        with open(os.path.join(node.metadata_dir, "snapshot"), "rb") as f:
            head = f.read(24)
    except FileNotFoundError:
        return None
    magic, version, index, term = struct.unpack(">4sIQQ", head)
    assert magic == b"GRS1", f"{node!r}: snapshot magic {magic!r}"
    return index


def log_truncated(node):
    """Truthy once node has a snapshot and its log was cut behind it: the first segment no
    longer starts at entry 1, and entries go on right after the snapshot (no gap)."""
    snap = snapshot_index(node)
    segs = rlog_segments(node)
    return snap is not None and segs and segs[0] > 1 and segs[0] <= snap + 1


def test_snapshots_truncate_the_metadata_log_and_bring_new_and_wiped_nodes_up():
    # Truncation drops whole segments, so segments must be small for it to show after a few
    # kilobytes of records.
    c = Cluster(controllers=3, brokers=3,
                overrides={"metadata.log.max.record.bytes.between.snapshots": "2048",
                           "metadata.log.segment.bytes": "1024"}).start()
    names = [f"snap-{i:02d}" for i in range(40)]
    for name in names:
        create_until_ok(c, name, deadline=time.time() + 30)
    wait_for(lambda: set(names) <= c.topics(), 20, "the brokers to list all 40 topics", c)

    def all_truncated():
        return all(log_truncated(n) for n in c.controllers)

    def layout():
        return {n.node_id: (snapshot_index(n), rlog_segments(n)[:5]) for n in c.controllers}

    try:
        wait_for(all_truncated, 20, "a snapshot and a truncated log on every controller", c)
    except AssertionError as e:
        hint = ""
        if all(rlog_segments(n) == [1] for n in c.controllers):
            hint = ("\nEvery metadata log is still one segment from entry 1: truncation can only "
                    "show if gregord honours metadata.log.segment.bytes (segments of 1024 bytes "
                    "here).")
        raise AssertionError(f"{e}\n(snapshot index, first segments) per controller: "
                             f"{layout()}{hint}") from None

    c.stop()
    c.start()
    for b, topics in topics_via_all(c).items():
        assert set(names) <= topics, (b, sorted(set(names) - topics))
    assert all_truncated(), layout()

    # A new broker can only have got the first entries from a snapshot: no log has them.
    fresh = c.add_broker(node_id=7)
    fresh.start()
    c.wait_ready(timeout=60)
    assert set(names) <= c.topics(via=fresh), sorted(set(names) - c.topics(via=fresh))
    assert 7 in c.broker_ids(via=c.node(4))

    # A controller that lost its disk comes back the same way.
    leader = c.active_controller()
    wiped = next(n for n in c.controllers if n is not leader)
    wiped.stop()
    wiped.wipe()
    restarted_ms = int(time.time() * 1000)
    wiped.start()
    c.wait_caught_up(wiped, timeout=60, fetched_since_ms=restarted_ms)
    # Every other log starts past entry 1, so only the leader's snapshot can have brought it up
    # (the leader's row alone could be what it remembers of the node from before the wipe).
    wait_for(lambda: snapshot_index(wiped) is not None, 30,
             "the wiped controller to store the leader's snapshot", c)
    create_until_ok(c, "after-wipe", deadline=time.time() + 20)
    c.stop()


# ---------------------------------------------------------------------------------------------
# deploy/local-cluster.sh


def _bindable(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_base_port():
    """A BASE_PORT whose six ports (BASE+2, +3, +12, +13, +22, +23) are free; chosen below the
    ephemeral range so that clients' ports do not take them."""
    for _ in range(200):
        base = random.randrange(20000, 32000, 10)
        if all(_bindable(base + 10 * k + o) for k in range(3) for o in (2, 3)):
            return base
    raise RuntimeError("no free BASE_PORT")


def _pid_alive(pid):
    """Alive and not a zombie (a node reparented to an init that does not reap)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


class _ScriptCluster:
    """The nodes deploy/local-cluster.sh started, for the harness's end-of-test cleanup (killed
    by the PIDs in their PID files) and for the logs printed when a test fails."""

    def __init__(self, path):
        self.dir = path
        harness._nodes.append(self)

    def pids(self):
        out = {}
        for d in sorted(os.listdir(self.dir)):
            try:
                with open(os.path.join(self.dir, d, "gregord.pid")) as f:
                    out[d] = int(f.read())
            except (OSError, ValueError):
                pass
        return out

    def log(self):
        parts = []
        for d in sorted(os.listdir(self.dir)):
            try:
                with open(os.path.join(self.dir, d, "gregord.log")) as f:
                    parts.append(f"[{d}]\n{f.read()[-1500:]}")
            except OSError:
                pass
        return "\n".join(parts)

    def cleanup(self):
        for pid in self.pids().values():
            try:
                with open(f"/proc/{pid}/cmdline") as f:
                    ours = self.dir in f.read()
            except OSError:
                ours = False
            if ours:
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.dir, ignore_errors=True)


def test_local_cluster_script_start_status_stop():
    script = os.path.join(ROOT, "deploy", "local-cluster.sh")
    base = free_base_port()
    sc = _ScriptCluster(tempfile.mkdtemp(prefix="gregor-local-cluster-"))
    env = dict(os.environ, GREGOR_CLUSTER_DIR=sc.dir, BASE_PORT=str(base),
               GREGOR_BIN=os.path.abspath(harness.BIN), START_TIMEOUT_S="60",
               STOP_TIMEOUT_S="30")

    def run(cmd, timeout=120):
        return subprocess.run([script, cmd], env=env, capture_output=True, text=True,
                              timeout=timeout)

    brokers = [f"127.0.0.1:{base + 10 * k + 2}" for k in range(3)]
    r = run("start")
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "Bootstrap servers: " + ",".join(brokers) in r.stdout, r.stdout
    for addr in brokers:
        assert set(metadata(addr)["brokers"]) == {4, 5, 6}, addr
    pids = sc.pids()
    assert len(pids) == 6 and all(_pid_alive(p) for p in pids.values()), pids

    r = run("status")
    assert r.returncode == 0, (r.stdout, r.stderr)
    for node_id in range(1, 7):
        assert re.search(rf"node {node_id}\s+running", r.stdout), r.stdout
    st = harness.parse_quorum_status(r.stdout)
    assert st.get("LeaderId") in (1, 2, 3) and sorted(st["CurrentVoters"]) == [1, 2, 3], r.stdout

    r = run("start")  # idempotent: everything already runs
    assert r.returncode == 0 and r.stdout.count("already running") == 6, (r.stdout, r.stderr)
    assert sc.pids() == pids

    r = run("stop")
    assert r.returncode == 0 and "SIGKILL" not in r.stdout + r.stderr, (r.stdout, r.stderr)
    assert not any(_pid_alive(p) for p in pids.values()), pids
    assert sc.pids() == {}, sc.pids()
    for d in pids:
        with open(os.path.join(sc.dir, d, "gregord.log")) as f:
            assert "shut down cleanly" in f.read(), d

    r = run("status")
    assert r.returncode == 3 and r.stdout.count("stopped") == 6, (r.stdout, r.stderr)


def test_brokers_answer_with_the_endpoints_of_the_listener_a_client_came_in_on():
    """Two broker listeners (PLAINTEXT for the cluster, EXTERNAL for clients, advertised under
    another name): Metadata and FindCoordinator through each listener name that listener's
    endpoints, replication runs on inter.broker.listener.name, and clients that only know the
    external addresses produce, consume in a group and commit through them."""
    from confluent_kafka import Consumer, Producer
    c = Cluster(controllers=1, brokers=3, external=True,
                overrides={"group.initial.rebalance.delay.ms": "0",
                           "offsets.topic.num.partitions": "3"}).start()
    b4 = c.node(4)
    internal = harness.metadata(b4.bootstrap)["brokers"]
    external = harness.metadata(f"127.0.0.1:{b4.eport}")["brokers"]
    assert {i: (h, p) for i, (h, p, _) in internal.items()} == \
        {n.node_id: ("127.0.0.1", n.port) for n in c.brokers}, internal
    assert {i: (h, p) for i, (h, p, _) in external.items()} == \
        {n.node_id: ("localhost", n.eport) for n in c.brokers}, external
    ext = ",".join(f"localhost:{n.eport}" for n in c.brokers)
    gregor("topics", "--bootstrap-server", ext, "--create", "--topic", "x", "--partitions", "3",
           "--replication-factor", "3", "--config", "min.insync.replicas=3")
    c.wait_isr_full("x", 3, timeout=30)
    p = Producer({"bootstrap.servers": ext, "acks": "all"})
    for i in range(300):
        p.produce("x", value=str(i).encode(), partition=i % 3)
    assert p.flush(30) == 0  # acks=all with min.insync.replicas=3: followers fetched
    cons = Consumer({"bootstrap.servers": ext, "group.id": "ext", "auto.offset.reset": "earliest",
                     "enable.auto.commit": False})
    cons.subscribe(["x"])
    got = 0
    deadline = time.time() + 30
    while got < 300 and time.time() < deadline:
        m = cons.poll(0.2)
        if m is not None and not m.error():
            got += 1
    assert got == 300, got
    cons.commit(asynchronous=False)
    cons.close()
    c.stop()


def test_brokers_leave_an_active_controller_that_stops_answering_and_stay_unfenced():
    """SIGSTOP of the active controller: its connections stay open but nothing answers (as with
    a network cut, no error and no EOF reach the brokers).  The other voters elect a leader;
    the brokers give up on the silent one after CTL_CHANNEL_SILENT_MS, find the new leader and
    keep heartbeating, so none is fenced; topics can be created; after SIGCONT the old leader
    rejoins as a follower."""
    c = Cluster(controllers=3, brokers=3).start()
    leader, st = c.wait_leader()
    c.wait_ready()
    leader.send_signal(signal.SIGSTOP)
    t0 = time.time()
    try:
        new_leader, _ = c.wait_leader(timeout=20, other_than=leader.node_id,
                                      epoch_above=st["LeaderEpoch"])
        t_create = create_until_ok(c, "during", deadline=t0 + 20)
        # three broker sessions (3 s each) later every broker is still registered and unfenced
        while time.time() < t0 + 10:
            time.sleep(0.5)
        assert c.broker_ids() == {4, 5, 6}, c.broker_ids()
        for b in c.brokers:
            assert "fencing broker" not in new_leader.log(), new_leader.log()[-3000:]
        print(f"  new active controller {new_leader.node_id}; a topic created "
              f"{t_create - t0:.1f}s after the SIGSTOP; no broker fenced", flush=True)
    finally:
        leader.proc.send_signal(signal.SIGCONT)
    row, _ = c.wait_caught_up(leader, timeout=30)
    assert row["Status"] == "Follower", row
    c.stop()


def test_a_restarted_broker_acts_on_the_metadata_as_it_stands_not_on_its_history():
    """A topic deleted and created again, and one deleted: a restarted broker replays the
    metadata log but opens only the logs of the topics that exist now (no ERROR about the old
    topic id, no directory created and deleted again), and keeps the data of the new topic."""
    c = Cluster(controllers=1, brokers=1).start()
    b = c.node(2)
    for _ in range(2):
        gregor("topics", "--bootstrap-server", c.bootstrap, "--create", "--topic", "again",
               "--partitions", "2")
        gregor("topics", "--bootstrap-server", c.bootstrap, "--delete", "--topic", "again")
    gregor("topics", "--bootstrap-server", c.bootstrap, "--create", "--topic", "again",
           "--partitions", "2")
    gregor("topics", "--bootstrap-server", c.bootstrap, "--create", "--topic", "gone")
    gregor("topics", "--bootstrap-server", c.bootstrap, "--delete", "--topic", "gone")
    gregor("console-producer", "--bootstrap-server", c.bootstrap, "--topic", "again",
           input="a\nb\nc\n")
    b.stop()
    before = len(b.log())
    b.start()
    c.wait_ready()
    after = b.log()[before:]
    assert "ERROR" not in after and "gone-0" not in after, after
    r = gregor("console-consumer", "--bootstrap-server", c.bootstrap, "--topic", "again",
               "--from-beginning", "--max-messages", "3", "--timeout-ms", "10000")
    assert sorted(r.stdout.split()) == ["a", "b", "c"], r.stdout
    c.stop()
