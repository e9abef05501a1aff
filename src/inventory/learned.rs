//! The inventory as people read it: endpoints whose literal segments turn out, by the
//! evidence of many distinct values, to be one parameter (`/users/octocat`,
//! `/users/torvalds`, ... → `/users/{param}`) are folded into one row. The store keeps what
//! was observed; this is a read-time view, so a later, better rule re-folds old data too.

use std::collections::{BTreeMap, HashMap};

use crate::model::{EndpointStats, Method, PathTemplate, TemplateSource};
use crate::normalize::{infer_template, Normalizer};

/// Most examples and callers a folded row keeps, as the store does per endpoint.
const MAX_EXAMPLES: usize = 3;
const MAX_CALLERS: usize = 16;
const MAX_USER_AGENTS: usize = 16;

/// Folds each service's endpoints by `normalize`'s learned templates, and rows that share a
/// shape (parameter names aside). Rows that nothing merges come back unchanged; the order is
/// the input's, with a folded row where its first member stood.
pub fn fold(endpoints: Vec<EndpointStats>, normalizer: &Normalizer) -> Vec<EndpointStats> {
    fold_indexed(endpoints, normalizer).0
}

/// [`fold`], and for each input row the index of the output row it went into (for
/// anything keyed by the stored template, such as the graph's caller edges).
pub fn fold_indexed(
    endpoints: Vec<EndpointStats>,
    normalizer: &Normalizer,
) -> (Vec<EndpointStats>, Vec<usize>) {
    // Only inferred rows are candidates: a row with an `http.route` is the framework's own
    // word that it is one route, and folding `/api/users` with `/api/s3-export` would hide
    // the one that skips authentication behind the other's figures.
    let mut by_service: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, e) in endpoints.iter().enumerate() {
        if e.source == TemplateSource::Inferred {
            by_service.entry(e.service.as_str()).or_default().push(i);
        }
    }
    // For every input row: None (keep), or the learned template (and why) it folds into.
    let mut target: Vec<Option<(PathTemplate, String)>> = vec![None; endpoints.len()];
    for (service, rows) in &by_service {
        let input: Vec<(Method, PathTemplate, u64)> = rows
            .iter()
            .map(|&i| {
                (
                    endpoints[i].method,
                    endpoints[i].template.clone(),
                    endpoints[i].requests,
                )
            })
            .collect();
        for merge in normalizer.merge_high_cardinality(service, &input) {
            for &m in &merge.members {
                target[rows[m]] = Some((merge.template.clone(), merge.explanation.clone()));
            }
        }
    }
    // Rows that end up with the same shape (`/users/{param}` learned beside the route's
    // `/users/{username}`) are one endpoint; the route's parameter names win.
    let mut out: Vec<EndpointStats> = Vec::with_capacity(endpoints.len());
    let mut slots: Vec<usize> = Vec::with_capacity(endpoints.len());
    let mut slot_of: HashMap<(String, Method, String), usize> = HashMap::new();
    for (i, mut e) in endpoints.into_iter().enumerate() {
        match target[i].take() {
            Some((template, why)) => {
                e.template = template;
                e.source = TemplateSource::Inferred;
                e.explanation = Some(format!("learned: {why}"));
            }
            None => e.explanation = explain(&e, normalizer),
        }
        let key = (e.service.clone(), e.method, e.template.shape());
        match slot_of.get(&key) {
            Some(&slot) => {
                let row = &mut out[slot];
                if row.source == TemplateSource::Inferred && e.source == TemplateSource::Route {
                    row.template = e.template.clone();
                    row.source = TemplateSource::Route;
                    row.explanation = e.explanation.clone();
                }
                absorb(row, e);
                slots.push(slot);
            }
            None => {
                slot_of.insert(key, out.len());
                slots.push(out.len());
                out.push(e);
            }
        }
    }
    (out, slots)
}

/// Why an unfolded row has its template: the route, or what inference sees in an example.
fn explain(e: &EndpointStats, normalizer: &Normalizer) -> Option<String> {
    if !e.template.has_params() {
        return None;
    }
    match e.source {
        TemplateSource::Route => Some("from the instrumentation's http.route".to_owned()),
        TemplateSource::Inferred => e.examples.iter().find_map(|example| {
            let inferred = infer_template(example, &normalizer.rules.infer);
            (inferred.template == e.template)
                .then_some(inferred.explanation)
                .flatten()
                .map(|why| format!("inferred: {why}"))
        }),
    }
}

