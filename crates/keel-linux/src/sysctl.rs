//! `/proc/sys` access for the network namespace of the calling thread.
//!
//! `/proc/sys/net` is resolved against the namespace of the thread that opens
//! the file, so these helpers act on whatever namespace the caller is in.

use std::fs;
use std::path::PathBuf;

use crate::error::{LinuxError, Result};

/// Address family of a `net.ipvN.conf.<if>.<key>` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfFamily {
    Ipv4,
    Ipv6,
}

/// Maps a sysctl key to its `/proc/sys` path.
///
/// Dotted keys (`net.ipv4.conf.eth0.arp_ignore`) follow sysctl(8); a key
/// containing `/` (`net/ipv4/conf/eth0.100/arp_ignore`) is taken as a path,
/// which is how interface names containing dots are addressed.
pub fn sysctl_path(key: &str) -> Result<PathBuf> {
    let rel = if key.contains('/') {
        key.to_string()
    } else {
        key.replace('.', "/")
    };
    let ok_chars = rel
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | '@'));
    let bad_parts = rel
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == "..");
    if rel.is_empty() || !ok_chars || bad_parts {
        return Err(LinuxError::Invalid(format!("sysctl key {key:?}")));
    }
    Ok(PathBuf::from("/proc/sys").join(rel))
}

/// Reads a sysctl; the value is returned without the trailing newline.
pub fn read_sysctl(key: &str) -> Result<String> {
    let path = sysctl_path(key)?;
    let value =
        fs::read_to_string(&path).map_err(|e| LinuxError::io(format!("read {path:?}"), e))?;
    Ok(value.trim_end().to_string())
}

/// Writes a sysctl.
pub fn write_sysctl(key: &str, value: &str) -> Result<()> {
    let path = sysctl_path(key)?;
    fs::write(&path, value).map_err(|e| LinuxError::io(format!("write {path:?}"), e))
}

fn conf_key(family: ConfFamily, ifname: &str, key: &str) -> Result<String> {
    if ifname.is_empty() || ifname.contains('/') || key.is_empty() || key.contains('/') {
        return Err(LinuxError::Invalid(format!(
            "interface {ifname:?} / key {key:?}"
        )));
    }
    let fam = match family {
        ConfFamily::Ipv4 => "ipv4",
        ConfFamily::Ipv6 => "ipv6",
    };
    Ok(format!("net/{fam}/conf/{ifname}/{key}"))
}

/// Reads `net.ipv{4,6}.conf.<ifname>.<key>`; `ifname` may be `all` or
/// `default`, and may contain dots (VLAN interfaces).
pub fn read_conf(family: ConfFamily, ifname: &str, key: &str) -> Result<String> {
    read_sysctl(&conf_key(family, ifname, key)?)
}

/// Writes `net.ipv{4,6}.conf.<ifname>.<key>` (e.g. `arp_ignore`,
/// `arp_announce`, `rp_filter`, `accept_dad`).
pub fn write_conf(family: ConfFamily, ifname: &str, key: &str, value: &str) -> Result<()> {
    write_sysctl(&conf_key(family, ifname, key)?, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_to_proc_paths() {
        assert_eq!(
            sysctl_path("net.ipv4.conf.eth0.arp_ignore").unwrap(),
            PathBuf::from("/proc/sys/net/ipv4/conf/eth0/arp_ignore")
        );
        assert_eq!(
            sysctl_path("net/ipv4/conf/eth0.100/rp_filter").unwrap(),
            PathBuf::from("/proc/sys/net/ipv4/conf/eth0.100/rp_filter")
        );
        assert_eq!(
            conf_key(ConfFamily::Ipv6, "vrrp.51", "accept_dad").unwrap(),
            "net/ipv6/conf/vrrp.51/accept_dad"
        );
    }

    #[test]
    fn traversal_and_junk_are_refused() {
        for bad in [
            "",
            "net/../../etc/passwd",
            "/etc/passwd",
            "net//x",
            "net.ipv4 x",
            "net/./x",
        ] {
            assert!(sysctl_path(bad).is_err(), "{bad:?}");
        }
        assert!(conf_key(ConfFamily::Ipv4, "../x", "rp_filter").is_err());
        assert!(conf_key(ConfFamily::Ipv4, "eth0", "a/b").is_err());
        assert!(conf_key(ConfFamily::Ipv4, "", "rp_filter").is_err());
    }
}
