//! Each probe against a real server on 127.0.0.1.

mod common;

use common::*;
use keel_check::core::ProbeResult;
use keel_check::probe::{ProbeContext, ShellExec, run_probe};
use keel_check::spec::{
    HttpSpec, ProbeSpec, ReplyPattern, Target, TlsSpec, UdpSpec, UrlSpec, host_header,
};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, UdpSocket};

const RS1_BODY: &[u8] = b"ok kp-rs1\n";
const RS1_DIGEST: &str = "bdb320234c312e246b87fedf92276463";
const RS2_DIGEST: &str = "8b07f588c27a2d5af99963e261cbc8ea";

fn url(path: &str, addr: SocketAddr, digest: Option<&str>, status: &[(u16, u16)]) -> UrlSpec {
    UrlSpec {
        path: path.into(),
        digest: digest.map(|d| {
            let v: Vec<u8> = (0..16)
                .map(|i| u8::from_str_radix(&d[2 * i..2 * i + 2], 16).unwrap())
                .collect();
            v.try_into().unwrap()
        }),
        status: status.to_vec(),
        host: host_header(None, addr),
    }
}

fn http_spec(addr: SocketAddr, urls: Vec<UrlSpec>, tls: Option<TlsSpec>) -> ProbeSpec {
    ProbeSpec::Http {
        target: target(addr, Duration::from_millis(500)),
        http: HttpSpec {
            minor_version: 0,
            connection_close: false,
            urls,
            tls,
        },
    }
}

async fn probe(spec: &ProbeSpec) -> ProbeResult {
    run_probe(spec, &ProbeContext::default()).await
}

#[tokio::test]
async fn http_get_sends_keepalived_request_and_accepts_2xx() {
    let srv = HttpServer::start(200, RS1_BODY).await;
    let spec = http_spec(
        srv.addr,
        vec![url("/health", srv.addr, None, &[(200, 299)])],
        None,
    );
    let r = probe(&spec).await;
    assert!(r.ok, "{r:?}");
    let req = srv.requests.lock().unwrap()[0].clone();
    // The exact bytes keepalived's genhash/HTTP_GET send.
    let want = format!(
        "GET /health HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: 127.0.0.1:{}\r\n\r\n",
        srv.addr.port()
    );
    assert_eq!(String::from_utf8_lossy(&req), want);
}

#[tokio::test]
async fn http_get_status_mismatch_fails() {
    let srv = HttpServer::start(503, RS1_BODY).await;
    let spec = http_spec(
        srv.addr,
        vec![url("/health", srv.addr, None, &[(200, 299)])],
        None,
    );
    let r = probe(&spec).await;
    assert!(!r.ok);
    assert!(r.detail.contains("HTTP status code error"), "{}", r.detail);
    // A configured range that includes 503 passes.
    let spec = http_spec(
        srv.addr,
        vec![url("/health", srv.addr, None, &[(500, 503)])],
        None,
    );
    assert!(probe(&spec).await.ok);
}

#[tokio::test]
async fn http_get_digest_match_and_mismatch() {
    let srv = HttpServer::start(200, RS1_BODY).await;
    let ok = http_spec(
        srv.addr,
        vec![url("/health", srv.addr, Some(RS1_DIGEST), &[])],
        None,
    );
    assert!(probe(&ok).await.ok);
    let bad = http_spec(
        srv.addr,
        vec![url("/health", srv.addr, Some(RS2_DIGEST), &[])],
        None,
    );
    let r = probe(&bad).await;
    assert!(!r.ok);
    assert!(r.detail.contains("MD5 digest error"), "{}", r.detail);
    assert!(r.detail.contains(RS1_DIGEST), "{}", r.detail);
}

#[tokio::test]
async fn http_get_checks_every_url() {
    let srv = HttpServer::start(200, RS1_BODY).await;
    let spec = http_spec(
        srv.addr,
        vec![
            url("/a", srv.addr, None, &[(200, 200)]),
            url("/b", srv.addr, Some(RS2_DIGEST), &[]),
        ],
        None,
    );
    assert!(!probe(&spec).await.ok);
    assert_eq!(srv.hits(), 2);
}

