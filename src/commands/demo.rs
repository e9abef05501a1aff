//! `shadowscan demo`: replays traces recorded from real Flask and Express instrumentation
//! (bundled in the binary) through the real gRPC receiver into a fresh store, and prints
//! the inventory. Nothing is mocked: it is `serve` and an OTLP exporter in one process.

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
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let db = args.db.unwrap_or_else(|| dir.path().join("demo.db"));
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
        for (name, bytes) in FIXTURES {
            let mut requests = 0;
            let mut spans = 0;
            let (_, messages) = ingest::protobuf_messages(bytes);
            for message in messages {
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
        "\nThat is the inventory `shadowscan serve` builds from live traffic. Next: point a collector at :4317 (see README), \
         then `shadowscan diff openapi.yaml`."
    );
    Ok(ExitStatus::Success)
}
