//! Building the engine's state from the configuration.

use super::*;
use crate::spec;
use keel_lvs::Protocol;

/// Upper bound on addresses one group range expands to, so a typo such as
/// `10.0.0.0/8` cannot make a table of millions of services.
const MAX_GROUP_RANGE: u128 = 65_536;

fn expand_range(first: IpAddr, last: IpAddr) -> Vec<IpAddr> {
    match (first, last) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let (a, b) = (u32::from(a), u32::from(b));
            if b < a || (b - a) as u128 >= MAX_GROUP_RANGE {
                return vec![first];
            }
            (a..=b)
                .map(|x| IpAddr::V4(std::net::Ipv4Addr::from(x)))
                .collect()
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let (a, b) = (u128::from(a), u128::from(b));
            if b < a || b - a >= MAX_GROUP_RANGE {
                return vec![first];
            }
            (a..=b)
                .map(|x| IpAddr::V6(std::net::Ipv6Addr::from(x)))
                .collect()
        }
        _ => vec![first],
    }
}

fn rs_label(addr: IpAddr, proto: Option<Protocol>, port: u16) -> String {
    let p = proto.map_or("none", Protocol::keepalived_name);
    format!("[{addr}]:{p}:{port}")
}

/// The services one virtual server stands for, its keepalived name, the
/// port its real servers default to and its protocol (`None` for fwmark).
struct Services {
    keys: Vec<ServiceKey>,
    label: String,
    port: u16,
    proto: Option<Protocol>,
}

fn services(config: &cfg::Config, vs: &cfg::VirtualServer) -> Result<Services, BuildError> {
    // keel-config has already defaulted an address service's protocol to
    // UDP, as keepalived does.
    let proto = vs.protocol.unwrap_or(Protocol::Udp);
    let family = vs.ip_family.unwrap_or_default();
    Ok(match &vs.address {
        cfg::VsAddress::Ip { address, port } => {
            let key = ServiceKey::Addr {
                ip: *address,
                proto,
                port: *port,
            };
            Services {
                keys: vec![key],
                label: key.keepalived_name(),
                port: *port,
                proto: Some(proto),
            }
        }
        cfg::VsAddress::Fwmark { mark } => {
            let key = ServiceKey::Fwmark {
                mark: *mark,
                family,
            };
            Services {
                keys: vec![key],
                label: key.keepalived_name(),
                port: 0,
                proto: None,
            }
        }
        cfg::VsAddress::Group { name } => {
            let group = config
                .virtual_server_group(name)
                .ok_or_else(|| BuildError::UnknownGroup(name.clone()))?;
            let mut keys = Vec::new();
            let mut port0 = 0;
            for e in &group.entries {
                match e {
                    cfg::VsgEntry::Range { first, last, port } => {
                        let port = port.unwrap_or(0);
                        if port0 == 0 {
                            port0 = port;
                        }
                        keys.extend(
                            expand_range(*first, *last)
                                .into_iter()
                                .map(|ip| ServiceKey::Addr { ip, proto, port }),
                        );
                    }
                    cfg::VsgEntry::Fwmark { mark, family: f } => keys.push(ServiceKey::Fwmark {
                        mark: *mark,
                        family: f.unwrap_or(family),
                    }),
                }
            }
            Services {
                keys,
                label: format!("[{name}]:{port0}"),
                port: port0,
                proto: Some(proto),
            }
        }
    })
}

impl CheckerSet {
    /// Builds the engine from a parsed configuration. Nothing is scheduled
    /// until [`CheckerSet::start`].
    pub fn from_config(config: &cfg::Config, host: &Host) -> Result<CheckerSet, BuildError> {
        let mut vss = Vec::with_capacity(config.virtual_servers.len());
        for vs in &config.virtual_servers {
            vss.push(Self::build_vs(config, vs, host)?);
        }
        Ok(CheckerSet {
            vss,
            queue: BTreeSet::new(),
            started: false,
            stopped: false,
            log_all_failures: config.global_defs.checker_log_all_failures,
        })
    }

