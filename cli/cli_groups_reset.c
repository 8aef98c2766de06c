/* cli_groups_reset.c — `gregor consumer-groups --reset-offsets` (every scenario, --dry-run,
 * --execute, --export, --from-file) and `--delete-offsets`, as Kafka 3.x's ConsumerGroupCommand
 * does them.  The flags, the messages and the rest of the command are in cli_groups.c. */
#include "cli/cli_groups_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ========================================================================================== */
/* --reset-offsets                                                                            */

/* Adds the partitions --topic names: explicit ones as given, a bare topic's from Metadata.
 * 0 or 1 after printing. */
static int groups_topic_partitions(struct groups_ctx *x, rd_kafka_topic_partition_list_t *out)
{
    const struct cli_opt *t = cli_opt(groups_opts, groups_opts_n, "topic");
    static int32_t parts[GROUPS_SPEC_PARTS_MAX];
    for (size_t i = 0; i < t->values_n; i++) {
        char topic[GROUPS_TOPIC_BYTES], err[GROUPS_MSG_BYTES];
        bool has_parts;
        size_t n;
        if (cli_groups_parse_topic_spec(t->values[i], topic, sizeof topic, &has_parts, parts,
                                        GR_ARRAY_LEN(parts), &n, err, sizeof err))
            return groups_usage_die("%s", err);
        for (size_t k = 0; k < n; k++)
            rd_kafka_topic_partition_list_add(out, topic, parts[k]);
        if (has_parts) continue;
        if (groups_metadata(x)) return 1;
        const rd_kafka_metadata_topic_t *mt = NULL;
        for (int k = 0; k < x->md->topic_cnt && !mt; k++)
            if (!strcmp(x->md->topics[k].topic, topic)) mt = &x->md->topics[k];
        if (!mt || mt->err) {
            char buf[GROUPS_MSG_BYTES];
            rd_kafka_resp_err_t e = mt ? mt->err : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
            return groups_fail(x, "%s (topic '%s')", groups_err_text(e, NULL, buf, sizeof buf),
                               topic);
        }
        for (int k = 0; k < mt->partition_cnt; k++)
            rd_kafka_topic_partition_list_add(out, topic, mt->partitions[k].id);
    }
    return 0;
}

/* Kafka's checkOffsetsRange: each requested offset (in l) is moved into [log start, log end],
 * with a warning, when both ends could be listed.  0 or 1 after printing. */
static int groups_clamp(struct groups_ctx *x, rd_kafka_topic_partition_list_t *l)
{
    rd_kafka_topic_partition_list_t *starts = groups_offsets_at(x, l, GROUPS_TS_EARLIEST);
    if (!starts) return 1;
    rd_kafka_topic_partition_list_t *ends = groups_offsets_at(x, l, GROUPS_TS_LATEST);
    if (!ends) {
        rd_kafka_topic_partition_list_destroy(starts);
        return 1;
    }
    for (int i = 0; i < l->cnt; i++) {
        rd_kafka_topic_partition_t *p = &l->elems[i];
        int64_t start = groups_tp_offset(starts, p->topic, p->partition);
        int64_t end = groups_tp_offset(ends, p->topic, p->partition);
        if (end >= 0 && p->offset > end) {
            groups_note("WARN New offset (%" PRId64 ") is higher than latest offset for topic "
                        "partition %s-%d. Value will be set to %" PRId64,
                        p->offset, p->topic, p->partition, end);
            p->offset = end;
        } else if (start >= 0 && p->offset < start) {
            groups_note("WARN New offset (%" PRId64 ") is lower than earliest offset for topic "
                        "partition %s-%d. Value will be set to %" PRId64,
                        p->offset, p->topic, p->partition, start);
            p->offset = start;
        }
    }
    rd_kafka_topic_partition_list_destroy(starts);
    rd_kafka_topic_partition_list_destroy(ends);
    return 0;
}

/* Sets every offset of l to its log start (ts GROUPS_TS_EARLIEST) or end (GROUPS_TS_LATEST).
 * 0 or 1 after printing Kafka's "Error getting ... offset of topic partition". */
