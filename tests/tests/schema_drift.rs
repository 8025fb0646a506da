//! The dev stack and the tests create the table and the queues with the functions' own
//! definitions (`store::create_table`, `aws::provision`); `infra/template.yaml` declares them
//! again for AWS. This test keeps the two from drifting: the template's table (attributes, key
//! schema, GSIs and projections, TTL attribute) must be what `DescribeTable` reports for a table
//! made by `store::create_table` on moto, and every queue's `maxReceiveCount` the harness's.

use std::collections::BTreeSet;
use std::path::PathBuf;

use functions::testing::{TestEnv, MAX_RECEIVE_COUNT};

/// The table as both sides describe it.
#[derive(Debug, Default, PartialEq, Eq)]
struct TableShape {
    attributes: BTreeSet<(String, String)>,
    /// Table key elements, then each GSI's, in order.
    keys: Vec<(String, String)>,
    indexes: Vec<String>,
    projections: Vec<String>,
    ttl_attribute: Option<String>,
}

fn template() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../infra/template.yaml");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The template's DynamoDB tables: the single table of the contract and the erasure log, which
/// must stay apart from it (a restore of one never rolls back the other).
const TABLES: [&str; 2] = ["Table", "ErasureLogTable"];

/// The lines of the `AWS::DynamoDB::Table` resource named `name` (up to the next resource).
fn table_block<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    let lines: Vec<&str> = text.lines().collect();
    let is_table = |l: &&str| l.trim() == "Type: AWS::DynamoDB::Table";
    let at = lines
        .iter()
        .position(|l| l.trim_end() == format!("  {name}:"))
        .unwrap_or_else(|| panic!("the template declares {name}"));
    let type_line = at
        + 1
        + lines[at + 1..]
            .iter()
            .position(|l| l.trim().starts_with("Type:"))
            .expect("a Type line");
    assert!(is_table(&lines[type_line]), "{name} is a DynamoDB table");
    let indent = |l: &str| l.len() - l.trim_start().len();
    let resource_indent = indent(lines[at]);
    lines[at + 1..]
        .iter()
        .take_while(|l| l.trim().is_empty() || indent(l) > resource_indent)
        .copied()
        .collect()
}

/// The names of every `AWS::DynamoDB::Table` resource.
fn declared_tables(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut names = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if l.trim() == "Type: AWS::DynamoDB::Table" {
            let header = lines[..i]
                .iter()
                .rev()
                .find(|h| h.len() - h.trim_start().len() == 2 && h.trim_end().ends_with(':'))
                .expect("a resource header");
            names.push(header.trim().trim_end_matches(':').to_owned());
        }
    }
    names
}

/// `key: value` pairs in order, from block or flow style (`- { A: x, B: y }`).
fn pairs(block: &[&str]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in block {
        let line = line.split(" #").next().unwrap_or("");
        let line = line.trim().trim_start_matches('-');
        // Flow mappings (`Projection: { ProjectionType: ALL }`): braces separate pairs too.
        for part in line.split([',', '{', '}']) {
            if let Some((k, v)) = part.split_once(':') {
                out.push((k.trim().to_owned(), v.trim().to_owned()));
            }
        }
    }
    out
}

fn template_shape(text: &str, name: &str) -> TableShape {
    let p = pairs(&table_block(text, name));
    let mut shape = TableShape::default();
    let mut in_ttl = false;
    for (i, (k, v)) in p.iter().enumerate() {
        let next = p.get(i + 1).map(|(k, v)| (k.as_str(), v.as_str()));
        match (k.as_str(), next) {
            ("TimeToLiveSpecification", _) => in_ttl = true,
            ("AttributeName", Some(("AttributeType", t))) => {
                shape.attributes.insert((v.clone(), t.to_owned()));
            }
            ("AttributeName", Some(("KeyType", t))) => shape.keys.push((v.clone(), t.to_owned())),
            ("AttributeName", _) if in_ttl => {
                shape.ttl_attribute = Some(v.clone());
                in_ttl = false;
            }
            ("IndexName", _) => shape.indexes.push(v.clone()),
            ("ProjectionType", _) => shape.projections.push(v.clone()),
            _ => {}
        }
    }
    shape
}

