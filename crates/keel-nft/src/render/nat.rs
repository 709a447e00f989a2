//! NAT services: one `inet` table whose nat hooks dispatch to a chain per
//! service, which picks a destination chain that DNATs.

use super::*;

pub(super) fn render_nat(out: &mut String, services: &[&VirtualService], opts: &Options) {
    let maps = dispatch_maps(services, false);
    let _ = writeln!(out, "table inet {} {{", opts.table);
    write_maps(out, &maps);

    let mut masq: [BTreeSet<IpAddr>; 2] = [BTreeSet::new(), BTreeSet::new()];
    for svc in services {
        for d in &svc.destinations {
            if !is_local(opts, d.addr) && opts.masquerade.applies(d.addr) {
                masq[usize::from(d.addr.is_ipv6())].insert(d.addr);
            }
        }
    }
    for (i, set) in masq.iter().enumerate() {
        if set.is_empty() {
            continue;
        }
        let (name, ty) = if i == 0 {
            ("masq4", "ipv4_addr")
        } else {
            ("masq6", "ipv6_addr")
        };
        let elems: Vec<String> = set.iter().map(|a| a.to_string()).collect();
        let _ = writeln!(
            out,
            "\tset {name} {{\n\t\ttype {ty}\n\t\telements = {{ {} }}\n\t}}",
            elems.join(", ")
        );
    }
    for svc in services {
        if let Some(p) = svc.persistence {
            let chain = service_chain(&svc.key);
            let ty = match svc.key.family() {
                Family::Inet => "ipv4_addr",
                Family::Inet6 => "ipv6_addr",
            };
            for d in svc.schedulable() {
                let _ = writeln!(
                    out,
                    "\tset {} {{\n\t\ttype {ty}\n\t\tflags dynamic,timeout\n\t\ttimeout {}s\n\t}}",
                    affinity_set(&chain, p, d.key()),
                    p.timeout.max(1)
                );
            }
        }
    }

    // dstnat priority for both hooks; the output hook does not accept the
    // symbolic name, hence -100.
    for hook in ["prerouting", "output"] {
        let _ = writeln!(
            out,
            "\tchain {hook} {{\n\t\ttype nat hook {hook} priority -100; policy accept;"
        );
        write_dispatch_rules(out, &maps);
        out.push_str("\t}\n");
    }
    if masq.iter().any(|s| !s.is_empty()) {
        out.push_str(
            "\tchain postrouting {\n\t\ttype nat hook postrouting priority 100; policy accept;\n",
        );
        if !masq[0].is_empty() {
            out.push_str("\t\tct status dnat ip daddr @masq4 masquerade\n");
        }
        if !masq[1].is_empty() {
            out.push_str("\t\tct status dnat ip6 daddr @masq6 masquerade\n");
        }
        out.push_str("\t}\n");
    }

    for svc in services {
        service_chains(out, svc, opts);
    }
    out.push_str("}\n");
}

/// The chains of one service: the scheduling chain and a DNAT chain per
/// destination.
fn service_chains(out: &mut String, svc: &VirtualService, opts: &Options) {
    let chain = service_chain(&svc.key);
    let family = svc.key.family();
    let ip = ip_kw(family);
    let live = svc.schedulable();
    let _ = writeln!(out, "\tchain {chain} {{");
    let _ = writeln!(out, "\t\tcounter comment \"{}\"", service_comment(svc));
    if let Some(p) = svc.persistence {
        // A client seen recently goes back to its server (kube-proxy's
        // affinity sets); quiescent servers get no returning clients.
        for d in &live {
            let _ = writeln!(
                out,
                "\t\t{ip} saddr{} @{} goto {}",
                mask_suffix(family, p.netmask),
                affinity_set(&chain, p, d.key()),
                dest_chain(&chain, d.key())
            );
        }
    }
    if live.is_empty() {
        out.push_str("\t\treject\n");
    } else {
        out.push_str(&schedule_rule(svc, &live, &chain, opts, false));
    }
    out.push_str("\t}\n");

    for d in &svc.destinations {
        let _ = writeln!(out, "\tchain {} {{", dest_chain(&chain, d.key()));
        let _ = writeln!(out, "\t\tcounter comment \"{}\"", dest_comment(d));
        if let (Some(p), true) = (svc.persistence, d.weight > 0) {
            let _ = writeln!(
                out,
                "\t\tupdate @{} {{ {ip} saddr{} }}",
                affinity_set(&chain, p, d.key()),
                mask_suffix(family, p.netmask)
            );
        }
        let line = dnat_line(svc, d, opts);
        let _ = writeln!(out, "\t\t{line}\n\t}}");
    }
}

/// The DNAT (or local redirect) of one destination.
fn dnat_line(svc: &VirtualService, d: &Destination, opts: &Options) -> String {
    let ip = ip_kw(svc.key.family());
    let l4 = match svc.key {
        ServiceKey::Addr { proto, .. } => proto_kw(proto).to_string(),
        ServiceKey::Fwmark { .. } => "{ tcp, udp, sctp }".to_string(),
    };
    if is_local(opts, d.addr) {
        if d.port == 0 {
            format!("meta l4proto {l4} redirect")
        } else {
            format!("meta l4proto {l4} redirect to :{}", d.port)
        }
    } else if d.port == 0 {
        format!("dnat {ip} to {}", d.addr)
    } else {
        let addr = match d.addr {
            IpAddr::V4(a) => a.to_string(),
            IpAddr::V6(a) => format!("[{a}]"),
        };
        format!("meta l4proto {l4} dnat {ip} to {addr}:{}", d.port)
    }
}
