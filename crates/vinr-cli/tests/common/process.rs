//! A long-running `vinr` command other than `serve` (`vinr listen`): its output read line by
//! line as it comes, waited on with deadlines, and the process killed if the test fails.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Lines written so far, and a signal for each new one.
#[derive(Default)]
struct Lines {
    lines: Mutex<Vec<String>>,
    added: Condvar,
}

pub struct Process {
    child: Option<Child>,
    stdout: Arc<Lines>,
    stderr: Arc<Lines>,
    readers: Vec<JoinHandle<()>>,
}

fn pump(stream: impl std::io::Read + Send + 'static, into: Arc<Lines>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            into.lines.lock().unwrap().push(line);
            into.added.notify_all();
        }
    })
}

impl Process {
    pub fn start(mut command: Command) -> Process {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = Arc::new(Lines::default());
        let stderr = Arc::new(Lines::default());
        let readers = vec![
            pump(child.stdout.take().unwrap(), stdout.clone()),
            pump(child.stderr.take().unwrap(), stderr.clone()),
        ];
        Process {
            child: Some(child),
            stdout,
            stderr,
            readers,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Sends a signal (`STOP`, `CONT`, …).
    pub fn signal(&self, signal: &str) {
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -{signal} failed");
    }

    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout.lines.lock().unwrap().clone()
    }

    pub fn stderr_text(&self) -> String {
        self.stderr.lines.lock().unwrap().join("\n")
    }

    /// The first line of standard output that `matches`, waiting for it up to `timeout`.
    pub fn wait_for_line(&self, timeout: Duration, matches: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        let mut lines = self.stdout.lines.lock().unwrap();
        loop {
            if let Some(line) = lines.iter().find(|l| matches(l)) {
                return line.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                let shown = lines.join("\n");
                drop(lines);
                panic!(
                    "no such line within {timeout:?}; stdout:\n{shown}\nstderr:\n{}",
                    self.stderr_text()
                );
            }
            lines = self.stdout.added.wait_timeout(lines, left).unwrap().0;
        }
    }

    /// Sends SIGTERM and waits for the exit (at most 20 s) and the end of the output.
    pub fn stop(mut self) -> ExitStatus {
        let mut child = self.child.take().unwrap();
        let sent = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -TERM failed");
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the process did not stop within 20 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        status
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
