//! The weekly report as its readers get it: Markdown snapshots, the JSON contract, and the
//! HTML page opened in headless Chromium (findings visible, tables complete with scripts
//! off, sorting and filtering working, no script errors, span data never turned into markup).
//!
//! Chromium is Debian's `chromium` package; `scripts/setup-chromium.sh` installs it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use shadowscan::diff::{self, DiffOptions, SpecBinding};
use shadowscan::model::{
    AuthEvidence, EndpointStats, Method, PathTemplate, StatusCounts, TemplateSource,
};
use shadowscan::report::{self, ReportInput, ReportOptions, Window};
use shadowscan::spec::{Operation, Security, Spec, SpecVersion};

// Monday 16 November 2026 00:00 UTC → Monday 23 November 2026 00:00 UTC.
const SINCE: i64 = 1_794_787_200;
const UNTIL: i64 = SINCE + 7 * 86_400;
const DAY: i64 = 86_400;

fn op(method: Method, template: &str, security: Security, line: usize) -> Operation {
    Operation {
        security,
        line: Some(line),
        ..Operation::new(method, PathTemplate::parse(template))
    }
}

/// What `specs/billing.yaml` says: invoices and orders behind bearer auth, the v1 orders
/// listing deprecated in favour of v2.
fn billing_spec() -> Spec {
    use Method::*;
    use Security::*;
    let mut ops = vec![
        op(Get, "/v1/invoices", Required, 14),
        op(Post, "/v1/invoices", Required, 31),
        op(Get, "/v1/invoices/{invoiceId}", Required, 52),
        op(Get, "/v1/orders", Required, 70),
        op(Get, "/v2/orders", Required, 88),
        op(Get, "/v1/customers/{customerId}", Required, 104),
    ];
    ops[3].deprecated = true;
    for (i, o) in ops.iter_mut().enumerate() {
        o.operation_id = Some(format!("billing{i}"));
    }
    Spec {
        file: "specs/billing.yaml".into(),
        version: SpecVersion::OpenApi30,
        title: Some("Billing API".into()),
        base_paths: vec![String::new()],
        operations: ops,
    }
}

/// What `specs/catalog.json` says: a public catalogue, writes behind auth.
fn catalog_spec() -> Spec {
    use Method::*;
    use Security::*;
    Spec {
        file: "specs/catalog.json".into(),
        version: SpecVersion::Swagger2,
        title: Some("Catalog".into()),
        base_paths: vec![String::new()],
        operations: vec![
            op(Get, "/products", Public, 20),
            op(Get, "/products/{id}", Public, 41),
            op(Put, "/products/{id}", Required, 58),
            op(Delete, "/products/{id}", Required, 77),
            op(Get, "/health", Public, 95),
        ],
    }
}

struct Ep {
    service: &'static str,
    method: Method,
    template: &'static str,
    requests: u64,
    /// Successful requests without auth evidence.
    without_auth: u64,
    rejected: u64,
    errors: u64,
    callers: &'static [&'static str],
    first_day: i64,
}

fn stats(e: &Ep, window_start: i64) -> EndpointStats {
    let ok = e.requests - e.rejected - e.errors;
    let status = StatusCounts {
        s2xx: ok,
        s4xx: e.rejected,
        s401: e.rejected,
        s5xx: e.errors,
        ..StatusCounts::default()
    };
    let mut evidence = AuthEvidence::NONE;
    if ok > e.without_auth {
        evidence |= AuthEvidence::MIDDLEWARE | AuthEvidence::CREDENTIAL;
    }
    if e.rejected > 0 {
        evidence |= AuthEvidence::REJECTED;
    }
    let example = e
        .template
        .replace("{invoiceId}", "inv_8812")
        .replace("{customerId}", "4411")
        .replace("{id}", "1337");
    EndpointStats {
        service: e.service.to_owned(),
        method: e.method,
        template: PathTemplate::parse(e.template),
        source: if e.service == "catalog" {
            TemplateSource::Inferred
        } else {
            TemplateSource::Route
        },
        requests: e.requests,
        status,
        ok_with_auth: ok - e.without_auth,
        ok_without_auth: e.without_auth,
        evidence,
        first_seen: window_start + e.first_day * DAY + 3_600,
        last_seen: window_start + 6 * DAY + 80_000,
        examples: vec![example],
        callers: e.callers.iter().map(|c| c.to_string()).collect(),
        user_agents: vec![],
        explanation: None,
    }
}

