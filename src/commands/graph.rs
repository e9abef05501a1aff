//! `shadowscan graph`: the services, endpoints and caller services of the inventory as
//! Graphviz DOT, Mermaid or JSON.

use super::ExitStatus;
use crate::cli::{GraphArgs, GraphFormat};
use crate::config::Config;
use crate::inventory::Graph;
use crate::store::{Query, Store};

pub fn run(args: GraphArgs, config: &Config) -> anyhow::Result<ExitStatus> {
    let db = config.db(args.db.db.as_deref());
    let store = Store::open_existing(&db)?;
    let query = Query {
        service: args.service.clone(),
        since: args.since.map(|d| super::unix_now() - d.as_secs() as i64),
        until: None,
    };
    let specs = super::diff::load_specs(&args.specs, None, config)?;
    // Nodes as `inventory` shows them; edges follow their endpoints into the view.
    let view = super::inventory::view(
        store.endpoints(&query)?,
        &specs,
        args.service.as_deref(),
        &config.normalize,
    )?;
    let edges: Vec<_> = store
        .edges(&query)?
        .into_iter()
        .map(|mut e| {
            let stored = crate::model::EndpointKey {
                service: e.service.clone(),
                method: e.method,
                template: e.template.clone(),
            };
            if let Some(row) = view.row_of(&stored) {
                e.template = row.template.clone();
            }
            e
        })
        .collect();
    let graph = Graph::build(&view.endpoints, &edges);
    let mut text = match args.format {
        GraphFormat::Dot => graph.to_dot(),
        GraphFormat::Mermaid => graph.to_mermaid(),
        GraphFormat::Json => {
            crate::untrusted::json_escape_bidi(serde_json::to_string_pretty(&graph.to_json())?)
        }
    };
    if !text.ends_with('\n') {
        text.push('\n');
    }
    super::print(&text)?;
    Ok(ExitStatus::Success)
}
