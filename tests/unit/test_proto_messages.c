/*
 * test_proto_messages.c — Check suite for the generated message codec (build/gen/kafka_msgs.c,
 * from proto/kafka.schema): every message built with non-default values and taken encode ->
 * decode -> re-encode in every version (bytes must match, and every strict prefix must fail to
 * decode), version defaults, nullability, tagged fields, the metadata-log records, and byte
 * vectors written by hand from the Kafka protocol guide and from what real clients send.
 */
#include "proto_test_util.h"

#include <stdlib.h>
#include <unistd.h>

static void *build_api_versions_request(void)
{
    struct kafka_api_versions_request *m = alloc(1, sizeof(*m));
    kafka_api_versions_request_init(m);
    m->client_software_name = KSTR("librdkafka");
    m->client_software_version = KSTR("2.0.2");
    return m;
}

static void *build_api_versions_response(void)
{
    struct kafka_api_versions_response *m = alloc(1, sizeof(*m));
    kafka_api_versions_response_init(m);
    m->api_keys_count = 3;
    NEW_ARRAY(m->api_keys, 3);
    for (int i = 0; i < 3; i++) {
        m->api_keys[i].api_key = (int16_t)(i * 3);
        m->api_keys[i].min_version = (int16_t)i;
        m->api_keys[i].max_version = (int16_t)(i + 7);
    }
    m->throttle_time_ms = 7;
    m->supported_features_count = 1;
    NEW_ARRAY(m->supported_features, 1);
    m->supported_features[0].name = KSTR("metadata.version");
    m->supported_features[0].min_version = 1;
    m->supported_features[0].max_version = 20;
    m->finalized_features_epoch = 5;
    m->finalized_features_count = 1;
    NEW_ARRAY(m->finalized_features, 1);
    m->finalized_features[0].name = KSTR("metadata.version");
    m->finalized_features[0].max_version_level = 20;
    m->finalized_features[0].min_version_level = 20;
    m->zk_migration_ready = true;
    return m;
}

static void *build_metadata_request(void)
{
    struct kafka_metadata_request *m = alloc(1, sizeof(*m));
    kafka_metadata_request_init(m);
    m->topics_count = 2;
    NEW_ARRAY(m->topics, 2);
    m->topics[0].name = KSTR("orders");
    m->topics[0].topic_id = uuid_of(1);
    m->topics[1].name = KSTR("payments");
    m->topics[1].topic_id = uuid_of(2);
    m->allow_auto_topic_creation = false;
    m->include_cluster_authorized_operations = true;
    m->include_topic_authorized_operations = true;
    return m;
}

static void *build_metadata_response(void)
{
    struct kafka_metadata_response *m = alloc(1, sizeof(*m));
    kafka_metadata_response_init(m);
    m->throttle_time_ms = 11;
    m->brokers_count = 2;
    NEW_ARRAY(m->brokers, 2);
    m->brokers[0] = (struct kafka_metadata_response_broker){1, KSTR("h1"), 9092, KSTR("rack-a")};
    m->brokers[1] = (struct kafka_metadata_response_broker){2, KSTR("h2"), 9093, KSTR_NULL};
    m->cluster_id = KSTR("cluster-x");
    m->controller_id = 1;
    m->topics_count = 1;
    NEW_ARRAY(m->topics, 1);
    struct kafka_metadata_response_topic *t = &m->topics[0];
    kafka_metadata_response_topic_init(t);
    t->error_code = 0;
    t->name = KSTR("orders");
    t->topic_id = uuid_of(9);
    t->is_internal = true;
    t->topic_authorized_operations = 123;
    t->partitions_count = 2;
    NEW_ARRAY(t->partitions, 2);
    for (int i = 0; i < 2; i++) {
        struct kafka_metadata_response_partition *p = &t->partitions[i];
        p->error_code = (int16_t)(i * 9);
        p->partition_index = i;
        p->leader_id = 1 + i;
        p->leader_epoch = 4;
        p->replica_nodes_count = 2;
        NEW_ARRAY(p->replica_nodes, 2);
        p->replica_nodes[0] = 1;
        p->replica_nodes[1] = 2;
        p->isr_nodes_count = 1;
        NEW_ARRAY(p->isr_nodes, 1);
        p->isr_nodes[0] = 1 + i;
        p->offline_replicas_count = i;
        if (i) {
            NEW_ARRAY(p->offline_replicas, 1);
            p->offline_replicas[0] = 2;
        }
    }
    m->cluster_authorized_operations = 456;
    return m;
}

static void *build_produce_request(void)
{
    struct kafka_produce_request *m = alloc(1, sizeof(*m));
    kafka_produce_request_init(m);
    m->transactional_id = KSTR("txn-1");
    m->acks = -1;
    m->timeout_ms = 30000;
    m->topic_data_count = 1;
    NEW_ARRAY(m->topic_data, 1);
    m->topic_data[0].name = KSTR("orders");
    m->topic_data[0].partition_data_count = 2;
    NEW_ARRAY(m->topic_data[0].partition_data, 2);
    m->topic_data[0].partition_data[0].index = 0;
    m->topic_data[0].partition_data[0].records = records_of("not-really-a-batch");
    m->topic_data[0].partition_data[1].index = 3;
    m->topic_data[0].partition_data[1].records = (struct kafka_records){NULL, -1, -1, 0};
    return m;
}

static void *build_produce_response(void)
{
    struct kafka_produce_response *m = alloc(1, sizeof(*m));
    kafka_produce_response_init(m);
    m->throttle_time_ms = 3;
    m->responses_count = 1;
    NEW_ARRAY(m->responses, 1);
    m->responses[0].name = KSTR("orders");
    m->responses[0].partition_responses_count = 1;
    NEW_ARRAY(m->responses[0].partition_responses, 1);
    struct kafka_produce_response_partition_produce_response *p =
        &m->responses[0].partition_responses[0];
    kafka_produce_response_partition_produce_response_init(p);
    p->index = 2;
    p->error_code = KAFKA_ERR_INVALID_RECORD;
    p->base_offset = 1000;
    p->log_append_time_ms = 1700000000000;
    p->log_start_offset = 10;
    p->record_errors_count = 1;
    NEW_ARRAY(p->record_errors, 1);
    p->record_errors[0].batch_index = 4;
    p->record_errors[0].batch_index_error_message = KSTR("bad record");
    p->error_message = KSTR("one bad record");
    return m;
}

static void *build_fetch_request(void)
{
    struct kafka_fetch_request *m = alloc(1, sizeof(*m));
    kafka_fetch_request_init(m);
    m->cluster_id = KSTR("cluster-x");
    m->replica_id = -1;
    m->max_wait_ms = 500;
    m->min_bytes = 1;
    m->max_bytes = 1 << 20;
    m->isolation_level = 1;
    m->session_id = 0;
    m->session_epoch = -1;
    m->topics_count = 1;
    NEW_ARRAY(m->topics, 1);
    m->topics[0].topic = KSTR("orders");
    m->topics[0].partitions_count = 1;
    NEW_ARRAY(m->topics[0].partitions, 1);
    struct kafka_fetch_request_fetch_partition *p = &m->topics[0].partitions[0];
    p->partition = 0;
    p->current_leader_epoch = 3;
    p->fetch_offset = 100;
    p->last_fetched_epoch = 2;
    p->log_start_offset = 0;
    p->partition_max_bytes = 1 << 20;
    m->forgotten_topics_data_count = 1;
    NEW_ARRAY(m->forgotten_topics_data, 1);
    m->forgotten_topics_data[0].topic = KSTR("old");
    m->forgotten_topics_data[0].partitions_count = 2;
    NEW_ARRAY(m->forgotten_topics_data[0].partitions, 2);
    m->forgotten_topics_data[0].partitions[0] = 1;
    m->forgotten_topics_data[0].partitions[1] = 2;
    m->rack_id = KSTR("rack-a");
    return m;
}

