use super::analysis::{analyse, Documented};
use super::risk::{bulk_word, sensitive_words, Reason, Risk};
use super::text::{is_address, md_code, md_text, push_html, status_mix, thousands};
use super::*;
use crate::diff::{AuthLevel, DiffReport, Finding, FindingKind, Severity};
use crate::model::{
    AuthEvidence, EndpointStats, Method, PathTemplate, StatusCounts, TemplateSource,
};

const T0: i64 = 1_794_787_200;

fn ep(service: &str, method: Method, template: &str, requests: u64) -> EndpointStats {
    let status = StatusCounts {
        s2xx: requests,
        ..StatusCounts::default()
    };
    EndpointStats {
        service: service.to_owned(),
        method,
        template: PathTemplate::parse(template),
        source: TemplateSource::Route,
        requests,
        status,
        ok_with_auth: requests,
        ok_without_auth: 0,
        evidence: AuthEvidence::MIDDLEWARE,
        first_seen: T0 + 60,
        last_seen: T0 + 3_600,
        examples: vec![],
        callers: vec![],
        user_agents: vec![],
        explanation: None,
    }
}

fn finding(
    kind: FindingKind,
    service: &str,
    method: Method,
    path: &str,
    documented: bool,
) -> Finding {
    Finding {
        kind,
        service: service.to_owned(),
        method,
        path: path.to_owned(),
        severity: Severity::High,
        documented,
        requests: 0,
        ok_with_auth: 0,
        ok_without_auth: 0,
        auth: AuthLevel::Present,
        evidence: vec![],
        enforced: false,
        spec_security: None,
        first_seen: None,
        last_seen: None,
        spec_file: None,
        spec_line: None,
        operation_id: None,
        base_path: None,
        spec_path: None,
        observed: vec![],
        examples: vec![],
        reason: String::new(),
        baseline_expired: None,
    }
}

fn input(
    current: Vec<EndpointStats>,
    previous: Vec<EndpointStats>,
    findings: Option<Vec<Finding>>,
) -> ReportInput {
    let diff = findings.map(|f| {
        let mut d = DiffReport {
            findings: f,
            ..DiffReport::default()
        };
        d.recount();
        d
    });
    ReportInput::new(
        T0 + 7 * 86_400,
        Window {
            since: T0,
            until: T0 + 7 * 86_400,
        },
        current,
        previous,
        diff,
    )
}

#[test]
fn sensitive_words_follow_words_not_substrings() {
    assert_eq!(sensitive_words("/admin/export"), ["admin", "export"]);
    assert_eq!(sensitive_words("/api/exportAllUsers.csv"), ["export"]);
    assert_eq!(sensitive_words("/v1/administration/users"), ["admin"]);
    assert_eq!(
        sensitive_words("/actuator/heapdump"),
        ["actuator", "heapdump"]
    );
    assert_eq!(
        sensitive_words("/_internal/debug_vars"),
        ["internal", "debug"]
    );
    assert_eq!(sensitive_words("/db-backups/latest"), ["backup"]);
    assert!(
        sensitive_words("/envelopes/{id}").is_empty(),
        "env is a word, not a prefix"
    );
    assert!(
        sensitive_words("/users/{admin}/orders").is_empty(),
        "parameter names are not path words"
    );
    assert!(sensitive_words("/badminton/courts").is_empty());
    assert_eq!(bulk_word("/orders/export.csv"), Some("csv"));
    assert_eq!(bulk_word("/v2/users/bulk"), Some("bulk"));
    assert_eq!(bulk_word("/users/all"), Some("all"));
    assert_eq!(bulk_word("/allergies"), None);
}

