use std::fmt;
use std::str::FromStr;

use crate::error::LabError;

/// An Ethernet MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);

    pub fn octets(self) -> [u8; 6] {
        self.0
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

impl FromStr for MacAddr {
    type Err = LabError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || LabError::Invalid(format!("not a MAC address: {s:?}"));
        let mut out = [0u8; 6];
        let mut parts = s.split(':');
        for byte in &mut out {
            let part = parts.next().ok_or_else(bad)?;
            if part.len() != 2 {
                return Err(bad());
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| bad())?;
        }
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(MacAddr(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_junk() {
        let m: MacAddr = "02:6b:6c:00:00:0a".parse().unwrap();
        assert_eq!(m.0, [0x02, 0x6b, 0x6c, 0, 0, 0x0a]);
        assert_eq!(m.to_string(), "02:6b:6c:00:00:0a");
        for junk in [
            "",
            "02:6b:6c:00:00",
            "02:6b:6c:00:00:0a:01",
            "2:6b:6c:00:00:0a",
            "zz:6b:6c:00:00:0a",
        ] {
            assert!(junk.parse::<MacAddr>().is_err(), "{junk}");
        }
    }
}
