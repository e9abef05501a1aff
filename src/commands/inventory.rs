//! `shadowscan inventory`: the endpoint inventory as a table or JSON.

use super::ExitStatus;
use crate::cli::{InventoryArgs, InventoryFormat};
use crate::config::Config;
use crate::diff::SpecBinding;
use crate::model::EndpointStats;
use crate::output::inventory;
use crate::spec::Spec;
use crate::store::{Query, Store};
use crate::view::View;

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
        let specs = super::diff::load_specs(&args.specs, None, config)?;
        endpoints = view(
            endpoints,
            &specs,
            query.service.as_deref(),
            &config.normalize,
        )?
        .endpoints;
    }
    let overflow = store.overflow(&query)?;
    let text = match args.format {
        InventoryFormat::Table => inventory::render_table(&endpoints, &overflow),
        InventoryFormat::Json => inventory::render_json(&endpoints, &overflow),
    };
    super::print(&text)?;
    Ok(ExitStatus::Success)
}

/// The view every command shows ([`crate::view`]) of stored `endpoints`, with `specs`
/// bound as [`bindings`] binds them.
pub fn view(
    endpoints: Vec<EndpointStats>,
    specs: &[(Option<String>, Spec)],
    service: Option<&str>,
    rules: &crate::normalize::Rules,
) -> anyhow::Result<View> {
    let bindings = bindings(specs, service, &endpoints)?;
    let normalizer = crate::normalize::Normalizer::new(rules.clone());
    Ok(crate::view::build(endpoints, &bindings, &normalizer))
}

/// Ties specs to services for a view of the inventory: the config's `[[specs]]` mapping
/// as written (only the mapped service's specs when one service is asked for), specs
/// named on the command line to `service` or the one service in the traffic.
pub fn bindings(
    specs: &[(Option<String>, Spec)],
    service: Option<&str>,
    endpoints: &[EndpointStats],
) -> anyhow::Result<Vec<SpecBinding>> {
    // The mapping says which service each spec describes: nothing to guess, and a mapped
    // service without traffic in this window is simply absent from the view (no warning
    // on every admin API request).
    if !specs.is_empty() && specs.iter().all(|(m, _)| m.is_some()) {
        return Ok(specs
            .iter()
            .filter_map(|(m, spec)| {
                let m = m.as_deref()?;
                service.is_none_or(|s| s == m).then(|| SpecBinding {
                    service: m.to_owned(),
                    spec: spec.clone(),
                })
            })
            .collect());
    }
    if specs.is_empty() {
        return Ok(Vec::new());
    }
    super::diff::bind_services(specs.to_vec(), service, endpoints)
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
