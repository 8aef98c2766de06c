"""The wire protocol: bad input gets a Kafka error code or a closed connection and the node keeps
serving; pipelining, idle connections, delayed fetches, many clients."""
import socket
import struct

from harness import Node, frame, gregor, recv_frame


def quick(fn):
    fn.quick = True
    return fn


def conn(n):
    return socket.create_connection(("127.0.0.1", n.port), timeout=5)


def closed(sock):
    try:
        return recv_frame(sock, timeout=5) is None
    except (ConnectionResetError, socket.timeout):
        return True


def still_serves(n):
    with conn(n) as s:
        s.sendall(frame(18, 0, 7))
        resp = recv_frame(s)
        assert resp is not None and struct.unpack(">i", resp[:4])[0] == 7
        assert struct.unpack(">h", resp[4:6])[0] == 0  # error_code NONE


def produce_body(topic, records, acks=1):
    t = topic.encode()
    return (struct.pack(">h", -1) + struct.pack(">hi", acks, 5000) + struct.pack(">i", 1) +
            struct.pack(">h", len(t)) + t + struct.pack(">i", 1) + struct.pack(">i", 0) +
            struct.pack(">i", len(records)) + records)


def produce_error(n, topic, records):
    with conn(n) as s:
        s.sendall(frame(0, 3, 1, produce_body(topic, records)))
        resp = recv_frame(s)
    assert resp is not None, "connection closed instead of an error code"
    # corr | topics[1] | name | partitions[1] | index | error_code
    off = 4 + 4
    (tlen,) = struct.unpack_from(">h", resp, off)
    off += 2 + tlen + 4 + 4
    return struct.unpack_from(">h", resp, off)[0]


def zz(n):
    """Zig-zag varint."""
    v = (n << 1) ^ (n >> 63)
    out = b""
    while v >= 0x80:
        out += bytes([(v & 0x7F) | 0x80])
        v >>= 7
    return out + bytes([v])


def valid_batch(value=b"v"):
    """One uncompressed magic-v2 batch with one record (key null, no headers)."""
    rec = b"\x00" + zz(0) + zz(0) + zz(-1) + zz(len(value)) + value + zz(0)
    after_crc = (struct.pack(">hiqqqhii", 0, 0, 1700000000000, 1700000000000, -1, -1, -1, 1) +
                 zz(len(rec)) + rec)
    head = struct.pack(">qiib", 0, 4 + 1 + 4 + len(after_crc), -1, 2)
    return head + struct.pack(">I", crc32c(after_crc)) + after_crc


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


@quick
def test_garbage_and_oversized_frames_close_only_that_connection():
    n = Node({"socket.request.max.bytes": "1048576"}).start()
    with conn(n) as s:
        s.sendall(struct.pack(">i", 50 * 1024 * 1024) + b"xxxx")
        assert closed(s)
    with conn(n) as s:
        s.sendall(struct.pack(">i", 12) + b"\xff" * 12)  # unknown api key
        assert closed(s)
    with conn(n) as s:
        s.sendall(frame(3, 99, 1))  # Metadata v99
        assert closed(s)
    with conn(n) as s:
        s.sendall(frame(3, 1, 1, b"\x00\x00\x00\x05\x00"))  # truncated topic array
        assert closed(s)
    with conn(n) as s:
        s.sendall(struct.pack(">i", -5))
        assert closed(s)
    with conn(n) as s:
        s.sendall(b"\x00\x00\x00\x03abc")  # frame shorter than a header
        assert closed(s)
    still_serves(n)
    n.stop()


@quick
def test_api_versions_unsupported_version_gets_v0_error_body():
    n = Node().start()
    with conn(n) as s:
        s.sendall(frame(18, 77, 3))
        resp = recv_frame(s)
    corr, err, count = struct.unpack_from(">ihi", resp)
    assert corr == 3 and err == 35 and count > 0
    keys = {}
    for i in range(count):
        k, lo, hi = struct.unpack_from(">hhh", resp, 10 + 6 * i)
        keys[k] = (lo, hi)
    assert 18 in keys and keys[18][0] == 0
    n.stop()


