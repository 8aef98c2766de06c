"""Leader elections, as Kafka does them: `gregor leader-election` (kafka-leader-election.sh,
ElectLeaders forwarded to the active controller) for preferred and unclean elections, and the
active controller's automatic preferred leader election (auto.leader.rebalance.enable,
leader.imbalance.check.interval.seconds, leader.imbalance.per.broker.percentage).

Every test runs three controllers and three brokers and kills brokers with SIGKILL; none is in
the --quick subset.  Every wait is a poll with a deadline; no fixed sleep decides an outcome.

Run this module alone with

    python3 tests/integration/tests_leader_election.py [-k NAME]
"""
import json
import os
import struct
import sys

from harness import (Cluster, _kstr, _Reader, create_topics, gregor, metadata,
                     partition_states, request)
from tests_cluster import wait_for

SESSION_TIMEOUT_S = 3.0  # broker.session.timeout.ms of the harness's clusters
EXC = "org.apache.kafka.common.errors."
API_ELECT_LEADERS = 43
ERR_UNKNOWN_TOPIC_OR_PARTITION = 3
ERR_ELECTION_NOT_NEEDED = 84


def create(c, topic, partitions, rf):
    res = create_topics(c.brokers[0].bootstrap, [topic], partitions, rf)
    assert res.get(topic, (None,))[0] == 0, f"creating {topic}: {res}"


def states_everywhere(c, topic, partitions):
    """{partition: (leader, replicas, isr)} once every running broker's Metadata agrees on it
    and lists all partitions, else None."""
    seen = None
    for b in c.running_brokers():
        st = partition_states(metadata(b.bootstrap, timeout=2), topic)
        if len(st) != partitions or (seen is not None and st != seen):
            return None
        seen = st
    return seen


def wait_states(c, topic, partitions, ok, what, timeout=30):
    """Polls until every running broker shows the same states of topic and ok(states)."""
    def cond():
        st = states_everywhere(c, topic, partitions)
        return st if st is not None and ok(st) else None
    return wait_for(cond, timeout, what, c)


def preferred_lead(st):
    return all(leader == replicas[0] for leader, replicas, _ in st.values())


def isr_full(st):
    return all(leader >= 0 and sorted(isr) == sorted(replicas) for leader, replicas, isr in
               st.values())


def elect(c, *args):
    """`gregor leader-election` against the running brokers: the CompletedProcess."""
    r = gregor("leader-election", "--bootstrap-server", c.bootstrap, *args, check=False,
               timeout=60)
    print(f"  $ gregor leader-election {' '.join(args)}\n    -> {r.returncode} "
          f"{r.stdout.strip()!r} {r.stderr.strip()!r}", flush=True)
    return r


def kill_preferred_leader(c, topic, partitions, partition):
    """Kills -9 the preferred leader of topic-partition (which leads it) and waits until every
    running broker shows another leader for each partition it led.  Returns (victim, the
    partitions it led)."""
    st = wait_states(c, topic, partitions, lambda s: isr_full(s) and preferred_lead(s),
                     f"{topic}: full ISRs led by their preferred replicas")
    victim = c.node(st[partition][1][0])
    led = sorted(p for p, (leader, _, _) in st.items() if leader == victim.node_id)
    victim.kill9()
    wait_states(c, topic, partitions,
                lambda s: all(s[p][0] not in (-1, victim.node_id) for p in led),
                f"{topic}: partitions {led} led by another broker than {victim.node_id}",
                timeout=SESSION_TIMEOUT_S + 15)
    return victim, led


def restart_and_wait_in_sync(c, victim, topic, partitions):
    """Restarts victim and waits until it is back in every ISR (replication catches it up);
    returns the states, in which it still leads none of its old partitions."""
    victim.start()
    c.wait_ready(timeout=30)
    return wait_states(c, topic, partitions, isr_full,
                       f"{topic}: broker {victim.node_id} back in every ISR", timeout=60)


