//! `mmo-bots`: the command line of the bot swarm. Parses options, runs the swarm on a
//! multi-threaded runtime, prints the summary (and writes it as JSON), and exits 1 on errors or loss
//! (in `login`, also on a failed login or a session lost before the end; in `zone`, also on a bot
//! that could not enter the world, a rejected MoveReq, or no updates at all; in `match`, also on
//! a bot that could not queue, no match started, a failed step, or a ticket matched twice or a
//! player in two matches at once; in `chat`, also on a bot that could not join, a refused
//! message, or a lost or duplicated delivery).
//!
//! ```text
//! mmo-bots --bots 1000 --duration 20s                        # ping: the gateway's round trip
//! mmo-bots --scenario echo --bots 1000 --rate 50000          # echo through the bus
//! mmo-bots --scenario login --bots 10000 --server-pid "$(pgrep -x mmo)"   # guest logins, idle
//! mmo-bots --scenario login --login password --login-concurrency 16 --bots 500
//! mmo-bots --scenario zone --bots 2000 --move-hz 10 --duration 30s \
//!     --metrics-url http://127.0.0.1:9100/metrics           # walk; updates, latency, tick
//! mmo-bots --scenario match --bots 100 --duration 20s --run-tag random   # queue, accept, play
//! mmo-bots --scenario chat --bots 200 --chat-channel lobby --chat-rate 2  # fan-out, loss
//! ```

use anyhow::Context;
use clap::Parser;
use mmo_bots::scenario::{CHAT_LIMIT_PER_S, ECHO_LIMIT_PER_S, MOVE_KEEPALIVE, MOVE_LIMIT_PER_S};
use mmo_bots::{LoginMethod, LoginPacing, Options, Report, Scenario, Swarm};
use std::path::PathBuf;
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

/// The gateway's default Ping rate limit per session; faster schedules get RATE_LIMITED.
const GATEWAY_PING_LIMIT_PER_S: f64 = 20.0;

/// The account server's default `max_failed_logins_per_address`: password logins in progress
/// from one address count against it until they succeed.
const ACCOUNT_ATTEMPTS_PER_ADDRESS: usize = 20;

