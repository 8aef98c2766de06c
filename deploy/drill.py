#!/usr/bin/python3
"""deploy/drill.py — the failure drill of the container cluster (docker-compose.yml); started by
deploy/drill.sh, which documents the environment it reads.

While a producer (confluent-kafka, acks=all, idempotence on) writes numbered records to topic
`drill` (6 partitions, replication factor 3, min.insync.replicas=2) and a consumer group reads
and commits them, ROUNDS times:

  KILL=broker (default)   `docker kill` a random broker, wait, `docker start` it
  KILL=controller         the same with the active controller (LeaderId of
                          `gregor metadata-quorum describe --status`)
  CUT=1                   instead of killing the node, `docker network disconnect` it from the
                          compose network, wait, and connect it again

and waits until the node is healthy and every ISR is full again before the next round.  Then it
checks that

  - every acknowledged record was delivered to the consumer group (lost must be 0) and sits in
    the log at the (partition, offset) its acknowledgement named; duplicates delivered to the
    group are counted (at-least-once redelivery is allowed), values stored twice too (with
    idempotence there must be none);
  - the three replicas agree: each partition's high watermark (ListOffsets to its leader) is
    at or below every replica's log end offset, and the record batches below it, read from each
    broker's segment files (`docker exec ... tar`), are byte-identical on the three brokers;

and prints a report: per round the victim, the time to a new leader (partition leaders in
Metadata for a broker, the quorum's LeaderId for a controller) and the longest produce
unavailability (the time between the last acknowledgement before the kill and the first after
it, over all partitions and for the worst partition).  Exits 1 if an acknowledged record was
lost (not delivered, or not at its offset), a value was stored twice or the replicas differ; 2 if
the drill itself could not run (or was interrupted: a killed or cut node is brought back first).

Every Metadata view here is the brokers' (AdminClient, or `gregor metadata-quorum` run inside a
broker container): what clients see.
"""
import collections
import io
import json
import logging
import os
import random
import re
import signal
import struct
import subprocess
import sys
import tarfile
import threading
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def env(name, default):
    v = os.environ.get(name, "")
    return type(default)(v) if v != "" else default


ROUNDS = env("ROUNDS", 20)
# LOCAL=1: the same drill on a loopback process cluster (3 controllers + 3 brokers started by
# the integration harness, tests/integration/harness.py) instead of the containers: kill -9 and
# restart of the processes; no network cut.  CI runs it on every change.
LOCAL = env("LOCAL", "0") not in ("", "0", "false", "no")
KILL = env("KILL", "broker")
CUT = env("CUT", "0") not in ("", "0", "false", "no")
RATE = env("RATE", 500)
DOWN_S = env("DOWN_S", 10.0 if CUT else 5.0)
SETTLE_S = env("SETTLE_S", 3.0)
TOPIC = env("TOPIC", "drill")
PARTITIONS = 6
BOOTSTRAP = env("BOOTSTRAP", "127.0.0.1:19092,127.0.0.1:29092,127.0.0.1:39092")
COMPOSE = env("COMPOSE", "docker-compose").split()
HEALTH_TIMEOUT_S = env("HEALTH_TIMEOUT_S", 120.0)
ISR_TIMEOUT_S = env("ISR_TIMEOUT_S", 120.0)
CONSUME_TIMEOUT_S = env("CONSUME_TIMEOUT_S", 120.0)
LEADER_TIMEOUT_S = env("LEADER_TIMEOUT_S", 60.0)
DATA_DIR = env("DATA_DIR", "/var/lib/gregor/data")
CLIENT_LOG = env("CLIENT_LOG", "/tmp/gregor-drill-client.log")
ACK_LOG = env("ACK_LOG", "")  # if set: a JSON file with the kill and acknowledgement times
SEED = env("SEED", random.randrange(1 << 31))

BROKERS = {"broker-1": 4, "broker-2": 5, "broker-3": 6}
CONTROLLERS = {"controller-1": 1, "controller-2": 2, "controller-3": 3}

T0 = time.monotonic()


def now():
    return time.monotonic()


def say(msg):
    print(f"drill: [{now() - T0:7.1f}s] {msg}", flush=True)