fn current_traffic() -> Vec<Ep> {
    use Method::*;
    let ep = |service,
              method,
              template,
              requests,
              without_auth,
              rejected,
              errors,
              callers,
              first_day| Ep {
        service,
        method,
        template,
        requests,
        without_auth,
        rejected,
        errors,
        callers,
        first_day,
    };
    vec![
        ep(
            "billing",
            Get,
            "/v1/invoices",
            4_210,
            0,
            35,
            2,
            &["checkout", "10.2.0.14"],
            0,
        ),
        ep(
            "billing",
            Post,
            "/v1/invoices",
            310,
            0,
            4,
            1,
            &["checkout"],
            0,
        ),
        ep(
            "billing",
            Get,
            "/v1/invoices/{id}",
            12_880,
            0,
            120,
            9,
            &["checkout", "web-bff", "10.2.0.14"],
            0,
        ),
        ep(
            "billing",
            Get,
            "/v1/orders",
            1_140,
            0,
            3,
            0,
            &["legacy-mobile-bff", "10.2.7.31"],
            0,
        ),
        ep(
            "billing",
            Get,
            "/v2/orders",
            8_020,
            0,
            51,
            4,
            &["web-bff"],
            0,
        ),
        ep(
            "billing",
            Get,
            "/v1/customers/{id}",
            2_400,
            150,
            12,
            0,
            &["web-bff", "crm-sync"],
            0,
        ),
        ep(
            "billing",
            Get,
            "/admin/export",
            37,
            37,
            0,
            0,
            &["10.9.3.77", "203.0.113.45"],
            3,
        ),
        ep(
            "billing",
            Post,
            "/internal/reindex",
            12,
            0,
            0,
            0,
            &["ops-cron"],
            4,
        ),
        ep(
            "catalog",
            Get,
            "/products",
            55_000,
            55_000 - 120,
            0,
            120,
            &["web-bff", "search-indexer"],
            0,
        ),
        ep(
            "catalog",
            Get,
            "/products/{id}",
            121_000,
            121_000 - 300,
            0,
            300,
            &["web-bff", "10.2.0.14"],
            0,
        ),
        ep(
            "catalog",
            Put,
            "/products/{id}",
            420,
            0,
            9,
            0,
            &["catalog-admin-ui"],
            0,
        ),
        ep(
            "catalog",
            Get,
            "/products/export.csv",
            21,
            0,
            0,
            0,
            &["10.9.3.77"],
            5,
        ),
        ep(
            "catalog",
            Get,
            "/health",
            20_160,
            20_160,
            0,
            0,
            &["10.0.0.2"],
            0,
        ),
    ]
}

fn previous_traffic() -> Vec<Ep> {
    let mut v: Vec<Ep> = current_traffic()
        .into_iter()
        .filter(|e| {
            !matches!(
                e.template,
                "/admin/export" | "/internal/reindex" | "/products/export.csv"
            )
        })
        .collect();
    v.push(Ep {
        service: "billing",
        method: Method::Get,
        template: "/v1/legacy/invoices",
        requests: 96,
        without_auth: 0,
        rejected: 0,
        errors: 0,
        callers: &["legacy-mobile-bff"],
        first_day: 0,
    });
    v.push(Ep {
        service: "catalog",
        method: Method::Get,
        template: "/products/search",
        requests: 3_310,
        without_auth: 3_310,
        rejected: 0,
        errors: 0,
        callers: &["web-bff"],
        first_day: 0,
    });
    v
}

