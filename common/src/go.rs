//! The Go formats upstream accepts or prints, in one place so that the controller and kubeseal
//! cannot drift apart: `time.ParseDuration`, `strconv.ParseBool`, the `January 2, 2006` date
//! layout, `time.RFC1123Z` and the two RFC 3339 forms log/slog writes. Pure: no clock, no IO.

use std::time::{Duration, SystemTime};

use jiff::Timestamp;

/// A string `time.ParseDuration` refuses, or a negative duration (which Go accepts, but a
/// [`Duration`] cannot hold). The texts are Go's, with Rust's quoting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Not of the form `[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+`, or out of `int64` nanoseconds.
    #[error("time: invalid duration {0:?}")]
    Invalid(String),
    /// A number without a unit (`10`).
    #[error("time: missing unit in duration {0:?}")]
    MissingUnit(String),
    /// A unit other than `ns`, `us`, `µs`, `μs`, `ms`, `s`, `m`, `h`.
    #[error("time: unknown unit {unit:?} in duration {input:?}")]
    UnknownUnit {
        /// The unit as written.
        unit: String,
        /// The whole input.
        input: String,
    },
    /// A valid duration below zero.
    #[error("negative duration {0:?}")]
    Negative(String),
}

/// Go's units, in nanoseconds. Both micro signs are accepted, as Go does: U+00B5 (`µ`, MICRO SIGN)
/// and U+03BC (`μ`, GREEK SMALL LETTER MU).
const UNITS: [(&str, u64); 8] = [
    ("ns", 1),
    ("us", 1_000),
    ("\u{b5}s", 1_000),
    ("\u{3bc}s", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// `1 << 63`: Go's bound on the magnitude of a `Duration`.
const LIMIT: u64 = 1 << 63;

/// Go's `leadingInt`: the leading digits, or `None` when they overflow `1 << 63`.
fn leading_int(s: &[u8]) -> Option<(u64, &[u8])> {
    let digits = s.iter().take_while(|c| c.is_ascii_digit()).count();
    let (num, rest) = s.split_at_checked(digits)?;
    let mut x: u64 = 0;
    for &c in num {
        if x > LIMIT / 10 {
            return None;
        }
        x = x * 10 + u64::from(c - b'0');
        if x > LIMIT {
            return None;
        }
    }
    Some((x, rest))
}

/// Go's `leadingFraction`: the leading digits as `x / scale`; digits past `int64` precision are
/// consumed and ignored.
fn leading_fraction(s: &[u8]) -> (u64, f64, &[u8]) {
    let digits = s.iter().take_while(|c| c.is_ascii_digit()).count();
    let (num, rest) = s.split_at_checked(digits).unwrap_or((s, &[]));
    let (mut x, mut scale, mut overflow) = (0u64, 1f64, false);
    for &c in num {
        if overflow {
            continue;
        }
        if x > (LIMIT - 1) / 10 {
            overflow = true;
            continue;
        }
        let y = x * 10 + u64::from(c - b'0');
        if y > LIMIT {
            overflow = true;
            continue;
        }
        x = y;
        scale *= 10.0;
    }
    (x, scale, rest)
}

/// Go's `time.ParseDuration`, same grammar and the same arithmetic (`1.5h`, `1h30m`, `100ms`,
/// `2µs`, `2μs`, `+5s`, `0`; `10` has no unit and fails). A negative value is
/// [`DurationError::Negative`]; `-0` is zero.
pub fn parse_duration(input: &str) -> Result<Duration, DurationError> {
    let invalid = || DurationError::Invalid(input.to_owned());
    let mut s = input.as_bytes();
    let mut neg = false;
    if let Some((&c, rest)) = s.split_first()
        && (c == b'-' || c == b'+')
    {
        neg = c == b'-';
        s = rest;
    }
    if s == b"0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: u64 = 0;
    while let Some(&c) = s.first() {
        // The next character must be [0-9.].
        if !(c == b'.' || c.is_ascii_digit()) {
            return Err(invalid());
        }
        // [0-9]*
        let before = s.len();
        let (v, rest) = leading_int(s).ok_or_else(invalid)?;
        s = rest;
        let pre = before != s.len();
        // (\.[0-9]*)?
        let (mut f, mut scale, mut post) = (0u64, 1f64, false);
        if let Some((&b'.', rest)) = s.split_first() {
            let before = rest.len();
            let (x, sc, rest) = leading_fraction(rest);
            (f, scale, s) = (x, sc, rest);
            post = before != s.len();
        }
        if !pre && !post {
            // No digits at all (`.s`).
            return Err(invalid());
        }
        // [a-z]+, up to the next number.
        let unit_len = s
            .iter()
            .position(|&c| c == b'.' || c.is_ascii_digit())
            .unwrap_or(s.len());
        if unit_len == 0 {
            return Err(DurationError::MissingUnit(input.to_owned()));
        }
        let (unit, rest) = s.split_at_checked(unit_len).ok_or_else(invalid)?;
        s = rest;
        // The unit ends before an ASCII byte or at the end, so it is whole UTF-8.
        let unit_text = String::from_utf8_lossy(unit);
        let scale_ns = UNITS
            .iter()
            .find(|(name, _)| *name == unit_text)
            .map(|(_, ns)| *ns)
            .ok_or_else(|| DurationError::UnknownUnit {
                unit: unit_text.into_owned(),
                input: input.to_owned(),
            })?;
        if v > LIMIT / scale_ns {
            return Err(invalid());
        }
        let mut v = v * scale_ns;
        if f > 0 {
            // float64 is needed to be nanosecond accurate for fractions of hours; Go's own words.
            v = v.saturating_add((f as f64 * (scale_ns as f64 / scale)) as u64);
            if v > LIMIT {
                return Err(invalid());
            }
        }
        total = total
            .checked_add(v)
            .filter(|t| *t <= LIMIT)
            .ok_or_else(invalid)?;
    }
    if neg {
        return match total {
            0 => Ok(Duration::ZERO),
            _ => Err(DurationError::Negative(input.to_owned())),
        };
    }
    if total > LIMIT - 1 {
        return Err(invalid());
    }
    Ok(Duration::from_nanos(total))
}

/// A string `strconv.ParseBool` refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid boolean {0:?}")]
pub struct BoolError(pub String);

/// Go's `strconv.ParseBool`: `1 t T TRUE true True` and `0 f F FALSE false False`.
pub fn parse_bool(s: &str) -> Result<bool, BoolError> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(BoolError(s.to_owned())),
    }
}

