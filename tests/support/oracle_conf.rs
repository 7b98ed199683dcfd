//! The oracle's own small reading of a proxy-conf: just enough structure
//! (servers, names, locations, `if` blocks, upstream `set`s) to generate
//! requests that exercise every location a file declares. It is deliberately
//! independent of `moat::conf`, so a bug there cannot hide itself here.
//!
//! Include it with `#[path = "support/oracle_conf.rs"] mod oracle_conf;`.
#![allow(dead_code)]

use regex_syntax::hir::{Class, Hir, HirKind};

/// One nginx statement: `name args... ;` or `name args... { children }`.
#[derive(Debug, Clone)]
pub struct Stmt {
    /// Directive name.
    pub name: String,
    /// Arguments, quotes removed.
    pub args: Vec<String>,
    /// Block children, when the statement has a block.
    pub block: Option<Vec<Stmt>>,
}

/// Splits conf text into statements following nginx's tokenizer rules closely
/// enough for the corpus (quotes, escapes, comments, `{`/`}`/`;`).
pub fn parse(text: &str) -> Result<Vec<Stmt>, String> {
    let tokens = tokenize(text)?;
    let mut pos = 0;
    let stmts = parse_block(&tokens, &mut pos)?;
    if pos != tokens.len() {
        return Err("unbalanced `}`".into());
    }
    Ok(stmts)
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Open,
    Close,
    Semi,
}

fn tokenize(text: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '{' => {
                out.push(Tok::Open);
                i += 1;
            }
            '}' => {
                out.push(Tok::Close);
                i += 1;
            }
            ';' => {
                out.push(Tok::Semi);
                i += 1;
            }
            '"' | '\'' => {
                let q = c;
                i += 1;
                let mut w = String::new();
                while i < chars.len() && chars[i] != q {
                    if chars[i] == '\\' && i + 1 < chars.len() && chars[i + 1] == q {
                        i += 1;
                    }
                    w.push(chars[i]);
                    i += 1;
                }
                if i >= chars.len() {
                    return Err("unterminated quote".into());
                }
                i += 1;
                out.push(Tok::Word(w));
            }
            _ => {
                let mut w = String::new();
                while i < chars.len() {
                    let c = chars[i];
                    if c.is_whitespace() || matches!(c, '{' | '}' | ';') {
                        break;
                    }
                    if c == '(' && w.is_empty() {
                        // `if (` : keep the parenthesis as its own word.
                    }
                    w.push(c);
                    i += 1;
                    if c == '\\' && i < chars.len() {
                        w.push(chars[i]);
                        i += 1;
                    }
                }
                out.push(Tok::Word(w));
            }
        }
    }
    Ok(out)
}

fn parse_block(tokens: &[Tok], pos: &mut usize) -> Result<Vec<Stmt>, String> {
    let mut stmts = Vec::new();
    while *pos < tokens.len() {
        match &tokens[*pos] {
            Tok::Close => return Ok(stmts),
            Tok::Word(name) => {
                let name = name.clone();
                *pos += 1;
                let mut args = Vec::new();
                loop {
                    match tokens.get(*pos) {
                        Some(Tok::Word(w)) => {
                            args.push(w.clone());
                            *pos += 1;
                        }
                        Some(Tok::Semi) => {
                            *pos += 1;
                            stmts.push(Stmt {
                                name,
                                args,
                                block: None,
                            });
                            break;
                        }
                        Some(Tok::Open) => {
                            *pos += 1;
                            let children = parse_block(tokens, pos)?;
                            if tokens.get(*pos) != Some(&Tok::Close) {
                                return Err(format!("block `{name}` is not closed"));
                            }
                            *pos += 1;
                            stmts.push(Stmt {
                                name,
                                args,
                                block: Some(children),
                            });
                            break;
                        }
                        _ => return Err(format!("statement `{name}` does not end")),
                    }
                }
            }
            other => return Err(format!("unexpected {other:?}")),
        }
    }
    Ok(stmts)
}

/// A `location` with its modifier and pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct Loc {
    /// ``, `=`, `^~`, `~`, `~*`, `@`.
    pub modifier: String,
    /// The path or regex.
    pub pattern: String,
}

