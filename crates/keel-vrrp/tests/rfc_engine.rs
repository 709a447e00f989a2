//! Per-rule tests of the instance state machine against RFC 3768 / RFC 5798 /
//! RFC 9568 and keepalived's measured behaviour
//! (/work/shared/notes/keepalived-probe.md §4.2, §5).

use std::net::IpAddr;
use std::time::Duration;

use keel_vrrp::config::{InstanceConfig, Version, master_down_interval, skew_time};
use keel_vrrp::garp::GarpReason;
use keel_vrrp::group::{GroupOutput, SyncGroup};
use keel_vrrp::instance::{Action, Event, Instance, LogEvent, NotifyEvent, RxAdvert, State};
use keel_vrrp::time::Instant;
use keel_vrrp::track::{TrackConfig, TrackKind, TrackState};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn t(us: u64) -> Instant {
    Instant::from_micros(us)
}

const SEC: u64 = 1_000_000;

fn cfg(prio: u8, me: &str) -> InstanceConfig {
    let mut c = InstanceConfig::new("VI_1", 51, ip(me));
    c.priority = prio;
    c.vips.vips.push(ip("192.0.2.50"));
    c
}

fn drain(i: &mut Instance) -> Vec<Action> {
    std::iter::from_fn(|| i.poll_action()).collect()
}

fn logs(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Log(l) => Some(l.to_string()),
            _ => None,
        })
        .collect()
}

fn adverts(actions: &[Action]) -> Vec<u8> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::SendAdvert { priority, .. } => Some(*priority),
            _ => None,
        })
        .collect()
}

fn adv(src: &str, priority: u8, secs_cs: u64) -> Event {
    Event::RxAdvert(RxAdvert {
        src: ip(src),
        priority,
        adver_int: Duration::from_millis(secs_cs * 10),
    })
}

fn started(c: InstanceConfig) -> Instance {
    let mut i = Instance::new(c, t(0));
    i.handle(t(0), Event::Startup);
    drain(&mut i);
    i
}

/// Drives a BACKUP to MASTER through its Master_Down timer.
fn master(c: InstanceConfig) -> (Instance, Instant) {
    let mut i = started(c);
    let at = i.poll_timeout().unwrap();
    i.handle_timeout(at);
    drain(&mut i);
    assert_eq!(i.state(), State::Master);
    (i, at)
}

#[test]
fn rfc5798_6_1_skew_and_master_down_as_measured() {
    // Probe §5: prio 90 at 1 s -> 3.648 s; prio 100 -> 3.609 s; v3 0.1 s prio 90 -> 0.365 s;
    // the centisecond (scaled) skew is used for v2 too.
    assert_eq!(
        skew_time(90, Duration::from_secs(1)),
        Duration::from_micros(648_437)
    );
    assert_eq!(
        master_down_interval(3, 90, Duration::from_secs(1)),
        Duration::from_micros(3_648_437)
    );
    assert_eq!(
        master_down_interval(3, 100, Duration::from_secs(1)),
        Duration::from_micros(3_609_375)
    );
    assert_eq!(
        master_down_interval(3, 90, Duration::from_millis(100)),
        Duration::from_micros(364_843)
    );
    assert_eq!(
        skew_time(100, Duration::from_millis(100)),
        Duration::from_micros(60_937)
    );
    // down_timer_adverts scales the first term only.
    assert_eq!(
        master_down_interval(5, 100, Duration::from_secs(1)),
        Duration::from_micros(5_609_375)
    );
}

#[test]
fn rfc5798_6_4_1_non_owner_starts_backup_and_cleans_vips() {
    let mut i = Instance::new(cfg(100, "192.0.2.1"), t(0));
    assert_eq!(i.state(), State::Init);
    assert_eq!(i.poll_timeout(), None);
    i.handle(t(5), Event::Startup);
    let a = drain(&mut i);
    assert_eq!(i.state(), State::Backup);
    // keepalived removes leftovers of a crashed run before anything else.
    assert!(matches!(a[1], Action::RemoveVips(_)), "{a:?}");
    assert!(logs(&a).contains(&"Entering BACKUP STATE (init)".to_string()));
    assert!(a.contains(&Action::Notify {
        event: NotifyEvent::Backup,
        priority: 100
    }));
    assert_eq!(i.poll_timeout(), Some(t(5 + 3_609_375)));
    assert!(adverts(&a).is_empty(), "a backup never advertises");
}