fn specs() -> Vec<SpecBinding> {
    vec![
        SpecBinding {
            service: "billing".into(),
            spec: billing_spec(),
        },
        SpecBinding {
            service: "catalog".into(),
            spec: catalog_spec(),
        },
    ]
}

/// A week of two services' traffic, the week before, and the diff against their specs.
fn realistic_input() -> ReportInput {
    let window = Window {
        since: SINCE,
        until: UNTIL,
    };
    let current: Vec<EndpointStats> = current_traffic().iter().map(|e| stats(e, SINCE)).collect();
    let previous: Vec<EndpointStats> = previous_traffic()
        .iter()
        .map(|e| stats(e, window.previous().since))
        .collect();
    let diff = diff::diff(&current, &specs(), &DiffOptions::default());
    ReportInput::new(UNTIL + 1_800, window, current, previous, Some(diff))
}

// ---------------------------------------------------------------------------------------
// Markdown

#[test]
fn markdown_report_snapshot() {
    let md = report::render_markdown(&realistic_input());
    insta::assert_snapshot!("markdown_report", md);
}

#[test]
fn markdown_report_without_specs_snapshot() {
    let mut input = realistic_input();
    input.diff = None;
    let md = report::render_markdown(&input);
    insta::assert_snapshot!("markdown_report_without_specs", md);
}

#[test]
fn markdown_neutralises_span_data() {
    let mut input = realistic_input();
    let mut evil = input.current[0].clone();
    evil.template =
        PathTemplate::parse("/x|y/[click](http://evil)/<img src=x onerror=alert(1)>/`tick`");
    evil.service = "svc|<b>bold</b>".into();
    evil.callers = vec!["a|b".into()];
    let template = evil.template.as_str().to_owned();
    input.current.push(evil);
    let md = report::render_markdown(&input);
    // Inside code spans `<img` is literal text; outside them it would be markup.
    let prose = without_code_spans(&md);
    assert!(
        !prose.contains("<img"),
        "raw HTML from a path reached the Markdown"
    );
    assert!(
        !prose.contains("<b>"),
        "raw HTML from a service name reached the Markdown"
    );
    assert!(!prose.contains("](http:"), "a path became a link");
    let span = format!("`` {} ``", template.replace('|', "\\|"));
    assert!(md.contains(&span), "the path is one code span: {span}");
    // Every table row keeps its column count: `|` in data is escaped.
    for line in md.lines().filter(|l| l.contains("svc")) {
        if line.starts_with('|') {
            let cells = split_cells(line);
            assert!(
                cells == 8 || cells == 10 || cells == 6 || cells == 5,
                "{cells} cells: {line}"
            );
        }
    }
}

