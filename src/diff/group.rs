//! Grouping of undocumented paths whose parameters inference could not see: a position whose
//! many distinct literal values lead to the same shape of sub-paths is a parameter, even when
//! each value looks like a word (`/internal/users/alpha`, `/internal/users/bravo-12`). The
//! first segment, version segments and segments the spec vouches for never become one.

use std::collections::BTreeMap;

/// Thresholds for turning sibling literals into a parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupingOptions {
    /// Distinct siblings needed when they share a non-empty sub-path shape.
    pub min_siblings: usize,
    /// Distinct siblings needed when they are all leaves (nothing below them): a leaf
    /// position is more often a set of distinct actions (`/debug/vars`, `/debug/pprof`).
    pub min_leaf_siblings: usize,
    /// Siblings that look like values (digits, dots, spaces, `@`, percent-encoding) rather
    /// than route words needed to make the whole group a parameter.
    pub min_valuelike_siblings: usize,
}

impl Default for GroupingOptions {
    fn default() -> Self {
        GroupingOptions {
            min_siblings: 4,
            min_leaf_siblings: 6,
            min_valuelike_siblings: 3,
        }
    }
}

/// One path to group: its segments (literals, `{name}` parameters or mixed text) and which
/// of them must stay as they are (documented by the spec, base path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub segments: Vec<String>,
    pub locked: Vec<bool>,
    /// The template came from the instrumentation's route: its literals are route words and
    /// its parameters are declared ones.
    pub route: bool,
}

#[derive(Default)]
struct GNode {
    children: BTreeMap<String, GNode>,
    locked: bool,
    /// A parameter some route declared.
    declared: bool,
    members: Vec<usize>,
}

impl GNode {
    fn absorb(&mut self, other: GNode) {
        self.locked |= other.locked;
        self.declared |= other.declared;
        self.members.extend(other.members);
        for (k, v) in other.children {
            self.children.entry(k).or_default().absorb(v);
        }
    }

    /// The sub-path shape one level down: grandchild keys with parameter names erased,
    /// and whether a path ends here.
    fn signature(&self) -> (Vec<String>, bool) {
        let mut keys: Vec<String> = self
            .children
            .keys()
            .map(|k| {
                if is_param(k) {
                    "{}".to_owned()
                } else {
                    k.clone()
                }
            })
            .collect();
        keys.dedup();
        (keys, !self.members.is_empty())
    }
}

fn is_param(seg: &str) -> bool {
    seg.contains('{')
}

/// `v1`, `v2`, `v2.1`, `v1beta1`, `v3alpha`.
pub fn is_version_segment(seg: &str) -> bool {
    let Some(rest) = seg.strip_prefix(['v', 'V']) else {
        return false;
    };
    let digits = rest.bytes().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return false;
    }
    let tail = &rest[digits..];
    tail.is_empty()
        || tail
            .strip_prefix(['.', '_'])
            .is_some_and(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit() || b == b'.'))
        || tail
            .trim_end_matches(|c: char| c.is_ascii_digit())
            .chars()
            .all(|c| c.is_ascii_lowercase())
            && ["alpha", "beta", "rc", "preview"]
                .iter()
                .any(|w| tail.starts_with(w))
}

/// Digits, dots, spaces, `@`, percent-encoding: what values have and route words lack.
pub(crate) fn looks_like_value(seg: &str) -> bool {
    seg.bytes()
        .any(|b| b.is_ascii_digit() || matches!(b, b'.' | b' ' | b'@' | b'%' | b'+' | b'=' | b'~'))
}

