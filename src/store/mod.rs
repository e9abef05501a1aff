//! The embedded database, the only owner of disk state: endpoints, their hourly counts,
//! caller edges, ignored and overflow counts, in SQLite (rusqlite, bundled; nothing to
//! install). Owns rusqlite.
//!
//! # Durability
//!
//! Files are opened in WAL mode with `synchronous=NORMAL`: once [`Store::apply`] returns,
//! its transaction is in the write-ahead log, and survives the process being killed
//! (`kill -9`, panic, OOM kill). A power loss or operating-system crash can lose the last
//! few commits (the WAL is not fsynced per commit) but never corrupts the database.
//!
//! # Schema
//!
//! `PRAGMA application_id` marks the file as shadowscan's; `PRAGMA user_version` counts the
//! migrations applied (see `schema.rs`). Opening runs the missing ones in order; a file from
//! a newer shadowscan, or a file that is not ours, is refused with a [`StoreError`] naming
//! the path and what to do, and is left untouched.
//!
//! The digests of the newest stored export requests (`export_digests`, a bounded window,
//! see [`RecentExports`]) are written in the same transaction as the counts they stand for,
//! so an export is recognised as already stored exactly when it is.
//!
//! Counts are kept per endpoint per hour (`endpoint_hours`), so [`Query::since`] has hour
//! granularity: a query includes the whole hour bucket containing `since`.

mod exports;
mod schema;

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use crate::inventory::{hour_of, Delta, Edge, EndpointDelta};
use crate::model::{
    AuthEvidence, EndpointStats, Method, PathTemplate, StatusCounts, TemplateSource,
};

pub use exports::{ExportDigest, RecentExports, Seen};
pub use schema::SCHEMA_VERSION;

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Why the store failed. Every variant names the database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: not a shadowscan database ({detail}); pass --db with a shadowscan database or a path to a new file")]
    NotShadowscan { path: String, detail: String },
    #[error("{path}: schema version {found} was written by a newer shadowscan (this one supports up to {supported}); upgrade shadowscan or use another --db")]
    NewerSchema {
        path: String,
        found: i64,
        supported: i64,
    },
    #[error("{path}: no such database; run `shadowscan serve` or `shadowscan ingest` with this --db first, or check the path")]
    Missing { path: String },
    #[error("{path}: cannot open database: {source}")]
    Open {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("{path}: migrating the schema to version {version} failed: {source}")]
    Migration {
        path: String,
        version: i64,
        #[source]
        source: rusqlite::Error,
    },
    #[error("{path}: {op} failed: {source}")]
    Sqlite {
        path: String,
        op: &'static str,
        #[source]
        source: rusqlite::Error,
    },
}

/// Which part of the inventory to read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// Only this service (for edges: as callee or caller).
    pub service: Option<String>,
    /// Unix seconds; from the start of the hour containing it.
    pub since: Option<i64>,
    /// Unix seconds, exclusive; hour buckets starting before it.
    pub until: Option<i64>,
}

/// One service with totals over a window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceSummary {
    pub name: String,
    pub endpoints: u64,
    pub requests: u64,
    pub first_seen: i64,
    pub last_seen: i64,
}

/// Observations refused by the per-service endpoint cap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OverflowStats {
    pub service: String,
    pub method: Method,
    pub requests: u64,
}

/// Totals over the whole database.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StoreStats {
    pub schema_version: i64,
    pub endpoints: u64,
    pub services: u64,
    pub requests: u64,
    pub spans: u64,
    pub unmatched: u64,
    pub not_http: u64,
    pub incomplete: u64,
    pub overflow: u64,
    pub edges: u64,
}

/// The inventory database. One writer (the pipeline); any number of readers may open the
/// same file from other processes.
pub struct Store {
    conn: Connection,
    path: String,
    known: KnownRows,
}

/// What this connection last saw of endpoint rows, so a commit can skip an endpoint's
/// upsert (with its RETURNING and JSON round trip) when the delta changes nothing in the
/// row: most deltas of a busy endpoint only add counts, which live in `endpoint_hours`.
/// Rows only grow (`MIN`/`MAX`/`OR`, lists that fill up and stay full), and rows are
/// never deleted, so what was seen stays true of the database even when another process
/// writes to it. Bounded: when full it starts over.
#[derive(Default)]
struct KnownRows {
    map: HashMap<EndpointKey, KnownRow, foldhash::fast::RandomState>,
    /// Hashes the texts of [`KnownList::Holds`].
    texts: foldhash::fast::RandomState,
}

