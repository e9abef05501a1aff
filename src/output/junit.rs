//! JUnit XML for CI test reports: one test suite per service; each finding of a failing
//! kind is a failing test case, other findings pass with a note, and every check a service
//! passes cleanly ("no shadow endpoints", ...) is a passing case, so a green run still
//! shows what was checked.

use std::collections::BTreeSet;

use super::RenderOptions;
use crate::diff::{DiffReport, Finding, FindingKind};
use crate::untrusted::{escape, Escaped};

pub(crate) fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 cannot carry at all.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

fn details(f: &Finding) -> String {
    let mut d = format!(
        "{} {} {}\nservice: {}\nseverity: {}\nrequests: {} (ok with auth {}, ok without auth {})\nauth: {}",
        f.kind.as_str(),
        f.method,
        Escaped(&f.path),
        Escaped(&f.service),
        f.severity.as_str(),
        f.requests,
        f.ok_with_auth,
        f.ok_without_auth,
        f.auth.as_str()
    );
    if let Some(file) = &f.spec_file {
        d.push_str(&format!("\nspec: {}", file.display()));
        if let Some(l) = f.spec_line {
            d.push_str(&format!(":{l}"));
        }
    }
    if !f.examples.is_empty() {
        d.push_str(&format!("\nexamples: {}", escape(&f.examples.join(", "))));
    }
    d
}

pub(super) fn render(report: &DiffReport, opts: &RenderOptions) -> String {
    let services: BTreeSet<&str> = report
        .findings
        .iter()
        .map(|f| f.service.as_str())
        .chain(report.suppressed.iter().map(|x| x.finding.service.as_str()))
        .collect();
    let mut suites = String::new();
    let (mut all_tests, mut all_failures) = (0usize, 0usize);
    for svc in &services {
        let mut cases = String::new();
        let (mut tests, mut failures) = (0usize, 0usize);
        for kind in FindingKind::ALL {
            let fs: Vec<&Finding> = report
                .findings
                .iter()
                .filter(|f| f.service == *svc && f.kind == kind)
                .collect();
            let class = xml_escape(&format!("shadowscan.{}.{}", Escaped(svc), kind.as_str()));
            if fs.is_empty() {
                tests += 1;
                cases.push_str(&format!(
                    "    <testcase classname=\"{class}\" name=\"no {} endpoints\"/>\n",
                    kind.as_str()
                ));
                continue;
            }
            for f in fs {
                tests += 1;
                let name = xml_escape(&format!("{} {}", f.method, Escaped(&f.path)));
                if opts.fail_on.contains(&kind) {
                    failures += 1;
                    cases.push_str(&format!(
                        "    <testcase classname=\"{class}\" name=\"{name}\">\n      <failure type=\"{}\" message=\"{}\">{}</failure>\n    </testcase>\n",
                        kind.as_str(),
                        xml_escape(&format!("{} ({}): {}", kind.as_str(), f.severity.as_str(), Escaped(&f.reason))),
                        xml_escape(&details(f))
                    ));
                } else {
                    cases.push_str(&format!(
                        "    <testcase classname=\"{class}\" name=\"{name}\">\n      <system-out>{}</system-out>\n    </testcase>\n",
                        xml_escape(&format!("{}\n{}", Escaped(&f.reason), details(f)))
                    ));
                }
            }
        }
        all_tests += tests;
        all_failures += failures;
        suites.push_str(&format!(
            "  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\">\n{cases}  </testsuite>\n",
            xml_escape(&format!("shadowscan diff: {}", Escaped(svc)))
        ));
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"shadowscan diff\" tests=\"{all_tests}\" failures=\"{all_failures}\" errors=\"0\">\n{suites}</testsuites>\n"
    )
}
