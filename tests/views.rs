//! One view of the truth: the same traffic and spec through `inventory`, `report`, `graph`,
//! the admin API and `diff` show the same endpoints (observed paths under their documented
//! templates, undocumented ones as `diff` groups them), and the report's counts agree with
//! each other. The traffic is route-less, as NestJS 12 or a Koa middleware's 401 leaves
//! it, against VAmPI's own spec.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn spec_file() -> PathBuf {
    repo().join("specs/vampi-openapi3.yml")
}

fn shadowscan() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_shadowscan"));
    c.env_remove("SHADOWSCAN_DB")
        .env_remove("SHADOWSCAN_CONFIG")
        .env("NO_COLOR", "1");
    c
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("run shadowscan");
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "{:?}: {}",
        cmd,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

type Set = BTreeSet<(String, String)>;

fn pair(method: &Value, path: &Value) -> (String, String) {
    (
        method.as_str().unwrap().to_owned(),
        path.as_str().unwrap().to_owned(),
    )
}

/// Route-less server spans of a VAmPI deployment: many titles and user names, an
/// undocumented method on a documented path, undocumented paths with ids, a build's
/// fingerprinted scripts.
fn traffic(dir: &Path) -> PathBuf {
    let now_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
        - 3_600_000_000_000;
    let attr = |k: &str, v: Value| json!({"key": k, "value": v});
    let s = |v: &str| json!({"stringValue": v});
    let mut spans = Vec::new();
    let mut add = |method: &str, path: &str, status: u16, user: Option<&str>, client: usize| {
        let n = spans.len() as u128 + 1;
        let start = now_ns + n * 1_000_000;
        let mut attributes = vec![
            attr("http.request.method", s(method)),
            attr("url.path", s(path)),
            attr("url.scheme", s("http")),
            attr(
                "http.response.status_code",
                json!({"intValue": status.to_string()}),
            ),
            attr("client.address", s(&format!("203.0.113.{client}"))),
            attr("user_agent.original", s("vampi-web/1.0")),
        ];
        if let Some(u) = user {
            attributes.push(attr("enduser.id", s(u)));
        }
        spans.push(json!({
            "traceId": format!("{n:032x}"), "spanId": format!("{n:016x}"),
            "name": method, "kind": 2,
            "startTimeUnixNano": start.to_string(),
            "endTimeUnixNano": (start + 3_000_000).to_string(),
            "attributes": attributes,
        }));
    };
    let titles = ["cedar", "maple", "oak-tales", "birch", "willow", "aspen"];
    let users = ["alice", "bob", "carol", "dave", "erin", "frank"];
    for (i, t) in titles.iter().enumerate() {
        add("GET", &format!("/books/v1/{t}"), 200, Some("u1"), i);
        add("GET", &format!("/books/v1/{t}"), 401, None, i);
        add("PATCH", &format!("/books/v1/{t}"), 200, None, 40 + i);
    }
    for (i, u) in users.iter().enumerate() {
        add("GET", &format!("/users/v1/{u}"), 200, Some(u), i);
        add("PUT", &format!("/users/v1/{u}/email"), 204, Some(u), i);
        add("DELETE", &format!("/users/v1/{u}"), 200, None, 50 + i);
        add(
            "GET",
            &format!("/internal/exports/{u}-{i}7/download"),
            200,
            None,
            60 + i,
        );
    }
    add("GET", "/books/v1", 200, None, 1);
    add("POST", "/users/v1/login", 200, None, 2);
    add("GET", "/admin/export", 200, None, 66);
    for hash in ["3f9a1c2e", "fbacdeab", "0c3d2e1f", "12345678"] {
        add("GET", &format!("/static/app.{hash}.js"), 200, None, 7);
    }
    // A traced caller: the web front end's client span is the parent of one book request.
    let trace = format!("{:032x}", 0xca11u32);
    let client = json!({
        "traceId": trace, "spanId": "00000000000ca11e", "name": "GET", "kind": 3,
        "startTimeUnixNano": now_ns.to_string(),
        "endTimeUnixNano": (now_ns + 9_000_000).to_string(),
        "attributes": [
            attr("http.request.method", s("GET")),
            attr("url.full", s("http://vampi:5000/books/v1/cedar")),
            attr("server.address", s("vampi")),
            attr("http.response.status_code", json!({"intValue": "200"})),
        ],
    });
    spans.push(json!({
        "traceId": trace, "spanId": "00000000000ca11d", "parentSpanId": "00000000000ca11e",
        "name": "GET", "kind": 2,
        "startTimeUnixNano": (now_ns + 1_000_000).to_string(),
        "endTimeUnixNano": (now_ns + 8_000_000).to_string(),
        "attributes": [
            attr("http.request.method", s("GET")),
            attr("url.path", s("/books/v1/cedar")),
            attr("http.response.status_code", json!({"intValue": "200"})),
            attr("enduser.id", s("u1")),
        ],
    }));
    let req = json!({"resourceSpans": [{
        "resource": {"attributes": [attr("service.name", s("vampi"))]},
        "scopeSpans": [{"scope": {"name": "@opentelemetry/instrumentation-http"}, "spans": spans}],
    }, {
        "resource": {"attributes": [attr("service.name", s("vampi-web"))]},
        "scopeSpans": [{"scope": {"name": "@opentelemetry/instrumentation-undici"}, "spans": [client]}],
    }]});
    let file = dir.join("vampi.jsonl");
    std::fs::write(&file, format!("{req}\n")).unwrap();
    file
}

