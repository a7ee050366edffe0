//! The checkpointer. In WAL mode every commit appends to the write-ahead log, and a
//! checkpoint copies the log back into the database file so the log can start over.
//! SQLite would do that inside the commit that crosses 1,000 pages — on the writer thread,
//! holding up every caller waiting for that commit. This thread does it instead, on its own
//! connection, a little at a time; a passive checkpoint never blocks the writer or readers.

use std::sync::mpsc;
use std::time::Duration;

use diesel::connection::SimpleConnection;

use super::{Conn, DbError};

/// How often the log is copied back.
const INTERVAL: Duration = Duration::from_millis(100);

/// Keeps the checkpointer running; the thread ends (after a last checkpoint) once every
/// clone of this handle is gone.
#[derive(Clone)]
pub struct Checkpointer {
    _alive: std::sync::Arc<mpsc::Sender<()>>,
}

/// Starts the checkpointer thread on its own connection.
pub fn start(mut conn: Conn) -> Result<Checkpointer, DbError> {
    let (alive, stopped) = mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("mailhooks-db-checkpoint".into())
        .spawn(move || loop {
            let last = matches!(stopped.recv_timeout(INTERVAL), Err(mpsc::RecvTimeoutError::Disconnected));
            if let Err(e) = conn.batch_execute("PRAGMA wal_checkpoint(PASSIVE);") {
                log::warn!("database checkpoint failed (tried again shortly): {e}");
            }
            if last {
                break;
            }
        })
        .map_err(|e| DbError::Connection(format!("cannot start the checkpoint thread: {e}")))?;
    Ok(Checkpointer { _alive: std::sync::Arc::new(alive) })
}
