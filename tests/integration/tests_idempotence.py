"""Idempotent producers: InitProducerId hands out ids from blocks the controller commits to the
metadata log; a partition leader answers a retried batch with its original offset, refuses a
sequence gap and an older producer epoch; the state survives a restart (rebuilt from the log)
and a leader change (followers keep it from the batches they replicate).  Raw requests, so the
error codes are checked exactly."""
import struct

import harness
from harness import Cluster, Node, gregor, produce, record_batch, request

ERR_NONE = 0
ERR_OUT_OF_ORDER_SEQUENCE_NUMBER = 45
ERR_INVALID_PRODUCER_EPOCH = 47
ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED = 53


def quick(fn):
    fn.quick = True
    return fn


def init_producer_id(addr, transactional_id=None):
    """InitProducerId v1: (error, producer id, epoch)."""
    tid = struct.pack(">h", -1) if transactional_id is None else \
        struct.pack(">h", len(transactional_id)) + transactional_id.encode()
    body = request(addr, 22, 1, tid + struct.pack(">i", 60000))
    _throttle, err, pid, epoch = struct.unpack_from(">ihqh", body, 0)
    return err, pid, epoch


def init_ok(addr):
    for _ in range(100):  # the broker may still be fetching its first block of ids
        err, pid, epoch = init_producer_id(addr)
        if err == ERR_NONE:
            return pid, epoch
        import time
        time.sleep(0.05)
    raise AssertionError(f"InitProducerId kept answering {err}")


def send(addr, topic, pid, epoch, seq, values):
    return produce(addr, topic, 0, record_batch(values, producer=(pid, epoch, seq)), acks=-1)


@quick
def test_duplicates_gaps_and_old_epochs_single_node():
    n = Node().start()
    gregor("topics", "--bootstrap-server", n.bootstrap, "--create", "--topic", "idem",
           "--partitions", "1", "--replication-factor", "1")
    err, _, _ = init_producer_id(n.bootstrap, "my-txn")
    assert err == ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED, err
    pid, epoch = init_ok(n.bootstrap)
    pid2, _ = init_ok(n.bootstrap)
    assert pid2 != pid and epoch == 0
    assert send(n.bootstrap, "idem", pid, 0, 0, [b"a", b"b"]) == (ERR_NONE, 0)
    assert send(n.bootstrap, "idem", pid, 0, 0, [b"a", b"b"]) == (ERR_NONE, 0)  # a retry
    assert send(n.bootstrap, "idem", pid, 0, 2, [b"c"]) == (ERR_NONE, 2)
    assert send(n.bootstrap, "idem", pid, 0, 5, [b"gap"])[0] == ERR_OUT_OF_ORDER_SEQUENCE_NUMBER
    assert send(n.bootstrap, "idem", pid2, 0, 0, [b"other"]) == (ERR_NONE, 3)
    # the state is rebuilt from the log at start: the retry is still recognised
    n.stop()
    n.start()
    assert send(n.bootstrap, "idem", pid, 0, 2, [b"c"]) == (ERR_NONE, 2)
    assert send(n.bootstrap, "idem", pid, 0, 3, [b"d"]) == (ERR_NONE, 4)
    # a newer epoch starts again at sequence 0; the older one is fenced
    assert send(n.bootstrap, "idem", pid, 1, 0, [b"e"]) == (ERR_NONE, 5)
    assert send(n.bootstrap, "idem", pid, 0, 4, [b"f"])[0] == ERR_INVALID_PRODUCER_EPOCH
    n.stop()


@quick
def test_a_new_leader_recognises_retries_it_replicated():
    c = Cluster(controllers=1, brokers=3).start()
    gregor("topics", "--bootstrap-server", c.bootstrap, "--create", "--topic", "idem3",
           "--partitions", "1", "--replication-factor", "3", "--config", "min.insync.replicas=2")
    leader_id = c.wait_isr_full("idem3", 1)[0][0]
    leader = c.node(leader_id)
    pid, _ = init_ok(leader.bootstrap)
    assert send(leader.bootstrap, "idem3", pid, 0, 0, [b"x", b"y"]) == (ERR_NONE, 0)
    leader.kill9()
    other = next(b for b in c.brokers if b is not leader)

    def new_leader():
        parts = c.partitions("idem3", via=other)
        return parts[0][0] if parts[0][0] not in (leader_id, -1) else None
    import time
    deadline = time.time() + 30
    nl = None
    while time.time() < deadline and nl is None:
        try:
            nl = new_leader()
        except Exception:
            pass
        time.sleep(0.1)
    assert nl is not None, "no new leader"
    # the producer's retry of the acknowledged batch lands on the new leader: same offset
    assert send(c.node(nl).bootstrap, "idem3", pid, 0, 0, [b"x", b"y"]) == (ERR_NONE, 0)
    assert send(c.node(nl).bootstrap, "idem3", pid, 0, 2, [b"z"]) == (ERR_NONE, 2)
    c.stop()