#[test]
fn rfc5798_6_4_1_owner_becomes_master_at_once_advert_first() {
    let mut i = Instance::new(cfg(255, "192.0.2.1"), t(0));
    i.handle(t(0), Event::Startup);
    drain(&mut i);
    assert_eq!(i.poll_timeout(), Some(t(1)));
    i.handle_timeout(t(1));
    let a = drain(&mut i);
    assert_eq!(i.state(), State::Master);
    let pos = |f: &dyn Fn(&Action) -> bool| a.iter().position(f).unwrap();
    let adv_pos = pos(&|x| matches!(x, Action::SendAdvert { priority: 255, .. }));
    let vip_pos = pos(&|x| matches!(x, Action::AddVips(_)));
    let garp_pos = pos(&|x| matches!(x, Action::SendGarp { count: 5, .. }));
    let notify_pos = pos(&|x| {
        matches!(
            x,
            Action::Notify {
                event: NotifyEvent::Master,
                ..
            }
        )
    });
    assert!(
        adv_pos < vip_pos && vip_pos < garp_pos && garp_pos < notify_pos,
        "{a:?}"
    );
    assert_eq!(i.poll_timeout(), Some(t(1 + SEC)));
}

#[test]
fn rfc5798_6_4_2_master_down_expiry_exactly_at_interval() {
    let mut i = started(cfg(90, "192.0.2.2"));
    let mdi = 3_648_437;
    i.handle(t(SEC), adv("192.0.2.1", 100, 100));
    assert_eq!(i.poll_timeout(), Some(t(SEC + mdi)));
    i.handle_timeout(t(SEC + mdi - 1));
    assert_eq!(i.state(), State::Backup);
    i.handle_timeout(t(SEC + mdi));
    let a = drain(&mut i);
    assert_eq!(i.state(), State::Master);
    let l = logs(&a);
    assert_eq!(
        &l[..3],
        [
            "Receive advertisement timeout",
            "Transition to MASTER STATE",
            "Entering MASTER STATE"
        ]
    );
    assert!(l.contains(&"setting protocol VIPs.".to_string()));
    assert!(l.contains(&"Sending gratuitous ARPs on eth0 for 192.0.2.50".to_string()));
}

#[test]
fn rfc3768_6_4_2_backup_priority_zero_sets_skew_time() {
    let mut i = started(cfg(90, "192.0.2.2"));
    i.handle(t(SEC), adv("192.0.2.1", 100, 100));
    i.handle(t(2 * SEC), adv("192.0.2.1", 0, 100));
    let a = drain(&mut i);
    assert_eq!(logs(&a), ["Backup received priority 0 advertisement"]);
    // Probe §5 a): takeover 0.6484 s after the priority-0 advert.
    assert_eq!(i.poll_timeout(), Some(t(2 * SEC + 648_437)));
}

#[test]
fn keepalived_backup_discards_lower_priority_without_resetting_timer() {
    // Probe §5 c): lower-priority adverts are discarded; preemption happens
    // only through Master_Down expiry.
    let mut i = started(cfg(100, "192.0.2.1"));
    let deadline = i.poll_timeout().unwrap();
    i.handle(t(SEC), adv("192.0.2.2", 90, 100));
    let a = drain(&mut i);
    assert_eq!(
        logs(&a),
        ["received lower priority (90) advert from 192.0.2.2 - discarding"]
    );
    assert_eq!(i.poll_timeout(), Some(deadline));
    // A flood of them is logged once per advert interval.
    let mut lines = 0;
    for k in 1..=1000u64 {
        i.handle(t(SEC + k * 1_000), adv("192.0.2.2", 90, 100));
        lines += logs(&drain(&mut i)).len();
    }
    assert_eq!(lines, 1, "1,000 adverts within 1 s after the first");
}

#[test]
fn rfc5798_6_4_2_accepts_equal_or_higher_and_resets_timer() {
    let mut i = started(cfg(100, "192.0.2.2"));
    i.handle(t(SEC), adv("192.0.2.1", 100, 100));
    assert_eq!(
        i.poll_timeout(),
        Some(t(SEC + 3_609_375)),
        "equal priority is accepted whatever the address"
    );
    assert_eq!(i.master_ip(), Some(ip("192.0.2.1")));
    i.handle(t(2 * SEC), adv("192.0.2.3", 200, 100));
    assert_eq!(i.poll_timeout(), Some(t(2 * SEC + 3_609_375)));
}

#[test]
fn rfc5798_6_4_2_nopreempt_accepts_lower_priority() {
    let mut c = cfg(100, "192.0.2.1");
    c.preempt = false;
    let mut i = started(c);
    i.handle(t(SEC), adv("192.0.2.2", 90, 100));
    assert!(logs(&drain(&mut i)).is_empty());
    assert_eq!(i.poll_timeout(), Some(t(SEC + 3_609_375)));
}