def test_preferred_election_with_the_cli_moves_leadership_back_after_a_kill9():
    """kill -9 the preferred leader of a partition; while it is down, a preferred election of
    that partition fails (PREFERRED_LEADER_NOT_AVAILABLE); once it is back in the ISR,
    `--election-type preferred --all-topic-partitions` gives it its leaderships back; a second
    run finds nothing to elect, and naming the partitions says so partition by partition."""
    topic = "pe"
    c = Cluster(controllers=3, brokers=3,
                controller_overrides={"auto.leader.rebalance.enable": "false"}).start()
    create(c, topic, 3, 3)
    victim, led = kill_preferred_leader(c, topic, 3, 1)

    r = elect(c, "--election-type", "preferred", "--topic", topic, "--partition", "1")
    assert r.returncode == 1, r
    assert r.stdout == (f"Error completing leader election (PREFERRED) for partition: {topic}-1: "
                        f"{EXC}PreferredLeaderNotAvailableException: The preferred leader was "
                        f"not available.\n"), r.stdout
    assert "1 replica(s) could not be elected" in r.stderr, r.stderr

    st = restart_and_wait_in_sync(c, victim, topic, 3)
    assert all(st[p][0] != victim.node_id for p in led), st

    r = elect(c, "--election-type", "preferred", "--all-topic-partitions")
    assert r.returncode == 0, r
    names = ", ".join(f"{topic}-{p}" for p in led)
    assert r.stdout == (f"Successfully completed leader election (PREFERRED) for partitions "
                        f"{names}\n"), r.stdout
    after = wait_states(c, topic, 3, preferred_lead, f"{topic}: leaders back on the preferred "
                        "replicas")
    assert all(after[p][0] == victim.node_id for p in led), after
    assert isr_full(after), after

    # nothing left to elect: a KRaft controller leaves those partitions out of the answer
    r = elect(c, "--election-type", "preferred", "--all-topic-partitions")
    assert r.returncode == 0 and r.stdout == "" and r.stderr == "", r
    path = os.path.join(c.dir, "election.json")
    with open(path, "w") as f:
        json.dump({"partitions": [{"topic": topic, "partition": p} for p in (2, 0, 1)]}, f)
    r = elect(c, "--election-type", "preferred", "--path-to-json-file", path)
    assert r.returncode == 0, r
    assert r.stdout == (f"Valid replica already elected for partitions {topic}-0, {topic}-1, "
                        f"{topic}-2\n"), r.stdout
    r = elect(c, "--election-type", "unclean", "--topic", topic, "--partition", "0")
    assert r.returncode == 0 and r.stdout == f"Valid replica already elected for partitions " \
                                             f"{topic}-0\n", r

    # unknown partitions, and duplicates in the file
    r = elect(c, "--election-type", "preferred", "--topic", topic, "--partition", "7")
    assert r.returncode == 1 and r.stdout == (
        f"Error completing leader election (PREFERRED) for partition: {topic}-7: "
        f"{EXC}UnknownTopicOrPartitionException: No such partition as {topic}-7\n"), r
    r = elect(c, "--election-type", "preferred", "--topic", "nope", "--partition", "0")
    assert r.returncode == 1 and "No such topic as nope" in r.stdout, r
    with open(path, "w") as f:
        f.write('{"partitions": [{"topic": "pe", "partition": 0}, '
                '{"topic": "pe", "partition": 0}]}')
    r = elect(c, "--election-type", "preferred", "--path-to-json-file", path)
    assert r.returncode == 1 and r.stdout == "" and \
        "Replica election data contains duplicate partitions: [pe-0]" in r.stderr, r
    assert after == states_everywhere(c, topic, 3), "a refused election changed something"
    c.stop()