#[test]
fn exposure_outranks_looks_and_volume() {
    let exposed = Risk::from_reasons(
        vec![
            Reason::New,
            Reason::Undocumented(None),
            Reason::Unauthenticated {
                without: 3,
                of: 3,
                required_by: None,
            },
        ],
        None,
    );
    let looks = Risk::from_reasons(
        vec![Reason::Sensitive(vec!["admin"]), Reason::Bulk("csv")],
        None,
    );
    let busy = Risk::from_reasons(
        vec![
            Reason::HighVolume {
                requests: 9_000_000,
            },
            Reason::New,
        ],
        None,
    );
    assert!(exposed.score > looks.score && looks.score > busy.score);
    assert_eq!(
        exposed.reasons[0].code(),
        "unauthenticated",
        "strongest reason first"
    );
    assert!(exposed.is_risky() && looks.is_risky());
    assert!(!busy.is_risky(), "volume and novelty alone are not risks");
    let partly = Reason::Unauthenticated {
        without: 1,
        of: 3,
        required_by: None,
    };
    assert!(
        partly.weight()
            < Reason::Unauthenticated {
                without: 3,
                of: 3,
                required_by: None,
            }
            .weight()
    );
    assert!(partly.to_string().contains("1 of 3"));
}

#[test]
fn endpoints_grouped_under_a_shadow_finding_are_linked_beyond_its_bounded_list() {
    let mut shadow = finding(
        FindingKind::Shadow,
        "shop",
        Method::Get,
        "/v1/coupons/{coupon}/export",
        false,
    );
    // The diff lists five merged templates at most: this list is full, others exist.
    shadow.observed = ["A1", "B2", "C3", "D4", "SUMMER25"]
        .iter()
        .map(|c| format!("/v1/coupons/{c}/export"))
        .collect();
    let mut short = finding(
        FindingKind::Shadow,
        "shop",
        Method::Get,
        "/v2/{thing}",
        false,
    );
    short.observed = vec!["/v2/apples".into()];
    let mut zombie = finding(
        FindingKind::Zombie,
        "shop",
        Method::Get,
        "/pet/{petId}",
        true,
    );
    zombie.base_path = Some("/api/v3".into());
    let current = vec![
        ep("shop", Method::Get, "/v1/coupons/SUMMER25/export", 5),
        ep("shop", Method::Get, "/v1/coupons/WINTER24/export", 5),
        ep("shop", Method::Post, "/v1/coupons/WINTER24/export", 5),
        ep("shop", Method::Get, "/api/v3/pet/{petId}", 50),
        ep("shop", Method::Get, "/v1/coupons", 500),
        ep("shop", Method::Get, "/v2/pears", 5),
    ];
    let inp = input(current, vec![], Some(vec![shadow, zombie, short]));
    let a = analyse(&inp);
    let row = |m: Method, t: &str| {
        a.rows
            .iter()
            .find(|r| r.ep.method == m && r.ep.template.as_str() == t)
            .unwrap()
    };
    assert_eq!(
        row(Method::Get, "/v1/coupons/WINTER24/export").documented,
        Documented::No
    );
    assert!(row(Method::Get, "/v1/coupons/WINTER24/export")
        .kinds
        .contains(FindingKind::Shadow));
    assert_eq!(
        row(Method::Post, "/v1/coupons/WINTER24/export").documented,
        Documented::Yes,
        "another method is another endpoint"
    );
    let pet = row(Method::Get, "/api/v3/pet/{petId}");
    assert!(
        pet.kinds.contains(FindingKind::Zombie),
        "documented findings are relative to the base path"
    );
    assert_eq!(pet.documented, Documented::Yes);
    assert_eq!(row(Method::Get, "/v1/coupons").documented, Documented::Yes);
    assert_eq!(
        row(Method::Get, "/v2/pears").documented,
        Documented::Yes,
        "a complete list is trusted: /v2/pears is not under the /v2/{{thing}} finding"
    );
}

#[test]
fn services_without_a_spec_are_not_called_documented() {
    let d_findings = vec![finding(FindingKind::Shadow, "a", Method::Get, "/x", false)];
    let mut inp = input(
        vec![ep("a", Method::Get, "/x", 1), ep("b", Method::Get, "/y", 1)],
        vec![],
        Some(d_findings),
    );
    inp.diff.as_mut().unwrap().summary.services_without_spec = vec!["b".into()];
    let a = analyse(&inp);
    assert_eq!(
        a.rows
            .iter()
            .find(|r| r.ep.service == "b")
            .unwrap()
            .documented,
        Documented::Unknown
    );
    assert!(!a.services[1].has_spec);
    let inp = input(vec![ep("a", Method::Get, "/x", 1)], vec![], None);
    let a = analyse(&inp);
    assert_eq!(a.rows[0].documented, Documented::Unknown);
    assert_eq!(
        a.headline.shadow, None,
        "no diff, no shadow count: not zero"
    );
}