#[test]
fn keepalived_preempt_delay_window() {
    let mut c = cfg(100, "192.0.2.1");
    c.preempt_delay = Duration::from_secs(10);
    let mut i = started(c);
    // The window opens at the first lower-priority advert; inside it adverts are accepted.
    i.handle(t(SEC), adv("192.0.2.2", 90, 100));
    assert_eq!(i.poll_timeout(), Some(t(SEC + 3_609_375)));
    i.handle(t(10 * SEC), adv("192.0.2.2", 90, 100));
    assert_eq!(i.poll_timeout(), Some(t(10 * SEC + 3_609_375)));
    // After it closes they are discarded, so Master_Down expires.
    i.handle(t(11 * SEC), adv("192.0.2.2", 90, 100));
    assert_eq!(i.poll_timeout(), Some(t(10 * SEC + 3_609_375)));
    i.handle_timeout(t(10 * SEC + 3_609_375));
    assert_eq!(i.state(), State::Master);

    // A higher-priority advert cancels a running window.
    let mut c = cfg(100, "192.0.2.1");
    c.preempt_delay = Duration::from_secs(10);
    let mut i = started(c);
    i.handle(t(SEC), adv("192.0.2.2", 90, 100));
    i.handle(t(2 * SEC), adv("192.0.2.3", 150, 100));
    i.handle(t(3 * SEC), adv("192.0.2.2", 90, 100));
    let l = logs(&drain(&mut i));
    assert_eq!(
        l.iter()
            .filter(|l| l.contains("preemption delayed"))
            .count(),
        2,
        "{l:?}"
    );
}

#[test]
fn rfc5798_6_4_2_v3_backup_adopts_master_interval_and_reverts_as_master() {
    let mut c = cfg(100, "192.0.2.2");
    c.version = Version::V3;
    let mut i = started(c);
    i.handle(t(SEC), adv("192.0.2.1", 200, 50));
    assert_eq!(i.master_adver_int(), Duration::from_millis(500));
    // 3 * 0.5 s + (256-100) * 0.5 s / 256
    assert_eq!(i.poll_timeout(), Some(t(SEC + 1_500_000 + 304_687)));
    i.handle_timeout(t(SEC + 1_804_687));
    let a = drain(&mut i);
    assert_eq!(i.state(), State::Master);
    assert!(a.contains(&Action::SendAdvert {
        priority: 100,
        interval: Duration::from_secs(1)
    }));
    assert_eq!(i.master_adver_int(), Duration::from_secs(1));
}

#[test]
fn rfc3768_7_1_v2_drops_advert_with_other_interval() {
    let mut i = started(cfg(100, "192.0.2.2"));
    let deadline = i.poll_timeout();
    i.handle(t(SEC), adv("192.0.2.1", 200, 200));
    let l = logs(&drain(&mut i));
    assert!(l[0].contains("interval mismatch"), "{l:?}");
    assert_eq!(i.poll_timeout(), deadline);
}

#[test]
fn rfc5798_6_4_3_master_priority_zero_readvertises_and_resets_adver_timer() {
    let (mut i, at) = master(cfg(100, "192.0.2.1"));
    let now = at + Duration::from_millis(300);
    i.handle(now, adv("192.0.2.2", 0, 100));
    assert_eq!(adverts(&drain(&mut i)), [100]);
    assert_eq!(i.poll_timeout(), Some(now + Duration::from_secs(1)));
}

#[test]
fn rfc5798_6_4_3_master_yields_to_higher_priority_at_once() {
    let (mut i, at) = master(cfg(90, "192.0.2.2"));
    let now = at + Duration::from_millis(200);
    i.handle(now, adv("192.0.2.1", 100, 100));
    let a = drain(&mut i);
    assert_eq!(i.state(), State::Backup);
    let l = logs(&a);
    assert_eq!(
        l,
        [
            "Received higher prio advert from 192.0.2.1 with priority 100, ours 90",
            "Entering BACKUP STATE",
            "removing protocol VIPs."
        ]
    );
    assert!(adverts(&a).is_empty());
    assert!(a.contains(&Action::Notify {
        event: NotifyEvent::Backup,
        priority: 90
    }));
    assert_eq!(
        i.poll_timeout(),
        Some(now + Duration::from_micros(3_648_437))
    );
}

