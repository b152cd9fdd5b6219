//! The asset inventory shared by all integrations: an asset is one real resource,
//! whichever tool reported it. Identity is a canonical key from the provider id, else the
//! reporting integration and the source's own id. Here: that key, the metadata the
//! inventory keeps, and what the Auto Onboard and Update Metadata policies make of an
//! emitted asset.

use super::hash::{content_hash, or_empty};
use crate::import::ImportedAsset;
use crate::model::{Asset, Policy};
use std::collections::BTreeMap;

/// The canonical key of an asset: the provider id normalised (AWS ARNs as they are,
/// Azure resource ids case-insensitively, GCP resource names without the leading `//`),
/// or, without one, the reporting integration and its source id.
pub fn canonical_key(
    provider_id: Option<&str>,
    cloud_platform: &str,
    integration: &str,
    source_id: &str,
) -> String {
    let Some(id) = provider_id.map(str::trim).filter(|p| !p.is_empty()) else {
        return format!("source:{integration}:{source_id}");
    };
    if id.starts_with("arn:") {
        format!("aws:{id}")
    } else if id.to_ascii_lowercase().starts_with("/subscriptions/")
        || cloud_platform.eq_ignore_ascii_case("azure")
    {
        format!("azure:{}", id.to_ascii_lowercase())
    } else if let Some(name) = id.strip_prefix("//") {
        format!("gcp:{name}")
    } else if cloud_platform.eq_ignore_ascii_case("gcp") {
        format!("gcp:{id}")
    } else {
        format!("id:{id}")
    }
}

/// An asset's metadata as the inventory keeps it, with the hash that tells a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    /// Display name.
    pub name: String,
    /// Asset type.
    pub asset_type: String,
    /// Cloud platform.
    pub cloud_platform: String,
    /// Cloud account id.
    pub cloud_account_id: Option<String>,
    /// Cloud account name.
    pub cloud_account_name: Option<String>,
    /// Region.
    pub region: Option<String>,
    /// Provider id.
    pub provider_id: Option<String>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// Status at the source.
    pub status: Option<String>,
    /// Technologies.
    pub technologies: Vec<String>,
    /// Hash of all of the above.
    pub hash: Vec<u8>,
    /// The name's sort key ([`crate::model::natural_key`]): the Asset View's order.
    pub name_key: String,
}

impl Metadata {
    /// Fills in the hash and the name's sort key from the other fields.
    fn hashed(mut self) -> Self {
        self.name_key = crate::model::natural_key(&self.name);
        self.hash = content_hash(&[
            &self.name,
            &self.asset_type,
            &self.cloud_platform,
            or_empty(&self.cloud_account_id),
            or_empty(&self.cloud_account_name),
            or_empty(&self.region),
            or_empty(&self.provider_id),
            &super::hash::json(&self.tags),
            or_empty(&self.status),
            &super::hash::json(&self.technologies),
        ]);
        self
    }

    /// The metadata of an emitted asset.
    pub fn of_asset(a: &Asset) -> Self {
        Metadata {
            name: a.name.clone(),
            asset_type: a.asset_type.clone(),
            cloud_platform: a.cloud_platform.clone(),
            cloud_account_id: a.cloud_account_id.clone(),
            cloud_account_name: a.cloud_account_name.clone(),
            region: a.region.clone(),
            provider_id: a.provider_id.clone(),
            tags: a.tags.clone(),
            status: a.status.clone(),
            technologies: a.technologies.clone(),
            hash: Vec::new(),
            name_key: String::new(),
        }
        .hashed()
    }

    /// The metadata of an imported asset.
    pub fn of_import(a: &ImportedAsset) -> Self {
        Metadata {
            name: a.name.clone(),
            asset_type: a.asset_type.clone(),
            cloud_platform: a.cloud_platform.clone(),
            cloud_account_id: a.account_id.clone(),
            cloud_account_name: None,
            region: a.region.clone(),
            provider_id: Some(a.provider_id.clone()),
            tags: a.tags.clone(),
            status: None,
            technologies: Vec::new(),
            hash: Vec::new(),
            name_key: String::new(),
        }
        .hashed()
    }
}

/// The canonical key of an emitted asset.
pub fn asset_key(integration: i64, a: &Asset) -> String {
    canonical_key(
        a.provider_id.as_deref(),
        &a.cloud_platform,
        &integration.to_string(),
        &a.source_id,
    )
}

/// The canonical key of an imported asset (always from its provider id).
pub fn import_key(a: &ImportedAsset) -> String {
    canonical_key(
        Some(&a.provider_id),
        &a.cloud_platform,
        "import",
        &a.provider_id,
    )
}

/// What the inventory policy makes of an emitted asset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssetDecision {
    /// Not in the inventory, and Auto Onboard is on: create it.
    Onboard,
    /// In the inventory with other metadata, and Update Metadata is on: overwrite it.
    UpdateMetadata,
    /// In the inventory; leave its metadata as it is.
    Keep,
    /// Not in the inventory, and Auto Onboard is off: store nothing (its findings are
    /// skipped too).
    Skip,
}

