//! Showing times to people: every date and time on a screen, a printout or in `preview`
//! is shown in the ward's time zone (Europe/Amsterdam by default) in Dutch notation
//! (dd-mm-jjjj uu:mm), and ages of data as short human durations. Stored times stay UTC.

use crate::config::Language;
use crate::record::Moment;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Tz;

/// Formats an instant as local date and time, e.g. "22-11-2026 14:05".
pub(crate) fn datetime(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format("%d-%m-%Y %H:%M").to_string()
}

/// Formats an instant as local time of day, e.g. "14:05".
pub(crate) fn time_of_day(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format("%H:%M").to_string()
}

/// Formats a date, e.g. "03-02-1948".
pub(crate) fn date(d: NaiveDate) -> String {
    d.format("%d-%m-%Y").to_string()
}

/// Formats a moment with the precision it has.
pub(crate) fn moment(m: &Moment, tz: Tz) -> String {
    match *m {
        Moment::Year(y) => format!("{y}"),
        Moment::Month(y, mo) => format!("{mo:02}-{y}"),
        Moment::Day(d) => date(d),
        Moment::Instant(t) => datetime(t, tz),
    }
}

/// Age in whole years at `today` of someone born on `birth`, when the birth date is
/// precise enough to tell.
pub(crate) fn age_years(birth: &Moment, today: NaiveDate) -> Option<i32> {
    let b = match *birth {
        Moment::Day(d) => d,
        Moment::Instant(t) => t.date_naive(),
        _ => return None,
    };
    let mut age = today.year() - b.year();
    if (today.month(), today.day()) < (b.month(), b.day()) {
        age -= 1;
    }
    (age >= 0).then_some(age)
}

/// A data age as people say it: "45 s", "12 min", "3 u 20 min", "2 d 4 u".
pub(crate) fn age(seconds: i64, lang: Language) -> String {
    let s = seconds.max(0);
    let (h, d) = match lang {
        Language::Nl => ("u", "d"),
        Language::En => ("h", "d"),
    };
    if s < 60 {
        format!("{s} s")
    } else if s < 3600 {
        format!("{} min", s / 60)
    } else if s < 86_400 {
        format!("{} {h} {} min", s / 3600, (s % 3600) / 60)
    } else {
        format!("{} {d} {} {h}", s / 86_400, (s % 86_400) / 3600)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn shows_amsterdam_local_time_across_dst() {
        let tz = chrono_tz::Europe::Amsterdam;
        let winter = Utc.with_ymd_and_hms(2026, 1, 15, 12, 0, 0).unwrap();
        let summer = Utc.with_ymd_and_hms(2026, 7, 15, 12, 0, 0).unwrap();
        assert_eq!(datetime(winter, tz), "15-01-2026 13:00");
        assert_eq!(datetime(summer, tz), "15-07-2026 14:00");
    }

    #[test]
    fn age_counts_birthday_not_yet_reached() {
        let b = Moment::Day(NaiveDate::from_ymd_opt(1950, 6, 10).unwrap());
        assert_eq!(
            age_years(&b, NaiveDate::from_ymd_opt(2026, 6, 9).unwrap()),
            Some(75)
        );
        assert_eq!(
            age_years(&b, NaiveDate::from_ymd_opt(2026, 6, 10).unwrap()),
            Some(76)
        );
        assert_eq!(
            age_years(
                &Moment::Year(1950),
                NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()
            ),
            None
        );
    }

    #[test]
    fn data_age_is_short_and_readable() {
        assert_eq!(age(42, Language::Nl), "42 s");
        assert_eq!(age(12 * 60 + 5, Language::Nl), "12 min");
        assert_eq!(age(3 * 3600 + 20 * 60, Language::Nl), "3 u 20 min");
        assert_eq!(age(3 * 3600 + 20 * 60, Language::En), "3 h 20 min");
    }
}
