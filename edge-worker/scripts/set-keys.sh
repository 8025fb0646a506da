#!/usr/bin/env bash
# Upload the worker's key material as Worker secrets (never in wrangler.toml or the repo):
#   scripts/set-keys.sh EVENT_KEYS.json STAFF_JWKS.json [BUNDLE_SIGNING_KEY.hex]
#
# EVENT_KEYS.json   {"events":[{"kid":1,"event_id":"...","issuer_public_key":"04...","qr_key":"..."}]}
#                   issuer PUBLIC keys and QR keys only: the issuer private key stays in KMS.
# STAFF_JWKS.json   the backend's staff-token signing keys as a JWKS (EC P-256, ES256).
# BUNDLE_SIGNING_KEY  hex P-256 private scalar that signs offline bundles (optional: without
#                   it /v1/offline-bundle answers 503). Its public key is printed for the
#                   scanner's config.json (`bundleSigningKey`), which offline mode requires.
# Values go to wrangler through stdin, so they never appear in a process list.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $# -lt 2 || $# -gt 3 ]]; then
  echo "usage: $0 EVENT_KEYS.json STAFF_JWKS.json [BUNDLE_SIGNING_KEY.hex]" >&2
  exit 2
fi
export WRANGLER_SEND_METRICS=false
for f in "$1" "$2"; do
  node -e 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))' "$f" \
    || { echo "$f is not JSON" >&2; exit 2; }
done
node_modules/.bin/wrangler secret put EVENT_KEYS < "$1"
node_modules/.bin/wrangler secret put STAFF_JWKS < "$2"
if [[ $# -eq 3 ]]; then
  node_modules/.bin/wrangler secret put BUNDLE_SIGNING_KEY < "$3"
  # The scanner trusts only the bundle key in its configuration (never one on first use).
  echo "scanner config.json: \"bundleSigningKey\": \"$(node -e '
    const ecdh = require("crypto").createECDH("prime256v1");
    ecdh.setPrivateKey(require("fs").readFileSync(process.argv[1], "utf8").trim(), "hex");
    process.stdout.write(ecdh.getPublicKey("hex", "uncompressed"));' "$3")\""
fi
