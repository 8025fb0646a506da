//! A paid and minted order made as a buyer makes it: checkout, a Stripe payment recorded at
//! `paid_at`, the mint function. Shared by the revoke, reissue and incident-response tests.
#![allow(dead_code)]

use std::sync::Arc;

use functions::checkout::{Checkout, CheckoutRequest, CheckoutResponse};
use functions::deps::Deps;
use functions::mint::Minter;
use functions::model::PaymentRecord;
use functions::ports::MintMessage;
use functions::testing::{sample_checkout_body, RecordingPayments};

/// Order `n` of `quantity` tickets of `event` (idempotency key `{key_prefix}-{n}`), paid and
/// minted; checkout's answer (the order and its access token).
pub async fn paid_and_minted(
    deps: &Deps,
    event: &str,
    key_prefix: &str,
    n: u32,
    quantity: u32,
    paid_at: u64,
) -> CheckoutResponse {
    let checkout = Checkout::new(deps.clone(), Arc::new(RecordingPayments::default()));
    let req: CheckoutRequest =
        serde_json::from_value(sample_checkout_body(event, quantity, n)).unwrap();
    let created = checkout
        .create_order(&format!("{key_prefix}-{n}"), &req)
        .await
        .unwrap()
        .response;
    let o = &created.order;
    let paid = PaymentRecord {
        provider: "stripe".into(),
        provider_ref: format!("cs_{n}"),
        amount_minor: o.total.amount_minor,
        currency: o.total.currency.clone(),
        paid_at,
        payment_id: Some(format!("pi_{n}")),
    };
    deps.orders.mark_paid(&o.order_id, &paid).await.unwrap();
    Minter::new(deps.clone())
        .mint_order(&MintMessage {
            order_id: o.order_id.clone(),
            event_id: event.into(),
        })
        .await
        .unwrap();
    created
}
