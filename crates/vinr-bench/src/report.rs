//! `docs/benchmarks.md`: the tables, the machine, the command, and the bars of issue 6 with
//! met or not met. Only the part between [`BEGIN`] and [`END`] is generated; the rest of the
//! file (the criterion figures) is kept as it is.

use std::fmt::Write as _;
use std::path::Path;

use crate::procstat::Machine;
use crate::scale::ScaleStep;
use crate::summary::Summary;

/// Opens the generated part.
pub(crate) const BEGIN: &str = "<!-- load:begin -->";
/// Closes the generated part.
pub(crate) const END: &str = "<!-- load:end -->";

/// The section a new file starts with after the generated part, for the criterion figures.
const CRITERION_SECTION: &str = "\
## Criterion benches

Micro-benchmarks, run by hand; their figures are copied here and `cargo xtask bench` never rewrites this section.

| crate | what | command | figures |
| --- | --- | --- | --- |
| `vinr-webhooks` | `verify_signature` against bare HMAC-SHA256, 1 KiB and 16 KiB | `cargo bench -p vinr-webhooks --bench verify` | (to be filled) |
| `vinr-store` | engine writes (create customer, attach card, off-session payment) on memory, SQLite and PostgreSQL, alone and from 64 tasks | `cargo bench -p vinr-store --all-features --bench engine_on_stores` | (to be filled) |
";

/// Which database a server ran on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StoreKind {
    Sqlite,
    Postgres,
}

impl StoreKind {
    /// The name in the JSON lines.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            StoreKind::Sqlite => "sqlite",
            StoreKind::Postgres => "postgres",
        }
    }

    fn title(self) -> &'static str {
        match self {
            StoreKind::Sqlite => "SQLite",
            StoreKind::Postgres => "PostgreSQL",
        }
    }

    /// The off-session payment bar and its stretch goal, payments per second.
    fn payment_bar(self) -> (f64, f64) {
        match self {
            StoreKind::Sqlite => (10_000.0, 20_000.0),
            StoreKind::Postgres => (5_000.0, 10_000.0),
        }
    }
}

/// Every figure of one store.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoreRun {
    pub(crate) store: StoreKind,
    /// What the database was, for the heading (e.g. "fresh temporary SQLite file").
    pub(crate) detail: String,
    pub(crate) results: Vec<Summary>,
    pub(crate) scale: Vec<ScaleStep>,
}

/// One payload size of the criterion `verify` bench: mean nanoseconds per call.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct VerifyFigure {
    pub(crate) size: String,
    pub(crate) verify_ns: f64,
    pub(crate) bare_ns: f64,
}

/// Everything the generated part says.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Report {
    pub(crate) command: String,
    pub(crate) date: String,
    /// The commit, formatted (e.g. "`abc1234` with uncommitted changes").
    pub(crate) commit: Option<String>,
    pub(crate) machine: Machine,
    pub(crate) connections: u32,
    pub(crate) seconds: f64,
    pub(crate) warmup: f64,
    /// `RUST_LOG` of the servers.
    pub(crate) log_level: String,
    pub(crate) baseline: Summary,
    pub(crate) stores: Vec<StoreRun>,
    /// Why PostgreSQL is missing, when it is.
    pub(crate) postgres_skipped: Option<String>,
    /// Whether the scale scenario was asked for.
    pub(crate) scale_requested: bool,
    pub(crate) verify: Vec<VerifyFigure>,
}

/// Whether a bar is met.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Status {
    Met,
    /// Met, and the stretch goal too.
    StretchMet,
    /// Not met, with the gap.
    NotMet(String),
    /// Not measured in this run, and why.
    NotMeasured(String),
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Status::Met => f.write_str("**met**"),
            Status::StretchMet => f.write_str("**met** (stretch too)"),
            Status::NotMet(gap) => write!(f, "**not met**: {gap}"),
            Status::NotMeasured(why) => write!(f, "not measured: {why}"),
        }
    }
}

/// One bar of issue 6, checked against this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bar {
    pub(crate) name: String,
    pub(crate) target: String,
    pub(crate) measured: String,
    pub(crate) status: Status,
}

