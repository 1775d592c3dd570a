//! Reports are written in groups: a writing task takes every report waiting and writes them
//! in one transaction (the rows, one chained audit entry each, the outcomes in one
//! statement), then answers each request. A request is answered only after its transaction
//! commits, as before; what the group saves is the per-report round trips and, above all,
//! the queue on the outcome rows when many VENs report on the same devices at once. A group
//! that fails is written again one report at a time, so one bad report fails alone.
//!
//! SQLite has one writer at a time, so one task writes. PostgreSQL takes [`PG_WRITERS`]
//! tasks (at most half the pool's connections): while one group waits for its commit the next inserts its rows and audit entries
//! (in another lane of the chain) and queues only for the outcome rows the first holds. A
//! report answered before another is sent is applied before it; reports in flight together
//! have no order between them, as from different processes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::db::audit::{append_many, NewAuditEntry};
use crate::db::dialect::Dialect;
use crate::db::openadr::{self as store, DeviceOutcome, NewReport};
use crate::db::Db;
use crate::error::DomainError;

/// Most reports written in one transaction.
const MAX_GROUP: usize = 256;

/// Groups written at once on PostgreSQL.
pub const PG_WRITERS: usize = 4;

/// A report ready to store: the row, its audit entry and what it says of each device of its
/// stage.
#[derive(Debug, Clone)]
pub struct PendingReport {
    pub row: NewReport,
    pub stage_id: i64,
    pub outcomes: Vec<DeviceOutcome>,
    pub audit: NewAuditEntry,
}

struct Job {
    report: PendingReport,
    done: oneshot::Sender<Result<(), DomainError>>,
}

/// What the writers have done since the process started (`/metrics`).
#[derive(Debug, Default)]
pub struct WriterCounts {
    /// Transactions that committed a group.
    pub groups: AtomicU64,
    /// Reports stored.
    pub written: AtomicU64,
    /// Reports refused at writing (each answered with its error).
    pub failed: AtomicU64,
}

/// The handle requests write their reports through.
#[derive(Debug)]
pub struct ReportWriter {
    jobs: mpsc::Sender<Job>,
    counts: Arc<WriterCounts>,
}

impl ReportWriter {
    /// Starts the writing task on the current runtime; it ends when the handle is dropped.
    pub fn start(db: Db) -> Arc<Self> {
        let (jobs, queue) = mpsc::channel(4 * MAX_GROUP);
        // At most half the pool's connections, so requests still find one to read with.
        let pool = crate::with_db!(&db, |p| p.options().get_max_connections()) as usize;
        let writers = match db.dialect() {
            Dialect::Sqlite => 1,
            Dialect::Postgres => PG_WRITERS.min(pool / 2).max(1),
        };
        let queue = Arc::new(tokio::sync::Mutex::new(queue));
        let counts = Arc::new(WriterCounts::default());
        for _ in 0..writers {
            tokio::spawn(write_groups(db.clone(), queue.clone(), counts.clone()));
        }
        Arc::new(ReportWriter { jobs, counts })
    }

    /// The writers' counts and the reports waiting, as Prometheus text.
    pub fn metrics(&self) -> String {
        let waiting = self.jobs.max_capacity() - self.jobs.capacity();
        let c = &self.counts;
        format!(
            "# HELP gridflex_openadr_report_groups_total Transactions that wrote a group of OpenADR reports.\n# TYPE gridflex_openadr_report_groups_total counter\ngridflex_openadr_report_groups_total {}\n\
             # HELP gridflex_openadr_reports_written_total OpenADR reports stored.\n# TYPE gridflex_openadr_reports_written_total counter\ngridflex_openadr_reports_written_total {}\n\
             # HELP gridflex_openadr_reports_failed_total OpenADR reports refused at writing.\n# TYPE gridflex_openadr_reports_failed_total counter\ngridflex_openadr_reports_failed_total {}\n\
             # HELP gridflex_openadr_reports_waiting OpenADR reports waiting for a writer.\n# TYPE gridflex_openadr_reports_waiting gauge\ngridflex_openadr_reports_waiting {waiting}\n",
            c.groups.load(Ordering::Relaxed),
            c.written.load(Ordering::Relaxed),
            c.failed.load(Ordering::Relaxed),
        )
    }

    /// Writes one report (with any others waiting) and answers once it is committed.
    pub async fn write(&self, report: PendingReport) -> Result<(), DomainError> {
        let (done, answer) = oneshot::channel();
        let stopped = || DomainError::Internal("the report writer has stopped".into());
        self.jobs
            .send(Job { report, done })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn write_groups(
    db: Db,
    queue: Arc<tokio::sync::Mutex<mpsc::Receiver<Job>>>,
    counts: Arc<WriterCounts>,
) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    loop {
        // The queue is held only while taking a group, not while writing it.
        if queue.lock().await.recv_many(&mut group, MAX_GROUP).await == 0 {
            return;
        }
        let jobs = std::mem::take(&mut group);
        let reports: Vec<&PendingReport> = jobs.iter().map(|j| &j.report).collect();
        let results = write_group(&db, &reports).await;
        let written = results.iter().filter(|r| r.is_ok()).count() as u64;
        if written == results.len() as u64 {
            counts.groups.fetch_add(1, Ordering::Relaxed);
        } else {
            // Written one by one: a transaction for each report stored.
            counts.groups.fetch_add(written, Ordering::Relaxed);
        }
        counts.written.fetch_add(written, Ordering::Relaxed);
        counts
            .failed
            .fetch_add(results.len() as u64 - written, Ordering::Relaxed);
        for (job, result) in jobs.into_iter().zip(results) {
            // A request that went away still has its report written.
            let _ = job.done.send(result);
        }
    }
}

/// Writes a group of reports in one transaction, or, when that fails, each in its own: the
/// result of each report, in order.
pub async fn write_group(db: &Db, reports: &[&PendingReport]) -> Vec<Result<(), DomainError>> {
    match write(db, reports).await {
        Ok(()) => reports.iter().map(|_| Ok(())).collect(),
        Err(e) if reports.len() == 1 => vec![Err(e)],
        Err(e) => {
            tracing::warn!(error = %e, reports = reports.len(), "a group of OpenADR reports failed; writing them one by one");
            let mut results = Vec::with_capacity(reports.len());
            for r in reports {
                results.push(write(db, &[*r]).await);
            }
            results
        }
    }
}

/// Writes reports in one transaction, in the order given.
async fn write(db: &Db, reports: &[&PendingReport]) -> Result<(), DomainError> {
    let rows: Vec<&NewReport> = reports.iter().map(|r| &r.row).collect();
    let audits: Vec<&NewAuditEntry> = reports.iter().map(|r| &r.audit).collect();
    let outcomes: Vec<(i64, &DeviceOutcome)> = reports
        .iter()
        .flat_map(|r| r.outcomes.iter().map(|o| (r.stage_id, o)))
        .collect();
    let mut tx = db.begin().await?;
    store::insert_reports(&mut tx, &rows).await?;
    append_many(&mut tx, &audits).await?;
    // The outcomes last: their rows stay locked until the commit, and groups from other
    // processes that report on the same devices queue on those locks, so the queue holds only
    // this statement and the commit.
    store::record_outcomes(&mut tx, &outcomes).await?;
    tx.commit().await?;
    Ok(())
}
