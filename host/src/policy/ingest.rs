//! What one batch does to the store, decided without a database: the backend reads a
//! [`Snapshot`] of what it holds for the batch's [`Keys`] inside the batch's transaction,
//! [`plan`] decides, and the backend writes the [`Plan`] in the same transaction.
//!
//! The rules: assets go to the shared inventory per the Auto Onboard and Update Metadata
//! policies; a finding is stored only if its asset is linked to the integration; records
//! are idempotent upserts keyed by (integration, source id), and one that is unchanged is
//! only marked as seen in the run. Within a batch, the last record with an id wins.

use super::hash::{ContentHasher, content_hash, json, or_empty};
use super::inventory::{AssetDecision, Metadata, asset_key, decide};
use crate::model::{Batch, Finding, FindingStatus, Policy, RunCounts};
// foldhash: the batch's maps hash every id of every record; SipHash cost a sync 1% of its
// CPU, and foldhash's random seed still keeps a plugin from choosing colliding ids.
use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};

/// The status of a finding the source no longer reports (it left a sync's streams, or
/// its asset was removed): closed as passed, in the host's status and the source's.
pub const CLOSED_STATUS: FindingStatus = FindingStatus::Passed;

/// Why such a finding was closed, as its record shows.
pub const REMOVED_AT_SOURCE: &str = "removed_at_source";

/// What the backend must look up for a batch, borrowed from it.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Keys<'a> {
    /// Canonical keys of the batch's assets, in the order of the assets.
    pub canonical: Vec<String>,
    /// Source ids of the batch's assets, whose link hashes tell a change.
    pub asset_ids: Vec<&'a str>,
    /// Source ids of assets the findings name and the batch does not carry: only whether
    /// they are linked matters.
    pub linked_ids: Vec<&'a str>,
    /// Source ids of the batch's findings.
    pub finding_ids: Vec<&'a str>,
}

/// What the store holds for a batch's keys (missing entries are not stored).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Inventory entries by canonical key: row id and metadata hash.
    pub inventory: HashMap<String, (i64, Vec<u8>)>,
    /// The integration's asset links by source id: their hash.
    pub asset_links: HashMap<String, Vec<u8>>,
    /// Which of the `linked_ids` are linked to the integration.
    pub linked: HashSet<String>,
    /// The integration's findings by source id: their content hash.
    pub findings: HashMap<String, Vec<u8>>,
}

/// Which inventory entry an asset link points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InventoryRef {
    /// A stored entry, by row id.
    Stored(i64),
    /// The entry at this index of [`Plan::onboard`], once inserted.
    New(usize),
}

/// An inventory entry to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry {
    /// Its canonical key.
    pub key: String,
    /// Its metadata.
    pub metadata: Metadata,
}

/// An asset link to write: the integration's record of an inventory asset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetLink<'a> {
    /// The source's id for it.
    pub source_id: &'a str,
    /// The inventory entry.
    pub inventory: InventoryRef,
    /// The source's raw record.
    pub raw: &'a str,
    /// Hash of the link (entry and raw record).
    pub hash: Vec<u8>,
}

/// A finding to insert or overwrite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingWrite<'a> {
    /// The record.
    pub finding: &'a Finding,
    /// Its content hash.
    pub hash: Vec<u8>,
    /// Whether the store held no finding of this id when the batch was planned: a plain
    /// insert writes it, which costs PostgreSQL less than an insert that may update.
    pub new: bool,
}

/// Everything one batch writes, and what it counts.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan<'a> {
    /// Inventory entries to create.
    pub onboard: Vec<NewEntry>,
    /// Inventory entries whose metadata to overwrite, by row id.
    pub update_metadata: Vec<(i64, Metadata)>,
    /// Asset links to write.
    pub link: Vec<AssetLink<'a>>,
    /// Findings to write (marked seen in the run).
    pub write: Vec<FindingWrite<'a>>,
    /// Unchanged findings, to mark seen in the run.
    pub seen: Vec<&'a str>,
    /// Findings to close as removed at the source (the store counts those it closed).
    pub close: &'a [String],
    /// Assets deleted at the source: the store marks their links removed and closes their
    /// open findings (counted with `close`'s); a link written again is no longer removed.
    pub remove_assets: &'a [String],
    /// Findings not stored because their asset is not linked: (finding, asset) ids.
    pub unlinked: Vec<(&'a str, &'a str)>,
    /// What the plan does, but for closed findings.
    pub counts: RunCounts,
}

