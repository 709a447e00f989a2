//! The two lab shapes, as keel-nft's end-to-end tests build them: a
//! client, a director holding keel's nftables ruleset, and two real
//! servers running nginx.

use anyhow::{Context, Result};
use keel_lab::{Lab, LabProcess, Node};
use keel_lvs::{Destination, Method, Protocol, Scheduler, ServiceKey, Table, VirtualService};
use keel_nft::{Nft, NftBackend, Options};
use std::net::{IpAddr, SocketAddr};

use crate::nginx::Nginx;

/// Forwarding method under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Nat,
    Dr,
}

impl Mode {
    pub fn keyword(self) -> &'static str {
        match self {
            Mode::Nat => "NAT",
            Mode::Dr => "DR",
        }
    }

    fn vip(self) -> IpAddr {
        match self {
            // Its own subnet, routed to the director.
            Mode::Nat => IpAddr::from([203, 0, 113, 10]),
            // On the shared LAN, held by the director.
            Mode::Dr => IpAddr::from([192, 0, 2, 100]),
        }
    }

    fn method(self) -> Method {
        match self {
            Mode::Nat => Method::Nat,
            Mode::Dr => Method::Dr,
        }
    }
}

pub const PORT: u16 = 80;
pub const SERVERS: u8 = 2;

/// Real server `i` (0-based): 192.0.2.11, 192.0.2.12.
pub fn rs_ip(i: u8) -> IpAddr {
    IpAddr::from([192, 0, 2, 11 + i])
}

pub struct LbLab {
    pub mode: Mode,
    pub client: Node,
    pub director: Node,
    pub rs: Vec<Node>,
    pub nginx: Vec<Nginx>,
    /// Running nginx per real server (`None` while stopped).
    pub procs: Vec<Option<LabProcess>>,
    // Last: dropping the lab stops every process and deletes the
    // namespaces (and with the director's, keel's ruleset).
    _lab: Lab,
}

impl LbLab {
    /// NAT: client 198.51.100.1 routes the VIP's subnet (and, for the
    /// direct runs, the servers' subnet) via the director, whose other leg
    /// is 192.0.2.2; the servers' default route is the director.
    /// DR: everyone on 192.0.2.0/24, the director holds the VIP on eth0, the
    /// servers hold it on lo with ARP replies for it turned off.
    pub fn new(mode: Mode) -> Result<LbLab> {
        let hint = match mode {
            Mode::Nat => "lbbnat",
            Mode::Dr => "lbbdr",
        };
        let lab = Lab::new(hint).context("create lab")?;
        let (client, director) = match mode {
            Mode::Nat => {
                let client = lab.add_node("client", &["198.51.100.1/24", "198.51.100.3/24"])?;
                let director = lab.add_node("director", &["198.51.100.2/24", "192.0.2.2/24"])?;
                for net in ["203.0.113.0/24", "192.0.2.0/24"] {
                    client.exec_checked("ip", &["route", "add", net, "via", "198.51.100.2"])?;
                }
                director.exec_checked("sysctl", &["-qw", "net.ipv4.ip_forward=1"])?;
                director.exec_checked("sysctl", &["-qw", "net.ipv4.conf.all.send_redirects=0"])?;
                (client, director)
            }
            Mode::Dr => {
                let client = lab.add_node("client", &["192.0.2.1/24", "192.0.2.3/24"])?;
                let director = lab.add_node("director", &["192.0.2.2/24", "192.0.2.100/32"])?;
                (client, director)
            }
        };
        // Reset connections leave no TIME_WAIT, but a wide range keeps the
        // kernel's port search short at thousands of connections a second.
        client.exec_checked(
            "sysctl",
            &["-qw", "net.ipv4.ip_local_port_range=1024 65000"],
        )?;
        let mut rs = Vec::new();
        let mut nginx = Vec::new();
        let mut procs = Vec::new();
        for i in 0..SERVERS {
            let name = format!("rs{}", i + 1);
            let node = lab.add_node(&name, &[&format!("{}/24", rs_ip(i))])?;
            match mode {
                Mode::Nat => {
                    node.exec_checked("ip", &["route", "add", "default", "via", "192.0.2.2"])?;
                }
                Mode::Dr => {
                    let vip = mode.vip();
                    node.run_in(move || keel_nft::realserver::prepare(vip, "lo"))?
                        .context("prepare DR real server")?;
                }
            }
            let server = Nginx::configure(lab.dir(), &name, PORT)?;
            let proc = server.start(&node, SocketAddr::new(rs_ip(i), PORT))?;
            rs.push(node);
            nginx.push(server);
            procs.push(Some(proc));
        }
        Ok(LbLab {
            mode,
            client,
            director,
            rs,
            nginx,
            procs,
            _lab: lab,
        })
    }

