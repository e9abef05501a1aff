//! OpenAPI documents → documented operations. Reads OpenAPI 3.0, 3.1 and Swagger 2.0, YAML
//! or JSON, detected from the document, into the small model `diff` needs: paths, methods,
//! path parameters, security, deprecation and base paths. Schemas are not read. The YAML
//! parser lives here only.
//!
//! The document is parsed into a generic tree with line numbers ([`tree`]), then only the
//! parts diffing needs are interpreted, so vendor extensions, schemas and fields of newer
//! minor versions never make a load fail. `$ref`s are followed where they matter (path
//! items, operations, parameters), within the file or to files beside it.
//!
//! Specs come from pull requests, so reading one is bounded ([`LoadOptions`]): only regular
//! files are read (never `/dev/zero` or a FIFO), the bytes read per load are capped, and
//! file `$ref`s may not leave the spec's directory tree (or a configured root).

mod json;
mod read;
mod servers;
mod tree;
mod yaml;

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::model::{Method, PathTemplate, Segment};

/// Which description format a document was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SpecVersion {
    Swagger2,
    OpenApi30,
    OpenApi31,
}

/// What a document says about authentication for one operation, after operation-level,
/// path-level (none in OpenAPI, but some tools emit it) and global `security` are resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Security {
    /// At least one requirement, none of them empty: callers must authenticate.
    Required,
    /// Requirements that include `{}`: authentication is optional.
    Optional,
    /// `security: []`: explicitly public.
    Public,
    /// No `security` anywhere that applies.
    Unspecified,
}

/// A path parameter as documented.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PathParam {
    /// The name as it appears in the operation's template (so `diff` can look up the
    /// parameter of a [`crate::model::Segment::Param`] by it): `id` for `{id}`, and `Key+`
    /// for an API-Gateway-style greedy `{Key+}`.
    pub name: String,
    /// The parameter may hold slashes (`x-slashes`/`allowReserved`, a `format: path`, or a
    /// name such as `path`/`file_path`); `diff` lets it span several observed segments.
    ///
    /// Set when the declaration says so (`format: path`, in the parameter or its schema;
    /// `allowReserved: true`; `x-slashes: true`; GitHub's `x-multi-segment: true`), when the
    /// template marks it greedy (`{name+}`, `{+name}`), or when the name says it is a path
    /// (`path`, `file_path`, `filePath`, anything ending in `path`, `splat`, `wildcard`).
    /// `filename` is deliberately not path-like: a file *name* is one path component, and
    /// letting it swallow segments would hide shadows such as `/files/{filename}/raw`.
    pub may_contain_slashes: bool,
}

/// One documented operation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Operation {
    pub method: Method,
    /// The template as written under `paths`, canonicalised, *without* the base path.
    pub template: PathTemplate,
    pub operation_id: Option<String>,
    pub security: Security,
    pub deprecated: bool,
    /// One entry per parameter in `template`, in template order, whether or not the
    /// document declares it (sloppy specs often do not).
    pub path_params: Vec<PathParam>,
    /// 1-based line of the operation (or its path item) in the file, for SARIF locations.
    /// Always a line of [`Spec::file`]: an operation pulled in from another file by a
    /// `$ref` points at the line of that `$ref`'s path in the main file.
    pub line: Option<usize>,
    /// Base paths from path-level or operation-level `servers` (3.x), which replace the
    /// document's for this operation; `None` when [`Spec::base_paths`] apply. Use
    /// [`Spec::base_paths_for`] rather than reading this directly.
    pub base_paths: Option<Vec<String>>,
}

impl Operation {
    /// An operation on `template` as the simplest document gives it: no id, security not
    /// specified, not deprecated, one path parameter per template parameter (none holding
    /// slashes), no line, the document's base paths. Struct update syntax sets the rest.
    pub fn new(method: Method, template: PathTemplate) -> Operation {
        let path_params = template
            .segments()
            .filter_map(|s| match s {
                Segment::Param(name) => Some(PathParam {
                    name: name.to_owned(),
                    may_contain_slashes: false,
                }),
                _ => None,
            })
            .collect();
        Operation {
            method,
            template,
            operation_id: None,
            security: Security::Unspecified,
            deprecated: false,
            path_params,
            line: None,
            base_paths: None,
        }
    }
}

