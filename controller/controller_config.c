/* controller_config.c — the broker and topic configuration keys, with Kafka's names and
 * defaults, and the rules that resolve a topic's effective configuration.
 *
 * The loaded broker config (a struct props) holds only what the user set, plus keys derived
 * from what they set (log.retention.ms from log.retention.hours, ...).  Defaults come from the
 * tables below at lookup time, so "was this set?" is simply "is it in the props?". */
#include "controller/controller.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LMAX "9223372036854775807"

const struct cfg_def cfg_broker_defs[] = {
    {"node.id", CFG_INT, NULL, CFG_SCOPE_BROKER, NULL, 0, "The node id of this server."},
    {"process.roles", CFG_LIST, NULL, CFG_SCOPE_BROKER, NULL, 0,
     "Roles of this node: broker, controller, or broker,controller (combined)."},
    {"controller.quorum.voters", CFG_LIST, "", CFG_SCOPE_BROKER, NULL, 0,
     "The metadata quorum's voters as id@host:port,..."},
    {"controller.quorum.election.timeout.ms", CFG_INT, "1000", CFG_SCOPE_BROKER, NULL, 10,
     "How long a controller waits without hearing from a leader before it starts an election "
     "(each timeout is drawn from [this, 2 x this))."},
    {"broker.session.timeout.ms", CFG_INT, "9000", CFG_SCOPE_BROKER, NULL, 1,
     "A broker that has not heartbeated to the active controller for this long is fenced: "
     "its leaderships move and Metadata stops listing it."},
    {"broker.heartbeat.interval.ms", CFG_INT, "2000", CFG_SCOPE_BROKER, NULL, 1,
     "How often a broker heartbeats to the active controller."},
    {"metadata.log.max.record.bytes.between.snapshots", CFG_LONG, "20971520", CFG_SCOPE_BROKER,
     NULL, 1, "A controller snapshots the metadata image once this many bytes of records were "
     "committed since the last snapshot, and truncates the log behind it."},
    {"metadata.log.segment.bytes", CFG_INT, "1073741824", CFG_SCOPE_BROKER, NULL, 1024,
     "Size of a metadata log segment file; whole segments behind a snapshot are deleted."},
    {"controller.quorum.bootstrap.servers", CFG_LIST, "", CFG_SCOPE_IGNORED, NULL, 0,
     "Accepted for compatibility; voters are read from controller.quorum.voters."},
    {"listeners", CFG_LIST, "PLAINTEXT://:9092", CFG_SCOPE_BROKER, NULL, 0,
     "Listeners as NAME://host:port,..."},
    {"advertised.listeners", CFG_LIST, NULL, CFG_SCOPE_BROKER, NULL, 0,
     "Listeners published to clients; defaults to listeners (without the controller's)."},
    {"listener.security.protocol.map", CFG_LIST,
     "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,"
     "SASL_SSL:SASL_SSL",
     CFG_SCOPE_BROKER, NULL, 0, "Listener name to security protocol."},
    {"controller.listener.names", CFG_LIST, NULL, CFG_SCOPE_BROKER, NULL, 0,
     "Names of the listeners used by the controller."},
    {"inter.broker.listener.name", CFG_STRING, "PLAINTEXT", CFG_SCOPE_BROKER, NULL, 0,
     "The listener followers fetch from leaders on (unset: the one named PLAINTEXT, else the "
     "first broker listener). Every broker registers all its listeners; a client is answered "
     "with the endpoints of the listener it came in on."},
    {"log.dirs", CFG_LIST, NULL, CFG_SCOPE_BROKER, NULL, 0, "Data directories (comma-separated)."},
    {"log.dir", CFG_STRING, "/tmp/kraft-combined-logs", CFG_SCOPE_BROKER, NULL, 0,
     "Data directory used when log.dirs is not set."},
    {"metadata.log.dir", CFG_STRING, NULL, CFG_SCOPE_BROKER, NULL, 0,
     "Directory of the metadata log; defaults to the first of log.dirs."},
    {"num.partitions", CFG_INT, "1", CFG_SCOPE_BROKER, NULL, 1,
     "Default number of partitions for new topics."},
    {"default.replication.factor", CFG_INT, "1", CFG_SCOPE_BROKER, NULL, 1,
     "Default replication factor for new topics."},
    {"auto.create.topics.enable", CFG_BOOL, "true", CFG_SCOPE_BROKER, NULL, 0,
     "Create a topic when a client asks for metadata of, or produces to, an unknown topic."},
    {"delete.topic.enable", CFG_BOOL, "true", CFG_SCOPE_BROKER, NULL, 0,
     "Allow topic deletion."},
    {"log.retention.hours", CFG_INT, "168", CFG_SCOPE_BROKER, NULL, -1,
     "Retention by time, in hours (lowest precedence)."},
    {"log.retention.minutes", CFG_INT, NULL, CFG_SCOPE_BROKER, NULL, -1,
     "Retention by time, in minutes (overrides hours)."},
    {"log.retention.ms", CFG_LONG, NULL, CFG_SCOPE_BROKER, NULL, -1,
     "Retention by time, in ms (overrides minutes and hours); -1 = unlimited."},
    {"log.retention.bytes", CFG_LONG, "-1", CFG_SCOPE_BROKER, NULL, -1,
     "Retention by size per partition; -1 = unlimited."},
    {"log.segment.bytes", CFG_INT, "1073741824", CFG_SCOPE_BROKER, NULL, 14,
     "Segment size before a new segment is rolled."},
    {"log.roll.hours", CFG_INT, "168", CFG_SCOPE_BROKER, NULL, 1,
     "Roll a new segment after this many hours (lowest precedence)."},
    {"log.roll.ms", CFG_LONG, NULL, CFG_SCOPE_BROKER, NULL, 1,
     "Roll a new segment after this many ms (overrides log.roll.hours)."},
    {"log.retention.check.interval.ms", CFG_LONG, "300000", CFG_SCOPE_BROKER, NULL, 1,
     "How often retention is checked."},
    {"log.flush.interval.messages", CFG_LONG, LMAX, CFG_SCOPE_BROKER, NULL, 1,
     "fsync a partition after this many messages."},
    {"log.flush.interval.ms", CFG_LONG, LMAX, CFG_SCOPE_BROKER, NULL, 0,
     "fsync a partition when its oldest unflushed message is this old."},
    {"log.index.interval.bytes", CFG_INT, "4096", CFG_SCOPE_BROKER, NULL, 0,
     "Bytes between offset-index entries."},
    {"log.index.size.max.bytes", CFG_INT, "10485760", CFG_SCOPE_BROKER, NULL, 4,
     "Maximum size of an offset index."},
    {"log.message.timestamp.type", CFG_STRING, "CreateTime", CFG_SCOPE_BROKER, NULL, 0,
     "CreateTime or LogAppendTime."},
    {"log.cleanup.policy", CFG_LIST, "delete", CFG_SCOPE_BROKER, NULL, 0,
     "delete, or compact (kept whole until the log cleaner arrives: no retention)."},
    {"compression.type", CFG_STRING, "producer", CFG_SCOPE_BROKER, NULL, 0,
     "producer, uncompressed, gzip, snappy, lz4 or zstd."},
    {"message.max.bytes", CFG_INT, "1048588", CFG_SCOPE_BROKER, NULL, 0,
     "Largest record batch accepted."},
    {"min.insync.replicas", CFG_INT, "1", CFG_SCOPE_BROKER, NULL, 1,
     "Replicas that must acknowledge an acks=all produce."},
    {"fetch.max.bytes", CFG_INT, "57671680", CFG_SCOPE_BROKER, NULL, 1024,
     "Most record bytes one Fetch response carries, whatever the request asks for."},
    {"socket.request.max.bytes", CFG_INT, "104857600", CFG_SCOPE_BROKER, NULL, 1,
     "Largest request frame accepted; larger frames close the connection."},
    {"connections.max.idle.ms", CFG_LONG, "600000", CFG_SCOPE_BROKER, NULL, -1,
     "Idle connections are closed after this long."},
    {"broker.rack", CFG_STRING, NULL, CFG_SCOPE_BROKER, NULL, 0, "Rack of this broker."},
    {"unclean.leader.election.enable", CFG_BOOL, "false", CFG_SCOPE_BROKER, NULL, 0,
     "Allow an out-of-sync replica to become leader."},
    {"auto.leader.rebalance.enable", CFG_BOOL, "true", CFG_SCOPE_BROKER, NULL, 0,
     "The active controller moves leaderships back to preferred replicas (the first of each "
     "partition's replicas) when a broker's leader imbalance goes above "
     "leader.imbalance.per.broker.percentage, checked every "
     "leader.imbalance.check.interval.seconds."},
    {"leader.imbalance.check.interval.seconds", CFG_LONG, "300", CFG_SCOPE_BROKER, NULL, 1,
     "How often the active controller checks the leader imbalance of the brokers."},
    {"leader.imbalance.per.broker.percentage", CFG_INT, "10", CFG_SCOPE_BROKER, NULL, 0,
     "The leader imbalance allowed per broker, in percent: the share of the partitions whose "
     "preferred replica a broker is that another broker leads. Above it, those partitions "
     "get their preferred replica back as leader where it is live and in the ISR."},
    {"replica.selector.class", CFG_STRING, NULL, CFG_SCOPE_BROKER, NULL, 0,
     "org.apache.kafka.common.replica.RackAwareReplicaSelector sends consumers with a "
     "client.rack to an in-sync replica in their rack (KIP-392); unset: the leader."},
    {"replica.lag.time.max.ms", CFG_LONG, "30000", CFG_SCOPE_BROKER, NULL, 1,
     "A follower that has not caught up with its leader for this long leaves the ISR."},
    {"replica.fetch.max.bytes", CFG_INT, "1048576", CFG_SCOPE_BROKER, NULL, 1,
     "Record bytes a follower asks for per partition in one fetch."},
    {"replica.fetch.response.max.bytes", CFG_INT, "10485760", CFG_SCOPE_BROKER, NULL, 1,
     "Record bytes a follower asks for in one fetch, over all partitions."},
    {"replica.fetch.wait.max.ms", CFG_INT, "500", CFG_SCOPE_BROKER, NULL, 0,
     "How long a follower's fetch waits at the leader for new records."},
    {"replica.fetch.min.bytes", CFG_INT, "1", CFG_SCOPE_BROKER, NULL, 1,
     "Bytes a follower's fetch waits for at the leader before it is answered."},
    {"group.initial.rebalance.delay.ms", CFG_INT, "3000", CFG_SCOPE_BROKER, NULL, 0,
     "A new group's first rebalance waits this long (more each time a member joins, up to the "
     "rebalance timeout) so that members starting together land in one generation."},
    {"group.min.session.timeout.ms", CFG_INT, "6000", CFG_SCOPE_BROKER, NULL, 1,
     "The shortest session.timeout.ms a consumer may ask for (else INVALID_SESSION_TIMEOUT)."},
    {"group.max.session.timeout.ms", CFG_INT, "1800000", CFG_SCOPE_BROKER, NULL, 1,
     "The longest session.timeout.ms a consumer may ask for."},
    {"group.max.size", CFG_INT, "2147483647", CFG_SCOPE_BROKER, NULL, 1,
     "Members one group may have (GROUP_MAX_SIZE_REACHED beyond)."},
    {"offsets.topic.replication.factor", CFG_INT, "3", CFG_SCOPE_BROKER, NULL, 1,
     "Replication factor of __consumer_offsets, capped at the live brokers when it is "
     "created."},
    {"offsets.topic.num.partitions", CFG_INT, "50", CFG_SCOPE_BROKER, NULL, 1,
     "Partitions of __consumer_offsets; a group's coordinator is the leader of partition "
     "abs(hash(group.id)) % this."},
    {"offsets.commit.timeout.ms", CFG_INT, "5000", CFG_SCOPE_BROKER, NULL, 1,
     "An offset commit waits this long for the replicas of its __consumer_offsets partition."},
    {"offsets.retention.minutes", CFG_INT, "10080", CFG_SCOPE_BROKER, NULL, 1,
     "Committed offsets of a group without members are removed this long after it became "
     "empty (or, for a group that never had members, after their commit)."},
    {"offsets.retention.check.interval.ms", CFG_LONG, "600000", CFG_SCOPE_BROKER, NULL, 1,
     "How often expired offsets are looked for."},
    {"offset.metadata.max.bytes", CFG_INT, "4096", CFG_SCOPE_BROKER, NULL, 0,
     "Longest metadata string of a committed offset (OFFSET_METADATA_TOO_LARGE beyond)."},
    {"transaction.state.log.replication.factor", CFG_INT, "3", CFG_SCOPE_IGNORED, NULL, 1,
     "Accepted."},
    {"transaction.state.log.min.isr", CFG_INT, "2", CFG_SCOPE_IGNORED, NULL, 1, "Accepted."},
    {"num.network.threads", CFG_INT, "3", CFG_SCOPE_IGNORED, NULL, 1,
     "Accepted; Gregor serves the network from one event loop."},
    {"num.io.threads", CFG_INT, "8", CFG_SCOPE_IGNORED, NULL, 1, "Accepted."},
    {"num.recovery.threads.per.data.dir", CFG_INT, "1", CFG_SCOPE_IGNORED, NULL, 1, "Accepted."},
    {"socket.send.buffer.bytes", CFG_INT, "102400", CFG_SCOPE_IGNORED, NULL, -1, "Accepted."},
    {"socket.receive.buffer.bytes", CFG_INT, "102400", CFG_SCOPE_IGNORED, NULL, -1, "Accepted."},
    {NULL, 0, NULL, 0, NULL, 0, NULL},
};

