//! tickets: `GET /v1/orders/{order_id}/tickets`, `POST /v1/tickets/{ticket_id}/device`.

use functions::deps::Deps;
use functions::tickets::{router, TicketsService};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    functions::telemetry::init();
    let deps = Deps::from_env().await?;
    functions::http::serve(router(TicketsService::new(deps))).await
}
