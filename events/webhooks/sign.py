#!/usr/bin/env python3
"""Writes the signed gateway webhook fixtures of this folder (API Gateway HTTP API v2 events).

An implementation of each provider's documented signing scheme independent of the Rust one in
functions/src/gateway/ (the Rust tests verify these files, so the two must agree):

- Stripe:   Stripe-Signature: t=<ts>,v1=hex(HMAC-SHA256(endpoint secret, "<ts>." + body))
- Midtrans: body.signature_key = hex(SHA-512(order_id + status_code + gross_amount + server key))
- Xendit:   x-callback-token: <callback verification token>
- DOKU:     Signature: HMACSHA256=base64(HMAC-SHA256(secret key, "Client-Id:..\\nRequest-Id:..\\n
            Request-Timestamp:..\\nRequest-Target:<path>\\nDigest:" + base64(SHA-256(body))))

Test secrets only (the same as functions::gateway::testing::TEST_SECRETS_JSON).

    python3 events/webhooks/sign.py            # fixed timestamp (what the tests use)
    python3 events/webhooks/sign.py --now      # sign at the current time (Stripe, DOKU reject
                                               # signatures older than 300 s), for invoking by hand
"""

import base64
import datetime
import hashlib
import hmac
import json
import os
import sys
import time

SECRETS = {
    "stripe": {"webhook_secrets": ["whsec_karcis_test_endpoint_secret"], "api_key": "sk_test_karcis_stub"},
    "midtrans": {"server_key": "SB-Mid-server-karcis-test"},
    "xendit": {"callback_token": "xnd_callback_token_karcis_test", "api_key": "xnd_development_karcis_stub"},
    "doku": {"client_id": "BRN-0001-karcis-test", "secret_key": "SK-karcis-doku-test-secret"},
}

FIXED_NOW = 1795597200  # 2026-11-25T09:00:00Z
ORDER_ID = "ord_0123456789abcdef0123456789abcdef"
AMOUNT_IDR = 150000


