//! Specs as an attacker writes them: `diff` runs on pull requests' descriptions, so a spec
//! must not be able to read devices or FIFOs, files outside its tree, more bytes than the
//! configured limit, or spend quadratic time expanding server variables.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use shadowscan::spec::{self, LoadOptions, SpecError};

const HEAD: &str = "openapi: 3.0.3\ninfo: {title: t, version: '1'}\n";

/// A tree `repo/` with `repo/api/openapi.yaml` holding `spec`, plus `outside.yaml` beside
/// `repo/` (a file the spec must not reach).
fn tree(spec: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let api = dir.path().join("repo/api");
    std::fs::create_dir_all(&api).unwrap();
    std::fs::write(
        dir.path().join("outside.yaml"),
        "Secret:\n  name: id\n  in: path\n  required: true\n",
    )
    .unwrap();
    let file = api.join("openapi.yaml");
    std::fs::write(&file, spec).unwrap();
    (dir, file)
}

fn with_param_ref(target: &str) -> String {
    format!("{HEAD}paths:\n  /a/{{id}}:\n    get:\n      parameters:\n        - $ref: '{target}'\n")
}

fn err_text(r: Result<spec::Spec, SpecError>) -> (String, SpecError) {
    match r {
        Ok(s) => panic!("loaded, expected an error: {s:?}"),
        Err(e) => (e.to_string(), e),
    }
}

#[test]
fn devices_are_refused_as_the_main_spec() {
    for dev in ["/dev/zero", "/dev/urandom"] {
        let started = Instant::now();
        let (msg, e) = err_text(spec::load(Path::new(dev)));
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{dev} took long"
        );
        assert!(matches!(e, SpecError::Io { .. }));
        assert!(msg.starts_with(dev), "{msg}");
        assert!(
            msg.contains("character device, not a regular file"),
            "{msg}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let (msg, _) = err_text(spec::load(dir.path()));
    assert!(msg.contains("directory, not a regular file"), "{msg}");
}

fn mkfifo(path: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

/// A FIFO inside the tree would block the open forever (no writer ever comes).
#[test]
fn a_fifo_ref_inside_the_tree_is_refused_at_once() {
    let (_d, file) = tree(&with_param_ref("pipe.yaml#/Secret"));
    mkfifo(&file.with_file_name("pipe.yaml"));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(spec::load(&file).map_err(|e| e.to_string()));
    });
    let r = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("loading a spec whose $ref names a FIFO hung");
    let msg = r.unwrap_err();
    assert!(msg.contains("openapi.yaml:7:"), "{msg}");
    assert!(msg.contains("pipe.yaml"), "{msg}");
    assert!(msg.contains("FIFO, not a regular file"), "{msg}");
}

#[test]
fn a_device_ref_is_refused_even_with_the_whole_disk_as_root() {
    let (_d, file) = tree(&with_param_ref("/dev/zero#/Secret"));
    let opts = LoadOptions {
        root: Some("/".into()),
        ..LoadOptions::default()
    };
    let started = Instant::now();
    let (msg, e) = err_text(spec::load_with(&file, &opts));
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(e.line(), Some(7), "{msg}");
    assert!(msg.contains("$ref `/dev/zero#/Secret`"), "{msg}");
    assert!(msg.contains("character device"), "{msg}");
}

#[test]
fn refs_are_confined_to_the_specs_tree() {
    let outside = |target: &str| {
        let (d, file) = tree(&with_param_ref(target));
        let (msg, e) = err_text(spec::load(&file));
        assert!(
            msg.starts_with(&format!("{}:7:", file.display())),
            "{target}: {msg}"
        );
        assert_eq!(e.line(), Some(7));
        assert!(msg.contains(&format!("$ref `{target}`")), "{msg}");
        assert!(msg.contains("is outside"), "{msg}");
        assert!(msg.contains("spec_root"), "{msg}");
        drop(d);
    };
    outside("../../outside.yaml#/Secret");
    outside("/etc/passwd#/root");
    outside("/etc/shadow#/root");
    // A missing file outside says the same thing: no probing for what exists out there.
    outside("../../../no/such/file.yaml#/x");

    // A symlink inside the tree is judged by where it leads.
    let (d, file) = tree(&with_param_ref("link.yaml#/Secret"));
    std::os::unix::fs::symlink(
        d.path().join("outside.yaml"),
        file.with_file_name("link.yaml"),
    )
    .unwrap();
    let (msg, _) = err_text(spec::load(&file));
    assert!(msg.contains("is outside"), "{msg}");

    // A wider root, as `[diff] spec_root`/`--spec-root` set it, lets the same spec load.
    let opts = LoadOptions {
        root: Some(d.path().to_path_buf()),
        ..LoadOptions::default()
    };
    let spec = spec::load_with(&file, &opts).unwrap();
    assert_eq!(spec.operations.len(), 1);
    let (_d2, file) = tree(&with_param_ref("../../outside.yaml#/Secret"));
    let opts = LoadOptions {
        root: Some(_d2.path().to_path_buf()),
        ..LoadOptions::default()
    };
    assert!(spec::load_with(&file, &opts).is_ok());
}

#[test]
fn refs_within_the_tree_still_resolve() {
    // The repository's multi-file example reaches `../common` from `paths/`: still inside.
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("specs/multi-file/openapi.yaml");
    assert!(spec::load(&file).unwrap().operations.len() >= 10);
}