#[test]
fn keepalived_higher_prio_send_advert_advertises_before_yielding() {
    let mut c = cfg(90, "192.0.2.2");
    c.higher_prio_send_advert = true;
    let (mut i, at) = master(c);
    i.handle(at + Duration::from_millis(1), adv("192.0.2.1", 100, 100));
    let a = drain(&mut i);
    assert!(
        matches!(a[0], Action::SendAdvert { priority: 90, .. }),
        "{a:?}"
    );
    assert_eq!(i.state(), State::Backup);
}

#[test]
fn rfc5798_6_4_3_equal_priority_tiebreak_by_primary_address() {
    let (mut low, at) = master(cfg(100, "192.0.2.1"));
    low.handle(at, adv("192.0.2.2", 100, 100));
    let l = logs(&drain(&mut low));
    assert_eq!(low.state(), State::Backup);
    assert!(
        l[0].contains("same priority 100 but higher IP address"),
        "{l:?}"
    );

    let (mut high, at) = master(cfg(100, "192.0.2.2"));
    high.handle(at, adv("192.0.2.1", 100, 100));
    assert_eq!(high.state(), State::Master);
    assert_eq!(
        adverts(&drain(&mut high)),
        [100],
        "equal priority from a lower address counts as lower"
    );
}

#[test]
fn rfc9568_6_4_3_master_readvertises_on_lower_priority() {
    let (mut i, at) = master(cfg(100, "192.0.2.1"));
    let now = at + Duration::from_millis(400);
    i.handle(now, adv("192.0.2.2", 90, 100));
    let a = drain(&mut i);
    assert_eq!(i.state(), State::Master);
    assert_eq!(adverts(&a), [100]);
    assert!(a.contains(&Action::Notify {
        event: NotifyEvent::MasterRxLowerPri,
        priority: 100
    }));
    assert!(a.iter().any(|x| matches!(
        x,
        Action::SendGarp {
            reason: GarpReason::LowerPriority,
            count: 5,
            ..
        }
    )));

    // Strict mode keeps the pre-9568 rule: no re-advert.
    let mut c = cfg(100, "192.0.2.1");
    c.strict = true;
    let (mut s, at) = master(c);
    s.handle(at, adv("192.0.2.2", 90, 100));
    assert!(adverts(&drain(&mut s)).is_empty());
    let mut c = cfg(100, "192.0.2.1");
    c.lower_prio_no_advert = true;
    let (mut s, at) = master(c);
    s.handle(at, adv("192.0.2.2", 90, 100));
    assert!(adverts(&drain(&mut s)).is_empty());
}

#[test]
fn rfc9568_6_4_3_master_answers_a_flood_of_lower_priority_once_per_interval() {
    let (mut i, at) = master(cfg(100, "192.0.2.1"));
    let mut answers = 0;
    let mut notifies = 0;
    // 1,000 lower-priority and priority-0 adverts in 2.5 advert intervals.
    for k in 0..1000u64 {
        let prio = if k % 2 == 0 { 90 } else { 0 };
        i.handle(
            at + Duration::from_micros(k * 2_500),
            adv("192.0.2.2", prio, 100),
        );
        let a = drain(&mut i);
        // Periodic adverts fire from the timer, not from handle().
        answers += adverts(&a).len();
        notifies += a
            .iter()
            .filter(|x| matches!(x, Action::Notify { .. }))
            .count();
    }
    assert_eq!(i.state(), State::Master);
    assert_eq!(answers, 3, "one answer per advert interval");
    assert!(notifies <= 3, "{notifies} notifies");
    // A higher priority is never held back.
    i.handle(
        at + Duration::from_millis(2_600),
        adv("192.0.2.2", 200, 100),
    );
    drain(&mut i);
    assert_eq!(i.state(), State::Backup);
}

#[test]
fn keepalived_owner_vs_owner_lower_address_yields() {
    let mut low = Instance::new(cfg(255, "192.0.2.1"), t(0));
    low.handle(t(0), Event::Startup);
    low.handle_timeout(t(1));
    drain(&mut low);
    low.handle(t(10), adv("192.0.2.2", 255, 100));
    let a = drain(&mut low);
    assert_eq!(low.state(), State::Backup);
    assert!(
        matches!(&a[0], Action::Log(LogEvent::OwnerConflict { .. })),
        "{a:?}"
    );
}

// keepalived's second half of the owner-vs-owner rule (vrrp_state_master_rx /
// vrrp_state_master_tx): the owner with the higher address stays MASTER but
// watches the rogue; RFC 5798 §6.4.3 alone would leave two masters if the
// rogue never yields.

/// Owner 192.0.2.2 (VRRPv2, 1 s), MASTER since t = 1 µs.
fn owner_master() -> (Instance, Instant) {
    master(cfg(255, "192.0.2.2"))
}

