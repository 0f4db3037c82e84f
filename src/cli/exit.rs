//! Exit codes and how errors become them. Data errors (malformed
//! records) are 1, usage and I/O errors 2; a broken pipe is a clean 0.

use std::process::ExitCode;

/// Success.
pub const OK: u8 = 0;
/// Malformed data was reported, or `--strict` stopped at it.
pub const DATA: u8 = 1;
/// Bad usage, unreadable input, unknown format.
pub const USAGE: u8 = 2;

/// Why a command failed.
#[derive(Debug)]
pub enum Failure {
    /// Malformed data; the message has already been printed when empty.
    Data(String),
    /// Usage or I/O problem.
    Usage(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Usage(e)
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::Usage(e.into())
    }
}

/// What a command returns: `Ok(true)` when data errors were reported
/// but the run went on (non-strict mode).
pub type Outcome = Result<bool, Failure>;

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || c.downcast_ref::<serde_json::Error>().is_some_and(|j| {
                j.io_error_kind() == Some(std::io::ErrorKind::BrokenPipe)
            })
    })
}

/// Print the failure, if any, and pick the exit code.
pub fn finish(result: Outcome) -> ExitCode {
    match result {
        Ok(false) => ExitCode::from(OK),
        Ok(true) => ExitCode::from(DATA),
        Err(Failure::Data(msg)) => {
            if !msg.is_empty() {
                eprintln!("coldplug: error: {msg}");
            }
            ExitCode::from(DATA)
        }
        Err(Failure::Usage(e)) if is_broken_pipe(&e) => ExitCode::from(OK),
        Err(Failure::Usage(e)) => {
            eprintln!("coldplug: error: {e:#}");
            ExitCode::from(USAGE)
        }
    }
}
