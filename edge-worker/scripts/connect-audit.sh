#!/usr/bin/env bash
# Turn the door's audit forwarding on (wrangler.toml ships AUDIT_FORWARDING = "on", and the
# worker answers 503 until it is configured):
#   scripts/connect-audit.sh https://<api>/v1/audit/batches   # the stack's AuditIngestUrl output
#
# 1. makes a fresh P-256 AUDIT_SIGNING_KEY and uploads it as a Worker secret (through stdin:
#    never in a file, the repo or a process list); the door signs per-event ingest tokens and
#    batch heads with it (src/audit_forward.rs);
# 2. writes AUDIT_INGEST_URL into wrangler.toml (deploy afterwards: `wrangler deploy`);
# 3. prints the public key: deploy the stack with `--parameter-overrides
#    AuditHeadPublicKey=<it>`, so the ingest accepts only batches this door signed.
# KARCIS_WRANGLER / KARCIS_WRANGLER_TOML replace wrangler and the file (tests only).
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $# -ne 1 || "$1" != https://* ]]; then
  echo "usage: $0 https://<api>/v1/audit/batches (the AuditIngestUrl output; https only)" >&2
  exit 2
fi
url="$1"
if [[ ! "$url" =~ ^https://[A-Za-z0-9.-]+(:[0-9]+)?/[A-Za-z0-9/._-]*$ ]]; then
  echo "not a plain https URL: $url" >&2
  exit 2
fi
wrangler="${KARCIS_WRANGLER:-node_modules/.bin/wrangler}"
toml="${KARCIS_WRANGLER_TOML:-wrangler.toml}"
grep -q '^AUDIT_INGEST_URL = ' "$toml" || { echo "$toml has no AUDIT_INGEST_URL line" >&2; exit 2; }
export WRANGLER_SEND_METRICS=false
# One node process makes the key, hands the private scalar to wrangler on its stdin and prints
# only the public key.
public=$(KARCIS_WRANGLER_BIN="$wrangler" node -e '
  const { createECDH } = require("crypto");
  const { spawnSync } = require("child_process");
  const ecdh = createECDH("prime256v1");
  ecdh.generateKeys();
  const put = spawnSync(process.env.KARCIS_WRANGLER_BIN, ["secret", "put", "AUDIT_SIGNING_KEY"], {
    input: ecdh.getPrivateKey("hex").padStart(64, "0"),
    stdio: ["pipe", 2, 2], // wrangler output to stderr: stdout is the public key
  });
  if (put.status !== 0) {
    process.stderr.write("wrangler secret put AUDIT_SIGNING_KEY failed\n");
    process.exit(1);
  }
  process.stdout.write(ecdh.getPublicKey("hex", "uncompressed"));
')
sed -i.bak "s|^AUDIT_INGEST_URL = .*|AUDIT_INGEST_URL = \"$url\"|" "$toml" && rm -f "$toml.bak"
echo "AuditHeadPublicKey=$public"
