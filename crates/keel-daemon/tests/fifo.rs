//! Notify FIFOs against real named pipes.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::time::{Duration, Instant};

use keel_daemon::fifo::{
    FifoError, FifoEvent, FifoSet, NotifyFifo, Protocol, WriteStatus, format_service,
};
use keel_daemon::notify::NotifyState;
use keel_daemon::script::{RunOptions, Script, default_shell};

fn instance(state: NotifyState, priority: u8) -> FifoEvent {
    FifoEvent::Instance {
        name: "VI_1".into(),
        state,
        priority,
    }
}

fn open_reader(path: &Path) -> BufReader<std::fs::File> {
    // A writer (ours, opened read-write) exists, so this open does not block.
    BufReader::new(std::fs::File::open(path).unwrap())
}

#[test]
fn creates_the_fifo_and_writes_keepalived_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.fifo");
    let fifo = NotifyFifo::open(&path, None).unwrap();
    assert!(std::fs::metadata(&path).unwrap().file_type().is_fifo());
    let mut reader = open_reader(&path);

    let vs = format_service("192.0.2.111".parse().unwrap(), Protocol::Tcp, 80);
    let rs = format_service("192.0.2.11".parse().unwrap(), Protocol::Tcp, 80);
    let events = [
        instance(NotifyState::Master, 100),
        FifoEvent::Group {
            name: "G1".into(),
            state: NotifyState::Backup,
        },
        FifoEvent::VirtualServer {
            vs: vs.clone(),
            up: true,
        },
        FifoEvent::RealServer { rs, vs, up: false },
    ];
    for e in &events {
        assert_eq!(fifo.write_event(e).unwrap(), WriteStatus::Written);
    }
    let mut got = Vec::new();
    for _ in 0..events.len() {
        let mut l = String::new();
        reader.read_line(&mut l).unwrap();
        got.push(l);
    }
    assert_eq!(
        got,
        vec![
            "INSTANCE \"VI_1\" MASTER 100\n",
            "GROUP \"G1\" BACKUP 0\n",
            "VS [192.0.2.111]:tcp:80 UP\n",
            "RS [192.0.2.11]:tcp:80 [192.0.2.111]:tcp:80 DOWN\n",
        ]
    );
}

#[test]
fn without_a_reader_writes_never_block_and_overflow_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("noreader.fifo");
    let fifo = NotifyFifo::open(&path, None).unwrap();
    let start = Instant::now();
    let mut dropped = 0u64;
    // Far more than a pipe buffer (64 KiB by default).
    for _ in 0..10_000 {
        if fifo
            .write_event(&instance(NotifyState::Backup, 90))
            .unwrap()
            == WriteStatus::Dropped
        {
            dropped += 1;
        }
    }
    assert!(start.elapsed() < Duration::from_secs(2));
    assert!(dropped > 0);
    assert_eq!(fifo.dropped(), dropped);
    // What fitted in the pipe is whole lines only.
    let mut reader = open_reader(&path);
    let mut l = String::new();
    reader.read_line(&mut l).unwrap();
    assert_eq!(l, "INSTANCE \"VI_1\" BACKUP 90\n");
}

#[test]
fn refuses_a_path_that_is_not_a_fifo() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plain");
    std::fs::write(&path, "").unwrap();
    assert!(matches!(
        NotifyFifo::open(&path, None),
        Err(FifoError::NotOurFifo(_))
    ));
    let link = dir.path().join("link");
    std::os::unix::fs::symlink("/dev/null", &link).unwrap();
    assert!(NotifyFifo::open(&link, None).is_err());
}

#[test]
fn removes_only_a_fifo_it_created() {
    let dir = tempfile::tempdir().unwrap();
    let ours = dir.path().join("ours.fifo");
    drop(NotifyFifo::open(&ours, None).unwrap());
    assert!(!ours.exists());

    let theirs = dir.path().join("theirs.fifo");
    nix::unistd::mkfifo(&theirs, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    drop(NotifyFifo::open(&theirs, None).unwrap());
    assert!(theirs.exists());
}

#[test]
fn fifo_set_routes_lines_to_general_and_subsystem_fifos() {
    let dir = tempfile::tempdir().unwrap();
    let open = |n: &str| std::sync::Arc::new(NotifyFifo::open(dir.path().join(n), None).unwrap());
    let set = FifoSet {
        notify: Some(open("all")),
        vrrp: Some(open("vrrp")),
        lvs: Some(open("lvs")),
    };
    set.send(&instance(NotifyState::Fault, 0));
    set.send(&FifoEvent::VirtualServer {
        vs: "FWM 7".into(),
        up: false,
    });
    let mut all = open_reader(&dir.path().join("all"));
    let mut vrrp = open_reader(&dir.path().join("vrrp"));
    let mut lvs = open_reader(&dir.path().join("lvs"));
    let line = |r: &mut BufReader<std::fs::File>| {
        let mut l = String::new();
        r.read_line(&mut l).unwrap();
        l
    };
    assert_eq!(line(&mut all), "INSTANCE \"VI_1\" FAULT 0\n");
    assert_eq!(line(&mut all), "VS FWM 7 DOWN\n");
    assert_eq!(line(&mut vrrp), "INSTANCE \"VI_1\" FAULT 0\n");
    assert_eq!(line(&mut lvs), "VS FWM 7 DOWN\n");
    // Nothing else queued on the subsystem FIFOs.
    assert_eq!(set.vrrp.as_ref().unwrap().dropped(), 0);
    nix::fcntl::fcntl(
        vrrp.get_ref(),
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    )
    .unwrap();
    let mut rest = String::new();
    assert!(vrrp.read_line(&mut rest).is_err() || rest.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_fifo_script_gets_the_path_and_dies_with_the_fifo() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("script.fifo");
    let out = dir.path().join("copied");
    let pidf = dir.path().join("pid");
    let script = Script::parse(&format!(
        // Loops like readers that reopen the FIFO: only a kill stops it.
        "/bin/sh -c 'echo $$ > {}; while :; do cat \"$1\" >> {}; sleep 0.05; done' fifo-reader",
        pidf.display(),
        out.display()
    ))
    .unwrap();
    let fifo = NotifyFifo::open_with_script(
        &path,
        None,
        &script,
        &RunOptions::default(),
        &default_shell(),
    )
    .unwrap();
    fifo.write_event(&instance(NotifyState::Master, 100))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let got = std::fs::read_to_string(&out).unwrap_or_default();
        if got == "INSTANCE \"VI_1\" MASTER 100\n" {
            break;
        }
        assert!(Instant::now() < deadline, "reader got {got:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pid: i32 = std::fs::read_to_string(&pidf)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    drop(fifo);
    assert!(!path.exists());
    let deadline = Instant::now() + Duration::from_secs(5);
    while nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z")
    {
        assert!(Instant::now() < deadline, "fifo script {pid} still running");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// The FIFO keel creates is handed to its configured owner through the
// descriptor it opened (never by path, which may have been swapped for a
// link meanwhile), with keepalived's 0644 whatever the umask.
#[test]
fn created_fifo_is_given_to_its_owner() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    if nix::unistd::Uid::effective().as_raw() != 0 {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("owned.fifo");
    let nobody = keel_daemon::script::Credentials::lookup("nobody", None).unwrap();
    let fifo = NotifyFifo::open(&path, Some(nobody)).unwrap();
    let m = std::fs::metadata(&path).unwrap();
    assert_eq!((m.uid(), m.gid()), (nobody.uid, nobody.gid));
    assert_eq!(m.permissions().mode() & 0o777, 0o644);
    drop(fifo);
}
