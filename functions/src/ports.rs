//! Ports: the small traits the domain logic is written against.
//!
//! Adapters: DynamoDB ([`crate::store::DynamoStore`] implements [`Events`], [`Orders`],
//! [`Customers`], [`Tickets`], [`Dedup`]), KMS ([`crate::aws::KmsKeys`] implements [`Keys`]), SQS
//! ([`crate::aws::SqsQueue`] implements [`Queue`]). AWS types never cross these traits.
//! Every method is safe to call again with the same arguments (handlers are retried).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::Result;
use crate::model::{Event, Order, PaymentRecord, PaymentReference};

// ---------------------------------------------------------------------------------------------
// Time and randomness

/// Wall-clock time in unix seconds.
pub trait Clock: Send + Sync {
    fn now(&self) -> u64;
}

/// Cryptographically secure random bytes.
pub trait Rng: Send + Sync {
    fn fill(&self, dest: &mut [u8]);
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }
}

/// The operating system's CSPRNG.
#[derive(Debug, Clone, Copy, Default)]
pub struct OsRng;

impl Rng for OsRng {
    fn fill(&self, dest: &mut [u8]) {
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, dest);
    }
}

/// Adapts an [`Rng`] port to `rand_core` for the `ticket` crate (`&mut impl CryptoRngCore`).
#[derive(Clone, Copy)]
pub struct RandCore<'a>(pub &'a dyn Rng);

impl std::fmt::Debug for RandCore<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RandCore")
    }
}

impl rand_core::RngCore for RandCore<'_> {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.0.fill(&mut b);
        u32::from_le_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.0.fill(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.0.fill(dest);
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> std::result::Result<(), rand_core::Error> {
        self.0.fill(dest);
        Ok(())
    }
}

impl rand_core::CryptoRng for RandCore<'_> {}

// ---------------------------------------------------------------------------------------------
// KMS

/// What a KMS key is used for; the adapter maps it to the key id and the encryption context
/// of the contract (`{"purpose": ..., ...}`), so a ciphertext only opens for its own purpose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyPurpose {
    /// `PII_KEY_ID`, context `{"purpose":"customer-pii","customer_id":<id>}`.
    CustomerPii { customer_id: String },
    /// `PII_KEY_ID`, context `{"purpose":"staff-totp","staff_id":<id>}`: a staff member's
    /// TOTP secret (its own data key, like a customer's).
    StaffTotp { staff_id: String },
    /// `ISSUER_KEY_ID`, context `{"purpose":"ticket-issuer","event_id":<id>,"kid":<kid>}`.
    TicketIssuer { event_id: String, kid: u32 },
    /// `CONFIG_KEY_ID`, context `{"purpose":"gateway-secrets"}`.
    GatewaySecrets,
    /// `CONFIG_KEY_ID`, context `{"purpose":"revoker-key"}`: the edge revocation credential.
    RevokerKey,
    /// `CONFIG_KEY_ID`, context `{"purpose":"messaging-secrets"}`: the WhatsApp access token.
    MessagingSecrets,
    /// `CONFIG_KEY_ID`, context `{"purpose":"captcha-secret"}`: the Turnstile secret key.
    CaptchaSecret,
}

/// A fresh data key: the plaintext (use, then drop: zeroized) and the KMS-wrapped copy (store).
pub struct DataKey {
    pub plaintext: Zeroizing<[u8; 32]>,
    pub wrapped: Vec<u8>,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

/// KMS: data keys and small secrets, always under an encryption context.
#[async_trait]
pub trait Keys: Send + Sync {
    /// GenerateDataKey (AES-256) under the purpose's key and context.
    async fn generate_data_key(&self, purpose: &KeyPurpose) -> Result<DataKey>;
    /// Decrypt a ciphertext made for `purpose` (a wrapped data key or an encrypted secret).
    /// A wrong purpose/context fails.
    async fn decrypt(&self, purpose: &KeyPurpose, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>>;
    /// Encrypt a small secret (at most 4 KiB) directly under the purpose's key (ops tooling).
    async fn encrypt(&self, purpose: &KeyPurpose, plaintext: &[u8]) -> Result<Vec<u8>>;
}

// ---------------------------------------------------------------------------------------------
// SQS

/// The queues of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    /// `MINT_QUEUE_URL`: body [`MintMessage`].
    Mint,
    /// `NOTIFY_QUEUE_URL`: body [`NotifyMessage`].
    Notify,
    /// `REVOKE_QUEUE_URL`: body [`RevokeQueueMessage`] (a refund or dispute, or a re-issue).
    Revoke,
}

/// Send a message (JSON text). Never put personal data in a body.
#[async_trait]
pub trait Queue: Send + Sync {
    async fn send(&self, topic: Topic, body: &str) -> Result<()>;
}

/// payment-callback -> mint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MintMessage {
    pub order_id: String,
    pub event_id: String,
}

