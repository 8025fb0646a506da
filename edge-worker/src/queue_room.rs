//! The waiting room's Durable Object: one per event (named by event id), SQLite storage. Every
//! request first accrues credit and moves the counter ([`crate::line`]), then reads or takes a
//! place, all in one synchronous step (no await between reading and writing).

use serde::{Deserialize, Serialize};
use worker::{
    durable_object, DurableObject, Env, Method, Request, Response, Result, SqlStorage, State,
};

use crate::api::Problem;
use crate::door::int;
use crate::http::{json, problem};
use crate::line::{self, Line, Waiting};

/// What the place holder is told.
#[derive(Debug, Serialize, Deserialize)]
pub struct PlaceView {
    pub state: String,
    pub position: u64,
    pub ahead: u64,
    pub wait_secs: u64,
    pub joined_ms: u64,
    #[serde(default)]
    pub admitted_ms: u64,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS line (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    rate INTEGER NOT NULL, abandon_ms INTEGER NOT NULL, credit_milli INTEGER NOT NULL,
    last_ms INTEGER NOT NULL, served INTEGER NOT NULL, arrivals INTEGER NOT NULL,
    admitted INTEGER NOT NULL, abandoned INTEGER NOT NULL, max_wait_ms INTEGER NOT NULL,
    limited INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS places (
    position INTEGER PRIMARY KEY,
    joined_ms INTEGER NOT NULL, seen_ms INTEGER NOT NULL,
    state INTEGER NOT NULL, admitted_ms INTEGER NOT NULL,
    join_key TEXT UNIQUE
);
CREATE TABLE IF NOT EXISTS joins (client TEXT NOT NULL, at_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS joins_by_client ON joins (client, at_ms);
";

const PLACE_BY_KEY: &str =
    "SELECT position, joined_ms, seen_ms, state, admitted_ms FROM places WHERE join_key = ?";
const WAITING: i64 = 0;
const ADMITTED: i64 = 1;

/// One event's line.
#[durable_object]
pub struct WaitingRoom {
    sql: SqlStorage,
}

impl std::fmt::Debug for WaitingRoom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WaitingRoom")
    }
}

#[derive(Deserialize)]
struct LineRow {
    rate: i64,
    abandon_ms: i64,
    credit_milli: i64,
    last_ms: i64,
    served: i64,
    arrivals: i64,
    admitted: i64,
    abandoned: i64,
    max_wait_ms: i64,
    limited: i64,
}

fn u(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

impl LineRow {
    fn line(&self) -> Line {
        Line {
            rate: u(self.rate),
            abandon_ms: u(self.abandon_ms),
            credit_milli: u(self.credit_milli),
            last_ms: u(self.last_ms),
            served: u(self.served),
        }
    }
}

#[derive(Deserialize)]
struct PlaceRow {
    position: i64,
    joined_ms: i64,
    seen_ms: i64,
    state: i64,
    admitted_ms: i64,
}

#[derive(Deserialize)]
struct Count {
    n: i64,
}

#[derive(Deserialize)]
struct JoinIn {
    now_ms: u64,
    limits: Vec<(String, u64)>,
    join_key: Option<String>,
}

#[derive(Deserialize)]
struct StatusIn {
    now_ms: u64,
    position: u64,
    joined_ms: u64,
}

#[derive(Deserialize)]
struct ConfigIn {
    rate: u64,
    abandon_ms: u64,
    now_ms: u64,
}

impl WaitingRoom {
    fn load(&self) -> Result<Option<LineRow>> {
        let rows: Vec<LineRow> = self
            .sql
            .exec(
                "SELECT rate, abandon_ms, credit_milli, last_ms, served, arrivals, admitted, abandoned, max_wait_ms, limited FROM line WHERE id = 1",
                None,
            )?
            .to_array()?;
        Ok(rows.into_iter().next())
    }

    /// Accrues credit and moves the counter, in one synchronous step (no await): every request
    /// sees the line as of its own time.
    fn advance(&self, now_ms: u64) -> Result<Option<LineRow>> {
        let Some(row) = self.load()? else {
            return Ok(None);
        };
        let before = row.line().accrue(now_ms);
        let waiting: Vec<Waiting> = if before.credit_milli >= 1_000 {
            let rows: Vec<PlaceRow> = self
                .sql
                .exec(
                    "SELECT position, joined_ms, seen_ms, state, admitted_ms FROM places WHERE position > ? ORDER BY position LIMIT ?",
                    vec![int(before.served), int(before.places_to_examine() as u64)],
                )?
                .to_array()?;
            rows.iter()
                .map(|r| Waiting {
                    position: u(r.position),
                    joined_ms: u(r.joined_ms),
                    seen_ms: u(r.seen_ms),
                })
                .collect()
        } else {
            Vec::new()
        };
        let (after, moved) = before.advance(&waiting, now_ms);
        if after.served > before.served {
            // The same rule as `Line::advance`, for the same places.
            self.sql.exec(
                "UPDATE places SET state = CASE WHEN ? - seen_ms > ? THEN 2 ELSE 1 END, admitted_ms = ? WHERE position > ? AND position <= ?",
                vec![int(now_ms), int(after.abandon_ms), int(now_ms), int(before.served), int(after.served)],
            )?;
        }
        self.sql.exec(
            "UPDATE line SET credit_milli = ?, last_ms = ?, served = ?, admitted = admitted + ?, abandoned = abandoned + ?, max_wait_ms = MAX(max_wait_ms, ?) WHERE id = 1",
            vec![int(after.credit_milli), int(after.last_ms), int(after.served), int(moved.admitted), int(moved.abandoned), int(moved.max_wait_ms)],
        )?;
        self.load()
    }

    fn view(row: &LineRow, place: &PlaceRow) -> PlaceView {
        let estimate = line::estimate(&row.line(), u(place.position));
        PlaceView {
            state: match place.state {
                WAITING => "waiting",
                ADMITTED => "admitted",
                _ => "abandoned",
            }
            .into(),
            position: u(place.position),
            ahead: estimate.ahead,
            wait_secs: estimate.wait_secs,
            joined_ms: u(place.joined_ms),
            admitted_ms: u(place.admitted_ms),
        }
    }

    fn place(&self, sql: &str, arg: worker::SqlStorageValue) -> Result<Option<PlaceRow>> {
        let rows: Vec<PlaceRow> = self.sql.exec(sql, vec![arg])?.to_array()?;
        Ok(rows.into_iter().next())
    }

    fn join(&self, j: &JoinIn) -> Result<Response> {
        let Some(row) = self.advance(j.now_ms)? else {
            return json(404, &serde_json::json!({"open": false}));
        };
        if let Some(key) = &j.join_key {
            if let Some(place) = self.place(PLACE_BY_KEY, key.clone().into())? {
                return json(200, &Self::view(&row, &place));
            }
        }
        self.sql.exec(
            "DELETE FROM joins WHERE at_ms < ?",
            vec![int(j.now_ms.saturating_sub(60_000))],
        )?;
        for (client, limit) in &j.limits {
            let counted: Vec<Count> = self
                .sql
                .exec(
                    "SELECT COUNT(*) AS n FROM joins WHERE client = ?",
                    vec![client.clone().into()],
                )?
                .to_array()?;
            let n = counted.first().map_or(0, |c| u(c.n));
            if !line::join_allowed(n, *limit) {
                self.sql
                    .exec("UPDATE line SET limited = limited + 1 WHERE id = 1", None)?;
                return json(429, &serde_json::json!({"limited": true}));
            }
        }
        // Arrival order: the next rowid, taken by this one insert.
        let inserted: Vec<PlaceRow> = self
            .sql
            .exec(
                "INSERT INTO places (joined_ms, seen_ms, state, admitted_ms, join_key) VALUES (?, ?, 0, 0, ?) RETURNING position, joined_ms, seen_ms, state, admitted_ms",
                vec![int(j.now_ms), int(j.now_ms), j.join_key.clone().map_or(worker::SqlStorageValue::Null, Into::into)],
            )?
            .to_array()?;
        for (client, _) in &j.limits {
            self.sql.exec(
                "INSERT INTO joins (client, at_ms) VALUES (?, ?)",
                vec![client.clone().into(), int(j.now_ms)],
            )?;
        }
        self.sql
            .exec("UPDATE line SET arrivals = arrivals + 1 WHERE id = 1", None)?;
        let Some(place) = inserted.into_iter().next() else {
            return Err(worker::Error::RustError("insert returned nothing".into()));
        };
        json(200, &Self::view(&row, &place))
    }

    fn status(&self, s: &StatusIn) -> Result<Response> {
        let Some(row) = self.advance(s.now_ms)? else {
            return json(404, &serde_json::json!({"open": false}));
        };
        let place = self
            .place(
                "SELECT position, joined_ms, seen_ms, state, admitted_ms FROM places WHERE position = ?",
                int(s.position),
            )?
            .filter(|p| u(p.joined_ms) == s.joined_ms);
        let Some(place) = place else {
            return json(404, &serde_json::json!({"place": false}));
        };
        if place.state == WAITING {
            self.sql.exec(
                "UPDATE places SET seen_ms = MAX(seen_ms, ?) WHERE position = ?",
                vec![int(s.now_ms), int(s.position)],
            )?;
        }
        json(200, &Self::view(&row, &place))
    }

    fn stats(&self) -> Result<Response> {
        let Some(row) = self.load()? else {
            return json(404, &serde_json::json!({"open": false}));
        };
        json(
            200,
            &serde_json::json!({
                "rate_per_sec": row.rate, "abandon_after_secs": row.abandon_ms / 1000,
                "arrivals": row.arrivals, "served_through": row.served, "admitted": row.admitted,
                "abandoned": row.abandoned, "max_wait_ms": row.max_wait_ms,
                "joins_limited": row.limited,
                "waiting": (row.arrivals - row.served).max(0),
            }),
        )
    }

    fn configure(&self, c: &ConfigIn) -> Result<Response> {
        self.sql.exec(
            "INSERT OR IGNORE INTO line (id, rate, abandon_ms, credit_milli, last_ms, served, arrivals, admitted, abandoned, max_wait_ms, limited) VALUES (1, ?, ?, 0, ?, 0, 0, 0, 0, 0, 0)",
            vec![int(c.rate), int(c.abandon_ms), int(c.now_ms)],
        )?;
        // Credit accrued at the old rate is kept; the new rate counts from now.
        self.advance(c.now_ms)?;
        self.sql.exec(
            "UPDATE line SET rate = ?, abandon_ms = ? WHERE id = 1",
            vec![int(c.rate), int(c.abandon_ms)],
        )?;
        self.stats()
    }
}

impl DurableObject for WaitingRoom {
    fn new(state: State, _env: Env) -> Self {
        let sql = state.storage().sql();
        if let Err(e) = sql.exec(SCHEMA, None) {
            worker::console_error!("waiting room schema: {e}");
        }
        Self { sql }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        // Each branch reads its body first, then runs synchronous SQL with no await.
        match (req.method(), req.path().as_str()) {
            (Method::Post, "/join") => {
                let j: JoinIn = req.json().await?;
                self.join(&j)
            }
            (Method::Post, "/status") => {
                let s: StatusIn = req.json().await?;
                self.status(&s)
            }
            (Method::Post, "/config") => {
                let c: ConfigIn = req.json().await?;
                self.configure(&c)
            }
            (Method::Get, "/stats") => self.stats(),
            _ => problem(&Problem::new(
                404,
                "not_found",
                "Not found",
                "no such waiting room route",
            )),
        }
    }
}
