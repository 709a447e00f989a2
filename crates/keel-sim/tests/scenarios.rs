//! Multi-node scenarios on the simulator, checked against keepalived's
//! measured behaviour (/work/shared/notes/keepalived-probe.md §5, §7) and the
//! seed scenarios (/work/shared/seed-scenarios.md S1, S2, S4, S5, S7).

use std::net::IpAddr;
use std::time::Duration;

use keel_sim::{Command, LinkParams, NodeId, Sim, UnitId};
use keel_vrrp::config::{InstanceConfig, Version};
use keel_vrrp::instance::{Event, NotifyEvent, State};
use keel_vrrp::time::Instant;
use keel_vrrp::track::{TrackConfig, TrackKind, TrackState};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn secs(s: f64) -> Instant {
    Instant::from_micros((s * 1e6).round() as u64)
}

fn us(n: u64) -> Duration {
    Duration::from_micros(n)
}

const VIP: &str = "192.0.2.111";

fn inst(name: &str, vrid: u8, prio: u8, me: &str, vip: &str) -> InstanceConfig {
    let mut c = InstanceConfig::new(name, vrid, ip(me));
    c.priority = prio;
    c.vips.vips.push(ip(vip));
    c
}

/// Node one 192.0.2.3 (prio 100), node two 192.0.2.5 (prio 90), VRID 101.
fn pair(sim: &mut Sim, f: impl Fn(&mut InstanceConfig)) -> (NodeId, NodeId) {
    let one = sim.add_node("one");
    let two = sim.add_node("two");
    let mut c1 = inst("VI_1", 101, 100, "192.0.2.3", VIP);
    let mut c2 = inst("VI_1", 101, 90, "192.0.2.5", VIP);
    f(&mut c1);
    f(&mut c2);
    sim.add_instance(one, c1);
    sim.add_instance(two, c2);
    (one, two)
}

fn last_advert_before(sim: &Sim, node: NodeId, t: Instant) -> Instant {
    sim.adverts()
        .iter()
        .filter(|a| a.node == node && a.t <= t && a.priority > 0)
        .map(|a| a.t)
        .max()
        .unwrap()
}

#[test]
fn s1_backup_alone_becomes_master_then_master_preempts() {
    let mut sim = Sim::new(1);
    let (one, two) = pair(&mut sim, |_| {});
    sim.at(secs(0.0), Command::Start(two));
    sim.at(secs(10.0), Command::Start(one));
    sim.run_until(secs(30.0));

    // Node two alone: MASTER after its own Master_Down (prio 90: 3.648437 s).
    assert_eq!(
        sim.first_time(two, State::Master),
        Some(Instant::from_micros(3_648_437))
    );
    for text in [
        "Transition to MASTER STATE",
        "Entering MASTER STATE",
        "setting protocol VIPs.",
        "Sending gratuitous ARPs on eth0 for 192.0.2.111",
    ] {
        assert!(sim.first_log(two, text).is_some(), "{text}");
    }
    assert_eq!(sim.holders_at(secs(5.0), ip(VIP)), [two]);

    // Node one starts BACKUP, discards the lower adverts, preempts at its Master_Down.
    let one_master = sim.first_time(one, State::Master).unwrap();
    assert_eq!(one_master, secs(10.0) + us(3_609_375));
    assert!(
        sim.first_log(
            one,
            "received lower priority (90) advert from 192.0.2.5 - discarding"
        )
        .is_some()
    );
    // Node two yields in the same instant (its advert arrives with zero delay).
    let t2 = sim.first_log(two, "Received higher prio advert").unwrap();
    assert_eq!(t2, one_master);
    assert_eq!(
        sim.first_time_after(two, State::Backup, secs(10.0)),
        Some(one_master)
    );
    assert!(
        sim.node_logs(two)
            .any(|l| l.t == one_master && l.line == "(VI_1) removing protocol VIPs.")
    );
    assert!(
        sim.node_logs(two)
            .any(|l| l.t == one_master && l.line == "(VI_1) Entering BACKUP STATE")
    );
    assert_eq!(sim.holders_at(secs(20.0), ip(VIP)), [one]);
    assert_eq!(sim.max_overlap_after(secs(10.0), ip(VIP)), Duration::ZERO);
    // The second GARP burst goes out 5 s after becoming master.
    let bursts: Vec<_> = sim
        .garps()
        .iter()
        .filter(|g| g.node == one)
        .map(|g| g.t)
        .collect();
    assert_eq!(bursts, [one_master, one_master + Duration::from_secs(5)]);
}

