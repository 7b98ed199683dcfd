//! The status page as HTML: tables and one inline SVG time-line, readable
//! without JavaScript and without any asset fetched from elsewhere.

use std::fmt::Write;

use super::model::{Certificate, Renewal, Status};

/// The whole page for `status`.
pub fn html(status: &Status) -> String {
    let mut out = String::with_capacity(16 * 1024);
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>moat status</title><style>{STYLE}</style></head><body>\
         <h1>moat</h1><p class=\"meta\">read at <time>{}</time></p>",
        esc(&status.generated_at)
    );
    config_section(status, &mut out);
    routes_section(status, &mut out);
    certificates_section(status, &mut out);
    traffic_section(status, &mut out);
    bans_section(status, &mut out);
    out.push_str("</body></html>\n");
    out
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}\
table{border-collapse:collapse;margin:.5em 0 1.5em}\
th,td{border-bottom:1px solid #ddd;padding:.25em .6em;text-align:left;vertical-align:top}\
th{background:#f4f4f4}code{font-size:13px}.meta{color:#666}\
.ok{color:#17692c}.warn{color:#9a5b00}.bad{color:#a11}.sub{padding-left:1.5em}";

fn config_section(status: &Status, out: &mut String) {
    let c = &status.config;
    out.push_str("<section id=\"config\"><h2>Configuration</h2>");
    match c.state {
        "current" => {
            out.push_str("<p class=\"ok\" data-state=\"current\">the live confs are serving</p>")
        }
        "last_good" => {
            let _ = write!(
                out,
                "<p class=\"warn\" data-state=\"last_good\">serving the last good copy from {}; the live confs are broken: <code>{}</code></p>",
                esc(c.saved_at.as_deref().unwrap_or("?")),
                esc(c.problem.as_deref().unwrap_or(""))
            );
        }
        _ => {
            let _ = write!(
                out,
                "<p class=\"bad\" data-state=\"broken\">nothing loads; every request answers 503: <code>{}</code></p>",
                esc(c.problem.as_deref().unwrap_or(""))
            );
        }
    }
    for lapse in &status.degraded {
        let _ = write!(
            out,
            "<p class=\"warn degraded\">degraded: {}</p>",
            esc(lapse)
        );
    }
    out.push_str("</section>");
}

fn routes_section(status: &Status, out: &mut String) {
    let _ = write!(
        out,
        "<section id=\"routes\"><h2>Routes ({})</h2><table><thead><tr><th>server names</th><th>listen</th>\
         <th>location</th><th>action</th><th>upstream</th><th>source</th></tr></thead><tbody>",
        status.routes.len()
    );
    for r in &status.routes {
        let names = if r.names.is_empty() {
            "<em>(no name)</em>".to_owned()
        } else {
            esc(&r.names.join(" "))
        };
        let default = if r.default_for.is_empty() {
            String::new()
        } else {
            format!(
                " <span class=\"meta\">default for {:?}</span>",
                r.default_for
            )
        };
        let rows = r.locations.len().max(1);
        let _ = write!(
            out,
            "<tr class=\"route\"><td rowspan=\"{rows}\" class=\"names\">{names}{default}</td>\
             <td rowspan=\"{rows}\">{}</td>",
            esc(&r.listens.join(", "))
        );
        let source =
            |file: &str, line: u32| format!("{} <code>{}:{line}</code>", r.source, esc(file));
        if r.locations.is_empty() {
            let _ = write!(
                out,
                "<td></td><td></td><td></td><td>{}</td></tr>",
                source(&r.file, r.line)
            );
        }
        for (i, l) in r.locations.iter().enumerate() {
            if i > 0 {
                out.push_str("<tr class=\"route\">");
            }
            let mut action = esc(&l.action);
            if let Some(auth) = &l.auth {
                let _ = write!(action, " <span class=\"meta\">auth: {}</span>", esc(auth));
            }
            if l.internal {
                action.push_str(" <span class=\"meta\">internal</span>");
            }
            let _ = write!(
                out,
                "<td class=\"location\" style=\"padding-left:{}em\"><code>{}</code></td><td>{action}</td>\
                 <td class=\"upstream\"><code>{}</code></td><td>{}</td></tr>",
                0.6 + 1.2 * f64::from(l.depth),
                esc(&l.r#match),
                esc(l.upstream.as_deref().unwrap_or("")),
                source(&l.file, l.line),
            );
        }
    }
    out.push_str("</tbody></table></section>");
}

fn certificates_section(status: &Status, out: &mut String) {
    let _ = write!(
        out,
        "<section id=\"certificates\"><h2>Certificates ({})</h2>",
        status.certificates.len()
    );
    timeline(
        &status.certificates,
        &status.renewals,
        status.generated_at_unix,
        out,
    );
    out.push_str(
        "<table><thead><tr><th>served for</th><th>names</th><th>issuer</th>\
         <th>valid from</th><th>valid until</th><th>days left</th></tr></thead><tbody>",
    );
    for c in &status.certificates {
        let _ = write!(
            out,
            "<tr class=\"certificate\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td class=\"{}\">{}</td></tr>",
            esc(&c.served_for.join(" ")),
            esc(&c.names.join(" ")),
            esc(&c.issuer),
            esc(&c.not_before),
            esc(&c.not_after),
            urgency(c.days_left),
            c.days_left
        );
    }
    out.push_str("</tbody></table>");
    if !status.renewals.is_empty() {
        out.push_str(
            "<h3>Renewals</h3><table><thead><tr><th>lineage</th><th>names</th><th>last success</th>\
             <th>next attempt</th><th>failures</th><th>last error</th></tr></thead><tbody>",
        );
        for r in &status.renewals {
            let error = match (&r.last_error, &r.likely_cause) {
                (Some(e), Some(c)) => {
                    format!("{} <span class=\"meta\">({})</span>", esc(e), esc(c))
                }
                (Some(e), None) => esc(e),
                _ => String::new(),
            };
            let _ = write!(
                out,
                "<tr class=\"renewal\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"bad\">{error}</td></tr>",
                esc(&r.lineage),
                esc(&r.domains.join(" ")),
                esc(r.last_success.as_deref().unwrap_or("-")),
                esc(r.next_attempt.as_deref().unwrap_or("-")),
                r.failures,
            );
        }
        out.push_str("</tbody></table>");
    }
    out.push_str("</section>");
}

/// Health per upstream address: what each answered, by address.
fn upstreams_table(status: &Status, out: &mut String) {
    if status.upstreams.is_empty() {
        return;
    }
    out.push_str(
        "<h3>Upstreams</h3><table><thead><tr><th>upstream</th><th>address</th><th>requests</th><th>5xx</th>\
         <th>latest status</th><th>latest upstream time</th><th>mean upstream time</th></tr></thead><tbody>",
    );
    for u in &status.upstreams {
        let class = if u.last_status >= 500 { "bad" } else { "ok" };
        let _ = write!(
            out,
            "<tr class=\"upstream\"><td><code>{}</code></td><td><code>{}</code></td><td>{}</td><td>{}</td><td class=\"{class}\">{}</td><td>{}</td><td>{}</td></tr>",
            esc(&u.name),
            esc(&u.address),
            u.requests,
            u.failed,
            u.last_status,
            millis(u.last_upstream_ms),
            millis(u.mean_upstream_ms)
        );
    }
    out.push_str("</tbody></table>");
}

fn millis(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.1} ms"))
        .unwrap_or_else(|| "-".into())
}

fn traffic_section(status: &Status, out: &mut String) {
    out.push_str("<section id=\"traffic\"><h2>Traffic and upstreams</h2>");
    if status.traffic.is_empty() {
        out.push_str("<p class=\"meta\">no request yet</p>");
    } else {
        out.push_str(
            "<table><thead><tr><th>server</th><th>requests</th><th>5xx</th><th>latest status</th>\
             <th>latest upstream time</th><th>mean upstream time</th></tr></thead><tbody>",
        );
        for t in &status.traffic {
            let class = if t.last_status >= 500 { "bad" } else { "ok" };
            let _ = write!(
                out,
                "<tr class=\"traffic\"><td>{}</td><td>{}</td><td>{}</td><td class=\"{class}\">{}</td><td>{}</td><td>{}</td></tr>",
                esc(&t.server),
                t.requests,
                t.failed,
                t.last_status,
                millis(t.last_upstream_ms),
                millis(t.mean_upstream_ms)
            );
        }
        out.push_str("</tbody></table>");
    }
    upstreams_table(status, out);
    let _ = write!(
        out,
        "<h3>Recent errors ({})</h3>",
        status.recent_errors.len()
    );
    if !status.recent_errors.is_empty() {
        out.push_str(
            "<table><thead><tr><th>when</th><th>status</th><th>conf</th><th>upstream</th><th>cause</th></tr></thead><tbody>",
        );
        for e in &status.recent_errors {
            let _ = write!(
                out,
                "<tr class=\"recent-error\"><td>{}</td><td class=\"bad\">{}</td><td><code>{}</code></td><td><code>{}</code></td><td>{}</td></tr>",
                esc(&e.at),
                e.status,
                esc(&e.conf),
                esc(&e.upstream),
                esc(&e.cause)
            );
        }
        out.push_str("</tbody></table>");
    }
    out.push_str("</section>");
}

fn bans_section(status: &Status, out: &mut String) {
    let Some(bans) = &status.bans else {
        out.push_str(
            "<section id=\"bans\"><h2>Bans</h2><p class=\"meta\">the jails are off</p></section>",
        );
        return;
    };
    let _ = write!(
        out,
        "<section id=\"bans\"><h2>Bans ({} active)</h2><p class=\"meta\">jails: {}; refused so far: {}</p>",
        bans.active.len(),
        esc(&bans.jails.join(", ")),
        bans.refused
    );
    if !bans.active.is_empty() {
        out.push_str(
            "<table><thead><tr><th>address</th><th>jail</th><th>until</th></tr></thead><tbody>",
        );
        for b in &bans.active {
            let _ = write!(
                out,
                "<tr class=\"ban\"><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&b.addr),
                esc(&b.jail),
                esc(b.until.as_deref().unwrap_or("forever"))
            );
        }
        out.push_str("</tbody></table>");
    }
    out.push_str("</section>");
}

fn urgency(days_left: i64) -> &'static str {
    match days_left {
        d if d > 30 => "ok",
        d if d > 7 => "warn",
        _ => "bad",
    }
}

/// Width of the plot, of its label column, and height of one row.
const WIDTH: f64 = 860.0;
const LABEL: f64 = 230.0;
const ROW: f64 = 26.0;

/// One bar per certificate from notBefore to notAfter, a line at now, and
/// a diamond where each lineage's next renewal attempt falls.
fn timeline(certs: &[Certificate], renewals: &[Renewal], now: i64, out: &mut String) {
    if certs.is_empty() {
        out.push_str("<p class=\"meta\">no certificate is in service</p>");
        return;
    }
    let start = certs
        .iter()
        .map(|c| c.not_before_unix)
        .min()
        .unwrap_or(now)
        .min(now);
    let end = certs
        .iter()
        .map(|c| c.not_after_unix)
        .chain(renewals.iter().filter_map(|r| r.next_attempt_unix))
        .max()
        .unwrap_or(now)
        .max(now + 86_400);
    let span = (end - start).max(1) as f64;
    let x = |t: i64| LABEL + (WIDTH - LABEL - 10.0) * ((t - start) as f64 / span);
    let rows = certs.len() + usize::from(!renewals.is_empty());
    let height = ROW * rows as f64 + 52.0;
    let _ = write!(
        out,
        "<svg id=\"cert-timeline\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" \
         viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" aria-label=\"certificate validity time-line\" \
         font-family=\"system-ui,sans-serif\" font-size=\"12\">"
    );
    for (i, c) in certs.iter().enumerate() {
        let y = ROW * i as f64 + 6.0;
        let (x0, x1) = (x(c.not_before_unix), x(c.not_after_unix));
        let fill = match urgency(c.days_left) {
            "ok" => "#3f9d57",
            "warn" => "#d08a1e",
            _ => "#c23b3b",
        };
        let _ = write!(
            out,
            "<text x=\"4\" y=\"{}\">{}</text><rect class=\"cert-bar\" x=\"{x0:.1}\" y=\"{y}\" width=\"{:.1}\" \
             height=\"{}\" rx=\"3\" fill=\"{fill}\"><title>{} until {} ({} days left)</title></rect>",
            y + 14.0,
            esc(&short(&c.served_for.join(" "), 32)),
            (x1 - x0).max(1.0),
            ROW - 10.0,
            esc(&c.served_for.join(" ")),
            esc(&c.not_after),
            c.days_left
        );
    }
    if !renewals.is_empty() {
        let y = ROW * certs.len() as f64 + 6.0;
        let _ = write!(
            out,
            "<text x=\"4\" y=\"{}\">next renewal attempts</text>",
            y + 14.0
        );
        for r in renewals {
            if let Some(t) = r.next_attempt_unix {
                let (cx, cy) = (x(t), y + 8.0);
                let _ = write!(
                    out,
                    "<path class=\"renewal-mark\" d=\"M{cx:.1} {:.1} l6 8 l-6 8 l-6 -8 z\" fill=\"#2d5fa8\">\
                     <title>{}: {}</title></path>",
                    cy - 8.0,
                    esc(&r.lineage),
                    esc(r.next_attempt.as_deref().unwrap_or(""))
                );
            }
        }
    }
    let axis = ROW * rows as f64 + 12.0;
    let _ = write!(
        out,
        "<line x1=\"{LABEL}\" y1=\"{axis}\" x2=\"{}\" y2=\"{axis}\" stroke=\"#888\"/>",
        WIDTH - 10.0
    );
    for k in 0..=4 {
        let t = start + (end - start) * k / 4;
        let tx = x(t);
        let anchor = match k {
            0 => "start",
            4 => "end",
            _ => "middle",
        };
        let _ = write!(
            out,
            "<line x1=\"{tx:.1}\" y1=\"{axis}\" x2=\"{tx:.1}\" y2=\"{}\" stroke=\"#888\"/>\
             <text x=\"{tx:.1}\" y=\"{}\" text-anchor=\"{anchor}\">{}</text>",
            axis + 4.0,
            axis + 18.0,
            date(t)
        );
    }
    let nx = x(now);
    let _ = write!(
        out,
        "<line id=\"now\" x1=\"{nx:.1}\" y1=\"0\" x2=\"{nx:.1}\" y2=\"{}\" stroke=\"#222\" stroke-dasharray=\"4 3\"/>\
         <text x=\"{nx:.1}\" y=\"{}\" text-anchor=\"middle\" font-weight=\"bold\">now</text></svg>",
        axis + 22.0,
        axis + 34.0
    );
}

fn date(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .map(|d| d.date().to_string())
        .unwrap_or_default()
}

fn short(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut s: String = text.chars().take(max - 1).collect();
    s.push('…');
    s
}

/// HTML text and attribute escaping.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::model::{ConfigState, Route, RouteLocation};

    fn status() -> Status {
        let day = 86_400;
        Status {
            generated_at: "2026-12-06T00:00:00Z".into(),
            generated_at_unix: 1_796_515_200,
            config: ConfigState {
                state: "current",
                problem: None,
                saved_at: None,
            },
            degraded: vec![],
            routes: vec![Route {
                names: vec!["<script>.example.com".into()],
                file: "nginx/proxy-confs/x.subdomain.conf".into(),
                line: 3,
                listens: vec!["443 ssl".into()],
                default_for: vec![],
                source: "file",
                locations: vec![RouteLocation {
                    r#match: "/".into(),
                    action: "proxy".into(),
                    upstream: Some("http://app:80".into()),
                    auth: None,
                    internal: false,
                    file: "nginx/proxy-confs/x.subdomain.conf".into(),
                    line: 5,
                    depth: 0,
                }],
            }],
            certificates: vec![Certificate {
                served_for: vec!["*.example.com".into()],
                names: vec!["*.example.com".into()],
                issuer: "CN=test".into(),
                not_before: "b".into(),
                not_after: "a".into(),
                not_before_unix: 1_796_515_200 - 30 * day,
                not_after_unix: 1_796_515_200 + 60 * day,
                days_left: 60,
            }],
            renewals: vec![],
            bans: None,
            traffic: vec![],
            upstreams: vec![],
            recent_errors: vec![],
        }
    }

    #[test]
    fn names_from_confs_are_escaped() {
        let page = html(&status());
        assert!(page.contains("&lt;script&gt;.example.com"), "{page}");
        assert!(!page.contains("<script>"), "{page}");
    }

    #[test]
    fn the_bar_spans_the_validity_and_now_falls_a_third_in() {
        let page = html(&status());
        // 90 days of plot, now 30 days in: a third of the plot width.
        let plot = WIDTH - LABEL - 10.0;
        let now = LABEL + plot * 30.0 / 90.0;
        assert!(
            page.contains(&format!("id=\"now\" x1=\"{now:.1}\"")),
            "{page}"
        );
        assert!(page.contains(&format!("x=\"{LABEL:.1}\"")), "{page}");
    }
}
