//! Outputs an attacker cannot hijack: service names, paths and routes chosen by whoever can
//! send spans (and spec text chosen by whoever opens a pull request) go through `ingest`,
//! `inventory`, every `diff` format, `report`, `graph`, logs and error messages, and no
//! output may carry a control or bidi character, let an untrusted string start a line
//! (GitHub Actions runs `::add-mask::`, `::stop-commands::`, `::error` from any line of a
//! step's output), or let a path break out of a Markdown code span.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};

fn shadowscan() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_shadowscan"));
    c.env_remove("SHADOWSCAN_DB")
        .env_remove("SHADOWSCAN_CONFIG")
        .env_remove("SHADOWSCAN_LOG")
        .env("NO_COLOR", "1");
    c
}

fn attr(k: &str, v: &str) -> Value {
    json!({"key": k, "value": {"stringValue": v}})
}

const SERVICES: [&str; 4] = [
    "shop\n::error::pwned-by-service",
    "::add-mask::shop",
    "shop\u{1b}[31m",
    "shop\u{202e}gpj",
];

const PATHS: [&str; 6] = [
    "/a%0A::add-mask::x/b",
    "/raw\n::error::pwned-by-path",
    "/esc\u{1b}]0;title\u{7}/x",
    "/tick``[link](https://evil.example)``/y",
    "/bidi\u{202e}txt.exe",
    "/stop%0D%0A::stop-commands::tok/z",
];

/// One OTLP/JSON export line per (service, path), plus a route-claimed span whose route is
/// hostile too.
fn hostile_traces(dir: &Path) -> PathBuf {
    let mut lines = String::new();
    let mut n = 0u64;
    for service in SERVICES {
        let mut spans = Vec::new();
        for path in PATHS {
            n += 1;
            spans.push(json!({
                "traceId": format!("{n:032x}"), "spanId": format!("{n:016x}"),
                "name": "GET", "kind": 2,
                "startTimeUnixNano": "1763000000000000000", "endTimeUnixNano": "1763000000004000000",
                "attributes": [
                    attr("http.request.method", "GET"),
                    attr("url.path", path),
                    {"key": "http.response.status_code", "value": {"intValue": "200"}},
                    attr("user_agent.original", "curl\n::error::ua"),
                ],
            }));
        }
        n += 1;
        spans.push(json!({
            "traceId": format!("{n:032x}"), "spanId": format!("{n:016x}"),
            "name": "GET", "kind": 2,
            "startTimeUnixNano": "1763000000000000000", "endTimeUnixNano": "1763000000004000000",
            "attributes": [
                attr("http.request.method", "POST"),
                attr("http.route", "/r/{id}\n::stop-commands::tok2"),
                attr("url.path", "/r/1"),
                {"key": "http.response.status_code", "value": {"intValue": "201"}},
            ],
        }));
        let req = json!({"resourceSpans": [{
            "resource": {"attributes": [attr("service.name", service)]},
            "scopeSpans": [{"scope": {"name": "opentelemetry.instrumentation.flask"}, "spans": spans}],
        }]});
        lines.push_str(&format!("{req}\n"));
    }
    let file = dir.join("hostile.jsonl");
    std::fs::write(&file, lines).unwrap();
    file
}

fn is_bidi(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}')
}

/// Every line of `text` must be free of control and bidi characters, and none may begin
/// with a workflow command other than the ones `github` is allowed to write.
fn assert_clean(what: &str, text: &str, github: bool) {
    for (i, line) in text.lines().enumerate() {
        let bad = line
            .chars()
            .find(|&c| (c.is_control() && c != '\t') || is_bidi(c));
        assert!(
            bad.is_none(),
            "{what}: line {} holds {bad:?}: {line:?}",
            i + 1
        );
        let start = line.trim_start();
        if start.starts_with("::") {
            assert!(
                github
                    && ["::error ", "::warning ", "::notice "]
                        .iter()
                        .any(|p| start.starts_with(p)),
                "{what}: line {} starts a workflow command: {line:?}",
                i + 1
            );
        }
    }
}

fn check(what: &str, out: &Output, github: bool) -> String {
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    let stderr = String::from_utf8(out.stderr.clone()).unwrap();
    assert_clean(&format!("{what} (stdout)"), &stdout, github);
    assert_clean(&format!("{what} (stderr)"), &stderr, false);
    // `\r` alone is a line break to a terminal: not even that.
    assert!(!stdout.contains('\r') && !stderr.contains('\r'), "{what}");
    stdout
}