/// What the backend must look up for `batch`.
pub fn keys(integration: i64, batch: &Batch) -> Keys<'_> {
    let mut asset_ids: Vec<&str> = batch.assets.iter().map(|a| a.source_id.as_str()).collect();
    asset_ids.sort_unstable();
    asset_ids.dedup();
    let mut linked_ids: Vec<&str> = batch
        .findings
        .iter()
        .map(|f| f.asset_source_id.as_str())
        .filter(|id| asset_ids.binary_search(id).is_err())
        .collect();
    linked_ids.sort_unstable();
    linked_ids.dedup();
    Keys {
        canonical: batch
            .assets
            .iter()
            .map(|a| asset_key(integration, a))
            .collect(),
        asset_ids,
        linked_ids,
        finding_ids: batch
            .findings
            .iter()
            .map(|f| f.source_id.as_str())
            .collect(),
    }
}

/// The hash of a finding's content: every field the host stores.
pub fn finding_hash(f: &Finding) -> Vec<u8> {
    let mut h = ContentHasher::default();
    h.part(&f.asset_source_id)
        .part(&f.title)
        .part(&f.description)
        .part(f.severity.as_str())
        .part(f.status.as_str())
        .part(&f.source_status)
        .part(or_empty(&f.remediation))
        .part(or_empty(&f.rule_id))
        .part(or_empty(&f.rule_name));
    // Times as microseconds: the stored precision, without formatting five per finding.
    for t in [
        f.created_at,
        f.updated_at,
        f.status_changed_at,
        f.resolved_at,
        f.due_at,
    ] {
        match t {
            Some(t) => h.number(t.timestamp_micros()),
            None => h.part(""),
        };
    }
    h.part(&json(&f.project_ids))
        .part(or_empty(&f.portal_url))
        .part(&f.raw);
    // Kinds and vulnerability details came with contract 0.2: an issue without them
    // hashes as it always did, so an upgrade does not count every finding as updated.
    if f.kind != crate::model::FindingKind::Issue || f.vulnerability.is_some() {
        h.part(f.kind.as_str()).part(&json(&f.vulnerability));
    }
    h.finish()
}