/// Decides for one asset, given the metadata hash of its inventory entry, if it has one.
pub fn decide(policy: &Policy, stored_hash: Option<&[u8]>, metadata: &Metadata) -> AssetDecision {
    match stored_hash {
        None if policy.auto_onboard => AssetDecision::Onboard,
        None => AssetDecision::Skip,
        Some(hash) if policy.update_metadata && hash != metadata.hash.as_slice() => {
            AssetDecision::UpdateMetadata
        }
        Some(_) => AssetDecision::Keep,
    }
}

/// What an import adds: the entries to create, and how many were already present.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ImportPlan {
    /// New entries: canonical key and metadata.
    pub insert: Vec<(String, Metadata)>,
    /// Assets the inventory (or an earlier row of the file) already has.
    pub present: u64,
}

/// Decides an import: an asset the inventory has is left as it is (the sources' metadata
/// wins), and a repeated row counts as present.
pub fn plan_import(
    assets: &[ImportedAsset],
    stored: &std::collections::HashSet<String>,
) -> ImportPlan {
    let mut plan = ImportPlan::default();
    let mut planned = std::collections::HashSet::new();
    for a in assets {
        let key = import_key(a);
        if stored.contains(&key) || !planned.insert(key.clone()) {
            plan.present += 1;
        } else {
            plan.insert.push((key, Metadata::of_import(a)));
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_keys() {
        let arn = "arn:aws:ec2:us-east-1:123:instance/i-0Ab";
        assert_eq!(
            canonical_key(Some(arn), "AWS", "w", "x"),
            format!("aws:{arn}")
        );
        let azure =
            "/subscriptions/ABC/resourceGroups/RG/providers/Microsoft.Compute/virtualMachines/VM1";
        assert_eq!(
            canonical_key(Some(azure), "Azure", "w", "x"),
            canonical_key(Some(&azure.to_lowercase()), "", "other", "y"),
            "Azure ids are case-insensitive"
        );
        assert_eq!(
            canonical_key(Some("434F3CBB-30F2"), "Azure", "w", "x"),
            "azure:434f3cbb-30f2"
        );
        assert_eq!(
            canonical_key(
                Some("//compute.googleapis.com/projects/p/zones/z/instances/i"),
                "GCP",
                "w",
                "x"
            ),
            "gcp:compute.googleapis.com/projects/p/zones/z/instances/i"
        );
        assert_eq!(canonical_key(None, "AWS", "w", "x"), "source:w:x");
        assert_eq!(canonical_key(Some("  "), "AWS", "w", "x"), "source:w:x");
    }

    #[test]
    fn onboarding_and_metadata_policies() {
        let meta = Metadata::of_import(&ImportedAsset {
            provider_id: "arn:aws:s3:::b".into(),
            ..Default::default()
        });
        let (on, off) = (
            Policy::default(),
            Policy {
                auto_onboard: false,
                update_metadata: true,
                ..Policy::default()
            },
        );
        assert_eq!(decide(&on, None, &meta), AssetDecision::Onboard);
        assert_eq!(decide(&off, None, &meta), AssetDecision::Skip);
        assert_eq!(
            decide(&on, Some(b"other"), &meta),
            AssetDecision::Keep,
            "metadata kept by default"
        );
        assert_eq!(
            decide(&off, Some(b"other"), &meta),
            AssetDecision::UpdateMetadata
        );
        assert_eq!(
            decide(&off, Some(&meta.hash), &meta),
            AssetDecision::Keep,
            "nothing to update"
        );
    }

    #[test]
    fn imports_add_only_what_the_inventory_lacks() {
        let row = |id: &str| ImportedAsset {
            provider_id: id.into(),
            ..Default::default()
        };
        let stored = ["aws:arn:aws:s3:::old".to_string()].into();
        let plan = plan_import(
            &[
                row("arn:aws:s3:::old"),
                row("arn:aws:s3:::new"),
                row("arn:aws:s3:::new"),
            ],
            &stored,
        );
        assert_eq!(plan.present, 2);
        assert_eq!(plan.insert.len(), 1);
        assert_eq!(plan.insert[0].0, "aws:arn:aws:s3:::new");
    }

    #[test]
    fn a_key_repeated_within_one_file_is_inserted_once_from_its_first_row() {
        let row = |id: &str, name: &str| ImportedAsset {
            provider_id: id.into(),
            name: name.into(),
            ..Default::default()
        };
        let plan = plan_import(
            &[
                row("arn:aws:s3:::a", "first"),
                row("arn:aws:s3:::b", "b"),
                row("arn:aws:s3:::a", "second"),
            ],
            &Default::default(),
        );
        let inserted: Vec<(&str, &str)> = plan
            .insert
            .iter()
            .map(|(key, m)| (key.as_str(), m.name.as_str()))
            .collect();
        assert_eq!(
            inserted,
            [("aws:arn:aws:s3:::a", "first"), ("aws:arn:aws:s3:::b", "b")]
        );
        assert_eq!(plan.present, 1, "the repeated row");
    }
}
