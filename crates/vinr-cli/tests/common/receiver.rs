//! A tiny webhook receiver on `127.0.0.1:0`: plain HTTP/1.1 over `std::net`, one request per
//! connection (it answers `connection: close`), every request recorded with the status it was
//! given.

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request received.
#[derive(Debug, Clone)]
pub struct Hit {
    pub method: String,
    pub path: String,
    /// Header names in lower case.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
    /// The status it was answered with.
    pub status: u16,
    pub at: Instant,
}

impl Hit {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// `x-vinr-event-id`.
    pub fn event_id(&self) -> &str {
        self.header("x-vinr-event-id").unwrap_or("")
    }
}

/// Chooses the status of a request, given the requests before it.
type Answer = dyn Fn(&Hit, &[Hit]) -> u16 + Send + Sync;

pub struct Receiver {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    hits: Arc<Mutex<Vec<Hit>>>,
    stop: Arc<AtomicBool>,
}

impl Receiver {
    /// A receiver answering each request with `answer(request, earlier requests)`.
    pub fn start(answer: impl Fn(&Hit, &[Hit]) -> u16 + Send + Sync + 'static) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let hits = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let answer: Arc<Answer> = Arc::new(answer);
        {
            let hits = hits.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(stream) = stream else { continue };
                    let hits = hits.clone();
                    let answer = answer.clone();
                    std::thread::spawn(move || serve(stream, &hits, answer.as_ref()));
                }
            });
        }
        Receiver { base, hits, stop }
    }

    /// A receiver that answers 200 to everything.
    pub fn ok() -> Receiver {
        Receiver::start(|_, _| 200)
    }

    /// A receiver that answers 500 to the first request for each event id, 200 after.
    pub fn failing_once() -> Receiver {
        Receiver::start(|hit, earlier| {
            if earlier.iter().any(|h| h.event_id() == hit.event_id()) {
                200
            } else {
                500
            }
        })
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    /// The requests for one event id, in the order they came.
    pub fn hits_for(&self, event_id: &str) -> Vec<Hit> {
        self.hits()
            .into_iter()
            .filter(|h| h.event_id() == event_id)
            .collect()
    }

    /// What it received, for failure messages.
    pub fn describe(&self) -> String {
        self.hits()
            .iter()
            .map(|h| format!("{} {} {} -> {}", h.method, h.path, h.event_id(), h.status))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accepting thread so it sees the flag.
        let _ = TcpStream::connect(self.base.trim_start_matches("http://"));
    }
}

fn serve(stream: TcpStream, hits: &Mutex<Vec<Hit>>, answer: &Answer) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(15)));
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or("").to_owned();
    let path = parts.next().unwrap_or("").to_owned();
    let mut headers = HashMap::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    let length: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let status = {
        let mut all = hits.lock().unwrap();
        let mut hit = Hit {
            method,
            path,
            headers,
            body,
            status: 0,
            at: Instant::now(),
        };
        hit.status = answer(&hit, &all);
        all.push(hit);
        hit_status(&all)
    };
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    );
    let _ = stream.flush();
}

fn hit_status(all: &[Hit]) -> u16 {
    all.last().map_or(500, |h| h.status)
}
