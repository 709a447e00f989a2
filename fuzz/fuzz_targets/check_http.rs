//! HTTP_GET / SSL_GET on whatever a server answers. The response is parsed
//! by hyper, set up as keel-check's `http_fetch` sets it up (HTTP/1 client,
//! title-case headers, an empty-bodied GET); what is keel's own is fed the
//! result the same way: the `digest` text from keepalived.conf
//! (`parse_digest`), the body read frame by frame into MD5, the status
//! checked against the url's ranges (`UrlSpec::status_ok`).
//!
//! Input: `digest-text 0x00 response-bytes`. Beyond "no panic": with no
//! digest the default range is 200-299, and the digest verdict is exactly
//! "MD5 of the body equals the configured digest".
#![no_main]

use std::io;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use keel_check::spec::{UrlSpec, parse_digest};
use libfuzzer_sys::fuzz_target;
use md5::{Digest, Md5};
use tokio::runtime::{Builder, Runtime};

fn runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a current-thread runtime")
    })
}

/// A server that answers with the fuzz input (in two reads, so hyper's
/// partial-parse paths run) and swallows the request.
struct Server<'a> {
    reply: &'a [u8],
}

impl hyper::rt::Read for Server<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let n = self
            .reply
            .len()
            .min(buf.remaining())
            .min(self.reply.len() / 2 + 1);
        buf.put_slice(&self.reply[..n]);
        self.reply = &self.reply[n..];
        Poll::Ready(Ok(()))
    }
}

impl hyper::rt::Write for Server<'_> {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, b: &[u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(b.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Status, MD5 of the body, or `None` where keel reports a read error.
async fn fetch(reply: &[u8]) -> Option<(u16, [u8; 16])> {
    let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
        .title_case_headers(true)
        .handshake::<_, Empty<Bytes>>(Server { reply })
        .await
        .ok()?;
    let client = async move {
        let req = hyper::Request::builder()
            .method(hyper::Method::GET)
            .uri("/health")
            .version(hyper::Version::HTTP_10)
            .header("User-Agent", "KeepAliveClient")
            .header("Host", "192.0.2.11:80")
            .body(Empty::<Bytes>::new())
            .ok()?;
        let resp = sender.send_request(req).await.ok()?;
        let status = resp.status().as_u16();
        for (k, v) in resp.headers() {
            let _ = (k.to_string(), String::from_utf8_lossy(v.as_bytes()));
        }
        let mut body = resp.into_body();
        let mut md5 = Md5::new();
        while let Some(frame) = body.frame().await {
            if let Some(data) = frame.ok()?.data_ref() {
                md5.update(data);
            }
        }
        Some((status, md5.finalize().into()))
    };
    tokio::pin!(conn);
    tokio::pin!(client);
    // The connection task runs beside the request, as keel spawns it.
    tokio::select! {
        r = &mut client => r,
        _ = &mut conn => client.await,
    }
}

fuzz_target!(|data: &[u8]| {
    let (text, reply) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&[][..], data),
    };
    let digest = if text.is_empty() {
        None
    } else {
        parse_digest(&String::from_utf8_lossy(text)).ok()
    };
    let url = UrlSpec {
        path: "/health".into(),
        digest,
        status: if digest.is_none() {
            vec![(200, 299)]
        } else {
            Vec::new()
        },
        host: "192.0.2.11:80".into(),
    };
    let Some((status, got)) = runtime().block_on(fetch(reply)) else {
        return;
    };
    assert_eq!(
        url.status_ok(status),
        digest.is_some() || (200..=299).contains(&status)
    );
    // keel's verdict: a digest mismatch fails the check (with the MD5 in hex).
    if let Some(want) = url.digest
        && want != got
    {
        assert_eq!(keel_check::probe::hex(&got).len(), 32);
    }
});