/// tickets -> mint: re-issue a ticket's credential for the device key it was claimed for (the
/// issuer keys stay with the mint function; the public tickets function never holds them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReissueMessage {
    pub reissue_ticket_id: String,
    pub order_id: String,
    pub event_id: String,
}

/// payment-callback -> revoke: revoke every ticket of a refunded or disputed order at the door.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeMessage {
    pub order_id: String,
    pub event_id: String,
    /// `refunded` or `disputed` (the door records it as the revocation's reason).
    pub reason: String,
}

/// tickets -> revoke: a ticket was re-issued (bound to a device); the door must refuse its
/// credentials issued before the stored re-issue (the printed static code among them). The
/// message names the ticket only: the line comes from the stored ticket, never from the message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetireMessage {
    pub order_id: String,
    pub event_id: String,
    pub ticket_id: String,
}

/// admin -> revoke: an operator's mass revocation (`operations::mass_revoke`) names an order
/// of an incident. The revoke function acts only if the operator's record of that (incident,
/// order) exists in the table: the message alone revokes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentRevokeMessage {
    pub order_id: String,
    pub event_id: String,
    pub incident_id: String,
}

/// What the revoke queue carries: a whole order to revoke, one ticket's re-issue to record, or
/// an order of an operator's mass revocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RevokeQueueMessage {
    Revoke(RevokeMessage),
    Retire(RetireMessage),
    Incident(IncidentRevokeMessage),
}

/// -> notify. Names the customer and the template, never personal data. `dedupe_id` makes
/// delivery idempotent (one notification per id, however often the message is delivered).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotifyMessage {
    pub template: String,
    pub customer_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    pub dedupe_id: String,
    /// Non-personal template parameters (e.g. a one-time code's id, an event name).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub params: std::collections::BTreeMap<String, String>,
}

// ---------------------------------------------------------------------------------------------
// DynamoDB

/// Events, tiers and their key sets.
#[async_trait]
pub trait Events: Send + Sync {
    /// The event with its tiers (stock as of a strongly consistent read).
    async fn get_event(&self, event_id: &str) -> Result<Option<Event>>;
    /// Creates the event, its tiers and its wrapped key set in one transaction: `false` (and
    /// nothing written) if the kid is already in use; `Conflict` if the event exists.
    async fn create_event(&self, event: &Event, keys: &WrappedEventKeys) -> Result<bool>;
    /// The wrapped key set `kid` of an event.
    async fn get_event_keys(&self, event_id: &str, kid: u32) -> Result<Option<WrappedEventKeys>>;
    /// Whether every sale is paused (the incident kill switch, `CONFIG`/`SALES_PAUSE`, see
    /// `crate::operations::pause`). An eventually consistent read: checkout caches it for
    /// seconds, so one hot item is not read at every order of a flash sale.
    async fn sales_paused(&self) -> Result<bool>;
}

/// An event's issuer and QR keys, sealed under a data key that KMS wraps with the
/// `TicketIssuer` purpose. Stored as `EVENT#<id>/KEYS#<kid>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedEventKeys {
    pub kid: u32,
    pub wrapped_data_key: Vec<u8>,
    /// `nonce(12) || AES-256-GCM(issuer secret(32) || qr key(32))`.
    pub sealed_keys: Vec<u8>,
    /// Uncompressed SEC1 issuer public key (public; published to scanners).
    pub issuer_public_key: Vec<u8>,
    pub created_at: u64,
}

