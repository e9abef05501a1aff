//! shadowscan finds the APIs a company does not know it has: it receives OpenTelemetry
//! traces, turns HTTP server spans into an inventory of endpoints with auth evidence, and
//! compares that inventory with OpenAPI descriptions.
//!
//! # Layout
//!
//! Data flows one way: `ingest → normalize → inventory → store`, and
//! `store + spec → diff → output`.
//!
//! - [`model`]: the shared vocabulary (methods, path templates, auth evidence, span views,
//!   observations, endpoint statistics). Every module may use it.
//! - [`ingest`]: OTLP bytes (protobuf or JSON, gzip) → span views; the gRPC and HTTP
//!   receivers. Owns tonic and opentelemetry-proto.
//! - [`normalize`]: span views → observations: conventions, path templates, auth evidence.
//!   Pure.
//! - [`inventory`]: merges observations into per-endpoint deltas, joins late evidence,
//!   the endpoint graph. Owns petgraph.
//! - [`store`]: the embedded database, the only owner of disk state.
//! - [`pipeline`]: wires ingest → normalize → inventory → store for the daemon and files.
//! - [`spec`]: OpenAPI 2.0/3.0/3.1 → documented operations. Owns the YAML parser.
//! - [`diff`]: inventory × specs → findings. Pure.
//! - [`output`]: findings and inventories rendered as text, JSON, SARIF, JUnit, Markdown.
//! - [`view`]: the endpoints as every command shows them: with specs bound, under the
//!   documented templates and shadow groupings `diff` chose; otherwise folded by learned
//!   parameters.
//! - [`report`]: the weekly inventory report (risk ranking, drift between two windows, the
//!   API-surface map) as self-contained HTML, Markdown or JSON. Pure.
//! - [`admin`]: `serve`'s admin endpoint (health, Prometheus metrics, inventory API).
//! - [`config`], [`cli`], [`commands`]: the command line; each subcommand returns an exit
//!   status.
//! - [`untrusted`]: how sender- and spec-chosen text is escaped for people and logs. Every
//!   module may use it.

pub mod admin;
pub mod cli;
pub mod commands;
pub mod config;
pub mod diff;
pub mod ingest;
pub mod inventory;
pub mod model;
pub mod net;
pub mod normalize;
pub mod output;
pub mod pipeline;
pub mod report;
pub mod spec;
pub mod store;
pub mod untrusted;
pub mod view;
