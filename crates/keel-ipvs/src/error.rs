//! Errors of the IPVS data plane.

use std::io;

/// A reply from the kernel that does not parse as the netlink / IPVS layout
/// promised by `include/uapi/linux/netlink.h`, `genetlink.h` and `ip_vs.h`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("truncated {what}: need {need} bytes, have {have}")]
    Truncated {
        what: &'static str,
        need: usize,
        have: usize,
    },
    #[error("netlink message length {len} is invalid (header 16, buffer {buf})")]
    BadMessageLength { len: usize, buf: usize },
    #[error("attribute {what} has {len} bytes, expected {expected}")]
    BadAttributeLength {
        what: &'static str,
        len: usize,
        expected: usize,
    },
    #[error("attribute {what} is not a NUL-terminated UTF-8 string")]
    BadString { what: &'static str },
    #[error("missing attribute {what}")]
    Missing { what: &'static str },
    #[error("unknown address family {0}")]
    UnknownFamily(u16),
    #[error("unknown protocol {0}")]
    UnknownProtocol(u16),
    #[error("unknown forwarding method {0}")]
    UnknownForward(u32),
    #[error("unknown tunnel type {0}")]
    UnknownTunnelType(u8),
    #[error("unexpected reply: {0}")]
    Unexpected(String),
}

/// Everything the IPVS backend can fail with.
#[derive(Debug, thiserror::Error)]
pub enum IpvsError {
    /// The kernel has no `IPVS` generic-netlink family: `ip_vs` is not built
    /// or cannot be loaded. The daemon takes this as the cue to use another
    /// data plane (nftables).
    #[error("IPVS not available in this kernel (no \"IPVS\" generic netlink family)")]
    NotAvailable,
    /// Opening, sending on or receiving from the netlink socket failed.
    #[error("netlink socket: {0}")]
    Socket(#[source] io::Error),
    /// The kernel refused a request. `errno` is positive (`libc`'s value),
    /// `message` is the kernel's extended-ack text when it sent one.
    #[error("kernel refused {op}: {}{}", io::Error::from_raw_os_error(*.errno), .message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Kernel {
        op: &'static str,
        errno: i32,
        message: Option<String>,
    },
    /// A scheduler's module does not exist in this kernel (`twos` before
    /// Linux 6.2, or a kernel built without that scheduler).
    #[error("scheduler {0:?} is not available in this kernel")]
    SchedulerUnavailable(String),
    /// The kernel sent something we cannot parse.
    #[error("malformed reply to {op}: {source}")]
    Decode {
        op: &'static str,
        #[source]
        source: DecodeError,
    },
    /// A value cannot be expressed in IPVS's encoding (a scheduler name
    /// longer than 15 bytes, a weight above `i32::MAX`, a netmask prefix
    /// longer than the address, ...).
    #[error("cannot program {what}: {why}")]
    Invalid { what: String, why: String },
    /// The kernel's table holds an entry keel's table model cannot describe
    /// (a forwarding method other than NAT/DR/TUN, a non-contiguous IPv4
    /// persistence mask, a scheduler keel does not know).
    #[error("kernel entry {entry} cannot be represented: {why}")]
    Unrepresentable { entry: String, why: String },
}

impl IpvsError {
    /// The kernel's errno when the kernel refused the request.
    pub fn errno(&self) -> Option<i32> {
        match self {
            IpvsError::Kernel { errno, .. } => Some(*errno),
            IpvsError::Socket(e) => e.raw_os_error(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_cause() {
        assert_eq!(
            IpvsError::NotAvailable.to_string(),
            "IPVS not available in this kernel (no \"IPVS\" generic netlink family)"
        );
        let e = IpvsError::Kernel {
            op: "add service",
            errno: 17,
            message: None,
        };
        assert_eq!(e.errno(), Some(17));
        assert!(
            e.to_string().starts_with("kernel refused add service: "),
            "{e}"
        );
        let e = IpvsError::Kernel {
            op: "add service",
            errno: 22,
            message: Some("bad netmask".into()),
        };
        assert!(e.to_string().ends_with(": bad netmask"), "{e}");
        assert_eq!(IpvsError::SchedulerUnavailable("twos".into()).errno(), None);
    }
}
