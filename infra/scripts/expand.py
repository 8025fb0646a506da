#!/usr/bin/env python3
"""Expand the SAM transform of a template to plain CloudFormation JSON, offline.

usage: expand.py TEMPLATE.yaml OUTPUT.json

Runs aws-sam-translator exactly as the CloudFormation transform would, without any AWS call:
the region comes from AWS_REGION / AWS_DEFAULT_REGION (default ap-southeast-3) and the
managed-policy map is empty. The template gives every function its own role and uses no SAM
policy templates or managed policy names, so the translator never needs to ask IAM; if a
future edit does, expansion fails here instead of reaching out to the network. Local CodeUri
paths become placeholder S3 URIs, as after `sam package`.

Exit status 0 when the template expands, 1 with the translator's messages when it does not.
"""

import json
import os
import sys

os.environ.setdefault("AWS_DEFAULT_REGION", os.environ.get("AWS_REGION", "ap-southeast-3"))
# No credentials are needed or wanted: make sure none from the environment are used.
for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
    os.environ.pop(var, None)

from samtranslator.model.exceptions import InvalidDocumentException  # noqa: E402
from samtranslator.translator.transform import transform  # noqa: E402
from samtranslator.yaml_helper import yaml_parse  # noqa: E402


class OfflinePolicyLoader:
    """Managed-policy name lookup that refuses to go to IAM."""

    def load(self):
        raise SystemExit(
            "expand.py: the template refers to a managed policy by name, which needs IAM; "
            "use a full policy ARN or an inline policy instead"
        )


def stub_local_code(template):
    """Point local CodeUri paths at a placeholder S3 object, as `sam package` would after upload.

    The translator only accepts S3 locations; the local path (../functions) is what `sam build`
    reads. The placeholder never reaches AWS: the expanded template is only for validation.
    """
    for name, res in template.get("Resources", {}).items():
        if not isinstance(res, dict) or res.get("Type") != "AWS::Serverless::Function":
            continue
        props = res.get("Properties", {})
        uri = props.get("CodeUri")
        if isinstance(uri, str) and not uri.startswith("s3://"):
            props["CodeUri"] = f"s3://karcis-offline-placeholder/{name}.zip"


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    src, dst = argv[1], argv[2]
    with open(src, encoding="utf-8") as f:
        template = yaml_parse(f.read())
    stub_local_code(template)
    try:
        expanded = transform(template, {}, OfflinePolicyLoader())
    except InvalidDocumentException as err:
        print(f"{src}: SAM transform failed:", file=sys.stderr)
        for cause in err.causes:
            print(f"  - {cause.message}", file=sys.stderr)
        return 1
    os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
    with open(dst, "w", encoding="utf-8") as f:
        json.dump(expanded, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"{src}: expanded to {dst} ({len(expanded.get('Resources', {}))} resources)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