/// The file with its generated part replaced by `generated` (which includes the markers).
/// A file without the markers gets the part after its title; no file gets a new one with the
/// criterion section after the part.
pub(crate) fn splice(existing: Option<&str>, generated: &str) -> String {
    let generated = generated.trim_end();
    let Some(existing) = existing.filter(|text| !text.trim().is_empty()) else {
        return format!("# Benchmarks\n\n{generated}\n\n{CRITERION_SECTION}");
    };
    if let Some(begin) = existing.find(BEGIN)
        && let Some(end_at) = existing[begin..].find(END)
    {
        let end = begin + end_at + END.len();
        return format!("{}{generated}{}", &existing[..begin], &existing[end..]);
    }
    match existing.split_once('\n') {
        Some((title, rest)) if title.starts_with("# ") => {
            format!(
                "{title}\n\n{generated}\n\n{}",
                rest.trim_start_matches('\n')
            )
        }
        _ => format!("{generated}\n\n{existing}"),
    }
}

/// The generated part, markers included.
pub(crate) fn render(report: &Report) -> String {
    let mut out = String::new();
    let _ = render_into(&mut out, report);
    out
}

fn render_into(out: &mut String, report: &Report) -> std::fmt::Result {
    writeln!(out, "{BEGIN}")?;
    writeln!(
        out,
        "<!-- Generated by `cargo xtask bench`: edits between these markers are overwritten. -->"
    )?;
    writeln!(out, "## Load benchmark")?;
    writeln!(out)?;
    let commit = report
        .commit
        .as_deref()
        .map(|c| format!(" at commit {c}"))
        .unwrap_or_default();
    writeln!(
        out,
        "Command: `{}`, run {}{commit}.",
        report.command, report.date
    )?;
    let machine = &report.machine;
    writeln!(
        out,
        "Machine: {}, {} CPUs (`nproc`), {:.1} GiB of memory; the load generator runs on the same box and shares its CPUs with the server.",
        machine.cpu_model,
        machine.cpus,
        machine.memory_mib as f64 / 1024.0
    )?;
    writeln!(
        out,
        "Load: `vinr-bench` (tokio + hyper), {} keep-alive connections over loopback, each issuing requests back to back; {} s warm-up, then {} s timed per scenario; latencies in an HDR histogram.",
        report.connections,
        trim_float(report.warmup),
        trim_float(report.seconds)
    )?;
    writeln!(
        out,
        "Servers: release `vinr serve` with its defaults (SQLite: WAL, `synchronous=FULL`, group commit; `RUST_LOG={}`) except the per-key rate limit, off (`VINR_RATE_LIMIT=0`) since one key drives all the load; a fresh database per store. The baseline is a bare axum JSON endpoint (`vinr-bench baseline`) measured in the same run.",
        report.log_level
    )?;
    writeln!(
        out,
        "The box is shared and noisy: compare the **× baseline** column between runs rather than raw requests per second."
    )?;
    writeln!(out)?;
    for run in &report.stores {
        writeln!(out, "### {} ({})", run.store.title(), run.detail)?;
        writeln!(out)?;
        write_table(out, &report.baseline, &run.results)?;
        writeln!(out)?;
    }
    if let Some(why) = &report.postgres_skipped {
        writeln!(out, "PostgreSQL: not run ({why}).")?;
        writeln!(out)?;
    }
    let scaled: Vec<&StoreRun> = report
        .stores
        .iter()
        .filter(|r| !r.scale.is_empty())
        .collect();
    for run in &scaled {
        writeln!(out, "### Scale, {}", run.store.title())?;
        writeln!(out)?;
        write_scale_table(out, &run.scale)?;
        writeln!(out)?;
    }
    writeln!(out, "### The bars of issue 6")?;
    writeln!(out)?;
    writeln!(out, "| bar | target | measured | status |")?;
    writeln!(out, "| --- | --- | --- | --- |")?;
    for bar in bars(report) {
        writeln!(
            out,
            "| {} | {} | {} | {} |",
            bar.name, bar.target, bar.measured, bar.status
        )?;
    }
    writeln!(out)?;
    writeln!(out, "How to read the tables:")?;
    writeln!(
        out,
        "req/s counts successful (2xx) answers in the timed window; the percentiles are theirs; errors are non-2xx answers and transport failures."
    )?;
    writeln!(
        out,
        "Server peak RSS is `VmHWM` of the server process, reset (`/proc/PID/clear_refs`) before each scenario's setup; server CPU is its user + system time in the timed window, as cores busy and per successful request."
    )?;
    writeln!(
        out,
        "Load generator CPU is `vinr-bench`'s own; rest of the box is every other busy CPU second in the window (`/proc/stat`): PostgreSQL itself in its runs, the kernel's I/O threads (journal commits of the fsyncs), and whatever else shared the machine (the noise)."
    )?;
    writeln!(
        out,
        "Regenerate with `cargo xtask bench --quick` (5 s per scenario, under 2 minutes) or `cargo xtask bench` (20 s; add `--scale [--scale-max 1000000]` for the scale scenario)."
    )?;
    write!(out, "{END}")?;
    Ok(())
}

