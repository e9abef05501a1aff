//! The composition `ingest → normalize → inventory → store`, for the daemon and for files.
//!
//! # Daemon ([`Pipeline`], [`Writer`])
//!
//! [`Pipeline`] is the receivers' [`TraceSink`]: a cheap `Clone` handle. Each export is
//! decoded, normalised and folded into a [`BatchDelta`] in the receiving task, so that CPU
//! work spreads over the receivers; the small delta then goes through a bounded channel to
//! the single writer task. A full channel answers [`SinkError::Busy`] at once (the exporter
//! retries; the batch is counted as shed, never dropped silently).
//!
//! The writer owns the [`Store`] and the [`Inventory`]: it merges deltas, applies the join
//! windows, and commits every `flush_interval` or sooner when much is pending: one
//! transaction for many exports (group commit), run on the blocking pool while the writer
//! keeps absorbing the next group. Acks are resolved only after their commit
//! returned, so an acknowledged export survives `kill -9`; a failed commit answers every
//! export in it [`SinkError::Unavailable`], so exporters retry and nothing unstored is
//! acknowledged.
//!
//! Shutdown order: stop the receivers (no new exports), drop every [`Pipeline`] handle (or
//! call [`Writer::shutdown`], which closes the channel to new exports), the writer drains
//! what is queued, makes a final commit, resolves the last acks and returns the store.
//!
//! Readers (`inventory`, the admin API) open their own [`Store`] on the same file; WAL lets
//! them read while the writer writes.
//!
//! # Duplicate exports
//!
//! Receivers are at-least-once from the exporter's side: an export whose commit succeeded
//! but whose acknowledgement was lost is sent again. Each export's digest (xxh3-128 of its
//! decoded bytes, [`ExportDigest`]) is looked up in the window of recent stored exports
//! ([`RecentExports`], persisted with the counts): a byte-identical retry is acknowledged
//! without being counted again, and one arriving while its original is still being
//! committed is told to retry (`Busy`), so it is neither counted twice nor acknowledged
//! before the original is stored. A retry re-encoded differently is counted twice. Files go
//! through the same window, so ingesting a file twice counts it once.
//!
//! # Files ([`FileIngest`])
//!
//! The same steps synchronously, without channel or task: `shadowscan ingest` and
//! `diff --traces` push payloads one by one and [`FileIngest::finish`] commits.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::ingest::{
    self, Accepted, DecodeError, DecodeStats, Format, Payload, Refusal, SinkError, TraceSink,
};
use crate::inventory::{BatchDelta, Inventory, InventoryConfig};
use crate::model::AttrKeys;
use crate::normalize::{Normalizer, Rules};
use crate::store::{ExportDigest, RecentExports, Seen, Store, StoreError};

/// How the pipeline runs; every field has a default.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// Exports queued for the writer before new ones are answered `Busy`.
    pub channel_capacity: usize,
    /// Longest an export waits for its commit.
    pub flush_interval: Duration,
    /// Pending buckets (endpoint × hour, edges) that trigger a commit before the interval.
    /// Each holds a few hundred bytes (counts, examples, callers) twice over while its
    /// commit runs, so this bounds the writer's buffers; 5000 rows still amortise a
    /// commit's fixed cost (well under 1% per row).
    pub max_pending: usize,
    /// What `Busy` tells exporters to wait.
    pub retry_after: Duration,
    pub inventory: InventoryConfig,
    pub attr_keys: AttrKeys,
    pub rules: Rules,
}

impl Default for PipelineConfig {
    fn default() -> PipelineConfig {
        PipelineConfig {
            channel_capacity: 256,
            flush_interval: Duration::from_millis(50),
            max_pending: 5_000,
            retry_after: Duration::from_secs(1),
            inventory: InventoryConfig::default(),
            attr_keys: AttrKeys::default(),
            rules: Rules::default(),
        }
    }
}

/// Why the pipeline failed.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// Said once: the decode error already names the format and where it is wrong.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the inventory writer stopped unexpectedly: {0}")]
    Writer(String),
}

#[derive(Debug, Default)]
struct Counters {
    spans_received: AtomicU64,
    spans_accepted: AtomicU64,
    spans_rejected: AtomicU64,
    batches_shed: AtomicU64,
    /// Export requests refused outright, by [`Refusal`] (in `Refusal::ALL` order).
    refused: [AtomicU64; Refusal::ALL.len()],
    commits: AtomicU64,
    commit_failures: AtomicU64,
    endpoints_known: AtomicU64,
    unmatched: AtomicU64,
    /// Mirrored from the writer: unrouted redirects and refusals it found unclaimed.
    unrouted: AtomicU64,
    overflow: AtomicU64,
    evidence_joined: AtomicU64,
    edges_joined: AtomicU64,
    exports_duplicate: AtomicU64,
}

