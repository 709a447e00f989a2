//! The pure engine, driven with a virtual clock and scripted probe results.

use keel_check::core::{Action, CheckerId, CheckerSet, ProbeResult, RsId, ScriptKind, Timestamp};
use keel_lvs::{DestKey, Method, Protocol, Scheduler, ServiceKey};
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

fn set(text: &str) -> CheckerSet {
    let (cfg, diags) = keel_config::from_str(text, "test.conf").unwrap();
    assert!(
        !diags.has_errors(),
        "config errors: {:?}",
        diags.errors().map(|d| d.to_string()).collect::<Vec<_>>()
    );
    CheckerSet::from_config(&cfg, &keel_check::Host::default()).unwrap()
}

fn t(s: f64) -> Timestamp {
    Timestamp::from_secs_f64(s)
}

fn logs(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Log(l) => Some(l.clone()),
            _ => None,
        })
        .collect()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Drives the engine on a virtual clock until `until`, answering every due
/// checker with `answer(id, now)`; returns all actions and the attempt times.
struct Sim {
    set: CheckerSet,
    now: Timestamp,
    actions: Vec<Action>,
    attempts: HashMap<CheckerId, Vec<Timestamp>>,
}

impl Sim {
    fn start(set: CheckerSet) -> Sim {
        let mut sim = Sim {
            set,
            now: Timestamp::ZERO,
            actions: Vec::new(),
            attempts: HashMap::new(),
        };
        let a = sim.set.start(Timestamp::ZERO, |_, _| Duration::ZERO);
        sim.actions.extend(a);
        sim
    }

    fn run_until(
        &mut self,
        until: Timestamp,
        mut answer: impl FnMut(CheckerId, Timestamp) -> ProbeResult,
    ) {
        while let Some(next) = self.set.next_due() {
            if next > until {
                break;
            }
            self.now = next;
            for id in self.set.take_due(next) {
                self.attempts.entry(id).or_default().push(next);
                let r = answer(id, next);
                let a = self.set.on_result(id, &r, next);
                self.actions.extend(a);
            }
        }
        self.now = until;
    }

    fn take_actions(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.actions)
    }
}

const ONE_RS: &str = r#"
virtual_server 192.0.2.144 80 {
    delay_loop 5
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server 192.0.2.11 80 {
        weight 3
        TCP_CHECK {
            connect_timeout 1
            retry 2
            delay_before_retry 1
        }
    }
}
"#;

fn id0() -> CheckerId {
    CheckerId {
        vs: 0,
        rs: 0,
        checker: 0,
    }
}

#[test]
fn up_checker_fails_only_after_retry_plus_one_attempts() {
    let mut sim = Sim::start(set(ONE_RS));
    // First check succeeds at t=0.
    sim.run_until(t(0.0), |_, _| ProbeResult::ok("connected"));
    assert_eq!(sim.set.rs_alive(RsId { vs: 0, rs: 0 }), Some(true));
    sim.take_actions();
    sim.attempts.clear();
    // From t=5 on the server is dead: attempts at 5, 6 (retry 1), 7 (retry 2).
    sim.run_until(t(7.5), |_, _| ProbeResult::fail("connection refused"));
    let times: Vec<f64> = sim.attempts[&id0()]
        .iter()
        .map(|t| t.since_epoch().as_secs_f64())
        .collect();
    assert_eq!(
        times,
        vec![5.0, 6.0, 7.0],
        "retry+1 attempts spaced by delay_before_retry"
    );
    let acts = sim.take_actions();
    let l = logs(&acts);
    assert!(
        l.contains(&"TCP_CHECK on service [192.0.2.11]:tcp:80 failed after 2 retries.".to_string()),
        "{l:?}"
    );
    assert!(
        l.contains(
            &"Removing service [192.0.2.11]:tcp:80 from VS [192.0.2.144]:tcp:80".to_string()
        ),
        "{l:?}"
    );
    assert!(acts.contains(&Action::RealServerDown { vs: 0, rs: 0 }));
    assert_eq!(acts.last(), Some(&Action::TableChanged));
    assert!(sim.set.desired_table().services[0].destinations.is_empty());
    // Once down, it is rechecked every delay_loop, without retries.
    sim.attempts.clear();
    sim.run_until(t(17.5), |_, _| ProbeResult::fail("connection refused"));
    let times: Vec<f64> = sim.attempts[&id0()]
        .iter()
        .map(|t| t.since_epoch().as_secs_f64())
        .collect();
    assert_eq!(times, vec![12.0, 17.0]);
    // Recovery: one success brings it back.
    sim.take_actions();
    sim.run_until(t(22.0), |_, _| ProbeResult::ok("connected"));
    let acts = sim.take_actions();
    let l = logs(&acts);
    assert!(l.contains(&"TCP connection to [192.0.2.11]:tcp:80 success.".to_string()));
    assert!(
        l.contains(&"Adding service [192.0.2.11]:tcp:80 to VS [192.0.2.144]:tcp:80".to_string())
    );
    let table = sim.set.desired_table().services;
    assert_eq!(table[0].destinations.len(), 1);
    assert_eq!(table[0].destinations[0].weight, 3);
    assert_eq!(table[0].destinations[0].method, Method::Dr);
}

