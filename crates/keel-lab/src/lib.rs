//! Disposable network-namespace labs.
//!
//! A [`Lab`] is one "switch" namespace holding a Linux bridge plus any number
//! of [`Node`] namespaces, each attached to the bridge by a veth pair. Veths
//! are created inside the switch namespace with their peer placed directly in
//! the node namespace, so the root namespace never sees a lab interface and
//! lab traffic can never leave the lab.
//!
//! Every namespace name starts with [`NAME_PREFIX`] followed by the PID of the
//! creating process, which lets [`Lab::sweep_stale`] remove leftovers of
//! crashed test runs without touching labs of live processes.
//!
//! Teardown happens on drop (also while unwinding from a panic): processes the
//! lab started are sent SIGTERM, then SIGKILL, one PID at a time, and the
//! namespaces are deleted.
//!
//! Requires root, `ip` (iproute2) and, for captures, `tcpdump`.

mod error;
mod mac;
mod node;
pub mod pcap;
mod process;
pub mod s3;
pub mod vm;

use std::collections::HashMap;
use std::fs::{self, File};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Once};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::sched::{CloneFlags, setns};
use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;

pub use crate::error::{LabError, Result};
pub use crate::mac::MacAddr;
pub use crate::node::Node;
pub use crate::pcap::{CapturedPacket, parse_pcap};
pub use crate::process::LabProcess;
pub use nix::sys::signal::Signal as LabSignal;

use crate::process::Tracked;

/// Every lab namespace is called `keellab-<creator pid>-<tag>-<hint>-<role>`.
pub const NAME_PREFIX: &str = "keellab-";

/// Where `ip netns` keeps its namespace handles.
pub const NETNS_DIR: &str = "/run/netns";

/// Name of the bridge inside the switch namespace. Interface names are
/// per-namespace, so a fixed name cannot collide between labs.
pub const BRIDGE: &str = "br0";

const MAX_NODE_NAME: usize = 10;
pub(crate) const LINK_READY_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_HINT: usize = 16;

/// How a lab is built.
#[derive(Debug, Clone)]
pub struct LabOptions {
    /// Keep IPv6 enabled (nodes may then carry 2001:db8::/32 addresses). When
    /// off, IPv6 is disabled in every lab namespace so captures stay free of
    /// MLD / router-solicitation noise.
    pub ipv6: bool,
    /// Give node *n* (0-based, in creation order) the MAC `02:6b:6c:00:00:<n+1>`
    /// so packet bytes are reproducible.
    pub fixed_macs: bool,
    /// Name of each node's interface.
    pub ifname: String,
}

impl Default for LabOptions {
    fn default() -> Self {
        LabOptions {
            ipv6: false,
            fixed_macs: false,
            ifname: "eth0".to_string(),
        }
    }
}

pub(crate) struct LabState {
    /// Creation order; teardown deletes in reverse.
    pub(crate) namespaces: Vec<String>,
    pub(crate) node_names: Vec<String>,
    pub(crate) children: HashMap<u64, Tracked>,
    pub(crate) next_key: u64,
    pub(crate) torn_down: bool,
}

pub(crate) struct LabInner {
    pub(crate) id: String,
    pub(crate) opts: LabOptions,
    pub(crate) switch_ns: String,
    pub(crate) dir: PathBuf,
    state: Mutex<LabState>,
}

