"""Broken copies of infra/template.yaml, and which validators must catch each one.

Each mutant is the real template with exact text edits (every `old` must occur exactly once, so a
template change that makes an edit miss fails loudly instead of testing nothing). `fails` lists
the validators that must reject it; every other validator that runs on it must accept it, which
documents each tool's blind spots (a broken !Ref inside a SAM resource passes `sam validate
--lint` and plain cfn-lint: only the expanded template shows it).

Validators: expand (aws-sam-translator), cfn-lint (on the expanded JSON), checkov (on the SAM
template and the expanded JSON), sam-validate (`sam validate --lint`), checks (tests/checks.py).
`sam validate` takes several seconds per template, so it runs only on the mutants that name it
in `fails` or `sam_must_pass`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# The buyers' site CSP as written in the template (one line), removed by web-csp-removed.
SITE_CSP = '"' + "; ".join([
    "default-src 'self'",
    "script-src 'self' https://challenges.cloudflare.com",
    'frame-src https://challenges.cloudflare.com',
    "img-src 'self' data: blob:",
    "style-src 'self'",
    "connect-src 'self' https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    'upgrade-insecure-requests',
]) + '"'

VALIDATORS = ("expand", "cfn-lint", "checkov", "sam-validate", "checks")


@dataclass(frozen=True)
class Mutant:
    name: str
    why: str
    edits: list[tuple[str, str]]
    fails: frozenset[str]
    sam_must_pass: bool = False
    # checkov ids expected among the failures (when checkov is in `fails`)
    checkov_ids: frozenset[str] = field(default_factory=frozenset)

    def apply(self, text: str) -> str:
        for old, new in self.edits:
            count = text.count(old)
            if count != 1:
                raise AssertionError(f"mutant {self.name}: edit target occurs {count} times: {old!r}")
            text = text.replace(old, new)
        return text


MUTANTS = [
    Mutant(
        name="broken-ref-in-sam-resource",
        why="a !Ref to a resource that does not exist, inside a SAM function's environment",
        edits=[
            (
                "          GATEWAY_SECRETS: !Ref GatewaySecretsCiphertext\n          MINT_QUEUE_URL: !Ref MintQueue\n",
                "          GATEWAY_SECRETS: !Ref GatewaySecretsCiphertext\n          MINT_QUEUE_URL: !Ref MintQueueTypo\n",
            )
        ],
        fails=frozenset({"cfn-lint"}),
        sam_must_pass=True,  # the blind spot that makes the expand step necessary
    ),
    Mutant(
        name="broken-getatt-in-cfn-resource",
        why="a !GetAtt to a resource that does not exist, in a plain CloudFormation IAM role",
        edits=[
            (
                "                Action: [sqs:ReceiveMessage, sqs:DeleteMessage, sqs:ChangeMessageVisibility, sqs:GetQueueAttributes]\n"
                "                Resource: !GetAtt NotifyQueue.Arn\n",
                "                Action: [sqs:ReceiveMessage, sqs:DeleteMessage, sqs:ChangeMessageVisibility, sqs:GetQueueAttributes]\n"
                "                Resource: !GetAtt NotifyQueueTypo.Arn\n",
            )
        ],
        fails=frozenset({"cfn-lint", "sam-validate"}),
    ),
    Mutant(
        name="invalid-sam-event",
        why="an SQS event without its queue: the SAM transform itself must refuse it",
        edits=[
            (
                "            Queue: !GetAtt NotifyQueue.Arn\n",
                "",
            )
        ],
        fails=frozenset({"expand", "sam-validate"}),
    ),
    Mutant(
        name="missing-dlq",
        why="the notify queue loses its redrive policy (no dead-letter queue)",
        edits=[
            (
                "      VisibilityTimeout: 180 # 6x the notify function timeout (30 s)\n"
                "      MessageRetentionPeriod: 345600\n"
                "      RedrivePolicy:\n"
                "        deadLetterTargetArn: !GetAtt NotifyDlq.Arn\n"
                "        maxReceiveCount: 5\n",
                "      VisibilityTimeout: 180 # 6x the notify function timeout (30 s)\n"
                "      MessageRetentionPeriod: 345600\n",
            )
        ],
        fails=frozenset({"checks"}),
    ),
    Mutant(
        name="pitr-off",
        why="point-in-time recovery switched off on the table",
        edits=[(
            "        Enabled: true\n      PointInTimeRecoverySpecification:\n        PointInTimeRecoveryEnabled: true",
            "        Enabled: true\n      PointInTimeRecoverySpecification:\n        PointInTimeRecoveryEnabled: false",
        )],
        fails=frozenset({"checkov", "checks"}),
        checkov_ids=frozenset({"CKV_AWS_28"}),
    ),
    Mutant(
        name="table-aws-owned-key",
        why="the table encrypted with the AWS-owned key instead of the customer-managed key",
        edits=[
            (
                # The TTL's `Enabled: true` just before: the main table's block, not the log's.
                "        Enabled: true\n"
                "      PointInTimeRecoverySpecification:\n"
                "        PointInTimeRecoveryEnabled: true\n"
                "      SSESpecification:\n"
                "        SSEEnabled: true\n"
                "        SSEType: KMS\n"
                "        KMSMasterKeyId: !GetAtt TableKey.Arn\n",
                "        Enabled: true\n"
                "      PointInTimeRecoverySpecification:\n"
                "        PointInTimeRecoveryEnabled: true\n",
            )
        ],
        fails=frozenset({"checkov", "checks"}),
        checkov_ids=frozenset({"CKV_AWS_119"}),
    ),
    Mutant(
        name="rotation-off",
        why="key rotation switched off on the issuer key",
        edits=[
            (
                "      Description: karcis ticket issuer key (wraps each event's issuer and QR keys; context purpose=ticket-issuer)\n"
                "      EnableKeyRotation: true\n",
                "      Description: karcis ticket issuer key (wraps each event's issuer and QR keys; context purpose=ticket-issuer)\n"
                "      EnableKeyRotation: false\n",
            )
        ],
        fails=frozenset({"checkov", "checks"}),
        checkov_ids=frozenset({"CKV_AWS_7"}),
    ),
    Mutant(
        name="wildcard-action",
        why="dynamodb:* in the checkout role",
        edits=[
            (
                "              - Sid: OrdersInventoryIdempotency\n"
                "                Effect: Allow\n"
                "                Action: [dynamodb:GetItem, dynamodb:Query, dynamodb:PutItem, dynamodb:UpdateItem, dynamodb:ConditionCheckItem]\n",
                "              - Sid: OrdersInventoryIdempotency\n"
                "                Effect: Allow\n"
                "                Action: [dynamodb:*]\n",
            )
        ],
        fails=frozenset({"checks"}),
    ),
    Mutant(
        name="star-resource",
        why="the sweeper's table permissions widened to Resource '*'",
        edits=[
            (
                "                Resource: !GetAtt Table.Arn\n"
                "                Condition:\n"
                "                  ForAllValues:StringLike:\n"
                "                    dynamodb:LeadingKeys: [\"ORDER#*\", \"EVENT#*\", \"CUSTOMER#*\"]\n",
                "                Resource: \"*\"\n",
            )
        ],
        fails=frozenset({"checks", "checkov"}),
        checkov_ids=frozenset({"CKV_AWS_111"}),
    ),
    Mutant(
        name="x86-64",
        why="functions built for x86_64 instead of arm64",
        edits=[("    Architectures: [arm64]\n", "    Architectures: [x86_64]\n")],
        fails=frozenset({"checks"}),
    ),
    Mutant(
        name="no-log-retention",
        why="a log group that keeps logs forever",
        edits=[
            (
                "      LogGroupName: !Sub \"/aws/lambda/${AWS::StackName}-privacy\"\n"
                "      RetentionInDays: !Ref LogRetentionDays\n",
                "      LogGroupName: !Sub \"/aws/lambda/${AWS::StackName}-privacy\"\n",
            )
        ],
        fails=frozenset({"checkov", "checks"}),
        checkov_ids=frozenset({"CKV_AWS_66"}),
    ),
    Mutant(
        name="unencrypted-queue",
        why="the mint queue without KMS encryption",
        edits=[
            (
                "  MintQueue:\n"
                "    Type: AWS::SQS::Queue\n"
                "    Properties:\n"
                "      KmsMasterKeyId: !Ref QueueKey\n"
                "      KmsDataKeyReusePeriodSeconds: 300\n",
                "  MintQueue:\n"
                "    Type: AWS::SQS::Queue\n"
                "    Properties:\n",
            )
        ],
        fails=frozenset({"checkov", "checks"}),
        checkov_ids=frozenset({"CKV_AWS_27"}),
    ),
    Mutant(
        name="pii-key-without-context",
        why="the notify role may decrypt with the PII key without the customer-pii encryption context",
        edits=[
            (
                "          - Sid: NotifyReadsContactDetails\n"
                "            Effect: Allow\n"
                "            Principal: { AWS: !GetAtt NotifyRole.Arn }\n"
                "            Action: kms:Decrypt\n"
                "            Resource: \"*\" # in a key policy \"*\" means this key\n"
                "            Condition:\n"
                "              StringEquals: { \"kms:EncryptionContext:purpose\": customer-pii }\n"
                "              \"Null\": { \"kms:EncryptionContext:customer_id\": \"false\" }\n"
                "              ForAllValues:StringEquals: { \"kms:EncryptionContextKeys\": [purpose, customer_id] }\n",
                "          - Sid: NotifyReadsContactDetails\n"
                "            Effect: Allow\n"
                "            Principal: { AWS: !GetAtt NotifyRole.Arn }\n"
                "            Action: kms:Decrypt\n"
                "            Resource: \"*\" # in a key policy \"*\" means this key\n",
            )
        ],
        fails=frozenset({"checks"}),
    ),
    Mutant(
        name="webhook-behind-authorizer",
        why="the webhook route loses `Authorizer: NONE`: gateways carry no JWT, so payments would never confirm",
        edits=[
            (
                "Path: \"/v1/webhooks/{provider}\", Auth: { Authorizer: NONE } }",
                "Path: \"/v1/webhooks/{provider}\" }",
            )
        ],
        fails=frozenset({"checks"}),
    ),    Mutant(
        name="staff-key-sign-unconstrained",
        why="the staff role may kms:Sign with any algorithm and message type (e.g. a DIGEST it chose)",
        edits=[
            (
                "            Action: kms:Sign\n"
                "            Resource: \"*\" # in a key policy \"*\" means this key\n"
                "            Condition:\n"
                "              StringEquals: { \"kms:SigningAlgorithm\": ECDSA_SHA_256, \"kms:MessageType\": RAW }\n",
                "            Action: kms:Sign\n"
                "            Resource: \"*\" # in a key policy \"*\" means this key\n",
            )
        ],
        fails=frozenset({"checks"}),
    ),
    Mutant(
        name="audit-ingest-may-sign",
        why="audit-ingest (reachable by the worker's bearer token) is also given kms:Sign on the staff key",
        edits=[
            (
                "            Principal: { AWS: !GetAtt StaffRole.Arn }\n            Action: kms:Sign\n",
                "            Principal: { AWS: [!GetAtt StaffRole.Arn, !GetAtt AuditIngestRole.Arn] }\n            Action: kms:Sign\n",
            )
        ],
        fails=frozenset({"checks"}),
    ),
    Mutant(
        name="staff-route-behind-authorizer",
        why="a staff route loses `Authorizer: NONE`: the RSA-only JWT authorizer would reject every ES256 token",
        edits=[
            (
                "Path: /v1/audit/batches, Auth: { Authorizer: NONE } }",
                "Path: /v1/audit/batches }",
            )
        ],
        fails=frozenset({"checks"}),
    ),
    Mutant(
        name="leading-keys-removed",
        why="the revoke role's table statement without its dynamodb:LeadingKeys condition (all partitions)",
        edits=[
            (
                "                Resource: !GetAtt Table.Arn\n"
                "                Condition:\n"
                "                  ForAllValues:StringLike:\n"
                "                    dynamodb:LeadingKeys: [\"ORDER#*\"]\n",
                "                Resource: !GetAtt Table.Arn\n",
            )
        ],
        fails=frozenset({"checks"}),
    ),
    Mutant(
        name="leading-keys-checkout-tickets",
        why="checkout given TICKET#* partitions, outside its allow-list",
        edits=[
            (
                "dynamodb:LeadingKeys: [\"ORDER#*\", \"IDEMPOTENCY#*\", \"EVENT#*\", \"CUSTOMER#*\", \"EMAIL#*\", \"RATE#*\", \"CONFIG\"]\n",
                "dynamodb:LeadingKeys: [\"ORDER#*\", \"IDEMPOTENCY#*\", \"EVENT#*\", \"CUSTOMER#*\", \"EMAIL#*\", \"RATE#*\", \"CONFIG\", \"TICKET#*\"]\n",
            )
        ],
        fails=frozenset({"checks"}),
    ),
    Mutant(
        name="leading-keys-tickets-customers",
        why="the tickets role given CUSTOMER#* (buyers' sealed personal data and keys)",
        edits=[
            (
                "                    dynamodb:LeadingKeys: [\"ORDER#*\", \"EVENT#*\"]\n"
                "              - Sid: TicketLookupOnGsi1\n",
                "                    dynamodb:LeadingKeys: [\"ORDER#*\", \"EVENT#*\", \"CUSTOMER#*\"]\n"
                "              - Sid: TicketLookupOnGsi1\n",
            )
        ],
        fails=frozenset({"checks"}),
    ),
    Mutant(
        name="scan-under-leading-keys",
        why="dynamodb:Scan added to the sweeper's bounded statement: it names no key, so the "
        "ForAllValues condition is vacuously true and the whole table is readable",
        edits=[
            (
                "              - Sid: ReleaseExpiredReservations\n"
                "                Effect: Allow\n"
                "                Action: [dynamodb:GetItem, dynamodb:Query, dynamodb:UpdateItem, dynamodb:DeleteItem, dynamodb:ConditionCheckItem]\n",
                "              - Sid: ReleaseExpiredReservations\n"
                "                Effect: Allow\n"
                "                Action: [dynamodb:GetItem, dynamodb:Query, dynamodb:UpdateItem, dynamodb:DeleteItem, dynamodb:ConditionCheckItem, dynamodb:Scan]\n",
            )
        ],
        fails=frozenset({"checks"}),
    ),
    Mutant(
        name="checkout-without-cancel-url",
        why="checkout loses CHECKOUT_CANCEL_URL: bin/checkout.rs refuses to start (the deploy "
        "contract test shows it on the binary)",
        edits=[
            (
                "          CHECKOUT_CANCEL_URL: !Sub \"${BuyerOrigin}${CheckoutCancelPath}\"\n",
                "",
            )
        ],
        # cfn-lint only by accident: CheckoutCancelPath becomes an unused parameter (W2001).
        fails=frozenset({"checks", "cfn-lint"}),
    ),
    Mutant(
        name="issuer-key-for-tickets",
        why="the public tickets role named in the issuer key's policy: a compromise of the buyer-facing "
        "function could sign any claims for any event",
        edits=[
            (
                "            Principal: { AWS: !GetAtt MintRole.Arn }\n            Action: kms:Decrypt\n",
                "            Principal: { AWS: [!GetAtt MintRole.Arn, !GetAtt TicketsRole.Arn] }\n            Action: kms:Decrypt\n",
            )
        ],
        fails=frozenset({"checks"}),
    ),
    Mutant(
        name="web-oac-removed",
        why="the buyers' site distribution reads its bucket without origin access control "
        "(unsigned requests: the bucket would have to be public to serve them)",
        edits=[
            (
                "            DomainName: !GetAtt SiteBucket.RegionalDomainName\n"
                "            OriginAccessControlId: !GetAtt WebOriginAccessControl.Id\n",
                "            DomainName: !GetAtt SiteBucket.RegionalDomainName\n",
            )
        ],
        fails=frozenset({"checks"}),
    ),
    Mutant(
        name="web-csp-removed",
        why="the buyers' site served without a Content-Security-Policy (an injected script could "
        "read buyers' access tokens and ticket keys)",
        edits=[
            (
                "          ContentSecurityPolicy:\n"
                "            Override: true\n"
                "            ContentSecurityPolicy: !Sub "
                + SITE_CSP
                + "\n",
                "",
            )
        ],
        fails=frozenset({"checks"}),
    ),
    Mutant(
        name="web-tls-lowered",
        why="the buyers' site accepts TLS 1.0 and 1.1",
        edits=[
            (
                "MinimumProtocolVersion: TLSv1.2_2021 # buyers: TLS 1.2 and 1.3",
                "MinimumProtocolVersion: TLSv1_2016",
            )
        ],
        fails=frozenset({"checks", "checkov"}),
        checkov_ids=frozenset({"CKV_AWS_174"}),
    ),
    Mutant(
        name="logging-sender-deployed",
        why="the notify function told to use the logging sender (no notification would ever leave)",
        edits=[
            (
                "          CONFIG_KEY_ID: !GetAtt ConfigKey.Arn\n          SES_FROM_ADDRESS: !Ref SesFromAddress\n",
                "          CONFIG_KEY_ID: !GetAtt ConfigKey.Arn\n          KARCIS_LOGGING_SENDER: \"1\"\n"
                "          SES_FROM_ADDRESS: !Ref SesFromAddress\n",
            )
        ],
        fails=frozenset({"checks"}),
    ),
    Mutant(
        name="checkout-without-bot-check",
        why="checkout deployed without the Turnstile secret (the bot check would be off)",
        edits=[
            (
                "          CHECKOUT_CANCEL_URL: !Sub \"${BuyerOrigin}${CheckoutCancelPath}\"\n"
                "          TURNSTILE_SECRET: !Ref TurnstileSecretCiphertext\n",
                "          CHECKOUT_CANCEL_URL: !Sub \"${BuyerOrigin}${CheckoutCancelPath}\"\n",
            )
        ],
        fails=frozenset({"checks"}),
    ),
    Mutant(
        name="sms-publish-reaches-topics",
        why="notify's sns:Publish on '*' without the Deny on topics (it could publish to any topic)",
        edits=[
            (
                "              - Sid: NoTopicPublishing\n"
                "                Effect: Deny\n"
                "                Action: sns:Publish\n"
                "                Resource: !Sub \"arn:${AWS::Partition}:sns:*:*:*\"\n"
                "              - Sid: ConsumeNotifyQueue\n",
                "              - Sid: ConsumeNotifyQueue\n",
            )
        ],
        fails=frozenset({"checks"}),
    ),
]
