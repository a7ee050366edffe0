//! Durable state. Every function in the table modules is a plain synchronous function over
//! a `&mut Conn`, so the same code runs in a test, in the writer thread, or on the blocking
//! pool. Nothing here runs on an actor's or an HTTP worker's thread: reads go through
//! [`Db::read`] (the blocking pool, capped by the connection pool's size) and every write
//! goes through [`Db::write`], one writer thread that commits many callers' work together.
//!
//! Backends are chosen here and only here: `Conn` is the connection type the rest of the
//! engine sees, so adding PostgreSQL means changing this module, not the actors or routes.

pub mod accounts;
pub mod batches;
mod checkpointer;
pub mod events;
pub mod idempotency;
pub mod notifications;
mod schema;
pub mod webhooks;
mod writer;

use std::future::Future;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection};
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, QueryResult};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

pub use writer::Writer;

/// The connection type every repository function takes.
pub type Conn = SqliteConnection;

type Pool = diesel::r2d2::Pool<ConnectionManager<Conn>>;

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// How long a connection waits for another writer's lock before giving up, unless told.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a database operation failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("database connection failed: {0}")]
    Connection(String),
    #[error("the database writer has stopped")]
    WriterStopped,
    #[error("database migration failed: {0}")]
    Migration(String),
    #[error("unsupported database URL: {0}")]
    UnsupportedUrl(String),
}

impl DbError {
    /// True when the database cannot take writes right now (locked by someone else,
    /// read-only, full, failing I/O): nothing was stored, and trying later may work.
    pub fn is_unavailable(&self) -> bool {
        match self {
            DbError::Connection(_) | DbError::WriterStopped => true,
            DbError::Query(diesel::result::Error::DatabaseError(_, info)) => {
                let message = info.message().to_ascii_lowercase();
                ["locked", "busy", "readonly", "read-only", "disk is full", "disk i/o", "unable to open"]
                    .iter()
                    .any(|m| message.contains(m))
            }
            _ => false,
        }
    }

    /// True when the row asked for does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, DbError::Query(diesel::result::Error::NotFound))
    }
}

/// The writer connection's page cache.
const WRITER_CACHE_KIB: u32 = 64 * 1024;

/// The WAL size (pages) at which the writer checkpoints by itself.
const WRITER_CHECKPOINT_PAGES: u32 = 10_000;

/// Read connections, and so reads running at once.
const READERS: u32 = 4;

/// The handle the engine uses for all database work. Cheap to clone.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
    /// One permit per read connection: a read waits here, as a future, for its turn
    /// rather than on a blocking thread. Without it a thousand actors reading their
    /// backlogs at start would each hold a blocking thread waiting for a connection.
    read_turns: std::sync::Arc<tokio::sync::Semaphore>,
    writer: Writer,
    _checkpointer: checkpointer::Checkpointer,
}

/// Turns `sqlite://PATH` (or `sqlite:PATH`, or a bare path) into the file path SQLite opens.
fn sqlite_path(database_url: &str) -> Result<String, DbError> {
    if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
        return Err(DbError::UnsupportedUrl("PostgreSQL is not supported by this build yet; use sqlite://PATH".into()));
    }
    let path =
        database_url.strip_prefix("sqlite://").or_else(|| database_url.strip_prefix("sqlite:")).unwrap_or(database_url);
    if path.is_empty() {
        return Err(DbError::UnsupportedUrl(format!("{database_url:?} names no file")));
    }
    if path.contains("://") {
        return Err(DbError::UnsupportedUrl(format!("{database_url:?} is not a sqlite:// URL")));
    }
    Ok(path.to_owned())
}

/// Settings applied to every SQLite connection: WAL so readers never wait for the writer,
/// `synchronous=FULL` so a commit survives power loss, a busy timeout for the rare writer
/// from another process (the CLI's `account create`), and temporary data (sorts, the
/// journal of a transaction that is rolled back in part) in memory.
#[derive(Debug, Clone, Copy)]
struct SqlitePragmas {
    busy_timeout: Duration,
}

impl SqlitePragmas {
    fn apply(self, conn: &mut Conn) -> QueryResult<()> {
        conn.batch_execute(&format!(
            // The busy timeout comes first: switching to WAL needs a lock, and without the
            // timeout a connection opened while another is busy fails at once.
            "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
             PRAGMA temp_store = MEMORY;",
            self.busy_timeout.as_millis()
        ))
    }
}

impl CustomizeConnection<Conn, diesel::r2d2::Error> for SqlitePragmas {
    fn on_acquire(&self, conn: &mut Conn) -> Result<(), diesel::r2d2::Error> {
        self.apply(conn).map_err(diesel::r2d2::Error::QueryError)
    }
}

fn connect(path: &str, pragmas: SqlitePragmas) -> Result<Conn, DbError> {
    let mut conn = Conn::establish(path).map_err(|e| DbError::Connection(e.to_string()))?;
    pragmas.apply(&mut conn)?;
    Ok(conn)
}

