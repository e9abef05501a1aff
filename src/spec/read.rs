//! Interprets a parsed document: version, base paths, and every operation under `paths`,
//! following `$ref`s to path items, operations and parameters (in the same file or in files
//! beside it) with a bound on chains so a cycle is an error rather than a hang.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use crate::model::{Method, PathTemplate};

use super::servers::{
    normalize_base, server_base_paths, MAX_BASE_PATHS, MAX_COMBINATIONS, MAX_VARIABLES,
};
use super::tree::{Entry, Node};
use super::{
    json, yaml, LoadOptions, Operation, PathParam, Security, Spec, SpecError, SpecVersion,
};

const SUPPORTED: &str = "supported: swagger: \"2.0\", openapi: 3.0.x, openapi: 3.1.x";

/// `$ref` hops followed from one place before giving up: real chains are two or three long.
const MAX_REF_HOPS: usize = 32;

/// The HTTP methods an OpenAPI path item can hold, by key.
const METHOD_KEYS: [(&str, Method); 8] = [
    ("get", Method::Get),
    ("put", Method::Put),
    ("post", Method::Post),
    ("delete", Method::Delete),
    ("patch", Method::Patch),
    ("head", Method::Head),
    ("options", Method::Options),
    ("trace", Method::Trace),
];

fn method_of(key: &str) -> Option<Method> {
    METHOD_KEYS
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|&(_, m)| m)
}

/// Why [`read_bounded`] refused a file.
pub(crate) enum ReadError {
    Io(std::io::Error),
    /// A device, FIFO, socket or directory: `/dev/zero` would be read forever.
    NotRegular(&'static str),
    /// More than the bytes the load may still read.
    TooLarge {
        len: u64,
    },
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Io(e) => e.fmt(f),
            ReadError::NotRegular(kind) => write!(
                f,
                "it is a {kind}, not a regular file; specs and the files their $refs name are read only from regular files"
            ),
            ReadError::TooLarge { len } => write!(f, "it holds at least {len} bytes"),
        }
    }
}

/// Reads a regular file of at most `max` bytes. Opened non-blocking so a FIFO cannot stall
/// the open, checked on the open handle so a swapped path cannot slip a device in, and read
/// through `take` so a file growing meanwhile still stops at the limit.
pub(crate) fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, ReadError> {
    use std::io::Read;
    let mut open = std::fs::OpenOptions::new();
    open.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        open.custom_flags(libc::O_NONBLOCK);
    }
    let file = open.open(path).map_err(ReadError::Io)?;
    let meta = file.metadata().map_err(ReadError::Io)?;
    if !meta.is_file() {
        let t = meta.file_type();
        return Err(ReadError::NotRegular(if t.is_dir() {
            "directory"
        } else {
            file_kind(&t)
        }));
    }
    if meta.len() > max {
        return Err(ReadError::TooLarge { len: meta.len() });
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > max {
        return Err(ReadError::TooLarge {
            len: bytes.len() as u64,
        });
    }
    Ok(bytes)
}

#[cfg(unix)]
fn file_kind(t: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_char_device() {
        "character device"
    } else if t.is_block_device() {
        "block device"
    } else if t.is_fifo() {
        "FIFO"
    } else if t.is_socket() {
        "socket"
    } else {
        "special file"
    }
}

#[cfg(not(unix))]
fn file_kind(_: &std::fs::FileType) -> &'static str {
    "special file"
}

fn limit_hint(max: u64) -> String {
    format!("the limit is {max} bytes per spec and the files its $refs reach; raise `[diff] max_spec_bytes` if the description really is this large")
}

