//! UTC calendar arithmetic for monthly resets: ms since the Unix epoch to (year, month, day)
//! and back (Howard Hinnant's days-from-civil algorithms), without a date crate.

const DAY_MS: i64 = 86_400_000;

/// (year, month 1-12, day 1-31, ms into the day) of an instant.
pub fn civil(ms: i64) -> (i64, i64, i64, i64) {
    let days = ms.div_euclid(DAY_MS);
    let in_day = ms.rem_euclid(DAY_MS);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, in_day)
}

/// The instant of (year, month 1-12, day, ms into the day).
pub fn instant(y: i64, m: i64, d: i64, in_day: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe - 719_468) * DAY_MS + in_day
}

/// `ms` moved by `months` calendar months (same day and time; the day must exist in every
/// month, i.e. be at most 28).
pub fn add_months(ms: i64, months: i64) -> i64 {
    let (y, m, d, t) = civil(ms);
    let idx = y * 12 + (m - 1) + months;
    instant(idx.div_euclid(12), idx.rem_euclid(12) + 1, d, t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_known_dates() {
        // 2024-01-01T00:00:00Z
        assert_eq!(civil(1_704_067_200_000), (2024, 1, 1, 0));
        assert_eq!(instant(2024, 1, 1, 0), 1_704_067_200_000);
        assert_eq!(civil(instant(2024, 2, 29, 5)), (2024, 2, 29, 5));
        assert_eq!(civil(add_months(instant(2023, 11, 15, 7), 3)), (2024, 2, 15, 7));
        assert_eq!(civil(add_months(instant(2024, 1, 15, 0), -1)), (2023, 12, 15, 0));
        for day in (-800_000..800_000).step_by(997) {
            let ms = day * DAY_MS + 12_345;
            let (y, m, d, t) = civil(ms);
            assert_eq!(instant(y, m, d, t), ms);
        }
    }
}
