use super::*;
use crate::model::{AuthEvidence, EndpointStats, Method, PathTemplate, StatusCounts};
use crate::spec::{Operation, Security, Spec, SpecVersion};

fn op(method: Method, template: &str, security: Security) -> Operation {
    Operation {
        security,
        ..Operation::new(method, PathTemplate::parse(template))
    }
}

fn spec(base: &str, ops: Vec<Operation>) -> Spec {
    Spec {
        file: "specs/test.yaml".into(),
        version: SpecVersion::OpenApi30,
        title: None,
        base_paths: vec![base.to_owned()],
        operations: ops,
    }
}

/// The operations of swagger-petstore3.yaml (servers: https://petstore3.swagger.io/api/v3).
fn petstore3() -> Spec {
    use Method::*;
    use Security::*;
    let mut ops = vec![
        op(Put, "/pet", Required),
        op(Post, "/pet", Required),
        op(Get, "/pet/findByStatus", Required),
        op(Get, "/pet/findByTags", Required),
        op(Get, "/pet/{petId}", Required),
        op(Post, "/pet/{petId}", Required),
        op(Delete, "/pet/{petId}", Required),
        op(Post, "/pet/{petId}/uploadImage", Required),
        op(Get, "/store/inventory", Required),
        op(Post, "/store/order", Unspecified),
        op(Get, "/store/order/{orderId}", Unspecified),
        op(Delete, "/store/order/{orderId}", Unspecified),
        op(Post, "/user", Unspecified),
        op(Post, "/user/createWithList", Unspecified),
        op(Get, "/user/login", Unspecified),
        op(Get, "/user/logout", Unspecified),
        op(Get, "/user/{username}", Unspecified),
        op(Put, "/user/{username}", Unspecified),
        op(Delete, "/user/{username}", Unspecified),
    ];
    ops[3].deprecated = true; // findByTags is deprecated upstream in older versions
    for (i, o) in ops.iter_mut().enumerate() {
        o.line = Some(40 + i * 30);
        o.operation_id = Some(format!("op{i}"));
    }
    let mut s = spec("/api/v3", ops);
    s.file = "specs/swagger-petstore3.yaml".into();
    s
}

fn ep(service: &str, method: Method, template: &str) -> EndpointStats {
    let mut status = StatusCounts::default();
    for _ in 0..10 {
        status.record(Some(200));
    }
    EndpointStats {
        service: service.to_owned(),
        method,
        template: PathTemplate::parse(template),
        source: TemplateSource::Inferred,
        requests: 10,
        status,
        ok_with_auth: 10,
        ok_without_auth: 0,
        evidence: AuthEvidence::MIDDLEWARE,
        first_seen: 1_763_000_000,
        last_seen: 1_763_003_600,
        examples: vec![template.to_owned()],
        callers: vec![],
        user_agents: vec![],
        explanation: None,
    }
}

fn unauth(mut e: EndpointStats) -> EndpointStats {
    e.ok_without_auth = e.ok_with_auth;
    e.ok_with_auth = 0;
    e.evidence = AuthEvidence::NONE;
    e
}

fn bind(service: &str, s: Spec) -> Vec<SpecBinding> {
    vec![SpecBinding {
        service: service.to_owned(),
        spec: s,
    }]
}

fn run(eps: &[EndpointStats], specs: &[SpecBinding]) -> DiffReport {
    diff(eps, specs, &DiffOptions::default())
}

fn of(r: &DiffReport, kind: FindingKind) -> Vec<String> {
    r.findings
        .iter()
        .filter(|f| f.kind == kind)
        .map(|f| format!("{} {}", f.method, f.path))
        .collect()
}

/// A service that shows auth evidence somewhere, so unauthenticated findings are possible.
fn with_auth_anchor(mut eps: Vec<EndpointStats>) -> Vec<EndpointStats> {
    eps.push(ep("petstore", Method::Get, "/api/v3/store/inventory"));
    eps
}

#[test]
fn documented_endpoints_under_base_path_and_without_it_are_not_shadows() {
    let eps = vec![
        ep("petstore", Method::Get, "/api/v3/pet/7"),
        ep("petstore", Method::Get, "/api/v3/pet/{petId}"),
        ep("petstore", Method::Get, "/pet/8812"),
        ep("petstore", Method::Get, "/api/v3/user/octocat"),
        ep("petstore", Method::Post, "/api/v3/store/order"),
    ];
    let r = run(&eps, &bind("petstore", petstore3()));
    assert!(of(&r, FindingKind::Shadow).is_empty(), "{:?}", r.findings);
    assert_eq!(r.summary.operations_observed, 3);
    assert_eq!(r.summary.endpoints_observed, 5);
}

