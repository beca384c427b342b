//! A PostgreSQL wire tap: a TCP relay between the app and the test's PostgreSQL that counts what
//! the app sends — round trips (each simple `Query` and each `Sync` of the extended protocol ends
//! one: the client waits for the server's answer there) and statements (`Query` and `Execute`).
//! The count is PostgreSQL's protocol as the server receives it, so it holds whatever the driver
//! does; the text of each statement is kept too, to say what the round trips were. The relay
//! declines TLS itself (`N` to `SSLRequest`), so what it reads is plain.

use std::{
    collections::HashMap,
    io::{Read, Write},
    net::{Shutdown, SocketAddr, TcpListener, TcpStream},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    thread,
};

/// What the relay has seen the app send since it started or was last reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Traffic {
    pub round_trips: usize,
    pub statements: usize,
}

#[derive(Default)]
struct Counters {
    round_trips: AtomicUsize,
    statements: AtomicUsize,
    /// The text of each statement run, in order.
    log: Mutex<Vec<String>>,
}

pub struct WireTap {
    address: SocketAddr,
    counters: Arc<Counters>,
}

/// `SSLRequest` and `GSSENCRequest`: asked before the startup message, answered `N` here.
const SSL_REQUEST: u32 = 80_877_103;
const GSSENC_REQUEST: u32 = 80_877_104;

impl WireTap {
    /// Relays every connection made to the tap to `upstream`.
    pub fn start(upstream: SocketAddr) -> WireTap {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the wire tap");
        let address = listener.local_addr().expect("the tap's address");
        let counters = Arc::new(Counters::default());
        let shared = Arc::clone(&counters);
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect(upstream) else {
                    continue;
                };
                let counters = Arc::clone(&shared);
                thread::spawn(move || relay(client, server, &counters));
            }
        });
        WireTap { address, counters }
    }

    /// `url` (a `postgres://` URL) with its host and port replaced by the tap's.
    pub fn url_for(&self, url: &str) -> String {
        let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let credentials = authority
            .rsplit_once('@')
            .map(|(user, _)| format!("{user}@"))
            .unwrap_or_default();
        format!("{scheme}://{credentials}{}/{path}", self.address)
    }

    pub fn traffic(&self) -> Traffic {
        Traffic {
            round_trips: self.counters.round_trips.load(Ordering::SeqCst),
            statements: self.counters.statements.load(Ordering::SeqCst),
        }
    }

    /// The texts of the statements run since `before`.
    pub fn statements_since(&self, before: Traffic) -> Vec<String> {
        let log = self.counters.log.lock().expect("the tap's log");
        log.get(before.statements..)
            .map(<[String]>::to_vec)
            .unwrap_or_default()
    }

    /// What was sent between `before` and now.
    pub fn since(&self, before: Traffic) -> Traffic {
        let now = self.traffic();
        Traffic {
            round_trips: now.round_trips - before.round_trips,
            statements: now.statements - before.statements,
        }
    }
}

fn relay(mut client: TcpStream, server: TcpStream, counters: &Counters) {
    let (Ok(mut to_client), Ok(mut from_server)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    thread::spawn(move || {
        let _ = std::io::copy(&mut from_server, &mut to_client);
        let _ = to_client.shutdown(Shutdown::Both);
    });
    let mut to_server = server;
    let _ = forward(&mut client, &mut to_server, counters);
    let _ = to_server.shutdown(Shutdown::Both);
}

/// Reads the client's messages and passes them on, counting as it goes.
fn forward(
    client: &mut TcpStream,
    server: &mut TcpStream,
    counters: &Counters,
) -> std::io::Result<()> {
    // Untyped messages first: requests for encryption (declined here), then the startup message.
    loop {
        let mut header = [0_u8; 8];
        client.read_exact(&mut header)?;
        let length = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let code = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
        if code == SSL_REQUEST || code == GSSENC_REQUEST {
            client.write_all(b"N")?;
            continue;
        }
        let mut body = vec![0_u8; length.saturating_sub(8)];
        client.read_exact(&mut body)?;
        server.write_all(&header)?;
        server.write_all(&body)?;
        break;
    }
    // Prepared statements by name, and the one the next `Execute` runs.
    let mut prepared: HashMap<String, String> = HashMap::new();
    let mut bound = String::new();
    loop {
        let mut header = [0_u8; 5];
        client.read_exact(&mut header)?;
        let length = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
        let mut body = vec![0_u8; length.saturating_sub(4)];
        client.read_exact(&mut body)?;
        let mut texts = body
            .split(|b| *b == 0)
            .map(|t| String::from_utf8_lossy(t).into_owned());
        let run = |text: String| {
            counters.log.lock().expect("the tap's log").push(text);
            counters.statements.fetch_add(1, Ordering::SeqCst);
        };
        match header[0] {
            b'Q' => {
                counters.round_trips.fetch_add(1, Ordering::SeqCst);
                run(texts.next().unwrap_or_default());
            }
            b'P' => {
                let name = texts.next().unwrap_or_default();
                prepared.insert(name, texts.next().unwrap_or_default());
            }
            b'B' => {
                let _portal = texts.next();
                let name = texts.next().unwrap_or_default();
                bound = prepared.get(&name).cloned().unwrap_or(name);
            }
            b'E' => run(bound.clone()),
            b'S' => {
                counters.round_trips.fetch_add(1, Ordering::SeqCst);
            }
            _ => {}
        }
        server.write_all(&header)?;
        server.write_all(&body)?;
    }
}
