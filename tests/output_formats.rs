//! Every output format of `shadowscan diff` (and the inventory) on a realistic report: the
//! operations of swagger-petstore3.yaml, traffic as instrumentation reports it (base path
//! `/api/v3`, concrete paths, routes, undocumented admin and mirror endpoints, stripped
//! auth, a deprecated operation still called).

use std::path::Path;

use serde_json::Value;
use shadowscan::diff::{self, baseline, DiffOptions, DiffReport, FindingKind, SpecBinding};
use shadowscan::model::{
    AuthEvidence, EndpointStats, Method, PathTemplate, StatusCounts, TemplateSource,
};
use shadowscan::output::{self, inventory, suggest, Format, RenderOptions};
use shadowscan::spec::{Operation, Security, Spec, SpecVersion};
use shadowscan::store::OverflowStats;

/// swagger-petstore3.yaml's operations with their lines in the file. Upstream marks none
/// deprecated; `findByTags` is marked here (as in petstore v2) to have a zombie.
fn petstore3() -> Spec {
    use Method::*;
    use Security::*;
    let ops = [
        (Put, "/pet", Required, 40, "updatePet"),
        (Post, "/pet", Required, 81, "addPet"),
        (Get, "/pet/findByStatus", Required, 121, "findPetsByStatus"),
        (Get, "/pet/findByTags", Required, 163, "findPetsByTags"),
        (Get, "/pet/{petId}", Required, 202, "getPetById"),
        (Post, "/pet/{petId}", Required, 237, "updatePetWithForm"),
        (Delete, "/pet/{petId}", Required, 279, "deletePet"),
        (
            Post,
            "/pet/{petId}/uploadImage",
            Required,
            311,
            "uploadFile",
        ),
        (Get, "/store/inventory", Required, 355, "getInventory"),
        (Post, "/store/order", Unspecified, 377, "placeOrder"),
        (
            Get,
            "/store/order/{orderId}",
            Unspecified,
            409,
            "getOrderById",
        ),
        (
            Delete,
            "/store/order/{orderId}",
            Unspecified,
            440,
            "deleteOrder",
        ),
        (Post, "/user", Unspecified, 465, "createUser"),
        (
            Post,
            "/user/createWithList",
            Unspecified,
            497,
            "createUsersWithListInput",
        ),
        (Get, "/user/login", Unspecified, 524, "loginUser"),
        (Get, "/user/logout", Unspecified, 569, "logoutUser"),
        (Get, "/user/{username}", Unspecified, 582, "getUserByName"),
        (Put, "/user/{username}", Unspecified, 611, "updateUser"),
        (Delete, "/user/{username}", Unspecified, 646, "deleteUser"),
    ];
    Spec {
        file: "tests/data/swagger-petstore3.yaml".into(),
        version: SpecVersion::OpenApi30,
        title: Some("Swagger Petstore - OpenAPI 3.0".into()),
        base_paths: vec!["/api/v3".into()],
        operations: ops
            .iter()
            .map(|&(method, t, security, line, id)| Operation {
                operation_id: Some(id.into()),
                security,
                deprecated: id == "findPetsByTags",
                line: Some(line),
                ..Operation::new(method, PathTemplate::parse(t))
            })
            .collect(),
    }
}

const T0: i64 = 1_763_000_000; // 2025-11-13

fn ep(
    method: Method,
    template: &str,
    route: bool,
    ok_auth: u64,
    ok_noauth: u64,
    s401: u64,
) -> EndpointStats {
    let mut status = StatusCounts::default();
    for _ in 0..ok_auth + ok_noauth {
        status.record(Some(200));
    }
    for _ in 0..s401 {
        status.record(Some(401));
    }
    let mut evidence = AuthEvidence::NONE;
    if ok_auth > 0 {
        evidence |= AuthEvidence::MIDDLEWARE | AuthEvidence::CREDENTIAL;
    }
    if s401 > 0 {
        evidence |= AuthEvidence::REJECTED;
    }
    EndpointStats {
        service: "petstore".into(),
        method,
        template: PathTemplate::parse(template),
        source: if route {
            TemplateSource::Route
        } else {
            TemplateSource::Inferred
        },
        requests: ok_auth + ok_noauth + s401,
        status,
        ok_with_auth: ok_auth,
        ok_without_auth: ok_noauth,
        evidence,
        first_seen: T0,
        last_seen: T0 + 86_400 * 6 + 3_723,
        examples: vec![template.replace("{petId}", "7")],
        callers: vec!["203.0.113.7".into()],
        user_agents: vec![],
        explanation: None,
    }
}

