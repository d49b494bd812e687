//! The zone server's own figures, read from its Prometheus endpoint (`--metrics-url`): a plain
//! blocking HTTP/1.1 GET, the text exposition format parsed, the counters' deltas between the
//! window's start and end, and tick quantiles from the histogram's buckets computed exactly as
//! Prometheus's `histogram_quantile` computes them.
//!
//! The tick histogram is reported per zone instance (label `instance`), not summed: `mmo all`
//! runs the `start` and `forest` maps, and the empty one's cheap ticks would pull a sum's
//! quantiles down. The headline instance is the one with the most players at the window's end:
//! where the bots are.
//!
//! The GET is ureq's (blocking, plain HTTP only: the scrape runs twice per run on a blocking
//! thread). The text format is parsed here rather than with a crate: the ones there are skip
//! lines they cannot read, and a page misread that way would give wrong figures, not an error.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use serde::Serialize;
use ureq::http::Uri;

// The zone's metric names (`mmo_zone::metrics`), written out again so the bots do not link the
// zone server; tests/zone.rs checks they are the same.

/// Seconds a whole tick took, per instance.
pub const TICK_SECONDS: &str = "mmo_zone_tick_seconds";
/// Ticks that took longer than the tick period.
pub const TICK_OVERRUNS: &str = "mmo_zone_tick_overruns_total";
/// Entity updates the zone sent to players (positions, enters, leaves; one per receiver).
pub const UPDATES: &str = "mmo_zone_updates_total";
/// Players in the instance after its last tick.
pub const PLAYERS: &str = "mmo_zone_players";

/// The most a scrape waits for the connection, and then for each read or write.
pub const SCRAPE_TIMEOUT: Duration = Duration::from_secs(5);

/// The most of a metrics page read: far more than a zone node exposes, little enough that a
/// wrong URL serving something endless cannot fill the bots' memory.
const MAX_PAGE: u64 = 16 << 20;

/// Where the metrics are: an `http://` URL (no TLS: a metrics endpoint is served on loopback or
/// a private network).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricsUrl(Uri);

impl MetricsUrl {
    pub fn parse(url: &str) -> anyhow::Result<MetricsUrl> {
        let uri: Uri = url.parse().with_context(|| format!("--metrics-url {url:?} is not a URL"))?;
        ensure!(uri.scheme_str() == Some("http"), "--metrics-url {url:?} must start with http:// (no TLS)");
        let authority = uri.authority().with_context(|| format!("no host in --metrics-url {url:?}"))?;
        ensure!(!authority.host().is_empty(), "no host in --metrics-url {url:?}");
        // The URI type checks a port only when asked for it as a number ("[::1]" has colons and
        // no port).
        let port = authority.as_str().rsplit_once(':').filter(|(_, p)| !p.ends_with(']'));
        ensure!(port.is_none() || authority.port_u16().is_some(), "bad port in --metrics-url {url:?}");
        Ok(MetricsUrl(uri))
    }
}

impl fmt::Display for MetricsUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// GETs the page at `url` (blocking; the whole exchange bounded by `timeout`) and returns its
/// body. A status other than 200 is an error.
pub fn scrape(url: &MetricsUrl, timeout: Duration) -> anyhow::Result<String> {
    let agent: ureq::Agent = ureq::Agent::config_builder().timeout_global(Some(timeout)).build().into();
    let mut response = agent.get(&url.0).call().with_context(|| format!("GET {url}"))?;
    response.body_mut().with_config().limit(MAX_PAGE).read_to_string().with_context(|| format!("GET {url}"))
}

/// One sample line of the text format: `name{label="value",...} value [timestamp]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

impl Sample {
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Parses a page of the Prometheus text exposition format (version 0.0.4) into its samples;
/// comments (`# HELP`, `# TYPE`) and blank lines are skipped. A malformed sample line is an
/// error naming its line: a page we misread would give wrong figures, not missing ones.
pub fn parse(text: &str) -> anyhow::Result<Vec<Sample>> {
    let mut samples = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let sample = parse_line(line).with_context(|| format!("metrics line {}: {line:?}", i + 1))?;
        samples.push(sample);
    }
    Ok(samples)
}