static void *build_fetch_response(void)
{
    struct kafka_fetch_response *m = alloc(1, sizeof(*m));
    kafka_fetch_response_init(m);
    m->throttle_time_ms = 1;
    m->error_code = 0;
    m->session_id = 0;
    m->responses_count = 1;
    NEW_ARRAY(m->responses, 1);
    m->responses[0].topic = KSTR("orders");
    m->responses[0].partitions_count = 2;
    NEW_ARRAY(m->responses[0].partitions, 2);
    for (int i = 0; i < 2; i++) {
        struct kafka_fetch_response_partition_data *p = &m->responses[0].partitions[i];
        kafka_fetch_response_partition_data_init(p);
        p->partition_index = i;
        p->high_watermark = 500 + i;
        p->last_stable_offset = 490;
        p->log_start_offset = 7;
        p->preferred_read_replica = -1;
    }
    struct kafka_fetch_response_partition_data *p = &m->responses[0].partitions[0];
    p->diverging_epoch.epoch = 1;
    p->diverging_epoch.end_offset = 50;
    p->current_leader.leader_id = 2;
    p->current_leader.leader_epoch = 3;
    p->aborted_transactions_count = 1;
    NEW_ARRAY(p->aborted_transactions, 1);
    p->aborted_transactions[0].producer_id = 9;
    p->aborted_transactions[0].first_offset = 10;
    p->records = records_of("record-batch-bytes");
    p = &m->responses[0].partitions[1];
    p->error_code = KAFKA_ERR_OFFSET_OUT_OF_RANGE;
    p->aborted_transactions_count = -1;
    return m;
}

static void *build_list_offsets_request(void)
{
    struct kafka_list_offsets_request *m = alloc(1, sizeof(*m));
    kafka_list_offsets_request_init(m);
    m->replica_id = -1;
    m->isolation_level = 1;
    m->topics_count = 1;
    NEW_ARRAY(m->topics, 1);
    m->topics[0].name = KSTR("orders");
    m->topics[0].partitions_count = 1;
    NEW_ARRAY(m->topics[0].partitions, 1);
    m->topics[0].partitions[0].partition_index = 4;
    m->topics[0].partitions[0].current_leader_epoch = 5;
    m->topics[0].partitions[0].timestamp = -1;
    m->topics[0].partitions[0].max_num_offsets = 1;
    return m;
}

static void *build_list_offsets_response(void)
{
    struct kafka_list_offsets_response *m = alloc(1, sizeof(*m));
    kafka_list_offsets_response_init(m);
    m->throttle_time_ms = 2;
    m->topics_count = 1;
    NEW_ARRAY(m->topics, 1);
    m->topics[0].name = KSTR("orders");
    m->topics[0].partitions_count = 1;
    NEW_ARRAY(m->topics[0].partitions, 1);
    struct kafka_list_offsets_response_list_offsets_partition_response *p =
        &m->topics[0].partitions[0];
    p->partition_index = 4;
    p->error_code = 0;
    p->old_style_offsets_count = 2;
    NEW_ARRAY(p->old_style_offsets, 2);
    p->old_style_offsets[0] = 99;
    p->old_style_offsets[1] = 0;
    p->timestamp = 1700000000000;
    p->offset = 99;
    p->leader_epoch = 6;
    return m;
}

static void *build_create_topics_request(void)
{
    struct kafka_create_topics_request *m = alloc(1, sizeof(*m));
    kafka_create_topics_request_init(m);
    m->topics_count = 1;
    NEW_ARRAY(m->topics, 1);
    struct kafka_create_topics_request_creatable_topic *t = &m->topics[0];
    t->name = KSTR("orders");
    t->num_partitions = 3;
    t->replication_factor = 2;
    t->assignments_count = 1;
    NEW_ARRAY(t->assignments, 1);
    t->assignments[0].partition_index = 0;
    t->assignments[0].broker_ids_count = 2;
    NEW_ARRAY(t->assignments[0].broker_ids, 2);
    t->assignments[0].broker_ids[0] = 1;
    t->assignments[0].broker_ids[1] = 2;
    t->configs_count = 2;
    NEW_ARRAY(t->configs, 2);
    t->configs[0].name = KSTR("cleanup.policy");
    t->configs[0].value = KSTR("compact");
    t->configs[1].name = KSTR("retention.ms");
    t->configs[1].value = KSTR_NULL;
    m->timeout_ms = 15000;
    m->validate_only = true;
    return m;
}

static void *build_create_topics_response(void)
{
    struct kafka_create_topics_response *m = alloc(1, sizeof(*m));
    kafka_create_topics_response_init(m);
    m->throttle_time_ms = 4;
    m->topics_count = 1;
    NEW_ARRAY(m->topics, 1);
    struct kafka_create_topics_response_creatable_topic_result *t = &m->topics[0];
    kafka_create_topics_response_creatable_topic_result_init(t);
    t->name = KSTR("orders");
    t->topic_id = uuid_of(5);
    t->error_code = KAFKA_ERR_TOPIC_ALREADY_EXISTS;
    t->error_message = KSTR("exists");
    t->topic_config_error_code = KAFKA_ERR_TOPIC_AUTHORIZATION_FAILED;
    t->num_partitions = 3;
    t->replication_factor = 1;
    t->configs_count = 1;
    NEW_ARRAY(t->configs, 1);
    t->configs[0].name = KSTR("segment.bytes");
    t->configs[0].value = KSTR("1073741824");
    t->configs[0].read_only = true;
    t->configs[0].config_source = 5;
    t->configs[0].is_sensitive = true;
    return m;
}

static void *build_delete_topics_request(void)
{
    struct kafka_delete_topics_request *m = alloc(1, sizeof(*m));
    kafka_delete_topics_request_init(m);
    m->topics_count = 2;
    NEW_ARRAY(m->topics, 2);
    m->topics[0].name = KSTR("orders");
    m->topics[0].topic_id = uuid_of(3);
    m->topics[1].name = KSTR_NULL;
    m->topics[1].topic_id = uuid_of(4);
    m->topic_names_count = 2;
    NEW_ARRAY(m->topic_names, 2);
    m->topic_names[0] = KSTR("orders");
    m->topic_names[1] = KSTR("payments");
    m->timeout_ms = 30000;
    return m;
}

static void *build_delete_topics_response(void)
{
    struct kafka_delete_topics_response *m = alloc(1, sizeof(*m));
    kafka_delete_topics_response_init(m);
    m->throttle_time_ms = 6;
    m->responses_count = 1;
    NEW_ARRAY(m->responses, 1);
    m->responses[0].name = KSTR("orders");
    m->responses[0].topic_id = uuid_of(3);
    m->responses[0].error_code = KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION;
    m->responses[0].error_message = KSTR("no such topic");
    return m;
}

static void *build_describe_configs_request(void)
{
    struct kafka_describe_configs_request *m = alloc(1, sizeof(*m));
    kafka_describe_configs_request_init(m);
    m->resources_count = 2;
    NEW_ARRAY(m->resources, 2);
    m->resources[0].resource_type = 2;
    m->resources[0].resource_name = KSTR("orders");
    m->resources[0].configuration_keys_count = 1;
    NEW_ARRAY(m->resources[0].configuration_keys, 1);
    m->resources[0].configuration_keys[0] = KSTR("retention.ms");
    m->resources[1].resource_type = 4;
    m->resources[1].resource_name = KSTR("1");
    m->resources[1].configuration_keys_count = -1;
    m->include_synonyms = true;
    m->include_documentation = true;
    return m;
}

static void *build_describe_configs_response(void)
{
    struct kafka_describe_configs_response *m = alloc(1, sizeof(*m));
    kafka_describe_configs_response_init(m);
    m->throttle_time_ms = 8;
    m->results_count = 1;
    NEW_ARRAY(m->results, 1);
    struct kafka_describe_configs_response_describe_configs_result *res = &m->results[0];
    res->error_code = 0;
    res->error_message = KSTR_NULL;
    res->resource_type = 2;
    res->resource_name = KSTR("orders");
    res->configs_count = 1;
    NEW_ARRAY(res->configs, 1);
    struct kafka_describe_configs_response_describe_configs_resource_result *c = &res->configs[0];
    c->name = KSTR("retention.ms");
    c->value = KSTR("604800000");
    c->read_only = false;
    c->is_default = true;
    c->config_source = 5;
    c->is_sensitive = false;
    c->synonyms_count = 1;
    NEW_ARRAY(c->synonyms, 1);
    c->synonyms[0].name = KSTR("log.retention.ms");
    c->synonyms[0].value = KSTR_NULL;
    c->synonyms[0].source = 5;
    c->config_type = 5;
    c->documentation = KSTR("how long to keep");
    return m;
}

/* The optional APIs: smaller builders, same round-trip treatment */

