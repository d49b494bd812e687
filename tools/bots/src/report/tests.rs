//! The report's figures and verdicts from hand-made tallies.

use super::*;

fn facts() -> RunFacts {
    RunFacts {
        scenario: Scenario::Ping,
        bots: 2,
        interval: Some(Duration::from_secs(1)),
        rate: Some(2.0),
        payload: None,
        closed_loop: false,
        duration: Duration::from_secs(2),
        ramp_up: Duration::from_millis(5),
        interrupted: false,
        login: None,
        zone: None,
        matches: None,
        chat: None,
        economy: None,
        server_rss: None,
    }
}

#[test]
fn merged_tallies_add_up_and_keep_the_first_example() {
    let mut a = Tally::new();
    a.connected = 1;
    a.sent = 3;
    a.answered = 3;
    a.record_latency(Duration::from_millis(1));
    a.errors.record("connect", "first");
    let mut b = Tally::new();
    b.connected = 1;
    b.sent = 2;
    b.answered = 1;
    b.lost = 1;
    b.record_latency(Duration::from_millis(3));
    b.errors.record("connect", "second");

    a.merge(b);
    let r = Report::new(facts(), a);
    assert_eq!((r.connected, r.sent, r.answered, r.lost), (2, 5, 4, 1));
    assert_eq!(r.errors, 2);
    assert_eq!(r.error_examples["connect"], "first");
    assert!((r.throughput_per_s - 2.0).abs() < 1e-9);
    // Two samples, 1 ms and 3 ms, within the histogram's 1%.
    assert!((r.latency_ms.max - 3.0).abs() < 0.05, "{:?}", r.latency_ms);
    assert!((r.latency_ms.p50 - 1.0).abs() < 0.02, "{:?}", r.latency_ms);
}

#[test]
fn memory_per_session_is_the_growth_over_the_sessions() {
    let rss = ServerRss::new(7, 100 << 20, 150 << 20, 10_000);
    assert_eq!(rss.per_session_bytes, Some(f64::from(50 << 20) / 10_000.0));
    // It may shrink (memory given back); without sessions there is no figure.
    assert_eq!(ServerRss::new(7, 2048, 1024, 2).per_session_bytes, Some(-512.0));
    assert_eq!(ServerRss::new(7, 1024, 2048, 0).per_session_bytes, None);
}

#[test]
fn a_login_run_fails_on_failed_logins_or_lost_sessions() {
    let login = || LoginFacts {
        method: LoginMethod::Password,
        run_tag: "t".into(),
        pacing: LoginPacing::Concurrency(4),
    };
    let bot = |ok: bool, held: bool| {
        let mut t = Tally::new();
        t.connected = 1;
        t.login_attempted = 1;
        if ok {
            t.login_ok = 1;
            t.record_login_latency(Duration::from_millis(20));
        } else {
            t.login_failed.record("INVALID_CREDENTIALS", "INVALID_CREDENTIALS for LoginReq");
        }
        t.held = u64::from(held);
        t
    };
    let mut all = Tally::new();
    for t in [bot(true, true), bot(true, true)] {
        all.merge(t);
    }
    let facts = RunFacts { scenario: Scenario::Login, login: Some(login()), ..facts() };
    let report = Report::new(facts.clone(), all);
    assert!(report.passed(), "{report}");
    let l = report.login.as_ref().unwrap();
    assert_eq!((l.ok, l.sessions_held, l.concurrency, l.rate), (2, 2, Some(4), None));
    assert!((l.per_s - 400.0).abs() < 1e-6, "2 logins in the 5 ms ramp-up: {}", l.per_s);
    assert!((l.latency_ms.p50 - 20.0).abs() < 0.2, "{:?}", l.latency_ms);
    assert!(report.to_string().contains("2 ok, 0 failed of 2"), "{report}");

    let mut all = Tally::new();
    for t in [bot(true, true), bot(true, false), bot(false, false)] {
        all.merge(t);
    }
    let report = Report::new(facts, all);
    assert_eq!(
        report.failures(),
        ["1 of 3 logins failed (INVALID_CREDENTIALS x1)", "1 of 2 sessions lost before the end"]
    );
    assert!(report.to_string().contains("INVALID_CREDENTIALS"), "{report}");
}

#[test]
fn zone_tallies_merge_into_rates_over_the_window() {
    let bot = |moves: u64, latency_ms: u64| {
        let mut t = Tally::new();
        t.connected = 1;
        t.login_ok = 1;
        t.held = 1;
        t.sent = 20;
        let z = &mut t.zone;
        (z.enter_attempted, z.entered) = (1, 1);
        z.record_enter_latency(Duration::from_millis(5));
        z.positions.add(100);
        z.ticks.add(50);
        z.bytes = 200;
        (z.moves, z.enters, z.leaves, z.stops) = (moves, 1, 1, 1);
        z.record_update_latency(1_000_000 + latency_ms * 1000, 1_000);
        t
    };
    let mut all = bot(10, 1);
    all.merge(bot(30, 3));
    let facts = RunFacts {
        scenario: Scenario::Zone,
        login: Some(LoginFacts {
            method: LoginMethod::Device,
            run_tag: "t".into(),
            pacing: LoginPacing::Rate(500.0),
        }),
        zone: Some(ZoneFacts { move_hz: 10.0, server: None }),
        ..facts()
    };
    let r = Report::new(facts, all);
    let z = r.zone.as_ref().unwrap();
    assert_eq!((z.entered, z.moves_sent, z.updates), (2, 40, 46));
    // Over the 2 s window.
    assert!((z.updates_per_s - 23.0).abs() < 1e-9 && (z.moves_per_s - 20.0).abs() < 1e-9);
    assert_eq!((z.frames.positions.frames, z.frames.positions.bytes, z.bytes), (2, 200, 400));
    assert!((z.frames.tick.bytes_per_s - 50.0).abs() < 1e-9);
    assert_eq!(z.update_latency_samples, 2);
    assert!((z.update_latency_ms.max - 3.0).abs() < 0.05, "{:?}", z.update_latency_ms);
    assert!((z.enter_latency_ms.p50 - 5.0).abs() < 0.05, "{:?}", z.enter_latency_ms);
    assert!(r.passed(), "{r}");
    assert!(r.to_string().contains("46 (23/s): 40 moves, 2 enters, 2 leaves, 2 stops"), "{r}");
    // Nothing answers MoveReqs: the request/response lines would only show zeros.
    assert!(!r.to_string().contains("throughput"), "{r}");
}

#[test]
fn a_run_fails_on_errors_or_loss_and_says_why() {
    let mut t = Tally::new();
    t.sent = 10;
    t.answered = 10;
    assert!(Report::new(facts(), t).passed());

    let mut t = Tally::new();
    t.sent = 10;
    t.answered = 9;
    t.lost = 1;
    t.errors.record("eof", "closed");
    let why = Report::new(facts(), t).failures();
    assert_eq!(why, ["1 errors (eof x1)", "1 of 10 requests lost"]);
}
