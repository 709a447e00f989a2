//! Man pages and shell completions generated from the command line itself, so
//! the packaged documentation cannot drift from the flags the binary takes.
//! scripts/package-deb.sh runs `keel generate-assets DIR` on the binary it
//! packages; the command is not part of the public CLI, so it appears in
//! neither the pages nor the completions.

use crate::cli::Cli;
use clap::{Arg, ArgMatches, CommandFactory};
use clap_complete::{Generator, Shell};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Name of the packaging hook.
pub const COMMAND: &str = "generate-assets";

/// The packaging hook, added to the parser next to the public CLI.
pub fn command() -> clap::Command {
    clap::Command::new(COMMAND)
        .hide(true)
        .about("Write the man pages (DIR/man) and shell completions (DIR/completions)")
        .arg(
            Arg::new("dir")
                .value_name("DIR")
                .required(true)
                .value_parser(clap::value_parser!(PathBuf)),
        )
}

/// Runs the hook: prints each file written.
pub fn run(m: &ArgMatches) -> i32 {
    let Some(dir) = m.get_one::<PathBuf>("dir") else {
        eprintln!("keel {COMMAND}: DIR is required");
        return 2;
    };
    match write_all(dir) {
        Ok(files) => {
            for f in files {
                println!("{}", f.display());
            }
            0
        }
        Err(e) => {
            eprintln!("keel {COMMAND}: {}: {e}", dir.display());
            1
        }
    }
}

/// Writes `man/keel.8`, one `man/keel-SUB.8` per subcommand, and the bash,
/// zsh and fish completions under `completions/`, named as each shell's
/// vendor directory expects them.
pub fn write_all(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let built = |cmd: clap::Command| {
        let mut cmd = cmd.bin_name("keel");
        cmd.build();
        cmd
    };
    // `keel help SUB` is `man keel-SUB` already: no page of its own.
    let man = built(Cli::command().disable_help_subcommand(true));
    let mut files = write_man_pages(&man, &dir.join("man"))?;
    files.extend(write_completions(
        &built(Cli::command()),
        &dir.join("completions"),
    )?);
    Ok(files)
}

fn write_man_pages(cmd: &clap::Command, dir: &Path) -> io::Result<Vec<PathBuf>> {
    fs::create_dir_all(dir)?;
    let mut files = Vec::new();
    let mut top = Vec::new();
    page(cmd).render(&mut top)?;
    top.extend_from_slice(TOP_EXTRA.as_bytes());
    let path = dir.join("keel.8");
    fs::write(&path, top)?;
    files.push(path);
    let mut pending: Vec<&clap::Command> = cmd.get_subcommands().collect();
    while let Some(sub) = pending.pop() {
        if sub.is_hide_set() {
            continue;
        }
        let man = page(sub);
        let mut text = Vec::new();
        man.render(&mut text)?;
        text.extend_from_slice(SUB_EXTRA.as_bytes());
        let path = dir.join(man.get_filename());
        fs::write(&path, text)?;
        files.push(path);
        pending.extend(sub.get_subcommands());
    }
    Ok(files)
}

fn page(cmd: &clap::Command) -> clap_mangen::Man {
    // Section 8: keel is a daemon and its tools are for administrators, as
    // keepalived(8).
    clap_mangen::Man::new(cmd.clone())
        .section("8")
        .manual("System Administration")
        .source(format!("keel {}", env!("CARGO_PKG_VERSION")))
}

fn write_completions(cmd: &clap::Command, dir: &Path) -> io::Result<Vec<PathBuf>> {
    fs::create_dir_all(dir)?;
    let mut files = Vec::new();
    // File names as /usr/share/bash-completion/completions,
    // /usr/share/zsh/vendor-completions and
    // /usr/share/fish/vendor_completions.d look them up.
    for (shell, name) in [
        (Shell::Bash, "keel"),
        (Shell::Zsh, "_keel"),
        (Shell::Fish, "keel.fish"),
    ] {
        let mut text = Vec::new();
        shell
            .try_generate(cmd, &mut text)
            .map_err(io::Error::other)?;
        let path = dir.join(name);
        fs::write(&path, text)?;
        files.push(path);
    }
    Ok(files)
}

/// What clap cannot know: files, signals, exit codes and the relation to
/// keepalived.
const TOP_EXTRA: &str = r#".SH COMPATIBILITY
Without a subcommand, \fBkeel\fR is the daemon and takes keepalived's flags with
keepalived's meanings, so a unit file or script that runs
\fBkeepalived \-f FILE \-n \-l \-D\fR runs \fBkeel \-f FILE \-n \-l \-D\fR unchanged.
Flags for subsystems keel lacks (SNMP, BFD, perf) are accepted and named in one
warning line. Log lines for state changes keep keepalived's wording, e.g.
\fBVRRP_Instance(VI_1) Entering MASTER STATE\fR.
.SH FILES
.TP
\fI/etc/keepalived/keepalived.conf\fR
The configuration, in keepalived's format, read unchanged. Check it with
\fBkeel check\fR (or \fBkeel \-t\fR) before starting or reloading.
.TP
\fI/etc/default/keepalived\fR, \fI/etc/default/keel\fR
\fBDAEMON_ARGS\fR for the systemd unit \fBkeel.service\fR; keel's file is read last.
.TP
\fI/run/keepalived.pid\fR
The daemon's pid file (\fB\-p\fR changes it).
.TP
\fI/run/keel/vrrp.json\fR, \fI/run/keel/lvs.json\fR
Live state read by \fBkeel status\fR and \fBkeel lvs\fR.
.TP
\fI/tmp/keepalived.data\fR, \fI/tmp/keepalived.stats\fR
Written on SIGUSR1 and SIGUSR2, as keepalived's.
.SH SIGNALS
.TP
\fBSIGHUP\fR
Reload the configuration (\fBsystemctl reload keel\fR).
.TP
\fBSIGTERM\fR, \fBSIGINT\fR
Stop: run the stop notifies, release the virtual addresses and exit.
.TP
\fBSIGUSR1\fR, \fBSIGUSR2\fR
Dump the state, the statistics. \fBkeel \-\-signum=NAME\fR prints keepalived's
signal numbers (STOP, RELOAD, DATA, STATS, STATS_CLEAR, JSON, TDATA).
.SH EXIT STATUS
\fBkeel check\fR and \fBkeel \-t\fR exit 0 for a valid configuration, 4 when it
cannot be read, 5 when it has errors and 6 when a script fails the script
security rules, as \fBkeepalived \-t\fR. \fBkeel status\fR exits 3 when keel is
not running.
.SH SEE ALSO
\fBkeel\-check\fR(8), \fBkeel\-status\fR(8), \fBkeel\-lvs\fR(8),
\fBkeepalived.conf\fR(5), \fBsystemctl\fR(1)
"#;

const SUB_EXTRA: &str = r#".SH SEE ALSO
\fBkeel\fR(8)
"#;
