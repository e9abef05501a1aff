//! Learning templates from a service's traffic: a path position whose many distinct literal
//! values share exactly the same rest of the path is a parameter even when every value looks
//! like a word (`/users/octocat/repos`, `/users/torvalds/repos`, ...). Per-segment inference
//! cannot see this; only the set of observed endpoints can.
//!
//! Decisions are made on distinct-value counts over the whole input, all merges of a round
//! applied at once, rounds repeated to a fixpoint: the result does not depend on input order,
//! and more traffic can only add merges (a monotone threshold), so templates do not flip-flop
//! between runs. The first segment and version segments are never merged.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use super::infer::is_version;
use crate::model::{Method, PathTemplate, Segment};

/// Thresholds for learning parameters from traffic (`[normalize.learn]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LearnRules {
    /// Fewest distinct literal values, at one position with the same rest of the path, for
    /// the position to become a parameter...
    pub min_distinct: usize,
    /// ...when at least this many of them look like data rather than names (they hold digits,
    /// `@`, percent-encoding, spaces or non-ASCII: `alice-1`, `cedar42`).
    pub min_irregular: usize,
    /// Fewest distinct values to merge even when all of them look like plain words. High on
    /// purpose: real APIs have dozens of literal sub-resources side by side
    /// (`/repos/{owner}/{repo}/issues`, `/pulls`, `/stargazers`...).
    pub min_distinct_words: usize,
    /// Most endpoints considered (the first in template order); bounds time and memory.
    pub max_endpoints: usize,
}

impl Default for LearnRules {
    fn default() -> Self {
        LearnRules {
            min_distinct: 8,
            min_irregular: 2,
            min_distinct_words: 100,
            max_endpoints: 200_000,
        }
    }
}

/// Endpoints of the input that fold into one learned template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merge {
    pub method: Method,
    /// The learned template (canonical).
    pub template: PathTemplate,
    /// Indices into the input slice of the endpoints folded into `template`, ascending.
    pub members: Vec<usize>,
    /// Sum of the members' request counts.
    pub requests: u64,
    /// Why, for people: `segment 2: 14 distinct values before /repos`.
    pub explanation: String,
}

const MAX_SEGMENTS: usize = 32;