#[test]
fn literal_is_preferred_over_parameter() {
    // `/pet/findByStatus` is its own operation, not `/pet/{petId}` with petId=findByStatus:
    // a DELETE on it is therefore undocumented, although DELETE /pet/{petId} exists.
    let eps = vec![ep("petstore", Method::Delete, "/api/v3/pet/findByStatus")];
    let r = run(&eps, &bind("petstore", petstore3()));
    assert!(
        of(&r, FindingKind::Shadow).is_empty(),
        "a documented DELETE with a parameter accepts the literal"
    );
    let eps = vec![ep("petstore", Method::Get, "/api/v3/pet/findByStatus")];
    let r = run(&eps, &bind("petstore", petstore3()));
    let observed: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::Unobserved)
        .map(|f| f.path.clone())
        .collect();
    assert!(
        observed.contains(&"/pet/{petId}".to_owned()),
        "GET /pet/findByStatus must not count as GET /pet/{{petId}}"
    );
    assert!(!observed.contains(&"/pet/findByStatus".to_owned()));
}

#[test]
fn undocumented_method_on_documented_path_is_a_shadow() {
    let eps = vec![ep("petstore", Method::Patch, "/api/v3/pet/42")];
    let r = run(&eps, &bind("petstore", petstore3()));
    assert_eq!(
        of(&r, FindingKind::Shadow),
        vec!["PATCH /api/v3/pet/{petId}"]
    );
    let f = &r.findings[0];
    assert!(f.reason.contains("GET, POST, DELETE"), "{}", f.reason);
    assert_eq!(f.spec_path.as_deref(), Some("/pet/{petId}"));
    assert_eq!(f.severity, Severity::High, "writes are high");
}

#[test]
fn head_and_options_are_answered_by_the_framework() {
    let eps = vec![
        ep("petstore", Method::Head, "/api/v3/pet/42"),
        ep("petstore", Method::Options, "/api/v3/store/order"),
        ep("petstore", Method::Head, "/api/v3/user/login"),
    ];
    let r = run(&eps, &bind("petstore", petstore3()));
    assert!(
        of(&r, FindingKind::Shadow).is_empty(),
        "{:?}",
        of(&r, FindingKind::Shadow)
    );
    let opts = DiffOptions {
        implicit_head: false,
        implicit_options: false,
        ..DiffOptions::default()
    };
    let r = diff(&eps, &bind("petstore", petstore3()), &opts);
    assert_eq!(of(&r, FindingKind::Shadow).len(), 3);
}

#[test]
fn trailing_slash_percent_encoding_and_conventions_are_one_endpoint() {
    let s = spec(
        "",
        vec![
            op(Method::Get, "/users/{id}/orders", Security::Required),
            op(Method::Get, "/caf\u{e9}", Security::Public),
        ],
    );
    let eps = vec![
        ep("shop", Method::Get, "/users/12/orders/"),
        ep("shop", Method::Get, "/caf%C3%A9"),
        ep("shop", Method::Get, "/reports/:reportId/rows"),
        ep("shop", Method::Get, "/reports/{id}/rows/"),
        ep("shop", Method::Get, "/reports/<int:report_id>/rows"),
    ];
    let r = run(&eps, &bind("shop", s));
    assert_eq!(of(&r, FindingKind::Shadow), vec!["GET /reports/{id}/rows"]);
    let f = r
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::Shadow)
        .unwrap();
    assert_eq!(
        f.requests, 30,
        "three conventions of one endpoint merge their counts"
    );
    assert_eq!(r.summary.operations_observed, 2);
}

#[test]
fn mixed_segments_match_by_their_literal_parts() {
    let s = spec(
        "",
        vec![
            op(Method::Get, "/files/{name}.{ext}", Security::Required),
            op(Method::Post, "/v1/jobs/{id}:cancel", Security::Required),
            op(Method::Get, "/v1/jobs/{id}", Security::Required),
        ],
    );
    let eps = vec![
        ep("svc", Method::Get, "/files/archive.tar.gz"),
        ep("svc", Method::Get, "/files/{file}.{format}"),
        ep("svc", Method::Post, "/v1/jobs/8812:cancel"),
        ep("svc", Method::Post, "/v1/jobs/{jobId}:cancel"),
        ep("svc", Method::Get, "/v1/jobs/8812"),
        // no dot: not the mixed template
        ep("svc", Method::Get, "/files/README"),
    ];
    let r = run(&eps, &bind("svc", s));
    assert_eq!(of(&r, FindingKind::Shadow), vec!["GET /files/README"]);
    assert_eq!(r.summary.operations_observed, 3);
}

#[test]
fn slashy_parameters_swallow_segments() {
    let mut contents = op(
        Method::Get,
        "/repos/{owner}/{repo}/contents/{path}",
        Security::Required,
    );
    contents.path_params[2].may_contain_slashes = true;
    let s = spec(
        "",
        vec![
            contents,
            // not declared slashy, but named like a ref and the last parameter
            op(
                Method::Get,
                "/repos/{owner}/{repo}/git/ref/{ref}",
                Security::Required,
            ),
            op(
                Method::Get,
                "/repos/{owner}/{repo}/issues/{number}",
                Security::Required,
            ),
        ],
    );
    let eps = vec![
        ep(
            "gh",
            Method::Get,
            "/repos/octocat/hello-world/contents/docs/guide/intro.md",
        ),
        ep(
            "gh",
            Method::Get,
            "/repos/octocat/hello-world/contents/README.md",
        ),
        ep(
            "gh",
            Method::Get,
            "/repos/octocat/hello-world/git/ref/heads/feature/x",
        ),
        // a sub-resource under an ordinary last parameter stays a shadow
        ep(
            "gh",
            Method::Get,
            "/repos/octocat/hello-world/issues/12/export",
        ),
    ];
    let r = run(&eps, &bind("gh", s));
    assert_eq!(
        of(&r, FindingKind::Shadow),
        vec!["GET /repos/{owner}/{repo}/issues/{number}/export"]
    );
    assert_eq!(
        of(&r, FindingKind::Unobserved),
        vec!["GET /repos/{owner}/{repo}/issues/{number}"],
        "the export sub-resource is not the issue itself"
    );
}