fn run_adverts(i: &mut Instance, n: usize) -> (Vec<Action>, Instant) {
    let mut all = Vec::new();
    let mut at = t(0);
    for _ in 0..n {
        at = i.poll_timeout().unwrap();
        i.handle_timeout(at);
        all.extend(drain(i));
    }
    (all, at)
}

#[test]
fn keepalived_owner_vs_owner_higher_address_logs_conflict_once_and_stays_master() {
    let (mut i, at) = owner_master();
    i.handle(at, adv("192.0.2.1", 255, 100));
    let a = drain(&mut i);
    assert_eq!(i.state(), State::Master);
    assert_eq!(
        logs(&a)[0],
        "CONFIGURATION ERROR: local instance and 192.0.2.1 are both configured as address owner, please resolve"
    );
    // Before two of our own adverts went out, further rogue adverts are only noted.
    i.handle(at + Duration::from_millis(500), adv("192.0.2.1", 255, 100));
    let a = drain(&mut i);
    assert!(!logs(&a).iter().any(|l| l.contains("CONFIGURATION ERROR")));
    let (_, first) = run_adverts(&mut i, 1);
    i.handle(
        first + Duration::from_millis(500),
        adv("192.0.2.1", 255, 100),
    );
    drain(&mut i);
    assert_eq!(i.state(), State::Master);
    assert_eq!(i.effective_priority(), 255);
    assert!(!i.owner_demoted());
}

#[test]
fn keepalived_owner_vs_owner_rogue_still_advertising_demotes_to_254() {
    let (mut i, at) = owner_master();
    i.handle(at, adv("192.0.2.1", 255, 100));
    drain(&mut i);
    let (a, second) = run_adverts(&mut i, 2);
    assert_eq!(adverts(&a), [255, 255]);
    // The watch window is open (1.2 × 1 s after our second advert).
    i.handle(
        second + Duration::from_millis(1100),
        adv("192.0.2.1", 255, 100),
    );
    let a = drain(&mut i);
    let l = logs(&a);
    assert_eq!(
        l[0],
        "192.0.2.1 is still advertising as address owner, please resolve - reducing our priority"
    );
    assert_eq!(i.state(), State::Backup);
    assert_eq!(i.effective_priority(), 254);
    assert!(i.owner_demoted());
    assert_eq!(i.master_ip(), Some(ip("192.0.2.1")));
    assert!(a.iter().any(|x| matches!(x, Action::RemoveVips(_))));
    // The rogue keeps advertising 255: we stay a demoted BACKUP.
    let later = second + Duration::from_millis(2100);
    i.handle(later, adv("192.0.2.1", 255, 100));
    assert!(logs(&drain(&mut i)).is_empty());
    assert_eq!(i.effective_priority(), 254);
    assert_eq!(
        i.master_down_interval(),
        master_down_interval(3, 254, Duration::from_secs(1))
    );
}

#[test]
fn keepalived_owner_vs_owner_window_is_1_2_times_longest_interval() {
    // VRRPv3 so that an advert with another interval is not dropped (RFC 5798 §6.4.3).
    let mut c = cfg(255, "192.0.2.2");
    c.version = Version::V3;
    let (mut i, at) = master(c);
    i.handle(at, adv("192.0.2.1", 255, 200));
    drain(&mut i);
    let (_, second) = run_adverts(&mut i, 2);
    assert_eq!(i.poll_timeout(), Some(second + Duration::from_secs(1)));
    // Next poll is our advert; the window itself runs 1.2 × 2 s.
    let (_, third) = run_adverts(&mut i, 1);
    assert_eq!(third, second + Duration::from_secs(1));
    i.handle(
        second + Duration::from_millis(2399),
        adv("192.0.2.1", 255, 200),
    );
    drain(&mut i);
    assert_eq!(i.effective_priority(), 254);
    assert_eq!(i.state(), State::Backup);
}

#[test]
fn keepalived_owner_vs_owner_rogue_that_backs_off_ends_the_watch() {
    let (mut i, at) = owner_master();
    i.handle(at, adv("192.0.2.1", 255, 100));
    drain(&mut i);
    let (_, second) = run_adverts(&mut i, 2);
    // No advert from the rogue during the window.
    let end = second + Duration::from_millis(1200);
    let mut l = Vec::new();
    while i.poll_timeout().unwrap() <= end {
        let at = i.poll_timeout().unwrap();
        i.handle_timeout(at);
        l.extend(logs(&drain(&mut i)));
    }
    assert!(
        l.contains(&"rogue address owner appears to have stopped advertising".to_string()),
        "{l:?}"
    );
    // A later rogue advert starts a new watch instead of demoting at once.
    i.handle(end + Duration::from_millis(10), adv("192.0.2.1", 255, 100));
    let l = logs(&drain(&mut i));
    assert!(l[0].starts_with("CONFIGURATION ERROR"), "{l:?}");
    assert_eq!(i.state(), State::Master);
    assert_eq!(i.effective_priority(), 255);
}