class DrillError(Exception):
    """The drill could not run (cluster not up, a node that does not come back, ...)."""


# ------------------------------------------------------------------------------ docker side

def run(cmd, check=True, timeout=60, binary=False):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    if check and r.returncode != 0:
        raise DrillError(f"{' '.join(cmd)} failed ({r.returncode}): "
                         f"{r.stderr.decode(errors='replace').strip()}")
    return r.stdout if binary else r.stdout.decode(errors="replace")


def replication_rows(out):
    """[(node id, log end offset, lag, status)] from `metadata-quorum describe --replication`."""
    rows = []
    for line in out.splitlines()[1:]:
        f = line.split()
        if len(f) >= 6 and f[0].isdigit():
            rows.append((int(f[0]), int(f[1]), int(f[2]), f[5]))
    return rows


class Cluster:
    def __init__(self):
        self.cid = {}
        for svc in list(CONTROLLERS) + list(BROKERS):
            out = run(COMPOSE + ["ps", "-q", svc]).strip()
            if not out:
                raise DrillError(f"no container for {svc}: run `make cluster-up` first")
            self.cid[svc] = out

    def state(self, svc):
        """'running healthy', 'exited ', ... of svc's container."""
        return run(["docker", "inspect", "-f",
                    "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}",
                    self.cid[svc]]).strip()

    def wait_healthy(self, svc, timeout=HEALTH_TIMEOUT_S):
        deadline = now() + timeout
        while True:
            st = self.state(svc)
            if st == "running healthy":
                return
            if st.startswith("exited") or st.startswith("dead"):
                raise DrillError(f"{svc} exited: `{' '.join(COMPOSE)} logs {svc}` says why")
            if now() > deadline:
                raise DrillError(f"{svc} not healthy after {timeout:.0f}s (state: {st})")
            time.sleep(0.2)

    def kill(self, svc):
        run(["docker", "kill", self.cid[svc]])

    def start(self, svc):
        run(["docker", "start", self.cid[svc]])

    def networks(self, svc):
        """{network name: aliases} of svc's container."""
        nets = json.loads(run(["docker", "inspect", "-f", "{{json .NetworkSettings.Networks}}",
                               self.cid[svc]]))
        return {name: [a for a in (v.get("Aliases") or []) if not self.cid[svc].startswith(a)]
                for name, v in nets.items()}

    def cut(self, svc, nets):
        for name in nets:
            run(["docker", "network", "disconnect", name, self.cid[svc]])

    def reconnect(self, svc, nets):
        for name, aliases in nets.items():
            cmd = ["docker", "network", "connect"]
            for a in aliases:
                cmd += ["--alias", a]
            run(cmd + [name, self.cid[svc]])

    def exec(self, svc, *cmd, binary=False, timeout=60):
        return run(["docker", "exec", self.cid[svc]] + list(cmd), binary=binary,
                   timeout=timeout)

    def quorum_status(self, via):
        """{'LeaderId': ..., ...} from `gregor metadata-quorum describe --status` run inside
        broker container `via`."""
        out = self.exec(via, "gregor", "metadata-quorum", "--bootstrap-server",
                        "localhost:9092", "describe", "--status", timeout=40)
        return dict(re.findall(r"^(\w+):\s+(.*?)\s*$", out, re.M))

    def quorum_replication(self, via):
        out = self.exec(via, "gregor", "metadata-quorum", "--bootstrap-server",
                        "localhost:9092", "describe", "--replication", timeout=40)
        return replication_rows(out)

    def partition_logs(self, svc, topic, partitions):
        """{partition: [batch bytes]} read from svc's segment files of topic."""
        names = [f"{topic}-{p}" for p in range(partitions)]
        blob = self.exec(svc, "tar", "-C", DATA_DIR, "-cf", "-", *names, binary=True,
                         timeout=120)
        segs = collections.defaultdict(list)
        with tarfile.open(fileobj=io.BytesIO(blob)) as tf:
            for m in tf.getmembers():
                d, _, f = m.name.partition("/")
                if m.isfile() and re.fullmatch(r"\d{20}\.log", f):
                    segs[int(d.rsplit("-", 1)[1])].append((f, tf.extractfile(m).read()))
        out = {}
        for p in range(partitions):
            batches = []
            for _, data in sorted(segs.get(p, [])):
                pos = 0
                while pos + 61 <= len(data):
                    (length,) = struct.unpack_from(">i", data, pos + 8)
                    end = pos + 12 + length
                    if length < 49 or end > len(data):
                        break
                    batches.append(data[pos:end])
                    pos = end
            out[p] = batches
        return out