#[test]
fn bytes_read_per_load_are_capped() {
    let (_d, file) = tree(&with_param_ref("common.yaml#/P"));
    let mut common = String::from("P:\n  name: id\n  in: path\n  required: true\n");
    common.push_str(&"# padding\n".repeat(1000));
    std::fs::write(file.with_file_name("common.yaml"), &common).unwrap();
    let main_len = std::fs::metadata(&file).unwrap().len();

    // Room for both: loads.
    let opts = |max_bytes| LoadOptions {
        max_bytes,
        root: None,
    };
    let both = main_len + common.len() as u64;
    assert!(spec::load_with(&file, &opts(both)).is_ok());

    // The referenced file would take the load past the limit: named at the `$ref`.
    let (msg, e) = err_text(spec::load_with(&file, &opts(both - 1)));
    assert_eq!(e.line(), Some(7), "{msg}");
    assert!(msg.contains("common.yaml"), "{msg}");
    assert!(msg.contains("max_spec_bytes"), "{msg}");

    // The main file alone is over it.
    let (msg, e) = err_text(spec::load_with(&file, &opts(main_len - 1)));
    assert!(matches!(e, SpecError::Io { .. }));
    assert!(msg.starts_with(&file.display().to_string()), "{msg}");
    assert!(msg.contains("max_spec_bytes"), "{msg}");
}

/// 100k enum values took 32 s and 1M never finished: the values were deduplicated with a
/// linear scan each. Now linear, and bounded to the documented 64 combinations.
#[test]
fn huge_server_variable_enums_expand_in_linear_time() {
    let n = 300_000;
    let mut text = String::from(
        r#"{"openapi":"3.0.3","info":{"title":"t","version":"1"},"servers":[{"url":"https://h/{v}","variables":{"v":{"default":"v0","enum":["#,
    );
    for i in 0..n {
        if i > 0 {
            text.push(',');
        }
        text.push_str(&format!("\"v{i}\""));
    }
    text.push_str(r#"]}}}],"paths":{"/a":{"get":{}}}}"#);
    let started = Instant::now();
    let spec = spec::Spec::parse(Path::new("enum.json"), &text).unwrap();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert_eq!(spec.base_paths.len(), 64);
    assert_eq!(spec.base_paths[0], "/v0");
}

#[test]
fn many_servers_and_variables_stay_bounded() {
    // 20k servers, each its own base path; and one URL with 5k distinct variables.
    let mut servers: Vec<String> = (0..20_000)
        .map(|i| format!(r#"{{"url":"/s{i}"}}"#))
        .collect();
    let vars: String = (0..5_000).map(|i| format!("/{{x{i}}}")).collect();
    servers.push(format!(r#"{{"url":"{vars}"}}"#));
    let text = format!(
        r#"{{"openapi":"3.0.3","info":{{"title":"t","version":"1"}},"servers":[{}],"paths":{{"/a":{{"get":{{}}}}}}}}"#,
        servers.join(",")
    );
    let started = Instant::now();
    let spec = spec::Spec::parse(Path::new("servers.json"), &text).unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(spec.base_paths.len(), 256);
}

#[test]
fn limits_come_from_the_config_and_the_flag_wins() {
    use shadowscan::config::Config;
    let mut c =
        Config::parse("[diff]\nmax_spec_bytes = 1048576\nspec_root = \"contracts\"\n").unwrap();
    c.source = Some(PathBuf::from("/etc/shadowscan/shadowscan.toml"));
    let o = c.spec_options(None);
    assert_eq!(o.max_bytes, 1 << 20);
    assert_eq!(o.root, Some(PathBuf::from("/etc/shadowscan/contracts")));
    let o = c.spec_options(Some(Path::new("/srv/repo")));
    assert_eq!(o.root, Some(PathBuf::from("/srv/repo")));
    let d = Config::default().spec_options(None);
    assert_eq!(d, LoadOptions::default());
    assert_eq!(d.max_bytes, 64 * 1024 * 1024);
}

fn shadowscan() -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_shadowscan"));
    c.env_remove("SHADOWSCAN_DB")
        .env_remove("SHADOWSCAN_CONFIG")
        .env("NO_COLOR", "1");
    c
}

#[test]
fn the_diff_command_refuses_devices_and_outside_refs_and_spec_root_widens() {
    let started = Instant::now();
    let out = shadowscan()
        .args(["diff", "/dev/zero", "--traces", "/dev/null"])
        .output()
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.trim_end(),
        "shadowscan: error: /dev/zero: cannot read: it is a character device, not a regular file; specs and the files their $refs name are read only from regular files"
    );

    let (d, file) = tree(&with_param_ref("../../outside.yaml#/Secret"));
    let traces = d.path().join("none.jsonl");
    std::fs::write(&traces, "").unwrap();
    let diff = |extra: &[&str]| {
        shadowscan()
            .arg("diff")
            .arg(&file)
            .args(extra)
            .arg("--traces")
            .arg(&traces)
            .output()
            .unwrap()
    };
    let out = diff(&[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("openapi.yaml:7: cannot resolve $ref"), "{err}");
    assert!(err.contains("is outside"), "{err}");
    let root = d.path().to_str().unwrap();
    // Empty traces are an error of their own unless no traffic is expected: say so, so the
    // exit status speaks only of the spec.
    let out = diff(&["--spec-root", root, "--allow-no-traffic"]);
    assert!(
        out.status.code().is_some_and(|c| c < 2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The config file's limit applies to the same load.
    let config = d.path().join("shadowscan.toml");
    std::fs::write(&config, "[diff]\nmax_spec_bytes = 100\n").unwrap();
    let out = shadowscan()
        .arg("--config")
        .arg(&config)
        .arg("diff")
        .arg(&file)
        .args(["--spec-root", root, "--traces"])
        .arg(&traces)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("max_spec_bytes"));
}