/// What `diff` says the endpoints are: the documented operations it saw (every operation
/// of the spec but the unobserved ones) and its shadow findings.
fn diff_set(report: &Value) -> Set {
    let spec = shadowscan::spec::load(&spec_file()).unwrap();
    let findings = report["findings"].as_array().unwrap();
    let unobserved: Set = findings
        .iter()
        .filter(|f| f["kind"] == "unobserved")
        .map(|f| pair(&f["method"], &f["path"]))
        .collect();
    let mut set: Set = spec
        .operations
        .iter()
        .filter(|o| !unobserved.contains(&(o.method.to_string(), o.template.to_string())))
        .map(|o| {
            let t = shadowscan::diff::documented_template(&spec, o);
            (o.method.to_string(), t.to_string())
        })
        .collect();
    set.extend(
        findings
            .iter()
            .filter(|f| f["kind"] == "shadow")
            .map(|f| pair(&f["method"], &f["path"])),
    );
    set
}

fn inventory_set(doc: &Value) -> Set {
    doc["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| pair(&e["method"], &e["template"]))
        .collect()
}

#[test]
fn inventory_report_graph_admin_and_diff_show_the_same_endpoints() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("inventory.db");
    let out = run(shadowscan()
        .arg("ingest")
        .arg("--db")
        .arg(&db)
        .arg(traffic(dir.path())));
    assert!(out.status.success());
    let spec = spec_file();

    let diff = json_of(&run(shadowscan()
        .arg("diff")
        .arg(&spec)
        .arg("--db")
        .arg(&db)
        .args(["--format", "json"])));
    let want = diff_set(&diff);
    for must in [
        ("GET", "/books/v1/{book_title}"),
        ("PATCH", "/books/v1/{book_title}"),
        ("GET", "/users/v1/{username}"),
        ("PUT", "/users/v1/{username}/email"),
        ("GET", "/static/{asset}.js"),
    ] {
        assert!(
            want.contains(&(must.0.to_owned(), must.1.to_owned())),
            "diff: {must:?} in {want:?}"
        );
    }

    let inventory = json_of(&run(shadowscan()
        .arg("inventory")
        .arg("--db")
        .arg(&db)
        .arg("--spec")
        .arg(&spec)
        .args(["--format", "json"])));
    assert_eq!(inventory_set(&inventory), want, "inventory --spec");
    let book = inventory["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["method"] == "GET" && e["template"] == "/books/v1/{book_title}")
        .unwrap();
    assert_eq!(
        book["requests"], 13,
        "six titles, two requests each, one from the web app"
    );
    assert!(
        book["explanation"]
            .as_str()
            .unwrap()
            .starts_with("documented: GET /books/v1/{book_title} ("),
        "{book}"
    );

    let report = json_of(&run(shadowscan()
        .arg("report")
        .arg("--db")
        .arg(&db)
        .arg("--spec")
        .arg(&spec)
        .args(["--format", "json"])));
    let report_set: Set = report["services"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["endpoints"].as_array().unwrap())
        .map(|e| pair(&e["method"], &e["path"]))
        .collect();
    assert_eq!(report_set, want, "report --spec");

    let graph = json_of(&run(shadowscan()
        .arg("graph")
        .arg("--db")
        .arg(&db)
        .arg("--spec")
        .arg(&spec)
        .args(["--format", "json"])));
    let graph_set: Set = graph["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["type"] == "endpoint")
        .map(|n| pair(&n["method"], &n["template"]))
        .collect();
    assert_eq!(graph_set, want, "graph --spec: {graph}");
    // The caller's edge follows its endpoint into the view.
    let nodes = graph["nodes"].as_array().unwrap();
    let id_of =
        |pred: &dyn Fn(&Value) -> bool| nodes.iter().find(|n| pred(n)).unwrap()["id"].clone();
    let web = id_of(&|n| n["type"] == "service" && n["name"] == "vampi-web");
    let books = id_of(&|n| n["method"] == "GET" && n["template"] == "/books/v1/{book_title}");
    assert!(
        graph["edges"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "calls"
                && e["from"] == web
                && e["to"] == books
                && e["calls"] == 1),
        "{graph}"
    );

    // The config's [[specs]] mapping: `inventory` without --spec, and serve's admin API.
    let config = dir.path().join("shadowscan.toml");
    std::fs::write(
        &config,
        format!(
            "[[specs]]\nservice = \"vampi\"\nspec = {:?}\n",
            spec.display().to_string()
        ),
    )
    .unwrap();
    let configured = json_of(&run(shadowscan()
        .arg("--config")
        .arg(&config)
        .arg("inventory")
        .arg("--db")
        .arg(&db)
        .args(["--format", "json"])));
    assert_eq!(inventory_set(&configured), want, "inventory with [[specs]]");
    let (live, remote) = admin_inventory_and_remote_diff(&db, &config);
    assert_eq!(
        inventory_set(&live),
        want,
        "/api/v1/inventory with [[specs]]"
    );
    assert_eq!(live["endpoints"], configured["endpoints"]);
    // `diff --server` compares the stored rows, as `diff --db` does, not the view: the
    // same findings, naming the same observed templates.
    let findings = |d: &Value| -> Vec<(Value, Value, Value, Value, Value)> {
        d["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["kind"].clone(),
                    f["method"].clone(),
                    f["path"].clone(),
                    f["requests"].clone(),
                    f["observed"].clone(),
                )
            })
            .collect()
    };
    assert_eq!(findings(&remote), findings(&diff), "diff --server");

    // `--raw` is still the stored rows.
    let raw = json_of(&run(shadowscan()
        .arg("inventory")
        .arg("--db")
        .arg(&db)
        .args(["--raw", "--format", "json"])));
    assert!(inventory_set(&raw).contains(&("GET".to_owned(), "/books/v1/cedar".to_owned())));
}

