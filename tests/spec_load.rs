//! `spec::load` over the real and hand-written descriptions in `specs/`: versions, operation
//! counts, base paths, security, deprecation, slash-holding parameters, lines, `$ref`s across
//! files, and every way a description can fail to load.
//!
//! Expected operation counts of JSON files are computed here with serde_json, independently
//! of the loader. For the YAML files they were counted by hand with PyYAML
//! (`sum(m in METHODS for each path item)`) and are written down below.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::Value as Json;
use shadowscan::model::Method;
use shadowscan::spec::{self, Operation, Security, Spec, SpecError, SpecVersion};

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "patch", "head", "options", "trace",
];

fn specs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("specs")
}

fn load_ok(rel: &str) -> Spec {
    let path = specs_dir().join(rel);
    match spec::load(&path) {
        Ok(s) => s,
        Err(e) => panic!("{rel} failed to load: {e}"),
    }
}

fn op<'s>(spec: &'s Spec, operation_id: &str) -> &'s Operation {
    spec.operations
        .iter()
        .find(|o| o.operation_id.as_deref() == Some(operation_id))
        .unwrap_or_else(|| panic!("{}: no operation {operation_id}", spec.file.display()))
}

fn op_at<'s>(spec: &'s Spec, method: Method, template: &str) -> &'s Operation {
    spec.operations
        .iter()
        .find(|o| o.method == method && o.template.as_str() == template)
        .unwrap_or_else(|| panic!("{}: no {method} {template}", spec.file.display()))
}