fn parse_line(line: &str) -> anyhow::Result<Sample> {
    let name_end = line.find(|c: char| c == '{' || c.is_whitespace()).context("no value")?;
    let name = &line[..name_end];
    ensure!(
        name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
        "bad metric name {name:?}"
    );
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(inner) = rest.strip_prefix('{') {
        rest = inner;
        loop {
            rest = rest.trim_start_matches([' ', ',']);
            if let Some(after) = rest.strip_prefix('}') {
                rest = after;
                break;
            }
            let (key, after) = rest.split_once('=').context("a label without '='")?;
            let after = after.strip_prefix('"').context("a label value without quotes")?;
            let (value, after) = unquote(after)?;
            labels.push((key.trim().to_owned(), value));
            rest = after;
        }
    }
    let mut fields = rest.split_whitespace();
    let value = parse_value(fields.next().context("no value")?)?;
    // An optional timestamp may follow; nothing else may.
    ensure!(fields.nth(1).is_none(), "more than a value and a timestamp");
    Ok(Sample { name: name.to_owned(), labels, value })
}

/// A label value up to its closing quote, with `\\`, `\"` and `\n` undone; returns the rest.
fn unquote(s: &str) -> anyhow::Result<(String, &str)> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, &s[i + 1..])),
            '\\' => match chars.next() {
                Some((_, 'n')) => out.push('\n'),
                Some((_, c)) => out.push(c),
                None => break,
            },
            c => out.push(c),
        }
    }
    bail!("a label value without its closing quote")
}

/// A sample value: a float, or `+Inf`, `-Inf`, `NaN` as Prometheus writes them.
fn parse_value(s: &str) -> anyhow::Result<f64> {
    match s {
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => s.parse().with_context(|| format!("bad value {s:?}")),
    }
}

/// The quantile `q` of a histogram given as `(upper bound, cumulative count)` buckets, exactly
/// as Prometheus's `histogram_quantile` computes it: buckets sorted by bound, duplicates merged,
/// counts forced monotonic; the rank `q * total` found in the first bucket whose count reaches
/// it, and the value interpolated linearly inside that bucket (the first bucket from 0 when its
/// bound is positive). A rank in the `+Inf` bucket gives the highest finite bound. NaN without
/// a `+Inf` bucket, with fewer than two buckets or with no observations; -Inf/+Inf for `q`
/// below 0 or above 1.
pub fn histogram_quantile(q: f64, buckets: &[(f64, f64)]) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    let mut sorted = buckets.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    if sorted.last().is_none_or(|b| b.0 != f64::INFINITY) {
        return f64::NAN;
    }
    // Merge buckets of the same bound (series that differ in a label we ignored).
    let mut merged: Vec<(f64, f64)> = Vec::with_capacity(sorted.len());
    for (le, count) in sorted {
        match merged.last_mut() {
            Some(last) if last.0 == le => last.1 += count,
            _ => merged.push((le, count)),
        }
    }
    // A cumulative count never falls; if one does (a scrape across a reset), keep the previous.
    for i in 1..merged.len() {
        if merged[i].1 < merged[i - 1].1 {
            merged[i].1 = merged[i - 1].1;
        }
    }
    if merged.len() < 2 {
        return f64::NAN;
    }
    let total = merged[merged.len() - 1].1;
    if total == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * total;
    // The first bucket whose count reaches the rank, among all but +Inf.
    let b =
        merged[..merged.len() - 1].iter().position(|&(_, count)| count >= rank).unwrap_or(merged.len() - 1);
    if b == merged.len() - 1 {
        return merged[merged.len() - 2].0;
    }
    if b == 0 && merged[0].0 <= 0.0 {
        return merged[0].0;
    }
    let (end, mut count) = merged[b];
    let mut start = 0.0;
    if b > 0 {
        start = merged[b - 1].0;
        count -= merged[b - 1].1;
        rank -= merged[b - 1].1;
    }
    start + (end - start) * (rank / count)
}

/// One zone instance's counters at one scrape.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InstanceCounters {
    /// `(le, cumulative count)` of the tick histogram, in page order.
    pub tick_buckets: Vec<(f64, f64)>,
    pub tick_count: f64,
    pub tick_sum: f64,
    pub overruns: f64,
    pub updates: f64,
    pub players: f64,
}