/// An `if (` `$http_x` `~`/`~*`/`=` `value` `)` whose body may rewrite.
#[derive(Debug, Clone, PartialEq)]
pub struct HeaderIf {
    /// The request header the condition reads (`referer`, `user-agent`).
    pub header: String,
    /// The operator.
    pub op: String,
    /// The value or regex compared against.
    pub value: String,
    /// The `rewrite` regexes inside the block.
    pub rewrites: Vec<String>,
    /// The block switches to `grpc_pass` (HTTP/2 upstream).
    pub grpc: bool,
}

/// A `server` (or a subfolder file's top level) reduced to what probes need.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// `server_name` values (empty for a subfolder file).
    pub names: Vec<String>,
    /// `listen` ports (first argument's port).
    pub ports: Vec<u16>,
    /// Every location, nested ones included.
    pub locations: Vec<Loc>,
    /// Header conditions at this level and inside locations.
    pub header_ifs: Vec<HeaderIf>,
    /// `set $upstream_app/port/proto` values in this scope, in order; the
    /// port may come from elsewhere (a `server_name` capture).
    pub sets: Vec<(String, Option<u16>, Option<String>)>,
}

/// One upstream a file proxies to: `set $upstream_app/port/proto`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UpstreamUse {
    /// `$upstream_app`.
    pub app: String,
    /// `$upstream_port`.
    pub port: u16,
    /// `$upstream_proto`.
    pub proto: String,
}

/// Scopes of a file: one per `server` for subdomain files, one for the
/// top level of a subfolder file.
pub fn scopes(stmts: &[Stmt]) -> Vec<Scope> {
    let servers: Vec<&Stmt> = stmts.iter().filter(|s| s.name == "server").collect();
    if servers.is_empty() {
        let mut scope = Scope::default();
        collect(stmts, &mut scope);
        return vec![scope];
    }
    servers
        .into_iter()
        .map(|s| {
            let mut scope = Scope::default();
            collect(s.block.as_deref().unwrap_or(&[]), &mut scope);
            scope
        })
        .collect()
}

fn collect(stmts: &[Stmt], scope: &mut Scope) {
    for s in stmts {
        match s.name.as_str() {
            "server_name" => scope.names.extend(s.args.iter().cloned()),
            "set" if s.args.len() == 2 => match s.args[0].as_str() {
                "$upstream_app" => scope.sets.push((s.args[1].clone(), None, None)),
                "$upstream_port" => {
                    if let Some(last) = scope.sets.last_mut() {
                        last.1 = s.args[1].parse().ok();
                    }
                }
                "$upstream_proto" => {
                    if let Some(last) = scope.sets.last_mut() {
                        last.2 = Some(s.args[1].clone());
                    }
                }
                _ => {}
            },
            "listen" => {
                if let Some(a) = s.args.first() {
                    let port = a.rsplit(':').next().unwrap_or(a);
                    if let Ok(p) = port.parse() {
                        scope.ports.push(p);
                    }
                }
            }
            "location" => {
                let (modifier, pattern) = match s.args.as_slice() {
                    [m, p] => (m.clone(), p.clone()),
                    [p] if p.starts_with('@') => ("@".to_string(), p.clone()),
                    [p] => (String::new(), p.clone()),
                    _ => continue,
                };
                scope.locations.push(Loc { modifier, pattern });
                collect(s.block.as_deref().unwrap_or(&[]), scope);
            }
            "if" => {
                let args: Vec<&str> = s
                    .args
                    .iter()
                    .map(|a| a.trim_start_matches('(').trim_end_matches(')'))
                    .filter(|a| !a.is_empty())
                    .collect();
                if let [var, op, value] = args.as_slice() {
                    if let Some(h) = var.strip_prefix("$http_") {
                        let grpc = s
                            .block
                            .as_deref()
                            .unwrap_or(&[])
                            .iter()
                            .any(|c| c.name == "grpc_pass");
                        let rewrites = s
                            .block
                            .as_deref()
                            .unwrap_or(&[])
                            .iter()
                            .filter(|c| c.name == "rewrite")
                            .filter_map(|c| c.args.first().cloned())
                            .collect();
                        scope.header_ifs.push(HeaderIf {
                            header: h.replace('_', "-"),
                            op: op.to_string(),
                            value: value.to_string(),
                            rewrites,
                            grpc,
                        });
                    }
                }
            }
            _ => {}
        }
    }
}