impl LabInner {
    pub(crate) fn lock(&self) -> MutexGuard<'_, LabState> {
        // A panic while holding the lock cannot leave the state inconsistent
        // (every update is a single insert/push), so poisoning is ignored.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts `cmd args` inside `ns`, tracked for teardown.
    pub(crate) fn spawn_in(
        self: &Arc<Self>,
        ns: &str,
        cmd: &str,
        args: &[&str],
    ) -> Result<LabProcess> {
        let mut state = self.lock();
        if state.torn_down {
            return Err(LabError::TornDown);
        }
        let key = state.next_key;
        state.next_key += 1;
        let base: String = Path::new(cmd)
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "proc".into())
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        let role = ns.rsplit('-').next().unwrap_or("ns");
        let stdout = self.dir.join(format!("{role}-{key}-{base}.out"));
        let stderr = self.dir.join(format!("{role}-{key}-{base}.err"));
        let out =
            File::create(&stdout).map_err(|e| LabError::io(format!("create {stdout:?}"), e))?;
        let err =
            File::create(&stderr).map_err(|e| LabError::io(format!("create {stderr:?}"), e))?;
        // `ip netns exec` enters the namespace and then execs `cmd`, so the
        // child's PID is the PID of `cmd` itself.
        let child = Command::new("ip")
            .args(["netns", "exec", ns, cmd])
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| LabError::io(format!("spawn {cmd} in {ns}"), e))?;
        let pid = child.id();
        state.children.insert(
            key,
            Tracked {
                child,
                exit: None,
                label: format!("{cmd} in {ns}"),
            },
        );
        Ok(LabProcess {
            lab: Arc::clone(self),
            key,
            pid,
            stdout,
            stderr,
        })
    }

    fn teardown(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut state = self.lock();
        if state.torn_down {
            return problems;
        }
        state.torn_down = true;

        for t in state.children.values_mut() {
            if let Err(e) = t.signal(Signal::SIGTERM) {
                problems.push(e.to_string());
            }
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline
            && state.children.values_mut().any(|t| t.poll_exit().is_none())
        {
            thread::sleep(Duration::from_millis(10));
        }
        for t in state.children.values_mut() {
            if t.poll_exit().is_none() {
                if let Err(e) = t.signal(Signal::SIGKILL) {
                    problems.push(e.to_string());
                }
                match t.child.wait() {
                    Ok(status) => t.exit = Some(status),
                    Err(e) => problems.push(format!("wait [{}]: {e}", t.label)),
                }
            }
        }

        let namespaces: Vec<String> = state.namespaces.iter().rev().cloned().collect();
        drop(state);
        for ns in &namespaces {
            kill_namespace_processes(ns);
            if let Err(e) = delete_netns(ns) {
                problems.push(e.to_string());
            }
        }

        let keep = thread::panicking() || std::env::var_os("KEEL_LAB_KEEP").is_some();
        if keep {
            eprintln!("keel-lab {}: logs kept in {}", self.id, self.dir.display());
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
        problems
    }
}

/// A lab topology; see the crate documentation.
pub struct Lab {
    inner: Arc<LabInner>,
}

impl std::fmt::Debug for Lab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lab").field("id", &self.inner.id).finish()
    }
}

static SEQ: AtomicU32 = AtomicU32::new(0);
static SWEEP: Once = Once::new();

impl Lab {
    /// Builds an empty lab (switch namespace + bridge) with default options.
    /// `prefix_hint` ends up in the namespace names to tell labs apart.
    pub fn new(prefix_hint: &str) -> Result<Lab> {
        Lab::with_options(prefix_hint, LabOptions::default())
    }

