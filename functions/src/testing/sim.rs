//! The DynamoDB behaviour simulator in the harness: [`TestEnv::through_sim`] starts a
//! `dynamo_sim::Sim` in front of the shared moto and points the environment's DynamoDB client
//! at it (KMS and SQS still talk to moto directly). [`faults_on`] is the mix the invariant tests
//! run under.

use std::sync::Arc;

pub use dynamo_sim::{Ceilings, Config, FaultRates, Sim, Stats};

use super::TestEnv;

/// Every fault of the simulator at once, at rates a retrying client gets through: 3 % server
/// errors, 3 % throttling, 2 % connections dropped before and 2 % after the table, 0-4 ms
/// latency, transactions held 15 ms (so concurrent ones on one item conflict), and an item
/// ceiling of 200 write units a second (100 transactional writes).
pub fn faults_on(seed: u64) -> Config {
    Config {
        seed,
        ceilings: Ceilings {
            item_units_per_sec: Some(200.0),
            partition_units_per_sec: Some(400.0),
            burst_secs: 0.1,
        },
        tx_hold_ms: 15,
        latency_ms: (0, 4),
        faults: FaultRates {
            internal_error: 0.03,
            throttling: 0.03,
            drop_before: 0.02,
            drop_after: 0.02,
        },
        ..Config::default()
    }
}

impl TestEnv {
    /// This environment with its DynamoDB client going through a new simulator configured by
    /// `config`. The table was created directly on moto.
    #[must_use]
    pub fn through_sim(&self, config: Config) -> Self {
        let sim = Sim::start(&self.endpoint, config).expect("start the DynamoDB simulator");
        let conf = self
            .clients
            .dynamodb
            .config()
            .to_builder()
            .endpoint_url(&sim.endpoint)
            .build();
        let mut env = self.clone();
        env.clients.dynamodb = aws_sdk_dynamodb::Client::from_conf(conf);
        env.sim = Some(Arc::new(sim));
        env
    }

    /// What the simulator did so far (zeros without one).
    pub fn sim_stats(&self) -> Stats {
        self.sim.as_ref().map(|s| s.stats()).unwrap_or_default()
    }
}
