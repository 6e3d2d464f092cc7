//! A fake VINR server for the client tests: a raw HTTP/1.1 responder on `127.0.0.1:0`, one
//! request per connection, answering what the test's handler says and recording every request.

#![allow(dead_code, unreachable_pub)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path with its query.
    pub target: String,
    /// Headers, names lower-case, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Seen {
    /// The first header of that (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The path without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body, form-decoded.
    pub fn form(&self) -> Vec<(String, String)> {
        serde_urlencoded::from_bytes(&self.body).unwrap()
    }
}

/// What the fake server does with a request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Answers this.
    Answer {
        /// The status.
        status: u16,
        /// Extra headers.
        headers: Vec<(String, String)>,
        /// The body.
        body: String,
    },
    /// Closes the connection without answering.
    Close,
    /// Answers nothing for this long, then closes.
    Hang(Duration),
}

impl Reply {
    /// A JSON answer.
    pub fn json(status: u16, body: serde_json::Value) -> Self {
        Reply::Answer {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string(),
        }
    }

    /// An HTML answer.
    pub fn html(status: u16, body: &str) -> Self {
        Reply::Answer {
            status,
            headers: vec![("content-type".into(), "text/html; charset=utf-8".into())],
            body: body.to_owned(),
        }
    }

    /// An error body of the contract.
    pub fn error(status: u16, error: serde_json::Value) -> Self {
        Reply::json(status, serde_json::json!({ "error": error }))
    }

    /// A `303 See Other` to `location`.
    pub fn see_other(location: &str) -> Self {
        Reply::Answer {
            status: 303,
            headers: vec![("location".into(), location.to_owned())],
            body: String::new(),
        }
    }

    /// The same answer with one more header.
    pub fn with_header(self, name: &str, value: &str) -> Self {
        match self {
            Reply::Answer {
                status,
                mut headers,
                body,
            } => {
                headers.push((name.to_owned(), value.to_owned()));
                Reply::Answer {
                    status,
                    headers,
                    body,
                }
            }
            other => other,
        }
    }
}

type Handler = dyn Fn(&Seen, usize) -> Reply + Send + Sync;

/// The fake server.
pub struct FakeServer {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl FakeServer {
    /// Starts a server answering with `handler(request, index of the request)`.
    pub fn start(handler: impl Fn(&Seen, usize) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let handler: Arc<Handler> = Arc::new(handler);
        let log = Arc::clone(&seen);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (log, handler) = (Arc::clone(&log), Arc::clone(&handler));
                std::thread::spawn(move || serve_one(stream, &log, &*handler));
            }
        });
        Self { addr, seen }
    }

    /// A server answering the same thing to everything.
    pub fn always(reply: Reply) -> Self {
        Self::start(move |_, _| reply.clone())
    }

    /// A server answering `replies` in order, then the last one again.
    pub fn sequence(replies: Vec<Reply>) -> Self {
        Self::start(move |_, n| replies[n.min(replies.len() - 1)].clone())
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn serve_one(mut stream: TcpStream, log: &Mutex<Vec<Seen>>, handler: &Handler) {
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let Some(seen) = read_request(&mut stream) else {
        return;
    };
    let reply = {
        let mut log = log.lock().unwrap();
        let n = log.len();
        log.push(seen.clone());
        handler(&seen, n)
    };
    match reply {
        Reply::Close => {}
        Reply::Hang(d) => std::thread::sleep(d),
        Reply::Answer {
            status,
            headers,
            body,
        } => {
            let mut out = format!("HTTP/1.1 {status} X\r\n");
            for (n, v) in headers {
                out.push_str(&format!("{n}: {v}\r\n"));
            }
            out.push_str(&format!(
                "content-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            ));
            stream.write_all(out.as_bytes()).ok();
            stream.flush().ok();
        }
    }
}

fn read_request(stream: &mut TcpStream) -> Option<Seen> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_owned();
    let target = first.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Seen {
        method,
        target,
        headers,
        body,
    })
}

/// A valid id with this prefix, from one repeated character.
pub fn id(prefix: &str, c: char) -> String {
    format!("{prefix}_{}", c.to_string().repeat(24))
}

/// A customer as the server answers it.
pub fn customer_json(id: &str) -> serde_json::Value {
    serde_json::json!({
        "id": id,
        "object": "customer",
        "email": "ada@example.com",
        "name": "Ada Lovelace",
        "phone": null,
        "address": null,
        "metadata": {},
        "defaultMethodId": null,
        "created": 1_700_000_000,
        "livemode": false,
        "version": 1
    })
}
