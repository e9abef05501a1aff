//! `shadowscan inventory --format table|json`: the endpoint inventory as an aligned table or
//! a versioned JSON document.

use serde::Serialize;

use super::{fmt_time, table};
use crate::model::EndpointStats;
use crate::store::OverflowStats;
use crate::untrusted::{escape, Escaped};

/// Aligned columns, sorted by service, template, method.
pub fn render_table(endpoints: &[EndpointStats], overflow: &[OverflowStats]) -> String {
    let mut eps: Vec<&EndpointStats> = endpoints.iter().collect();
    eps.sort_by(|a, b| {
        (&a.service, &a.template, a.method).cmp(&(&b.service, &b.template, b.method))
    });
    let rows: Vec<Vec<String>> = eps
        .iter()
        .map(|e| {
            let ev = e.evidence.names();
            vec![
                escape(&e.service).into_owned(),
                e.method.as_str().to_owned(),
                escape(e.template.as_str()).into_owned(),
                e.source.as_str().to_owned(),
                e.requests.to_string(),
                e.status.s2xx.to_string(),
                e.status.s4xx.to_string(),
                e.status.s5xx.to_string(),
                format!("{}/{}", e.ok_with_auth, e.ok_with_auth + e.ok_without_auth),
                if ev.is_empty() {
                    "-".to_owned()
                } else {
                    escape(&ev.join(",")).into_owned()
                },
                fmt_time(e.first_seen),
                fmt_time(e.last_seen),
            ]
        })
        .collect();
    let mut out = table(
        &[
            "SERVICE",
            "METHOD",
            "TEMPLATE",
            "SOURCE",
            "REQUESTS",
            "2XX",
            "4XX",
            "5XX",
            "OK AUTHED",
            "EVIDENCE",
            "FIRST SEEN",
            "LAST SEEN",
        ],
        &rows,
        &[4, 5, 6, 7, 8],
        &|_, _, c| c,
    );
    let services: std::collections::BTreeSet<&str> =
        eps.iter().map(|e| e.service.as_str()).collect();
    out.push_str(&format!(
        "\n{} endpoint{} in {} service{}\n",
        eps.len(),
        if eps.len() == 1 { "" } else { "s" },
        services.len(),
        if services.len() == 1 { "" } else { "s" }
    ));
    if let Some(note) = overflow_note(overflow) {
        out.push_str(&note);
        out.push('\n');
    }
    out
}

/// What the per-service endpoint cap kept out, for the table's footer: a capped service's
/// inventory is incomplete, and its reader must know.
fn overflow_note(overflow: &[OverflowStats]) -> Option<String> {
    let mut per_service: std::collections::BTreeMap<&str, u64> = Default::default();
    for o in overflow {
        *per_service.entry(o.service.as_str()).or_default() += o.requests;
    }
    if per_service.is_empty() {
        return None;
    }
    let total: u64 = per_service.values().sum();
    let list: Vec<String> = per_service
        .iter()
        .map(|(s, n)| format!("{} ({n})", Escaped(s)))
        .collect();
    // `_other_services` holds services beyond the service cap, the rest endpoints beyond
    // their service's cap: name the setting that applies.
    let other = per_service.contains_key(crate::inventory::OTHER_SERVICES);
    let setting = match (other, per_service.len()) {
        (true, 1) => "inventory.max_services",
        (true, _) => "inventory.max_endpoints_per_service or inventory.max_services",
        (false, _) => "inventory.max_endpoints_per_service",
    };
    Some(format!(
        "{total} request{} to further endpoints of capped services were counted, not inventoried: {}; raise {setting} if they are legitimate",
        if total == 1 { "" } else { "s" },
        list.join(", ")
    ))
}

#[derive(Serialize)]
struct Doc<'a> {
    version: u32,
    endpoints: Vec<&'a EndpointStats>,
    /// Requests the per-service endpoint cap counted instead of inventorying, per service
    /// and method.
    overflow: &'a [OverflowStats],
}

/// `{"version": 1, "endpoints": [EndpointStats...]}`, same order as the table.
pub fn render_json(endpoints: &[EndpointStats], overflow: &[OverflowStats]) -> String {
    let mut eps: Vec<&EndpointStats> = endpoints.iter().collect();
    eps.sort_by(|a, b| {
        (&a.service, &a.template, a.method).cmp(&(&b.service, &b.template, b.method))
    });
    let mut s = serde_json::to_string_pretty(&Doc {
        version: 1,
        endpoints: eps,
        overflow,
    })
    .unwrap_or_default();
    s.push('\n');
    crate::untrusted::json_escape_bidi(s)
}
