//! The console service: each action authenticates the caller's console token, authorises it
//! by role and event scope, and writes it to the staff audit trail. A refusal of an
//! authenticated member is recorded too; bad input is refused before anything is written.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::audit::record;
use super::reconcile::{reconciliation_csv, PROVIDERS};
use super::reports::{refunds_report, sales_report, RefundsReport, SalesReport};
use super::store::ConsoleStore;
use crate::admin::{create_event, CreatedEvent, EventSpec};
use crate::audit_ingest::{self, AuditLog, AuditPage, ChainCheck, Stream};
use crate::deps::Deps;
use crate::error::{Error, Result};
use crate::model::{valid_id, Event, OrderStatus};
use crate::ports::{RevokeMessage, Topic};
use crate::staff_identity::{Caller, Console, Role};

/// A whole door chain is re-verified up to this many entries per request.
pub const MAX_VERIFIED_ENTRIES: u64 = 200_000;

/// `GET /v1/console/session`: who the console is talking to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub staff_id: String,
    pub role: Role,
    pub events: Vec<String>,
}

/// `PUT /v1/console/events/{event_id}/on-sale` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnSaleRequest {
    pub on_sale: bool,
}

/// An action's answer with the seq of its audit record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Done<T> {
    #[serde(flatten)]
    pub value: T,
    pub audit_seq: u64,
}

/// `POST .../orders/{order_id}/revocation` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationSent {
    pub order_id: String,
    pub event_id: String,
    pub reason: String,
}

/// `PUT .../on-sale` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnSale {
    pub event_id: String,
    pub on_sale: bool,
}

/// `GET .../scan-audit`: a page of the door chain, its links checked, and the whole chain
/// re-verified from its first entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanAudit {
    pub page: AuditPage,
    pub chain: ChainCheck,
}

/// The console back end.
#[derive(Clone)]
pub struct ConsoleService {
    pub console: Arc<Console>,
    /// The staff log (where console actions are recorded) and the door chains.
    pub log: Arc<dyn AuditLog>,
    pub store: Arc<dyn ConsoleStore>,
    /// Events, the revoke queue, the issuer key (event creation), the clock.
    pub deps: Deps,
}

impl std::fmt::Debug for ConsoleService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleService").finish_non_exhaustive()
    }
}

fn event_id_ok(event_id: &str) -> Result<()> {
    if valid_id(event_id) {
        Ok(())
    } else {
        Err(Error::invalid(
            "event_id",
            "1-64 characters of [A-Za-z0-9._-]",
        ))
    }
}

impl ConsoleService {
    fn now(&self) -> u64 {
        self.deps.clock.now()
    }

    async fn caller(&self, token: &str) -> Result<Caller> {
        self.console.authenticate(token, self.now()).await
    }

    /// `check`'s verdict; a refusal is recorded (route and event, no reason text from input).
    async fn allowed(
        &self,
        caller: &Caller,
        route: &str,
        event: &str,
        check: Result<()>,
    ) -> Result<()> {
        if let Err(e) = check {
            record(
                self.log.as_ref(),
                self.now(),
                "refused",
                &caller.staff_id,
                event,
                &[("role", caller.role.as_str()), ("route", route)],
            )
            .await?;
            return Err(e);
        }
        Ok(())
    }

    async fn reports_caller(&self, token: &str, route: &str, event_id: &str) -> Result<Caller> {
        let caller = self.caller(token).await?;
        event_id_ok(event_id)?;
        self.allowed(
            &caller,
            route,
            event_id,
            caller.require_reports_for(event_id),
        )
        .await?;
        Ok(caller)
    }

    async fn admin_caller(&self, token: &str, route: &str, event_id: &str) -> Result<Caller> {
        let caller = self.caller(token).await?;
        event_id_ok(event_id)?;
        let check = caller.require_admin_for(&[event_id.to_owned()]);
        self.allowed(&caller, route, event_id, check).await?;
        Ok(caller)
    }

    async fn event(&self, event_id: &str) -> Result<Event> {
        self.deps
            .events
            .get_event(event_id)
            .await?
            .ok_or(Error::NotFound)
    }

    async fn read(&self, caller: &Caller, event_id: &str, report: &str) -> Result<u64> {
        record(
            self.log.as_ref(),
            self.now(),
            "report_read",
            &caller.staff_id,
            event_id,
            &[("report", report), ("role", caller.role.as_str())],
        )
        .await
    }

    /// Who the token belongs to (any console role).
    pub async fn session(&self, token: &str) -> Result<Done<Session>> {
        let caller = self.caller(token).await?;
        let seq = record(
            self.log.as_ref(),
            self.now(),
            "session",
            &caller.staff_id,
            "*",
            &[("role", caller.role.as_str())],
        )
        .await?;
        Ok(Done {
            value: Session {
                staff_id: caller.staff_id,
                role: caller.role,
                events: caller.events,
            },
            audit_seq: seq,
        })
    }

    /// The event with its tiers and stock (admins and finance of the event).
    pub async fn get_event(&self, token: &str, event_id: &str) -> Result<Done<Event>> {
        let caller = self.reports_caller(token, "event", event_id).await?;
        let event = self.event(event_id).await?;
        let seq = self.read(&caller, event_id, "event").await?;
        Ok(Done {
            value: event,
            audit_seq: seq,
        })
    }

