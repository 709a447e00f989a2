//! Encoded adverts through `keel_vrrp::Router` in the simulator: pairs
//! authenticating with PASS and AH converge (and converge again after a
//! restart), and every receive check of RFC 3768 §7.1 / RFC 5798 §7.1
//! drops its packet with its own counter instead of moving the instance.

use std::net::IpAddr;
use std::time::Duration;

use keel_sim::{Command, NodeId, Sim, UnitId};
use keel_vrrp::config::{InstanceConfig, Version};
use keel_vrrp::instance::State;
use keel_vrrp::packet::{
    self, Advert, AuthConfig, AuthData, ChecksumMode, EncodeCtx, RxMeta, VRRP_MCAST_V4,
    VRRP_MCAST_V6,
};
use keel_vrrp::router::{InstanceId, WireConfig};
use keel_vrrp::time::Instant;

const VIP: &str = "192.0.2.50";
const ME: &str = "192.0.2.1";
const PEER: &str = "192.0.2.2";
const STRANGER: &str = "192.0.2.9";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn secs(s: f64) -> Instant {
    Instant::from_micros((s * 1e6).round() as u64)
}

fn inst(prio: u8, me: &str) -> InstanceConfig {
    let mut c = InstanceConfig::new("VI_1", 51, ip(me));
    c.priority = prio;
    c.vips.vips.push(ip(VIP));
    c
}

fn wire(auth: AuthConfig, me: &str) -> WireConfig {
    let mut w = WireConfig::multicast(0, ip(me));
    w.auth = auth;
    w
}

const ID: InstanceId = InstanceId { unit: 0, member: 0 };

/// Two nodes, `a` preferred (150) over `b` (100), both with `auth_a`/`auth_b`.
fn pair(auth_a: AuthConfig, auth_b: AuthConfig) -> (Sim, NodeId, NodeId) {
    let mut sim = Sim::new(7);
    let a = sim.add_node("a");
    let b = sim.add_node("b");
    sim.add_instance_wire(a, inst(150, ME), wire(auth_a, ME));
    sim.add_instance_wire(b, inst(100, PEER), wire(auth_b, PEER));
    sim.at(Instant::ZERO, Command::Start(a));
    sim.at(Instant::ZERO, Command::Start(b));
    (sim, a, b)
}

fn drops(sim: &Sim, node: NodeId, counter: &str) -> u64 {
    let r = sim.router(node).expect("node runs");
    r.stats(ID)
        .and_then(|s| s.drops.get(counter).copied())
        .unwrap_or(0)
        + r.orphan_drops().get(counter).copied().unwrap_or(0)
}

fn all_drops(sim: &Sim, node: NodeId) -> u64 {
    let r = sim.router(node).expect("node runs");
    r.stats(ID).map(|s| s.drops.values().sum()).unwrap_or(0)
        + r.orphan_drops().values().sum::<u64>()
}

fn state(sim: &Sim, node: NodeId) -> Option<State> {
    sim.instance(node, UnitId(0), 0).map(|i| i.state())
}

fn converges_with_restarts(auth: AuthConfig) {
    let (mut sim, a, b) = pair(auth.clone(), auth);
    sim.run_until(secs(10.0));
    assert_eq!(sim.masters_at(sim.now(), 51), vec![a]);
    assert_eq!(state(&sim, b), Some(State::Backup));
    let rx = sim.router(b).unwrap().stats(ID).unwrap().adverts_received;
    assert!(rx >= 5, "b heard a's adverts: {rx}");
    assert_eq!(all_drops(&sim, b), 0);

    // The master restarts: b takes over, then a preempts again, although
    // its AH sequence numbers start from 1 again.
    sim.at(secs(10.0), Command::Stop(a));
    sim.at(secs(12.0), Command::Start(a));
    sim.run_until(secs(25.0));
    assert_eq!(sim.masters_at(sim.now(), 51), vec![a]);
    assert_eq!(state(&sim, b), Some(State::Backup));
    assert_eq!(all_drops(&sim, b), 0, "b accepts the restarted master");
    assert_eq!(sim.max_overlap_after(secs(5.0), ip(VIP)), Duration::ZERO);

    // A crash of the master and a restart of the backup.
    sim.at(secs(25.0), Command::Crash(a));
    sim.run_until(secs(30.0));
    assert_eq!(sim.masters_at(sim.now(), 51), vec![b]);
    sim.at(secs(30.0), Command::Start(a));
    sim.at(secs(40.0), Command::Stop(b));
    sim.at(secs(41.0), Command::Start(b));
    sim.run_until(secs(55.0));
    assert_eq!(sim.masters_at(sim.now(), 51), vec![a]);
    assert_eq!(state(&sim, b), Some(State::Backup));
    assert_eq!(
        all_drops(&sim, a),
        0,
        "{:?}",
        sim.router(a).unwrap().stats(ID)
    );
    assert_eq!(all_drops(&sim, b), 0);
}