#[test]
fn drift_lists_and_diffs_only_what_changed() {
    let cur = vec![
        ep("a", Method::Get, "/users", 1),
        ep("a", Method::Get, "/users/{id}", 1),
        ep("a", Method::Post, "/admin/export", 1),
        ep("b", Method::Get, "/same", 1),
    ];
    let prev = vec![
        ep("a", Method::Get, "/users", 1),
        ep("a", Method::Get, "/users/{id}", 1),
        ep("a", Method::Delete, "/users/{id}", 1),
        ep("b", Method::Get, "/same", 1),
        ep("c", Method::Get, "/gone", 1),
    ];
    let inp = input(cur, prev, None);
    let a = analyse(&inp);
    let new: Vec<_> = a
        .new
        .iter()
        .map(|&i| a.rows[i].ep.template.as_str())
        .collect();
    assert_eq!(new, ["/admin/export"]);
    let gone: Vec<_> = a
        .disappeared
        .iter()
        .map(|e| format!("{} {} {}", e.service, e.method, e.template))
        .collect();
    assert_eq!(gone, ["a DELETE /users/{id}", "c GET /gone"]);
    let services: Vec<_> = a.drift.iter().map(|d| d.service).collect();
    assert_eq!(services, ["a", "c"], "b did not change");
    let lines: Vec<String> = a.drift[0]
        .hunks
        .iter()
        .flat_map(|(_, l)| l.iter().map(|l| format!("{:?} {}", l.tag, l.text)))
        .collect();
    assert!(
        lines.contains(&"Delete DELETE /users/{id}".to_owned()),
        "{lines:?}"
    );
    assert!(
        lines.contains(&"Insert POST /admin/export".to_owned()),
        "{lines:?}"
    );
    assert_eq!((a.drift[1].added, a.drift[1].removed), (0, 1));
}

#[test]
fn drift_diff_lines_are_capped() {
    let cur: Vec<_> = (0..50)
        .map(|i| ep("a", Method::Get, &format!("/n{i}"), 1))
        .collect();
    let mut inp = input(cur, vec![], None);
    inp.options.max_diff_lines = 10;
    let a = analyse(&inp);
    let shown: usize = a.drift[0].hunks.iter().map(|(_, l)| l.len()).sum();
    assert_eq!((shown, a.drift[0].omitted), (10, 40));
    assert!(render_markdown(&inp).contains("_40 more lines not shown._"));
}

#[test]
fn auth_without_spec_is_only_suspicious_where_the_service_shows_auth() {
    let mut open = ep("a", Method::Get, "/open", 10);
    open.ok_with_auth = 0;
    open.ok_without_auth = 10;
    open.evidence = AuthEvidence::NONE;
    let mut other = open.clone();
    other.service = "b".into();
    let inp = input(
        vec![open, ep("a", Method::Get, "/closed", 10), other],
        vec![],
        None,
    );
    let a = analyse(&inp);
    let open = a
        .rows
        .iter()
        .find(|r| r.ep.template.as_str() == "/open")
        .unwrap();
    assert_eq!(open.auth, AuthLevel::Missing);
    assert!(open
        .risk
        .reasons
        .iter()
        .any(|r| r.code() == "no_auth_evidence"));
    let b = a.rows.iter().find(|r| r.ep.service == "b").unwrap();
    assert_eq!(
        b.auth,
        AuthLevel::Unknown,
        "a service without any evidence cannot be judged"
    );
    assert!(!b.risk.is_risky(), "{:?}", b.risk.reasons);
    assert!(a.services[1].auth_unknown);
}

#[test]
fn ranking_is_independent_of_input_order() {
    let mut eps: Vec<_> = (0..30)
        .map(|i| {
            ep(
                if i % 2 == 0 { "a" } else { "b" },
                Method::Get,
                &format!("/r{i}/admin"),
                1 + (i % 4) as u64,
            )
        })
        .collect();
    let one = render_json(&input(eps.clone(), vec![], None));
    eps.reverse();
    let two = render_json(&input(eps, vec![], None));
    assert_eq!(one, two);
}

