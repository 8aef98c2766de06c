"""Topic administration through the gregor CLI, and the console producer/consumer."""
from harness import Node, gregor, java_partition


def quick(fn):
    fn.quick = True
    return fn


@quick
def test_topics_create_list_describe_delete():
    n = Node().start()
    bs = n.bootstrap
    r = gregor("topics", "--bootstrap-server", bs, "--create", "--topic", "first_topic",
               "--partitions", "3", "--replication-factor", "1")
    assert "Created topic first_topic." in r.stdout, r.stdout
    r = gregor("topics", "--bootstrap-server", bs, "--create", "--topic", "first_topic",
               "--partitions", "3", "--replication-factor", "1", check=False)
    assert r.returncode != 0 and "already exists" in (r.stdout + r.stderr), r
    gregor("topics", "--bootstrap-server", bs, "--create", "--topic", "cfg_topic",
           "--partitions", "1", "--replication-factor", "1", "--config", "retention.ms=12345")
    r = gregor("topics", "--bootstrap-server", bs, "--list")
    assert r.stdout.split() == ["cfg_topic", "first_topic"], r.stdout
    r = gregor("topics", "--bootstrap-server", bs, "--describe", "--topic", "first_topic")
    assert "PartitionCount: 3" in r.stdout and "ReplicationFactor: 1" in r.stdout, r.stdout
    import re
    m = re.search(r"TopicId: ([A-Za-z0-9_-]{22})\t", r.stdout)
    assert m, r.stdout
    with open(f"{n.data}/first_topic-0/partition.metadata") as f:
        assert f"topic_id: {m.group(1)}" in f.read()
    for p in range(3):
        assert f"Partition: {p}\tLeader: 1\tReplicas: 1\tIsr: 1" in r.stdout, r.stdout
    r = gregor("topics", "--bootstrap-server", bs, "--describe", "--topic", "cfg_topic")
    assert "retention.ms=12345" in r.stdout, r.stdout
    r = gregor("topics", "--bootstrap-server", bs, "--create", "--topic", "bad/name",
               "--partitions", "1", "--replication-factor", "1", check=False)
    assert r.returncode != 0, r
    r = gregor("topics", "--bootstrap-server", bs, "--create", "--topic", "rf3",
               "--partitions", "1", "--replication-factor", "3", check=False)
    assert r.returncode != 0 and "replication factor" in (r.stdout + r.stderr).lower(), r
    gregor("topics", "--bootstrap-server", bs, "--delete", "--topic", "first_topic")
    r = gregor("topics", "--bootstrap-server", bs, "--list")
    assert r.stdout.split() == ["cfg_topic"], r.stdout
    n.stop()


@quick
def test_alter_partitions_grows_a_topic_and_survives_restart():
    import subprocess
    n = Node().start()
    bs = n.bootstrap
    gregor("topics", "--bootstrap-server", bs, "--create", "--topic", "grow",
           "--partitions", "2", "--replication-factor", "1")
    gregor("topics", "--bootstrap-server", bs, "--alter", "--topic", "grow", "--partitions", "4")
    r = gregor("topics", "--bootstrap-server", bs, "--alter", "--topic", "grow",
               "--partitions", "3", check=False)
    assert r.returncode != 0 and "Topic currently has 4 partitions, which is higher than the " \
        "requested 3." in (r.stdout + r.stderr), r
    subprocess.run(["kcat", "-P", "-b", bs, "-t", "grow", "-p", "3"], input=b"in-p3\n",
                   check=True, timeout=30)
    n.stop()
    n.start()
    r = gregor("topics", "--bootstrap-server", bs, "--describe", "--topic", "grow")
    assert "PartitionCount: 4" in r.stdout, r.stdout
    out = subprocess.run(["kcat", "-C", "-b", bs, "-t", "grow", "-p", "3", "-e", "-q"],
                         capture_output=True, check=True, timeout=30).stdout
    assert out == b"in-p3\n", out
    n.stop()