/// A point-in-time copy of the pipeline's counters (monotonic except `endpoints_known`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct MetricsSnapshot {
    /// Spans in exports that decoded.
    pub spans_received: u64,
    /// Spans stored and acknowledged.
    pub spans_accepted: u64,
    /// Spans refused: invalid exports, shed when busy, or lost to a failed commit.
    pub spans_rejected: u64,
    /// Exports answered `Busy` because the writer's queue was full.
    pub batches_shed: u64,
    /// Export requests refused outright (malformed, too large, unsupported), in
    /// [`Refusal::ALL`] order.
    pub exports_refused: [u64; Refusal::ALL.len()],
    pub commits: u64,
    pub commit_failures: u64,
    /// Distinct endpoints in the inventory.
    pub endpoints_known: u64,
    /// Requests no route claimed (scanner noise: 404s, and redirects or refusals answered
    /// before routing), not inventoried.
    pub unmatched: u64,
    /// Requests counted as overflow by the per-service endpoint cap.
    pub overflow: u64,
    /// Auth evidence joined to a server span from another export.
    pub evidence_joined: u64,
    /// Caller-service edges joined across spans.
    pub edges_joined: u64,
    /// Exports acknowledged without being counted: byte-identical to one already stored.
    pub exports_duplicate: u64,
}

/// Shared read access to the counters, e.g. for `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct Metrics(Arc<Counters>);

impl Metrics {
    pub fn snapshot(&self) -> MetricsSnapshot {
        let c = &self.0;
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        MetricsSnapshot {
            spans_received: g(&c.spans_received),
            spans_accepted: g(&c.spans_accepted),
            spans_rejected: g(&c.spans_rejected),
            batches_shed: g(&c.batches_shed),
            exports_refused: c.refused.each_ref().map(g),
            commits: g(&c.commits),
            commit_failures: g(&c.commit_failures),
            endpoints_known: g(&c.endpoints_known),
            unmatched: g(&c.unmatched) + g(&c.unrouted),
            overflow: g(&c.overflow),
            evidence_joined: g(&c.evidence_joined),
            edges_joined: g(&c.edges_joined),
            exports_duplicate: g(&c.exports_duplicate),
        }
    }

    fn add(a: &AtomicU64, n: u64) {
        a.fetch_add(n, Ordering::Relaxed);
    }

    /// Gauges mirrored from the writer's inventory after each commit.
    fn mirror(&self, inv: &Inventory) {
        let c = inv.counters();
        self.0.endpoints_known.store(c.endpoints, Ordering::Relaxed);
        self.0.overflow.store(c.overflow, Ordering::Relaxed);
        self.0.unrouted.store(c.unrouted, Ordering::Relaxed);
        self.0
            .evidence_joined
            .store(c.evidence_joined, Ordering::Relaxed);
        self.0.edges_joined.store(c.edges_joined, Ordering::Relaxed);
    }
}

type AckResult = Result<Accepted, SinkError>;

struct Job {
    delta: BatchDelta,
    ack: oneshot::Sender<AckResult>,
    /// Recorded with the commit that stores the delta (none for [`Pipeline::submit`]).
    digest: Option<ExportDigest>,
}

/// The window of recent exports, shared by the receiving tasks (lookups) and the writer
/// (commits). A lock per export around a hash lookup: far below decoding's cost.
type SharedExports = Arc<std::sync::Mutex<RecentExports>>;

fn lock(exports: &SharedExports) -> std::sync::MutexGuard<'_, RecentExports> {
    // A panic while holding it cannot leave the set half-updated in a harmful way.
    exports.lock().unwrap_or_else(|p| p.into_inner())
}

struct Shared {
    tx: mpsc::Sender<Job>,
    normalizer: Normalizer,
    keys: AttrKeys,
    inventory: InventoryConfig,
    retry_after: Duration,
    metrics: Metrics,
    exports: SharedExports,
    /// Unix second of the last "shedding load" warning: one line per 10 s, not per export.
    last_shed_warning: AtomicU64,
}

/// The receivers' sink: decode → normalise → delta here, store in the writer.
#[derive(Clone)]
pub struct Pipeline {
    shared: Arc<Shared>,
}

