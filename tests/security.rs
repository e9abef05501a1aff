//! `serve` exposed as a deployment would expose it: TLS on every listener, bearer tokens
//! as the OpenTelemetry Collector's `bearertokenauth` sends them, client certificates, the
//! admin endpoint's Host check and token, and rotation of certificates and tokens without a
//! restart. Exporters are the real OpenTelemetry Python SDK (gRPC and HTTP, configured
//! through the standard `OTEL_EXPORTER_OTLP_*` variables); certificates are made for each
//! test with the `openssl` command; other checks use rustls as the client.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn shadowscan() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_shadowscan"));
    for v in [
        "SHADOWSCAN_DB",
        "SHADOWSCAN_CONFIG",
        "SHADOWSCAN_TOKENS",
        "SHADOWSCAN_ADMIN_TOKEN",
        "SHADOWSCAN_TOKENS_FILE",
        "SHADOWSCAN_ADMIN_TOKEN_FILE",
        "SHADOWSCAN_TLS_CERT",
        "SHADOWSCAN_TLS_KEY",
        "SHADOWSCAN_TLS_CLIENT_CA",
    ] {
        c.env_remove(v);
    }
    c.env("NO_COLOR", "1");
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

// ---- certificates ----------------------------------------------------------------------

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("the openssl command (apt-get install openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A throwaway CA and certificates it issued, valid for a day.
struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn new(dir: &Path) -> Pki {
        let dir = dir.join("pki");
        std::fs::create_dir_all(&dir).unwrap();
        openssl(
            &dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "1",
                "-subj",
                "/CN=shadowscan test CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
        Pki { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// `<name>.pem` and `<name>.key`, issued by the CA: a server certificate for localhost
    /// and 127.0.0.1, or a client certificate.
    fn issue(&self, name: &str, client: bool) {
        let ext = if client {
            "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n".to_owned()
        } else {
            "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n".to_owned()
        };
        std::fs::write(self.path(&format!("{name}.ext")), ext).unwrap();
        let (key, csr, pem, extf) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.pem"),
            format!("{name}.ext"),
        );
        openssl(
            &self.dir,
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                &key,
                "-out",
                &csr,
                "-subj",
                &format!("/CN={name}"),
            ],
        );
        openssl(
            &self.dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &pem,
                "-days",
                "1",
                "-extfile",
                &extf,
            ],
        );
    }
}

// ---- the daemon ------------------------------------------------------------------------

struct Server {
    child: Child,
    grpc: String,
    http: String,
    admin: String,
}

