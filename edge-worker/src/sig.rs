//! The two ways to check ECDSA P-256 / SHA-256 signatures at the edge: the `p256` crate inside
//! the WASM module, or the runtime's WebCrypto (`crypto.subtle.verify`, native code).
//!
//! Both take [`ticket::SignatureCheck`]s, which the ticket crate (tickets) and [`crate::auth`]
//! (staff tokens) produce, so the decision logic is the same whichever backend checks; both
//! refuse a high-S signature where the check says only low S counts (the ticket's).

use std::cell::RefCell;
use std::collections::HashMap;

use js_sys::{Array, Object, Promise, Reflect, Uint8Array};
use ticket::SignatureCheck;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{CryptoKey, SubtleCrypto, WorkerGlobalScope};

/// Which implementation checks signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `crypto.subtle.verify` in the runtime (the default: measured faster, see README).
    WebCrypto,
    /// The `p256` crate compiled into the module.
    P256,
}

impl Backend {
    /// From the `SIG_BACKEND` variable; anything but `p256` means WebCrypto.
    pub fn from_setting(value: Option<&str>) -> Self {
        match value {
            Some("p256") => Self::P256,
            _ => Self::WebCrypto,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::WebCrypto => "webcrypto",
            Self::P256 => "p256",
        }
    }
}

/// Imported WebCrypto keys are kept for the isolate's life, up to this many.
const KEY_CACHE_LIMIT: usize = 512;

thread_local! {
    static KEY_CACHE: RefCell<HashMap<Vec<u8>, CryptoKey>> = RefCell::new(HashMap::new());
}

/// Checks every signature; the result has one entry per check, in order.
pub async fn verify_all(
    backend: Backend,
    checks: &[&SignatureCheck],
) -> Result<Vec<bool>, JsValue> {
    match backend {
        Backend::P256 => Ok(checks.iter().map(|c| c.verify_with_p256()).collect()),
        Backend::WebCrypto => verify_all_webcrypto(checks).await,
    }
}

fn subtle() -> Result<SubtleCrypto, JsValue> {
    let global: WorkerGlobalScope = js_sys::global().unchecked_into();
    Ok(global.crypto()?.subtle())
}

fn algorithm(entries: &[(&str, &str)]) -> Result<Object, JsValue> {
    let object = Object::new();
    for (key, value) in entries {
        Reflect::set(&object, &JsValue::from_str(key), &JsValue::from_str(value))?;
    }
    Ok(object)
}

/// The imported key for an uncompressed SEC1 point, from the cache or imported now.
/// A point that does not import (not on the curve) gives `None`: its signatures fail.
async fn keys_for(
    subtle: &SubtleCrypto,
    checks: &[&SignatureCheck],
) -> Result<Vec<Option<CryptoKey>>, JsValue> {
    let mut keys: Vec<Option<CryptoKey>> = Vec::with_capacity(checks.len());
    let mut pending: Vec<(usize, Promise)> = Vec::new();
    let import_params = algorithm(&[("name", "ECDSA"), ("namedCurve", "P-256")])?;
    let usages = Array::of1(&JsValue::from_str("verify"));
    for (i, check) in checks.iter().enumerate() {
        let cached = KEY_CACHE.with(|c| c.borrow().get(&check.public_key_sec1).cloned());
        if cached.is_none() {
            let data = Uint8Array::from(check.public_key_sec1.as_slice());
            pending.push((
                i,
                subtle.import_key_with_object("raw", &data, &import_params, false, &usages)?,
            ));
        }
        keys.push(cached);
    }
    if pending.is_empty() {
        return Ok(keys);
    }
    // Import every missing key at once; one that fails to import is simply not valid.
    let promises: Array = pending.iter().map(|(_, p)| JsValue::from(p)).collect();
    let settled: Array = JsFuture::from(Promise::all_settled(&promises))
        .await?
        .unchecked_into();
    for ((i, _), outcome) in pending.iter().zip(settled.iter()) {
        let value = Reflect::get(&outcome, &JsValue::from_str("value"))?;
        if let Ok(key) = value.dyn_into::<CryptoKey>() {
            KEY_CACHE.with(|c| {
                let mut cache = c.borrow_mut();
                if cache.len() >= KEY_CACHE_LIMIT {
                    cache.clear();
                }
                cache.insert(checks[*i].public_key_sec1.clone(), key.clone());
            });
            keys[*i] = Some(key);
        }
    }
    Ok(keys)
}

async fn verify_all_webcrypto(checks: &[&SignatureCheck]) -> Result<Vec<bool>, JsValue> {
    let subtle = subtle()?;
    let keys = keys_for(&subtle, checks).await?;
    let params = algorithm(&[("name", "ECDSA"), ("hash", "SHA-256")])?;
    let promises = Array::new();
    for (check, key) in checks.iter().zip(&keys) {
        let promise = match key {
            // WebCrypto accepts (r, n - s) as well as (r, s): a ticket's high-S signature is
            // refused here, before it (`Opened::decide` refuses it again).
            Some(_) if !check.has_acceptable_form() => Promise::resolve(&JsValue::FALSE),
            Some(key) => subtle.verify_with_object_and_u8_array_and_u8_array(
                &params,
                key,
                &check.signature,
                &check.message,
            )?,
            None => Promise::resolve(&JsValue::FALSE),
        };
        promises.push(&promise);
    }
    // A verification that throws (it should not) counts as a failed check.
    let settled: Array = JsFuture::from(Promise::all_settled(&promises))
        .await?
        .unchecked_into();
    Ok(settled
        .iter()
        .map(|outcome| {
            Reflect::get(&outcome, &JsValue::from_str("value"))
                .is_ok_and(|v| v.as_bool() == Some(true))
        })
        .collect())
}