static int groups_set_log_offsets(struct groups_ctx *x, rd_kafka_topic_partition_list_t *l,
                                  int64_t ts)
{
    if (groups_list_offsets(x, l, ts)) return 1;
    for (int i = 0; i < l->cnt; i++)
        if (l->elems[i].offset < 0)
            return groups_usage_die("Error getting %s offset of topic partition: %s-%d",
                                    ts == GROUPS_TS_EARLIEST ? "starting" : "ending",
                                    l->elems[i].topic, l->elems[i].partition);
    return 0;
}

/* --to-datetime / --by-duration: the first offset at or after ts; a partition without one
 * falls back to its log end offset, with Kafka's warning. */
static int groups_set_time_offsets(struct groups_ctx *x, rd_kafka_topic_partition_list_t *l,
                                   int64_t ts)
{
    if (groups_list_offsets(x, l, ts)) return 1;
    rd_kafka_topic_partition_list_t *empty = rd_kafka_topic_partition_list_new(0);
    for (int i = 0; i < l->cnt; i++)
        if (!l->elems[i].err && l->elems[i].offset == -1) {
            printf("\nWarn: Partition %d from topic %s is empty. Falling back to latest known "
                   "offset.\n",
                   l->elems[i].partition, l->elems[i].topic);
            rd_kafka_topic_partition_list_add(empty, l->elems[i].topic, l->elems[i].partition);
        }
    int rc = groups_list_offsets(x, empty, GROUPS_TS_LATEST);
    for (int i = 0; !rc && i < empty->cnt; i++)
        rd_kafka_topic_partition_list_find(l, empty->elems[i].topic, empty->elems[i].partition)
            ->offset = empty->elems[i].offset;
    rd_kafka_topic_partition_list_destroy(empty);
    for (int i = 0; !rc && i < l->cnt; i++)
        if (l->elems[i].offset < 0)
            rc = groups_usage_die("Error getting offset by timestamp of topic partition: %s-%d",
                                  l->elems[i].topic, l->elems[i].partition);
    return rc;
}

/* Kafka's prepareOffsetsToReset for one group: fills the new offset of every partition of l.
 * committed are the group's committed offsets.  0 or 1 after printing. */
static int groups_prepare(struct groups_ctx *x, const char *group,
                          rd_kafka_topic_partition_list_t *l,
                          const rd_kafka_topic_partition_list_t *committed)
{
    const char *s = x->scenario;
    if (!strcmp(s, "to-offset")) {
        for (int i = 0; i < l->cnt; i++)
            l->elems[i].offset = x->value;
        return groups_clamp(x, l);
    }
    if (!strcmp(s, "to-earliest")) return groups_set_log_offsets(x, l, GROUPS_TS_EARLIEST);
    if (!strcmp(s, "to-latest")) return groups_set_log_offsets(x, l, GROUPS_TS_LATEST);
    if (!strcmp(s, "shift-by")) {
        for (int i = 0; i < l->cnt; i++) {
            int64_t cur = groups_tp_offset(committed, l->elems[i].topic, l->elems[i].partition);
            if (cur < 0)
                return groups_usage_die("Cannot shift offset for partition %s-%d since there is "
                                        "no current committed offset",
                                        l->elems[i].topic, l->elems[i].partition);
            if (__builtin_add_overflow(cur, x->value, &l->elems[i].offset))
                l->elems[i].offset = x->value < 0 ? INT64_MIN : INT64_MAX;
        }
        return groups_clamp(x, l);
    }
    if (!strcmp(s, "to-datetime") || !strcmp(s, "by-duration"))
        return groups_set_time_offsets(x, l, x->value);
    if (!strcmp(s, "from-file")) {
        for (size_t i = 0; i < x->plan_n; i++) {
            const struct groups_plan_entry *e = &x->plan[i];
            if (e->group && strcmp(e->group, group)) continue;
            rd_kafka_topic_partition_list_add(l, e->topic, e->partition)->offset = e->offset;
        }
        if (!l->cnt) {
            groups_error(x, "No reset plan for group %s found", group);
            return 0;
        }
        return groups_clamp(x, l);
    }
    /* to-current: the committed offset, or the log end offset without one */
    rd_kafka_topic_partition_list_t *missing = rd_kafka_topic_partition_list_new(0);
    for (int i = 0; i < l->cnt; i++) {
        l->elems[i].offset = groups_tp_offset(committed, l->elems[i].topic, l->elems[i].partition);
        if (l->elems[i].offset < 0)
            rd_kafka_topic_partition_list_add(missing, l->elems[i].topic, l->elems[i].partition);
    }
    int rc = groups_set_log_offsets(x, missing, GROUPS_TS_LATEST);
    for (int i = 0; !rc && i < missing->cnt; i++)
        rd_kafka_topic_partition_list_find(l, missing->elems[i].topic, missing->elems[i].partition)
            ->offset = missing->elems[i].offset;
    rd_kafka_topic_partition_list_destroy(missing);
    return rc;
}