fn demoted_backup() -> (Instance, Instant) {
    let (mut i, at) = owner_master();
    i.handle(at, adv("192.0.2.1", 255, 100));
    drain(&mut i);
    let (_, second) = run_adverts(&mut i, 2);
    let now = second + Duration::from_millis(100);
    i.handle(now, adv("192.0.2.1", 255, 100));
    drain(&mut i);
    assert!(i.owner_demoted());
    (i, now)
}

#[test]
fn keepalived_demoted_owner_restores_255_when_rogue_disappears() {
    let (mut i, _) = demoted_backup();
    // The rogue goes silent: Master_Down expires and we take over at 255.
    let at = i.poll_timeout().unwrap();
    i.handle_timeout(at);
    let a = drain(&mut i);
    assert_eq!(i.state(), State::Master);
    assert!(
        logs(&a).contains(
            &"Restoring our priority to 255 since other address owner has disappeared".to_string()
        ),
        "{a:?}"
    );
    assert_eq!(adverts(&a), [255]);
    assert_eq!(i.effective_priority(), 255);
    assert!(!i.owner_demoted());
}

#[test]
fn keepalived_demoted_owner_restores_255_on_lower_priority_advert() {
    let (mut i, now) = demoted_backup();
    // The rogue stops (priority 0): restored first, then RFC 5798 §6.4.2 skew.
    let now = now + Duration::from_millis(500);
    i.handle(now, adv("192.0.2.1", 0, 100));
    let l = logs(&drain(&mut i));
    assert_eq!(
        l[0],
        "Restoring our priority to 255 since received advert with lower priority"
    );
    assert_eq!(i.effective_priority(), 255);
    assert_eq!(
        i.poll_timeout(),
        Some(now + skew_time(255, Duration::from_secs(1)))
    );
}

#[test]
fn keepalived_demoted_owner_restores_255_on_master_change() {
    let (mut i, now) = demoted_backup();
    i.handle(now + Duration::from_millis(500), adv("192.0.2.9", 255, 100));
    let l = logs(&drain(&mut i));
    assert_eq!(
        l[0],
        "Restoring our priority to 255 since received advert with lower priority"
    );
    assert_eq!(i.effective_priority(), 255);
}

#[test]
fn keepalived_owner_ignore_adverts_never_demotes() {
    let mut c = cfg(255, "192.0.2.2");
    c.owner_ignore_adverts = true;
    let (mut i, at) = master(c);
    let mut l = Vec::new();
    for k in 0..10u64 {
        let now = at + Duration::from_millis(k * 500);
        while i.poll_timeout().unwrap() <= now {
            let due = i.poll_timeout().unwrap();
            i.handle_timeout(due);
        }
        i.handle(now, adv("192.0.2.1", 255, 100));
        l.extend(logs(&drain(&mut i)));
    }
    assert!(l.is_empty(), "{l:?}");
    assert_eq!(i.state(), State::Master);
    assert_eq!(i.effective_priority(), 255);
}

#[test]
fn keepalived_interface_down_faults_master_with_priority_zero() {
    let (mut i, at) = master(cfg(100, "192.0.2.1"));
    i.handle(at, Event::InterfaceDown);
    let a = drain(&mut i);
    assert_eq!(i.state(), State::Fault);
    assert_eq!(
        logs(&a),
        [
            "Entering FAULT STATE",
            "sent 0 priority",
            "removing protocol VIPs."
        ]
    );
    assert_eq!(adverts(&a), [0]);
    assert!(a.contains(&Action::Notify {
        event: NotifyEvent::Fault,
        priority: 100
    }));
    assert_eq!(i.poll_timeout(), None);
    // Link up: BACKUP with a full Master_Down wait (probe: 3.612 s).
    i.handle(at + Duration::from_secs(5), Event::InterfaceUp);
    drain(&mut i);
    assert_eq!(i.state(), State::Backup);
    assert_eq!(
        i.poll_timeout(),
        Some(at + Duration::from_secs(5) + Duration::from_micros(3_609_375))
    );
}

#[test]
fn keepalived_startup_with_interface_down_is_fault() {
    let mut i = Instance::new(cfg(100, "192.0.2.1"), t(0));
    i.handle(t(0), Event::InterfaceDown);
    i.handle(t(0), Event::Startup);
    drain(&mut i);
    assert_eq!(i.state(), State::Fault);
}

