//! Checker throughput: 2,000 real servers checked with HTTP_GET against a
//! few local HTTP listeners on 127.0.0.1.
//!
//!     cargo run --release -p keel-check --example bench_checks [SERVERS] [SECONDS]
//!
//! The HTTP listeners run in a child process (this binary with `--serve`),
//! so the CPU time reported is the checker's alone: utime+stime from
//! /proc/self/stat over the measuring window, per 1,000 completed checks.

use keel_check::core::CheckerSet;
use keel_check::probe::ProbeContext;
use keel_check::run::{RunOptions, spawn};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LISTENERS: usize = 8;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--serve") {
        return serve();
    }
    let servers: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(2000);
    let seconds: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(10);

    let mut child = Command::new(std::env::current_exe()?)
        .arg("--serve")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no child stdout")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let ports: Vec<u16> = line
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect();
    if ports.is_empty() {
        return Err("server child reported no ports".into());
    }

    // Each real server is a distinct documentation address; connect_ip and
    // connect_port send its checks to one of the local listeners.
    let mut conf = String::from(
        "virtual_server 192.0.2.144 80 {\n delay_loop 1\n lb_algo rr\n lb_kind DR\n protocol TCP\n",
    );
    for i in 0..servers {
        let ip = format!("198.51.{}.{}", 100 + i / 250, 1 + i % 250);
        let port = ports[i % ports.len()];
        conf.push_str(&format!(
            " real_server {ip} 80 {{ HTTP_GET {{ url {{ path /health status_code 200 }} connect_ip 127.0.0.1 connect_port {port} connect_timeout 2 retry 1 delay_before_retry 1 }} }}\n"
        ));
    }
    conf.push_str("}\n");
    let (cfg, diags) = keel_config::from_str(&conf, "bench.conf")?;
    if diags.has_errors() {
        return Err("generated config has errors".into());
    }
    let set = CheckerSet::from_config(&cfg, &keel_check::Host::default())?;

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let (handle, mut actions) = spawn(set, ProbeContext::default(), RunOptions::default());
        tokio::spawn(async move { while actions.recv().await.is_some() {} });
        // Let the warmup spread (delay_loop 1 s) settle.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let s0 = handle.stats();
        let c0 = cpu_seconds();
        let t0 = Instant::now();
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        let s1 = handle.stats();
        let c1 = cpu_seconds();
        let wall = t0.elapsed().as_secs_f64();
        let checks = s1.probes_completed - s0.probes_completed;
        let failed = s1.probes_failed - s0.probes_failed;
        let cpu = c1 - c0;
        let alive = handle
            .table()
            .borrow()
            .services
            .first()
            .map_or(0, |vs| vs.destinations.len());
        println!("real servers:            {servers}");
        println!("listeners:               {}", ports.len());
        println!("window:                  {wall:.1} s");
        println!("checks completed:        {checks} ({failed} failed)");
        println!("checks per second:       {:.0}", checks as f64 / wall);
        println!(
            "checker CPU:             {cpu:.3} s ({:.1}% of one core)",
            100.0 * cpu / wall
        );
        if checks > 0 {
            println!(
                "CPU per 1,000 checks:    {:.1} ms",
                1000.0 * cpu / (checks as f64 / 1000.0)
            );
        }
        println!("servers in table:        {alive}");
        handle.shutdown().await;
    });
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(b"q\n");
    }
    let _ = child.kill();
    let _ = child.wait();
    Ok(())
}

/// utime + stime of this process, in seconds (USER_HZ is 100 on Linux).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the ")" closing the command name; utime and stime are
    // fields 14 and 15 of the whole line.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    (ticks(11) + ticks(12)) as f64 / 100.0
}

fn serve() -> Result<(), Box<dyn std::error::Error>> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut ports = Vec::new();
        for _ in 0..LISTENERS {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            ports.push(l.local_addr()?.port());
            tokio::spawn(async move {
                while let Ok((mut s, _)) = l.accept().await {
                    tokio::spawn(async move {
                        let mut buf = [0u8; 1024];
                        let mut got = Vec::new();
                        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                            match s.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => got.extend_from_slice(&buf[..n]),
                            }
                        }
                        let _ = s
                            .write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
                            .await;
                        let _ = s.shutdown().await;
                    });
                }
            });
        }
        let text: Vec<String> = ports.iter().map(u16::to_string).collect();
        println!("{}", text.join(" "));
        std::io::stdout().flush()?;
        // Exit when the parent closes our stdin.
        let mut stdin = tokio::io::stdin();
        let mut b = [0u8; 8];
        let _ = stdin.read(&mut b).await;
        Ok::<(), Box<dyn std::error::Error>>(())
    })
}
