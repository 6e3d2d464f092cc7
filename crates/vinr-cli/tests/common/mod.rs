//! Test support: runs the built `vinr` binary, and speaks plain HTTP/1.1 to it over a
//! `TcpStream` (no client library: one request per connection, `Connection: close`).

// Test support: a helper that cannot do its job fails the test, as an assertion would; each
// test file uses part of it.
#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub mod postgres;
pub mod process;
pub mod receiver;

pub const BIN: &str = env!("CARGO_BIN_EXE_vinr");

/// How long a debug build may take to start (the machine is shared and slow).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A fresh empty directory under the system's temp directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("vinr-cli-{}-{name}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn db_url(&self) -> String {
        format!("sqlite://{}", self.db_path().display())
    }

    pub fn db_path(&self) -> PathBuf {
        self.0.join("vinr.db")
    }

    pub fn key_file(&self) -> PathBuf {
        self.0.join("vinr.db.vaultkey")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A `vinr` command with a clean environment of VINR_ variables and `RUST_LOG=info`.
pub fn vinr(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("VINR_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("RUST_LOG", "info");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Runs an operator command to completion.
pub fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    vinr(args, env).output().unwrap()
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Every `sk_test_…`/`sk_live_…` token in a text.
pub fn secret_keys(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for prefix in ["sk_test_", "sk_live_"] {
        let mut rest = text;
        while let Some(i) = rest.find(prefix) {
            let token: String = rest[i..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            found.push(token.clone());
            rest = &rest[i + token.len()..];
        }
    }
    found
}

/// A running `vinr serve`: its address, and everything it wrote so far.
pub struct Server {
    child: Option<Child>,
    pub base: String,
    pub stdout: Arc<Mutex<Vec<String>>>,
    pub stderr: Arc<Mutex<Vec<String>>>,
    readers: Vec<JoinHandle<()>>,
}

fn pump(
    stream: impl std::io::Read + Send + 'static,
    into: Arc<Mutex<Vec<String>>>,
    lines: Option<mpsc::Sender<String>>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            into.lock().unwrap().push(line.clone());
            if let Some(tx) = &lines {
                let _ = tx.send(line);
            }
        }
    })
}

impl Server {
    /// Starts `vinr serve --listen 127.0.0.1:0 --database-url <url> <extra>` and waits for
    /// `listening on http://…`.
    pub fn start(db_url: &str, extra: &[&str], env: &[(&str, &str)]) -> Server {
        let mut args = vec!["serve", "--listen", "127.0.0.1:0", "--database-url", db_url];
        args.extend_from_slice(extra);
        let mut child = vinr(&args, env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let readers = vec![
            pump(child.stdout.take().unwrap(), stdout.clone(), Some(tx)),
            pump(child.stderr.take().unwrap(), stderr.clone(), None),
        ];
        let deadline = Instant::now() + START_TIMEOUT;
        let base = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(addr) = line.strip_prefix("listening on ") {
                        break addr.trim().to_owned();
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "the server did not start; stdout: {:?}; stderr: {:?}",
                        stdout.lock().unwrap(),
                        stderr.lock().unwrap()
                    );
                }
            }
        };
        Server {
            child: Some(child),
            base,
            stdout,
            stderr,
            readers,
        }
    }

    pub fn stdout_text(&self) -> String {
        self.stdout.lock().unwrap().join("\n")
    }

    pub fn stderr_text(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Sends a signal (`TERM`, `INT`) and waits for the exit (at most 30 s), then for the
    /// output to be read to its end.
    pub fn stop_with(mut self, signal: &str) -> ExitStatus {
        let pid = self.pid().to_string();
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -{signal} failed");
        let mut child = self.child.take().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("the server did not stop within 30 s of SIG{signal}");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        status
    }

    /// SIGTERM, and the exit status.
    pub fn stop(self) -> ExitStatus {
        self.stop_with("TERM")
    }

    /// SIGKILL (`Child::kill`): no shutdown at all, as in a crash.
    pub fn kill(mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        let _ = child.wait();
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
    }

    /// The value of a metric of `/metrics` without labels (`name value`), if it is there.
    pub fn metric(&self, name: &str) -> Option<f64> {
        let page = self.get("/metrics", None);
        assert_eq!(page.status, 200, "{}", page.body);
        page.body.lines().find_map(|line| {
            let (key, value) = line.split_once(' ')?;
            if key == name {
                value.trim().parse().ok()
            } else {
                None
            }
        })
    }

    pub fn get(&self, path: &str, key: Option<&str>) -> Response {
        request(&self.base, "GET", path, &auth(key), None)
    }

    pub fn post_json(&self, path: &str, key: &str, body: &serde_json::Value) -> Response {
        let mut headers = auth(Some(key));
        headers.push(("content-type".to_owned(), "application/json".to_owned()));
        request(
            &self.base,
            "POST",
            path,
            &headers,
            Some(body.to_string().as_bytes()),
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn auth(key: Option<&str>) -> Vec<(String, String)> {
    key.map(|k| vec![("authorization".to_owned(), format!("Bearer {k}"))])
        .unwrap_or_default()
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// Header names in lower case; repeated headers keep every value.
    pub headers: HashMap<String, Vec<String>>,
    pub body: String,
}

impl Response {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .and_then(|v| v.first())
            .map(String::as_str)
    }
}

/// One request to `base` (`http://host:port`), on a connection of its own.
pub fn request(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: Option<&[u8]>,
) -> Response {
    let authority = base.strip_prefix("http://").unwrap();
    let mut stream = TcpStream::connect(authority).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nhost: {authority}\r\nconnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    let body = body.unwrap_or_default();
    if !body.is_empty() || method == "POST" {
        head.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> Response {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("no end of headers");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut body = raw[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status: u16 = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let mut headers: HashMap<String, Vec<String>> = HashMap::new();
    for line in lines {
        if let Some((k, v)) = line.split_once(':') {
            headers
                .entry(k.trim().to_ascii_lowercase())
                .or_default()
                .push(v.trim().to_owned());
        }
    }
    let chunked = headers
        .get("transfer-encoding")
        .is_some_and(|v| v.iter().any(|x| x.eq_ignore_ascii_case("chunked")));
    if chunked {
        body = dechunk(&body);
    }
    Response {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = data.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size_text = String::from_utf8_lossy(&data[..eol]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        let start = eol + 2;
        out.extend_from_slice(&data[start..start + size]);
        data = &data[start + size + 2..];
    }
}

/// The value of `name="<field>"`'s `value` attribute in an HTML page.
pub fn hidden_input(html: &str, field: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{field}\""))?;
    let tag_start = html[..at].rfind('<')?;
    let tag_end = at + html[at..].find('>')?;
    let tag = &html[tag_start..tag_end];
    let v = tag.find("value=\"")? + "value=\"".len();
    let end = tag[v..].find('"')?;
    Some(tag[v..v + end].to_owned())
}

/// Percent-encodes a form value.
pub fn form_encode(pairs: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    char::from(b).to_string()
                }
                b' ' => "+".to_owned(),
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Saves `number` to `customer` through the hosted setup page, as a browser would: create the
/// setup, GET its page (keeping the CSRF cookie), POST the form. Returns the final answer
/// (a 303 to the `returnUrl` on success).
pub fn save_card_on_hosted_page(
    server: &Server,
    key: &str,
    customer: &str,
    number: &str,
) -> Response {
    let setup = server.post_json(
        &format!("/v1/customers/{customer}/setup"),
        key,
        &serde_json::json!({"returnUrl": "https://merchant.example/saved"}),
    );
    assert_eq!(setup.status, 200, "{}", setup.body);
    let checkout = setup.json()["checkoutUrl"].as_str().unwrap().to_owned();
    let path = checkout.strip_prefix(&server.base).unwrap().to_owned();
    let page = request(&server.base, "GET", &path, &[], None);
    assert_eq!(page.status, 200, "{}", page.body);
    let cookie = page
        .headers
        .get("set-cookie")
        .and_then(|v| v.iter().find(|c| c.starts_with("vinr_csrf=")))
        .map(|c| c.split(';').next().unwrap().to_owned())
        .expect("a CSRF cookie");
    let token = hidden_input(&page.body, "csrf_token").expect("a CSRF token");
    let form = form_encode(&[
        ("csrf_token", &token),
        ("number", number),
        ("expiry", "12/34"),
        ("cvc", "123"),
        ("name", "Ada Lovelace"),
    ]);
    let headers = vec![
        (
            "content-type".to_owned(),
            "application/x-www-form-urlencoded".to_owned(),
        ),
        ("cookie".to_owned(), cookie),
        ("origin".to_owned(), server.base.clone()),
    ];
    request(&server.base, "POST", &path, &headers, Some(form.as_bytes()))
}

/// Polls `ready` every 50 ms until it is true; fails with `what` (and `context()`) after
/// `timeout`.
pub fn wait_until(
    timeout: Duration,
    what: &str,
    mut ready: impl FnMut() -> bool,
    context: impl Fn() -> String,
) {
    let deadline = Instant::now() + timeout;
    while !ready() {
        if Instant::now() > deadline {
            panic!("{what}: not within {timeout:?}; {}", context());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Mode bits of a file.
#[cfg(unix)]
pub fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}
