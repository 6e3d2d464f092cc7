//! A server process's memory and CPU, read from `/proc/PID` (Linux).

use std::sync::OnceLock;

use anyhow::{Context as _, Result};

/// Peak and current resident set of a process, KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Memory {
    /// `VmHWM`: the peak since start or since the last reset.
    pub(crate) peak_kib: u64,
    /// `VmRSS`: now.
    pub(crate) current_kib: u64,
}

/// Reads `/proc/PID/status`.
pub(crate) fn memory(pid: u32) -> Result<Memory> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("cannot read /proc/{pid}/status"))?;
    parse_status(&text).with_context(|| format!("/proc/{pid}/status has no VmHWM/VmRSS"))
}

/// Resets the process's peak RSS to its current RSS (`echo 5 > /proc/PID/clear_refs`), so the
/// next [`memory`] gives the peak since now. Returns whether it worked (it needs the rights to
/// trace the process, which the user that started it has).
pub(crate) fn reset_peak(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

/// User plus system CPU time of a process so far, seconds (`/proc/PID/stat`).
pub(crate) fn cpu_seconds(pid: u32) -> Result<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("cannot read /proc/{pid}/stat"))?;
    let ticks =
        parse_stat_ticks(&text).with_context(|| format!("/proc/{pid}/stat is malformed"))?;
    Ok(ticks as f64 / clock_ticks_per_second() as f64)
}

/// CPU time the whole machine spent busy so far (all CPUs, every process), seconds
/// (`/proc/stat`): set against a process's own time it shows what else ran meanwhile.
pub(crate) fn machine_busy_seconds() -> Result<f64> {
    let text = std::fs::read_to_string("/proc/stat").context("cannot read /proc/stat")?;
    let ticks = parse_busy_ticks(&text).context("/proc/stat is malformed")?;
    Ok(ticks as f64 / clock_ticks_per_second() as f64)
}

/// `getconf CLK_TCK` (the kernel's USER_HZ), 100 when it cannot be asked.
fn clock_ticks_per_second() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .and_then(|text| text.trim().parse().ok())
            .filter(|ticks| *ticks > 0)
            .unwrap_or(100)
    })
}

/// `VmHWM` and `VmRSS` of a `/proc/PID/status` text.
fn parse_status(text: &str) -> Option<Memory> {
    let field = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
    };
    Some(Memory {
        peak_kib: field("VmHWM:")?,
        current_kib: field("VmRSS:")?,
    })
}

/// `utime + stime` (fields 14 and 15) of a `/proc/PID/stat` text. The command name (field 2)
/// is in parentheses and may hold spaces and parentheses itself, so count from the last `)`.
fn parse_stat_ticks(text: &str) -> Option<u64> {
    let after_name = &text[text.rfind(')')? + 1..];
    // After the name: field 3 (state) is the first, so utime (14) is the 12th.
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Busy ticks of the first (`cpu`, all CPUs) line of `/proc/stat`: user, nice, system, irq,
/// softirq and steal (guest time is already inside user; idle and iowait are not busy).
fn parse_busy_ticks(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    let field = |i: usize| fields.get(i).copied().unwrap_or(0);
    if fields.len() < 4 {
        return None;
    }
    Some(field(0) + field(1) + field(2) + field(5) + field(6) + field(7))
}

/// The machine, for the report: CPU model, CPUs and memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Machine {
    pub(crate) cpu_model: String,
    pub(crate) cpus: usize,
    pub(crate) memory_mib: u64,
}

/// Reads `/proc/cpuinfo` and `/proc/meminfo` (the CPU count is what this process may use, as
/// `nproc` prints).
pub(crate) fn machine() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    Machine {
        cpu_model: cpu_model(&cpuinfo).unwrap_or_else(|| "unknown".to_owned()),
        cpus: std::thread::available_parallelism().map_or(1, usize::from),
        memory_mib: mem_total_kib(&meminfo).unwrap_or(0) / 1024,
    }
}

fn cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == "model name").then(|| value.trim().to_owned())
    })
}

fn mem_total_kib(meminfo: &str) -> Option<u64> {
    meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_gives_peak_and_current_rss() {
        let text = "Name:\tvinr\nVmPeak:\t  900000 kB\nVmHWM:\t   45312 kB\nVmRSS:\t   40100 kB\n";
        assert_eq!(
            parse_status(text),
            Some(Memory {
                peak_kib: 45_312,
                current_kib: 40_100
            })
        );
        assert_eq!(parse_status("Name:\tx\n"), None);
    }

    #[test]
    fn stat_sums_user_and_system_ticks_past_a_tricky_name() {
        let text = "4242 (vinr (serve) x) S 1 4242 4242 0 -1 4194560 1234 0 0 0 150 37 0 0 20 0 \
                    4 0 100 200000000 5000 18446744073709551615";
        assert_eq!(parse_stat_ticks(text), Some(187));
        assert_eq!(parse_stat_ticks("1 (x) S 1"), None);
    }

    #[test]
    fn busy_ticks_leave_out_idle_and_iowait() {
        let text = "cpu  100 5 40 9000 30 1 2 3 0 0\ncpu0 50 2 20 4500 15 0 1 1 0 0\n";
        assert_eq!(parse_busy_ticks(text), Some(100 + 5 + 40 + 1 + 2 + 3));
        assert_eq!(parse_busy_ticks("cpu0 1 2 3 4\n"), None);
        assert!(machine_busy_seconds().unwrap() > 0.0);
    }

    #[test]
    fn this_process_can_be_read() {
        let pid = std::process::id();
        let memory = memory(pid).unwrap();
        assert!(memory.peak_kib >= memory.current_kib && memory.current_kib > 0);
        assert!(cpu_seconds(pid).unwrap() >= 0.0);
    }

    #[test]
    fn machine_names_the_cpu_and_memory() {
        let cpuinfo = "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Processor @ 2.50GHz\n";
        assert_eq!(
            cpu_model(cpuinfo).as_deref(),
            Some("Intel(R) Xeon(R) Processor @ 2.50GHz")
        );
        assert_eq!(
            mem_total_kib("MemTotal:       24684284 kB\n"),
            Some(24_684_284)
        );
        assert!(machine().cpus >= 1);
    }
}
