//! What syncs write, once for both backends: each group of a run's batches and its
//! checkpoint in one fenced transaction, in which each batch reads its snapshot, lets the
//! policy plan, and writes the plan; and the fenced end-of-run updates. Reading a
//! snapshot and writing a plan are the bulk work each backend does its own way
//! ([`BulkWrites`]).

use super::sql::{Backend, Param, Session, StoredRow};
use super::{
    BatchOutcome, CLEAR_CHECKPOINT, Checkpoint, FIRST_CHECKPOINT, Fence, GROUP_IDLE, GROUP_SPAN,
    GroupFeed, GroupOutcome, GroupWrite, IngestStore, RESTORE_REPORTED_STATUSES, SAVE_CHECKPOINT,
    StoreError,
};
use crate::model::Policy;
use crate::policy::ingest::{self, CLOSED_STATUS, Keys, Plan, REMOVED_AT_SOURCE, Snapshot};
use async_trait::async_trait;
use std::future::Future;
use std::time::{Duration, Instant};

/// The bulk reads and writes of a batch: SQLite's are statement by statement on cached
/// statements, PostgreSQL's a few multi-row statements over arrays.
pub(crate) trait BulkWrites: Session {
    /// Called as a group's transaction begins.
    fn group_begun(&mut self) -> impl Future<Output = Result<(), StoreError>> + Send {
        async { Ok(()) }
    }

    /// What the store holds for a batch's keys.
    fn snapshot(
        &mut self,
        integration: i64,
        keys: &Keys<'_>,
    ) -> impl Future<Output = Result<Snapshot, StoreError>> + Send;

