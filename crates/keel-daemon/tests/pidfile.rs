//! Pid files against real processes.

use std::process::{Command, Stdio};

use keel_daemon::pidfile::{PidFile, PidFileError, read_pid};

struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Until exec completes a child still carries the test binary's name.
fn wait_for_name(pid: u32, name: &str) {
    let comm = format!("/proc/{pid}/comm");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::fs::read_to_string(&comm).unwrap_or_default().trim() != name {
        assert!(
            std::time::Instant::now() < deadline,
            "child never became {name}"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

#[test]
fn writes_our_pid_and_removes_it_on_drop() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/keepalived.pid");
    let pf = PidFile::create(&path).unwrap();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        format!("{}\n", std::process::id())
    );
    assert_eq!(pf.path(), path);
    drop(pf);
    assert!(!path.exists());
}

#[test]
fn a_held_pid_file_refuses_a_second_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vrrp.pid");
    let _held = PidFile::create(&path).unwrap();
    match PidFile::create(&path) {
        Err(PidFileError::AlreadyRunning { pid, .. }) => {
            assert_eq!(pid as u32, std::process::id())
        }
        other => panic!("second create succeeded or failed oddly: {other:?}"),
    }
    // The refused attempt must not have removed or rewritten the file.
    assert_eq!(read_pid(&path), Some(std::process::id() as i32));
}

#[test]
fn a_live_keepalived_named_process_in_the_file_refuses_start() {
    let dir = tempfile::tempdir().unwrap();
    // A process whose name is "keepalived", as a real one left running by a
    // previous daemon would be.
    let fake = dir.path().join("keepalived");
    std::fs::copy("/bin/sleep", &fake).unwrap();
    let child = Reaped(
        Command::new(&fake)
            .arg("30")
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Until exec completes the child still carries our name.
    let comm = format!("/proc/{}/comm", child.0.id());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::fs::read_to_string(&comm).unwrap_or_default().trim() != "keepalived" {
        assert!(
            std::time::Instant::now() < deadline,
            "child never became keepalived"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let path = dir.path().join("keepalived.pid");
    std::fs::write(&path, format!("{}\n", child.0.id())).unwrap();
    match PidFile::create(&path) {
        Err(PidFileError::AlreadyRunning { pid, .. }) => assert_eq!(pid as u32, child.0.id()),
        other => panic!("expected AlreadyRunning, got {other:?}"),
    }
    assert_eq!(read_pid(&path), Some(child.0.id() as i32));
}

#[test]
fn stale_pid_files_are_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("checkers.pid");

    // A dead process.
    let mut gone = Command::new("true").spawn().unwrap();
    let dead_pid = gone.id();
    gone.wait().unwrap();
    std::fs::write(&path, format!("{dead_pid}\n")).unwrap();
    let pf = PidFile::create(&path).unwrap();
    assert_eq!(read_pid(&path), Some(std::process::id() as i32));
    drop(pf);

    // A pid reused by an unrelated program after a crash.
    let other = Reaped(Command::new("sleep").arg("30").spawn().unwrap());
    wait_for_name(other.0.id(), "sleep");
    std::fs::write(&path, format!("{}\n", other.0.id())).unwrap();
    let _pf = PidFile::create(&path).unwrap();
    assert_eq!(read_pid(&path), Some(std::process::id() as i32));

    // Garbage.
    drop(_pf);
    std::fs::write(&path, "not a pid").unwrap();
    let _pf = PidFile::create(&path).unwrap();
    assert_eq!(read_pid(&path), Some(std::process::id() as i32));
}

#[test]
fn drop_leaves_a_file_someone_else_rewrote() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keepalived.pid");
    let pf = PidFile::create(&path).unwrap();
    std::fs::write(&path, "1\n").unwrap();
    drop(pf);
    assert_eq!(read_pid(&path), Some(1));
}