/// Connects N bots to a gateway and measures their requests on a fixed schedule.
///
/// Scenarios: `ping` (the gateway's round trip), `echo` (through the bus to the diagnostics
/// server), `login` (log in at a bounded rate, then idle with heartbeats: logins/s, login latency,
/// sessions held; with --server-pid, the server's memory per session), `zone` (log in, enter the
/// world, random-walk with MoveReqs at --move-hz: entity updates delivered per second, frames and
/// bytes per second, update latency from the server's tick; with --metrics-url, the server's tick
/// p50/p99), `match` (log in, enter the world, form parties, queue for --match-mode, answer the
/// ready checks, declining --decline-rate of them, play --match-secs, requeue: time to match
/// p50/p99, matches/s, declines, and checks that no ticket was matched twice), `chat` (log in,
/// join --chat-channel, a custom channel or `world`, send --chat-rate messages a second per bot:
/// deliveries/s, send-to-receipt latency p50/p99, lost and duplicated deliveries).
#[derive(Debug, Parser)]
#[command(name = "mmo-bots", version, about)]
struct Cli {
    #[command(flatten)]
    opts: Options,
    /// Also write the summary as one JSON object to this file.
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
    /// Print only the summary (and, with --hold, the holding line).
    #[arg(long)]
    quiet: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")))
        .with_writer(std::io::stderr)
        .init();
    cli.opts.validate()?;
    let opts = cli.opts.clone();
    // One socket per bot: a shell's default soft limit (often 1024) would fail the connects.
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) if limit < opts.bots as u64 + 64 => eprintln!(
            "warning: {} bots need about {} open files and this process may open {limit}: raise the hard \
             limit (ulimit -Hn) or run several swarms",
            opts.bots,
            opts.bots + 64
        ),
        Ok(_) => {}
        Err(e) => eprintln!("warning: could not raise the open file limit: {e}"),
    }
    if matches!(opts.scenario, Scenario::Ping | Scenario::Login)
        && let Some(interval) = opts.interval()
        && 1.0 / interval.as_secs_f64() > GATEWAY_PING_LIMIT_PER_S
    {
        eprintln!(
            "warning: --ping-interval {interval:?} is over the gateway's default limit of {GATEWAY_PING_LIMIT_PER_S} pings/s per session"
        );
    }
    if opts.scenario == Scenario::Zone {
        let hz = opts.move_hz();
        if hz > MOVE_LIMIT_PER_S {
            eprintln!(
                "warning: --move-hz {hz} is over the zone's limit of {MOVE_LIMIT_PER_S} MoveReqs/s per session"
            );
        }
        if 1.0 / hz > MOVE_KEEPALIVE.as_secs_f64() {
            eprintln!(
                "warning: --move-hz {hz} sends less often than the protocol asks while moving (every \
                 {MOVE_KEEPALIVE:?}); the zone stops a player after 1 s without input"
            );
        }
    }
    if opts.scenario.logs_in()
        && opts.login == LoginMethod::Password
        && opts.bots > ACCOUNT_ATTEMPTS_PER_ADDRESS
        && opts.login_concurrency.is_none_or(|n| n >= ACCOUNT_ATTEMPTS_PER_ADDRESS)
    {
        eprintln!(
            "warning: password logins in progress from one address count against the account server's \
             max_failed_logins_per_address (default {ACCOUNT_ATTEMPTS_PER_ADDRESS}) until they succeed; more at \
             once get TOO_MANY_ATTEMPTS. Use --login-concurrency under it"
        );
    }
    if opts.scenario == Scenario::Chat && opts.chat_settings().rate > CHAT_LIMIT_PER_S {
        eprintln!(
            "warning: --chat-rate {} is over the chat server's default limit of {CHAT_LIMIT_PER_S} messages/s per \
             player; raise [chat] rate_per_sec or expect CHAT_SLOW_MODE refusals",
            opts.chat_settings().rate
        );
    }
    if opts.scenario == Scenario::Echo
        && let Some(rate) = opts.total_rate()
        && rate / opts.bots as f64 > f64::from(ECHO_LIMIT_PER_S)
    {
        eprintln!(
            "warning: --rate {rate} over {} bots is over the diagnostics server's limit of \
             {ECHO_LIMIT_PER_S} echos/s per session",
            opts.bots
        );
    }
    let say = |line: String| {
        if !cli.quiet {
            println!("{line}");
        }
    };

    let mut swarm = Swarm::start(opts).await?;
    // As run: a random run tag is drawn by now.
    let opts = swarm.options().clone();
    let stop = swarm.stop_token();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("interrupted: finishing (Ctrl-C again to exit at once)");
            stop.cancel();
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    });

    let schedule = match (opts.interval(), opts.total_rate()) {
        _ if opts.scenario == Scenario::Match => {
            let m = opts.match_settings();
            format!(
                "mode {}, parties of up to {} for {:.0}% of the bots, {:.0}% of checks declined, {} s \
                 matches,",
                m.mode,
                m.party_size,
                m.party_share * 100.0,
                m.decline_rate * 100.0,
                m.match_secs
            )
        }
        _ if opts.scenario == Scenario::Chat => {
            let c = opts.chat_settings();
            format!(
                "channel {}, {} messages/s per bot ({:.0}/s in all)",
                c.channel,
                c.rate,
                c.rate * opts.bots as f64
            )
        }
        (Some(interval), Some(rate)) => format!("every {interval:?} per bot ({rate:.0}/s in all)"),
        _ if opts.scenario == Scenario::Login => "heartbeats at the server's interval".to_owned(),
        _ => "closed loop".to_owned(),
    };
    let payload = opts.payload_len().map_or_else(String::new, |n| format!(", payload {n} B"));
    let pacing = match opts.login_pacing() {
        None => format!("at {}/s", opts.connect_rate),
        Some(LoginPacing::Rate(rate)) => format!("logging in ({}) at {rate}/s", opts.login.name()),
        Some(LoginPacing::Concurrency(n)) => format!("logging in ({}) {n} at a time", opts.login.name()),
    };
    let tag = if opts.scenario.logs_in() { format!(", run tag {}", opts.run_tag) } else { String::new() };
    say(format!(
        "{} bots -> {} {pacing}, scenario {}{payload}{tag}, {schedule} for {:?}",
        opts.bots,
        opts.addr,
        opts.scenario.name(),
        opts.duration
    ));
    let ramp = swarm.ramp_up().await;
    let per_s = |n: usize| n as f64 / ramp.elapsed.as_secs_f64().max(1e-9);
    match (ramp.logged_in, ramp.entered) {
        (_, Some(entered)) => say(format!(
            "enter: {entered}/{} in the world ({} logged in, {} connected) in {:.2} s ({:.0}/s)",
            ramp.bots,
            ramp.logged_in.unwrap_or(0),
            ramp.connected,
            ramp.elapsed.as_secs_f64(),
            per_s(entered)
        )),
        (None, None) => say(format!(
            "ramp-up: {}/{} connected in {:.2} s ({:.0}/s)",
            ramp.connected,
            ramp.bots,
            ramp.elapsed.as_secs_f64(),
            per_s(ramp.connected)
        )),
        (Some(logged_in), None) => say(format!(
            "login: {logged_in}/{} logged in ({} connected) in {:.2} s ({:.0} logins/s)",
            ramp.bots,
            ramp.connected,
            ramp.elapsed.as_secs_f64(),
            per_s(logged_in)
        )),
    }
    if let Some(rss) = swarm.server_rss() {
        say(format!(
            "server rss: {} -> {} bytes with {} sessions",
            rss.before_bytes, rss.after_bytes, rss.sessions
        ));
    }
    if opts.hold {
        // Scripts wait for this line before sampling the server's memory, so it prints even
        // with --quiet.
        println!("holding {} connections", ramp.sessions());
    }

    let report = swarm.measure().await;
    println!("{report}");
    if let Some(path) = &cli.json {
        write_json(path, &report)?;
    }

    let mut failures = report.failures();
    if opts.hold {
        let stop = swarm.stop_token();
        if !stop.is_cancelled() {
            println!("measurement done; still holding {} connections until Ctrl-C", swarm.held());
            stop.cancelled().await;
        }
        let hold = swarm.release().await;
        say(format!("released {} connections", hold.released));
        if hold.errors.total() > 0 {
            let kinds: Vec<String> = hold.errors.by_kind.iter().map(|(k, n)| format!("{k} x{n}")).collect();
            failures.push(format!("{} errors while holding ({})", hold.errors.total(), kinds.join(", ")));
        }
    } else {
        swarm.release().await;
    }

    if failures.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        for why in &failures {
            eprintln!("FAIL: {why}");
        }
        Ok(ExitCode::FAILURE)
    }
}