    pub fn with_options(prefix_hint: &str, opts: LabOptions) -> Result<Lab> {
        SWEEP.call_once(|| {
            let _ = Lab::sweep_stale();
        });
        if !valid_ifname(&opts.ifname) {
            return Err(LabError::Invalid(format!(
                "interface name {:?} (1..=15 chars of [a-zA-Z0-9_-])",
                opts.ifname
            )));
        }
        let hint: String = prefix_hint
            .chars()
            .map(|c| c.to_ascii_lowercase())
            .filter(|c| c.is_ascii_alphanumeric())
            .take(MAX_HINT)
            .collect();
        let hint = if hint.is_empty() {
            "lab".to_string()
        } else {
            hint
        };
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        // The random part guards against a recycled PID meeting leftovers of
        // an earlier process that had the same PID and sequence number.
        let id = format!(
            "{NAME_PREFIX}{}-{seq}{:03x}-{hint}",
            std::process::id(),
            (nanos >> 10) & 0xfff
        );
        let dir = std::env::temp_dir().join(&id);
        fs::create_dir_all(&dir).map_err(|e| LabError::io(format!("mkdir {dir:?}"), e))?;
        let lab = Lab {
            inner: Arc::new(LabInner {
                switch_ns: format!("{id}-sw"),
                id,
                opts,
                dir,
                state: Mutex::new(LabState {
                    namespaces: Vec::new(),
                    node_names: Vec::new(),
                    children: HashMap::new(),
                    next_key: 0,
                    torn_down: false,
                }),
            }),
        };
        // On error `lab` is dropped here, which removes what was built so far.
        let sw = lab.inner.switch_ns.clone();
        lab.create_netns(&sw)?;
        ip(&[
            "-n",
            &sw,
            "link",
            "add",
            BRIDGE,
            "type",
            "bridge",
            "stp_state",
            "0",
            "forward_delay",
            "0",
            "mcast_snooping",
            "0",
        ])?;
        ip(&["-n", &sw, "link", "set", BRIDGE, "up"])?;
        Ok(lab)
    }

    fn create_netns(&self, ns: &str) -> Result<()> {
        ip(&["netns", "add", ns])?;
        self.inner.lock().namespaces.push(ns.to_string());
        let mut sysctls: Vec<(&str, &str)> = vec![
            ("net/ipv4/conf/all/rp_filter", "0"),
            ("net/ipv4/conf/default/rp_filter", "0"),
        ];
        if self.inner.opts.ipv6 {
            // DAD would leave fresh addresses tentative (unusable) for ~1 s.
            sysctls.push(("net/ipv6/conf/all/accept_dad", "0"));
            sysctls.push(("net/ipv6/conf/default/accept_dad", "0"));
        } else {
            sysctls.push(("net/ipv6/conf/all/disable_ipv6", "1"));
            sysctls.push(("net/ipv6/conf/default/disable_ipv6", "1"));
        }
        write_sysctls(ns, &sysctls)?;
        ip(&["-n", ns, "link", "set", "lo", "up"])?;
        Ok(())
    }

    /// Adds a node namespace named after `name` (1..=10 chars of `[a-z0-9]`)
    /// with one interface ([`LabOptions::ifname`]) on the lab bridge, carrying
    /// `addrs` (`"192.0.2.1/24"`, `"2001:db8::1/64"`).
    pub fn add_node(&self, name: &str, addrs: &[&str]) -> Result<Node> {
        if name.is_empty()
            || name.len() > MAX_NODE_NAME
            || !name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        {
            return Err(LabError::Invalid(format!(
                "node name {name:?} (1..={MAX_NODE_NAME} chars of [a-z0-9])"
            )));
        }
        let mut parsed = Vec::new();
        for a in addrs {
            let (ip, prefix) = parse_cidr(a)?;
            if ip.is_ipv6() && !self.inner.opts.ipv6 {
                return Err(LabError::Invalid(format!(
                    "{a}: IPv6 address in a lab built without LabOptions::ipv6"
                )));
            }
            parsed.push((ip, prefix));
        }
        let index = {
            let mut st = self.inner.lock();
            if st.torn_down {
                return Err(LabError::TornDown);
            }
            if st.node_names.iter().any(|n| n == name) {
                return Err(LabError::Invalid(format!("node {name:?} exists")));
            }
            st.node_names.push(name.to_string());
            st.node_names.len()
        };
        let ns = format!("{}-{name}", self.inner.id);
        let sw = &self.inner.switch_ns;
        let ifname = &self.inner.opts.ifname;
        let mut port = format!("p{index}-{name}");
        port.truncate(15);

        self.create_netns(&ns)?;
        ip(&[
            "-n", sw, "link", "add", &port, "type", "veth", "peer", "name", ifname, "netns", &ns,
        ])?;
        if self.inner.opts.fixed_macs {
            let mac = MacAddr([0x02, 0x6b, 0x6c, 0, (index >> 8) as u8, index as u8]);
            ip(&[
                "-n",
                &ns,
                "link",
                "set",
                ifname,
                "address",
                &mac.to_string(),
            ])?;
        }
        ip(&["-n", sw, "link", "set", &port, "master", BRIDGE])?;
        ip(&["-n", sw, "link", "set", &port, "up"])?;
        let key = if self.inner.opts.ipv6 {
            "accept_dad"
        } else {
            "disable_ipv6"
        };
        let path = format!("net/ipv6/conf/{ifname}/{key}");
        write_sysctls(
            &ns,
            &[(&path, if self.inner.opts.ipv6 { "0" } else { "1" })],
        )?;
        for (ip_addr, prefix) in &parsed {
            let cidr = format!("{ip_addr}/{prefix}");
            if ip_addr.is_ipv6() {
                ip(&["-n", &ns, "addr", "add", &cidr, "dev", ifname, "nodad"])?;
            } else {
                ip(&["-n", &ns, "addr", "add", &cidr, "dev", ifname])?;
            }
        }
        ip(&["-n", &ns, "link", "set", ifname, "up"])?;
        let (ifindex, mac) = node::link_index_and_mac(&ns, ifname)?;
        let node = Node::new(
            Arc::clone(&self.inner),
            name.to_string(),
            ns,
            ifname.clone(),
            port,
            ifindex,
            mac,
            parsed,
        );
        node.wait_link_ready(LINK_READY_TIMEOUT)?;
        Ok(node)
    }

