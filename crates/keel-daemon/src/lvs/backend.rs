//! Which data plane carries the table, and what nftables needs to know
//! about this host (the interface DR traffic arrives on).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Duration;

use keel_config::Config;
use keel_config::model::{self as cfg, LvsBackendChoice};
use keel_lvs::Backend;
use keel_nft::{Nft, NftBackend};

use super::LvsError;

/// How often the data plane is compared with the desired table even
/// without a health change.
pub const RESYNC_INTERVAL: Duration = Duration::from_secs(5);

/// Name the state file uses for the nftables data plane.
pub const NFTABLES: &str = "nftables";
/// Name the state file uses for the IPVS data plane.
pub const IPVS: &str = "IPVS";

/// Opens the data plane `keel_lvs_backend` asks for. `auto` (the default)
/// prefers IPVS when this kernel has it, as keepalived would use it.
pub fn open_backend(config: &Config) -> Result<(Box<dyn Backend + Send>, String), LvsError> {
    let choice = config
        .global_defs
        .keel_lvs_backend
        .unwrap_or(LvsBackendChoice::Auto);
    match choice {
        LvsBackendChoice::Nftables => Ok((Box::new(nft_backend(config)), NFTABLES.to_string())),
        LvsBackendChoice::Ipvs => match keel_ipvs::IpvsBackend::open() {
            Ok(b) => Ok((Box::new(b), IPVS.to_string())),
            Err(e) => Err(LvsError::NoIpvs(e.to_string())),
        },
        LvsBackendChoice::Auto => match keel_ipvs::IpvsBackend::open() {
            Ok(b) => Ok((Box::new(b), IPVS.to_string())),
            Err(e) => {
                tracing::info!("IPVS data plane not used ({e}); using nftables");
                Ok((Box::new(nft_backend(config)), NFTABLES.to_string()))
            }
        },
    }
}

/// nftables options from the configuration: DR traffic for a VIP is taken
/// on the interface VRRP puts that VIP on.
pub fn nft_options(config: &Config) -> keel_nft::Options {
    let mut dr_devices = BTreeMap::new();
    let mut devices = BTreeSet::new();
    for vi in &config.vrrp_instances {
        for vip in vi
            .virtual_ipaddress
            .iter()
            .chain(&vi.virtual_ipaddress_excluded)
        {
            if let Some(dev) = vip.dev.clone().or_else(|| vi.interface.clone()) {
                devices.insert(dev.clone());
                dr_devices.entry(vip.address).or_insert(dev);
            }
        }
    }
    let locals = local_addrs();
    for vs in &config.virtual_servers {
        if let cfg::VsAddress::Ip { address, .. } = vs.address
            && !dr_devices.contains_key(&address)
            && let Some(dev) = interface_for(address, &locals)
        {
            dr_devices.insert(address, dev);
        }
    }
    let dr_default_device = config.global_defs.default_interface.clone().or_else(|| {
        (devices.len() == 1)
            .then(|| devices.into_iter().next())
            .flatten()
    });
    keel_nft::Options {
        dr_devices,
        dr_default_device,
        local_addrs: locals.iter().map(|l| l.addr).collect(),
        ..keel_nft::Options::default()
    }
}

/// One address of this host.
struct LocalAddr {
    ifname: String,
    addr: IpAddr,
    prefix: u32,
}

fn sockaddr_ip(sa: &nix::sys::socket::SockaddrStorage) -> Option<IpAddr> {
    if let Some(v4) = sa.as_sockaddr_in() {
        Some(IpAddr::V4(v4.ip()))
    } else {
        sa.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip()))
    }
}

/// This host's addresses with their interfaces and prefix lengths.
fn local_addrs() -> Vec<LocalAddr> {
    let mut out = Vec::new();
    match nix::ifaddrs::getifaddrs() {
        Ok(addrs) => {
            for a in addrs {
                let Some(addr) = a.address.as_ref().and_then(sockaddr_ip) else {
                    continue;
                };
                let prefix = match a.netmask.as_ref().and_then(sockaddr_ip) {
                    Some(IpAddr::V4(m)) => u32::from(m).leading_ones(),
                    Some(IpAddr::V6(m)) => u128::from(m).leading_ones(),
                    None => 0,
                };
                out.push(LocalAddr {
                    ifname: a.interface_name,
                    addr,
                    prefix,
                });
            }
        }
        Err(e) => tracing::warn!("cannot list local addresses: {e}"),
    }
    out
}

fn in_subnet(addr: IpAddr, net: IpAddr, prefix: u32) -> bool {
    match (addr, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) if prefix > 0 && prefix <= 32 => {
            let mask = u32::MAX << (32 - prefix);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) if prefix > 0 && prefix <= 128 => {
            let mask = u128::MAX << (128 - prefix);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// The interface a virtual address VRRP does not manage arrives on: the
/// one holding it, else the one whose subnet contains it.
fn interface_for(addr: IpAddr, locals: &[LocalAddr]) -> Option<String> {
    locals
        .iter()
        .find(|l| l.addr == addr)
        .or_else(|| {
            locals
                .iter()
                .find(|l| !l.addr.is_loopback() && in_subnet(addr, l.addr, l.prefix))
        })
        .map(|l| l.ifname.clone())
}

fn nft_backend(config: &Config) -> NftBackend {
    NftBackend::new(Nft::default(), nft_options(config))
}