#[test]
fn ah_pair_converges_and_survives_restarts() {
    converges_with_restarts(AuthConfig::Ah("secret".into()));
}

#[test]
fn pass_pair_converges_and_survives_restarts() {
    converges_with_restarts(AuthConfig::Pass("secret".into()));
}

#[test]
fn ah_key_mismatch_is_dropped_as_bad_icv_and_both_become_master() {
    let (mut sim, a, b) = pair(AuthConfig::Ah("one".into()), AuthConfig::Ah("two".into()));
    sim.run_until(secs(10.0));
    assert_eq!(sim.masters_at(sim.now(), 51), vec![a, b]);
    assert!(drops(&sim, b, "ah_bad_icv") > 0);
    assert!(drops(&sim, a, "ah_bad_icv") > 0);
}

#[test]
fn pass_mismatch_is_counted_as_auth_failure() {
    let (mut sim, a, b) = pair(
        AuthConfig::Pass("one".into()),
        AuthConfig::Pass("two".into()),
    );
    sim.run_until(secs(10.0));
    assert_eq!(sim.masters_at(sim.now(), 51), vec![a, b]);
    assert!(drops(&sim, b, "auth_failure") > 0);
}

#[test]
fn ipv6_v3_pair_converges() {
    let mut sim = Sim::new(3);
    let a = sim.add_node("a");
    let b = sim.add_node("b");
    for (n, me, prio) in [(a, "fe80::1", 150), (b, "fe80::2", 100)] {
        let mut c = InstanceConfig::new("VI_6", 51, ip(me));
        c.version = Version::V3;
        c.priority = prio;
        c.vips.vips.push(ip("2001:db8::50"));
        sim.add_instance(n, c);
    }
    sim.at(Instant::ZERO, Command::Start(a));
    sim.at(Instant::ZERO, Command::Start(b));
    sim.run_until(secs(10.0));
    assert_eq!(sim.masters_at(sim.now(), 51), vec![a]);
    assert!(sim.router(b).unwrap().stats(ID).unwrap().adverts_received > 0);
}

/// One running node (MASTER of VRID 51, priority 100, `auth`) and a silent
/// stranger that injects packets.
fn lone_master(auth: AuthConfig, version: Version) -> (Sim, NodeId, NodeId) {
    let mut sim = Sim::new(11);
    let a = sim.add_node("a");
    let x = sim.add_node("stranger");
    let mut c = inst(100, ME);
    c.version = version;
    sim.add_instance_wire(a, c, wire(auth, ME));
    sim.at(Instant::ZERO, Command::Start(a));
    sim.run_until(secs(5.0));
    assert_eq!(state(&sim, a), Some(State::Master));
    (sim, a, x)
}

/// A higher-priority (200) advert from the stranger: accepted, it would
/// move the master to BACKUP.
fn advert(version: Version, auth: AuthData) -> Advert {
    Advert {
        version,
        vrid: 51,
        priority: 200,
        max_adver_int_cs: 100,
        addresses: vec![ip(VIP)],
        auth,
    }
}

fn encode(adv: &Advert, auth: &AuthConfig, ttl: u8) -> Vec<u8> {
    let ctx = EncodeCtx {
        src: ip(STRANGER),
        dst: IpAddr::V4(VRRP_MCAST_V4),
        checksum: ChecksumMode::Rfc,
        auth,
    };
    packet::encode_ipv4_packet(adv, &ctx, 1, ttl).unwrap()
}

fn meta4() -> RxMeta {
    RxMeta {
        src: ip(STRANGER),
        dst: IpAddr::V4(VRRP_MCAST_V4),
        ttl: 255,
    }
}

/// Injects `bytes` into `a` and returns its state afterwards.
fn deliver(sim: &mut Sim, a: NodeId, x: NodeId, bytes: Vec<u8>) -> Option<State> {
    let t = sim.now() + Duration::from_millis(10);
    sim.inject_datagram(t, x, a, 0, meta4(), bytes);
    sim.run_until(t);
    state(sim, a)
}

/// Checks that `bytes` is dropped by `a` with `counter`, leaving it MASTER.
fn assert_dropped(auth: AuthConfig, version: Version, bytes: Vec<u8>, counter: &str) {
    let (mut sim, a, x) = lone_master(auth, version);
    let before = drops(&sim, a, counter);
    assert_eq!(
        deliver(&mut sim, a, x, bytes),
        Some(State::Master),
        "{counter}"
    );
    assert_eq!(drops(&sim, a, counter), before + 1, "{counter}");
}

