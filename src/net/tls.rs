//! TLS for the listeners: a certificate chain, its key and optionally the CA that client
//! certificates must chain to, all PEM files, reloaded when they change (or on SIGHUP).
//! A reload only affects handshakes that start after it: open connections keep the
//! session they negotiated. A reload that fails (a key written before its certificate, a
//! certificate that does not match its key) keeps the configuration in use and says why.
//!
//! rustls with the `ring` provider; TLS 1.2 and 1.3.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use rustls::server::WebPkiClientVerifier;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// The PEM files a TLS configuration is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The server's certificate chain, leaf first.
    pub cert: PathBuf,
    /// Its private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// When set, clients must present a certificate issued by one of these CAs.
    pub client_ca: Option<PathBuf>,
}

/// Which application protocols a listener offers in ALPN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alpn {
    /// gRPC: HTTP/2 only (gRPC clients refuse a TLS connection that did not select `h2`).
    H2,
    /// OTLP/HTTP and the admin endpoint: HTTP/2 or HTTP/1.1.
    Http,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{}: cannot read the TLS file: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Pem { path: PathBuf, message: String },
    #[error("TLS configuration from {} and {}: {message}", cert.display(), key.display())]
    Config {
        cert: PathBuf,
        key: PathBuf,
        message: String,
    },
}

/// A TLS configuration that can be swapped while listeners use it.
pub struct Tls {
    files: TlsFiles,
    current: RwLock<Loaded>,
}

struct Loaded {
    stamp: Stamp,
    h2: Arc<ServerConfig>,
    http: Arc<ServerConfig>,
}

/// Modification time and length of each file: a change in either means reload.
type Stamp = Vec<Option<(SystemTime, u64)>>;

impl Tls {
    /// Reads and checks the files; an error names the file and what is wrong with it.
    pub fn load(files: TlsFiles) -> Result<Tls, TlsError> {
        let loaded = load(&files)?;
        Ok(Tls {
            files,
            current: RwLock::new(loaded),
        })
    }

    pub fn files(&self) -> &TlsFiles {
        &self.files
    }

    /// An acceptor with the configuration in force now, for one new connection.
    pub fn acceptor(&self, alpn: Alpn) -> TlsAcceptor {
        let current = self.current.read().unwrap_or_else(|p| p.into_inner());
        TlsAcceptor::from(match alpn {
            Alpn::H2 => current.h2.clone(),
            Alpn::Http => current.http.clone(),
        })
    }

    /// Re-reads the files when `force` or when any changed since they were last read.
    /// `Ok(true)` when a new configuration is in force.
    pub fn reload(&self, force: bool) -> Result<bool, TlsError> {
        if !force {
            let now = stamp(&self.files);
            let current = self.current.read().unwrap_or_else(|p| p.into_inner());
            if now == current.stamp {
                return Ok(false);
            }
        }
        let loaded = load(&self.files)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = loaded;
        Ok(true)
    }
}

fn paths(files: &TlsFiles) -> impl Iterator<Item = &Path> {
    [
        Some(&files.cert),
        Some(&files.key),
        files.client_ca.as_ref(),
    ]
    .into_iter()
    .flatten()
    .map(PathBuf::as_path)
}

fn stamp(files: &TlsFiles) -> Stamp {
    paths(files)
        .map(|p| {
            let m = std::fs::metadata(p).ok()?;
            Some((m.modified().ok()?, m.len()))
        })
        .collect()
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            path: path.to_owned(),
            message: format!("not a PEM certificate file: {e}"),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Pem {
            path: path.to_owned(),
            message: "no certificate found (expected `-----BEGIN CERTIFICATE-----` blocks)".into(),
        });
    }
    Ok(certs)
}

fn load(files: &TlsFiles) -> Result<Loaded, TlsError> {
    // Stamped before reading: a file replaced while it is read is read again next time.
    let stamp = stamp(files);
    let certs = certificates(&files.cert)?;
    let key_pem = read(&files.key)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| TlsError::Pem {
        path: files.key.clone(),
        message: format!(
            "no private key found (expected a PEM `PRIVATE KEY`, `RSA PRIVATE KEY` or `EC PRIVATE KEY` block): {e}"
        ),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config_error = |message: String| TlsError::Config {
        cert: files.cert.clone(),
        key: files.key.clone(),
        message,
    };
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| config_error(e.to_string()))?;
    let builder = match &files.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in certificates(ca)? {
                roots.add(cert).map_err(|e| TlsError::Pem {
                    path: ca.clone(),
                    message: format!("not a usable CA certificate: {e}"),
                })?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| TlsError::Pem {
                    path: ca.clone(),
                    message: format!("cannot verify client certificates with it: {e}"),
                })?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut http = builder
        .with_single_cert(certs, key)
        .map_err(|e| config_error(format!("{e} (does the key belong to the certificate?)")))?;
    let mut h2 = http.clone();
    h2.alpn_protocols = vec![b"h2".to_vec()];
    http.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Loaded {
        stamp,
        h2: Arc::new(h2),
        http: Arc::new(http),
    })
}