/* AlterConsumerGroupOffsets of l for group.  0 or 1 after printing. */
static int groups_alter(struct groups_ctx *x, const char *group,
                        const rd_kafka_topic_partition_list_t *l)
{
    if (!l->cnt) return 0;
    rd_kafka_AlterConsumerGroupOffsets_t *req = rd_kafka_AlterConsumerGroupOffsets_new(group, l);
    rd_kafka_AdminOptions_t *o =
        groups_admin_options(x, RD_KAFKA_ADMIN_OP_ALTERCONSUMERGROUPOFFSETS);
    rd_kafka_AlterConsumerGroupOffsets(x->rk, &req, 1, o, x->q);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_AlterConsumerGroupOffsets_destroy(req);
    rd_kafka_event_t *ev = groups_admin_wait(x, RD_KAFKA_EVENT_ALTERCONSUMERGROUPOFFSETS_RESULT,
                                             "alterConsumerGroupOffsets");
    if (!ev) return 1;
    size_t n = 0;
    const rd_kafka_group_result_t **gr = rd_kafka_AlterConsumerGroupOffsets_result_groups(
        rd_kafka_event_AlterConsumerGroupOffsets_result(ev), &n);
    int rc = 0;
    char buf[GROUPS_MSG_BYTES];
    for (size_t i = 0; !rc && i < n; i++) {
        const rd_kafka_error_t *e = rd_kafka_group_result_error(gr[i]);
        if (e) {
            rd_kafka_resp_err_t c = groups_seen(x, rd_kafka_error_code(e));
            rc = groups_fail(x, "%s%s",
                             groups_err_text(c, rd_kafka_error_string(e), buf, sizeof buf),
                             groups_hint(c));
            break;
        }
        const rd_kafka_topic_partition_list_t *p = rd_kafka_group_result_partitions(gr[i]);
        for (int k = 0; p && !rc && k < p->cnt; k++)
            if (p->elems[k].err)
                rc = groups_fail(x, "%s (partition %s-%d)",
                                 groups_err_text(p->elems[k].err, NULL, buf, sizeof buf),
                                 p->elems[k].topic, p->elems[k].partition);
    }
    rd_kafka_event_destroy(ev);
    return rc;
}

/* One group's reset: its state, the partitions, the new offsets and, with --execute, the
 * commit.  *plan stays empty for a group that is not inactive.  0 or 1 after printing. */
