//! The seed tutorial's scenario S3 as a lab: two directors (`one`
//! 192.0.2.3, `two` 192.0.2.5) in front of two nginx real servers (`rs1`
//! 192.0.2.11, `rs2` 192.0.2.12) prepared for direct routing, and a client
//! (192.0.2.10) curling the VIP 192.0.2.144. Shared by keel's S3 end-to-end
//! tests and `keel lab demo`, which add their own checks on top.
//!
//! keel-lab does not depend on keel's crates (they use keel-lab in their
//! tests), so the real servers' DR preparation and the `keel` binary are
//! passed in by the caller.

use std::fmt::Display;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::{Lab, LabError, LabProcess, Node, Result, wait_until};

/// The S3 virtual address.
pub const VIP: &str = "192.0.2.144";
/// Page served by real server 1.
pub const WEB1: &str = "this is web 1";
/// Page served by real server 2.
pub const WEB2: &str = "this is web 2";

/// Environment variable naming a `keel` process's load-balancer state file
/// (keel-daemon's `STATE_FILE_ENV`), so two directors sharing one file
/// system keep theirs apart.
pub const STATE_ENV: &str = "KEEL_LVS_STATE";

/// The seed's S3 configurations of director 1 and 2.
pub const SEED_CONF: [&str; 2] = [
    include_str!("../../../examples/seed/s3-node1.conf"),
    include_str!("../../../examples/seed/s3-node2.conf"),
];

/// The seed's check timers and their shortened values: with the seed's, a
/// stopped web server leaves the table only after about ten seconds of
/// retries.
pub const SHORTENED: [(&str, &str); 4] = [
    ("delay_loop 3", "delay_loop 1"),
    ("connect_timeout 3", "connect_timeout 1"),
    ("nb_get_retry 3", "nb_get_retry 1"),
    ("delay_before_retry 3", "delay_before_retry 1"),
];

/// The seed's S3 configuration of director `node` (1 or 2) with the
/// [`SHORTENED`] check timers, then each `(from, to)` of `extra` replaced.
/// Fails if some `from` is not in the text.
pub fn conf(node: u8, extra: &[(&str, &str)]) -> Result<String> {
    let seed = match node {
        1 | 2 => SEED_CONF[usize::from(node - 1)],
        _ => return Err(LabError::Invalid(format!("S3 has no director {node}"))),
    };
    let mut text = seed.to_string();
    for (from, to) in SHORTENED.iter().chain(extra) {
        if !text.contains(from) {
            return Err(LabError::Invalid(format!(
                "{from:?} is not in the seed's S3 configuration"
            )));
        }
        text = text.replace(from, to);
    }
    Ok(text)
}

/// nginx serving `page` as index.html on port 80 of a node, with its pid
/// file, logs and temporary files in the lab directory.
#[derive(Debug)]
pub struct Web {
    node: Node,
    conf: PathBuf,
    dir: PathBuf,
    proc: Option<LabProcess>,
}

/// How long nginx gets to answer after its start.
const WEB_START: Duration = Duration::from_secs(10);

impl Web {
    /// Writes the configuration to `nginx-<name>` in the lab directory and
    /// starts nginx.
    pub fn new(lab: &Lab, node: &Node, name: &str, page: &str) -> Result<Web> {
        let dir = lab.dir().join(format!("nginx-{name}"));
        let write = |path: PathBuf, text: String| {
            std::fs::write(&path, text).map_err(|e| LabError::io(format!("write {path:?}"), e))
        };
        for sub in ["html", "tmp"] {
            let path = dir.join(sub);
            std::fs::create_dir_all(&path)
                .map_err(|e| LabError::io(format!("mkdir {path:?}"), e))?;
        }
        write(dir.join("html/index.html"), format!("{page}\n"))?;
        let d = dir.display();
        let conf = dir.join("nginx.conf");
        write(
            conf.clone(),
            format!(
                "user root;\nworker_processes 1;\nmaster_process off;\npid {d}/nginx.pid;\n\
                 error_log {d}/error.log;\nevents {{ worker_connections 64; }}\n\
                 http {{\n  access_log off;\n  client_body_temp_path {d}/tmp/body;\n\
                 proxy_temp_path {d}/tmp/proxy;\n  fastcgi_temp_path {d}/tmp/fastcgi;\n\
                 uwsgi_temp_path {d}/tmp/uwsgi;\n  scgi_temp_path {d}/tmp/scgi;\n\
                 server {{ listen 80; root {d}/html; }}\n}}\n"
            ),
        )?;
        let mut web = Web {
            node: node.clone(),
            conf,
            dir,
            proc: None,
        };
        web.start()?;
        Ok(web)
    }

