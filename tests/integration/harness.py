"""Integration-test harness: real gregord processes on 127.0.0.1 with free ports.

Every node a test starts is registered and stopped (by PID) when the run ends, whatever
happened.  Nothing here talks to anything but loopback.
"""
import os
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


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Node:
    """One combined-mode gregord with its own data dir and ports."""

    def __init__(self, overrides=None):
        self.dir = tempfile.mkdtemp(prefix="gregor-it-")
        self.port = free_port()
        self.cport = free_port()
        self.data = os.path.join(self.dir, "data")
        self.conf = os.path.join(self.dir, "server.properties")
        self.log_path = os.path.join(self.dir, "gregord.log")
        self.proc = None
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
        with open(self.conf, "w") as f:
            for k, v in props.items():
                f.write(f"{k}={v}\n")
        cid = subprocess.check_output([GREGOR, "storage", "random-uuid"], text=True).strip()
        subprocess.check_output([GREGOR, "storage", "format", "-t", cid, "-c", self.conf],
                                text=True, stderr=subprocess.STDOUT)
        _nodes.append(self)

    @property
    def bootstrap(self):
        return f"127.0.0.1:{self.port}"

    def start(self, timeout=20):
        self.logf = open(self.log_path, "a")
        self.proc = subprocess.Popen([GREGORD, self.conf], stdout=self.logf, stderr=self.logf)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gregord exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("gregord did not start listening:\n" + self.log())

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if not self.proc or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
            raise RuntimeError("gregord did not stop within %ds" % timeout)
        finally:
            self.logf.close()
        log = self.log()
        if "Sanitizer" in log or "runtime error" in log:
            raise AssertionError("sanitizer report in gregord's log:\n" + log)
        if sig == signal.SIGTERM and rc != 0:
            raise AssertionError(f"gregord exited {rc} after SIGTERM:\n{log}")
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
        shutil.rmtree(self.dir, ignore_errors=True)


def cleanup_all():
    for n in _nodes:
        n.cleanup()
    _nodes.clear()


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
