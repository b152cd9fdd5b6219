//! An integration's settings checked against its plugin's schema: required values,
//! numbers in range, URLs that parse, no unknown keys. Also derives what the sandbox
//! needs from them (the URL allow-list) and which values are secret.

use crate::model::{ConfigField, FieldKind, Integration};
use crate::plugin::policy::{AllowList, Grants};
use crate::redact::Redactor;
use crate::secrets::SealedFor;
use std::collections::{BTreeMap, BTreeSet};
use url::Url;

/// A settings problem, naming the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("setting `{key}`: {message}")]
pub struct SettingError {
    /// The setting.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

/// The first URL setting of `schema` that `values` leave to a default: a host the plugin
/// chose, which whoever holds `values` never accepted.
pub fn unaccepted_default<'a>(
    schema: &'a [ConfigField],
    values: &BTreeMap<String, String>,
) -> Option<(&'a ConfigField, &'a str)> {
    schema.iter().find_map(|f| {
        let default = f.default_value.as_deref().map(str::trim)?;
        (f.kind == FieldKind::Url && !default.is_empty() && !values.contains_key(&f.key))
            .then_some((f, default))
    })
}

/// Validated settings: every value given, secrets included, keyed by field.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Settings {
    values: BTreeMap<String, String>,
    /// Keys whose stored values were sealed: they stay secret whatever the plugin now
    /// declares, so an upgrade that re-declares a secret as text cannot unmask it.
    sealed: BTreeSet<String>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Settings({:?})", self.values.keys().collect::<Vec<_>>())
    }
}

impl Settings {
    /// Checks `values` against `schema`. A URL setting left empty takes the plugin's
    /// default as its value, so what a run may reach is always in the stored settings.
    pub fn validate(
        schema: &[ConfigField],
        values: BTreeMap<String, String>,
    ) -> Result<Self, SettingError> {
        let error = |key: &str, message: String| SettingError {
            key: key.to_string(),
            message,
        };
        if let Some(unknown) = values.keys().find(|k| !schema.iter().any(|f| &f.key == *k)) {
            let known: Vec<&str> = schema.iter().map(|f| f.key.as_str()).collect();
            return Err(error(
                unknown,
                format!(
                    "unknown for this connector; known settings: {}",
                    known.join(", ")
                ),
            ));
        }
        let mut values: BTreeMap<String, String> = values
            .into_iter()
            .map(|(k, v)| (k, v.trim().to_string()))
            .filter(|(_, v)| !v.is_empty())
            .collect();
        for field in schema {
            if field.kind == FieldKind::Url
                && !values.contains_key(&field.key)
                && let Some(default) = field.default_value.as_deref().map(str::trim)
                && !default.is_empty()
            {
                // A host the plugin chose: it joins the allow-list only as a value the
                // operator sees and the store keeps, checked like one they typed.
                values.insert(field.key.clone(), default.to_string());
            }
            let Some(value) = values.get(&field.key).map(String::as_str) else {
                if field.required && field.default_value.is_none() {
                    return Err(error(&field.key, format!("is required ({})", field.label)));
                }
                continue;
            };
            match field.kind {
                FieldKind::Url => {
                    let url = Url::parse(value)
                        .map_err(|e| error(&field.key, format!("`{value}` is not a URL ({e})")))?;
                    if let Some(denied) = crate::plugin::policy::never_reachable(
                        url.scheme(),
                        url.host_str().unwrap_or_default(),
                        url.port(),
                    ) {
                        return Err(error(
                            &field.key,
                            format!("refused by the host's sandbox policy: {denied}"),
                        ));
                    }
                    let loopback =
                        matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
                    if url.scheme() != "https" && !(url.scheme() == "http" && loopback) {
                        return Err(error(
                            &field.key,
                            format!(
                                "`{value}` must use https (plain http only for loopback hosts)"
                            ),
                        ));
                    }
                }
                FieldKind::Number => {
                    let n: i64 = value.parse().map_err(|_| {
                        error(&field.key, format!("`{value}` is not a whole number"))
                    })?;
                    if field.min.is_some_and(|m| n < m) || field.max.is_some_and(|m| n > m) {
                        let range = format!(
                            "{} to {}",
                            field.min.map_or("…".into(), |m| m.to_string()),
                            field.max.map_or("…".into(), |m| m.to_string())
                        );
                        return Err(error(&field.key, format!("{n} is out of range ({range})")));
                    }
                }
                FieldKind::Bool => {
                    if !matches!(value, "true" | "false") {
                        return Err(error(
                            &field.key,
                            format!("`{value}` must be true or false"),
                        ));
                    }
                }
                FieldKind::Text | FieldKind::Secret | FieldKind::List => {}
            }
        }
        Ok(Settings {
            values,
            sealed: BTreeSet::new(),
        })
    }