fn write_table(out: &mut String, baseline: &Summary, results: &[Summary]) -> std::fmt::Result {
    writeln!(
        out,
        "| scenario | req/s | × baseline | p50 (ms) | p99 (ms) | p99.9 (ms) | errors | requests | server peak RSS (MiB) | server CPU (cores) | server CPU / req (µs) | load generator CPU (cores) | rest of the box (cores) |"
    )?;
    writeln!(
        out,
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    )?;
    for summary in std::iter::once(baseline).chain(results) {
        let ratio = ratio(summary.requests_per_s, baseline.requests_per_s);
        let (rss, cores, per_request) = match &summary.server {
            Some(server) => {
                let ok = summary.count - summary.errors;
                (
                    format!("{:.1}", server.peak_rss_kib as f64 / 1024.0),
                    format!("{:.2}", server.cpu_s / summary.duration_s.max(1e-9)),
                    if ok == 0 {
                        "–".to_owned()
                    } else {
                        format!("{:.0}", server.cpu_s * 1e6 / ok as f64)
                    },
                )
            }
            None => ("–".to_owned(), "–".to_owned(), "–".to_owned()),
        };
        let seconds = summary.duration_s.max(1e-9);
        let generator = summary
            .generator_cpu_s
            .map_or("–".to_owned(), |cpu| format!("{:.2}", cpu / seconds));
        // What the machine was busy with besides the server and the generator: other processes
        // (PostgreSQL itself in its runs, kernel I/O threads, and whoever else shares the box).
        let rest = match (summary.machine_busy_s, summary.generator_cpu_s) {
            (Some(busy), Some(own)) => {
                let server = summary.server.map_or(0.0, |s| s.cpu_s);
                format!("{:.2}", (busy - own - server).max(0.0) / seconds)
            }
            _ => "–".to_owned(),
        };
        let name = if std::ptr::eq(summary, baseline) {
            "baseline (bare axum)".to_owned()
        } else {
            format!("`{}`", summary.scenario)
        };
        writeln!(
            out,
            "| {name} | {} | {ratio} | {} | {} | {} | {} | {} | {rss} | {cores} | {per_request} | {generator} | {rest} |",
            thousands(summary.requests_per_s),
            ms(summary.p50_us),
            ms(summary.p99_us),
            ms(summary.p999_us),
            thousands(summary.errors as f64),
            thousands(summary.count as f64),
        )?;
    }
    Ok(())
}

fn write_scale_table(out: &mut String, steps: &[ScaleStep]) -> std::fmt::Result {
    writeln!(
        out,
        "| customers | loaded at (customers + card /s) | retrieve req/s | retrieve p50 (ms) | retrieve p99 (ms) | list by email req/s | list by email p50 (ms) | list by email p99 (ms) | server peak RSS (MiB) |"
    )?;
    writeln!(
        out,
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    )?;
    for step in steps {
        writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            thousands(step.customers as f64),
            thousands(step.load_per_s),
            thousands(step.retrieve.requests_per_s),
            ms(step.retrieve.p50_us),
            ms(step.retrieve.p99_us),
            thousands(step.list_by_email.requests_per_s),
            ms(step.list_by_email.p50_us),
            ms(step.list_by_email.p99_us),
            step.server_peak_rss_kib
                .map_or("–".to_owned(), |kib| format!(
                    "{:.1}",
                    kib as f64 / 1024.0
                )),
        )?;
    }
    Ok(())
}