def batch_offsets(b):
    base, = struct.unpack_from(">q", b, 0)
    delta, = struct.unpack_from(">i", b, 23)
    return base, base + delta


# ------------------------------------------------------------------------------ Kafka side

def client_logger():
    lg = logging.getLogger("librdkafka")
    if not lg.handlers:
        h = logging.FileHandler(CLIENT_LOG, mode="w")
        h.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
        lg.addHandler(h)
        lg.setLevel(logging.DEBUG)
        lg.propagate = False
    return lg


class NumberedProducer(threading.Thread):
    """Produces 0, 1, 2, ... (key and value: the number) at RATE per second until stopped."""

    def __init__(self):
        super().__init__(daemon=True)
        self.p = Producer({"bootstrap.servers": BOOTSTRAP, "acks": "all",
                           "enable.idempotence": True, "linger.ms": 5,
                           "message.timeout.ms": 300000, "retry.backoff.ms": 100,
                           "client.id": "drill-producer",
                           "logger": client_logger()})
        self.lock = threading.Lock()
        self.acked = {}          # value -> (partition, offset)
        self.ack_times = []      # (monotonic time, partition), in callback order
        self.failed = {}         # value -> error
        self.fatal = None
        self.sent = 0
        self.flush_s = 300
        self.stop_evt = threading.Event()

    def _report(self, err, msg):
        t = now()
        v = int(msg.value())
        with self.lock:
            if err is None:
                self.acked[v] = (msg.partition(), msg.offset())
                self.ack_times.append((t, msg.partition()))
            else:
                self.failed[v] = str(err)
                if err.fatal():
                    self.fatal = str(err)

    def run(self):
        per_tick = max(1, RATE // 100)  # one tick every 10 ms
        next_t = now()
        while not self.stop_evt.is_set() and self.fatal is None:
            for _ in range(per_tick):
                v = str(self.sent).encode()
                while True:
                    try:
                        self.p.produce(TOPIC, key=v, value=v, on_delivery=self._report)
                        break
                    except BufferError:
                        self.p.poll(0.05)
                self.sent += 1
            self.p.poll(0)
            next_t += 0.01
            time.sleep(max(0.0, next_t - now()))
        left = self.p.flush(self.flush_s)
        if left:
            say(f"producer: {left} records still undelivered after {self.flush_s} s")

    def n_acked(self):
        with self.lock:
            return len(self.acked)


class GroupConsumer(threading.Thread):
    """One member of a new consumer group that reads TOPIC from the beginning and commits."""

    def __init__(self, group):
        super().__init__(daemon=True)
        self.group = group
        self.c = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": group,
                           "auto.offset.reset": "earliest", "enable.auto.commit": True,
                           "auto.commit.interval.ms": 1000, "session.timeout.ms": 10000,
                           "heartbeat.interval.ms": 1000, "client.id": "drill-consumer",
                           "logger": client_logger()})
        self.lock = threading.Lock()
        self.seen = collections.Counter()
        self.errors = collections.Counter()
        self.stop_evt = threading.Event()

    def run(self):
        self.c.subscribe([TOPIC])
        try:
            while not self.stop_evt.is_set():
                msgs = self.c.consume(500, 0.5)
                with self.lock:
                    for m in msgs:
                        if m.error():
                            self.errors[m.error().name()] += 1
                        else:
                            self.seen[int(m.value())] += 1
        finally:
            self.c.close()  # commits what was consumed

    def n_seen(self):
        with self.lock:
            return len(self.seen)


