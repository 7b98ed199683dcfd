//! `map $source $target { ... }`: a variable computed from another one,
//! evaluated lazily when a template reads it.

use std::collections::HashSet;

use regex::Regex;

use super::ast::Directive;
use super::compile::script::regex;
use super::error::ConfError;
use super::variables::{Template, VarSource};

/// One compiled `map` block.
#[derive(Debug, Clone)]
pub(crate) struct MapDef {
    source: Template,
    default: Template,
    exact: super::fx_hash::FxHashMap<String, Template>,
    regexes: Vec<(Regex, Template)>,
}

impl MapDef {
    /// Compiles `map SOURCE $target { key value; ... }`; returns the target name.
    pub(crate) fn compile(
        d: &Directive,
        declared: &HashSet<String>,
    ) -> Result<(String, MapDef), ConfError> {
        let [src, target] = d.args.as_slice() else {
            return Err(ConfError::at(
                &d.span,
                "\"map\" expects: map SOURCE $variable { ... }",
            ));
        };
        let Some(name) = target.value.strip_prefix('$') else {
            return Err(ConfError::at(
                &target.span,
                format!("invalid variable name \"{}\", expected $name", target.value),
            ));
        };
        let mut map = MapDef {
            source: Template::parse(&src.value, &src.span, declared)?,
            default: Template::default(),
            exact: Default::default(),
            regexes: Vec::new(),
        };
        for entry in d.block.as_deref().unwrap_or_default() {
            if entry.block.is_some() {
                return Err(ConfError::at(
                    &entry.span,
                    "unexpected block inside \"map\"",
                ));
            }
            let key = &entry.name;
            match (key.as_str(), entry.args.as_slice()) {
                ("hostnames" | "volatile", []) => {}
                ("include", _) => {
                    return Err(ConfError::at(
                        &entry.span,
                        "\"include\" inside \"map\" is not supported",
                    ))
                }
                (_, [value]) => {
                    let value = Template::parse(&value.value, &value.span, declared)?;
                    if key == "default" {
                        map.default = value;
                    } else if let Some(re) = key.strip_prefix("~*") {
                        map.regexes.push((regex(re, true, &entry.span)?, value));
                    } else if let Some(re) = key.strip_prefix('~') {
                        map.regexes.push((regex(re, false, &entry.span)?, value));
                    } else {
                        let k = key.strip_prefix('\\').unwrap_or(key);
                        map.exact.entry(k.to_ascii_lowercase()).or_insert(value);
                    }
                }
                _ => {
                    return Err(ConfError::at(
                        &entry.span,
                        "invalid map entry, expected: KEY VALUE;",
                    ))
                }
            }
        }
        Ok((name.to_string(), map))
    }

    /// The value for one request.
    pub(crate) fn eval(&self, src: &dyn VarSource) -> std::borrow::Cow<'_, str> {
        let input = self.source.render(src);
        let found = if input.bytes().any(|b| b.is_ascii_uppercase()) {
            self.exact.get(&input.to_ascii_lowercase())
        } else {
            self.exact.get(&input)
        };
        let value = match found {
            Some(v) => v,
            None => self
                .regexes
                .iter()
                .find(|(re, _)| re.is_match(&input))
                .map_or(&self.default, |(_, v)| v),
        };
        // A constant value (`default upgrade; '' close;`) is borrowed.
        match value.literal() {
            Some(text) => std::borrow::Cow::Borrowed(text),
            None => std::borrow::Cow::Owned(value.render(src)),
        }
    }
}
