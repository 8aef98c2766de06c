#!/usr/bin/env python3
"""replication_drill.py — issue #4's acceptance drill at full size, on a loopback cluster.

3 controllers + 3 brokers on 127.0.0.1 (the integration harness), a topic with 6 partitions,
replication factor 3 and min.insync.replicas=2.  A librdkafka producer (confluent-kafka, acks=all,
retries on) writes RECORDS numbered records while a random broker is killed -9 and restarted,
ROUNDS times, every few seconds.  Then:
  - every acknowledged record is read back at exactly its acknowledged (partition, offset);
  - with IDEMPOTENCE=1 no value is stored twice;
  - once the ISR is full again, every partition's log below the high watermark is
    byte-identical on its three replicas.
Prints a report; exits 1 on any violation.  Not part of `make test` (it runs for minutes):

    RECORDS=200000 ROUNDS=10 IDEMPOTENCE=1 /usr/bin/python3 tests/drills/replication_drill.py
"""
import os
import random
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))

import harness  # noqa: E402
import tests_replication as tr  # noqa: E402


def main():
    records = int(os.environ.get("RECORDS", "200000"))
    rounds = int(os.environ.get("ROUNDS", "10"))
    idem = os.environ.get("IDEMPOTENCE", "1") == "1"
    rate = int(os.environ.get("RATE", "2000"))
    seed = int(os.environ.get("GREGOR_TEST_SEED") or random.randrange(1 << 31))
    rng = random.Random(seed)
    topic, partitions = "drill", 6
    print(f"drill: {records} records, {rounds} kill -9 rounds, idempotence "
          f"{'on' if idem else 'off'}, seed {seed}", flush=True)
    c = harness.Cluster(controllers=3, brokers=3).start()
    try:
        tr.create_topic(c.bootstrap, topic, partitions, 3, "min.insync.replicas=2")
        tr.wait_leaders(c, topic, partitions)
        c.wait_isr_full(topic, partitions)
        t0 = time.time()
        prod = tr.NumberedProducer(c.bootstrap, topic, records, rate_per_s=rate,
                                   conf={"enable.idempotence": idem}).start()
        tr.wait_acked(c, prod, 1000, "before the first kill")
        kills = []
        for _ in range(rounds):
            victim = rng.choice(c.brokers)
            t_kill = time.time()
            victim.kill9()
            acked_at_kill = len(prod.acked)
            while time.time() < t_kill + 4:
                c.check_alive()
                time.sleep(0.1)
            victim.start()
            c.wait_ready(brokers=[victim], timeout=60)
            kills.append((victim.node_id, round(t_kill - t0, 1), acked_at_kill))
            while time.time() < t_kill + 8:
                c.check_alive()
                time.sleep(0.1)
        prod.join()
        elapsed = time.time() - t0
        ok = not prod.failed and len(prod.acked) == records
        c.wait_isr_full(topic, partitions, timeout=120)
        hws = tr.check_replicas_identical(c, topic, partitions)
        got = tr.read_partitions(c.bootstrap, topic, hws)
        lost = [v for v, po in prod.acked.items() if got.get(po) != v]
        seen = {}
        for po, v in got.items():
            seen[v] = seen.get(v, 0) + 1
        twice = sum(1 for n in seen.values() if n > 1)
        stored = sum(hws.values())
        print(f"drill: {elapsed:.0f} s; kills (broker, at s, acked by then): {kills}")
        print(f"drill: acknowledged {len(prod.acked)}/{records}, failed {len(prod.failed)}, "
              f"lost {len(lost)}, stored {stored}, values stored twice {twice}, "
              f"replicas byte-identical below the high watermark: yes ({hws})")
        if not ok or lost or (idem and twice):
            print("drill: FAILED", flush=True)
            return 1
        print("drill: OK", flush=True)
        return 0
    finally:
        c.stop()
        harness.cleanup_all()


if __name__ == "__main__":
    sys.exit(main())