fn traffic() -> Vec<EndpointStats> {
    use Method::*;
    vec![
        ep(Get, "/api/v3/pet/{petId}", true, 410, 0, 12),
        ep(Get, "/api/v3/pet/8812", false, 30, 0, 0),
        ep(Post, "/api/v3/pet", true, 120, 0, 3),
        ep(Get, "/api/v3/pet/findByStatus", false, 300, 0, 0),
        // deprecated, still called
        ep(Get, "/api/v3/pet/findByTags", false, 44, 0, 0),
        // requires auth, served without it
        ep(Delete, "/api/v3/pet/{petId}", true, 0, 17, 0),
        ep(Get, "/api/v3/store/inventory", false, 52, 9, 0),
        ep(Get, "/api/v3/user/login", false, 0, 80, 0),
        ep(Get, "/api/v3/user/{username}", true, 0, 25, 0),
        ep(Get, "/api/v3/store/order/{orderId}", true, 0, 64, 0),
        ep(Post, "/api/v3/store/order", true, 0, 33, 0),
        // undocumented
        ep(Get, "/api/v3/admin/export", false, 0, 21, 0),
        ep(Patch, "/api/v3/pet/{petId}", true, 15, 0, 2),
        ep(Get, "/api/v3/pet/7/raw", false, 3, 0, 0),
        ep(Get, "/api/v3/pet/{id}/raw/", true, 4, 0, 0),
        ep(Get, "/internal/api/v3/user/alpha", false, 0, 6, 0),
        ep(Get, "/internal/api/v3/user/bravo-12", false, 0, 5, 0),
        ep(Get, "/healthz", false, 0, 900, 0),
    ]
}

fn report() -> DiffReport {
    let specs = vec![SpecBinding {
        service: "petstore".into(),
        spec: petstore3(),
    }];
    diff::diff(&traffic(), &specs, &DiffOptions::default())
}

fn opts() -> RenderOptions {
    RenderOptions {
        tool_version: "0.1.0".into(),
        ..RenderOptions::default()
    }
}