#[test]
fn spec_guides_grouping_of_undocumented_sub_resources() {
    let s = spec(
        "",
        vec![op(Method::Get, "/v1/coupons/{coupon}", Security::Required)],
    );
    let eps = vec![
        ep("shop", Method::Get, "/v1/coupons/SUMMER25/export"),
        ep("shop", Method::Get, "/v1/coupons/WINTER10/export"),
        ep("shop", Method::Get, "/v1/coupons/welcome/export"),
        ep("shop", Method::Get, "/v1/coupons/SUMMER25"),
    ];
    let r = run(&eps, &bind("shop", s));
    assert_eq!(
        of(&r, FindingKind::Shadow),
        vec!["GET /v1/coupons/{coupon}/export"]
    );
    let f = &r.findings[0];
    assert_eq!(f.requests, 30);
    assert_eq!(f.observed.len(), 3);
}

#[test]
fn mirrors_of_documented_paths_borrow_their_parameters() {
    let eps = with_auth_anchor(vec![
        unauth(ep("petstore", Method::Get, "/internal/api/v3/user/alpha")),
        unauth(ep(
            "petstore",
            Method::Get,
            "/internal/api/v3/user/bravo-12",
        )),
        unauth(ep("petstore", Method::Get, "/internal/api/v3/user/login")),
    ]);
    let r = run(&eps, &bind("petstore", petstore3()));
    assert_eq!(
        of(&r, FindingKind::Shadow),
        vec![
            "GET /internal/api/v3/user/login",
            "GET /internal/api/v3/user/{username}"
        ]
    );
}

#[test]
fn high_cardinality_word_values_become_one_parameter() {
    let s = spec("", vec![op(Method::Get, "/health", Security::Public)]);
    let mut eps: Vec<_> = [
        "alpha",
        "bravo-12",
        "octocat",
        "hello-world",
        "rust-lang.io",
        "cedar7",
    ]
    .iter()
    .map(|v| ep("svc", Method::Get, &format!("/internal/users/{v}")))
    .collect();
    // distinct actions under one parent stay literal
    for a in ["export", "stats"] {
        eps.push(ep("svc", Method::Get, &format!("/admin/{a}")));
    }
    // a version segment is never a parameter, whatever its siblings
    for v in ["v1", "v2", "v3", "v4"] {
        eps.push(ep("svc", Method::Get, &format!("/api/{v}/things")));
    }
    let r = run(&eps, &bind("svc", s));
    let mut got = of(&r, FindingKind::Shadow);
    got.sort();
    assert_eq!(
        got,
        vec![
            "GET /admin/export",
            "GET /admin/stats",
            "GET /api/v1/things",
            "GET /api/v2/things",
            "GET /api/v3/things",
            "GET /api/v4/things",
            "GET /internal/users/{user}",
        ]
    );
}

#[test]
fn few_words_with_different_sub_paths_stay_literal() {
    let s = spec("", vec![op(Method::Get, "/health", Security::Public)]);
    let eps = vec![
        ep("svc", Method::Get, "/admin/users/{id}"),
        ep("svc", Method::Get, "/admin/export"),
        ep("svc", Method::Get, "/admin/reports/{date}/download"),
        ep("svc", Method::Post, "/admin/cache/flush"),
    ];
    let r = run(&eps, &bind("svc", s));
    assert_eq!(of(&r, FindingKind::Shadow).len(), 4);
    assert!(of(&r, FindingKind::Shadow)
        .iter()
        .all(|p| !p.contains("{param}") && !p.contains("{admin}")));
}

#[test]
fn unauthenticated_missing_mixed_and_severity() {
    let mut mixed = ep("petstore", Method::Get, "/api/v3/pet/{petId}");
    mixed.ok_with_auth = 8;
    mixed.ok_without_auth = 2;
    let eps = vec![
        unauth(ep("petstore", Method::Delete, "/api/v3/pet/3")),
        mixed,
        unauth(ep("petstore", Method::Get, "/api/v3/admin/export")),
        // Unspecified security: no accusation
        unauth(ep("petstore", Method::Get, "/api/v3/user/logout")),
        ep("petstore", Method::Get, "/api/v3/store/inventory"),
    ];
    let r = run(&eps, &bind("petstore", petstore3()));
    let u: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::Unauthenticated)
        .collect();
    let summary: Vec<_> = u
        .iter()
        .map(|f| (f.method, f.path.as_str(), f.auth, f.severity))
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                Method::Get,
                "/api/v3/admin/export",
                AuthLevel::Missing,
                Severity::Critical
            ),
            (
                Method::Get,
                "/pet/{petId}",
                AuthLevel::Mixed,
                Severity::Medium
            ),
            (
                Method::Delete,
                "/pet/{petId}",
                AuthLevel::Missing,
                Severity::Critical
            ),
        ]
    );
    let shadow = r
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::Shadow)
        .unwrap();
    assert_eq!(shadow.severity, Severity::Critical);
    assert_eq!(shadow.spec_path.as_deref(), Some("/admin/export"));
}