    pub async fn sales(&self, token: &str, event_id: &str) -> Result<Done<SalesReport>> {
        let caller = self.reports_caller(token, "sales", event_id).await?;
        let event = self.event(event_id).await?;
        let lines = self.store.event_lines(event_id).await?;
        let seq = self.read(&caller, event_id, "sales").await?;
        Ok(Done {
            value: sales_report(&event, &lines),
            audit_seq: seq,
        })
    }

    pub async fn refunds(&self, token: &str, event_id: &str) -> Result<Done<RefundsReport>> {
        let caller = self.reports_caller(token, "refunds", event_id).await?;
        self.event(event_id).await?;
        let lines = self.store.event_lines(event_id).await?;
        let seq = self.read(&caller, event_id, "refunds").await?;
        Ok(Done {
            value: refunds_report(event_id, &lines),
            audit_seq: seq,
        })
    }

    /// The reconciliation CSV of `provider`'s payments for the event.
    pub async fn reconciliation(
        &self,
        token: &str,
        event_id: &str,
        provider: &str,
    ) -> Result<String> {
        let caller = self
            .reports_caller(token, "reconciliation", event_id)
            .await?;
        if !PROVIDERS.contains(&provider) {
            return Err(Error::invalid(
                "provider",
                "stripe, midtrans, xendit, doku or stub",
            ));
        }
        let event = self.event(event_id).await?;
        let lines = self.store.event_lines(event_id).await?;
        self.read(&caller, event_id, &format!("reconciliation:{provider}"))
            .await?;
        Ok(reconciliation_csv(provider, &event.time_zone, &lines))
    }

    /// Creates an event with its tiers and key set (admins of that event id, i.e. of `*`).
    pub async fn create_event(&self, token: &str, spec: &EventSpec) -> Result<Done<CreatedEvent>> {
        let caller = self
            .admin_caller(token, "create_event", &spec.event_id)
            .await?;
        let tiers = spec.tiers.len().to_string();
        let created = create_event(&self.deps, spec).await?;
        let seq = record(
            self.log.as_ref(),
            self.now(),
            "event_created",
            &caller.staff_id,
            &created.event_id,
            &[("kid", &created.kid.to_string()), ("tiers", &tiers)],
        )
        .await?;
        Ok(Done {
            value: created,
            audit_seq: seq,
        })
    }

    /// The on-sale switch.
    pub async fn set_on_sale(
        &self,
        token: &str,
        event_id: &str,
        req: &OnSaleRequest,
    ) -> Result<Done<OnSale>> {
        let caller = self.admin_caller(token, "on_sale", event_id).await?;
        if !self.store.set_on_sale(event_id, req.on_sale).await? {
            return Err(Error::NotFound);
        }
        let seq = record(
            self.log.as_ref(),
            self.now(),
            "on_sale_changed",
            &caller.staff_id,
            event_id,
            &[("on_sale", if req.on_sale { "true" } else { "false" })],
        )
        .await?;
        Ok(Done {
            value: OnSale {
                event_id: event_id.to_owned(),
                on_sale: req.on_sale,
            },
            audit_seq: seq,
        })
    }

    /// Sends a refunded or disputed order's tickets to the door's revocation list again (the
    /// revoke function takes the reason from the stored order, never from this request).
    pub async fn send_revocation(
        &self,
        token: &str,
        event_id: &str,
        order_id: &str,
    ) -> Result<Done<RevocationSent>> {
        let caller = self.admin_caller(token, "revocation", event_id).await?;
        if !valid_id(order_id) {
            return Err(Error::invalid("order_id", "an order id"));
        }
        let line = self
            .store
            .order_line(order_id)
            .await?
            .filter(|l| l.event_id == event_id)
            .ok_or(Error::NotFound)?;
        let reason = match line.status {
            OrderStatus::Refunded => "refunded",
            OrderStatus::Disputed => "disputed",
            other => {
                return Err(Error::Conflict(format!(
                    "order is {} and its tickets are not to be revoked",
                    other.as_str()
                )))
            }
        };
        let message = RevokeMessage {
            order_id: order_id.to_owned(),
            event_id: event_id.to_owned(),
            reason: reason.to_owned(),
        };
        self.deps
            .queue
            .send(
                Topic::Revoke,
                &serde_json::to_string(&message).map_err(Error::internal)?,
            )
            .await?;
        let seq = record(
            self.log.as_ref(),
            self.now(),
            "revocation_sent",
            &caller.staff_id,
            event_id,
            &[("order_id", order_id), ("reason", reason)],
        )
        .await?;
        Ok(Done {
            value: RevocationSent {
                order_id: message.order_id,
                event_id: message.event_id,
                reason: message.reason,
            },
            audit_seq: seq,
        })
    }

    /// A page of the event's door scan chain with the whole chain verified (admins only:
    /// finance reads payments, not the door).
    pub async fn scan_audit(
        &self,
        token: &str,
        event_id: &str,
        after: u64,
        limit: u32,
    ) -> Result<Done<ScanAudit>> {
        let caller = self.admin_caller(token, "scan_audit", event_id).await?;
        let stream = Stream::Door(event_id.to_owned());
        let page = audit_ingest::page(self.log.as_ref(), &stream, after, limit).await?;
        let chain =
            audit_ingest::verify_stream(self.log.as_ref(), &stream, MAX_VERIFIED_ENTRIES).await?;
        let seq = record(
            self.log.as_ref(),
            self.now(),
            "audit_read",
            &caller.staff_id,
            event_id,
            &[
                ("after", &after.to_string()),
                ("valid", if chain.valid { "true" } else { "false" }),
            ],
        )
        .await?;
        Ok(Done {
            value: ScanAudit { page, chain },
            audit_seq: seq,
        })
    }
}
