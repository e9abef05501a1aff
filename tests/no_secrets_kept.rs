//! Secrets in path segments (reset tokens, API keys, JWTs, emails, hashes) are never kept:
//! after `ingest`, neither the database (its WAL and shared-memory files included), nor the
//! logs, nor any output format holds their values; examples keep their shape.

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

fn shadowscan() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_shadowscan"));
    c.env_remove("SHADOWSCAN_DB")
        .env_remove("SHADOWSCAN_CONFIG")
        .env_remove("SHADOWSCAN_LOG")
        .env("NO_COLOR", "1");
    c
}

const JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6MTc2MzAwMDAwMH0.c2lnbmF0dXJlX29mX3RoZV90b2tlbl94eXo";
const API_KEY: &str = "sk_live_4eC39HqLyjWDarjtT1zdp7dc";
const GH_TOKEN: &str = "ghp_R8mQ2vX7kLp9ZtY4wN3bC6dF1gH5jS0aE2uI";
const HASH: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
const EMAIL: &str = "alice.secret@example.com";
const EMAIL_ENCODED: &str = "bob.private%40example.org";
/// Word-like: only the route's `{token}` says it is a secret.
const WORDY: &str = "correcthorsebatterystaple";

/// (http.route or "", url.path)
fn requests() -> Vec<(&'static str, String)> {
    vec![
        ("", format!("/reset/{API_KEY}")),
        ("", format!("/api/v1/session/{JWT}")),
        ("", format!("/keys/{GH_TOKEN}/rotate")),
        ("", format!("/blobs/{HASH}.json")),
        ("", format!("/users/{EMAIL}/profile")),
        ("", format!("/users/{EMAIL_ENCODED}/profile")),
        ("/reset/{token}", format!("/reset/{WORDY}")),
        ("/confirm/:token", format!("/confirm/{API_KEY}x")),
    ]
}

fn traces(dir: &Path) -> std::path::PathBuf {
    let attr = |k: &str, v: &str| json!({"key": k, "value": {"stringValue": v}});
    let mut lines = String::new();
    // Twice, so examples are merged with what the store already holds.
    for round in 0..2u64 {
        let mut spans = Vec::new();
        for (i, (route, path)) in requests().into_iter().enumerate() {
            let n = round * 100 + i as u64 + 1;
            let mut attrs = vec![
                attr("http.request.method", "GET"),
                attr("url.path", &path),
                json!({"key": "http.response.status_code", "value": {"intValue": "200"}}),
            ];
            if !route.is_empty() {
                attrs.push(attr("http.route", route));
            }
            spans.push(json!({
                "traceId": format!("{n:032x}"), "spanId": format!("{n:016x}"),
                "name": "GET", "kind": 2,
                "startTimeUnixNano": "1763000000000000000", "endTimeUnixNano": "1763000000004000000",
                "attributes": attrs,
            }));
        }
        let req = json!({"resourceSpans": [{
            "resource": {"attributes": [attr("service.name", "accounts")]},
            "scopeSpans": [{"scope": {"name": "opentelemetry.instrumentation.flask"}, "spans": spans}],
        }]});
        lines.push_str(&format!("{req}\n"));
    }
    let file = dir.join("secrets.jsonl");
    std::fs::write(&file, lines).unwrap();
    file
}

fn secrets() -> Vec<&'static str> {
    vec![
        JWT,
        API_KEY,
        GH_TOKEN,
        HASH,
        EMAIL,
        "bob.private",
        WORDY,
        // Fragments long enough to be the value, short enough to catch a truncated copy.
        &JWT[..24],
        &API_KEY[8..24],
        &HASH[..24],
    ]
}

fn assert_no_secret(what: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    for s in secrets() {
        assert!(!text.contains(s), "{what} holds {s:?}");
    }
}

#[test]
fn secrets_in_paths_are_never_stored_or_printed() {
    let dir = tempfile::tempdir().unwrap();
    let file = traces(dir.path());
    let db = dir.path().join("inv.db");
    let db_s = db.to_str().unwrap();
    let out = shadowscan()
        .args(["--log", "trace", "ingest", "--db", db_s])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_no_secret("ingest output", &[out.stdout, out.stderr].concat());

    let mut outputs: Vec<(String, Vec<u8>)> = Vec::new();
    let mut run = |what: &str, args: &[&str]| {
        let out = shadowscan().args(args).output().unwrap();
        assert!(
            out.status.code().is_some_and(|c| c < 2),
            "{what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        outputs.push((what.to_owned(), [out.stdout, out.stderr].concat()));
    };
    run(
        "inventory json",
        &[
            "--log",
            "trace",
            "inventory",
            "--db",
            db_s,
            "--format",
            "json",
        ],
    );
    run("inventory raw", &["inventory", "--db", db_s, "--raw"]);
    run("inventory table", &["inventory", "--db", db_s]);
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("specs/petstore.yaml");
    let spec = spec.to_str().unwrap();
    for format in ["text", "json", "sarif", "junit", "markdown", "github"] {
        run(
            &format!("diff {format}"),
            &[
                "--log", "trace", "diff", spec, "--db", db_s, "--format", format,
            ],
        );
    }
    run(
        "diff --traces",
        &[
            "diff",
            spec,
            "--format",
            "json",
            "--traces",
            file.to_str().unwrap(),
        ],
    );
    for format in ["json", "markdown", "html"] {
        run(
            &format!("report {format}"),
            &["report", "--db", db_s, "--format", format],
        );
    }
    for (what, bytes) in &outputs {
        assert_no_secret(what, bytes);
    }

    // The shapes are still there for people.
    let inv: Value = serde_json::from_slice(
        &outputs[0].1[..outputs[0].1.iter().rposition(|&b| b == b'}').unwrap() + 1],
    )
    .unwrap();
    let examples: Vec<String> = inv["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|e| e["examples"].as_array().unwrap().iter())
        .map(|x| x.as_str().unwrap().to_owned())
        .collect();
    for want in [
        "/reset/{token}",
        "/api/v1/session/{token}",
        "/keys/{token}/rotate",
        "/blobs/{hash}.json",
        "/users/{email}/profile",
    ] {
        assert!(
            examples.iter().any(|e| e == want),
            "{want} not in {examples:?}"
        );
    }

    // Everything on disk: the database and, if SQLite left them, its WAL and shm files.
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let p = entry.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("inv.db") {
            assert_no_secret(&name, &std::fs::read(&p).unwrap());
        }
    }
}