const struct cfg_def cfg_topic_defs[] = {
    {"cleanup.policy", CFG_LIST, "delete", CFG_SCOPE_TOPIC, "log.cleanup.policy", 0,
     "delete, or compact (kept whole until the log cleaner arrives: no retention)."},
    {"compression.type", CFG_STRING, "producer", CFG_SCOPE_TOPIC, "compression.type", 0,
     "producer keeps the producer's codec; otherwise batches are recompressed."},
    {"retention.ms", CFG_LONG, "604800000", CFG_SCOPE_TOPIC, "log.retention.ms", -1,
     "Delete segments whose newest record is older than this; -1 = unlimited."},
    {"retention.bytes", CFG_LONG, "-1", CFG_SCOPE_TOPIC, "log.retention.bytes", -1,
     "Delete oldest segments while the partition is larger than this; -1 = unlimited."},
    {"segment.bytes", CFG_INT, "1073741824", CFG_SCOPE_TOPIC, "log.segment.bytes", 14,
     "Segment file size."},
    {"segment.ms", CFG_LONG, "604800000", CFG_SCOPE_TOPIC, "log.roll.ms", 1,
     "Roll a segment after this long even if not full."},
    {"segment.index.bytes", CFG_INT, "10485760", CFG_SCOPE_TOPIC, "log.index.size.max.bytes", 4,
     "Maximum offset index size."},
    {"index.interval.bytes", CFG_INT, "4096", CFG_SCOPE_TOPIC, "log.index.interval.bytes", 0,
     "Bytes between offset-index entries."},
    {"flush.messages", CFG_LONG, LMAX, CFG_SCOPE_TOPIC, "log.flush.interval.messages", 1,
     "fsync after this many messages."},
    {"flush.ms", CFG_LONG, LMAX, CFG_SCOPE_TOPIC, "log.flush.interval.ms", 0,
     "fsync after this long."},
    {"max.message.bytes", CFG_INT, "1048588", CFG_SCOPE_TOPIC, "message.max.bytes", 0,
     "Largest record batch accepted."},
    {"message.timestamp.type", CFG_STRING, "CreateTime", CFG_SCOPE_TOPIC,
     "log.message.timestamp.type", 0, "CreateTime or LogAppendTime."},
    {"min.insync.replicas", CFG_INT, "1", CFG_SCOPE_TOPIC, "min.insync.replicas", 1,
     "Replicas that must acknowledge an acks=all produce."},
    {"unclean.leader.election.enable", CFG_BOOL, "false", CFG_SCOPE_TOPIC,
     "unclean.leader.election.enable", 0, "Allow an out-of-sync replica to become leader."},
    {NULL, 0, NULL, 0, NULL, 0, NULL},
};

