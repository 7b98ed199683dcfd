//! Just enough XML for Route 53's answers: the text of named elements and
//! the bodies of repeated ones, entities decoded. Not a parser: no DTDs,
//! namespaces prefixes, CDATA or comments are expected in these answers, and
//! an element never contains another of the same name. What it finds is
//! only ever compared or shown, so a malformed answer yields `None`, never a
//! panic; writing uses [`escape`].

/// The raw bodies of every `<tag>...</tag>` (or `<tag attr="...">...`) in
/// `xml`, in order; `<tag/>` yields an empty body.
pub(crate) fn elements<'x>(xml: &'x str, tag: &str) -> Vec<&'x str> {
    let open = format!("<{tag}");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(at) = rest.find(&open) {
        let after = &rest[at + open.len()..];
        // `<tag>` or `<tag ...>`, not `<tagger>`.
        let Some(end_of_open) = after.find('>') else {
            break;
        };
        let head = &after[..end_of_open];
        if !(head.is_empty() || head.starts_with(char::is_whitespace) || head == "/") {
            rest = after;
            continue;
        }
        if head.ends_with('/') {
            out.push("");
            rest = &after[end_of_open + 1..];
            continue;
        }
        let body = &after[end_of_open + 1..];
        let Some(end) = body.find(&close) else {
            break;
        };
        out.push(&body[..end]);
        rest = &body[end + close.len()..];
    }
    out
}

/// The decoded text of the first `<tag>` in `xml`.
pub(crate) fn text(xml: &str, tag: &str) -> Option<String> {
    elements(xml, tag).first().map(|s| unescape(s.trim()))
}

/// Decodes the five predefined entities and numeric references; an unknown
/// entity is left as written.
pub(crate) fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let Some(semi) = tail.find(';').filter(|i| *i <= 10) else {
            out.push('&');
            rest = &tail[1..];
            continue;
        };
        let name = &tail[1..semi];
        let decoded = match name {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => name
                .strip_prefix("#x")
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| name.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &tail[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Escapes text for an element body.
pub(crate) fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_in_order_with_attributes_and_empty_ones() {
        let xml = r#"<R xmlns="x"><HostedZones><HostedZone><Id>/hostedzone/Z1</Id><Name>a.test.</Name></HostedZone><HostedZone><Id>/hostedzone/Z2</Id><Name>b.test.</Name></HostedZone></HostedZones><HostedZoneId/></R>"#;
        let zones = elements(xml, "HostedZone");
        assert_eq!(zones.len(), 2);
        assert_eq!(text(zones[1], "Id").as_deref(), Some("/hostedzone/Z2"));
        // `<HostedZones>` is not a `<HostedZone>`; `<HostedZoneId/>` is empty.
        assert_eq!(elements(xml, "HostedZoneId"), [""]);
        assert_eq!(text(xml, "R").map(|s| s.len() > 10), Some(true));
        assert_eq!(text(xml, "Missing"), None);
    }

    #[test]
    fn entities_are_decoded_and_unknown_ones_kept() {
        assert_eq!(
            unescape("&quot;v&quot; &amp; &#65;&#x42; &bogus; & x"),
            "\"v\" & AB &bogus; & x"
        );
        assert_eq!(escape("\"a\" <&>"), "&quot;a&quot; &lt;&amp;&gt;");
        assert_eq!(unescape(&escape("\"x&y\"")), "\"x&y\"");
    }

    #[test]
    fn truncated_input_yields_what_is_complete() {
        assert_eq!(elements("<A>1</A><A>2", "A"), ["1"]);
        assert!(elements("<A", "A").is_empty());
    }
}