impl Server {
    fn start(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
        let ready = dir.join("ready.json");
        let _ = std::fs::remove_file(&ready);
        let mut cmd = shadowscan();
        cmd.args([
            "--log",
            "debug",
            "serve",
            "--grpc-addr",
            "127.0.0.1:0",
            "--http-addr",
            "127.0.0.1:0",
            "--admin-addr",
            "127.0.0.1:0",
        ])
        .arg("--db")
        .arg(dir.join("inventory.db"))
        .arg("--ready-file")
        .arg(&ready)
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start shadowscan serve");
        let deadline = Instant::now() + Duration::from_secs(60);
        let v: Value = loop {
            if let Ok(text) = std::fs::read_to_string(&ready) {
                if let Ok(v) = serde_json::from_str(&text) {
                    break v;
                }
            }
            if let Ok(Some(status)) = child.try_wait() {
                let mut log = String::new();
                child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut log)
                    .unwrap();
                panic!("serve exited with {status} before listening: {log}");
            }
            assert!(Instant::now() < deadline, "serve did not start in 60 s");
            std::thread::sleep(Duration::from_millis(25));
        };
        let s = |k: &str| v[k].as_str().unwrap().to_owned();
        Server {
            child,
            grpc: s("grpc"),
            http: s("http"),
            admin: s("admin"),
        }
    }

    fn signal(&self, sig: i32) {
        // SAFETY: signalling our own child process.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }

    /// SIGTERM; returns what it logged.
    fn stop(mut self) -> String {
        self.signal(libc::SIGTERM);
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
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The real SDK exporter: `(exit status success, stderr)`.
fn export(target: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(python())
        .arg(repo().join("tests/e2e/export_spans.py"))
        .args(target)
        .args(["--timeout", "5"])
        .env_remove("OTEL_EXPORTER_OTLP_HEADERS")
        .env_remove("OTEL_EXPORTER_OTLP_CERTIFICATE")
        // The HTTP exporter's `requests` session lets these override the CA it was given
        // (OTEL_EXPORTER_OTLP_CERTIFICATE), a trap for deployments too.
        .env_remove("REQUESTS_CA_BUNDLE")
        .env_remove("CURL_CA_BUNDLE")
        .envs(env.iter().copied())
        .output()
        .expect("run export_spans.py")
}

fn spans_sent(out: &Output) -> u64 {
    assert!(
        out.status.success(),
        "the exporter failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["spans_exported"].as_u64().unwrap()
}

// ---- a rustls client -------------------------------------------------------------------

struct Client {
    config: Arc<rustls::ClientConfig>,
}

impl Client {
    fn new(ca: &Path, identity: Option<(&Path, &Path)>) -> Client {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(ca).unwrap() {
            roots.add(c.unwrap()).unwrap();
        }
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        let mut config = match identity {
            Some((cert, key)) => builder
                .with_client_auth_cert(
                    CertificateDer::pem_file_iter(cert)
                        .unwrap()
                        .map(Result::unwrap)
                        .collect(),
                    PrivateKeyDer::from_pem_file(key).unwrap(),
                )
                .unwrap(),
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Client {
            config: Arc::new(config),
        }
    }

    fn connect(&self, addr: &str) -> std::io::Result<Conn> {
        let tcp = TcpStream::connect(addr)?;
        tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
        let conn = rustls::ClientConnection::new(
            self.config.clone(),
            ServerName::try_from("localhost").unwrap(),
        )
        .unwrap();
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        // Complete the handshake now, so a refused certificate shows here.
        while tls.conn.is_handshaking() {
            tls.conn.complete_io(&mut tls.sock)?;
        }
        Ok(Conn { tls })
    }
}

struct Conn {
    tls: rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
}

impl Conn {
    /// The server's leaf certificate.
    fn peer(&self) -> Vec<u8> {
        self.tls.conn.peer_certificates().unwrap()[0].to_vec()
    }

    /// One HTTP/1.1 request on this (kept-alive) connection: `(status, headers, body)`.
    fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, String, String) {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        self.tls.write_all(head.as_bytes()).unwrap();
        self.tls.write_all(body).unwrap();
        self.tls.flush().unwrap();
        read_response(&mut self.tls)
    }
}

/// Reads one response with a Content-Length body.
fn read_response(r: &mut impl Read) -> (u16, String, String) {
    let mut raw = Vec::new();
    let mut byte = [0u8; 1];
    while !raw.ends_with(b"\r\n\r\n") {
        r.read_exact(&mut byte).expect("a response head");
        raw.push(byte[0]);
    }
    let head = String::from_utf8(raw).unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let len = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().unwrap())
        })
        .unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body).unwrap();
    (status, head, String::from_utf8_lossy(&body).into_owned())
}

/// A plain HTTP/1.1 GET with the given headers (Host included): `(status, head, body)`.
fn plain_get(addr: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    let mut head = format!("GET {path} HTTP/1.1\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("Connection: close\r\n\r\n");
    s.write_all(head.as_bytes()).unwrap();
    read_response(&mut s)
}

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
        .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
}

fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !ok() {
        assert!(Instant::now() < deadline, "{what} within 15 s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

const TOKEN: &str = "tok-7Qx9aV2mZ4pL8rW1";

// ---- tests -----------------------------------------------------------------------------

/// The deployment the README recommends, as the collector would use it: TLS and a bearer
/// token on both receivers; the SDK's exports over gRPC and HTTP are stored, and exports
/// without the token, with a wrong one or without TLS are refused, counted, and never
/// logged with their token.
#[test]
fn python_sdk_exports_over_tls_with_a_bearer_token_and_nothing_else_gets_in() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    pki.issue("server", false);
    let tokens = dir.path().join("tokens");
    std::fs::write(
        &tokens,
        format!("# exporters\n{TOKEN}\nsecond-token-for-rotation\n"),
    )
    .unwrap();
    let cert = pki.path("server.pem");
    let key = pki.path("server.key");
    let server = Server::start(
        dir.path(),
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
            "--tokens-file",
            tokens.to_str().unwrap(),
        ],
        &[],
    );
    let ca = pki.path("ca.pem");
    let ca = ca.to_str().unwrap();
    let header = format!("authorization=Bearer {TOKEN}");
    let good = [
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", ca),
        ("OTEL_EXPORTER_OTLP_HEADERS", header.as_str()),
    ];
    let grpc = format!("https://{}", server.grpc);
    let http = format!("https://{}", server.http);
    let sent = spans_sent(&export(&["--grpc", &grpc], &good))
        + spans_sent(&export(&["--http", &http], &good));

    let wrong = format!("authorization=Bearer {TOKEN}x");
    let refused_env = [
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", ca),
        ("OTEL_EXPORTER_OTLP_HEADERS", wrong.as_str()),
    ];
    for target in [["--grpc", grpc.as_str()], ["--http", http.as_str()]] {
        let out = export(&target, &refused_env);
        assert!(
            !out.status.success(),
            "{target:?} with a wrong token must fail"
        );
        let out = export(&target, &[("OTEL_EXPORTER_OTLP_CERTIFICATE", ca)]);
        assert!(
            !out.status.success(),
            "{target:?} without a token must fail"
        );
    }
    // Plain text on a TLS port does not get in either.
    let out = export(&["--grpc", &server.grpc], &good);
    assert!(
        !out.status.success(),
        "plain-text gRPC must fail against a TLS port"
    );

    let client = Client::new(&pki.path("ca.pem"), None);
    let mut admin = client.connect(&server.admin).unwrap();
    let (status, _, metrics) = admin.request("GET", "/metrics", &[], b"");
    assert_eq!(status, 200);
    assert_eq!(metric(&metrics, "shadowscan_spans_accepted_total"), sent);
    let unauthenticated = metric(
        &metrics,
        "shadowscan_exports_refused_total{reason=\"unauthenticated\"}",
    );
    assert!(
        unauthenticated >= 4,
        "each refused export is counted: {metrics}"
    );

    // What the HTTP receiver says to a client without a token.
    let mut conn = client.connect(&server.http).unwrap();
    let (status, head, body) = conn.request(
        "POST",
        "/v1/traces",
        &[("Content-Type", "application/json")],
        b"{}",
    );
    assert_eq!(status, 401, "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("www-authenticate: bearer"),
        "{head}"
    );
    assert!(body.contains("\"code\":16"), "{body}");

    let log = server.stop();
    assert!(!log.contains(TOKEN), "a token is never logged:\n{log}");
    assert!(!log.contains("second-token"), "a token is never logged");
}

/// Rotation without a restart: a new token file and a new certificate are in force after
/// SIGHUP (or once the change is noticed), for new connections; a connection opened
/// before keeps working.
#[test]
fn tokens_and_certificates_rotate_without_dropping_connections() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    pki.issue("old", false);
    pki.issue("new", false);
    let (cert, key) = (dir.path().join("server.pem"), dir.path().join("server.key"));
    std::fs::copy(pki.path("old.pem"), &cert).unwrap();
    std::fs::copy(pki.path("old.key"), &key).unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::write(&tokens, "first-token\n").unwrap();
    let config = dir.path().join("shadowscan.toml");
    std::fs::write(
        &config,
        "[serve.tls]\ncert_file = \"server.pem\"\nkey_file = \"server.key\"\n[serve.auth]\ntokens_file = \"tokens\"\n",
    )
    .unwrap();
    let server = Server::start(
        dir.path(),
        &[],
        &[("SHADOWSCAN_CONFIG", config.to_str().unwrap())],
    );
    let client = Client::new(&pki.path("ca.pem"), None);
    let der = |name: &str| {
        CertificateDer::from_pem_file(pki.path(&format!("{name}.pem")))
            .unwrap()
            .to_vec()
    };
    let post = |conn: &mut Conn, token: &str| {
        let auth = format!("Bearer {token}");
        conn.request(
            "POST",
            "/v1/traces",
            &[
                ("Content-Type", "application/json"),
                ("Authorization", &auth),
            ],
            b"{}",
        )
        .0
    };
    let mut before = client.connect(&server.http).unwrap();
    assert_eq!(before.peer(), der("old"));
    assert_eq!(post(&mut before, "first-token"), 200);

    std::fs::write(&tokens, "# rotated\nsecond-token\n").unwrap();
    std::fs::copy(pki.path("new.pem"), &cert).unwrap();
    std::fs::copy(pki.path("new.key"), &key).unwrap();
    server.signal(libc::SIGHUP);
    wait_until("the new certificate is served", || {
        client
            .connect(&server.http)
            .is_ok_and(|c| c.peer() == der("new"))
    });
    let mut after = client.connect(&server.http).unwrap();
    assert_eq!(post(&mut after, "second-token"), 200);
    assert_eq!(
        post(&mut after, "first-token"),
        401,
        "the old token is gone"
    );
    // The connection from before the reload is still open and served.
    assert_eq!(post(&mut before, "second-token"), 200);
    assert_eq!(before.peer(), der("old"));

    // Without a signal: a changed file is noticed within seconds.
    std::fs::write(&tokens, "third-token-longer\n").unwrap();
    wait_until("the rewritten token file is read without SIGHUP", || {
        let mut c = client.connect(&server.http).unwrap();
        post(&mut c, "third-token-longer") == 200
    });
    // A fresh connection: `after` answered a 401 without reading the request body, after
    // which the server may close it (it cannot reuse a connection with an unread body).
    let mut fresh = client.connect(&server.http).unwrap();
    assert_eq!(post(&mut fresh, "second-token"), 401);

    // A broken replacement (the key of another certificate) keeps the working one.
    std::fs::copy(pki.path("old.key"), &key).unwrap();
    server.signal(libc::SIGHUP);
    std::thread::sleep(Duration::from_millis(500));
    let mut still = client.connect(&server.http).unwrap();
    assert_eq!(still.peer(), der("new"));
    assert_eq!(post(&mut still, "third-token-longer"), 200);
    let log = server.stop();
    assert!(log.contains("reloaded the TLS certificate"), "{log}");
    assert!(
        log.contains("failed; the previous settings stay in force"),
        "a bad reload says so: {log}"
    );
}