/// A customer whose wrapped data key is new: created atomically with their first order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCustomer {
    /// Blind index of the normalised email (`EMAIL#<index>` points at the customer).
    pub email_index: String,
    pub wrapped_key: Vec<u8>,
    /// The customer's email sealed with their data key (for notifications and export).
    pub email_sealed: Vec<u8>,
}

/// Everything the checkout transaction writes.
#[derive(Debug, Clone)]
pub struct Reservation {
    pub order: Order,
    /// SHA-256 hex of the `Idempotency-Key` header.
    pub idempotency_key_hash: String,
    /// SHA-256 hex of the request's identifying fields (a reused key with another request
    /// is refused).
    pub request_hash: String,
    pub idempotency_expires_at: u64,
    /// The per-buyer-per-event limit (tickets held or bought by this customer for the event).
    pub max_per_buyer: u32,
    /// Set when the customer does not exist yet.
    pub new_customer: Option<NewCustomer>,
}

/// Result of [`Orders::reserve`].
#[derive(Debug, Clone)]
pub enum ReserveOutcome {
    /// The order was written, stock taken.
    Created,
    /// The idempotency key was used before: the earlier order.
    Replayed {
        order_id: String,
        request_hash: String,
    },
    /// `new_customer` lost a race with a concurrent first order of the same buyer: look the
    /// customer up again and retry.
    CustomerExists,
}

/// A reservation whose hold has run out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiredReservation {
    pub order_id: String,
    pub event_id: String,
    pub tier_id: String,
    pub customer_id: String,
    pub quantity: u32,
    pub expires_at: u64,
    /// The stock shard the reservation took from (`None`: a tier stored before sharding).
    pub stock_shard: Option<u32>,
}

/// Result of [`Orders::mark_paid`].
#[derive(Debug, Clone)]
pub enum PaidOutcome {
    /// The order went from reserved to paid now: enqueue the mint.
    Paid(Order),
    /// The order was already paid (or minted): a replay; nothing changed.
    AlreadyPaid(Order),
    /// The order had expired or been cancelled: the payment is recorded in `refund_due`.
    RefundDue(Order),
}

/// Result of [`Orders::mark_reversed`].
#[derive(Debug, Clone)]
pub enum ReversedOutcome {
    /// This call moved the order to `Refunded` / `Disputed`.
    Reversed(Order),
    /// The order was already refunded or disputed (a replay or a second notification).
    Already(Order),
    /// A partial refund: recorded on the order, its status unchanged.
    PartialRecorded(Order),
}