#[test]
fn a_valid_higher_priority_advert_is_obeyed() {
    // The control for every drop test below: the same packet, unharmed,
    // makes the master yield.
    let (mut sim, a, x) = lone_master(AuthConfig::None, Version::V2);
    let bytes = encode(&advert(Version::V2, AuthData::None), &AuthConfig::None, 255);
    assert_eq!(deliver(&mut sim, a, x, bytes), Some(State::Backup));
    assert_eq!(all_drops(&sim, a), 0);
}

#[test]
fn rfc3768_7_1_ttl_other_than_255_is_dropped() {
    let bytes = encode(&advert(Version::V2, AuthData::None), &AuthConfig::None, 64);
    assert_dropped(AuthConfig::None, Version::V2, bytes, "ttl_not_255");
}

#[test]
fn rfc3768_7_1_wrong_version_is_dropped() {
    let bytes = encode(&advert(Version::V3, AuthData::None), &AuthConfig::None, 255);
    assert_dropped(AuthConfig::None, Version::V2, bytes, "bad_version");
}

#[test]
fn rfc3768_7_1_bad_checksum_is_dropped() {
    let mut bytes = encode(&advert(Version::V2, AuthData::None), &AuthConfig::None, 255);
    bytes[20 + 6] ^= 0x55;
    assert_dropped(AuthConfig::None, Version::V2, bytes, "bad_checksum");
}

#[test]
fn rfc5798_7_1_bad_checksum_is_dropped_in_v3() {
    let mut bytes = encode(&advert(Version::V3, AuthData::None), &AuthConfig::None, 255);
    bytes[20 + 7] ^= 0x01;
    assert_dropped(AuthConfig::None, Version::V3, bytes, "bad_checksum");
}

#[test]
fn rfc3768_7_1_other_vrid_is_not_ours() {
    let mut adv = advert(Version::V2, AuthData::None);
    adv.vrid = 52;
    let bytes = encode(&adv, &AuthConfig::None, 255);
    assert_dropped(AuthConfig::None, Version::V2, bytes, "vrid_mismatch");
}

#[test]
fn rfc3768_7_1_auth_type_mismatch_is_dropped() {
    let pass = AuthConfig::Pass("secret".into());
    let bytes = encode(&advert(Version::V2, AuthData::None), &AuthConfig::None, 255);
    assert_dropped(pass, Version::V2, bytes, "auth_type_mismatch");
}

#[test]
fn rfc2338_5_3_6_1_wrong_password_is_dropped() {
    let ours = AuthConfig::Pass("secret".into());
    let theirs = AuthConfig::Pass("guess".into());
    let bytes = encode(&advert(Version::V2, theirs.advert_auth(0)), &theirs, 255);
    assert_dropped(ours, Version::V2, bytes, "auth_failure");
}

#[test]
fn ah_with_the_wrong_key_is_dropped() {
    let ours = AuthConfig::Ah("secret".into());
    let theirs = AuthConfig::Ah("guess".into());
    let bytes = encode(&advert(Version::V2, AuthData::Ah { seq: 1 }), &theirs, 255);
    assert_dropped(ours, Version::V2, bytes, "ah_bad_icv");
}

#[test]
fn ah_replay_is_dropped_until_the_state_changes() {
    let key = AuthConfig::Ah("secret".into());
    let (mut sim, a, x) = lone_master(key.clone(), Version::V2);
    // A priority-0 advert accepted with sequence 5: the master answers it
    // and stays MASTER, remembering the sequence.
    let mut adv = advert(Version::V2, AuthData::Ah { seq: 5 });
    adv.priority = 0;
    let bytes = encode(&adv, &key, 255);
    assert_eq!(deliver(&mut sim, a, x, bytes.clone()), Some(State::Master));
    assert_eq!(all_drops(&sim, a), 0);
    // The same packet again is a replay.
    assert_eq!(deliver(&mut sim, a, x, bytes), Some(State::Master));
    assert_eq!(drops(&sim, a, "ah_replay"), 1);
    // A higher priority with a newer sequence moves the master to BACKUP,
    // which resets the window: the peer may restart from 1.
    let bytes = encode(&advert(Version::V2, AuthData::Ah { seq: 6 }), &key, 255);
    assert_eq!(deliver(&mut sim, a, x, bytes), Some(State::Backup));
    let bytes = encode(&advert(Version::V2, AuthData::Ah { seq: 1 }), &key, 255);
    assert_eq!(deliver(&mut sim, a, x, bytes), Some(State::Backup));
    assert_eq!(drops(&sim, a, "ah_replay"), 1);
}

#[test]
fn rfc3768_7_1_interval_mismatch_is_dropped_in_v2() {
    let mut adv = advert(Version::V2, AuthData::None);
    adv.max_adver_int_cs = 200;
    let bytes = encode(&adv, &AuthConfig::None, 255);
    assert_dropped(AuthConfig::None, Version::V2, bytes, "interval_mismatch");
}