    /// These settings, keeping secret whatever was secret in `stored` (the settings they
    /// replace).
    pub fn sealed_like(mut self, stored: &Settings) -> Self {
        self.sealed = stored.sealed.clone();
        self
    }

    /// Whether `field`'s value is secret: declared so now, or stored sealed before.
    pub fn is_secret(&self, field: &ConfigField) -> bool {
        field.kind == FieldKind::Secret || self.sealed.contains(&field.key)
    }

    /// Scrubs these settings' secret values from text.
    pub fn redactor(&self, schema: &[ConfigField]) -> Redactor {
        Redactor::new(self.secrets(schema).values().map(String::as_str))
    }

    /// What a call with these settings may reach and must keep secret.
    pub fn grants(&self, schema: &[ConfigField]) -> Grants {
        Grants {
            allow: self.allow_list(schema),
            redactor: self.redactor(schema),
        }
    }

    /// The value of a setting, if given.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// All given values.
    pub fn values(&self) -> &BTreeMap<String, String> {
        &self.values
    }

    /// The entries passed to the plugin: given values, and defaults for the rest but
    /// URLs, which are only ever what the settings hold.
    pub fn entries(&self, schema: &[ConfigField]) -> Vec<(String, String)> {
        schema
            .iter()
            .filter_map(|f| {
                let value = self
                    .values
                    .get(&f.key)
                    .cloned()
                    .or_else(|| f.default_value.clone().filter(|_| f.kind != FieldKind::Url))?;
                Some((f.key.clone(), value))
            })
            .collect()
    }

    /// The URLs a run may reach: the values of the URL settings, in schema order. A value
    /// stored sealed is never one of them, whatever the plugin now declares: it would be
    /// listed to viewers, and a secret is no destination.
    pub fn egress(&self, schema: &[ConfigField]) -> Vec<String> {
        schema
            .iter()
            .filter(|f| f.kind == FieldKind::Url && !self.sealed.contains(&f.key))
            .filter_map(|f| self.values.get(&f.key).cloned())
            .collect()
    }

    /// Where the plugin may send requests: the hosts of [`egress`](Self::egress).
    pub fn allow_list(&self, schema: &[ConfigField]) -> AllowList {
        AllowList::from_urls(self.egress(schema).iter().map(String::as_str))
    }

    /// Refuses settings that lack a URL the plugin defaults: a host the plugin (an
    /// upgrade, typically) chose and the operator of `name` never accepted. A run or a
    /// test needs it; showing and updating the settings do not.
    pub fn check_accepted(
        &self,
        name: &str,
        schema: &[ConfigField],
    ) -> Result<(), OpenSettingsError> {
        match unaccepted_default(schema, &self.values) {
            None => Ok(()),
            Some((field, url)) => Err(OpenSettingsError::UnacceptedEgress {
                name: name.to_string(),
                key: field.key.clone(),
                url: url.to_string(),
            }),
        }
    }

    /// The secret values (to seal, and to scrub from any text the host keeps).
    pub fn secrets(&self, schema: &[ConfigField]) -> BTreeMap<String, String> {
        self.split(schema).1
    }

    /// Splits into (non-secret, secret) values.
    pub fn split(
        &self,
        schema: &[ConfigField],
    ) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
        self.values
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .partition(|(k, _)| {
                !self.sealed.contains(k)
                    && !schema
                        .iter()
                        .any(|f| &f.key == k && f.kind == FieldKind::Secret)
            })
    }
}

/// Why an integration's stored settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum OpenSettingsError {
    /// The secrets do not open.
    #[error("integration `{name}`: {source}")]
    Secrets {
        /// The integration.
        name: String,
        /// The cause.
        source: crate::secrets::SecretError,
    },
    /// The plugin defaults a URL the operator never accepted for this integration.
    #[error(
        "integration `{name}`: its plugin now sends requests to `{url}` (the default of setting `{key}`), which this integration never accepted; accept it with `integration update {name} --set {key}={url}` and its secrets entered again, or set another URL"
    )]
    UnacceptedEgress {
        /// The integration.
        name: String,
        /// The setting.
        key: String,
        /// Its default.
        url: String,
    },
    /// The stored values no longer pass the plugin's schema.
    #[error(
        "integration `{name}` has invalid settings ({source}); fix them with `integration update`"
    )]
    Invalid {
        /// The integration.
        name: String,
        /// The cause.
        source: SettingError,
    },
}

