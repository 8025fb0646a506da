//! Sign-in leaves no password, setup code or PHC string in a log line, even at `trace` (the
//! production filter, `functions::telemetry::filter`), and no password or code in any item;
//! the PHC is in its own item only. Its own binary: the capturing subscriber is per thread.

#![allow(clippy::unwrap_used)]

#[path = "common/staff_signin.rs"]
mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use common::{member_with_password, sign_in, world, GOOD};
use functions::testing::contains_bytes;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// current_thread: every task runs on this thread, under the capturing subscriber.
#[tokio::test]
async fn no_password_code_or_hash_in_logs_or_other_items() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_env_filter(functions::telemetry::filter("trace"))
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let w = world().await;
    let code = member_with_password(&w, "door-5", "staff", GOOD).await;
    assert_eq!(sign_in(&w, "door-5", GOOD).await.0, StatusCode::OK);
    let typo = "plum kettle violet 24";
    assert_eq!(
        sign_in(&w, "door-5", typo).await.0,
        StatusCode::UNAUTHORIZED
    );
    // A password typed into the username field.
    assert_eq!(
        sign_in(&w, "plumkettleviolet42", GOOD).await.0,
        StatusCode::UNAUTHORIZED
    );

    let items = w.env.raw_items().await;
    let phc_items: Vec<&Vec<u8>> = items
        .iter()
        .filter(|i| contains_bytes(i, "$argon2id$"))
        .collect();
    assert_eq!(phc_items.len(), 1, "one PHC, in its own item");
    assert!(contains_bytes(phc_items[0], "type=staff_password"));
    let phc_text = String::from_utf8_lossy(phc_items[0]).to_string();
    let phc = phc_text[phc_text.find("$argon2id$").unwrap()..]
        .split('\u{0}')
        .next()
        .unwrap()
        .to_owned();
    assert!(phc.len() > 60, "{phc}");
    for item in &items {
        for needle in [GOOD, typo, code.as_str()] {
            assert!(!contains_bytes(item, needle), "{needle} stored in clear");
        }
    }
    tracing::trace!("the filter lets trace through");
    let captured = logs.0.lock().unwrap().clone();
    assert!(contains_bytes(&captured, "the filter lets trace through"));
    assert!(
        contains_bytes(&captured, "staff sign-in refused"),
        "the flow was logged"
    );
    assert!(contains_bytes(&captured, "staff password set"));
    for needle in [GOOD, typo, code.as_str(), phc.as_str(), "$argon2id$"] {
        assert!(!contains_bytes(&captured, needle), "{needle} in a log line");
    }
}
