"""gregor configs (kafka-configs.sh): DescribeConfigs and IncrementalAlterConfigs for topics and
brokers, through the CLI against one combined node."""
import os
import re
import tempfile
import time

from harness import Cluster, Node, gregor


def quick(fn):
    fn.quick = True
    return fn


def configs(bs, *args, check=True):
    return gregor("configs", "--bootstrap-server", bs, *args, check=check)


def create_topic(bs, name, *topic_configs):
    args = ["topics", "--bootstrap-server", bs, "--create", "--topic", name,
            "--partitions", "1", "--replication-factor", "1"]
    for c in topic_configs:
        args += ["--config", c]
    gregor(*args)


def entry_lines(stdout):
    """The config lines under the header, as {key: (value, synonyms)}; asserts Kafka's shape
    '  key=value sensitive=false synonyms={...}' on every one."""
    out = {}
    for ln in stdout.splitlines()[1:]:
        m = re.fullmatch(r"  ([^=\s]+)=(.*) sensitive=(true|false) synonyms=\{(.*)\}", ln)
        assert m, f"not a kafka-configs.sh config line: {ln!r}\n{stdout}"
        out[m.group(1)] = (m.group(2), m.group(4))
    return out


def assert_synonyms(syn, source, key=None, value=None):
    """Kafka lists the entry's own source first among its synonyms.  A broker that sends no
    synonyms leaves them empty (Gregor's, for now); when there are some, the first must be
    source (and key=value when given)."""
    if not syn:
        return
    first = syn.split(", ")[0]
    if key is None:
        assert first.startswith(f"{source}:"), (syn, source)
    else:
        assert first == f"{source}:{key}={value}", (syn, source, key, value)


def dynamic_configs(bs, topic):
    r = configs(bs, "--entity-type", "topics", "--entity-name", topic, "--describe")
    lines = r.stdout.splitlines()
    assert lines[0] == f"Dynamic configs for topic {topic} are:", r.stdout
    return entry_lines(r.stdout)


@quick
def test_configs_describe_topic_created_with_config():
    n = Node().start()
    bs = n.bootstrap
    create_topic(bs, "cfg_described", "retention.ms=86400000", "max.message.bytes=2000000")
    create_topic(bs, "cfg_plain")
    for flags in (["--entity-type", "topics", "--entity-name", "cfg_described"],
                  ["--topic", "cfg_described"]):
        r = configs(bs, *flags, "--describe")
        lines = r.stdout.splitlines()
        assert lines[0] == "Dynamic configs for topic cfg_described are:", r.stdout
        # sorted by name, only the topic's own overrides
        assert [ln.split("=")[0].strip() for ln in lines[1:]] == \
            ["max.message.bytes", "retention.ms"], r.stdout
        got = entry_lines(r.stdout)
        assert got["retention.ms"][0] == "86400000", r.stdout
        assert got["max.message.bytes"][0] == "2000000", r.stdout
        assert_synonyms(got["retention.ms"][1], "DYNAMIC_TOPIC_CONFIG", "retention.ms",
                        "86400000")
        assert r.stderr == "", r.stderr
    r = configs(bs, "--topic", "cfg_plain", "--describe")
    assert r.stdout == "Dynamic configs for topic cfg_plain are:\n", r.stdout
    # no name: every topic, sorted
    r = configs(bs, "--entity-type", "topics", "--describe")
    headers = [ln for ln in r.stdout.splitlines() if not ln.startswith("  ")]
    assert headers == ["Dynamic configs for topic cfg_described are:",
                       "Dynamic configs for topic cfg_plain are:"], r.stdout
    r = configs(bs, "--topic", "no_such_topic", "--describe", check=False)
    assert r.returncode == 1, r
    assert "Error while executing config command with args" in r.stderr, r.stderr
    assert "UNKNOWN_TOPIC_OR_PARTITION" in r.stderr, r.stderr
    n.stop()