def test_cli_flags_are_checked_as_kafka_checks_them():
    """The flag rules of kafka-leader-election.sh, refused before anything is sent."""
    c = Cluster(controllers=1, brokers=1).start()
    b = c.bootstrap
    cases = [
        (("--election-type", "preferred", "--topic", "t", "--partition", "1"),
         "Missing required option(s): bootstrap-server"),
        (("--all-topic-partitions",), "Missing required option(s): bootstrap-server, "
         "election-type"),
        (("--bootstrap-server", b, "--all-topic-partitions"),
         "Missing required option(s): election-type"),
        (("--bootstrap-server", b, "--election-type", "preferred"),
         "One and only one of the following options is required: topic, all-topic-partitions, "
         "path-to-json-file"),
        (("--bootstrap-server", b, "--election-type", "preferred", "--topic", "t",
          "--all-topic-partitions"), "One and only one of the following options is required"),
        (("--bootstrap-server", b, "--election-type", "preferred", "--topic", "t"),
         "Missing required option(s): partition"),
        (("--bootstrap-server", b, "--election-type", "preferred", "--partition", "1",
          "--all-topic-partitions"), "Option partition is only allowed if topic is used"),
        (("--bootstrap-server", b, "--election-type", "dirty", "--all-topic-partitions"),
         "Cannot parse argument 'dirty' of option election-type"),
    ]
    for args, want in cases:
        r = gregor("leader-election", *args, check=False)
        assert r.returncode == 1 and want in r.stderr and r.stdout == "", (args, r)
    path = os.path.join(c.dir, "bad.json")
    for text, want in [("", "Replica election data is empty"),
                       ('{"other": []}', 'Replica election data is missing "partitions" field'),
                       ('{"partitions": [{"topic": "t"}]}', "`partition`"),
                       ('{"partitions": [', "not valid JSON")]:
        with open(path, "w") as f:
            f.write(text)
        r = gregor("leader-election", "--bootstrap-server", c.bootstrap, "--election-type",
                   "preferred", "--path-to-json-file", path, check=False)
        assert r.returncode == 1 and want in r.stderr, (text, r)
    c.stop()


def elect_raw(addr, version, topics, election_type=0):
    """ElectLeaders v0 or v1 (non-flexible) for topics ({name: [partitions]}, or None for every
    partition): (top-level error or None for v0, {(topic, partition): (error, message)})."""
    body = struct.pack(">b", election_type) if version >= 1 else b""
    if topics is None:
        body += struct.pack(">i", -1)
    else:
        body += struct.pack(">i", len(topics))
        for name, parts in topics.items():
            body += _kstr(name) + struct.pack(">i", len(parts))
            body += b"".join(struct.pack(">i", p) for p in parts)
    body += struct.pack(">i", 10000)
    r = _Reader(request(addr, API_ELECT_LEADERS, version, body, timeout=15))
    r.take(">i")  # throttle_time_ms
    top = r.take(">h") if version >= 1 else None
    out = {}
    for _ in range(r.count()):
        topic = r.string()
        for _ in range(r.count()):
            partition, err = r.take(">ih")
            out[(topic, partition)] = (err, r.string())
    return top, out


def test_elect_leaders_v0_and_v1_on_the_wire():
    """ElectLeaders v0 (no election type: preferred) and v1 (top-level error code), as raw
    requests: per-partition answers, and null topic_partitions leaving out what needs no
    election."""
    c = Cluster(controllers=1, brokers=1).start()
    create(c, "w", 2, 1)
    wait_states(c, "w", 2, lambda s: all(v[0] >= 0 for v in s.values()), "w: leaders")
    addr = c.brokers[0].bootstrap
    top, res = elect_raw(addr, 0, {"w": [0, 1, 5]})
    assert top is None and res == {
        ("w", 0): (ERR_ELECTION_NOT_NEEDED, "Leader election not needed for topic partition."),
        ("w", 1): (ERR_ELECTION_NOT_NEEDED, "Leader election not needed for topic partition."),
        ("w", 5): (ERR_UNKNOWN_TOPIC_OR_PARTITION, "No such partition as w-5")}, res
    top, res = elect_raw(addr, 1, None, election_type=1)
    assert top == 0 and res == {}, (top, res)
    top, res = elect_raw(addr, 1, {"w": [1]}, election_type=1)
    assert top == 0 and res == {("w", 1): (ERR_ELECTION_NOT_NEEDED, "Leader election not "
                                           "needed for topic partition.")}, res
    c.stop()


