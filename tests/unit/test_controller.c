/* test_controller.c — Check suite for controller/: configuration rules, topic names, and the
 * metadata log (create, delete, replay after reopen). */
#include "controller/controller.h"

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

static int created, deleted;
static void on_created(void *arg, const struct md_topic *t)
{
    created++;
}
static void on_deleting(void *arg, const struct md_topic *t)
{
    deleted++;
}

static struct controller *open_ctrl(struct storage_dir *dir, struct props *bc)
{
    struct controller_config cc = {bc, 1, dir, {{0}}, "localhost", 9092};
    cc.cluster_id.b[0] = 1;
    struct controller_listener l = {NULL, on_created, on_deleting, NULL};
    struct controller *c = NULL;
    char err[256];
    ck_assert_int_eq(controller_open(&cc, &l, &c, err, sizeof err), 0);
    return c;
}

static int16_t create_one(struct controller *c, const char *name, int32_t parts, int16_t rf,
                          bool validate_only)
{
    struct kafka_create_topics_request req;
    kafka_create_topics_request_init(&req);
    struct kafka_create_topics_request_creatable_topic t;
    kafka_create_topics_request_creatable_topic_init(&t);
    t.name = KSTR(name);
    t.num_partitions = parts;
    t.replication_factor = rf;
    struct kafka_create_topics_request_creatable_topic_config cfg;
    kafka_create_topics_request_creatable_topic_config_init(&cfg);
    cfg.name = KSTR("retention.ms");
    cfg.value = KSTR("1234");
    t.configs = &cfg;
    t.configs_count = 1;
    req.topics = &t;
    req.topics_count = 1;
    req.validate_only = validate_only;
    struct kafka_create_topics_response resp;
    kafka_create_topics_response_init(&resp);
    struct arena a;
    arena_init(&a, 4096);
    controller_create_topics(c, &req, 7, &resp, &a);
    int16_t ec = resp.topics[0].error_code;
    arena_close(&a);
    return ec;
}

START_TEST(test_metadata_log_create_delete_replay)
{
    char tmpl[] = "/tmp/gregor-ctrl-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(tmpl));
    struct props bc;
    props_init(&bc);
    struct storage_dir *dir;
    char err[256];
    ck_assert_int_eq(storage_dir_open(tmpl, &dir, err, sizeof err), 0);
    struct controller *c = open_ctrl(dir, &bc);
    created = deleted = 0;
    ck_assert_int_eq(create_one(c, "t1", 3, 1, false), KAFKA_ERR_NONE);
    ck_assert_int_eq(create_one(c, "t1", 3, 1, false), KAFKA_ERR_TOPIC_ALREADY_EXISTS);
    ck_assert_int_eq(create_one(c, "t2", -1, -1, false), KAFKA_ERR_NONE);
    ck_assert_int_eq(create_one(c, "vo", 1, 1, true), KAFKA_ERR_NONE);
    ck_assert_int_eq(create_one(c, "bad name", 1, 1, false), KAFKA_ERR_INVALID_TOPIC_EXCEPTION);
    ck_assert_int_eq(create_one(c, "t3", 0, 1, false), KAFKA_ERR_INVALID_PARTITIONS);
    ck_assert_int_eq(create_one(c, "t3", 1, 3, false), KAFKA_ERR_INVALID_REPLICATION_FACTOR);
    ck_assert_int_eq(created, 2);
    const struct md_image *img = controller_image(c);
    ck_assert_uint_eq(img->topic_count, 2);
    struct md_topic *t1 = md_image_topic(img, "t1", 2);
    ck_assert_ptr_nonnull(t1);
    ck_assert_int_eq(t1->partition_count, 3);
    ck_assert_str_eq(props_get(&t1->configs, "retention.ms"), "1234");
    struct gr_uuid id1 = t1->id;

    struct kafka_delete_topics_request dreq;
    kafka_delete_topics_request_init(&dreq);
    struct kafka_str names[2] = {KSTR("t2"), KSTR("nope")};
    dreq.topic_names = names;
    dreq.topic_names_count = 2;
    struct kafka_delete_topics_response dresp;
    kafka_delete_topics_response_init(&dresp);
    struct arena a;
    arena_init(&a, 4096);
    controller_delete_topics(c, &dreq, 3, &dresp, &a);
    ck_assert_int_eq(dresp.responses[0].error_code, KAFKA_ERR_NONE);
    ck_assert_int_eq(dresp.responses[1].error_code, KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION);
    arena_close(&a);
    ck_assert_int_eq(deleted, 1);
    controller_free(c);

    /* a reopened controller derives the same image from the log */
    c = open_ctrl(dir, &bc);
    img = controller_image(c);
    ck_assert_uint_eq(img->topic_count, 1);
    t1 = md_image_topic(img, "t1", 2);
    ck_assert_ptr_nonnull(t1);
    ck_assert(!memcmp(t1->id.b, id1.b, 16));
    ck_assert_int_eq(t1->partition_count, 3);
    ck_assert_str_eq(props_get(&t1->configs, "retention.ms"), "1234");
    ck_assert_ptr_null(md_image_topic(img, "t2", 2));
    controller_free(c);
    storage_dir_close(dir);
    props_close(&bc);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpl);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("controller");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_broker_config_load_and_derive);
    tcase_add_test(tc, test_topic_config_resolution);
    tcase_add_test(tc, test_topic_names);
    tcase_add_test(tc, test_metadata_log_create_delete_replay);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