const struct cfg_def *cfg_find(const struct cfg_def *defs, const char *name)
{
    for (const struct cfg_def *d = defs; d->name; d++)
        if (!strcmp(d->name, name)) return d;
    return NULL;
}

static bool in_list(const char *v, const char *const *allowed)
{
    for (; *allowed; allowed++)
        if (!strcmp(v, *allowed)) return true;
    return false;
}

int cfg_validate(const struct cfg_def *d, const char *value, char *err, size_t err_len)
{
    int64_t n;
    bool b;
    switch (d->type) {
    case CFG_INT:
    case CFG_LONG:
        if (parse_i64(value, &n) || (d->type == CFG_INT && (n > INT32_MAX || n < INT32_MIN))) {
            strfmt(err, err_len, "Invalid value %s for configuration %s: Not a number of type %s",
                   value, d->name, d->type == CFG_INT ? "INT" : "LONG");
            return GR_EINVAL;
        }
        if (n < d->min) {
            strfmt(err, err_len, "Invalid value %s for configuration %s: Value must be at least "
                   "%lld", value, d->name, (long long)d->min);
            return GR_EINVAL;
        }
        return 0;
    case CFG_BOOL:
        if (parse_bool(value, &b)) {
            strfmt(err, err_len, "Invalid value %s for configuration %s: Expected value to be "
                   "either true or false", value, d->name);
            return GR_EINVAL;
        }
        return 0;
    default:
        break;
    }
    static const char *const codecs[] = {"producer", "uncompressed", "none", "gzip", "snappy",
                                         "lz4", "zstd", NULL};
    static const char *const ts_types[] = {"CreateTime", "LogAppendTime", NULL};
    static const char *const policies[] = {"delete", "compact", "compact,delete",
                                           "delete,compact", NULL};
    const char *const *allowed = NULL;
    if (!strcmp(d->name, "compression.type")) allowed = codecs;
    else if (strstr(d->name, "timestamp.type")) allowed = ts_types;
    else if (strstr(d->name, "cleanup.policy")) allowed = policies;
    if (allowed && !in_list(value, allowed)) {
        strfmt(err, err_len, "Invalid value %s for configuration %s", value, d->name);
        return GR_EINVAL;
    }
    return 0;
}