fn write_json(path: &std::path::Path, report: &Report) -> anyhow::Result<()> {
    let mut text = serde_json::to_string_pretty(report)?;
    text.push('\n');
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn cli_defaults_are_the_library_defaults() {
        let cli = Cli::parse_from(["mmo-bots"]);
        assert_eq!(cli.opts, Options::default());
        assert_eq!(cli.json, None);
        assert!(!cli.quiet);
    }

    #[test]
    fn durations_are_written_like_people_write_them() {
        let cli = Cli::parse_from([
            "mmo-bots",
            "--bots",
            "10000",
            "--duration",
            "1m",
            "--ping-interval",
            "500ms",
            "--scenario",
            "ping",
            "--hold",
            "--json",
            "out.json",
        ]);
        assert_eq!(cli.opts.bots, 10_000);
        assert_eq!(cli.opts.duration, Duration::from_secs(60));
        assert_eq!(cli.opts.ping_interval, Some(Duration::from_millis(500)));
        assert!(cli.opts.hold);
        assert_eq!(cli.json, Some(PathBuf::from("out.json")));
    }

    #[test]
    fn unknown_scenarios_and_bad_durations_are_refused() {
        assert!(Cli::try_parse_from(["mmo-bots", "--scenario", "raid"]).is_err());
        assert!(Cli::try_parse_from(["mmo-bots", "--duration", "ten"]).is_err());
        assert!(Cli::try_parse_from(["mmo-bots", "--scenario", "login", "--login", "sso"]).is_err());
        assert!(Cli::try_parse_from(["mmo-bots", "--scenario", "login", "--rss-settle", "soon"]).is_err());
        assert!(Cli::try_parse_from(["mmo-bots", "--scenario", "zone", "--move-hz", "fast"]).is_err());
    }

    #[test]
    fn login_paces_by_rate_or_concurrency() {
        let cli = Cli::parse_from(["mmo-bots", "--scenario", "login"]);
        assert!(cli.opts.validate().is_ok());
        assert_eq!(cli.opts.login, LoginMethod::Device);
        assert_eq!(cli.opts.run_tag, "default");
        assert_eq!(cli.opts.login_pacing(), Some(LoginPacing::Rate(500.0)));
        // Heartbeats at the server's interval unless asked otherwise.
        assert_eq!((cli.opts.interval(), cli.opts.total_rate()), (None, None));

        let cli = Cli::parse_from([
            "mmo-bots",
            "--scenario",
            "login",
            "--login",
            "password",
            "--login-concurrency",
            "16",
            "--run-tag",
            "nightly",
            "--server-pid",
            "1234",
            "--ping-interval",
            "5s",
            "--bots",
            "500",
        ]);
        assert!(cli.opts.validate().is_ok());
        assert_eq!(cli.opts.login, LoginMethod::Password);
        assert_eq!(cli.opts.login_pacing(), Some(LoginPacing::Concurrency(16)));
        assert_eq!(cli.opts.server_pid, Some(1234));
        assert_eq!(cli.opts.interval(), Some(Duration::from_secs(5)));
        assert_eq!(cli.opts.total_rate(), Some(100.0));

        let cli = Cli::parse_from(["mmo-bots", "--scenario", "login", "--login-rate", "2000"]);
        assert_eq!(cli.opts.login_pacing(), Some(LoginPacing::Rate(2000.0)));
        // Not a login scenario: no login pacing.
        assert_eq!(Cli::parse_from(["mmo-bots"]).opts.login_pacing(), None);
    }

    #[test]
    fn login_options_that_make_no_sense_are_refused() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from([&["mmo-bots"], args].concat())
                .map_err(|e| e.to_string())
                .and_then(|cli| cli.opts.validate().map_err(|e| e.to_string()))
        };
        // A rate and a concurrency at once; rates that are no rate; no concurrency.
        assert!(parse(&["--scenario", "login", "--login-rate", "10", "--login-concurrency", "4"]).is_err());
        for rate in ["0", "-1", "NaN", "inf"] {
            assert!(parse(&["--scenario", "login", "--login-rate", rate]).is_err(), "--login-rate {rate}");
        }
        assert!(parse(&["--scenario", "login", "--login-concurrency", "0"]).is_err());
        // Login's options on other scenarios, echo's on login.
        assert!(parse(&["--login-rate", "100"]).is_err());
        assert!(parse(&["--scenario", "echo", "--login-concurrency", "8"]).is_err());
        assert!(parse(&["--scenario", "login", "--rate", "100"]).is_err());
        assert!(parse(&["--scenario", "login", "--closed-loop"]).is_err());
        // Tags that make no valid names.
        assert!(parse(&["--scenario", "login", "--run-tag", "no spaces"]).is_err());
        assert!(
            parse(&["--scenario", "login", "--login", "password", "--run-tag", "muchtoolongtag"]).is_err()
        );
        assert!(parse(&["--scenario", "login", "--run-tag", "random", "--login", "password"]).is_ok());
        assert!(parse(&["--scenario", "login", "--ping-interval", "0s"]).is_err());
    }

    #[test]
    fn zone_walks_at_move_hz_and_logs_in_as_login_does() {
        let cli = Cli::parse_from(["mmo-bots", "--scenario", "zone", "--bots", "2000"]);
        assert!(cli.opts.validate().is_ok());
        assert_eq!(cli.opts.move_hz(), 10.0);
        assert_eq!(cli.opts.interval(), Some(Duration::from_millis(100)));
        assert_eq!(cli.opts.total_rate(), Some(20_000.0));
        assert_eq!(cli.opts.login_pacing(), Some(LoginPacing::Rate(500.0)));
        assert_eq!(cli.opts.metrics_url, None);

        let cli = Cli::parse_from([
            "mmo-bots",
            "--scenario",
            "zone",
            "--move-hz",
            "4",
            "--metrics-url",
            "http://127.0.0.1:9100/metrics",
            "--login-concurrency",
            "64",
            "--run-tag",
            "walk",
        ]);
        assert!(cli.opts.validate().is_ok());
        assert_eq!(cli.opts.interval(), Some(Duration::from_millis(250)));
        assert_eq!(cli.opts.login_pacing(), Some(LoginPacing::Concurrency(64)));
        assert_eq!(cli.opts.metrics_url.as_deref(), Some("http://127.0.0.1:9100/metrics"));
    }

    #[test]
    fn zone_options_that_make_no_sense_are_refused() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from([&["mmo-bots"], args].concat())
                .map_err(|e| e.to_string())
                .and_then(|cli| cli.opts.validate().map_err(|e| e.to_string()))
        };
        for hz in ["0", "-1", "NaN", "inf", "1e-9"] {
            assert!(parse(&["--scenario", "zone", "--move-hz", hz]).is_err(), "--move-hz {hz}");
        }
        assert!(parse(&["--scenario", "zone", "--metrics-url", "https://x/metrics"]).is_err());
        assert!(parse(&["--scenario", "zone", "--metrics-url", "127.0.0.1:9100"]).is_err());
        // Zone's schedule is its own; echo's and ping's options do not apply.
        assert!(parse(&["--scenario", "zone", "--ping-interval", "1s"]).is_err());
        assert!(parse(&["--scenario", "zone", "--rate", "100"]).is_err());
        assert!(parse(&["--scenario", "zone", "--closed-loop"]).is_err());
        // Zone's options on other scenarios.
        assert!(parse(&["--move-hz", "10"]).is_err());
        assert!(parse(&["--scenario", "login", "--metrics-url", "http://127.0.0.1:9100/metrics"]).is_err());
        // Login's checks hold for zone too.
        assert!(parse(&["--scenario", "zone", "--login-concurrency", "0"]).is_err());
        assert!(parse(&["--scenario", "zone", "--run-tag", "no spaces"]).is_err());
        assert!(parse(&["--scenario", "zone", "--move-hz", "30", "--login-rate", "1000"]).is_ok());
    }

    #[test]
    fn match_queues_a_mode_with_parties_and_declines() {
        let cli = Cli::parse_from(["mmo-bots", "--scenario", "match"]);
        assert!(cli.opts.validate().is_ok());
        let m = cli.opts.match_settings();
        assert_eq!((m.mode.as_str(), m.party_share, m.party_size), ("team", 0.5, 3));
        assert_eq!((m.decline_rate, m.match_secs), (0.1, 2.0));
        // No schedule of measured requests; logins paced as in login.
        assert_eq!((cli.opts.interval(), cli.opts.total_rate()), (None, None));
        assert_eq!(cli.opts.login_pacing(), Some(LoginPacing::Rate(500.0)));

        let cli = Cli::parse_from([
            "mmo-bots",
            "--scenario",
            "match",
            "--match-mode",
            "duel",
            "--party-share",
            "0",
            "--decline-rate",
            "0.25",
            "--match-secs",
            "0.5",
            "--login-concurrency",
            "32",
        ]);
        assert!(cli.opts.validate().is_ok());
        let m = cli.opts.match_settings();
        // Duel takes no parties by default.
        assert_eq!((m.mode.as_str(), m.party_share, m.party_size), ("duel", 0.0, 1));
        assert_eq!((m.decline_rate, m.match_secs), (0.25, 0.5));
    }

    #[test]
    fn match_options_that_make_no_sense_are_refused() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from([&["mmo-bots"], args].concat())
                .map_err(|e| e.to_string())
                .and_then(|cli| cli.opts.validate().map_err(|e| e.to_string()))
        };
        for (option, value) in [
            ("--party-share", "1.5"),
            ("--party-share", "-0.1"),
            ("--decline-rate", "NaN"),
            ("--decline-rate", "2"),
            ("--party-size", "0"),
            ("--match-secs", "-1"),
            ("--match-secs", "inf"),
            ("--match-mode", " "),
        ] {
            assert!(parse(&["--scenario", "match", option, value]).is_err(), "{option} {value}");
        }
        assert!(parse(&["--scenario", "match", "--party-size", "fast"]).is_err());
        // Match's options on other scenarios, and others' on match.
        for option in ["--match-mode", "--party-share", "--party-size", "--decline-rate", "--match-secs"] {
            assert!(parse(&["--scenario", "zone", option, "1"]).is_err(), "{option}");
        }
        assert!(parse(&["--scenario", "match", "--ping-interval", "1s"]).is_err());
        assert!(parse(&["--scenario", "match", "--move-hz", "10"]).is_err());
        assert!(parse(&["--scenario", "match", "--rate", "10"]).is_err());
        assert!(parse(&["--scenario", "match", "--decline-rate", "1", "--party-share", "1"]).is_ok());
    }

    #[test]
    fn chat_talks_in_a_channel_at_a_rate_and_its_options_are_its_own() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from([&["mmo-bots"], args].concat())
                .map_err(|e| e.to_string())
                .and_then(|cli| cli.opts.validate().map_err(|e| e.to_string()).map(|()| cli.opts))
        };
        let opts = parse(&["--scenario", "chat"]).unwrap();
        assert_eq!(opts.chat_settings(), mmo_bots::ChatSettings { channel: "mmo-bots".into(), rate: 1.0 });
        assert_eq!(opts.login_pacing(), Some(LoginPacing::Rate(500.0)));
        let opts = parse(&["--scenario", "chat", "--chat-channel", "world", "--chat-rate", "2.5"]).unwrap();
        assert_eq!((opts.chat_settings().channel.as_str(), opts.chat_settings().rate), ("world", 2.5));
        for (option, value) in [
            ("--chat-rate", "0"),
            ("--chat-rate", "NaN"),
            ("--chat-rate", "5000"),
            ("--chat-channel", "no spaces"),
            ("--chat-channel", "a-name-that-is-far-too-long-for-a-channel"),
        ] {
            assert!(parse(&["--scenario", "chat", option, value]).is_err(), "{option} {value}");
        }
        assert!(parse(&["--chat-rate", "1"]).is_err());
        assert!(parse(&["--scenario", "match", "--chat-channel", "lobby"]).is_err());
        assert!(parse(&["--scenario", "chat", "--ping-interval", "1s"]).is_err());
        assert!(parse(&["--scenario", "chat", "--rate", "10"]).is_err());
    }

    #[test]
    fn echo_takes_a_total_rate_and_a_payload() {
        let cli = Cli::parse_from([
            "mmo-bots",
            "--scenario",
            "echo",
            "--bots",
            "1000",
            "--rate",
            "50000",
            "--payload",
            "100",
        ]);
        assert!(cli.opts.validate().is_ok());
        assert_eq!(cli.opts.total_rate(), Some(50_000.0));
        assert_eq!(cli.opts.interval(), Some(Duration::from_millis(20)));
        assert_eq!(cli.opts.payload_len(), Some(100));

        // Without --rate: 10 per bot and second.
        let cli = Cli::parse_from(["mmo-bots", "--scenario", "echo", "--bots", "20"]);
        assert_eq!(cli.opts.total_rate(), Some(200.0));
        assert_eq!(cli.opts.interval(), Some(Duration::from_millis(100)));
        assert_eq!(cli.opts.payload_len(), Some(32));

        let cli = Cli::parse_from(["mmo-bots", "--scenario", "echo", "--closed-loop"]);
        assert!(cli.opts.validate().is_ok());
        assert_eq!((cli.opts.total_rate(), cli.opts.interval()), (None, None));
    }

    #[test]
    fn echo_options_that_make_no_sense_are_refused() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from([&["mmo-bots"], args].concat())
                .map_err(|e| e.to_string())
                .and_then(|cli| cli.opts.validate().map_err(|e| e.to_string()))
        };
        // Open and closed loop at once.
        assert!(parse(&["--scenario", "echo", "--rate", "10", "--closed-loop"]).is_err());
        // Rates that are no rate, a payload over one frame.
        for rate in ["0", "-5", "NaN", "inf"] {
            assert!(parse(&["--scenario", "echo", "--rate", rate]).is_err(), "--rate {rate}");
        }
        assert!(parse(&["--scenario", "echo", "--payload", "70000"]).is_err());
        // Echo's options on ping.
        assert!(parse(&["--rate", "100"]).is_err());
        assert!(parse(&["--closed-loop"]).is_err());
        assert!(parse(&["--scenario", "echo", "--payload", "0"]).is_ok());
    }
}