impl Settings {
    /// An integration's stored settings, secrets opened with `key`, checked against `schema`.
    pub fn open(
        integration: &Integration,
        schema: &[ConfigField],
        key: &crate::secrets::SecretKey,
    ) -> Result<Self, OpenSettingsError> {
        let name = integration.name.clone();
        let mut values: BTreeMap<String, String> = integration.settings.iter().cloned().collect();
        let opened = key
            .open(
                &integration.sealed_secrets,
                &SealedFor::integration(&integration.name, &integration.connector),
            )
            .map_err(|source| OpenSettingsError::Secrets {
                name: name.clone(),
                source,
            })?;
        // Sealed content is always our own JSON map; unreadable content means a wrong key.
        let secrets: BTreeMap<String, String> = serde_json::from_slice(&opened).unwrap_or_default();
        let sealed: BTreeSet<String> = secrets.keys().cloned().collect();
        let sealed_values: Vec<String> = secrets.values().cloned().collect();
        values.extend(secrets);
        // What was stored, checked, and nothing more: a URL the plugin now defaults does
        // not become a host this integration may reach without the operator
        // ([`Settings::check_accepted`] refuses to run it).
        let stored_only: Vec<ConfigField> = schema
            .iter()
            .map(|f| match f.kind {
                FieldKind::Url if f.default_value.is_some() => ConfigField {
                    default_value: None,
                    required: false,
                    ..f.clone()
                },
                _ => f.clone(),
            })
            .collect();
        let settings = Settings::validate(&stored_only, values).map_err(|source| {
            // A sealed value the plugin now checks as a URL or number must not be quoted.
            let redactor = Redactor::new(sealed_values.iter().map(String::as_str));
            OpenSettingsError::Invalid {
                name,
                source: SettingError {
                    message: redactor.redacted(&source.message),
                    ..source
                },
            }
        })?;
        Ok(Settings { sealed, ..settings })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(
        key: &str,
        kind: FieldKind,
        required: bool,
        default: Option<&str>,
        range: Option<(i64, i64)>,
    ) -> ConfigField {
        ConfigField {
            key: key.into(),
            label: key.into(),
            help: String::new(),
            kind,
            required,
            default_value: default.map(Into::into),
            min: range.map(|r| r.0),
            max: range.map(|r| r.1),
        }
    }

    fn schema() -> Vec<ConfigField> {
        vec![
            field("api-url", FieldKind::Url, true, None, None),
            field("client-secret", FieldKind::Secret, true, None, None),
            field(
                "auth-url",
                FieldKind::Url,
                false,
                Some("https://auth.example/token"),
                None,
            ),
            field(
                "page-size",
                FieldKind::Number,
                false,
                Some("500"),
                Some((1, 500)),
            ),
        ]
    }

    fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn valid_settings_give_entries_secrets_and_allow_list() {
        let s = Settings::validate(
            &schema(),
            values(&[
                ("api-url", "https://api.example/graphql"),
                ("client-secret", "shh-secret"),
            ]),
        )
        .unwrap();
        let entries = s.entries(&schema());
        assert_eq!(
            entries.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
            ["api-url", "client-secret", "auth-url", "page-size"]
        );
        assert_eq!(
            s.secrets(&schema()),
            values(&[("client-secret", "shh-secret")])
        );
        let allow = s.allow_list(&schema());
        assert!(allow.check("https", "api.example", None).is_ok());
        assert!(allow.check("https", "auth.example", None).is_ok());
        assert!(allow.check("https", "other.example", None).is_err());
    }

    #[test]
    fn each_kind_of_bad_input_names_its_key() {
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
        let cases: &[Case] = &[
            (&[("client-secret", "x")], "api-url", "required"),
            (
                &[("api-url", "not a url"), ("client-secret", "x")],
                "api-url",
                "not a URL",
            ),
            (
                &[("api-url", "http://api.example"), ("client-secret", "x")],
                "api-url",
                "https",
            ),
            (
                &[
                    ("api-url", "https://a"),
                    ("client-secret", "x"),
                    ("page-size", "0"),
                ],
                "page-size",
                "out of range",
            ),
            (
                &[
                    ("api-url", "https://a"),
                    ("client-secret", "x"),
                    ("page-size", "1000"),
                ],
                "page-size",
                "out of range",
            ),
            (
                &[
                    ("api-url", "https://a"),
                    ("client-secret", "x"),
                    ("page-size", "many"),
                ],
                "page-size",
                "whole number",
            ),
            (
                &[
                    ("api-url", "https://a"),
                    ("client-secret", "x"),
                    ("colour", "red"),
                ],
                "colour",
                "unknown",
            ),
        ];
        for (input, key, message) in cases {
            let err = Settings::validate(&schema(), values(input)).unwrap_err();
            assert_eq!(err.key, *key, "{input:?}");
            assert!(err.message.contains(message), "{input:?}: {err}");
        }
        assert!(
            Settings::validate(
                &schema(),
                values(&[("api-url", "http://127.0.0.1:9000"), ("client-secret", "x")])
            )
            .is_ok()
        );
    }

    #[test]
    fn a_default_url_becomes_a_value_checked_like_one_typed() {
        let given = values(&[("api-url", "https://api.example"), ("client-secret", "x")]);
        let s = Settings::validate(&schema(), given.clone()).unwrap();
        assert_eq!(s.get("auth-url"), Some("https://auth.example/token"));
        assert_eq!(s.get("page-size"), None, "only URLs are kept as values");
        assert_eq!(
            s.egress(&schema()),
            ["https://api.example", "https://auth.example/token"]
        );

        let mut careless = schema();
        careless.push(field(
            "exfil-url",
            FieldKind::Url,
            false,
            Some("http://attacker.example/"),
            None,
        ));
        let err = Settings::validate(&careless, given).unwrap_err();
        assert_eq!(err.key, "exfil-url");
        assert!(err.message.contains("must use https"), "{err}");
    }

    #[test]
    fn a_url_default_new_in_an_upgrade_is_refused_until_accepted() {
        let stored = Settings::validate(
            &schema(),
            values(&[("api-url", "https://api.example"), ("client-secret", "x")]),
        )
        .unwrap();
        assert!(stored.check_accepted("w", &schema()).is_ok());
        let mut upgraded = schema();
        upgraded.push(field(
            "exfil-url",
            FieldKind::Url,
            false,
            Some("https://attacker.example/"),
            None,
        ));
        let err = stored
            .check_accepted("w", &upgraded)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`https://attacker.example/`")
                && err.contains("integration update w --set exfil-url="),
            "{err}"
        );
        assert!(
            stored
                .allow_list(&upgraded)
                .check("https", "attacker.example", None)
                .is_err(),
            "never in the allow-list"
        );
        assert!(
            stored
                .entries(&upgraded)
                .iter()
                .all(|(k, _)| k != "exfil-url")
        );
    }