#[test]
fn a_success_between_failures_resets_the_retry_count() {
    let mut sim = Sim::start(set(ONE_RS));
    sim.run_until(t(0.0), |_, _| ProbeResult::ok(""));
    // fail at 5 and 6, succeed at 7, fail at 12 and 13: still up.
    sim.run_until(t(13.5), |_, now| {
        if now == t(7.0) {
            ProbeResult::ok("")
        } else {
            ProbeResult::fail("refused")
        }
    });
    assert_eq!(sim.set.rs_alive(RsId { vs: 0, rs: 0 }), Some(true));
    // The third consecutive failure (t=14) takes it down.
    sim.run_until(t(14.0), |_, _| ProbeResult::fail("refused"));
    assert_eq!(sim.set.rs_alive(RsId { vs: 0, rs: 0 }), Some(false));
}

#[test]
fn first_check_needs_a_single_failure() {
    let mut sim = Sim::start(set(ONE_RS));
    // Not alpha: in the table from the start.
    assert_eq!(sim.set.desired_table().services[0].destinations.len(), 1);
    sim.run_until(t(0.0), |_, _| ProbeResult::fail("refused"));
    assert_eq!(sim.attempts[&id0()].len(), 1);
    assert_eq!(sim.set.rs_alive(RsId { vs: 0, rs: 0 }), Some(false));
    let l = logs(&sim.take_actions());
    assert!(
        l.contains(&"TCP_CHECK on service [192.0.2.11]:tcp:80 failed.".to_string()),
        "{l:?}"
    );
}

#[test]
fn warmup_offset_delays_the_first_check() {
    let mut s = set(&ONE_RS.replace("retry 2", "retry 2\n warmup 4"));
    let mut seen = None;
    s.start(t(10.0), |id, warmup| {
        seen = Some((id, warmup));
        Duration::from_millis(2500)
    });
    assert_eq!(seen, Some((id0(), Duration::from_secs(4))));
    assert_eq!(s.next_due(), Some(t(12.5)));
    assert!(s.take_due(t(12.4)).is_empty());
    assert_eq!(s.take_due(t(12.5)), vec![id0()]);
    // In flight: not due again until its result arrives.
    assert_eq!(s.next_due(), None);
}

