//! Working days (pure): Monday to Friday in WIB, less public holidays — fixed ones every
//! year (`MM-DD`) and the year's moving ones (`YYYY-MM-DD`) — or, for demos and tests,
//! "days" of a fixed number of seconds. Deadlines are the end (WIB) of the n-th working day
//! after the day something was filed, as SP4N-LAPOR! counts them.

const DAY_MS: i64 = 86_400_000;
/// WIB, UTC+7: the calendar's days start at 17:00 UTC.
const WIB_MS: i64 = 7 * 3_600_000;

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day number.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if month <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        month,
        day,
    )
}

/// `YYYY-MM-DD` as a day number.
pub fn parse_date(text: &str) -> Option<i64> {
    let mut parts = text.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let (y, m, d): (i64, i64, i64) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    let days = days_from_civil(y, m, d);
    (civil_from_days(days) == (y, m, d)).then_some(days)
}

/// A day number as `YYYY-MM-DD`.
pub fn format_date(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// A time as `YYYY-MM-DDTHH:MM:SS+07:00` (ISO 8601 in WIB).
pub fn format_datetime(ms: i64) -> String {
    let local = ms + WIB_MS;
    let seconds = local.div_euclid(1000).rem_euclid(86_400);
    format!(
        "{}T{:02}:{:02}:{:02}+07:00",
        format_date(local.div_euclid(DAY_MS)),
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

/// `MM-DD` as (month, day).
pub fn parse_month_day(text: &str) -> Option<(i64, i64)> {
    let (m, d) = text.split_once('-')?;
    let (m, d): (i64, i64) = (m.parse().ok()?, d.parse().ok()?);
    // Checked against a leap year, so 02-29 is allowed.
    (m.to_string().len() <= 2 && civil_from_days(days_from_civil(2024, m, d)) == (2024, m, d)).then_some((m, d))
}

/// Working days: Monday to Friday in WIB, less holidays; or fixed-length "days" for demos.
#[derive(Clone, Debug)]
pub struct Calendar {
    yearly: Vec<(i64, i64)>,
    dated: Vec<i64>,
    day_seconds: Option<u64>,
}

impl Calendar {
    /// `yearly` holidays as `MM-DD`, `dated` ones as `YYYY-MM-DD` (unreadable ones are
    /// ignored: configuration checks them first); `day_seconds` replaces the calendar with
    /// fixed-length days.
    pub fn new(yearly: &[String], dated: &[String], day_seconds: Option<u64>) -> Calendar {
        Calendar {
            yearly: yearly.iter().filter_map(|d| parse_month_day(d)).collect(),
            dated: dated.iter().filter_map(|d| parse_date(d)).collect(),
            day_seconds,
        }
    }

    fn is_working(&self, day: i64) -> bool {
        // 1970-01-01 was a Thursday: (day + 3) mod 7 is 0 on Mondays.
        let weekday = (day + 3).rem_euclid(7);
        if weekday >= 5 || self.dated.contains(&day) {
            return false;
        }
        let (_, month, dom) = civil_from_days(day);
        !self.yearly.contains(&(month, dom))
    }

    /// The deadline `days` working days after `from_ms`: the end (WIB) of the `days`-th
    /// working day after the day of `from_ms`.
    pub fn deadline(&self, from_ms: i64, days: u32) -> i64 {
        if let Some(seconds) = self.day_seconds {
            return from_ms + i64::from(days) * seconds as i64 * 1000;
        }
        let mut day = (from_ms + WIB_MS).div_euclid(DAY_MS);
        let mut left = days;
        while left > 0 {
            day += 1;
            if self.is_working(day) {
                left -= 1;
            }
        }
        (day + 1) * DAY_MS - WIB_MS - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wib(date: &str, hour: i64) -> i64 {
        parse_date(date).unwrap() * DAY_MS + hour * 3_600_000 - WIB_MS
    }

    #[test]
    fn deadlines_count_working_days_in_wib() {
        let yearly = ["01-01", "05-01", "06-01", "08-17", "12-25"].map(String::from);
        let calendar = Calendar::new(&yearly, &[], None);
        // Filed on Friday 2026-12-04 at 15:00 WIB: 3 working days end on Wednesday the 9th.
        assert_eq!(calendar.deadline(wib("2026-12-04", 15), 3), wib("2026-12-10", 0) - 1);
        // Filed at 23:30 WIB on Monday (16:30 UTC, still Monday in UTC too).
        assert_eq!(
            calendar.deadline(wib("2026-12-07", 23) + 1_800_000, 1),
            wib("2026-12-09", 0) - 1
        );
        // Christmas (a Friday in 2026) is skipped: Thu 24 → Mon 28.
        assert_eq!(calendar.deadline(wib("2026-12-24", 9), 1), wib("2026-12-29", 0) - 1);
        // A dated holiday from the decree is skipped too.
        let decree = Calendar::new(&yearly, &["2026-12-28".to_owned()], None);
        assert_eq!(decree.deadline(wib("2026-12-24", 9), 1), wib("2026-12-30", 0) - 1);
        // Demo days are plain seconds.
        assert_eq!(Calendar::new(&yearly, &[], Some(10)).deadline(1_000, 3), 31_000);
    }

    #[test]
    fn dates_format_in_wib() {
        assert_eq!(format_date(0), "1970-01-01");
        assert_eq!(parse_date(&format_date(20_788)), Some(20_788));
        assert_eq!(format_datetime(0), "1970-01-01T07:00:00+07:00");
        assert_eq!(format_datetime(17 * 3_600_000 + 61_000), "1970-01-02T00:01:01+07:00");
    }

    #[test]
    fn dates_parse_strictly() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(civil_from_days(parse_date("2024-02-29").unwrap()), (2024, 2, 29));
        assert!(parse_date("2026-02-29").is_none());
        assert!(parse_date("2026-13-01").is_none());
        assert!(parse_date("26-01-01").is_none());
        assert_eq!(parse_month_day("08-17"), Some((8, 17)));
        assert!(parse_month_day("02-30").is_none());
    }
}
