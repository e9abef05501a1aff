//! OpenAPI documents → documented operations. Reads OpenAPI 3.0, 3.1 and Swagger 2.0, YAML
//! or JSON, detected from the document, into the small model `diff` needs: paths, methods,
//! path parameters, security, deprecation and base paths. Schemas are not read. The YAML
//! parser lives here only.

use std::path::PathBuf;

use serde::Serialize;

use crate::model::{Method, PathTemplate};

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
    pub name: String,
    /// The parameter may hold slashes (`x-slashes`/`allowReserved`, a `format: path`, or a
    /// name such as `path`/`file_path`); `diff` lets it span several observed segments.
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
    pub path_params: Vec<PathParam>,
    /// 1-based line of the operation (or its path item) in the file, for SARIF locations.
    pub line: Option<usize>,
}

/// One loaded document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Spec {
    /// The file it was read from, as given.
    pub file: PathBuf,
    pub version: SpecVersion,
    pub title: Option<String>,
    /// Path prefixes under which the operations are served, from `servers` (3.x, with server
    /// variables resolved to their defaults, and also kept as parameters) or `basePath`
    /// (2.0): `["/api/v3"]`. Empty string for the root. Never empty: `[""]` when none.
    pub base_paths: Vec<String>,
    pub operations: Vec<Operation>,
}

/// Why a document could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("{file}: cannot read: {source}")]
    Io {
        file: PathBuf,
        #[source]
        source: std::io::Error,
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

/// Reads and interprets one document.
pub fn load(path: &std::path::Path) -> Result<Spec, SpecError> {
    let _ = path;
    todo!("spec::load")
}