@quick
def test_bad_batches_get_error_codes():
    n = Node().start()
    gregor("topics", "--bootstrap-server", n.bootstrap, "--create", "--topic", "bad",
           "--partitions", "1", "--replication-factor", "1")
    good = valid_batch()
    assert produce_error(n, "bad", good) == 0
    corrupt = bytearray(good)
    corrupt[-1] ^= 0xFF
    assert produce_error(n, "bad", bytes(corrupt)) == 2  # CORRUPT_MESSAGE
    old = bytearray(good)
    old[16] = 1
    assert produce_error(n, "bad", bytes(old)) == 43  # UNSUPPORTED_FOR_MESSAGE_FORMAT
    assert produce_error(n, "bad", good[:30]) == 2
    assert produce_error(n, "no_such_topic", good) == 3  # UNKNOWN_TOPIC_OR_PARTITION
    big = Node({"message.max.bytes": "200"}).start()
    gregor("topics", "--bootstrap-server", big.bootstrap, "--create", "--topic", "b",
           "--partitions", "1", "--replication-factor", "1")
    assert produce_error(big, "b", valid_batch(b"v" * 1000)) == 10  # MESSAGE_TOO_LARGE
    assert produce_error(big, "b", valid_batch(b"small")) == 0
    still_serves(n)
    big.stop()
    n.stop()


@quick
def test_illegal_topic_names():
    n = Node().start()
    for name in [".", "..", "a" * 250, "has space", "slash/"]:
        r = gregor("topics", "--bootstrap-server", n.bootstrap, "--create", "--topic", name,
                   "--partitions", "1", "--replication-factor", "1", check=False)
        assert r.returncode != 0, name
    still_serves(n)
    n.stop()


@quick
def test_pipelined_requests_answered_in_order_and_idle_close():
    n = Node({"connections.max.idle.ms": "700"}).start()
    with conn(n) as s:
        # ApiVersions v0, Metadata v0 (all topics), ApiVersions v3 — as kafka-python pipelines
        s.sendall(frame(18, 0, 1) + frame(3, 0, 2, struct.pack(">i", 0)) +
                  frame(18, 3, 3, b"\x00\x07gregor\x04it1\x00"))  # header tags + body
        got = [struct.unpack(">i", recv_frame(s)[:4])[0] for _ in range(3)]
        assert got == [1, 2, 3], got
        # then stay quiet: the broker closes the idle connection
        assert closed(s) or recv_frame(s, timeout=3) is None
    still_serves(n)
    n.stop()


def fetch_v4(topic, partition, offset, max_wait_ms, min_bytes):
    t = topic.encode()
    body = (struct.pack(">iiiib", -1, max_wait_ms, min_bytes, 1 << 20, 0) + struct.pack(">i", 1) +
            struct.pack(">h", len(t)) + t + struct.pack(">i", 1) +
            struct.pack(">iqi", partition, offset, 1 << 20))
    return frame(1, 4, 9, body)


@quick
def test_delayed_fetch_waits_for_min_bytes_and_wakes_on_append():
    import time
    n = Node().start()
    gregor("topics", "--bootstrap-server", n.bootstrap, "--create", "--topic", "wait",
           "--partitions", "1", "--replication-factor", "1")
    with conn(n) as s:
        # nothing to read: the fetch parks for max_wait_ms, then answers empty
        t0 = time.time()
        s.sendall(fetch_v4("wait", 0, 0, 600, 1))
        resp = recv_frame(s, timeout=10)
        assert resp is not None and time.time() - t0 >= 0.5, time.time() - t0
        # parked for a long time, woken by an append from another connection
        t0 = time.time()
        s.sendall(fetch_v4("wait", 0, 0, 30000, 1))
        time.sleep(0.2)
        assert produce_error(n, "wait", valid_batch(b"wake")) == 0
        resp = recv_frame(s, timeout=20)
        assert resp is not None and time.time() - t0 < 15, "fetch was not woken by the append"
        assert b"wake" in resp
    n.stop()


@quick
def test_many_concurrent_clients():
    n = Node().start()
    socks = [conn(n) for _ in range(200)]
    for i, s in enumerate(socks):
        s.sendall(frame(18, 0, i))
    for i, s in enumerate(socks):
        resp = recv_frame(s)
        assert resp is not None and struct.unpack(">i", resp[:4])[0] == i
        s.close()
    still_serves(n)
    n.stop()


