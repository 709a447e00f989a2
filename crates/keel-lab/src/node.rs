//! Lab nodes: one namespace, one interface on the lab bridge.

use std::future::Future;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::Output;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{LabError, Result};
use crate::mac::MacAddr;
use crate::process::LabProcess;
use crate::{LINK_READY_TIMEOUT, LabInner, NETNS_DIR, command_text, ip, netns_exec, run_in_netns};

/// A node of a [`crate::Lab`]. Cheap to clone; every clone refers to the same
/// namespace. Using a node after its lab was dropped fails (the namespace is
/// gone) but is memory-safe.
#[derive(Clone)]
pub struct Node {
    lab: Arc<LabInner>,
    name: String,
    ns: String,
    ifname: String,
    port: String,
    ifindex: u32,
    mac: MacAddr,
    addrs: Vec<(IpAddr, u8)>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("name", &self.name)
            .field("netns", &self.ns)
            .field("mac", &self.mac.to_string())
            .finish()
    }
}

impl Node {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        lab: Arc<LabInner>,
        name: String,
        ns: String,
        ifname: String,
        port: String,
        ifindex: u32,
        mac: MacAddr,
        addrs: Vec<(IpAddr, u8)>,
    ) -> Node {
        Node {
            lab,
            name,
            ns,
            ifname,
            port,
            ifindex,
            mac,
            addrs,
        }
    }

    /// The short node name given to [`crate::Lab::add_node`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Full network-namespace name (usable with `ip netns exec`).
    pub fn netns(&self) -> &str {
        &self.ns
    }

    /// `/run/netns/<name>`.
    pub fn netns_path(&self) -> PathBuf {
        PathBuf::from(NETNS_DIR).join(&self.ns)
    }

    /// The node's interface (inside its namespace).
    pub fn ifname(&self) -> &str {
        &self.ifname
    }

    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    pub fn mac(&self) -> MacAddr {
        self.mac
    }

    /// Name of the bridge port (in the switch namespace) the node hangs off.
    pub fn switch_port(&self) -> &str {
        &self.port
    }

    /// Addresses configured when the node was created.
    pub fn configured_addrs(&self) -> &[(IpAddr, u8)] {
        &self.addrs
    }

    /// First IPv4 address given at creation, if any.
    pub fn ipv4(&self) -> Option<IpAddr> {
        self.addrs.iter().map(|a| a.0).find(IpAddr::is_ipv4)
    }

    /// First IPv6 address given at creation, if any.
    pub fn ipv6(&self) -> Option<IpAddr> {
        self.addrs.iter().map(|a| a.0).find(IpAddr::is_ipv6)
    }

    /// Runs `cmd args` in the node and returns its output, whatever the exit
    /// status.
    pub fn exec(&self, cmd: &str, args: &[&str]) -> Result<Output> {
        netns_exec(&self.ns, cmd, args)
    }

    /// Like [`Node::exec`] but fails unless the command exits with 0.
    pub fn exec_checked(&self, cmd: &str, args: &[&str]) -> Result<Output> {
        let out = self.exec(cmd, args)?;
        if !out.status.success() {
            return Err(LabError::Command {
                command: format!("[{}] {}", self.name, command_text(cmd, args)),
                status: out.status,
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        Ok(out)
    }

    /// Starts `cmd args` in the node; stdout/stderr go to files in the lab
    /// directory. The lab kills it on teardown.
    pub fn spawn(&self, cmd: &str, args: &[&str]) -> Result<LabProcess> {
        self.lab.spawn_in(&self.ns, cmd, args)
    }

    /// Runs `f` on a dedicated thread inside the node's network namespace
    /// (sockets and netlink connections it opens belong to the node).
    pub fn run_in<F, R>(&self, f: F) -> Result<R>
    where
        F: FnOnce() -> R + Send,
        R: Send,
    {
        run_in_netns(&self.ns, f)
    }

    /// Runs the future made by `f` to completion on a current-thread tokio
    /// runtime (timers and I/O enabled) inside the node's namespace. The
    /// future itself need not be `Send`: it is created on that thread.
    pub fn block_on<F, Fut, R>(&self, f: F) -> Result<R>
    where
        F: FnOnce() -> Fut + Send,
        Fut: Future<Output = R>,
        R: Send,
    {
        self.run_in(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| LabError::io("build tokio runtime", e))?;
            Ok(rt.block_on(f()))
        })?
    }

    /// Addresses currently on `dev` (as `ip addr` reports them).
    pub fn ip_addrs(&self, dev: &str) -> Result<Vec<(IpAddr, u8)>> {
        let out = ip(&["-n", &self.ns, "-o", "addr", "show", "dev", dev])?;
        Ok(parse_ip_addr_output(&String::from_utf8_lossy(&out.stdout)))
    }

    /// Whether `addr` is configured on any interface of the node.
    pub fn has_addr(&self, addr: IpAddr) -> Result<bool> {
        let out = ip(&["-n", &self.ns, "-o", "addr", "show"])?;
        Ok(parse_ip_addr_output(&String::from_utf8_lossy(&out.stdout))
            .iter()
            .any(|(a, _)| *a == addr))
    }

    /// Sets the switch-side port of this node up or down: like pulling and
    /// re-plugging the cable (the node's interface loses / regains carrier).
    /// When plugging back in, returns once frames flow again
    /// ([`Node::wait_link_ready`]).
    pub fn link_set(&self, up: bool) -> Result<()> {
        let state = if up { "up" } else { "down" };
        ip(&["-n", &self.lab.switch_ns, "link", "set", &self.port, state])?;
        if up {
            self.wait_link_ready(LINK_READY_TIMEOUT)?;
        }
        Ok(())
    }

    /// Waits until both ends of the node's cable can carry frames: the node
    /// interface and the switch port operationally UP and the port
    /// forwarding. The kernel applies carrier changes asynchronously (link
    /// watch, up to a second later) and drops frames sent before that, so
    /// tests must not start earlier.
    pub fn wait_link_ready(&self, timeout: Duration) -> Result<()> {
        let ready = || -> Result<bool> {
            let node = ip(&["-n", &self.ns, "-o", "link", "show", "dev", &self.ifname])?;
            let port = ip(&[
                "-n",
                &self.lab.switch_ns,
                "-d",
                "-o",
                "link",
                "show",
                "dev",
                &self.port,
            ])?;
            let node = String::from_utf8_lossy(&node.stdout);
            let port = String::from_utf8_lossy(&port.stdout);
            Ok(node.contains("state UP")
                && port.contains("state UP")
                && port.contains("state forwarding"))
        };
        let deadline = Instant::now() + timeout;
        loop {
            if ready()? {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(LabError::Timeout(format!(
                    "link of node {} not operational after {timeout:?}",
                    self.name
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sets the node's own interface administratively up or down.
    pub fn iface_set(&self, up: bool) -> Result<()> {
        let state = if up { "up" } else { "down" };
        ip(&["-n", &self.ns, "link", "set", &self.ifname, state]).map(drop)
    }

    /// Link-layer address the node's neighbour table holds for `addr`, if any
    /// (entries without one, e.g. FAILED/INCOMPLETE, count as none).
    pub fn neigh(&self, addr: IpAddr) -> Result<Option<MacAddr>> {
        let a = addr.to_string();
        let out = ip(&[
            "-n",
            &self.ns,
            "neigh",
            "show",
            "to",
            &a,
            "dev",
            &self.ifname,
        ])?;
        let text = String::from_utf8_lossy(&out.stdout);
        Ok(text.lines().find_map(|line| {
            let mut words = line.split_whitespace();
            if words.next() != Some(a.as_str()) {
                return None;
            }
            words
                .skip_while(|w| *w != "lladdr")
                .nth(1)
                .and_then(|m| m.parse().ok())
        }))
    }

    /// `arping -c count -I <if> addr` (iputils or Habets arping).
    pub fn arping(&self, addr: IpAddr, count: u32) -> Result<Output> {
        let c = count.to_string();
        let a = addr.to_string();
        self.exec("arping", &["-c", &c, "-I", &self.ifname, &a])
    }

    /// `curl -sS -m 5 url`; the body is in `stdout`.
    pub fn curl(&self, url: &str) -> Result<Output> {
        self.exec("curl", &["-sS", "-m", "5", url])
    }

    /// One ICMP echo with a 1 s timeout; true when answered.
    pub fn ping(&self, addr: IpAddr) -> Result<bool> {
        let a = addr.to_string();
        Ok(self
            .exec("ping", &["-c", "1", "-W", "1", &a])?
            .status
            .success())
    }
}

/// Parses `ip -o addr show` lines into (address, prefix) pairs.
pub(crate) fn parse_ip_addr_output(text: &str) -> Vec<(IpAddr, u8)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        while let Some(w) = words.next() {
            if w == "inet" || w == "inet6" {
                if let Some(Ok(pair)) = words.next().map(crate::parse_cidr) {
                    out.push(pair);
                }
                break;
            }
        }
    }
    out
}

/// Interface index and MAC of `ifname` in `ns`, from `ip -o link`.
pub(crate) fn link_index_and_mac(ns: &str, ifname: &str) -> Result<(u32, MacAddr)> {
    let out = ip(&["-n", ns, "-o", "link", "show", "dev", ifname])?;
    let text = String::from_utf8_lossy(&out.stdout);
    let bad = || LabError::Invalid(format!("unexpected `ip link` output: {text}"));
    let index: u32 = text
        .split(':')
        .next()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(bad)?;
    let mac = text
        .split_whitespace()
        .skip_while(|w| *w != "link/ether")
        .nth(1)
        .ok_or_else(bad)?
        .parse()?;
    Ok((index, mac))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ip_o_addr() {
        let text = "2: eth0    inet 192.0.2.1/24 scope global eth0\\       valid_lft forever preferred_lft forever\n\
                    2: eth0    inet 192.0.2.50/24 scope global secondary eth0\\       valid_lft forever\n\
                    2: eth0    inet6 2001:db8::1/64 scope global \\       valid_lft forever\n";
        let v = parse_ip_addr_output(text);
        assert_eq!(
            v,
            vec![
                ("192.0.2.1".parse().unwrap(), 24),
                ("192.0.2.50".parse().unwrap(), 24),
                ("2001:db8::1".parse().unwrap(), 64),
            ]
        );
    }
}