static void *build_find_coordinator_request(void)
{
    struct kafka_find_coordinator_request *m = alloc(1, sizeof(*m));
    kafka_find_coordinator_request_init(m);
    m->key = KSTR("group-1");
    m->key_type = 0;
    m->coordinator_keys_count = 2;
    NEW_ARRAY(m->coordinator_keys, 2);
    m->coordinator_keys[0] = KSTR("group-1");
    m->coordinator_keys[1] = KSTR("group-2");
    return m;
}

static void *build_find_coordinator_response(void)
{
    struct kafka_find_coordinator_response *m = alloc(1, sizeof(*m));
    kafka_find_coordinator_response_init(m);
    m->throttle_time_ms = 1;
    m->error_code = KAFKA_ERR_COORDINATOR_NOT_AVAILABLE;
    m->error_message = KSTR("loading");
    m->node_id = 1;
    m->host = KSTR("localhost");
    m->port = 9092;
    m->coordinators_count = 1;
    NEW_ARRAY(m->coordinators, 1);
    m->coordinators[0] = (struct kafka_find_coordinator_response_coordinator){
        KSTR("group-1"), 1, KSTR("localhost"), 9092, 0, KSTR_NULL};
    return m;
}

static void *build_delete_records_request(void)
{
    struct kafka_delete_records_request *m = alloc(1, sizeof(*m));
    kafka_delete_records_request_init(m);
    m->topics_count = 1;
    NEW_ARRAY(m->topics, 1);
    m->topics[0].name = KSTR("orders");
    m->topics[0].partitions_count = 1;
    NEW_ARRAY(m->topics[0].partitions, 1);
    m->topics[0].partitions[0].partition_index = 2;
    m->topics[0].partitions[0].offset = 42;
    m->timeout_ms = 1000;
    return m;
}

static void *build_delete_records_response(void)
{
    struct kafka_delete_records_response *m = alloc(1, sizeof(*m));
    kafka_delete_records_response_init(m);
    m->throttle_time_ms = 1;
    m->topics_count = 1;
    NEW_ARRAY(m->topics, 1);
    m->topics[0].name = KSTR("orders");
    m->topics[0].partitions_count = 1;
    NEW_ARRAY(m->topics[0].partitions, 1);
    m->topics[0].partitions[0].partition_index = 2;
    m->topics[0].partitions[0].low_watermark = 42;
    m->topics[0].partitions[0].error_code = 0;
    return m;
}

static void *build_init_producer_id_request(void)
{
    struct kafka_init_producer_id_request *m = alloc(1, sizeof(*m));
    kafka_init_producer_id_request_init(m);
    m->transactional_id = KSTR_NULL;
    m->transaction_timeout_ms = 60000;
    m->producer_id = 1000;
    m->producer_epoch = 3;
    return m;
}

static void *build_init_producer_id_response(void)
{
    struct kafka_init_producer_id_response *m = alloc(1, sizeof(*m));
    kafka_init_producer_id_response_init(m);
    m->throttle_time_ms = 0;
    m->error_code = 0;
    m->producer_id = 1000;
    m->producer_epoch = 4;
    return m;
}

static void *build_alter_configs_request(void)
{
    struct kafka_alter_configs_request *m = alloc(1, sizeof(*m));
    kafka_alter_configs_request_init(m);
    m->resources_count = 1;
    NEW_ARRAY(m->resources, 1);
    m->resources[0].resource_type = 2;
    m->resources[0].resource_name = KSTR("orders");
    m->resources[0].configs_count = 2;
    NEW_ARRAY(m->resources[0].configs, 2);
    m->resources[0].configs[0].name = KSTR("retention.ms");
    m->resources[0].configs[0].value = KSTR("1000");
    m->resources[0].configs[1].name = KSTR("segment.ms");
    m->resources[0].configs[1].value = KSTR_NULL;
    m->validate_only = true;
    return m;
}

static void *build_alter_configs_response(void)
{
    struct kafka_alter_configs_response *m = alloc(1, sizeof(*m));
    kafka_alter_configs_response_init(m);
    m->throttle_time_ms = 2;
    m->responses_count = 1;
    NEW_ARRAY(m->responses, 1);
    m->responses[0].error_code = KAFKA_ERR_INVALID_CONFIG;
    m->responses[0].error_message = KSTR("bad value");
    m->responses[0].resource_type = 2;
    m->responses[0].resource_name = KSTR("orders");
    return m;
}

static void *build_create_partitions_request(void)
{
    struct kafka_create_partitions_request *m = alloc(1, sizeof(*m));
    kafka_create_partitions_request_init(m);
    m->topics_count = 2;
    NEW_ARRAY(m->topics, 2);
    m->topics[0].name = KSTR("orders");
    m->topics[0].count = 6;
    m->topics[0].assignments_count = -1;
    m->topics[1].name = KSTR("payments");
    m->topics[1].count = 2;
    m->topics[1].assignments_count = 1;
    NEW_ARRAY(m->topics[1].assignments, 1);
    m->topics[1].assignments[0].broker_ids_count = 1;
    NEW_ARRAY(m->topics[1].assignments[0].broker_ids, 1);
    m->topics[1].assignments[0].broker_ids[0] = 3;
    m->timeout_ms = 5000;
    m->validate_only = false;
    return m;
}

static void *build_create_partitions_response(void)
{
    struct kafka_create_partitions_response *m = alloc(1, sizeof(*m));
    kafka_create_partitions_response_init(m);
    m->throttle_time_ms = 0;
    m->results_count = 1;
    NEW_ARRAY(m->results, 1);
    m->results[0].name = KSTR("orders");
    m->results[0].error_code = KAFKA_ERR_INVALID_PARTITIONS;
    m->results[0].error_message = KSTR("fewer");
    return m;
}

static void *build_incremental_alter_configs_request(void)
{
    struct kafka_incremental_alter_configs_request *m = alloc(1, sizeof(*m));
    kafka_incremental_alter_configs_request_init(m);
    m->resources_count = 1;
    NEW_ARRAY(m->resources, 1);
    m->resources[0].resource_type = 4;
    m->resources[0].resource_name = KSTR("1");
    m->resources[0].configs_count = 1;
    NEW_ARRAY(m->resources[0].configs, 1);
    m->resources[0].configs[0].name = KSTR("log.cleaner.threads");
    m->resources[0].configs[0].config_operation = 1;
    m->resources[0].configs[0].value = KSTR_NULL;
    m->validate_only = true;
    return m;
}

static void *build_incremental_alter_configs_response(void)
{
    struct kafka_incremental_alter_configs_response *m = alloc(1, sizeof(*m));
    kafka_incremental_alter_configs_response_init(m);
    m->responses_count = 1;
    NEW_ARRAY(m->responses, 1);
    m->responses[0].error_code = 0;
    m->responses[0].error_message = KSTR_NULL;
    m->responses[0].resource_type = 4;
    m->responses[0].resource_name = KSTR("1");
    return m;
}

static void *build_describe_cluster_request(void)
{
    struct kafka_describe_cluster_request *m = alloc(1, sizeof(*m));
    kafka_describe_cluster_request_init(m);
    m->include_cluster_authorized_operations = true;
    m->endpoint_type = 2;
    return m;
}

static void *build_describe_cluster_response(void)
{
    struct kafka_describe_cluster_response *m = alloc(1, sizeof(*m));
    kafka_describe_cluster_response_init(m);
    m->throttle_time_ms = 0;
    m->endpoint_type = 2;
    m->cluster_id = KSTR("cluster-x");
    m->controller_id = 1;
    m->brokers_count = 1;
    NEW_ARRAY(m->brokers, 1);
    m->brokers[0] = (struct kafka_describe_cluster_response_describe_cluster_broker){
        1, KSTR("localhost"), 9092, KSTR("rack-a")};
    m->cluster_authorized_operations = 0;
    return m;
}

static void *build_describe_quorum_request(void)
{
    struct kafka_describe_quorum_request *m = alloc(1, sizeof(*m));
    kafka_describe_quorum_request_init(m);
    m->topics_count = 1;
    NEW_ARRAY(m->topics, 1);
    m->topics[0].topic_name = KSTR("__cluster_metadata");
    m->topics[0].partitions_count = 1;
    NEW_ARRAY(m->topics[0].partitions, 1);
    m->topics[0].partitions[0].partition_index = 0;
    return m;
}