#[test]
fn report_has_the_expected_findings() {
    let r = report();
    let got: Vec<String> = r
        .findings
        .iter()
        .filter(|f| f.kind != FindingKind::Unobserved)
        .map(|f| {
            format!(
                "{} {} {} {}",
                f.kind.as_str(),
                f.severity.as_str(),
                f.method,
                f.path
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            "shadow critical GET /api/v3/admin/export",
            "shadow high PATCH /api/v3/pet/{petId}",
            "shadow medium GET /api/v3/pet/{petId}/raw",
            "shadow medium GET /healthz",
            "shadow critical GET /internal/api/v3/user/{username}",
            "unauthenticated critical GET /api/v3/admin/export",
            "unauthenticated medium GET /healthz",
            "unauthenticated critical GET /internal/api/v3/user/{username}",
            "unauthenticated critical DELETE /pet/{petId}",
            "unauthenticated medium GET /store/inventory",
            "zombie medium GET /pet/findByTags",
        ]
    );
}

#[test]
fn text_snapshot() {
    let r = report();
    insta::assert_snapshot!("text", output::render(&r, Format::Text, &opts()));
    let verbose = RenderOptions {
        verbose: true,
        ..opts()
    };
    let v = output::render(&r, Format::Text, &verbose);
    assert!(
        v.lines()
            .any(|l| l.starts_with("info      unobserved ") && l.contains(" PUT     /pet ")),
        "verbose lists unobserved operations"
    );
}

#[test]
fn text_colour_only_when_asked() {
    let r = report();
    assert!(!output::render(&r, Format::Text, &opts()).contains('\x1b'));
    let coloured = output::render(
        &r,
        Format::Text,
        &RenderOptions {
            color: true,
            ..opts()
        },
    );
    assert!(coloured.contains("\x1b[1;31mcritical"));
    // alignment is computed before colouring: stripping codes gives the plain text back
    let stripped = coloured
        .replace("\x1b[1;31m", "")
        .replace("\x1b[31m", "")
        .replace("\x1b[33m", "")
        .replace("\x1b[0m", "");
    assert_eq!(stripped, output::render(&r, Format::Text, &opts()));
}

#[test]
fn markdown_snapshot_and_escaping() {
    let r = report();
    insta::assert_snapshot!("markdown", output::render(&r, Format::Markdown, &opts()));
    let mut evil = r.clone();
    evil.findings[0].reason = "a | b <script>".into();
    evil.findings[0].path = "/x|y".into();
    let md = output::render(&evil, Format::Markdown, &opts());
    assert!(md.contains("a \\| b &lt;script&gt;"), "{md}");
    assert!(md.contains("`/x\\|y`"));
    // every table row has the header's number of cells
    for line in md
        .lines()
        .filter(|l| l.starts_with("| critical") || l.starts_with("| high"))
    {
        let cells = line.replace("\\|", "").matches('|').count();
        assert_eq!(cells, 9, "{line}");
    }
}

#[test]
fn json_snapshot_and_schema_fields() {
    let r = report();
    let s = output::render(&r, Format::Json, &opts());
    insta::assert_snapshot!("json", s);
    let v: Value = serde_json::from_str(&s).unwrap();
    assert_eq!(v["version"], 1);
    assert_eq!(v["failed"], true);
    let findings = v["findings"].as_array().unwrap();
    for f in findings {
        for k in [
            "kind", "service", "method", "path", "severity", "requests", "auth", "reason",
        ] {
            assert!(f.get(k).is_some(), "finding lacks {k}: {f}");
        }
    }
    assert_eq!(v["summary"]["shadow"], 5);
    assert_eq!(v["summary"]["unauthenticated"], 5);
}

// ---- SARIF, validated against the OASIS SARIF 2.1.0 schema (tests/data) ----

/// A validator for the JSON Schema draft-04 keywords the SARIF schema uses: type,
/// properties, additionalProperties, required, enum, $ref, items, minItems, uniqueItems,
/// minimum, maximum, oneOf, anyOf, pattern (anchored prefix forms only), format (uri).
fn validate(schema: &Value, root: &Value, v: &Value, at: &str, errors: &mut Vec<String>) {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.trim_start_matches("#/definitions/");
        return validate(&root["definitions"][name], root, v, at, errors);
    }
    if let Some(t) = schema.get("type").and_then(Value::as_str) {
        let ok = match t {
            "object" => v.is_object(),
            "array" => v.is_array(),
            "string" => v.is_string(),
            "integer" => v.is_i64() || v.is_u64(),
            "number" => v.is_number(),
            "boolean" => v.is_boolean(),
            "null" => v.is_null(),
            _ => true,
        };
        if !ok {
            errors.push(format!("{at}: expected {t}, got {v}"));
            return;
        }
    }
    if let Some(e) = schema.get("enum").and_then(Value::as_array) {
        if !e.contains(v) {
            errors.push(format!("{at}: {v} not in {e:?}"));
        }
    }
    if let (Some(min), Some(n)) = (schema.get("minimum").and_then(Value::as_f64), v.as_f64()) {
        if n < min {
            errors.push(format!("{at}: {n} < minimum {min}"));
        }
    }
    if let (Some(max), Some(n)) = (schema.get("maximum").and_then(Value::as_f64), v.as_f64()) {
        if n > max {
            errors.push(format!("{at}: {n} > maximum {max}"));
        }
    }
    if let Some(fmt) = schema.get("format").and_then(Value::as_str) {
        if fmt.starts_with("uri") && v.as_str().is_some_and(|s| s.contains(' ')) {
            errors.push(format!("{at}: {v} is not a {fmt}"));
        }
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(alts) = schema.get(key).and_then(Value::as_array) {
            let passing = alts
                .iter()
                .filter(|s| {
                    let mut e = Vec::new();
                    validate(s, root, v, at, &mut e);
                    e.is_empty()
                })
                .count();
            if passing == 0 || (key == "oneOf" && passing > 1) {
                errors.push(format!("{at}: {passing} alternatives of {key} match"));
            }
        }
    }
    if let Some(obj) = v.as_object() {
        let props = schema.get("properties").and_then(Value::as_object);
        if let Some(req) = schema.get("required").and_then(Value::as_array) {
            for r in req.iter().filter_map(Value::as_str) {
                if !obj.contains_key(r) {
                    errors.push(format!("{at}: missing required {r}"));
                }
            }
        }
        for (k, val) in obj {
            let here = format!("{at}/{k}");
            match props.and_then(|p| p.get(k)) {
                Some(s) => validate(s, root, val, &here, errors),
                None => match schema.get("additionalProperties") {
                    Some(Value::Bool(false)) => errors.push(format!("{here}: not allowed")),
                    Some(s @ Value::Object(_)) => validate(s, root, val, &here, errors),
                    _ => {}
                },
            }
        }
    }
    if let Some(arr) = v.as_array() {
        if let Some(min) = schema.get("minItems").and_then(Value::as_u64) {
            if (arr.len() as u64) < min {
                errors.push(format!("{at}: fewer than {min} items"));
            }
        }
        if schema.get("uniqueItems") == Some(&Value::Bool(true)) {
            for (i, a) in arr.iter().enumerate() {
                if arr[..i].contains(a) {
                    errors.push(format!("{at}: duplicate item {a}"));
                }
            }
        }
        if let Some(items) = schema.get("items") {
            for (i, item) in arr.iter().enumerate() {
                validate(items, root, item, &format!("{at}/{i}"), errors);
            }
        }
    }
}