#[test]
fn hostile_names_and_paths_cannot_hijack_any_output() {
    let dir = tempfile::tempdir().unwrap();
    let traces = hostile_traces(dir.path());
    let db = dir.path().join("inv.db");
    let db_s = db.to_str().unwrap();
    // Two services allowed: the rest overflow, and the overflow warning logs their names.
    let config = dir.path().join("shadowscan.toml");
    std::fs::write(&config, "[inventory]\nmax_services = 2\n").unwrap();
    let cfg = config.to_str().unwrap();

    let out = shadowscan()
        .args(["--config", cfg, "--log", "debug", "ingest", "--db", db_s])
        .arg(&traces)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    check("ingest", &out, false);

    let table = shadowscan()
        .args(["inventory", "--db", db_s, "--raw"])
        .output()
        .unwrap();
    assert!(table.status.success());
    let table = check("inventory table", &table, false);
    // Visible, not dropped: the reader still sees what was sent.
    assert!(table.contains("\\n::error::pwned-by-path"), "{table}");
    assert!(table.contains("\\x3a:add-mask::shop"), "{table}");

    let json = shadowscan()
        .args(["inventory", "--db", db_s, "--format", "json"])
        .output()
        .unwrap();
    check("inventory json", &json, false);

    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("specs/petstore.yaml");
    for service in ["shop\n::error::pwned-by-service", "::add-mask::shop"] {
        for format in ["text", "markdown", "github", "junit", "sarif", "json"] {
            let out = shadowscan()
                .args(["--log", "debug", "diff", "--db", db_s, "--format", format])
                .args(["--service", service, "--fail-on", "shadow"])
                .arg(&spec)
                .output()
                .unwrap();
            assert_eq!(
                out.status.code(),
                Some(1),
                "{format}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let text = check(&format!("diff --format {format}"), &out, format == "github");
            if format == "markdown" {
                // The two-backtick path stays inside its (three-backtick) code span.
                assert!(
                    !text.contains("`[link](https://evil.example)`")
                        || text.contains("``` /tick``[link](https://evil.example)``"),
                    "{text}"
                );
            }
        }
    }
    // `--suggest` writes hostile paths as stub keys into a patch of the spec.
    let out = shadowscan()
        .args([
            "diff",
            "--db",
            db_s,
            "--service",
            "::add-mask::shop",
            "--suggest",
        ])
        .arg(&spec)
        .output()
        .unwrap();
    let patch = check("diff --suggest", &out, false);
    assert!(
        patch.contains("+  \"/raw\\n::error::pwned-by-path\":"),
        "{patch}"
    );
    let out = shadowscan()
        .args(["diff", "--traces"])
        .arg(&traces)
        .args(["--service", "::add-mask::shop", "--format", "text"])
        .arg(&spec)
        .output()
        .unwrap();
    check("diff --traces", &out, false);

    for format in ["markdown", "html", "json"] {
        let out = shadowscan()
            .args(["report", "--db", db_s, "--format", format])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{format}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        check(&format!("report --format {format}"), &out, false);
    }
    for format in ["dot", "mermaid", "json"] {
        let out = shadowscan()
            .args(["graph", "--db", db_s, "--format", format])
            .output()
            .unwrap();
        check(&format!("graph --format {format}"), &out, false);
    }
}

#[test]
fn hostile_spec_text_cannot_hijack_error_messages() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("openapi.yaml");
    std::fs::write(
        &spec,
        "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  \"/x\\n::error::dup\\e[31m\": {get: {}}\n  \"/x\\n::error::dup\\e[31m\": {get: {}}\n",
    )
    .unwrap();
    let out = shadowscan()
        .arg("diff")
        .arg(&spec)
        .args(["--traces", "/dev/null"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr.clone()).unwrap();
    assert!(stderr.contains("appears twice"), "{stderr}");
    check("spec error", &out, false);

    std::fs::write(
        &spec,
        "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /x:\n    $ref: \"\\n::add-mask::ref\\u202e#/a\"\n",
    )
    .unwrap();
    let out = shadowscan()
        .arg("diff")
        .arg(&spec)
        .args(["--traces", "/dev/null"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    check("ref error", &out, false);
}