static int groups_reset_one(struct groups_ctx *x, const char *group,
                            const rd_kafka_ConsumerGroupDescription_t *d,
                            rd_kafka_topic_partition_list_t *plan)
{
    rd_kafka_consumer_group_state_t st = groups_state(d);
    if (st != RD_KAFKA_CONSUMER_GROUP_STATE_EMPTY && st != RD_KAFKA_CONSUMER_GROUP_STATE_DEAD) {
        groups_error(x,
                     "Assignments can only be reset if the group '%s' is inactive, but the "
                     "current state is %s.",
                     group, groups_state_name(st));
        return 0;
    }
    rd_kafka_topic_partition_list_t *committed = NULL;
    bool need_committed = G_HAS("all-topics") || !strcmp(x->scenario, "shift-by") ||
                          !strcmp(x->scenario, "to-current");
    if (need_committed && !(committed = groups_committed(x, group))) return 1;
    int rc = 0;
    if (!strcmp(x->scenario, "from-file")) {
        /* the plan names the partitions */
    } else if (G_HAS("all-topics")) {
        for (int i = 0; i < committed->cnt; i++)
            rd_kafka_topic_partition_list_add(plan, committed->elems[i].topic,
                                              committed->elems[i].partition);
    } else {
        rc = groups_topic_partitions(x, plan);
    }
    if (!rc) {
        groups_tp_sort_unique(plan);
        rc = groups_prepare(x, group, plan, committed);
    }
    if (!rc) groups_tp_sort_unique(plan);
    bool dry_run = G_HAS("dry-run") || !G_HAS("execute");
    if (!rc && !dry_run) rc = groups_alter(x, group, plan);
    if (committed) rd_kafka_topic_partition_list_destroy(committed);
    return rc;
}

/* Jackson's CSV quoting, for a group id. */
static void groups_csv_field(const char *s)
{
    if (!strpbrk(s, ",\"\r\n") && *s != ' ' && (!*s || s[strlen(s) - 1] != ' ')) {
        fputs(s, stdout);
        return;
    }
    fputc('"', stdout);
    for (; *s; s++) {
        if (*s == '"') fputc('"', stdout);
        fputc(*s, stdout);
    }
    fputc('"', stdout);
}

int groups_reset_cmd(struct groups_ctx *x)
{
    char **ids;
    size_t n;
    if (groups_ids(x, false, &ids, &n)) return 1;
    rd_kafka_event_t *ev = NULL;
    const rd_kafka_ConsumerGroupDescription_t **descs = NULL;
    rd_kafka_topic_partition_list_t **plans = calloc(n + 1, sizeof *plans);
    int rc = plans ? groups_describe(x, ids, n, &ev, &descs) : groups_fail(x, "out of memory");
    for (size_t i = 0; !rc && i < n; i++) {
        plans[i] = rd_kafka_topic_partition_list_new(0);
        rc = groups_reset_one(x, ids[i], descs[i], plans[i]);
    }
    if (!rc && G_HAS("export")) {
        /* Kafka: one group named with --group exports "topic,partition,offset" lines */
        bool single = cli_opt(groups_opts, groups_opts_n, "group")->values_n == 1;
        for (size_t i = 0; i < n; i++)
            for (int k = 0; k < plans[i]->cnt; k++) {
                const rd_kafka_topic_partition_t *p = &plans[i]->elems[k];
                if (!single) {
                    groups_csv_field(ids[i]);
                    fputc(',', stdout);
                }
                printf("%s,%d,%" PRId64 "\n", p->topic, p->partition, p->offset);
            }
        printf("\n");
    } else if (!rc && n) {
        printf("\n%-30s %-30s %-10s %-15s\n", "GROUP", "TOPIC", "PARTITION", "NEW-OFFSET");
        for (size_t i = 0; i < n; i++)
            for (int k = 0; k < plans[i]->cnt; k++)
                printf("%-30s %-30s %-10d %-15" PRId64 "\n", ids[i], plans[i]->elems[k].topic,
                       plans[i]->elems[k].partition, plans[i]->elems[k].offset);
    }
    for (size_t i = 0; plans && i < n; i++)
        if (plans[i]) rd_kafka_topic_partition_list_destroy(plans[i]);
    free(plans);
    free(descs);
    if (ev) rd_kafka_event_destroy(ev);
    groups_ids_free(ids, n);
    return rc || x->failed;
}

/* ========================================================================================== */
/* --from-file                                                                                */