#[tokio::test]
async fn http_get_times_out_on_a_server_that_never_answers() {
    let addr = silent_server().await;
    let spec = http_spec(addr, vec![url("/", addr, None, &[(200, 299)])], None);
    let t0 = Instant::now();
    let r = probe(&spec).await;
    let took = t0.elapsed();
    assert!(!r.ok);
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_secs(3),
        "{took:?}"
    );
}

/// Answers the head at once, then one body byte every 100 ms, forever.
async fn trickling_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut stream = BufReader::new(stream);
                let mut line = String::new();
                while stream.read_line(&mut line).await.is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let mut s = stream.into_inner();
                let head = b"HTTP/1.0 200 OK\r\nContent-Length: 1000000\r\n\r\n";
                if s.write_all(head).await.is_err() {
                    return;
                }
                loop {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    if s.write_all(b"x").await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

// Every frame arrives within the 500 ms read timeout, yet the check must
// fail by its overall deadline (HTTP_DEADLINE_TIMEOUTS x connect_timeout).
#[tokio::test]
async fn http_get_fails_by_its_deadline_on_a_server_that_trickles() {
    let addr = trickling_server().await;
    let spec = http_spec(addr, vec![url("/", addr, None, &[(200, 299)])], None);
    let t0 = Instant::now();
    let r = probe(&spec).await;
    let took = t0.elapsed();
    assert!(!r.ok, "{r:?}");
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(3),
        "{took:?}"
    );
}

#[tokio::test]
async fn connect_timeout_with_a_full_accept_queue() {
    // A listener that never accepts, with its queue filled: further SYNs
    // are dropped and connect() hangs until our timeout.
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    sock.listen(0).unwrap();
    let addr = sock.local_addr().unwrap().as_socket().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..8 {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        s.set_nonblocking(true).unwrap();
        let _ = s.connect(&addr.into());
        fillers.push(s);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let spec = ProbeSpec::Tcp {
        target: target(addr, Duration::from_millis(400)),
    };
    let t0 = Instant::now();
    let r = probe(&spec).await;
    assert!(!r.ok, "{r:?}");
    assert!(
        r.detail.contains("timed out") || r.detail.contains("timeout"),
        "{}",
        r.detail
    );
    assert!(t0.elapsed() >= Duration::from_millis(350));
    drop(sock);
}

#[tokio::test]
async fn tcp_check_connect_and_refused() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    assert!(
        probe(&ProbeSpec::Tcp {
            target: target(addr, Duration::from_secs(1))
        })
        .await
        .ok
    );
    let closed = closed_tcp_port();
    let r = probe(&ProbeSpec::Tcp {
        target: target(closed, Duration::from_secs(1)),
    })
    .await;
    assert!(!r.ok);
}

#[tokio::test]
async fn bindto_sets_the_source_address() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let peer = tokio::spawn(async move { l.accept().await.unwrap().1 });
    let mut t = target(addr, Duration::from_secs(1));
    t.bind = Some("127.0.0.2:0".parse().unwrap());
    assert!(probe(&ProbeSpec::Tcp { target: t }).await.ok);
    assert_eq!(peer.await.unwrap().ip().to_string(), "127.0.0.2");
}

fn tls_server_config() -> Arc<rustls::ServerConfig> {
    let ck = rcgen::generate_simple_self_signed(vec!["rs1.example".to_string()]).unwrap();
    let cert = ck.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(
        ck.key_pair.serialize_der(),
    ));
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert], key)
    .unwrap();
    Arc::new(cfg)
}

