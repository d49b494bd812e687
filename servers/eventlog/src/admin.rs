//! What `mmo admin events` does: a player's recent events, and the export of a time range to
//! newline-delimited JSON, one file per UTC day (`events-YYYY-MM-DD.ndjson`), for loading into
//! a warehouse.
//!
//! The export reads `game_events` in pages of [`EXPORT_PAGE`] rows in time order and streams
//! each line to the day's file as it goes (memory holds one page). A day's file is written
//! under a temporary name and renamed over the old one when complete: a reader never sees half
//! a file, and exporting a day again replaces it.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use mmo_core::store::Store;
use mmo_proto::bus::GameEvent;

use crate::EventlogError;
use crate::days::{self, DAY_MS};
use crate::rows::{self, Cursor};

/// Rows read per query by the export.
pub const EXPORT_PAGE: u32 = 1000;
/// Most events `show` lists.
pub const SHOW_MAX: u32 = 1000;

/// `player`'s newest `limit` events (at most [`SHOW_MAX`]), newest first.
pub async fn recent(store: &Store, player: u64, limit: u32) -> Result<Vec<GameEvent>, EventlogError> {
    Ok(rows::of_player(store, player, limit.clamp(1, SHOW_MAX)).await?)
}

/// One line per event for people: time, kind, then the detail (or attributes) as JSON.
pub fn show_line(ev: &GameEvent) -> String {
    let v = crate::json::event(ev);
    let detail =
        v.get("detail").or_else(|| v.get("attrs")).map(|d| d.to_string()).unwrap_or_else(|| "{}".into());
    format!("{}  {:<14} {}", days::rfc3339(ev.at_ms), ev.kind, detail)
}

/// A player's recent events as text, newest first.
pub async fn show(store: &Store, player: u64, limit: u32) -> Result<String, EventlogError> {
    let events = recent(store, player, limit).await?;
    if events.is_empty() {
        return Ok(format!("no events of player {player}"));
    }
    Ok(events.iter().map(show_line).collect::<Vec<_>>().join("\n"))
}

/// One day's file written by [`export`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayFile {
    pub path: PathBuf,
    pub events: u64,
}

/// The file being written for one day: a temporary name, renamed when the day is done.
struct Open {
    day: String,
    tmp: PathBuf,
    out: std::io::BufWriter<std::fs::File>,
    events: u64,
}

impl Open {
    fn create(dir: &Path, day: String) -> Result<Open, EventlogError> {
        let tmp = dir.join(format!(".events-{day}.ndjson.tmp"));
        let out = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        Ok(Open { day, tmp, out, events: 0 })
    }

    /// Flushes, syncs and renames it into place.
    fn finish(self, dir: &Path) -> Result<DayFile, EventlogError> {
        let file = self.out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        let path = dir.join(format!("events-{}.ndjson", self.day));
        std::fs::rename(&self.tmp, &path)?;
        Ok(DayFile { path, events: self.events })
    }
}

/// Writes the events with `since_ms <= at_ms < until_ms` to `dir`, one file per UTC day that
/// has events, each line one event ([`crate::json::event`]). The range is widened to whole
/// days, so a day's file always holds the whole day. Returns the files written, in day order.
pub async fn export(
    store: &Store,
    since_ms: u64,
    until_ms: u64,
    dir: &Path,
) -> Result<Vec<DayFile>, EventlogError> {
    let (since_ms, until_ms) =
        (days::day_start(since_ms), days::day_start(until_ms.saturating_add(DAY_MS - 1)));
    if since_ms >= until_ms {
        return Err(EventlogError::Invalid("--until must be after --since".into()));
    }
    std::fs::create_dir_all(dir)?;
    let mut done = Vec::new();
    let mut open: Option<Open> = None;
    let mut after: Option<Cursor> = None;
    loop {
        let (events, next) = rows::page(store, since_ms, until_ms, after.as_ref(), EXPORT_PAGE).await?;
        for ev in &events {
            let day = days::day(ev.at_ms);
            if open.as_ref().is_none_or(|o| o.day != day) {
                if let Some(o) = open.take() {
                    done.push(o.finish(dir)?);
                }
                open = Some(Open::create(dir, day)?);
            }
            if let Some(o) = open.as_mut() {
                serde_json::to_writer(&mut o.out, &crate::json::event(ev))?;
                o.out.write_all(b"\n")?;
                o.events += 1;
            }
        }
        match next {
            Some(c) => after = Some(c),
            None => break,
        }
    }
    if let Some(o) = open.take() {
        done.push(o.finish(dir)?);
    }
    Ok(done)
}
