//! The simulator's decisions, without I/O: which items a request writes, the write ceilings
//! (token buckets per item and per partition key), the transactions in flight, and the seeded
//! draws of latency and faults. Time is passed in (seconds since the simulator started).

use std::collections::{HashMap, HashSet};

use serde_json::Value;

/// One item a write request touches.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ItemRef {
    /// `table` + partition key value (canonical JSON).
    pub partition: String,
    /// `partition` + sort key value.
    pub item: String,
    /// Write units this request consumes on the item (0 for a `ConditionCheck`, which reads).
    pub units: u32,
}

/// What a request is, as far as the simulator cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `TransactWriteItems`: its items in request order.
    Transaction(Vec<ItemRef>),
    /// `PutItem`, `UpdateItem`, `DeleteItem`, `BatchWriteItem`.
    Write(Vec<ItemRef>),
    /// Anything else (reads, table management): passed through.
    Other,
}

/// Write units of an item of `bytes` bytes: one per KB started (DynamoDB's write capacity unit),
/// doubled in a transaction (documented: a transactional write costs two units per item).
fn units(bytes: usize, transactional: bool) -> u32 {
    let base = u32::try_from(bytes.div_ceil(1024).max(1)).unwrap_or(u32::MAX);
    if transactional {
        base.saturating_mul(2)
    } else {
        base
    }
}

fn item_ref(table: &str, key: &Value, key_attrs: &KeyAttrs, units: u32) -> Option<ItemRef> {
    let pk = key.get(&key_attrs.partition)?;
    let partition = format!("{table}\u{0}{pk}");
    let item = match key_attrs.sort.as_deref().and_then(|s| key.get(s)) {
        Some(sk) => format!("{partition}\u{0}{sk}"),
        None => partition.clone(),
    };
    Some(ItemRef {
        partition,
        item,
        units,
    })
}

/// The key attribute names of the tables behind the simulator.
#[derive(Debug, Clone)]
pub struct KeyAttrs {
    pub partition: String,
    pub sort: Option<String>,
}

impl Default for KeyAttrs {
    fn default() -> Self {
        Self {
            partition: "pk".into(),
            sort: Some("sk".into()),
        }
    }
}

/// Classifies a request from its `X-Amz-Target` operation and JSON body. A body that does not
/// parse is `Other` (moto answers it).
pub fn classify(operation: &str, body: &[u8], key_attrs: &KeyAttrs) -> Request {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return Request::Other;
    };
    let table = |o: &Value| {
        o.get("TableName")
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let size = |o: &Value| serde_json::to_vec(o).map_or(0, |b| b.len());
    match operation {
        "PutItem" | "UpdateItem" | "DeleteItem" => {
            let key = v.get("Item").or_else(|| v.get("Key"));
            let r = table(&v)
                .zip(key)
                .and_then(|(t, k)| item_ref(&t, k, key_attrs, units(size(k), false)));
            Request::Write(r.into_iter().collect())
        }
        "BatchWriteItem" => {
            let mut refs = Vec::new();
            if let Some(tables) = v.get("RequestItems").and_then(Value::as_object) {
                for (t, reqs) in tables {
                    for r in reqs.as_array().into_iter().flatten() {
                        let key = r
                            .pointer("/PutRequest/Item")
                            .or_else(|| r.pointer("/DeleteRequest/Key"));
                        if let Some(k) = key {
                            refs.extend(item_ref(t, k, key_attrs, units(size(k), false)));
                        }
                    }
                }
            }
            Request::Write(refs)
        }
        "TransactWriteItems" => {
            let mut refs = Vec::new();
            for ti in v
                .get("TransactItems")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let Some((kind, op)) = ti.as_object().and_then(|o| o.iter().next()) else {
                    continue;
                };
                let key = op.get("Item").or_else(|| op.get("Key"));
                let u = if kind == "ConditionCheck" {
                    0
                } else {
                    units(key.map_or(0, size), true)
                };
                if let Some(r) = table(op)
                    .zip(key)
                    .and_then(|(t, k)| item_ref(&t, k, key_attrs, u))
                {
                    refs.push(r);
                }
            }
            Request::Transaction(refs)
        }
        _ => Request::Other,
    }
}

/// A token bucket: `rate` units a second, at most `burst` banked.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: f64,
}

