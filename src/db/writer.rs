//! The single writer. SQLite allows one writer at a time and a commit costs an fsync, so
//! instead of every caller opening its own transaction, callers queue their work here and
//! this thread runs everything that is waiting in one transaction (group commit): one
//! fsync for many ingest requests, batch records and attempt records. Each caller hears
//! back only once the shared commit is durable.
//!
//! The callers' work runs without savepoints (a savepoint journals every page it touches,
//! which nearly doubles the cost of a large ingest). If one caller's work fails, the whole
//! group is rolled back and every caller's work is run again in a transaction of its own,
//! so a failure still touches only the caller that caused it. That is why work is `Fn`:
//! it may run twice.

use std::sync::mpsc;

use diesel::QueryResult;
use tokio::sync::oneshot;

use super::{Conn, DbError};

/// The most callers whose work shares one commit.
const MAX_GROUP: usize = 256;

/// One caller's queued work.
trait Job: Send {
    /// Runs the work on `conn`, keeping its outcome; true when it succeeded.
    fn apply(&mut self, conn: &mut Conn) -> bool;
    /// Tells the caller the outcome once its transaction is committed (or failed).
    fn finish(self: Box<Self>, commit: Result<(), String>);
}

/// Runs on the writer thread right after a job's work has committed, before the next
/// group starts: what it does happens in commit order.
pub type OnCommit<T> = Box<dyn FnOnce(&T) + Send>;

struct TypedJob<T, F> {
    work: F,
    on_commit: Option<OnCommit<T>>,
    outcome: Option<QueryResult<T>>,
    reply: oneshot::Sender<Result<T, DbError>>,
}

impl<T, F> Job for TypedJob<T, F>
where
    T: Send,
    F: Fn(&mut Conn) -> QueryResult<T> + Send,
{
    fn apply(&mut self, conn: &mut Conn) -> bool {
        let outcome = (self.work)(conn);
        let ok = outcome.is_ok();
        self.outcome = Some(outcome);
        ok
    }

    fn finish(self: Box<Self>, commit: Result<(), String>) {
        let result = match (commit, self.outcome) {
            (Ok(()), Some(Ok(value))) => {
                if let Some(on_commit) = self.on_commit {
                    on_commit(&value);
                }
                Ok(value)
            }
            (_, Some(Err(e))) => Err(DbError::Query(e)),
            (Ok(()), None) => Err(DbError::WriterStopped),
            (Err(e), _) => Err(DbError::Connection(format!("commit failed: {e}"))),
        };
        // The caller may have gone away (a client hung up); the write stands regardless.
        let _ = self.reply.send(result);
    }
}

/// A handle to the writer thread. Cheap to clone; the thread ends when every handle is gone.
#[derive(Clone)]
pub struct Writer {
    queue: mpsc::Sender<Box<dyn Job>>,
}

impl Writer {
    /// Starts the writer thread on its own connection.
    pub fn start(conn: Conn) -> Result<Writer, DbError> {
        let (queue, jobs) = mpsc::channel::<Box<dyn Job>>();
        std::thread::Builder::new()
            .name("mailhooks-db-writer".into())
            .spawn(move || run(conn, jobs))
            .map_err(|e| DbError::Connection(format!("cannot start the writer thread: {e}")))?;
        Ok(Writer { queue })
    }

    fn enqueue<T, F>(
        &self,
        work: F,
        on_commit: Option<OnCommit<T>>,
    ) -> Result<oneshot::Receiver<Result<T, DbError>>, DbError>
    where
        T: Send + 'static,
        F: Fn(&mut Conn) -> QueryResult<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = TypedJob { work, on_commit, outcome: None, reply };
        self.queue.send(Box::new(job)).map_err(|_| DbError::WriterStopped)?;
        Ok(answer)
    }

    /// Queues `work` and waits for its commit; `on_commit`, if given, runs on the writer
    /// thread once the work is durable, before the caller hears of it.
    pub fn submit<T, F>(
        &self,
        work: F,
        on_commit: Option<OnCommit<T>>,
    ) -> impl std::future::Future<Output = Result<T, DbError>> + 'static
    where
        T: Send + 'static,
        F: Fn(&mut Conn) -> QueryResult<T> + Send + 'static,
    {
        let queued = self.enqueue(work, on_commit);
        async move { queued?.await.map_err(|_| DbError::WriterStopped)? }
    }

    /// Queues `work` and blocks this thread until its commit.
    pub fn submit_blocking<T, F>(&self, work: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: Fn(&mut Conn) -> QueryResult<T> + Send + 'static,
    {
        self.enqueue(work, None)?.blocking_recv().map_err(|_| DbError::WriterStopped)?
    }
}

/// Why a group's shared transaction did not commit.
enum GroupFailure {
    /// One job failed: run each job alone.
    Job,
    /// Beginning or committing failed (locked, read-only, disk full): every job fails.
    Commit(String),
}

fn run(mut conn: Conn, jobs: mpsc::Receiver<Box<dyn Job>>) {
    while let Ok(first) = jobs.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        match run_together(&mut conn, &mut group) {
            Ok(()) => group.into_iter().for_each(|job| job.finish(Ok(()))),
            Err(GroupFailure::Commit(e)) => {
                log::error!("database commit of {} writes failed: {e}", group.len());
                group.into_iter().for_each(|job| job.finish(Err(e.clone())));
            }
            Err(GroupFailure::Job) => {
                for mut job in group {
                    let committed = run_alone(&mut conn, job.as_mut());
                    job.finish(committed);
                }
            }
        }
    }
}

/// Runs every job of a group in one transaction, with no savepoints.
fn run_together(conn: &mut Conn, group: &mut [Box<dyn Job>]) -> Result<(), GroupFailure> {
    let mut job_failed = false;
    let outcome = conn.immediate_transaction::<_, diesel::result::Error, _>(|conn| {
        for job in group.iter_mut() {
            if !job.apply(conn) {
                job_failed = true;
                return Err(diesel::result::Error::RollbackTransaction);
            }
        }
        Ok(())
    });
    match outcome {
        Ok(()) => Ok(()),
        Err(_) if job_failed => Err(GroupFailure::Job),
        Err(e) => Err(GroupFailure::Commit(e.to_string())),
    }
}

/// Runs one job in a transaction of its own (after its group failed).
fn run_alone(conn: &mut Conn, job: &mut dyn Job) -> Result<(), String> {
    let mut failed = false;
    let outcome = conn.immediate_transaction::<_, diesel::result::Error, _>(|conn| {
        if job.apply(conn) {
            Ok(())
        } else {
            failed = true;
            Err(diesel::result::Error::RollbackTransaction)
        }
    });
    match outcome {
        Ok(()) => Ok(()),
        // The job's own error is in its outcome; `finish` reports it.
        Err(_) if failed => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}
