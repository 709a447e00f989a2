//! Shared helpers of the `vrrp_*` end-to-end tests: labs built with
//! keel-lab, the `keel` binary (or keepalived) started inside a node
//! namespace, and log polling.
#![allow(dead_code)]

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use keel_lab::{Lab, LabSignal, Node, wait_until};

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// The binary under test: `keel`, unless KEEL_TEST_BIN names another
/// keepalived-compatible front end.
pub fn keel_bin() -> String {
    std::env::var("KEEL_TEST_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_keel").to_string())
}

/// A seed configuration from `examples/seed/`, with `subst` applied in order.
pub fn seed(name: &str, subst: &[(&str, &str)]) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/seed")
        .join(format!("{name}.conf"));
    let mut text = std::fs::read_to_string(&path).unwrap();
    for (from, to) in subst {
        text = text.replace(from, to);
    }
    text
}

/// The standard two-node lab plus a client: node one 192.0.2.3, node two
/// 192.0.2.5, client 192.0.2.10 (the seed addresses).
pub struct Topo {
    pub lab: Lab,
    pub one: Node,
    pub two: Node,
    pub client: Node,
}

pub fn topo(hint: &str) -> Topo {
    let lab = Lab::new(hint).unwrap();
    let one = lab.add_node("one", &["192.0.2.3/24"]).unwrap();
    let two = lab.add_node("two", &["192.0.2.5/24"]).unwrap();
    let client = lab.add_node("client", &["192.0.2.10/24"]).unwrap();
    Topo {
        lab,
        one,
        two,
        client,
    }
}

/// Which daemon implementation runs on a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Impl {
    Keel,
    Keepalived,
}

/// A daemon running in a node namespace.
pub struct Daemon {
    pub proc: keel_lab::LabProcess,
    pub node: Node,
    pub conf: PathBuf,
    pub label: String,
}

static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

impl Daemon {
    pub fn start(lab: &Lab, node: &Node, conf_text: &str) -> Daemon {
        Daemon::start_impl(lab, node, conf_text, Impl::Keel)
    }

    pub fn start_impl(lab: &Lab, node: &Node, conf_text: &str, which: Impl) -> Daemon {
        Daemon::start_env(lab, node, conf_text, which, &[])
    }

    /// Like [`Daemon::start_impl`] with extra environment variables.
    pub fn start_env(
        lab: &Lab,
        node: &Node,
        conf_text: &str,
        which: Impl,
        env: &[(&str, &str)],
    ) -> Daemon {
        let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let stem = lab.dir().join(format!("{}-{seq}", node.name()));
        let conf = stem.with_extension("conf");
        std::fs::write(&conf, conf_text).unwrap();
        let pid = |k: &str| {
            stem.with_extension(format!("{k}.pid"))
                .to_string_lossy()
                .into_owned()
        };
        let (p1, p2, p3) = (pid("main"), pid("vrrp"), pid("chk"));
        let conf_s = conf.to_string_lossy().into_owned();
        let args = [
            "-n", "-l", "-D", "-G", "-P", "-f", &conf_s, "-p", &p1, "-r", &p2, "-c", &p3,
        ];
        let (bin, label) = match which {
            Impl::Keel => (keel_bin(), format!("keel on {}", node.name())),
            Impl::Keepalived => (
                "/usr/sbin/keepalived".to_string(),
                format!("keepalived on {}", node.name()),
            ),
        };
        let proc = if env.is_empty() {
            node.spawn(&bin, &args).unwrap()
        } else {
            let mut full: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
            full.push(bin.clone());
            full.extend(args.iter().map(|a| a.to_string()));
            let refs: Vec<&str> = full.iter().map(String::as_str).collect();
            node.spawn("env", &refs).unwrap()
        };
        Daemon {
            proc,
            node: node.clone(),
            conf,
            label,
        }
    }

    /// Everything logged so far (console logging goes to stderr; keepalived
    /// with -l also writes to stdout).
    pub fn log(&self) -> String {
        let mut s = self.proc.stderr().unwrap_or_default();
        s.push_str(&self.proc.stdout().unwrap_or_default());
        s
    }

    pub fn count(&self, needle: &str) -> usize {
        self.log().matches(needle).count()
    }

    /// Waits for `needle` to appear `n` times in the log.
    pub fn wait_log_n(&self, needle: &str, n: usize, timeout: Duration) {
        let ok = wait_until(timeout, Duration::from_millis(20), || {
            self.count(needle) >= n
        });
        assert!(
            ok,
            "{}: {needle:?} not logged {n} time(s) within {timeout:?}; log:\n{}",
            self.label,
            self.log()
        );
    }

    pub fn wait_log(&self, needle: &str, timeout: Duration) {
        self.wait_log_n(needle, 1, timeout)
    }

    pub fn has_vip(&self, vip: &str) -> bool {
        self.node.has_addr(ip(vip)).unwrap()
    }

    pub fn wait_vip(&self, vip: &str, present: bool, timeout: Duration) {
        let ok = wait_until(timeout, Duration::from_millis(20), || {
            self.has_vip(vip) == present
        });
        assert!(
            ok,
            "{}: VIP {vip} {} within {timeout:?}; log:\n{}",
            self.label,
            if present { "not added" } else { "not removed" },
            self.log()
        );
    }

    pub fn signal(&self, sig: LabSignal) {
        self.proc.kill(sig).unwrap();
    }

    /// SIGTERM and wait for the exit; returns how long it took.
    pub fn stop(&self) -> Duration {
        let t = Instant::now();
        self.proc.kill(LabSignal::SIGTERM).unwrap();
        let st = self.proc.wait_timeout(Duration::from_secs(5)).unwrap();
        assert!(st.is_some(), "{} did not exit on SIGTERM", self.label);
        t.elapsed()
    }

    pub fn is_running(&self) -> bool {
        self.proc.is_running()
    }
}

/// Where `addr/len` is configured on a node, from `ip -o addr`.
pub fn prefix_of(node: &Node, dev: &str, addr: &str) -> Option<u8> {
    node.ip_addrs(dev)
        .unwrap()
        .into_iter()
        .find(|(a, _)| *a == ip(addr))
        .map(|(_, p)| p)
}

/// Polls both nodes until `until` holds, failing if the VIP is seen on both
/// in two polls in a row (one poll may land in the sub-millisecond
/// hand-over where the new master's add and the old master's delete cross).
pub fn watch_single_holder(
    a: &Node,
    b: &Node,
    vip: &str,
    timeout: Duration,
    mut until: impl FnMut() -> bool,
) {
    let deadline = Instant::now() + timeout;
    let mut both_before = false;
    loop {
        let both = a.has_addr(ip(vip)).unwrap() && b.has_addr(ip(vip)).unwrap();
        assert!(!(both && both_before), "VIP {vip} held by both nodes");
        both_before = both;
        if until() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "condition not reached within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