const char *cfg_get_str(const struct props *p, const char *key, const char *dflt)
{
    const char *v = props_get(p, key);
    if (v) return v;
    const struct cfg_def *d = cfg_find(cfg_broker_defs, key);
    if (d && d->default_value) return d->default_value;
    return dflt;
}

int64_t cfg_get_long(const struct props *p, const char *key, int64_t dflt)
{
    const char *v = cfg_get_str(p, key, NULL);
    int64_t n;
    if (v && !parse_i64(v, &n)) return n;
    return dflt;
}

bool cfg_get_bool(const struct props *p, const char *key, bool dflt)
{
    const char *v = cfg_get_str(p, key, NULL);
    bool b;
    if (v && !parse_bool(v, &b)) return b;
    return dflt;
}

bool cfg_broker_is_set(const struct props *broker, const char *key)
{
    return props_get(broker, key) != NULL;
}

/* Kafka derives some keys from others; do the same so lookups need one key each. */
static int cfg_derive(struct props *p)
{
    char buf[32];
    int rc = 0;
    if (!props_get(p, "log.retention.ms")) {
        const char *min = props_get(p, "log.retention.minutes");
        const char *hrs = props_get(p, "log.retention.hours");
        int64_t v;
        if (min && !parse_i64(min, &v)) {
            strfmt(buf, sizeof buf, "%lld", (long long)(v < 0 ? -1 : v * 60000));
            rc |= props_set(p, "log.retention.ms", buf);
        } else if (hrs && !parse_i64(hrs, &v)) {
            strfmt(buf, sizeof buf, "%lld", (long long)(v < 0 ? -1 : v * 3600000));
            rc |= props_set(p, "log.retention.ms", buf);
        }
    }
    if (!props_get(p, "log.roll.ms")) {
        const char *hrs = props_get(p, "log.roll.hours");
        int64_t v;
        if (hrs && !parse_i64(hrs, &v)) {
            strfmt(buf, sizeof buf, "%lld", (long long)v * 3600000);
            rc |= props_set(p, "log.roll.ms", buf);
        }
    }
    if (!props_get(p, "log.dirs")) rc |= props_set(p, "log.dirs", cfg_get_str(p, "log.dir", ""));
    return rc ? GR_ENOMEM : 0;
}