type EndpointKey = (Arc<str>, Method, PathTemplate);

#[derive(Debug, Clone, Copy, PartialEq)]
struct KnownRow {
    id: i64,
    first_seen: i64,
    last_seen: i64,
    evidence: u8,
    route: bool,
    examples: KnownList,
    callers: KnownList,
    user_agents: KnownList,
}

/// A stored list (examples, callers) as far as skipping goes: full, so nothing can be
/// added; or, when it holds a few items, their 64-bit hashes, so an item already there is
/// recognised (an endpoint with one path, or two client addresses, never fills its list);
/// or, longer and not full, unknown (every new item takes the full upsert). Inline, so a
/// known row costs no allocation of its own.
#[derive(Debug, Clone, Copy, PartialEq)]
enum KnownList {
    Full,
    Holds(u8, [u64; KnownList::INLINE]),
    Unknown,
}

impl KnownList {
    const INLINE: usize = 4;
}

impl KnownRows {
    const MAX: usize = 4096;

    /// The row's id when `e` would change nothing in it but its hourly counts.
    fn unchanged_by(&self, e: &EndpointDelta) -> Option<i64> {
        let k = self
            .map
            .get(&(e.service.clone(), e.method, e.template.clone()))?;
        let unchanged = known_time(e.first_seen).is_none_or(|t| t >= k.first_seen)
            && known_time(e.last_seen).is_none_or(|t| t <= k.last_seen)
            && e.evidence.bits() & !k.evidence == 0
            && (k.route || e.source != TemplateSource::Route)
            && self.covers(&k.examples, &e.examples)
            && self.covers(&k.callers, &e.callers)
            && self.covers(&k.user_agents, &e.user_agents);
        unchanged.then_some(k.id)
    }

    fn covers(&self, list: &KnownList, items: &[String]) -> bool {
        match list {
            KnownList::Full => true,
            KnownList::Holds(n, h) => {
                let h = &h[..*n as usize];
                items
                    .iter()
                    .all(|i| h.contains(&self.texts.hash_one(i.as_str())))
            }
            KnownList::Unknown => items.is_empty(),
        }
    }

    fn list(&self, items: &[String], max: usize) -> KnownList {
        if items.len() >= max {
            return KnownList::Full;
        }
        if items.len() > KnownList::INLINE {
            return KnownList::Unknown;
        }
        let mut h = [0; KnownList::INLINE];
        for (slot, i) in h.iter_mut().zip(items) {
            *slot = self.texts.hash_one(i.as_str());
        }
        KnownList::Holds(items.len() as u8, h)
    }

    fn id(&self, service: &Arc<str>, method: Method, template: &PathTemplate) -> Option<i64> {
        self.map
            .get(&(service.clone(), method, template.clone()))
            .map(|k| k.id)
    }

    fn learn(&mut self, rows: Vec<(EndpointKey, KnownRow)>) {
        let new = rows
            .iter()
            .filter(|(k, _)| !self.map.contains_key(k))
            .count();
        if self.map.len() + new > Self::MAX {
            self.map.clear();
        }
        self.map.extend(rows.into_iter().take(Self::MAX));
    }
}

/// Stand-in for an unknown time in corrections (see [`crate::inventory::EndpointDelta`]).
fn known_time(t: i64) -> Option<i64> {
    (t != i64::MAX && t != i64::MIN).then_some(t)
}

fn u(v: i64) -> u64 {
    v.max(0) as u64
}

fn source_str(s: TemplateSource) -> &'static str {
    s.as_str()
}

fn parse_source(s: &str) -> TemplateSource {
    if s == "route" {
        TemplateSource::Route
    } else {
        TemplateSource::Inferred
    }
}

fn parse_list(s: &str) -> Vec<String> {
    serde_json::from_str(s).unwrap_or_default()
}