    #[test]
    fn a_value_stored_sealed_stays_secret_when_the_plugin_calls_it_text() {
        let dir = tempfile::tempdir().unwrap();
        let key = crate::secrets::SecretKey::load(&dir.path().join("key")).unwrap();
        let given = Settings::validate(
            &schema(),
            values(&[
                ("api-url", "https://api.example/"),
                ("client-secret", "hunter22"),
            ]),
        )
        .unwrap();
        let (plain, secret) = given.split(&schema());
        let stored = Integration {
            id: 1,
            name: "w".into(),
            connector: "wiz".into(),
            settings: plain.into_iter().collect(),
            sealed_secrets: key.seal(
                &serde_json::to_vec(&secret).unwrap(),
                &crate::secrets::SealedFor::integration("w", "wiz"),
            ),
            created_at: chrono::Utc::now(),
            policy: Default::default(),
            plugin: None,
            streams: None,
        };
        let mut text_now = schema();
        text_now[1].kind = FieldKind::Text;
        let opened = Settings::open(&stored, &text_now, &key).unwrap();
        assert!(opened.is_secret(&text_now[1]));
        assert!(!opened.is_secret(&text_now[0]));
        assert_eq!(
            opened.redactor(&text_now).redact("token hunter22"),
            "token <redacted>"
        );
        // Updated settings are sealed as the stored ones were.
        let updated = Settings::validate(&text_now, opened.values().clone())
            .unwrap()
            .sealed_like(&opened);
        let (plain, secret) = updated.split(&text_now);
        assert_eq!(secret.keys().collect::<Vec<_>>(), ["client-secret"]);
        assert!(!plain.contains_key("client-secret"));

        // Re-declared as a URL, a sealed value that is one is neither listed nor reachable.
        let url_secret = Settings::validate(
            &schema(),
            values(&[
                ("api-url", "https://api.example/"),
                ("client-secret", "https://secret.example/"),
            ]),
        )
        .unwrap();
        let (plain, secret) = url_secret.split(&schema());
        let stored_url = Integration {
            settings: plain.into_iter().collect(),
            sealed_secrets: key.seal(
                &serde_json::to_vec(&secret).unwrap(),
                &crate::secrets::SealedFor::integration("w", "wiz"),
            ),
            ..stored.clone()
        };
        let mut url_now = schema();
        url_now[1].kind = FieldKind::Url;
        let opened = Settings::open(&stored_url, &url_now, &key).unwrap();
        let egress = opened.egress(&url_now);
        assert!(
            egress.iter().all(|u| !u.contains("secret.example")),
            "{egress:?}"
        );
        assert!(
            opened
                .allow_list(&url_now)
                .check("https", "secret.example", None)
                .is_err()
        );

        // Re-declared as a URL, the stored secret fails the check without being quoted.
        let err = Settings::open(&stored, &url_now, &key)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("<redacted>") && !err.contains("hunter22"),
            "{err}"
        );
    }
}
