//! 10,000 VRRP instances (two nodes × 5,000, 250 VRIDs per LAN segment)
//! simulated for one virtual hour, with a graceful stop and restart of one
//! node half-way. Prints the wall time.
//!
//! `cargo run --release -p keel-sim --example bench_10k`

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use keel_sim::{Command, Sim, SimOptions};
use keel_vrrp::config::InstanceConfig;
use keel_vrrp::time::Instant;

const PER_NODE: u32 = 5_000;
const VRIDS_PER_SEGMENT: u32 = 250;

fn main() {
    let wall = std::time::Instant::now();
    let mut sim = Sim::with_options(
        0xBE7C,
        SimOptions {
            record_adverts: false,
            record_logs: false,
        },
    );
    let nodes = [sim.add_node("a"), sim.add_node("b")];
    for (n, &node) in nodes.iter().enumerate() {
        for k in 0..PER_NODE {
            let segment = k / VRIDS_PER_SEGMENT;
            let vrid = (k % VRIDS_PER_SEGMENT) as u8 + 1;
            let me = IpAddr::V4(Ipv4Addr::new(
                10,
                (segment >> 8) as u8,
                segment as u8,
                n as u8 + 1,
            ));
            let mut c = InstanceConfig::new(format!("VI_{k}"), vrid, me);
            // Each node is the preferred master of half the instances.
            c.priority = if (k as usize + n).is_multiple_of(2) {
                100
            } else {
                90
            };
            c.vips.vips.push(IpAddr::V4(Ipv4Addr::new(
                100 + (k >> 16) as u8,
                (k >> 8) as u8,
                k as u8,
                1,
            )));
            sim.add_instance_on(node, segment, c);
        }
        sim.at(Instant::ZERO, Command::Start(node));
    }
    let half = Instant::ZERO + Duration::from_secs(1800);
    sim.at(half, Command::Stop(nodes[0]));
    sim.at(half + Duration::from_secs(60), Command::Start(nodes[0]));
    let end = Instant::ZERO + Duration::from_secs(3600);
    sim.run_until(end);
    let elapsed = wall.elapsed();

    let masters: usize = (1..=VRIDS_PER_SEGMENT as u8)
        .map(|v| sim.masters_at(end, v).len())
        .sum();
    println!("instances: {}", 2 * PER_NODE);
    println!("virtual time: 3600 s");
    println!("adverts sent: {}", sim.adverts_sent());
    println!("adverts delivered: {}", sim.adverts_delivered());
    println!("events processed: {}", sim.events_processed());
    println!("state changes: {}", sim.state_changes().len());
    println!("masters at the end: {masters} (expected {PER_NODE})");
    println!("wall time: {:.3} s", elapsed.as_secs_f64());
    if masters != PER_NODE as usize {
        eprintln!("unexpected number of masters");
        std::process::exit(1);
    }
}