#[test]
fn s2_master_master_two_vrids() {
    let mut sim = Sim::new(2);
    let one = sim.add_node("one");
    let two = sim.add_node("two");
    sim.add_instance(one, inst("VI_1", 101, 100, "192.0.2.3", "192.0.2.111"));
    sim.add_instance(one, inst("VI_2", 111, 90, "192.0.2.3", "192.0.2.122"));
    sim.add_instance(two, inst("VI_1", 101, 90, "192.0.2.5", "192.0.2.111"));
    sim.add_instance(two, inst("VI_2", 111, 100, "192.0.2.5", "192.0.2.122"));
    sim.at(secs(0.0), Command::Start(one));
    sim.at(secs(0.0), Command::Start(two));
    sim.at(secs(20.0), Command::Stop(two));
    sim.at(secs(30.0), Command::Start(two));
    sim.run_until(secs(45.0));
    assert_eq!(sim.holders_at(secs(10.0), ip("192.0.2.111")), [one]);
    assert_eq!(sim.holders_at(secs(10.0), ip("192.0.2.122")), [two]);
    // Node two stopped: node one holds both (after Skew_Time of prio 90).
    assert_eq!(sim.holders_at(secs(21.0), ip("192.0.2.122")), [one]);
    assert_eq!(sim.holders_at(secs(21.0), ip("192.0.2.111")), [one]);
    // Back: each VIP returns to its preferred node.
    assert_eq!(sim.holders_at(secs(40.0), ip("192.0.2.111")), [one]);
    assert_eq!(sim.holders_at(secs(40.0), ip("192.0.2.122")), [two]);
    assert_eq!(sim.masters_at(secs(40.0), 111), [two]);
}

/// S4/S5: `vrrp_script` with weight -5 on node one (100 -> 95 < 98).
#[test]
fn s4_s5_script_failure_moves_vip_and_recovery_brings_it_back() {
    let mut sim = Sim::new(4);
    let one = sim.add_node("one");
    let two = sim.add_node("two");
    let mut c1 = inst("VI_1", 101, 100, "192.0.2.3", "192.0.2.166");
    c1.tracks
        .push(TrackConfig::new(1, "chk_down", TrackKind::Script, -5));
    let c2 = inst("VI_1", 101, 98, "192.0.2.5", "192.0.2.166");
    let u1 = sim.add_instance(one, c1);
    sim.add_instance(two, c2);
    sim.at(secs(0.0), Command::Start(one));
    sim.at(secs(0.0), Command::Start(two));
    // touch /etc/keepalived/down (the script verdict flips after its fall count).
    sim.at(
        secs(20.0),
        Command::Track {
            node: one,
            unit: u1,
            member: 0,
            id: 1,
            state: TrackState::Down,
        },
    );
    sim.at(
        secs(40.0),
        Command::Track {
            node: one,
            unit: u1,
            member: 0,
            id: 1,
            state: TrackState::Up,
        },
    );
    sim.run_until(secs(60.0));

    assert_eq!(sim.holders_at(secs(19.0), ip("192.0.2.166")), [one]);
    assert!(
        sim.first_log(one, "Changing effective priority from 100 to 95")
            .is_some()
    );
    // Node two discards prio-95 adverts and takes over at its Master_Down after
    // the last prio-100 advert (probe §7).
    let last100 = sim
        .adverts()
        .iter()
        .filter(|a| a.node == one && a.priority == 100 && a.t <= secs(20.0))
        .map(|a| a.t)
        .max()
        .unwrap();
    let takeover = sim
        .first_time_after(two, State::Master, secs(20.0))
        .unwrap();
    assert_eq!(takeover, last100 + us(3_617_187));
    assert!(
        sim.first_log(
            two,
            "received lower priority (95) advert from 192.0.2.3 - discarding"
        )
        .is_some()
    );
    let yielded = sim.first_log(one, "Received higher prio advert").unwrap();
    assert_eq!(yielded, takeover);
    assert!(
        sim.node_logs(one)
            .any(|l| l.t == yielded && l.line.ends_with("removing protocol VIPs."))
    );
    assert_eq!(sim.holders_at(secs(30.0), ip("192.0.2.166")), [two]);

    // Recovery: priority back to 100, forced election, MASTER again after Master_Down.
    let f = sim.first_log(one, "forcing a new MASTER election").unwrap();
    assert_eq!(f, secs(40.0));
    // keepalived does not re-arm the running timer on a priority change: the
    // last prio-98 advert accepted (at prio 95) plus that Master_Down.
    let back = sim
        .first_time_after(one, State::Master, secs(40.0))
        .unwrap();
    let last98 = last_advert_before(&sim, two, secs(40.0));
    assert_eq!(back, last98 + us(3_628_906));
    assert!(
        sim.first_log(
            one,
            "received lower priority (98) advert from 192.0.2.5 - discarding"
        )
        .is_some()
    );
    assert!(sim.garps().iter().any(|g| g.node == one && g.t == back));
    assert_eq!(sim.holders_at(secs(50.0), ip("192.0.2.166")), [one]);
}

