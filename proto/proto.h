/*
 * proto.h — the public header of Gregor's `proto` module: the Kafka wire primitives, the
 * generated Kafka message structs and codecs (build/gen/kafka_msgs.h, from proto/kafka.schema),
 * and the record-batch codec.
 */
#ifndef GREGOR_PROTO_H
#define GREGOR_PROTO_H

#include "proto/proto_codec.h"
#include "proto/proto_record_batch.h"
#include "kafka_msgs.h"

#endif