#[test]
fn html_is_self_contained_and_escapes_everything() {
    let mut e = ep("<svc>", Method::Get, "/a/\"quoted\"/'single'/<b>&amp;", 3);
    e.callers = vec!["<caller>".into()];
    let html = render_html(&input(vec![e], vec![], None));
    assert!(html.contains("default-src 'none'"), "a CSP forbids fetches");
    for needle in ["<svc>", "<b>&amp;", "<caller>", "\"quoted\""] {
        assert!(!html.contains(needle), "{needle} unescaped");
    }
    assert!(html.contains("/a/&quot;quoted&quot;/&#39;single&#39;/&lt;b&gt;&amp;amp;"));
    for external in ["src=\"http", "href=\"http", "url(", "@import", "<link"] {
        assert!(!html.contains(external), "{external}: external resource");
    }
}

#[test]
fn empty_inventory_renders_in_every_format() {
    let inp = input(vec![], vec![], None);
    assert!(render_html(&inp).contains("No endpoints were observed"));
    assert!(render_markdown(&inp).contains("| 0 | 0 | 0 | — |"));
    let v: serde_json::Value = serde_json::from_str(&render_json(&inp)).unwrap();
    assert_eq!(v["summary"]["endpoints"], 0);
    assert!(v["summary"]["shadow"].is_null());
}

#[test]
fn text_helpers() {
    assert_eq!(thousands(0), "0");
    assert_eq!(thousands(999), "999");
    assert_eq!(thousands(1_000), "1,000");
    assert_eq!(thousands(1_234_567), "1,234,567");
    assert_eq!(md_code("/a/b"), "`/a/b`");
    assert_eq!(md_code("/a`b"), "`` /a`b ``");
    assert_eq!(md_code("/a|b"), "`/a\\|b`");
    assert_eq!(
        md_text("a|b <i> [x](y) *z*"),
        "a\\|b &lt;i&gt; \\[x\\](y) \\*z\\*"
    );
    let mut s = String::new();
    push_html(&mut s, "<a href=\"x\">'&'</a>");
    assert_eq!(s, "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    assert!(
        is_address("10.1.2.3")
            && is_address("::1")
            && is_address("10.1.2.3:443")
            && is_address("[::1]:80")
    );
    assert!(!is_address("checkout") && !is_address("web-bff.prod"));
    let mut st = StatusCounts::default();
    for c in [200, 200, 401, 403, 500] {
        st.record(Some(c));
    }
    assert_eq!(status_mix(&st), "2xx 2 · 4xx 2 (401 1, 403 1) · 5xx 1");
    assert_eq!(status_mix(&StatusCounts::default()), "—");
    assert_eq!(
        Window {
            since: 100,
            until: 150
        }
        .previous(),
        Window {
            since: 50,
            until: 100
        }
    );
    assert_eq!(ReportFormat::parse("MD"), Some(ReportFormat::Markdown));
    assert_eq!(ReportFormat::parse("pdf"), None);
}

#[test]
fn the_map_draws_the_riskiest_cells_within_its_cap() {
    let mut eps: Vec<_> = (0..400)
        .map(|i| ep("big", Method::Get, &format!("/items/n{i}"), 10_000))
        .collect();
    eps.push(ep("big", Method::Get, "/admin/export", 2));
    eps.push(ep("small", Method::Get, "/health", 5));
    let mut inp = input(eps, vec![], None);
    inp.options.max_map_cells = 50;
    let html = render_html(&inp);
    let map = &html[html.find("<div class=\"map\">").unwrap()..];
    let map = &map[..map.find("</svg>").unwrap()];
    let cells = map.matches("<rect class=\"k-").count();
    assert!(cells <= 50 + 2, "{cells} cells for a cap of 50");
    assert_eq!(
        map.matches("<rect class=\"k-more\"").count(),
        1,
        "the rest of `big` is one cell"
    );
    assert!(
        map.contains("<title>GET /admin/export"),
        "the riskiest endpoint is drawn despite its 2 requests"
    );
    assert!(
        map.contains("<title>GET /health"),
        "every service keeps at least one cell"
    );
    assert!(html.contains("50 endpoint cells drawn of 402"));
}
