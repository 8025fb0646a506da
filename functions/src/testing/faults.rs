//! Fault injection for the DynamoDB client: an SDK interceptor ([`Intercept`]) that makes chosen
//! calls fail the way DynamoDB fails under load, which the moto harness (one call at a time)
//! never does.
//!
//! ```ignore
//! let faults = Faults::new();
//! faults.inject("TransactWriteItems", Fault::TransactionConflict, 3);
//! let env = TestEnv::new().await.with_faults(&faults); // every DynamoDB call goes through it
//! ```
//!
//! - [`Fault::TransactionConflict`], [`Fault::Throttling`], [`Fault::ProvisionedThroughputExceeded`]:
//!   the request never reaches the table (the interceptor turns it into a read-only
//!   `DescribeLimits` before transmission) and its answer is replaced by the error DynamoDB
//!   documents (HTTP 400, awsJson 1.0 body), so the SDK's own deserializer and retry classifiers
//!   see exactly what they would see from AWS.
//! - [`Fault::CommittedThenTimeout`]: the request reaches moto and commits; the answer is then
//!   replaced by a connection timeout, as when a response is lost on the way back.
//! - [`Fault::IndexLag`]: a `Query` on a secondary index answers no items, as a GSI that has not
//!   caught up with a write yet.
//!
//! The SDK's own retries (standard mode) run as configured for production; every HTTP attempt
//! passes through the interceptor and is logged ([`Faults::attempts`]).

use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::{
    BeforeDeserializationInterceptorContextMut, BeforeTransmitInterceptorContextMut,
    FinalizerInterceptorContextMut,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::{HttpResponse, OrchestratorError};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::{Storable, StoreReplace};

/// A failure to inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `TransactionCanceledException` with the reason `TransactionConflict` on the first item
    /// (`None` on the others): another transaction held an item.
    TransactionConflict,
    /// `ThrottlingException` (request rate too high for the account or table).
    Throttling,
    /// `ProvisionedThroughputExceededException`.
    ProvisionedThroughputExceeded,
    /// The call commits, then its answer is lost: the SDK sees a connection timeout.
    CommittedThenTimeout,
    /// A `Query` with an `IndexName` answers no items (only such queries match).
    IndexLag,
}

/// Use as `times` for a fault injected on every matching call.
pub const ALWAYS: u32 = u32::MAX;

/// One HTTP attempt the interceptor saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The DynamoDB operation (`TransactWriteItems`, `Query`, ...).
    pub operation: String,
    /// The fault injected into this attempt, if any.
    pub fault: Option<Fault>,
    /// The request's `ClientRequestToken`, if it had one.
    pub client_request_token: Option<String>,
}

#[derive(Debug)]
struct Rule {
    operation: String,
    fault: Fault,
    remaining: u32,
}

/// The faults to inject and the log of attempts. Shared by every client it is installed on.
#[derive(Debug, Default)]
pub struct Faults {
    rules: Mutex<Vec<Rule>>,
    log: Mutex<Vec<Attempt>>,
}

impl Faults {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Injects `fault` into the next `times` calls of `operation` ([`ALWAYS`]: every call).
    /// Rules apply in the order they were added.
    pub fn inject(&self, operation: &str, fault: Fault, times: u32) {
        if let Ok(mut rules) = self.rules.lock() {
            rules.push(Rule {
                operation: operation.to_owned(),
                fault,
                remaining: times,
            });
        }
    }

    /// Removes every rule (the log stays).
    pub fn clear(&self) {
        if let Ok(mut rules) = self.rules.lock() {
            rules.clear();
        }
    }

    /// Every attempt of `operation` so far, in order.
    pub fn attempts(&self, operation: &str) -> Vec<Attempt> {
        self.log.lock().map_or_else(
            |_| Vec::new(),
            |log| {
                log.iter()
                    .filter(|a| a.operation == operation)
                    .cloned()
                    .collect()
            },
        )
    }

    /// How many attempts had `fault` injected.
    pub fn injected(&self, fault: Fault) -> usize {
        self.log.lock().map_or(0, |log| {
            log.iter().filter(|a| a.fault == Some(fault)).count()
        })
    }

    /// A copy of `client` whose every call goes through this fault injector.
    pub fn install(
        self: &Arc<Self>,
        client: &aws_sdk_dynamodb::Client,
    ) -> aws_sdk_dynamodb::Client {
        let config = client
            .config()
            .to_builder()
            .interceptor(FaultInterceptor(self.clone()))
            .build();
        aws_sdk_dynamodb::Client::from_conf(config)
    }