#[test]
fn optional_and_public_operations_are_not_unauthenticated() {
    let s = spec(
        "",
        vec![
            op(Method::Get, "/feed", Security::Optional),
            op(Method::Get, "/tags", Security::Public),
            op(Method::Get, "/me", Security::Required),
        ],
    );
    let eps = vec![
        unauth(ep("c", Method::Get, "/feed")),
        unauth(ep("c", Method::Get, "/tags")),
        ep("c", Method::Get, "/me"),
    ];
    let r = run(&eps, &bind("c", s));
    assert!(of(&r, FindingKind::Unauthenticated).is_empty());
}

#[test]
fn a_service_without_any_auth_evidence_is_unknown_not_accused() {
    let eps = vec![
        unauth(ep("petstore", Method::Get, "/api/v3/pet/1")),
        unauth(ep("petstore", Method::Get, "/api/v3/admin/export")),
    ];
    let r = run(&eps, &bind("petstore", petstore3()));
    assert!(of(&r, FindingKind::Unauthenticated).is_empty());
    assert_eq!(r.summary.services_auth_unknown, vec!["petstore"]);
    let shadow = r
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::Shadow)
        .unwrap();
    assert_eq!(shadow.auth, AuthLevel::Unknown);
    assert_eq!(shadow.severity, Severity::High, "sensitive, auth unknown");
}

#[test]
fn zombie_and_unobserved() {
    let eps = vec![
        ep("petstore", Method::Get, "/api/v3/pet/findByTags"),
        ep("petstore", Method::Get, "/pet/findByTags/"),
    ];
    let r = run(&eps, &bind("petstore", petstore3()));
    assert_eq!(of(&r, FindingKind::Zombie), vec!["GET /pet/findByTags"]);
    let z = r
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::Zombie)
        .unwrap();
    assert_eq!(
        (z.requests, z.spec_line, z.base_path.as_deref()),
        (20, Some(130), Some("/api/v3"))
    );
    assert_eq!(z.operation_id.as_deref(), Some("op3"));
    assert_eq!(r.summary.unobserved, 18);
    assert_eq!(r.summary.zombie, 1);
    assert!(r
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::Unobserved)
        .all(|f| f.severity == Severity::Info));
    let none = DiffOptions {
        report_unobserved: false,
        ..DiffOptions::default()
    };
    assert_eq!(
        diff(&eps, &bind("petstore", petstore3()), &none)
            .summary
            .unobserved,
        0
    );
}

#[test]
fn not_found_only_inferred_endpoints_and_unbound_services_are_skipped() {
    let mut probe = ep("petstore", Method::Get, "/wp-login.php");
    probe.status = StatusCounts::default();
    for _ in 0..5 {
        probe.status.record(Some(404));
    }
    let eps = vec![probe, ep("other", Method::Get, "/x")];
    let r = run(&eps, &bind("petstore", petstore3()));
    assert!(of(&r, FindingKind::Shadow).is_empty());
    assert_eq!(r.summary.skipped_not_found, 1);
    assert_eq!(r.summary.services_without_spec, vec!["other"]);
}

#[test]
fn output_is_independent_of_input_order() {
    let mut eps = vec![
        ep("petstore", Method::Get, "/v1/coupons/A1/export"),
        unauth(ep("petstore", Method::Get, "/api/v3/pet/7/export")),
        ep("petstore", Method::Get, "/api/v3/pet/{id}/export"),
        ep("petstore", Method::Post, "/api/v3/pet/9"),
        ep("petstore", Method::Patch, "/api/v3/user/alpha"),
    ];
    let a = run(&eps, &bind("petstore", petstore3()));
    eps.reverse();
    let b = run(&eps, &bind("petstore", petstore3()));
    assert_eq!(a, b);
    assert_eq!(
        of(&a, FindingKind::Shadow)
            .iter()
            .filter(|p| p.contains("/export"))
            .count(),
        2
    );
}

#[test]
fn several_specs_for_one_service() {
    let a = spec(
        "/billing",
        vec![op(Method::Get, "/invoices/{id}", Security::Required)],
    );
    let mut b = spec(
        "/accounts",
        vec![op(Method::Get, "/users/{id}", Security::Required)],
    );
    b.file = "specs/accounts.yaml".into();
    let specs = vec![
        SpecBinding {
            service: "api".into(),
            spec: a,
        },
        SpecBinding {
            service: "api".into(),
            spec: b,
        },
    ];
    let eps = vec![
        ep("api", Method::Get, "/billing/invoices/3"),
        ep("api", Method::Get, "/accounts/users/3"),
        ep("api", Method::Get, "/accounts/users/3/export"),
    ];
    let r = run(&eps, &specs);
    assert_eq!(
        of(&r, FindingKind::Shadow),
        vec!["GET /accounts/users/{id}/export"]
    );
    assert_eq!(
        r.findings[0].spec_file.as_deref(),
        Some(std::path::Path::new("specs/accounts.yaml"))
    );
    assert_eq!(
        r.findings[0].spec_path.as_deref(),
        Some("/users/{id}/export")
    );
}

