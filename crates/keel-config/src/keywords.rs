//! Keyword tables: which keywords are valid in which block, how many
//! arguments each takes, which take a `{ }` block, and which are aliases or
//! obsolete.
//!
//! The builder drives everything generic from here: unknown-keyword warnings
//! with "did you mean" suggestions, arity errors, and splitting statements
//! that were written on one line (`auth_type PASS auth_pass 123.com`).
//! Adding a keyword is one line in the right table; keel-only keywords go in
//! [`KEEL_ONLY`].

mod not_implemented;
pub use not_implemented::{NOT_IMPLEMENTED, not_implemented};

/// Block contexts of keepalived.conf.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ctx {
    Top,
    GlobalDefs,
    VrrpScript,
    TrackFile,
    TrackProcess,
    TrackGroup,
    SyncGroup,
    GarpGroup,
    VrrpInstance,
    Authentication,
    AuthHmac,
    Bfd,
    Ssl,
    VirtualServer,
    RealServer,
    HttpCheck,
    Url,
    TcpCheck,
    SmtpCheck,
    SmtpHost,
    DnsCheck,
    MiscCheck,
    UdpCheck,
    PingCheck,
    FileCheck,
    BfdCheck,
    /// A block whose lines are data (addresses, names, routes), not keywords.
    List,
}

