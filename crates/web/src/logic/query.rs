//! The URL codec: query strings in and out, and the dashboard's paths. Filters, tabs and
//! statuses live in the URL so a link or a reload shows the same view and Back restores it.

/// Percent-encodes one query component (RFC 3986 unreserved characters stay as they are).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push_str("%20"),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Decodes one query component (`+` is a space, bad escapes are kept as written).
pub fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses `?a=1&b=two` (with or without the `?`) into pairs, in order.
pub fn parse(query: &str) -> Vec<(String, String)> {
    query
        .trim_start_matches('?')
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

/// Writes pairs as a query string, leaving out empty values; `""` when nothing is left.
pub fn build(pairs: &[(&str, &str)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

/// `path` with `key` set to `value` in `query` (other keys kept; an empty value removes it).
pub fn with_param(path: &str, query: &str, key: &str, value: &str) -> String {
    let mut pairs = parse(query);
    pairs.retain(|(k, _)| k != key);
    if !value.is_empty() {
        pairs.push((key.to_string(), value.to_string()));
    }
    let refs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    format!("{path}{}", build(&refs))
}

/// The dashboard's paths, in one place.
pub mod paths {
    use super::encode;

    /// The clusters list.
    pub fn clusters() -> String {
        "/ui/clusters".into()
    }
    /// A cluster's tab.
    pub fn cluster(cluster: &str, tab: &str) -> String {
        format!("/ui/clusters/{}/{tab}", encode(cluster))
    }
    /// A service's tab.
    pub fn service(cluster: &str, service: &str, tab: &str) -> String {
        format!(
            "/ui/clusters/{}/services/{}/{tab}",
            encode(cluster),
            encode(service)
        )
    }
    /// A task.
    pub fn task(cluster: &str, id: &str) -> String {
        format!("/ui/clusters/{}/tasks/{}", encode(cluster), encode(id))
    }
    /// The task-definition families.
    pub fn families() -> String {
        "/ui/task-definitions".into()
    }
    /// A family's revisions.
    pub fn family(family: &str) -> String {
        format!("/ui/task-definitions/{}", encode(family))
    }
    /// One revision.
    pub fn revision(family: &str, revision: u32) -> String {
        format!("/ui/task-definitions/{}/{revision}", encode(family))
    }
    /// The diff of two task definitions (`family:revision` or ARNs).
    pub fn diff(a: &str, b: &str) -> String {
        format!("/ui/diff{}", super::build(&[("a", a), ("b", b)]))
    }
    /// The editor: a new revision of `from` (`family:revision`), or a new family when empty.
    pub fn editor(from: &str) -> String {
        format!("/ui/editor{}", super::build(&[("from", from)]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_awkward_text() {
        for s in ["web", "a b&c=d", "ünïcödé/✓", "100%", "status:STOPPED exit"] {
            assert_eq!(decode(&encode(s)), s);
        }
    }

    #[test]
    fn parses_and_builds() {
        assert_eq!(
            parse("?q=a%20b&status=STOPPED&flag"),
            vec![
                ("q".into(), "a b".into()),
                ("status".into(), "STOPPED".into()),
                ("flag".into(), String::new())
            ]
        );
        assert_eq!(build(&[("q", "x y"), ("empty", "")]), "?q=x%20y");
        assert_eq!(build(&[("q", "")]), "");
        assert_eq!(decode("a+b%2"), "a b%2");
    }

    #[test]
    fn sets_and_clears_one_param() {
        assert_eq!(
            with_param("/ui/x", "?status=all&q=old", "q", "new"),
            "/ui/x?status=all&q=new"
        );
        assert_eq!(with_param("/ui/x", "?q=old", "q", ""), "/ui/x");
    }

    #[test]
    fn paths_encode_names() {
        assert_eq!(
            paths::service("my cluster", "web", "deployments"),
            "/ui/clusters/my%20cluster/services/web/deployments"
        );
        assert_eq!(paths::revision("fam", 3), "/ui/task-definitions/fam/3");
    }
}
