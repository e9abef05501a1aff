//! The router over documented templates: a trie per spec, dropshot-like precedence
//! (literal, then mixed, then parameter, then slash-swallowing parameter), parameter names
//! ignored, base paths stripped. Also answers "how far does this undocumented path follow a
//! documented one", which is what lets the spec act as a prior when grouping shadows.

use std::collections::HashMap;

use crate::model::{PathTemplate, Segment};
use crate::spec::Spec;

/// One observed segment, as the matcher compares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Obs<'a> {
    Lit(&'a str),
    /// Its name, kept for display only: matching ignores it.
    Param(&'a str),
    /// A mixed segment with its parameter names erased (`{}.{}`), and as observed (for
    /// display: `{asset}.js` stays `{asset}.js`).
    Mixed(String, &'a str),
}

pub(crate) fn observed_segments(t: &PathTemplate) -> Vec<Obs<'_>> {
    t.segments()
        .map(|s| match s {
            Segment::Literal(l) => Obs::Lit(l),
            Segment::Param(n) => Obs::Param(n),
            Segment::Mixed(m) => Obs::Mixed(erase_names(m), m),
        })
        .collect()
}

fn erase_names(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut inside = false;
    for c in raw.chars() {
        match c {
            '{' => {
                inside = true;
                out.push('{');
            }
            '}' => {
                inside = false;
                out.push('}');
            }
            _ if inside => {}
            _ => out.push(c),
        }
    }
    out
}

/// A mixed documented segment split into literal parts and parameters.
#[derive(Debug, Clone)]
struct MixedPat {
    raw: Box<str>,
    shape: String,
    /// `Some(lit)` for literal text, `None` for a parameter.
    parts: Vec<Option<Box<str>>>,
}

impl MixedPat {
    fn new(raw: &str) -> MixedPat {
        let mut parts = Vec::new();
        let mut rest = raw;
        while !rest.is_empty() {
            match rest.find('{') {
                Some(0) => {
                    let close = rest.find('}').unwrap_or(rest.len() - 1);
                    parts.push(None);
                    rest = &rest[close + 1..];
                }
                Some(i) => {
                    parts.push(Some(rest[..i].into()));
                    rest = &rest[i..];
                }
                None => {
                    parts.push(Some(rest.into()));
                    rest = "";
                }
            }
        }
        MixedPat {
            raw: raw.into(),
            shape: erase_names(raw),
            parts,
        }
    }

    /// Whether an observed segment fits: a value by the literal parts, a mixed segment by
    /// its shape. An observed whole-segment parameter does not: `/admin/users/{id}` is not
    /// `/admin/users/{id}.json`, whose literal part was never seen.
    fn fits(&self, o: &Obs<'_>) -> bool {
        match o {
            Obs::Lit(l) => self.matches(l),
            Obs::Mixed(shape, _) => *shape == self.shape,
            Obs::Param(_) => false,
        }
    }

    /// Whether a concrete value fits: literal parts in order, each parameter at least one
    /// character. Backtracks, so `{name}.{ext}` matches `archive.tar.gz`.
    fn matches(&self, value: &str) -> bool {
        fn go(parts: &[Option<Box<str>>], s: &str) -> bool {
            match parts.split_first() {
                None => s.is_empty(),
                Some((Some(lit), rest)) => s.strip_prefix(&**lit).is_some_and(|t| go(rest, t)),
                Some((None, rest)) => {
                    if rest.is_empty() {
                        return !s.is_empty();
                    }
                    s.char_indices()
                        .skip(1)
                        .map(|(i, _)| i)
                        .any(|i| go(rest, &s[i..]))
                }
            }
        }
        go(&self.parts, value)
    }
}

type NodeId = u32;

#[derive(Debug, Default)]
struct Node {
    literals: HashMap<Box<str>, NodeId>,
    mixed: Vec<(MixedPat, NodeId)>,
    /// Whole-segment parameter: first documented name seen, child.
    param: Option<(Box<str>, NodeId)>,
    /// Parameter documented as able to hold slashes: consumes one or more segments.
    slashy: Option<(Box<str>, NodeId)>,
    /// Operations (indices into `Spec::operations`) whose template ends here.
    ops: Vec<u32>,
    /// No parameter edge below this node: a parameter leading here is a template's last.
    last_param_ok: bool,
}

/// How one observed segment (or run of segments) was consumed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// Documented literal, equal to the observed one.
    Literal,
    /// Documented literal standing where inference put a parameter.
    LooseLiteral,
    /// Documented mixed segment (raw text).
    Mixed(Box<str>),
    /// Documented parameter (its name), consuming `span` observed segments.
    Param { name: Box<str>, span: usize },
}