/// The writer task's handle: wait for it, or shut it down.
pub struct Writer {
    join: tokio::task::JoinHandle<Result<Store, PipelineError>>,
    cancel: CancellationToken,
    metrics: Metrics,
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Decodes and normalises one payload into a delta, with the decoder's counts (spans left
/// out for invalid ids among them). Nothing is kept when decoding fails part-way: a
/// malformed export is rejected whole.
fn build_delta(
    normalizer: &Normalizer,
    keys: &AttrKeys,
    inventory: &InventoryConfig,
    bytes: &[u8],
    format: Format,
) -> Result<(BatchDelta, DecodeStats), DecodeError> {
    let mut batch = normalizer.batch_for_payload(bytes.len());
    let stats = ingest::decode(bytes, format, keys, |resource, span| {
        batch.push(resource, span)
    })?;
    let delta = BatchDelta::from_batch(batch.finish(), unix_now(), inventory);
    Ok((delta, stats))
}

fn seeded_inventory(store: &Store, cfg: InventoryConfig) -> Result<Inventory, StoreError> {
    let mut inv = Inventory::new(cfg);
    store.for_each_endpoint_key(|service, method, template, source| {
        inv.seed(service, method, template, source)
    })?;
    Ok(inv)
}

impl Pipeline {
    /// Starts the writer task; must be called inside a tokio runtime (it spawns). The
    /// inventory's cardinality cap starts from the endpoints already in `store`.
    pub fn start(store: Store, cfg: PipelineConfig) -> Result<(Pipeline, Writer), PipelineError> {
        let inv = seeded_inventory(&store, cfg.inventory.clone())?;
        let exports: SharedExports = Arc::new(std::sync::Mutex::new(store.recent_exports()?));
        let metrics = Metrics::default();
        metrics.mirror(&inv);
        let (tx, rx) = mpsc::channel(cfg.channel_capacity.max(1));
        let cancel = CancellationToken::new();
        let writer = WriterTask {
            store: Some(store),
            inv,
            rx,
            acks: Vec::new(),
            flush_interval: cfg.flush_interval,
            max_pending: cfg.max_pending.max(1),
            metrics: metrics.clone(),
            exports: exports.clone(),
        };
        let join = tokio::spawn(writer.run(cancel.clone()));
        let pipeline = Pipeline {
            shared: Arc::new(Shared {
                tx,
                normalizer: Normalizer::new(cfg.rules),
                keys: cfg.attr_keys,
                inventory: cfg.inventory,
                retry_after: cfg.retry_after,
                metrics: metrics.clone(),
                exports,
                last_shed_warning: AtomicU64::new(0),
            }),
        };
        Ok((
            pipeline,
            Writer {
                join,
                cancel,
                metrics,
            },
        ))
    }

    pub fn metrics(&self) -> MetricsSnapshot {
        self.shared.metrics.snapshot()
    }

    /// A handle on the counters that outlives this pipeline handle.
    pub fn metrics_handle(&self) -> Metrics {
        self.shared.metrics.clone()
    }

    /// Queues an already built delta for the writer, now: `Busy` when the queue is full,
    /// `Unavailable` when the writer is shutting down. The returned future resolves once
    /// the delta is committed (or its commit failed).
    pub fn submit(
        &self,
        delta: BatchDelta,
    ) -> Result<impl Future<Output = AckResult> + Send + 'static, SinkError> {
        self.submit_export(delta, None)
    }

    fn submit_export(
        &self,
        delta: BatchDelta,
        digest: Option<ExportDigest>,
    ) -> Result<impl Future<Output = AckResult> + Send + 'static, SinkError> {
        let spans = delta.spans();
        let (ack, done) = oneshot::channel();
        let m = &self.shared.metrics;
        match self.shared.tx.try_send(Job { delta, ack, digest }) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                Metrics::add(&m.0.batches_shed, 1);
                Metrics::add(&m.0.spans_rejected, spans);
                let now = unix_now() as u64;
                let last = self.shared.last_shed_warning.load(Ordering::Relaxed);
                if now >= last + 10
                    && self
                        .shared
                        .last_shed_warning
                        .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                        .is_ok()
                {
                    tracing::warn!(
                        shed_exports_total = m.snapshot().batches_shed,
                        retry_after_secs = self.shared.retry_after.as_secs(),
                        "shedding load: the inventory writer is behind, exporters are told to retry (UNAVAILABLE/503)"
                    );
                }
                return Err(SinkError::Busy {
                    retry_after: self.shared.retry_after,
                });
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                Metrics::add(&m.0.spans_rejected, spans);
                return Err(SinkError::Unavailable("shadowscan is shutting down".into()));
            }
        }
        Ok(async move {
            match done.await {
                Ok(result) => result,
                Err(_) => Err(SinkError::Unavailable(
                    "the inventory writer stopped before storing this export".into(),
                )),
            }
        })
    }

    fn prepare(&self, payload: &Payload) -> Result<(BatchDelta, DecodeStats), SinkError> {
        let s = &self.shared;
        match build_delta(
            &s.normalizer,
            &s.keys,
            &s.inventory,
            &payload.bytes,
            payload.format,
        ) {
            Ok((delta, stats)) => {
                // Received = accepted + rejected, once the export is answered.
                Metrics::add(&s.metrics.0.spans_received, delta.spans() + stats.rejected);
                Metrics::add(&s.metrics.0.spans_rejected, stats.rejected);
                Metrics::add(&s.metrics.0.unmatched, delta.ignored().unmatched);
                Ok((delta, stats))
            }
            Err(e) => Err(SinkError::Invalid(e.to_string())),
        }
    }
}

