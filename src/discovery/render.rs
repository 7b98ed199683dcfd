//! The text of a generated conf: a SWAG sample with the labels applied,
//! line by line, the way swag-auto-proxy edits its copy. Pure.

use super::labels::{Auth, Publication};

/// The first line of every file discovery writes; a file without it is the
/// user's and is never touched.
pub const HEADER: &str = "## moat: generated from the labels of container ";

/// The sample a conf starts from.
pub enum Base<'a> {
    /// `<preset>.subdomain.conf.sample`: the app's tuned conf.
    Preset {
        /// The sample's name (`radarr`).
        name: &'a str,
        /// Its text.
        text: &'a str,
    },
    /// `_template.subdomain.conf.sample`, for an app without a sample.
    Template {
        /// Its text.
        text: &'a str,
    },
}

/// The conf for `p` on `base`.
pub fn render(p: &Publication, base: &Base<'_>) -> String {
    let (text, template, source) = match base {
        Base::Preset { name, text } => (*text, false, format!("{name}.subdomain.conf.sample")),
        Base::Template { text } => (*text, true, "_template.subdomain.conf.sample".to_owned()),
    };
    // The template's defaults: swag-auto-proxy's first exposed port, then 80, and http.
    let port = p.port.or(if template {
        p.exposed_port.or(Some(80))
    } else {
        None
    });
    let proto = p.proto.or(if template { Some("http") } else { None });
    let mut out = header(p, &source);
    let mut named = false;
    let mut lines: Vec<String> = Vec::new();
    for line in text.lines() {
        let indent = &line[..line.len() - line.trim_start().len()];
        let t = line.trim();
        if template && t.starts_with("# REMOVE THIS LINE BEFORE SUBMITTING") {
            continue;
        }
        let line = if template {
            line.replace("<container_name>", &p.container)
        } else {
            line.to_owned()
        };
        let replaced = if t.starts_with("set $upstream_app ") {
            Some(format!("{indent}set $upstream_app {};", p.address))
        } else if let (true, Some(port)) = (t.starts_with("set $upstream_port "), port) {
            Some(format!("{indent}set $upstream_port {port};"))
        } else if let (true, Some(proto)) = (t.starts_with("set $upstream_proto "), proto) {
            Some(format!("{indent}set $upstream_proto {proto};"))
        } else if t.starts_with("server_name ") && !named {
            named = true;
            Some(format!("{indent}server_name {};", p.server_name))
        } else {
            p.auth.and_then(|a| uncomment(&line, a))
        };
        lines.push(replaced.unwrap_or(line));
        if let Some(d) = &p.server_directive {
            if t.starts_with("include ") && t.ends_with("ssl.conf;") {
                lines.push(format!("{indent}{d}"));
            }
        }
        if let Some(d) = &p.location_directive {
            if t == "location / {" {
                lines.push(format!("{indent}    {d}"));
            }
        }
    }
    if template && !p.auth_bypass.is_empty() {
        if let Some(end) = lines.iter().rposition(|l| l.trim() == "}") {
            let blocks: Vec<String> = p
                .auth_bypass
                .iter()
                .flat_map(|folder| bypass(folder, p, port, proto))
                .collect();
            lines.splice(end..end, blocks);
        }
    }
    for line in lines {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// The file's opening comment: that moat wrote it, from what, and how.
fn header(p: &Publication, source: &str) -> String {
    format!(
        "{HEADER}{}; moat rewrites or removes this file (drop the swag=enable label to stop it,\n\
         ## or write your own {} or auto-proxy-{}.subdomain.conf without this line to take over).\n\
         ## base: {source}\n",
        p.container,
        format_args!("{}.subdomain.conf", p.container),
        p.container,
    )
}

/// `line` with its auth switch on, when it is one of `auth`'s commented lines.
fn uncomment(line: &str, auth: Auth) -> Option<String> {
    let t = line.trim_start();
    let body = t.strip_prefix('#')?;
    let on = match auth {
        Auth::Http => body.starts_with("auth_basic"),
        Auth::Ldap => {
            body.starts_with("include /config/nginx/ldap-")
                || body == "include /config/nginx/ldap.conf;"
                || body == "auth_request /auth;"
                || body == "error_page 401 =200 /ldaplogin;"
        }
        other => body.starts_with(&format!("include /config/nginx/{}-", other.name())),
    };
    on.then(|| format!("{}{body}", &line[..line.len() - t.len()]))
}

/// A location serving `folder` (and below) without the auth of `location /`.
/// Anchored, unlike swag-auto-proxy's `location ~ /api`, which also opens
/// `/anything/api` to anyone: a bypass must not reach past its subfolder.
fn bypass(folder: &str, p: &Publication, port: Option<u16>, proto: Option<&str>) -> Vec<String> {
    let port = port.unwrap_or(80);
    let proto = proto.unwrap_or("http");
    vec![
        String::new(),
        format!("    location ~ ^{}(/|$) {{", regex_quote(folder)),
        "        include /config/nginx/proxy.conf;".into(),
        "        include /config/nginx/resolver.conf;".into(),
        format!("        set $upstream_app {};", p.address),
        format!("        set $upstream_port {port};"),
        format!("        set $upstream_proto {proto};"),
        "        proxy_pass $upstream_proto://$upstream_app:$upstream_port;".into(),
        "    }".into(),
    ]
}

fn regex_quote(path: &str) -> String {
    path.chars()
        .flat_map(|c| {
            let escape = c == '.';
            escape.then_some('\\').into_iter().chain(std::iter::once(c))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::labels::ContainerFacts;
    use super::*;

    const TEMPLATE: &str = include_str!("template.subdomain.conf");

    fn publication(labels: &[(&str, &str)]) -> Publication {
        let facts = ContainerFacts {
            name: "whoami".into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            exposed_ports: vec![8000],
            networks: vec![],
        };
        Publication::from_labels(&facts, "whoami".into()).unwrap()
    }

    #[test]
    fn template_gets_name_port_proto_and_loses_submission_notes() {
        let text = render(&publication(&[]), &Base::Template { text: TEMPLATE });
        assert!(text.starts_with("## moat: generated from the labels of container whoami;"));
        assert!(text.contains("    server_name whoami.*;\n"), "{text}");
        assert!(text.contains("        set $upstream_app whoami;\n"));
        assert!(text.contains("        set $upstream_port 8000;\n"));
        assert!(text.contains("        set $upstream_proto http;\n"));
        assert!(!text.contains("<container_name>") && !text.contains("<port_number>"));
        assert!(!text.contains("REMOVE THIS LINE"));
    }

    #[test]
    fn auth_and_directives_and_bypass() {
        let p = publication(&[
            ("swag_auth", "authelia"),
            ("swag_auth_bypass", "/api,/v1.0"),
            ("swag_server_custom_directive", "client_max_body_size 5m;"),
            ("swag_location_custom_directive", "proxy_buffering off;"),
        ]);
        let text = render(&p, &Base::Template { text: TEMPLATE });
        assert!(text.contains("\n    include /config/nginx/authelia-server.conf;\n"));
        assert!(text.contains("\n        include /config/nginx/authelia-location.conf;\n"));
        assert!(text.contains("#include /config/nginx/authentik-server.conf;"));
        assert!(text.contains("#auth_basic"));
        assert!(
            text.contains("    include /config/nginx/ssl.conf;\n    client_max_body_size 5m;\n")
        );
        assert!(text.contains("    location / {\n        proxy_buffering off;\n"));
        assert!(text.contains("    location ~ ^/api(/|$) {\n"));
        assert!(text.contains("    location ~ ^/v1\\.0(/|$) {\n"));
        assert!(text.trim_end().ends_with('}'));
        let opens = text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .map(|l| l.matches('{').count())
            .sum::<usize>();
        let closes = text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .map(|l| l.matches('}').count())
            .sum::<usize>();
        assert_eq!(opens, closes, "{text}");
    }

    #[test]
    fn preset_keeps_its_own_port_unless_labelled() {
        let sample = "server {\n    server_name radarr.*;\n    location / {\n        set $upstream_app radarr;\n        set $upstream_port 7878;\n        set $upstream_proto http;\n    }\n}\n";
        let text = render(
            &publication(&[]),
            &Base::Preset {
                name: "radarr",
                text: sample,
            },
        );
        assert!(text.contains("set $upstream_port 7878;"));
        assert!(text.contains("set $upstream_app whoami;"));
        assert!(text.contains("server_name whoami.*;"));
        assert!(text.contains("## base: radarr.subdomain.conf.sample"));
        let text = render(
            &publication(&[("swag_port", "80")]),
            &Base::Preset {
                name: "radarr",
                text: sample,
            },
        );
        assert!(text.contains("set $upstream_port 80;"));
    }
}