/// A stored JSON list with `new` items added up to `max`, and its new JSON when it grew.
fn merge_list(stored: &str, new: &[String], max: usize) -> (Vec<String>, Option<String>) {
    let mut list = parse_list(stored);
    let before = list.len();
    for item in new {
        if list.len() >= max {
            break;
        }
        if !list.contains(item) {
            list.push(item.clone());
        }
    }
    let changed = (list.len() != before).then(|| json_list(&list));
    (list, changed)
}

fn json_list(items: &[String]) -> String {
    if items.is_empty() {
        return "[]".into();
    }
    serde_json::to_string(items).unwrap_or_else(|_| "[]".into())
}

const MAX_STORED_EXAMPLES: usize = 3;
const MAX_STORED_CALLERS: usize = 32;
const MAX_STORED_USER_AGENTS: usize = 16;

impl Store {
    /// Opens (creating if missing) a database file and brings its schema up to date.
    pub fn open(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        let path_buf: PathBuf = path.as_ref().to_path_buf();
        let shown = path_buf.display().to_string();
        let conn = Connection::open(&path_buf).map_err(|source| StoreError::Open {
            path: shown.clone(),
            source,
        })?;
        Store::init(conn, shown, true)
    }

    /// Opens a database that must already exist: for commands that only read, so a typo
    /// in `--db` is an error rather than a new empty inventory.
    pub fn open_existing(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        let path = path.as_ref();
        if !path.exists() {
            return Err(StoreError::Missing {
                path: path.display().to_string(),
            });
        }
        Store::open(path)
    }

    /// A private database in memory: for `diff --traces` and tests.
    pub fn open_in_memory() -> Result<Store, StoreError> {
        let conn = Connection::open_in_memory().map_err(|source| StoreError::Open {
            path: ":memory:".into(),
            source,
        })?;
        Store::init(conn, ":memory:".into(), false)
    }