/// Finds positions that are parameters by the evidence of many distinct values, for one
/// service's observed endpoints `(method, template, requests)`.
///
/// Returns one [`Merge`] per (method, learned template) for the endpoints whose template
/// changes; endpoints not mentioned keep theirs. `keep_literal` lists templates that must stay
/// as they are (configured literal overrides, documented paths): they are neither merged nor
/// counted as evidence. Deterministic and independent of input order; output sorted by
/// template then method.
pub fn merge_high_cardinality(
    endpoints: &[(Method, PathTemplate, u64)],
    rules: &LearnRules,
    keep_literal: &[PathTemplate],
) -> Vec<Merge> {
    // Which inputs take part: bounded, chosen by template order so the choice is stable.
    let mut order: Vec<usize> = (0..endpoints.len())
        .filter(|&i| {
            let t = &endpoints[i].1;
            t.segment_count() <= MAX_SEGMENTS && !keep_literal.contains(t)
        })
        .collect();
    order.sort_by(|&a, &b| {
        (&endpoints[a].1, endpoints[a].0).cmp(&(&endpoints[b].1, endpoints[b].0))
    });
    order.truncate(rules.max_endpoints);

    let mut segs: Vec<Vec<String>> = order
        .iter()
        .map(|&i| endpoints[i].1.segments().map(seg_text).collect())
        .collect();
    let mut why: Vec<BTreeMap<usize, String>> = vec![BTreeMap::new(); segs.len()];

    for _round in 0..MAX_SEGMENTS {
        let mut groups: HashMap<(usize, String), Group> = HashMap::new();
        for s in &segs {
            for pos in 1..s.len() {
                let (slot, ext) = slot_of(&s[pos]);
                let g = groups.entry((pos, skeleton(s, pos, ext))).or_default();
                match slot {
                    Slot::Param(name) => {
                        g.names.insert(name.to_string());
                    }
                    Slot::Value(v) => {
                        g.values.insert(v.to_string());
                    }
                    Slot::Version => {}
                    Slot::Blocked => g.blocked = true,
                }
            }
        }
        // Decide every position against this round's groups, then apply them all at once:
        // the outcome must not depend on which endpoint or position is visited first.
        let mut decided: Vec<(usize, usize, String, String)> = Vec::new();
        for (k, s) in segs.iter().enumerate() {
            for pos in 1..s.len() {
                let (slot, ext) = slot_of(&s[pos]);
                if !matches!(slot, Slot::Value(_)) {
                    continue;
                }
                let Some(g) = groups.get(&(pos, skeleton(s, pos, ext))) else {
                    continue;
                };
                if !g.qualifies(rules) {
                    continue;
                }
                let name = g.names.iter().next().map_or("param", String::as_str);
                let why = format!(
                    "segment {}: {} distinct values share the rest of the path",
                    pos + 1,
                    g.values.len()
                );
                decided.push((k, pos, format!("{{{name}}}{ext}"), why));
            }
        }
        let changed = !decided.is_empty();
        for (k, pos, seg, reason) in decided {
            segs[k][pos] = seg;
            why[k].insert(pos, reason);
        }
        if !changed {
            break;
        }
    }

    let mut out: BTreeMap<(PathTemplate, Method), Merge> = BTreeMap::new();
    for (k, &i) in order.iter().enumerate() {
        if why[k].is_empty() {
            continue;
        }
        let (method, _, requests) = &endpoints[i];
        let mut text = String::new();
        for s in &segs[k] {
            text.push('/');
            text.push_str(s);
        }
        let template = PathTemplate::parse(&text);
        let m = out
            .entry((template.clone(), *method))
            .or_insert_with(|| Merge {
                method: *method,
                template,
                members: Vec::new(),
                requests: 0,
                explanation: why[k].values().cloned().collect::<Vec<_>>().join("; "),
            });
        m.members.push(i);
        m.requests += requests;
    }
    out.into_values()
        .map(|mut m| {
            m.members.sort_unstable();
            m
        })
        .collect()
}

#[derive(Default)]
struct Group {
    values: BTreeSet<String>,
    names: BTreeSet<String>,
    /// A mixed segment sits at this position: the values are not plain alternatives.
    blocked: bool,
}

impl Group {
    fn qualifies(&self, rules: &LearnRules) -> bool {
        if self.blocked {
            return false;
        }
        let distinct = self.values.len();
        if distinct >= rules.min_distinct_words.max(1) {
            return true;
        }
        distinct >= rules.min_distinct.max(2)
            && self.values.iter().filter(|v| irregular(v)).count() >= rules.min_irregular
    }
}

/// Looks like data rather than a resource name.
fn irregular(v: &str) -> bool {
    v.bytes()
        .any(|b| b.is_ascii_digit() || matches!(b, b'@' | b'%' | b' ') || b >= 0x80)
}

fn seg_text(s: Segment<'_>) -> String {
    match s {
        Segment::Literal(t) | Segment::Mixed(t) => t.to_string(),
        Segment::Param(p) => format!("{{{p}}}"),
    }
}

/// The path with position `pos` blanked (keeping a format extension, so `/u/alice.json` and
/// `/u/bob.json` share `/u/\u{1}.json`); parameters compare by shape, not name.
fn skeleton(s: &[String], pos: usize, ext: &str) -> String {
    let mut k = String::with_capacity(64);
    for (i, seg) in s.iter().enumerate() {
        k.push('/');
        if i == pos {
            k.push('\u{1}');
            k.push_str(ext);
        } else if seg.starts_with('{') && seg.ends_with('}') {
            k.push_str("{}");
        } else {
            k.push_str(seg);
        }
    }
    k
}

