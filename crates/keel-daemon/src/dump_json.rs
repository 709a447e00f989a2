//! The JSON dump keepalived writes on its JSON signal (`kill -$(keepalived
//! --signum=JSON)`): `/tmp/keepalived.json`, an array with one object per
//! VRRP instance, each `{"data": {...}, "stats": {...}}` with keepalived's
//! field names and numbering, so exporters written for keepalived read keel.
//!
//! Live values (state, priorities, counters) come from the VRRP runtime's
//! status snapshot, configured ones (timers, scripts, flags) from the
//! configuration.

use std::path::Path;

use keel_config::Config;
use keel_config::model::{Script, VirtualIp, VrrpInstance};
use serde_json::{Map, Value, json};

use crate::vrrp::status::{InstanceStatus, VrrpStatus};

/// Where keepalived writes the dump.
pub const JSON_FILE: &str = "/tmp/keepalived.json";

/// keepalived's state numbers (`VRRP_STATE_*`), which exporters map to
/// names themselves.
fn state_number(state: &str) -> u32 {
    match state {
        "BACKUP" => 1,
        "MASTER" => 2,
        "FAULT" => 3,
        "DELETED" => 97,
        "STOP" => 98,
        _ => 0,
    }
}

/// An address as keepalived formats it in the dump: `ADDR dev IF scope S`.
fn vip_text(v: &VirtualIp, dev: &str) -> String {
    let scope = v.scope.as_deref().unwrap_or("global");
    let mut s = format!("{}", v.address);
    if v.address.is_ipv6() || v.prefix_len != 32 {
        s.push_str(&format!("/{}", v.prefix_len));
    }
    s.push_str(&format!(
        " dev {} scope {scope}",
        v.dev.as_deref().unwrap_or(dev)
    ));
    if let Some(l) = &v.label {
        s.push_str(&format!(" label {l}"));
    }
    s
}

fn script_field(m: &mut Map<String, Value>, key: &str, s: &Option<Script>) {
    if let Some(s) = s {
        m.insert(key.to_string(), Value::from(s.command.clone()));
    }
}

/// keepalived leaves an empty list out of the object.
fn list_field(m: &mut Map<String, Value>, key: &str, v: Vec<String>) {
    if !v.is_empty() {
        m.insert(key.to_string(), json!(v));
    }
}

/// The GARP timing fields: the instance's, else global_defs' values.
fn garp(m: &mut Map<String, Value>, c: Option<&VrrpInstance>, gd: &keel_config::model::GlobalDefs) {
    let secs = |d: std::time::Duration| d.as_secs_f64();
    let (gdelay, grefresh, grep, grefresh_rep, glp_delay, glp_rep) = match c {
        Some(i) => (
            secs(i.garp_master_delay),
            i.garp_master_refresh.as_secs(),
            i.garp_master_repeat,
            i.garp_master_refresh_repeat,
            i.garp_lower_prio_delay.as_secs(),
            i.garp_lower_prio_repeat,
        ),
        None => (
            secs(gd.vrrp_garp_master_delay),
            gd.vrrp_garp_master_refresh.as_secs(),
            gd.vrrp_garp_master_repeat,
            gd.vrrp_garp_master_refresh_repeat,
            gd.vrrp_garp_lower_prio_delay.as_secs(),
            gd.vrrp_garp_lower_prio_repeat,
        ),
    };
    m.insert("garp_delay".into(), json!(gdelay));
    m.insert("garp_refresh".into(), json!(grefresh));
    m.insert("garp_rep".into(), json!(grep));
    m.insert("garp_refresh_rep".into(), json!(grefresh_rep));
    m.insert("garp_lower_prio_delay".into(), json!(glp_delay));
    m.insert("garp_lower_prio_rep".into(), json!(glp_rep));
}

