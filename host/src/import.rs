//! Reads `assets import` files (JSON or CSV): assets known from elsewhere, added to the
//! shared inventory.

use std::collections::BTreeMap;

/// One asset from an import file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImportedAsset {
    /// Provider id (required).
    pub provider_id: String,
    /// Name (defaults to the provider id).
    pub name: String,
    /// Asset type.
    pub asset_type: String,
    /// Cloud platform.
    pub cloud_platform: String,
    /// Region.
    pub region: Option<String>,
    /// Account id.
    pub account_id: Option<String>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
}

/// A malformed import file, naming the row (1-based, data rows only).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// The file as a whole is unreadable.
    #[error("{0}")]
    File(String),
    /// One row is wrong.
    #[error("row {row}: {message}")]
    Row {
        /// Data row number, from 1.
        row: usize,
        /// What is wrong.
        message: String,
    },
}

const FIELDS: [&str; 7] = [
    "provider_id",
    "name",
    "asset_type",
    "cloud_platform",
    "region",
    "account_id",
    "tags",
];

/// Parses an import file: a JSON array of objects, or CSV with a header row.
pub fn parse_import(text: &str) -> Result<Vec<ImportedAsset>, ImportError> {
    if text.trim_start().starts_with('[') {
        parse_json(text)
    } else {
        parse_csv(text)
    }
}

fn parse_json(text: &str) -> Result<Vec<ImportedAsset>, ImportError> {
    let rows: Vec<serde_json::Value> = serde_json::from_str(text)
        .map_err(|e| ImportError::File(format!("not a JSON array of objects: {e}")))?;
    rows.iter()
        .enumerate()
        .map(|(index, value)| {
            let row = index + 1;
            let object = value.as_object().ok_or_else(|| ImportError::Row {
                row,
                message: "not an object".into(),
            })?;
            if let Some(unknown) = object.keys().find(|k| !FIELDS.contains(&k.as_str())) {
                return Err(ImportError::Row {
                    row,
                    message: format!("unknown field `{unknown}` (known: {})", FIELDS.join(", ")),
                });
            }
            let text_field = |key: &str| -> Result<Option<String>, ImportError> {
                match object.get(key) {
                    None | Some(serde_json::Value::Null) => Ok(None),
                    Some(serde_json::Value::String(s)) => {
                        Ok(Some(s.trim().to_string()).filter(|s| !s.is_empty()))
                    }
                    Some(other) => Err(ImportError::Row {
                        row,
                        message: format!("`{key}` must be a string, got {other}"),
                    }),
                }
            };
            let tags = match object.get("tags") {
                None | Some(serde_json::Value::Null) => BTreeMap::new(),
                Some(serde_json::Value::Object(map)) => map
                    .iter()
                    .map(|(k, v)| match v {
                        serde_json::Value::String(s) => Ok((k.clone(), s.clone())),
                        other => Err(ImportError::Row {
                            row,
                            message: format!("tag `{k}` must be a string, got {other}"),
                        }),
                    })
                    .collect::<Result<_, _>>()?,
                Some(other) => {
                    return Err(ImportError::Row {
                        row,
                        message: format!("`tags` must be an object, got {other}"),
                    });
                }
            };
            build(
                row,
                [
                    text_field("provider_id")?,
                    text_field("name")?,
                    text_field("asset_type")?,
                    text_field("cloud_platform")?,
                    text_field("region")?,
                    text_field("account_id")?,
                ],
                tags,
            )
        })
        .collect()
}