/// Decides what `batch` does, given its `keys` and what the store holds for them.
pub fn plan<'a>(
    policy: &Policy,
    batch: &'a Batch,
    keys: &Keys<'_>,
    snapshot: &Snapshot,
) -> Plan<'a> {
    let mut plan = Plan {
        close: &batch.removed_findings,
        remove_assets: &batch.removed_assets,
        ..Plan::default()
    };
    // Entries planned in this batch, so a second asset with the same key finds the first.
    let assets = batch.assets.len();
    let mut planned_entries: HashMap<String, usize> = HashMap::with_capacity(assets);
    let mut planned_updates: HashMap<i64, usize> = HashMap::new();
    let mut planned_links: HashMap<&str, usize> = HashMap::with_capacity(assets);
    let mut linked: HashSet<&str> = HashSet::with_capacity(assets);
    for (asset, key) in batch.assets.iter().zip(&keys.canonical) {
        let (inventory, stored_hash) = match planned_entries.get(key) {
            Some(&index) => (
                InventoryRef::New(index),
                Some(plan.onboard[index].metadata.hash.clone()),
            ),
            None => match snapshot.inventory.get(key) {
                Some((id, hash)) => (
                    InventoryRef::Stored(*id),
                    Some(
                        planned_updates
                            .get(id)
                            .map_or(hash.clone(), |&i| plan.update_metadata[i].1.hash.clone()),
                    ),
                ),
                None => (InventoryRef::New(plan.onboard.len()), None),
            },
        };
        // Metadata is read only where it may be written: an asset the inventory has keeps
        // its metadata unless Update Metadata is on.
        let metadata =
            (stored_hash.is_none() || policy.update_metadata).then(|| Metadata::of_asset(asset));
        let decision = match &metadata {
            Some(metadata) => decide(policy, stored_hash.as_deref(), metadata),
            None => AssetDecision::Keep,
        };
        let inventory = match (decision, inventory, metadata) {
            (AssetDecision::Skip, _, _) => {
                plan.counts.assets_skipped += 1;
                continue;
            }
            (AssetDecision::Onboard, reference, Some(metadata)) => {
                planned_entries.insert(key.clone(), plan.onboard.len());
                plan.onboard.push(NewEntry {
                    key: key.clone(),
                    metadata,
                });
                plan.counts.assets_onboarded += 1;
                reference
            }
            (AssetDecision::UpdateMetadata, InventoryRef::New(index), Some(metadata)) => {
                plan.onboard[index].metadata = metadata;
                plan.counts.assets_updated += 1;
                InventoryRef::New(index)
            }
            (AssetDecision::UpdateMetadata, InventoryRef::Stored(id), Some(metadata)) => {
                match planned_updates.get(&id) {
                    Some(&i) => plan.update_metadata[i].1 = metadata,
                    None => {
                        planned_updates.insert(id, plan.update_metadata.len());
                        plan.update_metadata.push((id, metadata));
                    }
                }
                plan.counts.assets_updated += 1;
                InventoryRef::Stored(id)
            }
            (_, reference, _) => reference,
        };
        linked.insert(&asset.source_id);
        let hash = content_hash(&[key, &asset.raw]);
        let unchanged = !planned_links.contains_key(asset.source_id.as_str())
            && snapshot.asset_links.get(&asset.source_id) == Some(&hash);
        if unchanged {
            continue;
        }
        let link = AssetLink {
            source_id: &asset.source_id,
            inventory,
            raw: &asset.raw,
            hash,
        };
        match planned_links.get(asset.source_id.as_str()) {
            Some(&i) => plan.link[i] = link,
            None => {
                planned_links.insert(&asset.source_id, plan.link.len());
                plan.link.push(link);
            }
        }
    }
    let mut planned_findings: HashMap<&str, usize> = HashMap::with_capacity(batch.findings.len());
    plan.write.reserve(batch.findings.len());
    for finding in &batch.findings {
        let asset = finding.asset_source_id.as_str();
        let stored = snapshot.asset_links.contains_key(asset) || snapshot.linked.contains(asset);
        if !linked.contains(asset) && !stored {
            plan.counts.findings_skipped += 1;
            plan.unlinked.push((&finding.source_id, asset));
            continue;
        }
        let hash = finding_hash(finding);
        let id = finding.source_id.as_str();
        let before = match planned_findings.get(id) {
            Some(&i) => Some(&plan.write[i].hash),
            None => snapshot.findings.get(id),
        };
        match before {
            Some(stored) if *stored == hash => {
                plan.counts.findings_unchanged += 1;
                plan.seen.push(id);
                continue;
            }
            Some(_) => plan.counts.findings_updated += 1,
            None => plan.counts.findings_new += 1,
        }
        let write = FindingWrite {
            finding,
            hash,
            new: !snapshot.findings.contains_key(id),
        };
        match planned_findings.get(id) {
            Some(&i) => plan.write[i] = write,
            None => {
                planned_findings.insert(id, plan.write.len());
                plan.write.push(write);
            }
        }
    }
    // Findings the host refused are still reported by the source: seen, so a full sync
    // does not close them as removed at the source.
    plan.seen
        .extend(batch.refused_findings.iter().map(String::as_str));
    plan
}

/// The asset ids a run emitted, in memory that grows with the run up to a fixed ceiling,
/// never a set of ids: each id's 64-bit hash in a set while there are few, then a Bloom
/// filter of 1 MiB. A run starts with nothing allocated (500 runs at once each held a
/// filter of 1 MiB from their start: BENCHMARKS.md, issue 27). A false positive (hashes
/// that collide, negligible; or the filter's, about 1 in 50 at a million assets) counts a
/// finding on a never-emitted asset as skipped rather than rejected; either way nothing
/// of it is stored.
#[derive(Default)]
pub struct EmittedAssets(Emitted);