/// Every `set $upstream_app/port/proto` triple in file order.
pub fn upstreams(stmts: &[Stmt]) -> Vec<UpstreamUse> {
    fn walk(stmts: &[Stmt], out: &mut Vec<(String, Option<String>, Option<String>)>) {
        for s in stmts {
            if s.name == "set" && s.args.len() == 2 {
                match s.args[0].as_str() {
                    "$upstream_app" => out.push((s.args[1].clone(), None, None)),
                    "$upstream_port" => {
                        if let Some(last) = out.last_mut() {
                            last.1 = Some(s.args[1].clone());
                        }
                    }
                    "$upstream_proto" => {
                        if let Some(last) = out.last_mut() {
                            last.2 = Some(s.args[1].clone());
                        }
                    }
                    _ => {}
                }
            }
            if let Some(b) = &s.block {
                walk(b, out);
            }
        }
    }
    let mut raw = Vec::new();
    walk(stmts, &mut raw);
    raw.into_iter()
        .filter_map(|(app, port, proto)| {
            Some(UpstreamUse {
                app,
                port: port?.parse().ok()?,
                proto: proto?,
            })
        })
        .collect()
}

/// Strings that match `pattern` (PCRE-ish, as nginx reads it): the shortest
/// form, and one with every optional part present. `None` when the regex
/// crate cannot read the pattern.
pub fn regex_samples(pattern: &str, case_insensitive: bool) -> Option<Vec<String>> {
    let hir = regex_syntax::ParserBuilder::new()
        .case_insensitive(case_insensitive)
        .build()
        .parse(pattern)
        .ok()?;
    let re = regex::Regex::new(&format!(
        "{}{}",
        if case_insensitive { "(?i)" } else { "" },
        pattern
    ))
    .ok()?;
    let mut out = Vec::new();
    for full in [false, true] {
        let mut s = String::new();
        sample(&hir, full, &mut s);
        if re.is_match(&s) && !out.contains(&s) {
            out.push(s);
        }
    }
    Some(out)
}

fn sample(hir: &Hir, full: bool, out: &mut String) {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => {}
        HirKind::Literal(l) => out.push_str(&String::from_utf8_lossy(&l.0)),
        HirKind::Class(c) => out.push(class_char(c)),
        HirKind::Repetition(r) => {
            let n = if r.min > 0 {
                r.min
            } else if full {
                1
            } else {
                0
            };
            for _ in 0..n {
                sample(&r.sub, full, out);
            }
        }
        HirKind::Capture(c) => sample(&c.sub, full, out),
        HirKind::Concat(items) => items.iter().for_each(|h| sample(h, full, out)),
        HirKind::Alternation(alts) => {
            let pick = if full { alts.len() - 1 } else { 0 };
            sample(&alts[pick], full, out)
        }
    }
}

/// A readable character the class contains: a letter or digit if it has one.
fn class_char(c: &Class) -> char {
    let mut fallback = None;
    let ranges: Vec<(char, char)> = match c {
        Class::Unicode(u) => u.ranges().iter().map(|r| (r.start(), r.end())).collect(),
        Class::Bytes(b) => b
            .ranges()
            .iter()
            .map(|r| (r.start() as char, r.end() as char))
            .collect(),
    };
    for want in ['a', 'x', '1', 'A', '-'] {
        if ranges.iter().any(|(s, e)| *s <= want && want <= *e) {
            return want;
        }
    }
    for (s, e) in &ranges {
        for ch in *s..=*e {
            if ch.is_ascii_alphanumeric() {
                return ch;
            }
            if fallback.is_none() && ch.is_ascii_graphic() && !"?#%/\\ ".contains(ch) {
                fallback = Some(ch);
            }
        }
    }
    fallback.unwrap_or('a')
}