class Meta:
    """Metadata of TOPIC, polled through AdminClient (any live broker answers)."""

    def __init__(self):
        self.a = AdminClient({"bootstrap.servers": BOOTSTRAP, "client.id": "drill-admin",
                              "logger": client_logger()})

    def topics(self):
        return self.a.list_topics(timeout=10).topics

    def snapshot(self):
        """(the broker ids Metadata lists, {partition: (leader, replicas, isr)} of TOPIC)."""
        md = self.a.list_topics(timeout=10)
        t = md.topics.get(TOPIC)
        if t is None or t.error is not None:
            return set(md.brokers), {}
        return set(md.brokers), {p: (m.leader, list(m.replicas), list(m.isrs))
                                 for p, m in t.partitions.items()}

    def partitions(self):
        """{partition: (leader, replicas, isr)}, {} if TOPIC is absent."""
        return self.snapshot()[1]

    def wait_isr_full(self, timeout=ISR_TIMEOUT_S):
        deadline = now() + timeout
        last = None
        while True:
            try:
                st = self.partitions()
                last = st
                if len(st) == PARTITIONS and all(
                        leader >= 0 and sorted(isr) == sorted(reps) and len(reps) == 3
                        for leader, reps, isr in st.values()):
                    return st
            except KafkaException as e:
                last = e
            if now() > deadline:
                raise DrillError(f"{TOPIC}: ISR not full after {timeout:.0f}s; last "
                                 f"(leader, replicas, isr): {last}")
            time.sleep(0.2)

    def recreate_topic(self):
        if TOPIC in self.topics():
            say(f"deleting the {TOPIC} topic of an earlier drill")
            self.a.delete_topics([TOPIC], operation_timeout=30)[TOPIC].result()
            deadline = now() + 60
            while TOPIC in self.topics():
                if now() > deadline:
                    raise DrillError(f"{TOPIC} still listed 60 s after its deletion")
                time.sleep(0.5)
        deadline = now() + 60
        while True:
            f = self.a.create_topics([NewTopic(TOPIC, PARTITIONS, 3,
                                               config={"min.insync.replicas": "2"})],
                                     operation_timeout=30)[TOPIC]
            try:
                f.result()
                break
            except KafkaException as e:
                if now() > deadline:
                    raise DrillError(f"creating {TOPIC}: {e}")
                say(f"creating {TOPIC}: {e}; retrying")
                time.sleep(1)
        say(f"created {TOPIC}: {PARTITIONS} partitions, replication factor 3, "
            "min.insync.replicas=2")


def high_watermarks():
    c = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": "drill-verify",
                  "enable.auto.commit": False,
                  "logger": client_logger()})
    try:
        return {p: c.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=30)[1]
                for p in range(PARTITIONS)}
    finally:
        c.close()


def read_log(hws, timeout=180):
    """{(partition, offset): value} of every record below the high watermarks (assign(), no
    group)."""
    c = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": "drill-verify",
                  "enable.auto.commit": False, "auto.offset.reset": "error",
                  "logger": client_logger()})
    got = {}
    todo = {p for p, hw in hws.items() if hw > 0}
    c.assign([TopicPartition(TOPIC, p, 0) for p in todo])
    deadline = now() + timeout
    try:
        while todo:
            if now() > deadline:
                raise DrillError(f"reading {TOPIC}: partitions {sorted(todo)} not read up to "
                                 f"{hws} within {timeout}s")
            for m in c.consume(1000, 0.5):
                if m.error():
                    raise DrillError(f"reading {TOPIC}-{m.partition()}: {m.error()}")
                got[(m.partition(), m.offset())] = int(m.value())
                if m.offset() + 1 >= hws[m.partition()]:
                    todo.discard(m.partition())
    finally:
        c.close()
    return got