fn read_json(path: &Path) -> Json {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Operations in a JSON description, counted straight from `paths` (none of the JSON specs
/// here use path-item `$ref`s, which this count would not follow).
fn json_op_count(doc: &Json) -> usize {
    doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .filter_map(|item| item.as_object())
        .map(|item| {
            item.keys()
                .filter(|k| METHODS.contains(&k.as_str()))
                .count()
        })
        .sum()
}

/// `(version, operations)` for every top-level description; a file added to `specs/`
/// without an entry here fails the test.
fn expectations() -> BTreeMap<&'static str, (SpecVersion, Option<usize>)> {
    use SpecVersion::*;
    BTreeMap::from([
        // JSON: counted with serde_json below (None).
        ("discourse.apisguru.openapi31.json", (OpenApi31, None)),
        ("httpbin-spec.json", (Swagger2, None)),
        ("apisguru/kumpeapps.openapi30.json", (OpenApi30, None)),
        (
            "apisguru/redhat.catalog-inventory.openapi30.json",
            (OpenApi30, None),
        ),
        ("apisguru/tcgdex.openapi30.json", (OpenApi30, None)),
        ("handwritten/billing.openapi30.json", (OpenApi30, None)),
        // YAML: counted by hand with PyYAML.
        ("petstore.yaml", (OpenApi30, Some(3))),
        ("petstore-expanded.yaml", (OpenApi30, Some(4))),
        ("uspto.yaml", (OpenApi30, Some(3))),
        ("swagger-petstore3.yaml", (OpenApi30, Some(19))),
        ("vampi-openapi3.yml", (OpenApi30, Some(14))),
        ("realworld-conduit-openapi.yml", (OpenApi31, Some(19))),
        ("handwritten/files-api.swagger2.yaml", (Swagger2, Some(7))),
        // items 2 + item 3 + attachment 2 + healthz 1 + health 1 + report 1.
        ("multi-file/openapi.yaml", (OpenApi31, Some(10))),
    ])
}

fn description_files() -> Vec<String> {
    let mut out = Vec::new();
    for sub in ["", "apisguru", "handwritten"] {
        for e in std::fs::read_dir(specs_dir().join(sub)).unwrap() {
            let p = e.unwrap().path();
            let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
            if matches!(ext, "json" | "yaml" | "yml") {
                let rel = p.strip_prefix(specs_dir()).unwrap();
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    out.push("multi-file/openapi.yaml".into());
    out.sort();
    out
}

#[test]
fn every_description_loads_with_its_version_and_operation_count() {
    let table = expectations();
    let files = description_files();
    assert!(files.len() >= 14, "{files:?}");
    for rel in &files {
        let Some(&(version, count)) = table.get(rel.as_str()) else {
            panic!("{rel} has no expectation in this test: add one");
        };
        let spec = load_ok(rel);
        assert_eq!(spec.version, version, "{rel}");
        let want = count.unwrap_or_else(|| json_op_count(&read_json(&specs_dir().join(rel))));
        assert_eq!(spec.operations.len(), want, "{rel}: operation count");
        assert!(!spec.base_paths.is_empty(), "{rel}: base paths never empty");
        for o in &spec.operations {
            assert!(
                o.line.is_some(),
                "{rel}: {} {} has no line",
                o.method,
                o.template
            );
            let names: Vec<_> = o.path_params.iter().map(|p| p.name.as_str()).collect();
            let in_template: Vec<_> = o
                .template
                .as_str()
                .split('{')
                .skip(1)
                .filter_map(|s| s.split('}').next())
                .collect();
            assert_eq!(names, in_template, "{rel}: {}", o.template);
        }
    }
}

#[test]
fn json_descriptions_match_an_independent_reading() {
    // Every (method, path) pair of each JSON file, read with serde_json, is an operation.
    for rel in [
        "discourse.apisguru.openapi31.json",
        "httpbin-spec.json",
        "apisguru/kumpeapps.openapi30.json",
        "apisguru/redhat.catalog-inventory.openapi30.json",
        "apisguru/tcgdex.openapi30.json",
    ] {
        let doc = read_json(&specs_dir().join(rel));
        let spec = load_ok(rel);
        let mut want = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (m, o) in item.as_object().unwrap() {
                if METHODS.contains(&m.as_str()) {
                    let dep = o["deprecated"].as_bool().unwrap_or(false);
                    want.insert((
                        m.to_uppercase(),
                        path.trim_end_matches('/').to_string(),
                        dep,
                    ));
                }
            }
        }
        let got: BTreeSet<_> = spec
            .operations
            .iter()
            .map(|o| (o.method.to_string(), o.template.to_string(), o.deprecated))
            .collect();
        // Canonical templates drop trailing slashes; the root stays `/`.
        let want: BTreeSet<_> = want
            .into_iter()
            .map(|(m, p, d)| (m, if p.is_empty() { "/".into() } else { p }, d))
            .collect();
        assert_eq!(got, want, "{rel}");
    }
}

#[test]
fn base_paths_come_from_servers_and_base_path() {
    let cases: [(&str, &[&str]); 12] = [
        ("swagger-petstore3.yaml", &["/api/v3"]),
        ("realworld-conduit-openapi.yml", &["/api"]),
        ("httpbin-spec.json", &[""]),
        ("petstore.yaml", &["/v1"]),
        ("petstore-expanded.yaml", &["/v2"]),
        // `{scheme}://developer.uspto.gov/ds-api`: the variable is in the scheme only.
        ("uspto.yaml", &["/ds-api"]),
        ("vampi-openapi3.yml", &[""]),
        // `https://cloud.redhat.com/{basePath}` with default `/api/catalog-inventory/v1.0`.
        (
            "apisguru/redhat.catalog-inventory.openapi30.json",
            &["/api/catalog-inventory/v1.0"],
        ),
        (
            "apisguru/tcgdex.openapi30.json",
            &["/v2/en", "/v2/fr", "/v2/es", "/v2/it", "/v2/pt"],
        ),
        ("apisguru/kumpeapps.openapi30.json", &["/v5"]),
        ("handwritten/files-api.swagger2.yaml", &["/storage/v1"]),
        (
            "multi-file/openapi.yaml",
            &["/inventory/v2", "/inventory/v1"],
        ),
    ];
    for (rel, want) in cases {
        assert_eq!(load_ok(rel).base_paths, want, "{rel}");
    }
}

#[test]
fn path_and_operation_servers_override_the_documents() {
    let spec = load_ok("handwritten/billing.openapi30.json");
    assert_eq!(spec.base_paths, ["/billing/v3"]);
    let list = op(&spec, "listInvoices");
    assert_eq!(list.base_paths, None);
    assert_eq!(spec.base_paths_for(list), ["/billing/v3"]);
    let pdf = op(&spec, "getInvoicePdf");
    assert_eq!(spec.base_paths_for(pdf), ["/pdf"]);
    let hook = op(&spec, "stripeWebhook");
    assert_eq!(spec.base_paths_for(hook), [""]);
}

#[test]
fn security_resolves_operation_over_global() {
    // kumpeapps: global `auth_key`, operations with their own, with `[]`, and without.
    let rel = "apisguru/kumpeapps.openapi30.json";
    let doc = read_json(&specs_dir().join(rel));
    let spec = load_ok(rel);
    let mut seen = [0usize; 2];
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (m, o) in item.as_object().unwrap() {
            let Some(method) = Method::parse_known(m).filter(|_| METHODS.contains(&m.as_str()))
            else {
                continue;
            };
            let want = match o.get("security").and_then(|s| s.as_array()) {
                Some(reqs) if reqs.is_empty() => Security::Public,
                _ => Security::Required,
            };
            seen[usize::from(want == Security::Public)] += 1;
            assert_eq!(op_at(&spec, method, path).security, want, "{m} {path}");
        }
    }
    assert!(seen[0] > 0 && seen[1] > 0, "both cases exercised: {seen:?}");

    // petstore3: no global security; operations with and without.
    let spec = load_ok("swagger-petstore3.yaml");
    assert_eq!(op(&spec, "addPet").security, Security::Required);
    assert_eq!(op(&spec, "getPetById").security, Security::Required);
    assert_eq!(op(&spec, "placeOrder").security, Security::Unspecified);
    assert_eq!(op(&spec, "loginUser").security, Security::Unspecified);

    let spec = load_ok("realworld-conduit-openapi.yml");
    assert_eq!(op(&spec, "CreateArticle").security, Security::Required);
    assert_eq!(op(&spec, "Login").security, Security::Unspecified);

    let spec = load_ok("handwritten/files-api.swagger2.yaml");
    assert_eq!(op(&spec, "listBuckets").security, Security::Required);
    assert_eq!(op(&spec, "getObject").security, Security::Optional);
    assert_eq!(op(&spec, "status").security, Security::Public);

    let spec = load_ok("handwritten/billing.openapi30.json");
    assert_eq!(op(&spec, "listInvoices").security, Security::Required);
    assert_eq!(op(&spec, "createInvoice").security, Security::Required);
    assert_eq!(op(&spec, "stripeWebhook").security, Security::Public);
    assert_eq!(op(&spec, "getCoupon").security, Security::Optional);

    let spec = load_ok("multi-file/openapi.yaml");
    assert_eq!(op(&spec, "listItems").security, Security::Required);
    assert_eq!(op(&spec, "replaceItem").security, Security::Required);
    assert_eq!(op(&spec, "health").security, Security::Public);
    assert_eq!(op(&spec, "getReport").security, Security::Optional);
}

#[test]
fn deprecated_flags() {
    let rel = "apisguru/kumpeapps.openapi30.json";
    let doc = read_json(&specs_dir().join(rel));
    let want: BTreeSet<String> = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|i| i.as_object().unwrap().values())
        .filter(|o| o["deprecated"] == Json::Bool(true))
        .map(|o| o["operationId"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(want.len(), 7);
    let spec = load_ok(rel);
    let got: BTreeSet<String> = spec
        .operations
        .iter()
        .filter(|o| o.deprecated)
        .map(|o| o.operation_id.clone().unwrap())
        .collect();
    assert_eq!(got, want);

    let spec = load_ok("handwritten/files-api.swagger2.yaml");
    assert!(op(&spec, "legacyDownload").deprecated);
    assert!(!op(&spec, "getObject").deprecated);
    let spec = load_ok("multi-file/openapi.yaml");
    assert!(op(&spec, "deleteItem").deprecated);
    assert!(op(&spec, "getReport").deprecated);
    assert!(!op(&spec, "getItem").deprecated);
    let spec = load_ok("handwritten/billing.openapi30.json");
    assert!(op(&spec, "getCoupon").deprecated);
}

fn slashy(o: &Operation) -> Vec<(&str, bool)> {
    o.path_params
        .iter()
        .map(|p| (p.name.as_str(), p.may_contain_slashes))
        .collect()
}

#[test]
fn parameters_that_hold_slashes() {
    let spec = load_ok("handwritten/files-api.swagger2.yaml");
    // `format: path` on a `#/parameters` ref declared at path level...
    assert_eq!(
        slashy(op(&spec, "getObject")),
        [("bucket", false), ("objectKey", true)]
    );
    // ...and redeclared without it by the operation, which wins.
    assert_eq!(
        slashy(op(&spec, "putObject")),
        [("bucket", false), ("objectKey", false)]
    );
    assert_eq!(
        slashy(op(&spec, "getTree")),
        [("bucket", false), ("ref", true)]
    );
    assert_eq!(slashy(op(&spec, "legacyDownload")), [("file_path", true)]);
    assert_eq!(slashy(op(&spec, "getFileByName")), [("filename", false)]);

    let spec = load_ok("multi-file/openapi.yaml");
    assert_eq!(
        slashy(op(&spec, "getAttachment")),
        [("itemId", false), ("attachmentPath", true)]
    );
    assert_eq!(slashy(op(&spec, "getItem")), [("itemId", false)]);
}

/// The line of `method` under `path` in a description file, found by reading the text.
fn line_in_text(text: &str, path_key: &str, method: &str, json: bool) -> usize {
    let lines: Vec<&str> = text.lines().collect();
    let path_needle = if json {
        format!("\"{path_key}\":")
    } else {
        format!("{path_key}:")
    };
    let start = lines
        .iter()
        .position(|l| l.trim_start().starts_with(&path_needle))
        .unwrap_or_else(|| panic!("{path_key} not in text"));
    let m_needle = if json {
        format!("\"{method}\":")
    } else {
        format!("{method}:")
    };
    start
        + 1
        + lines[start..]
            .iter()
            .position(|l| l.trim_start().starts_with(&m_needle))
            .unwrap()
}

#[test]
fn lines_point_at_the_operation() {
    for (rel, json, path, method, id) in [
        (
            "swagger-petstore3.yaml",
            false,
            "/pet/{petId}",
            "delete",
            "deletePet",
        ),
        (
            "swagger-petstore3.yaml",
            false,
            "/user/login",
            "get",
            "loginUser",
        ),
        (
            "realworld-conduit-openapi.yml",
            false,
            "/articles/{slug}",
            "put",
            "UpdateArticle",
        ),
        (
            "handwritten/files-api.swagger2.yaml",
            false,
            "/status",
            "get",
            "status",
        ),
        (
            "handwritten/billing.openapi30.json",
            true,
            "/coupons/{coupon}",
            "trace",
            "traceCoupon",
        ),
        (
            "handwritten/billing.openapi30.json",
            true,
            "/invoices",
            "post",
            "createInvoice",
        ),
        ("httpbin-spec.json", true, "/status/{codes}", "patch", ""),
        (
            "httpbin-spec.json",
            true,
            "/anything/{anything}",
            "trace",
            "",
        ),
    ] {
        let text = std::fs::read_to_string(specs_dir().join(rel)).unwrap();
        let spec = load_ok(rel);
        let o = if id.is_empty() {
            op_at(&spec, Method::parse(method), path)
        } else {
            op(&spec, id)
        };
        assert_eq!(
            o.line,
            Some(line_in_text(&text, path, method, json)),
            "{rel} {id}"
        );
    }
}

#[test]
fn references_across_files_and_within_the_document() {
    let rel = "multi-file/openapi.yaml";
    let text = std::fs::read_to_string(specs_dir().join(rel)).unwrap();
    let spec = load_ok(rel);
    let line_of = |needle: &str| text.lines().position(|l| l.trim_start() == needle).unwrap() + 1;

    let ids: Vec<_> = spec
        .operations
        .iter()
        .map(|o| {
            (
                o.method.to_string(),
                o.template.to_string(),
                o.operation_id.clone().unwrap(),
            )
        })
        .collect();
    let want = [
        ("GET", "/items", "listItems"),
        ("POST", "/items", "createItem"),
        ("GET", "/items/{itemId}", "getItem"),
        ("PUT", "/items/{itemId}", "replaceItem"),
        ("DELETE", "/items/{itemId}", "deleteItem"),
        (
            "GET",
            "/items/{itemId}/attachments/{attachmentPath}",
            "getAttachment",
        ),
        (
            "DELETE",
            "/items/{itemId}/attachments/{attachmentPath}",
            "deleteAttachment",
        ),
        ("GET", "/healthz", "health"),
        ("GET", "/health", "health"),
        ("GET", "/reports/{reportId}", "getReport"),
    ];
    let want: Vec<_> = want
        .iter()
        .map(|(m, t, i)| (m.to_string(), t.to_string(), i.to_string()))
        .collect();
    assert_eq!(ids, want);

    // Operations in other files point at their path's line in the main file.
    assert_eq!(op(&spec, "listItems").line, Some(line_of("/items:")));
    assert_eq!(
        op(&spec, "deleteItem").line,
        Some(line_of("/items/{itemId}:"))
    );
    // Local references keep the line of the method in the component.
    let attach = op(&spec, "deleteAttachment");
    assert_eq!(
        attach.line,
        Some(line_in_text(&text, "Attachment", "delete", false))
    );
    let health = op_at(&spec, Method::Get, "/health");
    assert_eq!(
        health.line,
        Some(line_in_text(&text, "/healthz", "get", false))
    );
    // The parameter reached through a chain of two references in another file.
    assert_eq!(slashy(op(&spec, "getReport")), [("reportId", false)]);
}

#[test]
fn loading_several_specs() {
    let files: Vec<PathBuf> = ["petstore.yaml", "httpbin-spec.json"]
        .iter()
        .map(|f| specs_dir().join(f))
        .collect();
    let specs = spec::load_all(&files).unwrap();
    assert_eq!(specs.len(), 2);
    assert_eq!(specs[1].version, SpecVersion::Swagger2);
    let mut with_missing = files.clone();
    with_missing.push(specs_dir().join("no-such.yaml"));
    let err = spec::load_all(&with_missing).unwrap_err();
    assert!(err.to_string().contains("no-such.yaml"), "{err}");
}

/// Writes `files` into a fresh directory and loads the first one.
fn load_files(files: &[(&str, &str)]) -> (tempfile::TempDir, Result<Spec, SpecError>) {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let p = dir.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
    }
    let r = spec::load(&dir.path().join(files[0].0));
    (dir, r)
}

/// Asserts the load failed with a message starting `FILE:LINE:` naming `file` (relative to
/// the temporary directory) and containing every piece of `says`.
fn assert_fails(files: &[(&str, &str)], file: &str, line: usize, says: &[&str]) {
    let (dir, r) = load_files(files);
    let err = match r {
        Ok(s) => panic!("{} loaded, expected an error: {s:?}", files[0].0),
        Err(e) => e,
    };
    let msg = err.to_string();
    let want_prefix = format!("{}:{line}:", dir.path().join(file).display());
    assert!(
        msg.starts_with(&want_prefix),
        "{msg:?} does not start with {want_prefix:?}"
    );
    assert_eq!(err.line(), Some(line), "{msg}");
    for s in says {
        assert!(msg.contains(s), "{msg:?} does not say {s:?}");
    }
}

const OK_HEAD: &str = "openapi: 3.0.3\ninfo: {title: t, version: '1'}\n";

#[test]
fn unreadable_file_is_an_io_error_naming_it() {
    let path = specs_dir().join("does-not-exist.yaml");
    let err = spec::load(&path).unwrap_err();
    assert!(matches!(err, SpecError::Io { .. }));
    assert!(
        err.to_string().starts_with(&path.display().to_string()),
        "{err}"
    );
}

#[test]
fn syntax_errors_have_line_and_column() {
    let (_d, r) = load_files(&[(
        "bad.yaml",
        "openapi: 3.0.0\npaths:\n  /a: [1, 2\n  /b: {}\n",
    )]);
    match r {
        Err(SpecError::Syntax {
            line,
            column,
            message,
            ..
        }) => {
            assert!(line >= 3, "line {line}: {message}");
            assert!(column >= 1);
            assert!(message.contains("YAML"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let (_d, r) = load_files(&[(
        "bad.json",
        "{\n  \"openapi\": \"3.0.0\",\n  \"paths\": {,}\n}\n",
    )]);
    match r {
        Err(e @ SpecError::Syntax { .. }) => {
            let SpecError::Syntax { line, column, .. } = &e else {
                unreachable!()
            };
            assert_eq!((*line, *column), (3, 13), "{e}");
            assert!(e.to_string().contains("bad.json:3:13: invalid JSON"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("latin1.yaml");
    std::fs::write(&p, b"openapi: 3.0.0\ninfo:\n  title: caf\xe9\n").unwrap();
    let err = spec::load(&p).unwrap_err();
    assert!(
        err.to_string().contains("latin1.yaml:3:13: not UTF-8"),
        "{err}"
    );
}

#[test]
fn documents_that_are_not_openapi() {
    assert_fails(
        &[("empty.yaml", "")],
        "empty.yaml",
        1,
        &["empty document", "openapi: 3.1.x"],
    );
    assert_fails(
        &[("list.yaml", "- a\n- b\n")],
        "list.yaml",
        1,
        &["sequence, not a mapping"],
    );
    assert_fails(
        &[("k8s.yaml", "apiVersion: v1\nkind: Service\n")],
        "k8s.yaml",
        1,
        &[
            "no top-level `openapi` or `swagger` key",
            "swagger: \"2.0\"",
            "openapi: 3.0.x",
        ],
    );
    assert_fails(
        &[("v32.yaml", "info: {title: t}\nopenapi: 3.2.0\npaths: {}\n")],
        "v32.yaml",
        2,
        &["OpenAPI version `3.2.0` is not supported", "openapi: 3.1.x"],
    );
    assert_fails(
        &[(
            "old.json",
            "{\n\"swaggerVersion\": \"1.2\",\n\"swagger\": \"1.2\"\n}",
        )],
        "old.json",
        3,
        &["Swagger version `1.2` is not supported"],
    );
    assert_fails(
        &[(
            "two.yaml",
            "openapi: 3.0.0\npaths: {}\n---\nopenapi: 3.0.0\n",
        )],
        "two.yaml",
        3,
        &["second YAML document"],
    );
}

#[test]
fn structural_errors_name_the_line() {
    assert_fails(
        &[("p.yaml", &format!("{OK_HEAD}paths:\n  - /pets\n"))],
        "p.yaml",
        3,
        &["`paths` must be a mapping", "sequence"],
    );
    assert_fails(
        &[("np.yaml", OK_HEAD)],
        "np.yaml",
        1,
        &["no top-level `paths`"],
    );
    let (_d, r) = load_files(&[(
        "np31.yaml",
        "openapi: 3.1.0\ninfo: {title: t, version: '1'}\nwebhooks: {}\n",
    )]);
    assert_eq!(r.unwrap().operations.len(), 0, "3.1 makes paths optional");
    assert_fails(
        &[(
            "item.yaml",
            &format!("{OK_HEAD}paths:\n  /pets: a string\n"),
        )],
        "item.yaml",
        4,
        &["path item must be a mapping"],
    );
    assert_fails(
        &[(
            "op.yaml",
            &format!("{OK_HEAD}paths:\n  /pets:\n    get: [1]\n"),
        )],
        "op.yaml",
        5,
        &["`get` operation must be a mapping"],
    );
    assert_fails(
        &[(
            "params.yaml",
            &format!("{OK_HEAD}paths:\n  /pets:\n    get:\n      parameters: {{a: 1}}\n"),
        )],
        "params.yaml",
        6,
        &["`parameters` must be a sequence"],
    );
    assert_fails(
        &[("dup.yaml", &format!("{OK_HEAD}paths:\n  /pets:\n    get: {{}}\n  /cats: {{}}\n  /pets:\n    post: {{}}\n"))],
        "dup.yaml",
        7,
        &["path `/pets` appears twice (first on line 4)"],
    );
    assert_fails(
        &[(
            "dupm.json",
            "{\"openapi\": \"3.0.0\",\n\"paths\": {\"/a\": {\n\"get\": {},\n\"get\": {}}}}",
        )],
        "dupm.json",
        4,
        &["method `get` appears twice"],
    );
    assert_fails(
        &[(
            "sec.yaml",
            &format!("{OK_HEAD}security: bearer\npaths: {{}}\n"),
        )],
        "sec.yaml",
        3,
        &["`security` must be a sequence"],
    );
    assert_fails(
        &[(
            "srv.yaml",
            &format!("{OK_HEAD}servers:\n  url: https://x/api\npaths: {{}}\n"),
        )],
        "srv.yaml",
        3,
        &["`servers` must be a sequence"],
    );
    assert_fails(
        &[(
            "srv2.yaml",
            &format!("{OK_HEAD}servers:\n  - description: no url\npaths: {{}}\n"),
        )],
        "srv2.yaml",
        4,
        &["string `url`"],
    );
    assert_fails(
        &[("pp.yaml", &format!("{OK_HEAD}paths:\n  /pets/{{id}}:\n    parameters:\n      - in: path\n    get: {{}}\n"))],
        "pp.yaml",
        6,
        &["path parameter has no `name`"],
    );
}

#[test]
fn broken_references_name_the_file_line_and_ref() {
    assert_fails(
        &[(
            "local.yaml",
            &format!("{OK_HEAD}paths:\n  /pets/{{id}}:\n    get:\n      parameters:\n        - $ref: '#/components/parameters/Id'\n"),
        )],
        "local.yaml",
        7,
        &["cannot resolve $ref `#/components/parameters/Id`", "`components` not found"],
    );
    assert_fails(
        &[(
            "main.yaml",
            &format!("{OK_HEAD}paths:\n  /pets:\n    $ref: ./paths/pets.yaml\n"),
        )],
        "main.yaml",
        5,
        &[
            "cannot resolve $ref `./paths/pets.yaml`",
            "cannot read",
            "pets.yaml",
        ],
    );
    // A pointer that misses inside a file that exists: reported where the `$ref` is, which
    // may itself be in another file.
    assert_fails(
        &[
            (
                "api.yaml",
                &format!("{OK_HEAD}paths:\n  /pets:\n    $ref: paths.yaml#/pets\n"),
            ),
            (
                "paths.yaml",
                "pets:\n  get:\n    parameters:\n      - $ref: 'params.yaml#/Limit'\n",
            ),
            ("params.yaml", "Limt:\n  name: limit\n  in: query\n"),
        ],
        "paths.yaml",
        4,
        &[
            "cannot resolve $ref `params.yaml#/Limit`",
            "`Limit` not found",
        ],
    );
    assert_fails(
        &[
            (
                "api2.yaml",
                &format!("{OK_HEAD}paths:\n  /pets:\n    $ref: bad.yaml\n"),
            ),
            ("bad.yaml", "get:\n  responses: [\n"),
        ],
        "bad.yaml",
        3,
        &["invalid YAML"],
    );
    assert_fails(
        &[(
            "cycle.yaml",
            &format!(
                "{OK_HEAD}paths:\n  /a:\n    $ref: '#/paths/~1b'\n  /b:\n    $ref: '#/paths/~1a'\n"
            ),
        )],
        "cycle.yaml",
        5,
        &["cannot resolve $ref `#/paths/~1b`", "(a cycle?)"],
    );
    assert_fails(
        &[(
            "pcycle.yaml",
            &format!("{OK_HEAD}paths:\n  /a:\n    get:\n      parameters:\n        - $ref: '#/x'\nx:\n  $ref: '#/x'\n"),
        )],
        "pcycle.yaml",
        9,
        &["a cycle?"],
    );
    assert_fails(
        &[(
            "remote.yaml",
            &format!("{OK_HEAD}paths:\n  /a:\n    $ref: 'https://example.com/paths.yaml#/a'\n"),
        )],
        "remote.yaml",
        5,
        &["only references to local files are followed"],
    );
    assert_fails(
        &[(
            "refnum.yaml",
            &format!("{OK_HEAD}paths:\n  /a:\n    $ref: [1]\n"),
        )],
        "refnum.yaml",
        5,
        &["`$ref` must be a string"],
    );
}

#[test]
fn tolerates_what_diffing_does_not_need() {
    let text = r#"
openapi: 3.1.1
info: {title: Tolerant, version: '1', x-anything: [1, {a: b}]}
jsonSchemaDialect: https://spec.openapis.org/oas/3.1/dialect/base
x-top: &shared {deep: {deeper: [1, 2, 3]}}
webhooks:
  newPet: {post: {responses: {'200': {description: ok}}}}
paths:
  /pets/:
    summary: pets
    description: path item fields that are not methods
    x-rate-limit: 10
    servers: []
    parameters: []
    get:
      callbacks: {onEvent: {'{$request.body#/url}': {post: {responses: {'200': {description: ok}}}}}}
      responses: {default: {$ref: '#/components/responses/Unknown'}}
      x-extra: *shared
    head:
  /pets:
    put: {}
  /:
    get: {}
components:
  schemas:
    Pet: {type: [object, 'null'], $ref: '#/does/not/matter'}
"#;
    let spec = Spec::parse(Path::new("inline.yaml"), text).unwrap();
    let ops: Vec<_> = spec
        .operations
        .iter()
        .map(|o| format!("{} {}", o.method, o.template))
        .collect();
    assert_eq!(ops, ["GET /pets", "HEAD /pets", "PUT /pets", "GET /"]);
    assert_eq!(spec.base_paths, [""]);
    assert_eq!(spec.title.as_deref(), Some("Tolerant"));
    assert_eq!(spec.version, SpecVersion::OpenApi31);
}

#[test]
fn nothing_panics_on_damaged_descriptions() {
    // Truncations and byte damage of real descriptions at many positions: each load either
    // succeeds or returns an error, and an error always names the file.
    let file = Path::new("damaged.yaml");
    for rel in [
        "petstore-expanded.yaml",
        "handwritten/billing.openapi30.json",
        "multi-file/openapi.yaml",
    ] {
        let text = std::fs::read_to_string(specs_dir().join(rel)).unwrap();
        let bytes = text.as_bytes();
        let step = (bytes.len() / 60).max(1);
        for cut in (0..bytes.len()).step_by(step) {
            let truncated = String::from_utf8_lossy(&bytes[..cut]);
            if let Err(e) = Spec::parse(file, &truncated) {
                assert_eq!(e.file(), file);
            }
            for damage in [b"{", b"]", b":", b"&", b"*", b"\"", b"'", b"\t"] {
                let mut d = bytes.to_vec();
                d[cut] = damage[0];
                let _ = Spec::parse(file, &String::from_utf8_lossy(&d));
            }
        }
    }
}

/// GitHub's REST description (~13 MB JSON, 1,000+ operations), fetched by
/// `scripts/fetch-large-specs.sh` into `specs/large/` (not committed).
fn github_spec() -> PathBuf {
    let path = specs_dir().join("large/api.github.com.json");
    if !path.exists() {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/fetch-large-specs.sh");
        let status = std::process::Command::new("bash").arg(&script).status();
        assert!(
            matches!(status, Ok(s) if s.success()) && path.exists(),
            "GitHub's description is missing and could not be fetched: run `bash scripts/fetch-large-specs.sh` \
             (needs npm and the npm registry) to put it in specs/large/"
        );
    }
    path
}

#[test]
fn github_rest_description_large() {
    let path = github_spec();
    let doc = read_json(&path);
    let t = Instant::now();
    let spec = spec::load(&path).unwrap();
    let took = t.elapsed();
    let size = std::fs::metadata(&path).unwrap().len();
    println!(
        "github JSON: {:.1} MB, {} operations loaded in {took:?}",
        size as f64 / 1e6,
        spec.operations.len()
    );
    assert_eq!(spec.version, SpecVersion::OpenApi30);
    assert_eq!(spec.operations.len(), json_op_count(&doc));
    assert!(spec.operations.len() > 1000);
    assert_eq!(spec.base_paths, [""]);

    // Lines: each points at its method key, in document order.
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut last = 0;
    for o in &spec.operations {
        let l = o.line.unwrap();
        let want = format!("\"{}\":", o.method.as_str().to_ascii_lowercase());
        assert!(
            lines[l - 1].trim_start().starts_with(&want),
            "{} {} line {l}",
            o.method,
            o.template
        );
        assert!(l > last);
        last = l;
    }

    // Slash-holding parameters: exactly those GitHub marks `x-multi-segment` (directly or
    // through `#/components/parameters`), plus names that say they are paths.
    let comp = &doc["components"]["parameters"];
    let mut checked = 0;
    for o in &spec.operations {
        let item = &doc["paths"][o.template.as_str()];
        let op_json = &item[o.method.as_str().to_ascii_lowercase()];
        let mut declared: BTreeMap<String, bool> = BTreeMap::new();
        for p in item["parameters"]
            .as_array()
            .into_iter()
            .chain(op_json["parameters"].as_array())
            .flatten()
        {
            let p = match p["$ref"].as_str() {
                Some(r) => &comp[r.rsplit('/').next().unwrap()],
                None => p,
            };
            if p["in"] == "path" {
                let multi = p["x-multi-segment"].as_bool().unwrap_or(false);
                declared.insert(p["name"].as_str().unwrap().to_string(), multi);
            }
        }
        for pp in &o.path_params {
            let by_name = pp.name.to_ascii_lowercase().ends_with("path");
            let want = declared.get(&pp.name).copied().unwrap_or(false) || by_name;
            assert_eq!(
                pp.may_contain_slashes, want,
                "{} {} {}",
                o.method, o.template, pp.name
            );
            checked += 1;
        }
    }
    assert!(checked > 1000);
    let contents = op_at(&spec, Method::Get, "/repos/{owner}/{repo}/contents/{path}");
    assert_eq!(
        slashy(contents),
        [("owner", false), ("repo", false), ("path", true)]
    );
    let deprecated = spec.operations.iter().filter(|o| o.deprecated).count();
    let want_dep = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|i| i.as_object().unwrap().values())
        .filter(|o| o["deprecated"] == Json::Bool(true))
        .count();
    assert_eq!(deprecated, want_dep);

    // The YAML form, when the fetch script could make it, describes the same operations.
    let yaml_path = specs_dir().join("large/api.github.com.yaml");
    if yaml_path.exists() {
        let t = Instant::now();
        let from_yaml = spec::load(&yaml_path).unwrap();
        let took = t.elapsed();
        let size = std::fs::metadata(&yaml_path).unwrap().len();
        println!(
            "github YAML: {:.1} MB, {} operations loaded in {took:?}",
            size as f64 / 1e6,
            from_yaml.operations.len()
        );
        let strip = |s: &Spec| -> Vec<Operation> {
            s.operations
                .iter()
                .cloned()
                .map(|o| Operation { line: None, ..o })
                .collect()
        };
        assert_eq!(strip(&from_yaml), strip(&spec));
        let yaml_text = std::fs::read_to_string(&yaml_path).unwrap();
        let ylines: Vec<&str> = yaml_text.lines().collect();
        for o in &from_yaml.operations {
            let l = o.line.unwrap();
            let want = format!("{}:", o.method.as_str().to_ascii_lowercase());
            assert!(
                ylines[l - 1].trim_start().starts_with(&want),
                "{} {}",
                o.method,
                o.template
            );
        }
    } else {
        println!("github YAML: not present (PyYAML missing when fetching); skipped");
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

    /// Arbitrary text built from the characters YAML and JSON give meaning to never panics
    /// the loader; an error always names the file.
    #[test]
    fn arbitrary_text_never_panics(text in "[-a-z0-9:{}\\[\\],&*!|>'\"#$/ \n\t]{0,300}") {
        let file = Path::new("fuzz.yaml");
        if let Err(e) = Spec::parse(file, &format!("openapi: 3.0.0\npaths:\n{text}")) {
            proptest::prop_assert_eq!(e.file(), file);
        }
        let _ = Spec::parse(file, &text);
    }
}

#[test]
fn path_item_refs_merge_with_their_siblings() {
    let text = r#"openapi: 3.1.0
info: {title: merge, version: '1'}
security: [{key: []}]
paths:
  /v2/orders/{orderId}:
    $ref: '#/components/pathItems/OrderV1'
    security: []
    delete:
      operationId: deleteOrderV2
  /proxy/{proxy+}:
    x-amazon-apigateway-any-method: {}
    get:
      $ref: '#/components/x-operations/proxyGet'
components:
  pathItems:
    OrderV1:
      $ref: '#/components/pathItems/OrderBase'
      put:
        operationId: replaceOrderV1
    OrderBase:
      parameters:
        - {name: orderId, in: path, required: true, schema: {type: string, format: path}}
      get:
        operationId: getOrder
      put:
        operationId: replaceOrderBase
  x-operations:
    proxyGet:
      operationId: proxyGet
      deprecated: true
"#;
    let spec = Spec::parse(Path::new("merge.yaml"), text).unwrap();
    let got: Vec<_> = spec
        .operations
        .iter()
        .map(|o| {
            (
                format!("{} {}", o.method, o.template),
                o.operation_id.clone().unwrap(),
                o.security,
                o.deprecated,
                slashy(o)
                    .iter()
                    .map(|(n, s)| format!("{n}:{s}"))
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    let lines: Vec<&str> = text.lines().collect();
    let want = [
        // Deeper items first, each level's siblings overriding what it points at; the
        // path-level `security: []` (not standard, but emitted by some tools) applies to all.
        (
            "GET /v2/orders/{orderId}",
            "getOrder",
            Security::Public,
            false,
        ),
        (
            "PUT /v2/orders/{orderId}",
            "replaceOrderV1",
            Security::Public,
            false,
        ),
        (
            "DELETE /v2/orders/{orderId}",
            "deleteOrderV2",
            Security::Public,
            false,
        ),
        ("GET /proxy/{proxy+}", "proxyGet", Security::Required, true),
    ];
    assert_eq!(got.len(), want.len(), "{got:?}");
    for (g, w) in got.iter().zip(want) {
        assert_eq!((g.0.as_str(), g.1.as_str(), g.2, g.3), w);
    }
    assert_eq!(got[0].4, ["orderId:true"]);
    assert_eq!(got[3].4, ["proxy+:true"]);
    // Lines: the method keys where they are written, in the component for referenced ones.
    let at = |o: &Operation| lines[o.line.unwrap() - 1].trim_start().to_string();
    assert_eq!(at(op(&spec, "getOrder")), "get:");
    assert_eq!(op(&spec, "getOrder").line, Some(23));
    assert_eq!(op(&spec, "replaceOrderV1").line, Some(18));
    assert_eq!(op(&spec, "deleteOrderV2").line, Some(8));
    assert_eq!(op(&spec, "proxyGet").line, Some(12));
}

#[test]
fn one_operation_per_method_and_canonical_template() {
    // `/pets/` and `/pets` are the same endpoint once canonical; the first one written wins.
    let text = "swagger: '2.0'\ninfo: {title: t, version: '1'}\npaths:\n  /pets/:\n    get: {operationId: first}\n  /pets:\n    get: {operationId: second}\n    post: {operationId: create}\n";
    let spec = Spec::parse(Path::new("dup.yaml"), text).unwrap();
    let got: Vec<_> = spec
        .operations
        .iter()
        .map(|o| {
            (
                o.method,
                o.template.as_str(),
                o.operation_id.as_deref(),
                o.line,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (Method::Get, "/pets", Some("first"), Some(5)),
            (Method::Post, "/pets", Some("create"), Some(8)),
        ]
    );
}