/// A TLS HTTP server with a self-signed certificate, recording SNI names.
async fn tls_server(body: &'static [u8]) -> (SocketAddr, Arc<Mutex<Vec<Option<String>>>>) {
    let cfg = tls_server_config();
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let snis = Arc::new(Mutex::new(Vec::new()));
    let snis2 = snis.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let cfg = cfg.clone();
            let snis = snis2.clone();
            tokio::spawn(async move {
                let acc =
                    tokio_rustls::LazyConfigAcceptor::new(rustls::server::Acceptor::default(), s);
                let Ok(start) = acc.await else { return };
                snis.lock()
                    .unwrap()
                    .push(start.client_hello().server_name().map(str::to_string));
                let Ok(mut tls) = start.into_stream(cfg).await else {
                    return;
                };
                let _ = read_head(&mut tls).await;
                let head = format!("HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
                let _ = tls.write_all(head.as_bytes()).await;
                let _ = tls.write_all(body).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (addr, snis)
}

#[tokio::test]
async fn ssl_get_against_a_self_signed_certificate() {
    let (addr, snis) = tls_server(RS1_BODY).await;
    let spec = http_spec(
        addr,
        vec![url("/", addr, Some(RS1_DIGEST), &[(200, 299)])],
        Some(TlsSpec { sni: None }),
    );
    let r = probe(&spec).await;
    assert!(r.ok, "{r:?}");
    assert_eq!(snis.lock().unwrap().as_slice(), &[None]);
    // enable_sni: the name goes into the ClientHello.
    let spec = http_spec(
        addr,
        vec![url("/", addr, Some(RS1_DIGEST), &[])],
        Some(TlsSpec {
            sni: Some("rs1.example".into()),
        }),
    );
    assert!(probe(&spec).await.ok);
    assert_eq!(snis.lock().unwrap()[1].as_deref(), Some("rs1.example"));
    // A digest mismatch over TLS still fails.
    let spec = http_spec(
        addr,
        vec![url("/", addr, Some(RS2_DIGEST), &[])],
        Some(TlsSpec { sni: None }),
    );
    assert!(!probe(&spec).await.ok);
}

#[tokio::test]
async fn ssl_get_fails_against_plain_http() {
    let srv = HttpServer::start(200, RS1_BODY).await;
    let spec = http_spec(
        srv.addr,
        vec![url("/", srv.addr, None, &[(200, 299)])],
        Some(TlsSpec { sni: None }),
    );
    assert!(!probe(&spec).await.ok);
}

async fn smtp_server(greeting: &'static str) -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let lines2 = lines.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let lines = lines2.clone();
            tokio::spawn(async move {
                let (r, mut w) = s.into_split();
                let mut r = BufReader::new(r);
                let _ = w.write_all(greeting.as_bytes()).await;
                let mut line = String::new();
                while r.read_line(&mut line).await.unwrap_or(0) > 0 {
                    let l = line.trim_end().to_string();
                    lines.lock().unwrap().push(l.clone());
                    let reply = if l.starts_with("HELO") {
                        "250 hello\r\n"
                    } else {
                        "221 bye\r\n"
                    };
                    let _ = w.write_all(reply.as_bytes()).await;
                    line.clear();
                }
            });
        }
    });
    (addr, lines)
}

#[tokio::test]
async fn smtp_check_banner_helo_quit() {
    // RFC 5321 §4.2: multi-line 220 greeting, then HELO/250, QUIT.
    let (addr, lines) = smtp_server("220-mail.example ESMTP\r\n220 ready\r\n").await;
    let spec = ProbeSpec::Smtp {
        target: target(addr, Duration::from_secs(1)),
        helo: "lb1.example".into(),
    };
    let r = probe(&spec).await;
    assert!(r.ok, "{r:?}");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        lines.lock().unwrap().as_slice(),
        &["HELO lb1.example", "QUIT"]
    );
    let (addr, _) = smtp_server("554 go away\r\n").await;
    let spec = ProbeSpec::Smtp {
        target: target(addr, Duration::from_secs(1)),
        helo: "lb1.example".into(),
    };
    assert!(!probe(&spec).await.ok);
}