class LocalCluster(Cluster):
    """The Cluster interface over loopback processes: services are the harness's nodes."""

    def __init__(self):
        root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
        sys.path.insert(0, os.path.join(root, "tests", "integration"))
        import harness
        self.harness = harness
        self.c = harness.Cluster(controllers=3, brokers=3, overrides={
            "group.initial.rebalance.delay.ms": "0", "offsets.topic.num.partitions": "6",
            "broker.session.timeout.ms": "6000", "broker.heartbeat.interval.ms": "1000"})
        self.c.start()
        self.node = {svc: self.c.node(n) for svc, n in list(CONTROLLERS.items()) +
                     list(BROKERS.items())}
        self.cid = dict(self.node)
        global BOOTSTRAP
        BOOTSTRAP = ",".join(self.node[s].bootstrap for s in BROKERS)

    def close(self):
        self.c.stop()
        self.harness.cleanup_all()

    def state(self, svc):
        return "running healthy" if self.node[svc].alive() else "exited "

    def wait_healthy(self, svc, timeout=HEALTH_TIMEOUT_S):
        n = self.node[svc]
        if n.is_broker:
            self.c.wait_ready(brokers=[n], timeout=timeout)
        elif not n.alive():
            raise DrillError(f"{svc} exited:\n{n.log()[-2000:]}")

    def kill(self, svc):
        self.node[svc].kill9()

    def start(self, svc):
        self.node[svc].start()

    def networks(self, svc):
        raise DrillError("CUT=1 needs the container cluster (LOCAL=1 has no network to cut)")

    def quorum_status(self, via):
        out = run([self.harness.GREGOR, "metadata-quorum", "--bootstrap-server",
                   self.node[via].bootstrap, "describe", "--status"], timeout=40)
        return dict(re.findall(r"^(\w+):\s+(.*?)\s*$", out, re.M))

    def quorum_replication(self, via):
        out = run([self.harness.GREGOR, "metadata-quorum", "--bootstrap-server",
                   self.node[via].bootstrap, "describe", "--replication"], timeout=40)
        return replication_rows(out)

    def exec(self, svc, *cmd, binary=False, timeout=60):
        if cmd[:1] == ("tar",):  # partition_logs: the segment files, from the node's log dir
            args = list(cmd)
            args[args.index("-C") + 1] = self.node[svc].data
            r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               timeout=timeout)
            if r.returncode:
                raise DrillError(f"tar of {svc}'s logs failed: {r.stderr.decode()}")
            return r.stdout
        raise DrillError(f"exec {cmd} is not available with LOCAL=1")


# ------------------------------------------------------------------------------ the rounds

def one_round(i, cl, meta, prod, rng):
    if KILL == "controller":
        st = cl.quorum_status(rng.choice(list(BROKERS)))
        old = int(st["LeaderId"])
        victim = next(s for s, n in CONTROLLERS.items() if n == old)
    else:
        victim = rng.choice(list(BROKERS))
        old = BROKERS[victim]
    before = meta.partitions()
    led = sorted(p for p, (leader, _, _) in before.items() if leader == old)
    nets = cl.networks(victim) if CUT else None
    acked_before = prod.n_acked()
    t_kill = now()
    if CUT:
        cl.cut(victim, nets)
    else:
        cl.kill(victim)
    try:
        return finish_round(i, cl, meta, prod, rng, victim, old, led, nets, t_kill,
                            acked_before)
    except BaseException:
        # Interrupted or failed while the node is down: bring it back before giving up.
        try:
            if CUT and not cl.networks(victim):
                cl.reconnect(victim, nets)
            elif not CUT and not cl.state(victim).startswith("running"):
                cl.start(victim)
        except (DrillError, subprocess.SubprocessError, OSError):
            pass
        raise


