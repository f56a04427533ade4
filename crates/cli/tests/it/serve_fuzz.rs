//! A bounded fuzz of a live `medlake serve`: malformed PostgreSQL protocol messages (random
//! bytes before and after the startup, wrong and huge lengths, truncated messages, Bind
//! with huge parameter counts), malformed HTTP requests (bad JSON, large bodies, bad
//! cookies and CSRF tokens) and generated SQL (long, deep, odd). The server must answer
//! every connection, never exit, and its memory must come back near where it started.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::serve::{http_request, Served};

/// A small deterministic generator (xorshift): the same cases on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }

    /// `least` plus up to `more` random bytes.
    fn some_bytes(&mut self, least: usize, more: u64) -> Vec<u8> {
        let n = least + self.below(more) as usize;
        self.bytes(n)
    }
}

/// The server's resident memory in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Sends `bytes` on a fresh connection and reads what comes back (until the server closes
/// or stays silent a moment). Never fails: a refused or reset connection is an answer.
fn poke(port: u16, bytes: &[u8]) {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        panic!("the PostgreSQL port refused a connection: the server is gone");
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
    let _ = stream.write_all(bytes);
    let mut buf = [0u8; 4096];
    for _ in 0..4 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
}

fn startup() -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&196_608i32.to_be_bytes()); // protocol 3.0
    for s in ["user", "analyst", "database", "medlake", ""] {
        body.extend_from_slice(s.as_bytes());
        body.push(0);
    }
    let mut out = ((body.len() + 4) as i32).to_be_bytes().to_vec();
    out.extend(body);
    out
}

fn message(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// One malformed exchange.
fn pg_case(rng: &mut Rng) -> Vec<u8> {
    match rng.below(8) {
        // Random bytes instead of a startup.
        0 => rng.some_bytes(1, 600),
        // A startup whose length lies (huge, negative, too short).
        1 => {
            let mut s = startup();
            let lie: i32 = [i32::MAX, -1, 3, 0, 10_000_000][rng.below(5) as usize];
            s[..4].copy_from_slice(&lie.to_be_bytes());
            s
        }
        // A truncated startup.
        2 => {
            let s = startup();
            s[..rng.below(s.len() as u64) as usize].to_vec()
        }
        // A valid startup, then garbage before authentication finishes.
        3 => {
            let mut s = startup();
            s.extend(rng.some_bytes(1, 300));
            s
        }
        // A valid startup, then a password message with a huge length.
        4 => {
            let mut s = startup();
            s.push(b'p');
            s.extend_from_slice(&i32::MAX.to_be_bytes());
            s.extend(rng.bytes(16));
            s
        }
        // An SSL or GSS request, then garbage.
        5 => {
            let code: i32 = [80_877_103, 80_877_104, 80_877_102][rng.below(3) as usize];
            let mut s = 8i32.to_be_bytes().to_vec();
            s.extend_from_slice(&code.to_be_bytes());
            s.extend(rng.some_bytes(0, 64));
            s
        }
        // A Bind with a huge parameter count, and a Query cut short, after the startup.
        6 => {
            let mut s = startup();
            let mut bind = b"\0\0".to_vec();
            bind.extend_from_slice(&0i16.to_be_bytes());
            bind.extend_from_slice(&i16::MAX.to_be_bytes());
            bind.extend(rng.bytes(32));
            s.extend(message(b'B', &bind));
            s.extend(message(b'Q', b"SELECT 1")[..7].to_vec());
            s
        }
        // Any message tag with random contents.
        _ => {
            let mut s = startup();
            let tag = b"BCDEHPQSXdfpc"[rng.below(13) as usize];
            s.extend(message(tag, &rng.some_bytes(0, 200)));
            s
        }
    }
}

/// One generated statement: long, deep or odd.
fn sql_case(rng: &mut Rng) -> String {
    match rng.below(6) {
        0 => format!(
            "SELECT {}",
            vec!["1"; 1 + rng.below(20_000) as usize].join(" + ")
        ),
        1 => format!(
            "SELECT {}1{}",
            "(".repeat(rng.below(3_000) as usize),
            ")".repeat(rng.below(3_000) as usize)
        ),
        2 => format!(
            "SELECT * FROM ads_trade_overview WHERE {}",
            vec!["NOT"; 1 + rng.below(5_000) as usize].join(" ") + " true"
        ),
        3 => String::from_utf8_lossy(&rng.some_bytes(1, 400)).into_owned(),
        4 => format!(
            "SELECT CAST(1 AS INT){}",
            "::BIGINT".repeat(1 + rng.below(20_000) as usize)
        ),
        _ => format!(
            "SELECT * FROM ads_trade_overview WHERE dt IN ({})",
            (0..rng.below(50_000))
                .map(|i| format!("'{i}'"))
                .collect::<Vec<_>>()
                .join(",")
        ),
    }
}

pub(crate) fn a_fuzzed_server_answers_everything_and_stays_up(s: &Served) {
    let pid = s.server.id();
    let baseline = rss_kib(pid);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..300 {
        poke(s.pg_port, &pg_case(&mut rng));
    }
    let json = ("Content-Type", "application/json");
    let bodies = [
        "{".to_string(),
        "{\"sql\": 42}".to_string(),
        "[]".to_string(),
        "{\"sql\": \"SELECT 1\", \"limit\": -5}".to_string(),
        format!("{{\"sql\": \"{}\"}}", "x".repeat(1_900_000)),
    ];
    let cookies = [
        "medlake_session=",
        "medlake_session=AAAA",
        "medlake_session=%00%ff",
    ];
    for (i, body) in bodies.iter().enumerate() {
        let cookie = ("Cookie", cookies[i % cookies.len()]);
        let csrf = ("X-CSRF-Token", "forged");
        let reply = http_request(&s.http, "POST", "/api/query", &[json, cookie, csrf], body)
            .expect("the HTTP API answers");
        assert!(
            (400..500).contains(&reply.0),
            "malformed request {i} got {}",
            reply.0
        );
    }
    let token = crate::serve_limits::api_token(s, "analyst", "fuzz");
    let bearer = format!("Bearer {token}");
    for _ in 0..60 {
        let sql = sql_case(&mut rng);
        let body = serde_json::json!({ "sql": sql }).to_string();
        let reply = http_request(
            &s.http,
            "POST",
            "/api/query",
            &[json, ("Authorization", bearer.as_str())],
            &body,
        )
        .expect("the HTTP API answers every generated statement");
        assert!(reply.0 < 500 || reply.0 == 504, "{}", reply.0);
    }
    // Alive, answering, and back near its memory.
    let (status, _, _) = http_request(&s.http, "GET", "/healthz", &[], "").unwrap();
    assert_eq!(status, 200);
    poke(s.pg_port, &startup());
    // The server hands freed memory back every few seconds: wait for that. What stays is
    // the stack the engine's own recursion touched (a long IN list) and allocator slack,
    // bounded; a leak grows with the requests and would not come back.
    let bound = baseline + 384 * 1024;
    let mut after = rss_kib(pid);
    for _ in 0..60 {
        if after < bound {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
        after = rss_kib(pid);
    }
    eprintln!("server memory: {baseline} KiB before the fuzz, {after} KiB after");
    assert!(
        after < bound,
        "memory grew from {baseline} KiB to {after} KiB"
    );
}