pub(crate) fn read_text(path: &Path, max: u64) -> Result<String, SpecError> {
    let bytes = read_bounded(path, max).map_err(|e| SpecError::Io {
        file: path.to_path_buf(),
        error: match e {
            ReadError::Io(e) => e,
            e @ ReadError::NotRegular(_) => std::io::Error::other(e.to_string()),
            e @ ReadError::TooLarge { .. } => {
                std::io::Error::other(format!("{e}: {}", limit_hint(max)))
            }
        },
    })?;
    match String::from_utf8(bytes) {
        Ok(mut s) => {
            if s.starts_with('\u{feff}') {
                s.drain(..3);
            }
            Ok(s)
        }
        Err(e) => {
            let bytes = e.as_bytes();
            let at = e.utf8_error().valid_up_to();
            let before = &bytes[..at];
            let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
            let line_start = before
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |i| i + 1);
            let column = String::from_utf8_lossy(&before[line_start..])
                .chars()
                .count()
                + 1;
            Err(SpecError::Syntax {
                file: path.to_path_buf(),
                line,
                column,
                message: "not UTF-8 text (OpenAPI documents are UTF-8 JSON or YAML)".into(),
            })
        }
    }
}

/// Parses JSON or YAML, decided by the content: text opening with `{` or `[` is tried as
/// JSON first (the fast path); YAML is a superset, so it gets the text when JSON refuses it,
/// and a failure is reported the way the text looked like it was meant.
fn parse_tree<'t>(file: &Path, text: &'t str) -> Result<Node<'t>, SpecError> {
    let looks_json = matches!(text.trim_start().as_bytes().first(), Some(b'{' | b'['));
    if looks_json {
        match json::parse(text) {
            Ok(node) => return Ok(node),
            Err(je) => {
                return yaml::parse(text).map_err(|_| SpecError::Syntax {
                    file: file.to_path_buf(),
                    line: je.line,
                    column: je.column,
                    message: format!("invalid JSON: {}", je.message),
                })
            }
        }
    }
    yaml::parse(text).map_err(|e| SpecError::Syntax {
        file: file.to_path_buf(),
        line: e.line,
        column: e.column,
        message: format!("invalid YAML: {}", e.message),
    })
}

fn line(n: u32) -> Option<usize> {
    (n > 0).then_some(n as usize)
}

/// One document taking part in a load: the main file or one reached by a `$ref`.
struct Doc<'a> {
    /// As named in messages: the main file as given, others joined onto its directory.
    display: PathBuf,
    is_main: bool,
    root: Rc<Node<'a>>,
}

/// What [`Loader::deref`] calls with the node a `$ref` stands for and its document.
type Visit<'f, 'a, R> = dyn FnMut(&Rc<Doc<'a>>, &Node<'a>) -> Result<R, SpecError> + 'f;

struct Loader<'a> {
    version: SpecVersion,
    main: Rc<Doc<'a>>,
    /// Documents by canonical path (so `./a.yaml` and `a.yaml` are one document).
    docs: RefCell<HashMap<PathBuf, Rc<Doc<'a>>>>,
    /// Canonical directory tree file `$ref`s must resolve inside.
    root: PathBuf,
    /// [`LoadOptions::max_bytes`], and what is left of it after the files read so far.
    max_bytes: u64,
    remaining: Cell<u64>,
}

fn invalid(file: &Path, at: Option<usize>, message: impl Into<String>) -> SpecError {
    SpecError::Invalid {
        file: file.to_path_buf(),
        line: at,
        message: message.into(),
    }
}

