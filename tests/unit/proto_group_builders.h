/* proto_group_builders.h — the consumer-group messages (APIs 8, 9, 11-16, 42, 47) built with
 * non-default values, shared by test_proto_messages.c (the every-version round trip) and
 * test_proto_groups.c (field-by-field checks).  Header-only, on the proto_test_util.h fixture. */
#ifndef GREGOR_PROTO_GROUP_BUILDERS_H
#define GREGOR_PROTO_GROUP_BUILDERS_H

#include "proto_test_util.h"

/* Consumer groups (8, 9, 11-16, 42, 47) */

static inline void *build_offset_commit_request(void)
{
    struct kafka_offset_commit_request *m = alloc(1, sizeof(*m));
    kafka_offset_commit_request_init(m);
    m->group_id = KSTR("my-group");
    m->generation_id_or_member_epoch = 5;
    m->member_id = KSTR("consumer-1-abc");
    m->group_instance_id = KSTR("instance-1");
    m->retention_time_ms = 86400000;
    m->topics_count = 1;
    NEW_ARRAY(m->topics, 1);
    m->topics[0].name = KSTR("orders");
    m->topics[0].partitions_count = 2;
    NEW_ARRAY(m->topics[0].partitions, 2);
    m->topics[0].partitions[0] =
        (struct kafka_offset_commit_request_partition){0, 42, 3, 1700000000000, KSTR("meta")};
    m->topics[0].partitions[1] =
        (struct kafka_offset_commit_request_partition){1, 7, -1, -1, KSTR_NULL};
    return m;
}

static inline void *build_offset_commit_response(void)
{
    struct kafka_offset_commit_response *m = alloc(1, sizeof(*m));
    kafka_offset_commit_response_init(m);
    m->throttle_time_ms = 2;
    m->topics_count = 1;
    NEW_ARRAY(m->topics, 1);
    m->topics[0].name = KSTR("orders");
    m->topics[0].partitions_count = 2;
    NEW_ARRAY(m->topics[0].partitions, 2);
    m->topics[0].partitions[0] = (struct kafka_offset_commit_response_partition){0, 0};
    m->topics[0].partitions[1] =
        (struct kafka_offset_commit_response_partition){1, KAFKA_ERR_ILLEGAL_GENERATION};
    return m;
}

static inline void *build_offset_fetch_request(void)
{
    struct kafka_offset_fetch_request *m = alloc(1, sizeof(*m));
    kafka_offset_fetch_request_init(m);
    m->group_id = KSTR("my-group");
    m->topics_count = 1;
    NEW_ARRAY(m->topics, 1);
    m->topics[0].name = KSTR("orders");
    m->topics[0].partition_indexes_count = 2;
    NEW_ARRAY(m->topics[0].partition_indexes, 2);
    m->topics[0].partition_indexes[0] = 0;
    m->topics[0].partition_indexes[1] = 1;
    m->groups_count = 2;
    NEW_ARRAY(m->groups, 2);
    m->groups[0].group_id = KSTR("my-group");
    m->groups[0].topics_count = 1;
    NEW_ARRAY(m->groups[0].topics, 1);
    m->groups[0].topics[0].name = KSTR("orders");
    m->groups[0].topics[0].partition_indexes_count = 1;
    NEW_ARRAY(m->groups[0].topics[0].partition_indexes, 1);
    m->groups[0].topics[0].partition_indexes[0] = 3;
    m->groups[1].group_id = KSTR("other-group");
    m->groups[1].topics_count = -1; /* all topics */
    m->require_stable = true;
    return m;
}

static inline void *build_offset_fetch_response(void)
{
    struct kafka_offset_fetch_response *m = alloc(1, sizeof(*m));
    kafka_offset_fetch_response_init(m);
    m->throttle_time_ms = 4;
    m->topics_count = 1;
    NEW_ARRAY(m->topics, 1);
    m->topics[0].name = KSTR("orders");
    m->topics[0].partitions_count = 2;
    NEW_ARRAY(m->topics[0].partitions, 2);
    m->topics[0].partitions[0] =
        (struct kafka_offset_fetch_response_partition){0, 42, 3, KSTR("meta"), 0};
    m->topics[0].partitions[1] = (struct kafka_offset_fetch_response_partition){
        1, -1, -1, KSTR_NULL, KAFKA_ERR_UNSTABLE_OFFSET_COMMIT};
    m->error_code = KAFKA_ERR_COORDINATOR_LOAD_IN_PROGRESS;
    m->groups_count = 2;
    NEW_ARRAY(m->groups, 2);
    m->groups[0].group_id = KSTR("my-group");
    m->groups[0].topics_count = 1;
    NEW_ARRAY(m->groups[0].topics, 1);
    m->groups[0].topics[0].name = KSTR("orders");
    m->groups[0].topics[0].partitions_count = 1;
    NEW_ARRAY(m->groups[0].topics[0].partitions, 1);
    m->groups[0].topics[0].partitions[0] =
        (struct kafka_offset_fetch_response_partitions){2, 99, 4, KSTR(""), 0};
    m->groups[1].group_id = KSTR("other-group");
    m->groups[1].error_code = KAFKA_ERR_GROUP_AUTHORIZATION_FAILED;
    return m;
}

