//! staff: `PUT/GET /v1/staff/members/{staff_id}`, `POST /v1/staff/members/{staff_id}/tokens`,
//! `GET /v1/staff/jwks`, `GET /v1/staff/log`, password sign-in (`POST /v1/staff/sign-in`,
//! `POST /v1/staff/password`, `POST /v1/staff/members/{staff_id}/password-setup`), see
//! `functions::staff`. Without arguments it
//! serves (Lambda, or 127.0.0.1:$KARCIS_LOCAL_PORT). Ops subcommands, with AWS credentials allowed to use the
//! signing key (IAM is the root of trust; every change is in the staff log):
//!
//! ```text
//! staff jwks                                   # the JWKS for the worker's STAFF_JWKS secret
//! staff put-member STAFF_ID < member.json      # {"role","events","gates","active"}
//! staff issue-token STAFF_ID < request.json    # {"purpose":"door"|"console","events","gates","ttl_secs"}
//! staff setup-code STAFF_ID                    # a one-time code to set a first password (24 h)
//! ```
//! The subcommands record the actor as `cli:$KARCIS_OPERATOR` (required). `EDGE_BASE_URL` (the
//! edge worker) is where deactivations and token revocations are sent (without it they are not).

use std::io::Read as _;
use std::sync::Arc;

use functions::audit_ingest::DynamoAuditLog;
use functions::aws::Clients;
use functions::aws::KmsKeys;
use functions::config::Config;
use functions::ports::{OsRng, SystemClock};
use functions::staff::{
    previous_public_keys, router, DynamoCredentials, DynamoDirectory, EdgeStaffDenyList, KmsSigner,
    MemberSpec, Settings, StaffSecrets, StaffService, TokenRequest, SIGNING_KEY_ENV,
};
use functions::store::DynamoStore;

async fn service() -> Result<StaffService, Box<dyn std::error::Error + Send + Sync>> {
    let config = Config::from_env()?;
    let settings = Settings::from_env()?;
    let clients = Clients::from_env().await;
    let key_id =
        std::env::var(SIGNING_KEY_ENV).map_err(|_| format!("{SIGNING_KEY_ENV} is not set"))?;
    let signer = KmsSigner::load(clients.kms.clone(), &key_id).await?;
    let retired = previous_public_keys(&clients.kms).await?;
    let service = StaffService::new(
        settings,
        Arc::new(signer),
        retired,
        Arc::new(DynamoDirectory::new(
            clients.dynamodb.clone(),
            config.table_name.clone(),
        )),
        Arc::new(DynamoAuditLog::new(
            clients.dynamodb.clone(),
            config.table_name.clone(),
        )),
        Arc::new(SystemClock),
        Arc::new(OsRng),
    )?
    .with_credentials(
        Arc::new(DynamoCredentials::new(
            clients.dynamodb.clone(),
            config.table_name.clone(),
        )),
        // PII_KEY_ID: the blind index of client addresses and the TOTP data keys.
        StaffSecrets::new(
            Arc::new(KmsKeys::from_config(clients.kms.clone(), &config)),
            Arc::new(DynamoStore::new(
                clients.dynamodb.clone(),
                config.table_name.clone(),
            )),
        ),
    );
    // Deactivations and revocations reach the door's deny-list through the edge worker.
    match std::env::var(EdgeStaffDenyList::URL_ENV) {
        Ok(url) if !url.trim().is_empty() => {
            let door = EdgeStaffDenyList::new(
                url.trim(),
                service.signer.clone(),
                service.settings.clone(),
                Arc::new(SystemClock),
                Arc::new(OsRng),
            )?;
            Ok(service.with_door(Arc::new(door)))
        }
        _ => {
            tracing::warn!(
                "{} is not set: deactivating a member does not revoke its door tokens",
                EdgeStaffDenyList::URL_ENV
            );
            Ok(service)
        }
    }
}

fn stdin_json<T: serde::de::DeserializeOwned>(
) -> Result<T, Box<dyn std::error::Error + Send + Sync>> {
    let mut text = String::new();
    std::io::stdin().take(64 * 1024).read_to_string(&mut text)?;
    Ok(functions::http::parse_json(text.as_bytes())?)
}

fn operator() -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    let name = std::env::var("KARCIS_OPERATOR").unwrap_or_default();
    if !functions::staff::valid_staff_id(&name, 64) {
        return Err("set KARCIS_OPERATOR to your operator name ([A-Za-z0-9._:@-])".into());
    }
    Ok(format!("cli:{name}"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] => {
            functions::telemetry::init();
            let service = service().await?;
            functions::http::serve(router(service)).await
        }
        ["jwks"] => {
            let service = service().await?;
            println!("{}", serde_json::to_string_pretty(&service.jwks())?);
            Ok(())
        }
        ["put-member", staff_id] => {
            let actor = operator()?;
            let spec: MemberSpec = stdin_json()?;
            let member = service().await?.put_member(&actor, staff_id, &spec).await?;
            println!("{}", serde_json::to_string_pretty(&member)?);
            Ok(())
        }
        ["issue-token", staff_id] => {
            let actor = operator()?;
            let req: TokenRequest = stdin_json()?;
            let issued = service().await?.issue_token(&actor, staff_id, &req).await?;
            println!("{}", serde_json::to_string_pretty(&issued)?);
            Ok(())
        }
        ["setup-code", staff_id] => {
            let actor = operator()?;
            let code = service().await?.issue_setup_code(&actor, staff_id).await?;
            println!("{}", serde_json::to_string_pretty(&code)?);
            Ok(())
        }
        _ => {
            eprintln!("usage: staff [jwks | put-member STAFF_ID < member.json | issue-token STAFF_ID < request.json | setup-code STAFF_ID]");
            std::process::exit(2);
        }
    }
}
