//! An integration's settings, read by the schema the connector declared: every value is
//! checked once, as it arrives (unknown keys, missing required fields, numbers out of
//! range, URLs that are not http(s), booleans that are neither), so the connector's own
//! code reads typed values and never re-validates.

use crate::error::ConnectorError;
use crate::schema::{Field, FieldKind};
use std::collections::BTreeMap;
use url::Url;

/// Checked settings: the values given, else the declared defaults.
#[derive(Clone, PartialEq, Eq)]
pub struct Settings {
    fields: Vec<Field>,
    values: BTreeMap<&'static str, String>,
}

/// Secrets never reach a debug print.
impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut map = f.debug_map();
        for field in &self.fields {
            if let Some(value) = self.values.get(field.key) {
                match field.kind {
                    FieldKind::Secret => map.entry(&field.key, &"<redacted>"),
                    _ => map.entry(&field.key, value),
                };
            }
        }
        map.finish()
    }
}

fn config(message: String) -> ConnectorError {
    ConnectorError::Config(message)
}

impl Settings {
    /// Reads `entries` (key, value) by `fields`. A blank value counts as not given, so the
    /// default applies; a key given twice keeps its last value.
    pub fn parse<'a>(
        fields: &[Field],
        entries: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Settings, ConnectorError> {
        let mut values = BTreeMap::new();
        for (key, value) in entries {
            let Some(field) = fields.iter().find(|f| f.key == key) else {
                let known: Vec<&str> = fields.iter().map(|f| f.key).collect();
                return Err(config(format!(
                    "unknown setting `{key}`; known settings: {}",
                    known.join(", ")
                )));
            };
            match value.trim() {
                "" => values.remove(field.key),
                given => values.insert(field.key, given.to_string()),
            };
        }
        for field in fields {
            if !values.contains_key(field.key) {
                match field.default {
                    Some(default) => values.insert(field.key, default.to_string()),
                    None if field.required => {
                        return Err(config(format!("`{}` is required", field.key)));
                    }
                    None => None,
                };
            }
            if let Some(value) = values.get(field.key) {
                check(field, value)?;
            }
        }
        Ok(Settings {
            fields: fields.to_vec(),
            values,
        })
    }

    /// The value of `key` as given or defaulted; `None` when it has neither.
    pub fn text(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// The value of `key`, which must have one.
    pub fn required(&self, key: &str) -> Result<&str, ConnectorError> {
        self.text(key)
            .ok_or_else(|| config(format!("`{key}` is required")))
    }

    /// A `url` setting, parsed.
    pub fn url(&self, key: &str) -> Result<Url, ConnectorError> {
        let value = self.required(key)?;
        Url::parse(value).map_err(|e| internal_unchecked(key, &e))
    }

    /// A `number` setting (within its range, checked on parse).
    pub fn number(&self, key: &str) -> Result<i64, ConnectorError> {
        let value = self.required(key)?;
        value.parse().map_err(|e| internal_unchecked(key, &e))
    }

    /// A `bool` setting; `false` when it has no value.
    pub fn flag(&self, key: &str) -> Result<bool, ConnectorError> {
        match self.text(key) {
            None => Ok(false),
            Some(value) => parse_bool(value).ok_or_else(|| internal_unchecked(key, &value)),
        }
    }

    /// A `list` setting's values: trimmed, blanks and repeats dropped, in order.
    pub fn list(&self, key: &str) -> Vec<String> {
        self.text(key).map(split_list).unwrap_or_default()
    }
}

/// A value that passed [`Settings::parse`] but does not read as its kind: the key is not
/// of that kind in the schema, a bug in the connector.
fn internal_unchecked(key: &str, error: &dyn std::fmt::Display) -> ConnectorError {
    ConnectorError::Internal(format!(
        "setting `{key}` read as another kind than it declares: {error}"
    ))
}

/// Checks one value against its field's kind.
fn check(field: &Field, value: &str) -> Result<(), ConnectorError> {
    let key = field.key;
    match field.kind {
        FieldKind::Text | FieldKind::Secret | FieldKind::List => Ok(()),
        FieldKind::Url => check_url(key, value),
        FieldKind::Bool => parse_bool(value)
            .map(|_| ())
            .ok_or_else(|| config(format!("`{key}` must be true or false, got `{value}`"))),
        FieldKind::Number => {
            let (min, max) = field.range.unwrap_or((i64::MIN, i64::MAX));
            match value.parse::<i64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(()),
                _ => Err(config(format!(
                    "`{key}` must be a whole number from {min} to {max}, got `{value}`"
                ))),
            }
        }
    }
}

/// An http(s) URL with a host.
fn check_url(key: &str, value: &str) -> Result<(), ConnectorError> {
    let url = Url::parse(value)
        .map_err(|e| config(format!("`{key}` is not a valid URL ({e}): {value}")))?;
    if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
        return Err(config(format!(
            "`{key}` must be an http(s) URL with a host: {value}"
        )));
    }
    Ok(())
}

fn parse_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" | "on" => Some(true),
        "false" | "no" | "0" | "off" => Some(false),
        _ => None,
    }
}

/// Splits a comma-separated list, dropping blanks and repeats, keeping order.
pub fn split_list(value: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if !out.iter().any(|o| o == item) {
            out.push(item.to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> Vec<Field> {
        vec![
            Field::new("api-url", "API", "", FieldKind::Url).default_value("https://api.example"),
            Field::new("token", "Token", "", FieldKind::Secret).required(),
            Field::new("size", "Size", "", FieldKind::Number)
                .default_value("100")
                .range(1, 100),
            Field::new("repos", "Repos", "", FieldKind::List),
            Field::new("drafts", "Drafts", "", FieldKind::Bool),
        ]
    }

    #[test]
    fn values_are_typed_with_defaults_filled_in() {
        let s = Settings::parse(
            &fields(),
            [
                ("token", "t0k3n"),
                ("repos", " a, b ,,a "),
                ("drafts", "TRUE"),
                ("size", " "),
            ],
        )
        .unwrap();
        assert_eq!(s.url("api-url").unwrap().as_str(), "https://api.example/");
        assert_eq!(s.required("token").unwrap(), "t0k3n");
        assert_eq!(s.number("size").unwrap(), 100, "blank takes the default");
        assert_eq!(s.list("repos"), ["a", "b"]);
        assert!(s.flag("drafts").unwrap());
        assert!(!format!("{s:?}").contains("t0k3n"), "{s:?}");
    }

    #[test]
    fn every_wrong_value_is_a_configuration_error_naming_its_key() {
        let cases: [(&[(&str, &str)], &str); 6] = [
            (&[], "`token` is required"),
            (
                &[("token", "t"), ("colour", "red")],
                "unknown setting `colour`",
            ),
            (
                &[("token", "t"), ("size", "101")],
                "`size` must be a whole number from 1 to 100",
            ),
            (
                &[("token", "t"), ("size", "ten")],
                "`size` must be a whole number",
            ),
            (
                &[("token", "t"), ("api-url", "ftp://x")],
                "`api-url` must be an http(s) URL",
            ),
            (
                &[("token", "t"), ("drafts", "maybe")],
                "`drafts` must be true or false",
            ),
        ];
        for (entries, says) in cases {
            let error = Settings::parse(&fields(), entries.iter().copied()).unwrap_err();
            assert!(matches!(error, ConnectorError::Config(_)), "{error}");
            assert!(error.to_string().contains(says), "{says}: {error}");
        }
    }
}