#[test]
fn version_segments() {
    for v in ["v1", "v2", "v2.1", "v1beta1", "v3alpha", "V10"] {
        assert!(group::is_version_segment(v), "{v}");
    }
    for v in ["v", "vip", "video", "v1x2y", "1"] {
        assert!(!group::is_version_segment(v), "{v}");
    }
}

#[test]
fn fails_on_selected_kinds() {
    let eps = vec![ep("petstore", Method::Get, "/api/v3/pet/findByTags")];
    let r = run(&eps, &bind("petstore", petstore3()));
    assert!(!r.fails(&FindingKind::DEFAULT_FAIL_ON));
    assert!(r.fails(&[FindingKind::Zombie]));
}

#[test]
fn a_single_word_where_the_path_leaves_the_documented_one_stays_literal() {
    let s = spec(
        "/api",
        vec![
            op(
                Method::Delete,
                "/articles/{slug}/comments/{id}",
                Security::Required,
            ),
            op(Method::Get, "/users/{id}", Security::Required),
        ],
    );
    let eps = vec![
        ep(
            "c",
            Method::Get,
            "/api/articles/hello-world/comments/_debug",
        ),
        ep("c", Method::Get, "/api/articles/rust-2024/comments/_debug"),
        ep("c", Method::Get, "/api/users/me/export"),
        // several values: the documented parameter
        ep("c", Method::Get, "/api/users/octocat/repos"),
        ep("c", Method::Get, "/api/users/torvalds/repos"),
        // one value, but value-like: the documented parameter
        ep("c", Method::Put, "/api/articles/hello-world/comments/8812"),
    ];
    let r = run(&eps, &bind("c", s));
    assert_eq!(
        of(&r, FindingKind::Shadow),
        vec![
            "GET /api/articles/{slug}/comments/_debug",
            "PUT /api/articles/{slug}/comments/{id}",
            "GET /api/users/me/export",
            "GET /api/users/{id}/repos",
        ]
    );
    let debug = r
        .findings
        .iter()
        .find(|f| f.path.ends_with("_debug"))
        .unwrap();
    assert_eq!(
        debug.reason,
        "not documented in any spec bound to this service"
    );
    assert_eq!(
        debug.spec_path.as_deref(),
        Some("/articles/{slug}/comments/_debug")
    );
}

#[test]
fn an_observed_parameter_is_not_a_mixed_segment() {
    // discourse documents `/admin/users/{id}.json`; `/admin/users/{id}` is something else
    let s = spec(
        "",
        vec![op(
            Method::Get,
            "/admin/users/{id}.json",
            Security::Required,
        )],
    );
    let eps = vec![
        ep("d", Method::Get, "/admin/users/{id}"),
        ep("d", Method::Get, "/admin/users/42.json"),
        ep("d", Method::Post, "/admin/users/{id}/impersonate"),
    ];
    let r = run(&eps, &bind("d", s));
    assert_eq!(
        of(&r, FindingKind::Shadow),
        vec![
            "GET /admin/users/{id}",
            "POST /admin/users/{id}/impersonate"
        ]
    );
}

#[test]
fn value_like_literals_join_an_inferred_parameter_sibling() {
    let s = spec("", vec![op(Method::Get, "/health", Security::Public)]);
    let eps = vec![
        ep("svc", Method::Delete, "/internal/cache/{token}"),
        ep(
            "svc",
            Method::Delete,
            "/internal/cache/zsVjVaJwrrOZCOcKnrgoeUpx",
        ),
        ep("svc", Method::Get, "/files/{id}"),
        ep("svc", Method::Get, "/files/report.pdf"),
        // a word next to a parameter is not enough: `/users/me` beside `/users/{id}`
        ep("svc", Method::Get, "/users/{id}"),
        ep("svc", Method::Get, "/users/me"),
    ];
    let r = run(&eps, &bind("svc", s));
    assert_eq!(
        of(&r, FindingKind::Shadow),
        vec![
            "GET /files/{id}",
            "DELETE /internal/cache/{token}",
            "GET /users/me",
            "GET /users/{id}"
        ]
    );
    assert!(group::looks_random("zsVjVaJwrrOZCOcKnrgoeUpx"));
    assert!(!group::looks_random("findPetsByStatus"));
    assert!(!group::looks_random("createWithList"));
}

#[test]
fn mirrors_after_the_base_path_and_services_without_traffic() {
    let eps = vec![
        ep("petstore", Method::Get, "/api/v3/internal/pet/findByStatus"),
        ep("petstore", Method::Get, "/api/v3/internal/user/alpha"),
        ep("petstore", Method::Get, "/api/v3/internal/user/bravo-12"),
    ];
    let mut specs = bind("petstore", petstore3());
    specs.push(SpecBinding {
        service: "billing".into(),
        spec: spec("", vec![op(Method::Get, "/invoices", Security::Required)]),
    });
    let r = run(&eps, &specs);
    assert_eq!(
        of(&r, FindingKind::Shadow),
        vec![
            "GET /api/v3/internal/pet/findByStatus",
            "GET /api/v3/internal/user/{username}"
        ]
    );
    let billing = r.findings.iter().find(|f| f.service == "billing").unwrap();
    assert_eq!(billing.kind, FindingKind::Unobserved);
    assert!(
        billing.reason.contains("sent no traffic"),
        "{}",
        billing.reason
    );
}