/// A DNS responder: answers A queries with one A record (echoing the id
/// unless `wrong_id`), anything else with no answer.
async fn dns_server(wrong_id: bool) -> SocketAddr {
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = s.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 512];
        while let Ok((n, peer)) = s.recv_from(&mut buf).await {
            let q = &buf[..n];
            let qtype = u16::from_be_bytes([q[n - 4], q[n - 3]]);
            let mut resp = q.to_vec();
            if wrong_id {
                resp[0] ^= 0xff;
            }
            resp[2] = 0x81; // QR, RD
            resp[3] = 0x80; // RA, rcode 0
            if qtype == 1 {
                resp[7] = 1; // ANCOUNT
                resp.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 7]);
            }
            let _ = s.send_to(&resp, peer).await;
        }
    });
    addr
}

#[tokio::test]
async fn dns_check_needs_an_answer_of_the_type_with_our_id() {
    let addr = dns_server(false).await;
    let spec = |qtype| ProbeSpec::Dns {
        target: target(addr, Duration::from_millis(500)),
        qtype,
        name: "www.example".into(),
    };
    let r = probe(&spec(1)).await;
    assert!(r.ok, "{r:?}");
    let r = probe(&spec(28)).await;
    assert!(!r.ok);
    assert!(r.detail.contains("no answer"), "{}", r.detail);
    // Replies with another id are ignored: the check times out.
    let bad = dns_server(true).await;
    let r = probe(&ProbeSpec::Dns {
        target: target(bad, Duration::from_millis(300)),
        qtype: 1,
        name: "www.example".into(),
    })
    .await;
    assert!(!r.ok);
    assert_eq!(r.detail, "timeout");
}

async fn udp_echo(reply: Option<&'static [u8]>) -> SocketAddr {
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = s.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 512];
        while let Ok((n, peer)) = s.recv_from(&mut buf).await {
            match reply {
                Some(r) => {
                    let _ = s.send_to(r, peer).await;
                }
                None if n > 0 && buf[0] == 0xff => {}
                None => {
                    let _ = s.send_to(&buf[..n], peer).await;
                }
            }
        }
    });
    addr
}

fn udp_spec(addr: SocketAddr, payload: &[u8], require: bool, pattern: Option<&str>) -> ProbeSpec {
    ProbeSpec::Udp {
        target: target(addr, Duration::from_millis(300)),
        udp: UdpSpec {
            payload: payload.to_vec(),
            require_reply: require,
            pattern: pattern.map(|p| ReplyPattern::parse(p).unwrap()),
            min_reply_len: 0,
            max_reply_len: 255,
        },
    }
}

#[tokio::test]
async fn udp_check_reply_pattern_and_unreachable_port() {
    let addr = udp_echo(Some(b"\x01\x02\x03\x04")).await;
    assert!(probe(&udp_spec(addr, b"hi", true, Some("01X2"))).await.ok);
    assert!(!probe(&udp_spec(addr, b"hi", true, Some("0103"))).await.ok);
    // ICMP port unreachable is a failure, with or without require_reply.
    let closed = closed_udp_port();
    let r = probe(&udp_spec(closed, b"hi", false, None)).await;
    assert!(!r.ok, "{r:?}");
    // Silence without require_reply is success; with it, failure.
    let mute = udp_echo(None).await;
    assert!(probe(&udp_spec(mute, b"\xff", false, None)).await.ok);
    assert!(!probe(&udp_spec(mute, b"\xff", true, None)).await.ok);
    // Length limits apply with a pattern.
    let mut spec = udp_spec(addr, b"hi", true, Some("01"));
    if let ProbeSpec::Udp { udp, .. } = &mut spec {
        udp.max_reply_len = 3;
    }
    assert!(!probe(&spec).await.ok);
}

#[tokio::test]
async fn ping_check_loopback() {
    let spec = ProbeSpec::Ping {
        target: target("127.0.0.1:0".parse().unwrap(), Duration::from_secs(1)),
    };
    let r = probe(&spec).await;
    assert!(r.ok, "{r:?}");
}