#[test]
fn s7_nopreempt_recovered_node_stays_backup() {
    let mut sim = Sim::new(7);
    let (one, two) = pair(&mut sim, |c| c.preempt = false);
    sim.at(secs(0.0), Command::Start(two));
    sim.at(secs(10.0), Command::Start(one));
    sim.at(secs(60.0), Command::Crash(two));
    sim.run_until(secs(70.0));
    assert_eq!(sim.holders_at(secs(59.0), ip(VIP)), [two]);
    assert_eq!(
        sim.first_time(one, State::Master),
        Some(last_advert_before(&sim, two, secs(60.0)) + us(3_609_375))
    );
}

#[test]
fn master_crash_takeover_at_master_down_after_last_advert_v2() {
    let mut sim = Sim::new(11);
    let (one, two) = pair(&mut sim, |_| {});
    sim.at(secs(0.0), Command::Start(one));
    sim.at(secs(0.0), Command::Start(two));
    sim.at(secs(20.37), Command::Crash(one));
    sim.run_until(secs(30.0));
    let last = last_advert_before(&sim, one, secs(20.37));
    let t = sim
        .first_time_after(two, State::Master, secs(20.0))
        .unwrap();
    // Probe §5 b): 3.649 s from the last advert for prio 90 at 1 s.
    assert_eq!(t - last, us(3_648_437));
    // SIGKILL leaves the VIP on the dead node: both hold it.
    assert_eq!(sim.holders_at(secs(25.0), ip(VIP)), [one, two]);
}

#[test]
fn master_crash_takeover_v3_fast_adverts() {
    let mut sim = Sim::new(12);
    let (one, two) = pair(&mut sim, |c| {
        c.version = Version::V3;
        c.advert_interval = Duration::from_millis(100);
    });
    sim.at(secs(0.0), Command::Start(one));
    sim.at(secs(0.0), Command::Start(two));
    sim.at(secs(5.033), Command::Crash(one));
    sim.run_until(secs(7.0));
    let last = last_advert_before(&sim, one, secs(5.033));
    let t = sim.first_time_after(two, State::Master, secs(1.0)).unwrap();
    assert_eq!(t - last, us(364_843), "0.365 s at v3 0.1 s, prio 90");
    // Preemption on the initial start: 0.361 s for prio 100 at 0.1 s.
    assert_eq!(
        sim.first_time(one, State::Master),
        Some(Instant::from_micros(360_937))
    );
}