/// Default for [`LoadOptions::max_bytes`]: the largest real description we know (GitHub's,
/// ~10 MB of JSON) fits six times over.
pub const DEFAULT_MAX_SPEC_BYTES: u64 = 64 * 1024 * 1024;

/// What one load may read. A spec and every file its `$ref`s reach count together against
/// `max_bytes`; file `$ref`s resolve only inside `root`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadOptions {
    /// Bytes read from disk per load, main file and referenced files together
    /// (`[diff] max_spec_bytes`).
    pub max_bytes: u64,
    /// The directory tree file `$ref`s must stay in (`[diff] spec_root`, `--spec-root`);
    /// `None`: the main spec's own directory. Symlinks are resolved before the check.
    pub root: Option<PathBuf>,
}

impl Default for LoadOptions {
    fn default() -> LoadOptions {
        LoadOptions {
            max_bytes: DEFAULT_MAX_SPEC_BYTES,
            root: None,
        }
    }
}

/// One loaded document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Spec {
    /// The file it was read from, as given.
    pub file: PathBuf,
    pub version: SpecVersion,
    pub title: Option<String>,
    /// Path prefixes under which the operations are served, from `servers` (3.x) or
    /// `basePath` (2.0): `["/api/v3"]`. Empty string for the root. Never empty: `[""]` when
    /// none. Each server variable takes its `default` and each of its `enum` values (each
    /// combination one entry, the all-defaults one first); a variable with neither stays a
    /// `{name}` parameter segment. Entries are canonical like templates.
    pub base_paths: Vec<String>,
    pub operations: Vec<Operation>,
}

impl Spec {
    /// Reads a document from text already in memory. `file` names it in errors and is the
    /// directory relative-file `$ref`s are resolved against.
    pub fn parse(file: &Path, text: &str) -> Result<Spec, SpecError> {
        Spec::parse_with(file, text, &LoadOptions::default())
    }

    /// [`Spec::parse`] under explicit limits; `text` counts against `opts.max_bytes`.
    pub fn parse_with(file: &Path, text: &str, opts: &LoadOptions) -> Result<Spec, SpecError> {
        read::read_spec(file, text, opts)
    }

    /// The base paths an operation is served under: its own `servers` (operation- or
    /// path-level) when it has some, the document's otherwise.
    pub fn base_paths_for<'s>(&'s self, op: &'s Operation) -> &'s [String] {
        op.base_paths.as_deref().unwrap_or(&self.base_paths)
    }
}

/// Why a document could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The reason is part of the message and not a `source`: `{:#}` chains would print it
    /// twice.
    #[error("{file}: cannot read: {error}")]
    Io {
        file: PathBuf,
        error: std::io::Error,
    },
    #[error("{file}:{line}:{column}: {message}")]
    Syntax {
        file: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{file}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Invalid {
        file: PathBuf,
        line: Option<usize>,
        message: String,
    },
}

impl SpecError {
    /// The file the problem is in (for a broken `$ref`, the file holding the `$ref`).
    pub fn file(&self) -> &Path {
        match self {
            SpecError::Io { file, .. }
            | SpecError::Syntax { file, .. }
            | SpecError::Invalid { file, .. } => file,
        }
    }

    /// The 1-based line of the problem, when it has one.
    pub fn line(&self) -> Option<usize> {
        match self {
            SpecError::Io { .. } => None,
            SpecError::Syntax { line, .. } => Some(*line),
            SpecError::Invalid { line, .. } => *line,
        }
    }
}

/// Reads and interprets one document under the default [`LoadOptions`].
pub fn load(path: &Path) -> Result<Spec, SpecError> {
    load_with(path, &LoadOptions::default())
}

/// Reads and interprets one document under `opts`.
pub fn load_with(path: &Path, opts: &LoadOptions) -> Result<Spec, SpecError> {
    let text = read::read_text(path, opts.max_bytes)?;
    Spec::parse_with(path, &text, opts)
}

/// Reads a spec file's text under the same rules as [`load`] (regular file, at most
/// `max_bytes`), for callers that need the text itself (`diff --suggest`).
pub fn read_text(path: &Path, max_bytes: u64) -> Result<String, SpecError> {
    read::read_text(path, max_bytes)
}

/// Reads several documents (one per service or API), stopping at the first that fails:
/// a spec that cannot be read must never look like a spec with no drift.
pub fn load_all(paths: &[PathBuf]) -> Result<Vec<Spec>, SpecError> {
    paths.iter().map(|p| load(p)).collect()
}
