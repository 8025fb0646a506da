//! The wiring: every port a handler may need, built once per cold start.

use std::sync::Arc;

use crate::aws::{Clients, KmsKeys, SqsQueue};
use crate::config::Config;
use crate::pii::Pii;
use crate::ports::{
    Clock, Customers, Dedup, ErasureLog, Events, Keys, Orders, OsRng, Queue, RateLimits, Rng,
    SystemClock, Tickets,
};
use crate::store::{DynamoErasureLog, DynamoStore};

/// The ports of the system. Cheap to clone (all `Arc`s).
#[derive(Clone)]
pub struct Deps {
    pub config: Arc<Config>,
    pub events: Arc<dyn Events>,
    pub orders: Arc<dyn Orders>,
    pub customers: Arc<dyn Customers>,
    pub tickets: Arc<dyn Tickets>,
    pub dedup: Arc<dyn Dedup>,
    /// Fixed-window rate counters.
    pub limits: Arc<dyn RateLimits>,
    /// Step-up one-time codes of high-value orders.
    pub stepups: Arc<dyn crate::sale::stepup::StepUps>,
    /// Blacklists, risk counters and decisions.
    pub fraud: Arc<dyn crate::fraud::FraudStore>,
    /// The erasure log (its own table).
    pub erasures: Arc<dyn ErasureLog>,
    pub keys: Arc<dyn Keys>,
    pub queue: Arc<dyn Queue>,
    pub clock: Arc<dyn Clock>,
    pub rng: Arc<dyn Rng>,
    /// Customer data keys and the email blind index (caches its key).
    pub pii: Arc<Pii>,
}

impl std::fmt::Debug for Deps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deps")
            .field("table", &self.config.table_name)
            .finish_non_exhaustive()
    }
}

impl Deps {
    /// The AWS adapters for `config`, with the system clock and the OS RNG.
    pub fn from_clients(config: Config, clients: &Clients) -> Self {
        let store = Arc::new(DynamoStore::new(
            clients.dynamodb.clone(),
            config.table_name.clone(),
        ));
        let keys: Arc<dyn Keys> = Arc::new(KmsKeys::from_config(clients.kms.clone(), &config));
        let queue: Arc<dyn Queue> = Arc::new(SqsQueue::from_config(clients.sqs.clone(), &config));
        let customers: Arc<dyn Customers> = store.clone();
        let erasures = Arc::new(DynamoErasureLog::new(
            clients.dynamodb.clone(),
            config.erasure_log_table.clone(),
        ));
        Self {
            erasures,
            config: Arc::new(config),
            events: store.clone(),
            orders: store.clone(),
            tickets: store.clone(),
            limits: store.clone(),
            stepups: store.clone(),
            fraud: store.clone(),
            dedup: store,
            pii: Arc::new(Pii::new(keys.clone(), customers.clone())),
            customers,
            keys,
            queue,
            clock: Arc::new(SystemClock),
            rng: Arc::new(OsRng),
        }
    }

    /// Reads [`Config`] from the environment and builds the AWS clients (once per cold start).
    pub async fn from_env() -> crate::Result<Self> {
        let config = Config::from_env()?;
        let clients = Clients::from_env().await;
        Ok(Self::from_clients(config, &clients))
    }

    /// Replaces the clock (tests).
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Replaces the KMS port (tests), with a fresh [`Pii`] over it (as after a cold start).
    #[must_use]
    pub fn with_keys(mut self, keys: Arc<dyn Keys>) -> Self {
        self.pii = Arc::new(Pii::new(keys.clone(), self.customers.clone()));
        self.keys = keys;
        self
    }

    /// Replaces the RNG (tests).
    #[must_use]
    pub fn with_rng(mut self, rng: Arc<dyn Rng>) -> Self {
        self.rng = rng;
        self
    }
}