int cfg_broker_load(struct props *out, const char *path, char **overrides, int n_overrides,
                    char *err, size_t err_len)
{
    int rc = props_load(out, path, err, err_len);
    if (rc) return rc;
    for (int i = 0; i < n_overrides; i++) {
        const char *eq = strchr(overrides[i], '=');
        if (!eq || eq == overrides[i]) {
            strfmt(err, err_len, "Invalid --override '%s': expected key=value", overrides[i]);
            return GR_EINVAL;
        }
        char key[256];
        strfmt(key, sizeof key, "%.*s", (int)(eq - overrides[i]), overrides[i]);
        if (props_set(out, key, eq + 1)) return GR_ENOMEM;
    }
    for (size_t i = 0; i < out->n; i++) {
        const struct cfg_def *d = cfg_find(cfg_broker_defs, out->v[i].key);
        if (!d) {
            LOG_WARN("config", "The configuration '%s' was supplied but isn't a known config.",
                     out->v[i].key);
            continue;
        }
        rc = cfg_validate(d, out->v[i].value, err, err_len);
        if (rc) return rc;
    }
    return cfg_derive(out);
}

const char *cfg_topic_value(const struct props *topic_overrides, const struct props *broker,
                            const char *key, int8_t *source)
{
    const struct cfg_def *d = cfg_find(cfg_topic_defs, key);
    if (!d) return NULL;
    const char *v = topic_overrides ? props_get(topic_overrides, key) : NULL;
    if (v) {
        if (source) *source = CFG_SOURCE_TOPIC;
        return v;
    }
    if (d->broker_synonym && broker) {
        v = props_get(broker, d->broker_synonym);
        if (v) {
            if (source) *source = CFG_SOURCE_STATIC_BROKER;
            return v;
        }
    }
    if (source) *source = CFG_SOURCE_DEFAULT;
    return d->default_value;
}

