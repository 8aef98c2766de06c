/*
 * cli_int.h — private header of the `gregor` command-line tool.
 *
 * Each subcommand lives in its own file (cli_storage.c, cli_topics.c, cli_producer.c,
 * cli_consumer.c, cli_quorum.c, cli_configs.c, cli_leader_election.c, cli_groups.c) and exposes
 * one `cli_<tool>_main(argc, argv)` entry point, where argv[0] is the tool name.  cli_common.c
 * holds what they share: a joptsimple-like option parser that accepts Kafka's flag spellings,
 * usage printing, key=value parsing, and librdkafka configuration helpers; cli_kafka_client.c a
 * raw Kafka client for requests librdkafka lacks; cli_groups_parse.c the pure parsers of
 * consumer-groups' arguments, and cli_groups_reset.c its --reset-offsets and --delete-offsets
 * (sharing cli_groups_int.h with cli_groups.c).
 *
 * Everything here runs on the main thread only (librdkafka's own threads never call in,
 * except the log callback, which only writes to stderr).
 */
#ifndef GREGOR_CLI_INT_H
#define GREGOR_CLI_INT_H

#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "common/common.h"

/* ------------------------------------------------------------------------------------------ */
/* Option parsing                                                                              */

enum cli_opt_kind {
    CLI_OPT_FLAG,  /* no argument: --list */
    CLI_OPT_VALUE, /* one argument; given again, the last one wins */
    CLI_OPT_MULTI, /* repeatable: --config a=b --config c=d */
};

/* The number of values a CLI_OPT_MULTI option keeps; more is a usage error. */
#define CLI_MULTI_MAX 64

/* One option of a tool.  The table is static per tool; parsing fills the result fields.
 * Values are borrowed from argv and stay valid for the whole run. */
struct cli_opt {
    const char *name;  /* long name without the dashes: "bootstrap-server" */
    const char *alias; /* short or alternative spelling with dashes ("-t"), or NULL */
    enum cli_opt_kind kind;
    const char *arg_desc; /* for usage: "String: topic", NULL for flags */
    const char *help;
    /* results */
    bool set;
    const char *value;
    const char *values[CLI_MULTI_MAX];
    size_t values_n;
};

/* One table row; the result fields start zeroed. */
#define CLI_OPT(name_, alias_, kind_, arg_desc_, help_)                                            \
    {                                                                                              \
        .name = (name_), .alias = (alias_), .kind = (kind_), .arg_desc = (arg_desc_),              \
        .help = (help_)                                                                            \
    }

/* Parses argv[first..argc) against opts.  Accepts "--name value", "--name=value" and the alias.
 * Positional arguments are collected into pos (up to pos_max; pos may be NULL when the tool
 * takes none).  Returns 0, or GR_EINVAL with a Kafka-style message in err. */
int cli_parse(struct cli_opt *opts, size_t opts_n, int argc, char **argv, int first,
              const char **pos, size_t pos_max, size_t *pos_n, char *err, size_t err_len);

/* Looks an option up by long name; asserts it exists (a typo is a programming error). */
struct cli_opt *cli_opt(struct cli_opt *opts, size_t opts_n, const char *name);
/* The value of a set option, or NULL. */
const char *cli_val(struct cli_opt *opts, size_t opts_n, const char *name);
bool cli_has(struct cli_opt *opts, size_t opts_n, const char *name);

/* Prints the summary line and a joptsimple-style option table. */
void cli_usage(FILE *f, const char *summary, const struct cli_opt *opts, size_t opts_n);
/* Prints msg (if any) and the usage to stderr, returns 1 (the exit code to use). */
int cli_usage_error(const char *msg, const char *summary, const struct cli_opt *opts,
                    size_t opts_n);
/* Returns 1 after printing `Missing required argument "[name]"` and usage if name is unset. */
int cli_require(struct cli_opt *opts, size_t opts_n, const char *name, const char *summary);

/* Splits "key=value" at the first '='.  Writes borrowed views: key (NUL-terminated copy into
 * key_buf) and *value pointing into s.  Returns 0 or GR_EINVAL. */
