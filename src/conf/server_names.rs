//! Server selection for one listening port with nginx's `server_name`
//! priority: exact name, longest leading wildcard (`*.example.org`),
//! longest trailing wildcard (`mail.*`), the first matching regex in file
//! order, then the port's default server. Exact and wildcard names live in
//! hash maps, so a lookup costs a few probes per label of the host, not one
//! per configured name.

use super::fx_hash::FxHashMap;

use regex::Regex;

/// The servers reachable on one port.
#[derive(Debug, Clone, Default)]
pub(crate) struct PortServers {
    /// `default_server`, or the first server listening on the port.
    pub default: Option<usize>,
    exact: FxHashMap<String, usize>,
    /// `*.example.org` keyed by `example.org`.
    head: FxHashMap<String, usize>,
    /// `mail.*` keyed by `mail`.
    tail: FxHashMap<String, usize>,
    regexes: Vec<(Regex, usize)>,
}

/// A server picked for a request, with the named captures of a regex name.
#[derive(Debug)]
pub(crate) struct Picked {
    pub server: usize,
    pub captures: Vec<(String, String)>,
    pub numbered: Option<Vec<Option<String>>>,
}

/// One parsed `server_name` value.
#[derive(Debug, Clone)]
pub(crate) enum Name {
    Exact(String),
    Head(String),
    Tail(String),
    Regex(Regex),
}

impl Name {
    /// Parses one name as written; regexes start with `~`.
    pub(crate) fn parse(written: &str) -> Result<Option<Name>, String> {
        if let Some(re) = written.strip_prefix('~') {
            // nginx matches server_name regexes case-insensitively on the
            // lower-cased host; `regex` does that with (?i).
            return Regex::new(&format!("(?i){re}"))
                .map(|r| Some(Name::Regex(r)))
                .map_err(|e| format!("server_name regex \"{re}\" does not compile: {e}"));
        }
        let w = written.to_ascii_lowercase();
        if w == "_" || w.is_empty() {
            return Ok(None);
        }
        if let Some(rest) = w.strip_prefix("*.") {
            check_wild(written, rest)?;
            return Ok(Some(Name::Head(rest.to_string())));
        }
        if let Some(rest) = w.strip_suffix(".*") {
            check_wild(written, rest)?;
            return Ok(Some(Name::Tail(rest.to_string())));
        }
        if w.contains('*') {
            return Err(format!(
                "invalid server name \"{written}\": \"*\" is allowed only as a leading \"*.\" or trailing \".*\""
            ));
        }
        Ok(Some(Name::Exact(w.trim_end_matches('.').to_string())))
    }
}

fn check_wild(written: &str, rest: &str) -> Result<(), String> {
    if rest.is_empty() || rest.contains('*') {
        Err(format!("invalid server name \"{written}\""))
    } else {
        Ok(())
    }
}

impl PortServers {
    /// Registers a name for a server; `Err` when another server on this
    /// port already claims it (nginx warns and keeps the first).
    pub(crate) fn add(&mut self, name: &Name, server: usize) -> Result<(), usize> {
        let (map, key) = match name {
            Name::Exact(n) => (&mut self.exact, n),
            Name::Head(n) => (&mut self.head, n),
            Name::Tail(n) => (&mut self.tail, n),
            Name::Regex(r) => {
                self.regexes.push((r.clone(), server));
                return Ok(());
            }
        };
        match map.get(key) {
            Some(&first) if first != server => Err(first),
            Some(_) => Ok(()),
            None => {
                map.insert(key.clone(), server);
                Ok(())
            }
        }
    }

    /// Picks the server for a lower-cased host without port.
    pub(crate) fn pick(&self, host: Option<&str>) -> Option<Picked> {
        let plain = |server| Picked {
            server,
            captures: vec![],
            numbered: None,
        };
        let Some(host) = host.filter(|h| !h.is_empty()) else {
            return self.default.map(plain);
        };
        if let Some(&s) = self.exact.get(host) {
            return Some(plain(s));
        }
        // Leading wildcard: the longest suffix after a dot.
        for (i, _) in host.match_indices('.') {
            if let Some(&s) = self.head.get(&host[i + 1..]) {
                return Some(plain(s));
            }
        }
        // Trailing wildcard: the longest prefix before a dot.
        for (i, _) in host.rmatch_indices('.') {
            if let Some(&s) = self.tail.get(&host[..i]) {
                return Some(plain(s));
            }
        }
        for (re, s) in &self.regexes {
            if let Some(caps) = re.captures(host) {
                let captures = re
                    .capture_names()
                    .flatten()
                    .filter_map(|n| {
                        caps.name(n)
                            .map(|m| (n.to_string(), m.as_str().to_string()))
                    })
                    .collect();
                let numbered = caps
                    .iter()
                    .map(|m| m.map(|m| m.as_str().to_string()))
                    .collect();
                return Some(Picked {
                    server: *s,
                    captures,
                    numbered: Some(numbered),
                });
            }
        }
        self.default.map(plain)
    }
}