    /// Starts `tcpdump` on `node`'s interface with a BPF `filter` (may be
    /// empty) and returns once tcpdump is listening.
    pub fn capture(&self, node: &Node, filter: &str) -> Result<Capture> {
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let file = self.inner.dir.join(format!("{}-{seq}.pcap", node.name()));
        let file_s = file.to_string_lossy().into_owned();
        // -Z root: stay root so the file in our root-owned temp dir stays
        // writable; -U: flush every packet so a running capture can be read.
        let mut args = vec!["-i", node.ifname(), "-U", "-n", "-Z", "root", "-w", &file_s];
        if !filter.trim().is_empty() {
            args.push(filter);
        }
        let proc = self.inner.spawn_in(node.netns(), "tcpdump", &args)?;
        let ready = wait_until(Duration::from_secs(10), Duration::from_millis(10), || {
            proc.stderr()
                .map(|s| s.contains("listening on"))
                .unwrap_or(false)
                || !proc.is_running()
        });
        if !ready || !proc.is_running() {
            let stderr = proc.stderr().unwrap_or_default();
            let _ = proc.stop(Duration::from_millis(500));
            return Err(LabError::Timeout(format!(
                "tcpdump did not start on {}: {stderr}",
                node.name()
            )));
        }
        Ok(Capture { proc, file })
    }

    /// The lab's unique name stem (`keellab-<pid>-<tag>-<hint>`).
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// Namespace holding the bridge.
    pub fn switch_netns(&self) -> &str {
        &self.inner.switch_ns
    }

    /// Every namespace created so far (switch first).
    pub fn namespaces(&self) -> Vec<String> {
        self.inner.lock().namespaces.clone()
    }