#[test]
fn inferred_parameters_over_documented_literals_are_a_last_resort() {
    let s = spec(
        "",
        vec![
            op(
                Method::Get,
                "/orgs/{org}/copilot/metrics/reports/organization-1-day",
                Security::Required,
            ),
            op(
                Method::Get,
                "/orgs/{org}/copilot/metrics/reports/users-28-day/latest",
                Security::Required,
            ),
            op(Method::Get, "/users/me", Security::Required),
        ],
    );
    let mut route = ep("gh", Method::Get, "/users/{id}");
    route.source = TemplateSource::Route;
    let eps = vec![
        ep(
            "gh",
            Method::Get,
            "/orgs/{org}/copilot/metrics/reports/{token}",
        ),
        ep(
            "gh",
            Method::Get,
            "/orgs/{org}/copilot/metrics/reports/{token}/latest",
        ),
        // a route is what the application declared: `/users/{id}` is not `/users/me`
        route,
    ];
    let r = run(&eps, &bind("gh", s));
    assert_eq!(of(&r, FindingKind::Shadow), vec!["GET /users/{id}"]);
    assert_eq!(r.summary.operations_observed, 2);
}

#[test]
fn a_path_of_parameters_does_not_swallow_an_inferred_parameter() {
    // uspto: `/{dataset}/{version}/fields` must not make `/admin/users/{id}` documented
    let s = spec(
        "/ds-api",
        vec![
            op(
                Method::Get,
                "/{dataset}/{version}/fields",
                Security::Unspecified,
            ),
            op(
                Method::Get,
                "/{dataset}/{version}/records",
                Security::Unspecified,
            ),
        ],
    );
    let eps = vec![
        ep("u", Method::Get, "/ds-api/admin/users/{id}"),
        ep("u", Method::Get, "/ds-api/oa_citations/v1/fields"),
    ];
    let r = run(&eps, &bind("u", s));
    assert_eq!(
        of(&r, FindingKind::Shadow),
        vec!["GET /ds-api/admin/users/{id}"]
    );
}

#[test]
fn three_value_like_siblings_carry_plain_words_along() {
    let s = spec("", vec![op(Method::Get, "/health", Security::Public)]);
    let mut eps: Vec<_> = ["alpha", "bravo-12", "nova.js", "cedar%20river"]
        .iter()
        .map(|v| ep("svc", Method::Get, &format!("/api/internal/profiles/{v}")))
        .collect();
    // route words with a digit or two stay apart when there are not enough of them
    eps.push(ep("svc", Method::Get, "/auth/oauth2"));
    eps.push(ep("svc", Method::Get, "/auth/login"));
    eps.push(ep("svc", Method::Get, "/auth/saml2"));
    let r = run(&eps, &bind("svc", s));
    assert_eq!(
        of(&r, FindingKind::Shadow),
        vec![
            "GET /api/internal/profiles/{profile}",
            "GET /auth/login",
            "GET /auth/oauth2",
            "GET /auth/saml2"
        ]
    );
}

#[test]
fn inferred_literals_beside_a_declared_parameter_are_its_values() {
    let s = spec("", vec![op(Method::Get, "/health", Security::Public)]);
    let mut route = ep("svc", Method::Get, "/internal/users/{username}");
    route.source = TemplateSource::Route;
    let mut me = ep("svc", Method::Get, "/admin/users/me");
    me.source = TemplateSource::Route;
    let mut admin_param = ep("svc", Method::Get, "/admin/users/{id}");
    admin_param.source = TemplateSource::Route;
    let eps = vec![
        route,
        ep("svc", Method::Get, "/internal/users/maple"),
        ep("svc", Method::Get, "/internal/users/web"),
        // a route word stays itself beside a declared parameter
        me,
        admin_param,
    ];
    let r = run(&eps, &bind("svc", s));
    assert_eq!(
        of(&r, FindingKind::Shadow),
        vec![
            "GET /admin/users/me",
            "GET /admin/users/{id}",
            "GET /internal/users/{username}"
        ]
    );
    let f = r
        .findings
        .iter()
        .find(|f| f.path == "/internal/users/{username}")
        .unwrap();
    assert_eq!(f.requests, 30);
}

#[test]
fn values_among_words_with_shared_sub_paths() {
    let s = spec("", vec![op(Method::Get, "/health", Security::Public)]);
    let mut eps: Vec<_> = ["alpha", "cobalt", "payments-940"]
        .iter()
        .map(|v| ep("svc", Method::Post, &format!("/admin/orgs/{v}/suspend")))
        .collect();
    // three collections sharing an action, no value among them: literal
    for c in ["users", "teams", "projects"] {
        eps.push(ep("svc", Method::Get, &format!("/api/{c}/search")));
    }
    let r = run(&eps, &bind("svc", s));
    assert_eq!(
        of(&r, FindingKind::Shadow),
        vec![
            "POST /admin/orgs/{org}/suspend",
            "GET /api/projects/search",
            "GET /api/teams/search",
            "GET /api/users/search",
        ]
    );
    assert!(group::strongly_value_like("payments-940"));
    assert!(group::strongly_value_like("maple atlas"));
    assert!(group::strongly_value_like("rust-lang.io"));
    assert!(!group::strongly_value_like("oauth2"));
    assert!(group::looks_random("uyiXabzAMjlXJtXjghlnnSmh"));
    assert!(!group::looks_random("getPetByIdAndOwner"));
}

