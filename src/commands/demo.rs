//! `shadowscan demo`: replays traces recorded from real Flask and Express instrumentation
//! (bundled in the binary) through the real gRPC receiver into a fresh store, and prints
//! the inventory. Nothing is mocked: it is `serve` and an OTLP exporter in one process.
//!
//! The recordings are re-timed to end a minute ago, so the default windows of `report`
//! and `diff` find them on whatever day the demo is run. `--write-spec` writes the OpenAPI
//! description of the recorded Express 4 shop (bundled too), which the README's quickstart
//! (`docs/quickstart.sh`, run by the tests) diffs to reach a shadow finding.

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use super::ExitStatus;
use crate::cli::DemoArgs;
use crate::config::Config;
use crate::ingest::{self, ReceiverLimits};
use crate::output::inventory;
use crate::pipeline::Pipeline;
use crate::store::{Query, Store};

/// Length-delimited OTLP protobuf export requests, one file per recorded application
/// (`tests/e2e/jsonl_to_pb.py` made them from the JSON fixtures).
/// The OpenAPI description of the Express 4 shop, and the service its traffic comes from.
const SHOP_SPEC: &str = include_str!("../../examples/shop-api.openapi.yaml");
const SHOP_SERVICE: &str = "shop/shop-api-express4";

const FIXTURES: [(&str, &[u8]); 3] = [
    (
        "Flask 3 (old HTTP conventions)",
        include_bytes!("../../fixtures/demo/flask-old.pbd"),
    ),
    (
        "Express 4",
        include_bytes!("../../fixtures/demo/express4.pbd"),
    ),
    (
        "Express 5",
        include_bytes!("../../fixtures/demo/express5.pbd"),
    ),
];

pub fn run(args: DemoArgs, config: &Config) -> anyhow::Result<ExitStatus> {
    if let Some(path) = &args.write_spec {
        write_spec(path)?;
    }
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let kept = args.db.clone();
    let db = args.db.unwrap_or_else(|| dir.path().join("demo.db"));
    // Every recording moves by the same amount, so they keep their order and spacing.
    let end = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
        .saturating_sub(60_000_000_000);
    let mut all: Vec<&[u8]> = Vec::new();
    let mut counts = Vec::new();
    for (_, bytes) in FIXTURES {
        let (_, messages) = ingest::protobuf_messages(bytes);
        counts.push(messages.len());
        all.extend(messages);
    }
    let retimed = ingest::corpus::retimed(&all, end).context("re-timing the bundled recordings")?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let endpoints = rt.block_on(async {
        let (pipeline, writer) = Pipeline::start(Store::open(&db)?, super::pipeline_config(config)?)?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let stop = CancellationToken::new();
        let server = tokio::spawn(ingest::run_grpc(
            listener,
            pipeline.clone(),
            ReceiverLimits::default(),
            stop.clone().cancelled_owned(),
        ));
        drop(pipeline);
        let mut client = ingest::GrpcExporter::connect(&format!("http://{addr}"), true).await?;
        let mut messages = retimed.iter();
        for ((name, _), n) in FIXTURES.iter().zip(&counts) {
            let mut requests = 0;
            let mut spans = 0;
            for message in messages.by_ref().take(*n) {
                client.export(message).await.with_context(|| format!("replaying the {name} recording"))?;
                requests += 1;
                spans += ingest::decode(message, ingest::Format::Protobuf, &Default::default(), |_, _| {})?.spans;
            }
            eprintln!("demo: exported {requests} OTLP/gRPC requests ({spans} spans, gzip) recorded from {name} to {addr}");
        }
        stop.cancel();
        server.await??;
        let store = writer.join().await?;
        anyhow::Ok((
            store.endpoints(&Query::default())?,
            store.overflow(&Query::default())?,
        ))
    })?;
    let (endpoints, overflow) = endpoints;
    eprintln!();
    let normalizer = crate::normalize::Normalizer::new(config.normalize.clone());
    let endpoints = crate::inventory::learned::fold(endpoints, &normalizer);
    super::print(&inventory::render_table(&endpoints, &overflow))?;
    eprintln!(
        "\n{}",
        next_steps(kept.as_deref(), args.write_spec.as_deref())
    );
    Ok(ExitStatus::Success)
}

/// Writes the bundled shop spec; an existing file with other content is left alone.
fn write_spec(path: &std::path::Path) -> anyhow::Result<()> {
    if let Ok(existing) = std::fs::read_to_string(path) {
        if existing == SHOP_SPEC {
            return Ok(());
        }
        anyhow::bail!(
            "{}: already exists with other content; remove it or give --write-spec another path",
            path.display()
        );
    }
    std::fs::write(path, SHOP_SPEC).with_context(|| {
        format!(
            "{}: cannot write the demo's OpenAPI description",
            path.display()
        )
    })?;
    eprintln!(
        "demo: wrote the OpenAPI description of {SHOP_SERVICE} to {}",
        path.display()
    );
    Ok(())
}

/// What to run next: the quickstart's remaining commands with the paths given.
fn next_steps(db: Option<&std::path::Path>, spec: Option<&std::path::Path>) -> String {
    let quote = |p: &std::path::Path| {
        let s = p.display().to_string();
        if s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
        {
            s
        } else {
            format!("'{}'", s.replace('\'', "'\\''"))
        }
    };
    let (Some(db), Some(spec)) = (db, spec) else {
        return format!(
            "That is the inventory `shadowscan serve` builds from live traffic. To keep it and compare it with the shop's OpenAPI description:\n\n  \
             shadowscan demo --db {} --write-spec {}",
            db.map(quote).unwrap_or_else(|| "demo.db".into()),
            spec.map(quote).unwrap_or_else(|| "shop-api.yaml".into())
        );
    };
    let (db, spec) = (quote(db), quote(spec));
    format!(
        "That is the inventory `shadowscan serve` builds from live traffic. Next, find what the shop serves but its OpenAPI description does not say (exit 1: drift), then write the weekly report:\n\n  \
         shadowscan diff {spec} --db {db} --service {SHOP_SERVICE}\n  \
         shadowscan report --db {db} --output report.html\n\n\
         For your own services: point an OpenTelemetry collector at `shadowscan serve` (:4317 gRPC, :4318 HTTP; see the README)."
    )
}