/// Every bar of issue 6 against this run.
pub(crate) fn bars(report: &Report) -> Vec<Bar> {
    let mut bars = Vec::new();
    for store in [StoreKind::Sqlite, StoreKind::Postgres] {
        let (bar, stretch) = store.payment_bar();
        let name = format!("Off-session payments, {} (durable)", store.title());
        let target = format!(
            "≥ {}/s, p99 ≤ 20 ms (stretch {}/s)",
            thousands(bar),
            thousands(stretch)
        );
        let run = report.stores.iter().find(|r| r.store == store);
        let summary = run.and_then(|r| find(&r.results, "offsession_payment"));
        let (measured, status) = match summary {
            None => (
                "–".to_owned(),
                Status::NotMeasured(match (store, &report.postgres_skipped) {
                    (StoreKind::Postgres, Some(why)) => why.clone(),
                    _ => "no `offsession_payment` figures in this run".to_owned(),
                }),
            ),
            Some(s) => {
                let p99_ms = s.p99_us as f64 / 1000.0;
                let measured = format!(
                    "{}/s, p99 {} ms, {} errors",
                    thousands(s.requests_per_s),
                    ms(s.p99_us),
                    thousands(s.errors as f64)
                );
                let mut gaps = Vec::new();
                if s.requests_per_s < bar {
                    gaps.push(format!(
                        "{:.1}× short of {}/s",
                        bar / s.requests_per_s.max(1e-9),
                        thousands(bar)
                    ));
                }
                if p99_ms > 20.0 {
                    gaps.push(format!("p99 {:.1}× over 20 ms", p99_ms / 20.0));
                }
                if s.errors > 0 {
                    gaps.push(format!("{} errors", thousands(s.errors as f64)));
                }
                let status = if !gaps.is_empty() {
                    Status::NotMet(gaps.join("; "))
                } else if s.requests_per_s >= stretch {
                    Status::StretchMet
                } else {
                    Status::Met
                };
                (measured, status)
            }
        };
        bars.push(Bar {
            name,
            target,
            measured,
            status,
        });
    }
    for run in &report.stores {
        let name = format!("Retrieve customer, {}", run.store.title());
        let target = "≥ 0.5× the baseline's req/s".to_owned();
        let (measured, status) = match find(&run.results, "retrieve_customer") {
            None => (
                "–".to_owned(),
                Status::NotMeasured("no `retrieve_customer` figures in this run".to_owned()),
            ),
            Some(s) => {
                let r = s.requests_per_s / report.baseline.requests_per_s.max(1e-9);
                let measured = format!(
                    "{}/s = {r:.2}× {}/s",
                    thousands(s.requests_per_s),
                    thousands(report.baseline.requests_per_s)
                );
                let status = if r >= 0.5 && s.errors == 0 {
                    Status::Met
                } else if s.errors > 0 {
                    Status::NotMet(format!("{} errors", thousands(s.errors as f64)))
                } else {
                    Status::NotMet(format!("{:.1}× short", 0.5 / r.max(1e-9)))
                };
                (measured, status)
            }
        };
        bars.push(Bar {
            name,
            target,
            measured,
            status,
        });
    }
    bars.push(verify_bar(&report.verify));
    bars.extend(scale_bars(report));
    bars
}

fn verify_bar(figures: &[VerifyFigure]) -> Bar {
    let name = "Webhook `verify`".to_owned();
    let target = "≥ 0.8× bare HMAC-SHA256 throughput, 1 KiB and 16 KiB".to_owned();
    if figures.is_empty() {
        return Bar {
            name,
            target,
            measured: "–".to_owned(),
            status: Status::NotMeasured(
                "no criterion figures; run `cargo bench -p vinr-webhooks --bench verify` first"
                    .to_owned(),
            ),
        };
    }
    let ratios: Vec<(String, f64)> = figures
        .iter()
        .map(|f| (f.size.clone(), f.bare_ns / f.verify_ns.max(1e-9)))
        .collect();
    let measured = ratios
        .iter()
        .map(|(size, r)| format!("{size}: {r:.2}×"))
        .collect::<Vec<_>>()
        .join(", ")
        + " (the last criterion run, `target/criterion`)";
    let short: Vec<String> = ratios
        .iter()
        .filter(|(_, r)| *r < 0.8)
        .map(|(size, r)| format!("{size} at {r:.2}×"))
        .collect();
    let status = if short.is_empty() {
        Status::Met
    } else {
        Status::NotMet(short.join(", "))
    };
    Bar {
        name,
        target,
        measured,
        status,
    }
}

