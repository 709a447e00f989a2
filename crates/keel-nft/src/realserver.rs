//! Preparing a host to be an LVS-DR real server: it must accept packets
//! addressed to the virtual IP without ever answering ARP for it (else it
//! would steal the VIP from the director).
//!
//! `prepare` sets `arp_ignore=1` (answer ARP only for addresses of the
//! receiving interface) and `arp_announce=2` (never use the VIP as ARP
//! source) on `all` and on the device, and puts the VIP on the device (by
//! default `lo`) as a host address. Both operations are idempotent and act
//! on the calling thread's network namespace.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::Command;

/// Failure while preparing or undoing a real server.
#[derive(Debug, thiserror::Error)]
pub enum RealServerError {
    #[error("invalid interface name {0:?}")]
    BadDevice(String),
    #[error("{path}: {source}")]
    Sysctl {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{command}: {message}")]
    Command { command: String, message: String },
}

/// One step `prepare` / `undo` took (for the CLI to print).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Sysctl {
        path: String,
        value: String,
    },
    AddressAdded {
        addr: IpAddr,
        prefix: u8,
        dev: String,
    },
    AddressRemoved {
        addr: IpAddr,
        prefix: u8,
        dev: String,
    },
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Action::Sysctl { path, value } => write!(f, "{path} = {value}"),
            Action::AddressAdded { addr, prefix, dev } => {
                write!(f, "added {addr}/{prefix} to {dev}")
            }
            Action::AddressRemoved { addr, prefix, dev } => {
                write!(f, "removed {addr}/{prefix} from {dev}")
            }
        }
    }
}

fn check_dev(dev: &str) -> Result<(), RealServerError> {
    let ok = !dev.is_empty()
        && dev.len() <= 15
        && dev != "."
        && dev != ".."
        && dev
            .chars()
            .all(|c| c.is_ascii_graphic() && c != '/' && c != '"');
    if ok {
        Ok(())
    } else {
        Err(RealServerError::BadDevice(dev.to_string()))
    }
}

fn set_sysctl(key: &str, value: &str, done: &mut Vec<Action>) -> Result<(), RealServerError> {
    let path = PathBuf::from("/proc/sys").join(key);
    let current = std::fs::read_to_string(&path).map_err(|source| RealServerError::Sysctl {
        path: path.clone(),
        source,
    })?;
    if current.trim() != value {
        std::fs::write(&path, value).map_err(|source| RealServerError::Sysctl {
            path: path.clone(),
            source,
        })?;
        done.push(Action::Sysctl {
            path: key.replace('/', "."),
            value: value.to_string(),
        });
    }
    Ok(())
}

fn ip(args: &[&str]) -> Result<String, RealServerError> {
    let command = format!("ip {}", args.join(" "));
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| RealServerError::Command {
            command: command.clone(),
            message: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(RealServerError::Command {
            command,
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn has_addr(dev: &str, addr: IpAddr, prefix: u8) -> Result<bool, RealServerError> {
    let text = ip(&["-o", "addr", "show", "dev", dev])?;
    let want = format!("{addr}/{prefix}");
    Ok(text.split_whitespace().any(|w| w == want))
}

fn host_prefix(addr: IpAddr) -> u8 {
    if addr.is_ipv4() { 32 } else { 128 }
}

fn arp_sysctls(dev: &str, ignore: &str, announce: &str) -> Result<Vec<Action>, RealServerError> {
    let mut done = Vec::new();
    for scope in ["all", dev] {
        set_sysctl(
            &format!("net/ipv4/conf/{scope}/arp_ignore"),
            ignore,
            &mut done,
        )?;
        set_sysctl(
            &format!("net/ipv4/conf/{scope}/arp_announce"),
            announce,
            &mut done,
        )?;
    }
    Ok(done)
}

/// Makes this host a DR real server for `vip`: ARP settings on `all` and
/// `dev`, and `vip` as a /32 (/128) on `dev` (normally `lo`). Returns what
/// changed; nothing when already prepared.
pub fn prepare(vip: IpAddr, dev: &str) -> Result<Vec<Action>, RealServerError> {
    check_dev(dev)?;
    let mut done = if vip.is_ipv4() {
        arp_sysctls(dev, "1", "2")?
    } else {
        // IPv6 has no ARP; neighbour discovery answers only for addresses of
        // the receiving interface, so a VIP on lo is never advertised.
        Vec::new()
    };
    let prefix = host_prefix(vip);
    if !has_addr(dev, vip, prefix)? {
        let cidr = format!("{vip}/{prefix}");
        ip(&["addr", "add", &cidr, "dev", dev])?;
        done.push(Action::AddressAdded {
            addr: vip,
            prefix,
            dev: dev.to_string(),
        });
    }
    Ok(done)
}

/// Reverses [`prepare`]: removes `vip` from `dev` and sets the ARP sysctls
/// back to the kernel defaults (0). Returns what changed.
pub fn undo(vip: IpAddr, dev: &str) -> Result<Vec<Action>, RealServerError> {
    check_dev(dev)?;
    let mut done = Vec::new();
    let prefix = host_prefix(vip);
    if has_addr(dev, vip, prefix)? {
        let cidr = format!("{vip}/{prefix}");
        ip(&["addr", "del", &cidr, "dev", dev])?;
        done.push(Action::AddressRemoved {
            addr: vip,
            prefix,
            dev: dev.to_string(),
        });
    }
    if vip.is_ipv4() {
        done.extend(arp_sysctls(dev, "0", "0")?);
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_that_could_escape_proc_sys_are_refused() {
        for dev in ["", "..", "a/b", "sixteen_chars_xx", "x\"y"] {
            assert!(matches!(
                prepare("192.0.2.144".parse().unwrap(), dev),
                Err(RealServerError::BadDevice(_))
            ));
        }
    }
}
