"""Integration-test harness: real gregord processes on 127.0.0.1 with free ports.

Node is one combined-mode gregord; Cluster is a KRaft-style cluster of controller-only and
broker-only nodes (or of combined nodes), with per-node start / SIGTERM / SIGKILL / restart,
readiness by Metadata, and the quorum's state from `gregor metadata-quorum`.

Every node a test starts is registered and stopped (by PID) when the run ends, whatever
happened.  Nothing here talks to anything but loopback.
"""
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time

BIN = os.environ.get("GREGOR_BIN", os.path.join(os.path.dirname(__file__), "..", "..", "bin"))
GREGORD = os.path.join(BIN, "gregord")
GREGOR = os.path.join(BIN, "gregor")

_nodes = []
_dirs = []  # directories shared by several nodes (a Cluster's), removed after them


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Process:
    """What every gregord the harness runs has: a config, a log file, a process, and a stop that
    checks the exit code and the log for sanitizer reports.  Subclasses set conf, log_path and
    dir before using it."""

    proc = None
    logf = None
    signalled = False  # a signal was sent: the process may exit before wait_exit() reaps it

    def _spawn(self):
        self.logf = open(self.log_path, "a")
        self.signalled = False
        self.proc = subprocess.Popen([GREGORD, self.conf], stdout=self.logf, stderr=self.logf)

    def _close_log(self):
        if self.logf is not None:
            self.logf.close()
            self.logf = None

    def send_signal(self, sig):
        """Sends sig without waiting; wait_exit(sig) reaps the process and checks its exit."""
        assert self.alive(), "send_signal() needs a running process"
        self.signalled = True
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if not self.proc or self.proc.poll() is not None:
            self._close_log()
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        return self.wait_exit(sig, timeout)

    def wait_exit(self, sig=signal.SIGTERM, timeout=30):
        """Waits for the process to exit after sig was sent, then checks its log for sanitizer
        reports and, after SIGTERM, its exit code (0: a clean shutdown)."""
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
            raise RuntimeError(f"gregord {self!r} did not stop within {timeout}s")
        finally:
            self._close_log()
        log = self.log()
        if "Sanitizer" in log or "runtime error" in log:
            raise AssertionError(f"sanitizer report in the log of gregord {self!r}:\n{log}")
        if sig == signal.SIGTERM and rc != 0:
            raise AssertionError(f"gregord {self!r} exited {rc} after SIGTERM:\n{log}")
        return rc

    def kill9(self):
        return self.stop(signal.SIGKILL)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self):
        try:
            with open(self.log_path) as f:
                return f.read()[-6000:]
        except OSError:
            return ""

    def cleanup(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait()
        self._close_log()
        shutil.rmtree(self.dir, ignore_errors=True)


def write_props(path, props):
    """Writes a properties file; a value of None leaves the key out."""
    with open(path, "w") as f:
        for k, v in props.items():
            if v is not None:
                f.write(f"{k}={v}\n")


class Node(_Process):
    """One combined-mode gregord with its own data dir and ports."""

    def __init__(self, overrides=None):
        self.dir = tempfile.mkdtemp(prefix="gregor-it-")
        self.port = free_port()
        self.cport = free_port()
        self.data = os.path.join(self.dir, "data")
        self.conf = os.path.join(self.dir, "server.properties")
        self.log_path = os.path.join(self.dir, "gregord.log")
        self.proc = None
        _nodes.append(self)  # before formatting, so that the directory goes even if that fails
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.cport}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.cport}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "log.dirs": self.data,
            "num.partitions": "1",
        }
        props.update(overrides or {})
        write_props(self.conf, props)
        cid = subprocess.check_output([GREGOR, "storage", "random-uuid"], text=True).strip()
        subprocess.check_output([GREGOR, "storage", "format", "-t", cid, "-c", self.conf],
                                text=True, stderr=subprocess.STDOUT)

    def __repr__(self):
        return f"<node 127.0.0.1:{self.port}>"

    @property
    def bootstrap(self):
        return f"127.0.0.1:{self.port}"

    def start(self, timeout=20):
        self._spawn()
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gregord exited with {self.proc.returncode}:\n{self.log()}")
            # The port is bound at once but connections are accepted only once the broker is
            # unfenced (as Kafka's): ready means Metadata lists this broker.
            try:
                if 1 in metadata(self.bootstrap, timeout=0.5)["brokers"]:
                    return self
            except (OSError, struct.error):
                pass
            time.sleep(0.05)
        raise RuntimeError("gregord did not become ready:\n" + self.log())


