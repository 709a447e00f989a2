//! nginx as a real server: one master + one worker per lab node, answering
//! every request with the node's name, with its pid file, logs and
//! temporary directories in the lab directory.

use anyhow::{Context, Result, bail};
use keel_lab::{LabProcess, Node};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A configured nginx for one node; [`Nginx::start`] runs it.
pub struct Nginx {
    name: String,
    dir: PathBuf,
    conf: PathBuf,
}

impl Nginx {
    /// Writes the configuration under `lab_dir/nginx-NAME/`.
    pub fn configure(lab_dir: &Path, name: &str, port: u16) -> Result<Nginx> {
        let dir = lab_dir.join(format!("nginx-{name}"));
        std::fs::create_dir_all(dir.join("tmp"))
            .with_context(|| format!("create {}", dir.display()))?;
        let d = dir.display();
        // One worker: the whole lab shares two cores with the load
        // generator. `return` answers from memory, so nginx does no file
        // I/O per request besides the buffered access log.
        let conf = format!(
            "user root root;\n\
             worker_processes 1;\n\
             pid {d}/nginx.pid;\n\
             error_log {d}/error.log warn;\n\
             events {{ worker_connections 4096; }}\n\
             http {{\n\
             \x20   access_log {d}/access.log combined buffer=64k flush=1s;\n\
             \x20   client_body_temp_path {d}/tmp/body;\n\
             \x20   proxy_temp_path {d}/tmp/proxy;\n\
             \x20   fastcgi_temp_path {d}/tmp/fastcgi;\n\
             \x20   uwsgi_temp_path {d}/tmp/uwsgi;\n\
             \x20   scgi_temp_path {d}/tmp/scgi;\n\
             \x20   keepalive_timeout 0;\n\
             \x20   default_type text/plain;\n\
             \x20   server {{\n\
             \x20       listen {port} backlog=4096;\n\
             \x20       location / {{ return 200 \"{name}\\n\"; }}\n\
             \x20   }}\n\
             }}\n"
        );
        let path = dir.join("nginx.conf");
        std::fs::write(&path, conf).with_context(|| format!("write {}", path.display()))?;
        Ok(Nginx {
            name: name.to_string(),
            dir,
            conf: path,
        })
    }

    /// Starts nginx in `node` and waits (at most 5 s) until it accepts
    /// connections on `probe` (an address of the node).
    pub fn start(&self, node: &Node, probe: SocketAddr) -> Result<LabProcess> {
        let prefix = format!("{}/", self.dir.display());
        let early_log = self.dir.join("error.log").display().to_string();
        let conf = self.conf.display().to_string();
        let proc = node
            .spawn(
                "nginx",
                &[
                    "-p",
                    &prefix,
                    "-e",
                    &early_log,
                    "-c",
                    &conf,
                    "-g",
                    "daemon off;",
                ],
            )
            .with_context(|| format!("start nginx on {}", self.name))?;
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let up = node
                .run_in(move || TcpStream::connect_timeout(&probe, Duration::from_millis(200)))
                .context("enter namespace")?
                .is_ok();
            if up {
                return Ok(proc);
            }
            if !proc.is_running() || Instant::now() >= deadline {
                let log = std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default();
                bail!("nginx on {} did not come up: {}", self.name, log.trim());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