def test_unclean_election_gives_a_leaderless_partition_an_out_of_sync_replica():
    """A partition with replicas [a, b]: b dies (the ISR shrinks to [a]), then a dies (no
    leader; a stays the last ISR member).  With neither up, an unclean election finds no
    eligible leader; once b is back (alive but out of sync, so no clean election can pick it),
    `--election-type unclean` makes b the leader with ISR [b]."""
    topic = "un"
    c = Cluster(controllers=3, brokers=3).start()
    create(c, topic, 1, 2)
    st = wait_states(c, topic, 1, isr_full, f"{topic}: a full ISR")
    a_id, b_id = st[0][1]
    a, b = c.node(a_id), c.node(b_id)
    assert st[0][0] == a_id, st
    b.kill9()
    wait_states(c, topic, 1, lambda s: s[0][0] == a_id and s[0][2] == [a_id],
                f"{topic}: ISR [{a_id}] once broker {b_id} is fenced",
                timeout=SESSION_TIMEOUT_S + 15)
    a.kill9()
    wait_states(c, topic, 1, lambda s: s[0][0] == -1 and s[0][2] == [a_id],
                f"{topic}: no leader once broker {a_id} is fenced",
                timeout=SESSION_TIMEOUT_S + 15)

    r = elect(c, "--election-type", "unclean", "--topic", topic, "--partition", "0")
    assert r.returncode == 1 and r.stdout == (
        f"Error completing leader election (UNCLEAN) for partition: {topic}-0: "
        f"{EXC}EligibleLeadersNotAvailableException: Eligible topic partition leaders are not "
        f"available.\n"), r

    b.start()
    c.wait_ready(timeout=30)
    st = states_everywhere(c, topic, 1)
    assert st and st[0][0] == -1 and st[0][2] == [a_id], f"{b_id} must not lead cleanly: {st}"
    r = elect(c, "--election-type", "preferred", "--all-topic-partitions")
    assert r.returncode == 1 and "PreferredLeaderNotAvailableException" in r.stdout, r
    r = elect(c, "--election-type", "unclean", "--all-topic-partitions")
    assert r.returncode == 0, r
    assert r.stdout == f"Successfully completed leader election (UNCLEAN) for partitions " \
                       f"{topic}-0\n", r.stdout
    wait_states(c, topic, 1, lambda s: s[0][0] == b_id and s[0][2] == [b_id],
                f"{topic}: broker {b_id} leads alone after the unclean election")
    c.stop()


def test_automatic_preferred_election_moves_leadership_back_without_the_cli():
    """With leader.imbalance.check.interval.seconds=2, the active controller itself gives a
    restarted preferred leader its partitions back once it is in the ISR again."""
    topic = "auto"
    c = Cluster(controllers=3, brokers=3,
                controller_overrides={"leader.imbalance.check.interval.seconds": "2"}).start()
    create(c, topic, 3, 3)
    victim, led = kill_preferred_leader(c, topic, 3, 0)
    victim.start()
    c.wait_ready(timeout=30)
    after = wait_states(c, topic, 3, lambda s: isr_full(s) and preferred_lead(s),
                        f"{topic}: leaderships back on broker {victim.node_id} automatically",
                        timeout=60)
    assert all(after[p][0] == victim.node_id for p in led), after
    logs = "".join(open(n.log_path).read() for n in c.controllers)
    assert f"leader imbalance of broker {victim.node_id}" in logs, \
        "no controller logged the automatic election"
    c.stop()


if __name__ == "__main__":
    import importlib

    import run
    run.MODULES[:] = [importlib.import_module("tests_leader_election")]
    sys.exit(run.main())