def mutate(rng, data):
    b = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        op = rng.randrange(4)
        if op == 0 and b:
            b[rng.randrange(len(b))] = rng.randrange(256)
        elif op == 1 and len(b) > 1:
            del b[rng.randrange(len(b)):]
        elif op == 2:
            pos = rng.randrange(len(b) + 1)
            b[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif b:
            pos = rng.randrange(len(b))
            b[pos:pos + 4] = rng.choice([b"\xff\xff\xff\xff", b"\x7f\xff\xff\xff", b"\x00\x00\x00\x00",
                                         b"\x80\x00\x00\x00"])
    return bytes(b)


@quick
def test_mutated_requests_never_crash_the_node():
    """Seeded mutations of valid requests of every advertised API, each on its own connection;
    the node must answer or close, and keep serving (under ASan in the sanitizer tier)."""
    import os
    import random
    n = Node().start()
    gregor("topics", "--bootstrap-server", n.bootstrap, "--create", "--topic", "fz",
           "--partitions", "2", "--replication-factor", "1")
    t = b"fz"
    seeds = [
        frame(18, 0, 1), frame(18, 3, 1, b"\x00\x07gregor\x04it1\x00"),
        frame(3, 0, 1, struct.pack(">i", 1) + struct.pack(">h", 2) + t),
        frame(3, 9, 1, b"\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
                       b"\x03fz\x00\x01\x00\x00\x00"),
        frame(0, 3, 1, produce_body("fz", valid_batch(b"seed"))),
        fetch_v4("fz", 0, 0, 0, 1),
        frame(2, 1, 1, struct.pack(">ii", -1, 1) + struct.pack(">h", 2) + t +
              struct.pack(">iiq", 1, 0, -1)),
        frame(19, 0, 1, struct.pack(">i", 1) + struct.pack(">h", 3) + b"new" +
              struct.pack(">ihii", 1, 1, 0, 0) + struct.pack(">i", 1000)),
        frame(20, 0, 1, struct.pack(">i", 1) + struct.pack(">h", 3) + b"new" +
              struct.pack(">i", 1000)),
        frame(32, 0, 1, struct.pack(">i", 1) + struct.pack(">bh", 2, 2) + t + struct.pack(">i", -1)),
        # CreatePartitions v0, AlterConfigs v0, IncrementalAlterConfigs v0 (forwarded to the
        # controller), DescribeQuorum v0 (flexible: header v2)
        frame(37, 0, 1, struct.pack(">ih", 1, 2) + t + struct.pack(">iiib", 3, -1, 1000, 0)),
        frame(33, 0, 1, struct.pack(">ibh", 1, 2, 2) + t + struct.pack(">ih", 1, 12) +
              b"retention.ms" + struct.pack(">h", 4) + b"1000" + b"\x00"),
        frame(44, 0, 1, struct.pack(">ibh", 1, 2, 2) + t + struct.pack(">ih", 1, 12) +
              b"retention.ms" + struct.pack(">bh", 0, 4) + b"1000" + b"\x00"),
        frame(55, 0, 1, b"\x00\x02\x13__cluster_metadata\x02" + struct.pack(">i", 0) +
              b"\x00\x00\x00"),
    ]
    rng = random.Random(20261127)
    for i in range(int(os.environ.get("MUTATIONS", "1500"))):
        data = mutate(rng, rng.choice(seeds))
        with conn(n) as s:
            try:
                s.sendall(data)
                s.shutdown(socket.SHUT_WR)
                s.settimeout(2)
                while s.recv(65536):
                    pass
            except OSError:
                pass
        if i % 250 == 0:
            assert n.alive(), f"gregord died on input {i}: {data!r}\n{n.log()}"
    assert n.alive(), n.log()
    still_serves(n)
    n.stop()


@quick
def test_api_versions_v3_and_v4_flexible_and_kip511():
    n = Node().start()
    for v in (3, 4):
        with conn(n) as s:
            s.sendall(frame(18, v, 5, b"\x00\x07gregor\x04it1\x00"))
            resp = recv_frame(s)
            corr, err = struct.unpack_from(">ih", resp)
            assert corr == 5 and err == 0, (v, err)
            count = resp[6] - 1  # compact array: N+1 (fewer than 127 keys)
            keys = {struct.unpack_from(">h", resp, 7 + 7 * i)[0] for i in range(count)}
            assert {0, 1, 2, 3, 18, 19, 20, 32} <= keys, keys
        with conn(n) as s:  # KIP-511: an illegal software name is INVALID_REQUEST
            s.sendall(frame(18, v, 6, b"\x00\x05-bad\x04it1\x00"))
            resp = recv_frame(s)
            assert struct.unpack_from(">ih", resp) == (6, 42)
    n.stop()


@quick
def test_fetch_max_bytes_caps_responses():
    n = Node({"fetch.max.bytes": "1024"}).start()
    gregor("topics", "--bootstrap-server", n.bootstrap, "--create", "--topic", "cap",
           "--partitions", "1", "--replication-factor", "1")
    for i in range(30):
        assert produce_error(n, "cap", valid_batch(b"x" * 200)) == 0
    with conn(n) as s:
        s.sendall(fetch_v4("cap", 0, 0, 0, 1))  # asks for 1 MiB
        resp = recv_frame(s)
    assert resp is not None and 600 <= len(resp) < 1024 + 400, len(resp)  # whole batches, <= cap
    n.stop()