    /// Client addresses: one for the direct runs, one for the VIP runs.
    /// Separate sources keep the two runs' connection-tracking entries
    /// apart: a VIP connection DNATed to a server must not find the reply
    /// tuple of a direct connection from the same port still tracked.
    pub fn client_sources(&self) -> (IpAddr, IpAddr) {
        match self.mode {
            Mode::Nat => (
                IpAddr::from([198, 51, 100, 1]),
                IpAddr::from([198, 51, 100, 3]),
            ),
            Mode::Dr => (IpAddr::from([192, 0, 2, 1]), IpAddr::from([192, 0, 2, 3])),
        }
    }

    pub fn vip(&self) -> SocketAddr {
        SocketAddr::new(self.mode.vip(), PORT)
    }

    pub fn vip_ip(&self) -> IpAddr {
        self.mode.vip()
    }

    /// keel's nftables backend for the director.
    pub fn backend(&self) -> NftBackend {
        let opts = match self.mode {
            Mode::Nat => Options::default(),
            Mode::Dr => Options {
                dr_default_device: Some("eth0".to_string()),
                ..Options::default()
            },
        };
        NftBackend::new(Nft::in_netns(self.director.netns()), opts)
    }

    /// The virtual service with both real servers, weight 1, round robin.
    pub fn table(&self) -> Table {
        table(self.mode)
    }

    /// The keepalived.conf the health-check runner is built from.
    pub fn keepalived_conf(&self) -> String {
        keepalived_conf(self.mode)
    }
}

/// The virtual service with both real servers, weight 1, round robin.
pub fn table(mode: Mode) -> Table {
    let mut svc = VirtualService::new(
        ServiceKey::Addr {
            ip: mode.vip(),
            proto: Protocol::Tcp,
            port: PORT,
        },
        Scheduler::Rr,
    );
    svc.destinations = (0..SERVERS)
        .map(|i| Destination {
            addr: rs_ip(i),
            port: PORT,
            weight: 1,
            method: mode.method(),
            upper_threshold: 0,
            lower_threshold: 0,
        })
        .collect();
    Table {
        services: vec![svc],
    }
}

/// HTTP_GET of `/` on each real server every second, down at the first
/// failure.
pub fn keepalived_conf(mode: Mode) -> String {
    let mut text = format!(
        "virtual_server {vip} {PORT} {{
    delay_loop 1
    lvs_sched rr
    lvs_method {method}
    protocol TCP
",
        vip = mode.vip(),
        method = mode.keyword()
    );
    for i in 0..SERVERS {
        text.push_str(&format!(
            "    real_server {rs} {PORT} {{
        weight 1
        HTTP_GET {{
            url {{
                path /
                status_code 200
            }}
            connect_timeout 1
            retry 0
            delay_before_retry 1
            warmup 0
        }}
    }}
",
            rs = rs_ip(i)
        ));
    }
    text.push_str("}\n");
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_check::core::{CheckerSet, Timestamp};
    use std::time::Duration;

    /// The configuration the runner gets is valid keepalived.conf and its
    /// desired table is the one the throughput runs install.
    #[test]
    fn checker_config_yields_the_benchmark_table() {
        for mode in [Mode::Nat, Mode::Dr] {
            let (cfg, diags) = keel_config::from_str(&keepalived_conf(mode), "t.conf").unwrap();
            assert!(!diags.has_errors(), "{mode:?}");
            let mut set = CheckerSet::from_config(&cfg, &keel_check::Host::default()).unwrap();
            // Not alpha: both servers count as up from the start.
            set.start(Timestamp(Duration::ZERO), |_, _| Duration::ZERO);
            let table = set.desired_table();
            assert_eq!(table.normalized(), super::table(mode).normalized());
        }
    }
}