fn sarif_schema() -> Value {
    serde_json::from_str(include_str!("data/sarif-schema-2.1.0.json")).unwrap()
}

#[test]
fn the_validator_rejects_broken_sarif() {
    let schema = sarif_schema();
    let mut errors = Vec::new();
    let bad = serde_json::json!({"version": "2.1.0", "runs": [{"tool": {"driver": {}}, "results": [{"level": "fatal", "message": {"text": "x"}}]}]});
    validate(&schema, &schema, &bad, "", &mut errors);
    assert!(
        errors.iter().any(|e| e.contains("missing required name")),
        "{errors:?}"
    );
    assert!(errors.iter().any(|e| e.contains("fatal")), "{errors:?}");
}

#[test]
fn sarif_is_valid_and_usable_by_code_scanning() {
    let r = report();
    let s = output::render(&r, Format::Sarif, &opts());
    let v: Value = serde_json::from_str(&s).unwrap();
    let schema = sarif_schema();
    let mut errors = Vec::new();
    validate(&schema, &schema, &v, "", &mut errors);
    assert!(errors.is_empty(), "SARIF schema violations: {errors:#?}");

    // What GitHub code scanning needs beyond the schema.
    let run = &v["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    let ids: Vec<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["shadow", "unauthenticated", "zombie", "unobserved"]);
    assert_eq!(rules[1]["properties"]["security-severity"], "8.5");
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), r.findings.len());
    for res in results {
        let idx = res["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(res["ruleId"], rules[idx]["id"]);
        let loc = &res["locations"][0]["physicalLocation"];
        assert_eq!(
            loc["artifactLocation"]["uri"],
            "tests/data/swagger-petstore3.yaml"
        );
        assert!(loc["region"]["startLine"].as_u64().unwrap() >= 1);
        assert!(
            res["partialFingerprints"]["shadowscanFinding/v1"]
                .as_str()
                .unwrap()
                .len()
                == 16
        );
    }
    let del = results
        .iter()
        .find(|x| x["ruleId"] == "unauthenticated" && x["properties"]["method"] == "DELETE")
        .unwrap();
    assert_eq!(
        del["locations"][0]["physicalLocation"]["region"]["startLine"],
        279
    );
    assert_eq!(del["level"], "error");
    let unobserved = results
        .iter()
        .find(|x| x["ruleId"] == "unobserved")
        .unwrap();
    assert_eq!(unobserved["level"], "note");
}

