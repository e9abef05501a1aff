//! `shadowscan inventory`: the endpoint inventory as a table or JSON.

use super::ExitStatus;
use crate::cli::{InventoryArgs, InventoryFormat};
use crate::config::Config;
use crate::output::inventory;
use crate::store::{Query, Store};

pub fn run(args: InventoryArgs, config: &Config) -> anyhow::Result<ExitStatus> {
    let db = config.db(args.db.db.as_deref());
    let store = Store::open_existing(&db)?;
    let query = Query {
        service: args.service,
        since: args.since.map(|d| super::unix_now() - d.as_secs() as i64),
        until: None,
    };
    let mut endpoints = store.endpoints(&query)?;
    if endpoints.is_empty() {
        if let Some(hint) = namespaced(&store, &query)? {
            eprintln!("{hint}");
        }
    }
    if !args.raw {
        let normalizer = crate::normalize::Normalizer::new(config.normalize.clone());
        endpoints = crate::inventory::learned::fold(endpoints, &normalizer);
    }
    let overflow = store.overflow(&query)?;
    let text = match args.format {
        InventoryFormat::Table => inventory::render_table(&endpoints, &overflow),
        InventoryFormat::Json => inventory::render_json(&endpoints, &overflow),
    };
    super::print(&text)?;
    Ok(ExitStatus::Success)
}

/// Services are named `namespace/name` when the resource has a `service.namespace`; asking
/// for the bare name finds nothing, so say which names were meant.
fn namespaced(store: &Store, query: &Query) -> anyhow::Result<Option<String>> {
    let Some(wanted) = query.service.as_deref().filter(|s| !s.contains('/')) else {
        return Ok(None);
    };
    let all = Query {
        service: None,
        ..query.clone()
    };
    let suffix = format!("/{wanted}");
    let near: Vec<String> = store
        .services(&all)?
        .into_iter()
        .filter(|s| s.name.ends_with(&suffix))
        .map(|s| s.name)
        .collect();
    Ok((!near.is_empty()).then(|| {
        format!(
            "no service is named `{wanted}`; services with a namespace are named namespace/name: try --service {}",
            near.join(" or --service ")
        )
    }))
}
