//! The one view of the inventory that every command shows (`inventory`, `report`, `graph`,
//! the admin API): with specs bound, each observed endpoint appears where `diff` put it —
//! under its documented operation's template (`/books/v1/cedar` → `/books/v1/{book_title}`),
//! or under the path of its shadow finding, grouped as the findings are grouped — and
//! endpoints of services without a spec are folded by learned parameters
//! ([`crate::inventory::learned`]). Built from [`diff::diff_placed`]'s placements, never by
//! matching again, so no view can disagree with `diff`. Pure.

use std::collections::HashMap;

use crate::diff::{self, DiffOptions, DiffReport, Placement, SpecBinding};
use crate::inventory::learned;
use crate::model::{EndpointKey, EndpointStats, Method, TemplateSource};
use crate::normalize::Normalizer;

/// The endpoints as people read them, and where each stored endpoint went.
#[derive(Debug, Clone, Default)]
pub struct View {
    pub endpoints: Vec<EndpointStats>,
    /// The findings of the comparison the view was built from, when specs were bound.
    pub diff: Option<DiffReport>,
    /// Stored (service, method, template) → index into `endpoints`.
    rows: HashMap<EndpointKey, usize>,
}

impl View {
    /// The row a stored endpoint is shown as (for what is keyed by stored templates, such
    /// as the graph's caller edges).
    pub fn row_of(&self, stored: &EndpointKey) -> Option<&EndpointStats> {
        self.rows.get(stored).map(|&i| &self.endpoints[i])
    }
}

/// How much a row's own template says: a documented template beats a shadow finding's
/// grouping, which beats a learned fold or the stored template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Authority {
    Observed,
    Undocumented,
    Documented,
}

struct Unit {
    row: EndpointStats,
    authority: Authority,
}

/// Builds the view of `endpoints` (as the store returns them) with `bindings` (none: the
/// learned folds alone, as before specs).
pub fn build(
    endpoints: Vec<EndpointStats>,
    bindings: &[SpecBinding],
    normalizer: &Normalizer,
) -> View {
    let stored: Vec<EndpointKey> = endpoints.iter().map(EndpointStats::key).collect();
    let (diff, placements) = if bindings.is_empty() {
        (None, vec![Placement::NotCompared; endpoints.len()])
    } else {
        let (report, placements) = diff::diff_placed(&endpoints, bindings, &DiffOptions::default());
        (Some(report), placements)
    };

    // Units: each placed endpoint under its new template; the rest folded by learned
    // parameters together. `unit_of[i]` is input row i's unit.
    let mut units: Vec<Unit> = Vec::with_capacity(endpoints.len());
    let mut unit_of = vec![0usize; endpoints.len()];
    let mut rest = Vec::new();
    let mut rest_index = Vec::new();
    for (i, (mut e, placement)) in endpoints.into_iter().zip(placements).enumerate() {
        let authority = match placement {
            Placement::Documented { binding, op } => {
                let spec = &bindings[binding].spec;
                e.template = diff::documented_template(spec, &spec.operations[op as usize]);
                e.explanation = Some(documented_why(&bindings[binding], op));
                Authority::Documented
            }
            Placement::Implicit { binding, op } => {
                let spec = &bindings[binding].spec;
                let operation = &spec.operations[op as usize];
                e.template = diff::documented_template(spec, operation);
                e.explanation = Some(format!(
                    "answered by the framework on the documented path {} ({})",
                    operation.template,
                    spec.file.display()
                ));
                Authority::Documented
            }
            Placement::Undocumented { path } => {
                e.template = path;
                e.explanation = Some(format!(
                    "undocumented: not in {}; `diff` reports it as shadow",
                    bindings
                        .iter()
                        .filter(|b| b.service == e.service)
                        .map(|b| b.spec.file.display().to_string())
                        .collect::<Vec<_>>()
                        .join(" or ")
                ));
                Authority::Undocumented
            }
            Placement::RefusedOnly { path } => {
                e.template = path;
                e.explanation = Some(
                    "undocumented, and every request was refused (404/405): not an API, `diff` does not report it"
                        .to_owned(),
                );
                Authority::Undocumented
            }
            Placement::NotCompared | Placement::NotFoundOnly => {
                rest.push(e);
                rest_index.push(i);
                continue;
            }
        };
        unit_of[i] = units.len();
        units.push(Unit { row: e, authority });
    }
    let (folded, slots) = learned::fold_indexed(rest, normalizer);
    let first_folded = units.len();
    units.extend(folded.into_iter().map(|row| Unit {
        row,
        authority: Authority::Observed,
    }));
    for (i, slot) in rest_index.into_iter().zip(slots) {
        unit_of[i] = first_folded + slot;
    }

    // Units of one shape are one row (a 404-only `/pet/{id}` beside the documented
    // `/pet/{petId}`); the most authoritative template names it.
    let mut out: Vec<EndpointStats> = Vec::with_capacity(units.len());
    let mut authority: Vec<Authority> = Vec::with_capacity(units.len());
    let mut slot_of: HashMap<(String, Method, String), usize> = HashMap::new();
    let mut row_of_unit = Vec::with_capacity(units.len());
    for u in units {
        let key = (u.row.service.clone(), u.row.method, u.row.template.shape());
        match slot_of.get(&key) {
            Some(&slot) => {
                let row = &mut out[slot];
                let route =
                    row.source == TemplateSource::Route || u.row.source == TemplateSource::Route;
                if u.authority > authority[slot] {
                    row.template = u.row.template.clone();
                    row.explanation = u.row.explanation.clone();
                    authority[slot] = u.authority;
                }
                learned::absorb(row, u.row);
                if route {
                    row.source = TemplateSource::Route;
                }
                row_of_unit.push(slot);
            }
            None => {
                slot_of.insert(key, out.len());
                row_of_unit.push(out.len());
                authority.push(u.authority);
                out.push(u.row);
            }
        }
    }
    let rows = stored
        .into_iter()
        .zip(unit_of)
        .map(|(k, u)| (k, row_of_unit[u]))
        .collect();
    View {
        endpoints: out,
        diff,
        rows,
    }
}

/// `documented: GET /books/v1/{book_title} (openapi.yaml:42, getBook)`.
fn documented_why(binding: &SpecBinding, op: u32) -> String {
    let o = &binding.spec.operations[op as usize];
    let mut at = binding.spec.file.display().to_string();
    if let Some(line) = o.line {
        at.push_str(&format!(":{line}"));
    }
    if let Some(id) = &o.operation_id {
        at.push_str(&format!(", {id}"));
    }
    format!("documented: {} {} ({at})", o.method, o.template)
}

#[cfg(test)]
mod tests;