def stripe(now):
    body = json.dumps({
        "id": "evt_1KarcisFixture0001", "object": "event", "api_version": "2024-06-20",
        "created": now, "type": "checkout.session.completed", "livemode": False,
        "pending_webhooks": 1,
        "data": {"object": {
            "id": "cs_test_karcisFixture0001", "object": "checkout.session", "mode": "payment",
            # Stripe counts IDR in hundredths: 150000 IDR.
            "amount_total": AMOUNT_IDR * 100, "currency": "idr",
            "client_reference_id": ORDER_ID, "metadata": {"order_id": ORDER_ID},
            "payment_intent": "pi_test_karcisFixture0001", "payment_status": "paid",
            "status": "complete", "livemode": False,
        }},
    }, indent=2)
    secret = SECRETS["stripe"]["webhook_secrets"][0]
    mac = hmac.new(secret.encode(), f"{now}.".encode() + body.encode(), hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={now},v1={mac}"}, body


def midtrans(now):
    order_id, status_code, gross_amount = ORDER_ID, "200", f"{AMOUNT_IDR}.00"
    key = SECRETS["midtrans"]["server_key"]
    signature = hashlib.sha512((order_id + status_code + gross_amount + key).encode()).hexdigest()
    body = json.dumps({
        "transaction_time": "2026-11-25 16:00:00", "transaction_status": "settlement",
        "transaction_id": "9aed5972-5b6a-401e-894b-a32c91ed1a3a",
        "status_message": "midtrans payment notification", "status_code": status_code,
        "signature_key": signature, "settlement_time": "2026-11-25 16:00:05",
        "payment_type": "bank_transfer", "order_id": order_id, "merchant_id": "G000000000",
        "gross_amount": gross_amount, "fraud_status": "accept", "currency": "IDR",
        "va_numbers": [{"bank": "bca", "va_number": "12345678901"}],
    }, indent=2)
    return {}, body


def xendit(now):
    body = json.dumps({
        "id": "65f0c0ffee0000000000fix1", "external_id": ORDER_ID,
        "user_id": "5781d19b2e2385880609791c", "is_high": False, "status": "PAID",
        "merchant_name": "karcis test", "amount": AMOUNT_IDR, "paid_amount": AMOUNT_IDR,
        "currency": "IDR", "payment_method": "BANK_TRANSFER", "bank_code": "BCA",
        "paid_at": "2026-11-25T09:00:00.000Z", "created": "2026-11-25T08:50:00.000Z",
        "updated": "2026-11-25T09:00:00.000Z", "description": "karcis tickets",
    }, indent=2)
    return {"x-callback-token": SECRETS["xendit"]["callback_token"]}, body


def doku(now):
    body = json.dumps({
        "service": {"id": "VIRTUAL_ACCOUNT"}, "acquirer": {"id": "BCA"},
        "channel": {"id": "VIRTUAL_ACCOUNT_BCA"},
        "order": {"invoice_number": ORDER_ID, "amount": AMOUNT_IDR, "currency": "IDR"},
        "virtual_account_info": {"virtual_account_number": "1900600000000046"},
        "transaction": {"status": "SUCCESS", "date": "2026-11-25T09:00:00Z",
                        "original_request_id": "karcis-" + ORDER_ID},
    }, indent=2)
    client_id, secret = SECRETS["doku"]["client_id"], SECRETS["doku"]["secret_key"]
    request_id = "6b1c3e4a-0f2d-4c5e-9a7b-8d9e0f1a2b3c"
    timestamp = datetime.datetime.fromtimestamp(now, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
    component = (f"Client-Id:{client_id}\nRequest-Id:{request_id}\nRequest-Timestamp:{timestamp}\n"
                 f"Request-Target:/v1/webhooks/doku\nDigest:{digest}")
    sig = base64.b64encode(hmac.new(secret.encode(), component.encode(), hashlib.sha256).digest()).decode()
    return {"Client-Id": client_id, "Request-Id": request_id, "Request-Timestamp": timestamp,
            "Signature": "HMACSHA256=" + sig}, body


def api_gateway_event(provider, headers, body, now):
    """An API Gateway HTTP API (payload format 2.0) request event."""
    path = f"/v1/webhooks/{provider}"
    all_headers = {"content-type": "application/json", "content-length": str(len(body.encode())),
                   "host": "api.karcis.example", "user-agent": f"{provider}-webhooks"}
    all_headers.update({k.lower(): v for k, v in headers.items()})
    return {
        "version": "2.0", "routeKey": "POST /v1/webhooks/{provider}", "rawPath": path,
        "rawQueryString": "", "headers": all_headers,
        "requestContext": {
            "accountId": "123456789012", "apiId": "karcisapi", "domainName": "api.karcis.example",
            "domainPrefix": "api", "requestId": f"fixture-{provider}",
            "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "192.0.2.10", "userAgent": f"{provider}-webhooks"},
            "routeKey": "POST /v1/webhooks/{provider}", "stage": "$default",
            "time": "25/Nov/2026:09:00:00 +0000", "timeEpoch": now * 1000,
        },
        "pathParameters": {"provider": provider}, "body": body, "isBase64Encoded": False,
    }


def main():
    now = int(time.time()) if "--now" in sys.argv[1:] else FIXED_NOW
    here = os.path.dirname(os.path.abspath(__file__))
    for provider, sign in [("stripe", stripe), ("midtrans", midtrans), ("xendit", xendit), ("doku", doku)]:
        headers, body = sign(now)
        with open(os.path.join(here, f"{provider}.json"), "w", encoding="utf-8") as f:
            json.dump(api_gateway_event(provider, headers, body, now), f, indent=2)
            f.write("\n")
    print(f"signed 4 fixtures at t={now}")


if __name__ == "__main__":
    main()
