//! Simulated time: wall-clock time plus an offset moved forward by `POST /_sandbox/advance`.
//!
//! Tokens are issued and checked on simulated time without skew ([`SimClock::token_now`]: wall-clock time until
//! `advance` moves it); data timestamps, machine action progress and rate-limit windows use the service's time.
//!
//! The service's clock may also be skewed (`adversarial.clock_skew_seconds`): [`SimClock::now`] is simulated time
//! plus that skew, the time the service stamps on records and sends in the `Date` header of every response.

use std::sync::Mutex;

use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

tokio::task_local! {
    /// The service time at which the current request was received (set by the `Date` middleware).
    static REQUEST_NOW: OffsetDateTime;
}

/// The sandbox clock.
#[derive(Debug, Default)]
pub struct SimClock {
    offset: Mutex<Duration>,
    skew: Mutex<Duration>,
}

impl SimClock {
    /// The service's now: wall-clock time, plus what `advance` added, plus the configured skew.
    pub fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc() + self.offset() + Self::read(&self.skew)
    }

    /// Simulated time without the skew: what Entra ID issues and checks tokens on (the skew is the Defender
    /// service's, not the token issuer's).
    pub fn token_now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc() + self.offset()
    }

    /// Sets the skew of the service's clock (replaces the previous one).
    pub fn set_skew(&self, skew: Duration) {
        *self
            .skew
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = skew;
    }

    /// Moves simulated time forward.
    pub fn advance(&self, by: Duration) {
        let mut offset = self
            .offset
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *offset += by;
    }

    fn offset(&self) -> Duration {
        Self::read(&self.offset)
    }

    fn read(cell: &Mutex<Duration>) -> Duration {
        *cell.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Runs `f` (a request's handling) with `now` as the service time that code without the state (error bodies) reads
/// through [`request_now`].
pub async fn with_request_now<F: Future>(now: OffsetDateTime, f: F) -> F::Output {
    REQUEST_NOW.scope(now, f).await
}

/// The service time of the request being handled, or wall-clock time outside a request.
pub fn request_now() -> OffsetDateTime {
    REQUEST_NOW
        .try_with(|t| *t)
        .unwrap_or_else(|_| OffsetDateTime::now_utc())
}

/// Formats a time as HTTP's IMF-fixdate (RFC 7231 §7.1.1.1), e.g. `Wed, 02 Dec 2026 23:35:05 GMT`.
pub fn format_http_date(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    t.format(&format).unwrap_or_else(|_| {
        // Years outside 0..=9999 do not format; the clock never gets there.
        "Thu, 01 Jan 1970 00:00:00 GMT".to_owned()
    })
}

/// Formats a timestamp the way the Defender APIs do: UTC, seven fractional digits, `Z`.
pub fn format_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:07}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.nanosecond() / 100
    )
}

/// Parses an OData / ISO 8601 datetime: `2019-11-22T00:00:00Z`, with optional fraction and offset, or a bare date
/// with a zone (`2018-08-01Z`).
pub fn parse_time(s: &str) -> Option<OffsetDateTime> {
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t);
    }
    let date = s.strip_suffix('Z').unwrap_or(s);
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(date, &format)
        .ok()
        .map(|d| d.midnight().assume_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_are_imf_fixdate() {
        let t = OffsetDateTime::parse("2026-12-02T23:35:05.1234567Z", &Rfc3339)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        assert_eq!(format_http_date(t), "Wed, 02 Dec 2026 23:35:05 GMT");
        let t = OffsetDateTime::parse("2027-03-07T01:02:03+02:00", &Rfc3339)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        assert_eq!(format_http_date(t), "Sat, 06 Mar 2027 23:02:03 GMT");
    }

    #[test]
    fn skew_moves_now_and_can_be_replaced() {
        let clock = SimClock::default();
        clock.set_skew(Duration::hours(2));
        let ahead = clock.now() - OffsetDateTime::now_utc();
        assert!(
            ahead > Duration::minutes(119) && ahead < Duration::minutes(121),
            "{ahead}"
        );
        clock.set_skew(Duration::seconds(-30));
        let behind = OffsetDateTime::now_utc() - clock.now();
        assert!(
            behind > Duration::seconds(29) && behind < Duration::seconds(31),
            "{behind}"
        );
    }
}
