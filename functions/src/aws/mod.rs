//! AWS adapters other than DynamoDB: the SDK configuration, KMS ([`KmsKeys`]) and SQS
//! ([`SqsQueue`]). AWS SDK types stay in this module and in `crate::store`.

mod kms;
mod sqs;

pub use kms::KmsKeys;
pub use sqs::SqsQueue;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};

/// The SDK defaults with the HTTP client of every function: hyper 1 + rustls with the `ring`
/// provider, which keeps `aws-lc` (a long C build) out of the dependency tree.
fn sdk_defaults() -> aws_config::ConfigLoader {
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest()).http_client(http_client)
}

/// The shared SDK configuration, built once per cold start.
///
/// Region, credentials and `AWS_ENDPOINT_URL` (tests point it at moto) come from the
/// environment.
pub async fn sdk_config() -> SdkConfig {
    sdk_defaults().load().await
}

/// The clients every function uses, built once from [`sdk_config`].
#[derive(Debug, Clone)]
pub struct Clients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub kms: aws_sdk_kms::Client,
    pub sqs: aws_sdk_sqs::Client,
}

impl Clients {
    pub fn new(config: &SdkConfig) -> Self {
        Self {
            dynamodb: aws_sdk_dynamodb::Client::new(config),
            kms: aws_sdk_kms::Client::new(config),
            sqs: aws_sdk_sqs::Client::new(config),
        }
    }

    pub async fn from_env() -> Self {
        Self::new(&sdk_config().await)
    }
}

/// An SDK error as text for logs: the error's code and message (no request data).
pub(crate) fn describe<E, R>(err: &aws_sdk_dynamodb::error::SdkError<E, R>) -> String
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_dynamodb::error::SdkError;
    match err {
        SdkError::ServiceError(s) => {
            let e = s.err();
            format!(
                "{}: {}",
                e.code().unwrap_or("ServiceError"),
                e.message().unwrap_or("")
            )
        }
        SdkError::TimeoutError(_) => "timeout".to_owned(),
        SdkError::DispatchFailure(_) => "dispatch failure (connection)".to_owned(),
        SdkError::ResponseError(_) => "unparseable response".to_owned(),
        SdkError::ConstructionFailure(_) => "request construction failure".to_owned(),
        _ => "unknown SDK error".to_owned(),
    }
}

/// SDK configuration for an emulator endpoint (moto) with static test credentials.
pub async fn sdk_config_for_endpoint(endpoint: &str, region: &str) -> SdkConfig {
    sdk_defaults()
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(region.to_owned()))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "testing", "testing", None, None, "static",
        ))
        .load()
        .await
}

pub mod provision;
