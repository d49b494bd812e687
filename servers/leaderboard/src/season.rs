//! Seasons: which season a board is in at an instant, and when it began and ends. Resets are
//! the anchor plus whole periods (calendar months for `monthly`); a season's id is the number of
//! resets from the anchor to its start (0 for a board without seasons; instants before the anchor
//! count as season 0, which ends at the first reset after the anchor).

use crate::calendar;
use crate::config::{BoardConfig, Period};

const DAY_MS: i64 = 86_400_000;

/// A season of a board.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub season: u64,
    /// When it began and ends (ms since the Unix epoch; both 0 without seasons).
    pub start_ms: i64,
    pub end_ms: i64,
}

/// The season `board` is in at `now_ms`.
pub fn at(board: &BoardConfig, now_ms: i64) -> Window {
    let Ok(anchor) = board.anchor_ms() else { return Window { season: 0, start_ms: 0, end_ms: 0 } };
    let fixed = |period: i64| {
        let k = (now_ms - anchor).div_euclid(period).max(0);
        let start = if now_ms < anchor { anchor - period } else { anchor + k * period };
        Window { season: k as u64, start_ms: start, end_ms: anchor + (k + 1) * period }
    };
    match board.reset {
        Period::None => Window { season: 0, start_ms: 0, end_ms: 0 },
        Period::Daily => fixed(DAY_MS),
        Period::Weekly => fixed(7 * DAY_MS),
        Period::Every(d) => fixed(i64::try_from(d.as_millis()).unwrap_or(i64::MAX).max(1)),
        Period::Monthly => {
            if now_ms < anchor {
                return Window {
                    season: 0,
                    start_ms: calendar::add_months(anchor, -1),
                    end_ms: calendar::add_months(anchor, 1),
                };
            }
            let (ay, am, ..) = calendar::civil(anchor);
            let (y, m, ..) = calendar::civil(now_ms);
            let mut k = (y * 12 + m) - (ay * 12 + am);
            if calendar::add_months(anchor, k) > now_ms {
                k -= 1;
            }
            Window {
                season: k as u64,
                start_ms: calendar::add_months(anchor, k),
                end_ms: calendar::add_months(anchor, k + 1),
            }
        }
    }
}

/// Whether the board has seasons at all.
pub fn seasonal(board: &BoardConfig) -> bool {
    board.reset != Period::None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn board(reset: Period) -> BoardConfig {
        BoardConfig { reset, reset_anchor: "2024-01-01T00:00:00Z".into(), ..BoardConfig::default() }
    }
    const ANCHOR: i64 = 1_704_067_200_000;

    #[test]
    fn fixed_periods() {
        let w = at(&board(Period::Daily), ANCHOR + 3 * DAY_MS + 5);
        assert_eq!(w, Window { season: 3, start_ms: ANCHOR + 3 * DAY_MS, end_ms: ANCHOR + 4 * DAY_MS });
        let w = at(&board(Period::Weekly), ANCHOR + 7 * DAY_MS);
        assert_eq!(w.season, 1);
        assert_eq!(w.start_ms, ANCHOR + 7 * DAY_MS);
        let w = at(&board(Period::Every(Duration::from_secs(3600))), ANCHOR + 3_600_000 - 1);
        assert_eq!((w.season, w.start_ms, w.end_ms), (0, ANCHOR, ANCHOR + 3_600_000));
        assert_eq!(at(&board(Period::None), ANCHOR), Window { season: 0, start_ms: 0, end_ms: 0 });
    }

    #[test]
    fn months() {
        let b = BoardConfig { reset_anchor: "2024-01-15T06:00:00Z".into(), ..board(Period::Monthly) };
        let anchor = b.anchor_ms().unwrap_or_default();
        let w = at(&b, calendar::instant(2024, 3, 15, 6 * 3_600_000));
        assert_eq!(w.season, 2);
        assert_eq!(w.start_ms, calendar::add_months(anchor, 2));
        let w = at(&b, calendar::instant(2024, 3, 15, 6 * 3_600_000 - 1));
        assert_eq!(w.season, 1);
        assert_eq!(w.end_ms, calendar::instant(2024, 3, 15, 6 * 3_600_000));
    }
}