/// The Markdown with code spans removed (a run of N backticks up to the next run of N).
fn without_code_spans(md: &str) -> String {
    let mut out = String::new();
    let mut rest = md;
    while let Some(i) = rest.find('`') {
        out.push_str(&rest[..i]);
        let n = rest[i..].chars().take_while(|&c| c == '`').count();
        let fence = "`".repeat(n);
        let after = &rest[i + n..];
        match after.find(&fence) {
            Some(j) => rest = &after[j + n..],
            None => {
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Counts GitHub table cells: `|` not preceded by a backslash.
fn split_cells(line: &str) -> usize {
    let b = line.as_bytes();
    let pipes = (0..b.len())
        .filter(|&i| b[i] == b'|' && (i == 0 || b[i - 1] != b'\\'))
        .count();
    pipes - 1
}

// ---------------------------------------------------------------------------------------
// JSON

#[test]
fn json_is_versioned_complete_and_ranks_the_exposed_export_first() {
    let input = realistic_input();
    let summary = input.diff.as_ref().unwrap().summary.clone();
    let v: serde_json::Value = serde_json::from_str(&report::render_json(&input)).unwrap();
    assert_eq!(v["schema"], "shadowscan.report");
    assert_eq!(v["schema_version"], report::SCHEMA_VERSION);
    assert_eq!(v["window"]["since"], SINCE);
    let s = &v["summary"];
    assert_eq!(s["endpoints"], 13);
    assert_eq!(s["services"], 2);
    assert_eq!(s["shadow"], summary.shadow);
    assert_eq!(s["unauthenticated"], summary.unauthenticated);
    assert_eq!(s["zombie"], 1);
    assert_eq!(s["unobserved"], 1, "DELETE /products/{{id}}");
    assert_eq!(s["new"], 3);
    assert_eq!(s["disappeared"], 2);

    let top = &v["risks"][0];
    assert_eq!(
        (top["method"].as_str(), top["path"].as_str()),
        (Some("GET"), Some("/admin/export"))
    );
    let codes: Vec<&str> = top["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        ["unauthenticated", "undocumented", "sensitive_path", "new"]
    );
    assert_eq!(
        top["findings"],
        serde_json::json!(["shadow", "unauthenticated"])
    );
    assert_eq!(top["severity"], "critical");

    let risky: Vec<String> = v["risks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r["method"].as_str().unwrap(),
                r["path"].as_str().unwrap()
            )
        })
        .collect();
    assert!(
        risky.contains(&"GET /v1/orders".to_owned()),
        "the zombie is a risk: {risky:?}"
    );
    assert!(
        risky.contains(&"GET /v1/customers/{id}".to_owned()),
        "{risky:?}"
    );
    assert!(
        !risky.contains(&"GET /v2/orders".to_owned()),
        "a documented, authenticated endpoint is no risk"
    );
    assert!(
        !risky.contains(&"GET /products/{id}".to_owned()),
        "busy and public as documented is no risk"
    );

    let callers: Vec<&str> = v["top_callers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["caller"].as_str().unwrap())
        .collect();
    assert_eq!(
        callers[0], "10.9.3.77",
        "it pulled both exports: {callers:?}"
    );
    assert_eq!(v["top_callers"][0]["kind"], "address");

    let new: Vec<&str> = v["drift"]["new"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        new,
        ["/admin/export", "/internal/reindex", "/products/export.csv"]
    );
    let gone: Vec<&str> = v["drift"]["disappeared"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(gone, ["/v1/legacy/invoices", "/products/search"]);
    let billing_diff = v["drift"]["diffs"][0]["unified"].as_str().unwrap();
    assert!(
        billing_diff.contains("+GET /admin/export\n"),
        "{billing_diff}"
    );
    assert!(
        billing_diff.contains("-GET /v1/legacy/invoices\n"),
        "{billing_diff}"
    );

    let billing = &v["services"][0];
    assert_eq!(billing["name"], "billing");
    let export = billing["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"] == "/admin/export")
        .unwrap();
    assert_eq!(export["documented"], false);
    assert_eq!(export["auth"], "missing");
    assert_eq!(
        export["callers"],
        serde_json::json!(["10.9.3.77", "203.0.113.45"])
    );
    let orders = billing["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"] == "/v1/orders")
        .unwrap();
    assert_eq!(orders["documented"], true);
    assert_eq!(orders["findings"][0]["kind"], "zombie");
}

#[test]
fn caps_truncate_html_and_markdown_but_never_json() {
    let mut input = realistic_input();
    for i in 0..3_000u64 {
        let mut e = input.current[2].clone();
        e.template = PathTemplate::parse(&format!("/v1/reports/r{i}/rows"));
        e.requests = 1 + i % 97;
        input.current.push(e);
    }
    input.options = ReportOptions {
        max_table_rows: 50,
        ..ReportOptions::default()
    };
    let html = report::render_html(&input);
    assert!(
        html.contains("Showing 50 of 3,008 rows"),
        "the cap is announced"
    );
    assert!(
        html.matches("/rows</code>").count() <= 50 + 200,
        "capped tables"
    );
    let md = report::render_markdown(&input);
    assert!(md.contains("Showing 50 of 3,008"));
    let v: serde_json::Value = serde_json::from_str(&report::render_json(&input)).unwrap();
    assert_eq!(
        v["services"][0]["endpoints"].as_array().unwrap().len(),
        3_008
    );
    assert_eq!(v["summary"]["endpoints"], 3_013);
}

// ---------------------------------------------------------------------------------------
// HTML in a real browser

fn chromium() -> PathBuf {
    let path = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/usr/bin/chromium".into());
    if !path.exists() {
        panic!(
            "headless Chromium not found at {}: run `scripts/setup-chromium.sh` (installs Debian's chromium package), or set CHROMIUM to its path",
            path.display()
        );
    }
    path
}

struct Run {
    stdout: String,
    stderr: String,
}

/// Runs headless Chromium with a fresh profile and no network-touching background work.
fn run_chromium(extra: &[&str], target: &str) -> Run {
    let profile = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(chromium());
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--enable-logging=stderr",
        "--v=0",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()))
    .args(extra)
    .arg(target)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("start chromium");
    let out = child.stdout.take().unwrap();
    let err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || std::io::read_to_string(out).unwrap_or_default());
    let t_err = std::thread::spawn(move || std::io::read_to_string(err).unwrap_or_default());
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Run {
        stdout: t_out.join().unwrap(),
        stderr: t_err.join().unwrap(),
    }
}