#[test]
fn graceful_stop_takeover_after_skew_time() {
    let mut sim = Sim::new(13);
    let (one, two) = pair(&mut sim, |_| {});
    sim.at(secs(0.0), Command::Start(one));
    sim.at(secs(0.0), Command::Start(two));
    sim.at(secs(12.5), Command::Stop(one));
    sim.run_until(secs(20.0));
    let t = sim
        .first_time_after(two, State::Master, secs(10.0))
        .unwrap();
    // Probe §5 a): 0.6484 s for prio 90.
    assert_eq!(t - secs(12.5), us(648_437));
    assert!(
        sim.first_log(two, "Backup received priority 0 advertisement")
            .is_some()
    );
    assert!(
        sim.adverts()
            .iter()
            .any(|a| a.node == one && a.priority == 0 && a.t == secs(12.5))
    );
    assert_eq!(
        sim.holders_at(secs(13.0), ip(VIP)),
        [],
        "stop removes the VIP before the takeover"
    );
    assert_eq!(sim.holders_at(secs(14.0), ip(VIP)), [two]);
    assert!(
        sim.notifies()
            .iter()
            .any(|n| n.node == one && n.event == NotifyEvent::Stop)
    );
}

#[test]
fn equal_priorities_higher_address_wins() {
    let mut sim = Sim::new(14);
    let (one, two) = pair(&mut sim, |c| c.priority = 100);
    sim.at(secs(0.0), Command::Start(one));
    sim.at(secs(0.0), Command::Start(two));
    sim.run_until(secs(10.0));
    // Both time out together; .5 > .3 so node two keeps MASTER.
    assert_eq!(sim.masters_at(secs(10.0), 101), [two]);
    assert_eq!(sim.holders_at(secs(10.0), ip(VIP)), [two]);
    assert!(
        sim.first_log(one, "same priority 100 but higher IP address")
            .is_some()
    );
}

#[test]
fn owner_vs_owner_lower_address_yields() {
    let mut sim = Sim::new(15);
    let (one, two) = pair(&mut sim, |c| c.priority = 255);
    sim.at(secs(0.0), Command::Start(one));
    sim.at(secs(0.0), Command::Start(two));
    sim.run_until(secs(5.0));
    // Both owners go MASTER 1 µs after start, then .3 yields to .5.
    assert_eq!(
        sim.first_time(one, State::Master),
        Some(Instant::from_micros(1))
    );
    assert_eq!(sim.masters_at(secs(5.0), 101), [two]);
    let conflict = "CONFIGURATION ERROR: local instance and";
    assert!(sim.first_log(one, conflict).is_some());
    // Node two watched whether .3 backs off (two adverts + 1.2 × 1 s), and it did.
    assert!(sim.first_log(two, conflict).is_some());
    assert_eq!(
        sim.first_log(
            two,
            "rogue address owner appears to have stopped advertising"
        ),
        Some(secs(2.0) + us(1) + Duration::from_millis(1200))
    );
    assert!(sim.first_log(two, "reducing our priority").is_none());
    assert_eq!(
        sim.max_overlap_after(Instant::ZERO, ip(VIP)),
        Duration::ZERO
    );
}

/// Two owners where .3 is misconfigured with `owner_ignore_adverts`, so it
/// never yields: keepalived's owner-conflict rule makes .5 drop to 254 once
/// the conflict window (its two own adverts + 1.2 × the longest interval) has
/// passed, leaving one master; when the rogue stops, .5 takes over at 255.
#[test]
fn owner_vs_rogue_owner_that_never_yields() {
    rogue_owner_scenario(23, |_, _, c1| c1.owner_ignore_adverts = true);
}

/// The same with a one-way link: .3 never hears .5, so it cannot yield.
#[test]
fn owner_vs_owner_that_cannot_hear_us() {
    rogue_owner_scenario(24, |sim, (one, two), _| {
        sim.at(
            Instant::ZERO,
            Command::SetLink {
                from: two,
                to: one,
                params: LinkParams {
                    loss: 1.0,
                    ..LinkParams::default()
                },
            },
        );
    });
}