fn scale_bars(report: &Report) -> Vec<Bar> {
    let why_not = if report.scale_requested {
        "the scale scenario did not reach 1,000,000 customers (`--scale-max 1000000`)"
    } else {
        "the scale scenario is off (full mode with `--scale --scale-max 1000000`)"
    };
    let sqlite = report.stores.iter().find(|r| r.store == StoreKind::Sqlite);
    let mut bars = Vec::new();
    let runs: Vec<&StoreRun> = if report.stores.iter().any(|r| !r.scale.is_empty()) {
        report
            .stores
            .iter()
            .filter(|r| !r.scale.is_empty())
            .collect()
    } else {
        sqlite.into_iter().collect()
    };
    for run in runs {
        let small = run.scale.iter().find(|s| s.customers == 10_000);
        let large = run.scale.iter().find(|s| s.customers == 1_000_000);
        let name = format!(
            "Retrieve and list-by-email p99 at 1 M customers, {}",
            run.store.title()
        );
        let target = "within 1.5× of the figure at 10 k".to_owned();
        let (measured, status) = match (small, large) {
            (Some(small), Some(large)) => {
                let retrieve = large.retrieve.p99_us as f64 / small.retrieve.p99_us.max(1) as f64;
                let list =
                    large.list_by_email.p99_us as f64 / small.list_by_email.p99_us.max(1) as f64;
                let measured = format!(
                    "retrieve {} → {} ms ({retrieve:.2}×), list {} → {} ms ({list:.2}×)",
                    ms(small.retrieve.p99_us),
                    ms(large.retrieve.p99_us),
                    ms(small.list_by_email.p99_us),
                    ms(large.list_by_email.p99_us)
                );
                let status = if retrieve <= 1.5 && list <= 1.5 {
                    Status::Met
                } else {
                    Status::NotMet(format!("worst at {:.2}×", retrieve.max(list)))
                };
                (measured, status)
            }
            _ => ("–".to_owned(), Status::NotMeasured(why_not.to_owned())),
        };
        bars.push(Bar {
            name,
            target,
            measured,
            status,
        });
    }
    let large_sqlite = sqlite.and_then(|r| r.scale.iter().find(|s| s.customers == 1_000_000));
    let (measured, status) = match large_sqlite.and_then(|s| s.server_peak_rss_kib) {
        Some(kib) => {
            let mib = kib as f64 / 1024.0;
            let status = if mib <= 64.0 {
                Status::Met
            } else {
                Status::NotMet(format!("{:.1} MiB over", mib - 64.0))
            };
            (format!("{mib:.1} MiB"), status)
        }
        None => ("–".to_owned(), Status::NotMeasured(why_not.to_owned())),
    };
    bars.push(Bar {
        name: "Server peak RSS with 1 M customers, SQLite".to_owned(),
        target: "≤ 64 MiB".to_owned(),
        measured,
        status,
    });
    bars
}

/// The figures of the criterion `verify` bench, if it has run (mean time per call of
/// `verify_signature` and `bare HMAC-SHA256`, per payload size).
pub(crate) fn read_verify(criterion_dir: &Path) -> Vec<VerifyFigure> {
    let mean = |size: &str, bench: &str| -> Option<f64> {
        let path = criterion_dir
            .join(size)
            .join(bench)
            .join("new/estimates.json");
        let text = std::fs::read_to_string(path).ok()?;
        let value: serde_json::Value = serde_json::from_str(&text).ok()?;
        value.get("mean")?.get("point_estimate")?.as_f64()
    };
    ["1 KiB", "16 KiB"]
        .into_iter()
        .filter_map(|size| {
            Some(VerifyFigure {
                size: size.to_owned(),
                verify_ns: mean(size, "verify_signature")?,
                bare_ns: mean(size, "bare HMAC-SHA256")?,
            })
        })
        .collect()
}

fn find<'a>(results: &'a [Summary], scenario: &str) -> Option<&'a Summary> {
    results.iter().find(|s| s.scenario == scenario)
}