int cli_split_kv(const char *s, char *key_buf, size_t key_len, const char **value);

/* Parses a whole decimal integer in [lo, hi].  0 or GR_EINVAL. */
int cli_parse_int(const char *s, int64_t lo, int64_t hi, int64_t *out);

/* ------------------------------------------------------------------------------------------ */
/* librdkafka configuration                                                                    */

/* Creates a librdkafka conf with an error-only log callback, then in this order (later wins):
 * the tool's defaults ("k=v" each), the properties of each file in files (NULL entries
 * skipped), the user's "k=v" kvs, and bootstrap.servers if not NULL.  Returns NULL with a
 * message in err on failure. */
rd_kafka_conf_t *cli_conf_new(const char *bootstrap, const char *const *defaults, size_t defaults_n,
                              const char *const *files, size_t files_n, const char *const *kvs,
                              size_t kvs_n, char *err, size_t err_len);
/* Sets one property; returns 0 or GR_EINVAL with the librdkafka message in err. */
int cli_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value, char *err,
                 size_t err_len);
/* Adds "k=v" strings to a props set (used for --property style tool options).  0 or
 * GR_EINVAL/GR_ENOMEM with a message in err. */
int cli_props_from_kvs(struct props *p, const char *const *kvs, size_t kvs_n, char *err,
                       size_t err_len);

/* ------------------------------------------------------------------------------------------ */
/* Raw requests (cli_kafka_client.c): a tiny blocking PLAINTEXT Kafka client on the project's
 * generated codec, for what librdkafka 2.0.2 cannot ask (topic ids, DescribeQuorum,
 * ElectLeaders).                                                                               */

struct kafka_reader;
struct kafka_writer;

/* One connection to one server; opaque.  Main thread only; every call blocks. */
struct cli_kafka_client;

/* Connects to the first server of bootstrap ("host:port[,host:port...]", tried in order) that
 * accepts a connection and answers ApiVersions v0, and keeps the version ranges it advertised.
 * timeout_ms bounds everything said to that server, from connecting to the last response of
 * the last call.  client_id goes into every request header; it is borrowed and must outlive the
 * client.  Returns 0 with *out set (free it with cli_kafka_client_free), or a negative GR_E*
 * code with a message in err (naming the last server tried) and *out NULL. */
int cli_kafka_client_new(struct cli_kafka_client **out, const char *bootstrap,
                         const char *client_id, int timeout_ms, char *err, size_t err_len);
/* Closes the connection and frees c; NULL is a no-op. */
void cli_kafka_client_free(struct cli_kafka_client *c);

/* The highest version of api_key in [lo, hi] within the server's advertised range, or -1 if
 * there is none (or the server does not list the API). */
int16_t cli_kafka_client_version(const struct cli_kafka_client *c, int16_t api_key, int16_t lo,
                                 int16_t hi);

/* Sends one request and decodes its response.  encode / decode wrap the generated
 * kafka_<message>_encode / _decode of api_key's request and response; req is encoded as it is
 * (it may point anywhere but into memory of an earlier response).  On success res holds the
 * response: its strings and arrays are views into memory c owns, valid until the next call on
 * c or cli_kafka_client_free.  Kafka error codes inside res are data, not failures.  Returns 0
 * or a GR_E* code with a message in err; after an I/O or framing failure the connection is
 * closed and later calls fail with GR_EIO. */
int cli_kafka_client_call(struct cli_kafka_client *c, int16_t api_key, int16_t version,
                          int (*encode)(struct kafka_writer *, int16_t, const void *),
                          const void *req, int (*decode)(struct kafka_reader *, int16_t, void *),
                          void *res, char *err, size_t err_len);

/* Asks Metadata (no topics, at the server's highest version up to 12) for the cluster id and
 * copies it, NUL-terminated, into buf; buf is left "" when the server reports none (a null id,
 * or Metadata below v2).  0, or GR_EUNSUP / GR_ERANGE / a cli_kafka_client_call failure with a
 * message in err. */
int cli_kafka_client_cluster_id(struct cli_kafka_client *c, char *buf, size_t buf_len, char *err,
                                size_t err_len);

