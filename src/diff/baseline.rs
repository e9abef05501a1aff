//! Baselines: findings a team has looked at and accepted, each with a reason and an optional
//! expiry date. Accepted findings are suppressed (and counted); an expired entry no longer
//! suppresses, and the finding says so. The logic is pure ("today" is passed in); file I/O
//! is confined to [`read`] and [`write`].
//!
//! TOML (default) or JSON, chosen by the file extension:
//!
//! ```toml
//! version = 1
//!
//! [[accepted]]
//! kind = "shadow"
//! service = "petstore"
//! method = "GET"
//! path = "/healthz"
//! reason = "load balancer probe, not part of the public API"
//! expires = "2027-03-31"   # optional, last day the acceptance holds
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{DiffReport, Finding, FindingKind, Suppressed};
use crate::model::{Method, PathTemplate};

/// A calendar date, `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    pub year: u16,
    pub month: u8,
    pub day: u8,
}

impl Date {
    /// The UTC date of a unix timestamp (seconds), for callers that hold a clock.
    pub fn from_unix(secs: i64) -> Date {
        // Days to civil date (Howard Hinnant's algorithm).
        let z = secs.div_euclid(86_400) + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        let year = (yoe + era * 400 + i64::from(month <= 2)) as u16;
        Date { year, month, day }
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl FromStr for Date {
    type Err = String;
    fn from_str(s: &str) -> Result<Date, String> {
        let bad = || format!("{s:?} is not a date: write YYYY-MM-DD");
        let mut it = s.trim().splitn(3, '-');
        let (y, m, d) = (it.next(), it.next(), it.next());
        let (Some(y), Some(m), Some(d)) = (y, m, d) else {
            return Err(bad());
        };
        if y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return Err(bad());
        }
        let year: u16 = y.parse().map_err(|_| bad())?;
        let month: u8 = m.parse().map_err(|_| bad())?;
        let day: u8 = d.parse().map_err(|_| bad())?;
        if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
            return Err(bad());
        }
        Ok(Date { year, month, day })
    }
}

impl Serialize for Date {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// One accepted finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub kind: FindingKind,
    pub service: String,
    pub method: Method,
    pub path: String,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<Date>,
}