fn rogue_owner_scenario(
    seed: u64,
    setup: impl FnOnce(&mut Sim, (NodeId, NodeId), &mut InstanceConfig),
) {
    let mut sim = Sim::new(seed);
    let one = sim.add_node("one");
    let two = sim.add_node("two");
    let mut c1 = inst("VI_1", 101, 255, "192.0.2.3", VIP);
    setup(&mut sim, (one, two), &mut c1);
    let c2 = inst("VI_1", 101, 255, "192.0.2.5", VIP);
    sim.add_instance(one, c1);
    sim.add_instance(two, c2);
    sim.at(secs(0.0), Command::Start(one));
    sim.at(secs(0.0), Command::Start(two));
    sim.at(secs(30.0), Command::Stop(one));
    sim.run_until(secs(40.0));

    // Both become MASTER 1 µs after start and hear each other at once.
    let start = Instant::from_micros(1);
    assert_eq!(sim.first_time(two, State::Master), Some(start));
    assert!(
        sim.first_log(
            two,
            "CONFIGURATION ERROR: local instance and 192.0.2.3 are both configured as address owner, please resolve"
        ) == Some(start)
    );
    let window = 2 * Duration::from_secs(1) + Duration::from_millis(1200);
    let demoted = sim
        .first_log(
            two,
            "192.0.2.3 is still advertising as address owner, please resolve - reducing our priority",
        )
        .unwrap();
    assert!(demoted <= start + window, "{demoted:?}");
    assert_eq!(
        sim.first_time_after(two, State::Backup, start),
        Some(demoted)
    );

    // After the window: exactly one master, the VIP on one node only, and it
    // was never held by both for longer than the window.
    for k in 4..30 {
        assert_eq!(sim.masters_at(secs(k as f64), 101), [one], "t = {k} s");
        assert_eq!(sim.holders_at(secs(k as f64), ip(VIP)), [one], "t = {k} s");
    }
    let overlap = sim.max_overlap_after(Instant::ZERO, ip(VIP));
    assert!(overlap > Duration::ZERO && overlap <= window, "{overlap:?}");
    // Demoted, node two is a silent BACKUP until the rogue goes away.
    assert!(
        !sim.adverts()
            .iter()
            .any(|a| a.node == two && a.t > demoted && a.t < secs(30.0))
    );

    // The rogue stops (priority 0): node two restores 255 and takes over.
    let restored = sim
        .first_log(
            two,
            "Restoring our priority to 255 since received advert with lower priority",
        )
        .unwrap();
    assert_eq!(restored, secs(30.0));
    assert_eq!(sim.masters_at(secs(35.0), 101), [two]);
    assert!(
        sim.adverts()
            .iter()
            .filter(|a| a.node == two && a.t > secs(30.0))
            .all(|a| a.priority == 255)
    );
}

#[test]
fn preempt_delay_postpones_preemption() {
    let mut sim = Sim::new(16);
    let (one, two) = pair(&mut sim, |c| c.preempt_delay = Duration::from_secs(10));
    sim.at(secs(0.0), Command::Start(two));
    sim.at(secs(20.0), Command::Start(one));
    sim.run_until(secs(60.0));
    let t = sim
        .first_time_after(one, State::Master, secs(20.0))
        .unwrap();
    // Window opens at the first prio-90 advert (≤ 1 s after start) and lasts 10 s;
    // the last accepted advert is then followed by a full Master_Down.
    let first_lower = sim
        .adverts()
        .iter()
        .find(|a| a.node == two && a.t >= secs(20.0))
        .unwrap()
        .t;
    let last_accepted = sim
        .adverts()
        .iter()
        .filter(|a| a.node == two && a.t < first_lower + Duration::from_secs(10))
        .map(|a| a.t)
        .max()
        .unwrap();
    assert_eq!(t, last_accepted + us(3_609_375));
    assert!(t > secs(30.0));
}

