//! The configure form: its fields drawn from a plugin's `describe` schema, and a
//! submission read back into settings and platform settings.

use crate::model::{ConfigField, FieldKind, Policy};
use crate::service::{PolicyChange, ShownSetting};
use std::collections::BTreeMap;

/// One input of the configure form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormField {
    /// The schema's key: the input's name and, prefixed, its id.
    pub key: String,
    /// Its label.
    pub label: String,
    /// Where to find the value.
    pub help: String,
    /// `text`, `url`, `number`, `password`, or `select` for a boolean.
    pub input: &'static str,
    /// Whether a value is needed (and none is given by default).
    pub required: bool,
    /// The value to show (never a secret's).
    pub value: String,
    /// The default, shown as the placeholder.
    pub placeholder: String,
    /// Smallest number, for numbers.
    pub min: Option<i64>,
    /// Largest number, for numbers.
    pub max: Option<i64>,
    /// Whether the value is a comma-separated list.
    pub list: bool,
    /// For a secret: whether one is stored (an empty input keeps it).
    pub secret_stored: bool,
    /// What is wrong with it, after a submission.
    pub error: Option<String>,
}

/// The inputs of `schema`, filled with `values` (a submission, or the stored settings
/// with secrets left out).
pub fn fields(
    schema: &[ConfigField],
    values: &BTreeMap<String, String>,
    stored: &[ShownSetting],
) -> Vec<FormField> {
    schema
        .iter()
        .map(|f| {
            let secret = f.kind == FieldKind::Secret;
            FormField {
                key: f.key.clone(),
                label: f.label.clone(),
                help: f.help.clone(),
                input: match f.kind {
                    FieldKind::Text | FieldKind::List => "text",
                    FieldKind::Url => "url",
                    FieldKind::Number => "number",
                    FieldKind::Secret => "password",
                    FieldKind::Bool => "select",
                },
                required: f.required && f.default_value.is_none(),
                value: match secret {
                    true => String::new(),
                    false => values.get(&f.key).cloned().unwrap_or_default(),
                },
                placeholder: f.default_value.clone().unwrap_or_default(),
                min: f.min,
                max: f.max,
                list: f.kind == FieldKind::List,
                secret_stored: secret && stored.iter().any(|s| s.key == f.key && s.set),
                error: None,
            }
        })
        .collect()
}

/// A configure form as submitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    /// The integration's name (new integrations only).
    pub name: String,
    /// Settings by key; empty inputs left out, so defaults (and stored secrets) apply.
    pub values: BTreeMap<String, String>,
    /// Platform settings.
    pub policy: Policy,
    /// The streams checked, when the form showed them.
    pub streams: Option<Vec<String>>,
    /// `test` or `save`.
    pub action: String,
    /// Save even if the connection test fails.
    pub save_anyway: bool,
}

/// A submission with a value the form itself refuses: what was typed, to show again, and
/// the error beside its field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// Everything typed, the refused value replaced by `current`'s.
    pub submission: Submission,
    /// (field, message).
    pub error: (String, String),
}

/// Reads a submission of the form for `schema`. A wrong Auto Sync value is refused
/// beside that field, keeping everything else typed and `current`'s days, so that
/// submitting the form again changes nothing that was not typed.
pub fn read(
    schema: &[ConfigField],
    fields: &[(String, String)],
    current: &Policy,
) -> Result<Submission, Box<Refused>> {
    let get = |key: &str| {
        fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.trim().to_string())
    };
    let values = schema
        .iter()
        .filter_map(|f| {
            get(&format!("setting.{}", f.key))
                .filter(|v| !v.is_empty())
                .map(|v| (f.key.clone(), v))
        })
        .collect();
    let days_text = get("auto_sync_days").unwrap_or_default();
    let auto_sync_days = match days_text.as_str() {
        "" => Some(0),
        text => text
            .parse::<u32>()
            .ok()
            .filter(|d| *d <= Policy::MAX_AUTO_SYNC_DAYS),
    };
    let submission = Submission {
        name: get("name").unwrap_or_default(),
        values,
        policy: Policy {
            auto_sync_days: auto_sync_days.unwrap_or(current.auto_sync_days),
            // Unchecked boxes are not submitted at all.
            auto_onboard: get("auto_onboard").is_some(),
            update_metadata: get("update_metadata").is_some(),
        },
        // Only the plugin's own streams, in the order the boxes came.
        streams: get("streams_shown").map(|_| {
            fields
                .iter()
                .filter_map(|(k, _)| k.strip_prefix("stream."))
                .map(str::to_string)
                .collect()
        }),
        action: get("action").unwrap_or_else(|| "save".into()),
        save_anyway: get("save_anyway").is_some(),
    };
    if submission.streams.as_ref().is_some_and(Vec::is_empty) {
        return Err(Box::new(Refused {
            submission,
            error: ("streams".into(), "choose at least one stream".into()),
        }));
    }
    match auto_sync_days {
        Some(_) => Ok(submission),
        None => Err(Box::new(Refused {
            submission,
            error: (
                "auto_sync_days".to_string(),
                format!(
                    "must be a whole number of days from 0 (manual only) to {}",
                    Policy::MAX_AUTO_SYNC_DAYS
                ),
            ),
        })),
    }
}

