//! What each probe must do, resolved from the config model into plain data
//! (addresses, timeouts, parsed digests and hex patterns). Built once by
//! [`crate::core::CheckerSet::from_config`]; read by the probes.

use keel_config::model::{self as cfg, CheckerCommon};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// Errors found while turning a checker's config into a probe spec.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("invalid MD5 digest '{0}' (want 32 hex digits)")]
    BadDigest(String),
    #[error("invalid hex string '{0}'")]
    BadHex(String),
    #[error("unknown DNS_CHECK type '{0}'")]
    UnknownDnsType(String),
    #[error("FILE_CHECK names track_file '{0}' which is not defined")]
    UnknownTrackFile(String),
    #[error("track_file '{0}' has no file path")]
    TrackFileWithoutPath(String),
}

/// Where and how a network probe connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `connect_ip`/`connect_port`, else the real server's address and port.
    pub addr: SocketAddr,
    /// `bindto` with `bind_port` (port 0 when only an address is given).
    pub bind: Option<SocketAddr>,
    /// `bind_if` (SO_BINDTODEVICE; needs privileges).
    pub bind_if: Option<String>,
    /// `fwmark` set on the probe's socket (SO_MARK; needs privileges).
    pub fwmark: Option<u32>,
    pub connect_timeout: Duration,
}

impl Target {
    pub(crate) fn from_common(common: &CheckerCommon, rs_addr: IpAddr, rs_port: u16) -> Target {
        let addr = SocketAddr::new(
            common.connect_ip.unwrap_or(rs_addr),
            common.connect_port.unwrap_or(rs_port),
        );
        let bind = match (common.bindto, common.bind_port) {
            (Some(ip), port) => Some(SocketAddr::new(ip, port.unwrap_or(0))),
            (None, Some(port)) => Some(SocketAddr::new(unspecified_like(addr.ip()), port)),
            (None, None) => None,
        };
        Target {
            addr,
            bind,
            bind_if: common.bind_if.clone(),
            fwmark: common.fwmark,
            connect_timeout: common.connect_timeout,
        }
    }
}

fn unspecified_like(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
    }
}

/// One `url { }` of HTTP_GET / SSL_GET.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlSpec {
    pub path: String,
    /// Expected MD5 of the body.
    pub digest: Option<[u8; 16]>,
    /// Accepted status ranges (inclusive). Empty with a digest: any status.
    pub status: Vec<(u16, u16)>,
    /// `Host:` value sent.
    pub host: String,
}