fn answered(mut e: EndpointStats, statuses: &[u16]) -> EndpointStats {
    e.status = StatusCounts::default();
    for &s in statuses {
        e.status.record(Some(s));
    }
    e.requests = statuses.len() as u64;
    let ok = statuses.iter().filter(|&&s| s < 400).count() as u64;
    e.ok_with_auth = 0;
    e.ok_without_auth = ok;
    e.evidence = AuthEvidence::NONE;
    e.source = TemplateSource::Route;
    e
}

/// FastAPI and Django put `http.route` on their 405s: a method a documented path only ever
/// refused is not an API (`PATCH /products/{id}`, `DELETE /health`).
#[test]
fn refused_only_method_path_pairs_are_not_shadows() {
    let eps = with_auth_anchor(vec![
        answered(
            ep("petstore", Method::Patch, "/api/v3/pet/{petId}"),
            &[405, 405, 405],
        ),
        answered(
            ep("petstore", Method::Delete, "/api/v3/store/inventory"),
            &[405],
        ),
        // only 404s and 405s: still nothing served
        answered(
            ep("petstore", Method::Put, "/api/v3/store/order/{orderId}"),
            &[404, 405],
        ),
        // an undocumented route that served once is an API
        answered(
            ep("petstore", Method::Patch, "/api/v3/user/{username}"),
            &[405, 200],
        ),
        // a refusal that is not about the method (validation) is an API too
        answered(
            ep("petstore", Method::Post, "/api/v3/pet/{petId}/tags"),
            &[422, 422],
        ),
    ]);
    let r = run(&eps, &bind("petstore", petstore3()));
    assert_eq!(
        of(&r, FindingKind::Shadow),
        vec![
            "POST /api/v3/pet/{petId}/tags",
            "PATCH /api/v3/user/{username}"
        ]
    );
    assert_eq!(r.summary.refused_only, 3);
    assert_eq!(r.summary.shadow, 2);
}

/// GitHub's and GitLab's real specs with route-less traffic: an undocumented method on a
/// documented path must be that path's shadow, not swallowed by a documented operation of a
/// sibling path that only matches when an inferred parameter stands for one of its
/// literals (`PATCH /releases/{id}/reactions` is not `PATCH /releases/assets/{asset_id}`).
#[test]
fn an_undocumented_method_on_a_documented_path_beats_a_loose_sibling_operation() {
    use Method::*;
    let gh = spec(
        "",
        vec![
            op(
                Get,
                "/repos/{owner}/{repo}/releases/{release_id}",
                Security::Required,
            ),
            op(
                Patch,
                "/repos/{owner}/{repo}/releases/{release_id}",
                Security::Required,
            ),
            op(
                Get,
                "/repos/{owner}/{repo}/releases/{release_id}/reactions",
                Security::Required,
            ),
            op(
                Post,
                "/repos/{owner}/{repo}/releases/{release_id}/reactions",
                Security::Required,
            ),
            op(
                Get,
                "/repos/{owner}/{repo}/releases/assets/{asset_id}",
                Security::Required,
            ),
            op(
                Patch,
                "/repos/{owner}/{repo}/releases/assets/{asset_id}",
                Security::Required,
            ),
            op(
                Get,
                "/repos/{owner}/{repo}/releases/tags/{tag}",
                Security::Required,
            ),
        ],
    );
    let eps = vec![ep("gh", Patch, "/repos/octo/hello/releases/{id}/reactions")];
    let r = run(&eps, &bind("gh", gh));
    assert_eq!(
        of(&r, FindingKind::Shadow),
        vec!["PATCH /repos/{owner}/{repo}/releases/{release_id}/reactions"]
    );
    assert!(
        r.findings[0].reason.contains("GET, POST"),
        "{}",
        r.findings[0].reason
    );
    assert_eq!(r.summary.operations_observed, 0);

    let gl = spec(
        "/api/v4",
        vec![
            op(Get, "/projects/{id}", Security::Required),
            op(Put, "/projects/{id}", Security::Required),
            op(
                Get,
                "/projects/{id}/notification_settings",
                Security::Required,
            ),
            op(
                Put,
                "/projects/{id}/notification_settings",
                Security::Required,
            ),
            op(Post, "/projects/user/{user_id}", Security::Required),
        ],
    );
    let eps = vec![ep(
        "gl",
        Post,
        "/api/v4/projects/{id}/notification_settings",
    )];
    let r = run(&eps, &bind("gl", gl));
    assert_eq!(
        of(&r, FindingKind::Shadow),
        vec!["POST /api/v4/projects/{id}/notification_settings"]
    );
    assert_eq!(r.summary.operations_observed, 0);
}