/// Scripts, addresses and trackers; keepalived leaves out empty ones.
fn lists(m: &mut Map<String, Value>, st: &InstanceStatus, c: Option<&VrrpInstance>, g: &Config) {
    if let Some(i) = c {
        script_field(m, "script_backup", &i.notify.backup);
        script_field(m, "script_master", &i.notify.master);
        script_field(m, "script_fault", &i.notify.fault);
        script_field(m, "script_stop", &i.notify.stop);
        script_field(m, "script", &i.notify.generic);
        script_field(
            m,
            "script_master_rx_lower_pri",
            &i.notify.master_rx_lower_pri,
        );
    }
    let dev = st.interface.as_str();
    let vips = c
        .map(|i| {
            i.virtual_ipaddress
                .iter()
                .map(|v| vip_text(v, dev))
                .collect()
        })
        .unwrap_or_default();
    list_field(m, "vips", vips);
    let evips = c
        .map(|i| {
            i.virtual_ipaddress_excluded
                .iter()
                .map(|v| vip_text(v, dev))
                .collect()
        })
        .unwrap_or_default();
    list_field(m, "evips", evips);
    if let Some(i) = c {
        list_field(
            m,
            "track_ifp",
            i.track.interfaces.iter().map(|t| t.name.clone()).collect(),
        );
        let scripts = i
            .track
            .scripts
            .iter()
            .map(|t| {
                g.vrrp_script(&t.name)
                    .map(|s| s.script.command.clone())
                    .unwrap_or_else(|| t.name.clone())
            })
            .collect();
        list_field(m, "track_script", scripts);
    }
}

fn data(st: &InstanceStatus, cfg: Option<&VrrpInstance>, g: &Config) -> Value {
    let adver = st.advert_interval_ms as f64 / 1000.0;
    let mut m = Map::new();
    m.insert("iname".into(), json!(st.name));
    let c = cfg;
    let flag = |f: fn(&VrrpInstance) -> bool| u32::from(c.is_some_and(f));
    m.insert(
        "dont_track_primary".into(),
        json!(flag(|i| i.dont_track_primary)),
    );
    m.insert(
        "skip_check_adv_addr".into(),
        json!(flag(|i| i.skip_check_adv_addr)),
    );
    m.insert("strict_mode".into(), json!(flag(|i| i.strict_mode)));
    let vmac = c
        .and_then(|i| i.use_vmac.as_ref())
        .map(|v| {
            v.name
                .clone()
                .unwrap_or_else(|| format!("vrrp.{}", st.vrid))
        })
        .unwrap_or_default();
    m.insert("vmac_ifname".into(), json!(vmac));
    m.insert("ifp_ifname".into(), json!(st.interface));
    // keepalived reports the priority of the master it last heard; keel
    // knows the master's address only.
    let master_priority = if st.state == "MASTER" {
        st.effective_priority
    } else {
        0
    };
    m.insert("master_priority".into(), json!(master_priority));
    m.insert("last_transition".into(), json!(st.since));
    garp(&mut m, c, &g.global_defs);
    m.insert(
        "lower_prio_no_advert".into(),
        json!(flag(|i| i.lower_prio_no_advert)),
    );
    m.insert(
        "higher_prio_send_advert".into(),
        json!(flag(|i| i.higher_prio_send_advert)),
    );
    m.insert("vrid".into(), json!(st.vrid));
    m.insert("base_priority".into(), json!(st.base_priority));
    m.insert("effective_priority".into(), json!(st.effective_priority));
    m.insert("vipset".into(), json!(st.vips_installed));
    m.insert(
        "promote_secondaries".into(),
        json!(c.is_some_and(|i| i.promote_secondaries)),
    );
    m.insert("adver_int".into(), json!(adver));
    m.insert("master_adver_int".into(), json!(adver));
    // keepalived's default: accept unless strict mode.
    let accept = c
        .map(|i| i.accept.unwrap_or(!i.strict_mode))
        .unwrap_or(true);
    m.insert("accept".into(), json!(u32::from(accept)));
    m.insert("nopreempt".into(), json!(c.is_some_and(|i| i.nopreempt)));
    m.insert(
        "preempt_delay".into(),
        json!(c.map(|i| i.preempt_delay.as_secs()).unwrap_or(0)),
    );
    let state = state_number(&st.state);
    m.insert("state".into(), json!(state));
    m.insert("wantstate".into(), json!(state));
    m.insert("version".into(), json!(st.version));
    m.insert(
        "smtp_alert".into(),
        json!(c.and_then(|i| i.smtp_alert).unwrap_or(false)),
    );
    lists(&mut m, st, c, g);
    let auth = c.and_then(|i| i.authentication.as_ref());
    m.insert(
        "auth_type".into(),
        json!(match auth.map(|a| a.auth_type) {
            None => 0,
            Some(keel_config::model::AuthType::Pass) => 1,
            Some(keel_config::model::AuthType::Ah) => 2,
        }),
    );
    if let Some(a) = auth {
        m.insert("auth_data".into(), json!(a.auth_pass));
    }
    Value::Object(m)
}