def cleanup_all():
    for n in _nodes:
        n.cleanup()
    _nodes.clear()
    for d in _dirs:
        shutil.rmtree(d, ignore_errors=True)
    _dirs.clear()


def gregor(*args, input=None, check=True, timeout=120):
    r = subprocess.run([GREGOR, *args], input=input, capture_output=True, text=True,
                       timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"gregor {' '.join(args)} failed ({r.returncode}):\n"
                             f"{r.stdout}\n{r.stderr}")
    return r


# ---------------------------------------------------------------------------------------------
# Raw Kafka protocol helpers for bad-input tests.

def frame(api_key, version, corr, body=b"", client_id=b"it"):
    hdr = struct.pack(">hhih", api_key, version, corr, len(client_id)) + client_id
    payload = hdr + body
    return struct.pack(">i", len(payload)) + payload


def recv_frame(sock, timeout=5):
    sock.settimeout(timeout)
    buf = b""
    while len(buf) < 4:
        chunk = sock.recv(4 - len(buf))
        if not chunk:
            return None
        buf += chunk
    (n,) = struct.unpack(">i", buf)
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def murmur2(data: bytes) -> int:
    """Java client's murmur2 (org.apache.kafka.common.utils.Utils.murmur2)."""
    length = len(data)
    seed = 0x9747B28C
    m = 0x5BD1E995
    r = 24
    h = (seed ^ length) & 0xFFFFFFFF
    for i in range(length // 4):
        k = struct.unpack_from("<I", data, i * 4)[0]
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF
        h ^= k
    extra = length % 4
    idx = length & ~3
    if extra == 3:
        h ^= data[idx + 2] << 16
    if extra >= 2:
        h ^= data[idx + 1] << 8
    if extra >= 1:
        h ^= data[idx]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h


def java_partition(key: bytes, partitions: int) -> int:
    return (murmur2(key) & 0x7FFFFFFF) % partitions


# ---------------------------------------------------------------------------------------------
# Raw Metadata and CreateTopics, for readiness checks and for asserting exact error codes (the
# CLI goes through librdkafka, which retries NOT_CONTROLLER and rewords errors).

ERR_NONE = 0
ERR_REQUEST_TIMED_OUT = 7
ERR_TOPIC_ALREADY_EXISTS = 36
ERR_NOT_CONTROLLER = 41


class _Reader:
    """Bounds-checked big-endian reader over one response body."""

    def __init__(self, data, off=0):
        self.data = data
        self.off = off

    def take(self, fmt):
        vals = struct.unpack_from(fmt, self.data, self.off)
        self.off += struct.calcsize(fmt)
        return vals[0] if len(vals) == 1 else vals

    def string(self):
        n = self.take(">h")
        if n < 0:
            return None
        if self.off + n > len(self.data):
            raise ValueError("string runs past the end of the response")
        v = self.data[self.off:self.off + n].decode()
        self.off += n
        return v

    def count(self):
        n = self.take(">i")
        if n > len(self.data):
            raise ValueError(f"array count {n} larger than the response")
        return max(n, 0)


def _kstr(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def request(addr, api_key, version, body, timeout=5):
    """Sends one request to host:port and returns the response body after the correlation id.
    Raises OSError (including socket.timeout) when the node does not answer."""
    host, port = addr.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        s.sendall(frame(api_key, version, 1, body))
        resp = recv_frame(s, timeout=timeout)
    if resp is None:
        raise ConnectionError(f"{addr} closed the connection")
    return resp[4:]


def metadata(addr, timeout=5):
    """Metadata v1 for all topics from one broker:
    {"brokers": {id: (host, port, rack)}, "controller_id": int,
     "topics": {name: {"error": int, "partitions": {index: (error, leader, replicas, isr)}}}}"""
    r = _Reader(request(addr, 3, 1, struct.pack(">i", -1), timeout))
    brokers = {}
    for _ in range(r.count()):
        node_id = r.take(">i")
        host = r.string()
        port = r.take(">i")
        brokers[node_id] = (host, port, r.string())
    controller_id = r.take(">i")
    topics = {}
    for _ in range(r.count()):
        err = r.take(">h")
        name = r.string()
        r.take(">?")  # is_internal
        parts = {}
        for _ in range(r.count()):
            perr, index, leader = r.take(">hii")
            replicas = [r.take(">i") for _ in range(r.count())]
            isr = [r.take(">i") for _ in range(r.count())]
            parts[index] = (perr, leader, replicas, isr)
        topics[name] = {"error": err, "partitions": parts}
    return {"brokers": brokers, "controller_id": controller_id, "topics": topics}


def create_topics(addr, names, partitions=1, replication_factor=1, timeout_ms=5000):
    """CreateTopics v4 for names; returns {name: (error_code, error_message)}.  The socket waits
    timeout_ms plus 10 s, so a broker that answers at its deadline is heard."""
    body = struct.pack(">i", len(names))
    for name in names:
        body += _kstr(name) + struct.pack(">ihii", partitions, replication_factor, 0, 0)
    body += struct.pack(">i?", timeout_ms, False)
    r = _Reader(request(addr, 19, 4, body, timeout=timeout_ms / 1000 + 10))
    r.take(">i")  # throttle_time_ms
    out = {}
    for _ in range(r.count()):
        name = r.string()
        err = r.take(">h")
        out[name] = (err, r.string())
    return out


# ---------------------------------------------------------------------------------------------
# `gregor metadata-quorum` output

def _ints(value):
    """The node ids in a CurrentVoters / CurrentObservers value: [1,2,3], or Kafka 3.8's JSON
    form [{"id": 1, "directoryId": ..., "endpoints": [...]}] (whose ports are not ids)."""
    if '"id"' in value:
        return [int(x) for x in re.findall(r'"id"\s*:\s*(-?\d+)', value)]
    return [int(x) for x in re.findall(r"-?\d+", value)]


def parse_quorum_status(text):
    """`describe --status` lines ("Key:  value") as a dict; numbers become ints, the voter and
    observer lists lists of ids."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"\s*([A-Za-z]+):\s*(.*?)\s*$", line)
        if not m:
            continue
        key, value = m.groups()
        if key in ("CurrentVoters", "CurrentObservers"):
            out[key] = _ints(value)
        elif re.fullmatch(r"-?\d+", value):
            out[key] = int(value)
        else:
            out[key] = value
    return out


def parse_quorum_replication(text):
    """`describe --replication` as {node_id: row}, row a dict by column name.  The columns up to
    Lag are read from the left and Status from the right, so a timestamp printed as several
    words ("12 ms ago") does not shift them."""
    lines = [ln.split() for ln in text.splitlines() if ln.strip()]
    hdr_at = next((i for i, ln in enumerate(lines) if ln and ln[0] == "NodeId"), None)
    if hdr_at is None:
        return {}
    hdr = lines[hdr_at]
    left = hdr[:hdr.index("Lag") + 1] if "Lag" in hdr else hdr[:1]
    rows = {}
    for cells in lines[hdr_at + 1:]:
        if len(cells) < len(left) + 1 or not re.fullmatch(r"-?\d+", cells[0]):
            continue
        row = {}
        for name, cell in zip(left, cells):
            row[name] = int(cell) if re.fullmatch(r"-?\d+", cell) else cell
        row["Status"] = cells[-1]
        if len(cells) == len(hdr):
            for name, cell in zip(hdr[len(left):-1], cells[len(left):-1]):
                row[name] = int(cell) if re.fullmatch(r"-?\d+", cell) else cell
        rows[row["NodeId"]] = row
    return rows


# ---------------------------------------------------------------------------------------------
# Clusters

# Short failure-detection settings so fault tests finish quickly (Kafka's defaults are 9000,
# 2000 and 1000 ms).  Cluster(overrides=...) can replace any of them.
CLUSTER_TEST_DEFAULTS = {
    "broker.session.timeout.ms": "3000",
    "broker.heartbeat.interval.ms": "500",
    "controller.quorum.election.timeout.ms": "500",
}


class ClusterNode(_Process):
    """One gregord of a Cluster: controller-only, broker-only or combined.  port is the client
    (PLAINTEXT) port of a broker, cport the controller port of a controller; the other is None.
    start() only spawns the process: readiness is the cluster's (Cluster.wait_ready)."""

    def __init__(self, cluster, node_id, roles, overrides=None):
        self.cluster = cluster
        self.node_id = node_id
        self.roles = roles
        self.is_broker = "broker" in roles
        self.is_controller = "controller" in roles
        self.port = cluster._port() if self.is_broker else None
        self.cport = cluster._port() if self.is_controller else None
        self.eport = cluster._port() if self.is_broker and cluster.external else None
        self.dir = os.path.join(cluster.dir, f"node-{node_id}")
        os.makedirs(self.dir)
        self.data = os.path.join(self.dir, "data")
        self.conf = os.path.join(self.dir, "server.properties")
        self.log_path = os.path.join(self.dir, "gregord.log")
        self.overrides = dict(overrides or {})
        self.proc = None
        _nodes.append(self)

    def __repr__(self):
        return f"<{self.roles} {self.node_id}>"

    @property
    def bootstrap(self):
        return f"127.0.0.1:{self.port}"

    @property
    def metadata_dir(self):
        """The metadata log: NNNNNNNNNNNNNNNNNNNN.rlog segments, hardstate, snapshot."""
        return os.path.join(self.data, "__cluster_metadata-0")

    def write_conf(self):
        listeners = []
        advertised = []
        if self.is_broker:
            listeners.append(f"PLAINTEXT://127.0.0.1:{self.port}")
            advertised.append(f"PLAINTEXT://127.0.0.1:{self.port}")
        if self.eport:
            listeners.append(f"EXTERNAL://127.0.0.1:{self.eport}")
            advertised.append(f"EXTERNAL://localhost:{self.eport}")
        if self.is_controller:
            listeners.append(f"CONTROLLER://127.0.0.1:{self.cport}")
        props = {
            "process.roles": self.roles,
            "node.id": str(self.node_id),
            "controller.quorum.voters": self.cluster.voters,
            "listeners": ",".join(listeners),
            "advertised.listeners": ",".join(advertised) or None,
            "inter.broker.listener.name": "PLAINTEXT" if self.is_broker else None,
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map":
                "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,EXTERNAL:PLAINTEXT",
            "log.dirs": self.data,
            "num.partitions": "1",
            "default.replication.factor": "1",
        }
        props.update(CLUSTER_TEST_DEFAULTS)
        props.update(self.cluster.overrides)
        props.update(self.cluster.role_overrides("controller" if not self.is_broker else
                                                 "broker" if not self.is_controller else
                                                 "combined"))
        props.update(self.overrides)
        write_props(self.conf, props)

    def format(self):
        gregor("storage", "format", "-t", self.cluster.cluster_id, "-c", self.conf)

    def wipe(self):
        """Deletes the (stopped) node's data dir and formats it again with the cluster id."""
        assert not self.alive(), "wipe() needs the node stopped"
        shutil.rmtree(self.data)
        self.format()

    def start(self):
        assert not self.alive(), f"{self!r} is already running"
        self._spawn()
        return self

    def restart(self, sig=signal.SIGTERM):
        self.stop(sig)
        return self.start()


class Cluster:
    """controllers controller-only nodes (ids 1..n) and brokers broker-only nodes (ids n+1..),
    or, with combined=n, n combined nodes (ids 1..n); one cluster id, formatted up front.

    overrides apply to every node (on top of CLUSTER_TEST_DEFAULTS); controller_overrides,
    broker_overrides and combined_overrides to one role; a value of None removes a key.
    Nothing runs until start()."""

    def __init__(self, controllers=3, brokers=3, combined=0, overrides=None,
                 controller_overrides=None, broker_overrides=None, combined_overrides=None,
                 external=False):
        # external: each broker also gets an EXTERNAL listener on its own port, advertised as
        # localhost:eport (PLAINTEXT stays the inter-broker one, advertised as 127.0.0.1)
        self.external = external
        self.dir = tempfile.mkdtemp(prefix="gregor-cluster-")
        _dirs.append(self.dir)
        self.overrides = dict(overrides or {})
        self._role_overrides = {"controller": dict(controller_overrides or {}),
                                "broker": dict(broker_overrides or {}),
                                "combined": dict(combined_overrides or {})}
        self._ports = set()
        self.cluster_id = gregor("storage", "random-uuid").stdout.strip()
        self.nodes = {}
        if combined:
            assert not controllers and not brokers, "combined=n replaces controllers/brokers"
            for i in range(1, combined + 1):
                self.nodes[i] = ClusterNode(self, i, "broker,controller")
        else:
            for i in range(1, controllers + 1):
                self.nodes[i] = ClusterNode(self, i, "controller")
            for i in range(controllers + 1, controllers + brokers + 1):
                self.nodes[i] = ClusterNode(self, i, "broker")
        self.voters = ",".join(f"{n.node_id}@127.0.0.1:{n.cport}" for n in self.controllers)
        for n in self.nodes.values():
            n.write_conf()
            n.format()

    def _port(self):
        for _ in range(100):
            p = free_port()
            if p not in self._ports:
                self._ports.add(p)
                return p
        raise RuntimeError("no free port")

    def role_overrides(self, role):
        return self._role_overrides[role]

    # --- membership -------------------------------------------------------------------------

    @property
    def controllers(self):
        return [n for n in self.nodes.values() if n.is_controller]

    @property
    def brokers(self):
        return [n for n in self.nodes.values() if n.is_broker]

    def running_brokers(self):
        return [n for n in self.brokers if n.alive()]

    def node(self, node_id):
        return self.nodes[node_id]

    def add_broker(self, node_id=None, overrides=None):
        """A new broker-only node with a fresh, formatted data dir (not started).  The voters
        stay as they are: a broker is an observer of the quorum."""
        node_id = node_id or max(self.nodes) + 1
        assert node_id not in self.nodes
        n = ClusterNode(self, node_id, "broker", overrides)
        n.write_conf()
        n.format()
        self.nodes[node_id] = n
        return n

    @property
    def bootstrap(self):
        """The running brokers' addresses, comma-separated (all brokers if none runs)."""
        return ",".join(n.bootstrap for n in (self.running_brokers() or self.brokers))

    # --- lifecycle --------------------------------------------------------------------------

    def start(self, timeout=60):
        """Starts every node that is not running (controllers first) and waits until every
        running broker is ready."""
        for n in self.controllers + [b for b in self.brokers if not b.is_controller]:
            if not n.alive():
                n.start()
        self.wait_ready(timeout=timeout)
        return self

    def stop(self, sig=signal.SIGTERM):
        """Stops every node: brokers first, so their controlled shutdown finds the quorum."""
        for n in [b for b in self.brokers if not b.is_controller] + self.controllers:
            n.stop(sig)

    def check_alive(self):
        """Raises with its log if a node the test started has exited on its own."""
        for n in self.nodes.values():
            if (n.proc is not None and not n.signalled and n.logf is not None
                    and n.proc.poll() is not None):
                n._close_log()
                raise RuntimeError(f"{n!r} exited with {n.proc.returncode}:\n{n.log()}")

    def wait_ready(self, brokers=None, timeout=60):
        """Waits until each of brokers (default: the running ones) answers Metadata listing
        all of them, i.e. every one has registered, caught up and been unfenced."""
        brokers = brokers if brokers is not None else self.running_brokers()
        want = {b.node_id for b in brokers}
        deadline = time.time() + timeout
        seen = {}
        while True:
            self.check_alive()
            for b in brokers:
                try:
                    seen[b.node_id] = set(metadata(b.bootstrap, timeout=1.5)["brokers"])
                except (OSError, ValueError, struct.error) as e:
                    seen[b.node_id] = repr(e)
            if all(isinstance(v, set) and want <= v for v in seen.values()):
                return self
            if time.time() > deadline:
                raise AssertionError(f"brokers {sorted(want)} not ready within {timeout}s; "
                                     f"Metadata seen per broker: {seen}")
            time.sleep(0.2)

    # --- queries ----------------------------------------------------------------------------

    def metadata(self, via=None, timeout=5):
        """Metadata from via (a broker node) or from the first running broker that answers."""
        last = None
        for b in ([via] if via else self.running_brokers()):
            try:
                return metadata(b.bootstrap, timeout=timeout)
            except (OSError, ValueError, struct.error) as e:
                last = e
        raise AssertionError(f"no broker answered Metadata: {last!r}")

    def broker_ids(self, via=None):
        return set(self.metadata(via)["brokers"])

    def topics(self, via=None):
        return set(self.metadata(via)["topics"])

    def _quorum(self, *what):
        """Runs `gregor metadata-quorum describe <what>` against the running brokers in turn;
        the stdout of the first that succeeds, or None."""
        for b in self.running_brokers():
            try:
                r = gregor("metadata-quorum", "--bootstrap-server", b.bootstrap, "describe",
                           *what, check=False, timeout=20)
            except subprocess.TimeoutExpired:
                continue
            if r.returncode == 0:
                return r.stdout
        return None

    def quorum_status(self):
        """`describe --status` as parse_quorum_status gives it, or None if no broker answers."""
        out = self._quorum("--status")
        return parse_quorum_status(out) if out is not None else None

    def quorum_replication(self):
        """`describe --replication` as {node_id: row}, or None if no broker answers."""
        out = self._quorum("--replication")
        return parse_quorum_replication(out) if out is not None else None

    def wait_leader(self, timeout=30, other_than=None, epoch_above=-1):
        """Polls `describe --status` until a running controller leads (not other_than, with a
        LeaderEpoch above epoch_above); returns (leader node, status dict)."""
        deadline = time.time() + timeout
        st = None
        while time.time() < deadline:
            self.check_alive()
            st = self.quorum_status()
            lid = st.get("LeaderId", -1) if st else -1
            if (lid in self.nodes and self.nodes[lid].is_controller and self.nodes[lid].alive()
                    and lid != other_than and st.get("LeaderEpoch", -1) > epoch_above):
                return self.nodes[lid], st
            time.sleep(0.2)
        raise AssertionError(f"no controller leads within {timeout}s (other than {other_than}, "
                             f"epoch > {epoch_above}); last status: {st}")

    def active_controller(self, timeout=30):
        return self.wait_leader(timeout)[0]

    def wait_caught_up(self, node, timeout=30, fetched_since_ms=None):
        """Polls until node's LogEndOffset in `describe --replication` reaches a HighWatermark
        read before it (the high watermark only grows, so this is "caught up at that time").
        With fetched_since_ms (wall-clock ms, taken before the node was started), only a row
        whose LastFetchTimestamp is that recent counts: the leader's row for a restarted node
        shows what it knew before the restart until the node fetches again."""
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            self.check_alive()
            st = self.quorum_status()
            rows = self.quorum_replication() if st else None
            row = rows.get(node.node_id) if rows else None
            last = (st, rows)
            fresh = fetched_since_ms is None or (
                row and isinstance(row.get("LastFetchTimestamp"), int)
                and row["LastFetchTimestamp"] >= fetched_since_ms)
            if (row and fresh and isinstance(row.get("LogEndOffset"), int)
                    and "HighWatermark" in st and row["LogEndOffset"] >= st["HighWatermark"] >= 0):
                return row, st
            time.sleep(0.3)
        raise AssertionError(f"node {node.node_id} did not catch up within {timeout}s; last "
                             f"status and replication: {last}")

    # --- partitions (replication) ------------------------------------------------------------

    def partitions(self, topic, via=None):
        """{partition: (leader, replicas, isr)} of topic, from via or any running broker."""
        return partition_states(self.metadata(via), topic)

    def partition_dir(self, broker, topic, partition):
        """Where broker keeps topic-partition's log: <log.dirs>/<topic>-<partition>."""
        return os.path.join(broker.data, f"{topic}-{partition}")

    def wait_isr_full(self, topic, partitions, timeout=30, via=None):
        """Polls Metadata until each of topic's partitions (there must be `partitions` of them)
        has a leader and an ISR holding every replica, each once; returns the states."""
        deadline = time.time() + timeout
        last = None
        while True:
            self.check_alive()
            try:
                st = self.partitions(topic, via)
                last = st
                if len(st) == partitions and all(
                        leader >= 0 and sorted(isr) == sorted(set(replicas)) == sorted(replicas)
                        for leader, replicas, isr in st.values()):
                    return st
            except (OSError, ValueError, AssertionError, struct.error) as e:
                last = e
            if time.time() > deadline:
                raise AssertionError(f"{topic}: ISR not full within {timeout}s; last "
                                     f"(leader, replicas, isr) per partition: {last!r}")
            time.sleep(0.2)


# ---------------------------------------------------------------------------------------------
# Replication: raw Produce and ListOffsets (exact error codes, one chosen broker), partition
# state from Metadata, and the record batches of a partition's on-disk log.

ERR_NOT_LEADER_OR_FOLLOWER = 6
ERR_NOT_ENOUGH_REPLICAS = 19
ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND = 20
ERR_FENCED_LEADER_EPOCH = 74


def _crc32c_table():
    table = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
        table.append(crc)
    return table


_CRC32C = _crc32c_table()


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc = _CRC32C[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _varint(n):
    """Zig-zag varint, as record fields are written."""
    v = (n << 1) ^ (n >> 63)
    out = b""
    while v >= 0x80:
        out += bytes([(v & 0x7F) | 0x80])
        v >>= 7
    return out + bytes([v])


def record_batch(values, key=None, timestamp_ms=None, producer=(-1, -1, -1)):
    """One uncompressed magic-v2 batch holding a record per value (bytes), no headers, base
    offset 0; producer = (producer id, epoch, base sequence), none by default."""
    ts = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
    k = _varint(-1) if key is None else _varint(len(key)) + key
    recs = b""
    for i, v in enumerate(values):
        body = b"\x00" + _varint(0) + _varint(i) + k + _varint(len(v)) + v + _varint(0)
        recs += _varint(len(body)) + body
    pid, epoch, seq = producer
    after_crc = struct.pack(">hiqqqhii", 0, len(values) - 1, ts, ts, pid, epoch, seq,
                            len(values)) + recs
    head = struct.pack(">qiib", 0, 4 + 1 + 4 + len(after_crc), -1, 2)
    return head + struct.pack(">I", crc32c(after_crc)) + after_crc


def produce(addr, topic, partition, batch, acks=-1, timeout_ms=5000):
    """Produce v3 of one batch to one partition, sent to addr alone (no retries, no leader
    lookup); returns (error_code, base_offset).  Raises OSError when addr does not answer."""
    body = (struct.pack(">hhi", -1, acks, timeout_ms) + struct.pack(">i", 1) + _kstr(topic) +
            struct.pack(">i", 1) + struct.pack(">ii", partition, len(batch)) + batch)
    r = _Reader(request(addr, 0, 3, body, timeout=timeout_ms / 1000 + 10))
    for _ in range(r.count()):
        name = r.string()
        for _ in range(r.count()):
            index, err, base = r.take(">ihq")
            r.take(">q")  # log_append_time
            if name == topic and index == partition:
                return err, base
    raise ValueError(f"Produce response from {addr} does not name {topic}-{partition}")


def list_offset(addr, topic, partition, timestamp=-1, timeout=5):
    """ListOffsets v1 for one partition, sent to addr: (error_code, offset).  timestamp -1 asks
    for the latest offset, which is the high watermark; -2 for the log start."""
    body = (struct.pack(">i", -1) + struct.pack(">i", 1) + _kstr(topic) +
            struct.pack(">i", 1) + struct.pack(">iq", partition, timestamp))
    r = _Reader(request(addr, 2, 1, body, timeout))
    for _ in range(r.count()):
        name = r.string()
        for _ in range(r.count()):
            index, err, _ts, offset = r.take(">ihqq")
            if name == topic and index == partition:
                return err, offset
    raise ValueError(f"ListOffsets response from {addr} does not name {topic}-{partition}")


# A record batch as it sits in a .log segment (magic v2, big-endian):
#
#   0  baseOffset            int64      rewritten by the leader at append
#   8  batchLength           int32      bytes after this field
#  12  partitionLeaderEpoch  int32      the leader's epoch at append; followers keep it
#  16  magic                 int8       2
#  17  crc                   uint32     CRC-32C of attributes .. end
#  21  attributes            int16
#  23  lastOffsetDelta       int32
#  ...
BATCH_HEADER_BYTES = 61


class LogBatch:
    """One batch of a partition log: its offsets, leader epoch and exact bytes."""

    def __init__(self, data, segment, position):
        self.data = data
        self.segment = segment
        self.position = position
        self.base_offset, _, self.leader_epoch = struct.unpack_from(">qii", data, 0)
        self.last_offset = self.base_offset + struct.unpack_from(">i", data, 23)[0]

    def __repr__(self):
        return (f"<batch {self.base_offset}..{self.last_offset} epoch {self.leader_epoch} "
                f"{len(self.data)} B at {os.path.basename(self.segment)}:{self.position}>")


def log_batches(partition_dir):
    """The batches of every NNNNNNNNNNNNNNNNNNNN.log segment in partition_dir, in offset order.
    A batch cut short at the end of a segment (an append in progress) is left out."""
    out = []
    segs = sorted(f for f in os.listdir(partition_dir) if re.fullmatch(r"\d{20}\.log", f))
    for seg in segs:
        path = os.path.join(partition_dir, seg)
        with open(path, "rb") as f:
            data = f.read()
        pos = 0
        while pos + 17 <= len(data):
            (length,) = struct.unpack_from(">i", data, pos + 8)
            end = pos + 12 + length
            if length < BATCH_HEADER_BYTES - 12 or end > len(data):
                break
            out.append(LogBatch(data[pos:end], path, pos))
            pos = end
    return out


def partition_states(md, topic):
    """{partition: (leader, replicas, isr)} of topic in a metadata() answer ({} if absent)."""
    t = md["topics"].get(topic)
    if not t:
        return {}
    return {p: (v[1], v[2], v[3]) for p, v in t["partitions"].items()}