/* ConsumerProtocolSubscription v0 for topic "orders", no user data: binary, with NULs */
static const uint8_t join_range_meta[] = {0,   0,   0,   0,   0,   1,    0,    6,    'o',
                                          'r', 'd', 'e', 'r', 's', 0xff, 0xff, 0xff, 0xff};

static inline void *build_join_group_request(void)
{
    struct kafka_join_group_request *m = alloc(1, sizeof(*m));
    kafka_join_group_request_init(m);
    m->group_id = KSTR("my-group");
    m->session_timeout_ms = 10000;
    m->rebalance_timeout_ms = 300000;
    m->member_id = KSTR("");
    m->group_instance_id = KSTR("instance-1");
    m->protocol_type = KSTR("consumer");
    m->protocols_count = 2;
    NEW_ARRAY(m->protocols, 2);
    m->protocols[0].name = KSTR("range");
    m->protocols[0].metadata = (struct kafka_bytes){join_range_meta, sizeof(join_range_meta)};
    m->protocols[1].name = KSTR("roundrobin");
    m->protocols[1].metadata = bytes_of("rr");
    m->reason = KSTR("rebalance needed");
    return m;
}

static inline void *build_join_group_response(void)
{
    struct kafka_join_group_response *m = alloc(1, sizeof(*m));
    kafka_join_group_response_init(m);
    m->throttle_time_ms = 1;
    m->error_code = 0;
    m->generation_id = 7;
    m->protocol_type = KSTR("consumer");
    m->protocol_name = KSTR("range");
    m->leader = KSTR("consumer-1-abc");
    m->skip_assignment = true;
    m->member_id = KSTR("consumer-1-abc");
    m->members_count = 2;
    NEW_ARRAY(m->members, 2);
    m->members[0] = (struct kafka_join_group_response_member){
        KSTR("consumer-1-abc"), KSTR("instance-1"), bytes_of("meta-1")};
    m->members[1] = (struct kafka_join_group_response_member){KSTR("consumer-2-def"), KSTR_NULL,
                                                              bytes_of("meta-two")};
    return m;
}

static inline void *build_heartbeat_request(void)
{
    struct kafka_heartbeat_request *m = alloc(1, sizeof(*m));
    kafka_heartbeat_request_init(m);
    m->group_id = KSTR("my-group");
    m->generation_id = 3;
    m->member_id = KSTR("consumer-1-abc");
    m->group_instance_id = KSTR("instance-1");
    return m;
}

static inline void *build_heartbeat_response(void)
{
    struct kafka_heartbeat_response *m = alloc(1, sizeof(*m));
    kafka_heartbeat_response_init(m);
    m->throttle_time_ms = 5;
    m->error_code = KAFKA_ERR_REBALANCE_IN_PROGRESS;
    return m;
}

static inline void *build_leave_group_request(void)
{
    struct kafka_leave_group_request *m = alloc(1, sizeof(*m));
    kafka_leave_group_request_init(m);
    m->group_id = KSTR("my-group");
    m->member_id = KSTR("consumer-1-abc");
    m->members_count = 2;
    NEW_ARRAY(m->members, 2);
    m->members[0] = (struct kafka_leave_group_request_member_identity){
        KSTR("consumer-1-abc"), KSTR("instance-1"), KSTR("shutting down")};
    m->members[1] = (struct kafka_leave_group_request_member_identity){KSTR("consumer-2-def"),
                                                                       KSTR_NULL, KSTR_NULL};
    return m;
}

static inline void *build_leave_group_response(void)
{
    struct kafka_leave_group_response *m = alloc(1, sizeof(*m));
    kafka_leave_group_response_init(m);
    m->throttle_time_ms = 6;
    m->error_code = 0;
    m->members_count = 2;
    NEW_ARRAY(m->members, 2);
    m->members[0] = (struct kafka_leave_group_response_member_response){KSTR("consumer-1-abc"),
                                                                        KSTR("instance-1"), 0};
    m->members[1] = (struct kafka_leave_group_response_member_response){
        KSTR("consumer-2-def"), KSTR_NULL, KAFKA_ERR_UNKNOWN_MEMBER_ID};
    return m;
}

static inline void *build_sync_group_request(void)
{
    struct kafka_sync_group_request *m = alloc(1, sizeof(*m));
    kafka_sync_group_request_init(m);
    m->group_id = KSTR("my-group");
    m->generation_id = 7;
    m->member_id = KSTR("consumer-1-abc");
    m->group_instance_id = KSTR("instance-1");
    m->protocol_type = KSTR("consumer");
    m->protocol_name = KSTR("range");
    m->assignments_count = 2;
    NEW_ARRAY(m->assignments, 2);
    m->assignments[0] = (struct kafka_sync_group_request_assignment){KSTR("consumer-1-abc"),
                                                                     bytes_of("orders:0,1")};
    m->assignments[1] =
        (struct kafka_sync_group_request_assignment){KSTR("consumer-2-def"), bytes_of("")};
    return m;
}