#[test]
fn alpha_server_starts_down_and_needs_a_success() {
    let mut sim = Sim::start(set(&ONE_RS.replace("weight 3", "weight 3\n alpha")));
    assert!(sim.set.desired_table().services[0].destinations.is_empty());
    assert_eq!(sim.set.rs_alive(RsId { vs: 0, rs: 0 }), Some(false));
    sim.take_actions();
    sim.run_until(t(0.0), |_, _| ProbeResult::ok(""));
    let acts = sim.take_actions();
    assert!(acts.contains(&Action::RealServerUp { vs: 0, rs: 0 }));
    assert!(
        logs(&acts)
            .contains(&"Adding service [192.0.2.11]:tcp:80 to VS [192.0.2.144]:tcp:80".to_string())
    );
    assert_eq!(sim.set.desired_table().services[0].destinations.len(), 1);
}

#[test]
fn alpha_first_failure_runs_notify_down() {
    let text = ONE_RS.replace(
        "weight 3",
        "weight 3\n alpha\n notify_down \"/bin/rs-down\"",
    );
    let mut sim = Sim::start(set(&text));
    sim.run_until(t(0.0), |_, _| ProbeResult::fail("refused"));
    let acts = sim.take_actions();
    assert!(acts.iter().any(|a| matches!(
        a,
        Action::RunScript {
            kind: ScriptKind::NotifyDown,
            rs: Some(0),
            ..
        }
    )));
    assert!(
        !acts.contains(&Action::RealServerDown { vs: 0, rs: 0 }),
        "never was up"
    );
}

const TWO_CHECKERS: &str = r#"
virtual_server 192.0.2.144 80 {
    lb_algo wlc
    lb_kind NAT
    delay_loop 5
    protocol TCP
    real_server 192.0.2.11 80 {
        notify_up "/bin/up"
        notify_down "/bin/down"
        TCP_CHECK { retry 0 }
        TCP_CHECK { connect_port 81 retry 0 }
    }
}
"#;

#[test]
fn real_server_is_up_only_while_all_its_checkers_pass() {
    let mut sim = Sim::start(set(TWO_CHECKERS));
    // Checker 1 fails at t=0: the server goes down.
    sim.run_until(t(0.0), |id, _| {
        if id.checker == 1 {
            ProbeResult::fail("")
        } else {
            ProbeResult::ok("")
        }
    });
    assert_eq!(sim.set.rs_alive(RsId { vs: 0, rs: 0 }), Some(false));
    let acts = sim.take_actions();
    assert!(acts.iter().any(|a| matches!(
        a,
        Action::RunScript {
            kind: ScriptKind::NotifyDown,
            ..
        }
    )));
    // Both fail: still one down event only.
    sim.run_until(t(5.0), |_, _| ProbeResult::fail(""));
    let acts = sim.take_actions();
    assert!(
        !acts
            .iter()
            .any(|a| matches!(a, Action::RealServerDown { .. }))
    );
    // Checker 0 recovers: still down (checker 1 fails).
    sim.run_until(t(10.0), |id, _| {
        if id.checker == 0 {
            ProbeResult::ok("")
        } else {
            ProbeResult::fail("")
        }
    });
    assert_eq!(sim.set.rs_alive(RsId { vs: 0, rs: 0 }), Some(false));
    // Both pass: up, notify_up runs.
    sim.take_actions();
    sim.run_until(t(15.0), |_, _| ProbeResult::ok(""));
    assert_eq!(sim.set.rs_alive(RsId { vs: 0, rs: 0 }), Some(true));
    let acts = sim.take_actions();
    assert!(acts.iter().any(|a| matches!(a, Action::RunScript { kind: ScriptKind::NotifyUp, script, .. } if script.command == "/bin/up")));
}

fn three_rs(extra: &str) -> String {
    format!(
        r#"
virtual_server 192.0.2.144 80 {{
    lb_algo wlc
    lb_kind NAT
    delay_loop 5
    protocol TCP
    {extra}
    real_server 192.0.2.11 80 {{ TCP_CHECK {{ retry 0 }} }}
    real_server 192.0.2.12 80 {{ TCP_CHECK {{ retry 0 }} }}
    real_server 192.0.2.13 80 {{ TCP_CHECK {{ retry 0 }} }}
}}
"#
    )
}