/* Topic ids: Metadata v10+, since librdkafka 2.0.2 reports no topic ids. */

struct cli_topic_id {
    char *name; /* owned */
    struct gr_uuid id;
};

/* topic name -> id, sorted by name.  Embed it: cli_topic_ids_init, then _close. */
struct cli_topic_ids {
    struct cli_topic_id *ids; /* owned; ids_n entries */
    size_t ids_n;
};

void cli_topic_ids_init(struct cli_topic_ids *m);
void cli_topic_ids_close(struct cli_topic_ids *m);

/* Asks one server of bootstrap ("host:port[,host:port...]", tried in order until one answers)
 * for the ids of the named topics: ApiVersions v0, then Metadata at min(12, the broker's max),
 * never creating topics.  m must be freshly initialised.  timeout_ms bounds the whole exchange
 * with each server.  Topics the broker reports with an error or without an id are left out.
 * Returns 0, or a negative GR_E* code (GR_EUNSUP when the broker's Metadata predates ids) with
 * a message in err and m empty.  Blocks; main thread only. */
int cli_topic_ids_fetch(struct cli_topic_ids *m, const char *bootstrap, const char *const *topics,
                        size_t topics_n, int timeout_ms, char *err, size_t err_len);

/* The id of name, or NULL if m has none; valid until cli_topic_ids_close(m). */
const struct gr_uuid *cli_topic_ids_find(const struct cli_topic_ids *m, const char *name);

/* ------------------------------------------------------------------------------------------ */
/* consumer-groups argument parsers (cli_groups_parse.c): pure functions, unit-tested.          */

/* --by-duration: java.time.Duration.parse's "[-+]PnDTnHnMn.nS" (case-insensitive; every number
 * may be signed; seconds may have up to 9 fraction digits after '.' or ','; at least one
 * section; no bare trailing 'T').  Writes the milliseconds to subtract from now so that the
 * result equals Kafka's Instant.now().minus(duration).toEpochMilli(), i.e. the duration rounded
 * up to whole milliseconds.  0, GR_EINVAL (not a duration) or GR_ERANGE (overflows). */
int cli_groups_parse_duration(const char *s, int64_t *ms_out);

/* --to-datetime: Kafka's Utils.getDateTime, "YYYY-MM-DDTHH:mm:SS.sss" with an optional zone
 * (Z, +hh, +hhmm, +hh:mm; none means UTC), checked strictly (real dates, hours 0-23, ...).
 * Writes milliseconds since the epoch.  0 or GR_EINVAL. */
int cli_groups_parse_datetime(const char *s, int64_t *ms_out);

/* --topic of --reset-offsets / --delete-offsets: "topic" (every partition: *has_parts false)
 * or "topic:p1,p2,..." (*has_parts true, the partitions in parts, in the order given; empty
 * trailing pieces are dropped as Java's split does).  topic receives the NUL-terminated name.
 * 0, or GR_EINVAL with Kafka's sentence in err ("Invalid topic arg 'x', expected topic name and
 * partitions", "Invalid partition 'x' specified in topic arg 'y''"). */
int cli_groups_parse_topic_spec(const char *s, char *topic, size_t topic_len, bool *has_parts,
                                int32_t *parts, size_t parts_max, size_t *parts_n, char *err,
                                size_t err_len);

/* ------------------------------------------------------------------------------------------ */
/* Signals: SIGINT/SIGTERM set cli_stop; long-running loops check it.                          */

extern volatile sig_atomic_t cli_stop;
void cli_install_signals(void);

/* ------------------------------------------------------------------------------------------ */
/* Subcommands.  argv[0] is the tool name; return the process exit code.                       */

int cli_storage_main(int argc, char **argv);
int cli_topics_main(int argc, char **argv);
int cli_producer_main(int argc, char **argv);
int cli_consumer_main(int argc, char **argv);
int cli_quorum_main(int argc, char **argv);
int cli_configs_main(int argc, char **argv);
int cli_leader_election_main(int argc, char **argv);
int cli_groups_main(int argc, char **argv);

#endif