impl Submission {
    /// The platform settings as a change that sets every one.
    pub fn policy_change(&self) -> PolicyChange {
        PolicyChange {
            auto_sync_days: Some(self.policy.auto_sync_days),
            auto_onboard: Some(self.policy.auto_onboard),
            update_metadata: Some(self.policy.update_metadata),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Vec<ConfigField> {
        let field = |key: &str, kind, required, default: Option<&str>| ConfigField {
            key: key.into(),
            label: key.to_uppercase(),
            help: format!("help for {key}"),
            kind,
            required,
            default_value: default.map(String::from),
            min: None,
            max: None,
        };
        vec![
            field("client-id", FieldKind::Text, true, None),
            field("client-secret", FieldKind::Secret, true, None),
            field("project-ids", FieldKind::List, false, None),
            field("page-size", FieldKind::Number, false, Some("500")),
        ]
    }

    #[test]
    fn inputs_follow_the_schema_and_never_hold_a_secret() {
        let values = BTreeMap::from([
            ("client-id".to_string(), "abc".to_string()),
            ("client-secret".to_string(), "s3cret".to_string()),
        ]);
        let stored = vec![ShownSetting {
            key: "client-secret".into(),
            label: "Client secret".into(),
            value: None,
            set: true,
            secret: true,
            default: None,
        }];
        let f = fields(&schema(), &values, &stored);
        assert_eq!(
            f.iter().map(|f| f.input).collect::<Vec<_>>(),
            ["text", "password", "text", "number"]
        );
        assert_eq!(f[0].value, "abc");
        assert_eq!(f[1].value, "", "a secret is never put back into a page");
        assert!(f[1].secret_stored && f[1].required);
        assert!(f[2].list && !f[2].required);
        assert_eq!((f[3].placeholder.as_str(), f[3].required), ("500", false));
    }

    #[test]
    fn a_submission_reads_settings_and_platform_settings() {
        let form: Vec<(String, String)> = [
            ("name", "prod"),
            ("setting.client-id", " abc "),
            ("setting.client-secret", ""),
            ("setting.project-ids", "p1, p2"),
            ("auto_sync_days", "7"),
            ("auto_onboard", "on"),
            ("action", "test"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let s = read(&schema(), &form, &Policy::default()).unwrap();
        assert_eq!(s.name, "prod");
        assert_eq!(s.values.get("client-id").map(String::as_str), Some("abc"));
        assert!(
            !s.values.contains_key("client-secret"),
            "empty keeps the stored one"
        );
        assert_eq!(
            s.policy,
            Policy {
                auto_sync_days: 7,
                auto_onboard: true,
                update_metadata: false
            }
        );
        assert_eq!((s.action.as_str(), s.save_anyway), ("test", false));
        let mut too_often = form.clone();
        too_often.retain(|(k, _)| k != "auto_sync_days");
        too_often.push(("auto_sync_days".into(), "400".into()));
        let stored = Policy {
            auto_sync_days: 3,
            ..Policy::default()
        };
        let refused = read(&schema(), &too_often, &stored).unwrap_err();
        assert_eq!(refused.error.0, "auto_sync_days");
        // What was typed comes back, so submitting the form again unsets nothing.
        assert_eq!(refused.submission.values, s.values);
        assert_eq!(refused.submission.policy.auto_sync_days, 3);
        assert!(refused.submission.policy.auto_onboard);
    }
}
