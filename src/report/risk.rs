//! Why an endpoint deserves a look, and how urgently: each reason carries a weight, the
//! score is their sum. The weights encode one judgement: exposure (served without
//! authentication, undocumented) outweighs what the path looks like, which outweighs volume
//! and novelty, so that an unauthenticated undocumented `/admin/export` always ranks first.

use std::fmt;

use crate::diff::Severity;

/// Path words that suggest privileged or data-heavy functionality.
const SENSITIVE: &[&str] = &[
    "admin",
    "export",
    "internal",
    "debug",
    "actuator",
    "backup",
    "dump",
    "impersonate",
    "secret",
    "config",
    "env",
    "private",
    "sudo",
    "console",
    "pprof",
    "heapdump",
    "token",
    "password",
    "credential",
    "migrate",
    "shell",
    "exec",
];

/// Path words and extensions that suggest bulk responses (whole tables, archives). The
/// inventory does not record response sizes, so the path is the evidence we have.
const BULK: &[&str] = &[
    "bulk", "batch", "all", "download", "csv", "zip", "tgz", "gz", "sql", "xlsx", "ndjson",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reason {
    /// The diff found successful requests without auth evidence where auth is expected.
    Unauthenticated {
        without: u64,
        of: u64,
        /// Where the bound spec requires it (`openapi.yaml:42`), for documented endpoints.
        required_by: Option<String>,
    },
    /// No diff, but this endpoint served requests without evidence on a service that shows
    /// auth elsewhere.
    NoAuthEvidence {
        without: u64,
        of: u64,
    },
    /// Not in any spec bound to the service (the spec's file name, when known).
    Undocumented(Option<String>),
    /// Documented as deprecated, still served.
    Zombie,
    Sensitive(Vec<&'static str>),
    Bulk(&'static str),
    /// Among the busiest endpoints of the period.
    HighVolume {
        requests: u64,
    },
    /// Not seen in the previous period.
    New,
}

impl Reason {
    pub fn code(&self) -> &'static str {
        match self {
            Reason::Unauthenticated { .. } => "unauthenticated",
            Reason::NoAuthEvidence { .. } => "no_auth_evidence",
            Reason::Undocumented(_) => "undocumented",
            Reason::Zombie => "zombie",
            Reason::Sensitive(_) => "sensitive_path",
            Reason::Bulk(_) => "bulk_path",
            Reason::HighVolume { .. } => "high_volume",
            Reason::New => "new",
        }
    }

    pub fn weight(&self) -> u32 {
        match self {
            Reason::Unauthenticated { without, of, .. } if without == of => 35,
            Reason::Unauthenticated { .. } => 25,
            Reason::NoAuthEvidence { without, of } if without == of => 20,
            Reason::NoAuthEvidence { .. } => 12,
            Reason::Undocumented(_) => 30,
            Reason::Sensitive(_) => 25,
            Reason::Zombie => 15,
            Reason::Bulk(_) => 10,
            Reason::HighVolume { .. } => 10,
            Reason::New => 5,
        }
    }

    /// Whether this reason alone puts the endpoint on the risk list; volume and novelty
    /// only raise the rank of endpoints that are there for another reason.
    pub fn is_risk(&self) -> bool {
        !matches!(self, Reason::HighVolume { .. } | Reason::New)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Unauthenticated {
                without,
                of,
                required_by,
            } => {
                if without == of {
                    write!(
                        f,
                        "unauthenticated: none of {} successful request{} carried auth evidence",
                        super::text::thousands(*of),
                        plural(*of)
                    )?;
                } else {
                    write!(
                        f,
                        "partly unauthenticated: {} of {} successful requests carried no auth evidence",
                        super::text::thousands(*without),
                        super::text::thousands(*of)
                    )?;
                }
                match required_by {
                    Some(at) => write!(f, " ({at} requires authentication)"),
                    None => Ok(()),
                }
            }
            Reason::NoAuthEvidence { without, of } => write!(
                f,
                "{} of {} successful request{} without auth evidence (the service shows auth elsewhere)",
                super::text::thousands(*without),
                super::text::thousands(*of),
                plural(*of)
            ),
            Reason::Undocumented(Some(spec)) => write!(f, "undocumented: not in {spec}"),
            Reason::Undocumented(None) => {
                f.write_str("undocumented: in no spec bound to the service")
            }
            Reason::Zombie => f.write_str("deprecated in the spec, still served"),
            Reason::Sensitive(words) => {
                write!(f, "sensitive-looking path ({})", words.join(", "))
            }
            Reason::Bulk(word) => write!(f, "bulk-looking response ({word})"),
            Reason::HighVolume { requests } => write!(
                f,
                "high volume: {} requests, among the busiest 5%",
                super::text::thousands(*requests)
            ),
            Reason::New => f.write_str("new since the previous period"),
        }
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// The reasons and their total for one endpoint, highest weight first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Risk {
    pub score: u32,
    pub reasons: Vec<Reason>,
}

impl Risk {
    pub fn from_reasons(mut reasons: Vec<Reason>, severity: Option<Severity>) -> Risk {
        reasons.sort_by_key(|r| std::cmp::Reverse(r.weight()));
        let bump = match severity {
            Some(Severity::Critical) => 10,
            Some(Severity::High) => 5,
            _ => 0,
        };
        let score = reasons.iter().map(Reason::weight).sum::<u32>() + bump;
        Risk { score, reasons }
    }

    pub fn is_risky(&self) -> bool {
        self.reasons.iter().any(Reason::is_risk)
    }
}

/// Splits a template's literal text into lower-case words: on separators and camelCase
/// boundaries, skipping `{parameters}`, so `exportAllUsers.csv` gives export, all, users, csv.
fn words(template: &str, mut f: impl FnMut(&str)) {
    let mut word = String::new();
    let mut in_param = false;
    let mut prev_lower = false;
    let flush = |word: &mut String, f: &mut dyn FnMut(&str)| {
        if !word.is_empty() {
            f(word);
            word.clear();
        }
    };
    for c in template.chars() {
        match c {
            '{' => {
                flush(&mut word, &mut f);
                in_param = true;
            }
            '}' => in_param = false,
            _ if in_param => {}
            c if c.is_alphanumeric() => {
                if c.is_uppercase() && prev_lower {
                    flush(&mut word, &mut f);
                }
                prev_lower = c.is_lowercase() || c.is_ascii_digit();
                word.extend(c.to_lowercase());
            }
            _ => {
                flush(&mut word, &mut f);
                prev_lower = false;
            }
        }
    }
    flush(&mut word, &mut f);
}

fn matches_word(token: &str, w: &str) -> bool {
    token == w
        || token.strip_suffix('s') == Some(w)
        // Long stems tolerate suffixes (`exporter`, `administration`, `debugger`); short
        // ones (`env`, `all`) would match `envelope`, `allergies`.
        || (w.len() >= 5 && token.starts_with(w))
}

/// The sensitive words a template contains, in list order, without duplicates.
pub(crate) fn sensitive_words(template: &str) -> Vec<&'static str> {
    let mut found: Vec<&'static str> = Vec::new();
    words(template, |t| {
        for w in SENSITIVE {
            if matches_word(t, w) && !found.contains(w) {
                found.push(w);
            }
        }
    });
    found.sort_by_key(|w| SENSITIVE.iter().position(|s| s == w));
    found
}

/// The first bulk-suggesting word of a template, if any.
pub(crate) fn bulk_word(template: &str) -> Option<&'static str> {
    let mut found = None;
    words(template, |t| {
        if found.is_none() {
            found = BULK.iter().copied().find(|w| t == *w);
        }
    });
    found
}