/// With a client CA, only clients holding a certificate it issued complete the handshake;
/// the SDK exporter presents one through OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE/_KEY.
#[test]
fn client_certificates_are_required_when_a_client_ca_is_set() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    pki.issue("server", false);
    pki.issue("exporter", true);
    let p = |n: &str| pki.path(n).to_str().unwrap().to_owned();
    let server = Server::start(
        dir.path(),
        &[
            "--tls-cert",
            &p("server.pem"),
            "--tls-key",
            &p("server.key"),
            "--tls-client-ca",
            &p("ca.pem"),
        ],
        &[],
    );
    let anonymous = Client::new(&pki.path("ca.pem"), None);
    assert!(
        anonymous
            .connect(&server.http)
            .and_then(|mut c| {
                c.tls
                    .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")?;
                let mut b = [0u8; 1];
                c.tls.read_exact(&mut b)
            })
            .is_err(),
        "a client without a certificate is refused"
    );
    let holder = Client::new(
        &pki.path("ca.pem"),
        Some((&pki.path("exporter.pem"), &pki.path("exporter.key"))),
    );
    let mut c = holder.connect(&server.admin).unwrap();
    assert_eq!(c.request("GET", "/healthz", &[], b"").0, 200);

    let (ca, cert, key) = (p("ca.pem"), p("exporter.pem"), p("exporter.key"));
    let env = [
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", ca.as_str()),
        ("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", cert.as_str()),
        ("OTEL_EXPORTER_OTLP_CLIENT_KEY", key.as_str()),
    ];
    assert!(
        spans_sent(&export(
            &["--grpc", &format!("https://{}", server.grpc)],
            &env
        )) > 0
    );
    let out = export(&["--grpc", &format!("https://{}", server.grpc)], &env[..1]);
    assert!(
        !out.status.success(),
        "the SDK without its certificate is refused"
    );
    server.stop();
}

