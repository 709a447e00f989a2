//! Running the `nft` binary, optionally inside a named network namespace.

use keel_lvs::BackendError;
use std::io::Write;
use std::process::{Command, Stdio};

/// How to invoke `nft`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nft {
    /// Path or name of the nft binary.
    pub binary: String,
    /// Run through `ip netns exec NAME` (tests, labs); `None` runs in the
    /// caller's namespace.
    pub netns: Option<String>,
}

impl Default for Nft {
    fn default() -> Self {
        Nft {
            binary: "nft".to_string(),
            netns: None,
        }
    }
}

impl Nft {
    /// `nft` inside the named network namespace.
    pub fn in_netns(name: &str) -> Nft {
        Nft {
            netns: Some(name.to_string()),
            ..Nft::default()
        }
    }

    fn command(&self, args: &[&str]) -> (Command, String) {
        let mut text = String::new();
        let mut cmd = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, &self.binary]);
                text.push_str(&format!("ip netns exec {ns} "));
                c
            }
            None => Command::new(&self.binary),
        };
        cmd.args(args);
        text.push_str(&self.binary);
        for a in args {
            text.push(' ');
            text.push_str(a);
        }
        (cmd, text)
    }

    /// Applies `script` as one transaction (`nft -f -`): all of it or
    /// nothing.
    pub fn run_script(&self, script: &str) -> Result<(), BackendError> {
        let (mut cmd, text) = self.command(&["-f", "-"]);
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| BackendError::Io {
                context: format!("start {text}"),
                source,
            })?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(script.as_bytes())
                .map_err(|source| BackendError::Io {
                    context: format!("write to {text}"),
                    source,
                })?;
        }
        let out = child
            .wait_with_output()
            .map_err(|source| BackendError::Io {
                context: format!("wait for {text}"),
                source,
            })?;
        if out.status.success() {
            Ok(())
        } else {
            Err(BackendError::Command {
                command: text,
                message: first_lines(&String::from_utf8_lossy(&out.stderr)),
            })
        }
    }

    /// `nft -j list table FAMILY NAME`; `None` when the table does not
    /// exist.
    pub fn list_table_json(
        &self,
        family: &str,
        name: &str,
    ) -> Result<Option<String>, BackendError> {
        self.list_json(&["-j", "list", "table", family, name])
    }

    /// Like [`Nft::list_table_json`] without the elements of named sets
    /// and maps. `nft -t list table` still fetches them all from the kernel
    /// (nft 1.0.6: a second for 60 000 entries), `nft -t list ruleset
    /// FAMILY` does not, so the table is picked out of the latter.
    pub fn list_table_json_terse(
        &self,
        family: &str,
        name: &str,
    ) -> Result<Option<String>, BackendError> {
        match self.list_json(&["-t", "-j", "list", "ruleset", family])? {
            Some(json) => crate::parse::one_table(&json, name),
            None => Ok(None),
        }
    }

    /// `nft -j list map FAMILY TABLE NAME`; `None` when it does not exist.
    pub fn list_map_json(
        &self,
        family: &str,
        table: &str,
        name: &str,
    ) -> Result<Option<String>, BackendError> {
        self.list_json(&["-j", "list", "map", family, table, name])
    }

    fn list_json(&self, args: &[&str]) -> Result<Option<String>, BackendError> {
        let (mut cmd, text) = self.command(args);
        let out = cmd
            .stdin(Stdio::null())
            .output()
            .map_err(|source| BackendError::Io {
                context: format!("run {text}"),
                source,
            })?;
        if out.status.success() {
            return String::from_utf8(out.stdout)
                .map(Some)
                .map_err(|_| BackendError::State(format!("{text}: output is not UTF-8")));
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        if stderr.contains("No such file or directory") {
            return Ok(None);
        }
        Err(BackendError::Command {
            command: text,
            message: first_lines(&stderr),
        })
    }
}

/// nft's errors repeat the offending line with a caret line; a few lines
/// are enough to see the problem.
fn first_lines(s: &str) -> String {
    s.lines()
        .take(6)
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_string()
}
