//! Interface lookups in the calling thread's network namespace.
//!
//! These use socket ioctls rather than `/sys/class/net`, because sysfs shows
//! the namespace it was mounted in, not the namespace of the caller.

use std::os::fd::AsRawFd;

use socket2::{Domain, Socket, Type};

use crate::error::{LinuxError, Result};

/// Length of an Ethernet address.
pub const ETH_ALEN: usize = 6;

/// Interface index of `name`.
pub fn ifindex(name: &str) -> Result<u32> {
    check_name(name)?;
    nix::net::if_::if_nametoindex(name).map_err(|e| match e {
        nix::errno::Errno::ENODEV => LinuxError::NoSuchInterface(name.to_string()),
        other => LinuxError::io(format!("if_nametoindex({name})"), other.into()),
    })
}

/// Interface name of `index`.
pub fn ifname(index: u32) -> Result<String> {
    let name = nix::net::if_::if_indextoname(index).map_err(|e| match e {
        nix::errno::Errno::ENXIO | nix::errno::Errno::ENODEV => {
            LinuxError::NoSuchInterface(format!("index {index}"))
        }
        other => LinuxError::io(format!("if_indextoname({index})"), other.into()),
    })?;
    Ok(name.to_string_lossy().into_owned())
}

fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.contains(['/', '\0']) {
        return Err(LinuxError::Invalid(format!("interface name {name:?}")));
    }
    Ok(())
}

/// Hardware (MAC) address of an Ethernet-like interface.
pub fn mac_address(name: &str) -> Result<[u8; ETH_ALEN]> {
    check_name(name)?;
    let sock = Socket::new(Domain::IPV4, Type::DGRAM.cloexec(), None)
        .map_err(|e| LinuxError::io("socket(AF_INET, SOCK_DGRAM)", e))?;
    // SAFETY: `ifreq` is a plain C struct/union of integers and byte arrays,
    // for which the all-zero bit pattern is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes()) {
        *dst = src as libc::c_char;
    }
    // check_name guarantees len < IFNAMSIZ, so the zeroed tail terminates it.
    // SAFETY: the fd is a valid open socket for the duration of the call and
    // `req` is a properly initialised `ifreq` that SIOCGIFHWADDR reads the
    // name from and writes the hardware address into; the pointer does not
    // outlive the call.
    let rc = unsafe {
        libc::ioctl(
            sock.as_raw_fd(),
            libc::SIOCGIFHWADDR as _,
            &mut req as *mut libc::ifreq,
        )
    };
    if rc < 0 {
        let err = std::io::Error::last_os_error();
        return Err(match err.raw_os_error() {
            Some(libc::ENODEV) => LinuxError::NoSuchInterface(name.to_string()),
            _ => LinuxError::io(format!("SIOCGIFHWADDR {name}"), err),
        });
    }
    // SAFETY: on success SIOCGIFHWADDR filled the `ifru_hwaddr` member of the
    // union; every member is plain old data, so reading it is sound anyway.
    let hw = unsafe { req.ifr_ifru.ifru_hwaddr };
    if hw.sa_family != libc::ARPHRD_ETHER {
        return Err(LinuxError::Invalid(format!(
            "{name} is not an Ethernet interface (hardware type {})",
            hw.sa_family
        )));
    }
    let mut mac = [0u8; ETH_ALEN];
    for (dst, src) in mac.iter_mut().zip(hw.sa_data.iter()) {
        *dst = *src as u8;
    }
    Ok(mac)
}

/// Formats a MAC address the way `ip link` does.
pub fn format_mac(mac: &[u8; ETH_ALEN]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_lookups_and_bad_names() {
        let lo = ifindex("lo").unwrap();
        assert_eq!(ifname(lo).unwrap(), "lo");
        assert!(matches!(
            ifindex("nonexistent0"),
            Err(LinuxError::NoSuchInterface(_))
        ));
        assert!(matches!(ifindex(""), Err(LinuxError::Invalid(_))));
        assert!(matches!(
            ifindex("sixteen-chars-xx"),
            Err(LinuxError::Invalid(_))
        ));
        // The loopback device has hardware type ARPHRD_LOOPBACK, not Ethernet.
        assert!(matches!(mac_address("lo"), Err(LinuxError::Invalid(_))));
        assert_eq!(format_mac(&[0, 0, 0x5e, 0, 1, 0x33]), "00:00:5e:00:01:33");
    }
}
