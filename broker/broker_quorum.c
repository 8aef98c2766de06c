/* broker_quorum.c — DescribeQuorum (55): the broker asks the active controller over the control
 * plane and answers in Kafka's shape, for the one partition of the metadata log. */
#include "broker/broker_int.h"

#include <stdlib.h>
#include <string.h>

struct quorum_pending {
    struct broker *b;
    struct net_slot *slot;
    struct kafka_request_header hdr;
    int16_t error; /* the request named another topic or partition */
};

static void fill_replicas(const Gregor__Control__ReplicaState *const *in, size_t n,
                          struct kafka_describe_quorum_response_replica_state **out,
                          int32_t *out_count, struct arena *a)
{
    *out = arena_calloc(a, GR_MAX(n, 1), sizeof(**out));
    *out_count = *out ? (int32_t)n : 0;
    for (int32_t i = 0; i < *out_count; i++) {
        struct kafka_describe_quorum_response_replica_state *r = &(*out)[i];
        kafka_describe_quorum_response_replica_state_init(r);
        r->replica_id = in[i]->replica_id;
        r->log_end_offset = (int64_t)in[i]->log_end_offset;
        r->last_fetch_timestamp = in[i]->last_fetch_timestamp_ms;
        r->last_caught_up_timestamp = in[i]->last_caught_up_timestamp_ms;
    }
}

static void quorum_answer(void *arg, const Gregor__Control__DescribeQuorumResponse *q)
{
    struct quorum_pending *qp = arg;
    struct arena a;
    arena_init(&a, 4096);
    struct kafka_describe_quorum_response resp;
    kafka_describe_quorum_response_init(&resp);
    struct kafka_describe_quorum_response_topic_data td;
    kafka_describe_quorum_response_topic_data_init(&td);
    struct kafka_describe_quorum_response_partition_data pd;
    kafka_describe_quorum_response_partition_data_init(&pd);
    td.topic_name = KSTR("__cluster_metadata");
    td.partitions = &pd;
    td.partitions_count = 1;
    resp.topics = &td;
    resp.topics_count = 1;
    pd.partition_index = 0;
    pd.leader_id = -1;
    if (qp->error) {
        resp.error_code = qp->error;
        resp.topics_count = 0;
    } else if (!q || q->error_code) {
        /* no controller answered: retriable for the client */
        pd.error_code = q ? (int16_t)q->error_code : KAFKA_ERR_REQUEST_TIMED_OUT;
        pd.error_message = KSTR("The controller quorum has no active controller right now.");
    } else {
        pd.leader_id = q->leader_id ? q->leader_id : -1;
        pd.leader_epoch = (int32_t)q->leader_epoch;
        pd.high_watermark = (int64_t)q->high_watermark;
        fill_replicas((const Gregor__Control__ReplicaState *const *)q->voters, q->n_voters,
                      &pd.current_voters, &pd.current_voters_count, &a);
        fill_replicas((const Gregor__Control__ReplicaState *const *)q->observers,
                      q->n_observers, &pd.observers, &pd.observers_count, &a);
    }
    struct broker_req req = {.b = qp->b, .slot = qp->slot, .hdr = qp->hdr};
    struct kafka_writer w;
    broker_respond_begin(&req, &w);
    kafka_describe_quorum_response_encode(&w, qp->hdr.api_version, &resp);
    broker_respond_end(&req, &w);
    arena_close(&a);
    free(qp);
}

int broker_handle_describe_quorum(struct broker_req *req)
{
    struct kafka_describe_quorum_request body;
    if (kafka_describe_quorum_request_decode(&req->r, req->hdr.api_version, &body)) return -1;
    struct quorum_pending *qp = calloc(1, sizeof(*qp));
    if (!qp) return -1;
    qp->b = req->b;
    qp->slot = req->slot;
    qp->hdr = req->hdr;
    qp->hdr.client_id = KSTR_NULL;
    bool ok = body.topics_count == 1 && kstr_eq(body.topics[0].topic_name, "__cluster_metadata") &&
              body.topics[0].partitions_count == 1 &&
              body.topics[0].partitions[0].partition_index == 0;
    if (!ok) {
        qp->error = KAFKA_ERR_INVALID_REQUEST;
        quorum_answer(qp, NULL);
        return 0;
    }
    if (md_client_describe_quorum(req->b->mdc, quorum_answer, qp)) {
        free(qp);
        return -1;
    }
    return 0;
}
