//! What the operator is told directly, as opposed to the log: the listen address, a secret key
//! just created (the one time any key is shown), tables and outcomes of operator commands on
//! standard output; errors on standard error.
//!
//! Writing to the terminal is this binary's job, which the workspace's `print_stdout` lint
//! would otherwise flag; this module is the one place that does it, through explicit writes
//! to the standard streams. A failed write (a closed pipe) is not worth failing a server for,
//! so it is ignored.

use std::io::Write as _;

/// Writes `text` and a newline to standard output, flushed at once (a test or a supervisor
/// reading the pipe sees each line as it is written).
pub(crate) fn say(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

/// Writes `error: <message>` to standard error.
pub(crate) fn error(message: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "error: {message}");
    let _ = err.flush();
}
