#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The retry schedule (parsing, display, the delay after each attempt, jitter) and the
//! dispatcher's settings.

use std::time::Duration;

use vinr_webhooks::dispatch::{
    DispatcherConfig, FixedJitter, Jitter, RandomJitter, ReqwestSender, RetrySchedule,
    ScheduleError, apply_jitter,
};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn schedules_parse_with_units_and_white_space() {
    let s = RetrySchedule::parse(" 30s, 5m ,2h,1d ").unwrap();
    assert_eq!(s.delays(), [secs(30), secs(300), secs(7_200), secs(86_400)]);
    assert_eq!(s.to_string(), "30s,5m,2h,24h");
    assert_eq!(s, s.to_string().parse().unwrap());
    assert_eq!(RetrySchedule::parse("90s").unwrap().to_string(), "90s");
    assert_eq!(RetrySchedule::parse("120s").unwrap().to_string(), "2m");
}

#[test]
fn the_default_is_api_md_s() {
    let s = RetrySchedule::default();
    assert_eq!(s.to_string(), "1m,5m,30m,2h,6h,12h,24h,24h");
    let expected = [60, 300, 1_800, 7_200, 21_600, 43_200, 86_400, 86_400].map(secs);
    assert_eq!(s.delays(), expected);
    assert_eq!(s.max_attempts(), 9);
}

#[test]
fn the_delay_after_each_attempt_then_none() {
    let s = RetrySchedule::parse("1s,1s").unwrap();
    assert_eq!(s.delay_after(0), None);
    assert_eq!(s.delay_after(1), Some(secs(1)));
    assert_eq!(s.delay_after(2), Some(secs(1)));
    assert_eq!(s.delay_after(3), None);
    assert_eq!(s.delay_after(u32::MAX), None);
    assert_eq!(s.max_attempts(), 3);
    let d = RetrySchedule::default();
    assert_eq!(d.delay_after(1), Some(secs(60)));
    assert_eq!(d.delay_after(8), Some(secs(86_400)));
    assert_eq!(d.delay_after(9), None);
}

#[test]
fn garbage_is_refused_with_a_clear_error() {
    let err = |text: &str| RetrySchedule::parse(text).unwrap_err();
    assert_eq!(err(""), ScheduleError::Empty);
    assert_eq!(err("  "), ScheduleError::Empty);
    assert_eq!(err("1m,,5m"), ScheduleError::EmptyItem { position: 2 });
    assert_eq!(err("1m,"), ScheduleError::EmptyItem { position: 2 });
    assert_eq!(err(",1m"), ScheduleError::EmptyItem { position: 1 });
    for bad in [
        "5", "m", "1M", "1.5m", "-1m", "+1m", "1 m", "1m 2m", "1ms", "1w", "٣m", "ten",
    ] {
        assert!(
            matches!(err(bad), ScheduleError::NotADelay { .. }),
            "{bad}: {:?}",
            err(bad)
        );
    }
    assert!(matches!(err("0s"), ScheduleError::TooShort { .. }));
    assert!(matches!(err("1m,0h"), ScheduleError::TooShort { .. }));
    assert_eq!(err("2d,1d,1s"), ScheduleError::TooLong);
    assert_eq!(err("99999999999999999999999d"), ScheduleError::TooLong);
    assert_eq!(err("999999999999999999d"), ScheduleError::TooLong);
    assert_eq!(
        err(&vec!["1s"; 33].join(",")),
        ScheduleError::TooMany { count: 33 }
    );
    assert!(RetrySchedule::parse(&vec!["1s"; 32].join(",")).is_ok());
    assert!(RetrySchedule::parse("3d").is_ok());

    assert_eq!(
        err("1m,5x").to_string(),
        "`5x` is not a delay; write a whole number and a unit: `30s`, `5m`, `2h`, `1d`"
    );
    assert_eq!(err("0s").to_string(), "`0s`: a delay must be at least 1s");
    assert_eq!(
        err("").to_string(),
        "the retry schedule is empty; expected a comma list such as `1m,5m,30m,2h,6h,12h,24h,24h`"
    );
}