impl TraceSink for Pipeline {
    fn refused(&self, why: Refusal) {
        let i = Refusal::ALL
            .iter()
            .position(|&r| r == why)
            .expect("every refusal is in ALL");
        Metrics::add(&self.shared.metrics.0.refused[i], 1);
    }

    fn export(&self, payload: Payload) -> impl Future<Output = AckResult> + Send {
        let this = self.clone();
        async move {
            let s = &this.shared;
            let digest = ExportDigest::of(&payload.bytes);
            match lock(&s.exports).begin(digest) {
                Seen::New => {}
                Seen::Stored => {
                    Metrics::add(&s.metrics.0.exports_duplicate, 1);
                    return Ok(Accepted::default());
                }
                Seen::InFlight => {
                    return Err(SinkError::Busy {
                        retry_after: s.retry_after,
                    })
                }
            }
            let submitted = this
                .prepare(&payload)
                .and_then(|(delta, stats)| Ok((this.submit_export(delta, Some(digest))?, stats)));
            drop(payload);
            let (pending, stats) = match submitted {
                Ok(x) => x,
                Err(e) => {
                    lock(&s.exports).abort([digest]);
                    return Err(e);
                }
            };
            // From here the writer commits or aborts the digest with the delta.
            let mut accepted = pending.await?;
            // Spans with unusable ids were left out; the exporter hears which and why
            // (OTLP partial_success) rather than losing the good ones with a 400.
            if let Some(message) = stats.rejection_message() {
                accepted.rejected_spans += stats.rejected;
                accepted.message = message;
            }
            Ok(accepted)
        }
    }
}

impl Writer {
    pub fn metrics(&self) -> MetricsSnapshot {
        self.metrics.snapshot()
    }

    /// Closes the queue to new exports, drains and commits what is queued, and returns the
    /// store. Exports submitted afterwards get `Unavailable`.
    pub async fn shutdown(self) -> Result<Store, PipelineError> {
        self.cancel.cancel();
        self.join().await
    }

    /// Waits for the writer to end by itself: after every [`Pipeline`] handle is dropped,
    /// it drains, commits and returns the store.
    pub async fn join(self) -> Result<Store, PipelineError> {
        match self.join.await {
            Ok(r) => r,
            Err(e) => Err(PipelineError::Writer(e.to_string())),
        }
    }
}

type Acks = Vec<(oneshot::Sender<AckResult>, u64, Option<ExportDigest>)>;
type Commit = tokio::task::JoinHandle<(Store, Result<(), StoreError>)>;

struct WriterTask {
    /// `None` while a commit runs on the blocking pool.
    store: Option<Store>,
    inv: Inventory,
    rx: mpsc::Receiver<Job>,
    /// Exports absorbed since the last commit started.
    acks: Acks,
    flush_interval: Duration,
    max_pending: usize,
    metrics: Metrics,
    exports: SharedExports,
}

impl WriterTask {
    /// Receives and absorbs while the previous group commits; one commit at a time. When a
    /// commit is running and enough is pending, it stops receiving, so the queue fills and
    /// exporters get `Busy`: back-pressure instead of unbounded buffering.
    async fn run(mut self, cancel: CancellationToken) -> Result<Store, PipelineError> {
        let mut deadline: Option<tokio::time::Instant> = None;
        let mut inflight: Option<(Commit, Acks)> = None;
        let mut closing = false;
        loop {
            let saturated = inflight.is_some() && self.inv.pending_len() >= self.max_pending;
            tokio::select! {
                biased;
                _ = cancel.cancelled(), if !closing => {
                    closing = true;
                    // Queued jobs are still received; new ones are refused.
                    self.rx.close();
                }
                done = async { (&mut inflight.as_mut().expect("guarded").0).await }, if inflight.is_some() => {
                    let (_, acks) = inflight.take().expect("guarded");
                    self.finish(done, acks)?;
                    let due = deadline.is_some_and(|d| d <= tokio::time::Instant::now())
                        || self.inv.pending_len() >= self.max_pending;
                    if due {
                        inflight = self.start_commit();
                        deadline = None;
                    }
                }
                job = self.rx.recv(), if !saturated => match job {
                    Some(job) => {
                        let spans = job.delta.spans();
                        self.inv.absorb(job.delta, Instant::now());
                        self.acks.push((job.ack, spans, job.digest));
                        deadline.get_or_insert_with(|| tokio::time::Instant::now() + self.flush_interval);
                        if inflight.is_none() && self.inv.pending_len() >= self.max_pending {
                            inflight = self.start_commit();
                            deadline = None;
                        }
                    }
                    None => break,
                },
                _ = async { tokio::time::sleep_until(deadline.unwrap_or_else(tokio::time::Instant::now)).await },
                    if deadline.is_some() && inflight.is_none() => {
                    inflight = self.start_commit();
                    deadline = None;
                }
            }
        }
        if let Some((commit, acks)) = inflight.take() {
            let done = commit.await;
            self.finish(done, acks)?;
        }
        if let Some((commit, acks)) = self.start_commit() {
            let done = commit.await;
            self.finish(done, acks)?;
        }
        self.store
            .take()
            .ok_or_else(|| PipelineError::Writer("store lost".into()))
    }

