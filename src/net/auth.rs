//! Bearer tokens: the set of tokens a listener accepts in `authorization: Bearer <token>`
//! (what the OpenTelemetry Collector's `bearertokenauth` extension and its `headers`
//! setting send), read from a file that can be rewritten to rotate them without a restart
//! and from an environment variable.
//!
//! Only SHA-256 digests of the tokens are kept, and a presented token is compared with
//! every one of them in constant time, so neither timing nor a memory dump reveals a token;
//! no error or log line ever contains one.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use ring::digest::{digest, SHA256};
use subtle::ConstantTimeEq;

type Digest = [u8; 32];
/// Modification time and length: a change in either means re-read.
type Stamp = Option<(SystemTime, u64)>;

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("{}: cannot read the token file: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: line {line}: a token cannot contain spaces or control characters", path.display())]
    Invalid { path: PathBuf, line: usize },
    #[error("{what} holds no token: every request would be refused (one token a line; `#` starts a comment)")]
    Empty { what: String },
}

/// The tokens one listener accepts.
pub struct Tokens {
    file: Option<PathBuf>,
    /// From the environment: fixed for the life of the process.
    fixed: Vec<Digest>,
    current: RwLock<Current>,
}

struct Current {
    stamp: Stamp,
    digests: Arc<Vec<Digest>>,
}

impl Tokens {
    /// The tokens in `file` (one a line; blank lines and lines starting with `#` are
    /// skipped) and in `env` (`(variable name, comma-separated tokens)`), or `None` when
    /// neither is given.
    pub fn load(
        file: Option<&Path>,
        env: Option<(&str, &str)>,
    ) -> Result<Option<Tokens>, TokenError> {
        if file.is_none() && env.is_none() {
            return Ok(None);
        }
        let fixed: Vec<Digest> = env
            .into_iter()
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(hash)
            .collect();
        let (stamp, from_file) = match file {
            Some(f) => read_file(f)?,
            None => (None, Vec::new()),
        };
        if fixed.is_empty() && from_file.is_empty() {
            return Err(TokenError::Empty {
                what: file.map_or_else(
                    || env.map_or("the token list", |(name, _)| name).to_owned(),
                    |f| f.display().to_string(),
                ),
            });
        }
        Ok(Some(Tokens {
            file: file.map(Path::to_owned),
            fixed,
            current: RwLock::new(Current {
                stamp,
                digests: Arc::new(from_file),
            }),
        }))
    }

    /// Whether `headers` carry `authorization: Bearer <token>` with a token of this set.
    pub fn allows(&self, headers: &axum::http::HeaderMap) -> bool {
        let Some(presented) = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| bearer(v.as_bytes()))
        else {
            return false;
        };
        let presented = hash_bytes(presented);
        let from_file = self
            .current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .digests
            .clone();
        // Every digest is compared, so the time taken does not tell which one matched.
        let mut ok = subtle::Choice::from(0);
        for d in self.fixed.iter().chain(from_file.iter()) {
            ok |= d.ct_eq(&presented);
        }
        ok.into()
    }

    /// Re-reads the token file when `force` or when it changed; `Ok(true)` when a new set
    /// is in force. On error the tokens in force stay.
    pub fn reload(&self, force: bool) -> Result<bool, TokenError> {
        let Some(file) = &self.file else {
            return Ok(false);
        };
        if !force {
            let now = file_stamp(file);
            let current = self.current.read().unwrap_or_else(|p| p.into_inner());
            if now == current.stamp {
                return Ok(false);
            }
        }
        let (stamp, digests) = read_file(file)?;
        if digests.is_empty() && self.fixed.is_empty() {
            return Err(TokenError::Empty {
                what: file.display().to_string(),
            });
        }
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Current {
            stamp,
            digests: Arc::new(digests),
        };
        Ok(true)
    }

    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }
}

/// The token of an `Authorization` value using the Bearer scheme (case-insensitive, RFC 7235).
fn bearer(value: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = value.split_at_checked(6)?;
    if !scheme.eq_ignore_ascii_case(b"bearer") || rest.first() != Some(&b' ') {
        return None;
    }
    let token = rest.trim_ascii();
    (!token.is_empty()).then_some(token)
}

