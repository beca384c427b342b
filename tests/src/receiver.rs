//! A real HTTP receiver for webhook tests: answers each POST with the next scripted status and
//! keeps what it got; or a black hole that accepts connections and never answers.

use std::{
    collections::HashMap,
    io::{BufRead, BufReader, Read, Write},
    net::{TcpListener, TcpStream},
    sync::{Arc, Mutex},
    thread,
};

#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    /// Lower-case names.
    pub headers: HashMap<String, String>,
    pub body: String,
}

pub struct Receiver {
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    /// Answers the n-th request with `statuses[n]`, and the last status after that.
    pub fn start(statuses: &[u16]) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "http://127.0.0.1:{}/hooks",
            listener.local_addr().unwrap().port()
        );
        let received = Arc::new(Mutex::new(Vec::new()));
        let (log, statuses) = (received.clone(), statuses.to_vec());
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let mut log = log.lock().unwrap();
                let status = statuses[log.len().min(statuses.len() - 1)];
                if let Some(request) = answer(stream, status) {
                    log.push(request);
                }
            }
        });
        Receiver { url, received }
    }

    /// Accepts connections and reads, but never answers.
    pub fn black_hole() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "http://127.0.0.1:{}/hooks",
            listener.local_addr().unwrap().port()
        );
        thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming().flatten() {
                held.push(stream);
            }
        });
        Receiver {
            url,
            received: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Answers every POST with 200 and a body of `bytes` bytes, sent for as long as the client
    /// reads it; `written` counts what it managed to send.
    pub fn flood(bytes: usize) -> (Receiver, Arc<std::sync::atomic::AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "http://127.0.0.1:{}/hooks",
            listener.local_addr().unwrap().port()
        );
        let written = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = written.clone();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let counter = counter.clone();
                thread::spawn(move || flood_answer(stream, bytes, &counter));
            }
        });
        let receiver = Receiver {
            url,
            received: Arc::new(Mutex::new(Vec::new())),
        };
        (receiver, written)
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

fn flood_answer(stream: TcpStream, bytes: usize, written: &std::sync::atomic::AtomicUsize) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut length = 0;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 {
            return;
        }
        let header = header.trim_end().to_ascii_lowercase();
        if header.is_empty() {
            break;
        }
        if let Some(value) = header.strip_prefix("content-length:") {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let mut stream = stream;
    let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {bytes}\r\nconnection: close\r\n\r\n");
    if stream.write_all(head.as_bytes()).is_err() {
        return;
    }
    let chunk = vec![b'x'; 64 * 1024];
    let mut sent = 0;
    while sent < bytes {
        match stream.write(&chunk[..chunk.len().min(bytes - sent)]) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                sent += n;
                written.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }
}

fn answer(stream: TcpStream, status: u16) -> Option<Received> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1)?.to_owned();
    let mut headers = HashMap::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
    }
    let length: usize = headers.get("content-length")?.parse().ok()?;
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {status} Scripted\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    )
    .ok()?;
    Some(Received {
        path,
        headers,
        body: String::from_utf8(body).ok()?,
    })
}