fn stats(st: &InstanceStatus) -> Value {
    let c = &st.counters;
    let d = |names: &[&str]| -> u64 {
        names
            .iter()
            .map(|n| c.drops.get(*n).copied().unwrap_or(0))
            .sum()
    };
    json!({
        "advert_rcvd": c.adverts_received,
        "advert_sent": c.adverts_sent,
        "become_master": c.became_master,
        "release_master": c.released_master,
        "packet_len_err": d(&["truncated", "bad_length"]),
        "advert_interval_err": d(&["interval_mismatch"]),
        "ip_ttl_err": d(&["ttl_not_255"]),
        "invalid_type_rcvd": d(&["bad_type"]),
        "addr_list_err": d(&["address_count", "address_mismatch"]),
        "invalid_authtype": d(&["invalid_auth_type"]),
        "authtype_mismatch": d(&["auth_type_mismatch"]),
        "auth_failure": d(&["auth_failure", "ah_bad_icv", "ah_bad_spi", "ah_replay"]),
        "pri_zero_rcvd": c.priority_zero_received,
        "pri_zero_sent": c.priority_zero_sent,
    })
}

/// The dump as keepalived writes it.
pub fn render(st: &VrrpStatus, cfg: &Config) -> Value {
    Value::Array(
        st.instances
            .iter()
            .map(|i| {
                json!({
                    "data": data(i, cfg.vrrp_instance(&i.name), cfg),
                    "stats": stats(i),
                })
            })
            .collect(),
    )
}

/// Writes the dump to `path` through a temporary file and a rename, so a
/// reader never sees half of it.
pub fn write(path: &Path, st: &VrrpStatus, cfg: &Config) -> std::io::Result<()> {
    let text = serde_json::to_string(&render(st, cfg)).map_err(std::io::Error::other)?;
    let tmp = path.with_extension(format!("json.{}", std::process::id()));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vrrp::status::Counters;

    fn cfg() -> Config {
        let text = "vrrp_script chk {\n script \"/bin/true\"\n}\n\
            vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n priority 120\n\
             advert_int 2\n authentication {\n auth_type PASS\n auth_pass secret\n }\n\
             notify_master /bin/true\n track_script {\n chk\n }\n\
             virtual_ipaddress {\n 192.0.2.111/24 dev eth0\n }\n}\n";
        keel_config::from_str(text, "/k.conf").unwrap().0
    }

    fn status() -> VrrpStatus {
        let mut counters = Counters {
            adverts_sent: 7,
            adverts_received: 3,
            became_master: 1,
            ..Counters::default()
        };
        counters.drops.insert("ttl_not_255".into(), 2);
        VrrpStatus {
            pid: 1,
            started: 0.0,
            updated: 0.0,
            instances: vec![InstanceStatus {
                name: "VI_1".into(),
                interface: "eth0".into(),
                vrid: 51,
                version: 2,
                state: "MASTER".into(),
                base_priority: 120,
                effective_priority: 120,
                advert_interval_ms: 2000,
                master_ip: None,
                since: 1.5,
                vips: vec![],
                vips_installed: true,
                sync_group: None,
                trackers: vec![],
                counters,
            }],
            sync_groups: vec![],
        }
    }

    #[test]
    fn keepalived_field_names_and_numbers() {
        let v = render(&status(), &cfg());
        let o = &v[0];
        let d = &o["data"];
        assert_eq!(d["iname"], "VI_1");
        assert_eq!(d["ifp_ifname"], "eth0");
        assert_eq!(d["state"], 2);
        assert_eq!(d["wantstate"], 2);
        assert_eq!(d["vrid"], 51);
        assert_eq!(d["base_priority"], 120);
        assert_eq!(d["adver_int"], 2.0);
        assert_eq!(d["vipset"], true);
        assert_eq!(d["vips"][0], "192.0.2.111/24 dev eth0 scope global");
        assert_eq!(d["script_master"], "/bin/true");
        assert_eq!(d["track_script"][0], "/bin/true");
        assert_eq!(d["auth_type"], 1);
        assert_eq!(d["auth_data"], "secret");
        let s = &o["stats"];
        assert_eq!(s["advert_sent"], 7);
        assert_eq!(s["advert_rcvd"], 3);
        assert_eq!(s["become_master"], 1);
        assert_eq!(s["ip_ttl_err"], 2);
        for k in [
            "release_master",
            "packet_len_err",
            "advert_interval_err",
            "invalid_type_rcvd",
            "addr_list_err",
            "invalid_authtype",
            "authtype_mismatch",
            "auth_failure",
            "pri_zero_rcvd",
            "pri_zero_sent",
        ] {
            assert_eq!(s[k], 0, "{k}");
        }
    }
}