#[test]
fn schedules_from_durations_are_checked_alike() {
    assert_eq!(RetrySchedule::new(vec![]), Err(ScheduleError::Empty));
    assert!(RetrySchedule::new(vec![Duration::ZERO]).is_err());
    assert!(RetrySchedule::new(vec![Duration::from_millis(2_500)]).is_err());
    assert_eq!(
        RetrySchedule::new(vec![secs(3 * 86_400), secs(1)]),
        Err(ScheduleError::TooLong)
    );
    assert_eq!(
        RetrySchedule::new(vec![secs(u64::MAX), secs(u64::MAX)]),
        Err(ScheduleError::TooLong)
    );
    assert_eq!(
        RetrySchedule::new(vec![secs(60), secs(300)]).unwrap(),
        RetrySchedule::parse("1m,5m").unwrap()
    );
}

#[test]
fn jitter_stays_within_a_tenth() {
    let d = secs(60);
    assert_eq!(apply_jitter(d, 1.0), secs(66));
    assert_eq!(apply_jitter(d, -1.0), secs(54));
    assert_eq!(apply_jitter(d, 7.0), secs(66));
    assert_eq!(apply_jitter(d, f64::INFINITY), secs(66));
    assert_eq!(apply_jitter(d, f64::NEG_INFINITY), secs(54));
    assert_eq!(apply_jitter(d, f64::NAN), d);

    let s = RetrySchedule::default();
    assert_eq!(s.jittered_delay_after(1, &FixedJitter(0.5)), Some(secs(63)));
    assert_eq!(s.jittered_delay_after(9, &FixedJitter(0.5)), None);

    // The random source: within bounds, and not constant.
    let mut seen = std::collections::HashSet::new();
    for _ in 0..1_000 {
        let sample = RandomJitter.sample();
        assert!((-1.0..=1.0).contains(&sample), "{sample}");
        let delay = s.jittered_delay_after(8, &RandomJitter).unwrap();
        assert!(delay >= secs(77_760) && delay <= secs(95_040), "{delay:?}");
        seen.insert(delay);
    }
    assert!(seen.len() > 100, "{} distinct delays", seen.len());
}

#[test]
fn settings_are_checked() {
    let ok = DispatcherConfig::default();
    assert_eq!(ok.validate(), Ok(()));
    assert_eq!(ok.timeout, secs(10));
    assert_eq!(ok.lease, secs(30));
    assert_eq!(ok.event_retention, secs(30 * 86_400));
    assert_eq!(ok.purge_interval, secs(3_600));

    let refused = |c: DispatcherConfig| c.validate().unwrap_err().to_string();
    assert!(
        refused(DispatcherConfig {
            lease: secs(19),
            ..DispatcherConfig::default()
        })
        .contains("at least twice the timeout")
    );
    assert!(
        refused(DispatcherConfig {
            timeout: Duration::ZERO,
            ..DispatcherConfig::default()
        })
        .contains("timeout")
    );
    assert!(
        refused(DispatcherConfig {
            lease: secs(2 * 86_400),
            ..DispatcherConfig::default()
        })
        .contains("at most one day")
    );
    assert!(
        refused(DispatcherConfig {
            batch_size: 0,
            ..DispatcherConfig::default()
        })
        .contains("batch size")
    );
    assert!(
        refused(DispatcherConfig {
            concurrency: 0,
            ..DispatcherConfig::default()
        })
        .contains("concurrency")
    );
    assert!(
        refused(DispatcherConfig {
            idle_interval: Duration::ZERO,
            ..DispatcherConfig::default()
        })
        .contains("idle interval")
    );
    assert!(
        refused(DispatcherConfig {
            purge_interval: Duration::ZERO,
            ..DispatcherConfig::default()
        })
        .contains("purge interval")
    );
    assert!(
        refused(DispatcherConfig {
            event_retention: secs(86_400),
            ..DispatcherConfig::default()
        })
        .contains("longer than the retry schedule")
    );
}

#[test]
fn the_http_sender_builds() {
    let sender = ReqwestSender::new().unwrap();
    assert!(format!("{sender:?}").contains("ReqwestSender"));
}