    /// Per-lab scratch directory (process logs, captures). Removed on drop
    /// unless the thread is panicking or `KEEL_LAB_KEEP` is set.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    pub fn options(&self) -> &LabOptions {
        &self.inner.opts
    }

    /// Runs `cmd args` in the switch namespace.
    pub fn exec_switch(&self, cmd: &str, args: &[&str]) -> Result<Output> {
        netns_exec(&self.inner.switch_ns, cmd, args)
    }

    /// Tears the lab down now and reports anything that could not be cleaned
    /// up. Dropping the lab does the same but can only print problems.
    pub fn close(self) -> Result<()> {
        let problems = self.inner.teardown();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(LabError::Teardown(problems.join("; ")))
        }
    }

    /// Removes namespaces left behind by labs whose creating process is dead
    /// (crashed or SIGKILLed test binaries). Namespaces of live processes,
    /// and anything not named with [`NAME_PREFIX`], are left alone. Returns
    /// the names removed.
    pub fn sweep_stale() -> Result<Vec<String>> {
        let entries = match fs::read_dir(NETNS_DIR) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(LabError::io(format!("read {NETNS_DIR}"), e)),
        };
        let mut stale = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(pid) = creator_pid(&name) else {
                continue;
            };
            if !Path::new(&format!("/proc/{pid}")).exists() {
                stale.push(name);
            }
        }
        let mut removed = Vec::new();
        for ns in stale {
            kill_namespace_processes(&ns);
            if delete_netns(&ns).is_ok() {
                removed.push(ns);
            }
        }
        Ok(removed)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for p in self.inner.teardown() {
            eprintln!("keel-lab {}: teardown: {p}", self.inner.id);
        }
    }
}

/// PID encoded in a lab namespace name, if `name` is one.
pub fn creator_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(NAME_PREFIX)?;
    let (pid, _) = rest.split_once('-')?;
    pid.parse().ok()
}

/// A running `tcpdump` started by [`Lab::capture`].
#[derive(Debug)]
pub struct Capture {
    proc: LabProcess,
    file: PathBuf,
}

impl Capture {
    /// Packets written so far (the capture keeps running).
    pub fn packets(&self) -> Result<Vec<CapturedPacket>> {
        read_pcap(&self.file)
    }

    /// Stops tcpdump and returns every packet it captured.
    pub fn stop(self) -> Result<Vec<CapturedPacket>> {
        // SIGINT makes tcpdump flush and close the file before exiting.
        self.proc.kill(Signal::SIGINT)?;
        if self.proc.wait_timeout(Duration::from_secs(5))?.is_none() {
            self.proc.stop(Duration::from_millis(100))?;
        }
        read_pcap(&self.file)
    }

    pub fn path(&self) -> &Path {
        &self.file
    }
}

fn read_pcap(path: &Path) -> Result<Vec<CapturedPacket>> {
    let bytes = fs::read(path).map_err(|e| LabError::io(format!("read {path:?}"), e))?;
    let file = parse_pcap(&bytes)?;
    Ok(file.packets)
}

/// Polls `cond` every `poll` until it returns true (→ `true`) or `timeout`
/// elapses (→ `false`). `cond` is always evaluated at least once.
pub fn wait_until(timeout: Duration, poll: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(poll);
    }
}

