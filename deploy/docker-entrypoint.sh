#!/usr/bin/env bash
# deploy/docker-entrypoint.sh — the entrypoint of the Gregor image (deploy/Dockerfile).
#
# With no arguments, or with `gregord [--override key=value ...]`: writes the node's
# configuration to /etc/gregor/server.properties from the environment, formats the data
# directory on the first start, then execs gregord (PID 1: `docker stop` sends it SIGTERM, a
# controlled shutdown; `docker kill` is kill -9).  Any other command is run as it is
# (`docker run --rm gregor:local gregor storage random-uuid`).
#
# Configuration: every environment variable GREGOR_X_Y=v becomes the line x.y=v, as the
# Confluent images do with KAFKA_*: the name after GREGOR_ is lower-cased, "_" becomes ".",
# "__" becomes "_" and "___" becomes "-".  For example
#
#   GREGOR_NODE_ID=4                              node.id=4
#   GREGOR_PROCESS_ROLES=broker                   process.roles=broker
#   GREGOR_CONTROLLER_QUORUM_VOTERS=1@c1:9093     controller.quorum.voters=1@c1:9093
#   GREGOR_LISTENERS=INTERNAL://0.0.0.0:9092      listeners=INTERNAL://0.0.0.0:9092
#   GREGOR_ADVERTISED_LISTENERS=...               advertised.listeners=...
#   GREGOR_INTER_BROKER_LISTENER_NAME=INTERNAL    inter.broker.listener.name=INTERNAL
#   GREGOR_LISTENER_SECURITY_PROTOCOL_MAP=...     listener.security.protocol.map=...
#   GREGOR_BROKER_RACK=r1                         broker.rack=r1
#
# Required: GREGOR_NODE_ID, GREGOR_PROCESS_ROLES, GREGOR_CONTROLLER_QUORUM_VOTERS and
# GREGOR_LISTENERS; CLUSTER_ID (22 characters, `gregor storage random-uuid`) on the first start,
# the same for every node of the cluster.  Defaults: log.dirs=/var/lib/gregor/data (the image's
# volume), controller.listener.names=CONTROLLER, and listener.security.protocol.map mapping
# every listener name to PLAINTEXT (the only protocol this release serves).
set -euo pipefail

CONFIG=/etc/gregor/server.properties

log() { echo "docker-entrypoint: $*" >&2; }
die() {
    log "$*"
    exit 1
}

if (($# > 0)) && [[ $1 != gregord && $1 != -* ]]; then
    exec "$@"
fi
[[ ${1:-} == gregord ]] && shift

# GREGOR_FOO_BAR__BAZ___QUX -> foo.bar_baz-qux
env_to_key() {
    local k=${1#GREGOR_}
    k=${k,,}
    k=${k//___/$'\x01'}
    k=${k//__/$'\x02'}
    k=${k//_/.}
    k=${k//$'\x01'/-}
    k=${k//$'\x02'/_}
    echo "$k"
}

declare -A conf=()
while IFS= read -r name; do
    [[ $name =~ ^GREGOR_[A-Za-z0-9_]+$ ]] || continue
    value=${!name}
    [[ $value != *$'\n'* ]] || die "$name holds a newline"
    conf[$(env_to_key "$name")]=$value
done < <(compgen -e | LC_ALL=C sort)

for k in node.id process.roles controller.quorum.voters listeners; do
    var=${k//./_}
    [[ -n ${conf[$k]:-} ]] || die "$k is not set (environment variable GREGOR_${var^^})"
done
: "${conf[log.dirs]:=/var/lib/gregor/data}"
: "${conf[controller.listener.names]:=CONTROLLER}"
if [[ -z ${conf[listener.security.protocol.map]:-} ]]; then
    # NAME:PLAINTEXT for every listener name of listeners and advertised.listeners
    map="" seen=" "
    for spec in ${conf[listeners]//,/ } ${conf[advertised.listeners]:-} \
        ${conf[controller.listener.names]//,/ }; do
        for one in ${spec//,/ }; do
            n=${one%%://*}
            [[ $seen == *" $n "* ]] && continue
            seen+="$n "
            map+="${map:+,}$n:PLAINTEXT"
        done
    done
    conf[listener.security.protocol.map]=$map
fi

# Write the file (sorted keys, one per line) and show it in the container's log.
mkdir -p "$(dirname "$CONFIG")"
{
    echo "# Written by docker-entrypoint.sh from the GREGOR_* environment at $(date -u +%FT%TZ);"
    echo "# edits are lost at the next start."
    for k in $(printf '%s\n' "${!conf[@]}" | LC_ALL=C sort); do
        echo "$k=${conf[$k]}"
    done
} >"$CONFIG.tmp"
mv "$CONFIG.tmp" "$CONFIG"
log "node ${conf[node.id]} (${conf[process.roles]}), $CONFIG:"
grep -v '^#' "$CONFIG" | sed 's/^/    /' >&2

# Format the data directories that are not formatted yet (meta.properties absent).
unformatted=""
for d in ${conf[log.dirs]//,/ }; do
    mkdir -p "$d"
    [[ -f $d/meta.properties ]] || unformatted+=" $d"
done
if [[ -n $unformatted ]]; then
    [[ -n ${CLUSTER_ID:-} ]] ||
        die "${unformatted# } not formatted and CLUSTER_ID is not set (one id for the whole" \
            "cluster: gregor storage random-uuid)"
    log "formatting${unformatted} with cluster id $CLUSTER_ID"
    gregor storage format -t "$CLUSTER_ID" -c "$CONFIG" --ignore-formatted >&2
fi

exec gregord "$CONFIG" "$@"