/// The zone's counters at one scrape, by instance.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ZoneCounters {
    pub instances: BTreeMap<String, InstanceCounters>,
}

impl ZoneCounters {
    /// Picks the zone's series out of a parsed page. Other metrics are ignored; so are series
    /// without an `instance` label (none of the zone's has one).
    pub fn from_samples(samples: &[Sample]) -> anyhow::Result<ZoneCounters> {
        let bucket = format!("{TICK_SECONDS}_bucket");
        let count = format!("{TICK_SECONDS}_count");
        let sum = format!("{TICK_SECONDS}_sum");
        let mut instances: BTreeMap<String, InstanceCounters> = BTreeMap::new();
        for s in samples {
            let Some(instance) = s.label("instance") else { continue };
            let name = s.name.as_str();
            if ![bucket.as_str(), count.as_str(), sum.as_str(), TICK_OVERRUNS, UPDATES, PLAYERS]
                .contains(&name)
            {
                continue;
            }
            let c = instances.entry(instance.to_owned()).or_default();
            match name {
                n if n == bucket => {
                    let le = s.label("le").with_context(|| format!("{bucket} without le"))?;
                    c.tick_buckets.push((parse_value(le)?, s.value));
                }
                n if n == count => c.tick_count += s.value,
                n if n == sum => c.tick_sum += s.value,
                TICK_OVERRUNS => c.overruns += s.value,
                UPDATES => c.updates += s.value,
                _ => c.players += s.value,
            }
        }
        Ok(ZoneCounters { instances })
    }

    /// Parses a whole page.
    pub fn parse(text: &str) -> anyhow::Result<ZoneCounters> {
        ZoneCounters::from_samples(&parse(text)?)
    }
}

/// How much a counter grew from `before` to `after`. A counter that fell was reset (the server
/// restarted): what it counts since is all of its value, as Prometheus's `increase` assumes.
fn growth(before: f64, after: f64) -> f64 {
    if after >= before { after - before } else { after }
}

/// One instance over the window, from its counters' deltas.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct InstanceFigures {
    /// Players in the instance at the window's end.
    pub players: u64,
    /// Ticks run in the window.
    pub ticks: u64,
    pub ticks_per_s: f64,
    /// Tick duration quantiles in ms, from the histogram's buckets (`null` without ticks).
    pub tick_p50_ms: Option<f64>,
    pub tick_p90_ms: Option<f64>,
    pub tick_p99_ms: Option<f64>,
    /// `_sum / _count` in ms (`null` without ticks).
    pub tick_mean_ms: Option<f64>,
    /// Ticks over the tick period.
    pub overruns: u64,
    /// Entity updates sent to players per second (positions, enters, leaves).
    pub updates_per_s: f64,
}

impl InstanceFigures {
    fn new(before: Option<&InstanceCounters>, after: &InstanceCounters, span_s: f64) -> InstanceFigures {
        let zero = InstanceCounters::default();
        let before = before.unwrap_or(&zero);
        let buckets: Vec<(f64, f64)> = after
            .tick_buckets
            .iter()
            .map(|&(le, count)| {
                let was = before.tick_buckets.iter().find(|b| b.0 == le).map_or(0.0, |b| b.1);
                (le, growth(was, count))
            })
            .collect();
        let ticks = growth(before.tick_count, after.tick_count);
        let ms = |q: f64| Some(histogram_quantile(q, &buckets) * 1000.0).filter(|v| v.is_finite());
        let per_s = |n: f64| if span_s > 0.0 { n / span_s } else { 0.0 };
        InstanceFigures {
            players: after.players.max(0.0) as u64,
            ticks: ticks as u64,
            ticks_per_s: per_s(ticks),
            tick_p50_ms: ms(0.50),
            tick_p90_ms: ms(0.90),
            tick_p99_ms: ms(0.99),
            tick_mean_ms: (ticks > 0.0).then(|| growth(before.tick_sum, after.tick_sum) / ticks * 1000.0),
            overruns: growth(before.overruns, after.overruns) as u64,
            updates_per_s: per_s(growth(before.updates, after.updates)),
        }
    }
}