@quick
def test_console_producer_consumer_keys_partitioning():
    n = Node().start()
    bs = n.bootstrap
    gregor("topics", "--bootstrap-server", bs, "--create", "--topic", "keyed",
           "--partitions", "4", "--replication-factor", "1")
    lines = [f"key{i}:value{i}" for i in range(200)]
    gregor("console-producer", "--bootstrap-server", bs, "--topic", "keyed",
           "--property", "parse.key=true", "--property", "key.separator=:",
           "--producer-property", "acks=all", input="\n".join(lines) + "\n")
    r = gregor("console-consumer", "--bootstrap-server", bs, "--topic", "keyed",
               "--from-beginning", "--max-messages", "200", "--timeout-ms", "10000",
               "--property", "print.key=true", "--property", "print.partition=true",
               "--property", "print.offset=true")
    rows = [ln.split("\t") for ln in r.stdout.splitlines() if ln]
    assert len(rows) == 200, (len(rows), r.stdout[-500:], r.stderr)
    seen_offsets = {}
    for part, off, key, value in rows:
        p = int(part.split(":")[1])
        o = int(off.split(":")[1])
        assert value == "value" + key[3:], (key, value)
        # Java-compatible murmur2 key partitioning
        assert p == java_partition(key.encode(), 4), (key, p)
        assert o == seen_offsets.get(p, -1) + 1, (p, o)
        seen_offsets[p] = o
    assert "Processed a total of 200 messages" in r.stderr, r.stderr
    n.stop()


@quick
def test_docs_configuration_matches_the_code():
    import os
    import subprocess
    import harness
    root = os.path.join(os.path.dirname(__file__), "..", "..")
    tables = subprocess.check_output([harness.GREGORD, "--describe-configs"], text=True)
    with open(os.path.join(root, "docs", "CONFIGURATION.md")) as f:
        doc = f.read()
    assert tables in doc, "docs/CONFIGURATION.md is stale: regenerate its tables with " \
                          "bin/gregord --describe-configs"


@quick
def test_unformatted_log_dir_is_refused_with_advice():
    import shutil
    import subprocess
    import harness
    n = Node()
    shutil.rmtree(n.data)
    r = subprocess.run([harness.GREGORD, n.conf], capture_output=True, text=True, timeout=20)
    assert r.returncode != 0
    assert "No meta.properties found" in r.stderr and "gregor storage format" in r.stderr, r.stderr
    r = gregor("storage", "format", "-t", "not-a-uuid", "-c", n.conf, check=False)
    assert r.returncode != 0
    cid = gregor("storage", "random-uuid").stdout.strip()
    assert len(cid) == 22
    gregor("storage", "format", "-t", cid, "-c", n.conf)
    r = gregor("storage", "format", "-t", cid, "-c", n.conf, check=False)
    assert r.returncode != 0 and "already formatted" in r.stdout + r.stderr
    n.start()
    n.stop()


@quick
def test_pre_raft_metadata_log_is_refused_not_mistaken_for_an_empty_cluster():
    import os
    import subprocess
    import harness
    n = Node()
    old = os.path.join(n.data, "__cluster_metadata-0")
    os.makedirs(old)
    open(os.path.join(old, "00000000000000000000.log"), "wb").close()
    os.makedirs(os.path.join(n.data, "keep-0"))
    r = subprocess.run([harness.GREGORD, n.conf], capture_output=True, text=True, timeout=20)
    assert r.returncode != 0
    assert "earlier Gregor release" in r.stderr and "storage format" in r.stderr, r.stderr
    assert os.path.isdir(os.path.join(n.data, "keep-0")), "partition data must survive"


@quick
def test_bad_configuration_stops_start_up_with_a_message():
    import subprocess
    import harness
    for extra, expect in [("num.partitions=abc", "num.partitions"),
                          ("listeners=SSL://127.0.0.1:1", "PLAINTEXT only"),
                          ("listeners=FOO://127.0.0.1:1", "listener.security.protocol.map")]:
        n = Node()
        with open(n.conf, "a") as f:
            f.write(extra + "\n")
        r = subprocess.run([harness.GREGORD, n.conf], capture_output=True, text=True, timeout=20)
        assert r.returncode != 0 and expect in r.stderr, (extra, r.stderr)
    n = Node()
    with open(n.conf, "a") as f:
        f.write("some.unknown.key=1\n")
    n.start()
    assert "some.unknown.key' was supplied but isn't a known config" in n.log()
    n.stop()