/* A quorum of two voters (3 leads, 1 follows 4 records behind) and one observer (4). */
static void *build_describe_quorum_response(void)
{
    struct kafka_describe_quorum_response *m = alloc(1, sizeof(*m));
    kafka_describe_quorum_response_init(m);
    m->error_code = 0;
    m->error_message = KSTR_NULL;
    m->topics_count = 1;
    NEW_ARRAY(m->topics, 1);
    m->topics[0].topic_name = KSTR("__cluster_metadata");
    m->topics[0].partitions_count = 1;
    NEW_ARRAY(m->topics[0].partitions, 1);
    struct kafka_describe_quorum_response_partition_data *p = &m->topics[0].partitions[0];
    kafka_describe_quorum_response_partition_data_init(p);
    p->partition_index = 0;
    p->error_message = KSTR("all good");
    p->leader_id = 3;
    p->leader_epoch = 7;
    p->high_watermark = 1234;
    p->current_voters_count = 2;
    NEW_ARRAY(p->current_voters, 2);
    p->current_voters[0] = (struct kafka_describe_quorum_response_replica_state){
        3, uuid_of(3), 1240, 1700000000300, 1700000000300};
    p->current_voters[1] = (struct kafka_describe_quorum_response_replica_state){
        1, uuid_of(1), 1236, 1700000000250, 1700000000100};
    p->observers_count = 1;
    NEW_ARRAY(p->observers, 1);
    p->observers[0] = (struct kafka_describe_quorum_response_replica_state){
        4, uuid_of(4), 1200, 1700000000200, 1700000000000};
    m->nodes_count = 2;
    NEW_ARRAY(m->nodes, 2);
    for (int i = 0; i < 2; i++) {
        m->nodes[i].node_id = i ? 1 : 3;
        m->nodes[i].listeners_count = 1;
        NEW_ARRAY(m->nodes[i].listeners, 1);
        m->nodes[i].listeners[0] = (struct kafka_describe_quorum_response_listener){
            KSTR("CONTROLLER"), KSTR("localhost"), (uint16_t)(i ? 9093 : 9095)};
    }
    return m;
}

#include "proto_group_builders.h"

/* One message type, reached through wrappers with a uniform signature. */
struct codec {
    const char *name;
    int16_t api_key;
    size_t size;
    int (*enc)(struct kafka_writer *, int16_t, const void *);
    int (*dec)(struct kafka_reader *, int16_t, void *);
    void *(*build)(void);
};

#define CODEC(n, key)                                                                              \
    static int enc_##n(struct kafka_writer *w, int16_t v, const void *p)                           \
    {                                                                                              \
        return kafka_##n##_encode(w, v, p);                                                        \
    }                                                                                              \
    static int dec_##n(struct kafka_reader *r, int16_t v, void *p)                                 \
    {                                                                                              \
        return kafka_##n##_decode(r, v, p);                                                        \
    }
#define CODEC_ENTRY(n, key)                                                                        \
    {                                                                                              \
#n, key, sizeof(struct kafka_##n), enc_##n, dec_##n, build_##n                             \
    }

CODEC(api_versions_request, 18)
CODEC(api_versions_response, 18)
CODEC(metadata_request, 3)
CODEC(metadata_response, 3)
CODEC(produce_request, 0)
CODEC(produce_response, 0)
CODEC(fetch_request, 1)
CODEC(fetch_response, 1)
CODEC(list_offsets_request, 2)
CODEC(list_offsets_response, 2)
CODEC(create_topics_request, 19)
CODEC(create_topics_response, 19)
CODEC(delete_topics_request, 20)
CODEC(delete_topics_response, 20)
CODEC(describe_configs_request, 32)
CODEC(describe_configs_response, 32)
CODEC(find_coordinator_request, 10)
CODEC(find_coordinator_response, 10)
CODEC(delete_records_request, 21)
CODEC(delete_records_response, 21)
CODEC(init_producer_id_request, 22)
CODEC(init_producer_id_response, 22)
CODEC(alter_configs_request, 33)
CODEC(alter_configs_response, 33)
CODEC(create_partitions_request, 37)
CODEC(create_partitions_response, 37)
CODEC(incremental_alter_configs_request, 44)
CODEC(incremental_alter_configs_response, 44)
CODEC(describe_cluster_request, 60)
CODEC(describe_cluster_response, 60)
CODEC(describe_quorum_request, 55)
CODEC(describe_quorum_response, 55)
CODEC(offset_commit_request, 8)
CODEC(offset_commit_response, 8)
CODEC(offset_fetch_request, 9)
CODEC(offset_fetch_response, 9)
CODEC(join_group_request, 11)
CODEC(join_group_response, 11)
CODEC(heartbeat_request, 12)
CODEC(heartbeat_response, 12)
CODEC(leave_group_request, 13)
CODEC(leave_group_response, 13)
CODEC(sync_group_request, 14)
CODEC(sync_group_response, 14)
CODEC(describe_groups_request, 15)
CODEC(describe_groups_response, 15)
CODEC(list_groups_request, 16)
CODEC(list_groups_response, 16)
CODEC(delete_groups_request, 42)
CODEC(delete_groups_response, 42)
CODEC(offset_delete_request, 47)
CODEC(offset_delete_response, 47)

static const struct codec codecs[] = {
    CODEC_ENTRY(api_versions_request, 18),
    CODEC_ENTRY(api_versions_response, 18),
    CODEC_ENTRY(metadata_request, 3),
    CODEC_ENTRY(metadata_response, 3),
    CODEC_ENTRY(produce_request, 0),
    CODEC_ENTRY(produce_response, 0),
    CODEC_ENTRY(fetch_request, 1),
    CODEC_ENTRY(fetch_response, 1),
    CODEC_ENTRY(list_offsets_request, 2),
    CODEC_ENTRY(list_offsets_response, 2),
    CODEC_ENTRY(create_topics_request, 19),
    CODEC_ENTRY(create_topics_response, 19),
    CODEC_ENTRY(delete_topics_request, 20),
    CODEC_ENTRY(delete_topics_response, 20),
    CODEC_ENTRY(describe_configs_request, 32),
    CODEC_ENTRY(describe_configs_response, 32),
    CODEC_ENTRY(find_coordinator_request, 10),
    CODEC_ENTRY(find_coordinator_response, 10),
    CODEC_ENTRY(delete_records_request, 21),
    CODEC_ENTRY(delete_records_response, 21),
    CODEC_ENTRY(init_producer_id_request, 22),
    CODEC_ENTRY(init_producer_id_response, 22),
    CODEC_ENTRY(alter_configs_request, 33),
    CODEC_ENTRY(alter_configs_response, 33),
    CODEC_ENTRY(create_partitions_request, 37),
    CODEC_ENTRY(create_partitions_response, 37),
    CODEC_ENTRY(incremental_alter_configs_request, 44),
    CODEC_ENTRY(incremental_alter_configs_response, 44),
    CODEC_ENTRY(describe_cluster_request, 60),
    CODEC_ENTRY(describe_cluster_response, 60),
    CODEC_ENTRY(describe_quorum_request, 55),
    CODEC_ENTRY(describe_quorum_response, 55),
    CODEC_ENTRY(offset_commit_request, 8),
    CODEC_ENTRY(offset_commit_response, 8),
    CODEC_ENTRY(offset_fetch_request, 9),
    CODEC_ENTRY(offset_fetch_response, 9),
    CODEC_ENTRY(join_group_request, 11),
    CODEC_ENTRY(join_group_response, 11),
    CODEC_ENTRY(heartbeat_request, 12),
    CODEC_ENTRY(heartbeat_response, 12),
    CODEC_ENTRY(leave_group_request, 13),
    CODEC_ENTRY(leave_group_response, 13),
    CODEC_ENTRY(sync_group_request, 14),
    CODEC_ENTRY(sync_group_response, 14),
    CODEC_ENTRY(describe_groups_request, 15),
    CODEC_ENTRY(describe_groups_response, 15),
    CODEC_ENTRY(list_groups_request, 16),
    CODEC_ENTRY(list_groups_response, 16),
    CODEC_ENTRY(delete_groups_request, 42),
    CODEC_ENTRY(delete_groups_response, 42),
    CODEC_ENTRY(offset_delete_request, 47),
    CODEC_ENTRY(offset_delete_response, 47),
};

static const struct codec *codec_named(const char *name)
{
    for (size_t i = 0; i < GR_ARRAY_LEN(codecs); i++)
        if (strcmp(codecs[i].name, name) == 0) return &codecs[i];
    ck_abort_msg("no codec %s", name);
    return NULL;
}

