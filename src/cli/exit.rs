//! The one mapping from outcomes to exit status (DESIGN.md's contract).

use std::process::ExitCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: all passed.
    Ok,
    /// 1: a check failed.
    Failed,
    /// 2: bad usage, a bad scenario file or an unreadable log.
    Usage,
    /// 3: the server could not be reached or set up.
    Unreachable,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(match e {
            Exit::Ok => 0,
            Exit::Failed => 1,
            Exit::Usage => 2,
            Exit::Unreachable => 3,
        })
    }
}