#[test]
fn keepalived_graceful_stop_sends_priority_zero_then_stops() {
    let (mut i, at) = master(cfg(100, "192.0.2.1"));
    i.handle(at, Event::Shutdown);
    let a = drain(&mut i);
    assert_eq!(adverts(&a), [0]);
    assert!(a.iter().any(|x| matches!(x, Action::RemoveVips(_))));
    assert!(a.contains(&Action::StateChanged {
        from: State::Master,
        to: State::Stop
    }));
    assert!(a.contains(&Action::Notify {
        event: NotifyEvent::Stop,
        priority: 100
    }));
    i.handle(at, adv("192.0.2.2", 200, 100));
    i.handle_timeout(at + Duration::from_secs(10));
    assert!(drain(&mut i).is_empty(), "a stopped instance is inert");
    assert_eq!(i.poll_timeout(), None);
}

#[test]
fn keepalived_garp_schedule() {
    // Probe §4.2: 5 GARPs at once, 5 more 5 s later, nothing after.
    let (mut i, at) = master(cfg(100, "192.0.2.1"));
    let mut garps = Vec::new();
    let mut now = at;
    while now < at + Duration::from_secs(21) {
        now = i.poll_timeout().unwrap();
        i.handle_timeout(now);
        for a in drain(&mut i) {
            if let Action::SendGarp { count, reason, .. } = a {
                garps.push((now - at, count, reason));
            }
        }
    }
    assert_eq!(
        garps,
        [(Duration::from_secs(5), 5, GarpReason::MasterDelay)]
    );

    // Leaving MASTER within 5 s cancels the second burst.
    let (mut i, at) = master(cfg(90, "192.0.2.2"));
    i.handle(at + Duration::from_secs(2), adv("192.0.2.1", 100, 100));
    drain(&mut i);
    i.handle_timeout(at + Duration::from_secs(5));
    assert!(
        !drain(&mut i)
            .iter()
            .any(|a| matches!(a, Action::SendGarp { .. }))
    );

    // garp_master_refresh: periodic bursts of refresh_repeat.
    let mut c = cfg(100, "192.0.2.1");
    c.garp.master_refresh = Duration::from_secs(30);
    c.garp.master_refresh_repeat = 2;
    let (mut i, at) = master(c);
    let mut refreshes = Vec::new();
    let mut now = at;
    while now < at + Duration::from_secs(65) {
        now = i.poll_timeout().unwrap();
        i.handle_timeout(now);
        for a in drain(&mut i) {
            if let Action::SendGarp {
                count: 2,
                reason: GarpReason::Refresh,
                ..
            } = a
            {
                refreshes.push(now - at);
            }
        }
    }
    assert_eq!(
        refreshes,
        [Duration::from_secs(30), Duration::from_secs(60)]
    );
}

#[test]
fn keepalived_master_advertises_every_interval() {
    let (mut i, at) = master(cfg(100, "192.0.2.1"));
    let mut sent = Vec::new();
    for _ in 0..4 {
        let now = i.poll_timeout().unwrap();
        i.handle_timeout(now);
        if !adverts(&drain(&mut i)).is_empty() {
            sent.push(now - at);
        }
    }
    assert_eq!(sent, [1, 2, 3, 4].map(Duration::from_secs));
}

#[test]
fn keepalived_tracking_changes_effective_priority_and_skew() {
    let mut c = cfg(100, "192.0.2.1");
    c.tracks
        .push(TrackConfig::new(7, "chk_down", TrackKind::Script, -5));
    let (mut i, at) = master(c);
    i.handle(
        at,
        Event::Track {
            id: 7,
            state: TrackState::Down,
        },
    );
    let a = drain(&mut i);
    assert_eq!(logs(&a), ["Changing effective priority from 100 to 95"]);
    assert_eq!(i.effective_priority(), 95);
    let now = i.poll_timeout().unwrap();
    i.handle_timeout(now);
    assert_eq!(
        adverts(&drain(&mut i)),
        [95],
        "adverts carry the effective priority"
    );
    // As BACKUP the skew uses the effective priority.
    i.handle(now, adv("192.0.2.2", 98, 100));
    drain(&mut i);
    assert_eq!(
        i.master_down_interval(),
        Duration::from_micros(3_000_000 + 628_906)
    );
}

