//! A crashing MASTER hands over like a stopping one: fatal signals and
//! panics send priority 0 (prepared in advance, from the signal handler or
//! the panic hook) and remove the VIP, so the BACKUP takes over after
//! Skew_Time (RFC 3768 §6.4.2: on priority 0, Master_Down_Timer is set to
//! Skew_Time) instead of Master_Down_Interval (3.65 s at advert_int 1).
//! And address changes stuck in the kernel never delay an advert.

mod vrrp_common;

use std::time::Duration;

use vrrp_common::*;

const VIP: &str = "192.0.2.111";
const S: Duration = Duration::from_secs(1);
/// Node two's Skew_Time: (256 - 90) / 256 s (RFC 3768 §6.1).
const SKEW_TWO: Duration = Duration::from_micros(648_438);

/// (capture time, source, priority) of the VRRP adverts among `frames`.
fn adverts(frames: &[keel_lab::CapturedPacket]) -> Vec<(Duration, std::net::IpAddr, u8)> {
    frames
        .iter()
        .filter_map(|p| {
            let d = &p.data;
            if d.len() < 14 + 20 + 8 || d[12..14] != [0x08, 0x00] || d[14 + 9] != 112 {
                return None;
            }
            let ihl = usize::from(d[14] & 0x0f) * 4;
            let src: [u8; 4] = d[26..30].try_into().ok()?;
            Some((p.ts, src.into(), *d.get(14 + ihl + 2)?))
        })
        .collect()
}

/// Nodes one (MASTER, with `env`) and two (BACKUP) settled; `crash` makes
/// node one die; returns node one's last advert to node two's first on the
/// wire, after checking node one died non-zero, sent priority 0 and no
/// longer holds the VIP.
fn takeover_after(hint: &str, env: &[(&str, &str)], crash: impl FnOnce(&Daemon)) -> Duration {
    let t = topo(hint);
    let one = Daemon::start_env(&t.lab, &t.one, &seed("s1-node1", &[]), Impl::Keel, env);
    let two = Daemon::start(&t.lab, &t.two, &seed("s1-node2", &[]));
    one.wait_vip(VIP, true, 6 * S);
    two.wait_log("VRRP_Instance(VI_1) Entering BACKUP STATE", 5 * S);
    let cap = t.lab.capture(&t.client, "ip proto 112").unwrap();
    // A few periodic adverts on the capture first.
    std::thread::sleep(2 * S);
    crash(&one);
    let status = one.proc.wait_timeout(3 * S).unwrap();
    let status = status.unwrap_or_else(|| panic!("node one still runs; log:\n{}", one.log()));
    assert!(!status.success(), "node one exited with {status:?}");
    two.wait_vip(VIP, true, 3 * S);
    std::thread::sleep(2 * S);
    let frames = cap.stop().unwrap();
    let ads = adverts(&frames);
    let (one_ip, two_ip) = (ip("192.0.2.3"), ip("192.0.2.5"));
    let last_one = ads
        .iter()
        .rfind(|a| a.1 == one_ip)
        .expect("no advert of node one");
    assert_eq!(
        last_one.2, 0,
        "node one's last advert is not priority 0: {ads:?}"
    );
    let first_two = ads
        .iter()
        .find(|a| a.1 == two_ip)
        .expect("no advert of node two");
    assert!(!one.has_vip(VIP), "the crashed node still holds the VIP");
    assert!(
        two.log()
            .contains("VRRP_Instance(VI_1) Backup received priority 0 advertisement"),
        "{}",
        two.log()
    );
    first_two.0.saturating_sub(last_one.0)
}

fn assert_fast(what: &str, took: Duration) {
    eprintln!("{what}: BACKUP advertised {took:?} after the crashed MASTER's priority 0");
    assert!(
        took <= SKEW_TWO + Duration::from_millis(100),
        "{what}: takeover took {took:?}, Skew_Time is {SKEW_TWO:?}"
    );
    assert!(took < S, "{what}: takeover took {took:?}");
}

