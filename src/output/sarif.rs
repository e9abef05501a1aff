//! SARIF 2.1.0 as GitHub code scanning reads it: one rule per finding kind (with
//! `security-severity`), one result per finding, located in the spec file (at the
//! operation's line when documented), with a stable fingerprint so reruns update alerts
//! instead of duplicating them.

use crate::untrusted::Escaped;
use serde_json::{json, Value};

use super::RenderOptions;
use crate::diff::{DiffReport, Finding, FindingKind, Severity};
use crate::model::PathTemplate;

struct Rule {
    kind: FindingKind,
    name: &'static str,
    short: &'static str,
    full: &'static str,
    security_severity: Option<&'static str>,
}

const RULES: [Rule; 4] = [
    Rule {
        kind: FindingKind::Shadow,
        name: "ShadowEndpoint",
        short: "Endpoint served but not documented",
        full: "The service answers requests on an endpoint that no bound OpenAPI description documents. Undocumented endpoints escape review, testing and gateway policy.",
        security_severity: Some("7.5"),
    },
    Rule {
        kind: FindingKind::Unauthenticated,
        name: "UnauthenticatedEndpoint",
        short: "Endpoint served without authentication evidence",
        full: "Successful responses were served without any evidence of authentication (middleware, identity or credential) on an endpoint that is undocumented or whose description requires security.",
        security_severity: Some("8.5"),
    },
    Rule {
        kind: FindingKind::Zombie,
        name: "ZombieEndpoint",
        short: "Deprecated endpoint still receives traffic",
        full: "An operation documented as deprecated is still called. Deprecated endpoints tend to miss fixes applied to their successors.",
        security_severity: Some("5.0"),
    },
    Rule {
        kind: FindingKind::Unobserved,
        name: "UnobservedOperation",
        short: "Documented operation without traffic",
        full: "A documented operation received no traffic in the window: it may be dead, or its traffic is not instrumented.",
        security_severity: None,
    },
];

fn level(f: &Finding, opts: &RenderOptions) -> &'static str {
    if f.kind == FindingKind::Unobserved {
        return "note";
    }
    match f.severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium if opts.fail_on.contains(&f.kind) => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
        Severity::Info => "0.0",
    }
}

/// FNV-1a over the finding's identity, parameter names erased: stable across runs.
fn fingerprint(f: &Finding) -> String {
    let key = format!(
        "{}|{}|{}|{}",
        f.kind.as_str(),
        f.service,
        f.method,
        PathTemplate::parse(&f.path).shape()
    );
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// A relative file path as a URI reference: forward slashes, spaces and `%` encoded.
fn uri(p: &std::path::Path) -> String {
    let s = p.to_string_lossy().replace('\\', "/");
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            ' ' => out.push_str("%20"),
            '%' => out.push_str("%25"),
            '#' => out.push_str("%23"),
            '?' => out.push_str("%3F"),
            c => out.push(c),
        }
    }
    out
}

pub(super) fn render(report: &DiffReport, opts: &RenderOptions) -> String {
    let rules: Vec<Value> = RULES
        .iter()
        .map(|r| {
            let mut props = json!({ "tags": ["api", "openapi"] });
            if let Some(s) = r.security_severity {
                props["tags"] = json!(["security", "api", "openapi"]);
                props["security-severity"] = json!(s);
            }
            json!({
                "id": r.kind.as_str(),
                "name": r.name,
                "shortDescription": { "text": r.short },
                "fullDescription": { "text": r.full },
                "help": {
                    "text": format!("{} Document the endpoint in the spec, secure it, or remove it; accept it in a baseline with a reason if it is intended.", r.full),
                    "markdown": format!("{}\n\nDocument the endpoint in the spec, secure it, or remove it; accept it in a baseline (`--baseline`) with a reason if it is intended.", r.full),
                },
                "defaultConfiguration": {
                    "level": if r.kind == FindingKind::Unobserved { "note" } else if opts.fail_on.contains(&r.kind) { "error" } else { "warning" }
                },
                "properties": props,
            })
        })
        .collect();
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let idx = RULES.iter().position(|r| r.kind == f.kind).unwrap_or(0);
            let mut result = json!({
                "ruleId": f.kind.as_str(),
                "ruleIndex": idx,
                "level": level(f, opts),
                "message": { "text": format!("{} {} {} ({}): {}. {} requests, auth {}.", f.kind.as_str(), f.method, Escaped(&f.path), Escaped(&f.service), Escaped(&f.reason), f.requests, f.auth.as_str()) },
                "partialFingerprints": { "shadowscanFinding/v1": fingerprint(f) },
                "properties": {
                    "service": f.service,
                    "method": f.method.as_str(),
                    "path": f.path,
                    "severity": f.severity.as_str(),
                    "security-severity": security_severity(f.severity),
                    "requests": f.requests,
                    "auth": f.auth.as_str(),
                },
            });
            if let Some(file) = &f.spec_file {
                let mut phys = json!({ "artifactLocation": { "uri": uri(file) } });
                phys["region"] = json!({ "startLine": f.spec_line.unwrap_or(1).max(1) });
                result["locations"] = json!([{
                    "physicalLocation": phys,
                    "logicalLocations": [{ "name": format!("{} {}", f.method, f.path), "fullyQualifiedName": format!("{}/{} {}", f.service, f.method, f.path), "kind": "resource" }],
                }]);
            }
            result
        })
        .collect();
    let doc = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "shadowscan",
                "version": opts.tool_version,
                "semanticVersion": opts.tool_version,
                "informationUri": "https://github.com/shadowscan/shadowscan",
                "rules": rules,
            }},
            "automationDetails": { "id": "shadowscan/diff/" },
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    });
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    crate::untrusted::json_escape_bidi(s)
}
