//! DR services: one `netdev` table whose ingress chains forward a packet
//! for a virtual address to the chosen real server's MAC (`fwd`).

use super::*;

pub(super) fn render_dr(
    out: &mut String,
    services: &[&VirtualService],
    opts: &Options,
) -> Result<(), RenderError> {
    // Device per service first, so a missing one fails before any output.
    let mut devices: BTreeMap<String, ()> = BTreeMap::new();
    let mut svc_dev: Vec<String> = Vec::new();
    for svc in services {
        let ip = match svc.key {
            ServiceKey::Addr { ip, .. } => ip,
            // validate() refuses DR fwmark services.
            ServiceKey::Fwmark { .. } => continue,
        };
        let dev = opts
            .dr_devices
            .get(&ip)
            .or(opts.dr_default_device.as_ref())
            .ok_or(RenderError::NoDrDevice(svc.key, ip))?;
        check_device(dev)?;
        devices.insert(dev.clone(), ());
        svc_dev.push(dev.clone());
    }
    let maps = dispatch_maps(services, true);
    let _ = writeln!(out, "table netdev {} {{", opts.table);
    write_maps(out, &maps);
    for svc in services.iter().filter(|s| pins_flows(s)) {
        let ty = match svc.key.family() {
            Family::Inet => "ipv4_addr",
            Family::Inet6 => "ipv6_addr",
        };
        for d in &svc.destinations {
            let _ = writeln!(
                out,
                "\tset {} {{\n\t\ttype {ty} . inet_service\n\t\tsize {FLOW_SET_SIZE}\n\t\tflags dynamic,timeout\n\t\ttimeout {}s\n\t}}",
                flow_set(svc, d.key()),
                flow_timeout(svc)
            );
        }
    }
    for dev in devices.keys() {
        let _ = writeln!(
            out,
            "\tchain ingress-{} {{\n\t\ttype filter hook ingress device \"{dev}\" priority 0; policy accept;",
            dev.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
        );
        write_dispatch_rules(out, &maps);
        out.push_str("\t}\n");
    }
    for (svc, dev) in services.iter().zip(&svc_dev) {
        service_chains(out, svc, dev, opts);
    }
    out.push_str("}\n");
    Ok(())
}

/// The chains of one service: the scheduling chain (SYN rotation, pinned
/// flows, slot table) and a forwarding chain per destination.
fn service_chains(out: &mut String, svc: &VirtualService, dev: &str, opts: &Options) {
    let chain = service_chain(&svc.key);
    let live = svc.schedulable();
    let _ = writeln!(out, "\tchain {chain} {{");
    let _ = writeln!(out, "\t\tcounter comment \"{}\"", service_comment(svc));
    let pinned = pins_flows(svc);
    let flow_key = format!("{} saddr . th sport", ip_kw(svc.key.family()));
    let tcp = matches!(
        svc.key,
        ServiceKey::Addr {
            proto: Protocol::Tcp,
            ..
        }
    );
    let quiescent: Vec<&Destination> = svc.destinations.iter().filter(|d| d.weight == 0).collect();
    if pinned && tcp && !live.is_empty() {
        // Only a SYN starts a connection, and every SYN takes its turn,
        // even one reusing the source port of a pinned flow: clients
        // reuse ports as soon as the server closed first, and a stale
        // pin must not bend the rotation. The chosen server's chain
        // takes the flow from every other server's set.
        let _ = writeln!(
            out,
            "\t\ttcp flags & (syn | ack) == syn {}",
            rotation(svc, &live, &chain)
        );
    }
    if pinned {
        // Known flows next. Like IPVS, weight 0 takes no new
        // connections but keeps the ones it has.
        for d in live.iter().copied().chain(quiescent.iter().copied()) {
            let _ = writeln!(
                out,
                "\t\t{flow_key} @{} goto {}",
                flow_set(svc, d.key()),
                dest_chain(&chain, d.key())
            );
        }
    }
    if live.is_empty() {
        // Nothing to forward to: the local stack answers (or resets).
        out.push_str("\t\taccept\n");
    } else {
        // Packets of flows not seen start (older than the table, idle
        // past the timeout, UDP and SCTP) take the slot table, which is
        // the same on every director.
        out.push_str(&schedule_rule(svc, &live, &chain, opts, true));
    }
    out.push_str("\t}\n");
    for d in &svc.destinations {
        let _ = writeln!(out, "\tchain {} {{", dest_chain(&chain, d.key()));
        let _ = writeln!(out, "\t\tcounter comment \"{}\"", dest_comment(d));
        if pinned && tcp {
            // A new connection belongs to this server alone from now on.
            for other in svc.destinations.iter().filter(|o| o.key() != d.key()) {
                let _ = writeln!(
                    out,
                    "\t\ttcp flags & (syn | ack) == syn delete @{} {{ {flow_key} }}",
                    flow_set(svc, other.key())
                );
            }
        }
        if pinned {
            // Whatever sent the packet here (rotation, slot table or
            // the flow set), its flow now belongs to this server and
            // stays for the flow timeout after its last packet. A full set
            // fails this rule only; the packet is still forwarded.
            let _ = writeln!(
                out,
                "\t\tupdate @{} {{ {flow_key} }}",
                flow_set(svc, d.key())
            );
        }
        if is_local(opts, d.addr) {
            out.push_str("\t\taccept\n");
        } else {
            let _ = writeln!(
                out,
                "\t\tfwd {} to {} device \"{dev}\"",
                ip_kw(svc.key.family()),
                d.addr
            );
        }
        out.push_str("\t}\n");
    }
}
