//! The checks themselves, over the ports: [`screen_checkout`] before an order is reserved
//! (a call in checkout's flow, outside the reservation transaction), [`at_payment`] when a
//! payment notification is applied.

use std::net::IpAddr;

use super::blacklist::{self, Entry, Kind};
use super::disposable::is_disposable;
use super::ports::{Decision, OrderClient, Stage};
use super::risk::{self, Assessment, Outcome, Reason, Signals};
use crate::deps::Deps;
use crate::error::{Error, Result};

/// What karcis knows of the client of a checkout.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientContext {
    /// The source address API Gateway saw.
    pub address: Option<IpAddr>,
    /// The site's device identifier (`X-Karcis-Device`).
    pub device: Option<String>,
    /// The CDN's country header.
    pub country: Option<String>,
}

/// The buyer facts a checkout screen needs (normalised).
#[derive(Debug, Clone, Copy)]
pub struct Buyer<'a> {
    pub email: &'a str,
    pub phone: Option<&'a str>,
    pub event_id: &'a str,
}

/// A screened checkout that may go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Screened {
    /// The rules ask for the buyer's one-time code.
    pub step_up: bool,
    /// To remember with the order (the payment notification counts against it).
    pub client: OrderClient,
    /// The stored decision when one was flagged (step-up), to link to the order.
    pub decision: Option<Decision>,
}

fn decision_id(deps: &Deps) -> String {
    crate::model::new_id("rsk", deps.rng.as_ref())
}

fn blacklist_reason(kind: Kind) -> Reason {
    Reason {
        code: format!("blacklist_{}", kind.as_str()),
        points: risk::points::BLACKLISTED,
        observed: 0,
        limit: 0,
    }
}

/// The live entries among the blind indexes of `candidates`.
async fn listed(deps: &Deps, candidates: &[(Kind, String)], now: u64) -> Result<Vec<Entry>> {
    let mut ids = Vec::with_capacity(candidates.len());
    for (_, text) in candidates {
        ids.push(deps.pii.mac(blacklist::MAC_PURPOSE, text).await?);
    }
    Ok(deps
        .fraud
        .find_entries(&ids)
        .await?
        .into_iter()
        .filter(|e| e.is_live(now))
        .collect())
}

/// The refusal a buyer sees: which rule is not disclosed (it would teach a bot farm).
pub fn refusal(outcome: Outcome) -> Error {
    Error::Refused(if outcome == Outcome::Hold {
        "this order is held for review by the organiser".into()
    } else {
        "this order cannot be accepted".into()
    })
}

/// Blacklists, then risk rules, for one checkout. `Err(Refused)` for a blocked or held one
/// (its decision stored, nothing else written but the counters).
pub async fn screen_checkout(
    deps: &Deps,
    buyer: Buyer<'_>,
    email_index: &str,
    ctx: &ClientContext,
    now: u64,
) -> Result<Screened> {
    let candidates = blacklist::checkout_candidates(
        buyer.email,
        buyer.phone,
        ctx.address,
        ctx.device.as_deref(),
    );
    let hits = listed(deps, &candidates, now).await?;
    let store = |assessment: Assessment| {
        let d = Decision {
            decision_id: decision_id(deps),
            order_id: None,
            event_id: buyer.event_id.to_owned(),
            stage: Stage::Checkout,
            at: now,
            score: assessment.score,
            outcome: assessment.outcome,
            reasons: assessment.reasons,
        };
        async move {
            deps.fraud.put_decision(&d).await?;
            Ok::<_, Error>(d)
        }
    };
    if !hits.is_empty() {
        let mut kinds: Vec<Kind> = hits.iter().map(|e| e.kind).collect();
        kinds.dedup();
        let reasons: Vec<Reason> = kinds.into_iter().map(blacklist_reason).collect();
        let d = store(Assessment {
            score: reasons.iter().map(|r| r.points).sum(),
            outcome: Outcome::Block,
            reasons,
        })
        .await?;
        tracing::info!(decision_id = %d.decision_id, "checkout refused: blacklisted");
        return Err(refusal(Outcome::Block));
    }

    let (signals, client) = count(deps, buyer, email_index, ctx, now).await?;
    let assessment = risk::assess(&signals, &deps.config.risk);
    match assessment.outcome {
        Outcome::Allow => Ok(Screened {
            step_up: false,
            client,
            decision: None,
        }),
        Outcome::StepUp => {
            let d = store(assessment).await?;
            Ok(Screened {
                step_up: true,
                client,
                decision: Some(d),
            })
        }
        outcome @ (Outcome::Hold | Outcome::Block) => {
            let d = store(assessment).await?;
            tracing::info!(decision_id = %d.decision_id, outcome = outcome.as_str(), "checkout refused by risk rules");
            Err(refusal(outcome))
        }
    }
}