@quick
def test_configs_alter_add_delete_then_describe_and_produce():
    n = Node().start()
    bs = n.bootstrap
    create_topic(bs, "cfg_altered", "retention.ms=86400000")
    r = configs(bs, "--entity-type", "topics", "--entity-name", "cfg_altered", "--alter",
                "--add-config", "segment.bytes = 2000000, cleanup.policy=[delete],"
                "retention.bytes=[1073741824]")
    assert r.stdout == "Completed updating config for topic cfg_altered.\n", r.stdout
    got = dynamic_configs(bs, "cfg_altered")
    assert {k: v[0] for k, v in got.items()} == {
        "cleanup.policy": "delete", "retention.bytes": "1073741824",
        "retention.ms": "86400000", "segment.bytes": "2000000"}, got
    assert_synonyms(got["segment.bytes"][1], "DYNAMIC_TOPIC_CONFIG", "segment.bytes", "2000000")

    # delete two, change one: one IncrementalAlterConfigs with SET and DELETE operations
    r = configs(bs, "--topic", "cfg_altered", "--alter", "--add-config", "retention.ms=172800000",
                "--delete-config", "cleanup.policy,retention.bytes")
    assert r.stdout == "Completed updating config for topic cfg_altered.\n", r.stdout
    got = dynamic_configs(bs, "cfg_altered")
    assert {k: v[0] for k, v in got.items()} == {
        "retention.ms": "172800000", "segment.bytes": "2000000"}, got

    # --add-config-file takes properties
    with tempfile.NamedTemporaryFile("w", suffix=".properties", delete=False) as f:
        f.write("# topic overrides\nmin.insync.replicas=1\nmessage.timestamp.type=LogAppendTime\n")
    try:
        configs(bs, "--topic", "cfg_altered", "--alter", "--add-config-file", f.name)
    finally:
        os.unlink(f.name)
    got = dynamic_configs(bs, "cfg_altered")
    assert got["message.timestamp.type"][0] == "LogAppendTime", got
    assert got["min.insync.replicas"][0] == "1", got

    # deleting a key the topic does not override fails before anything is sent, as in Kafka
    r = configs(bs, "--topic", "cfg_altered", "--alter", "--delete-config", "flush.ms",
                check=False)
    assert r.returncode == 1 and r.stderr.strip() == "Invalid config(s): flush.ms", r
    assert r.stdout == "", r.stdout

    # the topic still takes and serves records
    lines = [f"record-{i}" for i in range(20)]
    gregor("console-producer", "--bootstrap-server", bs, "--topic", "cfg_altered",
           input="\n".join(lines) + "\n")
    r = gregor("console-consumer", "--bootstrap-server", bs, "--topic", "cfg_altered",
               "--from-beginning", "--max-messages", "20", "--timeout-ms", "10000")
    assert r.stdout.splitlines() == lines, (r.stdout, r.stderr)
    n.stop()


@quick
def test_configs_alter_unknown_key_or_bad_value_fails_clearly():
    n = Node().start()
    bs = n.bootstrap
    create_topic(bs, "cfg_strict", "retention.ms=86400000")
    cases = [("no.such.key=1", "Unknown topic config name: no.such.key"),
             ("retention.ms=soon", "retention.ms"),
             ("segment.bytes=-5", "segment.bytes")]
    for add, why in cases:
        r = configs(bs, "--topic", "cfg_strict", "--alter", "--add-config", add, check=False)
        assert r.returncode == 1, r
        assert r.stdout == "", r.stdout
        err = r.stderr.splitlines()
        assert err[0] == ("Error while executing config command with args '--bootstrap-server "
                          f"{bs} --topic cfg_strict --alter --add-config {add}'"), r.stderr
        assert err[1].startswith("INVALID_CONFIG: ") and why in err[1], r.stderr
    # a request with one bad key changes nothing
    r = configs(bs, "--topic", "cfg_strict", "--alter", "--add-config",
                "segment.bytes=2000000,no.such.key=1", check=False)
    assert r.returncode == 1 and "INVALID_CONFIG" in r.stderr, r
    got = dynamic_configs(bs, "cfg_strict")
    assert {k: v[0] for k, v in got.items()} == {"retention.ms": "86400000"}, got
    # the syntax is Kafka's
    r = configs(bs, "--topic", "cfg_strict", "--alter", "--add-config", "retention.ms", check=False)
    assert r.returncode == 1, r
    assert r.stderr.strip() == ("requirement failed: Invalid entity config: all configs to be "
                                "added must be in the format \"key=val\"."), r.stderr
    n.stop()