pub(crate) fn read_spec(file: &Path, text: &str, opts: &LoadOptions) -> Result<Spec, SpecError> {
    if text.len() as u64 > opts.max_bytes {
        return Err(SpecError::Io {
            file: file.to_path_buf(),
            error: std::io::Error::other(format!(
                "it holds {} bytes: {}",
                text.len(),
                limit_hint(opts.max_bytes)
            )),
        });
    }
    let root = parse_tree(file, text)?;
    if root.is_null() {
        return Err(invalid(
            file,
            Some(1),
            format!("empty document: expected an OpenAPI or Swagger document ({SUPPORTED})"),
        ));
    }
    if root.as_map().is_none() {
        return Err(invalid(
            file,
            line(root.line),
            format!(
                "the document is a {}, not a mapping: expected an OpenAPI or Swagger document ({SUPPORTED})",
                root.kind()
            ),
        ));
    }
    let version = detect_version(file, &root)?;
    let main = Rc::new(Doc {
        display: file.to_path_buf(),
        is_main: true,
        root: Rc::new(root),
    });
    let mut docs = HashMap::new();
    docs.insert(canonical(file), main.clone());
    let root = match &opts.root {
        Some(r) => canonical(r),
        None => canonical(
            file.parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new(".")),
        ),
    };
    let loader = Loader {
        version,
        main,
        docs: RefCell::new(docs),
        root,
        max_bytes: opts.max_bytes,
        remaining: Cell::new(opts.max_bytes - text.len() as u64),
    };
    let root = loader.main.root.clone();
    let title = root
        .get("info")
        .and_then(|i| i.get("title"))
        .and_then(|t| t.as_str())
        .map(str::to_string);
    let base_paths = loader.document_base_paths(&root)?;
    let operations = loader.operations(&root)?;
    Ok(Spec {
        file: file.to_path_buf(),
        version,
        title,
        base_paths,
        operations,
    })
}

fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| lexical_absolute(p))
}