#[test]
fn sigsegv_on_master_hands_over_in_skew_time() {
    let took = takeover_after("csegv", &[], |one| one.signal(LabSignal::SIGSEGV));
    assert_fast("SIGSEGV", took);
}

#[test]
fn sigabrt_on_master_hands_over_in_skew_time() {
    let took = takeover_after("cabrt", &[], |one| one.signal(LabSignal::SIGABRT));
    assert_fast("SIGABRT", took);
}

#[test]
fn panic_in_vrrp_thread_hands_over_in_skew_time() {
    let env = [("KEEL_FAULT_INJECT", "panic-vrrp")];
    let took = takeover_after("cpanic", &env, |one| one.signal(LabSignal::SIGUSR1));
    assert_fast("panic in the VRRP thread", took);
}

#[test]
fn panic_in_main_thread_hands_over_in_skew_time() {
    let env = [("KEEL_FAULT_INJECT", "panic-main")];
    let took = takeover_after("cpmain", &env, |one| one.signal(LabSignal::SIGUSR1));
    assert_fast("panic in the services thread", took);
}

// An address add stuck 3 s in the kernel (KEEL_NETLINK_DELAY_MS, debug
// builds) while the node becomes MASTER: the adverts keep their 1 s
// interval (RFC 3768 §6.4.3: one every Advertisement_Interval) and the VIP
// arrives once the change went through.
#[test]
fn slow_address_change_never_delays_an_advert() {
    let t = topo("cslow");
    let cap = t
        .lab
        .capture(&t.client, "ip proto 112 and src host 192.0.2.3")
        .unwrap();
    let env = [("KEEL_NETLINK_DELAY_MS", "3000")];
    let one = Daemon::start_env(&t.lab, &t.one, &seed("s1-node1", &[]), Impl::Keel, &env);
    one.wait_log("VRRP_Instance(VI_1) Entering MASTER STATE", 6 * S);
    let master_at = std::time::Instant::now();
    std::thread::sleep(S + S / 2);
    assert!(!one.has_vip(VIP), "the delay hook is not in effect");
    one.wait_vip(VIP, true, 4 * S);
    let vip_after = master_at.elapsed();
    std::thread::sleep(2 * S);
    let frames = cap.stop().unwrap();
    let ts: Vec<Duration> = adverts(&frames).iter().map(|a| a.0).collect();
    assert!(ts.len() >= 5, "only {} adverts captured", ts.len());
    let gaps: Vec<Duration> = ts.windows(2).map(|w| w[1] - w[0]).collect();
    let worst = gaps.iter().map(|g| g.abs_diff(S)).max().unwrap_or_default();
    eprintln!(
        "slow netlink: VIP added {vip_after:?} after MASTER, {} adverts, worst interval error {worst:?}",
        ts.len()
    );
    assert!(
        worst <= Duration::from_millis(50),
        "advert intervals {gaps:?}"
    );
}

// A socket reader that panics on the BACKUP is not swallowed (its instance
// would go deaf, then MASTER next to the real one): the process ends, so
// the service manager restarts it, and the MASTER keeps the VIP alone.
#[test]
fn panic_in_socket_reader_ends_the_process() {
    let t = topo("creader");
    let one = Daemon::start(&t.lab, &t.one, &seed("s1-node1", &[]));
    let env = [("KEEL_FAULT_INJECT", "panic-reader")];
    let two = Daemon::start_env(&t.lab, &t.two, &seed("s1-node2", &[]), Impl::Keel, &env);
    one.wait_vip(VIP, true, 6 * S);
    two.wait_log("VRRP_Instance(VI_1) Entering BACKUP STATE", 5 * S);
    two.signal(LabSignal::SIGUSR1);
    let status = two.proc.wait_timeout(3 * S).unwrap();
    let status = status.unwrap_or_else(|| panic!("node two still runs; log:\n{}", two.log()));
    assert!(!status.success(), "node two exited with {status:?}");
    assert!(
        two.log().contains("injected fault: panic-reader"),
        "{}",
        two.log()
    );
    assert!(one.has_vip(VIP) && !two.has_vip(VIP));
}