/* Splits one CSV line at commas (no quoting but a fully quoted field).  Up to max fields into
 * f (pointers into line, which is modified).  Returns the number of fields. */
static size_t groups_csv_split(char *line, char **f, size_t max)
{
    size_t n = 0;
    char *p = line;
    for (;;) {
        if (n == max) return max + 1;
        if (*p == '"') {
            char *o = ++p;
            f[n++] = o;
            while (*p && !(*p == '"' && p[1] != '"')) {
                if (*p == '"') p++;
                *o++ = *p++;
            }
            if (*p == '"') p++;
            char *after = p;
            *o = 0;
            if (*after != ',' && *after) return max + 1;
            if (!*after) return n;
            p = after + 1;
            continue;
        }
        f[n++] = p;
        char *c = strchr(p, ',');
        if (!c) return n;
        *c = 0;
        p = c + 1;
    }
}

static bool groups_csv_int(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    return !cli_parse_int(s, lo, hi, out) && *s != ' ';
}

/* Reads --from-file: "topic,partition,offset" lines when one --group is given and the first
 * line has that form, "group,topic,partition,offset" lines otherwise.  0, or 1 after printing. */
int groups_read_plan(struct groups_ctx *x, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return groups_fail(x, "%s (No such file or directory)", path);
    struct gbuf b;
    gbuf_init(&b);
    char chunk[65536];
    size_t got;
    int rc = 0;
    while (!rc && (got = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (b.len + got > GROUPS_FILE_MAX || gbuf_append(&b, chunk, got))
            rc = groups_fail(x, "%s: too large", path);
    bool read_err = ferror(f);
    fclose(f);
    if (!rc && read_err) rc = groups_fail(x, "%s: %s", path, strerror(errno));
    if (!rc && gbuf_append(&b, "", 1)) rc = groups_fail(x, "out of memory");
    bool single = cli_opt(groups_opts, groups_opts_n, "group")->values_n == 1;
    bool old_format = false;
    size_t lineno = 0;
    char *p = rc ? NULL : (char *)b.data;
    while (p && *p) {
        char *nl = strchr(p, '\n');
        if (nl) *nl = 0;
        size_t len = strlen(p);
        if (len && p[len - 1] == '\r') p[--len] = 0;
        lineno++;
        char *next = nl ? nl + 1 : NULL;
        if (!len) {
            p = next;
            continue;
        }
        char *fld[5];
        size_t nf = groups_csv_split(p, fld, 4);
        int64_t part, off;
        if (x->plan_n == 0 && lineno == 1)
            old_format = single && nf == 3 && groups_csv_int(fld[1], INT32_MIN, INT32_MAX, &part) &&
                         groups_csv_int(fld[2], INT64_MIN, INT64_MAX, &off);
        size_t want = old_format ? 3 : 4;
        size_t o = old_format ? 0 : 1;
        if (nf != want || !groups_csv_int(fld[o + 1], INT32_MIN, INT32_MAX, &part) ||
            !groups_csv_int(fld[o + 2], INT64_MIN, INT64_MAX, &off)) {
            rc =
                groups_fail(x,
                            "line %zu of %s is not \"%s\": expected %s lines, as --export "
                            "writes them",
                            lineno, path,
                            old_format ? "topic,partition,offset" : "group,topic,partition,offset",
                            old_format ? "topic,partition,offset" : "group,topic,partition,offset");
            break;
        }
        struct groups_plan_entry *np = realloc(x->plan, (x->plan_n + 1) * sizeof *np);
        if (!np) {
            rc = groups_fail(x, "out of memory");
            break;
        }
        x->plan = np;
        struct groups_plan_entry *e = &x->plan[x->plan_n++];
        e->group = old_format ? NULL : strdup(fld[0]);
        e->topic = strdup(fld[o]);
        e->partition = (int32_t)part;
        e->offset = off;
        if (!e->topic || (!old_format && !e->group)) {
            rc = groups_fail(x, "out of memory");
            break;
        }
        p = next;
    }
    gbuf_close(&b);
    return rc;
}

/* ========================================================================================== */
/* --delete-offsets                                                                           */

struct groups_del_row {
    char key[GROUPS_TOPIC_BYTES + 16]; /* Kafka sorts by topic + partition.toString */
    const char *topic;
    int32_t partition;      /* -1: the topic could not be described */
    const char *status_err; /* NULL: "Successful" */
};

static int groups_del_row_cmp(const void *a, const void *b)
{
    return strcmp(((const struct groups_del_row *)a)->key, ((const struct groups_del_row *)b)->key);
}

int groups_delete_offsets_cmd(struct groups_ctx *x)
{
    const char *group = cli_opt(groups_opts, groups_opts_n, "group")->values[0];
    const struct cli_opt *t = cli_opt(groups_opts, groups_opts_n, "topic");
    static int32_t parts[GROUPS_SPEC_PARTS_MAX];
    rd_kafka_topic_partition_list_t *tps = rd_kafka_topic_partition_list_new(0);
    rd_kafka_topic_partition_list_t *unknown = rd_kafka_topic_partition_list_new(0);
    int rc = 0;
    for (size_t i = 0; !rc && i < t->values_n; i++) {
        char topic[GROUPS_TOPIC_BYTES], err[GROUPS_MSG_BYTES];
        bool has_parts;
        size_t n;
        if (cli_groups_parse_topic_spec(t->values[i], topic, sizeof topic, &has_parts, parts,
                                        GR_ARRAY_LEN(parts), &n, err, sizeof err)) {
            rc = groups_usage_die("%s", err);
            break;
        }
        for (size_t k = 0; k < n; k++)
            rd_kafka_topic_partition_list_add(tps, topic, parts[k]);
        if (has_parts) continue;
        if ((rc = groups_metadata(x))) break;
        const rd_kafka_metadata_topic_t *mt = NULL;
        for (int k = 0; k < x->md->topic_cnt && !mt; k++)
            if (!strcmp(x->md->topics[k].topic, topic)) mt = &x->md->topics[k];
        if (!mt || mt->err) {
            rd_kafka_topic_partition_list_add(unknown, topic, -1)->err =
                mt ? mt->err : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
            continue;
        }
        for (int k = 0; k < mt->partition_cnt; k++)
            rd_kafka_topic_partition_list_add(tps, topic, mt->partitions[k].id);
    }
    if (rc) goto done;
    groups_tp_sort_unique(tps);
    rd_kafka_resp_err_t top = RD_KAFKA_RESP_ERR_NO_ERROR, group_err = RD_KAFKA_RESP_ERR_NO_ERROR;
    const char *group_err_str = NULL;
    rd_kafka_event_t *ev = NULL;
    const rd_kafka_topic_partition_list_t *res = NULL;
    if (tps->cnt) {
        rd_kafka_DeleteConsumerGroupOffsets_t *req =
            rd_kafka_DeleteConsumerGroupOffsets_new(group, tps);
        rd_kafka_AdminOptions_t *o =
            groups_admin_options(x, RD_KAFKA_ADMIN_OP_DELETECONSUMERGROUPOFFSETS);
        rd_kafka_DeleteConsumerGroupOffsets(x->rk, &req, 1, o, x->q);
        rd_kafka_AdminOptions_destroy(o);
        rd_kafka_DeleteConsumerGroupOffsets_destroy(req);
        ev = groups_admin_wait(x, RD_KAFKA_EVENT_DELETECONSUMERGROUPOFFSETS_RESULT,
                               "deleteConsumerGroupOffsets");
        if (!ev) {
            rc = 1;
            goto done;
        }
        size_t gn = 0;
        const rd_kafka_group_result_t **gr = rd_kafka_DeleteConsumerGroupOffsets_result_groups(
            rd_kafka_event_DeleteConsumerGroupOffsets_result(ev), &gn);
        for (size_t i = 0; i < gn; i++) {
            const rd_kafka_error_t *e = rd_kafka_group_result_error(gr[i]);
            if (e) {
                top = group_err = groups_seen(x, rd_kafka_error_code(e));
                group_err_str = rd_kafka_error_string(e);
            }
            res = rd_kafka_group_result_partitions(gr[i]);
        }
        /* Kafka's all() fails with the first partition's error when the group has none */
        for (int i = 0; !top && res && i < res->cnt; i++)
            if (res->elems[i].err) top = res->elems[i].err;
    }
    switch ((int)top) {
    case RD_KAFKA_RESP_ERR_NO_ERROR: {
        printf("Request succeed for deleting offsets with topic ");
        for (size_t i = 0; i < t->values_n; i++)
            printf("%s%s", i ? ", " : "", t->values[i]);
        printf(" group %s\n", group);
        break;
    }
    case RD_KAFKA_RESP_ERR_INVALID_GROUP_ID:
        groups_error(x, "'%s' is not valid.", group);
        break;
    case RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND:
        groups_error(x, "'%s' does not exist.", group);
        break;
    case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
        groups_error(x, "Access to '%s' is not authorized.", group);
        break;
    case RD_KAFKA_RESP_ERR_NON_EMPTY_GROUP:
        groups_error(x,
                     "Deleting offsets of a consumer group '%s' is forbidden if the group is not "
                     "empty.",
                     group);
        break;
    case RD_KAFKA_RESP_ERR_GROUP_SUBSCRIBED_TO_TOPIC:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
        groups_error(x, "Encounter some partition level error, see the follow-up details:");
        break;
    default:
        groups_error(x, "Encounter some unknown error: %s%s", rd_kafka_err2name(top),
                     groups_hint(top));
        break;
    }
    if (unknown->cnt) x->failed = true;
    size_t rn = (size_t)(tps->cnt + unknown->cnt);
    struct groups_del_row *rows = calloc(rn + 1, sizeof *rows);
    if (!rows) {
        if (ev) rd_kafka_event_destroy(ev);
        rc = groups_fail(x, "out of memory");
        goto done;
    }
    size_t n = 0;
    for (int i = 0; i < tps->cnt; i++) {
        struct groups_del_row *r = &rows[n++];
        r->topic = tps->elems[i].topic;
        r->partition = tps->elems[i].partition;
        /* a group-level failure fails every partition, as Kafka's futures do */
        rd_kafka_topic_partition_t *pr =
            res ? rd_kafka_topic_partition_list_find((rd_kafka_topic_partition_list_t *)res,
                                                     r->topic, r->partition)
                : NULL;
        if (group_err)
            r->status_err = groups_err_message(group_err, group_err_str);
        else if (pr && pr->err)
            r->status_err = groups_err_message(pr->err, NULL);
        strfmt(r->key, sizeof r->key, "%s%d", r->topic, r->partition);
    }
    for (int i = 0; i < unknown->cnt; i++) {
        struct groups_del_row *r = &rows[n++];
        r->topic = unknown->elems[i].topic;
        r->partition = -1;
        r->status_err = groups_err_message(unknown->elems[i].err, NULL);
        strfmt(r->key, sizeof r->key, "%s%d", r->topic, r->partition);
    }
    qsort(rows, n, sizeof *rows, groups_del_row_cmp);
    printf("\n%-30s %-15s %-15s\n", "TOPIC", "PARTITION", "STATUS");
    for (size_t i = 0; i < n; i++) {
        char part[16] = "Not Provided", status[GROUPS_MSG_BYTES] = "Successful";
        if (rows[i].partition >= 0) strfmt(part, sizeof part, "%d", rows[i].partition);
        if (rows[i].status_err) strfmt(status, sizeof status, "Error: %s", rows[i].status_err);
        printf("%-30s %-15s %-15s\n", rows[i].topic, part, status);
    }
    free(rows);
    if (ev) rd_kafka_event_destroy(ev);
done:
    rd_kafka_topic_partition_list_destroy(unknown);
    rd_kafka_topic_partition_list_destroy(tps);
    return rc || x->failed;
}