static int64_t topic_long(const struct props *t, const struct props *b, const char *key)
{
    const char *v = cfg_topic_value(t, b, key, NULL);
    int64_t n = 0;
    if (v) parse_i64(v, &n);
    return n;
}

void cfg_topic_storage_config(const struct props *t, const struct props *b,
                              struct storage_log_config *out)
{
    storage_log_config_default(out);
    out->segment_bytes = topic_long(t, b, "segment.bytes");
    out->segment_ms = topic_long(t, b, "segment.ms");
    out->retention_ms = topic_long(t, b, "retention.ms");
    out->retention_bytes = topic_long(t, b, "retention.bytes");
    out->index_interval_bytes = (int32_t)topic_long(t, b, "index.interval.bytes");
    out->segment_index_bytes = (int32_t)topic_long(t, b, "segment.index.bytes");
    out->flush_interval_messages = topic_long(t, b, "flush.messages");
    out->flush_interval_ms = topic_long(t, b, "flush.ms");
    /* A compacted topic (cleanup.policy without delete, as __consumer_offsets) loses nothing
     * to time or size retention; without a log cleaner yet, it keeps every segment. */
    const char *policy = cfg_topic_value(t, b, "cleanup.policy", NULL);
    if (policy && !strstr(policy, "delete")) {
        out->retention_ms = -1;
        out->retention_bytes = -1;
    }
}
