//! The checkpointer thread: copies committed WAL frames into the database file, off the
//! writer's path.
//!
//! SQLite's automatic checkpoint runs inside the `COMMIT` of whichever transaction crosses the
//! WAL's size threshold, so one batch in a thousand paid for writing and fsyncing the database
//! file before its callers got their answer (13 % of the writer thread's time in a profile of
//! off-session payments). The writer's connection turns it off; this thread, on a connection of
//! its own, runs a `PASSIVE` checkpoint after the writer nudges it (at most every [`GAP`]) or
//! every [`IDLE`]. A passive checkpoint never blocks the writer or a reader; WAL mode lets it
//! run while the next batch is written. Once the WAL holds [`TRUNCATE_FRAMES`] frames, the
//! thread truncates it (see `run`), so the file and its shared-memory index stay bounded
//! whatever the read load. Durability is unchanged: a commit is durable once its
//! WAL frames are fsynced, before any checkpoint.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use rusqlite::Connection;

use super::SqliteError;

/// The shortest time between two checkpoints: batches commit far more often than this, and
/// each checkpoint fsyncs the database file.
const GAP: Duration = Duration::from_millis(50);

/// The WAL size, in frames (pages of 4 KiB), past which a checkpoint also truncates the WAL:
/// 16 MiB, a few hundred batches.
const TRUNCATE_FRAMES: i64 = 4096;

/// How long the thread waits for a nudge before checkpointing anyway.
const IDLE: Duration = Duration::from_secs(1);

/// The running checkpointer; [`Checkpointer::stop`] ends it.
pub(super) struct Checkpointer {
    nudge: SyncSender<()>,
    handle: JoinHandle<()>,
}

impl Checkpointer {
    /// Starts the thread over `conn` (opened with the checkpointer's role).
    pub(super) fn start(conn: Connection) -> Result<Self, SqliteError> {
        let (nudge, nudges) = mpsc::sync_channel(1);
        let handle = thread::Builder::new()
            .name("vinr-sqlite-checkpoint".to_owned())
            .spawn(move || {
                run(&conn, &nudges);
                // A failed close loses nothing: every frame stays in the WAL.
                let _ = conn.close();
            })
            .map_err(SqliteError::Spawn)?;
        Ok(Self { nudge, handle })
    }

    /// Tells the thread that something was committed. Never blocks: a nudge already waiting
    /// covers this one.
    pub(super) fn nudge(&self) {
        match self.nudge.try_send(()) {
            Ok(()) | Err(TrySendError::Full(())) | Err(TrySendError::Disconnected(())) => {}
        }
    }

    /// Ends the thread after its current checkpoint and closes its connection, so the
    /// writer's connection is the last to close and checkpoints what is left.
    pub(super) fn stop(self) {
        drop(self.nudge);
        // A panicked checkpointer lost nothing: checkpoints only copy committed frames.
        let _ = self.handle.join();
    }
}

/// The thread's loop, until the writer drops its end of the channel.
fn run(conn: &Connection, nudges: &Receiver<()>) {
    loop {
        match nudges.recv_timeout(IDLE) {
            Ok(()) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        // A failed checkpoint (the disk is full, say) is retried at the next nudge; the
        // writer's own commits report such failures to their callers.
        let left: Option<i64> = conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| row.get(1))
            .ok();
        if left.is_some_and(|frames| frames >= TRUNCATE_FRAMES) {
            // Copied or not, the frames stay in the WAL until it restarts from its start, which
            // SQLite does only when no reader still uses it; under a steady read load that is
            // never, and the WAL (and its shared-memory index, part of our RSS) would grow
            // without end. `TRUNCATE` waits (the busy timeout) for the readers of old snapshots
            // to finish, holds the next write set back for the copy, and empties the file.
            let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        }
        thread::sleep(GAP);
    }
}