fn answer_down(down: &'static [usize]) -> impl FnMut(CheckerId, Timestamp) -> ProbeResult {
    move |id, _| {
        if down.contains(&id.rs) {
            ProbeResult::fail("")
        } else {
            ProbeResult::ok("")
        }
    }
}

#[test]
fn quorum_with_hysteresis() {
    let mut sim = Sim::start(set(&three_rs(
        "quorum 2\n hysteresis 1\n quorum_up \"/bin/qup\"\n quorum_down \"/bin/qdown\"",
    )));
    // Start: all three alive, 3 >= 2+1.
    let acts = sim.take_actions();
    assert!(acts.contains(&Action::QuorumUp { vs: 0 }));
    assert!(
        logs(&acts).contains(&"Gained quorum 2+1=3 <= 3 for VS [192.0.2.144]:tcp:80".to_string())
    );
    // Two down: sum 1, not below 2-1: still up.
    sim.run_until(t(0.0), answer_down(&[0, 1]));
    assert_eq!(sim.set.live_weight(0), Some(1));
    assert_eq!(sim.set.quorum_up(0), Some(true));
    assert!(!sim.take_actions().contains(&Action::QuorumDown { vs: 0 }));
    // All down: sum 0 < 1: lost.
    sim.run_until(t(5.0), answer_down(&[0, 1, 2]));
    let acts = sim.take_actions();
    assert!(acts.contains(&Action::QuorumDown { vs: 0 }));
    assert!(logs(&acts).contains(&"Lost quorum 2-1=1 > 0 for VS [192.0.2.144]:tcp:80".to_string()));
    assert!(acts.iter().any(|a| matches!(a, Action::RunScript { kind: ScriptKind::QuorumDown, script, .. } if script.command == "/bin/qdown")));
    // Two back: 2 < 3, still down.
    sim.run_until(t(10.0), answer_down(&[2]));
    assert_eq!(sim.set.quorum_up(0), Some(false));
    // All back: 3 >= 3, gained.
    sim.take_actions();
    sim.run_until(t(15.0), answer_down(&[]));
    let acts = sim.take_actions();
    assert!(acts.contains(&Action::QuorumUp { vs: 0 }));
    assert!(acts.iter().any(|a| matches!(
        a,
        Action::RunScript {
            kind: ScriptKind::QuorumUp,
            ..
        }
    )));
}

#[test]
fn sorry_server_replaces_the_pool_while_quorum_is_lost() {
    let mut sim = Sim::start(set(&three_rs("sorry_server 192.0.2.200 8080")));
    sim.take_actions();
    sim.run_until(t(0.0), answer_down(&[0, 1]));
    assert_eq!(sim.set.sorry_server_active(0), Some(false));
    sim.run_until(t(5.0), answer_down(&[0, 1, 2]));
    let acts = sim.take_actions();
    assert!(acts.contains(&Action::SorryServerIn { vs: 0 }));
    assert!(logs(&acts).contains(
        &"Adding sorry server [192.0.2.200]:tcp:8080 to VS [192.0.2.144]:tcp:80".to_string()
    ));
    let table = sim.set.desired_table().services;
    assert_eq!(table[0].destinations.len(), 1);
    assert_eq!(table[0].destinations[0].addr, ip("192.0.2.200"));
    assert_eq!(table[0].destinations[0].port, 8080);
    // One real server back: quorum 1 reached, sorry server out.
    sim.run_until(t(10.0), answer_down(&[1, 2]));
    let acts = sim.take_actions();
    assert!(acts.contains(&Action::SorryServerOut { vs: 0 }));
    assert!(logs(&acts).contains(
        &"Removing sorry server [192.0.2.200]:tcp:8080 from VS [192.0.2.144]:tcp:80".to_string()
    ));
    let table = sim.set.desired_table().services;
    let addrs: Vec<IpAddr> = table[0].destinations.iter().map(|d| d.addr).collect();
    assert_eq!(addrs, vec![ip("192.0.2.11")]);
}

