use std::io;
use std::process::ExitStatus;

/// Everything that can go wrong while building, using or tearing down a lab.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// A system call or file operation failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    /// An external command (`ip`, `tcpdump`, ...) exited unsuccessfully.
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        command: String,
        status: ExitStatus,
        stderr: String,
    },
    /// A caller-supplied value cannot be used (bad node name, address, ...).
    #[error("invalid argument: {0}")]
    Invalid(String),
    /// Something the lab waited for did not happen in time.
    #[error("timed out: {0}")]
    Timeout(String),
    /// A capture file could not be decoded.
    #[error("malformed pcap: {0}")]
    Pcap(String),
    /// Some part of the lab could not be cleaned up.
    #[error("teardown incomplete: {0}")]
    Teardown(String),
    /// The lab was already torn down.
    #[error("the lab has been torn down")]
    TornDown,
}

impl LabError {
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        LabError::Io {
            context: context.into(),
            source,
        }
    }
}

pub type Result<T, E = LabError> = std::result::Result<T, E>;
