#!/usr/bin/env bash
# Revoke a ticket at the door: scripts/revoke.sh EVENT_ID TICKET_ID_HEX [REASON]
#
# Writes the revocation to the REVOKED KV namespace under the key EVENT_ID/TICKET_ID (a
# revocation is one event's: another event's ticket with the same id is untouched), which
# every scan of that event checks. KV takes up to a minute to reach every location; when
# KARCIS_EDGE_URL and KARCIS_ADMIN_TOKEN are set, the script also calls the worker's
# POST /v1/revocations, which records the revocation in the event's Durable Object and so
# takes effect at once everywhere.
#
# Where: remote by default; KARCIS_KV_TARGET="--local --persist-to DIR" writes wrangler's
# local state instead (what the tests use).
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $# -lt 2 || $# -gt 3 ]]; then
  echo "usage: $0 EVENT_ID TICKET_ID_HEX [REASON]" >&2
  exit 2
fi
event_id=$1
ticket_id=${2,,}
reason=${3:-revoked}
id_re='^[A-Za-z0-9._:@-]{1,64}$'
[[ $event_id =~ $id_re ]] || { echo "bad event id" >&2; exit 2; }
[[ $ticket_id =~ ^[0-9a-f]{32}$ ]] || { echo "ticket id must be 32 hex digits" >&2; exit 2; }
[[ $reason =~ $id_re ]] || { echo "reason must be a short id (letters, digits, . _ : @ -)" >&2; exit 2; }

export WRANGLER_SEND_METRICS=false
at_ms=$(($(date +%s) * 1000))
value=$(printf '{"event_id":"%s","reason":"%s","at_ms":%s,"by":"ops"}' "$event_id" "$reason" "$at_ms")
# shellcheck disable=SC2086 # the target is a list of flags
node_modules/.bin/wrangler kv key put --binding REVOKED ${KARCIS_KV_TARGET:---remote} \
  --metadata "{\"event_id\":\"$event_id\"}" "$event_id/$ticket_id" "$value"

if [[ -n ${KARCIS_EDGE_URL:-} && -n ${KARCIS_ADMIN_TOKEN:-} ]]; then
  curl --fail-with-body --silent --show-error \
    -H "authorization: Bearer $KARCIS_ADMIN_TOKEN" -H 'content-type: application/json' \
    --data "{\"event_id\":\"$event_id\",\"ticket_id\":\"$ticket_id\",\"reason\":\"$reason\"}" \
    "$KARCIS_EDGE_URL/v1/revocations"
  echo
fi
echo "revoked $ticket_id for $event_id"