#[test]
fn junit_parses_with_one_failure_per_failing_finding() {
    let r = report();
    let xml = output::render(&r, Format::Junit, &opts());
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let suites: Vec<_> = root
        .children()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect();
    assert_eq!(suites.len(), 1);
    let cases: Vec<_> = suites[0]
        .children()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    let failures: Vec<_> = cases
        .iter()
        .filter(|c| c.children().any(|n| n.has_tag_name("failure")))
        .collect();
    assert_eq!(failures.len(), r.summary.shadow + r.summary.unauthenticated);
    assert_eq!(
        suites[0].attribute("failures"),
        Some(failures.len().to_string().as_str())
    );
    assert_eq!(
        suites[0].attribute("tests"),
        Some(cases.len().to_string().as_str())
    );
    assert!(failures
        .iter()
        .any(|c| c.attribute("name") == Some("GET /api/v3/admin/export")));
    let zombie = cases
        .iter()
        .find(|c| c.attribute("name") == Some("GET /pet/findByTags"))
        .unwrap();
    assert!(
        zombie.children().all(|n| !n.has_tag_name("failure")),
        "zombie is not in --fail-on by default"
    );

    // A clean service still reports what it checked.
    let clean = diff::diff(
        &[ep(Method::Get, "/api/v3/pet/1", false, 5, 0, 0)],
        &[SpecBinding {
            service: "petstore".into(),
            spec: petstore3(),
        }],
        &DiffOptions {
            report_unobserved: false,
            ..DiffOptions::default()
        },
    );
    let xml = output::render(&clean, Format::Junit, &opts());
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let names: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .filter_map(|n| n.attribute("name"))
        .collect();
    // no findings at all: no service suite, which is still valid JUnit
    assert!(names.is_empty());
    assert_eq!(doc.root_element().attribute("failures"), Some("0"));
}

#[test]
fn junit_escapes_markup() {
    let mut r = report();
    r.findings[0].reason = "a <b> & \"c\" \u{1}".into();
    let xml = output::render(&r, Format::Junit, &opts());
    let doc = roxmltree::Document::parse(&xml).unwrap();
    assert!(doc.descendants().any(|n| n
        .attribute("message")
        .is_some_and(|m| m.contains("a <b> & \"c\""))));
}

#[test]
fn github_annotations() {
    let r = report();
    let out = output::render(&r, Format::Github, &opts());
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines.contains(&"::error file=tests/data/swagger-petstore3.yaml,line=279,title=critical unauthenticated%3A DELETE /pet/{petId}::unauthenticated DELETE /pet/{petId} (petstore): the spec requires authentication, but 17 of 17 successful requests carried no auth evidence; 17 requests, auth missing"), "{out}");
    assert!(lines.iter().any(|l| l.starts_with(
        "::warning file=tests/data/swagger-petstore3.yaml,line=163,title=medium zombie"
    )));
    assert!(
        !out.contains("unobserved GET"),
        "informational findings only with --verbose"
    );
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("::error ")).count(),
        10
    );
}

#[test]
fn baseline_suppression_shows_in_outputs() {
    let r = report();
    let mut b = baseline::from_report(&r, "known, tracked in SEC-7", None);
    b.accepted.retain(|e| e.path == "/healthz");
    let today: baseline::Date = "2025-11-20".parse().unwrap();
    let r = baseline::apply(r, &b, today);
    assert_eq!(r.summary.suppressed, 2);
    let text = output::render(&r, Format::Text, &opts());
    assert!(text.contains("2 accepted by baseline, 0 expired"), "{text}");
    let md = output::render(&r, Format::Markdown, &opts());
    assert!(md.contains("Accepted by baseline (2)") && md.contains("known, tracked in SEC-7"));
}

// ---- --suggest ----

fn shadow_findings(r: &DiffReport) -> Vec<&diff::Finding> {
    r.findings
        .iter()
        .filter(|f| f.kind == FindingKind::Shadow)
        .collect()
}

