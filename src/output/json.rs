//! The versioned JSON document (schema: docs/diff-json-schema.md).

use serde::Serialize;

use super::RenderOptions;
use crate::diff::{DiffReport, Finding, FindingKind, Summary, Suppressed};

/// Bumped on any incompatible change to the document's shape.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Serialize)]
struct Doc<'a> {
    version: u32,
    tool: Tool<'a>,
    failed: bool,
    fail_on: &'a [FindingKind],
    findings: &'a [Finding],
    suppressed: &'a [Suppressed],
    summary: &'a Summary,
}

#[derive(Serialize)]
struct Tool<'a> {
    name: &'static str,
    version: &'a str,
}

pub(super) fn render(report: &DiffReport, opts: &RenderOptions) -> String {
    let doc = Doc {
        version: SCHEMA_VERSION,
        tool: Tool {
            name: "shadowscan",
            version: &opts.tool_version,
        },
        failed: report.fails(&opts.fail_on),
        fail_on: &opts.fail_on,
        findings: &report.findings,
        suppressed: &report.suppressed,
        summary: &report.summary,
    };
    let mut s =
        serde_json::to_string_pretty(&doc).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
    s.push('\n');
    crate::untrusted::json_escape_bidi(s)
}
