//! Base paths: where a document's operations are mounted, from 3.x `servers` (with server
//! variables) or Swagger 2.0 `basePath`, normalised the way templates are (leading slash, no
//! trailing slash, `""` for the root).

use std::collections::{HashMap, HashSet};

use crate::model::PathTemplate;

use super::tree::Node;

/// Server-variable combinations tried per server URL; a URL with many enum variables in its
/// host would otherwise multiply into thousands of identical paths.
pub(crate) const MAX_COMBINATIONS: usize = 64;

/// Distinct variables looked up per server URL; later ones stay `{name}` parameters (each
/// lookup scans the `variables` mapping, so this keeps a hostile URL linear).
pub(crate) const MAX_VARIABLES: usize = 32;

/// Distinct base paths one `servers` list yields; each one multiplies the matching work of
/// every operation in `diff`, and real documents list a handful.
pub(crate) const MAX_BASE_PATHS: usize = 256;

/// A path prefix in canonical form: `"/api/v3"`, or `""` for the root.
pub(crate) fn normalize_base(path: &str) -> String {
    let path = path.trim();
    let path = path.trim_start_matches("./");
    if path == "." {
        return String::new();
    }
    let t = PathTemplate::parse(path);
    if t.as_str() == "/" {
        String::new()
    } else {
        t.as_str().to_string()
    }
}

/// The path part of a server URL (absolute, protocol-relative or relative).
fn url_path(url: &str) -> &str {
    let url = url.trim();
    let after_authority =
        |rest: &str| -> usize { rest.find(['/', '?', '#']).unwrap_or(rest.len()) };
    if let Some(i) = url.find("://") {
        // Only a scheme made of scheme characters counts; `/a/b://c` is a path.
        if url[..i]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
            && i > 0
        {
            let rest = &url[i + 3..];
            return &rest[after_authority(rest)..];
        }
    }
    if let Some(rest) = url.strip_prefix("//") {
        return &rest[after_authority(rest)..];
    }
    url
}

/// One piece of a server URL: literal text, or the variable at an index of the value lists.
enum Piece<'u> {
    Text(&'u str),
    Var(usize),
}

/// The base paths one server object stands for, and whether the variables' values had more
/// combinations than [`MAX_COMBINATIONS`] (the rest are not used).
pub(crate) struct ServerBases {
    pub bases: Vec<String>,
    pub truncated: bool,
}

/// Every base path one server object can mean: each variable takes its `default` and each
/// of its `enum` values, up to [`MAX_COMBINATIONS`] combinations in all. A variable with
/// neither (or not declared at all) stays a `{name}` parameter, so any value the deployment
/// picks still matches. Linear in the URL and the enums however large a hostile document
/// makes them: a variable's values beyond the combination limit can never be reached, so
/// they are not even collected.
pub(crate) fn server_base_paths(url: &str, variables: Option<&Node<'_>>) -> ServerBases {
    let mut pieces: Vec<Piece<'_>> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut values: Vec<Vec<String>> = Vec::new();
    let mut truncated = false;
    let mut rest = url;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        pieces.push(Piece::Text(&rest[..open]));
        let braced = &rest[open..open + close + 1];
        let name = &braced[1..braced.len() - 1];
        rest = &rest[open + close + 1..];
        if let Some(&i) = index.get(name) {
            pieces.push(Piece::Var(i));
            continue;
        }
        if values.len() == MAX_VARIABLES {
            truncated = true;
            pieces.push(Piece::Text(braced));
            continue;
        }
        let decl = variables.and_then(|v| v.get(name));
        let mut vals: Vec<String> = Vec::new();
        let mut seen: HashSet<&str> = HashSet::new();
        let default = decl.and_then(|d| d.get("default")).and_then(|d| d.as_str());
        let enums = decl
            .and_then(|d| d.get("enum"))
            .and_then(|e| e.as_seq())
            .unwrap_or(&[]);
        for v in default
            .into_iter()
            .chain(enums.iter().filter_map(|i| i.as_str()))
        {
            if seen.insert(v) {
                if vals.len() == MAX_COMBINATIONS {
                    truncated = true;
                    break;
                }
                vals.push(v.to_string());
            }
        }
        if vals.is_empty() {
            vals.push(format!("{{{name}}}"));
        }
        index.insert(name, values.len());
        pieces.push(Piece::Var(values.len()));
        values.push(vals);
    }
    pieces.push(Piece::Text(rest));

    // Odometer over the variables' values, the all-defaults combination first.
    let mut out: Vec<String> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut idx = vec![0usize; values.len()];
    for _ in 0..MAX_COMBINATIONS {
        let mut concrete = String::with_capacity(url.len());
        for p in &pieces {
            match p {
                Piece::Text(t) => concrete.push_str(t),
                Piece::Var(v) => concrete.push_str(&values[*v][idx[*v]]),
            }
        }
        let base = normalize_base(url_path(&concrete));
        if seen.insert(base.clone()) {
            out.push(base);
        }
        // The first variable with another value to take; `None` when all are exhausted.
        let Some(k) = idx
            .iter()
            .zip(&values)
            .position(|(&i, vals)| i + 1 < vals.len())
        else {
            return ServerBases {
                bases: out,
                truncated,
            };
        };
        idx[k] += 1;
        idx[..k].iter_mut().for_each(|i| *i = 0);
    }
    ServerBases {
        bases: out,
        truncated: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::yaml;

    #[test]
    fn normalises_prefixes() {
        for (raw, want) in [
            ("", ""),
            ("/", ""),
            ("/api/v3", "/api/v3"),
            ("api/v3/", "/api/v3"),
            ("//api//v1/", "/api/v1"),
            (".", ""),
            ("./v1", "/v1"),
        ] {
            assert_eq!(normalize_base(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn url_paths() {
        for (url, want) in [
            ("https://petstore3.swagger.io/api/v3", "/api/v3"),
            ("https://api.github.com", ""),
            ("http://localhost:8080/", ""),
            ("/api", "/api"),
            ("//cdn.example.com/x/", "/x"),
            ("https://h/a?x=1", "/a"),
        ] {
            assert_eq!(normalize_base(url_path(url)), want, "{url}");
        }
    }

    fn vars(yaml_text: &str) -> Node<'_> {
        yaml::parse(yaml_text).ok().unwrap()
    }

    #[test]
    fn variables_take_defaults_and_enums() {
        let v = vars("scheme: {default: https, enum: [https, http]}\nbasePath: {default: v2, enum: [v1, v2]}\n");
        assert_eq!(
            server_base_paths("{scheme}://api.example.com/{basePath}", Some(&v)).bases,
            vec!["/v2", "/v1"]
        );
        let v = vars("basePath: {default: /api/catalog-inventory/v1.0}\n");
        assert_eq!(
            server_base_paths("https://cloud.redhat.com/{basePath}", Some(&v)).bases,
            vec!["/api/catalog-inventory/v1.0"]
        );
        assert_eq!(
            server_base_paths("https://{region}.example.com/{stage}/api", None).bases,
            vec!["/{stage}/api"]
        );
        let v = vars("server: {default: 'https://api.example.com/v1'}\n");
        assert_eq!(
            server_base_paths("{server}/beta", Some(&v)).bases,
            vec!["/v1/beta"]
        );
    }
}