@quick
def test_configs_describe_all_lists_every_key_with_its_source():
    n = Node().start()
    bs = n.bootstrap
    create_topic(bs, "cfg_all", "retention.ms=86400000")
    r = configs(bs, "--topic", "cfg_all", "--describe", "--all")
    assert r.stdout.splitlines()[0] == "All configs for topic cfg_all are:", r.stdout
    got = entry_lines(r.stdout)
    keys = [ln.split("=")[0].strip() for ln in r.stdout.splitlines()[1:]]
    assert keys == sorted(keys), keys
    for k in ("cleanup.policy", "compression.type", "retention.bytes", "retention.ms",
              "segment.bytes", "segment.ms", "max.message.bytes", "min.insync.replicas"):
        assert k in got, (k, r.stdout)
    # the override's source is the topic; a key left alone comes from the broker or defaults
    assert got["retention.ms"][0] == "86400000", r.stdout
    assert_synonyms(got["retention.ms"][1], "DYNAMIC_TOPIC_CONFIG", "retention.ms", "86400000")
    assert got["retention.bytes"][0] == "-1", r.stdout
    assert not got["retention.bytes"][1].startswith("DYNAMIC_TOPIC_CONFIG"), r.stdout
    assert "sensitive=true" not in r.stdout, r.stdout

    # without --all only the topic's own source is listed; once deleted, retention.ms is back
    # to the default and shows only under --all
    configs(bs, "--topic", "cfg_all", "--alter", "--delete-config", "retention.ms")
    assert dynamic_configs(bs, "cfg_all") == {}
    got = entry_lines(configs(bs, "--topic", "cfg_all", "--describe", "--all").stdout)
    assert got["retention.ms"][0] == "604800000", got
    assert not got["retention.ms"][1].startswith("DYNAMIC_TOPIC_CONFIG"), got
    n.stop()


@quick
def test_configs_brokers_describe_and_refuse_dynamic_changes():
    n = Node().start()
    bs = n.bootstrap
    for flags in (["--entity-type", "brokers", "--entity-name", "1"], ["--broker", "1"]):
        r = configs(bs, *flags, "--describe")
        assert r.stdout == "Dynamic configs for broker 1 are:\n", r.stdout
    r = configs(bs, "--entity-type", "brokers", "--describe")
    assert r.stdout == ("Dynamic configs for broker 1 are:\n"
                        "Default configs for brokers in the cluster are:\n"), r.stdout
    r = configs(bs, "--broker", "1", "--describe", "--all")
    assert r.stdout.splitlines()[0] == "All configs for broker 1 are:", r.stdout
    got = entry_lines(r.stdout)
    assert got["node.id"][0] == "1", r.stdout
    assert got["log.dirs"][0] == n.data, r.stdout
    for flags in (["--broker", "1"], ["--entity-type", "brokers", "--entity-default"]):
        r = configs(bs, *flags, "--alter", "--add-config", "log.retention.ms=1000", check=False)
        assert r.returncode == 1 and r.stdout == "", r
        assert "Error while executing config command with args" in r.stderr, r.stderr
        assert "INVALID_REQUEST" in r.stderr, r.stderr
    r = configs(bs, "--broker", "7", "--describe", check=False)
    assert r.returncode == 1 and "broker 7" in r.stderr, r
    n.stop()