enum Emitted {
    Few(HashSet<u64>),
    Many(fastbloom::BloomFilter),
}

impl Default for Emitted {
    fn default() -> Self {
        Emitted::Few(HashSet::new())
    }
}

impl EmittedAssets {
    /// The filter's size, in bits.
    const BITS: usize = 8 << 20;
    /// Most hashes kept in the set (about 300 KiB) before they move to the filter.
    const FEW: usize = 16_384;

    /// Records an emitted asset.
    pub fn insert(&mut self, source_id: &str) {
        let hash = id_hash(source_id);
        match &mut self.0 {
            Emitted::Few(hashes) if hashes.len() < Self::FEW => {
                hashes.insert(hash);
            }
            Emitted::Few(hashes) => {
                let mut filter =
                    fastbloom::BloomFilter::with_num_bits(Self::BITS).expected_items(1_000_000);
                filter.extend(hashes.drain().chain([hash]));
                self.0 = Emitted::Many(filter);
            }
            Emitted::Many(filter) => {
                filter.insert(&hash);
            }
        }
    }

    /// Whether `source_id` was (most probably) emitted.
    pub fn contains(&self, source_id: &str) -> bool {
        let hash = id_hash(source_id);
        match &self.0 {
            Emitted::Few(hashes) => hashes.contains(&hash),
            Emitted::Many(filter) => filter.contains(&hash),
        }
    }

    /// Roughly the memory it holds, in bytes.
    #[cfg(test)]
    fn heap_bytes(&self) -> usize {
        match &self.0 {
            Emitted::Few(hashes) => hashes.capacity() * (std::mem::size_of::<u64>() + 1),
            Emitted::Many(_) => Self::BITS / 8,
        }
    }
}

/// An id's 64-bit hash, the same in every run and process.
fn id_hash(source_id: &str) -> u64 {
    use std::hash::BuildHasher;
    foldhash::fast::FixedState::with_seed(0x9e37_79b9_7f4a_7c15).hash_one(source_id)
}