/// The admin endpoint answers only to names a DNS-rebinding page cannot use, and with a
/// token set wants it everywhere but /healthz; `inventory --server` sends it.
#[test]
fn admin_checks_the_host_and_its_token() {
    let dir = tempfile::tempdir().unwrap();
    let admin_tokens = dir.path().join("admin-tokens");
    std::fs::write(&admin_tokens, "admin-secret-1\n").unwrap();
    let config = dir.path().join("shadowscan.toml");
    std::fs::write(
        &config,
        "[serve.admin]\ntoken_file = \"admin-tokens\"\nallowed_hosts = [\"shadowscan.internal\"]\n",
    )
    .unwrap();
    let server = Server::start(
        dir.path(),
        &[],
        &[("SHADOWSCAN_CONFIG", config.to_str().unwrap())],
    );
    let a = server.admin.as_str();
    let port = a.rsplit_once(':').unwrap().1;
    let auth = ("Authorization", "Bearer admin-secret-1");

    // A page on evil.example rebound to 127.0.0.1: the browser sends its own name.
    let evil = format!("evil.example:{port}");
    let (status, _, body) = plain_get(a, "/api/v1/inventory", &[("Host", &evil), auth]);
    assert_eq!(status, 421, "{body}");
    assert!(!body.contains("evil"), "the Host is not echoed: {body}");
    let (status, _, _) = plain_get(a, "/api/v1/inventory", &[("Host", &evil)]);
    assert_eq!(status, 421);

    for host in [
        a.to_owned(),
        format!("localhost:{port}"),
        format!("shadowscan.internal:{port}"),
    ] {
        let (status, _, body) = plain_get(a, "/api/v1/inventory", &[("Host", &host), auth]);
        assert_eq!(status, 200, "{host}: {body}");
        let (status, head, _) = plain_get(a, "/api/v1/inventory", &[("Host", &host)]);
        assert_eq!(status, 401, "{host}");
        assert!(
            head.to_ascii_lowercase()
                .contains("www-authenticate: bearer"),
            "{head}"
        );
        let (status, _, _) = plain_get(
            a,
            "/metrics",
            &[("Host", &host), ("Authorization", "Bearer admin-secret-2")],
        );
        assert_eq!(status, 401, "{host}: a wrong token");
    }
    // Probes need neither.
    let (status, _, body) = plain_get(a, "/healthz", &[("Host", &evil)]);
    assert_eq!((status, body.as_str()), (200, "ok\n"));

    // `diff --server` reads the inventory through the same endpoint.
    let diff = |token: Option<&str>| {
        let mut c = shadowscan();
        c.arg("diff")
            .arg(repo().join("fixtures/httpbin-spec.json"))
            .args(["--service", "httpbin", "--server", &format!("http://{a}")])
            // The server is empty: what is tested here is reaching it, not the traffic.
            .arg("--allow-no-traffic");
        if let Some(t) = token {
            c.env("SHADOWSCAN_ADMIN_TOKEN", t);
        }
        c.output().unwrap()
    };
    let out = diff(Some("admin-secret-1"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{stderr}");
    let out = diff(None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("401"), "{stderr}");
    server.stop();
}

/// A certificate, key or token file that cannot be used stops start-up with a message
/// naming the file, before anything listens; no token is printed.
#[test]
fn unusable_tls_or_token_files_stop_start_up_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    pki.issue("server", false);
    let p = |n: &str| pki.path(n).to_str().unwrap().to_owned();
    let empty = dir.path().join("tokens");
    std::fs::write(&empty, "# nobody yet\n").unwrap();
    let secret = dir.path().join("secret-tokens");
    std::fs::write(&secret, "sekrit-value with-space\n").unwrap();
    let cases: Vec<(Vec<String>, String)> = vec![
        (
            vec![
                "--tls-cert".into(),
                p("server.pem"),
                "--tls-key".into(),
                p("server.pem"),
            ],
            "server.pem: no private key found".into(),
        ),
        (
            vec![
                "--tls-cert".into(),
                p("server.key"),
                "--tls-key".into(),
                p("server.key"),
            ],
            "server.key: no certificate found".into(),
        ),
        (
            vec![
                "--tls-cert".into(),
                p("server.pem"),
                "--tls-key".into(),
                p("ca.key"),
            ],
            "does the key belong to the certificate?".into(),
        ),
        (
            vec!["--tokens-file".into(), empty.to_str().unwrap().into()],
            "tokens holds no token".into(),
        ),
        (
            vec!["--tokens-file".into(), secret.to_str().unwrap().into()],
            "secret-tokens: line 1".into(),
        ),
    ];
    for (args, expected) in cases {
        let ready = dir.path().join("ready.json");
        let out = shadowscan()
            .args([
                "serve",
                "--grpc-addr",
                "127.0.0.1:0",
                "--http-addr",
                "127.0.0.1:0",
            ])
            .args(["--admin-addr", "127.0.0.1:0", "--ready-file"])
            .arg(&ready)
            .arg("--db")
            .arg(dir.path().join("inventory.db"))
            .args(&args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(&expected), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("sekrit"),
            "a token is never printed: {stderr}"
        );
        assert!(!ready.exists(), "nothing listened");
    }
}