static inline void *build_sync_group_response(void)
{
    struct kafka_sync_group_response *m = alloc(1, sizeof(*m));
    kafka_sync_group_response_init(m);
    m->throttle_time_ms = 8;
    m->error_code = 0;
    m->protocol_type = KSTR("consumer");
    m->protocol_name = KSTR("range");
    m->assignment = bytes_of("orders:0,1");
    return m;
}

static inline void *build_describe_groups_request(void)
{
    struct kafka_describe_groups_request *m = alloc(1, sizeof(*m));
    kafka_describe_groups_request_init(m);
    m->groups_count = 2;
    NEW_ARRAY(m->groups, 2);
    m->groups[0] = KSTR("my-group");
    m->groups[1] = KSTR("other-group");
    m->include_authorized_operations = true;
    return m;
}

static inline void *build_describe_groups_response(void)
{
    struct kafka_describe_groups_response *m = alloc(1, sizeof(*m));
    kafka_describe_groups_response_init(m);
    m->throttle_time_ms = 9;
    m->groups_count = 1;
    NEW_ARRAY(m->groups, 1);
    struct kafka_describe_groups_response_described_group *g = &m->groups[0];
    kafka_describe_groups_response_described_group_init(g);
    g->group_id = KSTR("my-group");
    g->group_state = KSTR("Stable");
    g->protocol_type = KSTR("consumer");
    g->protocol_data = KSTR("range");
    g->members_count = 1;
    NEW_ARRAY(g->members, 1);
    g->members[0] = (struct kafka_describe_groups_response_described_group_member){
        KSTR("consumer-1-abc"), KSTR("instance-1"), KSTR("consumer-1"),
        KSTR("/127.0.0.1"),     bytes_of("meta"),   bytes_of("assignment")};
    g->authorized_operations = 0x7f8;
    return m;
}

static inline void *build_list_groups_request(void)
{
    struct kafka_list_groups_request *m = alloc(1, sizeof(*m));
    kafka_list_groups_request_init(m);
    m->states_filter_count = 1;
    NEW_ARRAY(m->states_filter, 1);
    m->states_filter[0] = KSTR("Stable");
    return m;
}

static inline void *build_list_groups_response(void)
{
    struct kafka_list_groups_response *m = alloc(1, sizeof(*m));
    kafka_list_groups_response_init(m);
    m->throttle_time_ms = 10;
    m->groups_count = 2;
    NEW_ARRAY(m->groups, 2);
    m->groups[0] = (struct kafka_list_groups_response_listed_group){
        KSTR("my-group"), KSTR("consumer"), KSTR("Stable")};
    m->groups[1] = (struct kafka_list_groups_response_listed_group){KSTR("connect-group"),
                                                                    KSTR("connect"), KSTR("Empty")};
    return m;
}

static inline void *build_delete_groups_request(void)
{
    struct kafka_delete_groups_request *m = alloc(1, sizeof(*m));
    kafka_delete_groups_request_init(m);
    m->groups_names_count = 2;
    NEW_ARRAY(m->groups_names, 2);
    m->groups_names[0] = KSTR("my-group");
    m->groups_names[1] = KSTR("other-group");
    return m;
}

static inline void *build_delete_groups_response(void)
{
    struct kafka_delete_groups_response *m = alloc(1, sizeof(*m));
    kafka_delete_groups_response_init(m);
    m->throttle_time_ms = 11;
    m->results_count = 2;
    NEW_ARRAY(m->results, 2);
    m->results[0] = (struct kafka_delete_groups_response_deletable_group_result){
        KSTR("my-group"), KAFKA_ERR_NON_EMPTY_GROUP};
    m->results[1] =
        (struct kafka_delete_groups_response_deletable_group_result){KSTR("other-group"), 0};
    return m;
}

static inline void *build_offset_delete_request(void)
{
    struct kafka_offset_delete_request *m = alloc(1, sizeof(*m));
    kafka_offset_delete_request_init(m);
    m->group_id = KSTR("my-group");
    m->topics_count = 1;
    NEW_ARRAY(m->topics, 1);
    m->topics[0].name = KSTR("orders");
    m->topics[0].partitions_count = 2;
    NEW_ARRAY(m->topics[0].partitions, 2);
    m->topics[0].partitions[0].partition_index = 0;
    m->topics[0].partitions[1].partition_index = 1;
    return m;
}

static inline void *build_offset_delete_response(void)
{
    struct kafka_offset_delete_response *m = alloc(1, sizeof(*m));
    kafka_offset_delete_response_init(m);
    m->error_code = 0;
    m->throttle_time_ms = 12;
    m->topics_count = 1;
    NEW_ARRAY(m->topics, 1);
    m->topics[0].name = KSTR("orders");
    m->topics[0].partitions_count = 1;
    NEW_ARRAY(m->topics[0].partitions, 1);
    m->topics[0].partitions[0] =
        (struct kafka_offset_delete_response_partition){0, KAFKA_ERR_GROUP_SUBSCRIBED_TO_TOPIC};
    return m;
}

#endif
