//! Strings senders choose are kept within documented limits: 15 MiB paths, routes, service
//! names, user agents and client addresses sent through OTLP/JSON leave a small database,
//! and what was cut says so.

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

const HUGE: usize = 15 << 20;

#[test]
fn huge_strings_are_capped_visibly_and_the_database_stays_small() {
    let dir = tempfile::tempdir().unwrap();
    let attr = |k: &str, v: &str| json!({"key": k, "value": {"stringValue": v}});
    let big = |c: char| c.to_string().repeat(HUGE);
    let mut lines = String::new();
    // One 15 MiB string per request, each kind once (six requests of them made a 170 MB
    // database before).
    let kinds = ["path", "route", "service", "user_agent", "client", "path"];
    for (i, kind) in kinds.iter().enumerate() {
        let huge = |k: &str, c: char, normal: String| {
            if *kind == k {
                format!("{normal}{}", big(c))
            } else {
                normal
            }
        };
        let route = huge("route", 'r', "/files/{id}/".into());
        let attrs = vec![
            attr("http.request.method", "GET"),
            attr("url.path", &huge("path", 'p', format!("/files/{i}/"))),
            attr(
                "http.route",
                if *kind == "route" {
                    &route
                } else {
                    "/files/{id}/"
                },
            ),
            attr(
                "user_agent.original",
                &huge("user_agent", 'u', "curl/8".into()),
            ),
            attr("client.address", &huge("client", 'c', "10.0.0.1".into())),
            json!({"key": "http.response.status_code", "value": {"intValue": "200"}}),
        ];
        let span = json!({
            "traceId": format!("{:032x}", i + 1), "spanId": format!("{:016x}", i + 1),
            "name": "GET", "kind": 2,
            "startTimeUnixNano": "1763000000000000000", "endTimeUnixNano": "1763000000004000000",
            "attributes": attrs,
        });
        let service = huge("service", 's', format!("svc{i}"));
        let req = json!({"resourceSpans": [{
            "resource": {"attributes": [attr("service.name", &service)]},
            "scopeSpans": [{"scope": {"name": "opentelemetry.instrumentation.flask"}, "spans": [span]}],
        }]});
        lines.push_str(&format!("{req}\n"));
    }
    let file = dir.path().join("huge.jsonl");
    std::fs::write(&file, lines).unwrap();
    let db = dir.path().join("inv.db");
    let out = shadowscan()
        .args(["ingest", "--db", db.to_str().unwrap()])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_file(&file).unwrap();

    let on_disk: u64 = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert!(on_disk < 1 << 20, "database files hold {on_disk} bytes");

    let out = shadowscan()
        .args([
            "inventory",
            "--db",
            db.to_str().unwrap(),
            "--format",
            "json",
            "--raw",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let inv: Value = serde_json::from_slice(&out.stdout).unwrap();
    let eps = inv["endpoints"].as_array().unwrap();
    assert!(!eps.is_empty());
    let cut = "…[truncated]";
    for e in eps {
        let service = e["service"].as_str().unwrap();
        assert!(service.len() <= 256, "{}", service.len());
        if service.starts_with("svc2sss") {
            assert!(service.ends_with(cut), "{service}");
        }
        assert!(e["template"].as_str().unwrap().len() <= 2048 + 64);
        for x in e["examples"].as_array().unwrap() {
            let x = x.as_str().unwrap();
            assert!(x.len() <= 2048, "{}", x.len());
            if x.contains("ppp") {
                assert!(x.ends_with(cut), "{x}");
            }
        }
        for x in e["user_agents"].as_array().into_iter().flatten() {
            assert!(x.as_str().unwrap().len() <= 256);
        }
    }
}

#[test]
fn the_limits_come_from_the_config_file() {
    use shadowscan::config::Config;
    let c = Config::parse("[normalize.limits]\nmax_path_bytes = 4096\nmax_service_bytes = 32\n")
        .unwrap();
    assert_eq!(c.normalize.limits.max_path_bytes, 4096);
    assert_eq!(c.normalize.limits.max_service_bytes, 32);
    assert_eq!(c.normalize.limits.max_route_bytes, 1024);
    let e = Config::parse("[normalize.limits]\nmax_path = 1\n").unwrap_err();
    assert!(e.contains("max_path"), "{e}");

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("shadowscan.toml");
    std::fs::write(&config, "[normalize.limits]\nmax_service_bytes = 32\n").unwrap();
    let attr = |k: &str, v: &str| json!({"key": k, "value": {"stringValue": v}});
    let span = json!({
        "traceId": format!("{:032x}", 1), "spanId": format!("{:016x}", 1),
        "name": "GET", "kind": 2,
        "startTimeUnixNano": "1763000000000000000", "endTimeUnixNano": "1763000000004000000",
        "attributes": [attr("http.request.method", "GET"), attr("url.path", "/a"),
            json!({"key": "http.response.status_code", "value": {"intValue": "200"}})],
    });
    let req = json!({"resourceSpans": [{
        "resource": {"attributes": [attr("service.name", &"checkout-".repeat(10))]},
        "scopeSpans": [{"spans": [span]}],
    }]});
    let file = dir.path().join("t.jsonl");
    std::fs::write(&file, format!("{req}\n")).unwrap();
    let db = dir.path().join("inv.db");
    let db = db.to_str().unwrap();
    let cfg = config.to_str().unwrap();
    let out = shadowscan()
        .args(["--config", cfg, "ingest", "--db", db])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = shadowscan()
        .args(["inventory", "--db", db, "--format", "json"])
        .output()
        .unwrap();
    let inv: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        inv["endpoints"][0]["service"],
        "checkout-checkout-…[truncated]"
    );
}