/// Traffic of a vanilla install (FastAPI `Depends(HTTPBearer())`, DRF permission classes,
/// NestJS guards, Koa middleware): a successful request carries no evidence, only the 401s
/// of the endpoints that enforce auth are seen.
fn vanilla(e: EndpointStats, ok: u64, refused: u64) -> EndpointStats {
    let mut e = answered(e, &[]);
    for _ in 0..ok {
        e.status.record(Some(200));
    }
    for _ in 0..refused {
        e.status.record(Some(401));
    }
    e.requests = ok + refused;
    e.ok_without_auth = ok;
    if refused > 0 {
        e.evidence = AuthEvidence::REJECTED;
    }
    e
}

#[test]
fn a_service_whose_only_evidence_is_refusals_accuses_only_what_never_refused() {
    use Method::*;
    let s = spec(
        "",
        vec![
            op(Get, "/api/orders/{id}", Security::Required),
            op(Delete, "/api/orders/{id}", Security::Required),
            op(Get, "/api/orders", Security::Required),
            op(Get, "/health", Security::Public),
        ],
    );
    let eps = vec![
        // documented, secured and enforced: 401s of its own, successes without evidence
        vanilla(ep("api", Get, "/api/orders/{id}"), 12, 4),
        // documented as secured, never refused anyone: nothing shows it is secured
        vanilla(ep("api", Delete, "/api/orders/{id}"), 3, 0),
        // documented as secured, refused once (a 403 counts the same)
        vanilla(ep("api", Get, "/api/orders"), 5, 0),
        vanilla(ep("api", Get, "/health"), 9, 0),
        // hidden and anonymous: the incident's export endpoint
        vanilla(ep("api", Get, "/admin/export"), 6, 0),
        // hidden and guarded
        vanilla(ep("api", Get, "/internal/sessions"), 2, 3),
    ];
    let mut eps = eps;
    eps[2].status.record(Some(403));
    eps[2].requests += 1;
    eps[2].evidence = AuthEvidence::REJECTED;
    let r = run(&eps, &bind("api", s.clone()));
    assert_eq!(r.summary.services_auth_refusals_only, vec!["api"]);
    assert!(r.summary.services_auth_unknown.is_empty());
    let got: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.kind != FindingKind::Unobserved)
        .map(|f| (f.kind, f.method, f.path.as_str(), f.auth, f.severity))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                FindingKind::Shadow,
                Get,
                "/admin/export",
                AuthLevel::Missing,
                Severity::Critical
            ),
            (
                FindingKind::Shadow,
                Get,
                "/internal/sessions",
                AuthLevel::Enforced,
                Severity::High
            ),
            (
                FindingKind::Unauthenticated,
                Get,
                "/admin/export",
                AuthLevel::Missing,
                Severity::Critical
            ),
            (
                FindingKind::Unauthenticated,
                Delete,
                "/api/orders/{id}",
                AuthLevel::Missing,
                Severity::High
            ),
        ]
    );
    let del = &r.findings[3];
    assert!(
        del.reason.contains("never refused a caller"),
        "{}",
        del.reason
    );

    // The same traffic with the Authorization header captured: per-request evidence, and
    // the successes of the enforced endpoint are authenticated.
    let mut captured = eps.clone();
    for e in &mut captured {
        if e.evidence.contains(AuthEvidence::REJECTED) {
            e.ok_with_auth = e.ok_without_auth;
            e.ok_without_auth = 0;
            e.evidence |= AuthEvidence::CREDENTIAL;
        }
    }
    let r = run(&captured, &bind("api", s));
    assert!(r.summary.services_auth_refusals_only.is_empty());
    let unauth: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::Unauthenticated)
        .map(|f| (f.method, f.path.as_str(), f.severity))
        .collect();
    assert_eq!(
        unauth,
        vec![
            (Get, "/admin/export", Severity::Critical),
            (Delete, "/api/orders/{id}", Severity::Critical),
        ]
    );
}

#[test]
fn auth_levels_by_what_the_service_shows() {
    use AuthLevel::*;
    let rej = AuthEvidence::REJECTED;
    let none = AuthEvidence::NONE;
    let per = ServiceAuth::PerRequest;
    let refusals = ServiceAuth::RefusalsOnly;
    assert_eq!(auth_level(0, 5, rej, ServiceAuth::Unknown), Unknown);
    assert_eq!(auth_level(0, 0, rej, refusals), None);
    assert_eq!(auth_level(0, 5, rej, refusals), Enforced);
    assert_eq!(auth_level(0, 5, none, refusals), Missing);
    assert_eq!(
        auth_level(0, 5, rej, per),
        Missing,
        "evidence exists elsewhere"
    );
    assert_eq!(auth_level(5, 0, none, per), Present);
    assert_eq!(auth_level(5, 1, rej, per), Mixed);
    assert_eq!(ServiceAuth::of([none, rej]), refusals);
    assert_eq!(ServiceAuth::of([rej, AuthEvidence::MIDDLEWARE]), per);
    assert_eq!(ServiceAuth::of([none]), ServiceAuth::Unknown);
    assert_eq!(ServiceAuth::of([]), ServiceAuth::Unknown);
}