    fn build_vs(
        config: &cfg::Config,
        vs: &cfg::VirtualServer,
        host: &Host,
    ) -> Result<VsState, BuildError> {
        let Services {
            keys,
            label,
            port: vs_port,
            proto,
        } = services(config, vs)?;
        let method = vs.lvs_method;
        let mut rss = Vec::with_capacity(vs.real_servers.len());
        for rs in &vs.real_servers {
            let port = rs.port.unwrap_or(vs_port);
            let rlabel = rs_label(rs.address, proto, port);
            let ctx = spec::Ctx {
                rs_addr: rs.address,
                rs_port: port,
                rs_vhost: rs.virtualhost.as_deref(),
                vs_vhost: vs.virtualhost.as_deref(),
                track_files: &config.track_files,
                smtp_helo: config.global_defs.smtp_helo_name.as_deref(),
                hostname: &host.hostname,
            };
            let rs_alpha = rs.alpha.unwrap_or(vs.alpha);
            let mut checkers = Vec::with_capacity(rs.checkers.len());
            for c in &rs.checkers {
                let spec = spec::build(c, &ctx).map_err(|source| BuildError::Checker {
                    vs: label.clone(),
                    rs: rlabel.clone(),
                    checker: c.kind().to_string(),
                    source,
                })?;
                checkers.push(Self::build_checker(config, c, spec, rs_alpha));
            }
            rss.push(RsState {
                addr: rs.address,
                port,
                label: rlabel,
                iweight: rs.weight as i64,
                method: rs.lvs_method.unwrap_or(method),
                inhibit: rs.inhibit_on_failure.unwrap_or(vs.inhibit_on_failure),
                uthreshold: rs.uthreshold.unwrap_or(0),
                lthreshold: rs.lthreshold.unwrap_or(0),
                notify_up: rs.notify_up.clone(),
                notify_down: rs.notify_down.clone(),
                alive: false,
                checkers,
            });
        }
        let sorry = vs.sorry_server.as_ref().map(|s| {
            let port = s.port.unwrap_or(vs_port);
            SorryState {
                addr: s.address,
                port,
                label: rs_label(s.address, proto, port),
                inhibit: s.inhibit,
                method: s.lvs_method.unwrap_or(method),
                alive: false,
            }
        });
        Ok(VsState {
            keys,
            label,
            scheduler: vs.lvs_sched,
            persistence: vs.persistence(),
            quorum: vs.quorum as i64,
            hysteresis: vs.hysteresis as i64,
            quorum_up_script: vs.quorum_up.clone(),
            quorum_down_script: vs.quorum_down.clone(),
            omega: vs.omega,
            sorry,
            quorum_state_up: false,
            rss,
        })
    }

    fn build_checker(
        config: &cfg::Config,
        c: &cfg::Checker,
        spec: ProbeSpec,
        rs_alpha: bool,
    ) -> CheckerState {
        let role = match c {
            cfg::Checker::Misc { misc, .. } => Role::Misc {
                dynamic: misc.misc_dynamic,
            },
            cfg::Checker::File { file } => {
                let tf = config
                    .track_files
                    .iter()
                    .find(|t| t.name == file.track_file);
                match (file.weight, tf) {
                    (Some(w), _) => Role::File {
                        weight: w,
                        reverse: file.reverse,
                    },
                    (None, Some(t)) => Role::File {
                        weight: t.weight,
                        reverse: t.reverse,
                    },
                    (None, None) => Role::File {
                        weight: 0,
                        reverse: false,
                    },
                }
            }
            cfg::Checker::Bfd { .. } => Role::External,
            _ => Role::Plain,
        };
        let (retry, dbr, delay_loop, warmup, alpha) = match c.common() {
            Some(k) => (
                k.retry,
                k.delay_before_retry,
                k.delay_loop,
                k.warmup,
                k.alpha.unwrap_or(rs_alpha),
            ),
            // FILE_CHECK knows its state at once; keepalived clears alpha.
            None => (
                0,
                FILE_POLL_INTERVAL,
                FILE_POLL_INTERVAL,
                Duration::ZERO,
                match c {
                    cfg::Checker::Bfd { bfd } => bfd.alpha.unwrap_or(rs_alpha),
                    _ => false,
                },
            ),
        };
        CheckerState {
            kind: c.kind(),
            spec,
            role,
            retry,
            delay_before_retry: dbr,
            delay_loop,
            warmup,
            alpha,
            is_up: !alpha,
            has_run: false,
            // keepalived: one failure is enough before the first success.
            retry_it: retry,
            next: None,
            in_flight: false,
            cur_weight: 0,
        }
    }
}