/// Orders and their state machine.
#[async_trait]
pub trait Orders: Send + Sync {
    /// One transaction: idempotency record, stock decrement (`available >= quantity`),
    /// per-buyer counter (`<= max_per_buyer`), order, customer-order link, consent record, and
    /// the new customer's key and email index. Errors: `SoldOut`, `LimitExceeded`, `NotOnSale`.
    async fn reserve(&self, reservation: &Reservation) -> Result<ReserveOutcome>;
    /// The order an idempotency key already made, with its request hash (strongly consistent
    /// read): a retry is answered from it before anything is counted again.
    async fn idempotent_order(
        &self,
        idempotency_key_hash: &str,
    ) -> Result<Option<(String, String)>>;
    /// Strongly consistent read.
    async fn get_order(&self, order_id: &str) -> Result<Option<Order>>;
    /// Stores the hosted-payment reference (once; a second call keeps the first): `true` if
    /// this call stored it.
    async fn set_payment_reference(
        &self,
        order_id: &str,
        payment: &PaymentReference,
    ) -> Result<bool>;
    /// `Reserved -> Paid` if amount, currency and the order's payment provider match the
    /// payment (else `Conflict`, nothing written); see [`PaidOutcome`].
    async fn mark_paid(&self, order_id: &str, payment: &PaymentRecord) -> Result<PaidOutcome>;
    /// `Paid | Minted -> Refunded | Disputed` (`status`), one conditional write that also
    /// requires the order's payment to be exactly `paid` as read (provider, reference, amount)
    /// and records `reversal`. A `PartiallyRefunded` reversal is recorded without a status
    /// change. `Conflict` if the order is in no state to be reversed.
    async fn mark_reversed(
        &self,
        order_id: &str,
        paid: &PaymentRecord,
        status: crate::model::OrderStatus,
        reversal: &crate::model::Reversal,
    ) -> Result<ReversedOutcome>;
    /// Remembers which order a gateway payment id (Stripe PaymentIntent) paid, so a dispute,
    /// which names only the payment, finds it. Idempotent.
    async fn link_payment(&self, provider: &str, payment_id: &str, order_id: &str) -> Result<()>;
    /// The order a gateway payment id paid, if linked.
    async fn order_of_payment(&self, provider: &str, payment_id: &str) -> Result<Option<String>>;
    /// Reservations with `expires_at <= now`, oldest first, at most `limit`.
    async fn expired_reservations(&self, now: u64, limit: u32) -> Result<Vec<ExpiredReservation>>;
    /// `Reserved -> Expired` and the stock and buyer counter returned, in one transaction
    /// conditional on the status: `true` if this call released it, `false` if it was already
    /// released, paid or not yet expired.
    async fn release(&self, reservation: &ExpiredReservation, now: u64) -> Result<bool>;
}

/// A customer: their wrapped data key (delete = crypto-shred).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerRecord {
    pub customer_id: String,
    /// `None` once shredded.
    pub wrapped_key: Option<Vec<u8>>,
    pub email_sealed: Option<Vec<u8>>,
    pub created_at: u64,
}

/// Customers, the email blind index, and the blind-index key.
#[async_trait]
pub trait Customers: Send + Sync {
    /// The customer id whose email has this blind index.
    async fn find_by_email_index(&self, email_index: &str) -> Result<Option<String>>;
    async fn get_customer(&self, customer_id: &str) -> Result<Option<CustomerRecord>>;
    /// Order ids of a customer (newest last).
    async fn customer_order_ids(&self, customer_id: &str) -> Result<Vec<String>>;
    /// Deletes the wrapped data key and the sealed email: every sealed copy becomes
    /// unreadable. Idempotent.
    async fn shred_customer(&self, customer_id: &str) -> Result<()>;
    /// The wrapped blind-index key (`CONFIG/PII_INDEX_KEY`), if created.
    async fn get_index_key(&self) -> Result<Option<Vec<u8>>>;
    /// Stores the wrapped blind-index key unless one exists; returns the one stored.
    async fn put_index_key(&self, wrapped: &[u8]) -> Result<Vec<u8>>;
}

/// A minted ticket. Stored as `ORDER#<order>/TICKET#<ticket>` (gsi1: `TICKET#<ticket>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketRecord {
    /// 32 hex characters.
    pub ticket_id: String,
    pub order_id: String,
    pub event_id: String,
    pub tier_id: String,
    pub kid: u32,
    pub gates: Vec<String>,
    pub not_before: u64,
    pub not_after: u64,
    pub issued_at: u64,
    /// The sealed credential (`ticket::SealedCredential` bytes).
    pub credential: Vec<u8>,
    /// Uncompressed SEC1 device key once bound.
    pub device_key: Option<Vec<u8>>,
    /// How many times the credential was (re-)issued.
    pub version: u32,
    /// A device key is claimed and the mint function has not yet re-issued the credential for
    /// it (`credential` is still the unbound one).
    pub bind_pending: bool,
}

/// Result of [`Tickets::mint`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MintOutcome {
    /// These tickets were written now, and the order is `Minted`.
    Minted,
    /// The order was already minted (redelivery): nothing written.
    AlreadyMinted,
    /// The order was refunded or disputed before it was minted: nothing written.
    Reversed,
    /// The order is on hold for review (`ORDER#<id>/FRAUD_HOLD`, checked in the minting
    /// transaction): nothing written; releasing the hold queues the mint again.
    Held,
}

