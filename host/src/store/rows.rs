//! The listings' rows, read into the model once for both backends: each backend builds
//! its own listing statement (their search and collation differ) over the same columns.

use super::sql::StoredRow;
use super::{StoreError, asset_cursor};
use crate::model::{
    AssetCursor, FindingCursor, FindingOrder, FindingSort, InventoryAsset, SortKey,
    StatusChangeRecord, StoredFinding,
};

/// A page of findings' columns, in [`finding_row`]'s order, `column` being the sort's
/// (its value is the cursor's key); the conditions follow `WHERE TRUE`.
pub(crate) fn finding_select(column: &str) -> String {
    format!(
        "SELECT i.name, f.source_id, f.asset_source_id, f.title, f.description, f.severity, f.status, f.source_status, f.remediation, f.rule_id,
           f.rule_name, f.created_at, f.updated_at, f.status_changed_at, f.resolved_at, f.due_at, f.project_ids, f.portal_url, f.closed_reason,
           {column}, f.integration_id, f.listing_id, f.kind, f.vulnerability, fv.name, fv.asset_type, fv.canonical_key
         FROM findings f JOIN integrations i ON i.id = f.integration_id
           LEFT JOIN assets fa ON fa.integration_id = f.integration_id AND fa.source_id = f.asset_source_id
           LEFT JOIN inventory fv ON fv.id = fa.inventory_id
         WHERE TRUE"
    )
}

/// A finding of a page read by [`finding_select`] in `order`, with the cursor that
/// resumes after it.
pub(crate) fn finding_row(
    r: &impl StoredRow,
    order: FindingOrder,
) -> Result<(StoredFinding, FindingCursor), StoreError> {
    let finding = StoredFinding {
        integration: r.text(0)?,
        id: r.text(1)?,
        asset_id: r.text(2)?,
        title: r.text(3)?,
        description: r.text(4)?,
        severity: r.parsed(5)?,
        status: r.parsed(6)?,
        source_status: r.text(7)?,
        remediation: r.opt_text(8)?,
        rule_id: r.opt_text(9)?,
        rule_name: r.opt_text(10)?,
        created_at: r.opt_time(11)?,
        updated_at: r.opt_time(12)?,
        status_changed_at: r.opt_time(13)?,
        resolved_at: r.opt_time(14)?,
        due_at: r.opt_time(15)?,
        project_ids: r.json(16, "finding projects")?,
        portal_url: r.opt_text(17)?,
        closed_reason: r.opt_text(18)?,
        kind: r.parsed(22)?,
        vulnerability: r.opt_json(23, "finding vulnerability")?,
        asset_name: r.opt_text(24)?,
        asset_type: r.opt_text(25)?,
        asset_key: r.opt_text(26)?,
    };
    let key = match order.by {
        FindingSort::Severity => SortKey::Int(r.int(19)?),
        FindingSort::Title | FindingSort::Asset | FindingSort::Status => SortKey::Text(r.text(19)?),
        FindingSort::Changed => SortKey::Time(r.time(19)?),
    };
    let cursor = FindingCursor {
        order,
        key,
        integration: r.int(20)?,
        row: r.int(21)?,
        backward: false,
    };
    Ok((finding, cursor))
}

/// An asset of the Asset View (its id, the inventory's columns, the integrations that
/// report it as a JSON array of names, and whether it was removed), with its cursor.
pub(crate) fn asset_row(r: &impl StoredRow) -> Result<(InventoryAsset, AssetCursor), StoreError> {
    let asset = InventoryAsset {
        id: r.text(0)?,
        canonical_key: r.text(1)?,
        name: r.text(2)?,
        asset_type: r.text(3)?,
        cloud_platform: r.text(4)?,
        cloud_account_id: r.opt_text(5)?,
        cloud_account_name: r.opt_text(6)?,
        region: r.opt_text(7)?,
        provider_id: r.opt_text(8)?,
        tags: r.json(9, "asset tags")?,
        status: r.opt_text(10)?,
        technologies: r.json(11, "asset technologies")?,
        integrations: r.json(12, "asset integrations")?,
        removed: r.flag(13)?,
    };
    let cursor = asset_cursor(&asset);
    Ok((asset, cursor))
}

/// A status change of a finding, from `changed_at, changed_by, from_status, to_status,
/// reason`.
pub(crate) fn status_change_row(r: &impl StoredRow) -> Result<StatusChangeRecord, StoreError> {
    Ok(StatusChangeRecord {
        at: r.time(0)?,
        by: r.text(1)?,
        from: r.parsed(2)?,
        to: r.parsed(3)?,
        reason: r.text(4)?,
    })
}