/// Write ceilings in units per second (`None`: unlimited). `burst_secs` is how many seconds of
/// the rate a quiet item banks (DynamoDB keeps up to 300 s of unused capacity for a table, but a
/// partition's hard ceiling is per second; a short burst keeps the measured ceiling close).
#[derive(Debug, Clone, Copy)]
pub struct Ceilings {
    pub item_units_per_sec: Option<f64>,
    pub partition_units_per_sec: Option<f64>,
    pub burst_secs: f64,
}

/// Which ceiling refused a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Item(usize),
    Partition(usize),
}

/// The buckets of every item and partition written so far.
#[derive(Debug, Default)]
pub struct Throughput {
    items: HashMap<String, Bucket>,
    partitions: HashMap<String, Bucket>,
}

fn level(b: Option<&Bucket>, rate: f64, burst: f64, now: f64) -> f64 {
    match b {
        None => burst,
        Some(b) => (b.tokens + (now - b.at) * rate).min(burst),
    }
}

impl Throughput {
    /// Takes the units of every item of the request, or nothing if any item or partition lacks
    /// them (the index of the first refused item). A full bucket always admits one request,
    /// however many units it needs on one key (DynamoDB's ceilings are rates, not request
    /// sizes).
    pub fn take(&mut self, refs: &[ItemRef], c: &Ceilings, now: f64) -> Result<(), Refusal> {
        let mut need_items: HashMap<&str, f64> = HashMap::new();
        let mut need_parts: HashMap<&str, f64> = HashMap::new();
        for r in refs {
            *need_items.entry(&r.item).or_default() += f64::from(r.units);
            *need_parts.entry(&r.partition).or_default() += f64::from(r.units);
        }
        let short = |map: &HashMap<String, Bucket>, rate: Option<f64>, key: &str, need: f64| {
            rate.is_some_and(|rate| {
                let burst = (rate * c.burst_secs).max(need);
                need > level(map.get(key), rate, burst, now) + 1e-9
            })
        };
        for (i, r) in refs.iter().enumerate() {
            if short(
                &self.items,
                c.item_units_per_sec,
                &r.item,
                need_items[r.item.as_str()],
            ) {
                return Err(Refusal::Item(i));
            }
            if short(
                &self.partitions,
                c.partition_units_per_sec,
                &r.partition,
                need_parts[r.partition.as_str()],
            ) {
                return Err(Refusal::Partition(i));
            }
        }
        for (map, rate, needs) in [
            (&mut self.items, c.item_units_per_sec, need_items),
            (&mut self.partitions, c.partition_units_per_sec, need_parts),
        ] {
            let Some(rate) = rate else { continue };
            for (k, need) in needs {
                let burst = (rate * c.burst_secs).max(need);
                let l = level(map.get(k), rate, burst, now);
                map.insert(
                    k.to_owned(),
                    Bucket {
                        tokens: l - need,
                        at: now,
                    },
                );
            }
        }
        Ok(())
    }
}

/// The items held by requests in flight (transactions for their whole hold, single writes
/// while they run).
#[derive(Debug, Default)]
pub struct InFlight {
    held: HashSet<String>,
}

impl InFlight {
    /// The indexes of `refs` already held by another request (empty: none; then all are now
    /// held by this one).
    pub fn acquire(&mut self, refs: &[ItemRef]) -> Vec<usize> {
        let clash: Vec<usize> = refs
            .iter()
            .enumerate()
            .filter(|(_, r)| self.held.contains(&r.item))
            .map(|(i, _)| i)
            .collect();
        if clash.is_empty() {
            for r in refs {
                self.held.insert(r.item.clone());
            }
        }
        clash
    }

    /// True if a transaction in flight holds one of `refs`.
    pub fn holds_any(&self, refs: &[ItemRef]) -> bool {
        refs.iter().any(|r| self.held.contains(&r.item))
    }

    pub fn release(&mut self, refs: &[ItemRef]) {
        for r in refs {
            self.held.remove(&r.item);
        }
    }
}

/// SplitMix64: small, seedable, good enough to draw faults.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let x = (self.next_u64() >> 11) as f64;
        x / 9_007_199_254_740_992.0 // 2^53
    }
}

/// Probabilities (0..=1) of each injected fault per request.
#[derive(Debug, Clone, Copy, Default)]
pub struct FaultRates {
    /// `InternalServerError` (HTTP 500) before the request reaches the table.
    pub internal_error: f64,
    /// `ThrottlingException` before the request reaches the table.
    pub throttling: f64,
    /// The connection is closed before the request reaches the table.
    pub drop_before: f64,
    /// The request commits, then the connection is closed before its answer.
    pub drop_after: f64,
}