#[test]
fn keepalived_weight_zero_tracker_faults_and_recovers() {
    let mut c = cfg(100, "192.0.2.1");
    c.tracks
        .push(TrackConfig::new(1, "eth1", TrackKind::Interface, 0));
    let (mut i, at) = master(c);
    i.handle(
        at,
        Event::Track {
            id: 1,
            state: TrackState::Down,
        },
    );
    assert_eq!(adverts(&drain(&mut i)), [0]);
    assert_eq!(i.state(), State::Fault);
    i.handle(
        at,
        Event::Track {
            id: 1,
            state: TrackState::Up,
        },
    );
    drain(&mut i);
    assert_eq!(i.state(), State::Backup);
}

#[test]
fn keepalived_owner_is_immune_to_weights() {
    let mut c = cfg(255, "192.0.2.1");
    c.tracks
        .push(TrackConfig::new(1, "chk", TrackKind::Script, -50));
    let mut i = started(c);
    i.handle(
        t(0),
        Event::Track {
            id: 1,
            state: TrackState::Down,
        },
    );
    assert_eq!(i.effective_priority(), 255);
}

#[test]
fn keepalived_backup_outranking_master_logs_forced_election() {
    let mut c = cfg(100, "192.0.2.1");
    c.tracks
        .push(TrackConfig::new(1, "chk_down", TrackKind::Script, -5));
    let mut i = started(c);
    i.handle(
        t(0),
        Event::Track {
            id: 1,
            state: TrackState::Down,
        },
    );
    i.handle(t(SEC), adv("192.0.2.2", 98, 100));
    drain(&mut i);
    i.handle(
        t(2 * SEC),
        Event::Track {
            id: 1,
            state: TrackState::Up,
        },
    );
    let l = logs(&drain(&mut i));
    assert_eq!(
        l,
        [
            "Changing effective priority from 95 to 100",
            "forcing a new MASTER election"
        ]
    );
}

#[test]
fn keepalived_force_election_makes_backup_master() {
    let mut i = started(cfg(90, "192.0.2.2"));
    i.handle(t(SEC), adv("192.0.2.1", 100, 100));
    i.handle(t(2 * SEC), Event::ForceElection);
    assert_eq!(i.state(), State::Master);
}

fn group_outputs(g: &mut SyncGroup) -> Vec<GroupOutput> {
    std::iter::from_fn(|| g.poll_output()).collect()
}

fn two_member_group() -> SyncGroup {
    let mut a = cfg(100, "192.0.2.1");
    a.name = "VI_A".into();
    let mut b = cfg(100, "192.0.2.1");
    b.name = "VI_B".into();
    b.vrid = 52;
    b.vips.vips = vec![ip("192.0.2.60")];
    let mut g = SyncGroup::new("G1", vec![a, b], t(0));
    g.handle_all(t(0), Event::Startup);
    group_outputs(&mut g);
    g
}

#[test]
fn keepalived_sync_group_waits_for_every_member() {
    let mut g = two_member_group();
    // Member B keeps hearing a better master, member A's timer expires alone.
    g.handle(t(3 * SEC), 1, adv("192.0.2.9", 200, 100));
    g.handle_timeout(t(3_609_375));
    assert_eq!(g.member(0).unwrap().state(), State::Backup);
    assert!(g.member(0).unwrap().wants_master());
    // B's timer expires too: both go MASTER together.
    g.handle_timeout(t(3 * SEC + 3_609_375));
    let out = group_outputs(&mut g);
    assert_eq!(g.member(0).unwrap().state(), State::Master);
    assert_eq!(g.member(1).unwrap().state(), State::Master);
    assert!(out.contains(&GroupOutput::StateChanged {
        from: State::Backup,
        to: State::Master
    }));
}

#[test]
fn keepalived_sync_group_pulled_to_backup_and_faulted_together() {
    let mut g = two_member_group();
    g.handle_timeout(t(3_609_375));
    assert_eq!(g.state(), State::Master);
    // A higher-priority router takes member B: member A follows.
    g.handle(t(4 * SEC), 1, adv("192.0.2.9", 200, 100));
    assert_eq!(g.member(1).unwrap().state(), State::Backup);
    assert_eq!(g.member(0).unwrap().state(), State::Backup);
    // A member fault faults the group; recovery returns every member to BACKUP.
    g.handle(t(5 * SEC), 0, Event::InterfaceDown);
    assert_eq!(g.member(0).unwrap().state(), State::Fault);
    assert_eq!(g.member(1).unwrap().state(), State::Fault);
    assert_eq!(g.state(), State::Fault);
    g.handle(t(6 * SEC), 0, Event::InterfaceUp);
    assert_eq!(g.member(0).unwrap().state(), State::Backup);
    assert_eq!(g.member(1).unwrap().state(), State::Backup);
}