fn parse_csv(text: &str) -> Result<Vec<ImportedAsset>, ImportError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| ImportError::File(format!("unreadable CSV header: {e}")))?
        .iter()
        .map(str::to_string)
        .collect();
    if let Some(unknown) = header.iter().find(|h| !FIELDS.contains(&h.as_str())) {
        return Err(ImportError::File(format!(
            "unknown column `{unknown}` (known: {})",
            FIELDS.join(", ")
        )));
    }
    if !header.iter().any(|h| h == "provider_id") {
        return Err(ImportError::File(
            "the header has no `provider_id` column".into(),
        ));
    }
    let column = |name: &str| header.iter().position(|h| h == name);
    reader
        .records()
        .enumerate()
        .map(|(index, record)| {
            let row = index + 1;
            let record = record.map_err(|e| ImportError::Row {
                row,
                message: e.to_string(),
            })?;
            let get = |name: &str| {
                column(name)
                    .and_then(|i| record.get(i))
                    .map(str::to_string)
                    .filter(|s| !s.is_empty())
            };
            let mut tags = BTreeMap::new();
            for pair in get("tags")
                .unwrap_or_default()
                .split(';')
                .map(str::trim)
                .filter(|p| !p.is_empty())
            {
                let (k, v) = pair.split_once('=').ok_or_else(|| ImportError::Row {
                    row,
                    message: format!("tag `{pair}` is not key=value"),
                })?;
                tags.insert(k.trim().to_string(), v.trim().to_string());
            }
            build(
                row,
                [
                    get("provider_id"),
                    get("name"),
                    get("asset_type"),
                    get("cloud_platform"),
                    get("region"),
                    get("account_id"),
                ],
                tags,
            )
        })
        .collect()
}

fn build(
    row: usize,
    fields: [Option<String>; 6],
    tags: BTreeMap<String, String>,
) -> Result<ImportedAsset, ImportError> {
    let [
        provider_id,
        name,
        asset_type,
        cloud_platform,
        region,
        account_id,
    ] = fields;
    let provider_id = provider_id.ok_or_else(|| ImportError::Row {
        row,
        message: "`provider_id` is required".into(),
    })?;
    Ok(ImportedAsset {
        name: name.unwrap_or_else(|| provider_id.clone()),
        asset_type: asset_type.unwrap_or_else(|| "UNKNOWN".into()),
        cloud_platform: cloud_platform.unwrap_or_default(),
        provider_id,
        region,
        account_id,
        tags,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_csv_imports() {
        let json = r#"[{"provider_id": "arn:aws:s3:::b", "name": "bucket", "tags": {"env": "prod"}}, {"provider_id": "x", "region": "eu-west-1"}]"#;
        let assets = parse_import(json).unwrap();
        assert_eq!(assets[0].name, "bucket");
        assert_eq!(assets[0].tags["env"], "prod");
        assert_eq!(assets[1].name, "x");
        assert_eq!(assets[1].region.as_deref(), Some("eu-west-1"));
        let csv = "provider_id,name,asset_type,cloud_platform,region,account_id,tags\narn:aws:s3:::b,bucket,Bucket,AWS,us-east-1,123,env=prod; team = a\n";
        let assets = parse_import(csv).unwrap();
        assert_eq!(assets[0].tags.len(), 2);
        assert_eq!(assets[0].tags["team"], "a");
        assert_eq!(assets[0].account_id.as_deref(), Some("123"));
    }

    #[test]
    fn malformed_rows_are_named() {
        assert_eq!(
            parse_import(r#"[{"name": "no id"}]"#),
            Err(ImportError::Row {
                row: 1,
                message: "`provider_id` is required".into()
            })
        );
        let err = parse_import(r#"[{"provider_id": "a"}, {"provider_id": "b", "tags": "x"}]"#)
            .unwrap_err();
        assert!(matches!(err, ImportError::Row { row: 2, .. }), "{err}");
        let err = parse_import(r#"[{"provider_id": "a", "colour": "red"}]"#).unwrap_err();
        assert!(err.to_string().contains("unknown field `colour`"), "{err}");
        let err = parse_import("provider_id,tags\na,ok=1\nb,broken\n").unwrap_err();
        assert_eq!(
            err,
            ImportError::Row {
                row: 2,
                message: "tag `broken` is not key=value".into()
            }
        );
        assert!(matches!(
            parse_import("name\nx\n"),
            Err(ImportError::File(_))
        ));
        assert!(matches!(parse_import("[1, 2"), Err(ImportError::File(_))));
    }
}