    /// Starts committing everything pending on the blocking pool (SQLite blocks).
    fn start_commit(&mut self) -> Option<(Commit, Acks)> {
        if self.acks.is_empty() && !self.inv.has_pending() {
            return None;
        }
        let mut store = self.store.take()?;
        let delta = self.inv.take_delta();
        let digests: Vec<ExportDigest> = self.acks.iter().filter_map(|a| a.2).collect();
        let commit = tokio::task::spawn_blocking(move || {
            let r = store.apply_exports(&delta, &digests);
            (store, r)
        });
        Some((commit, std::mem::take(&mut self.acks)))
    }

    /// Takes the store back and answers the exports of a finished commit.
    fn finish(
        &mut self,
        done: Result<(Store, Result<(), StoreError>), tokio::task::JoinError>,
        acks: Acks,
    ) -> Result<(), PipelineError> {
        let (store, result) =
            done.map_err(|e| PipelineError::Writer(format!("commit task failed: {e}")))?;
        self.store = Some(store);
        let c = &self.metrics.0;
        let digests = acks.iter().filter_map(|a| a.2);
        match &result {
            Ok(()) => lock(&self.exports).commit(digests),
            Err(_) => lock(&self.exports).abort(digests),
        }
        match result {
            Ok(()) => {
                // Gauges first: an exporter (or test) that reads /metrics right after its
                // ack must see what that ack covers.
                self.metrics.mirror(&self.inv);
                Metrics::add(&c.commits, 1);
                for (ack, spans, _) in acks {
                    Metrics::add(&c.spans_accepted, spans);
                    let _ = ack.send(Ok(Accepted::default()));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, exports = acks.len(), "commit failed; exporters are told to retry");
                Metrics::add(&c.commit_failures, 1);
                // Later evidence must not correct requests that were never stored.
                self.inv.reset_joins();
                let msg = format!("storing failed: {e}");
                for (ack, spans, _) in acks {
                    Metrics::add(&c.spans_rejected, spans);
                    let _ = ack.send(Err(SinkError::Unavailable(msg.clone())));
                }
            }
        }
        self.metrics.mirror(&self.inv);
        Ok(())
    }
}

/// Totals of a file ingest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct IngestSummary {
    pub payloads: u64,
    pub spans: u64,
    pub observations: u64,
    pub unmatched: u64,
    /// Spans left out for an invalid trace or span id.
    pub rejected: u64,
    /// Requests the per-service endpoint cap counted instead of inventorying.
    pub overflow: u64,
    /// Export requests skipped: byte-identical to one already stored (or earlier in the
    /// same run).
    pub duplicates: u64,
}

/// The synchronous path for files: decode → normalise → inventory → store, committing in
/// groups; cross-payload joins work as in the daemon.
pub struct FileIngest {
    store: Store,
    inv: Inventory,
    normalizer: Normalizer,
    keys: AttrKeys,
    max_pending: usize,
    summary: IngestSummary,
    exports: RecentExports,
    /// Digests of the exports absorbed since the last commit.
    pending_exports: Vec<ExportDigest>,
}

impl FileIngest {
    pub fn new(store: Store, cfg: PipelineConfig) -> Result<FileIngest, PipelineError> {
        let inv = seeded_inventory(&store, cfg.inventory)?;
        Ok(FileIngest {
            exports: store.recent_exports()?,
            pending_exports: Vec::new(),
            store,
            inv,
            normalizer: Normalizer::new(cfg.rules),
            keys: cfg.attr_keys,
            max_pending: cfg.max_pending.max(1),
            summary: IngestSummary::default(),
        })
    }

