"""Durability: SIGTERM and kill -9 lose no acknowledged record; offsets continue; retention."""
import threading
import time

from harness import Node, gregor


def quick(fn):
    fn.quick = True
    return fn


def produce_numbered(bootstrap, topic, start, count, acked, stop_evt=None, acks="all"):
    """Produces numbered records, recording (partition, offset) of every acknowledged one."""
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": bootstrap, "acks": acks, "linger.ms": 2,
                  "message.timeout.ms": 10000, "retries": 0})

    def cb(err, msg):
        if err is None:
            acked[int(msg.value())] = (msg.partition(), msg.offset())

    for i in range(start, start + count):
        if stop_evt is not None and stop_evt.is_set():
            break
        while True:
            try:
                p.produce(topic, key=str(i).encode(), value=str(i).encode(), on_delivery=cb)
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
    p.flush(15)


def read_all(bootstrap, topic, partitions):
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "verify",
                  "enable.auto.commit": False, "enable.partition.eof": True})
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    got = {}
    eof = set()
    deadline = time.time() + 60
    while len(eof) < partitions and time.time() < deadline:
        m = c.poll(1)
        if m is None:
            continue
        if m.error():
            if m.error().code() == -191:  # _PARTITION_EOF
                eof.add(m.partition())
            continue
        got[(m.partition(), m.offset())] = int(m.value())
    c.close()
    return got


@quick
def test_sigterm_restart_keeps_everything():
    n = Node().start()
    gregor("topics", "--bootstrap-server", n.bootstrap, "--create", "--topic", "dur",
           "--partitions", "3", "--replication-factor", "1")
    acked = {}
    produce_numbered(n.bootstrap, "dur", 0, 3000, acked)
    assert len(acked) == 3000
    assert n.stop() == 0, "gregord did not exit 0 on SIGTERM"
    assert "shut down cleanly" in n.log()
    n.start()
    produce_numbered(n.bootstrap, "dur", 3000, 1000, acked)
    got = read_all(n.bootstrap, "dur", 3)
    for v, po in acked.items():
        assert got.get(po) == v, (v, po, got.get(po))
    assert len(got) == 4000
    n.stop()


def test_kill9_during_produce_loses_no_acked_record():
    n = Node().start()
    gregor("topics", "--bootstrap-server", n.bootstrap, "--create", "--topic", "k9",
           "--partitions", "3", "--replication-factor", "1")
    acked = {}
    stop = threading.Event()
    t = threading.Thread(target=produce_numbered,
                         args=(n.bootstrap, "k9", 0, 10**7, acked, stop))
    t.start()
    deadline = time.time() + 30
    while len(acked) < 20000 and time.time() < deadline:
        time.sleep(0.05)
    n.kill9()
    stop.set()
    t.join(60)
    before = dict(acked)
    assert len(before) >= 1000, len(before)
    n.start()
    got = read_all(n.bootstrap, "k9", 3)
    lost = [v for v, po in before.items() if got.get(po) != v]
    assert not lost, f"{len(lost)} acknowledged records lost, e.g. {lost[:5]}"
    # offsets continue where they were
    more = {}
    produce_numbered(n.bootstrap, "k9", 10**8, 300, more)
    ends = {}
    for (p, o) in got:
        ends[p] = max(ends.get(p, -1), o)
    for v, (p, o) in more.items():
        assert o > ends.get(p, -1), (p, o, ends.get(p))
    n.stop()


def test_retention_by_time_moves_log_start():
    from confluent_kafka import Consumer, Producer, TopicPartition
    n = Node({"log.retention.check.interval.ms": "300"}).start()
    gregor("topics", "--bootstrap-server", n.bootstrap, "--create", "--topic", "ret",
           "--partitions", "1", "--replication-factor", "1",
           "--config", "retention.ms=1000", "--config", "segment.bytes=2048")
    p = Producer({"bootstrap.servers": n.bootstrap, "linger.ms": 0})
    for i in range(200):
        p.produce("ret", value=("x" * 100) + str(i))
        p.flush()
    c = Consumer({"bootstrap.servers": n.bootstrap, "group.id": "r"})
    lo, hi = c.get_watermark_offsets(TopicPartition("ret", 0), timeout=10)
    assert hi == 200
    deadline = time.time() + 20
    while time.time() < deadline:
        lo, hi = c.get_watermark_offsets(TopicPartition("ret", 0), timeout=10)
        if lo > 0:
            break
        time.sleep(0.3)
    c.close()
    assert lo > 0, "log start offset did not move"
    assert "retention deleted" in n.log()
    n.stop()


@quick
def test_stale_partition_dirs_are_removed_at_start():
    import os
    n = Node().start()
    gregor("topics", "--bootstrap-server", n.bootstrap, "--create", "--topic", "keep",
           "--partitions", "1", "--replication-factor", "1")
    n.stop()
    ghost = os.path.join(n.data, "ghost-0")
    os.makedirs(ghost)
    open(os.path.join(ghost, "00000000000000000000.log"), "wb").close()
    n.start()
    assert not os.path.exists(ghost), "stale partition dir survived start-up"
    assert os.path.isdir(os.path.join(n.data, "keep-0"))
    assert os.path.isdir(os.path.join(n.data, "__cluster_metadata-0"))
    assert "removed ghost-0" in n.log()
    n.stop()