    fn init(conn: Connection, path: String, file: bool) -> Result<Store, StoreError> {
        let not_ours = |detail: String| StoreError::NotShadowscan {
            path: path.clone(),
            detail,
        };
        // The first read of a file that is not SQLite fails here.
        let app_id: i64 = conn
            .query_row("PRAGMA application_id", [], |r| r.get(0))
            .map_err(|e| not_ours(e.to_string()))?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| not_ours(e.to_string()))?;
        if app_id != schema::APPLICATION_ID {
            if app_id != 0 {
                return Err(not_ours(format!("application id {app_id:#x}")));
            }
            let tables: i64 = conn
                .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
                .map_err(|e| not_ours(e.to_string()))?;
            if tables > 0 || version != 0 {
                return Err(not_ours("an SQLite database of another application".into()));
            }
        }
        if version > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema {
                path,
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        let sqlite = |op: &'static str, path: &str| {
            let path = path.to_string();
            move |source| StoreError::Sqlite { path, op, source }
        };
        if file {
            let mode: String = conn
                .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
                .map_err(sqlite("enabling WAL", &path))?;
            if !mode.eq_ignore_ascii_case("wal") {
                tracing::warn!(path = %path, mode, "WAL is not available here; using the rollback journal");
            }
        }
        // A 1 MiB page cache (SQLite's default is 2 MiB): commits touch a few pages per
        // endpoint and the operating system caches the file anyway; this is memory that
        // `serve` holds whatever the number of endpoints.
        conn.execute_batch(
            "PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000; PRAGMA cache_size = -1024;",
        )
        .map_err(sqlite("configuring the connection", &path))?;
        conn.set_prepared_statement_cache_capacity(32);
        let mut store = Store {
            conn,
            path,
            known: KnownRows::default(),
        };
        store.migrate(version)?;
        Ok(store)
    }

    fn migrate(&mut self, from: i64) -> Result<(), StoreError> {
        for v in from..SCHEMA_VERSION {
            let to = v + 1;
            let err = |source| StoreError::Migration {
                path: self.path.clone(),
                version: to,
                source,
            };
            let tx = self.conn.transaction().map_err(err)?;
            tx.execute_batch(schema::MIGRATIONS[v as usize])
                .map_err(err)?;
            // Pragmas take no parameters; both values are our own integers.
            tx.execute_batch(&format!(
                "PRAGMA application_id = {}; PRAGMA user_version = {to};",
                schema::APPLICATION_ID
            ))
            .map_err(err)?;
            tx.commit().map_err(err)?;
            if from > 0 {
                tracing::info!(path = %self.path, version = to, "migrated the database schema");
            }
        }
        Ok(())
    }

    /// The database as given to [`Store::open`] (`:memory:` for in-memory stores).
    pub fn path(&self) -> &str {
        &self.path
    }

    fn err(&self, op: &'static str) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |source| StoreError::Sqlite {
            path: self.path.clone(),
            op,
            source,
        }
    }

    /// Writes a delta in one transaction (the pipeline's group commit). Either all of it is
    /// stored or none.
    pub fn apply(&mut self, delta: &Delta) -> Result<(), StoreError> {
        self.apply_exports(delta, &[])
    }

    /// [`Store::apply`], recording in the same transaction the digests of the exports the
    /// delta counts, so that a digest is stored exactly when its counts are. The window on
    /// disk is trimmed to the newest [`RecentExports::CAPACITY`] digests.
    pub fn apply_exports(
        &mut self,
        delta: &Delta,
        exports: &[ExportDigest],
    ) -> Result<(), StoreError> {
        if delta.is_empty() && exports.is_empty() {
            return Ok(());
        }
        let path = self.path.clone();
        let err = |op: &'static str| {
            let path = path.clone();
            move |source| StoreError::Sqlite { path, op, source }
        };
        let tx = self
            .conn
            .transaction()
            .map_err(err("starting a transaction"))?;
        let mut learned = Vec::new();
        {
            let mut up_endpoint = tx
                .prepare_cached(
                    "INSERT INTO endpoints (service, method, template, source, first_seen, last_seen, evidence, examples, callers, user_agents)
                     VALUES (?1, ?2, ?3, ?4, COALESCE(?5, ?10), COALESCE(?6, ?10), ?7, ?8, ?9, ?11)
                     ON CONFLICT (service, method, template) DO UPDATE SET
                        source = CASE WHEN excluded.source = 'route' THEN 'route' ELSE endpoints.source END,
                        first_seen = MIN(endpoints.first_seen, COALESCE(?5, endpoints.first_seen)),
                        last_seen = MAX(endpoints.last_seen, COALESCE(?6, endpoints.last_seen)),
                        evidence = endpoints.evidence | excluded.evidence
                     RETURNING id, examples, callers, first_seen, last_seen, evidence, source, user_agents",
                )
                .map_err(err("preparing the endpoint upsert"))?;
            let mut set_lists = tx
                .prepare_cached(
                    "UPDATE endpoints SET examples = ?2, callers = ?3, user_agents = ?4 WHERE id = ?1",
                )
                .map_err(err("preparing the example update"))?;
            let mut up_hour = tx
                .prepare_cached(
                    "INSERT INTO endpoint_hours (endpoint_id, hour, requests, s1xx, s2xx, s3xx, s4xx, s5xx,
                        s401, s403, s404, s429, unknown, ok_with_auth, ok_without_auth, evidence, first_seen, last_seen, s405)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                        COALESCE(?17, ?2), COALESCE(?18, ?2), ?19)
                     ON CONFLICT (endpoint_id, hour) DO UPDATE SET
                        requests = requests + excluded.requests,
                        s1xx = s1xx + excluded.s1xx, s2xx = s2xx + excluded.s2xx,
                        s3xx = s3xx + excluded.s3xx, s4xx = s4xx + excluded.s4xx,
                        s5xx = s5xx + excluded.s5xx, s401 = s401 + excluded.s401,
                        s403 = s403 + excluded.s403, s404 = s404 + excluded.s404,
                        s429 = s429 + excluded.s429, unknown = unknown + excluded.unknown,
                        s405 = s405 + excluded.s405,
                        ok_with_auth = ok_with_auth + excluded.ok_with_auth,
                        ok_without_auth = ok_without_auth + excluded.ok_without_auth,
                        evidence = evidence | excluded.evidence,
                        first_seen = MIN(first_seen, COALESCE(?17, first_seen)),
                        last_seen = MAX(last_seen, COALESCE(?18, last_seen))",
                )
                .map_err(err("preparing the hourly upsert"))?;
            for e in &delta.endpoints {
                let first = known_time(e.first_seen);
                let last = known_time(e.last_seen);
                let id = match self.known.unchanged_by(e) {
                    Some(id) => id,
                    None => {
                        let examples = json_list(&e.examples);
                        let callers = json_list(&e.callers);
                        let user_agents = json_list(&e.user_agents);
                        let (id, stored_examples, stored_callers, stored_agents, row): (
                            i64,
                            String,
                            String,
                            String,
                            _,
                        ) = up_endpoint
                            .query_row(
                                params![
                                    &*e.service,
                                    e.method.as_str(),
                                    e.template.as_str(),
                                    source_str(e.source),
                                    first,
                                    last,
                                    e.evidence.bits(),
                                    examples,
                                    callers,
                                    e.hour,
                                    user_agents,
                                ],
                                |r| {
                                    Ok((
                                        r.get(0)?,
                                        r.get(1)?,
                                        r.get(2)?,
                                        r.get(7)?,
                                        (
                                            r.get::<_, i64>(3)?,
                                            r.get::<_, i64>(4)?,
                                            r.get::<_, u8>(5)?,
                                            r.get::<_, String>(6)?,
                                        ),
                                    ))
                                },
                            )
                            .map_err(err("upserting an endpoint"))?;
                        let (examples, ex) =
                            merge_list(&stored_examples, &e.examples, MAX_STORED_EXAMPLES);
                        let (callers, ca) =
                            merge_list(&stored_callers, &e.callers, MAX_STORED_CALLERS);
                        let (agents, ua) =
                            merge_list(&stored_agents, &e.user_agents, MAX_STORED_USER_AGENTS);
                        if ex.is_some() || ca.is_some() || ua.is_some() {
                            set_lists
                                .execute(params![
                                    id,
                                    ex.unwrap_or(stored_examples),
                                    ca.unwrap_or(stored_callers),
                                    ua.unwrap_or(stored_agents)
                                ])
                                .map_err(err("updating examples, callers and user agents"))?;
                        }
                        learned.push((
                            (e.service.clone(), e.method, e.template.clone()),
                            KnownRow {
                                id,
                                first_seen: row.0,
                                last_seen: row.1,
                                evidence: row.2,
                                route: parse_source(&row.3) == TemplateSource::Route,
                                examples: self.known.list(&examples, MAX_STORED_EXAMPLES),
                                callers: self.known.list(&callers, MAX_STORED_CALLERS),
                                user_agents: self.known.list(&agents, MAX_STORED_USER_AGENTS),
                            },
                        ));
                        id
                    }
                };
                let s = &e.status;
                up_hour
                    .execute(params![
                        id,
                        e.hour,
                        e.requests as i64,
                        s.s1xx as i64,
                        s.s2xx as i64,
                        s.s3xx as i64,
                        s.s4xx as i64,
                        s.s5xx as i64,
                        s.s401 as i64,
                        s.s403 as i64,
                        s.s404 as i64,
                        s.s429 as i64,
                        s.unknown as i64,
                        e.ok_with_auth,
                        e.ok_without_auth,
                        e.evidence.bits(),
                        first,
                        last,
                        s.s405 as i64,
                    ])
                    .map_err(err("upserting hourly counts"))?;
            }

            let mut find_endpoint = tx
                .prepare_cached(
                    "SELECT id FROM endpoints WHERE service = ?1 AND method = ?2 AND template = ?3",
                )
                .map_err(err("preparing the endpoint lookup"))?;
            let mut up_edge = tx
                .prepare_cached(
                    "INSERT INTO edges (caller, endpoint_id, hour, calls, first_seen, last_seen)
                     VALUES (?1, ?2, ?3, ?4, COALESCE(?5, ?3), COALESCE(?6, ?3))
                     ON CONFLICT (caller, endpoint_id, hour) DO UPDATE SET
                        calls = calls + excluded.calls,
                        first_seen = MIN(first_seen, excluded.first_seen),
                        last_seen = MAX(last_seen, excluded.last_seen)",
                )
                .map_err(err("preparing the edge upsert"))?;
            for g in &delta.edges {
                let id: Option<i64> = match self.known.id(&g.service, g.method, &g.template) {
                    Some(id) => Some(id),
                    None => find_endpoint
                        .query_row(
                            params![&*g.service, g.method.as_str(), g.template.as_str()],
                            |r| r.get(0),
                        )
                        .optional()
                        .map_err(err("looking up an edge's endpoint"))?,
                };
                // The inventory only draws edges to endpoints it has counted, so the row
                // exists; an edge to nothing would be meaningless anyway.
                let Some(id) = id else { continue };
                up_edge
                    .execute(params![
                        &*g.caller,
                        id,
                        g.hour,
                        g.calls as i64,
                        known_time(g.first_seen),
                        known_time(g.last_seen),
                    ])
                    .map_err(err("upserting an edge"))?;
            }

            let mut up_overflow = tx
                .prepare_cached(
                    "INSERT INTO overflow (service, method, hour, requests) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (service, method, hour) DO UPDATE SET requests = requests + excluded.requests",
                )
                .map_err(err("preparing the overflow upsert"))?;
            for o in &delta.overflow {
                up_overflow
                    .execute(params![
                        &*o.service,
                        o.method.as_str(),
                        o.hour,
                        o.requests as i64
                    ])
                    .map_err(err("upserting overflow counts"))?;
            }

            let mut up_traffic = tx
                .prepare_cached(
                    "INSERT INTO traffic (hour, spans, unmatched, not_http, incomplete) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (hour) DO UPDATE SET
                        spans = spans + excluded.spans,
                        unmatched = unmatched + excluded.unmatched,
                        not_http = not_http + excluded.not_http,
                        incomplete = incomplete + excluded.incomplete",
                )
                .map_err(err("preparing the traffic upsert"))?;
            for t in &delta.traffic {
                up_traffic
                    .execute(params![
                        t.hour,
                        t.spans as i64,
                        t.ignored.unmatched as i64,
                        t.ignored.not_http as i64,
                        t.ignored.incomplete as i64,
                    ])
                    .map_err(err("upserting traffic counts"))?;
            }
        }
        if !exports.is_empty() {
            let received = unix_now();
            let mut insert = tx
                .prepare_cached("INSERT INTO export_digests (digest, received) VALUES (?1, ?2)")
                .map_err(err("preparing the export digest insert"))?;
            for d in exports {
                insert
                    .execute(params![&d.to_bytes()[..], received])
                    .map_err(err("recording an export digest"))?;
            }
            tx.prepare_cached(
                "DELETE FROM export_digests WHERE seq <= (SELECT MAX(seq) FROM export_digests) - ?1",
            )
            .and_then(|mut s| s.execute(params![RecentExports::CAPACITY as i64]))
            .map_err(err("trimming the export digests"))?;
        }
        tx.commit().map_err(err("committing"))?;
        // Only what is committed is known; a failed commit teaches nothing.
        self.known.learn(learned);
        Ok(())
    }

    fn window(q: &Query) -> (i64, i64) {
        (
            q.since.map(hour_of).unwrap_or(i64::MIN),
            q.until.unwrap_or(i64::MAX),
        )
    }

    /// Every endpoint with traffic in the window, with counts summed over its hours, ordered
    /// by service, template and method.
    pub fn endpoints(&self, q: &Query) -> Result<Vec<EndpointStats>, StoreError> {
        let (since, until) = Self::window(q);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT e.service, e.method, e.template, e.source, e.examples, e.callers, e.user_agents,
                    SUM(h.requests), SUM(h.s1xx), SUM(h.s2xx), SUM(h.s3xx), SUM(h.s4xx), SUM(h.s5xx),
                    SUM(h.s401), SUM(h.s403), SUM(h.s404), SUM(h.s429), SUM(h.unknown),
                    SUM(h.ok_with_auth), SUM(h.ok_without_auth),
                    MAX(h.evidence & 1) | MAX(h.evidence & 2) | MAX(h.evidence & 4) | MAX(h.evidence & 8),
                    MIN(h.first_seen), MAX(h.last_seen), SUM(h.s405)
                 FROM endpoints e JOIN endpoint_hours h ON h.endpoint_id = e.id
                 WHERE h.hour >= ?1 AND h.hour < ?2 AND (?3 IS NULL OR e.service = ?3)
                 GROUP BY e.id
                 HAVING SUM(h.requests) > 0
                 ORDER BY e.service, e.template, e.method",
            )
            .map_err(self.err("preparing the endpoint query"))?;
        let rows = stmt
            .query_map(params![since, until, q.service], |r| {
                let method: String = r.get(1)?;
                let template: String = r.get(2)?;
                let source: String = r.get(3)?;
                let examples: String = r.get(4)?;
                let callers: String = r.get(5)?;
                let user_agents: String = r.get(6)?;
                let n = |i: usize| r.get::<_, i64>(i).map(u);
                Ok(EndpointStats {
                    service: r.get(0)?,
                    method: Method::parse(&method),
                    template: PathTemplate::parse(&template),
                    source: parse_source(&source),
                    requests: n(7)?,
                    status: StatusCounts {
                        s1xx: n(8)?,
                        s2xx: n(9)?,
                        s3xx: n(10)?,
                        s4xx: n(11)?,
                        s5xx: n(12)?,
                        s401: n(13)?,
                        s403: n(14)?,
                        s404: n(15)?,
                        s405: n(23)?,
                        s429: n(16)?,
                        unknown: n(17)?,
                    },
                    ok_with_auth: n(18)?,
                    ok_without_auth: n(19)?,
                    evidence: AuthEvidence::from_bits(r.get::<_, i64>(20)? as u8),
                    first_seen: r.get(21)?,
                    last_seen: r.get(22)?,
                    examples: parse_list(&examples),
                    callers: parse_list(&callers),
                    user_agents: parse_list(&user_agents),
                    explanation: None,
                })
            })
            .map_err(self.err("querying endpoints"))?;
        rows.collect::<Result<_, _>>()
            .map_err(self.err("reading endpoints"))
    }

    /// Services with traffic in the window, by name.
    pub fn services(&self, q: &Query) -> Result<Vec<ServiceSummary>, StoreError> {
        let (since, until) = Self::window(q);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT e.service, COUNT(DISTINCT e.id), SUM(h.requests), MIN(h.first_seen), MAX(h.last_seen)
                 FROM endpoints e JOIN endpoint_hours h ON h.endpoint_id = e.id
                 WHERE h.hour >= ?1 AND h.hour < ?2 AND (?3 IS NULL OR e.service = ?3) AND h.requests > 0
                 GROUP BY e.service ORDER BY e.service",
            )
            .map_err(self.err("preparing the service query"))?;
        let rows = stmt
            .query_map(params![since, until, q.service], |r| {
                Ok(ServiceSummary {
                    name: r.get(0)?,
                    endpoints: u(r.get(1)?),
                    requests: u(r.get(2)?),
                    first_seen: r.get(3)?,
                    last_seen: r.get(4)?,
                })
            })
            .map_err(self.err("querying services"))?;
        rows.collect::<Result<_, _>>()
            .map_err(self.err("reading services"))
    }

    /// Caller-service edges in the window; with a service, those into or out of it.
    pub fn edges(&self, q: &Query) -> Result<Vec<Edge>, StoreError> {
        let (since, until) = Self::window(q);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT g.caller, e.service, e.method, e.template, SUM(g.calls), MIN(g.first_seen), MAX(g.last_seen)
                 FROM edges g JOIN endpoints e ON e.id = g.endpoint_id
                 WHERE g.hour >= ?1 AND g.hour < ?2 AND (?3 IS NULL OR e.service = ?3 OR g.caller = ?3)
                 GROUP BY g.caller, g.endpoint_id
                 ORDER BY g.caller, e.service, e.template, e.method",
            )
            .map_err(self.err("preparing the edge query"))?;
        let rows = stmt
            .query_map(params![since, until, q.service], |r| {
                let method: String = r.get(2)?;
                let template: String = r.get(3)?;
                Ok(Edge {
                    caller: r.get(0)?,
                    service: r.get(1)?,
                    method: Method::parse(&method),
                    template: PathTemplate::parse(&template),
                    calls: u(r.get(4)?),
                    first_seen: r.get(5)?,
                    last_seen: r.get(6)?,
                })
            })
            .map_err(self.err("querying edges"))?;
        rows.collect::<Result<_, _>>()
            .map_err(self.err("reading edges"))
    }

    /// Requests the endpoint cap kept out of the inventory, per service and method.
    pub fn overflow(&self, q: &Query) -> Result<Vec<OverflowStats>, StoreError> {
        let (since, until) = Self::window(q);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT service, method, SUM(requests) FROM overflow
                 WHERE hour >= ?1 AND hour < ?2 AND (?3 IS NULL OR service = ?3)
                 GROUP BY service, method ORDER BY service, method",
            )
            .map_err(self.err("preparing the overflow query"))?;
        let rows = stmt
            .query_map(params![since, until, q.service], |r| {
                let method: String = r.get(1)?;
                Ok(OverflowStats {
                    service: r.get(0)?,
                    method: Method::parse(&method),
                    requests: u(r.get(2)?),
                })
            })
            .map_err(self.err("querying overflow"))?;
        rows.collect::<Result<_, _>>()
            .map_err(self.err("reading overflow"))
    }

    /// Totals over the whole database.
    pub fn stats(&self) -> Result<StoreStats, StoreError> {
        let one = |sql: &str, op: &'static str| -> Result<i64, StoreError> {
            self.conn
                .prepare_cached(sql)
                .and_then(|mut s| s.query_row([], |r| r.get::<_, Option<i64>>(0)))
                .map(|v| v.unwrap_or(0))
                .map_err(self.err(op))
        };
        let (spans, unmatched, not_http, incomplete) = self
            .conn
            .query_row(
                "SELECT COALESCE(SUM(spans),0), COALESCE(SUM(unmatched),0), COALESCE(SUM(not_http),0), COALESCE(SUM(incomplete),0) FROM traffic",
                [],
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?, r.get::<_, i64>(3)?)),
            )
            .map_err(self.err("counting traffic"))?;
        Ok(StoreStats {
            schema_version: SCHEMA_VERSION,
            endpoints: u(one("SELECT COUNT(*) FROM endpoints", "counting endpoints")?),
            services: u(one(
                "SELECT COUNT(DISTINCT service) FROM endpoints",
                "counting services",
            )?),
            requests: u(one(
                "SELECT SUM(requests) FROM endpoint_hours",
                "counting requests",
            )?),
            spans: u(spans),
            unmatched: u(unmatched),
            not_http: u(not_http),
            incomplete: u(incomplete),
            overflow: u(one(
                "SELECT SUM(requests) FROM overflow",
                "counting overflow",
            )?),
            edges: u(one(
                "SELECT COUNT(*) FROM (SELECT 1 FROM edges GROUP BY caller, endpoint_id)",
                "counting edges",
            )?),
        })
    }

    /// The digests of the newest [`RecentExports::CAPACITY`] stored exports, oldest first:
    /// the window `ingest` and the receivers start from.
    pub fn recent_exports(&self) -> Result<RecentExports, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT digest FROM (SELECT seq, digest FROM export_digests ORDER BY seq DESC LIMIT ?1) ORDER BY seq",
            )
            .map_err(self.err("preparing the export digest query"))?;
        let rows = stmt
            .query_map(params![RecentExports::CAPACITY as i64], |r| {
                r.get::<_, Vec<u8>>(0)
            })
            .map_err(self.err("reading export digests"))?;
        let mut digests = Vec::new();
        for row in rows {
            let bytes = row.map_err(self.err("reading export digests"))?;
            // A digest of another length is not ours to trust: it matches nothing.
            digests.extend(ExportDigest::from_bytes(&bytes));
        }
        Ok(RecentExports::with_stored(digests))
    }

    /// Calls `f` with the key of every stored endpoint, without collecting them: how the
    /// pipeline seeds the inventory's cardinality cap at start-up.
    pub fn for_each_endpoint_key(
        &self,
        mut f: impl FnMut(&str, Method, PathTemplate, TemplateSource),
    ) -> Result<(), StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT service, method, template, source FROM endpoints")
            .map_err(self.err("preparing the key scan"))?;
        let mut rows = stmt.query([]).map_err(self.err("scanning endpoint keys"))?;
        while let Some(r) = rows.next().map_err(self.err("scanning endpoint keys"))? {
            let service: &str = r
                .get_ref(0)
                .and_then(|v| v.as_str().map_err(Into::into))
                .map_err(self.err("reading an endpoint key"))?;
            let method: String = r.get(1).map_err(self.err("reading an endpoint key"))?;
            let template: String = r.get(2).map_err(self.err("reading an endpoint key"))?;
            let source: String = r.get(3).map_err(self.err("reading an endpoint key"))?;
            f(
                service,
                Method::parse(&method),
                PathTemplate::parse(&template),
                parse_source(&source),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