fn file_url(p: &Path) -> String {
    format!("file://{}", p.display())
}

/// Console errors and uncaught exceptions as Chromium logs them to stderr.
fn js_errors(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Uncaught") || l.contains("SyntaxError"))
        .filter(|l| !l.contains("DevTools"))
        .collect()
}

fn write_report(dir: &Path, name: &str, html: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, html).unwrap();
    p
}

/// Rows of the table with `id` in a serialized DOM, as their text with tags stripped.
fn table_rows(dom: &str, id: &str) -> Vec<String> {
    let start = dom
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no table {id}"));
    let body = &dom[start..];
    let body = &body[body.find("<tbody>").unwrap()..body.find("</tbody>").unwrap()];
    body.split("<tr")
        .skip(1)
        .map(|r| {
            let mut text = String::new();
            let mut in_tag = false;
            for c in r.chars() {
                match c {
                    '<' => in_tag = true,
                    '>' => {
                        in_tag = false;
                        text.push(' ');
                    }
                    _ if !in_tag => text.push(c),
                    _ => {}
                }
            }
            text.split_whitespace().collect::<Vec<_>>().join(" ")
        })
        .collect()
}

#[test]
fn html_shows_the_findings_in_chromium_and_saves_a_screenshot() {
    let dir = tempfile::tempdir().unwrap();
    let html = report::render_html(&realistic_input());
    assert!(
        !html.contains("http://") || !html.contains("src=\"http"),
        "no external resources"
    );
    let page = write_report(dir.path(), "report.html", &html);
    // Kept for people to open: target/tmp/report.html.
    std::fs::write(
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("report.html"),
        &html,
    )
    .unwrap();

    let run = run_chromium(&["--dump-dom"], &file_url(&page));
    let dom = &run.stdout;
    assert!(
        dom.contains("<h1>shadowscan inventory report</h1>"),
        "page did not load: {}",
        run.stderr
    );
    let risks = table_rows(dom, "t-risk");
    assert!(risks[0].starts_with("1 "), "{risks:?}");
    assert!(
        risks[0].contains("GET /admin/export billing shadow unauthenticated critical missing 37"),
        "the unauthenticated undocumented export is first: {:?}",
        risks[0]
    );
    assert!(
        risks[0].contains("sensitive-looking path (admin, export)"),
        "{}",
        risks[0]
    );
    assert!(
        risks
            .iter()
            .any(|r| r.contains("/v1/orders") && r.contains("zombie")),
        "{risks:?}"
    );
    // The map draws every endpoint, with the export in the unauthenticated colour.
    let map = &dom[dom.find("<div class=\"map\">").unwrap()..];
    let map = &map[..map.find("</svg>").unwrap()];
    assert_eq!(
        map.matches("<rect class=\"k-").count(),
        13,
        "one cell per endpoint"
    );
    assert!(
        map.contains("<rect class=\"k-unauth sens\""),
        "the export is red and outlined"
    );
    // The script ran: filter boxes are shown, headers are sortable.
    assert!(dom.contains("class=\"sortable\""), "sorting was not wired");
    assert!(!dom
        .contains("class=\"flt\" placeholder=\"Filter rows…\" aria-label=\"Filter rows\" hidden"));
    let errors = js_errors(&run.stderr);
    assert!(errors.is_empty(), "script errors: {errors:?}");

    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-screenshot.png");
    let _ = std::fs::remove_file(&shot);
    let run = run_chromium(
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1400,1000",
            "--hide-scrollbars",
        ],
        &file_url(&page),
    );
    let png = std::fs::read(&shot)
        .unwrap_or_else(|e| panic!("no screenshot at {}: {e}\n{}", shot.display(), run.stderr));
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(
        png.len() > 20_000,
        "suspiciously small screenshot: {} bytes",
        png.len()
    );
    eprintln!("screenshot: {}", shot.display());
}