    fn take(&self, operation: &str, body: &serde_json::Value) -> Option<Fault> {
        let mut rules = self.rules.lock().ok()?;
        let rule = rules.iter_mut().find(|r| {
            r.remaining > 0
                && r.operation == operation
                && (r.fault != Fault::IndexLag || body.get("IndexName").is_some())
        })?;
        if rule.remaining != ALWAYS {
            rule.remaining -= 1;
        }
        Some(rule.fault)
    }

    fn record(&self, attempt: Attempt) {
        if let Ok(mut log) = self.log.lock() {
            log.push(attempt);
        }
    }
}

/// What the interceptor decided for the attempt in flight (kept in the operation's config bag).
#[derive(Debug, Clone, Default)]
struct Planned {
    fault: Option<Fault>,
    items: usize,
}

impl Storable for Planned {
    type Storer = StoreReplace<Self>;
}

#[derive(Debug)]
struct FaultInterceptor(Arc<Faults>);

impl Intercept for FaultInterceptor {
    fn name(&self) -> &'static str {
        "karcis-fault-injection"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        let operation = request
            .headers()
            .get("x-amz-target")
            .and_then(|t| t.split('.').nth(1))
            .unwrap_or_default()
            .to_owned();
        let body: serde_json::Value = request
            .body()
            .bytes()
            .and_then(|b| serde_json::from_slice(b).ok())
            .unwrap_or_default();
        let fault = self.0.take(&operation, &body);
        self.0.record(Attempt {
            operation,
            fault,
            client_request_token: body
                .get("ClientRequestToken")
                .and_then(|t| t.as_str())
                .map(str::to_owned),
        });
        if matches!(
            fault,
            Some(
                Fault::TransactionConflict
                    | Fault::Throttling
                    | Fault::ProvisionedThroughputExceeded
            )
        ) {
            // The table must not see the call: send a read-only call in its place.
            context
                .request_mut()
                .headers_mut()
                .insert("x-amz-target", "DynamoDB_20120810.DescribeLimits");
        }
        let items = body
            .get("TransactItems")
            .and_then(|i| i.as_array())
            .map_or(0, Vec::len);
        cfg.interceptor_state().store_put(Planned { fault, items });
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(planned) = cfg.load::<Planned>().cloned() else {
            return Ok(());
        };
        let replacement = match planned.fault {
            Some(Fault::TransactionConflict) => {
                let mut reasons = vec![
                    serde_json::json!({"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}),
                ];
                reasons.resize(planned.items.max(1), serde_json::json!({"Code": "None"}));
                let names: Vec<&str> = reasons
                    .iter()
                    .map(|r| r["Code"].as_str().unwrap_or("None"))
                    .collect();
                Some((
                    400,
                    serde_json::json!({
                        "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
                        "Message": format!(
                            "Transaction cancelled, please refer cancellation reasons for specific reasons [{}]",
                            names.join(", ")
                        ),
                        "CancellationReasons": reasons,
                    }),
                ))
            }
            Some(Fault::Throttling) => Some((
                400,
                serde_json::json!({
                    "__type": "com.amazon.coral.availability#ThrottlingException",
                    "message": "Rate of requests exceeds the allowed throughput.",
                }),
            )),
            Some(Fault::ProvisionedThroughputExceeded) => Some((
                400,
                serde_json::json!({
                    "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                    "message": "The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.",
                }),
            )),
            Some(Fault::IndexLag) => Some((
                200,
                serde_json::json!({"Count": 0, "Items": [], "ScannedCount": 0}),
            )),
            Some(Fault::CommittedThenTimeout) | None => None,
        };
        if let Some((status, body)) = replacement {
            let mut response = HttpResponse::new(
                StatusCode::try_from(status)?,
                SdkBody::from(body.to_string()),
            );
            response
                .headers_mut()
                .insert("content-type", "application/x-amz-json-1.0");
            *context.response_mut() = response;
        }
        Ok(())
    }

    fn modify_before_attempt_completion(
        &self,
        context: &mut FinalizerInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let planned = cfg.load::<Planned>().cloned().unwrap_or_default();
        cfg.interceptor_state().store_put(Planned::default());
        if planned.fault == Some(Fault::CommittedThenTimeout) {
            if let Some(result) = context.output_or_error_mut() {
                if result.is_ok() {
                    *result = Err(OrchestratorError::connector(ConnectorError::timeout(
                        "injected fault: the call committed and its answer was lost".into(),
                    )));
                }
            }
        }
        Ok(())
    }
}
