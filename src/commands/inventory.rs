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
    if !args.raw {
        let normalizer = crate::normalize::Normalizer::new(config.normalize.clone());
        endpoints = crate::inventory::learned::fold(endpoints, &normalizer);
    }
    let text = match args.format {
        InventoryFormat::Table => inventory::render_table(&endpoints),
        InventoryFormat::Json => inventory::render_json(&endpoints),
    };
    super::print(&text)?;
    Ok(ExitStatus::Success)
}