/*
 * encode -> decode -> re-encode must give the same bytes, decode must consume everything, and
 * every strict prefix of the encoding must fail to decode (never succeed, never crash).
 * Returns the encoded length.
 */
static size_t round_trip(const struct codec *c, int16_t version, const void *msg)
{
    struct gbuf b1, b2;
    gbuf_init(&b1);
    gbuf_init(&b2);
    struct kafka_writer w;
    kafka_writer_init(&w, &b1);
    int rc = c->enc(&w, version, msg);
    ck_assert_msg(rc == 0, "%s v%d encode: %s", c->name, version, gr_strerror(rc));

    void *dec = alloc(1, c->size);
    struct kafka_reader r;
    reader_on(&r, b1.data, b1.len);
    rc = c->dec(&r, version, dec);
    ck_assert_msg(rc == 0, "%s v%d decode: %s", c->name, version, gr_strerror(rc));
    ck_assert_msg(kafka_reader_left(&r) == 0, "%s v%d: %zu bytes left", c->name, version,
                  kafka_reader_left(&r));

    kafka_writer_init(&w, &b2);
    rc = c->enc(&w, version, dec);
    ck_assert_msg(rc == 0, "%s v%d re-encode: %s", c->name, version, gr_strerror(rc));
    ck_assert_msg(b1.len == b2.len && (b1.len == 0 || memcmp(b1.data, b2.data, b1.len) == 0),
                  "%s v%d: re-encoding differs (%zu vs %zu bytes)", c->name, version, b1.len,
                  b2.len);

    for (size_t n = 0; n < b1.len; n++) {
        void *part = alloc(1, c->size);
        reader_on(&r, b1.data, n);
        ck_assert_msg(c->dec(&r, version, part) != 0, "%s v%d: %zu-byte prefix decoded", c->name,
                      version, n);
    }
    size_t len = b1.len;
    gbuf_close(&b1);
    gbuf_close(&b2);
    return len;
}

START_TEST(test_round_trip_every_version)
{
    for (size_t i = 0; i < GR_ARRAY_LEN(codecs); i++) {
        const struct codec *c = &codecs[i];
        const struct kafka_api_info *api = kafka_api_lookup(c->api_key);
        ck_assert_ptr_nonnull(api);
        void *msg = c->build();
        for (int16_t v = api->min_version; v <= api->max_version; v++) {
            size_t len = round_trip(c, v, msg);
            /* only ApiVersions and ListGroups requests before v3 have an empty body */
            ck_assert(len > 0 || ((c->api_key == KAFKA_API_API_VERSIONS ||
                                   c->api_key == KAFKA_API_LIST_GROUPS) &&
                                  v < 3));
        }
        arena_reset(&arena);
    }
}
END_TEST

/* The versions the brief and CLIENTS.md single out, named so a failure points at them. */
START_TEST(test_round_trip_named_versions)
{
    static const struct {
        const char *codec;
        int16_t version;
    } cases[] = {
        {"metadata_request", 0},       {"metadata_request", 4},       {"metadata_request", 9},
        {"metadata_request", 12},      {"metadata_response", 0},      {"metadata_response", 4},
        {"metadata_response", 9},      {"metadata_response", 12},     {"produce_request", 3},
        {"produce_request", 7},        {"produce_request", 9},        {"fetch_response", 4},
        {"fetch_response", 11},        {"fetch_response", 12},        {"api_versions_request", 0},
        {"api_versions_request", 3},   {"api_versions_response", 0},  {"api_versions_response", 3},
        {"create_topics_request", 0},  {"create_topics_request", 4},  {"create_topics_request", 5},
        {"create_topics_response", 0}, {"create_topics_response", 4}, {"create_topics_response", 5},
    };
    for (size_t i = 0; i < GR_ARRAY_LEN(cases); i++) {
        const struct codec *c = codec_named(cases[i].codec);
        round_trip(c, cases[i].version, c->build());
    }
}
END_TEST

START_TEST(test_decode_fills_version_defaults)
{
    /* Metadata v0 request: only the topic list; auto-creation defaults to true */
    static const uint8_t meta_v0[] = {0, 0, 0, 1, 0, 2, 't', '1'};
    struct kafka_reader r;
    reader_on(&r, meta_v0, sizeof(meta_v0));
    struct kafka_metadata_request mreq;
    ck_assert_int_eq(kafka_metadata_request_decode(&r, 0, &mreq), 0);
    ck_assert_int_eq(mreq.topics_count, 1);
    ck_assert(kstr_eq(mreq.topics[0].name, "t1"));
    ck_assert(mreq.allow_auto_topic_creation);
    ck_assert(!mreq.include_topic_authorized_operations);

    /* ListOffsets v1 partition: no max_num_offsets (default 1), no leader epoch (default -1) */
    static const uint8_t lo_v1[] = {0xff, 0xff, 0xff, 0xff,                      /* replica -1 */
                                    0,    0,    0,    1,    0,    1,    't',     /* topic "t" */
                                    0,    0,    0,    1,    0,    0,    0,    0, /* partition 0 */
                                    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe}; /* ts -2 */
    reader_on(&r, lo_v1, sizeof(lo_v1));
    struct kafka_list_offsets_request loreq;
    ck_assert_int_eq(kafka_list_offsets_request_decode(&r, 1, &loreq), 0);
    ck_assert_uint_eq(kafka_reader_left(&r), 0);
    ck_assert_int_eq(loreq.replica_id, -1);
    ck_assert_int_eq(loreq.isolation_level, 0);
    ck_assert(loreq.topics[0].partitions[0].timestamp == -2);
    ck_assert_int_eq(loreq.topics[0].partitions[0].max_num_offsets, 1);
    ck_assert_int_eq(loreq.topics[0].partitions[0].current_leader_epoch, -1);

    /* _init sets the schema defaults */
    struct kafka_fetch_request f;
    kafka_fetch_request_init(&f);
    ck_assert_int_eq(f.replica_id, -1);
    ck_assert_int_eq(f.max_bytes, 0x7fffffff);
    ck_assert_int_eq(f.session_epoch, -1);
    ck_assert_int_eq(f.cluster_id.len, -1);
    ck_assert_int_eq(f.rack_id.len, 0);
    ck_assert_ptr_nonnull(f.rack_id.ptr);
    struct kafka_metadata_response mr;
    kafka_metadata_response_init(&mr);
    ck_assert_int_eq(mr.controller_id, -1);
    ck_assert_int_eq(mr.cluster_id.len, -1);
    ck_assert_int_eq(mr.cluster_authorized_operations, INT32_MIN);
    struct kafka_fetch_response_partition_data pd;
    kafka_fetch_response_partition_data_init(&pd);
    ck_assert_int_eq(pd.records.fd, -1);
    ck_assert_int_eq(pd.records.len, -1);
    ck_assert_int_eq(pd.current_leader.leader_id, -1);
    ck_assert(pd.snapshot_id.end_offset == -1);
}
END_TEST

START_TEST(test_null_in_non_nullable_version)
{
    struct kafka_metadata_request m;
    kafka_metadata_request_init(&m);
    m.topics_count = -1;
    struct kafka_writer w;
    kafka_writer_init(&w, &buf);
    ck_assert_int_eq(kafka_metadata_request_encode(&w, 0, &m), GR_EINVAL);
    gbuf_reset(&buf);
    kafka_writer_init(&w, &buf);
    ck_assert_int_eq(kafka_metadata_request_encode(&w, 1, &m), 0);
    static const uint8_t want[] = {0xff, 0xff, 0xff, 0xff};
    expect_bytes(&buf, want, sizeof(want));

    /* and on decode: a null topic array in v0 is corrupt */
    struct kafka_reader r;
    reader_on(&r, want, sizeof(want));
    struct kafka_metadata_request d;
    ck_assert_int_eq(kafka_metadata_request_decode(&r, 0, &d), GR_ECORRUPT);
    reader_on(&r, want, sizeof(want));
    ck_assert_int_eq(kafka_metadata_request_decode(&r, 1, &d), 0);
    ck_assert_int_eq(d.topics_count, -1);

    /* a null topic name in a Produce request */
    struct kafka_produce_request *p = build_produce_request();
    p->topic_data[0].name = KSTR_NULL;
    gbuf_reset(&buf);
    kafka_writer_init(&w, &buf);
    ck_assert_int_eq(kafka_produce_request_encode(&w, 7, p), GR_EINVAL);

    /* unsupported versions */
    gbuf_reset(&buf);
    kafka_writer_init(&w, &buf);
    ck_assert_int_eq(kafka_metadata_request_encode(&w, 13, &m), GR_EUNSUP);
    reader_on(&r, want, sizeof(want));
    ck_assert_int_eq(kafka_metadata_request_decode(&r, -1, &d), GR_EUNSUP);
}
END_TEST