def finish_round(i, cl, meta, prod, rng, victim, old, led, nets, t_kill, acked_before):
    what = "cut off" if CUT else "killed"
    rec = {"round": i, "victim": victim, "node": old, "at": t_kill, "led": led,
           "acked_before": acked_before}

    # Time to a new leader: the quorum's LeaderId for a controller; for a broker, until every
    # partition it led has another leader in Metadata, and until Metadata stops listing it
    # (fenced: it also leaves every ISR then, which unblocks acks=all).
    new_leader = fenced = None
    deadline = t_kill + LEADER_TIMEOUT_S
    while now() < deadline:
        try:
            if KILL == "controller":
                lid = int(cl.quorum_status(rng.choice(list(BROKERS)))["LeaderId"])
                if lid not in (old, -1):
                    new_leader = (now() - t_kill, lid)
                    break
            else:
                brokers, st = meta.snapshot()
                if fenced is None and old not in brokers:
                    fenced = now() - t_kill
                if new_leader is None and led and st and \
                        all(st[p][0] not in (old, -1) for p in led):
                    new_leader = (now() - t_kill, sorted({st[p][0] for p in led}))
                if fenced is not None and (new_leader or not led):
                    break
        except (KafkaException, DrillError, KeyError, ValueError):
            pass
        time.sleep(0.1)
    rec["new_leader"], rec["fenced"] = new_leader, fenced
    msg = f"round {i}: {what} {victim} (node {old}"
    if KILL == "controller":
        msg += ", the active controller); " + (
            f"controller {new_leader[1]} active after {new_leader[0]:.2f} s" if new_leader
            else f"NO new active controller within {LEADER_TIMEOUT_S:.0f} s")
    else:
        msg += f", leader of {TOPIC} partitions {led or 'none'}); "
        if led:
            msg += (f"new leader {new_leader[1]} after {new_leader[0]:.2f} s, " if new_leader
                    else f"NO new leader within {LEADER_TIMEOUT_S:.0f} s, ")
        msg += (f"fenced after {fenced:.2f} s" if fenced is not None
                else f"NOT fenced within {LEADER_TIMEOUT_S:.0f} s")
    say(msg)

    time.sleep(max(0.0, t_kill + DOWN_S - now()))
    t_back = now()
    if CUT:
        cl.reconnect(victim, nets)
    else:
        cl.start(victim)
    cl.wait_healthy(victim)
    rec["healthy_after"] = now() - t_back
    if KILL == "controller":
        # the restarted voter has caught up with the metadata log
        deadline = now() + HEALTH_TIMEOUT_S
        while True:
            try:
                rows = cl.quorum_replication(rng.choice(list(BROKERS)))
                if any(n == old and lag == 0 for n, _, lag, _ in rows):
                    break
            except DrillError:
                pass
            if now() > deadline:
                raise DrillError(f"controller {old} has not caught up after "
                                 f"{HEALTH_TIMEOUT_S:.0f}s")
            time.sleep(0.5)
    meta.wait_isr_full()
    rec["isr_full_after"] = now() - t_back
    say(f"round {i}: {victim} back: healthy {rec['healthy_after']:.1f} s and every ISR full "
        f"{rec['isr_full_after']:.1f} s after the {'reconnect' if CUT else 'restart'}; "
        f"{prod.n_acked()} records acknowledged so far")
    time.sleep(SETTLE_S)
    rec["end"] = now()
    return rec


def produce_gaps(rec, ack_times):
    """(longest gap over all partitions, longest gap of one partition, that partition): the
    longest time without an acknowledgement between one and the next from a second before the
    kill to the end of the round, i.e. the time between the last acknowledgement before the
    outage the kill made and the first after it.  (Answers already on their way when the node
    died still arrive just after the kill; taking the longest gap leaves them out.)"""
    lo, hi = rec["at"] - 1.0, rec["end"]
    prev_all, gap_all = None, None
    prev_p, gap_p = {}, {}
    for ts, p in ack_times:
        if ts < lo:
            prev_all = ts
            prev_p[p] = ts
            continue
        if ts > hi:
            break
        if prev_all is not None:
            gap_all = max(gap_all or 0.0, ts - prev_all)
        if p in prev_p:
            gap_p[p] = max(gap_p.get(p, 0.0), ts - prev_p[p])
        prev_all = ts
        prev_p[p] = ts
    if not gap_p:
        return gap_all, None, None
    wp = max(gap_p, key=gap_p.get)
    return gap_all, gap_p[wp], wp


def fmt(x, unit="s"):
    return "-" if x is None else f"{x:.2f} {unit}"


def main():
    if KILL not in ("broker", "controller"):
        raise DrillError(f"KILL={KILL}: use broker or controller")
    if LOCAL and CUT:
        raise DrillError("CUT=1 needs the container cluster; LOCAL=1 kills processes only")
    say(f"{ROUNDS} rounds, {'network cut' if CUT else 'kill -9' if LOCAL else 'docker kill'} of "
        f"{'the active controller' if KILL == 'controller' else 'a random broker'}, "
        f"down {DOWN_S:.0f} s, {RATE} records/s, seed {SEED}; client log {CLIENT_LOG}")
    rng = random.Random(SEED)
    cl = LocalCluster() if LOCAL else Cluster()
    try:
        return drill(cl, rng)
    finally:
        if LOCAL:
            cl.close()