def test_configs_in_a_cluster_ask_each_broker_and_alter_through_the_controller():
    c = Cluster(controllers=1, brokers=2).start()
    b2, b3 = c.node(2), c.node(3)
    # a broker's configs come from that broker, whichever server is the bootstrap
    for b in (2, 3):
        r = configs(b2.bootstrap, "--broker", str(b), "--describe", "--all")
        assert entry_lines(r.stdout)["node.id"][0] == str(b), r.stdout
    r = configs(b3.bootstrap, "--entity-type", "brokers", "--describe")
    assert r.stdout == ("Dynamic configs for broker 2 are:\n"
                        "Dynamic configs for broker 3 are:\n"
                        "Default configs for brokers in the cluster are:\n"), r.stdout
    gregor("topics", "--bootstrap-server", b2.bootstrap, "--create", "--topic", "cfg_cluster",
           "--partitions", "2", "--replication-factor", "2")
    configs(b2.bootstrap, "--topic", "cfg_cluster", "--alter", "--add-config",
            "retention.ms=5000000")
    # the change is committed by the quorum and reaches the other broker's image
    deadline = time.time() + 15
    while True:
        got = dynamic_configs(b3.bootstrap, "cfg_cluster")
        if got.get("retention.ms", ("",))[0] == "5000000" or time.time() > deadline:
            break
        time.sleep(0.1)
    assert {k: v[0] for k, v in got.items()} == {"retention.ms": "5000000"}, got
    c.stop()


@quick
def test_configs_argument_errors_are_kafkas():
    bs = "127.0.0.1:1"  # never reached: every case fails before connecting
    cases = [
        (["--topic", "t"], "Command must include exactly one action: --describe, --alter"),
        (["--topic", "t", "--describe", "--alter"],
         "Command must include exactly one action: --describe, --alter"),
        (["--topic", "t", "--describe", "--add-config", "a=1"],
         "Option \"[describe]\" can't be used with option \"[add-config]\""),
        (["--describe"], "At least one entity type must be specified"),
        (["--entity-type", "users", "--describe"],
         "Invalid entity type users, the entity type must be one of topics,brokers with the "
         "--bootstrap-server argument"),
        (["--entity-type", "topics", "--topic", "t", "--describe"],
         "Duplicate entity type(s) specified: topics"),
        (["--entity-type", "brokers", "--broker", "1", "--describe"],
         "Duplicate entity type(s) specified: brokers"),
        (["--entity-type", "topics", "--alter", "--add-config", "a=1"],
         "an entity name must be specified with --alter of topics"),
        (["--entity-type", "brokers", "--alter", "--add-config", "a=1"],
         "an entity-name or default entity must be specified with --alter of users, clients, "
         "brokers or ips"),
        (["--topic", "t", "--alter"],
         "At least one of --add-config, --add-config-file, or --delete-config must be "
         "specified with --alter"),
        (["--topic", "t", "--alter", "--add-config", "a=1", "--add-config-file", "f"],
         "Only one of --add-config or --add-config-file must be specified"),
        (["--entity-type", "brokers", "--entity-name", "one", "--describe"],
         "The entity name for brokers must be a valid integer broker id, but it is: one"),
        (["--topic", "t", "--alter", "--add-config", "a=1=2"],
         "requirement failed: Invalid entity config: all configs to be added must be in the "
         "format \"key=val\"."),
    ]
    for args, want in cases:
        r = configs(bs, *args, check=False)
        assert r.returncode == 1, (args, r)
        assert r.stderr.splitlines()[0] == want, (args, r.stderr)
        assert "Error while executing" not in r.stderr, (args, r.stderr)
    r = gregor("configs", "--topic", "t", "--describe", check=False)
    assert r.returncode == 1 and "Missing required argument \"[bootstrap-server]\"" in r.stderr
    r = gregor("configs", "--help")
    assert r.returncode == 0 and "--add-config" in r.stdout and "--entity-type" in r.stdout
    r = gregor("kafka-configs.sh", "--help")
    assert r.returncode == 0 and "--delete-config" in r.stdout
