//! A minimal `keepalived`-style front end for [`keel_daemon::run`], for trying
//! the daemon without the `keel` binary: `keeld -f FILE [-n] [-l] [-D] [-G]
//! [-P] [-V] [-p PID] [-r PID] [-c PID] [-g[=FILE]]`.

use std::path::PathBuf;
use std::process::ExitCode;

use keel_daemon::logging::LogOptions;
use keel_daemon::{DaemonOptions, run};

fn main() -> ExitCode {
    let mut opts = DaemonOptions::new("/etc/keepalived/keepalived.conf");
    let mut log = LogOptions::default();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "-f" => opts.config_file = args.next().map(PathBuf::from).unwrap_or_default(),
            "-p" => opts.pid_file = args.next().map(PathBuf::from),
            "-r" => opts.vrrp_pid_file = args.next().map(PathBuf::from),
            "-c" => opts.checkers_pid_file = args.next().map(PathBuf::from),
            "-i" => opts.config_id = args.next(),
            "-n" => opts.foreground = true,
            "-l" => log.console = true,
            "-D" => log.detail = true,
            "-G" => log.syslog = false,
            "-P" => opts.vrrp_only = true,
            "-C" => opts.check_only = true,
            "-V" => opts.dont_release_vrrp = true,
            "-X" => opts.release_vips = true,
            other => {
                if let Some(f) = other.strip_prefix("-g") {
                    let f = f.strip_prefix('=').unwrap_or("/tmp/keepalived.log");
                    log.file = Some(PathBuf::from(f));
                } else {
                    eprintln!("keeld: unknown argument {other}");
                    return ExitCode::from(2);
                }
            }
        }
    }
    opts.log = log;
    match run(opts) {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            eprintln!("keeld: {e}");
            ExitCode::from(1)
        }
    }
}