#[test]
fn sync_group_of_two_moves_together() {
    let mut sim = Sim::new(17);
    let one = sim.add_node("one");
    let two = sim.add_node("two");
    let g1 = sim.add_group(
        one,
        "G1",
        vec![
            inst("VI_1", 101, 100, "192.0.2.3", "192.0.2.111"),
            inst("VI_2", 102, 100, "192.0.2.3", "192.0.2.122"),
        ],
    );
    sim.add_group(
        two,
        "G1",
        vec![
            inst("VI_1", 101, 90, "192.0.2.5", "192.0.2.111"),
            inst("VI_2", 102, 90, "192.0.2.5", "192.0.2.122"),
        ],
    );
    sim.at(secs(0.0), Command::Start(one));
    sim.at(secs(0.0), Command::Start(two));
    // Node one loses VI_2's interface only (weight-0 track_interface semantics via link event on one member).
    sim.at(
        secs(20.0),
        Command::Inject {
            node: one,
            unit: g1,
            member: 1,
            event: Event::InterfaceDown,
        },
    );
    sim.at(
        secs(40.0),
        Command::Inject {
            node: one,
            unit: g1,
            member: 1,
            event: Event::InterfaceUp,
        },
    );
    sim.run_until(secs(60.0));
    assert_eq!(sim.masters_at(secs(10.0), 101), [one]);
    assert_eq!(sim.masters_at(secs(10.0), 102), [one]);
    // One member faults: the whole group on node one goes FAULT, node two takes both.
    assert_eq!(sim.state_at(secs(21.0), one, g1, 0), Some(State::Fault));
    assert_eq!(sim.holders_at(secs(25.0), ip("192.0.2.111")), [two]);
    assert_eq!(sim.holders_at(secs(25.0), ip("192.0.2.122")), [two]);
    // Recovery: both come back to node one.
    assert_eq!(sim.holders_at(secs(55.0), ip("192.0.2.111")), [one]);
    assert_eq!(sim.holders_at(secs(55.0), ip("192.0.2.122")), [one]);
    assert!(
        sim.group_state_changes()
            .iter()
            .any(|g| g.1 == one && g.4 == State::Fault)
    );
}

#[test]
fn sync_group_member_preempted_pulls_group_to_backup() {
    let mut sim = Sim::new(18);
    let one = sim.add_node("one");
    let two = sim.add_node("two");
    // Node one: master-capable group; node two has a higher priority only for VRID 102.
    let g1 = sim.add_group(
        one,
        "G1",
        vec![
            inst("VI_1", 101, 100, "192.0.2.3", "192.0.2.111"),
            inst("VI_2", 102, 100, "192.0.2.3", "192.0.2.122"),
        ],
    );
    sim.add_instance(two, inst("VI_2", 102, 150, "192.0.2.5", "192.0.2.122"));
    sim.at(secs(0.0), Command::Start(one));
    sim.at(secs(30.0), Command::Start(two));
    sim.run_until(secs(45.0));
    assert_eq!(sim.state_at(secs(20.0), one, g1, 0), Some(State::Master));
    // Node two preempts VRID 102 and node one's VI_1 follows its group to BACKUP.
    assert_eq!(sim.state_at(secs(40.0), one, g1, 1), Some(State::Backup));
    assert_eq!(sim.state_at(secs(40.0), one, g1, 0), Some(State::Backup));
    assert_eq!(
        sim.holders_at(secs(40.0), ip("192.0.2.111")),
        Vec::<NodeId>::new()
    );
}