/// Where the generated secret key is kept: beside the database, as `<file>.key`.
pub fn key_file_path(database_url: &str) -> Result<std::path::PathBuf, DbError> {
    Ok(std::path::PathBuf::from(format!("{}.key", sqlite_path(database_url)?)))
}

/// Applies every pending migration to the database at `database_url`.
pub fn migrate(database_url: &str) -> Result<(), DbError> {
    let path = sqlite_path(database_url)?;
    let mut conn = connect(&path, SqlitePragmas { busy_timeout: DEFAULT_BUSY_TIMEOUT })?;
    conn.run_pending_migrations(MIGRATIONS).map_err(|e| DbError::Migration(e.to_string()))?;
    Ok(())
}

impl Db {
    /// Opens the database, applies pending migrations and starts the writer thread.
    /// Blocking: call it from a blocking context or before the runtime is busy.
    /// `busy_timeout` is how long a write waits for a lock held by someone else before
    /// it fails (and ingest answers 503).
    pub fn open(database_url: &str, busy_timeout: Duration) -> Result<Db, DbError> {
        migrate(database_url)?;
        let path = sqlite_path(database_url)?;
        let pragmas = SqlitePragmas { busy_timeout };
        let pool = diesel::r2d2::Pool::builder()
            .max_size(READERS)
            .connection_customizer(Box::new(pragmas))
            .build(ConnectionManager::<Conn>::new(path.clone()))
            .map_err(|e| DbError::Connection(e.to_string()))?;
        let mut writer_conn = connect(&path, pragmas)?;
        // The writer's page cache is never invalidated (no one else writes), so a large
        // one keeps the pages ingest touches (a leaf per webhook in the deliveries index)
        // in memory. Checkpoints are the checkpointer's work; the writer does one itself
        // only if the WAL grows far past the usual size (the checkpointer fell behind).
        writer_conn.batch_execute(&format!(
            "PRAGMA cache_size = -{WRITER_CACHE_KIB}; PRAGMA wal_autocheckpoint = {WRITER_CHECKPOINT_PAGES};"
        ))?;
        let writer = Writer::start(writer_conn)?;
        let checkpointer = checkpointer::start(connect(&path, pragmas)?)?;
        let read_turns = std::sync::Arc::new(tokio::sync::Semaphore::new(READERS as usize));
        Ok(Db { pool, read_turns, writer, _checkpointer: checkpointer })
    }

    /// Runs a read on the blocking pool, once a read connection is free.
    pub fn read<T, F>(&self, f: F) -> impl Future<Output = Result<T, DbError>> + 'static
    where
        T: Send + 'static,
        F: Fn(&mut Conn) -> QueryResult<T> + Send + 'static,
    {
        let (pool, read_turns) = (self.pool.clone(), self.read_turns.clone());
        async move {
            let _turn = read_turns.acquire_owned().await.map_err(|e| DbError::Connection(e.to_string()))?;
            let joined = tokio::task::spawn_blocking(move || -> Result<T, DbError> {
                let mut conn = pool.get().map_err(|e| DbError::Connection(e.to_string()))?;
                Ok(f(&mut conn)?)
            })
            .await;
            joined.map_err(|e| DbError::Connection(format!("database task failed: {e}")))?
        }
    }

    /// Runs a write in the writer thread, inside a transaction it may share with other
    /// callers' writes. Resolves only after the commit; if `f` fails, only its own changes
    /// are rolled back.
    pub fn write<T, F>(&self, f: F) -> impl Future<Output = Result<T, DbError>> + 'static
    where
        T: Send + 'static,
        F: Fn(&mut Conn) -> QueryResult<T> + Send + 'static,
    {
        self.writer.submit(f, None)
    }

    /// [`Db::write`], and once the work has committed, `on_commit` runs with its result on
    /// the writer thread. Commits happen one after another on that thread, so what
    /// `on_commit` sends (freshly stored events, to the actors that deliver them) arrives
    /// in commit order, whichever caller's thread would have been first.
    pub fn write_then<T, F, C>(&self, f: F, on_commit: C) -> impl Future<Output = Result<T, DbError>> + 'static
    where
        T: Send + 'static,
        F: Fn(&mut Conn) -> QueryResult<T> + Send + 'static,
        C: FnOnce(&T) + Send + 'static,
    {
        self.writer.submit(f, Some(Box::new(on_commit)))
    }

    /// Runs a write synchronously, for start-up and the CLI (never from async code).
    pub fn write_blocking<T, F>(&self, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: Fn(&mut Conn) -> QueryResult<T> + Send + 'static,
    {
        self.writer.submit_blocking(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_a_file() {
        assert_eq!(sqlite_path("sqlite://mailhooks.db").unwrap(), "mailhooks.db");
        assert_eq!(sqlite_path("sqlite:///var/lib/m.db").unwrap(), "/var/lib/m.db");
        assert!(sqlite_path("sqlite://").is_err());
        assert!(sqlite_path("postgres://localhost/m").is_err());
        assert!(sqlite_path("mysql://x").is_err());
    }
}