#[test]
fn sorry_server_goes_in_at_start_when_every_server_is_alpha() {
    let mut sim = Sim::start(set(&three_rs("alpha\n sorry_server 192.0.2.200 80")));
    let acts = sim.take_actions();
    assert!(acts.contains(&Action::SorryServerIn { vs: 0 }));
    assert!(
        logs(&acts)
            .iter()
            .any(|l| l.starts_with("Starting with quorum down 1-0=1 > 0 for VS"))
    );
    assert_eq!(sim.set.desired_table().services[0].destinations.len(), 1);
    sim.run_until(t(0.0), answer_down(&[]));
    let table = sim.set.desired_table().services;
    assert_eq!(table[0].destinations.len(), 3);
}

#[test]
fn inhibit_on_failure_keeps_the_server_with_weight_zero() {
    let mut sim = Sim::start(set(&three_rs("inhibit_on_failure")));
    sim.run_until(t(0.0), answer_down(&[1]));
    let acts = sim.take_actions();
    assert!(
        logs(&acts).contains(
            &"Disabling service [192.0.2.12]:tcp:80 of VS [192.0.2.144]:tcp:80".to_string()
        )
    );
    let table = sim.set.desired_table().services;
    let d = table[0]
        .destination(DestKey {
            addr: ip("192.0.2.12"),
            port: 80,
        })
        .unwrap();
    assert_eq!(d.weight, 0);
    assert_eq!(
        table[0]
            .destination(DestKey {
                addr: ip("192.0.2.11"),
                port: 80
            })
            .unwrap()
            .weight,
        1
    );
    sim.run_until(t(5.0), answer_down(&[]));
    let acts = sim.take_actions();
    assert!(
        logs(&acts).contains(
            &"Enabling service [192.0.2.12]:tcp:80 of VS [192.0.2.144]:tcp:80".to_string()
        )
    );
    assert_eq!(
        sim.set.desired_table().services[0]
            .destination(DestKey {
                addr: ip("192.0.2.12"),
                port: 80
            })
            .unwrap()
            .weight,
        1
    );
}

const MISC: &str = r#"
virtual_server 192.0.2.144 80 {
    lb_algo wlc
    lb_kind NAT
    delay_loop 5
    protocol TCP
    real_server 192.0.2.11 80 {
        weight 10
        MISC_CHECK {
            misc_path "/usr/local/bin/check-app --fast"
            misc_dynamic
        }
    }
}
"#;

#[test]
fn misc_dynamic_sets_the_weight_from_the_exit_status() {
    let mut sim = Sim::start(set(MISC));
    // exit 7 => weight 5.
    sim.run_until(t(0.0), |_, _| {
        ProbeResult::ok("exited with status 7").with_weight(5)
    });
    let acts = sim.take_actions();
    assert!(acts.contains(&Action::SetWeight {
        vs: 0,
        rs: 0,
        weight: 5
    }));
    assert!(logs(&acts).contains(&"Changing weight from 10 to 5 for active service [192.0.2.11]:tcp:80 of VS [192.0.2.144]:tcp:80".to_string()));
    assert_eq!(
        sim.set.desired_table().services[0].destinations[0].weight,
        5
    );
    // exit 0 => configured weight again.
    sim.run_until(t(5.0), |_, _| ProbeResult::ok("exited with status 0"));
    assert_eq!(
        sim.set.desired_table().services[0].destinations[0].weight,
        10
    );
    // exit 1 => failed (misc retry defaults to 0).
    sim.take_actions();
    sim.run_until(t(10.0), |_, _| ProbeResult::fail("exited with status 1"));
    let acts = sim.take_actions();
    assert!(logs(&acts).contains(&"Misc check for [[192.0.2.11]:tcp:80 VS [192.0.2.144]:tcp:80] by [/usr/local/bin/check-app] failed with retry disabled (exited with status 1).".to_string()), "{:?}", logs(&acts));
    assert!(sim.set.desired_table().services[0].destinations.is_empty());
    // exit 2 => up with weight 0.
    sim.run_until(t(15.0), |_, _| {
        ProbeResult::ok("exited with status 2").with_weight(0)
    });
    assert_eq!(sim.set.rs_alive(RsId { vs: 0, rs: 0 }), Some(true));
    assert_eq!(
        sim.set.desired_table().services[0].destinations[0].weight,
        0
    );
}

