use std::collections::BTreeSet;

use super::*;
use crate::diff::FindingKind;
use crate::model::{AuthEvidence, PathTemplate, StatusCounts};

/// VAmPI's own spec (a Flask API; `/books/v1/{book_title}`, `/users/v1/{username}`).
fn vampi() -> Vec<SpecBinding> {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("specs/vampi-openapi3.yml");
    vec![SpecBinding {
        service: "vampi".into(),
        spec: crate::spec::load(&file).expect("specs/vampi-openapi3.yml loads"),
    }]
}

fn ep(service: &str, method: Method, path: &str, requests: u64) -> EndpointStats {
    let status = StatusCounts {
        s2xx: requests,
        ..StatusCounts::default()
    };
    EndpointStats {
        service: service.into(),
        method,
        template: PathTemplate::parse(path),
        source: TemplateSource::Inferred,
        requests,
        status,
        ok_with_auth: requests,
        ok_without_auth: 0,
        evidence: AuthEvidence::IDENTITY,
        first_seen: 1_763_000_000,
        last_seen: 1_763_003_600,
        examples: vec![path.into()],
        callers: vec![],
        user_agents: vec![],
        explanation: None,
    }
}

/// Route-less traffic as NestJS 12 or a Koa 401 leaves it: literal titles and user names.
fn routeless() -> Vec<EndpointStats> {
    use Method::*;
    let mut v = vec![
        ep("vampi", Get, "/books/v1/cedar", 4),
        ep("vampi", Get, "/books/v1/maple", 3),
        ep("vampi", Get, "/books/v1/{id}", 2),
        ep("vampi", Patch, "/books/v1/cedar", 5),
        ep("vampi", Patch, "/books/v1/maple", 1),
        ep("vampi", Get, "/users/v1/_debug", 6),
        ep("vampi", Put, "/users/v1/login", 7),
        ep("vampi", Get, "/books/v1", 9),
    ];
    for (i, name) in ["alice", "bob", "carol", "dave", "erin", "frank"]
        .iter()
        .enumerate()
    {
        v.push(ep("vampi", Get, &format!("/users/v1/{name}"), 1 + i as u64));
        v.push(ep("vampi", Put, &format!("/users/v1/{name}/email"), 1));
        v.push(ep(
            "vampi",
            Get,
            &format!("/internal/exports/{name}-{i}7/download"),
            2,
        ));
    }
    // A service no spec describes: the learned fold, as before specs.
    for name in [
        "octocat", "torvalds", "alice-1", "bob-22", "carol3", "dave_4", "erin-55", "frank6",
        "grace-7", "heidi88", "ivan-9", "judy10",
    ] {
        v.push(ep("git", Get, &format!("/users/{name}/repos"), 2));
    }
    v
}

fn set(rows: &[EndpointStats], service: &str) -> BTreeSet<(Method, String)> {
    rows.iter()
        .filter(|e| e.service == service)
        .map(|e| (e.method, e.template.as_str().to_owned()))
        .collect()
}

#[test]
fn observed_paths_appear_under_the_documented_templates_diff_matched() {
    let bindings = vampi();
    let input = routeless();
    let total: u64 = input.iter().map(|e| e.requests).sum();
    let view = build(input.clone(), &bindings, &Normalizer::default());
    let row = |m: Method, t: &str| {
        view.endpoints
            .iter()
            .find(|e| e.service == "vampi" && e.method == m && e.template.as_str() == t)
            .unwrap_or_else(|| panic!("no {m} {t} in {:?}", set(&view.endpoints, "vampi")))
    };
    let book = row(Method::Get, "/books/v1/{book_title}");
    assert_eq!(
        book.requests, 9,
        "cedar, maple and the inferred {{id}} are one operation"
    );
    let why = book.explanation.as_deref().unwrap();
    assert!(
        why.starts_with("documented: GET /books/v1/{book_title} (")
            && why.contains("vampi-openapi3.yml:"),
        "{why}"
    );
    assert_eq!(row(Method::Get, "/users/v1/{username}").requests, 21);
    assert_eq!(row(Method::Put, "/users/v1/{username}/email").requests, 6);
    // Undocumented: where diff reports it, not folded into a documented neighbour.
    let patch = row(Method::Patch, "/books/v1/{book_title}");
    assert!(patch
        .explanation
        .as_deref()
        .unwrap()
        .starts_with("undocumented: not in "));
    row(Method::Put, "/users/v1/login");
    row(Method::Get, "/users/v1/_debug");
    assert_eq!(
        view.endpoints.iter().map(|e| e.requests).sum::<u64>(),
        total,
        "no request lost or counted twice"
    );

    // Exactly diff's endpoints: documented operations it saw, and its shadow findings.
    let diff = view
        .diff
        .as_ref()
        .expect("specs bound: the findings come with the view");
    let spec = &bindings[0].spec;
    let unobserved: BTreeSet<(Method, String)> = diff
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::Unobserved)
        .map(|f| (f.method, f.path.clone()))
        .collect();
    let mut want: BTreeSet<(Method, String)> = spec
        .operations
        .iter()
        .filter(|o| !unobserved.contains(&(o.method, o.template.as_str().to_owned())))
        .map(|o| {
            (
                o.method,
                diff::documented_template(spec, o).as_str().to_owned(),
            )
        })
        .collect();
    want.extend(
        diff.findings
            .iter()
            .filter(|f| f.kind == FindingKind::Shadow)
            .map(|f| (f.method, f.path.clone())),
    );
    assert_eq!(set(&view.endpoints, "vampi"), want);
    assert_eq!(
        diff.summary.operations_observed + diff.summary.shadow,
        want.len()
    );

    // The unbound service is folded by learned parameters, as `inventory` always did.
    let git = set(&view.endpoints, "git");
    assert_eq!(git.len(), 1, "{git:?}");

    // Stored templates find their rows (the graph's caller edges need this).
    let stored = input[0].key();
    assert_eq!(
        view.row_of(&stored).unwrap().template.as_str(),
        "/books/v1/{book_title}"
    );
}

#[test]
fn a_not_found_only_row_joins_the_documented_operation_of_its_shape() {
    let mut missing = ep("vampi", Method::Get, "/books/v1/{title}", 3);
    missing.status = StatusCounts {
        s4xx: 3,
        s404: 3,
        ..StatusCounts::default()
    };
    let found = ep("vampi", Method::Get, "/books/v1/cedar", 2);
    let view = build(vec![missing, found], &vampi(), &Normalizer::default());
    assert_eq!(
        view.endpoints.len(),
        1,
        "{:?}",
        set(&view.endpoints, "vampi")
    );
    assert_eq!(
        view.endpoints[0].template.as_str(),
        "/books/v1/{book_title}"
    );
    assert_eq!(view.endpoints[0].requests, 5);
    assert_eq!(view.diff.as_ref().unwrap().summary.skipped_not_found, 1);
}

#[test]
fn without_specs_the_view_is_the_learned_fold() {
    let input = routeless();
    let view = build(input.clone(), &[], &Normalizer::default());
    assert!(view.diff.is_none());
    assert_eq!(view.endpoints, learned::fold(input, &Normalizer::default()));
}

#[test]
fn a_service_without_a_spec_is_left_to_the_fold_when_another_has_one() {
    let mut input = routeless();
    input.push(ep("shop", Method::Get, "/books/v1/cedar", 1));
    let view = build(input, &vampi(), &Normalizer::default());
    assert_eq!(
        set(&view.endpoints, "shop"),
        BTreeSet::from([(Method::Get, "/books/v1/cedar".to_owned())])
    );
}