#[test]
fn link_down_faults_master_and_backup_takes_over() {
    let mut sim = Sim::new(19);
    let (one, two) = pair(&mut sim, |_| {});
    sim.at(secs(0.0), Command::Start(one));
    sim.at(secs(0.0), Command::Start(two));
    sim.at(secs(10.4), Command::LinkDown(one));
    sim.at(secs(20.0), Command::LinkUp(one));
    sim.run_until(secs(30.0));
    assert_eq!(sim.first_time(one, State::Fault), Some(secs(10.4)));
    assert!(sim.first_log(one, "sent 0 priority").is_some());
    // The priority-0 advert is lost with the carrier: takeover at Master_Down after the last advert.
    let last = last_advert_before(&sim, one, secs(10.4));
    assert_eq!(
        sim.first_time(two, State::Master),
        Some(last + us(3_648_437))
    );
    assert_eq!(
        sim.holders_at(secs(12.0), ip(VIP)),
        [],
        "FAULT removes the VIP at once"
    );
    // Link up: BACKUP, then MASTER after 3.609 s (probe: 3.612 s).
    assert_eq!(
        sim.first_time_after(one, State::Backup, secs(20.0)),
        Some(secs(20.0))
    );
    assert_eq!(
        sim.first_time_after(one, State::Master, secs(20.0)),
        Some(secs(20.0) + us(3_609_375))
    );
}

#[test]
fn restart_after_crash_cleans_stale_vip() {
    let mut sim = Sim::new(20);
    let (one, two) = pair(&mut sim, |_| {});
    sim.at(secs(0.0), Command::Start(one));
    sim.at(secs(0.0), Command::Start(two));
    sim.at(secs(10.0), Command::Crash(one));
    sim.at(secs(20.0), Command::Start(one));
    sim.run_until(secs(30.0));
    assert_eq!(sim.holders_at(secs(19.0), ip(VIP)), [one, two]);
    assert_eq!(sim.holders_at(secs(20.0), ip(VIP)), [two]);
    assert_eq!(sim.holders_at(secs(29.0), ip(VIP)), [one]);
}

#[test]
fn lossy_link_with_jitter_and_duplicates_is_deterministic() {
    let run = |seed: u64| {
        let mut sim = Sim::new(seed);
        let (one, two) = pair(&mut sim, |_| {});
        let p = LinkParams {
            loss: 0.4,
            delay: Duration::from_millis(1),
            jitter: Duration::from_millis(5),
            duplicate: 0.2,
        };
        sim.at(secs(0.0), Command::SetDefaultLink(p));
        sim.at(secs(0.0), Command::Start(one));
        sim.at(secs(0.0), Command::Start(two));
        sim.run_until(secs(120.0));
        let _ = (one, two);
        (sim.state_changes().to_vec(), sim.adverts_delivered())
    };
    let a = run(99);
    assert_eq!(a, run(99));
    assert!(a.0.len() > 4, "40% loss causes flaps");
    assert_ne!(a, run(100));
}

#[test]
fn partition_gives_two_masters_and_heal_resolves() {
    let mut sim = Sim::new(21);
    let (one, two) = pair(&mut sim, |_| {});
    sim.at(secs(0.0), Command::Start(one));
    sim.at(secs(0.0), Command::Start(two));
    sim.at(secs(10.0), Command::Partition(vec![vec![one], vec![two]]));
    sim.at(secs(20.0), Command::Heal);
    sim.run_until(secs(30.0));
    assert_eq!(sim.masters_at(secs(18.0), 101), [one, two]);
    assert_eq!(sim.masters_at(secs(25.0), 101), [one]);
    assert!(sim.max_overlap_after(secs(20.0), ip(VIP)) <= Duration::from_secs(1));
    assert!(sim.max_overlap_after(secs(10.0), ip(VIP)) >= Duration::from_secs(5));
    let _ = UnitId(0);
}

#[test]
fn commands_for_unknown_nodes_are_ignored() {
    let mut sim = Sim::new(22);
    let (one, two) = pair(&mut sim, |_| {});
    sim.at(secs(0.0), Command::Start(one));
    sim.at(secs(0.0), Command::Start(two));
    sim.at(secs(1.0), Command::Crash(42));
    sim.at(
        secs(1.0),
        Command::Inject {
            node: 42,
            unit: UnitId(0),
            member: 0,
            event: Event::Shutdown,
        },
    );
    sim.run_until(secs(10.0));
    assert_eq!(sim.masters_at(secs(10.0), 101), [one]);
}