const FILE: &str = r#"
track_file app_weight {
    file /run/app.weight
    weight 2
}
virtual_server 192.0.2.144 80 {
    lb_algo wlc
    lb_kind NAT
    delay_loop 5
    protocol TCP
    real_server 192.0.2.11 80 {
        weight 10
        FILE_CHECK { track_file app_weight }
    }
}
"#;

#[test]
fn file_check_value_scales_the_weight() {
    let mut sim = Sim::start(set(FILE));
    sim.run_until(t(0.0), |_, _| ProbeResult::ok("").with_weight(3));
    // 10 + 3*2
    assert_eq!(
        sim.set.desired_table().services[0].destinations[0].weight,
        16
    );
    sim.run_until(t(1.0), |_, _| ProbeResult::ok("").with_weight(-4));
    assert_eq!(
        sim.set.desired_table().services[0].destinations[0].weight,
        2
    );
    // Weights clamp at 0 but the server stays up.
    sim.run_until(t(2.0), |_, _| ProbeResult::ok("").with_weight(-100));
    assert_eq!(
        sim.set.desired_table().services[0].destinations[0].weight,
        0
    );
    assert_eq!(sim.set.rs_alive(RsId { vs: 0, rs: 0 }), Some(true));
}

#[test]
fn file_check_with_weight_zero_fails_on_nonzero_value() {
    let mut sim = Sim::start(set(&FILE.replace("weight 2", "weight 0")));
    sim.run_until(t(0.0), |_, _| ProbeResult::ok("").with_weight(1));
    assert_eq!(sim.set.rs_alive(RsId { vs: 0, rs: 0 }), Some(false));
    sim.run_until(t(1.0), |_, _| ProbeResult::ok("").with_weight(0));
    assert_eq!(sim.set.rs_alive(RsId { vs: 0, rs: 0 }), Some(true));
}

#[test]
fn omega_runs_quorum_down_and_notify_down_on_shutdown() {
    let text = r#"
virtual_server 192.0.2.144 80 {
    lb_algo wlc
    lb_kind NAT
    protocol TCP
    omega
    quorum_down "/bin/qdown"
    real_server 192.0.2.11 80 { notify_down "/bin/rsdown" TCP_CHECK { } }
}
"#;
    let mut s = set(text);
    s.start(t(0.0), |_, _| Duration::ZERO);
    let acts = s.shutdown();
    assert!(logs(&acts).contains(
        &"Shutting down service [192.0.2.11]:tcp:80 from VS [192.0.2.144]:tcp:80".to_string()
    ));
    assert!(acts.iter().any(|a| matches!(
        a,
        Action::RunScript {
            kind: ScriptKind::QuorumDown,
            ..
        }
    )));
    assert!(acts.iter().any(|a| matches!(
        a,
        Action::RunScript {
            kind: ScriptKind::NotifyDown,
            ..
        }
    )));
    assert!(s.desired_table().services.is_empty());
    assert_eq!(s.next_due(), None);
    // Without omega: no scripts.
    let mut s = set(&text.replace("omega", ""));
    s.start(t(0.0), |_, _| Duration::ZERO);
    let acts = s.shutdown();
    assert!(!acts.iter().any(|a| matches!(a, Action::RunScript { .. })));
}