#[test]
fn the_reports_headline_legend_and_service_counts_agree() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("inventory.db");
    run(shadowscan()
        .arg("ingest")
        .arg("--db")
        .arg(&db)
        .arg(traffic(dir.path())));
    let report = |format: &str| {
        run(shadowscan()
            .arg("report")
            .arg("--db")
            .arg(&db)
            .arg("--spec")
            .arg(spec_file())
            .args(["--format", format]))
    };
    let doc = json_of(&report("json"));
    let summary = &doc["summary"];
    let services = doc["services"].as_array().unwrap();
    let endpoints: Vec<&Value> = services
        .iter()
        .flat_map(|s| s["endpoints"].as_array().unwrap())
        .collect();
    let html = String::from_utf8(report("html").stdout).unwrap();
    for (kind, legend) in [
        ("shadow", "shadow (undocumented)"),
        (
            "unauthenticated",
            "unauthenticated (served without auth evidence)",
        ),
        ("zombie", "zombie (deprecated, still served)"),
    ] {
        let headline = summary[kind].as_u64().unwrap();
        let per_service: u64 = services.iter().map(|s| s[kind].as_u64().unwrap()).sum();
        let rows = endpoints
            .iter()
            .filter(|e| {
                e["findings"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|f| f["kind"] == kind)
            })
            .count() as u64;
        assert_eq!((per_service, rows), (headline, headline), "{kind}");
        let shown = legend_count(&html, legend);
        assert_eq!(shown, headline, "legend `{legend}`");
    }
    assert!(summary["shadow"].as_u64().unwrap() >= 4, "{summary}");

    // The why lines name the spec that was bound.
    let md = String::from_utf8(report("markdown").stdout).unwrap();
    assert!(
        md.contains("undocumented: not in vampi-openapi3.yml"),
        "{md}"
    );
    assert!(
        md.contains("(vampi-openapi3.yml:") && md.contains(" requires authentication)"),
        "{md}"
    );
}

/// The count the HTML map's legend gives for an entry: `text <span class="dim">(N)</span>`.
fn legend_count(html: &str, text: &str) -> u64 {
    let at = html
        .find(&format!("{text} <span class=\"dim\">("))
        .unwrap_or_else(|| panic!("legend entry `{text}` missing"));
    let rest = &html[at + text.len() + " <span class=\"dim\">(".len()..];
    rest[..rest.find(')').unwrap()].parse().unwrap()
}

/// `GET /api/v1/inventory` of a `serve` started with `config`, on loopback ports, and
/// `diff --server` against it.
fn admin_inventory_and_remote_diff(db: &Path, config: &Path) -> (Value, Value) {
    let ready = db.with_extension("ready.json");
    let mut child = shadowscan()
        .arg("--config")
        .arg(config)
        .args([
            "serve",
            "--grpc-addr",
            "127.0.0.1:0",
            "--http-addr",
            "127.0.0.1:0",
            "--admin-addr",
            "127.0.0.1:0",
        ])
        .arg("--db")
        .arg(db)
        .arg("--ready-file")
        .arg(&ready)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start shadowscan serve");
    let deadline = Instant::now() + Duration::from_secs(60);
    let addr = loop {
        if let Some(v) = std::fs::read_to_string(&ready)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        {
            break v["admin"].as_str().unwrap().to_owned();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("serve did not start within 60 s");
        }
        std::thread::sleep(Duration::from_millis(25));
    };
    let body = http_get(&addr, "/api/v1/inventory");
    let remote = shadowscan()
        .arg("diff")
        .arg(spec_file())
        .args(["--server", &format!("http://{addr}"), "--format", "json"])
        .output()
        .expect("run diff --server");
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
    let live = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    let remote = serde_json::from_slice(&remote.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&remote.stderr)));
    (live, remote)
}

fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}: {body}");
    body.to_owned()
}