    /// Starts nginx and waits until it answers on the node's address.
    pub fn start(&mut self) -> Result<()> {
        let conf = self.conf.to_string_lossy().into_owned();
        let prefix = self.dir.to_string_lossy().into_owned();
        let err = self.dir.join("error.log");
        let err_s = err.to_string_lossy().into_owned();
        let p = self.node.spawn(
            "nginx",
            &[
                "-p",
                &prefix,
                "-e",
                &err_s,
                "-c",
                &conf,
                "-g",
                "daemon off;",
            ],
        )?;
        let addr = self.node.ipv4().ok_or_else(|| {
            LabError::Invalid(format!("node {} has no IPv4 address", self.node.name()))
        })?;
        let url = format!("http://{addr}/");
        let up = wait_until(WEB_START, Duration::from_millis(50), || {
            self.node
                .curl(&url)
                .map(|o| o.status.success())
                .unwrap_or(false)
        });
        let stderr = p.stderr().unwrap_or_default();
        self.proc = Some(p);
        if !up {
            return Err(LabError::Timeout(format!(
                "nginx on {} did not answer within {WEB_START:?}: {stderr}{}",
                self.node.name(),
                std::fs::read_to_string(&err).unwrap_or_default()
            )));
        }
        Ok(())
    }

    /// Stops nginx (SIGTERM, then SIGKILL after `grace`); a stopped server
    /// is left alone.
    pub fn stop(&mut self, grace: Duration) -> Result<()> {
        if let Some(p) = self.proc.take() {
            p.stop(grace)?;
        }
        Ok(())
    }
}

/// The S3 topology with both real servers prepared for DR and serving
/// [`WEB1`] / [`WEB2`]. Sorry pages on the directors are the caller's
/// ([`S3Lab::add_sorry`]), as they differ between uses.
#[derive(Debug)]
pub struct S3Lab {
    // Fields drop in order: the web servers before the lab tears down.
    pub web1: Web,
    pub web2: Web,
    /// Sorry-page servers added with [`S3Lab::add_sorry`].
    pub sorry: Vec<Web>,
    pub one: Node,
    pub two: Node,
    pub client: Node,
    pub rs1: Node,
    pub rs2: Node,
    pub lab: Lab,
}

impl S3Lab {
    /// Builds the lab. `prepare_dr` runs inside each real server's
    /// namespace (rs1, then rs2) with the VIP, typically keel-nft's
    /// `realserver::prepare(vip, "lo")`; what it returns for each is handed
    /// back in that order.
    pub fn new<T, E, F>(hint: &str, prepare_dr: F) -> Result<(S3Lab, Vec<T>)>
    where
        F: Fn(IpAddr) -> std::result::Result<T, E> + Sync,
        T: Send,
        E: Display + Send,
    {
        let vip: IpAddr = VIP
            .parse()
            .map_err(|_| LabError::Invalid(format!("VIP {VIP}")))?;
        let lab = Lab::new(hint)?;
        let one = lab.add_node("one", &["192.0.2.3/24"])?;
        let two = lab.add_node("two", &["192.0.2.5/24"])?;
        let client = lab.add_node("client", &["192.0.2.10/24"])?;
        let rs1 = lab.add_node("rs1", &["192.0.2.11/24"])?;
        let rs2 = lab.add_node("rs2", &["192.0.2.12/24"])?;
        let mut prepared = Vec::new();
        for rs in [&rs1, &rs2] {
            let prepare = &prepare_dr;
            let done = rs.run_in(move || prepare(vip))?.map_err(|e| {
                LabError::Invalid(format!("preparing {} for direct routing: {e}", rs.name()))
            })?;
            prepared.push(done);
        }
        let web1 = Web::new(&lab, &rs1, "rs1", WEB1)?;
        let web2 = Web::new(&lab, &rs2, "rs2", WEB2)?;
        let s3 = S3Lab {
            web1,
            web2,
            sorry: Vec::new(),
            one,
            two,
            client,
            rs1,
            rs2,
            lab,
        };
        Ok((s3, prepared))
    }

    /// Starts nginx serving `page` on director `director` (1 or 2), the
    /// configuration's sorry_server 127.0.0.1:80.
    pub fn add_sorry(&mut self, director: u8, page: &str) -> Result<()> {
        let (node, name) = match director {
            1 => (&self.one, "one"),
            2 => (&self.two, "two"),
            _ => return Err(LabError::Invalid(format!("S3 has no director {director}"))),
        };
        let web = Web::new(&self.lab, node, name, page)?;
        self.sorry.push(web);
        Ok(())
    }
}

/// `keel` started with keepalived's flags (`-n -l -D -G`) in a director
/// namespace, its configuration, pid files and state file named
/// `keel-<name>.*` in the lab directory.
#[derive(Debug)]
pub struct Director {
    node: Node,
    keel: PathBuf,
    stem: PathBuf,
    proc: Option<LabProcess>,
}

