//! The command line and the daemon as users run them: `serve` fed by the real OpenTelemetry
//! Python SDK over gRPC and HTTP (gzip), restarts and `kill -9`, `inventory`, `ingest`,
//! `diff` exit statuses and outputs, and httpbin under Flask instrumentation as the
//! acceptance test for detection quality.
//!
//! The Python side comes from `scripts/setup-e2e.sh` (the README's test command runs it).

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn shadowscan() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_shadowscan"));
    c.env_remove("SHADOWSCAN_DB")
        .env_remove("SHADOWSCAN_CONFIG")
        .env("NO_COLOR", "1");
    c
}

fn python() -> PathBuf {
    let p = repo().join(".venv-e2e/bin/python");
    assert!(
        p.exists(),
        "{} is missing: run scripts/setup-e2e.sh (the README's test command, scripts/test.sh, does)",
        p.display()
    );
    p
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run command")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn wait_for_file(path: &Path, what: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            if let Ok(v) = serde_json::from_str::<Value>(&text) {
                return v;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not start within 60 s"
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// A running `shadowscan serve` on loopback ports chosen by the OS.
struct Server {
    child: Child,
    grpc: String,
    http: String,
    admin: String,
}

impl Server {
    fn start(db: &Path) -> Server {
        let ready = db.with_extension("ready.json");
        let _ = std::fs::remove_file(&ready);
        let child = shadowscan()
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
            .stderr(Stdio::piped())
            .spawn()
            .expect("start shadowscan serve");
        let v = wait_for_file(&ready, "shadowscan serve");
        let s = |k: &str| v[k].as_str().unwrap().to_owned();
        Server {
            child,
            grpc: s("grpc"),
            http: s("http"),
            admin: s("admin"),
        }
    }

    /// SIGTERM, as a service manager stops it; returns what it logged.
    fn stop(mut self) -> String {
        // SAFETY: signalling our own child process.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let status = self.child.wait().expect("wait for serve");
        let mut log = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut log)
            .unwrap();
        assert!(status.success(), "serve exited with {status}: {log}");
        log
    }

    /// SIGKILL: no flush, no goodbye.
    fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    /// A test that fails before `stop` must not leave its server running.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `shadowscan diff` of the recorded httpbin traffic against httpbin's own spec, plus `extra`.
fn diff_recorded_httpbin<I, S>(extra: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    run(shadowscan()
        .arg("diff")
        .arg(repo().join("fixtures/httpbin-spec.json"))
        .arg("--traces")
        .arg(repo().join("fixtures/httpbin.jsonl"))
        .args(["--service", "httpbin"])
        .args(extra))
}

/// `shadowscan ingest --db DB FILE`, which must succeed.
fn ingest(db: &Path, file: &Path) {
    let out = run(shadowscan().arg("ingest").arg("--db").arg(db).arg(file));
    assert!(out.status.success(), "{}", stderr(&out));
}

/// `shadowscan inventory --db DB ARGS...`, as it ended.
fn inventory(db: &Path, args: &[&str]) -> Output {
    run(shadowscan().arg("inventory").arg("--db").arg(db).args(args))
}

fn inventory_json(db: &Path) -> Vec<Value> {
    let out = inventory(db, &["--format", "json"]);
    assert!(out.status.success(), "inventory failed: {}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).expect("inventory JSON");
    v["endpoints"].as_array().unwrap().clone()
}

/// Parameter names are not significant: `/carts/{cartId}` is `/carts/{}`.
fn shape(t: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for c in t.chars() {
        match c {
            '{' => {
                in_param = true;
                out.push_str("{}");
            }
            '}' => in_param = false,
            _ if !in_param => out.push(c),
            _ => {}
        }
    }
    out
}

type Key = (String, String, String);

fn by_key(endpoints: &[Value]) -> BTreeMap<Key, &Value> {
    endpoints
        .iter()
        .map(|e| {
            let k = (
                e["service"].as_str().unwrap().to_owned(),
                e["method"].as_str().unwrap().to_owned(),
                shape(e["template"].as_str().unwrap()),
            );
            (k, e)
        })
        .collect()
}

/// Runs the real Python SDK exporter against `target` and returns its summary of what it sent.
fn export_with_python_sdk(args: &[&str]) -> Value {
    let out = run(Command::new(python())
        .arg(repo().join("tests/e2e/export_spans.py"))
        .args(args));
    assert!(
        out.status.success(),
        "export_spans.py {args:?} failed: {}",
        stderr(&out)
    );
    serde_json::from_slice(&out.stdout).expect("export summary JSON")
}

/// The inventory holds exactly what the SDK sent: endpoints, templates, counts, statuses
/// and auth evidence; scanner 404s are not endpoints.
fn assert_inventory_matches(sent: &[&Value], endpoints: &[Value]) {
    let got = by_key(endpoints);
    let mut want: BTreeMap<Key, (u64, u64, u64, BTreeMap<String, u64>)> = BTreeMap::new();
    for summary in sent {
        for e in summary["endpoints"].as_array().unwrap() {
            // The exporter sets `service.namespace=shop`; shadowscan names services
            // `namespace/name`.
            let k = (
                format!("shop/{}", e["service"].as_str().unwrap()),
                e["method"].as_str().unwrap().to_owned(),
                shape(e["template"].as_str().unwrap()),
            );
            let w = want.entry(k).or_default();
            w.0 += e["requests"].as_u64().unwrap();
            w.1 += e["successes_with_auth_evidence"].as_u64().unwrap();
            w.2 += e["successes_without_auth_evidence"].as_u64().unwrap();
            for (code, n) in e["status"].as_object().unwrap() {
                *w.3.entry(code.clone()).or_default() += n.as_u64().unwrap();
            }
        }
    }
    let got_keys: Vec<&Key> = got.keys().collect();
    let want_keys: Vec<&Key> = want.keys().collect();
    assert_eq!(
        got_keys, want_keys,
        "endpoints differ from what the SDK sent"
    );
    for (k, (requests, with, without, statuses)) in &want {
        let e = got[k];
        assert_eq!(e["requests"].as_u64().unwrap(), *requests, "{k:?} requests");
        assert_eq!(
            e["ok_with_auth"].as_u64().unwrap(),
            *with,
            "{k:?} successes with auth evidence"
        );
        assert_eq!(
            e["ok_without_auth"].as_u64().unwrap(),
            *without,
            "{k:?} successes without auth evidence"
        );
        let s = &e["status"];
        let count = |prefix: char| {
            statuses
                .iter()
                .filter(|(c, _)| c.starts_with(prefix))
                .map(|(_, n)| n)
                .sum::<u64>()
        };
        assert_eq!(s["s2xx"].as_u64().unwrap(), count('2'), "{k:?} 2xx");
        assert_eq!(s["s4xx"].as_u64().unwrap(), count('4'), "{k:?} 4xx");
        assert_eq!(
            s["s401"].as_u64().unwrap(),
            statuses.get("401").copied().unwrap_or(0),
            "{k:?} 401"
        );
        assert_eq!(
            s["s403"].as_u64().unwrap(),
            statuses.get("403").copied().unwrap_or(0),
            "{k:?} 403"
        );
    }
}

#[test]
fn python_sdk_exports_over_grpc_and_http_become_the_inventory() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("inventory.db");
    let server = Server::start(&db);
    let grpc = export_with_python_sdk(&["--grpc", &server.grpc, "--seed", "7"]);
    let http =
        export_with_python_sdk(&["--http", &format!("http://{}", server.http), "--seed", "7"]);
    assert_eq!(grpc["compression"], "gzip");
    assert_eq!(http["compression"], "gzip");

    // The admin endpoint reports what the receivers took in.
    let metrics = http_get(&server.admin, "/metrics");
    let accepted = metric(&metrics, "shadowscan_spans_accepted_total");
    let exported =
        grpc["spans_exported"].as_u64().unwrap() + http["spans_exported"].as_u64().unwrap();
    assert_eq!(
        accepted, exported,
        "every exported span is acknowledged as stored:\n{metrics}"
    );
    assert!(http_get(&server.admin, "/healthz").starts_with("ok"));
    let live: Value = serde_json::from_str(&http_get(&server.admin, "/api/v1/inventory")).unwrap();

    let log = server.stop();
    assert!(
        log.contains("inventory flushed"),
        "graceful shutdown flushes: {log}"
    );
    let endpoints = inventory_json(&db);
    assert_inventory_matches(&[&grpc, &http], &endpoints);
    assert_eq!(
        live["endpoints"].as_array().unwrap().len(),
        endpoints.len(),
        "the admin API serves the same inventory"
    );

    // Unmatched scanner probes never become endpoints.
    for probe in grpc["unmatched"].as_array().unwrap() {
        let path = probe["path"].as_str().unwrap();
        assert!(
            !endpoints
                .iter()
                .any(|e| e["template"].as_str() == Some(path)),
            "scanner probe {path} was inventoried"
        );
    }
    // Caller services are reconstructed from client spans in another service.
    let invoices = endpoints
        .iter()
        .find(|e| {
            e["service"] == "shop/legacy-billing"
                && e["template"].as_str().unwrap().starts_with("/invoices/")
                && !e["template"].as_str().unwrap().ends_with("/pdf")
        })
        .expect("invoice endpoint");
    assert!(
        invoices["callers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c.as_str().unwrap().contains("checkout-api")),
        "callers: {}",
        invoices["callers"]
    );
    // The graph shows the call from one service into the other.
    let out = run(shadowscan()
        .arg("graph")
        .arg("--db")
        .arg(&db)
        .args(["--format", "json"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let graph: Value = serde_json::from_slice(&out.stdout).unwrap();
    let nodes = graph["nodes"].as_array().unwrap();
    let node = |id: &Value| nodes.iter().find(|n| &n["id"] == id).unwrap();
    let calls: Vec<(String, String)> = graph["edges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e.to_string().contains("calls"))
        .map(|e| (node(&e["from"]).to_string(), node(&e["to"]).to_string()))
        .collect();
    assert!(
        calls
            .iter()
            .any(|(from, to)| from.contains("shop/checkout-api") && to.contains("/invoices/")),
        "no checkout-api → invoices call edge in {calls:?}"
    );
    let dot = run(shadowscan().arg("graph").arg("--db").arg(&db));
    let dot = String::from_utf8_lossy(&dot.stdout);
    assert!(dot.starts_with("digraph") && dot.contains("->"), "{dot}");

    // Credential values never reach the store: the SDK redacts them here, and shadowscan
    // records presence only.
    let raw = std::fs::read(&db).unwrap();
    assert!(
        !String::from_utf8_lossy(&raw).contains("Bearer "),
        "a credential value reached the database"
    );
}

#[test]
fn acknowledged_exports_survive_kill_9_and_a_restart_continues_the_inventory() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("inventory.db");
    let server = Server::start(&db);
    let first = export_with_python_sdk(&["--grpc", &server.grpc, "--seed", "3"]);
    // The exporter returned success: every span it sent was acknowledged. Now crash.
    server.kill9();
    assert_inventory_matches(&[&first], &inventory_json(&db));

    let server = Server::start(&db);
    let second = export_with_python_sdk(&["--grpc", &server.grpc, "--seed", "3"]);
    server.stop();
    assert_inventory_matches(&[&first, &second], &inventory_json(&db));
}

#[test]
fn the_admin_api_serves_the_cli_inventory_and_counts_refusals() {
    // Twelve user names and no route: the inventory's view folds them into one
    // `/users/{param}/repos` row, which the API must show too (and `raw=true` unfolds).
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("inventory.db");
    let names = [
        "octocat", "torvalds", "alice-1", "bob-22", "carol3", "dave_4", "erin-55", "frank6",
        "grace-7", "heidi88", "ivan-9", "judy10",
    ];
    let attr = |k: &str, v: Value| serde_json::json!({"key": k, "value": v});
    let mut lines = String::new();
    for (i, name) in names.iter().enumerate() {
        let span = serde_json::json!({
            "traceId": format!("{:032x}", i + 1), "spanId": format!("{:016x}", i + 1),
            "name": "GET", "kind": 2,
            "startTimeUnixNano": "1763000000000000000", "endTimeUnixNano": "1763000000004000000",
            "attributes": [
                attr("http.request.method", serde_json::json!({"stringValue": "GET"})),
                attr("url.path", serde_json::json!({"stringValue": format!("/users/{name}/repos")})),
                attr("http.response.status_code", serde_json::json!({"intValue": "200"})),
                attr("enduser.id", serde_json::json!({"stringValue": "u-1"})),
            ],
        });
        let req = serde_json::json!({"resourceSpans": [{
            "resource": {"attributes": [attr("service.name", serde_json::json!({"stringValue": "git"}))]},
            "scopeSpans": [{"scope": {"name": "opentelemetry.instrumentation.flask"}, "spans": [span]}],
        }]});
        lines.push_str(&format!("{req}\n"));
    }
    let file = dir.path().join("names.jsonl");
    std::fs::write(&file, lines).unwrap();
    ingest(&db, &file);

    let server = Server::start(&db);
    let live: Value = serde_json::from_str(&http_get(&server.admin, "/api/v1/inventory")).unwrap();
    let live_raw: Value =
        serde_json::from_str(&http_get(&server.admin, "/api/v1/inventory?raw=true")).unwrap();
    // A refused export shows in /metrics, by reason.
    {
        use std::io::Write;
        let mut s = std::net::TcpStream::connect(&server.http).unwrap();
        write!(
            s,
            "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi"
        )
        .unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 415"), "{answer}");
    }
    let metrics = http_get(&server.admin, "/metrics");
    assert!(
        metrics.contains("shadowscan_exports_refused_total{reason=\"unsupported\"} 1"),
        "{metrics}"
    );
    server.stop();

    let cli = inventory_json(&db);
    assert_eq!(cli.len(), 1, "{cli:?}");
    assert_eq!(live["endpoints"].as_array().unwrap(), &cli);
    let out = inventory(&db, &["--raw", "--format", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let cli_raw: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(cli_raw["endpoints"].as_array().unwrap().len(), names.len());
    assert_eq!(live_raw["endpoints"], cli_raw["endpoints"]);
}

#[test]
fn recorded_fixtures_inventory_what_their_recordings_expect() {
    // Each recording came with what its application really serves and which requests no
    // route matched (scanner probes: 404s, and Express 4's app-level auth answering 401 or
    // Flask answering 405/308 before routing). The inventory must be exactly that.
    for (traces, expected) in [
        ("flask-old.jsonl", "flask-expected.json"),
        ("flask-new.jsonl", "flask-expected.json"),
        ("express4.jsonl", "express4-expected.json"),
        ("express5.jsonl", "express5-expected.json"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("inventory.db");
        ingest(&db, &repo().join("fixtures").join(traces));
        let expected: Value = serde_json::from_str(
            &std::fs::read_to_string(repo().join("fixtures").join(expected)).unwrap(),
        )
        .unwrap();
        let endpoints = inventory_json(&db);
        let mut got: Vec<(String, String)> = endpoints
            .iter()
            .map(|e| {
                (
                    e["method"].as_str().unwrap().to_owned(),
                    shape(e["template"].as_str().unwrap()),
                )
            })
            .collect();
        got.sort();
        // Templates drop a trailing slash (`/products/` is `/products`).
        let mut want: Vec<(String, String)> = expected["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let t = e["template"].as_str().unwrap();
                (
                    e["method"].as_str().unwrap().to_owned(),
                    shape(if t.len() > 1 {
                        t.trim_end_matches('/')
                    } else {
                        t
                    }),
                )
            })
            .collect();
        want.sort();
        assert_eq!(got, want, "{traces}");
        // Old (`http.user_agent`) and current (`user_agent.original`) conventions alike.
        assert!(
            endpoints.iter().any(|e| e["user_agents"]
                .as_array()
                .unwrap()
                .iter()
                .any(|u| u.as_str().unwrap().starts_with("shop-web/2.3"))),
            "{traces}: no user agent"
        );
        for probe in expected["unmatched_requests"].as_array().unwrap() {
            // Flask's redirect of `/products` to `/products/` is, trailing slash dropped, a
            // request to that endpoint; every refusal must stay out.
            if probe["status"].as_u64().is_some_and(|s| s < 400) {
                continue;
            }
            let path = probe["path"].as_str().unwrap();
            assert!(
                !endpoints.iter().any(|e| e["examples"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|x| x.as_str() == Some(path))
                    && e["method"] == probe["method"]),
                "{traces}: unmatched {} {path} was inventoried",
                probe["method"]
            );
        }
    }
}

#[test]
fn a_bare_service_name_gets_a_hint_when_the_service_has_a_namespace() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("inventory.db");
    ingest(&db, &repo().join("fixtures/express4.jsonl"));
    let out = inventory(&db, &["--service", "shop-api-express4"]);
    assert!(out.status.success());
    assert!(
        stderr(&out).contains("try --service shop/shop-api-express4"),
        "{}",
        stderr(&out)
    );
    let out = inventory(
        &db,
        &["--service", "shop/shop-api-express4", "--format", "json"],
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(!v["endpoints"].as_array().unwrap().is_empty());
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
}

#[test]
fn the_config_file_sets_logging_and_the_ready_file_too() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("shadowscan.toml");
    std::fs::write(
        &config,
        r#"db = "inventory.db"
log = "warn"
log_format = "json"
[serve]
grpc_addr = "127.0.0.1:0"
http_addr = "127.0.0.1:0"
admin_addr = "127.0.0.1:0"
ready_file = "ready.json"
"#,
    )
    .unwrap();
    let mut child = shadowscan()
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Relative to the config file, not the working directory.
    let ready = wait_for_file(&dir.path().join("ready.json"), "serve from its config");
    assert!(ready["grpc"].as_str().unwrap().starts_with("127.0.0.1:"));
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert!(child.wait().unwrap().success());
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    // `warn` hides the info lines; what is left is JSON.
    assert!(!log.contains("listening"), "{log}");
    for line in log.lines() {
        serde_json::from_str::<Value>(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    }
    assert!(dir.path().join("inventory.db").exists());

    let bad = inventory(&dir.path().join("inventory.db"), &["--log", "a=b=c["]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("log filter `a=b=c[`"),
        "{}",
        stderr(&bad)
    );
}

#[test]
fn what_the_endpoint_cap_kept_out_is_said_by_ingest_and_inventory() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("inventory.db");
    let config = dir.path().join("shadowscan.toml");
    std::fs::write(&config, "[inventory]\nmax_endpoints_per_service = 2\n").unwrap();
    let out = run(shadowscan()
        .arg("--config")
        .arg(&config)
        .arg("ingest")
        .arg("--db")
        .arg(&db)
        .arg(repo().join("fixtures/express4.jsonl")));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("over the endpoint or service cap counted, not inventoried"),
        "{}",
        stderr(&out)
    );
    let table = inventory(&db, &[]);
    let text = String::from_utf8(table.stdout).unwrap();
    assert!(text.contains("2 endpoints in 1 service"), "{text}");
    assert!(
        text.contains("of capped services were counted, not inventoried: shop/shop-api-express4"),
        "{text}"
    );
    let json = inventory(&db, &["--format", "json"]);
    let v: Value = serde_json::from_slice(&json.stdout).unwrap();
    let kept_out: u64 = v["overflow"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["requests"].as_u64().unwrap())
        .sum();
    assert!(kept_out > 0, "{v}");
}

#[test]
fn serve_keeps_running_and_stops_cleanly_when_nobody_reads_its_logs() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(&dir.path().join("inventory.db"));
    // The log reader goes away (a supervisor's pipe closing): every later log line fails.
    drop(server.child.stderr.take());
    // Still serving, and logging on.
    assert!(http_get(&server.admin, "/healthz").starts_with("ok"));
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(server.child.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        // Dropping the server on this panic kills it.
        assert!(
            Instant::now() < deadline,
            "serve did not stop after SIGTERM with its stderr closed"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
}

#[test]
fn logs_are_plain_text_when_stderr_is_not_a_terminal() {
    // A service manager or `2> file` captures the logs: escape codes there are noise.
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready.json");
    let mut child = shadowscan()
        .env_remove("NO_COLOR")
        .args([
            "serve",
            "--grpc-addr",
            "127.0.0.1:0",
            "--http-addr",
            "127.0.0.1:0",
        ])
        .args(["--admin-addr", "127.0.0.1:0"])
        .arg("--db")
        .arg(dir.path().join("inventory.db"))
        .arg("--ready-file")
        .arg(&ready)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_file(&ready, "serve");
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert!(child.wait().unwrap().success());
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(log.contains("shadowscan listening"), "{log}");
    assert!(
        !log.contains('\x1b'),
        "escape codes in a piped log: {log:?}"
    );
}

fn http_get(addr: &str, path: &str) -> String {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "GET {path}: {head}");
    body.to_owned()
}

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
        .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
}

/// httpbin under the Flask instrumentation, exercised over every route it serves and
/// exporting to `shadowscan serve`: the diff against its own /spec.json reports exactly the
/// routes it serves without documenting them.
#[test]
fn httpbin_acceptance_exactly_its_undocumented_routes_are_shadow() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("inventory.db");
    let server = Server::start(&db);
    let ready = dir.path().join("httpbin.ready.json");
    let mut app = Command::new(python())
        .arg(repo().join("tests/e2e/httpbin_app.py"))
        .args(["--otlp-grpc", &server.grpc, "--ready-file"])
        .arg(&ready)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start httpbin");
    let url = wait_for_file(&ready, "httpbin")["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let routes = dir.path().join("routes.json");
    let spec = dir.path().join("spec.json");
    let out = run(Command::new(python())
        .arg(repo().join("tests/e2e/exercise_httpbin.py"))
        .args(["--url", &url, "--routes-out"])
        .arg(&routes)
        .arg("--spec-out")
        .arg(&spec));
    assert!(
        out.status.success(),
        "exercising httpbin failed: {}",
        stderr(&out)
    );
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(app.id() as i32, libc::SIGTERM) };
    let status = app.wait().unwrap();
    assert!(
        status.success(),
        "httpbin's exporter failed to deliver every span"
    );
    server.stop();

    let truth: Value = serde_json::from_slice(&std::fs::read(&routes).unwrap()).unwrap();
    let mut want: Vec<String> = truth["undocumented_routes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| format!("GET {}", shape(r.as_str().unwrap())))
        .collect();
    want.sort();
    let out = run(shadowscan()
        .arg("diff")
        .arg(&spec)
        .arg("--db")
        .arg(&db)
        .args(["--service", "httpbin", "--format", "json"]));
    assert_eq!(
        out.status.code(),
        Some(1),
        "shadow endpoints fail the run: {}",
        stderr(&out)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut got: Vec<String> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "shadow")
        .map(|f| {
            format!(
                "{} {}",
                f["method"].as_str().unwrap(),
                shape(f["path"].as_str().unwrap())
            )
        })
        .collect();
    got.sort();
    assert_eq!(got, want);
}

#[test]
fn diff_of_recorded_httpbin_traffic_finds_exactly_the_undocumented_routes() {
    let out = diff_recorded_httpbin(["--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let truth: Value = serde_json::from_slice(
        &std::fs::read(repo().join("fixtures/httpbin-routes.json")).unwrap(),
    )
    .unwrap();
    let mut want: Vec<String> = truth["undocumented_routes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| shape(r.as_str().unwrap()))
        .collect();
    want.sort();
    let mut got: Vec<String> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "shadow")
        .map(|f| shape(f["path"].as_str().unwrap()))
        .collect();
    got.sort();
    assert_eq!(got, want);
}

#[test]
fn diff_exit_statuses_gate_ci() {
    let spec = repo().join("fixtures/httpbin-spec.json");
    let traces = repo().join("fixtures/httpbin.jsonl");
    let diff = |extra: &[&str]| diff_recorded_httpbin(extra);
    assert_eq!(
        diff(&[]).status.code(),
        Some(1),
        "shadow endpoints fail by default"
    );
    assert_eq!(
        diff(&["--fail-on", "zombie"]).status.code(),
        Some(0),
        "no zombie here"
    );
    assert_eq!(diff(&["--fail-on", "none"]).status.code(), Some(0));
    let bad = diff(&["--fail-on", "shadows"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("unknown finding kind `shadows`"),
        "{}",
        stderr(&bad)
    );

    // A spec that cannot be read is an error naming the file and line, never "no drift".
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("openapi.yaml");
    std::fs::write(
        &broken,
        "openapi: 3.0.3\ninfo: {title: x, version: '1'}\npaths:\n  /users:\n    get: [unclosed\n",
    )
    .unwrap();
    let out = run(shadowscan()
        .arg("diff")
        .arg(&broken)
        .arg("--traces")
        .arg(&traces));
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("openapi.yaml:") && err.contains(":5") || err.contains("openapi.yaml:6"),
        "{err}"
    );
    assert!(
        out.stdout.is_empty(),
        "no report for a spec that failed to load"
    );

    // Several services and no mapping: say so instead of guessing.
    let two = run(shadowscan()
        .arg("diff")
        .arg(&spec)
        .arg("--traces")
        .arg(repo().join("fixtures/express4.jsonl"))
        .arg(repo().join("fixtures/flask-old.jsonl")));
    assert_eq!(two.status.code(), Some(2));
    assert!(stderr(&two).contains("--service"), "{}", stderr(&two));
}

#[test]
fn baseline_accepts_findings_until_they_expire() {
    let dir = tempfile::tempdir().unwrap();
    let baseline = dir.path().join("shadowscan-baseline.toml");
    let out = diff_recorded_httpbin([OsStr::new("--write-baseline"), baseline.as_os_str()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = diff_recorded_httpbin([OsStr::new("--baseline"), baseline.as_os_str()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "every finding accepted: {}",
        stderr(&out)
    );
    // Expire one entry: it fails again.
    let text = std::fs::read_to_string(&baseline).unwrap();
    let expired = text.replacen("reason =", "expires = \"2020-01-01\"\nreason =", 1);
    assert_ne!(expired, text);
    std::fs::write(&baseline, expired).unwrap();
    let out = diff_recorded_httpbin([OsStr::new("--baseline"), baseline.as_os_str()]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "an expired acceptance fails again: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn ingest_names_the_bad_line_and_keeps_what_came_before() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("inventory.db");
    let good = std::fs::read_to_string(repo().join("fixtures/flask-old.jsonl")).unwrap();
    let lines = good.lines().count();
    let file = dir.path().join("traces.jsonl");
    std::fs::write(
        &file,
        format!("{good}{{\"resourceSpans\": [{{\"scopeSpans\": 7}}]}}\n"),
    )
    .unwrap();
    let out = run(shadowscan().arg("ingest").arg("--db").arg(&db).arg(&file));
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("traces.jsonl:{}", lines + 1)),
        "{err}"
    );
    // Said once, at the file's line, and what to do about the lines already stored.
    assert_eq!(err.matches("malformed OTLP/JSON").count(), 1, "{err}");
    assert!(
        err.contains(&format!("at line {}, column", lines + 1)),
        "{err}"
    );
    assert!(
        err.contains(&format!("the {lines} requests before it are stored")),
        "{err}"
    );
    assert!(
        !inventory_json(&db).is_empty(),
        "lines before the bad one stay ingested"
    );

    let missing = run(shadowscan()
        .arg("ingest")
        .arg("--db")
        .arg(&db)
        .arg(dir.path().join("nope.jsonl")));
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).contains("nope.jsonl"),
        "{}",
        stderr(&missing)
    );
}

#[test]
fn ingest_reads_json_lines_protobuf_and_gzip_alike() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.db");
    let b = dir.path().join("b.db");
    ingest(&a, &repo().join("fixtures/flask-old.jsonl"));
    ingest(&b, &repo().join("fixtures/flask-old.pb"));
    let strip = |v: Vec<Value>| -> Vec<(String, String, u64)> {
        v.into_iter()
            .map(|e| {
                (
                    e["method"].as_str().unwrap().into(),
                    e["template"].as_str().unwrap().into(),
                    e["requests"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(
        strip(inventory_json(&a)),
        strip(inventory_json(&b)),
        "JSON lines and protobuf give the same inventory"
    );

    // The same JSON lines gzip-compressed, with no telling extension.
    let c = dir.path().join("c.db");
    let gz = dir.path().join("traces.otlp");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(
        &mut enc,
        &std::fs::read(repo().join("fixtures/flask-old.jsonl")).unwrap(),
    )
    .unwrap();
    std::fs::write(&gz, enc.finish().unwrap()).unwrap();
    ingest(&c, &gz);
    assert_eq!(
        strip(inventory_json(&a)),
        strip(inventory_json(&c)),
        "gzip changes nothing"
    );
}

#[test]
fn report_command_and_live_report_page() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("inventory.db");
    ingest(&db, &repo().join("fixtures/httpbin.jsonl"));
    let spec = repo().join("fixtures/httpbin-spec.json");
    let out = run(shadowscan()
        .arg("report")
        .arg("--db")
        .arg(&db)
        .arg("--spec")
        .arg(&spec)
        .args([
            "--service",
            "httpbin",
            "--since",
            "3650d",
            "--format",
            "json",
        ]));
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["summary"]["shadow"], 9, "{}", report["summary"]);

    let html = dir.path().join("report.html");
    let out = run(shadowscan()
        .arg("report")
        .arg("--db")
        .arg(&db)
        .arg("--spec")
        .arg(&spec)
        .args(["--since", "3650d", "-o"])
        .arg(&html));
    assert!(out.status.success(), "{}", stderr(&out));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("/forms/post") && page.contains("/legacy"),
        "shadow endpoints are on the page"
    );
    assert!(
        !page.contains("src=\"http") && !page.contains("href=\"http"),
        "the page fetches nothing"
    );

    // `serve` serves the same report live on its admin address.
    let server = Server::start(&db);
    let live = http_get(&server.admin, "/report?since=3650d");
    server.stop();
    assert!(
        live.contains("<html") && live.contains("/forms/post"),
        "{}",
        &live[..live.len().min(300)]
    );
}

/// The shop's spec as the demo ships it, bound to the recorded Express 4 shop.
fn shop_spec() -> PathBuf {
    repo().join("examples/shop-api.openapi.yaml")
}

/// `shadowscan diff SPEC ARGS...`.
fn diff(spec: &Path, args: &[&OsStr]) -> Output {
    run(shadowscan().arg("diff").arg(spec).args(args))
}

fn os<'a>(args: &'a [&'a str]) -> Vec<&'a OsStr> {
    args.iter().map(OsStr::new).collect()
}

#[test]
fn a_spec_bound_to_a_service_without_traffic_fails_naming_the_closest_service() {
    let traces = repo().join("fixtures/express4.jsonl");
    let mut args = os(&["--service", "shop-api-express4", "--traces"]);
    args.push(traces.as_os_str());
    // Services are `namespace/name`: the bare name used to print "0 shadow … 8 unobserved"
    // and exit 0, passing the gate having compared nothing.
    let out = diff(&shop_spec(), &args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        out.stdout.is_empty(),
        "no report: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        err.contains("bound to service `shop-api-express4`"),
        "{err}"
    );
    assert!(
        err.contains("services with traffic: shop/shop-api-express4"),
        "{err}"
    );
    assert!(
        err.contains("closest match: `shop/shop-api-express4`"),
        "{err}"
    );
    assert!(err.contains("--allow-no-traffic"), "{err}");

    // Said explicitly, a quiet service is accepted: a warning, and the diff runs.
    args.extend(os(&["--allow-no-traffic", "--format", "json"]));
    let out = diff(&shop_spec(), &args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("warning:"), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["summary"]["unobserved"], 8, "{report}");
}

#[test]
fn a_wrong_service_in_the_config_mapping_fails_with_the_database_and_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("inventory.db");
    ingest(&db, &repo().join("fixtures/express4.jsonl"));
    let config = dir.path().join("shadowscan.toml");
    std::fs::write(
        &config,
        format!(
            "[[specs]]\nservice = \"shop/shop-api-expres4\"\nspec = {:?}\n",
            shop_spec().display().to_string()
        ),
    )
    .unwrap();
    let out = run(shadowscan()
        .arg("diff")
        .arg("--config")
        .arg(&config)
        .arg("--db")
        .arg(&db));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("closest match: `shop/shop-api-express4`"),
        "{err}"
    );

    // The same through a running server's admin address.
    let server = Server::start(&db);
    let url = format!("http://{}", server.admin);
    let out = diff(
        &shop_spec(),
        &os(&["--server", &url, "--service", "shop-api"]),
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("the server at http://"), "{err}");
    assert!(
        err.contains("services with traffic: shop/shop-api-express4"),
        "{err}"
    );
    let out = diff(
        &shop_spec(),
        &os(&["--server", &url, "--service", "shop/shop-api-express4"]),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    server.stop();
}

#[test]
fn trace_files_and_databases_without_http_traffic_are_errors_not_a_clean_diff() {
    let dir = tempfile::tempdir().unwrap();
    // An empty file: the collector wrote nowhere near here.
    let empty = dir.path().join("empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    let out = diff(&shop_spec(), &[OsStr::new("--traces"), empty.as_os_str()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("hold no spans"), "{err}");

    // Real spans, but only the Express middleware (internal) ones: no HTTP server span.
    let first = std::fs::read_to_string(repo().join("fixtures/express4.jsonl")).unwrap();
    let mut export: Value = serde_json::from_str(first.lines().next().unwrap()).unwrap();
    for rs in export["resourceSpans"].as_array_mut().unwrap() {
        for ss in rs["scopeSpans"].as_array_mut().unwrap() {
            ss["spans"]
                .as_array_mut()
                .unwrap()
                .retain(|s| s["kind"] == 1);
        }
    }
    let internal = dir.path().join("internal.jsonl");
    std::fs::write(&internal, format!("{export}\n")).unwrap();
    let out = diff(
        &shop_spec(),
        &[OsStr::new("--traces"), internal.as_os_str()],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("but no HTTP server span"), "{err}");

    // A database that was created but never fed.
    let db = dir.path().join("inventory.db");
    ingest(&db, &empty);
    let out = diff(&shop_spec(), &[OsStr::new("--db"), db.as_os_str()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("holds no traffic yet"), "{err}");
    ingest(&db, &internal);
    let out = diff(&shop_spec(), &[OsStr::new("--db"), db.as_os_str()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("but no HTTP server span"), "{err}");
}

#[test]
fn a_window_without_traffic_names_the_newest_observation_and_the_since_that_reaches_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("inventory.db");
    // Recorded days ago, ingested with the recording's own times.
    ingest(&db, &repo().join("fixtures/express4.jsonl"));
    let mut args = vec![OsStr::new("--db"), db.as_os_str()];
    args.extend(os(&[
        "--service",
        "shop/shop-api-express4",
        "--since",
        "1h",
    ]));
    let out = diff(&shop_spec(), &args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("holds no traffic in the last 1h"), "{err}");
    assert!(err.contains("the newest observation is at 20"), "{err}");
    let suggested = err
        .split("--since ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| panic!("no --since suggested: {err}"));
    // The suggestion works: the shadow endpoint is found.
    args.truncate(args.len() - 1);
    args.push(OsStr::new(suggested));
    let out = diff(&shop_spec(), &args);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("/internal/debug/config"));
}

#[test]
fn a_spec_documenting_nothing_or_bound_to_no_service_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let traces = repo().join("fixtures/express4.jsonl");
    let empty = dir.path().join("openapi.yaml");
    std::fs::write(
        &empty,
        "openapi: 3.0.3\ninfo: {title: Shop, version: '1'}\npaths: {}\ncomponents:\n  schemas:\n    User: {type: object}\n",
    )
    .unwrap();
    let out = diff(&empty, &[OsStr::new("--traces"), traces.as_os_str()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("openapi.yaml: documents no operations"),
        "{err}"
    );

    let config = dir.path().join("shadowscan.toml");
    std::fs::write(
        &config,
        format!(
            "[[specs]]\nservice = \"\"\nspec = {:?}\n",
            shop_spec().display().to_string()
        ),
    )
    .unwrap();
    let out = run(shadowscan()
        .arg("diff")
        .arg("--config")
        .arg(&config)
        .arg("--traces")
        .arg(&traces));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("bound to an empty service name"), "{err}");
}

#[test]
fn since_refuses_what_hourly_counts_cannot_honour_and_says_the_resolution() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("inventory.db");
    ingest(&db, &repo().join("fixtures/express4.jsonl"));
    for cmd in ["inventory", "diff", "report", "graph"] {
        let out = run(shadowscan()
            .arg(cmd)
            .arg("--db")
            .arg(&db)
            .args(["--since", "30m"]));
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{cmd}: {err}");
        assert!(err.contains("resolution of one hour"), "{cmd}: {err}");
        assert!(err.contains("use --since 1h"), "{cmd}: {err}");
    }
    assert!(inventory(&db, &["--since", "24h"]).status.success());
}

#[test]
fn verbose_lists_the_unobserved_operations_the_summary_mentions() {
    let dir = tempfile::tempdir().unwrap();
    // The shop's spec with one operation the recording never called.
    let spec = dir.path().join("openapi.yaml");
    let text = std::fs::read_to_string(shop_spec()).unwrap().replace(
        "  /healthz:\n",
        "  /api/v1/coupons:\n    get:\n      responses:\n        \"200\": { description: coupons }\n  /healthz:\n",
    );
    std::fs::write(&spec, text).unwrap();
    let traces = repo().join("fixtures/express4.jsonl");
    let mut args = os(&["--service", "shop/shop-api-express4", "--traces"]);
    args.push(traces.as_os_str());
    let plain = String::from_utf8(diff(&spec, &args).stdout).unwrap();
    assert!(plain.contains("(--verbose lists them)"), "{plain}");
    assert!(!plain.contains("/api/v1/coupons"), "{plain}");
    args.push(OsStr::new("--verbose"));
    let out = diff(&spec, &args);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let verbose = String::from_utf8(out.stdout).unwrap();
    assert!(
        verbose
            .lines()
            .any(|l| l.contains("unobserved") && l.contains("/api/v1/coupons")),
        "{verbose}"
    );
}

/// The string literals of Rust source (plain, raw and byte strings), escapes left as
/// written; comments and char literals skipped.
fn string_literals(src: &str) -> Vec<String> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let ident_before = i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
        if b[i..].starts_with(b"//") {
            i = src[i..].find('\n').map_or(b.len(), |j| i + j);
        } else if b[i] == b'r' && !ident_before && matches!(b.get(i + 1), Some(b'"' | b'#')) {
            let hashes = b[i + 1..].iter().take_while(|&&c| c == b'#').count();
            if b.get(i + 1 + hashes) != Some(&b'"') {
                i += 1;
                continue;
            }
            let start = i + 2 + hashes;
            let close = format!("\"{}", "#".repeat(hashes));
            let end = src[start..].find(&close).map_or(b.len(), |j| start + j);
            out.push(src[start..end].to_owned());
            i = end + close.len();
        } else if b[i] == b'\'' {
            // A char literal ('x', '\n', '"'), or a lifetime's quote.
            let len = if b.get(i + 1) == Some(&b'\\') {
                src[i + 2..].find('\'').map(|j| j + 3)
            } else {
                src[i + 1..]
                    .chars()
                    .next()
                    .filter(|c| src[i + 1 + c.len_utf8()..].starts_with('\''))
                    .map(|c| c.len_utf8() + 2)
            };
            i += len.unwrap_or(1);
        } else if b[i] == b'"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != b'"' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            out.push(src[i + 1..j.min(b.len())].to_owned());
            i = j + 1;
        } else {
            i += 1;
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension() == Some(OsStr::new("rs")) {
            out.push(path);
        }
    }
}

/// `--flag` mentions in `text`, with CSS custom properties (`var(--dim)`) left out.
fn flag_mentions(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, _) in text.match_indices("--") {
        let before = text[..i].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '-' || c == '_')
            || text[..i].ends_with("var(")
        {
            continue;
        }
        let name: String = text[i + 2..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')
            .collect();
        let name = name.trim_end_matches('-');
        if name.starts_with(|c: char| c.is_ascii_lowercase()) {
            out.push(name.to_owned());
        }
    }
    out
}

#[test]
fn every_flag_and_command_the_program_mentions_exists() {
    use clap::CommandFactory;
    let cli = shadowscan::cli::Cli::command();
    let subcommands: Vec<&str> = cli.get_subcommands().map(|c| c.get_name()).collect();
    let mut flags: Vec<String> = cli
        .get_arguments()
        .chain(cli.get_subcommands().flat_map(|c| c.get_arguments()))
        .filter_map(|a| a.get_long().map(str::to_owned))
        .collect();
    flags.extend(["help".to_owned(), "version".to_owned()]);

    let mut files = Vec::new();
    rust_files(&repo().join("src"), &mut files);
    let mut texts: Vec<(String, String)> = Vec::new();
    for file in &files {
        let src = std::fs::read_to_string(file).unwrap();
        let shown = file.strip_prefix(repo()).unwrap().display().to_string();
        texts.extend(
            string_literals(&src)
                .into_iter()
                // CSS, with its `--custom-property: value` declarations.
                .filter(|l| !l.contains("var(--"))
                .map(|l| (shown.clone(), l)),
        );
    }
    // Help text comes from doc comments, which are not literals: read it as rendered.
    let mut cli = shadowscan::cli::Cli::command();
    texts.push(("--help".into(), cli.render_long_help().to_string()));
    for sub in cli.get_subcommands_mut() {
        let help = sub.render_long_help().to_string();
        texts.push((format!("{} --help", sub.get_name()), help));
    }

    let mut wrong = Vec::new();
    let mut checked = 0;
    for (file, text) in &texts {
        for flag in flag_mentions(text) {
            checked += 1;
            if !flags.contains(&flag) {
                wrong.push(format!("{file}: --{flag} in {text:?}"));
            }
        }
        for (i, _) in text.match_indices("`shadowscan ") {
            let word: String = text[i + "`shadowscan ".len()..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase())
                .collect();
            checked += 1;
            if !word.is_empty() && !subcommands.contains(&word.as_str()) {
                wrong.push(format!("{file}: `shadowscan {word}` in {text:?}"));
            }
        }
    }
    assert!(checked > 20, "the scan found only {checked} mentions");
    assert!(
        wrong.is_empty(),
        "mentions of flags or commands that do not exist:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn ingesting_the_same_file_again_counts_nothing_twice_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("inventory.db");
    let file = repo().join("fixtures/express4.jsonl");
    ingest(&db, &file);
    let once = inventory_json(&db);
    let total =
        |eps: &[Value]| -> u64 { eps.iter().map(|e| e["requests"].as_u64().unwrap()).sum() };
    assert!(total(&once) > 0);
    let lines = std::fs::read_to_string(&file).unwrap().lines().count();

    // A retried CI step, with a persistent database.
    let out = run(shadowscan().arg("ingest").arg("--db").arg(&db).arg(&file));
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(&format!(
            "{lines} export requests already ingested (identical content), skipped"
        )),
        "{err}"
    );
    assert_eq!(total(&inventory_json(&db)), total(&once), "{err}");

    // A file that grew: only its new export requests count.
    let grown = dir.path().join("grown.jsonl");
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str(
        std::fs::read_to_string(repo().join("fixtures/express5.jsonl"))
            .unwrap()
            .as_str(),
    );
    std::fs::write(&grown, text).unwrap();
    let out = run(shadowscan().arg("ingest").arg("--db").arg(&db).arg(&grown));
    assert!(stderr(&out).contains(&format!("{lines} export requests already ingested")));
    let both = inventory_json(&db);
    let express4: u64 = both
        .iter()
        .filter(|e| e["service"] == "shop/shop-api-express4")
        .map(|e| e["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(express4, total(&once));
    assert!(both
        .iter()
        .any(|e| e["service"] == "shop/shop-api-express5"));
}

#[test]
fn the_readme_quickstart_ends_on_a_shadow_finding_on_the_day_it_is_run() {
    // docs/quickstart.sh is what the README quotes; run exactly its commands, in order,
    // with the built binary first on PATH as `cargo install` would put it.
    let script = std::fs::read_to_string(repo().join("docs/quickstart.sh")).unwrap();
    let commands: Vec<&str> = script
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert_eq!(commands.len(), 3, "{script}");
    assert!(
        commands.iter().all(|c| c.starts_with("shadowscan ")),
        "{script}"
    );
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_shadowscan"))
        .parent()
        .unwrap();
    let path = std::env::join_paths(std::iter::once(bin_dir.to_path_buf()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let outputs: Vec<Output> = commands
        .iter()
        .map(|c| {
            run(Command::new("sh")
                .arg("-c")
                .arg(c)
                .current_dir(dir.path())
                .env("PATH", &path)
                .env("NO_COLOR", "1")
                .env_remove("SHADOWSCAN_DB")
                .env_remove("SHADOWSCAN_CONFIG"))
        })
        .collect();
    let [demo, diff, report] = &outputs[..] else {
        unreachable!()
    };
    assert!(demo.status.success(), "{}", stderr(demo));
    // The demo says what to run next: the quickstart's own next lines.
    for next in &commands[1..] {
        assert!(
            stderr(demo).contains(next),
            "demo does not suggest `{next}`: {}",
            stderr(demo)
        );
    }
    assert_eq!(diff.status.code(), Some(1), "drift found: {}", stderr(diff));
    let found = String::from_utf8_lossy(&diff.stdout);
    let shadow = found
        .lines()
        .find(|l| l.contains(" shadow ") && l.contains("/internal/debug/config"))
        .unwrap_or_else(|| panic!("no shadow finding: {found}"));
    // Re-timed to now (a minute before the demo ran): seen today, or yesterday just after
    // midnight, not on the day the fixtures were recorded.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let days = [now, now - 300].map(|t| shadowscan::diff::baseline::Date::from_unix(t).to_string());
    assert!(
        days.iter().any(|d| shadow.contains(d.as_str())),
        "{shadow} not on {days:?}"
    );
    assert!(report.status.success(), "{}", stderr(report));
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(
        html.contains("/internal/debug/config"),
        "the report shows the debug route"
    );
}

#[test]
fn each_subcommand_help_lists_its_own_options_before_the_global_ones() {
    for sub in [
        "serve",
        "ingest",
        "inventory",
        "diff",
        "report",
        "graph",
        "demo",
    ] {
        let out = run(shadowscan().args([sub, "--help"]));
        assert!(out.status.success());
        let help = String::from_utf8(out.stdout).unwrap();
        let own = help
            .find("\nOptions:\n")
            .unwrap_or_else(|| panic!("{sub}: {help}"));
        let global = help
            .find("\nGlobal options:\n")
            .unwrap_or_else(|| panic!("{sub}: {help}"));
        assert!(own < global, "{sub}: {help}");
        let own_section = &help[own..global];
        for flag in ["--config", "--log ", "--log-format"] {
            assert!(
                !own_section.contains(flag),
                "{sub}: {flag} among its own options: {help}"
            );
            assert!(help[global..].contains(flag), "{sub}: {help}");
        }
    }
}

#[test]
fn the_admin_address_answers_an_index_of_what_is_there() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("inventory.db");
    ingest(&db, &repo().join("fixtures/express4.jsonl"));
    let server = Server::start(&db);
    let index = http_get(&server.admin, "/");
    let mut linked = Vec::new();
    for part in index.split("href=\"").skip(1) {
        linked.push(part.split('"').next().unwrap().to_owned());
    }
    assert_eq!(
        linked,
        ["/healthz", "/metrics", "/api/v1/inventory", "/report"],
        "{index}"
    );
    // Every link answers (http_get asserts 200).
    for path in &linked {
        assert!(!http_get(&server.admin, path).is_empty(), "{path}");
    }
    server.stop();
}

#[test]
fn a_report_window_without_traffic_says_where_the_older_traffic_is() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("inventory.db");
    // Recorded days ago, with the recording's own times.
    ingest(&db, &repo().join("fixtures/express4.jsonl"));
    let out = run(shadowscan()
        .args(["report", "--format", "json", "--since", "1h", "--db"])
        .arg(&db));
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("no traffic in the last 1h"), "{err}");
    assert!(err.contains("the newest observation is at 20"), "{err}");
    assert!(err.contains("would include it"), "{err}");
    // The page says it too, in every format: a report read later has no stderr.
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let notice = json["notice"].as_str().unwrap_or_default();
    assert!(notice.contains("the newest observation is at 20"), "{json}");
    for format in ["html", "markdown"] {
        let out = run(shadowscan()
            .args(["report", "--format", format, "--since", "1h", "--db"])
            .arg(&db));
        let page = String::from_utf8_lossy(&out.stdout);
        assert!(
            page.contains("no traffic in the last 1h"),
            "{format}: {page}"
        );
        assert!(page.contains("would include it"), "{format}");
    }
    // A window with traffic says nothing of the kind.
    let out = run(shadowscan()
        .args(["report", "--format", "json", "--since", "3650d", "--db"])
        .arg(&db));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(json.get("notice").is_none(), "{json}");
    assert!(!stderr(&out).contains("no traffic"), "{}", stderr(&out));
}