fn ratio(value: f64, baseline: f64) -> String {
    if baseline <= 0.0 {
        "–".to_owned()
    } else {
        format!("{:.2}", value / baseline)
    }
}

/// Microseconds as milliseconds with two decimals.
fn ms(micros: u64) -> String {
    format!("{:.2}", micros as f64 / 1000.0)
}

/// A rounded number with `,` between thousands.
fn thousands(value: f64) -> String {
    let rounded = value.round();
    let digits = format!("{}", rounded.abs() as u64);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if rounded < 0.0 {
        out.insert(0, '-');
    }
    out
}

/// `5` for 5.0, `1.5` for 1.5.
fn trim_float(value: f64) -> String {
    let text = format!("{value:.1}");
    text.strip_suffix(".0").map_or(text.clone(), str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::ServerUsage;

    fn summary(scenario: &str, rps: f64, p99_us: u64, errors: u64) -> Summary {
        Summary {
            scenario: scenario.to_owned(),
            connections: 64,
            duration_s: 5.0,
            count: (rps * 5.0) as u64 + errors,
            errors,
            requests_per_s: rps,
            p50_us: p99_us / 4,
            p99_us,
            p999_us: p99_us * 2,
            max_us: p99_us * 3,
            mean_us: p99_us as f64 / 3.0,
            server: Some(ServerUsage {
                peak_rss_kib: 30 * 1024,
                rss_reset: true,
                cpu_s: 5.0,
            }),
            generator_cpu_s: Some(4.0),
            machine_busy_s: Some(9.5),
        }
    }

    fn report() -> Report {
        Report {
            command: "cargo xtask bench --quick".to_owned(),
            date: "2030-01-02 03:04 UTC".to_owned(),
            commit: Some("`abc1234`".to_owned()),
            machine: Machine {
                cpu_model: "Test CPU @ 2.50GHz".to_owned(),
                cpus: 2,
                memory_mib: 24_576,
            },
            connections: 64,
            seconds: 5.0,
            warmup: 1.0,
            log_level: "info".to_owned(),
            baseline: summary("baseline", 100_000.0, 2_000, 0),
            stores: vec![StoreRun {
                store: StoreKind::Sqlite,
                detail: "fresh temporary file".to_owned(),
                results: vec![
                    summary("retrieve_customer", 60_000.0, 3_000, 0),
                    summary("offsession_payment", 4_000.0, 40_000, 2),
                ],
                scale: Vec::new(),
            }],
            postgres_skipped: Some("`VINR_TEST_POSTGRES_URL` is not set".to_owned()),
            scale_requested: false,
            verify: vec![VerifyFigure {
                size: "1 KiB".to_owned(),
                verify_ns: 1_000.0,
                bare_ns: 900.0,
            }],
        }
    }

    #[test]
    fn the_table_has_a_row_per_scenario_with_the_ratio() {
        let text = render(&report());
        assert!(text.starts_with(BEGIN) && text.ends_with(END));
        assert!(text.contains("### SQLite (fresh temporary file)"));
        assert!(text.contains(
            "| baseline (bare axum) | 100,000 | 1.00 | 0.50 | 2.00 | 4.00 | 0 | 500,000 | 30.0 | 1.00 | 10 | 0.80 | 0.10 |"
        ));
        assert!(text.contains(
            "| `retrieve_customer` | 60,000 | 0.60 | 0.75 | 3.00 | 6.00 | 0 | 300,000 | 30.0 | 1.00 | 17 | 0.80 | 0.10 |"
        ));
        assert!(text.contains(
            "| `offsession_payment` | 4,000 | 0.04 | 10.00 | 40.00 | 80.00 | 2 | 20,002 | 30.0 | 1.00 | 250 | 0.80 | 0.10 |"
        ));
        assert!(text.contains("Test CPU @ 2.50GHz, 2 CPUs"));
        assert!(
            text.contains(
                "`cargo xtask bench --quick`, run 2030-01-02 03:04 UTC at commit `abc1234`"
            )
        );
        assert!(text.contains("PostgreSQL: not run (`VINR_TEST_POSTGRES_URL` is not set)."));
        // Every row of a table has as many cells as its header.
        let mut columns = None;
        for line in text.lines() {
            if line.starts_with('|') {
                let cells = line.matches('|').count();
                assert_eq!(*columns.get_or_insert(cells), cells, "{line}");
            } else {
                columns = None;
            }
        }
    }

    #[test]
    fn bars_say_met_or_the_gap() {
        let bars = bars(&report());
        let status = |name: &str| {
            bars.iter()
                .find(|b| b.name.starts_with(name))
                .map(|b| b.status.clone())
                .unwrap()
        };
        assert_eq!(
            status("Off-session payments, SQLite"),
            Status::NotMet("2.5× short of 10,000/s; p99 2.0× over 20 ms; 2 errors".to_owned())
        );
        assert!(
            matches!(status("Off-session payments, PostgreSQL"), Status::NotMeasured(why) if why.contains("VINR_TEST_POSTGRES_URL"))
        );
        assert_eq!(status("Retrieve customer, SQLite"), Status::Met);
        assert_eq!(status("Webhook `verify`"), Status::Met);
        assert!(matches!(status("Server peak RSS"), Status::NotMeasured(_)));
        assert!(matches!(
            status("Retrieve and list-by-email"),
            Status::NotMeasured(_)
        ));
    }

    #[test]
    fn the_payment_bar_can_be_met_with_its_stretch() {
        let mut report = report();
        report.stores[0].results[1] = summary("offsession_payment", 25_000.0, 8_000, 0);
        let bar = bars(&report).remove(0);
        assert_eq!(bar.status, Status::StretchMet);
        report.stores[0].results[1] = summary("offsession_payment", 12_000.0, 8_000, 0);
        assert_eq!(bars(&report).remove(0).status, Status::Met);
    }

    #[test]
    fn splice_keeps_everything_outside_the_markers() {
        let old = format!(
            "# Benchmarks\n\nintro\n\n{BEGIN}\nold figures\n{END}\n\n## Criterion\n\nhand figures\n"
        );
        let new = splice(Some(&old), &format!("{BEGIN}\nnew figures\n{END}\n"));
        assert_eq!(
            new,
            format!(
                "# Benchmarks\n\nintro\n\n{BEGIN}\nnew figures\n{END}\n\n## Criterion\n\nhand figures\n"
            )
        );
        // Twice gives the same file.
        assert_eq!(
            splice(Some(&new), &format!("{BEGIN}\nnew figures\n{END}")),
            new
        );
    }

    #[test]
    fn splice_starts_a_file_or_adopts_one_without_markers() {
        let part = format!("{BEGIN}\nfigures\n{END}");
        let fresh = splice(None, &part);
        assert!(fresh.starts_with(&format!("# Benchmarks\n\n{part}\n\n## Criterion benches")));
        let adopted = splice(Some("# Benchmarks\n\n## Criterion\nkept\n"), &part);
        assert_eq!(
            adopted,
            format!("# Benchmarks\n\n{part}\n\n## Criterion\nkept\n")
        );
        let untitled = splice(Some("kept\n"), &part);
        assert_eq!(untitled, format!("{part}\n\nkept\n"));
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.4), "999");
        assert_eq!(thousands(1_000.0), "1,000");
        assert_eq!(thousands(1_234_567.8), "1,234,568");
        assert_eq!(ms(1_234), "1.23");
        assert_eq!(trim_float(5.0), "5");
        assert_eq!(trim_float(0.5), "0.5");
    }

    #[test]
    fn verify_figures_come_from_criterion_s_estimates() {
        let dir = std::env::temp_dir().join(format!("vinr-bench-criterion-{}", std::process::id()));
        for (bench, mean) in [("verify_signature", 1_100.0), ("bare HMAC-SHA256", 1_000.0)] {
            let at = dir.join("1 KiB").join(bench).join("new");
            std::fs::create_dir_all(&at).unwrap();
            std::fs::write(
                at.join("estimates.json"),
                format!(r#"{{"mean":{{"point_estimate":{mean}}}}}"#),
            )
            .unwrap();
        }
        let figures = read_verify(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            figures,
            [VerifyFigure {
                size: "1 KiB".to_owned(),
                verify_ns: 1_100.0,
                bare_ns: 1_000.0
            }]
        );
        assert!(read_verify(Path::new("/nonexistent")).is_empty());
    }
}