/// Runs `f` on a fresh thread that has joined the network namespace `ns`;
/// the caller's thread is never moved. A panic in `f` is resumed here.
pub fn run_in_netns<F, R>(ns: &str, f: F) -> Result<R>
where
    F: FnOnce() -> R + Send,
    R: Send,
{
    let path = Path::new(NETNS_DIR).join(ns);
    let handle = File::open(&path).map_err(|e| LabError::io(format!("open {path:?}"), e))?;
    thread::scope(|s| {
        let worker = s.spawn(move || -> Result<R> {
            setns(&handle, CloneFlags::CLONE_NEWNET)
                .map_err(|e| LabError::io(format!("setns {path:?}"), e.into()))?;
            Ok(f())
        });
        match worker.join() {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

fn write_sysctls(ns: &str, kv: &[(&str, &str)]) -> Result<()> {
    run_in_netns(ns, || {
        for (key, value) in kv {
            let path = Path::new("/proc/sys").join(key);
            fs::write(&path, value).map_err(|e| LabError::io(format!("write {path:?}"), e))?;
        }
        Ok(())
    })?
}

pub(crate) fn command_text(cmd: &str, args: &[&str]) -> String {
    std::iter::once(cmd)
        .chain(args.iter().copied())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs a command, failing unless it exits with status 0.
pub(crate) fn run_checked(cmd: &str, args: &[&str]) -> Result<Output> {
    let out = Command::new(cmd)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| LabError::io(format!("run {cmd}"), e))?;
    if !out.status.success() {
        return Err(LabError::Command {
            command: command_text(cmd, args),
            status: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(out)
}

pub(crate) fn ip(args: &[&str]) -> Result<Output> {
    run_checked("ip", args)
}

/// `ip netns exec ns cmd args`, returning the output whatever the status.
pub(crate) fn netns_exec(ns: &str, cmd: &str, args: &[&str]) -> Result<Output> {
    Command::new("ip")
        .args(["netns", "exec", ns, cmd])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| LabError::io(format!("run {cmd} in {ns}"), e))
}

fn delete_netns(ns: &str) -> Result<()> {
    if !Path::new(NETNS_DIR).join(ns).exists() {
        return Ok(());
    }
    ip(&["netns", "del", ns]).map(drop)
}

/// Terminates, one PID at a time, whatever still runs inside a lab namespace
/// (e.g. daemons that forked away from a tracked child). Only lab namespaces
/// are ever passed here, and everything inside them was started by a lab.
fn kill_namespace_processes(ns: &str) {
    let me = std::process::id();
    let pids = || -> Vec<i32> {
        let Ok(out) = Command::new("ip")
            .args(["netns", "pids", ns])
            .stdin(Stdio::null())
            .output()
        else {
            return Vec::new();
        };
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .filter_map(|p| p.parse::<u32>().ok())
            .filter(|p| *p != me)
            .filter_map(|p| i32::try_from(p).ok())
            .collect()
    };
    let first = pids();
    if first.is_empty() {
        return;
    }
    for p in &first {
        let _ = signal::kill(Pid::from_raw(*p), Signal::SIGTERM);
    }
    wait_until(Duration::from_secs(2), Duration::from_millis(20), || {
        pids().is_empty()
    });
    for p in pids() {
        let _ = signal::kill(Pid::from_raw(p), Signal::SIGKILL);
    }
}

pub(crate) fn parse_cidr(s: &str) -> Result<(IpAddr, u8)> {
    let bad = || LabError::Invalid(format!("not an address/prefix: {s:?}"));
    let (a, p) = s.split_once('/').ok_or_else(bad)?;
    let ip: IpAddr = a.parse().map_err(|_| bad())?;
    let prefix: u8 = p.parse().map_err(|_| bad())?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    if prefix > max {
        return Err(bad());
    }
    Ok((ip, prefix))
}

fn valid_ifname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 15
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creator_pid_only_matches_lab_names() {
        assert_eq!(creator_pid("keellab-1234-0abc-hint-sw"), Some(1234));
        assert_eq!(creator_pid("keellab-x-0abc-hint-sw"), None);
        assert_eq!(creator_pid("kp-lb1"), None);
        assert_eq!(creator_pid("keellab-99"), None);
    }

    #[test]
    fn cidr_parsing() {
        assert_eq!(
            parse_cidr("192.0.2.1/24").unwrap(),
            ("192.0.2.1".parse().unwrap(), 24)
        );
        assert_eq!(
            parse_cidr("2001:db8::1/64").unwrap(),
            ("2001:db8::1".parse().unwrap(), 64)
        );
        assert!(parse_cidr("192.0.2.1").is_err());
        assert!(parse_cidr("192.0.2.1/33").is_err());
        assert!(parse_cidr("nonsense/8").is_err());
    }

    #[test]
    fn wait_until_reports_success_and_timeout() {
        let mut n = 0;
        assert!(wait_until(
            Duration::from_secs(1),
            Duration::from_millis(1),
            || {
                n += 1;
                n >= 3
            }
        ));
        assert!(!wait_until(
            Duration::from_millis(30),
            Duration::from_millis(5),
            || false
        ));
    }
}
