#!/usr/bin/env bash
# deploy/drill.sh — the failure drill of the container cluster of docker-compose.yml: proves that
# the cluster keeps every acknowledged record while it loses nodes.
#
#   make drill                          # = make cluster-up, then ROUNDS=20 deploy/drill.sh
#   ROUNDS=3 make drill
#   KILL=controller ROUNDS=2 make drill # kill the active controller instead of a broker
#   CUT=1 ROUNDS=2 make drill           # disconnect a broker from the network instead
#
# Creates topic drill (6 partitions, replication factor 3, min.insync.replicas=2; an existing
# one is deleted first) through 127.0.0.1:19092, starts a producer of numbered records (acks=all,
# idempotence on) and a consumer group that commits, and for ROUNDS rounds:
#
#   default          `docker kill` a random broker, wait DOWN_S, `docker start` it
#   KILL=controller  the same with the active controller (LeaderId of
#                    `gregor metadata-quorum describe --status`)
#   CUT=1            `docker network disconnect` the node (a random broker, or with
#                    KILL=controller the active controller) from the compose network, wait
#                    DOWN_S, connect it again
#
# then waits until the node is healthy and every ISR is full before the next round.  At the end
# it checks that no acknowledged record was lost, counts duplicates, compares the three replicas
# of every partition and prints a report (deploy/drill.py does the work).  Exit status: 0 OK,
# 1 records lost or replicas differ, 2 the drill could not run.
#
# Environment (all optional):
#   ROUNDS             rounds (default 20)
#   KILL               broker | controller (default broker)
#   CUT                1: network cut instead of kill (default 0)
#   DOWN_S             seconds a node stays killed or cut (default 5; 10 with CUT=1, longer
#                      than the controllers' 6 s broker session so that the cut broker is fenced)
#   SETTLE_S           seconds between rounds once the cluster is whole again (default 3)
#   RATE               records produced per second (default 500)
#   SEED               seed of the victim choice (default random; printed)
#   COMPOSE            the compose command (default docker-compose)
#   CLIENT_LOG         where the Kafka clients log (default /tmp/gregor-drill-client.log)
#   HEALTH_TIMEOUT_S, ISR_TIMEOUT_S, CONSUME_TIMEOUT_S, LEADER_TIMEOUT_S   waits, in seconds
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON=/usr/bin/python3
COMPOSE=${COMPOSE:-docker-compose}
export ROUNDS=${ROUNDS:-20} KILL=${KILL:-broker} CUT=${CUT:-0} COMPOSE

die() {
    echo "drill: $*" >&2
    exit 2
}

command -v docker >/dev/null || die "docker is missing (make docker-deps)"
docker info >/dev/null 2>&1 || die "the Docker daemon is not running (make docker-deps starts it)"
$PYTHON -c 'import confluent_kafka' 2>/dev/null ||
    die "$PYTHON cannot import confluent_kafka (make deps installs python3-confluent-kafka)"
for svc in controller-1 controller-2 controller-3 broker-1 broker-2 broker-3; do
    [[ -n $($COMPOSE ps -q "$svc" 2>/dev/null) ]] || die "$svc is not up: run make cluster-up"
done

exec $PYTHON deploy/drill.py