#[test]
fn rfc3768_7_1_address_list_mismatch_from_a_non_owner_is_dropped() {
    let mut adv = advert(Version::V2, AuthData::None);
    adv.addresses = vec![ip("192.0.2.99")];
    let bytes = encode(&adv, &AuthConfig::None, 255);
    assert_dropped(AuthConfig::None, Version::V2, bytes, "address_mismatch");
}

#[test]
fn rfc5798_7_1_address_count_mismatch_from_priority_254_is_dropped() {
    let mut adv = advert(Version::V3, AuthData::None);
    adv.priority = 254;
    adv.addresses.push(ip("192.0.2.99"));
    let bytes = encode(&adv, &AuthConfig::None, 255);
    assert_dropped(AuthConfig::None, Version::V3, bytes, "address_count");
}

#[test]
fn rfc5798_7_1_address_mismatch_from_the_owner_is_processed() {
    let (mut sim, a, x) = lone_master(AuthConfig::None, Version::V3);
    let mut adv = advert(Version::V3, AuthData::None);
    adv.priority = 255;
    adv.addresses = vec![ip("192.0.2.99")];
    let bytes = encode(&adv, &AuthConfig::None, 255);
    assert_eq!(deliver(&mut sim, a, x, bytes), Some(State::Backup));
    assert_eq!(all_drops(&sim, a), 0);
}

#[test]
fn skip_check_adv_addr_obeys_a_mismatching_list() {
    let mut sim = Sim::new(11);
    let a = sim.add_node("a");
    let x = sim.add_node("stranger");
    let mut w = wire(AuthConfig::None, ME);
    w.check_adv_addr = false;
    sim.add_instance_wire(a, inst(100, ME), w);
    sim.at(Instant::ZERO, Command::Start(a));
    sim.run_until(secs(5.0));
    let mut adv = advert(Version::V2, AuthData::None);
    adv.addresses = vec![ip("192.0.2.99")];
    let bytes = encode(&adv, &AuthConfig::None, 255);
    assert_eq!(deliver(&mut sim, a, x, bytes), Some(State::Backup));
}

#[test]
fn truncated_and_garbage_packets_are_counted() {
    let good = encode(&advert(Version::V2, AuthData::None), &AuthConfig::None, 255);
    // Cut inside the VRRP message: the IP header claims more than is there.
    assert_dropped(
        AuthConfig::None,
        Version::V2,
        good[..30].to_vec(),
        "truncated",
    );
    // A VRRP message that is not an ADVERTISEMENT (type 2).
    let mut bad_type = good.clone();
    bad_type[20] = 0x22;
    // Re-checksum so only the type is wrong.
    bad_type[26] = 0;
    bad_type[27] = 0;
    let ck = packet::internet_checksum(&bad_type[20..]);
    bad_type[26..28].copy_from_slice(&ck.to_be_bytes());
    assert_dropped(AuthConfig::None, Version::V2, bad_type, "bad_type");
}

#[test]
fn ipv6_hop_limit_other_than_255_is_dropped() {
    let mut sim = Sim::new(5);
    let a = sim.add_node("a");
    let x = sim.add_node("stranger");
    let mut c = InstanceConfig::new("VI_6", 51, ip("fe80::1"));
    c.version = Version::V3;
    c.vips.vips.push(ip("2001:db8::50"));
    sim.add_instance(a, c);
    sim.at(Instant::ZERO, Command::Start(a));
    sim.run_until(secs(5.0));
    let adv = Advert {
        version: Version::V3,
        vrid: 51,
        priority: 200,
        max_adver_int_cs: 100,
        addresses: vec![ip("2001:db8::50")],
        auth: AuthData::None,
    };
    let ctx = EncodeCtx {
        src: ip("fe80::9"),
        dst: IpAddr::V6(VRRP_MCAST_V6),
        checksum: ChecksumMode::Rfc,
        auth: &AuthConfig::None,
    };
    let bytes = packet::encode_vrrp(&adv, &ctx).unwrap();
    let mut meta = RxMeta {
        src: ip("fe80::9"),
        dst: IpAddr::V6(VRRP_MCAST_V6),
        ttl: 1,
    };
    let t = sim.now() + Duration::from_millis(10);
    sim.inject_datagram(t, x, a, 0, meta, bytes.clone());
    sim.run_until(t);
    assert_eq!(state(&sim, a), Some(State::Master));
    assert_eq!(drops(&sim, a, "ttl_not_255"), 1);
    meta.ttl = 255;
    let t = sim.now() + Duration::from_millis(10);
    sim.inject_datagram(t, x, a, 0, meta, bytes);
    sim.run_until(t);
    assert_eq!(state(&sim, a), Some(State::Backup));
}