/// A long random-looking token (API keys, cache keys, session ids): 16+ characters of
/// letters, digits, `-`/`_`, with a digit, or a third of the letters upper case, or a run
/// of five consonants: what camelCase route words (`findPetsByStatus`) do not have.
pub(crate) fn looks_random(seg: &str) -> bool {
    if seg.len() < 16
        || !seg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return false;
    }
    let letters = seg.bytes().filter(u8::is_ascii_alphabetic).count();
    let upper = seg.bytes().filter(u8::is_ascii_uppercase).count();
    let mut run = 0;
    let mut longest = 0;
    for b in seg.bytes() {
        if b.is_ascii_alphabetic() && !b"aeiouyAEIOUY".contains(&b) {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    seg.bytes().any(|b| b.is_ascii_digit()) || upper * 3 >= letters || longest >= 5
}

/// Stronger than [`looks_like_value`]: a space, `@`, `%`, a file extension, two digits in a
/// row or a digit after `-`/`_` (`bravo-12`), not the odd digit of a route word (`oauth2`).
pub(crate) fn strongly_value_like(seg: &str) -> bool {
    let b = seg.as_bytes();
    b.iter().any(|c| matches!(c, b' ' | b'@' | b'%'))
        || b.windows(2).any(|w| {
            (w[0].is_ascii_digit() && w[1].is_ascii_digit())
                || (matches!(w[0], b'-' | b'_') && w[1].is_ascii_digit())
        })
        || seg.rsplit_once('.').is_some_and(|(stem, ext)| {
            !stem.is_empty()
                && (1..=4).contains(&ext.len())
                && ext.bytes().all(|c| c.is_ascii_alphanumeric())
        })
}

fn param_name(parent: Option<&str>) -> String {
    match parent {
        Some(p) if !is_param(p) && p.len() > 1 && p.bytes().all(|b| b.is_ascii_alphabetic()) => {
            let lower = p.to_ascii_lowercase();
            let single = if lower.len() > 3 && lower.ends_with('s') && !lower.ends_with("ss") {
                &lower[..lower.len() - 1]
            } else {
                &lower[..]
            };
            format!("{{{single}}}")
        }
        _ => "{param}".to_owned(),
    }
}

fn process(node: &mut GNode, depth: usize, parent: Option<&str>, opts: &GroupingOptions) {
    if depth >= 1 {
        let mut groups: BTreeMap<(Vec<String>, bool), Vec<String>> = BTreeMap::new();
        for (k, child) in &node.children {
            if child.locked || is_param(k) || is_version_segment(k) {
                continue;
            }
            groups.entry(child.signature()).or_default().push(k.clone());
        }
        // A parameter child already there (inference saw values at this position): literal
        // siblings with its sub-path shape that look like values join it, however few.
        let param_child = node
            .children
            .iter()
            .find(|(k, _)| k.starts_with('{') && k.ends_with('}') && k.matches('{').count() == 1)
            .map(|(k, c)| (k.clone(), c.signature(), c.declared));
        for ((below, ends), keys) in groups {
            if let Some((pk, sig, declared)) = &param_child {
                if sig.0 == below && sig.1 == ends {
                    // Beside a parameter a route declared, inferred literals are its values
                    // (a route word would have come with its own route, and be locked).
                    let joining: Vec<&String> = keys
                        .iter()
                        .filter(|k| *declared || looks_like_value(k) || looks_random(k))
                        .collect();
                    if joining.len() == keys.len() {
                        let mut merged = node.children.remove(pk).unwrap_or_default();
                        for k in joining {
                            if let Some(c) = node.children.remove(k) {
                                merged.absorb(c);
                            }
                        }
                        node.children.insert(pk.clone(), merged);
                        continue;
                    }
                }
            }
            // Enough of them look like values (`bravo-12`, `rust-lang.io`): the plain words
            // among them (`alpha`) are values too.
            let weak = keys.iter().filter(|k| looks_like_value(k)).count();
            let strong = keys.iter().filter(|k| strongly_value_like(k)).count();
            let leaf = below.is_empty() && ends;
            let need = if weak >= opts.min_valuelike_siblings {
                opts.min_valuelike_siblings
            } else if leaf && strong >= 2 {
                // `lumen-473`, `maple atlas`, `maple`, `web`: values, plain words among them
                opts.min_siblings
            } else if leaf {
                opts.min_leaf_siblings
            } else if strong >= 1 {
                // shared sub-paths and a value among the words (`payments-940/suspend`)
                opts.min_valuelike_siblings
            } else {
                opts.min_siblings
            };
            if keys.len() < need.max(2) {
                continue;
            }
            let target = node
                .children
                .keys()
                .find(|k| k.starts_with('{') && k.ends_with('}') && k.matches('{').count() == 1)
                .cloned()
                .unwrap_or_else(|| param_name(parent));
            let mut merged = node.children.remove(&target).unwrap_or_default();
            for k in keys {
                if let Some(c) = node.children.remove(&k) {
                    merged.absorb(c);
                }
            }
            node.children.insert(target, merged);
        }
    }
    for (k, child) in node.children.iter_mut() {
        process(child, depth + 1, Some(k.as_str()), opts);
    }
}

fn collect(node: &GNode, path: &mut Vec<String>, out: &mut [Vec<String>]) {
    for &m in &node.members {
        out[m] = path.clone();
    }
    for (k, child) in &node.children {
        path.push(k.clone());
        collect(child, path, out);
        path.pop();
    }
}

/// Rewrites the candidates' segments, turning high-cardinality sibling literals into
/// parameters. Output is index-aligned with the input and independent of its order.
pub fn group(cands: &[Candidate], opts: &GroupingOptions) -> Vec<Vec<String>> {
    let mut root = GNode::default();
    for (i, c) in cands.iter().enumerate() {
        let mut at = &mut root;
        for (j, s) in c.segments.iter().enumerate() {
            at = at.children.entry(s.clone()).or_default();
            at.locked |= c.route || c.locked.get(j).copied().unwrap_or(false);
            at.declared |= c.route && is_param(s);
        }
        at.members.push(i);
    }
    process(&mut root, 0, None, opts);
    let mut out = vec![Vec::new(); cands.len()];
    collect(&root, &mut Vec::new(), &mut out);
    out
}
