//! `ip -ts monitor` output: timestamped address and neighbour events.

use std::time::Duration;

/// Seconds since the Unix epoch of an `ip -ts` prefix
/// `[YYYY-MM-DDTHH:MM:SS.uuuuuu]`, read as UTC (the monitors run with
/// `TZ=UTC`).
pub fn parse_ts(line: &str) -> Option<Duration> {
    let inner = line.strip_prefix('[')?.split(']').next()?;
    let (date, time) = inner.split_once('T')?;
    let mut d = date.split('-').map(|s| s.parse::<i64>().ok());
    let (y, mo, da) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut t = hms.split(':').map(|s| s.parse::<u64>().ok());
    let (h, mi, s) = (t.next()??, t.next()??, t.next()??);
    if frac.is_empty() || frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let nanos: u32 = format!("{frac:0<9}").parse().ok()?;
    let days = u64::try_from(days_from_civil(y, mo, da)).ok()?;
    Some(Duration::new(days * 86_400 + h * 3600 + mi * 60 + s, nanos))
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Time of the first `ip -ts monitor address` event at or after `since`
/// that adds (`added`) or deletes `addr`.
pub fn first_addr_event(text: &str, addr: &str, added: bool, since: Duration) -> Option<Duration> {
    let needle = format!(" inet {addr}/");
    text.lines().find_map(|line| {
        let ts = parse_ts(line)?;
        let rest = line.split_once("] ")?.1;
        let is_del = rest.starts_with("Deleted ");
        (ts >= since && rest.contains(&needle) && is_del != added).then_some(ts)
    })
}

/// Time of the first `ip -ts monitor neigh` event at or after `since` that
/// gives `addr` the link-layer address `mac`.
pub fn first_neigh_event(text: &str, addr: &str, mac: &str, since: Duration) -> Option<Duration> {
    let prefix = format!("{addr} ");
    let lladdr = format!(" lladdr {mac}");
    text.lines().find_map(|line| {
        let ts = parse_ts(line)?;
        let rest = line.split_once("] ")?.1;
        (ts >= since && rest.starts_with(&prefix) && rest.contains(&lladdr)).then_some(ts)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_epoch() {
        // 2026-11-25T15:02:06Z = 1795618926 (date -u -d ... +%s).
        let t = parse_ts("[2026-11-25T15:02:06.142930] 1: lo    inet 192.0.2.9/32").unwrap();
        assert_eq!(t, Duration::new(1_795_618_926, 142_930_000));
        assert_eq!(
            parse_ts("[1970-01-01T00:00:00.5] x"),
            Some(Duration::from_millis(500))
        );
        assert_eq!(parse_ts("valid_lft forever"), None);
        assert_eq!(parse_ts("[2026-11-25T15:02:06.x] y"), None);
    }

    #[test]
    fn address_events() {
        let text = "[2026-11-25T15:02:06.100000] 2: eth0    inet 192.0.2.50/24 scope global secondary eth0\n       valid_lft forever preferred_lft forever\n\
                    [2026-11-25T15:02:07.100000] Deleted 2: eth0    inet 192.0.2.50/24 scope global secondary eth0\n\
                    [2026-11-25T15:02:08.100000] 2: eth0    inet 192.0.2.51/24 scope global secondary eth0\n\
                    [2026-11-25T15:02:09.100000] 2: eth0    inet 192.0.2.50/24 scope global secondary eth0\n";
        let base = Duration::new(1_795_618_926, 0);
        assert_eq!(
            first_addr_event(text, "192.0.2.50", true, base),
            Some(base + Duration::from_millis(100))
        );
        assert_eq!(
            first_addr_event(text, "192.0.2.50", false, base),
            Some(base + Duration::from_millis(1100))
        );
        // Events before `since` do not count.
        assert_eq!(
            first_addr_event(text, "192.0.2.50", true, base + Duration::from_secs(1)),
            Some(base + Duration::from_millis(3100))
        );
        assert_eq!(first_addr_event(text, "192.0.2.5", true, base), None);
    }

    #[test]
    fn neighbour_events() {
        let text = "[2026-11-25T15:02:06.100000] 192.0.2.50 dev eth0 lladdr 02:6b:6c:00:00:01 REACHABLE\n\
                    [2026-11-25T15:02:07.100000] 192.0.2.150 dev eth0 lladdr 02:6b:6c:00:00:02 STALE\n\
                    [2026-11-25T15:02:08.100000] 192.0.2.50 dev eth0 lladdr 02:6b:6c:00:00:02 STALE\n";
        let base = Duration::new(1_795_618_926, 0);
        assert_eq!(
            first_neigh_event(text, "192.0.2.50", "02:6b:6c:00:00:02", base),
            Some(base + Duration::from_millis(2100))
        );
        assert_eq!(
            first_neigh_event(text, "192.0.2.50", "02:6b:6c:00:00:03", base),
            None
        );
    }
}