    /// Writes a batch's plan; the findings it closed.
    fn apply(
        &mut self,
        integration: i64,
        run: i64,
        plan: &Plan<'_>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

/// The end of an insert of findings that replaces a stored finding of the same id with
/// the record, and reopens it if it was closed: the same text in both dialects.
macro_rules! rewrite_stored_finding {
    () => {
        " ON CONFLICT (integration_id, source_id) DO UPDATE SET asset_source_id = excluded.asset_source_id, title = excluded.title,
           description = excluded.description, severity = excluded.severity, status = excluded.status, source_status = excluded.source_status,
           remediation = excluded.remediation, rule_id = excluded.rule_id, rule_name = excluded.rule_name, created_at = excluded.created_at,
           updated_at = excluded.updated_at, status_changed_at = excluded.status_changed_at, resolved_at = excluded.resolved_at,
           due_at = excluded.due_at, project_ids = excluded.project_ids, portal_url = excluded.portal_url, raw = excluded.raw,
           content_hash = excluded.content_hash, closed_reason = NULL, reported_status = excluded.reported_status,
           seen_in_run = excluded.seen_in_run, kind = excluded.kind, vulnerability = excluded.vulnerability,
           stream = excluded.stream, text_id = excluded.text_id, asset_key = excluded.asset_key"
    };
}
pub(crate) use rewrite_stored_finding;

/// Closes findings as [`CLOSED_STATUS`] for [`REMOVED_AT_SOURCE`], the parameters
/// numbered `first` and `first + 1` ([`closing`]), to which a statement adds its
/// `WHERE`. The hash is cleared (an empty value of the column's own type, in both
/// dialects) so the source's record rewrites the finding if it ever comes back.
pub(crate) fn close_finding(first: usize) -> String {
    format!(
        "UPDATE findings SET status = ?{first}, reported_status = ?{first}, closed_reason = ?{},
           content_hash = substr(content_hash, 1, 0)",
        first + 1
    )
}

/// The parameters of [`close_finding`], in order.
pub(crate) fn closing() -> [Param; 2] {
    [
        Param::text(CLOSED_STATUS.as_str()),
        Param::text(REMOVED_AT_SOURCE),
    ]
}

/// Stores a run's checkpoint while `generation` is current; whether it was stored.
async fn save_checkpoint<S: Session>(
    s: &mut S,
    integration: i64,
    state: &str,
    generation: i64,
) -> Result<bool, StoreError> {
    let (id, state) = (Param::Int(integration), Param::text(state));
    let mut stored = s
        .execute(
            SAVE_CHECKPOINT,
            &[
                id.clone(),
                state.clone(),
                Param::NOW,
                Param::Int(generation),
            ],
        )
        .await?;
    if stored == 0 && generation == 0 {
        stored = s
            .execute(FIRST_CHECKPOINT, &[id, state, Param::NOW])
            .await?;
    }
    Ok(stored > 0)
}

#[async_trait]
impl<B: Backend> IngestStore for B {
    async fn write_group(
        &self,
        integration: i64,
        run: i64,
        policy: Policy,
        mut feed: Box<dyn GroupFeed>,
        fence: Fence,
    ) -> Result<GroupOutcome, StoreError> {
        self.write(Box::new(move |s| {
            Box::pin(async move {
                s.check_fence(integration, fence).await?;
                s.group_begun().await?;
                // From when the transaction holds the store, which others wait for.
                let begun = Instant::now();
                let mut outcome = GroupOutcome::default();
                let mut checkpoint = None;
                loop {
                    let left = GROUP_SPAN.saturating_sub(begun.elapsed());
                    if outcome.writes > 0 && left.is_zero() {
                        break;
                    }
                    // Only what is queued already while another sync waits for the store.
                    let wait = match s.others_waiting() {
                        true => Duration::ZERO,
                        false => GROUP_IDLE.min(left),
                    };
                    let Some(write) = feed.next(wait).await else {
                        break;
                    };
                    outcome.writes += 1;
                    match write {
                        GroupWrite::Batch(batch) => {
                            let keys = ingest::keys(integration, &batch);
                            let snapshot = s.snapshot(integration, &keys).await?;
                            let plan = ingest::plan(&policy, &batch, &keys, &snapshot);
                            let closed = s.apply(integration, run, &plan).await?;
                            let stored = BatchOutcome::of(&plan, closed);
                            drop((plan, keys));
                            feed.written(batch, stored);
                        }
                        GroupWrite::Checkpoint(state, generation) => {
                            checkpoint = Some((state, generation));
                        }
                    }
                }
                if let Some((state, generation)) = &checkpoint {
                    outcome.checkpoint_stale =
                        !save_checkpoint(s, integration, state, *generation).await?;
                }
                Ok(outcome)
            })
        }))
        .await
    }

    async fn close_unseen(
        &self,
        integration: i64,
        run: i64,
        streams: &[String],
        fence: Fence,
    ) -> Result<u64, StoreError> {
        let streams = Param::Json(serde_json::Value::from(streams.to_vec()));
        self.write(Box::new(move |s| {
            Box::pin(async move {
                s.check_fence(integration, fence).await?;
                // Run ids only grow, so "not seen in this run" is "seen earlier, or never".
                let sql = format!(
                    "{} WHERE integration_id = ?1 AND closed_reason IS NULL AND (seen_in_run IS NULL OR seen_in_run < ?2)
                       AND (stream IS NULL OR stream IN ({}))",
                    close_finding(4),
                    s.json_texts("?3"),
                );
                let [status, reason] = closing();
                s.execute(&sql, &[Param::Int(integration), Param::Int(run), streams, status, reason])
                    .await
            })
        }))
        .await
    }

    async fn restore_reported_statuses(
        &self,
        integration: i64,
        fence: Fence,
    ) -> Result<u64, StoreError> {
        self.write(Box::new(move |s| {
            Box::pin(async move {
                s.check_fence(integration, fence).await?;
                s.execute(RESTORE_REPORTED_STATUSES, &[Param::Int(integration)])
                    .await
            })
        }))
        .await
    }

    async fn checkpoint(&self, integration: i64) -> Result<Checkpoint, StoreError> {
        self.read(Box::new(move |s| {
            Box::pin(async move {
                let row = s
                    .query_opt(
                        "SELECT state, generation FROM checkpoints WHERE integration_id = ?1",
                        &[Param::Int(integration)],
                    )
                    .await?;
                let row = row.map(|r| Ok::<_, StoreError>((r.text(0)?, r.int(1)?)));
                Ok(Checkpoint::from_row(row.transpose()?))
            })
        }))
        .await
    }

    async fn clear_checkpoint(&self, integration: i64) -> Result<(), StoreError> {
        let params = vec![Param::Int(integration), Param::NOW];
        self.write_one(CLEAR_CHECKPOINT, params).await?;
        Ok(())
    }
}