/// "Any number of arguments".
pub const MANY: u8 = u8::MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KwKind {
    Normal,
    /// Deprecated spelling of another keyword; accepted silently.
    Alias(&'static str),
    /// Obsolete keyword: accepted, ignored, with this warning.
    Obsolete(&'static str),
}

/// One keyword of one context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kw {
    pub name: &'static str,
    pub min: u8,
    /// [`MANY`] for unbounded.
    pub max: u8,
    /// The context of the keyword's `{ }` block, if it takes one.
    pub block: Option<Ctx>,
    pub kind: KwKind,
}

const fn k(name: &'static str, min: u8, max: u8) -> Kw {
    Kw {
        name,
        min,
        max,
        block: None,
        kind: KwKind::Normal,
    }
}
/// A keyword that opens a block.
const fn b(name: &'static str, min: u8, max: u8, ctx: Ctx) -> Kw {
    Kw {
        name,
        min,
        max,
        block: Some(ctx),
        kind: KwKind::Normal,
    }
}
const fn alias(name: &'static str, of: &'static str, min: u8, max: u8) -> Kw {
    Kw {
        name,
        min,
        max,
        block: None,
        kind: KwKind::Alias(of),
    }
}
const fn obsolete(name: &'static str, min: u8, max: u8, why: &'static str) -> Kw {
    Kw {
        name,
        min,
        max,
        block: None,
        kind: KwKind::Obsolete(why),
    }
}
/// A valid keyword keel keeps verbatim (`other`), any arguments.
const fn raw(name: &'static str) -> Kw {
    k(name, 0, MANY)
}

/// Keywords that exist only in keel, by context. Keep each one line, e.g.
/// `(Ctx::GlobalDefs, k("keel_lvs_backend", 1, 1)),`.
pub const KEEL_ONLY: &[(Ctx, Kw)] = &[(Ctx::GlobalDefs, k("keel_lvs_backend", 1, 1))];

const TOP: &[Kw] = &[
    b("global_defs", 0, 0, Ctx::GlobalDefs),
    b("vrrp_script", 1, 1, Ctx::VrrpScript),
    b("track_file", 1, 1, Ctx::TrackFile),
    Kw {
        block: Some(Ctx::TrackFile),
        ..alias("vrrp_track_file", "track_file", 1, 1)
    },
    b("vrrp_track_process", 1, 1, Ctx::TrackProcess),
    b("track_group", 1, 1, Ctx::TrackGroup),
    b("bfd_instance", 1, 1, Ctx::Bfd),
    b("vrrp_sync_group", 1, 1, Ctx::SyncGroup),
    b("garp_group", 0, 0, Ctx::GarpGroup),
    b("vrrp_instance", 1, 1, Ctx::VrrpInstance),
    b("static_ipaddress", 0, 0, Ctx::List),
    b("static_routes", 0, 0, Ctx::List),
    b("static_rules", 0, 0, Ctx::List),
    b("linkbeat_interfaces", 0, 0, Ctx::List),
    b("interface_up_down_delays", 0, 0, Ctx::List),
    b("SSL", 0, 0, Ctx::Ssl),
    b("virtual_server_group", 1, 1, Ctx::List),
    b("virtual_server", 1, 2, Ctx::VirtualServer),
    raw("net_namespace"),
    raw("net_namespace_ipvs"),
    raw("namespace_with_ipsets"),
    raw("instance"),
    raw("use_pid_dir"),
    raw("linkbeat_use_polling"),
    raw("child_wait_time"),
];

const GLOBAL_DEFS: &[Kw] = &[
    k("router_id", 1, 1),
    b("notification_email", 0, 0, Ctx::List),
    k("notification_email_from", 1, 1),
    k("smtp_server", 1, 2),
    k("smtp_helo_name", 1, 1),
    k("smtp_connect_timeout", 1, 1),
    k("smtp_alert", 0, 1),
    k("smtp_alert_vrrp", 0, 1),
    k("smtp_alert_checker", 0, 1),
    k("no_email_faults", 0, 0),
    k("checker_log_all_failures", 0, 1),
    k("script_user", 1, 2),
    k("enable_script_security", 0, 0),
    k("default_interface", 1, 1),
    k("dynamic_interfaces", 0, 1),
    k("vrrp_mcast_group4", 1, 1),
    k("vrrp_mcast_group6", 1, 1),
    k("vrrp_version", 1, 1),
    k("vrrp_strict", 0, 0),
    k("vrrp_check_unicast_src", 0, 0),
    k("vrrp_skip_check_adv_addr", 0, 0),
    k("vrrp_lower_prio_no_advert", 0, 1),
    k("vrrp_higher_prio_send_advert", 0, 1),
    k("vrrp_owner_ignore_adverts", 0, 0),
    k("vrrp_garp_master_delay", 1, 1),
    k("vrrp_garp_master_repeat", 1, 1),
    k("vrrp_garp_master_refresh", 1, 1),
    k("vrrp_garp_master_refresh_repeat", 1, 1),
    k("vrrp_garp_lower_prio_delay", 1, 1),
    k("vrrp_garp_lower_prio_repeat", 1, 1),
    k("vrrp_garp_interval", 1, 1),
    k("vrrp_gna_interval", 1, 1),
    k("vrrp_min_garp", 0, 1),
    k("vrrp_garp_extra_if", 1, 2),
    alias("vrrp_vmac_garp_intvl", "vrrp_garp_extra_if", 1, 2),
    k("vrrp_down_timer_adverts", 1, 1),
    k("vrrp_startup_delay", 1, 1),
    k("notify_fifo", 1, 3),
    k("notify_fifo_script", 1, 3),
    k("vrrp_notify_fifo", 1, 3),
    k("vrrp_notify_fifo_script", 1, 3),
    k("lvs_notify_fifo", 1, 3),
    k("lvs_notify_fifo_script", 1, 3),
    k("lvs_sync_daemon", 1, 13),
    k("lvs_timeouts", 2, 6),
    k("lvs_flush", 0, 0),
    k("max_auto_priority", 0, 1),
    k("vrrp_priority", 1, 1),
    k("checker_priority", 1, 1),
    k("bfd_priority", 1, 1),
    k("vrrp_no_swap", 0, 0),
    k("checker_no_swap", 0, 0),
    k("snmp_socket", 1, 1),
    k("enable_traps", 0, 0),
    k("enable_snmp_vrrp", 0, 0),
    alias("enable_snmp_keepalived", "enable_snmp_vrrp", 0, 0),
    k("enable_snmp_checker", 0, 0),
    k("enable_snmp_rfc", 0, 0),
    k("enable_snmp_rfcv2", 0, 0),
    k("enable_snmp_rfcv3", 0, 0),
    k("enable_dbus", 0, 0),
    k("dbus_service_name", 1, 1),
    // Valid keepalived keywords kept verbatim.
    raw("process_names"),
    raw("process_name"),
    raw("vrrp_process_name"),
    raw("checker_process_name"),
    raw("lvs_process_name"),
    raw("bfd_process_name"),
    raw("use_symlink_paths"),
    raw("set_supplementary_groups"),
    raw("startup_script"),
    raw("startup_script_timeout"),
    raw("shutdown_script"),
    raw("shutdown_script_timeout"),
    raw("min_auto_priority_delay"),
    raw("disable_local_igmp"),
    raw("v3_checksum_as_v2"),
    raw("lvs_flush_on_stop"),
    raw("lvs_flush_onstop"),
    raw("vrrp_iptables"),
    raw("vrrp_ipsets"),
    raw("nftables"),
    raw("nftables_priority"),
    raw("nftables_ifindex"),
    raw("nftables_ipvs"),
    raw("nftables_ipvs_priority"),
    raw("nftables_ipvs_start_fwmark"),
    raw("nftables_counters"),
    raw("vrrp_rt_priority"),
    raw("vrrp_cpu_affinity"),
    raw("vrrp_rlimit_rttime"),
    raw("vrrp_rlimit_rtime"),
    raw("checker_rt_priority"),
    raw("checker_cpu_affinity"),
    raw("checker_rlimit_rttime"),
    raw("checker_rlimit_rtime"),
    raw("bfd_no_swap"),
    raw("bfd_rt_priority"),
    raw("bfd_cpu_affinity"),
    raw("bfd_rlimit_rttime"),
    raw("bfd_rlimit_rtime"),
    raw("vrrp_notify_priority_changes"),
    raw("fifo_write_vrrp_states_on_reload"),
    raw("snmp_vs_stats_update_interval"),
    raw("snmp_rs_stats_update_interval"),
    raw("dbus_no_interface_name"),
    raw("vrrp_netlink_cmd_rcv_bufs"),
    raw("vrrp_netlink_cmd_rcv_bufs_force"),
    raw("vrrp_netlink_monitor_rcv_bufs"),
    raw("vrrp_netlink_monitor_rcv_bufs_force"),
    raw("process_monitor_rcv_bufs"),
    raw("process_monitor_rcv_bufs_force"),
    raw("lvs_netlink_cmd_rcv_bufs"),
    raw("lvs_netlink_cmd_rcv_bufs_force"),
    raw("lvs_netlink_monitor_rcv_bufs"),
    raw("lvs_netlink_monitor_rcv_bufs_force"),
    raw("rs_init_notifies"),
    raw("no_checker_emails"),
    raw("vrrp_rx_bufs_policy"),
    raw("vrrp_rx_bufs_multiplier"),
    raw("vrrp_delay_after_boot"),
    raw("log_unknown_vrids"),
    raw("vmac_prefix"),
    raw("vmac_addr_prefix"),
    raw("umask"),
    raw("random_seed"),
    raw("reload_check_config"),
    raw("reload_time_file"),
    raw("reload_repeat"),
    raw("reload_file"),
    raw("include_check"),
    raw("config_save_dir"),
    raw("tmp_config_directory"),
    raw("data_use_instance"),
    raw("json_version"),
    raw("iproute_usr_dir"),
    raw("iproute_etc_dir"),
    raw("state_dump_file"),
    raw("stats_dump_file"),
    raw("json_dump_file"),
    raw("state_dump_file_location"),
    raw("stats_dump_file_location"),
    raw("json_dump_file_location"),
    obsolete(
        "lvs_sync_daemon_interface",
        1,
        MANY,
        "obsolete: use lvs_sync_daemon",
    ),
];

const VRRP_SCRIPT: &[Kw] = &[
    k("script", 1, MANY),
    k("interval", 1, 1),
    k("timeout", 1, 1),
    k("weight", 1, 2),
    k("rise", 1, 1),
    k("fall", 1, 1),
    k("user", 1, 2),
    k("init_fail", 0, 0),
];

const TRACK_FILE: &[Kw] = &[k("file", 1, 1), k("weight", 1, 2), k("init_file", 0, 2)];

const TRACK_PROCESS: &[Kw] = &[
    k("process", 1, MANY),
    k("param_match", 0, 1),
    k("weight", 1, 2),
    k("quorum", 1, 1),
    k("quorum_max", 1, 1),
    k("delay", 1, 1),
    k("terminate_delay", 1, 1),
    k("fork_delay", 1, 1),
    k("full_command", 0, 0),
];

const TRACK_GROUP: &[Kw] = &[b("group", 0, 0, Ctx::List)];

const SYNC_GROUP: &[Kw] = &[
    b("group", 0, 0, Ctx::List),
    b("track_interface", 0, 0, Ctx::List),
    b("track_script", 0, 0, Ctx::List),
    b("track_file", 0, 0, Ctx::List),
    b("track_process", 0, 0, Ctx::List),
    b("track_bfd", 0, 0, Ctx::List),
    k("notify_backup", 1, 3),
    k("notify_master", 1, 3),
    k("notify_fault", 1, 3),
    k("notify_stop", 1, 3),
    k("notify", 1, 3),
    k("smtp_alert", 0, 1),
    k("global_tracking", 0, 0),
    k("sync_group_tracking_weight", 0, 0),
    k("notify_priority_changes", 0, 1),
];

const GARP_GROUP: &[Kw] = &[
    k("garp_interval", 1, 1),
    k("gna_interval", 1, 1),
    k("interface", 1, 1),
    b("interfaces", 0, 0, Ctx::List),
];

const VRRP_INSTANCE: &[Kw] = &[
    k("state", 1, 1),
    k("interface", 1, 1),
    k("vrf", 1, 1),
    k("virtual_router_id", 1, 1),
    k("priority", 1, 1),
    k("advert_int", 1, 1),
    k("version", 1, 1),
    b("authentication", 0, 0, Ctx::Authentication),
    b("auth_hmac", 0, 0, Ctx::AuthHmac),
    b("virtual_ipaddress", 0, 0, Ctx::List),
    b("virtual_ipaddress_excluded", 0, 0, Ctx::List),
    k("no_virtual_ipaddress", 0, 0),
    k("promote_secondaries", 0, 0),
    b("virtual_routes", 0, 0, Ctx::List),
    b("virtual_rules", 0, 0, Ctx::List),
    k("mcast_src_ip", 1, 1),
    k("unicast_src_ip", 1, 1),
    k("mcast_dst_ip", 1, 1),
    b("unicast_peer", 0, 0, Ctx::List),
    k("unicast_ttl", 1, 1),
    k("unicast_fault_no_peer", 0, 0),
    k("check_unicast_src", 0, 0),
    k("track_src_ip", 0, 0),
    k("use_vmac", 0, 4),
    k("use_vmac_addr", 0, 0),
    k("vmac_xmit_base", 0, 0),
    k("use_ipvlan", 0, 3),
    k("nopreempt", 0, 0),
    k("preempt", 0, 0),
    k("preempt_delay", 1, 1),
    k("garp_master_delay", 1, 1),
    k("garp_master_repeat", 1, 1),
    k("garp_master_refresh", 1, 1),
    k("garp_master_refresh_repeat", 1, 1),
    k("garp_lower_prio_delay", 1, 1),
    k("garp_lower_prio_repeat", 1, 1),
    k("garp_extra_if", 1, 2),
    alias("vmac_garp_intvl", "garp_extra_if", 1, 2),
    k("down_timer_adverts", 1, 1),
    k("lower_prio_no_advert", 0, 1),
    k("higher_prio_send_advert", 0, 1),
    k("owner_ignore_adverts", 0, 1),
    k("skip_check_adv_addr", 0, 1),
    k("strict_mode", 0, 1),
    k("accept", 0, 0),
    k("no_accept", 0, 0),
    k("dont_track_primary", 0, 0),
    b("track_interface", 0, 0, Ctx::List),
    b("track_script", 0, 0, Ctx::List),
    b("track_file", 0, 0, Ctx::List),
    b("track_process", 0, 0, Ctx::List),
    b("track_bfd", 0, 0, Ctx::List),
    k("notify_master", 1, 3),
    k("notify_backup", 1, 3),
    k("notify_fault", 1, 3),
    k("notify_stop", 1, 3),
    k("notify_deleted", 0, 3),
    k("notify", 1, 3),
    k("notify_master_rx_lower_pri", 1, 3),
    k("smtp_alert", 0, 1),
    k("notify_priority_changes", 0, 1),
    k("timer_expired_backup", 0, 1),
    alias("thread_timer_expired", "timer_expired_backup", 0, 1),
    k("linkbeat_use_polling", 0, 0),
    k("debug", 0, 1),
    raw("old_unicast_checksum"),
    raw("native_ipv6"),
    raw("v3_checksum_as_v2"),
    raw("kernel_rx_buf_size"),
    raw("lvs_sync_daemon_interface"),
];

const AUTHENTICATION: &[Kw] = &[k("auth_type", 1, 1), k("auth_pass", 1, 1)];

const AUTH_HMAC: &[Kw] = &[
    k("key", 1, MANY),
    k("active_key", 1, 1),
    k("time_window", 1, 1),
    k("anti_replay", 1, 1),
    k("mode", 1, 1),
];

const BFD: &[Kw] = &[
    k("source_ip", 1, 1),
    k("neighbor_ip", 1, 1),
    alias("neighbour_ip", "neighbor_ip", 1, 1),
    k("min_rx", 1, 1),
    k("min_tx", 1, 1),
    k("idle_tx", 1, 1),
    k("multiplier", 1, 1),
    k("passive", 0, 0),
    k("ttl", 1, 1),
    k("hoplimit", 1, 1),
    k("max_hops", 1, 1),
    k("multihop", 0, 1),
    k("weight", 1, 2),
    k("vrrp", 0, 0),
    k("checker", 0, 0),
];

const SSL: &[Kw] = &[
    k("password", 1, 1),
    k("ca", 1, 1),
    k("certificate", 1, 1),
    k("key", 1, 1),
];

const VIRTUAL_SERVER: &[Kw] = &[
    k("ip_family", 1, 1),
    k("delay_loop", 1, 1),
    k("lvs_sched", 1, 1),
    alias("lb_algo", "lvs_sched", 1, 1),
    k("hashed", 0, 0),
    k("ops", 0, 0),
    k("flag-1", 0, 0),
    k("flag-2", 0, 0),
    k("flag-3", 0, 0),
    k("sh-port", 0, 0),
    k("sh-fallback", 0, 0),
    k("mh-port", 0, 0),
    k("mh-fallback", 0, 0),
    k("lvs_method", 1, 6),
    alias("lb_kind", "lvs_method", 1, 6),
    k("persistence_engine", 1, 1),
    k("persistence_timeout", 0, 1),
    k("persistence_granularity", 1, 1),
    k("protocol", 1, 1),
    k("ha_suspend", 0, 0),
    k("smtp_alert", 0, 1),
    k("virtualhost", 1, 1),
    k("snmp_name", 1, 1),
    k("alpha", 0, 1),
    k("omega", 0, 1),
    k("quorum_up", 1, 3),
    k("quorum_down", 1, 3),
    k("quorum", 1, 1),
    k("hysteresis", 1, 1),
    raw("weight"),
    k("sorry_server", 1, 2),
    k("sorry_server_inhibit", 0, 0),
    k("sorry_server_lvs_method", 1, 6),
    k("inhibit_on_failure", 0, 1),
    k("connect_timeout", 1, 1),
    k("retry", 1, 1),
    k("delay_before_retry", 1, 1),
    k("warmup", 1, 1),
    b("real_server", 1, 2, Ctx::RealServer),
    obsolete(
        "nat_mask",
        1,
        1,
        "obsolete: ignored (the mask comes from the address)",
    ),
];

const REAL_SERVER: &[Kw] = &[
    k("weight", 1, 1),
    k("lvs_method", 1, 6),
    alias("lb_kind", "lvs_method", 1, 6),
    k("uthreshold", 1, 1),
    k("lthreshold", 1, 1),
    k("inhibit_on_failure", 0, 1),
    k("notify_up", 1, 3),
    k("notify_down", 1, 3),
    k("alpha", 0, 1),
    k("retry", 1, 1),
    k("delay_before_retry", 1, 1),
    k("warmup", 1, 1),
    k("connect_timeout", 1, 1),
    k("delay_loop", 1, 1),
    k("smtp_alert", 0, 1),
    k("virtualhost", 1, 1),
    k("snmp_name", 1, 1),
    b("HTTP_GET", 0, 0, Ctx::HttpCheck),
    b("SSL_GET", 0, 0, Ctx::HttpCheck),
    b("TCP_CHECK", 0, 0, Ctx::TcpCheck),
    b("SMTP_CHECK", 0, 0, Ctx::SmtpCheck),
    b("DNS_CHECK", 0, 0, Ctx::DnsCheck),
    b("MISC_CHECK", 0, 0, Ctx::MiscCheck),
    b("UDP_CHECK", 0, 0, Ctx::UdpCheck),
    b("PING_CHECK", 0, 0, Ctx::PingCheck),
    b("FILE_CHECK", 0, 0, Ctx::FileCheck),
    b("BFD_CHECK", 0, 0, Ctx::BfdCheck),
];

/// Options every connecting checker takes.
const CHECKER_CONN: &[Kw] = &[
    k("connect_ip", 1, 1),
    k("connect_port", 1, 1),
    k("bindto", 1, 1),
    k("bind_port", 1, 1),
    k("bind_if", 1, 1),
    k("connect_timeout", 1, 1),
    k("fwmark", 1, 1),
];

/// Timing options of every checker except FILE_CHECK and BFD_CHECK.
const CHECKER_TIMING: &[Kw] = &[
    k("retry", 1, 1),
    k("delay_before_retry", 1, 1),
    k("warmup", 1, 1),
    k("delay_loop", 1, 1),
    k("alpha", 0, 1),
    k("log_all_failures", 0, 1),
];

const HTTP_CHECK: &[Kw] = &[
    alias("nb_get_retry", "retry", 1, 1),
    k("virtualhost", 1, 1),
    k("http_protocol", 1, 1),
    k("enable_sni", 0, 1),
    k("sni_name", 1, 1),
    k("fast_recovery", 0, 1),
    k("tls_compliant", 0, 1),
    b("url", 0, 0, Ctx::Url),
];

const URL: &[Kw] = &[
    k("path", 1, 1),
    k("digest", 1, 1),
    k("status_code", 1, MANY),
    k("virtualhost", 1, 1),
    k("regex", 1, 1),
    k("regex_no_match", 0, 0),
    k("regex_options", 1, MANY),
    k("regex_min_offset", 1, 1),
    k("regex_max_offset", 1, 1),
    k("regex_stack", 2, 2),
    k("tls_compliant", 0, 1),
];

const SMTP_CHECK: &[Kw] = &[k("helo_name", 1, 1), b("host", 0, 0, Ctx::SmtpHost)];
const DNS_CHECK: &[Kw] = &[k("type", 1, 1), k("name", 1, 1)];
const MISC_CHECK: &[Kw] = &[
    k("misc_path", 1, MANY),
    k("misc_timeout", 1, 1),
    k("misc_dynamic", 0, 0),
    k("user", 1, 2),
];
const UDP_CHECK: &[Kw] = &[
    k("payload", 1, 1),
    k("require_reply", 0, 1),
    k("min_reply_length", 1, 1),
    k("max_reply_length", 1, 1),
];
const FILE_CHECK: &[Kw] = &[k("track_file", 1, 1), k("weight", 1, 2)];
const BFD_CHECK: &[Kw] = &[k("name", 1, 1), k("alpha", 0, 1)];

/// The keyword tables that make up a context, in lookup order.
fn tables(ctx: Ctx) -> &'static [&'static [Kw]] {
    match ctx {
        Ctx::Top => &[TOP],
        Ctx::GlobalDefs => &[GLOBAL_DEFS],
        Ctx::VrrpScript => &[VRRP_SCRIPT],
        Ctx::TrackFile => &[TRACK_FILE],
        Ctx::TrackProcess => &[TRACK_PROCESS],
        Ctx::TrackGroup => &[TRACK_GROUP],
        Ctx::SyncGroup => &[SYNC_GROUP],
        Ctx::GarpGroup => &[GARP_GROUP],
        Ctx::VrrpInstance => &[VRRP_INSTANCE],
        Ctx::Authentication => &[AUTHENTICATION],
        Ctx::AuthHmac => &[AUTH_HMAC],
        Ctx::Bfd => &[BFD],
        Ctx::Ssl => &[SSL],
        Ctx::VirtualServer => &[VIRTUAL_SERVER],
        Ctx::RealServer => &[REAL_SERVER],
        Ctx::HttpCheck => &[HTTP_CHECK, CHECKER_CONN, CHECKER_TIMING],
        Ctx::Url => &[URL],
        Ctx::TcpCheck | Ctx::PingCheck => &[CHECKER_CONN, CHECKER_TIMING],
        Ctx::SmtpCheck => &[SMTP_CHECK, CHECKER_CONN, CHECKER_TIMING],
        Ctx::SmtpHost => &[CHECKER_CONN, CHECKER_TIMING],
        Ctx::DnsCheck => &[DNS_CHECK, CHECKER_CONN, CHECKER_TIMING],
        Ctx::MiscCheck => &[MISC_CHECK, CHECKER_TIMING],
        Ctx::UdpCheck => &[UDP_CHECK, CHECKER_CONN, CHECKER_TIMING],
        Ctx::FileCheck => &[FILE_CHECK],
        Ctx::BfdCheck => &[BFD_CHECK],
        Ctx::List => &[],
    }
}

