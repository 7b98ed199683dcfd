//! Just enough XML-RPC for INWX's DomRobot: a call with one struct
//! parameter written from JSON, and an answer's `<value>` read back into
//! JSON (struct → object, array → array, int/i4/double → number, boolean →
//! bool, everything else → string). A malformed answer yields `None`.

use serde_json::{Map, Value};

use super::xml;

/// `<methodCall>` for `method` with `params` (a JSON object) as its struct.
pub(crate) fn call(method: &str, params: &Value) -> String {
    let mut out =
        String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?><methodCall><methodName>");
    out.push_str(&xml::escape(method));
    out.push_str("</methodName><params><param>");
    write_value(&mut out, params);
    out.push_str("</param></params></methodCall>");
    out
}

fn write_value(out: &mut String, v: &Value) {
    out.push_str("<value>");
    match v {
        Value::Object(m) => {
            out.push_str("<struct>");
            for (k, v) in m {
                out.push_str("<member><name>");
                out.push_str(&xml::escape(k));
                out.push_str("</name>");
                write_value(out, v);
                out.push_str("</member>");
            }
            out.push_str("</struct>");
        }
        Value::Array(a) => {
            out.push_str("<array><data>");
            for v in a {
                write_value(out, v);
            }
            out.push_str("</data></array>");
        }
        Value::Number(n) if n.is_i64() || n.is_u64() => {
            out.push_str(&format!("<int>{n}</int>"));
        }
        Value::Number(n) => out.push_str(&format!("<double>{n}</double>")),
        Value::Bool(b) => out.push_str(&format!("<boolean>{}</boolean>", u8::from(*b))),
        Value::String(s) => {
            out.push_str("<string>");
            out.push_str(&xml::escape(s));
            out.push_str("</string>");
        }
        Value::Null => out.push_str("<nil/>"),
    }
    out.push_str("</value>");
}

/// The first `<param>` value of a `<methodResponse>`, or the `<fault>`'s.
pub(crate) fn response(doc: &str) -> Option<Value> {
    let start = doc.find("<value>")?;
    let mut p = Parser { s: &doc[start..] };
    p.value()
}

struct Parser<'a> {
    s: &'a str,
}

impl<'a> Parser<'a> {
    fn skip_ws(&mut self) {
        self.s = self.s.trim_start();
    }

    fn eat(&mut self, tag: &str) -> bool {
        self.skip_ws();
        match self.s.strip_prefix(tag) {
            Some(rest) => {
                self.s = rest;
                true
            }
            None => false,
        }
    }

    /// Text up to `end`, which is consumed.
    fn until(&mut self, end: &str) -> Option<&'a str> {
        let at = self.s.find(end)?;
        let text = &self.s[..at];
        self.s = &self.s[at + end.len()..];
        Some(text)
    }

    fn value(&mut self) -> Option<Value> {
        if !self.eat("<value>") {
            if self.eat("<value/>") {
                return Some(Value::String(String::new()));
            }
            return None;
        }
        self.skip_ws();
        let v = if self.eat("<struct>") {
            let mut m = Map::new();
            while self.eat("<member>") {
                if !self.eat("<name>") {
                    return None;
                }
                let name = xml::unescape(self.until("</name>")?);
                let v = self.value()?;
                if !self.eat("</member>") {
                    return None;
                }
                m.insert(name, v);
            }
            if !self.eat("</struct>") {
                return None;
            }
            Value::Object(m)
        } else if self.eat("<array>") {
            let mut a = Vec::new();
            if self.eat("<data>") {
                while let Some(v) = self.value() {
                    a.push(v);
                }
                if !self.eat("</data>") {
                    return None;
                }
            } else if !self.eat("<data/>") {
                return None;
            }
            if !self.eat("</array>") {
                return None;
            }
            Value::Array(a)
        } else if self.s.starts_with('<') && !self.s.starts_with("</value>") {
            let close = self.s.find('>')?;
            let tag = self.s[1..close].to_owned();
            if let Some(tag) = tag.strip_suffix('/') {
                self.s = &self.s[close + 1..];
                empty(tag.trim())
            } else {
                self.s = &self.s[close + 1..];
                let text = xml::unescape(self.until(&format!("</{tag}>"))?);
                scalar(&tag, text)
            }
        } else {
            // A bare value is a string; its </value> is consumed here.
            return Some(Value::String(xml::unescape(self.until("</value>")?)));
        };
        if !self.eat("</value>") {
            return None;
        }
        Some(v)
    }
}

fn empty(tag: &str) -> Value {
    match tag {
        "nil" => Value::Null,
        _ => Value::String(String::new()),
    }
}

fn scalar(tag: &str, text: String) -> Value {
    match tag {
        "int" | "i4" | "i8" => text
            .trim()
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or(Value::String(text)),
        "double" => text
            .trim()
            .parse::<f64>()
            .map(Value::from)
            .unwrap_or(Value::String(text)),
        "boolean" => Value::Bool(text.trim() == "1"),
        _ => Value::String(text),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn calls_and_answers_round_trip() {
        let params = json!({"domain": "a&b", "ttl": 300, "ok": true, "list": [1, "x"]});
        let text = super::call("nameserver.info", &params);
        assert!(text.contains("<methodName>nameserver.info</methodName>"));
        assert!(text.contains(
            "<member><name>domain</name><value><string>a&amp;b</string></value></member>"
        ));
        let answer = format!("<?xml version=\"1.0\"?><methodResponse><params><param>{}</param></params></methodResponse>",
            &text[text.find("<value>").unwrap()..text.find("</param>").unwrap()]);
        assert_eq!(super::response(&answer).unwrap(), params);
        let bare = "<methodResponse><params><param><value><struct><member><name>msg</name><value>plain text</value></member><member><name>code</name><value><i4>1000</i4></value></member></struct></value></param></params></methodResponse>";
        assert_eq!(
            super::response(bare).unwrap(),
            json!({"msg": "plain text", "code": 1000})
        );
        assert_eq!(super::response("<value><struct><member>"), None);
    }
}