/// The zone server's figures over the window (the `zone.server` object of the JSON report).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ServerZone {
    pub url: String,
    /// Seconds between the two scrapes (the rates' denominator).
    pub span_s: f64,
    /// The instance with the most players at the end, the one the headline figures are of
    /// (`null` if the page had no zone instance).
    pub instance: Option<String>,
    /// Every instance on the page.
    pub instances: BTreeMap<String, InstanceFigures>,
    /// Entity updates sent per second, all instances together.
    pub updates_per_s: f64,
}

impl ServerZone {
    /// The figures between the scrapes `before` and `after`, `span` apart.
    pub fn new(url: &str, before: &ZoneCounters, after: &ZoneCounters, span: Duration) -> ServerZone {
        let span_s = span.as_secs_f64();
        let instances: BTreeMap<String, InstanceFigures> = after
            .instances
            .iter()
            .map(|(name, a)| (name.clone(), InstanceFigures::new(before.instances.get(name), a, span_s)))
            .collect();
        // Most players first, then most ticks (players is a gauge that may read 0 everywhere).
        let instance =
            instances.iter().max_by_key(|(_, f)| (f.players, f.ticks)).map(|(name, _)| name.clone());
        let updates_per_s = instances.values().map(|f| f.updates_per_s).sum();
        ServerZone { url: url.to_owned(), span_s, instance, instances, updates_per_s }
    }