/// A path through the trie: the base path that was stripped and the steps taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Walk {
    /// Observed segments before the documented template (a base path, or a mirror prefix).
    pub skipped: usize,
    pub steps: Vec<Step>,
    /// Observed segments consumed by the steps.
    pub consumed: usize,
    pub node: u32,
}

/// The trie for one spec.
#[derive(Debug)]
pub(crate) struct Router {
    nodes: Vec<Node>,
    /// Base paths as segment lists, longest first; the root (no segments) always last.
    bases: Vec<Vec<BaseSeg>>,
}

#[derive(Debug, Clone)]
enum BaseSeg {
    Lit(Box<str>),
    Any,
}

/// How far matching may stretch, tried in order until something matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Fallback {
    /// Exact structure; only parameters declared slash-bearing span several segments.
    Strict,
    /// Also: a template's last parameter swallows a path-like run of segments.
    Swallow,
    /// Also: an inferred parameter stands for a documented literal.
    Loose,
}

/// What matching an observed template asks of the terminal node.
#[derive(Clone, Copy)]
pub(crate) enum Want<'a> {
    /// Any node where a documented template ends.
    Path,
    /// A node with an operation satisfying the predicate.
    Op(&'a dyn Fn(u32) -> bool),
}

impl Router {
    pub fn new(spec: &Spec) -> Router {
        let mut r = Router {
            nodes: vec![Node::default()],
            bases: Vec::new(),
        };
        for (i, op) in spec.operations.iter().enumerate() {
            let slashy: Vec<&str> = op
                .path_params
                .iter()
                .filter(|p| p.may_contain_slashes)
                .map(|p| p.name.as_str())
                .collect();
            let mut at: NodeId = 0;
            for seg in op.template.segments() {
                at = match seg {
                    Segment::Literal(l) => match r.nodes[at as usize].literals.get(l) {
                        Some(&n) => n,
                        None => {
                            let n = r.push();
                            r.nodes[at as usize].literals.insert(l.into(), n);
                            n
                        }
                    },
                    Segment::Param(name) if slashy.contains(&name) => {
                        match &r.nodes[at as usize].slashy {
                            Some((_, n)) => *n,
                            None => {
                                let n = r.push();
                                r.nodes[at as usize].slashy = Some((name.into(), n));
                                n
                            }
                        }
                    }
                    Segment::Param(name) => match &r.nodes[at as usize].param {
                        Some((_, n)) => *n,
                        None => {
                            let n = r.push();
                            r.nodes[at as usize].param = Some((name.into(), n));
                            n
                        }
                    },
                    Segment::Mixed(raw) => {
                        let shape = erase_names(raw);
                        match r.nodes[at as usize]
                            .mixed
                            .iter()
                            .find(|(p, _)| p.shape == shape)
                        {
                            Some((_, n)) => *n,
                            None => {
                                let n = r.push();
                                r.nodes[at as usize].mixed.push((MixedPat::new(raw), n));
                                n
                            }
                        }
                    }
                };
            }
            r.nodes[at as usize].ops.push(i as u32);
        }
        r.mark_last_params(0);
        let mut bases: Vec<Vec<BaseSeg>> = spec
            .base_paths
            .iter()
            .map(|b| {
                PathTemplate::parse(b)
                    .segments()
                    .map(|s| match s {
                        Segment::Literal(l) => BaseSeg::Lit(l.into()),
                        _ => BaseSeg::Any,
                    })
                    .collect()
            })
            .collect();
        bases.push(Vec::new());
        bases.sort_by_key(|b| std::cmp::Reverse(b.len()));
        bases.dedup_by(|a, b| {
            a.len() == b.len()
                && a.iter().zip(b.iter()).all(|(x, y)| match (x, y) {
                    (BaseSeg::Lit(x), BaseSeg::Lit(y)) => x == y,
                    (BaseSeg::Any, BaseSeg::Any) => true,
                    _ => false,
                })
        });
        r.bases = bases;
        r
    }

    fn push(&mut self) -> NodeId {
        self.nodes.push(Node::default());
        (self.nodes.len() - 1) as NodeId
    }

    /// Returns whether the subtree holds a parameter edge.
    fn mark_last_params(&mut self, at: NodeId) -> bool {
        let node = &self.nodes[at as usize];
        let mut children: Vec<(NodeId, bool)> =
            node.literals.values().map(|&n| (n, false)).collect();
        children.extend(node.mixed.iter().map(|(_, n)| (*n, true)));
        children.extend(node.param.iter().map(|(_, n)| (*n, true)));
        children.extend(node.slashy.iter().map(|(_, n)| (*n, true)));
        let mut any = false;
        for (c, is_param) in children {
            let below = self.mark_last_params(c);
            any |= below || is_param;
        }
        self.nodes[at as usize].last_param_ok = !any;
        any
    }

