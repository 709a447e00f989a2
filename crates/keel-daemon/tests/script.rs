//! Script runner against real processes.

use std::path::Path;
use std::time::{Duration, Instant};

use keel_daemon::script::{Credentials, RunOptions, Script, ScriptOutcome, ScriptRunner};

fn runner() -> ScriptRunner {
    ScriptRunner::new(8)
}

fn write_exe(path: &Path, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, body).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn pid_gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // A zombie waiting for init to reap it is dead too.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

#[tokio::test]
async fn plain_line_gets_extra_args_as_separate_argv_items() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("args");
    let exe = dir.path().join("notify.sh");
    write_exe(
        &exe,
        &format!("#!/bin/sh\nprintf '%s\\n' \"$@\" > {}\n", out.display()),
    );
    let script = Script::parse(&format!("{} master \"two words\"", exe.display())).unwrap();
    let extra = vec!["INSTANCE".to_string(), "VI 1".to_string()];
    let o = runner().run(&script, &extra, &RunOptions::default()).await;
    assert!(o.success(), "{o:?}");
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "master\ntwo words\nINSTANCE\nVI 1\n"
    );
}

#[tokio::test]
async fn bash_syntax_runs_through_bash() {
    // Seed scenario S4: `[[ ]]` is bash. Under dash `[[` is "not found" and
    // the `|| exit 0` branch would report success even with the flag file.
    let dir = tempfile::tempdir().unwrap();
    let flag = dir.path().join("down");
    let line = format!("[[ -f {} ]] && exit 1 || exit 0", flag.display());
    let script = Script::parse(&format!("\"{line}\"")).unwrap();
    let r = runner();
    assert!(r.shell().ends_with("bash"), "bash is installed here");
    let o = r.run(&script, &[], &RunOptions::default()).await;
    assert_eq!(o.code(), Some(0));
    std::fs::write(&flag, "").unwrap();
    let o = r.run(&script, &[], &RunOptions::default()).await;
    assert_eq!(o.code(), Some(1), "{o:?}");
    assert!(!o.success());
}

#[tokio::test]
async fn shell_line_gets_extra_args_quoted() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("args");
    let script = Script::parse(&format!("printf '%s\\n' > {}", out.display())).unwrap();
    let extra = vec!["GROUP".into(), "it's $HOME".into()];
    let o = runner().run(&script, &extra, &RunOptions::default()).await;
    assert!(o.success(), "{o:?}");
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "GROUP\nit's $HOME\n"
    );
}

#[tokio::test]
async fn spawn_failure_is_a_failure() {
    let script = Script::parse("/nonexistent/keel-check --x").unwrap();
    let o = runner().run(&script, &[], &RunOptions::default()).await;
    assert!(matches!(o, ScriptOutcome::SpawnFailed { .. }), "{o:?}");
    assert!(!o.success());
}

#[tokio::test]
async fn exit_status_and_first_stderr_line() {
    let script =
        Script::parse("/bin/sh -c 'echo; echo first problem >&2; echo second >&2; exit 3'")
            .unwrap();
    let o = runner().run(&script, &[], &RunOptions::default()).await;
    assert_eq!(o.code(), Some(3));
    assert_eq!(o.stderr(), Some("first problem"));
}

#[tokio::test]
async fn signal_death_is_reported() {
    let script = Script::parse("/bin/sh -c 'kill -TERM $$'").unwrap();
    let o = runner().run(&script, &[], &RunOptions::default()).await;
    assert_eq!(
        o,
        ScriptOutcome::Signaled {
            signal: 15,
            stderr: None
        }
    );
}

#[tokio::test]
async fn timeout_kills_the_whole_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let pidf = dir.path().join("bg.pid");
    let script = Script::parse(&format!("sleep 30 & echo $! > {}; wait", pidf.display())).unwrap();
    let start = Instant::now();
    let o = runner()
        .run(
            &script,
            &[],
            &RunOptions::with_timeout(Duration::from_millis(300)),
        )
        .await;
    assert_eq!(
        o,
        ScriptOutcome::TimedOut {
            after: Duration::from_millis(300)
        }
    );
    assert!(start.elapsed() < Duration::from_secs(5));
    let bg: i32 = std::fs::read_to_string(&pidf)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(3);
    while !pid_gone(bg) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(pid_gone(bg), "background child {bg} of the script survived");
}