#[test]
fn suggest_adds_yaml_stubs_and_keeps_the_rest() {
    let text = include_str!("data/swagger-petstore3.yaml");
    let r = report();
    let fs = suggest::shadows_for(&r, Path::new("tests/data/swagger-petstore3.yaml"));
    assert_eq!(fs.len(), r.summary.shadow);
    assert!(suggest::shadows_for(&r, Path::new("other.yaml")).is_empty());
    let patched = suggest::patched(text, "specs/swagger-petstore3.yaml", &fs).unwrap();
    // only additions: removing the added lines gives the file back byte for byte
    let d = similar::TextDiff::from_lines(text, &patched);
    assert!(d
        .ops()
        .iter()
        .all(|op| op.tag() != similar::DiffTag::Delete && op.tag() != similar::DiffTag::Replace));
    let added: Vec<String> = d
        .iter_all_changes()
        .filter(|c| c.tag() == similar::ChangeTag::Insert)
        .map(|c| c.value().to_owned())
        .collect();
    let added = added.concat();
    // an undocumented method lands under the existing path key, at the methods' indent
    let lines: Vec<&str> = patched.lines().collect();
    let key = lines.iter().position(|l| *l == "  /pet/{petId}:").unwrap();
    assert_eq!(lines[key + 1], "    patch:");
    assert_eq!(lines[key + 2], "      summary: TODO");
    // new paths are keys under `paths:`, relative to the base path
    assert!(
        added.contains("  /admin/export:\n    get:\n      summary: TODO\n"),
        "{added}"
    );
    assert!(added.contains("  /pet/{petId}/raw:\n    get:\n"));
    assert!(added.contains("        - name: petId\n          in: path\n          required: true\n          schema:\n            type: string\n"), "{added}");
    assert!(added.contains("      responses:\n        '200':\n          description: TODO\n"));
    // paths outside the base path are added as they were observed
    assert!(added.contains("  /healthz:\n"));
    // new keys go at the end of `paths`, before `components:`
    let comp = lines.iter().position(|l| *l == "components:").unwrap();
    let admin = lines.iter().position(|l| *l == "  /admin/export:").unwrap();
    assert!(admin < comp && admin > key);
    let diff = suggest::suggest(text, "specs/swagger-petstore3.yaml", &fs).unwrap();
    assert!(diff
        .starts_with("--- a/specs/swagger-petstore3.yaml\n+++ b/specs/swagger-petstore3.yaml\n@@"));
    assert!(
        diff.lines()
            .filter(|l| l.starts_with('-') && !l.starts_with("---"))
            .count()
            == 0
    );
    insta::assert_snapshot!("suggest_yaml", diff);
}

#[test]
fn suggest_adds_json_stubs_to_a_swagger2_file() {
    let text = include_str!("data/httpbin-spec.json");
    let mut r = report();
    r.findings.retain(|f| f.kind == FindingKind::Shadow);
    // httpbin documents /status/{codes} for all methods but HEAD and OPTIONS; /legacy not at all
    r.findings[0].method = Method::Options;
    r.findings[0].path = "/status/{codes}".into();
    r.findings[0].spec_path = None;
    r.findings[1].method = Method::Get;
    r.findings[1].path = "/legacy".into();
    r.findings[1].spec_path = None;
    r.findings.truncate(2);
    let fs = shadow_findings(&r);
    let patched = suggest::patched(text, "httpbin-spec.json", &fs).unwrap();
    let v: Value = serde_json::from_str(&patched).expect("patched JSON parses");
    let del = &v["paths"]["/status/{codes}"]["options"];
    assert_eq!(del["summary"], "TODO");
    assert_eq!(
        del["parameters"][0]["type"], "string",
        "Swagger 2 parameters carry the type"
    );
    assert!(
        v["paths"]["/status/{codes}"]["get"].is_object(),
        "existing methods kept"
    );
    assert!(v["paths"]["/legacy"]["get"].is_object());
    let orig: Value = serde_json::from_str(text).unwrap();
    assert_eq!(
        orig["paths"].as_object().unwrap().len() + 1,
        v["paths"].as_object().unwrap().len()
    );
    let d = similar::TextDiff::from_lines(text, &patched);
    assert!(d
        .ops()
        .iter()
        .all(|op| op.tag() == similar::DiffTag::Equal || op.tag() == similar::DiffTag::Insert));
    assert!(
        patched.contains("\n    \"/legacy\": {\n      \"get\": {\n        \"summary\": \"TODO\","),
        "file indentation kept"
    );
}