#[test]
fn html_tables_are_complete_with_scripts_off() {
    let dir = tempfile::tempdir().unwrap();
    // Chromium's `--blink-settings=scriptEnabled=false` also stops `--dump-dom` (it reads
    // the DOM through script), so scripts are switched off the way a hardened mail client
    // or viewer does it: a Content Security Policy that forbids every script.
    let html = report::render_html(&realistic_input());
    let csp = "script-src 'unsafe-inline'";
    assert!(html.contains(csp));
    let page = write_report(
        dir.path(),
        "report.html",
        &html.replacen(csp, "script-src 'none'", 1),
    );
    let run = run_chromium(&["--dump-dom"], &file_url(&page));
    let dom = &run.stdout;
    assert!(
        dom.contains("<h1>shadowscan inventory report</h1>"),
        "page did not load: {}",
        run.stderr
    );
    assert!(!dom.contains("class=\"sortable\""), "scripts were not off");
    assert!(
        dom.contains(" hidden=\"\""),
        "filter boxes stay hidden without a script to drive them"
    );
    let risks = table_rows(dom, "t-risk");
    assert!(risks[0].contains("GET /admin/export"), "{risks:?}");
    let new = table_rows(dom, "t-new");
    assert_eq!(new.len(), 3, "{new:?}");
    let gone = table_rows(dom, "t-gone");
    assert!(
        gone[0].starts_with("GET /v1/legacy/invoices billing 96"),
        "{gone:?}"
    );
    // Every endpoint's row is in its service table.
    for e in current_traffic() {
        assert!(
            dom.contains(&format!("<code>{}</code>", e.template)),
            "{} missing",
            e.template
        );
    }
    assert!(
        dom.contains("<span class=\"del\">-GET /v1/legacy/invoices</span>"),
        "drift diff rendered"
    );
}

