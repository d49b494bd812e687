//! `mmo-bots`: the command line of the bot swarm. Parses options, runs the swarm on a
//! multi-threaded runtime, prints the summary (and writes it as JSON), and exits 1 on errors or loss.

use anyhow::Context;
use clap::Parser;
use mmo_bots::scenario::ECHO_LIMIT_PER_S;
use mmo_bots::{Options, Report, Scenario, Swarm};
use std::path::PathBuf;
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

/// The gateway's default Ping rate limit per session; faster schedules get RATE_LIMITED.
const GATEWAY_PING_LIMIT_PER_S: f64 = 20.0;

/// Connects N bots to a gateway and measures their requests on a fixed schedule.
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
    if opts.scenario == Scenario::Ping && 1.0 / opts.ping_interval.as_secs_f64() > GATEWAY_PING_LIMIT_PER_S {
        eprintln!(
            "warning: --ping-interval {:?} is over the gateway's default limit of {GATEWAY_PING_LIMIT_PER_S} pings/s per session",
            opts.ping_interval
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

    let mut swarm = Swarm::start(opts.clone()).await?;
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
        (Some(interval), Some(rate)) => format!("every {interval:?} per bot ({rate:.0}/s in all)"),
        _ => "closed loop".to_owned(),
    };
    let payload = opts.payload_len().map_or_else(String::new, |n| format!(", payload {n} B"));
    say(format!(
        "{} bots -> {} at {}/s, scenario {}{payload}, {schedule} for {:?}",
        opts.bots,
        opts.addr,
        opts.connect_rate,
        opts.scenario.name(),
        opts.duration
    ));
    let ramp = swarm.ramp_up().await;
    say(format!(
        "ramp-up: {}/{} connected in {:.2} s ({:.0}/s)",
        ramp.connected,
        ramp.bots,
        ramp.elapsed.as_secs_f64(),
        ramp.connected as f64 / ramp.elapsed.as_secs_f64().max(1e-9)
    ));
    if opts.hold {
        // Scripts wait for this line before sampling the server's memory, so it prints even
        // with --quiet.
        println!("holding {} connections", ramp.connected);
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
        assert_eq!(cli.opts.ping_interval, Duration::from_millis(500));
        assert!(cli.opts.hold);
        assert_eq!(cli.json, Some(PathBuf::from("out.json")));
    }

    #[test]
    fn unknown_scenarios_and_bad_durations_are_refused() {
        assert!(Cli::try_parse_from(["mmo-bots", "--scenario", "raid"]).is_err());
        assert!(Cli::try_parse_from(["mmo-bots", "--duration", "ten"]).is_err());
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