/// Whole seconds since the Unix epoch (negative before it), as jiff wants them.
fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

/// `t` in Go's `January 2, 2006` layout, UTC (upstream's expired-certificate message). A time
/// outside jiff's range (years -9999 to 9999) is clamped to it.
pub fn format_date(t: SystemTime) -> String {
    let secs = unix_seconds(t);
    let clamped = if secs < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    };
    let ts = Timestamp::from_second(secs).unwrap_or(clamped);
    ts.strftime("%B %-d, %Y").to_string()
}

/// `t` as log/slog's JSON handler writes it: Go's `time.RFC3339Nano` in UTC, the fraction with
/// its trailing zeros dropped (none at all on a whole second): `2026-12-01T10:44:15.1234Z`.
pub fn format_rfc3339_nano(t: SystemTime) -> String {
    let (seconds, nanos) = rfc3339_parts(t);
    let mut out = seconds;
    if nanos > 0 {
        let digits = format!("{nanos:09}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// `t` as log/slog's text handler writes it: RFC 3339 in UTC with exactly three fractional
/// digits (milliseconds, truncated): `2026-12-01T10:44:15.120Z`.
pub fn format_rfc3339_millis(t: SystemTime) -> String {
    let (seconds, nanos) = rfc3339_parts(t);
    format!("{seconds}.{:03}Z", nanos / 1_000_000)
}

/// `YYYY-MM-DDTHH:MM:SS` (UTC) and the nanoseconds of `t`; clamped to jiff's range like
/// [`format_date`].
fn rfc3339_parts(t: SystemTime) -> (String, u32) {
    let (secs, nanos) = match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => (
            i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            d.subsec_nanos(),
        ),
        Err(e) => {
            // Before 1970: whole seconds down, the fraction counted up from there.
            let d = e.duration();
            let whole = i64::try_from(d.as_secs()).map_or(i64::MIN, |s| -s);
            match d.subsec_nanos() {
                0 => (whole, 0),
                n => (whole.saturating_sub(1), 1_000_000_000 - n),
            }
        }
    };
    let ts = Timestamp::from_second(secs).unwrap_or(if secs < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    });
    (ts.strftime("%Y-%m-%dT%H:%M:%S").to_string(), nanos)
}

/// Go's weekday names, which `time.Parse` checks (but does not compare with the date).
const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// Go's `time.Parse(time.RFC1123Z, s)`: `Mon, 02 Jan 2006 15:04:05 -0700`. Out-of-range fields
/// (day 32, February 30, hour 24, minute 60) are refused, as Go does; the weekday must be a
/// weekday name but need not match the date.
pub fn parse_rfc1123z(s: &str) -> Option<SystemTime> {
    let (weekday, rest) = s.split_once(", ")?;
    if !WEEKDAYS.contains(&weekday) {
        return None;
    }
    let ts = jiff::fmt::strtime::parse("%d %b %Y %H:%M:%S %z", rest)
        .ok()?
        .to_timestamp()
        .ok()?;
    let secs = ts.as_second();
    let magnitude = Duration::from_secs(secs.unsigned_abs());
    if secs >= 0 {
        SystemTime::UNIX_EPOCH.checked_add(magnitude)
    } else {
        SystemTime::UNIX_EPOCH.checked_sub(magnitude)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_duration_table() {
        let ms = Duration::from_millis;
        let ok: &[(&str, Duration)] = &[
            ("0", Duration::ZERO),
            ("+0", Duration::ZERO),
            ("-0", Duration::ZERO),
            ("0s", Duration::ZERO),
            ("5s", Duration::from_secs(5)),
            ("+5s", Duration::from_secs(5)),
            ("30s", Duration::from_secs(30)),
            ("1478s", Duration::from_secs(1478)),
            ("1h30m", Duration::from_secs(5400)),
            ("1.5h", Duration::from_secs(5400)),
            ("720h0m0s", Duration::from_secs(720 * 3600)),
            ("87600h0m0s", Duration::from_secs(87_600 * 3600)),
            ("2m0s", Duration::from_secs(120)),
            ("100ms", ms(100)),
            ("1.004s", ms(1004)),
            ("1.0040s", ms(1004)),
            ("100.00100s", ms(100_001)),
            (".5s", ms(500)),
            ("5.s", Duration::from_secs(5)),
            ("10ns", Duration::from_nanos(10)),
            ("11us", Duration::from_micros(11)),
            ("12\u{b5}s", Duration::from_micros(12)),
            ("12\u{3bc}s", Duration::from_micros(12)),
            ("3h30m", Duration::from_secs(3 * 3600 + 1800)),
            ("10.5s4m", Duration::from_millis(4 * 60_000 + 10_500)),
            ("1h1m1s1ms1us1ns", Duration::from_nanos(3_661_001_001_001)),
            ("39h9m14.425s", ms(140_954_425)),
            ("52763797000ns", Duration::from_nanos(52_763_797_000)),
            (
                "0.3333333333333333333h",
                Duration::from_nanos(1_200_000_000_000),
            ),
            (
                "9007199254740993ns",
                Duration::from_nanos(9_007_199_254_740_993),
            ),
            (
                "9223372036854775807ns",
                Duration::from_nanos(9_223_372_036_854_775_807),
            ),
            (
                "9223372036854775.807us",
                Duration::from_nanos(9_223_372_036_854_775_807),
            ),
            (
                "2562047h47m16s854775807ns",
                Duration::from_nanos(i64::MAX as u64),
            ),
        ];
        for (input, want) in ok {
            assert_eq!(parse_duration(input).as_ref(), Ok(want), "{input}");
        }
        let invalid = |s: &str| DurationError::Invalid(s.into());
        let missing = |s: &str| DurationError::MissingUnit(s.into());
        let unknown = |u: &str, s: &str| DurationError::UnknownUnit {
            unit: u.into(),
            input: s.into(),
        };
        let bad: &[(&str, DurationError)] = &[
            ("", invalid("")),
            ("3", missing("3")),
            ("10", missing("10")),
            ("-", invalid("-")),
            ("s", invalid("s")),
            (".", invalid(".")),
            ("-.", invalid("-.")),
            (".s", invalid(".s")),
            ("+.s", invalid("+.s")),
            ("1d", unknown("d", "1d")),
            ("5x", unknown("x", "5x")),
            ("5\u{b5}", unknown("\u{b5}", "5\u{b5}")),
            ("5\u{e9}", unknown("\u{e9}", "5\u{e9}")),
            ("5s\u{20ac}", unknown("s\u{20ac}", "5s\u{20ac}")),
            ("\u{b5}5s", invalid("\u{b5}5s")),
            ("abc", invalid("abc")),
            (" 5s", invalid(" 5s")),
            ("9223372036854775808ns", invalid("9223372036854775808ns")),
            ("9223372036854775.808us", invalid("9223372036854775.808us")),
            ("2562048h", invalid("2562048h")),
            (
                "99999999999999999999999h",
                invalid("99999999999999999999999h"),
            ),
            ("-1h", DurationError::Negative("-1h".into())),
            ("-1.5h", DurationError::Negative("-1.5h".into())),
        ];
        for (input, want) in bad {
            assert_eq!(parse_duration(input).as_ref(), Err(want), "{input}");
        }
        let long = format!("{}s", "9".repeat(400));
        assert_eq!(parse_duration(&long), Err(invalid(&long)));
        assert_eq!(
            parse_duration("1d").unwrap_err().to_string(),
            "time: unknown unit \"d\" in duration \"1d\""
        );
    }

    #[test]
    fn parse_bool_table() {
        for s in ["1", "t", "T", "TRUE", "true", "True"] {
            assert_eq!(parse_bool(s), Ok(true), "{s}");
        }
        for s in ["0", "f", "F", "FALSE", "false", "False"] {
            assert_eq!(parse_bool(s), Ok(false), "{s}");
        }
        for s in ["", "yes", "no", "tRUE", "2", " true", "on"] {
            assert_eq!(parse_bool(s), Err(BoolError(s.into())), "{s}");
        }
        assert_eq!(
            parse_bool("yes").unwrap_err().to_string(),
            "invalid boolean \"yes\""
        );
    }

    #[test]
    fn rfc3339_as_slog_writes_it() {
        let at = |secs: u64, nanos: u32| SystemTime::UNIX_EPOCH + Duration::new(secs, nanos);
        // 2026-12-01T10:44:15Z
        let t = 1_796_121_855;
        assert_eq!(format_rfc3339_nano(at(t, 0)), "2026-12-01T10:44:15Z");
        assert_eq!(
            format_rfc3339_nano(at(t, 120_000_000)),
            "2026-12-01T10:44:15.12Z"
        );
        assert_eq!(
            format_rfc3339_nano(at(t, 123_456_789)),
            "2026-12-01T10:44:15.123456789Z"
        );
        assert_eq!(
            format_rfc3339_nano(at(t, 1_000)),
            "2026-12-01T10:44:15.000001Z"
        );
        assert_eq!(format_rfc3339_millis(at(t, 0)), "2026-12-01T10:44:15.000Z");
        assert_eq!(
            format_rfc3339_millis(at(t, 123_999_999)),
            "2026-12-01T10:44:15.123Z"
        );
        assert_eq!(
            format_rfc3339_millis(at(0, 5_000_000)),
            "1970-01-01T00:00:00.005Z"
        );
        let before = SystemTime::UNIX_EPOCH - Duration::from_millis(1500);
        assert_eq!(format_rfc3339_nano(before), "1969-12-31T23:59:58.5Z");
    }

    #[test]
    fn format_date_table() {
        let at = |secs: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
        let table: &[(SystemTime, &str)] = &[
            (SystemTime::UNIX_EPOCH, "January 1, 1970"),
            (at(1_136_214_245), "January 2, 2006"),
            (at(1_136_239_445), "January 2, 2006"),
            (at(951_782_400), "February 29, 2000"),
            (at(1_709_251_199), "February 29, 2024"),
            (at(1_735_689_599), "December 31, 2024"),
            (at(4_102_444_800), "January 1, 2100"),
            (
                SystemTime::UNIX_EPOCH - Duration::from_secs(86_400),
                "December 31, 1969",
            ),
        ];
        for (t, want) in table {
            assert_eq!(format_date(*t), *want);
        }
    }

    #[test]
    fn parse_rfc1123z_table() {
        let secs = |s: &str| {
            parse_rfc1123z(s).map(|t| {
                t.duration_since(SystemTime::UNIX_EPOCH)
                    .map(|d| d.as_secs() as i64)
                    .unwrap_or_else(|e| -(e.duration().as_secs() as i64))
            })
        };
        let table: &[(&str, Option<i64>)] = &[
            ("Mon, 02 Jan 2006 15:04:05 -0700", Some(1_136_239_445)),
            ("Mon, 02 Jan 2006 22:04:05 +0000", Some(1_136_239_445)),
            ("Tue, 03 Jan 2006 00:34:05 +0230", Some(1_136_239_445)),
            // Go checks the weekday's name, not that it matches the date.
            ("Sun, 02 Jan 2006 15:04:05 -0700", Some(1_136_239_445)),
            ("Thu, 01 Jan 1970 00:00:00 +0000", Some(0)),
            ("Thu, 29 Feb 2024 12:00:00 +0000", Some(1_709_208_000)),
            ("Wed, 31 Dec 1969 23:59:59 +0000", Some(-1)),
            ("Xyz, 02 Jan 2006 15:04:05 -0700", None),
            ("2006-01-02", None),
            ("Mon, 02 Jan 2006 15:04:05", None),
            ("Mon, 02 Jan 2006 15:04:05 MST", None),
            ("Mon, 02 Foo 2006 15:04:05 -0700", None),
            ("Mon, 02 Jan 99999999999999999 15:04:05 -0700", None),
            ("Mon, 02 Jan 2006 9223372036854775807:04:05 -0700", None),
            ("Mon, 02 Jan 2006 24:00:00 -0700", None),
            ("Mon, 32 Jan 2006 15:04:05 -0700", None),
            ("Mon, 30 Feb 2006 15:04:05 -0700", None),
            ("Mon, 02 Jan 2006 15:60:05 -0700", None),
            ("Mon, 02 Jan 2006 15:04:05 +-100", None),
        ];
        for (input, want) in table {
            assert_eq!(secs(input), *want, "{input}");
        }
    }
}
