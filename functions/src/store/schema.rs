//! The table of the contract, for tests and local runs (infra/ creates it in AWS).

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;

use crate::aws::describe;
use crate::error::{Error, Result};

/// The table's key schema, attribute definitions and `gsi1` (shared by CreateTable and the
/// restore drill's ImportTable).
pub(crate) fn shape() -> Result<(
    Vec<KeySchemaElement>,
    Vec<AttributeDefinition>,
    GlobalSecondaryIndex,
)> {
    let key = |n: &str, t: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
            .map_err(Error::internal)
    };
    let attr = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(Error::internal)
    };
    let gsi = GlobalSecondaryIndex::builder()
        .index_name("gsi1")
        .key_schema(key("gsi1pk", KeyType::Hash)?)
        .key_schema(key("gsi1sk", KeyType::Range)?)
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::All)
                .build(),
        )
        .build()
        .map_err(Error::internal)?;
    Ok((
        vec![key("pk", KeyType::Hash)?, key("sk", KeyType::Range)?],
        vec![attr("pk")?, attr("sk")?, attr("gsi1pk")?, attr("gsi1sk")?],
        gsi,
    ))
}

/// Creates the single table (pk/sk, gsi1 on gsi1pk/gsi1sk with projection ALL,
/// PAY_PER_REQUEST, TTL on `ttl`).
pub async fn create_table(client: &Client, name: &str) -> Result<()> {
    let (keys, attrs, gsi) = shape()?;
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_key_schema(Some(keys))
        .set_attribute_definitions(Some(attrs))
        .global_secondary_indexes(gsi)
        .send()
        .await
        .map_err(|e| Error::unavailable(format!("dynamodb CreateTable: {}", describe(&e))))?;
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name("ttl")
                .enabled(true)
                .build()
                .map_err(Error::internal)?,
        )
        .send()
        .await
        .map_err(|e| Error::unavailable(format!("dynamodb UpdateTimeToLive: {}", describe(&e))))?;
    Ok(())
}