    /// Adds one export request (one line of a file exporter's JSON, or one protobuf
    /// message). A payload that does not decode is an error and adds nothing; the caller
    /// names the file and line. An export byte-identical to one already stored (or earlier
    /// in this run) adds nothing and is counted in [`IngestSummary::duplicates`].
    pub fn ingest_payload(&mut self, bytes: &[u8], format: Format) -> Result<u64, PipelineError> {
        let digest = ExportDigest::of(bytes);
        if self.exports.begin(digest) != Seen::New {
            self.summary.duplicates += 1;
            return Ok(0);
        }
        let (delta, stats) = match build_delta(
            &self.normalizer,
            &self.keys,
            self.inv.config(),
            bytes,
            format,
        ) {
            Ok(built) => built,
            Err(e) => {
                self.exports.abort([digest]);
                return Err(e.into());
            }
        };
        self.pending_exports.push(digest);
        if let Some(message) = stats.rejection_message() {
            tracing::warn!("{message}; the rest of the request was ingested");
            self.summary.rejected += stats.rejected;
        }
        let spans = delta.spans();
        self.summary.payloads += 1;
        self.summary.spans += spans;
        self.summary.unmatched += delta.ignored().unmatched;
        self.summary.observations += delta.observations();
        self.inv.absorb(delta, Instant::now());
        if self.inv.pending_len() >= self.max_pending {
            self.flush()?;
        }
        Ok(spans)
    }

    /// Commits what is pending.
    pub fn flush(&mut self) -> Result<(), PipelineError> {
        let delta = self.inv.take_delta();
        let digests = std::mem::take(&mut self.pending_exports);
        if let Err(e) = self.store.apply_exports(&delta, &digests) {
            self.inv.reset_joins();
            self.exports.abort(digests);
            return Err(e.into());
        }
        self.exports.commit(digests);
        Ok(())
    }

    pub fn summary(&self) -> IngestSummary {
        // Requests the inventory found unclaimed by any route were observations until then.
        let c = self.inv.counters();
        IngestSummary {
            observations: self.summary.observations.saturating_sub(c.unrouted),
            unmatched: self.summary.unmatched + c.unrouted,
            overflow: c.overflow,
            ..self.summary
        }
    }

    /// Distinct endpoints in the inventory (stored and pending).
    pub fn endpoints_known(&self) -> usize {
        self.inv.known_endpoints()
    }

    /// Commits and hands back the store, e.g. to query it.
    pub fn finish(mut self) -> Result<Store, PipelineError> {
        self.flush()?;
        Ok(self.store)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        AuthEvidence, Method, NormalizedBatch, Observation, PathTemplate, SpanRef, TemplateSource,
    };
    use crate::store::Query;