#[test]
fn suggest_on_minimal_specs() {
    let r = report();
    let fs: Vec<_> = shadow_findings(&r)
        .into_iter()
        .filter(|f| f.path == "/healthz")
        .collect();
    let yaml = "openapi: 3.0.0\ninfo:\n  title: t\n  version: '1'\npaths: {}\n";
    let out = suggest::patched(yaml, "t.yaml", &fs).unwrap();
    assert!(
        out.starts_with(
            "openapi: 3.0.0\ninfo:\n  title: t\n  version: '1'\npaths:\n  /healthz:\n    get:\n"
        ),
        "{out}"
    );
    let json = "{\"openapi\":\"3.0.0\",\"paths\":{}}";
    let out = suggest::patched(json, "t.json", &fs).unwrap();
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(v["paths"]["/healthz"]["get"].is_object(), "{out}");
    assert!(suggest::patched("openapi: 3.0.0\n", "t.yaml", &fs).is_err());
    assert_eq!(suggest::suggest(yaml, "t.yaml", &[]).unwrap(), "");
}

// ---- inventory ----

#[test]
fn inventory_table_and_json() {
    let eps = traffic();
    let overflow = [
        OverflowStats {
            service: "petstore".into(),
            method: Method::Get,
            requests: 1200,
        },
        OverflowStats {
            service: "petstore".into(),
            method: Method::Post,
            requests: 34,
        },
    ];
    let table = inventory::render_table(&eps[..4], &overflow);
    insta::assert_snapshot!("inventory_table", table);
    // Without overflow, no footnote.
    assert!(!inventory::render_table(&eps[..4], &[]).contains("capped"));
    let json: Value = serde_json::from_str(&inventory::render_json(&eps, &overflow)).unwrap();
    assert_eq!(json["version"], 1);
    let first = &json["endpoints"][0];
    assert_eq!(first["template"], "/api/v3/admin/export");
    assert_eq!(first["method"], "GET");
    assert_eq!(json["endpoints"].as_array().unwrap().len(), eps.len());
    assert_eq!(json["overflow"][0]["requests"], 1200);
    assert_eq!(json["overflow"][1]["method"], "POST");
}

#[test]
fn formats_parse_from_flags() {
    for f in Format::ALL {
        assert_eq!(Format::parse(f.as_str()), Some(f));
    }
    assert_eq!(Format::parse("MD"), None);
    assert_eq!(Format::parse("md"), Some(Format::Markdown));
    assert!(Path::new("tests/data/sarif-schema-2.1.0.json").exists());
}

/// A vanilla install (FastAPI `Depends`, DRF permissions): only refusals are seen. Text and
/// Markdown say so and name the setting that gives per-request evidence.
#[test]
fn a_refusals_only_service_is_said_with_the_fix() {
    use Method::*;
    let mut eps = vec![
        ep(Get, "/api/v3/pet/{petId}", true, 0, 40, 6),
        ep(Get, "/api/v3/admin/export", false, 0, 21, 0),
    ];
    for e in &mut eps {
        e.service = "shop".into();
    }
    let specs = vec![SpecBinding {
        service: "shop".into(),
        spec: petstore3(),
    }];
    let r = diff::diff(&eps, &specs, &DiffOptions::default());
    assert_eq!(r.summary.services_auth_refusals_only, vec!["shop"]);
    for format in [Format::Text, Format::Markdown] {
        let out = output::render(&r, format, &opts());
        assert!(out.contains("shows auth only as refusals"), "{out}");
        for setting in [
            "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST=authorization",
            "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS=authorization",
            "headersToSpanAttributes",
            "-Dotel.instrumentation.http.server.capture-request-headers=authorization",
        ] {
            assert!(out.contains(setting), "{format:?} lacks {setting}");
        }
    }
    let pet = r
        .findings
        .iter()
        .find(|f| f.path == "/pet/{petId}" && f.method == Get);
    assert!(
        pet.is_none(),
        "an enforced documented operation is not accused"
    );
}