def drill(cl, rng):
    for svc in cl.cid:
        cl.wait_healthy(svc)
    meta = Meta()
    meta.recreate_topic()
    meta.wait_isr_full()

    group = f"drill-{int(time.time())}"
    cons = GroupConsumer(group)
    cons.start()
    prod = NumberedProducer()
    prod.start()
    deadline = now() + 60
    while prod.n_acked() < RATE * 2 or cons.n_seen() == 0:
        if now() > deadline or prod.fatal:
            raise DrillError(f"no traffic: {prod.n_acked()} acknowledged, {cons.n_seen()} "
                             f"consumed after 60 s ({prod.fatal or 'see ' + CLIENT_LOG})")
        time.sleep(0.2)
    say(f"producing ({prod.n_acked()} acknowledged) and consuming in group {group} "
        f"({cons.n_seen()} read)")

    rounds = []
    t_start = now()
    try:
        for i in range(1, ROUNDS + 1):
            if prod.fatal:
                say(f"producer failed fatally: {prod.fatal}; stopping the rounds")
                break
            rounds.append(one_round(i, cl, meta, prod, rng))
    except BaseException:
        prod.flush_s = 5  # giving up: do not wait for the last deliveries
        raise
    finally:
        prod.stop_evt.set()
        prod.join()
    elapsed = now() - t_start
    say(f"producer stopped: {prod.sent} sent, {len(prod.acked)} acknowledged, "
        f"{len(prod.failed)} failed")

    # Every acknowledged record reaches the group.
    deadline = now() + CONSUME_TIMEOUT_S
    while True:
        with cons.lock:
            missing = [v for v in prod.acked if v not in cons.seen]
        if not missing or now() > deadline:
            break
        time.sleep(0.5)
    cons.stop_evt.set()
    cons.join()
    with cons.lock:
        seen = dict(cons.seen)
    lost = sorted(v for v in prod.acked if v not in seen)
    dup_records = sum(1 for n in seen.values() if n > 1)
    dup_deliveries = sum(n - 1 for n in seen.values() if n > 1)
    unacked_seen = sum(1 for v in seen if v not in prod.acked)

    # The log holds each acknowledged record where its acknowledgement said; replicas agree.
    states = meta.wait_isr_full()
    hws = high_watermarks()
    logs = {svc: cl.partition_logs(svc, TOPIC, PARTITIONS) for svc in BROKERS}
    by_node = {n: svc for svc, n in BROKERS.items()}
    replica_problems = []
    leo_table = {}
    for p in range(PARTITIONS):
        leader, reps, _ = states[p]
        hw = hws[p]
        below = {}
        leo_table[p] = {}
        for r in reps:
            bs = logs[by_node[r]][p]
            leo = batch_offsets(bs[-1])[1] + 1 if bs else 0
            leo_table[p][r] = leo
            if leo < hw:
                replica_problems.append(f"{TOPIC}-{p}: broker {r} ends at {leo}, below the "
                                        f"high watermark {hw}")
            b = [x for x in bs if batch_offsets(x)[0] < hw]
            for prev, nxt in zip(b, b[1:]):
                if batch_offsets(nxt)[0] != batch_offsets(prev)[1] + 1:
                    replica_problems.append(f"{TOPIC}-{p}: broker {r} has a gap or overlap at "
                                            f"offset {batch_offsets(nxt)[0]}")
                    break
            below[r] = b
        ref = below[leader]
        for r, b in below.items():
            if r != leader and b != ref:
                n_diff = next((k for k, (x, y) in enumerate(zip(ref, b)) if x != y),
                              min(len(ref), len(b)))
                replica_problems.append(f"{TOPIC}-{p}: broker {r}'s batches below the high "
                                        f"watermark {hw} differ from leader {leader}'s from "
                                        f"batch {n_diff} on ({len(b)} vs {len(ref)} batches)")
    got = read_log(hws)
    misplaced = sorted(v for v, po in prod.acked.items() if got.get(po) != v)
    stored = collections.Counter(got.values())
    stored_twice = sum(1 for n in stored.values() if n > 1)

    # Report.
    with prod.lock:
        ack_times = list(prod.ack_times)
    if ACK_LOG:
        with open(ACK_LOG, "w") as f:
            json.dump({"rounds": [{k: v for k, v in r.items()} for r in rounds],
                       "acks": ack_times}, f)
    print()
    print("=" * 100)
    print(f"Gregor {'loopback' if LOCAL else 'container'} drill: {len(rounds)} rounds of "
          f"{'network cut' if CUT else 'kill -9' if LOCAL else 'docker kill'} ({KILL}), seed {SEED}, "
          f"{elapsed:.0f} s of rounds")
    print("-" * 100)
    print(f"{'round':>5}  {'victim':<13} {'led':<11} {'new leader':>10} {'fenced':>8}  "
          f"{'produce gap':>11}  {'worst partition gap':>20}  {'healthy':>8} {'ISR full':>9}")
    max_gap = max_worst = max_nl = None
    for r in rounds:
        gap_all, worst, wp = produce_gaps(r, ack_times)
        nl = r["new_leader"][0] if r["new_leader"] else None
        max_gap = gap_all if max_gap is None or (gap_all or 0) > max_gap else max_gap
        max_worst = worst if max_worst is None or (worst or 0) > max_worst else max_worst
        max_nl = nl if max_nl is None or (nl or 0) > max_nl else max_nl
        print(f"{r['round']:>5}  {r['victim']:<13} {','.join(map(str, r['led'])) or '-':<11} "
              f"{fmt(nl):>10} {fmt(r['fenced']):>8}  {fmt(gap_all):>11}  "
              f"{(fmt(worst) + (f' (p{wp})' if wp is not None else '')):>20}  "
              f"{r['healthy_after']:>7.1f}s {r['isr_full_after']:>8.1f}s")
    print("new leader: kill to other leaders in Metadata for the partitions the victim led (for a"
          "\n  controller: to another LeaderId); fenced: kill until Metadata stops listing the "
          "broker;\n  produce gap: longest time without an acknowledgement around the kill, all "
          "partitions / one partition;\n  healthy, ISR full: after the restart (reconnect)")
    print("-" * 100)
    print(f"records sent {prod.sent}, acknowledged {len(prod.acked)}, failed {len(prod.failed)}"
          + (f" (e.g. {next(iter(prod.failed.values()))})" if prod.failed else "")
          + (f", producer fatal error: {prod.fatal}" if prod.fatal else ""))
    print(f"consumer group {group}: {len(seen)} distinct records read, "
          f"lost {len(lost)}" + (f" (e.g. {lost[:10]})" if lost else "")
          + f", duplicates delivered {dup_deliveries} (of {dup_records} records), "
          f"unacknowledged but read {unacked_seen}, errors {dict(cons.errors) or 'none'}")
    print(f"log: {sum(hws.values())} records below the high watermarks; acknowledged records "
          f"not at their acknowledged offset {len(misplaced)}"
          + (f" (e.g. {misplaced[:10]})" if misplaced else "")
          + f"; values stored twice {stored_twice} (must be 0: idempotence is on)")
    print("replicas: high watermark / log end offset per broker: "
          + "; ".join(f"p{p} {hws[p]}/" + ",".join(f"{r}:{leo_table[p][r]}"
                                                    for r in sorted(leo_table[p]))
                      for p in range(PARTITIONS)))
    print("replicas: batches below the high watermark byte-identical on all three brokers: "
          + ("yes" if not replica_problems else "NO"))
    for prob in replica_problems:
        print(f"  {prob}")
    print(f"longest produce unavailability {fmt(max_gap)} (all partitions), {fmt(max_worst)} "
          f"(worst partition); longest time to new leader {fmt(max_nl)}")
    ok = not lost and not misplaced and not replica_problems and not stored_twice
    print(f"RESULT: {'OK' if ok else 'FAILED'} (lost {len(lost) + len(misplaced)})")
    print("=" * 100)
    return 0 if ok else 1


def on_sigterm(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, on_sigterm)  # a killed or cut node is brought back first
    try:
        sys.exit(main())
    except DrillError as e:
        say(f"ERROR: {e}")
        sys.exit(2)
    except KeyboardInterrupt:
        say("interrupted")
        sys.exit(2)