impl Director {
    /// Writes `conf_text` as the director's configuration; keel is not
    /// started yet.
    pub fn new(lab: &Lab, node: &Node, keel: &Path, conf_text: &str) -> Result<Director> {
        let stem = lab.dir().join(format!("keel-{}", node.name()));
        let conf = stem.with_extension("conf");
        std::fs::write(&conf, conf_text).map_err(|e| LabError::io(format!("write {conf:?}"), e))?;
        Ok(Director {
            node: node.clone(),
            keel: keel.to_path_buf(),
            stem,
            proc: None,
        })
    }

    fn path(&self, ext: &str) -> String {
        self.stem.with_extension(ext).to_string_lossy().into_owned()
    }

    fn state_env(&self) -> String {
        format!("{STATE_ENV}={}", self.path("lvs.json"))
    }

    /// Starts keel, with `extra` appended to its arguments.
    pub fn start(&mut self, extra: &[&str]) -> Result<()> {
        let env = self.state_env();
        let keel = self.keel.to_string_lossy().into_owned();
        let (conf, p1, p2, p3) = (
            self.path("conf"),
            self.path("pid"),
            self.path("vrrp.pid"),
            self.path("chk.pid"),
        );
        let mut args = vec![
            env.as_str(),
            keel.as_str(),
            "-n",
            "-l",
            "-D",
            "-G",
            "-f",
            &conf,
            "-p",
            &p1,
            "-r",
            &p2,
            "-c",
            &p3,
        ];
        args.extend_from_slice(extra);
        self.proc = Some(self.node.spawn("env", &args)?);
        Ok(())
    }

    pub fn node(&self) -> &Node {
        &self.node
    }

    /// The running (or last started) keel process.
    pub fn process(&self) -> Option<&LabProcess> {
        self.proc.as_ref()
    }

    /// The configuration file keel reads.
    pub fn conf_path(&self) -> PathBuf {
        self.stem.with_extension("conf")
    }

    /// The load-balancer state file keel writes ([`STATE_ENV`]).
    pub fn state_path(&self) -> PathBuf {
        self.stem.with_extension("lvs.json")
    }

    /// keel's log so far (it logs to stderr with `-l`), stdout appended.
    pub fn log(&self) -> String {
        let Some(p) = &self.proc else {
            return String::new();
        };
        let mut s = p.stderr().unwrap_or_default();
        s.push_str(&p.stdout().unwrap_or_default());
        s
    }

    /// Whether `needle` shows up in the log within `timeout`.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> bool {
        wait_until(timeout, Duration::from_millis(50), || {
            self.log().contains(needle)
        })
    }

    /// Whether the director's interface holds `addr`.
    pub fn has_addr(&self, addr: IpAddr) -> Result<bool> {
        self.node.has_addr(addr)
    }

    /// `keel lvs` (with `--json` if asked) in the director's namespace:
    /// its stdout followed by its stderr.
    pub fn lvs(&self, json: bool) -> Result<String> {
        let env = self.state_env();
        let keel = self.keel.to_string_lossy();
        let mut args = vec![env.as_str(), &keel, "lvs"];
        if json {
            args.push("--json");
        }
        let out = self.node.exec("env", &args)?;
        Ok(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }

    /// Sends keel SIGTERM; true once it has exited within `timeout`.
    pub fn stop(&self, timeout: Duration) -> Result<bool> {
        let Some(p) = &self.proc else {
            return Ok(true);
        };
        p.kill(nix::sys::signal::Signal::SIGTERM)?;
        Ok(p.wait_timeout(timeout)?.is_some())
    }
}

/// One curl of `http://<vip>/` from `client` giving up after `max_secs`:
/// the page, or curl's error.
pub fn curl_vip(client: &Node, vip: &str, max_secs: u32) -> String {
    let (url, max) = (format!("http://{vip}/"), max_secs.to_string());
    match client.exec("curl", &["-sS", "-m", &max, &url]) {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim().to_string(),
        Ok(out) => format!(
            "curl failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => format!("curl failed: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conf_shortens_every_check_timer_of_the_seed_and_nothing_else() {
        for (i, seed) in SEED_CONF.iter().enumerate() {
            let text = conf(i as u8 + 1, &[]).unwrap();
            for (from, to) in SHORTENED {
                assert!(!text.contains(from), "{from} left in:\n{text}");
                assert!(text.contains(to), "{to} missing in:\n{text}");
            }
            let mut back = text.clone();
            for (from, to) in SHORTENED {
                back = back.replace(to, from);
            }
            assert_eq!(&back, seed, "only the check timers change");
        }
    }

    #[test]
    fn conf_refuses_replacements_missing_from_the_seed() {
        assert!(conf(1, &[("no such keyword", "x")]).is_err());
        assert!(conf(3, &[]).is_err());
        let text = conf(
            1,
            &[("protocol TCP", "protocol TCP\n    inhibit_on_failure")],
        )
        .unwrap();
        assert!(text.contains("inhibit_on_failure"), "{text}");
    }
}