    fn now_nanos() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
    }

    /// One Express server span as normalize makes it: `GET /orders/:id` → `/orders/{id}`.
    fn delta(n: u32, template: &str) -> BatchDelta {
        let obs = Observation {
            span: SpanRef {
                trace_id: [n as u8; 16],
                span_id: n.to_be_bytes().repeat(2).try_into().unwrap(),
            },
            parent_span_id: [0; 8],
            service: Arc::from("orders"),
            method: Method::Get,
            template: PathTemplate::parse(template),
            source: TemplateSource::Route,
            status: Some(200),
            evidence: AuthEvidence::NONE,
            time_unix_nano: now_nanos(),
            path: template.replace("{id}", &n.to_string()).into(),
            client: Some("10.0.3.4".into()),
            user_agent: None,
            explanation: None,
            routed: true,
        };
        let batch = NormalizedBatch {
            observations: vec![obs],
            spans: 3,
            ..Default::default()
        };
        BatchDelta::from_batch(batch, unix_now(), &InventoryConfig::default())
    }

    fn requests(store: &Store) -> u64 {
        store
            .endpoints(&Query::default())
            .unwrap()
            .iter()
            .map(|e| e.requests)
            .sum()
    }

    fn slow_flush() -> PipelineConfig {
        PipelineConfig {
            flush_interval: Duration::from_secs(3600),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn busy_when_the_queue_is_full_and_counted_as_shed() {
        let cfg = PipelineConfig {
            channel_capacity: 1,
            retry_after: Duration::from_secs(2),
            ..Default::default()
        };
        let (p, writer) = Pipeline::start(Store::open_in_memory().unwrap(), cfg).unwrap();
        // Single-threaded runtime: the writer cannot run between these two calls.
        let first = p.submit(delta(1, "/orders/{id}")).expect("queued");
        match p.submit(delta(2, "/orders/{id}")) {
            Err(SinkError::Busy { retry_after }) => assert_eq!(retry_after, Duration::from_secs(2)),
            Err(e) => panic!("expected Busy, got {e:?}"),
            Ok(_) => panic!("expected Busy, got queued"),
        }
        let m = p.metrics();
        assert_eq!((m.batches_shed, m.spans_rejected), (1, 3));
        assert!(first.await.is_ok());
        drop(p);
        let store = writer.join().await.unwrap();
        assert_eq!(requests(&store), 1, "the shed export was not stored");
    }

    #[tokio::test]
    async fn acks_resolve_only_after_their_group_commit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let cfg = PipelineConfig {
            max_pending: 2,
            ..slow_flush()
        };
        let (p, writer) = Pipeline::start(Store::open(&path).unwrap(), cfg).unwrap();
        let reader = Store::open(&path).unwrap();
        let first = tokio::spawn(p.submit(delta(1, "/orders/{id}")).unwrap());
        // Plenty of time for the writer to receive it; no commit is due yet.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!first.is_finished(), "acknowledged before any commit");
        assert_eq!(requests(&reader), 0);
        // A second endpoint reaches max_pending: one commit for both, then both acks.
        let second = p.submit(delta(2, "/orders/{id}/items")).unwrap().await;
        assert!(second.is_ok());
        assert!(first.await.unwrap().is_ok());
        assert_eq!(
            requests(&reader),
            2,
            "acknowledged means readable from another connection"
        );
        assert_eq!(p.metrics().commits, 1);
        assert_eq!(p.metrics().spans_accepted, 6);
        drop(p);
        writer.join().await.unwrap();
    }

    #[tokio::test]
    async fn the_flush_interval_commits_without_more_traffic() {
        let cfg = PipelineConfig {
            flush_interval: Duration::from_millis(20),
            ..Default::default()
        };
        let (p, writer) = Pipeline::start(Store::open_in_memory().unwrap(), cfg).unwrap();
        assert!(p
            .submit(delta(1, "/orders/{id}"))
            .ok()
            .unwrap()
            .await
            .is_ok());
        assert_eq!(p.metrics().commits, 1);
        assert_eq!(p.metrics().endpoints_known, 1);
        drop(p);
        assert_eq!(requests(&writer.join().await.unwrap()), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn shutdown_after_handles_drop_loses_nothing() {
        let (p, writer) = Pipeline::start(Store::open_in_memory().unwrap(), slow_flush()).unwrap();
        let mut tasks = Vec::new();
        for t in 0..8u32 {
            let p = p.clone();
            tasks.push(tokio::spawn(async move {
                let mut acks = Vec::new();
                for i in 0..50u32 {
                    let d = delta(t * 1000 + i, "/orders/{id}");
                    loop {
                        match p.submit(d.clone()) {
                            Ok(ack) => {
                                acks.push(tokio::spawn(ack));
                                break;
                            }
                            Err(SinkError::Busy { .. }) => tokio::task::yield_now().await,
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
                acks
            }));
        }
        let mut acks = Vec::new();
        for t in tasks {
            acks.extend(t.await.unwrap());
        }
        // Receivers stopped: drop the last handle; the writer drains and flushes.
        drop(p);
        let store = writer.join().await.unwrap();
        for a in acks {
            assert!(a.await.unwrap().is_ok());
        }
        assert_eq!(requests(&store), 400);
        assert_eq!(store.stats().unwrap().spans, 1200);
    }

    #[tokio::test]
    async fn shutdown_token_drains_queued_exports_then_refuses_new_ones() {
        let (p, writer) = Pipeline::start(Store::open_in_memory().unwrap(), slow_flush()).unwrap();
        let acks: Vec<_> = (0..10)
            .map(|i| tokio::spawn(p.submit(delta(i, "/orders/{id}")).unwrap()))
            .collect();
        let store = writer.shutdown().await.unwrap();
        for a in acks {
            assert!(a.await.unwrap().is_ok());
        }
        assert_eq!(requests(&store), 10);
        assert!(matches!(
            p.submit(delta(99, "/orders/{id}")),
            Err(SinkError::Unavailable(_))
        ));
    }

    #[tokio::test]
    async fn a_failed_commit_acknowledges_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let cfg = PipelineConfig {
            flush_interval: Duration::from_millis(10),
            ..Default::default()
        };
        let (p, writer) = Pipeline::start(Store::open(&path).unwrap(), cfg).unwrap();
        // Someone breaks the database under the running daemon.
        rusqlite_break(&path);
        match p.submit(delta(1, "/orders/{id}")).unwrap().await {
            Err(SinkError::Unavailable(msg)) => assert!(msg.contains("storing failed"), "{msg}"),
            other => panic!("expected Unavailable, got {other:?}"),
        }
        let m = p.metrics();
        assert_eq!(
            (m.commit_failures, m.spans_accepted, m.spans_rejected),
            (1, 0, 3)
        );
        drop(p);
        writer.join().await.unwrap();
    }

    fn rusqlite_break(path: &std::path::Path) {
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.execute_batch("DROP TABLE endpoint_hours;").unwrap();
    }

    #[tokio::test]
    async fn the_cap_counts_endpoints_already_stored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let cfg = || PipelineConfig {
            inventory: InventoryConfig {
                max_endpoints_per_service: 1,
                ..Default::default()
            },
            ..Default::default()
        };
        let mut files = FileIngest::new(Store::open(&path).unwrap(), cfg()).unwrap();
        files.inv.absorb(delta(1, "/orders/{id}"), Instant::now());
        drop(files.finish().unwrap());

        let (p, writer) = Pipeline::start(Store::open(&path).unwrap(), cfg()).unwrap();
        assert_eq!(p.metrics().endpoints_known, 1);
        p.submit(delta(2, "/random-a")).unwrap().await.unwrap();
        p.submit(delta(3, "/orders/{id}"))
            .ok()
            .unwrap()
            .await
            .unwrap();
        assert_eq!(p.metrics().overflow, 1);
        drop(p);
        let store = writer.join().await.unwrap();
        assert_eq!(requests(&store), 2);
        assert_eq!(store.stats().unwrap().overflow, 1);
    }

    fn export_payload() -> Payload {
        Payload {
            bytes: ingest::corpus::protobuf(50, 3).into(),
            format: Format::Protobuf,
        }
    }

    #[tokio::test]
    async fn a_retried_export_is_acknowledged_and_not_counted_twice_even_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inventory.db");
        let payload = export_payload();
        let (p, writer) =
            Pipeline::start(Store::open(&path).unwrap(), PipelineConfig::default()).unwrap();
        p.export(payload.clone()).await.unwrap();
        // The exporter never heard the ack and sends the same bytes again.
        let retried = p.export(payload.clone()).await.unwrap();
        assert_eq!(retried, Accepted::default());
        assert_eq!(p.metrics().exports_duplicate, 1);
        drop(p);
        let store = writer.join().await.unwrap();
        let once = requests(&store);
        assert!(once > 0);
        drop(store);

        // The window is read back from the database.
        let (p, writer) =
            Pipeline::start(Store::open(&path).unwrap(), PipelineConfig::default()).unwrap();
        p.export(payload).await.unwrap();
        assert_eq!(p.metrics().exports_duplicate, 1);
        drop(p);
        assert_eq!(requests(&writer.join().await.unwrap()), once);
    }

    #[tokio::test]
    async fn a_retry_racing_its_uncommitted_original_is_told_to_retry() {
        let cfg = PipelineConfig {
            flush_interval: Duration::from_millis(500),
            ..Default::default()
        };
        let (p, writer) = Pipeline::start(Store::open_in_memory().unwrap(), cfg).unwrap();
        let payload = export_payload();
        let first = tokio::spawn({
            let (p, payload) = (p.clone(), payload.clone());
            async move { p.export(payload).await }
        });
        while p.metrics().spans_received == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // Not counted (the original may still fail) and not acknowledged (it may not).
        match p.export(payload.clone()).await {
            Err(SinkError::Busy { .. }) => {}
            other => panic!("expected Busy, got {other:?}"),
        }
        first.await.unwrap().unwrap();
        p.export(payload).await.unwrap();
        assert_eq!(p.metrics().exports_duplicate, 1);
        drop(p);
        let store = writer.join().await.unwrap();
        assert_eq!(store.recent_exports().unwrap().len(), 1);
    }

    #[test]
    fn files_skip_exports_already_stored_but_retry_ones_that_failed() {
        let payload = ingest::corpus::json(20, 5);
        let mut files = FileIngest::new(Store::open_in_memory().unwrap(), slow_flush()).unwrap();
        let spans = files.ingest_payload(&payload, Format::Json).unwrap();
        assert_eq!(files.ingest_payload(&payload, Format::Json).unwrap(), 0);
        assert_eq!(files.summary().duplicates, 1);
        assert_eq!(files.summary().spans, spans);
        // A request that did not decode was not stored: it fails again, not "duplicate".
        let broken = b"{\"resourceSpans\": [";
        assert!(files.ingest_payload(broken, Format::Json).is_err());
        assert!(files.ingest_payload(broken, Format::Json).is_err());
        assert_eq!(files.summary().duplicates, 1);
        let store = files.finish().unwrap();
        let once = requests(&store);

        let mut again = FileIngest::new(store, slow_flush()).unwrap();
        assert_eq!(again.ingest_payload(&payload, Format::Json).unwrap(), 0);
        assert_eq!(again.summary().duplicates, 1);
        assert_eq!(requests(&again.finish().unwrap()), once);
    }
}