START_TEST(test_tagged_fields_in_messages)
{
    /* Fetch v12 response: tagged fields are written only when not default */
    struct kafka_fetch_response *m = build_fetch_response();
    struct kafka_writer w;
    kafka_writer_init(&w, &buf);
    ck_assert_int_eq(kafka_fetch_response_encode(&w, 12, m), 0);
    struct kafka_reader r;
    reader_on(&r, buf.data, buf.len);
    struct kafka_fetch_response d;
    ck_assert_int_eq(kafka_fetch_response_decode(&r, 12, &d), 0);
    struct kafka_fetch_response_partition_data *p0 = &d.responses[0].partitions[0];
    struct kafka_fetch_response_partition_data *p1 = &d.responses[0].partitions[1];
    ck_assert_int_eq(p0->diverging_epoch.epoch, 1);
    ck_assert(p0->diverging_epoch.end_offset == 50);
    ck_assert_int_eq(p0->current_leader.leader_id, 2);
    ck_assert_int_eq(p0->current_leader.leader_epoch, 3);
    ck_assert(p0->snapshot_id.end_offset == -1);
    ck_assert_int_eq(p1->current_leader.leader_id, -1);
    ck_assert_int_eq(p1->aborted_transactions_count, -1);
    ck_assert_int_eq(p1->records.len, -1);
    ck_assert_int_eq(p0->records.len, 18);
    ck_assert_mem_eq(p0->records.ptr, "record-batch-bytes", 18);

    /* a partition with only current_leader set: the exact tag block bytes */
    struct kafka_fetch_response_partition_data one;
    kafka_fetch_response_partition_data_init(&one);
    one.current_leader.leader_id = 1;
    one.current_leader.leader_epoch = 5;
    one.aborted_transactions_count = 0;
    struct kafka_fetch_response_fetchable_topic_response topic = {KSTR("t"), &one, 1};
    struct kafka_fetch_response resp;
    kafka_fetch_response_init(&resp);
    resp.responses = &topic;
    resp.responses_count = 1;
    gbuf_reset(&buf);
    kafka_writer_init(&w, &buf);
    ck_assert_int_eq(kafka_fetch_response_encode(&w, 12, &resp), 0);
    static const uint8_t want[] = {
        0,    0,    0,    0,                                  /* throttle_time_ms */
        0,    0,                                              /* error_code */
        0,    0,    0,    0,                                  /* session_id */
        0x02,                                                 /* responses: 1 (compact) */
        0x02, 't',                                            /* topic "t" */
        0x02,                                                 /* partitions: 1 */
        0,    0,    0,    0,                                  /* partition_index */
        0,    0,                                              /* error_code */
        0,    0,    0,    0,    0,    0,    0,    0,          /* high_watermark */
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,       /* last_stable_offset -1 */
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,       /* log_start_offset -1 */
        0x01,                                                 /* aborted_transactions: empty */
        0xff, 0xff, 0xff, 0xff,                               /* preferred_read_replica -1 */
        0x00,                                                 /* records: null */
        0x01,                                                 /* 1 tagged field */
        0x01, 0x09,                                           /* tag 1 (CurrentLeader), 9 bytes */
        0,    0,    0,    1,    0,    0,    0,    5,    0x00, /* leader 1, epoch 5, no tags */
        0x00,                                                 /* topic tags */
        0x00,                                                 /* response tags */
    };
    expect_bytes(&buf, want, sizeof(want));

    /* unknown tags are skipped: Metadata v9 request with tag 7 (3 bytes) */
    static const uint8_t meta_v9[] = {0x01, 0x01, 0x00, 0x00, /* topics [], flags */
                                      0x01, 0x07, 0x03, 0xaa, 0xbb, 0xcc};
    reader_on(&r, meta_v9, sizeof(meta_v9));
    struct kafka_metadata_request mreq;
    ck_assert_int_eq(kafka_metadata_request_decode(&r, 9, &mreq), 0);
    ck_assert_uint_eq(kafka_reader_left(&r), 0);
    ck_assert_int_eq(mreq.topics_count, 0);
    ck_assert(mreq.allow_auto_topic_creation);

    /* a known tag whose body is too short is an error, not an overread */
    static const uint8_t bad_tag[] = {0x00, 0x00, 0x01,              /* error, api_keys [] */
                                      0x00, 0x00, 0x00, 0x00,        /* throttle */
                                      0x01, 0x01, 0x02, 0x00, 0x01}; /* tag 1 (int64), 2 bytes */
    reader_on(&r, bad_tag, sizeof(bad_tag));
    struct kafka_api_versions_response av;
    ck_assert_int_eq(kafka_api_versions_response_decode(&r, 3, &av), GR_ETRUNC);
}
END_TEST

/* ========================================================================================== */
/* Byte vectors written from the protocol guide / what real clients put on the wire           */

START_TEST(test_vector_api_versions_v3_request_librdkafka)
{
    /* Frame body (after the int32 size) of librdkafka 2.0.2's first request. */
    static const uint8_t frame[] = {
        0x00, 0x12,                                                /* api_key 18 */
        0x00, 0x03,                                                /* api_version 3 */
        0x00, 0x00, 0x00, 0x01,                                    /* correlation_id 1 */
        0x00, 0x07, 'r',  'd',  'k', 'a', 'f', 'k', 'a',           /* client_id, int16 length */
        0x00,                                                      /* header tagged fields */
        0x0b, 'l',  'i',  'b',  'r', 'd', 'k', 'a', 'f', 'k', 'a', /* compact "librdkafka" */
        0x06, '2',  '.',  '0',  '.', '2',                          /* compact "2.0.2" */
        0x00,                                                      /* body tagged fields */
    };
    struct kafka_reader r;
    reader_on(&r, frame, sizeof(frame));
    /* the header version depends on the api/version in the first four bytes */
    int hv = kafka_request_header_version((int16_t)be16_get(frame), (int16_t)be16_get(frame + 2));
    ck_assert_int_eq(hv, 2);
    struct kafka_request_header h;
    kafka_request_header_decode(&r, hv, &h);
    ck_assert_int_eq(r.err, 0);
    ck_assert_int_eq(h.api_key, KAFKA_API_API_VERSIONS);
    ck_assert_int_eq(h.api_version, 3);
    ck_assert_int_eq(h.correlation_id, 1);
    ck_assert(kstr_eq(h.client_id, "rdkafka"));
    struct kafka_api_versions_request req;
    ck_assert_int_eq(kafka_api_versions_request_decode(&r, 3, &req), 0);
    ck_assert_uint_eq(kafka_reader_left(&r), 0);
    ck_assert(kstr_eq(req.client_software_name, "librdkafka"));
    ck_assert(kstr_eq(req.client_software_version, "2.0.2"));

    /* and we produce the same bytes */
    struct kafka_writer w;
    kafka_writer_init(&w, &buf);
    kafka_request_header_encode(&w, 2, &h);
    ck_assert_int_eq(kafka_api_versions_request_encode(&w, 3, &req), 0);
    expect_bytes(&buf, frame, sizeof(frame));
}
END_TEST

START_TEST(test_vector_metadata_v0_request_kafka_python)
{
    /* kafka-python 2.0.2's bootstrap probe: Metadata v0 with an empty topic list (= all). */
    static const uint8_t frame[] = {
        0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, /* key 3, v0, correlation 2 */
        0x00, 0x12, 'k',  'a',  'f',  'k',  'a',  '-',  'p', 'y',
        't',  'h',  'o',  'n',  '-',  '2',  '.',  '0',  '.', '2', /* client_id */
        0x00, 0x00, 0x00, 0x00,                                   /* topics: empty array */
    };
    struct kafka_reader r;
    reader_on(&r, frame, sizeof(frame));
    int hv = kafka_request_header_version(3, 0);
    ck_assert_int_eq(hv, 1);
    struct kafka_request_header h;
    kafka_request_header_decode(&r, hv, &h);
    ck_assert(kstr_eq(h.client_id, "kafka-python-2.0.2"));
    ck_assert_int_eq(h.correlation_id, 2);
    struct kafka_metadata_request req;
    ck_assert_int_eq(kafka_metadata_request_decode(&r, 0, &req), 0);
    ck_assert_uint_eq(kafka_reader_left(&r), 0);
    ck_assert_int_eq(req.topics_count, 0);
    ck_assert(req.allow_auto_topic_creation);
}
END_TEST