/// Adds `e`'s traffic to `into`, keeping the bounded lists bounded.
pub(crate) fn absorb(into: &mut EndpointStats, e: EndpointStats) {
    into.requests += e.requests;
    into.status.add(&e.status);
    into.ok_with_auth += e.ok_with_auth;
    into.ok_without_auth += e.ok_without_auth;
    into.evidence |= e.evidence;
    into.first_seen = into.first_seen.min(e.first_seen);
    into.last_seen = into.last_seen.max(e.last_seen);
    for x in e.examples {
        if into.examples.len() < MAX_EXAMPLES && !into.examples.contains(&x) {
            into.examples.push(x);
        }
    }
    for c in e.callers {
        if into.callers.len() < MAX_CALLERS && !into.callers.contains(&c) {
            into.callers.push(c);
        }
    }
    for u in e.user_agents {
        if into.user_agents.len() < MAX_USER_AGENTS && !into.user_agents.contains(&u) {
            into.user_agents.push(u);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AuthEvidence, StatusCounts};

    fn ep(service: &str, path: &str, requests: u64, first: i64) -> EndpointStats {
        let status = StatusCounts {
            s2xx: requests,
            ..StatusCounts::default()
        };
        EndpointStats {
            service: service.into(),
            method: Method::Get,
            template: PathTemplate::parse(path),
            source: TemplateSource::Inferred,
            requests,
            status,
            ok_with_auth: requests,
            ok_without_auth: 0,
            evidence: AuthEvidence::IDENTITY,
            first_seen: first,
            last_seen: first + 10,
            examples: vec![path.into()],
            callers: vec!["203.0.113.9".into()],
            user_agents: vec![],
            explanation: None,
        }
    }

    #[test]
    fn many_user_names_fold_into_one_parameterised_row() {
        let names = [
            "octocat", "torvalds", "alice-1", "bob-22", "carol3", "dave_4", "erin-55", "frank6",
            "grace-7", "heidi88", "ivan-9", "judy10",
        ];
        let mut rows: Vec<EndpointStats> = names
            .iter()
            .enumerate()
            .map(|(i, n)| ep("git", &format!("/users/{n}/repos"), 2, 100 + i as i64))
            .collect();
        rows.push(ep("git", "/healthz", 5, 50));
        rows.push(ep("other", "/users/octocat/repos", 1, 10));
        let total: u64 = rows
            .iter()
            .filter(|e| e.service == "git")
            .map(|e| e.requests)
            .sum();
        let folded = fold(rows, &Normalizer::default());
        let git: Vec<&EndpointStats> = folded.iter().filter(|e| e.service == "git").collect();
        assert_eq!(
            git.len(),
            2,
            "{:?}",
            git.iter().map(|e| e.template.as_str()).collect::<Vec<_>>()
        );
        let users = git
            .iter()
            .find(|e| e.template.as_str() != "/healthz")
            .unwrap();
        assert_eq!(users.template.shape(), "/users/{}/repos");
        assert_eq!(users.requests, 24);
        assert_eq!(users.first_seen, 100);
        assert_eq!(users.last_seen, 121);
        assert!(users.examples.len() <= MAX_EXAMPLES);
        assert!(
            users
                .explanation
                .as_deref()
                .is_some_and(|w| w.starts_with("learned: ") && w.contains("distinct")),
            "{:?}",
            users.explanation
        );
        assert_eq!(
            git.iter().map(|e| e.requests).sum::<u64>(),
            total,
            "nothing lost"
        );
        // Another service's lone row is not evidence for this one.
        assert!(folded
            .iter()
            .any(|e| e.service == "other" && e.template.as_str() == "/users/octocat/repos"));
    }

    #[test]
    fn a_route_and_an_inferred_row_of_the_same_shape_are_one_endpoint() {
        let mut route = ep("shop", "/orders/{orderId}", 5, 20);
        route.source = TemplateSource::Route;
        let inferred = ep("shop", "/orders/{id}", 2, 10);
        let folded = fold(vec![inferred, route], &Normalizer::default());
        assert_eq!(folded.len(), 1);
        assert_eq!(folded[0].template.as_str(), "/orders/{orderId}");
        assert_eq!(folded[0].source, TemplateSource::Route);
        assert_eq!((folded[0].requests, folded[0].first_seen), (7, 10));
    }

    #[test]
    fn inferred_and_route_templates_say_why() {
        let inferred = ep("shop", "/orders/{id}/items", 3, 1);
        let mut inferred = inferred;
        inferred.examples = vec!["/orders/88123/items".into()];
        let mut route = ep("shop", "/carts/{cartId}", 3, 1);
        route.source = TemplateSource::Route;
        let literal = ep("shop", "/healthz", 3, 1);
        let folded = fold(vec![inferred, route, literal], &Normalizer::default());
        let why = |t: &str| {
            folded
                .iter()
                .find(|e| e.template.as_str() == t)
                .unwrap()
                .explanation
                .clone()
        };
        let w = why("/orders/{id}/items").unwrap();
        assert!(w.starts_with("inferred: ") && w.contains("integer"), "{w}");
        assert_eq!(
            why("/carts/{cartId}").as_deref(),
            Some("from the instrumentation's http.route")
        );
        assert_eq!(why("/healthz"), None);
    }

    #[test]
    fn rows_named_by_the_route_are_never_folded() {
        let names = [
            "users",
            "orders",
            "invoices",
            "carts",
            "products",
            "payments",
            "oauth2",
            "s3-export",
            "reports",
            "teams",
            "audit-log",
            "webhooks",
        ];
        let rows: Vec<EndpointStats> = names
            .iter()
            .map(|n| {
                let mut e = ep("shop", &format!("/api/{n}"), 3, 1);
                e.source = TemplateSource::Route;
                e
            })
            .collect();
        // The same paths without a route are one parameter by the learning rules: the
        // exemption is what keeps the routed rows apart.
        let inferred: Vec<EndpointStats> = rows
            .iter()
            .cloned()
            .map(|mut e| {
                e.source = TemplateSource::Inferred;
                e
            })
            .collect();
        assert_eq!(fold(inferred, &Normalizer::default()).len(), 1);
        let folded = fold(rows.clone(), &Normalizer::default());
        assert_eq!(
            folded
                .iter()
                .map(|e| e.template.as_str())
                .collect::<Vec<_>>(),
            rows.iter().map(|e| e.template.as_str()).collect::<Vec<_>>()
        );
        assert!(folded.iter().all(|e| e.source == TemplateSource::Route));
    }

    #[test]
    fn a_few_distinct_sub_resources_stay_literal() {
        let rows = vec![
            ep("shop", "/api/orders", 9, 1),
            ep("shop", "/api/users", 9, 1),
            ep("shop", "/api/products", 9, 1),
        ];
        let folded = fold(rows.clone(), &Normalizer::default());
        assert_eq!(folded, rows);
    }
}