/// What DynamoDB reports for `table`.
async fn described_shape(env: &TestEnv, table: &str) -> TableShape {
    let ddb = &env.clients.dynamodb;
    let described = ddb
        .describe_table()
        .table_name(table)
        .send()
        .await
        .expect("DescribeTable");
    let t = described.table().expect("table");
    let mut actual = TableShape::default();
    for a in t.attribute_definitions() {
        actual.attributes.insert((
            a.attribute_name().to_owned(),
            a.attribute_type().as_str().to_owned(),
        ));
    }
    for k in t.key_schema() {
        actual.keys.push((
            k.attribute_name().to_owned(),
            k.key_type().as_str().to_owned(),
        ));
    }
    for g in t.global_secondary_indexes() {
        actual
            .indexes
            .push(g.index_name().unwrap_or_default().to_owned());
        for k in g.key_schema() {
            actual.keys.push((
                k.attribute_name().to_owned(),
                k.key_type().as_str().to_owned(),
            ));
        }
        actual.projections.push(
            g.projection()
                .and_then(|p| p.projection_type())
                .map(|p| p.as_str().to_owned())
                .unwrap_or_default(),
        );
    }
    let ttl = ddb
        .describe_time_to_live()
        .table_name(table)
        .send()
        .await
        .expect("DescribeTimeToLive");
    actual.ttl_attribute = ttl
        .time_to_live_description()
        .and_then(|d| d.attribute_name())
        .map(str::to_owned);
    actual
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_template_declares_the_tables_the_functions_create() {
    let text = template();
    assert_eq!(
        declared_tables(&text),
        TABLES,
        "the template's DynamoDB tables"
    );
    let declared = template_shape(&text, "Table");
    assert!(
        !declared.keys.is_empty() && !declared.attributes.is_empty(),
        "could not read the table from infra/template.yaml: {declared:?}"
    );

    // store::create_table and store::create_erasure_log_table on moto.
    let env = TestEnv::new().await;
    let actual = described_shape(&env, &env.config.table_name).await;
    let log = env.config.erasure_log_table.clone().expect("erasure log");
    assert_eq!(
        template_shape(&text, "ErasureLogTable"),
        described_shape(&env, &log).await,
        "infra/template.yaml vs store::create_erasure_log_table"
    );
    assert_eq!(
        declared, actual,
        "infra/template.yaml vs store::create_table"
    );
    // And the check sees a drift (mutations of whichever spellings the template uses).
    let mut mutated = 0;
    for (from, to) in [
        ("ProjectionType: ALL", "ProjectionType: KEYS_ONLY"),
        ("AttributeName: ttl", "AttributeName: expires_at"),
        ("AttributeName: gsi1sk", "AttributeName: gsi1x"),
    ] {
        if text.contains(from) {
            assert_ne!(
                template_shape(&text.replace(from, to), "Table"),
                actual,
                "{from} -> {to}"
            );
            mutated += 1;
        }
    }
    assert!(
        mutated >= 2,
        "the drift check could not mutate the template"
    );
}

#[test]
fn every_queue_redrives_after_the_harness_receive_count() {
    let text = template();
    let counts: Vec<u32> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("maxReceiveCount:"))
        .map(|v| v.trim().parse().expect("maxReceiveCount is a number"))
        .collect();
    assert!(
        counts.len() >= 2,
        "mint and notify queues have a redrive policy"
    );
    assert!(
        counts.iter().all(|c| *c == MAX_RECEIVE_COUNT),
        "template {counts:?} vs harness {MAX_RECEIVE_COUNT}"
    );
}

#[test]
fn the_reader_understands_block_and_flow_style() {
    let text = "Resources:\n  T:\n    Type: AWS::DynamoDB::Table\n    Properties:\n      AttributeDefinitions:\n        - AttributeName: pk\n          AttributeType: S\n      KeySchema:\n        - { AttributeName: pk, KeyType: HASH } # partition\n      GlobalSecondaryIndexes:\n        - IndexName: g\n          Projection: { ProjectionType: ALL }\n      TimeToLiveSpecification:\n        AttributeName: ttl\n        Enabled: true\n  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n      AttributeName: nope\n";
    let s = template_shape(text, "T");
    assert_eq!(
        s.attributes,
        BTreeSet::from([("pk".to_owned(), "S".to_owned())])
    );
    assert_eq!(s.keys, vec![("pk".to_owned(), "HASH".to_owned())]);
    assert_eq!(s.ttl_attribute.as_deref(), Some("ttl"));
    assert_eq!(s.indexes, vec!["g".to_owned()]);
    assert_eq!(s.projections, vec!["ALL".to_owned()]);
}