    /// The headline instance's figures.
    pub fn headline(&self) -> Option<(&str, &InstanceFigures)> {
        let name = self.instance.as_deref()?;
        Some((name, self.instances.get(name)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    const INF: f64 = f64::INFINITY;

    #[test]
    fn quantiles_interpolate_inside_the_bucket_like_prometheus() {
        // 100 observations: 10 up to 1, 50 more up to 2, 30 more up to 4, 10 above 4.
        let b = [(1.0, 10.0), (2.0, 60.0), (4.0, 90.0), (INF, 100.0)];
        // Rank 50 is the 40th of 50 in (1, 2].
        assert!(close(histogram_quantile(0.5, &b), 1.0 + 40.0 / 50.0));
        // Rank 5 is in the first bucket, interpolated from 0.
        assert!(close(histogram_quantile(0.05, &b), 0.5));
        // Rank 90 is exactly the top of (2, 4].
        assert!(close(histogram_quantile(0.9, &b), 4.0));
        // Rank 99 is in +Inf: the highest finite bound.
        assert!(close(histogram_quantile(0.99, &b), 4.0));
        assert!(close(histogram_quantile(1.0, &b), 4.0));
        // Order on input does not matter.
        let shuffled = [(4.0, 90.0), (INF, 100.0), (1.0, 10.0), (2.0, 60.0)];
        assert!(close(histogram_quantile(0.5, &shuffled), 1.8));
        // q outside [0, 1].
        assert_eq!(histogram_quantile(-0.1, &b), f64::NEG_INFINITY);
        assert_eq!(histogram_quantile(1.1, &b), INF);
        assert!(histogram_quantile(f64::NAN, &b).is_nan());
    }

    #[test]
    fn empty_or_incomplete_histograms_have_no_quantile() {
        // No observations in the window (an empty delta).
        assert!(histogram_quantile(0.5, &[(0.005, 0.0), (0.01, 0.0), (INF, 0.0)]).is_nan());
        // No +Inf bucket, or +Inf alone.
        assert!(histogram_quantile(0.5, &[(0.005, 3.0), (0.01, 4.0)]).is_nan());
        assert!(histogram_quantile(0.5, &[(INF, 4.0)]).is_nan());
        assert!(histogram_quantile(0.5, &[]).is_nan());
    }

    #[test]
    fn odd_buckets_are_handled_as_prometheus_does() {
        // Everything above the highest bound: the highest bound.
        assert!(close(histogram_quantile(0.5, &[(0.01, 0.0), (0.02, 0.0), (INF, 7.0)]), 0.02));
        // A first bucket with a bound at or below 0 is not interpolated.
        assert!(close(histogram_quantile(0.1, &[(-1.0, 5.0), (1.0, 10.0), (INF, 10.0)]), -1.0));
        // Duplicate bounds merge; a falling count is held at the previous one.
        let dup = [(1.0, 5.0), (1.0, 5.0), (2.0, 20.0), (INF, 20.0)];
        assert!(close(histogram_quantile(0.5, &dup), 1.0));
        let falling = [(1.0, 10.0), (2.0, 8.0), (4.0, 20.0), (INF, 20.0)];
        // Counts read as 10, 10, 20: rank 15 is half way through (2, 4].
        assert!(close(histogram_quantile(0.75, &falling), 3.0));
    }

    const PAGE: &str = r#"# HELP mmo_zone_tick_seconds Seconds a whole tick took.
# TYPE mmo_zone_tick_seconds histogram
mmo_zone_tick_seconds_bucket{instance="start",le="0.001"} 10
mmo_zone_tick_seconds_bucket{instance="start",le="0.002"} 60
mmo_zone_tick_seconds_bucket{instance="start",le="0.004"} 90
mmo_zone_tick_seconds_bucket{instance="start",le="+Inf"} 100
mmo_zone_tick_seconds_sum{instance="start"} 0.25
mmo_zone_tick_seconds_count{instance="start"} 100
mmo_zone_tick_seconds_bucket{instance="forest",le="0.001"} 100
mmo_zone_tick_seconds_bucket{instance="forest",le="0.002"} 100
mmo_zone_tick_seconds_bucket{instance="forest",le="0.004"} 100
mmo_zone_tick_seconds_bucket{instance="forest",le="+Inf"} 100
mmo_zone_tick_seconds_sum{instance="forest"} 0.01
mmo_zone_tick_seconds_count{instance="forest"} 100

# TYPE mmo_zone_updates_total counter
mmo_zone_updates_total{instance="start"} 5000
mmo_zone_tick_overruns_total{instance="start"} 1
mmo_zone_players{instance="start"} 20
mmo_zone_players{instance="forest"} 0
mmo_frames_in_total{msg="MoveReq"} 12345 1700000000000
mmo_build_info 1
"#;

    #[test]
    fn the_text_format_is_parsed_with_labels_escapes_and_special_values() {
        let samples = parse(PAGE).unwrap();
        assert_eq!(samples.len(), 18);
        assert_eq!(samples[3].name, "mmo_zone_tick_seconds_bucket");
        assert_eq!(samples[3].label("le"), Some("+Inf"));
        assert_eq!(samples[3].value, 100.0);
        // A timestamp after the value, and a series without labels.
        let frames = samples.iter().find(|s| s.name == "mmo_frames_in_total").unwrap();
        assert_eq!((frames.label("msg"), frames.value), (Some("MoveReq"), 12345.0));
        assert_eq!(samples.last().unwrap().labels, vec![]);

        let odd = parse(r#"m{a="x\"y\\z\n",b="",} -Inf"#).unwrap();
        assert_eq!(odd[0].labels, vec![("a".into(), "x\"y\\z\n".into()), ("b".into(), String::new())]);
        assert_eq!(odd[0].value, f64::NEG_INFINITY);
        assert!(parse("m NaN").unwrap()[0].value.is_nan());
        assert_eq!(parse("m{le=\"+Inf\"} +Inf").unwrap()[0].value, INF);

        for bad in ["m", "m{a=\"x\"", "m{a=x} 1", "m one", "m 1 2 3", "m-x 1"] {
            let err = parse(bad).expect_err(bad);
            assert!(format!("{err:#}").contains("metrics line 1"), "{bad}: {err:#}");
        }
    }

    #[test]
    fn the_zone_figures_are_the_deltas_between_two_scrapes() {
        let before = ZoneCounters::parse(PAGE).unwrap();
        assert_eq!(before.instances.len(), 2);
        let start = &before.instances["start"];
        assert_eq!(start.tick_buckets.len(), 4);
        assert_eq!((start.tick_count, start.updates, start.players), (100.0, 5000.0, 20.0));

        // 100 more ticks on start, all between 2 and 4 ms; forest ran none; 2000 more updates.
        let after_page = PAGE
            .replace(r#"le="0.004"} 90"#, r#"le="0.004"} 190"#)
            .replace(r#"start",le="+Inf"} 100"#, r#"start",le="+Inf"} 200"#)
            .replace(r#"count{instance="start"} 100"#, r#"count{instance="start"} 200"#)
            .replace(r#"sum{instance="start"} 0.25"#, r#"sum{instance="start"} 0.55"#)
            .replace("updates_total{instance=\"start\"} 5000", "updates_total{instance=\"start\"} 7000");
        let after = ZoneCounters::parse(&after_page).unwrap();
        let z = ServerZone::new("http://x/metrics", &before, &after, Duration::from_secs(2));
        assert_eq!(z.instance.as_deref(), Some("start"));
        let (_, s) = z.headline().unwrap();
        assert_eq!((s.players, s.ticks, s.overruns), (20, 100, 0));
        assert!(close(s.ticks_per_s, 50.0));
        // All 100 in (2, 4] ms: the median half way through it, the p99 near its top.
        assert!(close(s.tick_p50_ms.unwrap(), 3.0), "{s:?}");
        assert!(close(s.tick_p99_ms.unwrap(), 3.98), "{s:?}");
        assert!(close(s.tick_mean_ms.unwrap(), 3.0), "{s:?}");
        assert!(close(s.updates_per_s, 1000.0));
        assert!(close(z.updates_per_s, 1000.0));
        // The forest's delta is empty: no quantiles, not zeros.
        let f = &z.instances["forest"];
        assert_eq!((f.ticks, f.tick_p50_ms, f.tick_p99_ms, f.tick_mean_ms), (0, None, None, None));

        // An instance that appeared during the window counts from zero; a reset counts from it.
        let z = ServerZone::new("u", &ZoneCounters::default(), &after, Duration::from_secs(1));
        assert_eq!(z.instances["start"].ticks, 200);
        let z = ServerZone::new("u", &after, &before, Duration::from_secs(1));
        assert_eq!(z.instances["start"].ticks, 100);

        // A page without the zone's metrics has no instance to report.
        let none = ZoneCounters::parse("mmo_frames_in_total{msg=\"PingReq\"} 3\n").unwrap();
        let z = ServerZone::new("u", &none, &none, Duration::from_secs(1));
        assert_eq!((z.instance, z.instances.len()), (None, 0));
    }

    #[test]
    fn metrics_urls_must_be_plain_http_with_a_host() {
        for good in ["http://127.0.0.1:9100/metrics", "http://localhost", "http://[::1]:9100/m?x=1"] {
            let url = MetricsUrl::parse(good).unwrap();
            assert!(url.to_string().starts_with(good), "{good} -> {url}");
        }
        for bad in ["https://x/metrics", "127.0.0.1:9100", "http://:9100/", "http://x:port/", "metrics"] {
            assert!(MetricsUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_scrape_reads_a_real_endpoint_and_a_refusal_or_a_closed_port_is_an_error() {
        use std::io::{Read as _, Write as _};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        // Answers two requests: the page, then a 404.
        let server = std::thread::spawn(move || {
            let mut requests = Vec::new();
            for answer in [
                &b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nm 7\n"[..],
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
            ] {
                let (mut s, _) = listener.accept().unwrap();
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    let n = s.read(&mut buf).unwrap();
                    request.extend_from_slice(&buf[..n]);
                }
                s.write_all(answer).unwrap();
                requests.push(String::from_utf8(request).unwrap());
            }
            requests
        });
        let url = MetricsUrl::parse(&format!("http://127.0.0.1:{port}/metrics")).unwrap();
        assert_eq!(scrape(&url, SCRAPE_TIMEOUT).unwrap(), "m 7\n");
        let err = scrape(&url, SCRAPE_TIMEOUT).unwrap_err();
        assert!(format!("{err:#}").contains("404"), "{err:#}");
        let requests = server.join().unwrap();
        assert!(requests[0].starts_with("GET /metrics HTTP/1.1\r\n"), "{requests:?}");

        // Nothing listens there any more.
        let err = scrape(&url, SCRAPE_TIMEOUT).unwrap_err();
        assert!(format!("{err:#}").contains(&format!("GET {url}")), "{err:#}");
    }
}