    pub fn ops_at(&self, node: u32) -> &[u32] {
        &self.nodes[node as usize].ops
    }

    /// Base-path offsets that fit the observed segments, longest first, ending with 0.
    fn offsets(&self, obs: &[Obs<'_>]) -> Vec<usize> {
        let mut out = Vec::with_capacity(2);
        for b in &self.bases {
            if b.len() > obs.len() {
                continue;
            }
            let fits = b.iter().zip(obs).all(|(bs, o)| match (bs, o) {
                (BaseSeg::Any, _) => true,
                (BaseSeg::Lit(l), Obs::Lit(o)) => **l == **o,
                _ => false,
            });
            if fits && !out.contains(&b.len()) {
                out.push(b.len());
            }
        }
        out
    }

    /// The best full match of the observed segments: base paths tried longest first, then
    /// without a base path; slash-swallowing parameters allowed; the last parameter of a
    /// template may swallow extra segments only from `Fallback::Swallow` on and when the value looks
    /// like a path.
    pub fn full_match(&self, obs: &[Obs<'_>], want: Want<'_>, fallback: Fallback) -> Option<Walk> {
        let mut steps = Vec::new();
        for off in self.offsets(obs) {
            steps.clear();
            if let Some(node) = self.walk(0, &obs[off..], want, fallback, &mut steps) {
                return Some(Walk {
                    skipped: off,
                    consumed: obs.len() - off,
                    steps,
                    node,
                });
            }
        }
        None
    }

    /// Like [`Router::full_match`] after skipping up to `max_skip` leading observed segments
    /// (in front of, or right after, the base path): `/internal/api/v3/pet/7` and
    /// `/api/v3/internal/pet/7` mirror `/pet/{petId}`. The mirrored template must contain a
    /// documented literal: a template of parameters alone says nothing.
    pub fn mirror_match(&self, obs: &[Obs<'_>], max_skip: usize) -> Option<Walk> {
        let longest_base = self.bases.first().map_or(0, |b| b.len());
        let last = (max_skip + longest_base).min(obs.len().saturating_sub(1));
        for k in 1..=last {
            if let Some(mut w) = self.full_match(&obs[k..], Want::Path, Fallback::Strict) {
                if !w.steps.contains(&Step::Literal) {
                    continue;
                }
                w.skipped += k;
                return Some(w);
            }
        }
        None
    }

    /// The deepest documented prefix the observed path follows, if it contains a documented
    /// literal (a prefix of parameters alone, such as `/{owner}/{repo}`, says nothing).
    pub fn longest_prefix(&self, obs: &[Obs<'_>]) -> Option<Walk> {
        let mut best: Option<Walk> = None;
        for off in self.offsets(obs) {
            let mut steps = Vec::new();
            let mut local: Option<(Vec<Step>, usize, NodeId)> = None;
            self.prefix_walk(0, &obs[off..], 0, &mut steps, &mut local);
            if let Some((steps, consumed, node)) = local {
                if steps.contains(&Step::Literal)
                    && best.as_ref().is_none_or(|b| consumed > b.consumed)
                {
                    best = Some(Walk {
                        skipped: off,
                        steps,
                        consumed,
                        node,
                    });
                }
            }
        }
        best
    }

    fn walk(
        &self,
        at: NodeId,
        obs: &[Obs<'_>],
        want: Want<'_>,
        fallback: Fallback,
        steps: &mut Vec<Step>,
    ) -> Option<NodeId> {
        let node = &self.nodes[at as usize];
        let Some((first, rest)) = obs.split_first() else {
            let ok = match want {
                Want::Path => !node.ops.is_empty(),
                Want::Op(pred) => node.ops.iter().any(|&o| pred(o)),
            };
            return ok.then_some(at);
        };
        if let Obs::Lit(l) = first {
            if let Some(&n) = node.literals.get(*l) {
                steps.push(Step::Literal);
                if let Some(r) = self.walk(n, rest, want, fallback, steps) {
                    return Some(r);
                }
                steps.pop();
            }
        }
        for (pat, n) in &node.mixed {
            if pat.fits(first) {
                steps.push(Step::Mixed(pat.raw.clone()));
                if let Some(r) = self.walk(*n, rest, want, fallback, steps) {
                    return Some(r);
                }
                steps.pop();
            }
        }
        if let Some((name, n)) = &node.param {
            steps.push(Step::Param {
                name: name.clone(),
                span: 1,
            });
            if let Some(r) = self.walk(*n, rest, want, fallback, steps) {
                return Some(r);
            }
            steps.pop();
            if fallback >= Fallback::Swallow && self.nodes[*n as usize].last_param_ok {
                // Slashes inside an undeclared path-like value: swallow the shortest run
                // that lets the rest of the template match.
                for span in 2..=obs.len() {
                    if !looks_like_path_value(name, &obs[..span]) {
                        continue;
                    }
                    steps.push(Step::Param {
                        name: name.clone(),
                        span,
                    });
                    if let Some(r) = self.walk(*n, &obs[span..], want, fallback, steps) {
                        return Some(r);
                    }
                    steps.pop();
                }
            }
        }
        if let Some((name, n)) = &node.slashy {
            for span in 1..=obs.len() {
                steps.push(Step::Param {
                    name: name.clone(),
                    span,
                });
                if let Some(r) = self.walk(*n, &obs[span..], want, fallback, steps) {
                    return Some(r);
                }
                steps.pop();
            }
        }
        if fallback == Fallback::Loose
            && matches!(first, Obs::Param(_))
            && steps.last() == Some(&Step::Literal)
            && !steps.contains(&Step::LooseLiteral)
        {
            // Inference may have made a parameter of documented literals
            // (`/reports/organization-28-day`): right below a literal that matched, once per
            // path, accept the first literal, in order, that completes a match, rather than
            // report a documented operation as shadow.
            let mut lits: Vec<(&str, NodeId)> =
                node.literals.iter().map(|(k, &n)| (&**k, n)).collect();
            lits.sort_unstable();
            for (_, n) in lits {
                steps.push(Step::LooseLiteral);
                if let Some(r) = self.walk(n, rest, want, fallback, steps) {
                    return Some(r);
                }
                steps.pop();
            }
        }
        None
    }

    fn prefix_walk(
        &self,
        at: NodeId,
        obs: &[Obs<'_>],
        consumed: usize,
        steps: &mut Vec<Step>,
        best: &mut Option<(Vec<Step>, usize, NodeId)>,
    ) {
        if best.as_ref().is_none_or(|b| consumed > b.1) {
            *best = Some((steps.clone(), consumed, at));
        }
        let Some((first, rest)) = obs.split_first() else {
            return;
        };
        let node = &self.nodes[at as usize];
        if let Obs::Lit(l) = first {
            if let Some(&n) = node.literals.get(*l) {
                steps.push(Step::Literal);
                self.prefix_walk(n, rest, consumed + 1, steps, best);
                steps.pop();
            }
        }
        for (pat, n) in &node.mixed {
            if pat.fits(first) {
                steps.push(Step::Mixed(pat.raw.clone()));
                self.prefix_walk(*n, rest, consumed + 1, steps, best);
                steps.pop();
            }
        }
        // A literal documented sibling wins over the parameter: `/pet/findByStatus/x`
        // follows `/pet/findByStatus`, not `/pet/{petId}`.
        let literal_taken = matches!(first, Obs::Lit(l) if node.literals.contains_key(*l));
        if let Some((name, n)) = &node.param {
            if !literal_taken {
                steps.push(Step::Param {
                    name: name.clone(),
                    span: 1,
                });
                self.prefix_walk(*n, rest, consumed + 1, steps, best);
                steps.pop();
            }
        }
    }
}

/// Whether a run of observed segments could be one slash-bearing value of the parameter
/// `name` that the spec did not mark: the name says path/file/ref/key, or the run ends in
/// something with a file extension. Sub-resources (`/pet/7/export`) do neither.
fn looks_like_path_value(name: &str, run: &[Obs<'_>]) -> bool {
    if run.iter().any(|o| !matches!(o, Obs::Lit(_))) {
        return false;
    }
    let n = name.to_ascii_lowercase();
    let pathish = [
        "path", "file", "ref", "key", "glob", "prefix", "rest", "splat", "tail", "wildcard",
        "object", "blob",
    ]
    .iter()
    .any(|w| n.contains(w));
    if pathish {
        return true;
    }
    match run.last() {
        Some(Obs::Lit(l)) => l.rsplit_once('.').is_some_and(|(stem, ext)| {
            !stem.is_empty()
                && (1..=5).contains(&ext.len())
                && ext.bytes().all(|b| b.is_ascii_alphanumeric())
        }),
        _ => false,
    }
}
