//! Consistent-hash slot tables for data planes that pick a destination by
//! hashing a packet's addresses into a fixed number of slots.
//!
//! Each slot goes to the destination with the highest weighted rendezvous
//! score for that slot (highest-random-weight hashing). Compared with
//! Maglev's permutation fill this costs a little balance but gives strict
//! minimal disruption, which stateless forwarding (DR in a netdev ingress
//! hook, with no connection table to fall back on) needs: removing a
//! destination moves only the slots it held, and adding one takes slots only
//! from others, never shuffles slots among them.

use crate::table::{DestKey, Destination};
use std::net::IpAddr;

/// Slot count for DR and hashing schedulers: a prime (so `mod` spreads
/// evenly) large enough for about ±6 % balance with a handful of servers.
pub const DEFAULT_SLOTS: u32 = 997;

/// For each of `slots` slots, the index into `dests` of the destination
/// owning it. Destinations with weight 0 own nothing; an empty vector comes
/// back when no destination has weight. The result depends only on each
/// destination's key and weight, not on its position in `dests`.
pub fn slot_table(dests: &[Destination], slots: u32) -> Vec<usize> {
    let live: Vec<(usize, u64, f64)> = dests
        .iter()
        .enumerate()
        .filter(|(_, d)| d.weight > 0)
        .map(|(i, d)| (i, key_hash(d.key()), f64::from(d.weight)))
        .collect();
    if live.is_empty() {
        return Vec::new();
    }
    (0..slots)
        .map(|slot| {
            let mut best: Option<(f64, u64, usize)> = None;
            for &(i, kh, w) in &live {
                let h = mix(kh ^ mix(u64::from(slot).wrapping_add(0x9e37_79b9_7f4a_7c15)));
                // u in (0, 1): the top 53 bits, offset by half a step.
                let u = ((h >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
                let score = w / -u.ln();
                // Ties go to the larger hash so the result does not depend
                // on the input order.
                let better = match best {
                    None => true,
                    Some((bs, bh, _)) => score > bs || (score == bs && h > bh),
                };
                if better {
                    best = Some((score, h, i));
                }
            }
            best.map(|(_, _, i)| i).unwrap_or(0)
        })
        .collect()
}

/// Consecutive runs of equal owners: `(first_slot, last_slot, index)`, the
/// form interval maps (`0-12 : A, 13 : B, ...`) want.
pub fn slot_ranges(table: &[usize]) -> Vec<(u32, u32, usize)> {
    let mut out: Vec<(u32, u32, usize)> = Vec::new();
    for (slot, &owner) in table.iter().enumerate() {
        let slot = slot as u32;
        match out.last_mut() {
            Some((_, last, o)) if *o == owner && *last + 1 == slot => *last = slot,
            _ => out.push((slot, slot, owner)),
        }
    }
    out
}

fn key_hash(k: DestKey) -> u64 {
    // FNV-1a over the address bytes and port, then a finaliser: fixed
    // across Rust releases and platforms, unlike std's hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |b: u8| {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    };
    match k.addr {
        IpAddr::V4(a) => a.octets().into_iter().for_each(&mut feed),
        IpAddr::V6(a) => a.octets().into_iter().for_each(&mut feed),
    }
    k.port.to_be_bytes().into_iter().for_each(&mut feed);
    mix(h)
}

/// SplitMix64's finaliser.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::Method;
    use proptest::prelude::*;

    fn dest(o: u8, weight: u32) -> Destination {
        Destination {
            addr: IpAddr::from([192, 0, 2, o]),
            port: 80,
            weight,
            method: Method::Dr,
            upper_threshold: 0,
            lower_threshold: 0,
        }
    }

    fn owners(dests: &[Destination], slots: u32) -> Vec<Option<DestKey>> {
        let t = slot_table(dests, slots);
        t.iter().map(|&i| Some(dests[i].key())).collect()
    }

    #[test]
    fn equal_weights_balance_within_a_few_percent() {
        let dests: Vec<_> = (11..15).map(|o| dest(o, 1)).collect();
        let t = slot_table(&dests, DEFAULT_SLOTS);
        assert_eq!(t.len(), DEFAULT_SLOTS as usize);
        for i in 0..4 {
            let n = t.iter().filter(|&&o| o == i).count();
            assert!((200..300).contains(&n), "server {i} holds {n} slots");
        }
    }

    #[test]
    fn weights_set_the_share() {
        let dests = vec![dest(11, 3), dest(12, 1)];
        let t = slot_table(&dests, DEFAULT_SLOTS);
        let heavy = t.iter().filter(|&&o| o == 0).count() as f64 / DEFAULT_SLOTS as f64;
        assert!((0.70..0.80).contains(&heavy), "share {heavy}");
    }

    #[test]
    fn weight_zero_and_empty_own_nothing() {
        assert!(slot_table(&[dest(11, 0)], 7).is_empty());
        assert!(
            slot_table(&[dest(11, 0), dest(12, 1)], 7)
                .iter()
                .all(|&o| o == 1)
        );
    }

    #[test]
    fn ranges_compress_runs() {
        assert_eq!(
            slot_ranges(&[0, 0, 1, 0, 0]),
            vec![(0, 1, 0), (2, 2, 1), (3, 4, 0)]
        );
    }

    proptest! {
        /// Removing any one destination moves only the slots it owned, and
        /// the order of the input does not matter.
        #[test]
        fn removal_moves_only_the_removed_servers_slots(
            octets in prop::collection::btree_set(1u8..250, 2..8),
            weights in prop::collection::vec(1u32..5, 8),
            victim in 0usize..8,
        ) {
            let dests: Vec<_> = octets.iter().zip(&weights).map(|(&o, &w)| dest(o, w)).collect();
            let victim = victim % dests.len();
            let before = owners(&dests, 251);
            let mut rest = dests.clone();
            let gone = rest.remove(victim).key();
            rest.reverse();
            let after = owners(&rest, 251);
            for (b, a) in before.iter().zip(&after) {
                if *b != Some(gone) {
                    prop_assert_eq!(b, a);
                }
            }
        }
    }
}