fn hash(token: &str) -> Digest {
    hash_bytes(token.as_bytes())
}

fn hash_bytes(token: &[u8]) -> Digest {
    digest(&SHA256, token)
        .as_ref()
        .try_into()
        .expect("SHA-256 is 32 bytes")
}

fn file_stamp(path: &Path) -> Stamp {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

fn read_file(path: &Path) -> Result<(Stamp, Vec<Digest>), TokenError> {
    let stamp = file_stamp(path);
    let text = std::fs::read_to_string(path).map_err(|source| TokenError::Read {
        path: path.to_owned(),
        source,
    })?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let token = line.trim();
        if token.is_empty() || token.starts_with('#') {
            continue;
        }
        if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(TokenError::Invalid {
                path: path.to_owned(),
                line: i + 1,
            });
        }
        out.push(hash(token));
    }
    Ok((stamp, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> axum::http::HeaderMap {
        let mut h = axum::http::HeaderMap::new();
        h.insert(axum::http::header::AUTHORIZATION, value.parse().unwrap());
        h
    }

    #[test]
    fn bearer_scheme_is_case_insensitive_and_needs_a_token() {
        assert_eq!(bearer(b"Bearer abc"), Some(&b"abc"[..]));
        assert_eq!(bearer(b"bearer  abc "), Some(&b"abc"[..]));
        assert_eq!(bearer(b"Basic abc"), None);
        assert_eq!(bearer(b"Bearerabc"), None);
        assert_eq!(bearer(b"Bearer "), None);
        assert_eq!(bearer(b"Bear"), None);
    }

    #[test]
    fn file_and_environment_tokens_are_all_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("tokens");
        std::fs::write(&f, "# exporters\n\n  tok-file-1  \ntok-file-2\n").unwrap();
        let t = Tokens::load(
            Some(&f),
            Some(("SHADOWSCAN_TOKENS", "tok-env-1, tok-env-2,")),
        )
        .unwrap()
        .unwrap();
        for ok in ["tok-file-1", "tok-file-2", "tok-env-1", "tok-env-2"] {
            assert!(t.allows(&headers(&format!("Bearer {ok}"))), "{ok}");
        }
        for bad in [
            "tok-file",
            "tok-file-1x",
            "# exporters",
            "",
            "Basic tok-env-1",
        ] {
            assert!(!t.allows(&headers(&format!("Bearer {bad}"))), "{bad}");
        }
        assert!(!t.allows(&headers("Basic tok-env-1")));
        assert!(!t.allows(&axum::http::HeaderMap::new()));
    }

    #[test]
    fn rotation_takes_effect_on_reload_and_a_bad_file_keeps_the_old_set() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("tokens");
        std::fs::write(&f, "old\n").unwrap();
        let t = Tokens::load(Some(&f), None).unwrap().unwrap();
        assert!(!t.reload(false).unwrap(), "unchanged file: nothing to do");
        std::fs::write(&f, "new-token\nnewer\n").unwrap();
        assert!(t.reload(false).unwrap());
        assert!(t.allows(&headers("Bearer new-token")));
        assert!(!t.allows(&headers("Bearer old")));

        std::fs::write(&f, "# all commented out\n").unwrap();
        let err = t.reload(true).unwrap_err().to_string();
        assert!(err.contains("holds no token"), "{err}");
        assert!(t.allows(&headers("Bearer newer")), "the old set stays");

        std::fs::write(&f, "has space\n").unwrap();
        let err = t.reload(true).unwrap_err().to_string();
        assert!(err.contains("line 1"), "{err}");
        assert!(
            !err.contains("has space"),
            "a token is never printed: {err}"
        );
    }

    #[test]
    fn no_source_means_no_authentication_and_an_empty_source_is_an_error() {
        assert!(Tokens::load(None, None).unwrap().is_none());
        let err = Tokens::load(None, Some(("SHADOWSCAN_TOKENS", " , ")))
            .err()
            .unwrap()
            .to_string();
        assert!(err.starts_with("SHADOWSCAN_TOKENS holds no token"), "{err}");
    }
}
