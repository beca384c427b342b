//! A real SMTP listener for mail tests: speaks enough SMTP for lettre, answers the end of each
//! message with the next scripted code, and keeps the messages it accepted.

use std::{
    io::{BufRead, BufReader, Write},
    net::{TcpListener, TcpStream},
    sync::{Arc, Mutex},
    thread,
};

#[derive(Debug, Clone)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    /// The message as sent: headers, a blank line, the body.
    pub data: String,
}

pub struct SmtpServer {
    /// `smtp://127.0.0.1:<port>` for `DANGAN_SMTP_URL`.
    pub url: String,
    accepted: Arc<Mutex<Vec<Mail>>>,
}

impl SmtpServer {
    /// Answers the n-th message with `codes[n]` (the last code after that): 250 accepts it.
    pub fn start(codes: &[u16]) -> SmtpServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("smtp://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let (log, codes) = (accepted.clone(), codes.to_vec());
        thread::spawn(move || {
            let mut answered = 0;
            for stream in listener.incoming().flatten() {
                converse(stream, &codes, &mut answered, &log);
            }
        });
        SmtpServer { url, accepted }
    }

    pub fn accepted(&self) -> Vec<Mail> {
        self.accepted.lock().unwrap().clone()
    }
}

fn converse(stream: TcpStream, codes: &[u16], answered: &mut usize, log: &Mutex<Vec<Mail>>) {
    let Ok(reading) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(reading);
    let mut out = stream;
    let mut say = |text: &str| out.write_all(format!("{text}\r\n").as_bytes()).is_ok();
    if !say("220 test.local ESMTP") {
        return;
    }
    let (mut from, mut to) = (String::new(), Vec::new());
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let command = line.trim_end().to_owned();
        let upper = command.to_ascii_uppercase();
        let ok = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            say("250-test.local\r\n250 OK")
        } else if upper.starts_with("MAIL FROM:") {
            from = command[10..].trim().trim_matches(['<', '>']).to_owned();
            say("250 OK")
        } else if upper.starts_with("RCPT TO:") {
            to.push(command[8..].trim().trim_matches(['<', '>']).to_owned());
            say("250 OK")
        } else if upper == "DATA" {
            say("354 go ahead");
            let mut data = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                if line == ".\r\n" {
                    break;
                }
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
            }
            let code = codes[(*answered).min(codes.len() - 1)];
            *answered += 1;
            if code == 250 {
                log.lock().unwrap().push(Mail {
                    from: from.clone(),
                    to: std::mem::take(&mut to),
                    data,
                });
            }
            say(&format!("{code} scripted"))
        } else if upper == "QUIT" {
            say("221 bye");
            return;
        } else {
            say("250 OK")
        };
        if !ok {
            return;
        }
    }
}