/// Updates the windowed counters of this checkout (each keyed by a blind index) and reads
/// the others: the signals, and the client's indexes to keep with the order.
async fn count(
    deps: &Deps,
    buyer: Buyer<'_>,
    email_index: &str,
    ctx: &ClientContext,
    now: u64,
) -> Result<(Signals, OrderClient)> {
    let window = deps.config.risk.window_secs;
    let mac = |kind: &'static str, value: String| async move {
        deps.pii.mac("risk", &format!("{kind}:{value}")).await
    };
    let ip = match ctx.address {
        Some(a) => Some(mac("ip", a.to_string()).await?),
        None => None,
    };
    let device = match &ctx.device {
        Some(d) => Some(mac("device", d.clone()).await?),
        None => None,
    };
    let phone = match buyer.phone {
        Some(p) => Some(mac("phone", p.to_owned()).await?),
        None => None,
    };
    let store = &deps.fraud;
    let mut signals = Signals {
        country: ctx.country.clone(),
        disposable_email: is_disposable(buyer.email),
        failed_per_email: store
            .peek(&format!("failed#{email_index}"), window, now)
            .await?,
        cards_per_email: store
            .distinct(&format!("cards#{email_index}"), window, now)
            .await?,
        ..Signals::default()
    };
    if let Some(ip) = &ip {
        signals.orders_per_ip = Some(store.bump(&format!("orders#{ip}"), window, now).await?);
        signals.failed_per_ip = Some(store.peek(&format!("failed#{ip}"), window, now).await?);
    }
    if let Some(device) = &device {
        signals.orders_per_device =
            Some(store.bump(&format!("orders#{device}"), window, now).await?);
        signals.failed_per_device =
            Some(store.peek(&format!("failed#{device}"), window, now).await?);
        signals.emails_per_device = Some(
            store
                .add_distinct(&format!("emails#{device}"), email_index, window, now)
                .await?,
        );
    }
    if let Some(phone) = &phone {
        signals.orders_per_phone = Some(store.bump(&format!("orders#{phone}"), window, now).await?);
    }
    let client = OrderClient {
        email: email_index.to_owned(),
        device,
        ip,
    };
    Ok((signals, client))
}

/// After an order is reserved: remember its client and link a step-up decision to it.
pub async fn after_reserve(
    deps: &Deps,
    order_id: &str,
    screened: &Screened,
    now: u64,
) -> Result<()> {
    let keep = now + deps.config.reservation_ttl_secs + 7 * 86_400;
    deps.fraud
        .put_order_client(order_id, &screened.client, keep)
        .await?;
    if let Some(d) = &screened.decision {
        let mut d = d.clone();
        d.order_id = Some(order_id.to_owned());
        deps.fraud.put_decision(&d).await?;
    }
    Ok(())
}

/// What a payment notification revealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentSignal<'a> {
    /// A failed payment of the order (counted once per notification by the caller's claim).
    Failed,
    /// A paid payment with the provider's card reference, when the provider gives one.
    Paid {
        provider: &'a str,
        card: Option<&'a str>,
    },
}

/// Counts a failure or checks a card. `Ok(true)`: the order is (now) on hold, do not mint.
/// Idempotent for `Paid` (set adds, a hold and a decision keyed by the order).
pub async fn at_payment(
    deps: &Deps,
    order_id: &str,
    event_id: &str,
    signal: PaymentSignal<'_>,
    now: u64,
) -> Result<bool> {
    let w = deps.config.risk.window_secs;
    let client = deps.fraud.order_client(order_id).await?;
    match signal {
        PaymentSignal::Failed => {
            if let Some(c) = client {
                for index in [Some(c.email), c.device, c.ip].into_iter().flatten() {
                    deps.fraud.bump(&format!("failed#{index}"), w, now).await?;
                }
            }
            Ok(false)
        }
        PaymentSignal::Paid { provider, card } => {
            let Some(card) = card else {
                return deps.fraud.is_held(order_id).await;
            };
            let text = blacklist::card(provider, card)?;
            let id = deps.pii.mac(blacklist::MAC_PURPOSE, &text).await?;
            if let Some(c) = &client {
                deps.fraud
                    .add_distinct(&format!("cards#{}", c.email), &id, w, now)
                    .await?;
            }
            let listed = deps
                .fraud
                .find_entries(std::slice::from_ref(&id))
                .await?
                .into_iter()
                .any(|e| e.is_live(now));
            if listed {
                let decision_id = format!("rsk_pay_{order_id}");
                deps.fraud
                    .put_decision(&Decision {
                        decision_id: decision_id.clone(),
                        order_id: Some(order_id.to_owned()),
                        event_id: event_id.to_owned(),
                        stage: Stage::Payment,
                        at: now,
                        score: risk::points::BLACKLISTED,
                        outcome: Outcome::Hold,
                        reasons: vec![blacklist_reason(Kind::Card)],
                    })
                    .await?;
                deps.fraud.hold(order_id, &decision_id).await?;
                tracing::warn!(
                    order_id,
                    "paid with a blacklisted card: order held, not minted"
                );
                return Ok(true);
            }
            deps.fraud.is_held(order_id).await
        }
    }
}