START_TEST(test_vector_api_versions_responses)
{
    struct kafka_api_versions_response_api_version keys[] = {{0, 3, 7}, {18, 0, 4}};
    struct kafka_api_versions_response resp;
    kafka_api_versions_response_init(&resp);
    resp.api_keys = keys;
    resp.api_keys_count = 2;

    /* v0: error, int32 count, entries; no throttle */
    struct kafka_writer w;
    kafka_writer_init(&w, &buf);
    ck_assert_int_eq(kafka_api_versions_response_encode(&w, 0, &resp), 0);
    static const uint8_t v0[] = {0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00,
                                 0x03, 0x00, 0x07, 0x00, 0x12, 0x00, 0x00, 0x00, 0x04};
    expect_bytes(&buf, v0, sizeof(v0));

    /* v3: compact array, per-entry tag blocks, throttle, empty top-level tag block (all the
     * tagged fields hold their defaults) */
    gbuf_reset(&buf);
    kafka_writer_init(&w, &buf);
    ck_assert_int_eq(kafka_api_versions_response_encode(&w, 3, &resp), 0);
    static const uint8_t v3[] = {0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x03, 0x00, 0x07, 0x00, 0x00,
                                 0x12, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
    expect_bytes(&buf, v3, sizeof(v3));

    /* v3 with finalized_features_epoch set: tag 1, 8 bytes */
    resp.finalized_features_epoch = 2;
    gbuf_reset(&buf);
    kafka_writer_init(&w, &buf);
    ck_assert_int_eq(kafka_api_versions_response_encode(&w, 3, &resp), 0);
    ck_assert_uint_eq(buf.len, sizeof(v3) + 10);
    ck_assert_mem_eq(buf.data + sizeof(v3) - 1, "\x01\x01\x08\0\0\0\0\0\0\0\x02", 11);

    /* the error-35 fallback: a v0-shaped body decodes as v0 */
    static const uint8_t fallback[] = {0x00, 0x23, 0x00, 0x00, 0x00, 0x01,
                                       0x00, 0x12, 0x00, 0x00, 0x00, 0x04};
    struct kafka_reader r;
    reader_on(&r, fallback, sizeof(fallback));
    struct kafka_api_versions_response d;
    ck_assert_int_eq(kafka_api_versions_response_decode(&r, 0, &d), 0);
    ck_assert_int_eq(d.error_code, KAFKA_ERR_UNSUPPORTED_VERSION);
    ck_assert_int_eq(d.api_keys_count, 1);
    ck_assert_int_eq(d.api_keys[0].max_version, 4);
}
END_TEST

START_TEST(test_vector_produce_v3_request)
{
    /* Produce v3 (librdkafka's minimum with MsgVer2): transactional_id null, acks -1,
     * timeout 5000, one topic "t" with partition 0 carrying 4 bytes of "records". */
    static const uint8_t body[] = {
        0xff, 0xff,             /* transactional_id: null */
        0xff, 0xff,             /* acks -1 */
        0x00, 0x00, 0x13, 0x88, /* timeout 5000 */
        0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 't',  0x00,
        0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, /* partition 0 */
        0x00, 0x00, 0x00, 0x04, 0xde, 0xad, 0xbe, 0xef,
    };
    struct kafka_reader r;
    reader_on(&r, body, sizeof(body));
    struct kafka_produce_request req;
    ck_assert_int_eq(kafka_produce_request_decode(&r, 3, &req), 0);
    ck_assert_uint_eq(kafka_reader_left(&r), 0);
    ck_assert_int_eq(req.transactional_id.len, -1);
    ck_assert_int_eq(req.acks, -1);
    ck_assert_int_eq(req.timeout_ms, 5000);
    ck_assert_int_eq(req.topic_data_count, 1);
    ck_assert(kstr_eq(req.topic_data[0].name, "t"));
    struct kafka_produce_request_partition_produce_data *pd = &req.topic_data[0].partition_data[0];
    ck_assert_int_eq(pd->index, 0);
    ck_assert_int_eq(pd->records.len, 4);
    ck_assert_ptr_eq(pd->records.ptr, body + sizeof(body) - 4); /* a view, no copy */
    ck_assert_int_eq(pd->records.fd, -1);
}
END_TEST

START_TEST(test_vector_metadata_v9_response)
{
    /* Metadata v9 response, one broker, no topics, flexible encoding throughout */
    struct kafka_metadata_response_broker b = {1, KSTR("localhost"), 9092, KSTR_NULL};
    struct kafka_metadata_response m;
    kafka_metadata_response_init(&m);
    m.brokers = &b;
    m.brokers_count = 1;
    m.cluster_id = KSTR("c");
    m.controller_id = 1;
    struct kafka_writer w;
    kafka_writer_init(&w, &buf);
    ck_assert_int_eq(kafka_metadata_response_encode(&w, 9, &m), 0);
    static const uint8_t want[] = {
        0,    0,   0,   0,                                                   /* throttle */
        0x02,                                                                /* brokers: 1 */
        0,    0,   0,   1,                                                   /* node_id */
        0x0a, 'l', 'o', 'c', 'a', 'l', 'h', 'o', 's', 't', 0, 0, 0x23, 0x84, /* port 9092 */
        0x00,                                                                /* rack: null */
        0x00,                                                                /* broker tags */
        0x02, 'c',                                                           /* cluster_id */
        0,    0,   0,   1,                                                   /* controller_id */
        0x01,                                                                /* topics: empty */
        0x80, 0,   0,   0, /* cluster_authorized_operations */
        0x00,              /* tags */
    };
    expect_bytes(&buf, want, sizeof(want));
}
END_TEST

/* ========================================================================================== */
/* Metadata log records                                                                       */

START_TEST(test_metadata_log_records)
{
    struct kafka_topic_record t = {KSTR("orders"), uuid_of(1)};
    struct kafka_writer w;
    kafka_writer_init(&w, &buf);
    ck_assert_int_eq(kafka_topic_record_encode(&w, 0, &t), 0);
    static const uint8_t want[] = {0x07, 'o', 'r', 'd', 'e', 'r', 's'};
    ck_assert_mem_eq(buf.data, want, sizeof(want));
    ck_assert_uint_eq(buf.len, sizeof(want) + 16 + 1);
    struct kafka_reader r;
    reader_on(&r, buf.data, buf.len);
    struct kafka_topic_record td;
    ck_assert_int_eq(kafka_topic_record_decode(&r, 0, &td), 0);
    ck_assert(kstr_eq(td.name, "orders"));
    ck_assert_mem_eq(td.topic_id.b, t.topic_id.b, 16);

    int32_t replicas[] = {1, 2, 3}, isr[] = {1, 2};
    struct kafka_partition_record p = {7, uuid_of(1), replicas, 3, isr, 2, 1, 4, 9};
    gbuf_reset(&buf);
    kafka_writer_init(&w, &buf);
    ck_assert_int_eq(kafka_partition_record_encode(&w, 0, &p), 0);
    reader_on(&r, buf.data, buf.len);
    struct kafka_partition_record pd;
    ck_assert_int_eq(kafka_partition_record_decode(&r, 0, &pd), 0);
    ck_assert_int_eq(pd.partition_id, 7);
    ck_assert_int_eq(pd.replicas_count, 3);
    ck_assert_int_eq(pd.replicas[2], 3);
    ck_assert_int_eq(pd.isr_count, 2);
    ck_assert_int_eq(pd.leader, 1);
    ck_assert_int_eq(pd.leader_epoch, 4);
    ck_assert_int_eq(pd.partition_epoch, 9);

    struct kafka_register_broker_record_broker_endpoint ep = {KSTR("PLAINTEXT"), KSTR("localhost"),
                                                              9092, 0};
    struct kafka_register_broker_record reg;
    kafka_register_broker_record_init(&reg);
    ck_assert_int_eq(reg.rack.len, -1);
    reg.broker_id = 1;
    reg.incarnation_id = uuid_of(2);
    reg.broker_epoch = 77;
    reg.endpoints = &ep;
    reg.endpoints_count = 1;
    reg.fenced = true;
    gbuf_reset(&buf);
    kafka_writer_init(&w, &buf);
    ck_assert_int_eq(kafka_register_broker_record_encode(&w, 0, &reg), 0);
    reader_on(&r, buf.data, buf.len);
    struct kafka_register_broker_record regd;
    ck_assert_int_eq(kafka_register_broker_record_decode(&r, 0, &regd), 0);
    ck_assert_uint_eq(kafka_reader_left(&r), 0);
    ck_assert_int_eq(regd.endpoints_count, 1);
    ck_assert_uint_eq(regd.endpoints[0].port, 9092);
    ck_assert(kstr_eq(regd.endpoints[0].host, "localhost"));
    ck_assert_int_eq(regd.rack.len, -1);
    ck_assert(regd.fenced);

    struct kafka_config_record cr = {2, KSTR("orders"), KSTR("retention.ms"), KSTR_NULL};
    gbuf_reset(&buf);
    kafka_writer_init(&w, &buf);
    ck_assert_int_eq(kafka_config_record_encode(&w, 0, &cr), 0);
    reader_on(&r, buf.data, buf.len);
    struct kafka_config_record crd;
    ck_assert_int_eq(kafka_config_record_decode(&r, 0, &crd), 0);
    ck_assert_int_eq(crd.value.len, -1);

    struct kafka_remove_topic_record rt = {uuid_of(8)};
    struct kafka_feature_level_record fl = {KSTR("metadata.version"), 20};
    gbuf_reset(&buf);
    kafka_writer_init(&w, &buf);
    ck_assert_int_eq(kafka_remove_topic_record_encode(&w, 0, &rt), 0);
    ck_assert_int_eq(kafka_feature_level_record_encode(&w, 0, &fl), 0);
    reader_on(&r, buf.data, buf.len);
    struct kafka_remove_topic_record rtd;
    struct kafka_feature_level_record fld;
    ck_assert_int_eq(kafka_remove_topic_record_decode(&r, 0, &rtd), 0);
    ck_assert_int_eq(kafka_feature_level_record_decode(&r, 0, &fld), 0);
    ck_assert_int_eq(fld.feature_level, 20);
    ck_assert_uint_eq(kafka_reader_left(&r), 0);
}
END_TEST

/* ========================================================================================== */
/* DescribeQuorum (55): what each version keeps of a quorum of 2 voters and 1 observer         */

static void expect_replica_state(const struct kafka_describe_quorum_response_replica_state *got,
                                 const struct kafka_describe_quorum_response_replica_state *want,
                                 int16_t version)
{
    ck_assert_int_eq(got->replica_id, want->replica_id);
    ck_assert(got->log_end_offset == want->log_end_offset);
    if (version >= 1) {
        ck_assert(got->last_fetch_timestamp == want->last_fetch_timestamp);
        ck_assert(got->last_caught_up_timestamp == want->last_caught_up_timestamp);
    } else { /* v0 has no timestamps: they decode as unknown */
        ck_assert(got->last_fetch_timestamp == -1);
        ck_assert(got->last_caught_up_timestamp == -1);
    }
    static const uint8_t zero_id[16];
    ck_assert_mem_eq(got->replica_directory_id.b,
                     version >= 2 ? want->replica_directory_id.b : zero_id, 16);
}

START_TEST(test_describe_quorum_response_versions)
{
    const struct kafka_describe_quorum_response *m = build_describe_quorum_response();
    const struct kafka_describe_quorum_response_partition_data *mp = &m->topics[0].partitions[0];
    for (int16_t v = 0; v <= 2; v++) {
        struct kafka_writer w;
        gbuf_reset(&buf);
        kafka_writer_init(&w, &buf);
        ck_assert_int_eq(kafka_describe_quorum_response_encode(&w, v, m), 0);
        struct kafka_reader r;
        reader_on(&r, buf.data, buf.len);
        struct kafka_describe_quorum_response d;
        ck_assert_int_eq(kafka_describe_quorum_response_decode(&r, v, &d), 0);
        ck_assert_uint_eq(kafka_reader_left(&r), 0);

        ck_assert_int_eq(d.error_code, 0);
        ck_assert_int_eq(d.error_message.len, v >= 2 ? -1 : 0); /* null from v2, else absent */
        ck_assert_int_eq(d.topics_count, 1);
        ck_assert(kstr_eq(d.topics[0].topic_name, "__cluster_metadata"));
        ck_assert_int_eq(d.topics[0].partitions_count, 1);
        const struct kafka_describe_quorum_response_partition_data *p = &d.topics[0].partitions[0];
        ck_assert_int_eq(p->partition_index, 0);
        ck_assert_int_eq(p->error_code, 0);
        if (v >= 2)
            ck_assert(kstr_eq(p->error_message, "all good"));
        else
            ck_assert_int_eq(p->error_message.len, 0);
        ck_assert_int_eq(p->leader_id, 3);
        ck_assert_int_eq(p->leader_epoch, 7);
        ck_assert(p->high_watermark == 1234);
        ck_assert_int_eq(p->current_voters_count, 2);
        for (int i = 0; i < 2; i++)
            expect_replica_state(&p->current_voters[i], &mp->current_voters[i], v);
        ck_assert_int_eq(p->observers_count, 1);
        expect_replica_state(&p->observers[0], &mp->observers[0], v);

        ck_assert_int_eq(d.nodes_count, v >= 2 ? 2 : 0);
        for (int32_t i = 0; i < d.nodes_count; i++) {
            ck_assert_int_eq(d.nodes[i].node_id, m->nodes[i].node_id);
            ck_assert_int_eq(d.nodes[i].listeners_count, 1);
            ck_assert(kstr_eq(d.nodes[i].listeners[0].name, "CONTROLLER"));
            ck_assert(kstr_eq(d.nodes[i].listeners[0].host, "localhost"));
            ck_assert_uint_eq(d.nodes[i].listeners[0].port, m->nodes[i].listeners[0].port);
        }
    }
}
END_TEST

/* The request `gregor metadata-quorum` sends, byte for byte (the same in every version). */
START_TEST(test_vector_describe_quorum_request)
{
    /* topics: 1 (compact: n + 1); topic_name "__cluster_metadata" (compact: 18 + 1) */
    static const uint8_t want[] = {
        0x02, 0x13, '_',  '_', 'c', 'l', 'u', 's', 't', 'e',  'r',
        '_',  'm',  'e',  't', 'a', 'd', 'a', 't', 'a', 0x02, /* partitions: 1 */
        0,    0,    0,    0,                                  /* partition_index 0 */
        0x00, 0x00, 0x00, /* partition, topic and request tagged fields */
    };
    for (int16_t v = 0; v <= 2; v++) {
        struct kafka_writer w;
        gbuf_reset(&buf);
        kafka_writer_init(&w, &buf);
        ck_assert_int_eq(
            kafka_describe_quorum_request_encode(&w, v, build_describe_quorum_request()), 0);
        expect_bytes(&buf, want, sizeof(want));
    }
}
END_TEST

/* ========================================================================================== */

static Suite *proto_messages_suite(void)
{
    Suite *s = suite_create("proto_messages");
    TCase *msgs = tcase_create("messages");
    tcase_add_checked_fixture(msgs, setup, teardown);
    tcase_set_timeout(msgs, 60);
    tcase_add_test(msgs, test_round_trip_every_version);
    tcase_add_test(msgs, test_round_trip_named_versions);
    tcase_add_test(msgs, test_decode_fills_version_defaults);
    tcase_add_test(msgs, test_null_in_non_nullable_version);
    tcase_add_test(msgs, test_tagged_fields_in_messages);
    tcase_add_test(msgs, test_metadata_log_records);
    tcase_add_test(msgs, test_describe_quorum_response_versions);
    suite_add_tcase(s, msgs);

    TCase *vec = tcase_create("vectors");
    tcase_add_checked_fixture(vec, setup, teardown);
    tcase_add_test(vec, test_vector_api_versions_v3_request_librdkafka);
    tcase_add_test(vec, test_vector_metadata_v0_request_kafka_python);
    tcase_add_test(vec, test_vector_api_versions_responses);
    tcase_add_test(vec, test_vector_produce_v3_request);
    tcase_add_test(vec, test_vector_metadata_v9_response);
    tcase_add_test(vec, test_vector_describe_quorum_request);
    suite_add_tcase(s, vec);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(proto_messages_suite());
    srunner_run_all(sr, CK_ENV); /* CK_VERBOSITY=verbose lists each test */
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