/// Drives the page's own script the way a reader would (click a header, type a filter, open
/// a `#q=` link) and records what the DOM shows.
const HARNESS: &str = r#"<script>
(function () {
  var out = {};
  out.hashFilter = document.querySelector("input.flt").value;
  var t = document.getElementById("t-risk");
  var th = t.tHead.rows[0].cells;
  var col = Array.prototype.findIndex.call(th, function (h) { return h.textContent === "Requests"; });
  var values = function () {
    return Array.prototype.map.call(t.tBodies[0].rows, function (r) { return r.cells[col].getAttribute("data-v"); }).join(",");
  };
  th[col].click();
  out.desc = values();
  th[col].click();
  out.asc = values();
  out.sortAttr = th[col].getAttribute("aria-sort");
  var box = t.parentNode.querySelector("input.flt");
  box.value = "export csv";
  box.dispatchEvent(new Event("input"));
  out.visible = Array.prototype.filter.call(t.tBodies[0].rows, function (r) { return !r.hidden; })
    .map(function (r) { return r.cells[3].textContent; }).join(",");
  out.count = t.parentNode.querySelector(".cnt").textContent;
  var pre = document.createElement("pre");
  pre.id = "selftest";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>"#;

#[test]
fn html_sorting_and_filtering_work_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let html =
        report::render_html(&realistic_input()).replace("</body>", &format!("{HARNESS}</body>"));
    let page = write_report(dir.path(), "report.html", &html);
    let run = run_chromium(&["--dump-dom"], &format!("{}#q=billing", file_url(&page)));
    let dom = &run.stdout;
    let start = dom
        .find("<pre id=\"selftest\">")
        .unwrap_or_else(|| panic!("harness did not run: {}", run.stderr))
        + 19;
    let json = &dom[start..start + dom[start..].find("</pre>").unwrap()];
    let got: serde_json::Value =
        serde_json::from_str(&json.replace("&quot;", "\"").replace("&amp;", "&")).unwrap();
    let nums = |k: &str| -> Vec<u64> {
        got[k]
            .as_str()
            .unwrap()
            .split(',')
            .map(|x| x.parse().unwrap())
            .collect()
    };
    let desc = nums("desc");
    let mut sorted = desc.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(desc, sorted, "first click sorts numbers descending");
    assert!(desc.len() >= 5);
    let mut asc = desc.clone();
    asc.reverse();
    assert_eq!(nums("asc"), asc, "second click reverses");
    assert_eq!(got["sortAttr"], "ascending");
    assert_eq!(
        got["visible"], "/products/export.csv",
        "all words must match"
    );
    assert!(
        got["count"].as_str().unwrap().starts_with("1 of "),
        "{}",
        got["count"]
    );
    assert_eq!(got["hashFilter"], "billing", "#q= fills the filters");
    let errors = js_errors(&run.stderr);
    assert!(errors.is_empty(), "script errors: {errors:?}");
}

#[test]
fn html_renders_hostile_span_data_as_text() {
    let mut input = realistic_input();
    let mut evil = input.current[6].clone(); // the unauthenticated export: it lands in every table
    evil.template = PathTemplate::parse("/<script>alert(1)</script>");
    evil.service = "<img src=x onerror=alert(2)>".into();
    evil.callers = vec!["\"><svg onload=alert(3)>".into()];
    evil.examples = vec!["/<script>alert(1)</script>".into()];
    input.previous.push(EndpointStats {
        template: PathTemplate::parse("/old/<iframe src=//evil>"),
        ..evil.clone()
    });
    input.current.push(evil);
    let html = report::render_html(&input);
    for raw in ["<script>alert(1)", "<img src=x", "<svg onload", "<iframe"] {
        assert!(!html.contains(raw), "{raw} reached the page unescaped");
    }
    assert!(html.contains("/&lt;script&gt;alert(1)&lt;/script&gt;"));

    let dir = tempfile::tempdir().unwrap();
    let page = write_report(dir.path(), "report.html", &html);
    let run = run_chromium(&["--dump-dom"], &file_url(&page));
    let dom = &run.stdout;
    assert_eq!(
        dom.matches("<script").count(),
        1,
        "only the report's own script exists in the DOM"
    );
    assert_eq!(dom.matches("<img").count(), 0);
    assert_eq!(dom.matches("<iframe").count(), 0);
    assert!(
        dom.contains("<code>/&lt;script&gt;alert(1)&lt;/script&gt;</code>"),
        "the path is shown as text"
    );
    assert!(
        dom.contains("&lt;img src=x onerror=alert(2)&gt;"),
        "the service name is shown as text"
    );
    let errors = js_errors(&run.stderr);
    assert!(errors.is_empty(), "script errors: {errors:?}");
}