/// Tickets.
#[async_trait]
pub trait Tickets: Send + Sync {
    /// One transaction: order `Paid -> Minted` and every ticket put. If the order is already
    /// minted, `AlreadyMinted` and nothing is written; if it is not paid, `Conflict`.
    async fn mint(&self, order_id: &str, tickets: &[TicketRecord], now: u64)
        -> Result<MintOutcome>;
    async fn order_tickets(&self, order_id: &str) -> Result<Vec<TicketRecord>>;
    /// Finds a ticket by id through the ticket index (eventually consistent: a ticket minted
    /// a moment ago may not be found yet).
    async fn get_ticket(&self, ticket_id: &str) -> Result<Option<TicketRecord>>;
    /// The ticket of `order_id` (strongly consistent read of the item itself).
    async fn get_order_ticket(
        &self,
        order_id: &str,
        ticket_id: &str,
    ) -> Result<Option<TicketRecord>>;
    /// Claims the ticket for `device_key` (first key wins): sets the key and `bind_pending` if
    /// the ticket has no key yet; returns the stored record (claimed now, or the earlier claim).
    async fn request_binding(
        &self,
        ticket: &TicketRecord,
        device_key: &[u8],
    ) -> Result<TicketRecord>;
    /// Stores the credential re-issued for the claimed device key and clears `bind_pending`, if
    /// the ticket is still pending at `expected_version` for that key; returns the stored record.
    async fn complete_binding(
        &self,
        bound: &TicketRecord,
        expected_version: u32,
    ) -> Result<TicketRecord>;
}

/// One-shot claims (e.g. "notification X was sent"), remembered until `expires_at`.
#[async_trait]
pub trait Dedup: Send + Sync {
    /// `true` if this call claimed `key` (first time), `false` if it was claimed before.
    async fn claim(&self, key: &str, expires_at: u64) -> Result<bool>;
    /// Gives a claim back (the work it guarded failed and should be retried).
    async fn release_claim(&self, key: &str) -> Result<()>;
    /// Spends the waiting-room admission `jti` for `holder` in one conditional write: `true` if
    /// it was free or is held by `holder` already (a retry), `false` if another holds it.
    async fn spend_admission(&self, jti: &str, holder: &str, expires_at: u64) -> Result<bool>;
    /// Whether `key` is claimed (a strongly consistent read; writes nothing).
    async fn is_claimed(&self, key: &str) -> Result<bool>;
}

/// An erasure of a customer's personal data (pseudonymous ids only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Erasure {
    pub customer_id: String,
    /// The email blind index, when it was known (a privacy request; retention reads it from
    /// the sealed address while it still can).
    pub email_index: Option<String>,
    pub at: u64,
}

/// The log of erasures, kept outside the main table and its backups, replayed after a restore.
#[async_trait]
pub trait ErasureLog: Send + Sync {
    /// Appends an erasure (before the data is shredded: a crash in between leaves a logged
    /// erasure that the next replay completes).
    async fn record(&self, erasure: &Erasure) -> Result<()>;
    /// Every erasure, oldest first, at most `limit`.
    async fn erasures(&self, limit: usize) -> Result<Vec<Erasure>>;
}

/// Fixed-window counters: how many times a key was used in the current window.
#[async_trait]
pub trait RateLimits: Send + Sync {
    /// Counts one use of `key` in the window of `window_secs` that holds `now`: `true` if it is
    /// within `limit` (and was counted), `false` if the window is full (nothing counted).
    async fn allow(&self, key: &str, limit: u32, window_secs: u64, now: u64) -> Result<bool>;
}

// ---------------------------------------------------------------------------------------------
// Third parties

/// What checkout asks a payment gateway for. No personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentRequest {
    /// `stripe`, `midtrans`, `xendit` or `doku`.
    pub provider: String,
    /// Our order id: the merchant reference the webhook will carry back.
    pub order_id: String,
    pub amount_minor: u64,
    pub currency: String,
    /// Human-readable, e.g. "2 x General, Jakarta Fest".
    pub description: String,
    /// Unix seconds: the reservation's expiry; the payment page should not outlive it.
    pub expires_at: u64,
}

