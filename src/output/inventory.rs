//! `shadowscan inventory --format table|json`: the endpoint inventory as an aligned table or
//! a versioned JSON document.

use serde::Serialize;

use super::{fmt_time, table};
use crate::model::EndpointStats;

/// Aligned columns, sorted by service, template, method.
pub fn render_table(endpoints: &[EndpointStats]) -> String {
    let mut eps: Vec<&EndpointStats> = endpoints.iter().collect();
    eps.sort_by(|a, b| {
        (&a.service, &a.template, a.method).cmp(&(&b.service, &b.template, b.method))
    });
    let rows: Vec<Vec<String>> = eps
        .iter()
        .map(|e| {
            let ev = e.evidence.names();
            vec![
                e.service.clone(),
                e.method.as_str().to_owned(),
                e.template.as_str().to_owned(),
                e.source.as_str().to_owned(),
                e.requests.to_string(),
                e.status.s2xx.to_string(),
                e.status.s4xx.to_string(),
                e.status.s5xx.to_string(),
                format!("{}/{}", e.ok_with_auth, e.ok_with_auth + e.ok_without_auth),
                if ev.is_empty() {
                    "-".to_owned()
                } else {
                    ev.join(",")
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
    out
}

#[derive(Serialize)]
struct Doc<'a> {
    version: u32,
    endpoints: Vec<&'a EndpointStats>,
}

/// `{"version": 1, "endpoints": [EndpointStats...]}`, same order as the table.
pub fn render_json(endpoints: &[EndpointStats]) -> String {
    let mut eps: Vec<&EndpointStats> = endpoints.iter().collect();
    eps.sort_by(|a, b| {
        (&a.service, &a.template, a.method).cmp(&(&b.service, &b.template, b.method))
    });
    let mut s = serde_json::to_string_pretty(&Doc {
        version: 1,
        endpoints: eps,
    })
    .unwrap_or_default();
    s.push('\n');
    s
}
