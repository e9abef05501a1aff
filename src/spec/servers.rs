//! Base paths: where a document's operations are mounted, from 3.x `servers` (with server
//! variables) or Swagger 2.0 `basePath`, normalised the way templates are (leading slash, no
//! trailing slash, `""` for the root).

use crate::model::PathTemplate;

use super::tree::Node;

/// Server-variable combinations tried per server URL; a URL with many enum variables in its
/// host would otherwise multiply into thousands of identical paths.
const MAX_COMBINATIONS: usize = 64;

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

struct Var {
    name: String,
    values: Vec<String>,
}

/// Every base path one server object can mean: each variable takes its `default` and each
/// of its `enum` values. A variable with neither (or not declared at all) stays a `{name}`
/// parameter, so any value the deployment picks still matches.
pub(crate) fn server_base_paths(url: &str, variables: Option<&Node<'_>>) -> Vec<String> {
    let mut vars: Vec<Var> = Vec::new();
    let mut rest = url;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        let name = &rest[open + 1..open + close];
        rest = &rest[open + close + 1..];
        if vars.iter().any(|v| v.name == name) {
            continue;
        }
        let decl = variables.and_then(|v| v.get(name));
        let mut values: Vec<String> = Vec::new();
        if let Some(d) = decl.and_then(|d| d.get("default")).and_then(|d| d.as_str()) {
            values.push(d.to_string());
        }
        if let Some(items) = decl.and_then(|d| d.get("enum")).and_then(|e| e.as_seq()) {
            for v in items.iter().filter_map(|i| i.as_str()) {
                if !values.iter().any(|x| x == v) {
                    values.push(v.to_string());
                }
            }
        }
        if values.is_empty() {
            values.push(format!("{{{name}}}"));
        }
        vars.push(Var {
            name: name.to_string(),
            values,
        });
    }

    // Odometer over the variables' values, the all-defaults combination first.
    let mut out: Vec<String> = Vec::new();
    let mut idx = vec![0usize; vars.len()];
    for _ in 0..MAX_COMBINATIONS {
        let mut concrete = url.to_string();
        for (v, &i) in vars.iter().zip(&idx) {
            concrete = concrete.replace(&format!("{{{}}}", v.name), &v.values[i]);
        }
        let base = normalize_base(url_path(&concrete));
        if !out.contains(&base) {
            out.push(base);
        }
        let mut k = 0;
        loop {
            if k == vars.len() {
                return out;
            }
            idx[k] += 1;
            if idx[k] < vars[k].values.len() {
                break;
            }
            idx[k] = 0;
            k += 1;
        }
    }
    out
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
            server_base_paths("{scheme}://api.example.com/{basePath}", Some(&v)),
            vec!["/v2", "/v1"]
        );
        let v = vars("basePath: {default: /api/catalog-inventory/v1.0}\n");
        assert_eq!(
            server_base_paths("https://cloud.redhat.com/{basePath}", Some(&v)),
            vec!["/api/catalog-inventory/v1.0"]
        );
        assert_eq!(
            server_base_paths("https://{region}.example.com/{stage}/api", None),
            vec!["/{stage}/api"]
        );
        let v = vars("server: {default: 'https://api.example.com/v1'}\n");
        assert_eq!(
            server_base_paths("{server}/beta", Some(&v)),
            vec!["/v1/beta"]
        );
    }
}
