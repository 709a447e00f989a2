//! keepalived.conf text fed to both daemons.

use std::fmt::Write as _;

pub const IFACE: &str = "eth0";
/// The VIP of the single-instance runs and its VRID (as in the probe).
pub const VIP: &str = "192.0.2.50";
pub const VRID: u8 = 51;
const AUTH_PASS: &str = "kb-pass";

/// One `vrrp_instance`.
#[derive(Debug, Clone)]
pub struct Instance {
    pub vrid: u8,
    /// `addr/len` as written in `virtual_ipaddress`.
    pub vip: String,
}

#[derive(Debug, Clone)]
pub struct Conf {
    pub router_id: String,
    pub version: u8,
    /// As written after `advert_int` (`1`, `0.1`, `0.01`).
    pub advert: String,
    pub priority: u8,
    pub instances: Vec<Instance>,
    /// Number of `vrrp_script`s (`/bin/sleep 0.5`, interval 1, timeout 2)
    /// tracked by every instance.
    pub scripts: usize,
}

/// The single instance of the failover and jitter runs.
pub fn single() -> Vec<Instance> {
    vec![Instance {
        vrid: VRID,
        vip: format!("{VIP}/24"),
    }]
}

/// VRIDs 1..=n, one /32 VIP each, taken from 198.51.100.0/24 and then
/// 203.0.113.0/24 (so the lab's own 192.0.2.0/24 stays uncluttered).
pub fn many(n: u8) -> Vec<Instance> {
    (1..=n)
        .map(|vrid| {
            let vip = if vrid <= 200 {
                format!("198.51.100.{vrid}/32")
            } else {
                format!("203.0.113.{}/32", vrid - 200)
            };
            Instance { vrid, vip }
        })
        .collect()
}

impl Conf {
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "global_defs {{\n    router_id {}\n}}", self.router_id);
        for i in 0..self.scripts {
            // A negative weight makes the scripts count for the priority
            // without ever failing the instance: `sleep 0.5` always succeeds
            // well inside its timeout.
            let _ = writeln!(
                s,
                "vrrp_script chk_{i} {{\n    script \"/bin/sleep 0.5\"\n    interval 1\n    timeout 2\n    weight -1\n}}"
            );
        }
        for inst in &self.instances {
            let _ = writeln!(s, "vrrp_instance VI_{} {{", inst.vrid);
            let _ = writeln!(s, "    version {}", self.version);
            let _ = writeln!(s, "    state BACKUP");
            let _ = writeln!(s, "    interface {IFACE}");
            let _ = writeln!(s, "    virtual_router_id {}", inst.vrid);
            let _ = writeln!(s, "    priority {}", self.priority);
            let _ = writeln!(s, "    advert_int {}", self.advert);
            if self.version == 2 {
                let _ = writeln!(
                    s,
                    "    authentication {{\n        auth_type PASS\n        auth_pass {AUTH_PASS}\n    }}"
                );
            }
            let _ = writeln!(s, "    virtual_ipaddress {{\n        {}\n    }}", inst.vip);
            if self.scripts > 0 {
                let _ = writeln!(s, "    track_script {{");
                for i in 0..self.scripts {
                    let _ = writeln!(s, "        chk_{i}");
                }
                let _ = writeln!(s, "    }}");
            }
            let _ = writeln!(s, "}}");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_has_auth_v3_has_not() {
        let mut c = Conf {
            router_id: "lb1".into(),
            version: 2,
            advert: "1".into(),
            priority: 100,
            instances: single(),
            scripts: 0,
        };
        let t = c.render();
        assert!(t.contains("virtual_router_id 51\n"));
        assert!(t.contains("auth_type PASS"));
        assert!(t.contains("192.0.2.50/24"));
        assert!(!t.contains("track_script"));
        c.version = 3;
        c.advert = "0.01".into();
        let t = c.render();
        assert!(!t.contains("authentication"));
        assert!(t.contains("advert_int 0.01\n"));
    }

    #[test]
    fn many_instances_get_distinct_vips() {
        let v = many(255);
        assert_eq!(v.len(), 255);
        assert_eq!(v[0].vip, "198.51.100.1/32");
        assert_eq!(v[199].vip, "198.51.100.200/32");
        assert_eq!(v[254].vip, "203.0.113.55/32");
        let mut vips: Vec<&str> = v.iter().map(|i| i.vip.as_str()).collect();
        vips.sort();
        vips.dedup();
        assert_eq!(vips.len(), 255);
    }

    #[test]
    fn scripts_are_defined_and_tracked() {
        let c = Conf {
            router_id: "lb1".into(),
            version: 2,
            advert: "1".into(),
            priority: 100,
            instances: single(),
            scripts: 3,
        };
        let t = c.render();
        assert_eq!(t.matches("vrrp_script chk_").count(), 3);
        assert!(t.contains("track_script {\n        chk_0\n        chk_1\n        chk_2\n    }"));
        assert!(t.contains("script \"/bin/sleep 0.5\""));
    }
}
