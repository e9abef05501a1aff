//! GitHub Actions workflow commands: one annotation per finding, on the spec file and line
//! where there is one. Findings of failing kinds are errors, the rest warnings; unobserved
//! operations only with `verbose` (as notices).

use super::RenderOptions;
use crate::diff::{DiffReport, FindingKind};

/// Workflow-command data: control characters made visible first (the runner prints the
/// message to the log, where a raw escape sequence would act on the terminal), then the
/// runner's own `%`-encoding of line breaks.
fn escape_data(s: &str) -> String {
    crate::untrusted::escape(s)
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

pub(super) fn render(report: &DiffReport, opts: &RenderOptions) -> String {
    let mut out = String::new();
    for f in &report.findings {
        let level = if opts.fail_on.contains(&f.kind) {
            "error"
        } else if f.kind == FindingKind::Unobserved {
            if !opts.verbose {
                continue;
            }
            "notice"
        } else {
            "warning"
        };
        let mut props = Vec::new();
        if let Some(file) = &f.spec_file {
            props.push(format!("file={}", escape_property(&file.to_string_lossy())));
            if let Some(line) = f.spec_line {
                props.push(format!("line={line}"));
            }
        }
        props.push(format!(
            "title={}",
            escape_property(&format!(
                "{} {}: {} {}",
                f.severity.as_str(),
                f.kind.as_str(),
                f.method,
                f.path
            ))
        ));
        let msg = format!(
            "{} {} {} ({}): {}; {} requests, auth {}",
            f.kind.as_str(),
            f.method,
            f.path,
            f.service,
            f.reason,
            f.requests,
            f.auth.as_str()
        );
        out.push_str(&format!(
            "::{level} {}::{}\n",
            props.join(","),
            escape_data(&msg)
        ));
    }
    let s = &report.summary;
    out.push_str(&format!(
        "::notice title=shadowscan::{} shadow, {} unauthenticated, {} zombie, {} unobserved, {} accepted by baseline\n",
        s.shadow, s.unauthenticated, s.zombie, s.unobserved, s.suppressed
    ));
    out
}