/// The findings of `unlinked` whose asset was never emitted in the run: the contract
/// forbids them, so each is a rejection to report. The others were skipped by policy
/// (their asset was not onboarded) and are only counted.
pub fn never_emitted<'a>(
    unlinked: &'a [(String, String)],
    emitted_in_run: &EmittedAssets,
) -> impl Iterator<Item = &'a (String, String)> {
    unlinked
        .iter()
        .filter(move |(_, asset)| !emitted_in_run.contains(asset))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::{Asset, FindingStatus, Severity};

    /// A minimal valid asset; the host's other unit tests build their records with it too.
    pub(crate) fn asset(id: &str, provider: Option<&str>, name: &str) -> Asset {
        Asset {
            source_id: id.into(),
            name: name.into(),
            asset_type: "VM".into(),
            cloud_platform: "AWS".into(),
            cloud_account_id: None,
            cloud_account_name: None,
            region: None,
            provider_id: provider.map(Into::into),
            tags: Default::default(),
            status: None,
            technologies: vec![],
            raw: format!("{{\"id\":\"{id}\"}}"),
        }
    }

    /// A minimal valid finding about `asset`.
    pub(crate) fn finding(id: &str, asset: &str, title: &str) -> Finding {
        Finding {
            source_id: id.into(),
            asset_source_id: asset.into(),
            title: title.into(),
            description: String::new(),
            severity: Severity::High,
            status: FindingStatus::Failed,
            source_status: "OPEN".into(),
            remediation: None,
            rule_id: None,
            rule_name: None,
            created_at: crate::model::parse_time("2026-05-01T10:00:00Z"),
            updated_at: None,
            status_changed_at: None,
            resolved_at: None,
            due_at: None,
            project_ids: vec![],
            portal_url: None,
            stream: "issues".into(),
            kind: crate::model::FindingKind::Issue,
            vulnerability: None,
            raw: "{}".into(),
        }
    }

    /// The snapshot a store would hold after writing `plan` as inventory ids 100, 101, …
    fn stored_after(plan: &Plan<'_>) -> Snapshot {
        let mut s = Snapshot::default();
        for (i, entry) in plan.onboard.iter().enumerate() {
            s.inventory.insert(
                entry.key.clone(),
                (100 + i as i64, entry.metadata.hash.clone()),
            );
        }
        for link in &plan.link {
            s.asset_links
                .insert(link.source_id.into(), link.hash.clone());
        }
        for w in &plan.write {
            s.findings
                .insert(w.finding.source_id.clone(), w.hash.clone());
        }
        s
    }

    #[test]
    fn the_finding_hash_is_the_hash_of_its_parts_as_text() {
        // Stores keep these hashes: a change of formula would rewrite every finding once.
        let mut f = finding("f1", "a1", "open port");
        f.remediation = Some("close it".into());
        f.project_ids = vec!["p1".into()];
        let micros = |t: Option<chrono::DateTime<chrono::Utc>>| {
            t.map(|t| t.timestamp_micros().to_string())
                .unwrap_or_default()
        };
        let parts = [
            "a1".to_string(),
            "open port".into(),
            String::new(),
            "high".into(),
            "failed".into(),
            "OPEN".into(),
            "close it".into(),
            String::new(),
            String::new(),
            micros(f.created_at),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            r#"["p1"]"#.into(),
            String::new(),
            "{}".into(),
        ];
        let texts: Vec<&str> = parts.iter().map(String::as_str).collect();
        assert_eq!(finding_hash(&f), content_hash(&texts), "an issue as always");
        // A kind or details (contract 0.2) follow, as text too.
        f.kind = crate::model::FindingKind::Vulnerability;
        f.vulnerability = Some(crate::model::Vulnerability {
            cve_ids: vec!["CVE-2024-1".into()],
            ..Default::default()
        });
        let details = json(&f.vulnerability);
        let mut texts = texts;
        texts.extend(["vulnerability", &details]);
        assert_eq!(finding_hash(&f), content_hash(&texts));
    }

    #[test]
    fn a_new_batch_onboards_links_and_writes_then_is_unchanged() {
        let batch = Batch {
            assets: vec![asset("a1", Some("arn:aws:x:1"), "one")],
            findings: vec![finding("f1", "a1", "open port")],
            ..Default::default()
        };
        let first = plan(
            &Policy::default(),
            &batch,
            &keys(7, &batch),
            &Snapshot::default(),
        );
        assert_eq!(first.onboard.len(), 1);
        assert_eq!(first.onboard[0].key, "aws:arn:aws:x:1");
        assert_eq!(first.link[0].inventory, InventoryRef::New(0));
        assert_eq!(
            (first.counts.assets_onboarded, first.counts.findings_new),
            (1, 1)
        );
        assert!(first.write[0].new, "the store has no such finding");
        let stored = stored_after(&first);
        let again = plan(&Policy::default(), &batch, &keys(7, &batch), &stored);
        assert!(again.onboard.is_empty() && again.link.is_empty() && again.write.is_empty());
        assert_eq!(again.seen, vec!["f1"]);
        assert_eq!(again.counts.findings_unchanged, 1);
        assert_eq!(again.counts.assets_onboarded, 0);
    }

    #[test]
    fn a_changed_finding_is_rewritten_and_counted_as_updated() {
        let batch = Batch {
            assets: vec![asset("a1", None, "one")],
            findings: vec![finding("f1", "a1", "open port")],
            ..Default::default()
        };
        let stored = stored_after(&plan(
            &Policy::default(),
            &batch,
            &keys(7, &batch),
            &Snapshot::default(),
        ));
        let mut changed = batch.clone();
        changed.findings[0].title = "open port 22".into();
        let p = plan(&Policy::default(), &changed, &keys(7, &changed), &stored);
        assert_eq!(p.write.len(), 1);
        assert_eq!(p.counts.findings_updated, 1);
        assert!(!p.write[0].new, "the store has it: an insert would collide");
    }

    #[test]
    fn a_finding_twice_in_a_batch_is_written_once_and_new_while_the_store_lacks_it() {
        let mut batch = Batch {
            assets: vec![asset("a1", None, "one")],
            findings: vec![finding("f1", "a1", "open port")],
            ..Default::default()
        };
        let mut later = batch.findings[0].clone();
        later.title = "open port 22".into();
        batch.findings.push(later);
        let p = plan(
            &Policy::default(),
            &batch,
            &keys(7, &batch),
            &Snapshot::default(),
        );
        assert_eq!(p.write.len(), 1, "one row per id, the later record's");
        assert_eq!(p.write[0].finding.title, "open port 22");
        assert!(p.write[0].new, "still not in the store: a plain insert");
    }

    #[test]
    fn without_auto_onboard_unknown_assets_and_their_findings_are_skipped() {
        let policy = Policy {
            auto_onboard: false,
            ..Policy::default()
        };
        let batch = Batch {
            assets: vec![asset("a1", Some("arn:aws:x:1"), "one")],
            findings: vec![finding("f1", "a1", "t")],
            ..Default::default()
        };
        let p = plan(&policy, &batch, &keys(7, &batch), &Snapshot::default());
        assert!(p.onboard.is_empty() && p.link.is_empty() && p.write.is_empty());
        assert_eq!((p.counts.assets_skipped, p.counts.findings_skipped), (1, 1));
        assert_eq!(p.unlinked, vec![("f1", "a1")]);
        // The same asset already in the inventory (imported, or from another integration)
        // is linked, and its findings stored.
        let mut known = Snapshot::default();
        known
            .inventory
            .insert("aws:arn:aws:x:1".into(), (5, b"elsewhere".to_vec()));
        let p = plan(&policy, &batch, &keys(7, &batch), &known);
        assert_eq!(p.link[0].inventory, InventoryRef::Stored(5));
        assert_eq!(p.counts.findings_new, 1);
        assert!(p.update_metadata.is_empty(), "metadata kept by default");
    }

    #[test]
    fn update_metadata_overwrites_only_what_differs() {
        let policy = Policy {
            update_metadata: true,
            ..Policy::default()
        };
        let batch = Batch {
            assets: vec![asset("a1", Some("arn:aws:x:1"), "renamed")],
            ..Default::default()
        };
        let mut known = Snapshot::default();
        known
            .inventory
            .insert("aws:arn:aws:x:1".into(), (5, b"old".to_vec()));
        let p = plan(&policy, &batch, &keys(7, &batch), &known);
        assert_eq!(p.update_metadata.len(), 1);
        assert_eq!(p.update_metadata[0].0, 5);
        assert_eq!(p.counts.assets_updated, 1);
        let hash = p.update_metadata[0].1.hash.clone();
        known.inventory.insert("aws:arn:aws:x:1".into(), (5, hash));
        assert!(
            plan(&policy, &batch, &keys(7, &batch), &known)
                .update_metadata
                .is_empty()
        );
    }

    #[test]
    fn every_metadata_change_within_a_batch_is_counted_once() {
        let policy = Policy {
            update_metadata: true,
            ..Policy::default()
        };
        // One new resource reported three times under three names, and one stored
        // resource reported twice under new names.
        let batch = Batch {
            assets: vec![
                asset("a1", Some("arn:aws:x:1"), "one"),
                asset("a2", Some("arn:aws:x:1"), "two"),
                asset("a3", Some("arn:aws:x:1"), "three"),
                asset("b1", Some("arn:aws:x:2"), "renamed"),
                asset("b2", Some("arn:aws:x:2"), "renamed again"),
            ],
            ..Default::default()
        };
        let mut known = Snapshot::default();
        known
            .inventory
            .insert("aws:arn:aws:x:2".into(), (5, b"old".to_vec()));
        let p = plan(&policy, &batch, &keys(7, &batch), &known);
        assert_eq!(p.counts.assets_onboarded, 1);
        assert_eq!(
            p.counts.assets_updated, 4,
            "two on the new entry, two stored"
        );
        assert_eq!(p.onboard.len(), 1);
        assert_eq!(p.onboard[0].metadata.name, "three", "the last name wins");
        assert_eq!(p.update_metadata.len(), 1);
        assert_eq!(p.update_metadata[0].1.name, "renamed again");
    }

    #[test]
    fn within_a_batch_the_last_record_wins_and_keys_are_shared() {
        let batch = Batch {
            assets: vec![
                asset("a1", Some("arn:aws:x:1"), "one"),
                asset("a2", Some("arn:aws:x:1"), "same resource, other id"),
            ],
            findings: vec![finding("f1", "a1", "first"), finding("f1", "a1", "second")],
            ..Default::default()
        };
        let p = plan(
            &Policy::default(),
            &batch,
            &keys(7, &batch),
            &Snapshot::default(),
        );
        assert_eq!(p.onboard.len(), 1, "one resource, one inventory entry");
        assert_eq!(p.link.len(), 2);
        assert!(p.link.iter().all(|l| l.inventory == InventoryRef::New(0)));
        assert_eq!(
            p.write.len(),
            1,
            "one row per id, so a multi-row upsert is valid"
        );
        assert_eq!(p.write[0].finding.title, "second");
        assert_eq!((p.counts.findings_new, p.counts.findings_updated), (1, 1));
    }

    #[test]
    fn findings_on_stored_assets_need_no_asset_in_the_batch() {
        let batch = Batch {
            findings: vec![finding("f1", "a1", "t"), finding("f2", "nowhere", "t")],
            removed_findings: vec!["f0".into()],
            ..Default::default()
        };
        let mut stored = Snapshot::default();
        stored.linked.insert("a1".into());
        let p = plan(&Policy::default(), &batch, &keys(7, &batch), &stored);
        assert_eq!(p.write.len(), 1);
        assert_eq!(p.unlinked, vec![("f2", "nowhere")]);
        assert_eq!(p.close, ["f0".to_string()]);
        let unlinked = vec![
            ("f2".to_string(), "nowhere".to_string()),
            ("f3".into(), "a9".into()),
        ];
        let mut emitted = EmittedAssets::default();
        emitted.insert("a9");
        let rejected: Vec<_> = never_emitted(&unlinked, &emitted).collect();
        assert_eq!(rejected, vec![&("f2".to_string(), "nowhere".to_string())]);
        let k = keys(7, &batch);
        assert!(k.asset_ids.is_empty());
        assert_eq!(k.linked_ids, ["a1", "nowhere"]);
    }

    #[test]
    fn emitted_assets_fit_in_fixed_memory_and_never_forget_one() {
        let mut emitted = EmittedAssets::default();
        for i in 0..1_000_000 {
            emitted.insert(&format!("asset-{i}"));
        }
        assert!((0..1_000_000).all(|i| emitted.contains(&format!("asset-{i}"))));
        let false_positives = (0..100_000)
            .filter(|i| emitted.contains(&format!("other-{i}")))
            .count();
        assert!(false_positives < 5_000, "{false_positives} of 100000");
        assert_eq!(emitted.heap_bytes(), EmittedAssets::BITS / 8);
    }

    #[test]
    fn a_run_that_emitted_few_assets_holds_little_memory() {
        let mut emitted = EmittedAssets::default();
        assert_eq!(emitted.heap_bytes(), 0, "nothing before the first asset");
        // A sync of 2,000 issues emits about 500 assets.
        for i in 0..500 {
            emitted.insert(&format!("asset-{i}"));
        }
        assert!(emitted.heap_bytes() < 16 << 10, "{}", emitted.heap_bytes());
        assert!((0..500).all(|i| emitted.contains(&format!("asset-{i}"))));
        assert!(!(0..10_000).any(|i| emitted.contains(&format!("other-{i}"))));
        // Past the set's ceiling the hashes move to the filter, none forgotten.
        for i in 500..=EmittedAssets::FEW {
            emitted.insert(&format!("asset-{i}"));
        }
        assert_eq!(emitted.heap_bytes(), EmittedAssets::BITS / 8);
        assert!((0..=EmittedAssets::FEW).all(|i| emitted.contains(&format!("asset-{i}"))));
    }
}
