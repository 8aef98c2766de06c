/* test_controller.c — Check suite for controller/: configuration rules, topic names, and the
 * metadata state (applying records, snapshots and what they tell the listener), placement, the
 * voter list, and leader elections (ElectLeaders and the automatic preferred election).  The quorum itself is tested by tests/sim and the integration tests. */
#include "controller/controller_int.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *write_temp(const char *text)
{
    static char path[64];
    strcpy(path, "/tmp/gregor-test-XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

START_TEST(test_broker_config_load_and_derive)
{
    char *path = write_temp("node.id=3\nprocess.roles=broker,controller\n"
                            "log.retention.hours=2\nlog.dir=/x\nsome.unknown=1\n");
    struct props p;
    props_init(&p);
    char err[256] = "";
    char *over[] = {"num.partitions=4"};
    ck_assert_int_eq(cfg_broker_load(&p, path, over, 1, err, sizeof err), 0);
    ck_assert_str_eq(props_get(&p, "log.retention.ms"), "7200000");
    ck_assert_str_eq(props_get(&p, "log.dirs"), "/x");
    ck_assert_int_eq(cfg_get_long(&p, "num.partitions", 0), 4);
    ck_assert_int_eq(cfg_get_long(&p, "log.segment.bytes", 0), 1073741824);
    ck_assert(cfg_broker_is_set(&p, "node.id"));
    ck_assert(!cfg_broker_is_set(&p, "message.max.bytes"));
    props_close(&p);
    unlink(path);

    path = write_temp("num.partitions=zero\n");
    props_init(&p);
    ck_assert_int_eq(cfg_broker_load(&p, path, NULL, 0, err, sizeof err), GR_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "num.partitions"));
    props_close(&p);
    unlink(path);
}
END_TEST

START_TEST(test_topic_config_resolution)
{
    struct props broker, topic;
    props_init(&broker);
    props_init(&topic);
    props_set(&broker, "log.retention.ms", "1000");
    int8_t src;
    ck_assert_str_eq(cfg_topic_value(&topic, &broker, "retention.ms", &src), "1000");
    ck_assert_int_eq(src, CFG_SOURCE_STATIC_BROKER);
    props_set(&topic, "retention.ms", "5");
    ck_assert_str_eq(cfg_topic_value(&topic, &broker, "retention.ms", &src), "5");
    ck_assert_int_eq(src, CFG_SOURCE_TOPIC);
    ck_assert_str_eq(cfg_topic_value(&topic, &broker, "cleanup.policy", &src), "delete");
    ck_assert_int_eq(src, CFG_SOURCE_DEFAULT);
    ck_assert_ptr_null(cfg_topic_value(&topic, &broker, "no.such.key", &src));
    struct storage_log_config lc;
    cfg_topic_storage_config(&topic, &broker, &lc);
    ck_assert(lc.retention_ms == 5);
    ck_assert(lc.segment_bytes == 1073741824);
    char err[128];
    ck_assert_int_eq(cfg_validate(cfg_find(cfg_topic_defs, "compression.type"), "brotli", err,
                                  sizeof err), GR_EINVAL);
    ck_assert_int_eq(cfg_validate(cfg_find(cfg_topic_defs, "retention.ms"), "-2", err,
                                  sizeof err), GR_EINVAL);
    props_close(&broker);
    props_close(&topic);
}
END_TEST

START_TEST(test_topic_names)
{
    ck_assert_ptr_null(md_topic_name_invalid("first_topic", 11));
    ck_assert_ptr_null(md_topic_name_invalid("a.b-c_D9", 8));
    ck_assert_ptr_nonnull(md_topic_name_invalid("", 0));
    ck_assert_ptr_nonnull(md_topic_name_invalid(".", 1));
    ck_assert_ptr_nonnull(md_topic_name_invalid("..", 2));
    ck_assert_ptr_nonnull(md_topic_name_invalid("a/b", 3));
    ck_assert_ptr_nonnull(md_topic_name_invalid("a b", 3));
    char longname[251];
    memset(longname, 'x', 250);
    ck_assert_ptr_null(md_topic_name_invalid(longname, 249));
    ck_assert_ptr_nonnull(md_topic_name_invalid(longname, 250));
}
END_TEST

/* ------------------------------------------------------------------------------------------ */

static int created, deleted, changed, grown;
static void on_created(void *arg, const struct md_topic *t)
{
    created++;
}
static void on_deleting(void *arg, const struct md_topic *t)
{
    deleted++;
}
static void on_changed(void *arg, const struct md_topic *t)
{
    changed++;
}
static void on_grown(void *arg, const struct md_topic *t)
{
    grown++;
}

static void add_broker(struct md_batch *b, int32_t id, const char *rack, bool fenced)
{
    struct md_endpoint eps[2] = {{"INTERNAL", "127.0.0.1", 9000 + id},
                                 {"EXTERNAL", "10.0.0.1", 19000 + id}};
    struct md_broker br = {.id = id, .host = "127.0.0.1", .port = 9000 + id, .endpoints = eps,
                           .endpoint_count = 2, .rack = (char *)rack, .epoch = 100 + id,
                           .fenced = fenced};
    md_batch_add_register_broker(b, &br);
}

static void apply_batch(struct md_state *st, struct md_batch *b, uint64_t index)
{
    struct gbuf out;
    gbuf_init(&out);
    ck_assert_int_eq(md_batch_finish(b, &out), 0);
    ck_assert_int_eq(md_state_apply(st, index, out.data, out.len), 0);
    gbuf_close(&out);
}

/* Records applied to one state, snapshotted and loaded into another, give the same image, and
 * the listener hears exactly the differences. */
START_TEST(test_state_apply_and_snapshot)
{
    struct gr_uuid cid = {{1}};
    struct controller_listener l = {NULL, on_created, on_deleting, on_changed, on_grown};
    struct md_state a, b;
    ck_assert_int_eq(md_state_init(&a, &cid, &l), 0);
    ck_assert_int_eq(md_state_init(&b, &cid, &l), 0);
    created = deleted = changed = 0;
    struct md_batch batch;
    md_batch_init(&batch);
    add_broker(&batch, 1, "r1", false);
    add_broker(&batch, 2, NULL, true);
    struct gr_uuid t1 = {{7}}, t2 = {{8}};
    md_batch_add_topic(&batch, KSTR("t1"), &t1);
    int32_t reps[2] = {1, 2};
    struct md_partition p0 = {.id = 0, .leader = 1, .leader_epoch = 3, .replica_count = 2,
                              .replicas = reps, .isr_count = 1, .isr = reps};
    md_batch_add_partition_state(&batch, &t1, &p0);
    md_batch_add_config(&batch, 2, KSTR("t1"), KSTR("retention.ms"), KSTR("1000"));
    md_batch_add_topic(&batch, KSTR("t2"), &t2);
    apply_batch(&a, &batch, 5);
    md_batch_close(&batch);
    ck_assert_int_eq(created, 2);
    ck_assert_int_eq(changed, 0); /* configs of a topic created in the same batch */
    ck_assert_int_eq(a.image.applied_offset, 5);
    ck_assert_int_eq(a.image.broker_count, 2);
    ck_assert(md_image_broker(&a.image, 2)->fenced);
    ck_assert_int_eq(md_image_broker(&a.image, 1)->epoch, 101);
    ck_assert_str_eq(md_image_broker(&a.image, 1)->rack, "r1");
    /* every listener's endpoint, found by name; the first is the default */
    const struct md_broker *b1 = md_image_broker(&a.image, 1);
    ck_assert_int_eq(b1->endpoint_count, 2);
    ck_assert_int_eq(md_broker_endpoint(b1, "EXTERNAL")->port, 19001);
    ck_assert_str_eq(md_broker_endpoint(b1, "EXTERNAL")->host, "10.0.0.1");
    ck_assert_int_eq(md_broker_endpoint(b1, NULL)->port, 9001);
    ck_assert_ptr_null(md_broker_endpoint(b1, "PLAINTEXT"));

    /* a fence/unfence with a stale epoch is ignored; the right one applies */
    md_batch_init(&batch);
    md_batch_add_broker_change(&batch, 2, 99, -1, 0);
    md_batch_add_broker_change(&batch, 1, 101, 1, 1);
    apply_batch(&a, &batch, 6);
    md_batch_close(&batch);
    ck_assert(md_image_broker(&a.image, 2)->fenced);
    ck_assert(md_image_broker(&a.image, 1)->fenced);
    ck_assert(md_image_broker(&a.image, 1)->in_controlled_shutdown);

    struct gbuf snap;
    gbuf_init(&snap);
    ck_assert_int_eq(md_state_snapshot(&a, &snap), 0);
    created = 0;
    ck_assert_int_eq(md_state_load_snapshot(&b, 6, snap.data, snap.len), 0);
    ck_assert_int_eq(created, 2);
    ck_assert_int_eq(b.image.applied_offset, 6);
    ck_assert_int_eq(b.image.topic_count, 2);
    ck_assert_int_eq(md_broker_endpoint(md_image_broker(&b.image, 2), "EXTERNAL")->port, 19002);
    const struct md_topic *bt = md_image_topic(&b.image, "t1", 2);
    ck_assert_ptr_nonnull(bt);
    ck_assert_int_eq(bt->partition_count, 1);
    ck_assert_int_eq(bt->partitions[0].leader_epoch, 3);
    ck_assert_int_eq(bt->partitions[0].isr_count, 1);
    ck_assert_str_eq(props_get(&bt->configs, "retention.ms"), "1000");
    ck_assert(md_image_broker(&b.image, 1)->in_controlled_shutdown);

    /* a new partition of an existing topic is announced once per batch; the new topic's own
     * partitions are not */
    grown = 0;
    md_batch_init(&batch);
    struct md_partition p1 = p0, p2 = p0;
    p1.id = 1;
    p2.id = 2;
    md_batch_add_partition_state(&batch, &t1, &p1);
    md_batch_add_partition_state(&batch, &t1, &p2);
    apply_batch(&a, &batch, 7);
    md_batch_close(&batch);
    ck_assert_int_eq(grown, 1);
    ck_assert_int_eq(md_image_topic(&a.image, "t1", 2)->partition_count, 3);

    /* a later snapshot without t2, with a changed config and more partitions: one deletion, one
     * config change, one growth */
    md_batch_init(&batch);
    md_batch_add_remove_topic(&batch, &t2);
    md_batch_add_config(&batch, 2, KSTR("t1"), KSTR("retention.ms"), KSTR("2000"));
    apply_batch(&a, &batch, 8);
    md_batch_close(&batch);
    gbuf_reset(&snap);
    ck_assert_int_eq(md_state_snapshot(&a, &snap), 0);
    created = deleted = changed = grown = 0;
    ck_assert_int_eq(md_state_load_snapshot(&b, 8, snap.data, snap.len), 0);
    ck_assert_int_eq(created, 0);
    ck_assert_int_eq(deleted, 1);
    ck_assert_int_eq(changed, 1);
    ck_assert_int_eq(grown, 1);
    ck_assert_ptr_null(md_image_topic(&b.image, "t2", 2));
    /* a corrupt snapshot leaves the image as it was */
    snap.data[snap.len / 2] ^= 0xff;
    ck_assert_int_ne(md_state_load_snapshot(&b, 9, snap.data, snap.len), 0);
    ck_assert_int_eq(b.image.topic_count, 1);
    gbuf_close(&snap);
    md_state_close(&a);
    md_state_close(&b);
}
END_TEST

/* Rack-aware placement: replicas of a partition in distinct racks, leaders spread evenly,
 * fenced brokers never chosen, too few brokers refused. */
START_TEST(test_placement)
{
    struct gr_uuid cid = {{1}};
    struct md_state st;
    ck_assert_int_eq(md_state_init(&st, &cid, NULL), 0);
    struct md_batch batch;
    md_batch_init(&batch);
    const char *racks[] = {"a", "a", "b", "b", "c", "c"};
    for (int i = 0; i < 6; i++) add_broker(&batch, i + 1, racks[i], false);
    add_broker(&batch, 7, "c", true);
    apply_batch(&st, &batch, 1);
    md_batch_close(&batch);
    int32_t out[12 * 3];
    ck_assert_int_eq(ctrl_place_replicas(&st.image, 12, 3, 5, out), 0);
    int leaders[8] = {0};
    for (int p = 0; p < 12; p++) {
        leaders[out[p * 3]]++;
        for (int k = 0; k < 3; k++) {
            ck_assert_int_ne(out[p * 3 + k], 7);
            for (int j = 0; j < k; j++)
                ck_assert_str_ne(racks[out[p * 3 + j] - 1], racks[out[p * 3 + k] - 1]);
        }
    }
    for (int i = 1; i <= 6; i++) ck_assert_int_eq(leaders[i], 2);
    ck_assert_int_eq(ctrl_place_replicas(&st.image, 1, 7, 0, out), GR_EINVAL);
    md_state_close(&st);

    /* without racks: replicas of a partition are distinct for every broker count and RF */
    for (int nb = 1; nb <= 6; nb++) {
        ck_assert_int_eq(md_state_init(&st, &cid, NULL), 0);
        md_batch_init(&batch);
        for (int i = 0; i < nb; i++) add_broker(&batch, i + 1, NULL, false);
        apply_batch(&st, &batch, 1);
        md_batch_close(&batch);
        for (int rf = 1; rf <= nb; rf++) {
            int32_t many[40 * 6];
            ck_assert_int_eq(ctrl_place_replicas(&st.image, 40, rf, nb + rf, many), 0);
            for (int p = 0; p < 40; p++)
                for (int k = 0; k < rf; k++)
                    for (int j = 0; j < k; j++)
                        ck_assert_int_ne(many[p * rf + j], many[p * rf + k]);
        }
        md_state_close(&st);
    }
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* Leader elections                                                                            */

/* An image for the election tests: brokers 1-3 live, 4 fenced; topic "t" with partitions
 *   p0 [1,2,3] leader 1 isr [1,2,3]   preferred leads already
 *   p1 [2,3,1] leader 3 isr [2,3,1]   preferred 2 live and in sync
 *   p2 [4,1,2] leader 1 isr [4,1,2]   preferred 4 fenced
 *   p3 [3,1,2] leader 1 isr [1,2]     preferred 3 out of sync
 *   p4 [4,3,2] leader -1 isr [4]      no leader; 3 and 2 live but out of sync
 *   p5 [4]     leader -1 isr [4]      no leader, no live replica                       */
static void election_image(struct md_state *st, struct gr_uuid *tid)
{
    struct gr_uuid cid = {{1}};
    ck_assert_int_eq(md_state_init(st, &cid, NULL), 0);
    struct md_batch batch;
    md_batch_init(&batch);
    for (int i = 1; i <= 4; i++) add_broker(&batch, i, NULL, i == 4);
    *tid = (struct gr_uuid){{9}};
    md_batch_add_topic(&batch, KSTR("t"), tid);
    static int32_t reps[6][3] = {{1, 2, 3}, {2, 3, 1}, {4, 1, 2}, {3, 1, 2}, {4, 3, 2}, {4}};
    static int32_t isrs[6][3] = {{1, 2, 3}, {2, 3, 1}, {4, 1, 2}, {1, 2}, {4}, {4}};
    int32_t rc[6] = {3, 3, 3, 3, 3, 1}, ic[6] = {3, 3, 3, 2, 1, 1};
    int32_t leaders[6] = {1, 3, 1, 1, -1, -1};
    for (int p = 0; p < 6; p++) {
        struct md_partition mp = {.id = p, .leader = leaders[p], .leader_epoch = 5,
                                  .partition_epoch = 7, .replica_count = rc[p],
                                  .replicas = reps[p], .isr_count = ic[p], .isr = isrs[p]};
        md_batch_add_partition_state(&batch, tid, &mp);
    }
    apply_batch(st, &batch, 1);
    md_batch_close(&batch);
}

START_TEST(test_elect_leader_decision)
{
    struct md_state st;
    struct gr_uuid tid;
    election_image(&st, &tid);
    const struct md_topic *t = md_image_topic(&st.image, "t", 1);
    ck_assert_ptr_nonnull(t);
    struct md_partition np;
    int32_t one[1];
    const char *msg;
    int16_t want_preferred[6] = {KAFKA_ERR_ELECTION_NOT_NEEDED, KAFKA_ERR_NONE,
                                 KAFKA_ERR_PREFERRED_LEADER_NOT_AVAILABLE,
                                 KAFKA_ERR_PREFERRED_LEADER_NOT_AVAILABLE,
                                 KAFKA_ERR_PREFERRED_LEADER_NOT_AVAILABLE,
                                 KAFKA_ERR_PREFERRED_LEADER_NOT_AVAILABLE};
    int16_t want_unclean[6] = {KAFKA_ERR_ELECTION_NOT_NEEDED, KAFKA_ERR_ELECTION_NOT_NEEDED,
                               KAFKA_ERR_ELECTION_NOT_NEEDED, KAFKA_ERR_ELECTION_NOT_NEEDED,
                               KAFKA_ERR_NONE, KAFKA_ERR_ELIGIBLE_LEADERS_NOT_AVAILABLE};
    for (int p = 0; p < 6; p++) {
        ck_assert_int_eq(ctrl_elect_leader(&st.image, &t->partitions[p], CTRL_ELECTION_PREFERRED,
                                           &np, one, &msg), want_preferred[p]);
        ck_assert(want_preferred[p] == KAFKA_ERR_NONE ? msg == NULL : msg != NULL);
        ck_assert_int_eq(ctrl_elect_leader(&st.image, &t->partitions[p], CTRL_ELECTION_UNCLEAN,
                                           &np, one, &msg), want_unclean[p]);
    }
    ck_assert_int_eq(ctrl_elect_leader(&st.image, &t->partitions[2], CTRL_ELECTION_PREFERRED,
                                       &np, one, &msg), KAFKA_ERR_PREFERRED_LEADER_NOT_AVAILABLE);
    ck_assert_str_eq(msg, "The preferred leader was not available.");
    /* preferred: the ISR stays, both epochs move */
    ck_assert_int_eq(ctrl_elect_leader(&st.image, &t->partitions[1], CTRL_ELECTION_PREFERRED,
                                       &np, one, &msg), KAFKA_ERR_NONE);
    ck_assert_int_eq(np.leader, 2);
    ck_assert_int_eq(np.leader_epoch, 6);
    ck_assert_int_eq(np.partition_epoch, 8);
    ck_assert_int_eq(np.isr_count, 3);
    /* unclean: the first live replica, alone in the ISR */
    ck_assert_int_eq(ctrl_elect_leader(&st.image, &t->partitions[4], CTRL_ELECTION_UNCLEAN, &np,
                                       one, &msg), KAFKA_ERR_NONE);
    ck_assert_int_eq(np.leader, 3);
    ck_assert_int_eq(np.isr_count, 1);
    ck_assert_int_eq(np.isr[0], 3);
    ck_assert_int_eq(np.leader_epoch, 6);
    md_state_close(&st);
}
END_TEST

/* Runs one ElectLeaders request through the forwarded-API table against st's image; the
 * records it decides are applied to st at `index`.  Returns the op (its resp is the answer). */
static struct ctrl_op *run_elect_leaders(struct md_state *st, int16_t version,
                                         const struct kafka_elect_leaders_request *req,
                                         uint64_t index)
{
    struct controller *c = calloc(1, sizeof(*c));
    ck_assert_ptr_nonnull(c);
    c->st = *st;
    struct ctrl_op *op = ctrl_op_new(CTRL_OP_FORWARD);
    op->api_key = KAFKA_API_ELECT_LEADERS;
    op->api_version = version;
    struct kafka_writer w;
    kafka_writer_init(&w, &op->body);
    ck_assert_int_eq(kafka_elect_leaders_request_encode(&w, version, req), 0);
    const struct ctrl_api *api = ctrl_api_find(KAFKA_API_ELECT_LEADERS);
    ck_assert_ptr_nonnull(api);
    ck_assert_int_eq(ctrl_api_decode(api, op), KAFKA_ERR_NONE);
    struct md_batch b;
    md_batch_init(&b);
    api->decide(c, op, &b);
    ck_assert_int_eq(api->encode(op, &op->out), 0);
    if (b.rb.count) apply_batch(&c->st, &b, index);
    md_batch_close(&b);
    *st = c->st;
    free(c);
    return op;
}

START_TEST(test_elect_leaders_api)
{
    struct md_state st;
    struct gr_uuid tid;
    election_image(&st, &tid);
    /* every partition, preferred: the partitions needing no election are left out */
    struct kafka_elect_leaders_request req;
    kafka_elect_leaders_request_init(&req);
    req.election_type = CTRL_ELECTION_PREFERRED;
    req.topic_partitions = NULL;
    req.topic_partitions_count = -1;
    struct ctrl_op *op = run_elect_leaders(&st, 2, &req, 2);
    const struct kafka_elect_leaders_response *resp = op->resp;
    ck_assert_int_eq(resp->error_code, KAFKA_ERR_NONE);
    ck_assert_int_eq(resp->replica_election_results_count, 1);
    const struct kafka_elect_leaders_response_replica_election_result *tr =
        &resp->replica_election_results[0];
    ck_assert(kstr_eq(tr->topic, "t"));
    ck_assert_int_eq(tr->partition_result_count, 5);
    ck_assert_int_eq(tr->partition_result[0].partition_id, 1);
    ck_assert_int_eq(tr->partition_result[0].error_code, KAFKA_ERR_NONE);
    ck_assert_int_lt(tr->partition_result[0].error_message.len, 0);
    for (int k = 1; k < 5; k++)
        ck_assert_int_eq(tr->partition_result[k].error_code,
                         KAFKA_ERR_PREFERRED_LEADER_NOT_AVAILABLE);
    ctrl_op_free(op);
    const struct md_partition *p1 = &md_image_topic(&st.image, "t", 1)->partitions[1];
    ck_assert_int_eq(p1->leader, 2);
    ck_assert_int_eq(p1->leader_epoch, 6);

    /* named partitions, unclean (v1): unknown ones, one not needed, one elected */
    struct kafka_elect_leaders_request_topic_partitions tps[2];
    int32_t ps_t[3] = {0, 4, 9}, ps_nope[1] = {0};
    tps[0] = (struct kafka_elect_leaders_request_topic_partitions){KSTR("t"), ps_t, 3};
    tps[1] = (struct kafka_elect_leaders_request_topic_partitions){KSTR("nope"), ps_nope, 1};
    req.election_type = CTRL_ELECTION_UNCLEAN;
    req.topic_partitions = tps;
    req.topic_partitions_count = 2;
    op = run_elect_leaders(&st, 1, &req, 3);
    resp = op->resp;
    ck_assert_int_eq(resp->replica_election_results_count, 2);
    tr = &resp->replica_election_results[0];
    ck_assert_int_eq(tr->partition_result_count, 3);
    ck_assert_int_eq(tr->partition_result[0].error_code, KAFKA_ERR_ELECTION_NOT_NEEDED);
    ck_assert_int_eq(tr->partition_result[1].error_code, KAFKA_ERR_NONE);
    ck_assert_int_eq(tr->partition_result[2].error_code, KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION);
    ck_assert(kstr_eq(tr->partition_result[2].error_message, "No such partition as t-9"));
    tr = &resp->replica_election_results[1];
    ck_assert_int_eq(tr->partition_result[0].error_code, KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION);
    ck_assert(kstr_eq(tr->partition_result[0].error_message, "No such topic as nope"));
    ctrl_op_free(op);
    const struct md_partition *p4 = &md_image_topic(&st.image, "t", 1)->partitions[4];
    ck_assert_int_eq(p4->leader, 3);
    ck_assert_int_eq(p4->isr_count, 1);

    /* an unknown election type fails the request and every partition */
    req.election_type = 7;
    op = run_elect_leaders(&st, 2, &req, 4);
    resp = op->resp;
    ck_assert_int_eq(resp->error_code, KAFKA_ERR_INVALID_REQUEST);
    ck_assert_int_eq(resp->replica_election_results[0].partition_result[0].error_code,
                     KAFKA_ERR_INVALID_REQUEST);
    ctrl_op_free(op);
    md_state_close(&st);
}
END_TEST

/* The automatic election: a broker's partitions move back only once its share led elsewhere
 * exceeds the percentage, and only where it is live and in the ISR. */
START_TEST(test_rebalance_decision)
{
    struct gr_uuid cid = {{1}};
    struct md_state st;
    ck_assert_int_eq(md_state_init(&st, &cid, NULL), 0);
    struct md_batch batch;
    md_batch_init(&batch);
    for (int i = 1; i <= 3; i++) add_broker(&batch, i, NULL, false);
    struct gr_uuid tid = {{5}};
    md_batch_add_topic(&batch, KSTR("r"), &tid);
    /* preferred 1: p0 led by 2, p3 by 1 (50% elsewhere); preferred 2: p1, p4 led by 2 (0%);
     * preferred 3: p2 led by 1 but 3 is out of its ISR, p5 led by 3 (50%, nothing movable) */
    static int32_t reps[6][3] = {{1, 2, 3}, {2, 3, 1}, {3, 1, 2}, {1, 3, 2}, {2, 1, 3}, {3, 2, 1}};
    static int32_t isr_no3[2] = {1, 2};
    int32_t leaders[6] = {2, 2, 1, 1, 2, 3};
    for (int p = 0; p < 6; p++) {
        struct md_partition mp = {.id = p, .leader = leaders[p], .replica_count = 3,
                                  .replicas = reps[p], .isr_count = p == 2 ? 2 : 3,
                                  .isr = p == 2 ? isr_no3 : reps[p]};
        md_batch_add_partition_state(&batch, &tid, &mp);
    }
    apply_batch(&st, &batch, 1);
    md_batch_close(&batch);

    md_batch_init(&batch); /* exactly at the percentage: no move */
    ck_assert_int_eq(ctrl_decide_rebalance(&st.image, 50, &batch), 0);
    ck_assert_int_eq(batch.rb.count, 0);
    md_batch_close(&batch);

    md_batch_init(&batch);
    ck_assert_int_eq(ctrl_decide_rebalance(&st.image, 10, &batch), 1);
    apply_batch(&st, &batch, 2);
    md_batch_close(&batch);
    const struct md_topic *t = md_image_topic(&st.image, "r", 1);
    ck_assert_int_eq(t->partitions[0].leader, 1);
    ck_assert_int_eq(t->partitions[0].leader_epoch, 1);
    ck_assert_int_eq(t->partitions[2].leader, 1); /* 3 is not in sync: it stays */

    md_batch_init(&batch); /* balanced now, as far as it can be */
    ck_assert_int_eq(ctrl_decide_rebalance(&st.image, 0, &batch), 0);
    md_batch_close(&batch);
    md_state_close(&st);
}
END_TEST

START_TEST(test_parse_voters)
{
    struct controller_voter v[CONTROLLER_VOTERS_MAX];
    char err[256];
    ck_assert_int_eq(controller_parse_voters("1@localhost:9093,2@[::1]:9094,3@h:1", v,
                                             CONTROLLER_VOTERS_MAX, err, sizeof err), 3);
    ck_assert_int_eq(v[1].id, 2);
    ck_assert_str_eq(v[1].host, "::1");
    ck_assert_int_eq(v[1].port, 9094);
    ck_assert_int_eq(controller_parse_voters("1@h:9093,1@h:9094", v, CONTROLLER_VOTERS_MAX, err,
                                             sizeof err), -1);
    ck_assert_int_eq(controller_parse_voters("x@h:1", v, CONTROLLER_VOTERS_MAX, err,
                                             sizeof err), -1);
    ck_assert_int_eq(controller_parse_voters("1@h", v, CONTROLLER_VOTERS_MAX, err, sizeof err),
                     -1);
    ck_assert_int_eq(controller_parse_voters("", v, CONTROLLER_VOTERS_MAX, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "controller.quorum.voters"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("controller");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_broker_config_load_and_derive);
    tcase_add_test(tc, test_topic_config_resolution);
    tcase_add_test(tc, test_topic_names);
    tcase_add_test(tc, test_state_apply_and_snapshot);
    tcase_add_test(tc, test_placement);
    tcase_add_test(tc, test_parse_voters);
    tcase_add_test(tc, test_elect_leader_decision);
    tcase_add_test(tc, test_elect_leaders_api);
    tcase_add_test(tc, test_rebalance_decision);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