/// `p` made absolute with `.` and `..` resolved by text, for paths that do not exist (so
/// the confinement check still holds, and whether a file outside exists is not revealed).
fn lexical_absolute(p: &Path) -> PathBuf {
    use std::path::Component;
    let joined = match std::env::current_dir() {
        Ok(cwd) if p.is_relative() => cwd.join(p),
        _ => p.to_path_buf(),
    };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

fn detect_version(file: &Path, root: &Node<'_>) -> Result<SpecVersion, SpecError> {
    if let Some(e) = root.entry("openapi") {
        let Some(v) = e.value.as_str() else {
            return Err(invalid(
                file,
                line(e.key_line),
                format!(
                    "`openapi` must be a version string, found a {} ({SUPPORTED})",
                    e.value.kind()
                ),
            ));
        };
        let v = v.trim();
        return if v == "3.0" || v.starts_with("3.0.") {
            Ok(SpecVersion::OpenApi30)
        } else if v == "3.1" || v.starts_with("3.1.") {
            Ok(SpecVersion::OpenApi31)
        } else {
            Err(invalid(
                file,
                line(e.key_line),
                format!("OpenAPI version `{v}` is not supported ({SUPPORTED})"),
            ))
        };
    }
    if let Some(e) = root.entry("swagger") {
        return match e.value.as_str().map(str::trim) {
            Some("2.0" | "2") => Ok(SpecVersion::Swagger2),
            Some(v) => Err(invalid(
                file,
                line(e.key_line),
                format!("Swagger version `{v}` is not supported ({SUPPORTED})"),
            )),
            None => Err(invalid(
                file,
                line(e.key_line),
                format!(
                    "`swagger` must be a version string, found a {} ({SUPPORTED})",
                    e.value.kind()
                ),
            )),
        };
    }
    Err(invalid(
        file,
        Some(1),
        format!(
            "not an OpenAPI or Swagger document: no top-level `openapi` or `swagger` key ({SUPPORTED})"
        ),
    ))
}

/// A parameter declaration, reduced to what matching needs.
#[derive(Debug, Clone)]
struct ParamDecl {
    name: String,
    location: String,
    slashy: bool,
}

/// What one path item contributes, owned so it can outlive the document walk.
#[derive(Default)]
struct ItemParts {
    params: Vec<ParamDecl>,
    servers: Option<Vec<String>>,
    security: Option<Security>,
    ops: Vec<OpParts>,
}

struct OpParts {
    method: Method,
    operation_id: Option<String>,
    deprecated: bool,
    security: Option<Security>,
    params: Vec<ParamDecl>,
    servers: Option<Vec<String>>,
    line: Option<usize>,
}

/// A `$ref` split into its file part (empty for the same document) and JSON pointer.
fn split_ref(r: &str) -> (&str, &str) {
    match r.find('#') {
        Some(i) => (&r[..i], &r[i + 1..]),
        None => (r, ""),
    }
}

fn walk_pointer<'n, 'a>(root: &'n Node<'a>, pointer: &str) -> Result<&'n Node<'a>, String> {
    let decoded = percent_encoding::percent_decode_str(pointer).decode_utf8_lossy();
    if decoded.is_empty() {
        return Ok(root);
    }
    let Some(rest) = decoded.strip_prefix('/') else {
        return Err(format!(
            "`#{decoded}` is not a JSON pointer (it must start with `/`)"
        ));
    };
    let mut node = root;
    for raw in rest.split('/') {
        let token = raw.replace("~1", "/").replace("~0", "~");
        let next = match node.as_seq() {
            Some(items) => token.parse::<usize>().ok().and_then(|i| items.get(i)),
            None => node.get(&token),
        };
        node = next.ok_or_else(|| format!("`{token}` not found"))?;
    }
    Ok(node)
}

impl<'a> Loader<'a> {
    /// Calls `f` with the node `node` stands for: itself, or what its `$ref` (chain) points
    /// at, together with the document that holds it.
    fn deref<R>(
        &self,
        doc: &Rc<Doc<'a>>,
        node: &Node<'a>,
        f: &mut Visit<'_, 'a, R>,
    ) -> Result<R, SpecError> {
        self.deref_hops(doc, node, 0, f)
    }

    fn deref_hops<R>(
        &self,
        doc: &Rc<Doc<'a>>,
        node: &Node<'a>,
        hops: usize,
        f: &mut Visit<'_, 'a, R>,
    ) -> Result<R, SpecError> {
        match node.entry("$ref") {
            None => f(doc, node),
            Some(r) => self.follow(doc, r, hops, &mut |d, target| {
                self.deref_hops(d, target, hops + 1, f)
            }),
        }
    }

    /// Follows one `$ref` (the entry `r` of a node in `doc`) and calls `f` with its target.
    fn follow<R>(
        &self,
        doc: &Rc<Doc<'a>>,
        r: &Entry<'a>,
        hops: usize,
        f: &mut Visit<'_, 'a, R>,
    ) -> Result<R, SpecError> {
        let at = line(r.value.line).or(line(r.key_line));
        let Some(target) = r.value.as_str() else {
            return Err(invalid(
                &doc.display,
                at,
                format!("`$ref` must be a string, found a {}", r.value.kind()),
            ));
        };
        if hops >= MAX_REF_HOPS {
            return Err(invalid(
                &doc.display,
                at,
                format!("cannot resolve $ref `{target}`: more than {MAX_REF_HOPS} chained references (a cycle?)"),
            ));
        }
        let broken = |why: String| {
            invalid(
                &doc.display,
                at,
                format!("cannot resolve $ref `{target}`: {why}"),
            )
        };
        let (file_part, pointer) = split_ref(target.trim());
        let target_doc = if file_part.is_empty() {
            doc.clone()
        } else {
            self.external(doc, file_part).map_err(|e| match e {
                Ext::Broken(why) => broken(why),
                Ext::Failed(err) => err,
            })?
        };
        let root = target_doc.root.clone();
        let found = walk_pointer(&root, pointer).map_err(&broken)?;
        f(&target_doc, found)
    }

    fn external(&self, from: &Doc<'a>, file_part: &str) -> Result<Rc<Doc<'a>>, Ext> {
        if file_part.contains("://") || file_part.starts_with("urn:") {
            return Err(Ext::Broken(
                "only references to local files are followed (no network); bundle the description into one file first".into(),
            ));
        }
        let rel = percent_encoding::percent_decode_str(file_part).decode_utf8_lossy();
        let base = from.display.parent().unwrap_or(Path::new(""));
        let display = base.join(rel.as_ref());
        let key = canonical(&display);
        if let Some(d) = self.docs.borrow().get(&key) {
            return Ok(d.clone());
        }
        if !key.starts_with(&self.root) {
            return Err(Ext::Broken(format!(
                "{} is outside {}, the directory tree file references are confined to (allow a wider tree with `[diff] spec_root` or `--spec-root DIR`)",
                key.display(),
                self.root.display()
            )));
        }
        let remaining = self.remaining.get();
        let bytes = read_bounded(&display, remaining).map_err(|e| {
            Ext::Broken(match e {
                ReadError::TooLarge { .. } => format!(
                    "cannot read {}: it would take the load past {} bytes ({} left): {}",
                    display.display(),
                    self.max_bytes,
                    remaining,
                    limit_hint(self.max_bytes)
                ),
                e => format!("cannot read {}: {e}", display.display()),
            })
        })?;
        self.remaining.set(remaining - bytes.len() as u64);
        let text = String::from_utf8(bytes).map_err(|_| {
            Ext::Broken(format!("cannot read {}: not UTF-8 text", display.display()))
        })?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        let root = parse_tree(&display, text)
            .map_err(Ext::Failed)?
            .into_owned();
        let doc = Rc::new(Doc {
            display,
            is_main: false,
            root: Rc::new(root),
        });
        self.docs.borrow_mut().insert(key, doc.clone());
        Ok(doc)
    }

    fn document_base_paths(&self, root: &Node<'a>) -> Result<Vec<String>, SpecError> {
        let bases = match self.version {
            SpecVersion::Swagger2 => match root.entry("basePath") {
                None => None,
                Some(e) => match e.value.as_str() {
                    Some(s) => Some(vec![normalize_base(s)]),
                    None if e.value.is_null() => None,
                    None => {
                        return Err(invalid(
                            &self.main.display,
                            line(e.key_line),
                            format!("`basePath` must be a string, found a {}", e.value.kind()),
                        ))
                    }
                },
            },
            _ => self.servers(&self.main, root)?,
        };
        Ok(bases.unwrap_or_else(|| vec![String::new()]))
    }

    /// Base paths from a `servers` list in `holder`; `None` when absent or empty.
    fn servers(&self, doc: &Doc<'a>, holder: &Node<'a>) -> Result<Option<Vec<String>>, SpecError> {
        let Some(e) = holder.entry("servers") else {
            return Ok(None);
        };
        if e.value.is_null() {
            return Ok(None);
        }
        let Some(items) = e.value.as_seq() else {
            return Err(invalid(
                &doc.display,
                line(e.key_line),
                format!("`servers` must be a sequence, found a {}", e.value.kind()),
            ));
        };
        let mut out: Vec<String> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        for item in items {
            let Some(url) = item.get("url").and_then(|u| u.as_str()) else {
                return Err(invalid(
                    &doc.display,
                    line(item.line),
                    "a server must be a mapping with a string `url`",
                ));
            };
            let found = server_base_paths(url, item.get("variables"));
            if found.truncated {
                tracing::warn!(
                    file = %doc.display.display(),
                    line = item.line,
                    "a server's variables have more than {MAX_COMBINATIONS} combinations of values (or more than {MAX_VARIABLES} variables); only the first are used as base paths"
                );
            }
            for b in found.bases {
                if out.len() == MAX_BASE_PATHS {
                    tracing::warn!(
                        file = %doc.display.display(),
                        line = e.key_line,
                        "more than {MAX_BASE_PATHS} distinct base paths in one `servers` list; the rest are ignored"
                    );
                    return Ok(Some(out));
                }
                if seen.insert(b.clone()) {
                    out.push(b);
                }
            }
        }
        Ok((!out.is_empty()).then_some(out))
    }

    fn security(&self, doc: &Doc<'a>, holder: &Node<'a>) -> Result<Option<Security>, SpecError> {
        let Some(e) = holder.entry("security") else {
            return Ok(None);
        };
        if e.value.is_null() {
            return Ok(None);
        }
        let Some(reqs) = e.value.as_seq() else {
            return Err(invalid(
                &doc.display,
                line(e.key_line),
                format!(
                    "`security` must be a sequence of requirement mappings, found a {}",
                    e.value.kind()
                ),
            ));
        };
        Ok(Some(if reqs.is_empty() {
            Security::Public
        } else if reqs
            .iter()
            .any(|r| r.is_null() || r.as_map().is_some_and(|m| m.is_empty()))
        {
            Security::Optional
        } else {
            Security::Required
        }))
    }

    fn params(&self, doc: &Rc<Doc<'a>>, holder: &Node<'a>) -> Result<Vec<ParamDecl>, SpecError> {
        let Some(e) = holder.entry("parameters") else {
            return Ok(Vec::new());
        };
        if e.value.is_null() {
            return Ok(Vec::new());
        }
        let Some(items) = e.value.as_seq() else {
            return Err(invalid(
                &doc.display,
                line(e.key_line),
                format!(
                    "`parameters` must be a sequence, found a {}",
                    e.value.kind()
                ),
            ));
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let decl = self.deref(doc, item, &mut |d, p| {
                if p.as_map().is_none() {
                    return Err(invalid(
                        &d.display,
                        line(p.line),
                        format!("a parameter must be a mapping, found a {}", p.kind()),
                    ));
                }
                let location = p.get("in").and_then(|v| v.as_str()).unwrap_or("");
                let name = p.get("name").and_then(|v| v.as_str());
                let Some(name) = name else {
                    if location == "path" {
                        return Err(invalid(
                            &d.display,
                            line(p.line),
                            "a path parameter has no `name`",
                        ));
                    }
                    return Ok(None);
                };
                Ok(Some(ParamDecl {
                    name: name.to_string(),
                    location: location.to_string(),
                    slashy: declared_slashy(p),
                }))
            })?;
            out.extend(decl);
        }
        Ok(out)
    }

    fn operations(&self, root: &Node<'a>) -> Result<Vec<Operation>, SpecError> {
        let doc = &self.main;
        let Some(paths) = root.entry("paths") else {
            return match self.version {
                // 3.1 made `paths` optional (webhook-only and component libraries).
                SpecVersion::OpenApi31 => Ok(Vec::new()),
                _ => Err(invalid(
                    &doc.display,
                    Some(1),
                    "no top-level `paths`: the document describes no operations",
                )),
            };
        };
        if paths.value.is_null() {
            return Ok(Vec::new());
        }
        let Some(entries) = paths.value.as_map() else {
            return Err(invalid(
                &doc.display,
                line(paths.key_line),
                format!(
                    "`paths` must be a mapping of paths to path items, found a {}",
                    paths.value.kind()
                ),
            ));
        };
        let global_security = self.security(doc, root)?;
        let mut ops: Vec<Operation> = Vec::new();
        let mut seen: HashMap<&str, u32> = HashMap::new();
        let mut written: HashSet<(Method, PathTemplate)> = HashSet::new();
        for entry in entries {
            let key = entry.key.as_ref();
            if key.starts_with("x-") {
                continue;
            }
            if let Some(first) = seen.insert(key, entry.key_line) {
                return Err(invalid(
                    &doc.display,
                    line(entry.key_line),
                    format!("path `{key}` appears twice (first on line {first})"),
                ));
            }
            let template = PathTemplate::parse(key);
            let item_line = line(entry.key_line);
            let parts = self.path_item(doc, &entry.value, item_line, 0)?;
            for op in parts.ops {
                let mut params = parts.params.clone();
                for p in op.params {
                    match params
                        .iter_mut()
                        .find(|q| q.name == p.name && q.location == p.location)
                    {
                        Some(q) => *q = p,
                        None => params.push(p),
                    }
                }
                let security = op
                    .security
                    .or(parts.security)
                    .or(global_security)
                    .unwrap_or(Security::Unspecified);
                let operation = Operation {
                    method: op.method,
                    path_params: path_params(&template, &params),
                    template: template.clone(),
                    operation_id: op.operation_id,
                    security,
                    deprecated: op.deprecated,
                    line: op.line.or(item_line),
                    base_paths: op.servers.or_else(|| parts.servers.clone()),
                };
                // `/pets` and `/pets/` are one template; the first one written wins.
                if written.insert((operation.method, operation.template.clone())) {
                    ops.push(operation);
                }
            }
        }
        Ok(ops)
    }

    /// Reads one path item (following its `$ref`; sibling keys beside a `$ref` add to or
    /// override what it points at). `fallback_line` is the line in the main file used for
    /// operations that live in other files.
    fn path_item(
        &self,
        doc: &Rc<Doc<'a>>,
        node: &Node<'a>,
        fallback_line: Option<usize>,
        hops: usize,
    ) -> Result<ItemParts, SpecError> {
        if node.is_null() {
            return Ok(ItemParts::default());
        }
        let Some(entries) = node.as_map() else {
            return Err(invalid(
                &doc.display,
                line(node.line),
                format!("a path item must be a mapping, found a {}", node.kind()),
            ));
        };
        // The target's own `$ref` and siblings are handled by the recursive call, so each
        // level's siblings override what lies below them.
        let mut parts = match node.entry("$ref") {
            Some(r) => self.follow(doc, r, hops, &mut |d, target| {
                self.path_item(d, target, fallback_line, hops + 1)
            })?,
            None => ItemParts::default(),
        };

        let local_params = self.params(doc, node)?;
        for p in local_params {
            match parts
                .params
                .iter_mut()
                .find(|q| q.name == p.name && q.location == p.location)
            {
                Some(q) => *q = p,
                None => parts.params.push(p),
            }
        }
        if let Some(s) = self.servers(doc, node)? {
            parts.servers = Some(s);
        }
        if let Some(s) = self.security(doc, node)? {
            parts.security = Some(s);
        }
        let mut seen: Vec<Method> = Vec::new();
        for e in entries {
            let Some(method) = method_of(&e.key) else {
                continue;
            };
            if seen.contains(&method) {
                return Err(invalid(
                    &doc.display,
                    line(e.key_line),
                    format!("method `{}` appears twice in one path item", e.key),
                ));
            }
            seen.push(method);
            let method_line = if doc.is_main {
                line(e.key_line).or(fallback_line)
            } else {
                fallback_line
            };
            let op = self.deref(doc, &e.value, &mut |d, n| {
                self.operation(d, n, method, method_line)
            })?;
            parts.ops.retain(|o| o.method != method);
            parts.ops.push(op);
        }
        Ok(parts)
    }

    fn operation(
        &self,
        doc: &Rc<Doc<'a>>,
        node: &Node<'a>,
        method: Method,
        method_line: Option<usize>,
    ) -> Result<OpParts, SpecError> {
        if node.is_null() {
            return Ok(OpParts {
                method,
                operation_id: None,
                deprecated: false,
                security: None,
                params: Vec::new(),
                servers: None,
                line: method_line,
            });
        }
        if node.as_map().is_none() {
            return Err(invalid(
                &doc.display,
                line(node.line),
                format!(
                    "the `{}` operation must be a mapping, found a {}",
                    method.as_str().to_ascii_lowercase(),
                    node.kind()
                ),
            ));
        }
        let servers = match self.version {
            SpecVersion::Swagger2 => None,
            _ => self.servers(doc, node)?,
        };
        Ok(OpParts {
            method,
            operation_id: node
                .get("operationId")
                .and_then(|v| v.as_str())
                .map(str::to_string),
            deprecated: truthy(node.get("deprecated")),
            security: self.security(doc, node)?,
            params: self.params(doc, node)?,
            servers,
            line: method_line,
        })
    }
}

enum Ext {
    /// The reference cannot be followed (missing file, remote URL): reported at the `$ref`.
    Broken(String),
    /// The referenced file exists but is not valid JSON/YAML: reported in that file.
    Failed(SpecError),
}

fn truthy(n: Option<&Node<'_>>) -> bool {
    match n {
        Some(n) => n.as_bool().unwrap_or_else(|| n.as_str() == Some("true")),
        None => false,
    }
}

fn declared_slashy(p: &Node<'_>) -> bool {
    let format_path = |n: Option<&Node<'_>>| n.and_then(|f| f.as_str()) == Some("path");
    format_path(p.get("format"))
        || format_path(p.get("schema").and_then(|s| s.get("format")))
        || truthy(p.get("allowReserved"))
        || truthy(p.get("x-slashes"))
        || truthy(p.get("x-multi-segment"))
}

/// Whether a parameter's name says it holds a path. See [`PathParam::may_contain_slashes`].
fn name_is_path_like(name: &str) -> bool {
    let n: String = name
        .chars()
        .filter(|c| !matches!(c, '_' | '-' | '.'))
        .map(|c| c.to_ascii_lowercase())
        .collect();
    n.ends_with("path") || n == "splat" || n == "wildcard"
}

/// The template's parameters in order, each with what its declaration (if any) says.
fn path_params(template: &PathTemplate, decls: &[ParamDecl]) -> Vec<PathParam> {
    let mut out: Vec<PathParam> = Vec::new();
    let text = template.as_str();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        let name = &rest[open + 1..open + close];
        rest = &rest[open + close + 1..];
        if out.iter().any(|p| p.name == name) {
            continue;
        }
        let bare = name.trim_matches('+');
        let declared = decls
            .iter()
            .find(|d| d.location == "path" && d.name == bare)
            .is_some_and(|d| d.slashy);
        out.push(PathParam {
            name: name.to_string(),
            may_contain_slashes: declared || bare.len() != name.len() || name_is_path_like(bare),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_like_names() {
        for n in [
            "path",
            "file_path",
            "filePath",
            "FilePath",
            "full-path",
            "subpath",
            "splat",
        ] {
            assert!(name_is_path_like(n), "{n}");
        }
        for n in ["filename", "id", "pathId", "owner", "repo", "key"] {
            assert!(!name_is_path_like(n), "{n}");
        }
    }

    #[test]
    fn template_params_in_order_with_greedy_forms() {
        let t = PathTemplate::parse("/{bucket}/{Key+}/{name}.{ext}/{+rest}");
        let ps = path_params(&t, &[]);
        let got: Vec<_> = ps
            .iter()
            .map(|p| (p.name.as_str(), p.may_contain_slashes))
            .collect();
        assert_eq!(
            got,
            vec![
                ("bucket", false),
                ("Key+", true),
                ("name", false),
                ("ext", false),
                ("+rest", true)
            ]
        );
    }

    #[test]
    fn pointers_unescape() {
        let root = yaml::parse("paths:\n  /a/{b}:\n    get: {}\nlist: [x, y]\n'~t': 1\n")
            .ok()
            .unwrap();
        assert!(walk_pointer(&root, "/paths/~1a~1%7Bb%7D/get").is_ok());
        assert_eq!(walk_pointer(&root, "/list/1").unwrap().as_str(), Some("y"));
        assert_eq!(walk_pointer(&root, "/~0t").unwrap().as_str(), Some("1"));
        assert!(walk_pointer(&root, "/list/9").is_err());
        assert!(walk_pointer(&root, "paths").is_err());
        assert!(walk_pointer(&root, "").is_ok());
    }
}
