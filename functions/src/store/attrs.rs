//! AttributeValue helpers.

use std::collections::HashMap;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;

use crate::error::{Error, Result};

pub type Item = HashMap<String, AttributeValue>;

pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub fn n(v: impl std::fmt::Display) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub fn b(v: &[u8]) -> AttributeValue {
    AttributeValue::B(Blob::new(v))
}

pub fn item_key(pk: &str, sk: &str) -> Item {
    let mut m = HashMap::new();
    m.insert("pk".to_owned(), s(pk));
    m.insert("sk".to_owned(), s(sk));
    m
}

fn missing(name: &str) -> Error {
    Error::internal(format!(
        "item attribute `{name}` missing or of the wrong type"
    ))
}

pub fn get_s(item: &Item, name: &str) -> Result<String> {
    get_s_opt(item, name).ok_or_else(|| missing(name))
}

pub fn get_s_opt(item: &Item, name: &str) -> Option<String> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Some(v.clone()),
        _ => None,
    }
}

pub fn get_n<T: std::str::FromStr>(item: &Item, name: &str) -> Result<T> {
    get_n_opt(item, name).ok_or_else(|| missing(name))
}

pub fn get_n_opt<T: std::str::FromStr>(item: &Item, name: &str) -> Option<T> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v.parse().ok(),
        _ => None,
    }
}

pub fn get_b(item: &Item, name: &str) -> Result<Vec<u8>> {
    get_b_opt(item, name).ok_or_else(|| missing(name))
}

pub fn get_b_opt(item: &Item, name: &str) -> Option<Vec<u8>> {
    match item.get(name) {
        Some(AttributeValue::B(v)) => Some(v.as_ref().to_vec()),
        _ => None,
    }
}

pub fn get_bool(item: &Item, name: &str) -> Option<bool> {
    match item.get(name) {
        Some(AttributeValue::Bool(v)) => Some(*v),
        _ => None,
    }
}

pub fn get_ss(item: &Item, name: &str) -> Vec<String> {
    match item.get(name) {
        Some(AttributeValue::L(v)) => v
            .iter()
            .filter_map(|a| match a {
                AttributeValue::S(s) => Some(s.clone()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

pub fn list(values: &[String]) -> AttributeValue {
    AttributeValue::L(values.iter().map(|v| s(v.clone())).collect())
}

/// A JSON-encoded attribute (for small nested records that are not personal data).
pub fn json<T: serde::Serialize>(value: &T) -> Result<AttributeValue> {
    serde_json::to_string(value)
        .map(AttributeValue::S)
        .map_err(Error::internal)
}

pub fn get_json_opt<T: serde::de::DeserializeOwned>(item: &Item, name: &str) -> Result<Option<T>> {
    match get_s_opt(item, name) {
        None => Ok(None),
        Some(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|_| missing(name)),
    }
}
