#!/usr/bin/python3
"""Integration tests: real gregord processes driven by real clients (kcat, librdkafka through
confluent-kafka, kafka-python, and the gregor CLI).

    python3 tests/integration/run.py [--quick] [-k NAME]

--quick runs the subset used for the sanitizer pass.  Prints 'N passed, N failed' at the end.
"""
import argparse
import os
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import tests_basic  # noqa: E402
import tests_clients  # noqa: E402
import tests_cluster  # noqa: E402
import tests_configs  # noqa: E402
import tests_durability  # noqa: E402
import tests_groups  # noqa: E402
import tests_groups_clients  # noqa: E402
import tests_idempotence  # noqa: E402
import tests_leader_election  # noqa: E402
import tests_protocol  # noqa: E402
import tests_replication  # noqa: E402

MODULES = [tests_basic, tests_clients, tests_configs, tests_durability, tests_idempotence,
           tests_protocol, tests_cluster, tests_replication, tests_leader_election,
           tests_groups, tests_groups_clients]


def collect(quick):
    out = []
    for m in MODULES:
        for name in sorted(dir(m)):
            if not name.startswith("test_"):
                continue
            fn = getattr(m, name)
            if quick and not getattr(fn, "quick", False):
                continue
            out.append((f"{m.__name__}.{name}", fn))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("-k", default="")
    args = ap.parse_args()
    tests = [t for t in collect(args.quick) if args.k in t[0]]
    passed = failed = 0
    for name, fn in tests:
        t0 = time.time()
        try:
            fn()
            passed += 1
            print(f"PASS {name} ({time.time() - t0:.1f}s)", flush=True)
        except Exception:  # noqa: BLE001 - report every failure and go on
            failed += 1
            print(f"FAIL {name} ({time.time() - t0:.1f}s)", flush=True)
            traceback.print_exc()
            for n in harness._nodes:
                print(f"--- gregord log ({n.dir}) ---\n{n.log()}", flush=True)
        finally:
            harness.cleanup_all()
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