/// Creates a hosted payment (a page or token the buyer pays through). Idempotent per order id.
#[async_trait]
pub trait HostedPayments: Send + Sync {
    async fn create_payment(&self, request: &PaymentRequest) -> Result<PaymentReference>;
}

/// Asks a payment gateway's status API about a payment, authenticated with karcis' own API key:
/// its answer is the gateway's word, where a notification's unsigned fields are not (see
/// [`crate::gateway::Provider::confirms_with_status_api`]).
#[async_trait]
pub trait PaymentStatusApi: Send + Sync {
    /// What the gateway says about the payment of `order_id` (`reference`: the gateway's id for
    /// it, as stored at checkout). `Ok(None)`: the gateway does not know it. `Unavailable` when
    /// the API cannot be reached or answers an error: retry later.
    async fn payment_state(
        &self,
        provider: crate::gateway::Provider,
        order_id: &str,
        reference: &str,
    ) -> Result<Option<crate::gateway::PaymentState>>;
}

/// The door's revocation list (the edge worker's `POST /v1/revocations`), as a machine caller
/// scoped to revocations.
#[async_trait]
pub trait DoorRevocations: Send + Sync {
    /// Revokes one ticket of one event; idempotent (revoking a revoked ticket again is `Ok`).
    /// `Unavailable` when the edge cannot be reached or answers 5xx: retry later.
    async fn revoke(&self, event_id: &str, ticket_id: &str, reason: &str) -> Result<()>;

    /// Retires the ticket's credentials issued before `not_issued_before` (unix seconds): a
    /// re-issue. Idempotent, and the door's line only moves forward, so a late or repeated
    /// call changes nothing. `Unavailable` as for [`Self::revoke`].
    async fn retire(&self, event_id: &str, ticket_id: &str, not_issued_before: u64) -> Result<()>;
}

/// How a notification reaches the buyer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// Amazon SES (the default; every customer has an address).
    #[default]
    Email,
    /// SMS to the order's phone number (Amazon SNS).
    Sms,
    /// WhatsApp Business Cloud API template message to the order's phone number.
    Whatsapp,
}

impl Channel {
    /// `email`, `sms`, `whatsapp`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "email" => Some(Self::Email),
            "sms" => Some(Self::Sms),
            "whatsapp" => Some(Self::Whatsapp),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Sms => "sms",
            Self::Whatsapp => "whatsapp",
        }
    }
}

/// The language of a notification: Bahasa Indonesia unless the message says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    #[default]
    Id,
    En,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::Id, Lang::En];

    /// `id` or `en` (a region suffix such as `en-GB` is ignored).
    pub fn parse(text: &str) -> Option<Self> {
        match text.split(['-', '_']).next().unwrap_or("") {
            "id" => Some(Self::Id),
            "en" => Some(Self::En),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Id => "id",
            Self::En => "en",
        }
    }
}

/// A notification to send. The recipient's address and phone are personal data: a sender must
/// not log them (nor `params`, which may hold a one-time code).
#[derive(Clone, Default)]
pub struct Notification {
    pub template: String,
    pub recipient_email: Zeroizing<String>,
    /// E.164, when the order gave one (SMS and WhatsApp need it).
    pub recipient_phone: Option<Zeroizing<String>>,
    pub customer_id: String,
    pub channel: Channel,
    pub lang: Lang,
    pub params: std::collections::BTreeMap<String, String>,
}

impl std::fmt::Debug for Notification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notification")
            .field("template", &self.template)
            .field("recipient_email", &"<redacted>")
            .field("customer_id", &self.customer_id)
            .field("channel", &self.channel)
            .field("lang", &self.lang)
            .finish_non_exhaustive()
    }
}

/// Sends notifications: the real senders in [`crate::senders`] (SES, SNS, WhatsApp), the
/// logging sender for local runs ([`crate::notify::LoggingSender`]).
#[async_trait]
pub trait NotificationSender: Send + Sync {
    async fn send(&self, notification: &Notification) -> Result<()>;
}
