//! Ops tool: `admin create-event < spec.json` creates an event, its tiers and its ticket key set
//! (envelope-encrypted with `ISSUER_KEY_ID`) in `TABLE_NAME`. Prints the kid and the issuer's
//! public key (public material only). AWS credentials and region come from the environment.

use std::io::Read as _;

use functions::admin::{create_event, EventSpec};
use functions::deps::Deps;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) != Some("create-event") {
        eprintln!("usage: admin create-event < event.json");
        std::process::exit(2);
    }
    let mut text = String::new();
    std::io::stdin().take(1 << 20).read_to_string(&mut text)?;
    let spec: EventSpec = functions::http::parse_json(text.as_bytes())?;
    let deps = Deps::from_env().await?;
    let created = create_event(&deps, &spec).await?;
    println!("{}", serde_json::to_string_pretty(&created)?);
    Ok(())
}