/// What happens to one request, drawn up front.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Draw {
    /// Added latency, milliseconds.
    pub latency_ms: u64,
    pub fault: Option<Fault>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    InternalError,
    Throttling,
    DropBefore,
    DropAfter,
}

/// Draws latency (uniform in `latency_ms`) and at most one fault, always consuming exactly two
/// numbers, so the n-th request of a run gets the same draw whatever the earlier ones got.
pub fn draw(rng: &mut Rng, latency_ms: (u64, u64), rates: &FaultRates) -> Draw {
    let (lo, hi) = (
        latency_ms.0.min(latency_ms.1),
        latency_ms.0.max(latency_ms.1),
    );
    let latency_ms = lo + rng.next_u64() % (hi - lo + 1);
    let x = rng.unit();
    let mut edge = 0.0;
    let mut fault = None;
    for (p, f) in [
        (rates.internal_error, Fault::InternalError),
        (rates.throttling, Fault::Throttling),
        (rates.drop_before, Fault::DropBefore),
        (rates.drop_after, Fault::DropAfter),
    ] {
        edge += p;
        if fault.is_none() && x < edge {
            fault = Some(f);
        }
    }
    Draw { latency_ms, fault }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(pk: &str, sk: &str) -> Value {
        serde_json::json!({"pk": {"S": pk}, "sk": {"S": sk}})
    }

    #[test]
    fn a_transaction_names_its_items_and_a_condition_check_costs_no_write() {
        let body = serde_json::json!({"TransactItems": [
            {"Update": {"TableName": "t", "Key": key("A", "1")}},
            {"ConditionCheck": {"TableName": "t", "Key": key("A", "2")}},
            {"Put": {"TableName": "t", "Item": {"pk": {"S": "B"}, "sk": {"S": "1"}, "x": {"N": "1"}}}}
        ]});
        let Request::Transaction(refs) = classify(
            "TransactWriteItems",
            body.to_string().as_bytes(),
            &KeyAttrs::default(),
        ) else {
            panic!("not a transaction");
        };
        assert_eq!(refs.len(), 3);
        assert_eq!(refs[0].partition, refs[1].partition);
        assert_ne!(refs[0].item, refs[1].item);
        assert_eq!((refs[0].units, refs[1].units, refs[2].units), (2, 0, 2));
    }

    #[test]
    fn an_item_bucket_refuses_past_its_rate_and_refills_with_time() {
        let c = Ceilings {
            item_units_per_sec: Some(10.0),
            partition_units_per_sec: None,
            burst_secs: 0.2,
        };
        let r = vec![ItemRef {
            partition: "p".into(),
            item: "i".into(),
            units: 1,
        }];
        let mut t = Throughput::default();
        assert!(t.take(&r, &c, 0.0).is_ok());
        assert!(t.take(&r, &c, 0.0).is_ok());
        assert_eq!(t.take(&r, &c, 0.0), Err(Refusal::Item(0)));
        assert!(t.take(&r, &c, 0.1).is_ok());
    }

    #[test]
    fn the_same_seed_draws_the_same_faults() {
        let rates = FaultRates {
            internal_error: 0.2,
            throttling: 0.2,
            drop_before: 0.1,
            drop_after: 0.1,
        };
        let run = |seed| {
            let mut rng = Rng::new(seed);
            (0..50)
                .map(|_| draw(&mut rng, (0, 9), &rates))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        assert!(run(7).iter().any(|d| d.fault.is_none()));
        assert!(run(7).iter().any(|d| d.fault == Some(Fault::Throttling)));
    }

    #[test]
    fn overlapping_requests_clash_on_the_shared_item_only() {
        let r = |i: &str| ItemRef {
            partition: "p".into(),
            item: i.into(),
            units: 2,
        };
        let mut f = InFlight::default();
        assert!(f.acquire(&[r("a"), r("b")]).is_empty());
        assert_eq!(f.acquire(&[r("c"), r("b")]), vec![1]);
        assert!(f.acquire(&[r("c")]).is_empty());
        f.release(&[r("a"), r("b")]);
        assert!(f.acquire(&[r("b")]).is_empty());
    }
}
