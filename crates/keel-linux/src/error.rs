use std::io;

/// Errors of the Linux edge.
#[derive(Debug, thiserror::Error)]
pub enum LinuxError {
    /// A system call failed.
    #[error("{op}: {source}")]
    Io {
        op: String,
        #[source]
        source: io::Error,
    },
    /// The kernel rejected (or the connection failed) a netlink request.
    #[error("netlink {op}: {source}")]
    Netlink {
        op: String,
        #[source]
        source: rtnetlink::Error,
    },
    /// No interface with that name (or index) in the current namespace.
    #[error("no such interface: {0}")]
    NoSuchInterface(String),
    /// A caller-supplied value cannot be used.
    #[error("invalid argument: {0}")]
    Invalid(String),
    /// Netlink helpers spawn their connection on the current tokio runtime.
    #[error("must be called from within a tokio runtime")]
    NoRuntime,
}

impl LinuxError {
    pub(crate) fn io(op: impl Into<String>, source: io::Error) -> Self {
        LinuxError::Io {
            op: op.into(),
            source,
        }
    }

    pub(crate) fn netlink(op: impl Into<String>, source: rtnetlink::Error) -> Self {
        LinuxError::Netlink {
            op: op.into(),
            source,
        }
    }

    /// The errno behind this error, when there is one (positive, e.g.
    /// `libc::EEXIST`).
    pub fn errno(&self) -> Option<i32> {
        match self {
            LinuxError::Io { source, .. } => source.raw_os_error(),
            LinuxError::Netlink { source, .. } => netlink_errno(source),
            _ => None,
        }
    }
}

pub(crate) fn netlink_errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(msg) => msg.code.map(|c| c.get().abs()),
        _ => None,
    }
}

pub type Result<T, E = LinuxError> = std::result::Result<T, E>;