/// Every keyword valid in `ctx` (keepalived's and keel-only ones).
pub fn keywords(ctx: Ctx) -> impl Iterator<Item = &'static Kw> {
    tables(ctx).iter().flat_map(|t| t.iter()).chain(
        KEEL_ONLY
            .iter()
            .filter(move |(c, _)| *c == ctx)
            .map(|(_, kw)| kw),
    )
}

/// Look `name` up in `ctx`.
pub fn lookup(ctx: Ctx, name: &str) -> Option<&'static Kw> {
    keywords(ctx).find(|kw| kw.name == name)
}

/// The canonical name of a keyword (an alias's target, else itself).
pub fn canonical(kw: &Kw) -> &'static str {
    match kw.kind {
        KwKind::Alias(of) => of,
        _ => kw.name,
    }
}

/// The known keyword of `ctx` nearest to `word`, if close enough to be a
/// plausible typo (optimal string alignment distance, so a swap of two
/// adjacent letters counts as one edit).
pub fn suggest(ctx: Ctx, word: &str) -> Option<&'static str> {
    let limit = match word.chars().count() {
        0..=3 => 1,
        4..=7 => 2,
        _ => 3,
    };
    keywords(ctx)
        .map(|kw| {
            (
                osa_distance(&word.to_ascii_lowercase(), &kw.name.to_ascii_lowercase()),
                kw.name,
            )
        })
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