impl Entry {
    fn matches(&self, f: &Finding) -> bool {
        self.kind == f.kind
            && self.method == f.method
            && self.service == f.service
            && PathTemplate::parse(&self.path).shape() == PathTemplate::parse(&f.path).shape()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    #[serde(default = "one")]
    pub version: u32,
    #[serde(default)]
    pub accepted: Vec<Entry>,
}

fn one() -> u32 {
    1
}

impl Default for Baseline {
    fn default() -> Self {
        Baseline {
            version: 1,
            accepted: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Toml,
    Json,
}

impl Format {
    /// JSON for `.json` files, TOML otherwise.
    pub fn for_path(p: &Path) -> Format {
        match p.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("json") => Format::Json,
            _ => Format::Toml,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error("{file}: cannot read baseline: {source}")]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: cannot write baseline: {source}")]
    Write {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}{}: invalid baseline: {message} (entries need kind, service, method, path, reason and optionally expires = \"YYYY-MM-DD\")", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Invalid {
        file: PathBuf,
        line: Option<usize>,
        message: String,
    },
    #[error(
        "{file}: baseline version {version} is not supported (this shadowscan reads version 1)"
    )]
    Version { file: PathBuf, version: u32 },
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Parses baseline text; `file` only names the source in errors.
pub fn parse(text: &str, format: Format, file: &Path) -> Result<Baseline, BaselineError> {
    let parsed: Result<Baseline, (Option<usize>, String)> = match format {
        Format::Toml => toml::from_str(text).map_err(|e| {
            (
                e.span().map(|s| line_of(text, s.start)),
                e.message().to_owned(),
            )
        }),
        Format::Json => serde_json::from_str(text).map_err(|e| (Some(e.line()), e.to_string())),
    };
    let b = parsed.map_err(|(line, message)| BaselineError::Invalid {
        file: file.to_owned(),
        line,
        message,
    })?;
    if b.version != 1 {
        return Err(BaselineError::Version {
            file: file.to_owned(),
            version: b.version,
        });
    }
    Ok(b)
}

pub fn render(b: &Baseline, format: Format) -> String {
    match format {
        Format::Toml => {
            let mut s = String::from(
                "# Findings accepted by the team: shadowscan suppresses them until `expires`.\n",
            );
            s.push_str(&toml::to_string_pretty(b).unwrap_or_default());
            s
        }
        Format::Json => {
            let mut s = serde_json::to_string_pretty(b).unwrap_or_default();
            s.push('\n');
            s
        }
    }
}

/// Reads a baseline file (format by extension).
pub fn read(path: &Path) -> Result<Baseline, BaselineError> {
    let text = std::fs::read_to_string(path).map_err(|source| BaselineError::Read {
        file: path.to_owned(),
        source,
    })?;
    parse(&text, Format::for_path(path), path)
}

/// Writes a baseline file (format by extension).
pub fn write(path: &Path, b: &Baseline) -> Result<(), BaselineError> {
    std::fs::write(path, render(b, Format::for_path(path))).map_err(|source| BaselineError::Write {
        file: path.to_owned(),
        source,
    })
}

/// The current findings (those that fail a build by default, plus zombies) as a baseline
/// to start from, each with the same reason for the team to edit.
pub fn from_report(report: &DiffReport, reason: &str, expires: Option<Date>) -> Baseline {
    let mut accepted: Vec<Entry> = report
        .findings
        .iter()
        .filter(|f| f.kind != FindingKind::Unobserved)
        .map(|f| Entry {
            kind: f.kind,
            service: f.service.clone(),
            method: f.method,
            path: f.path.clone(),
            reason: reason.to_owned(),
            expires,
        })
        .collect();
    accepted.dedup();
    Baseline {
        version: 1,
        accepted,
    }
}

/// Suppresses the findings the baseline accepts as of `today` (an entry holds through its
/// `expires` day). Findings matched only by expired entries stay, marked as expired.
pub fn apply(mut report: DiffReport, baseline: &Baseline, today: Date) -> DiffReport {
    let mut kept = Vec::with_capacity(report.findings.len());
    for mut f in std::mem::take(&mut report.findings) {
        let mut expired: Option<&Entry> = None;
        let mut accepted: Option<&Entry> = None;
        for e in baseline.accepted.iter().filter(|e| e.matches(&f)) {
            match e.expires {
                Some(d) if d < today => expired = expired.or(Some(e)),
                _ => {
                    accepted = Some(e);
                    break;
                }
            }
        }
        if let Some(e) = accepted {
            report.suppressed.push(Suppressed {
                finding: f,
                reason: e.reason.clone(),
                expires: e.expires.map(|d| d.to_string()),
            });
        } else {
            if let Some(e) = expired {
                let d = e.expires.map(|d| d.to_string()).unwrap_or_default();
                f.baseline_expired =
                    Some(format!("baseline acceptance expired on {d} ({})", e.reason));
                f.reason = format!("{}; baseline acceptance expired on {d}", f.reason);
            }
            kept.push(f);
        }
    }
    report.findings = kept;
    report.recount();
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::{AuthLevel, Severity, Summary};

    fn finding(kind: FindingKind, path: &str) -> Finding {
        Finding {
            kind,
            service: "petstore".into(),
            method: Method::Get,
            path: path.into(),
            severity: Severity::High,
            documented: false,
            requests: 3,
            ok_with_auth: 0,
            ok_without_auth: 3,
            auth: AuthLevel::Missing,
            evidence: vec![],
            enforced: false,
            spec_security: None,
            first_seen: Some(1),
            last_seen: Some(2),
            spec_file: None,
            spec_line: None,
            operation_id: None,
            base_path: None,
            spec_path: None,
            observed: vec![],
            examples: vec![],
            reason: "not documented".into(),
            baseline_expired: None,
        }
    }

    fn report() -> DiffReport {
        let mut r = DiffReport {
            findings: vec![
                finding(FindingKind::Shadow, "/healthz"),
                finding(FindingKind::Shadow, "/admin/users/{id}"),
                finding(FindingKind::Unauthenticated, "/admin/users/{id}"),
            ],
            suppressed: vec![],
            summary: Summary::default(),
        };
        r.recount();
        r
    }

    const TODAY: Date = Date {
        year: 2026,
        month: 11,
        day: 23,
    };

    #[test]
    fn accepted_findings_are_suppressed_and_counted() {
        let b = parse(
            r#"
version = 1
[[accepted]]
kind = "shadow"
service = "petstore"
method = "GET"
path = "/healthz/"
reason = "load balancer probe"

[[accepted]]
kind = "shadow"
service = "petstore"
method = "GET"
path = "/admin/users/{userId}"
reason = "admin console, tracked in SEC-12"
expires = "2026-11-23"
"#,
            Format::Toml,
            Path::new("b.toml"),
        )
        .unwrap();
        let r = apply(report(), &b, TODAY);
        assert_eq!(r.summary.suppressed, 2);
        assert_eq!(r.summary.shadow, 0);
        assert_eq!(
            r.summary.unauthenticated, 1,
            "another kind on the same path is not accepted"
        );
        assert_eq!(r.suppressed[1].expires.as_deref(), Some("2026-11-23"));
        assert!(!r.fails(&[FindingKind::Shadow]));
    }

    #[test]
    fn expired_entries_fail_again_and_say_so() {
        let mut b = from_report(&report(), "accepted", Some("2026-11-22".parse().unwrap()));
        b.accepted.retain(|e| e.kind == FindingKind::Shadow);
        let r = apply(report(), &b, TODAY);
        assert_eq!(r.summary.suppressed, 0);
        assert_eq!(r.summary.expired, 2);
        assert!(r.findings[0].reason.contains("expired on 2026-11-22"));
        assert!(r.fails(&[FindingKind::Shadow]));
    }

    #[test]
    fn written_baseline_reads_back_in_both_formats() {
        let b = from_report(&report(), "triaged", None);
        assert_eq!(b.accepted.len(), 3);
        for f in [Format::Toml, Format::Json] {
            let back = parse(&render(&b, f), f, Path::new("x")).unwrap();
            assert_eq!(back, b);
            assert!(apply(report(), &back, TODAY).findings.is_empty());
        }
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("baseline.json");
        write(&p, &b).unwrap();
        assert_eq!(read(&p).unwrap(), b);
    }

    #[test]
    fn bad_baselines_name_file_and_line() {
        let e = parse(
            "version = 1\n[[accepted]]\nkind = \"ghost\"\n",
            Format::Toml,
            Path::new("ci/baseline.toml"),
        )
        .unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("ci/baseline.toml:3"), "{msg}");
        let e = parse("[[accepted]]\nkind=\"shadow\"\nservice=\"a\"\nmethod=\"GET\"\npath=\"/\"\nreason=\"r\"\nexpires=\"31/12/2026\"\n", Format::Toml, Path::new("b.toml")).unwrap_err();
        assert!(e.to_string().contains("YYYY-MM-DD"), "{e}");
        let e = parse("version = 2\n", Format::Toml, Path::new("b.toml")).unwrap_err();
        assert!(matches!(e, BaselineError::Version { version: 2, .. }));
        assert!(matches!(
            read(Path::new("/nonexistent/b.toml")),
            Err(BaselineError::Read { .. })
        ));
    }

    #[test]
    fn dates() {
        assert_eq!(Date::from_unix(0).to_string(), "1970-01-01");
        assert_eq!(Date::from_unix(1_763_856_000).to_string(), "2025-11-23");
        assert_eq!(Date::from_unix(951_782_400).to_string(), "2000-02-29");
        assert!("2026-1-01".parse::<Date>().is_err());
        assert!("2026-13-01".parse::<Date>().is_err());
        assert!("2026-12-31".parse::<Date>().unwrap() > TODAY);
    }
}
