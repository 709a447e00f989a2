//! The `keel` binary.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod assets;
mod check;
mod cli;
#[cfg(feature = "lab")]
mod demo;

use clap::{CommandFactory, FromArgMatches};
use cli::{Cli, Command};
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let matches = Cli::command().subcommand(assets::command()).get_matches();
    if let Some((assets::COMMAND, m)) = matches.subcommand() {
        return exit_code(assets::run(m));
    }
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let code = match cli.command {
        Some(Command::Check(a)) => check::run(&check::CheckOptions {
            file: &a.file,
            strict: a.strict,
            offline: a.offline,
            config_id: a.config_id,
            json: a.json,
        }),
        Some(Command::Config(a)) => print_config(&a),
        Some(Command::Realserver(a)) => realserver(&a),
        Some(Command::Lvs(a)) => lvs(&a),
        Some(Command::Status(a)) => status(&a),
        Some(Command::Genhash(a)) => genhash(&a),
        #[cfg(feature = "lab")]
        Some(Command::Lab(cli::LabCommand::Demo(a))) => match demo::run(if a.vrrp_only {
            demo::Part::VrrpOnly
        } else if a.lb_only {
            demo::Part::LbOnly
        } else {
            demo::Part::All
        }) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("keel lab demo: {e:#}");
                1
            }
        },
        None => keepalived_mode(&cli.keepalived),
    };
    exit_code(code)
}

fn exit_code(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

fn print_config(a: &cli::ConfigArgs) -> i32 {
    match check::load(&a.file, a.config_id.clone()) {
        Ok((config, diags)) => {
            for d in &diags.items {
                eprintln!("{d}");
            }
            if a.canonical {
                print!("{}", keel_config::to_keepalived_conf(&config));
            } else {
                match serde_json::to_string_pretty(&config) {
                    Ok(s) => println!("{s}"),
                    Err(e) => {
                        eprintln!("keel config: {e}");
                        return 1;
                    }
                }
            }
            if diags.has_errors() {
                check::exit::ERRORS
            } else {
                0
            }
        }
        Err(msg) => {
            eprintln!("{msg}");
            check::exit::CANNOT_RUN
        }
    }
}

fn genhash(a: &cli::GenhashArgs) -> i32 {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("keel genhash: {e}");
            return 1;
        }
    };
    let port = a.port.unwrap_or(if a.ssl { 443 } else { 80 });
    match rt.block_on(keel_check::genhash::run(
        &a.url,
        a.server,
        port,
        a.ssl,
        a.virtualhost.as_deref(),
        a.verbose,
    )) {
        Ok(_) => 0,
        Err(e) => {
            eprintln!("keel genhash: {e}");
            1
        }
    }
}

/// `keel lvs`: the daemon's table and health, from its state file.
fn lvs(a: &cli::LvsArgs) -> i32 {
    let path = keel_daemon::lvs::state_path();
    match keel_daemon::lvs::status(&path, a.json) {
        Ok(text) => {
            print!("{text}");
            0
        }
        Err(e) => {
            eprintln!("keel lvs: {e} (is keel running with virtual servers?)");
            1
        }
    }
}

/// `keel status`: the daemon's live VRRP state (and load balancer summary).
fn status(a: &cli::StatusArgs) -> i32 {
    use keel_daemon::vrrp::status::{self, StatusError};
    let vrrp = status::state_path();
    let lvs = keel_daemon::lvs::state_path();
    match status::status(&vrrp, &lvs, a.json) {
        Ok(text) => {
            print!("{text}");
            0
        }
        Err(e @ StatusError::NotRunning(_)) => {
            eprintln!("keel status: {e}");
            3
        }
        Err(e) => {
            eprintln!("keel status: {e}");
            1
        }
    }
}

fn realserver(a: &cli::RealserverArgs) -> i32 {
    for vip in &a.vip {
        let done = if a.undo {
            keel_nft::realserver::undo(*vip, &a.dev)
        } else {
            keel_nft::realserver::prepare(*vip, &a.dev)
        };
        match done {
            Ok(actions) if actions.is_empty() => println!("{vip}: nothing to change"),
            Ok(actions) => {
                for act in actions {
                    println!("{vip}: {act}");
                }
            }
            Err(e) => {
                eprintln!("keel realserver: {vip}: {e}");
                return 1;
            }
        }
    }
    0
}

/// `keel` called with keepalived's flags.
fn keepalived_mode(flags: &cli::KeepalivedFlags) -> i32 {
    if flags.version {
        println!("keel {} (keepalived-compatible)", env!("CARGO_PKG_VERSION"));
        return 0;
    }
    if let Some(name) = &flags.signum {
        return match cli::signum(name) {
            Some(n) => {
                println!("{n}");
                0
            }
            None => {
                eprintln!("Unknown sigfunc {name}");
                1
            }
        };
    }
    let file = flags
        .use_file
        .clone()
        .unwrap_or_else(|| PathBuf::from(cli::DEFAULT_CONFIG));
    if let Some(t) = &flags.config_test {
        let file = if t.is_empty() { file } else { PathBuf::from(t) };
        return check::run(&check::CheckOptions {
            file: &file,
            strict: false,
            offline: false,
            config_id: flags.config_id.clone(),
            json: false,
        });
    }
    let unsupported = flags.unsupported();
    if !unsupported.is_empty() {
        eprintln!(
            "keel: accepted for compatibility, not acted on: {}",
            unsupported.join(", ")
        );
    }
    run_daemon(flags, file)
}

fn run_daemon(flags: &cli::KeepalivedFlags, file: PathBuf) -> i32 {
    use keel_daemon::daemon::{DaemonOptions, run};
    use keel_daemon::logging::{IDENT_VRRP, LogOptions};
    let log = match LogOptions::from_flags(
        flags.log_console,
        flags.log_detail,
        flags.no_syslog,
        flags.log_file.as_deref(),
        flags.log_facility.as_deref(),
        IDENT_VRRP,
    ) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("keel: {e}");
            return 1;
        }
    };
    let mut opts = DaemonOptions::new(file);
    opts.config_id = flags.config_id.clone();
    opts.foreground = flags.dont_fork;
    opts.log = log;
    opts.pid_file = flags.pid.clone();
    opts.vrrp_pid_file = flags.vrrp_pid.clone();
    opts.checkers_pid_file = flags.checkers_pid.clone();
    opts.vrrp_only = flags.vrrp_only;
    opts.check_only = flags.check_only;
    opts.release_vips = flags.release_vips;
    opts.dont_release_vrrp = flags.dont_release_vrrp;
    opts.dont_release_ipvs = flags.dont_release_ipvs;
    opts.namespace = flags.namespace.clone();
    opts.ignore_sigint = flags.ignore_sigint;
    if let Some(u) = &flags.umask {
        match keel_config::model::parse_umask(u) {
            Some(m) => opts.umask = Some(m),
            None => {
                eprintln!("keel: invalid umask {u}");
                return 1;
            }
        }
    }
    match run(opts) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("keel: {e}");
            1
        }
    }
}
