//! Small real servers on 127.0.0.1 for the probe and runner tests.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// An HTTP server answering every request with `status` and `body`
/// (changeable at run time), recording the raw requests.
#[derive(Clone)]
pub struct HttpServer {
    pub addr: SocketAddr,
    pub status: Arc<AtomicU16>,
    pub body: Arc<Mutex<Vec<u8>>>,
    pub requests: Arc<Mutex<Vec<Vec<u8>>>>,
    pub hits: Arc<AtomicUsize>,
}

impl HttpServer {
    pub async fn start(status: u16, body: &[u8]) -> HttpServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve(listener, status, body)
    }

    pub fn serve(listener: TcpListener, status: u16, body: &[u8]) -> HttpServer {
        let s = HttpServer {
            addr: listener.local_addr().unwrap(),
            status: Arc::new(AtomicU16::new(status)),
            body: Arc::new(Mutex::new(body.to_vec())),
            requests: Arc::new(Mutex::new(Vec::new())),
            hits: Arc::new(AtomicUsize::new(0)),
        };
        let srv = s.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let srv = srv.clone();
                tokio::spawn(async move { srv.handle(stream).await });
            }
        });
        s
    }

    async fn handle(&self, mut stream: TcpStream) {
        let req = read_head(&mut stream).await;
        self.hits.fetch_add(1, Ordering::SeqCst);
        self.requests.lock().unwrap().push(req);
        let status = self.status.load(Ordering::SeqCst);
        let body = self.body.lock().unwrap().clone();
        let head = format!(
            "HTTP/1.0 {status} X\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let _ = stream.write_all(head.as_bytes()).await;
        let _ = stream.write_all(&body).await;
        let _ = stream.shutdown().await;
    }

    pub fn set_status(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

pub async fn read_head<S: tokio::io::AsyncRead + Unpin>(stream: &mut S) -> Vec<u8> {
    let mut req = Vec::new();
    let mut buf = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
        if req.len() > 65536 {
            break;
        }
    }
    req
}

/// A listener that accepts connections and never answers.
pub async fn silent_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    addr
}

/// A port with nothing listening (bound then closed).
pub fn closed_tcp_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    drop(l);
    a
}

pub fn closed_udp_port() -> SocketAddr {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let a = s.local_addr().unwrap();
    drop(s);
    a
}

pub fn target(addr: SocketAddr, timeout: Duration) -> keel_check::spec::Target {
    keel_check::spec::Target {
        addr,
        bind: None,
        bind_if: None,
        fwmark: None,
        connect_timeout: timeout,
    }
}