/// What a segment contributes to its position's group.
enum Slot<'a> {
    /// A parameter already (`{id}`, or `{id}` before a format extension).
    Param(&'a str),
    /// A literal value (its stem when it ends in a format extension).
    Value(&'a str),
    /// A version segment: never merged, no evidence either way.
    Version,
    /// Some other mixed segment: the position is not a plain alternative.
    Blocked,
}

/// Response-format extensions that belong to the route, not the value (`/u/{username}.json`).
const FORMAT_EXTENSIONS: [&str; 16] = [
    "json", "xml", "html", "htm", "csv", "txt", "pdf", "yaml", "yml", "rss", "atom", "png", "jpg",
    "jpeg", "svg", "zip",
];

fn format_ext(v: &str) -> Option<(&str, &str)> {
    let dot = v.rfind('.')?;
    let ext = &v[dot + 1..];
    (dot > 0
        && FORMAT_EXTENSIONS
            .iter()
            .any(|e| e.eq_ignore_ascii_case(ext)))
    .then(|| (&v[..dot], &v[dot..]))
}

fn slot_of(seg: &str) -> (Slot<'_>, &str) {
    match Segment::classify(seg) {
        Segment::Param(name) => (Slot::Param(name), ""),
        Segment::Literal(v) if is_version(v.as_bytes()) => (Slot::Version, ""),
        Segment::Literal(v) => match format_ext(v) {
            Some((stem, ext)) => (Slot::Value(stem), ext),
            None => (Slot::Value(v), ""),
        },
        Segment::Mixed(m) => {
            // `{id}.json`: a parameter before a format extension
            if let (Some(rest), Some(close)) = (m.strip_prefix('{'), m.find('}')) {
                let name = &rest[..close - 1];
                let ext = &m[close + 1..];
                if !name.contains('{') && format_ext(&format!("x{ext}")).is_some() {
                    return (Slot::Param(name), ext);
                }
            }
            (Slot::Blocked, "")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn eps(list: &[(&str, &str)]) -> Vec<(Method, PathTemplate, u64)> {
        list.iter()
            .map(|(m, t)| (Method::parse(m), PathTemplate::parse(t), 3))
            .collect()
    }

    const USERS: [&str; 10] = [
        "octocat", "torvalds", "alice-1", "bob42", "carol", "dave-7", "erin", "frank99", "grace",
        "heidi-3",
    ];

    #[test]
    fn many_usernames_with_the_same_subpath_become_a_parameter() {
        let mut list = Vec::new();
        for u in USERS {
            list.push(("GET", format!("/users/{u}/repos")));
        }
        list.push(("GET", "/users/me/settings".to_string()));
        let input: Vec<_> = list
            .iter()
            .map(|(m, t)| (Method::parse(m), PathTemplate::parse(t), 2))
            .collect();
        let merges = merge_high_cardinality(&input, &LearnRules::default(), &[]);
        assert_eq!(merges.len(), 1);
        let m = &merges[0];
        assert_eq!(m.template.as_str(), "/users/{param}/repos");
        assert_eq!(m.members, (0..10).collect::<Vec<_>>());
        assert_eq!(m.requests, 20);
        assert!(
            m.explanation.contains("segment 2: 10 distinct values"),
            "{}",
            m.explanation
        );
    }

    #[test]
    fn format_extensions_stay_on_the_route() {
        let mut input: Vec<_> = USERS
            .iter()
            .map(|u| (Method::Get, PathTemplate::parse(&format!("/u/{u}.json")), 1))
            .collect();
        input.push((Method::Get, PathTemplate::parse("/u/{param}.json"), 1));
        input.push((Method::Get, PathTemplate::parse("/u/summary.xml"), 1));
        let merges = merge_high_cardinality(&input, &LearnRules::default(), &[]);
        assert_eq!(merges.len(), 1);
        assert_eq!(merges[0].template.as_str(), "/u/{param}.json");
        assert_eq!(merges[0].members, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn few_values_or_different_subpaths_stay_literal() {
        // resource names: each with its own sub-path, plain words
        let input = eps(&[
            ("GET", "/api/users"),
            ("GET", "/api/users/{id}"),
            ("GET", "/api/orders"),
            ("GET", "/api/orders/{id}/items"),
            ("GET", "/api/products"),
            ("GET", "/api/health"),
            ("GET", "/api/metrics"),
            ("GET", "/api/search"),
            ("GET", "/api/version"),
            ("GET", "/api/status"),
        ]);
        assert!(merge_high_cardinality(&input, &LearnRules::default(), &[]).is_empty());
        // too few values
        let few: Vec<_> = USERS[..5]
            .iter()
            .map(|u| (Method::Get, PathTemplate::parse(&format!("/users/{u}")), 1))
            .collect();
        assert!(merge_high_cardinality(&few, &LearnRules::default(), &[]).is_empty());
    }

    #[test]
    fn dozens_of_plain_word_subresources_stay_literal() {
        let words = [
            "issues",
            "pulls",
            "commits",
            "branches",
            "tags",
            "releases",
            "forks",
            "stargazers",
            "subscribers",
            "topics",
            "languages",
            "contributors",
            "collaborators",
            "hooks",
            "keys",
            "labels",
            "milestones",
            "projects",
            "deployments",
            "environments",
        ];
        let input: Vec<_> = words
            .iter()
            .map(|w| {
                (
                    Method::Get,
                    PathTemplate::parse(&format!("/repos/{{owner}}/{{repo}}/{w}")),
                    5,
                )
            })
            .collect();
        assert!(merge_high_cardinality(&input, &LearnRules::default(), &[]).is_empty());
    }

    #[test]
    fn nested_word_parameters_merge_to_a_fixpoint() {
        // /repos/{owner}/{repo}: each owner has its own repos, so only after the repo position
        // is merged do the owners share a rest of the path (a second round).
        let owners = [
            "alpha", "bravo-2", "cedar42", "delta", "echo-9", "fox", "golf11", "hotel",
        ];
        let repos = [
            "my-repo-12",
            "ember.js",
            "core",
            "web-3",
            "api",
            "nova7",
            "pixel",
            "tango-1",
        ];
        let mut input = Vec::new();
        for o in owners {
            for r in repos {
                input.push((
                    Method::Get,
                    PathTemplate::parse(&format!("/repos/{o}/{r}-{o}")),
                    1,
                ));
            }
        }
        let merges = merge_high_cardinality(&input, &LearnRules::default(), &[]);
        let templates: BTreeSet<_> = merges.iter().map(|m| m.template.as_str()).collect();
        assert_eq!(templates, BTreeSet::from(["/repos/{param}/{param}"]));
        let members: usize = merges.iter().map(|m| m.members.len()).sum();
        assert_eq!(members, input.len());
    }

    #[test]
    fn first_and_version_segments_never_merge_and_literals_can_be_kept() {
        let mut input = Vec::new();
        for u in USERS {
            input.push((
                Method::Get,
                PathTemplate::parse(&format!("/{u}/profile")),
                1,
            ));
            input.push((
                Method::Get,
                PathTemplate::parse(&format!("/api/v{}/status", u.len())),
                1,
            ));
        }
        assert!(merge_high_cardinality(&input, &LearnRules::default(), &[]).is_empty());

        let mut input: Vec<_> = USERS
            .iter()
            .map(|u| (Method::Get, PathTemplate::parse(&format!("/users/{u}")), 1))
            .collect();
        input.push((Method::Get, PathTemplate::parse("/users/me"), 1));
        let keep = [PathTemplate::parse("/users/me")];
        let merges = merge_high_cardinality(&input, &LearnRules::default(), &keep);
        assert_eq!(merges.len(), 1);
        assert!(
            !merges[0].members.contains(&10),
            "/users/me is kept literal"
        );
    }

    #[test]
    fn existing_parameter_names_are_reused() {
        let mut input: Vec<_> = USERS
            .iter()
            .map(|u| (Method::Get, PathTemplate::parse(&format!("/users/{u}")), 1))
            .collect();
        input.push((Method::Get, PathTemplate::parse("/users/{id}"), 1));
        let merges = merge_high_cardinality(&input, &LearnRules::default(), &[]);
        assert_eq!(merges[0].template.as_str(), "/users/{id}");
        assert!(
            !merges[0].members.contains(&10),
            "unchanged inputs are not reported"
        );
    }

    #[test]
    fn more_traffic_only_adds_merges() {
        let rules = LearnRules::default();
        let mut input = Vec::new();
        let mut seen_merged = false;
        for u in USERS.iter().chain(["ivan1", "judy2", "kim-3"].iter()) {
            input.push((
                Method::Get,
                PathTemplate::parse(&format!("/users/{u}/repos")),
                1,
            ));
            let merged = !merge_high_cardinality(&input, &rules, &[]).is_empty();
            assert!(!seen_merged || merged, "a merge was undone by more traffic");
            seen_merged |= merged;
        }
        assert!(seen_merged);
    }

    proptest! {
        #[test]
        fn stable_under_permutation(
            vals in proptest::collection::vec("[a-z]{2,6}[0-9]{0,2}", 1..30),
            subs in proptest::collection::vec(prop_oneof!["repos", "keys", ""], 1..3),
            seed in any::<u64>(),
        ) {
            let mut input = Vec::new();
            for (i, v) in vals.iter().enumerate() {
                let sub = &subs[i % subs.len()];
                input.push((Method::ALL[i % 3], PathTemplate::parse(&format!("/users/{v}/{sub}")), i as u64));
            }
            let rules = LearnRules { min_distinct: 4, ..Default::default() };
            let a = merge_high_cardinality(&input, &rules, &[]);
            // a deterministic shuffle
            let mut idx: Vec<usize> = (0..input.len()).collect();
            let mut s = seed | 1;
            for i in (1..idx.len()).rev() {
                s ^= s << 13; s ^= s >> 7; s ^= s << 17;
                idx.swap(i, (s % (i as u64 + 1)) as usize);
            }
            let shuffled: Vec<_> = idx.iter().map(|&i| input[i].clone()).collect();
            let b = merge_high_cardinality(&shuffled, &rules, &[]);
            let norm = |ms: Vec<Merge>, map: &dyn Fn(usize) -> usize| {
                ms.into_iter().map(|m| {
                    let mut mem: Vec<usize> = m.members.iter().map(|&i| map(i)).collect();
                    mem.sort_unstable();
                    (m.method, m.template, mem, m.requests, m.explanation)
                }).collect::<Vec<_>>()
            };
            prop_assert_eq!(norm(a, &|i| i), norm(b, &|i| idx[i]));
        }
    }
}

#[cfg(test)]
mod scale {
    use super::*;

    /// Prints the time to learn over 100,000 endpoints; asserts only the result. Run with
    /// `cargo test --release --lib normalize::learn::scale -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn hundred_thousand_endpoints() {
        let mut input = Vec::with_capacity(100_000);
        let mut x: u64 = 0x9e3779b97f4a7c15;
        for i in 0..100_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let t = match i % 4 {
                0 => format!("/users/user{}/repos", x % 50_000),
                1 => format!("/repos/owner{}/repo-{}", x % 3000, (x >> 20) % 40),
                2 => format!("/api/v1/items/{}", x % 1000),
                _ => format!("/static/{}/app.js", x % 700),
            };
            input.push((Method::Get, PathTemplate::parse(&t), 1 + i % 7));
        }
        let start = std::time::Instant::now();
        let merges = merge_high_cardinality(&input, &LearnRules::default(), &[]);
        let el = start.elapsed();
        let folded: usize = merges.iter().map(|m| m.members.len()).sum();
        println!(
            "{} endpoints -> {} learned templates folding {} endpoints in {:?}",
            input.len(),
            merges.len(),
            folded,
            el
        );
        let templates: BTreeSet<_> = merges.iter().map(|m| m.template.as_str()).collect();
        assert!(templates.contains("/users/{param}/repos"), "{templates:?}");
        assert!(
            templates.contains("/repos/{param}/{param}"),
            "{templates:?}"
        );
    }
}
