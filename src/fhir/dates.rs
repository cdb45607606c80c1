//! FHIR `date`, `dateTime` and `instant` strings → [`Moment`], keeping the precision the
//! source gives ("1934", "2016-03", "2016-03-06", "2016-03-06T09:12:30+01:00").
//!
//! Parsing is strict: anything that is not one of those shapes, or names an impossible
//! date ("2021-02-30"), yields `None` and the caller reports a warning. A dateTime with a
//! time but without a zone (not valid FHIR, seen in exports) is read as Europe/Amsterdam
//! local time.

use crate::record::Moment;
use chrono::{DateTime, Duration, Months, NaiveDate, NaiveDateTime, TimeZone, Utc};

/// Parses a FHIR date/dateTime/instant.
pub(crate) fn parse(s: &str) -> Option<Moment> {
    let s = s.trim();
    if s.len() > 40 || !s.is_ascii() {
        return None;
    }
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    match s.len() {
        4 if digits(s) => {
            let y: i32 = s.parse().ok()?;
            (1..=9999).contains(&y).then_some(Moment::Year(y))
        }
        7 => {
            let (y, m) = s.split_once('-')?;
            if !digits(y) || !digits(m) || y.len() != 4 || m.len() != 2 {
                return None;
            }
            let y: i32 = y.parse().ok()?;
            let m: u32 = m.parse().ok()?;
            ((1..=9999).contains(&y) && (1..=12).contains(&m)).then_some(Moment::Month(y, m))
        }
        10 => NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .ok()
            .filter(|d| s.get(4..5) == Some("-") && s.get(7..8) == Some("-") && d.to_string() == s)
            .map(Moment::Day),
        _ => {
            if let Ok(t) = DateTime::parse_from_rfc3339(s) {
                return Some(Moment::Instant(t.with_timezone(&Utc)));
            }
            // Time without zone: read as ward-local time.
            let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
                .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M"))
                .ok()?;
            chrono_tz::Europe::Amsterdam
                .from_local_datetime(&naive)
                .earliest()
                .map(|t| Moment::Instant(t.with_timezone(&Utc)))
        }
    }
}

/// A moment in FHIR notation for reports ("2012-05-29", "2016-03", "2016-03-06T08:12:30Z").
pub(crate) fn iso(m: &Moment) -> String {
    match m {
        Moment::Year(y) => format!("{y:04}"),
        Moment::Month(y, mo) => format!("{y:04}-{mo:02}"),
        Moment::Day(d) => d.format("%Y-%m-%d").to_string(),
        Moment::Instant(t) => t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    }
}

/// The first instant after the moment (the end of a day/month/year; the instant itself),
/// for "has this ended?" checks: an end date of 2016-09-18 lasts through that day.
pub(crate) fn end_exclusive(m: &Moment) -> Option<DateTime<Utc>> {
    let start = m.earliest_utc()?;
    match m {
        Moment::Instant(t) => Some(*t),
        Moment::Day(_) => start.checked_add_signed(Duration::days(1)),
        Moment::Month(..) => start.checked_add_months(Months::new(1)),
        Moment::Year(_) => start.checked_add_months(Months::new(12)),
    }
}

/// Adds a UCUM duration (value, unit) to a moment, keeping day precision for dates.
pub(crate) fn add_duration(m: &Moment, value: f64, unit: &str) -> Option<Moment> {
    if !value.is_finite() || !(0.0..=100_000.0).contains(&value) {
        return None;
    }
    let whole = value.round() as u32;
    let add = |t: DateTime<Utc>| -> Option<DateTime<Utc>> {
        let secs = |s: f64| Duration::try_seconds((value * s).round() as i64);
        match unit {
            "s" => t.checked_add_signed(secs(1.0)?),
            "min" => t.checked_add_signed(secs(60.0)?),
            "h" => t.checked_add_signed(secs(3600.0)?),
            "d" => t.checked_add_signed(secs(86_400.0)?),
            "wk" => t.checked_add_signed(secs(7.0 * 86_400.0)?),
            "mo" => t.checked_add_months(Months::new(whole)),
            "a" => t.checked_add_months(Months::new(whole.checked_mul(12)?)),
            _ => None,
        }
    };
    match m {
        Moment::Instant(t) => add(*t).map(Moment::Instant),
        Moment::Day(d) => {
            let t = add(d.and_time(chrono::NaiveTime::MIN).and_utc())?;
            // A period of 4 weeks from 2 May runs through 29 May (the day before).
            let last = t.date_naive().pred_opt()?;
            Some(Moment::Day(last))
        }
        // Coarser starts: the end is not known precisely enough.
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_partial_precision() {
        assert_eq!(parse("1934"), Some(Moment::Year(1934)));
        assert_eq!(parse("2015-03"), Some(Moment::Month(2015, 3)));
        assert_eq!(
            parse("1934-04-28"),
            Some(Moment::Day(NaiveDate::from_ymd_opt(1934, 4, 28).unwrap()))
        );
        let t = parse("2016-03-06T09:12:30+01:00").unwrap();
        assert_eq!(
            t,
            Moment::Instant(Utc.with_ymd_and_hms(2016, 3, 6, 8, 12, 30).unwrap())
        );
    }

    #[test]
    fn rejects_impossible_and_malformed_dates() {
        for bad in [
            "2021-02-30",
            "2021-13",
            "0000",
            "20210101",
            "2021-1-01",
            "gisteren",
            "2021-02-28T25:00:00Z",
            "",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn four_weeks_from_a_date_ends_the_day_before() {
        let start = parse("2012-05-02").unwrap();
        assert_eq!(add_duration(&start, 4.0, "wk"), parse("2012-05-29"));
    }
}