/// Optimal string alignment (restricted Damerau-Levenshtein) distance.
pub fn osa_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let (n, m) = (a.len(), b.len());
    let mut d = vec![vec![0usize; m + 1]; n + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=n {
        for j in 1..=m {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[n][m]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_implemented_names_valid_keywords() {
        for (ctx, name) in NOT_IMPLEMENTED {
            let kw = lookup(*ctx, name);
            assert!(kw.is_some(), "{name} is not a keyword of {ctx:?}");
            assert_eq!(
                canonical(kw.unwrap()),
                *name,
                "{name}: use the canonical name"
            );
        }
    }

    #[test]
    fn typo_suggestions() {
        assert_eq!(suggest(Ctx::VrrpInstance, "priorty"), Some("priority"));
        assert_eq!(
            suggest(Ctx::VrrpInstance, "virtual_router_di"),
            Some("virtual_router_id")
        );
        assert_eq!(suggest(Ctx::VrrpInstance, "completely_else"), None);
    }

    #[test]
    fn aliases_resolve() {
        let kw = lookup(Ctx::VirtualServer, "lb_algo").unwrap();
        assert_eq!(canonical(kw), "lvs_sched");
        let kw = lookup(Ctx::HttpCheck, "nb_get_retry").unwrap();
        assert_eq!(canonical(kw), "retry");
    }

    #[test]
    fn no_duplicate_keywords_per_context() {
        use Ctx::*;
        for ctx in [
            Top,
            GlobalDefs,
            VrrpScript,
            TrackFile,
            TrackProcess,
            TrackGroup,
            SyncGroup,
            GarpGroup,
            VrrpInstance,
            Authentication,
            AuthHmac,
            Bfd,
            Ssl,
            VirtualServer,
            RealServer,
            HttpCheck,
            Url,
            TcpCheck,
            SmtpCheck,
            SmtpHost,
            DnsCheck,
            MiscCheck,
            UdpCheck,
            PingCheck,
            FileCheck,
            BfdCheck,
        ] {
            let mut names: Vec<_> = keywords(ctx).map(|k| k.name).collect();
            let n = names.len();
            names.sort_unstable();
            names.dedup();
            assert_eq!(n, names.len(), "{ctx:?}");
        }
    }
}
