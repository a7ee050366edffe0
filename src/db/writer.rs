//! The single writer. SQLite allows one writer at a time and a commit costs an fsync, so
//! instead of every caller opening its own transaction, callers queue their work here and
//! this thread runs everything that is waiting in one transaction (group commit): one
//! fsync for many ingest requests, batch records and attempt records. Each caller's work
//! runs inside its own savepoint, so one failing caller does not undo the others, and each
//! caller hears back only once the shared commit is durable.

use std::sync::mpsc;

use diesel::{Connection, QueryResult};
use tokio::sync::oneshot;

use super::{Conn, DbError};

/// The most callers whose work shares one commit.
const MAX_GROUP: usize = 256;

/// One caller's queued work.
trait Job: Send {
    /// Runs the work inside the shared transaction.
    fn apply(&mut self, conn: &mut Conn);
    /// Tells the caller the outcome once the shared commit is done (or failed).
    fn finish(self: Box<Self>, commit: Result<(), String>);
}

struct TypedJob<T, F> {
    work: Option<F>,
    outcome: Option<QueryResult<T>>,
    reply: oneshot::Sender<Result<T, DbError>>,
}

impl<T, F> Job for TypedJob<T, F>
where
    T: Send,
    F: FnOnce(&mut Conn) -> QueryResult<T> + Send,
{
    fn apply(&mut self, conn: &mut Conn) {
        if let Some(work) = self.work.take() {
            // A nested transaction is a savepoint: on error only this job is rolled back.
            self.outcome = Some(conn.transaction(work));
        }
    }

    fn finish(self: Box<Self>, commit: Result<(), String>) {
        let result = match (commit, self.outcome) {
            (Ok(()), Some(Ok(value))) => Ok(value),
            (Ok(()), Some(Err(e))) => Err(DbError::Query(e)),
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

    fn enqueue<T, F>(&self, work: F) -> Result<oneshot::Receiver<Result<T, DbError>>, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Conn) -> QueryResult<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = TypedJob { work: Some(work), outcome: None, reply };
        self.queue.send(Box::new(job)).map_err(|_| DbError::WriterStopped)?;
        Ok(answer)
    }

    /// Queues `work` and waits for its commit.
    pub fn submit<T, F>(&self, work: F) -> impl std::future::Future<Output = Result<T, DbError>> + 'static
    where
        T: Send + 'static,
        F: FnOnce(&mut Conn) -> QueryResult<T> + Send + 'static,
    {
        let queued = self.enqueue(work);
        async move { queued?.await.map_err(|_| DbError::WriterStopped)? }
    }

    /// Queues `work` and blocks this thread until its commit.
    pub fn submit_blocking<T, F>(&self, work: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Conn) -> QueryResult<T> + Send + 'static,
    {
        self.enqueue(work)?.blocking_recv().map_err(|_| DbError::WriterStopped)?
    }
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
        let committed = conn
            .immediate_transaction::<_, diesel::result::Error, _>(|conn| {
                for job in group.iter_mut() {
                    job.apply(conn);
                }
                Ok(())
            })
            .map_err(|e| {
                log::error!("database commit of {} writes failed: {e}", group.len());
                e.to_string()
            });
        for job in group {
            job.finish(committed.clone());
        }
    }
}