#[test]
fn desired_table_carries_service_settings() {
    let text = r#"
virtual_server 192.0.2.144 80 {
    lb_algo wlc
    lb_kind NAT
    protocol TCP
    persistence_timeout 600
    persistence_granularity 255.255.255.0
    real_server 192.0.2.12 80 { weight 2 uthreshold 100 lthreshold 10 lvs_method DR TCP_CHECK { } }
    real_server 192.0.2.11 8080 { weight 1 TCP_CHECK { } }
}
virtual_server fwmark 7 {
    lb_kind NAT
    lb_algo rr
    real_server 192.0.2.21 { TCP_CHECK { connect_port 22 } }
}
"#;
    let mut s = set(text);
    s.start(t(0.0), |_, _| Duration::ZERO);
    let table = s.desired_table().services;
    assert_eq!(table.len(), 2);
    let vs = &table[0];
    assert_eq!(
        vs.key,
        ServiceKey::Addr {
            ip: ip("192.0.2.144"),
            port: 80,
            proto: Protocol::Tcp
        }
    );
    assert_eq!(vs.scheduler, Scheduler::Wlc);
    // The service's method is the default of its real servers.
    assert_eq!(vs.destinations[0].method, Method::Nat);
    let p = vs.persistence.as_ref().unwrap();
    assert_eq!(p.timeout, 600);
    assert_eq!(p.netmask, Some(24));
    // Sorted by address.
    assert_eq!(vs.destinations[0].addr, ip("192.0.2.11"));
    let d = &vs.destinations[1];
    assert_eq!(
        (d.port, d.weight, d.upper_threshold, d.lower_threshold),
        (80, 2, 100, 10)
    );
    assert_eq!(d.method, Method::Dr);
    assert!(matches!(table[1].key, ServiceKey::Fwmark { mark: 7, .. }));
    assert_eq!(s.vs_label(1), Some("FWM 7"));
    // The checker connects to connect_port on the real server.
    let spec = s
        .probe_spec(CheckerId {
            vs: 1,
            rs: 0,
            checker: 0,
        })
        .unwrap();
    assert_eq!(
        spec.target().unwrap().addr,
        "192.0.2.21:22".parse().unwrap()
    );
}

#[test]
fn smtp_helo_defaults_to_the_host_name_passed_in() {
    let text = r#"
virtual_server 192.0.2.144 25 {
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 192.0.2.11 25 { SMTP_CHECK { } }
}
"#;
    let (cfg, _) = keel_config::from_str(text, "test.conf").unwrap();
    let host = keel_check::Host {
        hostname: "lb1.example".to_string(),
    };
    let s = CheckerSet::from_config(&cfg, &host).unwrap();
    let id = CheckerId {
        vs: 0,
        rs: 0,
        checker: 0,
    };
    match s.probe_spec(id) {
        Some(keel_check::spec::ProbeSpec::Smtp { helo, .. }) => assert_eq!(helo, "lb1.example"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn service_keys_and_full_table_do_not_depend_on_health() {
    let text = r#"
virtual_server_group WEB {
    192.0.2.144-145 80
    fwmark 9
}
virtual_server group WEB {
    lb_algo rr
    lb_kind NAT
    protocol TCP
    sorry_server 192.0.2.200 80
    real_server 192.0.2.11 80 { weight 3 alpha TCP_CHECK { } }
}
"#;
    let s = set(text);
    let keys = s.service_keys(0);
    assert_eq!(keys.len(), 3);
    assert_eq!(keys[0].keepalived_name(), "[192.0.2.144]:tcp:80");
    assert_eq!(keys[2].keepalived_name(), "FWM 9");
    // Not started: nothing desired, yet the full table has every server.
    assert!(s.desired_table().services.is_empty());
    let full = s.full_table();
    assert_eq!(full.services.len(), 3);
    let d: Vec<(IpAddr, u32)> = full.services[0]
        .destinations
        .iter()
        .map(|d| (d.addr, d.weight))
        .collect();
    assert_eq!(d, vec![(ip("192.0.2.11"), 3), (ip("192.0.2.200"), 0)]);
}