fn misc(cmd: &str, timeout_ms: u64, dynamic: bool) -> ProbeSpec {
    ProbeSpec::Misc {
        script: keel_config::model::Script {
            command: cmd.into(),
            user: None,
            group: None,
        },
        timeout: Duration::from_millis(timeout_ms),
        dynamic,
    }
}

#[tokio::test]
async fn misc_check_exit_codes_and_dynamic_weight() {
    let ctx = ProbeContext {
        scripts: Arc::new(ShellExec::default()),
        ..ProbeContext::default()
    };
    let r = run_probe(&misc("exit 0", 2000, false), &ctx).await;
    assert!(r.ok && r.weight.is_none());
    let r = run_probe(&misc("exit 1", 2000, true), &ctx).await;
    assert!(!r.ok);
    assert_eq!(r.detail, "exited with status 1");
    let r = run_probe(&misc("exit 7", 2000, true), &ctx).await;
    assert!(r.ok);
    assert_eq!(r.weight, Some(5));
    // Without misc_dynamic any non-zero exit fails.
    assert!(!run_probe(&misc("exit 7", 2000, false), &ctx).await.ok);
    let t0 = Instant::now();
    let r = run_probe(&misc("sleep 5", 200, false), &ctx).await;
    assert!(!r.ok);
    assert_eq!(r.detail, "timed out");
    assert!(t0.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn file_check_reads_the_integer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w");
    std::fs::write(&path, "12\n").unwrap();
    let spec = ProbeSpec::File {
        path: path.to_string_lossy().into_owned(),
    };
    let r = probe(&spec).await;
    assert_eq!(r.weight, Some(12));
    std::fs::write(&path, "-3").unwrap();
    assert_eq!(probe(&spec).await.weight, Some(-3));
    std::fs::remove_file(&path).unwrap();
    assert_eq!(probe(&spec).await.weight, Some(0));
}

#[tokio::test]
async fn genhash_prints_the_body_digest() {
    let srv = HttpServer::start(200, RS1_BODY).await;
    let mut out = Vec::new();
    let mut opts =
        keel_check::genhash::GenhashOptions::new("/health", srv.addr.ip(), srv.addr.port());
    let d = keel_check::genhash::run_with(&opts, &mut out)
        .await
        .unwrap();
    assert_eq!(d, RS1_DIGEST);
    assert_eq!(String::from_utf8(out).unwrap(), format!("{RS1_DIGEST}\n"));
    opts.verbose = true;
    opts.virtualhost = Some("www.example".into());
    let mut out = Vec::new();
    keel_check::genhash::run_with(&opts, &mut out)
        .await
        .unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains(&format!("MD5SUM = {RS1_DIGEST}")), "{text}");
    assert!(
        text.contains("Global response time for [/health] = "),
        "{text}"
    );
    let req = srv.requests.lock().unwrap()[1].clone();
    assert!(String::from_utf8_lossy(&req).contains("Host: www.example\r\n"));
    // Over TLS too.
    let (addr, _) = tls_server(RS1_BODY).await;
    let mut opts = keel_check::genhash::GenhashOptions::new("/", addr.ip(), addr.port());
    opts.ssl = true;
    assert_eq!(
        keel_check::genhash::run_with(&opts, &mut Vec::new())
            .await
            .unwrap(),
        RS1_DIGEST
    );
}

#[tokio::test]
async fn one_dead_server_does_not_delay_another() {
    let dead = silent_server().await;
    let live = HttpServer::start(200, RS1_BODY).await;
    let slow = http_spec(dead, vec![url("/", dead, None, &[(200, 299)])], None);
    let fast = http_spec(
        live.addr,
        vec![url("/", live.addr, None, &[(200, 299)])],
        None,
    );
    let slow_task = tokio::spawn(async move { probe(&slow).await });
    let t0 = Instant::now();
    assert!(probe(&fast).await.ok);
    assert!(t0.elapsed() < Duration::from_millis(300));
    assert!(!slow_task.await.unwrap().ok);
    let _: Target = target(dead, Duration::ZERO);
}