#[tokio::test]
async fn dropping_the_future_kills_the_script() {
    let dir = tempfile::tempdir().unwrap();
    let pidf = dir.path().join("pid");
    let script = Script::parse(&format!("echo $$ > {}; exec sleep 30", pidf.display())).unwrap();
    let r = runner();
    let opts = RunOptions::default();
    let fut = r.run(&script, &[], &opts);
    let _ = tokio::time::timeout(Duration::from_millis(300), fut).await;
    let pid: i32 = std::fs::read_to_string(&pidf)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(3);
    while !pid_gone(pid) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(pid_gone(pid));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_is_bounded() {
    let script = Script::parse("sleep 0.5").unwrap();
    let opts = RunOptions::default();
    let r = ScriptRunner::new(1);
    let start = Instant::now();
    let (a, b) = tokio::join!(r.run(&script, &[], &opts), r.run(&script, &[], &opts));
    assert!(a.success() && b.success());
    assert!(
        start.elapsed() >= Duration::from_millis(990),
        "two scripts ran at once with a limit of one"
    );

    let r = ScriptRunner::new(2);
    let start = Instant::now();
    let (a, b) = tokio::join!(r.run(&script, &[], &opts), r.run(&script, &[], &opts));
    assert!(a.success() && b.success());
    assert!(start.elapsed() < Duration::from_millis(990));
}

#[tokio::test]
async fn runs_as_the_configured_user() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("id");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    let nobody = Credentials::lookup("nobody", None).unwrap();
    let script = Script::parse(&format!("id -u > {}", out.display())).unwrap();
    let opts = RunOptions {
        credentials: Some(nobody),
        timeout: Some(Duration::from_secs(10)),
        groups: None,
    };
    let o = runner().run(&script, &[], &opts).await;
    if Credentials::current().uid == 0 {
        assert!(o.success(), "{o:?}");
        assert_eq!(
            std::fs::read_to_string(&out).unwrap().trim(),
            nobody.uid.to_string()
        );
    } else {
        // Only root may switch users: the run must fail, not pretend.
        assert!(matches!(o, ScriptOutcome::SpawnFailed { .. }), "{o:?}");
    }
}

#[tokio::test]
async fn stdout_is_discarded_and_does_not_block() {
    // 1 MiB to stdout and stderr would fill pipes if anything were kept.
    let script =
        Script::parse("/bin/sh -c 'head -c 1048576 /dev/zero; head -c 1048576 /dev/zero >&2'")
            .unwrap();
    let o = runner()
        .run(
            &script,
            &[],
            &RunOptions::with_timeout(Duration::from_secs(10)),
        )
        .await;
    assert!(o.success(), "{o:?}");
}

/// keepalived runs every due script at once; 200 one-second `vrrp_script`s
/// with `interval 1` need 200 concurrent children. With a cap of 32 these
/// would take at least seven rounds (7 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_runner_runs_two_hundred_scripts_at_once() {
    let script = Script::parse("sleep 1").unwrap();
    let opts = RunOptions {
        credentials: None,
        timeout: Some(Duration::from_secs(30)),
        groups: None,
    };
    let r = ScriptRunner::default();
    let start = Instant::now();
    let runs: Vec<_> = (0..200)
        .map(|_| {
            let (r, s, o) = (r.clone(), script.clone(), opts.clone());
            tokio::spawn(async move { r.run(&s, &[], &o).await })
        })
        .collect();
    for h in runs {
        let o = h.await.unwrap();
        assert!(o.success(), "{o:?}");
    }
    let took = start.elapsed();
    assert!(took < Duration::from_secs(4), "200 scripts took {took:?}");
}

// A runner's default timeout applies to scripts run without one (the
// notify/LVS runner uses it so a hung script cannot keep its slot).
#[tokio::test]
async fn runner_default_timeout_kills_a_script_without_its_own() {
    let r = ScriptRunner::new(2).with_default_timeout(Duration::from_millis(200));
    let start = Instant::now();
    let o = r
        .run(
            &Script::parse("sleep 5").unwrap(),
            &[],
            &RunOptions::default(),
        )
        .await;
    assert!(matches!(o, ScriptOutcome::TimedOut { .. }), "{o:?}");
    assert!(start.elapsed() < Duration::from_secs(2));
}

// Scripts get a clean environment: the daemon's variables stay out.
#[tokio::test]
async fn scripts_get_a_clean_environment() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("env");
    let line = format!("env > {}", out.display());
    let o = runner()
        .run(&Script::parse(&line).unwrap(), &[], &RunOptions::default())
        .await;
    assert!(o.success(), "{o:?}");
    let env = std::fs::read_to_string(&out).unwrap();
    let keys: Vec<&str> = env
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, _)| k))
        .collect();
    for k in &keys {
        assert!(
            [
                "PATH",
                "HOME",
                "USER",
                "LOGNAME",
                "SHELL",
                "LANG",
                "LC_ALL",
                "LC_CTYPE",
                "LC_MESSAGES",
                "TZ",
                "PWD",
                "SHLVL",
                "_",
                "OLDPWD"
            ]
            .contains(k),
            "unexpected variable {k} in {env}"
        );
    }
    assert!(env.contains("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"));
}
