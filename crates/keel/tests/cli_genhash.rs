//! `keel genhash` prints the MD5 of a page's body, as keepalived's genhash,
//! so users can fill in HTTP_GET `digest`.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;

#[test]
fn genhash_prints_the_body_digest() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 1024];
        let n = s.read(&mut buf).unwrap();
        let req = String::from_utf8_lossy(&buf[..n]).into_owned();
        let body = "ok kp-rs1\n";
        let resp = format!(
            "HTTP/1.0 200 OK\r\nContent-Length: {}\r\nContent-Type: text/plain\r\n\r\n{body}",
            body.len()
        );
        s.write_all(resp.as_bytes()).unwrap();
        req
    });
    let out = Command::new(env!("CARGO_BIN_EXE_keel"))
        .args([
            "genhash",
            "-s",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-u",
            "/health",
        ])
        .output()
        .unwrap();
    let req = server.join().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Digest of "ok kp-rs1\n" as measured with keepalived's genhash.
    assert!(
        stdout.contains("bdb320234c312e246b87fedf92276463"),
        "{stdout}"
    );
    assert!(req.starts_with("GET /health HTTP/1.0\r\n"), "{req}");
    assert!(req.contains("User-Agent: KeepAliveClient"), "{req}");
}
