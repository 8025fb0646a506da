//! privacy: `POST /v1/privacy/challenge`, `POST /v1/privacy/export`, `POST /v1/privacy/delete`,
//! `PUT /v1/privacy/consents` (see `functions::privacy` and functions/PRIVACY.md). Codes go out
//! through the notification senders (`functions::senders`); `/challenge` is behind the guard
//! (`functions::guard`: per-client rate limit, Turnstile).

use std::sync::Arc;

use functions::deps::Deps;
use functions::privacy::{router, Privacy};
use functions::store::DynamoStore;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    functions::telemetry::init();
    let deps = Deps::from_env().await?;
    let sdk = functions::aws::sdk_config().await;
    let clients = functions::aws::Clients::new(&sdk);
    let sender = functions::senders::from_env(&sdk, deps.keys.as_ref()).await?;
    let records = Arc::new(DynamoStore::new(
        clients.dynamodb.clone(),
        deps.config.table_name.clone(),
    ));
    let captcha = functions::captcha::from_env(deps.keys.as_ref()).await?;
    let guard = functions::guard::Guard::from_config(&deps.config, captcha);
    functions::http::serve(router(
        Privacy::new(deps, records, sender).with_guard(guard),
    ))
    .await
}
