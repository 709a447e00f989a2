//! Shared parts of the `lvs_s3_*` end-to-end tests: the S3 lab of
//! `keel_lab::s3` with keel-nft's DR preparation, and the `keel` directors
//! and client curls behind assertions.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

// Not every test binary uses every re-export.
#[allow(unused_imports)]
pub use keel_lab::s3::{S3Lab, VIP, WEB1, WEB2, Web};
#[allow(unused_imports)]
pub use keel_lab::{Lab, LabProcess, LabSignal, Node, wait_until};

pub const CHECK_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a stopped web server gets before SIGKILL.
pub const WEB_GRACE: Duration = Duration::from_secs(5);

pub fn keel_bin() -> &'static str {
    env!("CARGO_BIN_EXE_keel")
}

/// The seed's S3 configuration with short check timers, so failures are
/// seen within seconds; every replaced text must be in the seed.
pub fn seed_conf(node: u8, extra: &[(&str, &str)]) -> String {
    keel_lab::s3::conf(node, extra).unwrap()
}

/// The S3 lab, real servers prepared as `keel realserver` does, with the
/// master director's sorry page and, with `backup`, the second's too.
pub fn s3_lab(hint: &str, backup: bool) -> S3Lab {
    let (mut s, _) = S3Lab::new(hint, |vip| keel_nft::realserver::prepare(vip, "lo")).unwrap();
    s.add_sorry(1, "sorry from one").unwrap();
    if backup {
        s.add_sorry(2, "sorry from two").unwrap();
    }
    s
}

/// `keel` with keepalived's flags in a director namespace.
pub struct Director {
    pub node: Node,
    pub state: PathBuf,
    keel: keel_lab::s3::Director,
}

impl Director {
    pub fn start(lab: &Lab, node: &Node, conf_text: &str) -> Director {
        Director::start_with(lab, node, conf_text, &[])
    }

    pub fn start_with(lab: &Lab, node: &Node, conf_text: &str, extra: &[&str]) -> Director {
        let mut keel =
            keel_lab::s3::Director::new(lab, node, Path::new(keel_bin()), conf_text).unwrap();
        keel.start(extra).unwrap();
        Director {
            node: node.clone(),
            state: keel.state_path(),
            keel,
        }
    }

    pub fn proc(&self) -> &LabProcess {
        self.keel.process().unwrap()
    }

    pub fn conf(&self) -> PathBuf {
        self.keel.conf_path()
    }

    pub fn log(&self) -> String {
        self.keel.log()
    }

    pub fn wait_log(&self, needle: &str, timeout: Duration) {
        let ok = self.keel.wait_log(needle, timeout);
        assert!(
            ok,
            "{}: {needle:?} not logged within {timeout:?}; log:\n{}",
            self.node.name(),
            self.log()
        );
    }

    /// `keel lvs` in the director's namespace.
    pub fn lvs(&self, json: bool) -> String {
        self.keel.lvs(json).unwrap()
    }

    pub fn wait_vip(&self, present: bool, timeout: Duration) {
        self.wait_addr(VIP, present, timeout)
    }

    pub fn wait_addr(&self, addr: &str, present: bool, timeout: Duration) {
        let vip = addr.parse().unwrap();
        let ok = wait_until(timeout, Duration::from_millis(50), || {
            self.node.has_addr(vip).unwrap() == present
        });
        assert!(
            ok,
            "{}: {addr} {} within {timeout:?}; log:\n{}",
            self.node.name(),
            if present { "not added" } else { "not removed" },
            self.log()
        );
    }

    pub fn stop(&self) {
        let exited = self.keel.stop(Duration::from_secs(10)).unwrap();
        assert!(exited, "{}: keel did not exit on SIGTERM", self.node.name());
    }
}

/// What `n` curls of the VIP from the client got (one line each; a failed
/// curl gives its error).
pub fn pages(client: &Node, n: usize) -> Vec<String> {
    pages_of(client, VIP, n)
}

pub fn pages_of(client: &Node, vip: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| keel_lab::s3::curl_vip(client, vip, 5))
        .collect()
}

/// Curls until every answer of a batch of six is `page` (the data plane
/// and ARP may need a moment after a change).
pub fn wait_only(client: &Node, page: &str, timeout: Duration) -> Vec<String> {
    wait_only_of(client, VIP, page, timeout)
}

pub fn wait_only_of(client: &Node, vip: &str, page: &str, timeout: Duration) -> Vec<String> {
    let mut last = Vec::new();
    let ok = wait_until(timeout, Duration::from_millis(200), || {
        last = pages_of(client, vip, 6);
        last.iter().all(|p| p == page)
    });
    assert!(ok, "expected only {page:?}, got {last:?}");
    last
}