impl UrlSpec {
    pub fn status_ok(&self, code: u16) -> bool {
        self.status.is_empty() || self.status.iter().any(|&(a, b)| a <= code && code <= b)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSpec {
    /// 0 for `HTTP/1.0`, 1 for `HTTP/1.1`.
    pub minor_version: u8,
    /// `http_protocol 1.0C` and `1.1` send `Connection: close`.
    pub connection_close: bool,
    pub urls: Vec<UrlSpec>,
    /// TLS for SSL_GET; `None` for HTTP_GET.
    pub tls: Option<TlsSpec>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSpec {
    /// Server name sent in the ClientHello (`enable_sni`); `None`: no SNI.
    pub sni: Option<String>,
}

/// A UDP_CHECK reply pattern: `mask` bits set where the pattern had an `X`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyPattern {
    pub data: Vec<u8>,
    pub wildcard: Vec<u8>,
}

impl ReplyPattern {
    /// Parses hex with `X`/`x` wildcard nibbles (spaces ignored).
    pub fn parse(text: &str) -> Result<ReplyPattern, SpecError> {
        let nibbles: Vec<char> = text.chars().filter(|c| !c.is_whitespace()).collect();
        if !nibbles.len().is_multiple_of(2) || nibbles.is_empty() {
            return Err(SpecError::BadHex(text.to_string()));
        }
        let mut data = Vec::with_capacity(nibbles.len() / 2);
        let mut wildcard = Vec::with_capacity(nibbles.len() / 2);
        for pair in nibbles.chunks(2) {
            let mut d = 0u8;
            let mut w = 0u8;
            for &c in pair {
                d <<= 4;
                w <<= 4;
                if c == 'X' || c == 'x' {
                    w |= 0xf;
                } else {
                    let v = c
                        .to_digit(16)
                        .ok_or_else(|| SpecError::BadHex(text.to_string()))?;
                    d |= v as u8;
                }
            }
            data.push(d);
            wildcard.push(w);
        }
        Ok(ReplyPattern { data, wildcard })
    }

    /// keepalived compares only the shorter of reply and pattern.
    pub fn matches(&self, reply: &[u8]) -> bool {
        reply
            .iter()
            .zip(self.data.iter().zip(&self.wildcard))
            .all(|(r, (d, w))| (r ^ d) & !w == 0)
    }
}

/// Parses plain hex (spaces ignored).
pub fn parse_hex(text: &str) -> Result<Vec<u8>, SpecError> {
    let p = ReplyPattern::parse(text)?;
    if p.wildcard.iter().any(|&w| w != 0) {
        return Err(SpecError::BadHex(text.to_string()));
    }
    Ok(p.data)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpSpec {
    pub payload: Vec<u8>,
    pub require_reply: bool,
    pub pattern: Option<ReplyPattern>,
    /// Only enforced with a pattern, as keepalived does.
    pub min_reply_len: usize,
    pub max_reply_len: usize,
}

/// The probe a checker runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeSpec {
    /// HTTP_GET (`http.tls` `None`) or SSL_GET.
    Http {
        target: Target,
        http: HttpSpec,
    },
    Tcp {
        target: Target,
    },
    Smtp {
        target: Target,
        helo: String,
    },
    Dns {
        target: Target,
        qtype: u16,
        name: String,
    },
    Udp {
        target: Target,
        udp: UdpSpec,
    },
    Ping {
        target: Target,
    },
    /// Runs `command` through a [`crate::probe::ScriptExec`].
    Misc {
        script: cfg::Script,
        timeout: Duration,
        dynamic: bool,
    },
    /// Reads an integer from `path`.
    File {
        path: String,
    },
    /// Not probed here: state comes from outside
    /// ([`crate::core::CheckerSet::on_result`] fed by the BFD side).
    External {
        name: String,
    },
}

impl ProbeSpec {
    pub fn target(&self) -> Option<&Target> {
        match self {
            ProbeSpec::Http { target, .. }
            | ProbeSpec::Tcp { target }
            | ProbeSpec::Smtp { target, .. }
            | ProbeSpec::Dns { target, .. }
            | ProbeSpec::Udp { target, .. }
            | ProbeSpec::Ping { target } => Some(target),
            _ => None,
        }
    }
}

/// DNS RR type numbers for the names DNS_CHECK accepts (RFC 1035 §3.2.2,
/// RFC 3596 for AAAA, RFC 4034 for RRSIG/DNSKEY).
pub fn dns_type(name: &str) -> Option<u16> {
    Some(match name.to_ascii_uppercase().as_str() {
        "A" => 1,
        "NS" => 2,
        "CNAME" => 5,
        "SOA" => 6,
        "MX" => 15,
        "TXT" => 16,
        "AAAA" => 28,
        "RRSIG" => 46,
        "DNSKEY" => 48,
        _ => return None,
    })
}

pub fn parse_digest(text: &str) -> Result<[u8; 16], SpecError> {
    let bytes = parse_hex(text).map_err(|_| SpecError::BadDigest(text.to_string()))?;
    bytes
        .try_into()
        .map_err(|_| SpecError::BadDigest(text.to_string()))
}

/// The `Host:` header keepalived sends: the virtualhost, else `ip:port`
/// (`[ip]:port` for IPv6, RFC 2732).
pub fn host_header(vhost: Option<&str>, addr: SocketAddr) -> String {
    match vhost {
        Some(v) => v.to_string(),
        None => match addr.ip() {
            IpAddr::V4(ip) => format!("{ip}:{}", addr.port()),
            IpAddr::V6(ip) => format!("[{ip}]:{}", addr.port()),
        },
    }
}

/// Context needed to resolve a checker: virtualhosts inherited from the
/// real and virtual server, the track_file table, the HELO default.
pub(crate) struct Ctx<'a> {
    pub rs_addr: IpAddr,
    pub rs_port: u16,
    pub rs_vhost: Option<&'a str>,
    pub vs_vhost: Option<&'a str>,
    pub track_files: &'a [cfg::TrackFile],
    pub smtp_helo: Option<&'a str>,
    /// The local host name, SMTP_CHECK's last-resort `HELO`.
    pub hostname: &'a str,
}

pub(crate) fn build(checker: &cfg::Checker, ctx: &Ctx<'_>) -> Result<ProbeSpec, SpecError> {
    let target = |c: &CheckerCommon| Target::from_common(c, ctx.rs_addr, ctx.rs_port);
    Ok(match checker {
        cfg::Checker::HttpGet { common, http } | cfg::Checker::SslGet { common, http } => {
            let t = target(common);
            let ssl = matches!(checker, cfg::Checker::SslGet { .. });
            let checker_vhost = http.virtualhost.as_deref();
            let inherited = checker_vhost.or(ctx.rs_vhost).or(ctx.vs_vhost);
            let mut urls = Vec::with_capacity(http.urls.len());
            for u in &http.urls {
                let digest = u.digest.as_deref().map(parse_digest).transpose()?;
                let mut status: Vec<(u16, u16)> =
                    u.status_code.iter().map(|r| (r.from, r.to)).collect();
                if status.is_empty() && digest.is_none() {
                    status.push((200, 299));
                }
                let vhost = u.virtualhost.as_deref().or(inherited);
                urls.push(UrlSpec {
                    path: u.path.clone(),
                    digest,
                    status,
                    host: host_header(vhost, t.addr),
                });
            }
            let proto = http.http_protocol.as_str();
            let tls = ssl.then(|| TlsSpec {
                sni: if http.enable_sni {
                    http.sni_name.clone().or(inherited.map(str::to_string))
                } else {
                    None
                },
            });
            ProbeSpec::Http {
                target: t,
                http: HttpSpec {
                    minor_version: if proto == "1.1" { 1 } else { 0 },
                    connection_close: proto == "1.1" || proto.eq_ignore_ascii_case("1.0C"),
                    urls,
                    tls,
                },
            }
        }
        cfg::Checker::Tcp { common } => ProbeSpec::Tcp {
            target: target(common),
        },
        cfg::Checker::Smtp { common, smtp } => ProbeSpec::Smtp {
            target: target(common),
            helo: smtp
                .helo_name
                .clone()
                .or(ctx.smtp_helo.map(str::to_string))
                .unwrap_or_else(|| ctx.hostname.to_string()),
        },
        cfg::Checker::Dns { common, dns } => ProbeSpec::Dns {
            target: target(common),
            qtype: dns_type(&dns.query_type)
                .ok_or_else(|| SpecError::UnknownDnsType(dns.query_type.clone()))?,
            name: dns.name.clone(),
        },
        cfg::Checker::Udp { common, udp } => ProbeSpec::Udp {
            target: target(common),
            udp: UdpSpec {
                payload: match &udp.payload {
                    Some(p) => parse_hex(p)?,
                    None => Vec::new(),
                },
                require_reply: udp.require_reply || udp.require_reply_pattern.is_some(),
                pattern: udp
                    .require_reply_pattern
                    .as_deref()
                    .map(ReplyPattern::parse)
                    .transpose()?,
                min_reply_len: udp.min_reply_length.unwrap_or(0) as usize,
                max_reply_len: udp.max_reply_length.unwrap_or(255) as usize,
            },
        },
        cfg::Checker::Ping { common } => ProbeSpec::Ping {
            target: target(common),
        },
        cfg::Checker::Misc { common, misc } => ProbeSpec::Misc {
            script: misc.misc_path.clone(),
            timeout: misc.misc_timeout.unwrap_or(common.delay_loop),
            dynamic: misc.misc_dynamic,
        },
        cfg::Checker::File { file } => {
            let tf = ctx
                .track_files
                .iter()
                .find(|t| t.name == file.track_file)
                .ok_or_else(|| SpecError::UnknownTrackFile(file.track_file.clone()))?;
            ProbeSpec::File {
                path: tf
                    .file
                    .clone()
                    .ok_or_else(|| SpecError::TrackFileWithoutPath(tf.name.clone()))?,
            }
        }
        cfg::Checker::Bfd { bfd } => ProbeSpec::External {
            name: bfd.name.clone(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_pattern_wildcards_match_any_nibble() {
        let p = ReplyPattern::parse("0aX1 XX").unwrap();
        assert!(p.matches(&[0x0a, 0x31, 0xff]));
        assert!(p.matches(&[0x0a, 0xf1]));
        assert!(!p.matches(&[0x0b, 0x31, 0x00]));
        assert!(!p.matches(&[0x0a, 0x32, 0x00]));
        assert!(ReplyPattern::parse("abc").is_err());
        assert!(parse_hex("0X").is_err());
        assert_eq!(parse_hex("de ad").unwrap(), vec![0xde, 0xad]);
    }

    #[test]
    fn host_header_brackets_ipv6_literals() {
        // RFC 2732 §2: literal IPv6 addresses in brackets.
        assert_eq!(
            host_header(None, "[2001:db8::1]:8080".parse().unwrap()),
            "[2001:db8::1]:8080"
        );
        assert_eq!(
            host_header(None, "192.0.2.11:80".parse().unwrap()),
            "192.0.2.11:80"
        );
        assert_eq!(
            host_header(Some("www.example"), "192.0.2.11:80".parse().unwrap()),
            "www.example"
        );
    }

    #[test]
    fn digest_needs_32_hex_digits() {
        assert_eq!(
            parse_digest("bdb320234c312e246b87fedf92276463").unwrap()[0],
            0xbd
        );
        assert!(parse_digest("bdb3").is_err());
    }
}
