//! sprig `date.go` and the parts of Go's `time` package it relies on: `time.Time` (an instant,
//! a location and an optional monotonic reading), the layout language of `Time.Format` and
//! `time.ParseInLocation` (ported from Go 1.19 `time/format.go`), `time.ParseDuration`,
//! `Duration.String`/`Round`, and `time.LoadLocation` over the host's zoneinfo files (TZif,
//! parsed by jiff).
//!
//! Go's `time.Local` is the controller's local zone. Upstream's image (distroless static) has no
//! `/etc/localtime` and no `TZ`, so Go's `Local` is UTC there; ours is UTC always
//! (docs/templates.md).

use std::rc::Rc;

use super::Answer;
use crate::template::{Exec, Obj, Value, XR};

const NS: i64 = 1_000_000_000;

/// A Go `*time.Location`.
pub(in crate::template) enum Loc {
    /// `time.UTC`.
    Utc,
    /// `time.Local` (UTC, as in upstream's image).
    Local,
    /// A zone loaded from zoneinfo.
    Tz(jiff::tz::TimeZone),
    /// `time.FixedZone(name, offset)`.
    Fixed(String, i32),
}

impl Loc {
    /// The zone abbreviation and UTC offset (seconds) in force at `unix`.
    fn lookup(&self, unix: i64) -> (String, i32) {
        match self {
            Loc::Utc | Loc::Local => ("UTC".into(), 0),
            Loc::Fixed(n, o) => (n.clone(), *o),
            Loc::Tz(tz) => {
                let ts = jiff::Timestamp::from_second(unix.clamp(
                    jiff::Timestamp::MIN.as_second(),
                    jiff::Timestamp::MAX.as_second(),
                ))
                .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
                let info = tz.to_offset_info(ts);
                (info.abbreviation().to_owned(), info.offset().seconds())
            }
        }
    }
}

/// A Go `time.Time`.
#[derive(Clone)]
pub(in crate::template) struct GoTime {
    /// Seconds since the Unix epoch.
    pub(in crate::template) sec: i64,
    /// Nanoseconds within the second, `0..1e9`.
    pub(in crate::template) nsec: i64,
    pub(in crate::template) loc: Rc<Loc>,
    /// The monotonic clock reading (nanoseconds since the process started), as `time.Now` has.
    pub(in crate::template) mono: Option<i64>,
}

impl GoTime {
    fn unix(sec: i64, loc: Rc<Loc>) -> GoTime {
        GoTime {
            sec,
            nsec: 0,
            loc,
            mono: None,
        }
    }

    /// Go's `==` on two `time.Time` structs: the same instant, monotonic reading and
    /// `*Location` (UTC and Local are single values; a loaded or fixed zone is a new one each
    /// time it is made).
    pub(in crate::template) fn same(&self, o: &GoTime) -> bool {
        let loc = match (&*self.loc, &*o.loc) {
            (Loc::Utc, Loc::Utc) | (Loc::Local, Loc::Local) => true,
            _ => Rc::ptr_eq(&self.loc, &o.loc),
        };
        loc && self.sec == o.sec && self.nsec == o.nsec && self.mono == o.mono
    }

    /// `t.In(loc)` (drops the monotonic reading, as Go's `setLoc` does).
    fn in_loc(&self, loc: Rc<Loc>) -> GoTime {
        GoTime {
            loc,
            mono: None,
            ..self.clone()
        }
    }

    /// `t.Add(d)`.
    fn add(&self, d: i64) -> GoTime {
        let total = i128::from(self.nsec) + i128::from(d);
        let sec = i128::from(self.sec) + total.div_euclid(i128::from(NS));
        let nsec = total.rem_euclid(i128::from(NS));
        GoTime {
            sec: i64::try_from(sec).unwrap_or(if d < 0 { i64::MIN } else { i64::MAX }),
            nsec: i64::try_from(nsec).unwrap_or(0),
            loc: self.loc.clone(),
            mono: self.mono.and_then(|m| m.checked_add(d)),
        }
    }

    /// `t.Sub(u)`, saturating like Go.
    fn sub(&self, u: &GoTime) -> i64 {
        if let (Some(a), Some(b)) = (self.mono, u.mono) {
            return a.saturating_sub(b);
        }
        let d = (i128::from(self.sec) - i128::from(u.sec)) * i128::from(NS)
            + i128::from(self.nsec - u.nsec);
        i64::try_from(d).unwrap_or(if d < 0 { i64::MIN } else { i64::MAX })
    }

    fn abs_parts(&self) -> (String, i32, Civil) {
        let (name, off) = self.loc.lookup(self.sec);
        let local = i128::from(self.sec) + i128::from(off);
        (name, off, Civil::from_unix(local))
    }

    /// `t.Format(layout)`.
    pub(in crate::template) fn format(&self, layout: &str) -> String {
        let (name, offset, c) = self.abs_parts();
        let mut b = String::new();
        let mut layout = layout;
        while !layout.is_empty() {
            let (prefix, std, suffix) = next_std_chunk(layout);
            b.push_str(prefix);
            if std == 0 {
                break;
            }
            layout = suffix;
            match std & STD_MASK {
                STD_YEAR => append_int(&mut b, (c.year.abs() % 100) as i64, 2),
                STD_LONG_YEAR => append_int(&mut b, c.year as i64, 4),
                STD_MONTH => b.push_str(short(month_name(c.month))),
                STD_LONG_MONTH => b.push_str(month_name(c.month)),
                STD_NUM_MONTH => append_int(&mut b, c.month.into(), 0),
                STD_ZERO_MONTH => append_int(&mut b, c.month.into(), 2),
                STD_WEEK_DAY => b.push_str(short(day_name(c.weekday))),
                STD_LONG_WEEK_DAY => b.push_str(day_name(c.weekday)),
                STD_DAY => append_int(&mut b, c.day.into(), 0),
                STD_UNDER_DAY => {
                    if c.day < 10 {
                        b.push(' ');
                    }
                    append_int(&mut b, c.day.into(), 0);
                }
                STD_ZERO_DAY => append_int(&mut b, c.day.into(), 2),
                STD_UNDER_YEAR_DAY => {
                    if c.yday < 100 {
                        b.push(' ');
                        if c.yday < 10 {
                            b.push(' ');
                        }
                    }
                    append_int(&mut b, c.yday.into(), 0);
                }
                STD_ZERO_YEAR_DAY => append_int(&mut b, c.yday.into(), 3),
                STD_HOUR => append_int(&mut b, c.hour.into(), 2),
                STD_HOUR12 | STD_ZERO_HOUR12 => {
                    let hr = match c.hour % 12 {
                        0 => 12,
                        h => h,
                    };
                    append_int(&mut b, hr.into(), if std == STD_HOUR12 { 0 } else { 2 });
                }
                STD_MINUTE => append_int(&mut b, c.min.into(), 0),
                STD_ZERO_MINUTE => append_int(&mut b, c.min.into(), 2),
                STD_SECOND => append_int(&mut b, c.sec.into(), 0),
                STD_ZERO_SECOND => append_int(&mut b, c.sec.into(), 2),
                STD_PM => b.push_str(if c.hour >= 12 { "PM" } else { "AM" }),
                STD_LOWER_PM => b.push_str(if c.hour >= 12 { "pm" } else { "am" }),
                STD_ISO8601_TZ..=STD_NUM_COLON_SECONDS_TZ => {
                    let iso = matches!(
                        std,
                        STD_ISO8601_TZ
                            | STD_ISO8601_COLON_TZ
                            | STD_ISO8601_SECONDS_TZ
                            | STD_ISO8601_SHORT_TZ
                            | STD_ISO8601_COLON_SECONDS_TZ
                    );
                    if offset == 0 && iso {
                        b.push('Z');
                        continue;
                    }
                    let mut zone = offset / 60;
                    let mut absoff = offset;
                    if zone < 0 {
                        b.push('-');
                        zone = -zone;
                        absoff = -absoff;
                    } else {
                        b.push('+');
                    }
                    append_int(&mut b, (zone / 60).into(), 2);
                    if matches!(
                        std,
                        STD_ISO8601_COLON_TZ
                            | STD_NUM_COLON_TZ
                            | STD_ISO8601_COLON_SECONDS_TZ
                            | STD_NUM_COLON_SECONDS_TZ
                    ) {
                        b.push(':');
                    }
                    if std != STD_NUM_SHORT_TZ && std != STD_ISO8601_SHORT_TZ {
                        append_int(&mut b, (zone % 60).into(), 2);
                    }
                    if matches!(
                        std,
                        STD_ISO8601_SECONDS_TZ
                            | STD_NUM_SECONDS_TZ
                            | STD_NUM_COLON_SECONDS_TZ
                            | STD_ISO8601_COLON_SECONDS_TZ
                    ) {
                        if std == STD_NUM_COLON_SECONDS_TZ || std == STD_ISO8601_COLON_SECONDS_TZ {
                            b.push(':');
                        }
                        append_int(&mut b, (absoff % 60).into(), 2);
                    }
                }
                STD_TZ => {
                    if !name.is_empty() {
                        b.push_str(&name);
                        continue;
                    }
                    let mut zone = offset / 60;
                    if zone < 0 {
                        b.push('-');
                        zone = -zone;
                    } else {
                        b.push('+');
                    }
                    append_int(&mut b, (zone / 60).into(), 2);
                    append_int(&mut b, (zone % 60).into(), 2);
                }
                STD_FRAC_SECOND0 | STD_FRAC_SECOND9 => format_nano(&mut b, self.nsec, std),
                _ => {}
            }
        }
        b
    }

    /// `t.String()`.
    pub(in crate::template) fn string(&self) -> String {
        let mut s = self.format("2006-01-02 15:04:05.999999999 -0700 MST");
        if let Some(m) = self.mono {
            let sign = if m < 0 { '-' } else { '+' };
            let m2 = m.unsigned_abs();
            let (m1, m2) = (m2 / 1_000_000_000, m2 % 1_000_000_000);
            let (m0, m1) = (m1 / 1_000_000_000, m1 % 1_000_000_000);
            s.push_str(" m=");
            s.push(sign);
            let mut wid = 0;
            if m0 != 0 {
                s.push_str(&m0.to_string());
                wid = 9;
            }
            s.push_str(&format!("{m1:0wid$}"));
            s.push('.');
            s.push_str(&format!("{m2:09}"));
        }
        s
    }

    /// `t.MarshalJSON()` (RFC 3339 with nanoseconds; an error outside years 0–9999).
    pub(in crate::template) fn json(&self) -> Option<String> {
        let (_, _, c) = self.abs_parts();
        if !(0..=9999).contains(&c.year) {
            return None;
        }
        Some(format!(
            "\"{}\"",
            self.format("2006-01-02T15:04:05.999999999Z07:00")
        ))
    }

    /// The value of a method call `t.Name args…`, or `None` for a method we do not have.
    pub(in crate::template) fn method(&self, name: &str, args: &[Value]) -> Option<Value> {
        let (_, _, c) = self.abs_parts();
        let int = |i: i64| Some(Value::Int(i));
        match (name, args) {
            ("Unix", []) => int(self.sec),
            ("UnixMilli", []) => int(self.sec.wrapping_mul(1000) + self.nsec / 1_000_000),
            ("UnixMicro", []) => int(self.sec.wrapping_mul(1_000_000) + self.nsec / 1000),
            ("UnixNano", []) => int(self.sec.wrapping_mul(NS).wrapping_add(self.nsec)),
            ("Year", []) => int(c.year as i64),
            ("YearDay", []) => int(c.yday.into()),
            ("Day", []) => int(c.day.into()),
            ("Hour", []) => int(c.hour.into()),
            ("Minute", []) => int(c.min.into()),
            ("Second", []) => int(c.sec.into()),
            ("Nanosecond", []) => int(self.nsec),
            ("IsZero", []) => Some(Value::Bool(self.sec == ZERO_UNIX && self.nsec == 0)),
            ("String", []) => Some(Value::str(&self.string())),
            ("UTC", []) => Some(time_value(self.in_loc(Rc::new(Loc::Utc)))),
            ("Local", []) => Some(time_value(self.in_loc(Rc::new(Loc::Local)))),
            ("Format", [Value::Str(l)]) => {
                Some(Value::str(&self.format(&String::from_utf8_lossy(l))))
            }
            _ => None,
        }
    }
}

/// Unix seconds of Go's zero `time.Time` (January 1, year 1, 00:00:00 UTC).
const ZERO_UNIX: i64 = -62_135_596_800;

pub(in crate::template) fn time_value(t: GoTime) -> Value {
    Value::Obj(Rc::new(Obj::Time(t)))
}

/// A proleptic Gregorian date and clock.
struct Civil {
    year: i128,
    month: u8,
    day: u8,
    yday: u16,
    weekday: usize,
    hour: u8,
    min: u8,
    sec: u8,
}

impl Civil {
    fn from_unix(local: i128) -> Civil {
        let days = local.div_euclid(86_400);
        let secs = local.rem_euclid(86_400);
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + i128::from(m <= 2);
        let yday = days - days_from_civil(y, 1, 1) + 1;
        Civil {
            year: y,
            month: m as u8,
            day: d as u8,
            yday: yday as u16,
            // 1970-01-01 was a Thursday.
            weekday: (days + 4).rem_euclid(7) as usize,
            hour: (secs / 3600) as u8,
            min: (secs / 60 % 60) as u8,
            sec: (secs % 60) as u8,
        }
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (`m` 1–12).
fn days_from_civil(y: i128, m: i128, d: i128) -> i128 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn is_leap(y: i128) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in(m: i128, y: i128) -> i128 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

fn month_name(m: u8) -> &'static str {
    MONTHS
        .get(usize::from(m).saturating_sub(1))
        .copied()
        .unwrap_or("%!Month")
}

fn day_name(d: usize) -> &'static str {
    DAYS.get(d).copied().unwrap_or("%!Weekday")
}

fn short(s: &str) -> &str {
    s.get(..3).unwrap_or(s)
}

// ── Go's layout chunks (time/format.go) ──

const STD_NEED_DATE: u32 = 1 << 8;
const STD_NEED_CLOCK: u32 = 2 << 8;
const STD_ARG_SHIFT: u32 = 16;
const STD_SEPARATOR_SHIFT: u32 = 28;
const STD_MASK: u32 = (1 << STD_ARG_SHIFT) - 1;

const STD_LONG_MONTH: u32 = 1 + STD_NEED_DATE;
const STD_MONTH: u32 = 2 + STD_NEED_DATE;
const STD_NUM_MONTH: u32 = 3 + STD_NEED_DATE;
const STD_ZERO_MONTH: u32 = 4 + STD_NEED_DATE;
const STD_LONG_WEEK_DAY: u32 = 5 + STD_NEED_DATE;
const STD_WEEK_DAY: u32 = 6 + STD_NEED_DATE;
const STD_DAY: u32 = 7 + STD_NEED_DATE;
const STD_UNDER_DAY: u32 = 8 + STD_NEED_DATE;
const STD_ZERO_DAY: u32 = 9 + STD_NEED_DATE;
const STD_UNDER_YEAR_DAY: u32 = 10 + STD_NEED_DATE;
const STD_ZERO_YEAR_DAY: u32 = 11 + STD_NEED_DATE;
const STD_HOUR: u32 = 12 + STD_NEED_CLOCK;
const STD_HOUR12: u32 = 13 + STD_NEED_CLOCK;
const STD_ZERO_HOUR12: u32 = 14 + STD_NEED_CLOCK;
const STD_MINUTE: u32 = 15 + STD_NEED_CLOCK;
const STD_ZERO_MINUTE: u32 = 16 + STD_NEED_CLOCK;
const STD_SECOND: u32 = 17 + STD_NEED_CLOCK;
const STD_ZERO_SECOND: u32 = 18 + STD_NEED_CLOCK;
const STD_LONG_YEAR: u32 = 19 + STD_NEED_DATE;
const STD_YEAR: u32 = 20 + STD_NEED_DATE;
const STD_PM: u32 = 21 + STD_NEED_CLOCK;
const STD_LOWER_PM: u32 = 22 + STD_NEED_CLOCK;
const STD_TZ: u32 = 23;
const STD_ISO8601_TZ: u32 = 24;
const STD_ISO8601_SECONDS_TZ: u32 = 25;
const STD_ISO8601_SHORT_TZ: u32 = 26;
const STD_ISO8601_COLON_TZ: u32 = 27;
const STD_ISO8601_COLON_SECONDS_TZ: u32 = 28;
const STD_NUM_TZ: u32 = 29;
const STD_NUM_SECONDS_TZ: u32 = 30;
const STD_NUM_SHORT_TZ: u32 = 31;
const STD_NUM_COLON_TZ: u32 = 32;
const STD_NUM_COLON_SECONDS_TZ: u32 = 33;
const STD_FRAC_SECOND0: u32 = 34;
const STD_FRAC_SECOND9: u32 = 35;

const STD0X: [u32; 6] = [
    STD_ZERO_MONTH,
    STD_ZERO_DAY,
    STD_ZERO_HOUR12,
    STD_ZERO_MINUTE,
    STD_ZERO_SECOND,
    STD_YEAR,
];

fn starts_with_lower(s: &str) -> bool {
    s.as_bytes().first().is_some_and(u8::is_ascii_lowercase)
}

fn is_digit(s: &[u8], i: usize) -> bool {
    s.get(i).is_some_and(u8::is_ascii_digit)
}

fn split3(l: &str, i: usize, n: usize) -> (&str, &str) {
    (l.get(..i).unwrap_or(""), l.get(i + n..).unwrap_or(""))
}

/// Go's `nextStdChunk`: (prefix, std code, suffix).
fn next_std_chunk(layout: &str) -> (&str, u32, &str) {
    let b = layout.as_bytes();
    let has = |i: usize, p: &str| layout.get(i..i + p.len()) == Some(p);
    let mut i = 0;
    while i < b.len() {
        let r = |n: usize, std: u32| {
            let (p, s) = split3(layout, i, n);
            (p, std, s)
        };
        match b.get(i).copied().unwrap_or(0) {
            b'J' if has(i, "Jan") => {
                if has(i, "January") {
                    return r(7, STD_LONG_MONTH);
                }
                if !starts_with_lower(layout.get(i + 3..).unwrap_or("")) {
                    return r(3, STD_MONTH);
                }
            }
            b'M' if b.len() >= i + 3 => {
                if has(i, "Mon") {
                    if has(i, "Monday") {
                        return r(6, STD_LONG_WEEK_DAY);
                    }
                    if !starts_with_lower(layout.get(i + 3..).unwrap_or("")) {
                        return r(3, STD_WEEK_DAY);
                    }
                }
                if has(i, "MST") {
                    return r(3, STD_TZ);
                }
            }
            b'0' => {
                if let Some(c @ b'1'..=b'6') = b.get(i + 1).copied() {
                    return r(2, STD0X.get(usize::from(c - b'1')).copied().unwrap_or(0));
                }
                if has(i, "002") {
                    return r(3, STD_ZERO_YEAR_DAY);
                }
            }
            b'1' => {
                if b.get(i + 1) == Some(&b'5') {
                    return r(2, STD_HOUR);
                }
                return r(1, STD_NUM_MONTH);
            }
            b'2' => {
                if has(i, "2006") {
                    return r(4, STD_LONG_YEAR);
                }
                return r(1, STD_DAY);
            }
            b'_' => {
                if b.get(i + 1) == Some(&b'2') {
                    if has(i + 1, "2006") {
                        let (p, s) = split3(layout, i + 1, 4);
                        return (p, STD_LONG_YEAR, s);
                    }
                    return r(2, STD_UNDER_DAY);
                }
                if has(i, "__2") {
                    return r(3, STD_UNDER_YEAR_DAY);
                }
            }
            b'3' => return r(1, STD_HOUR12),
            b'4' => return r(1, STD_MINUTE),
            b'5' => return r(1, STD_SECOND),
            b'P' if b.get(i + 1) == Some(&b'M') => return r(2, STD_PM),
            b'p' if b.get(i + 1) == Some(&b'm') => return r(2, STD_LOWER_PM),
            b'-' => {
                for (p, std) in [
                    ("-070000", STD_NUM_SECONDS_TZ),
                    ("-07:00:00", STD_NUM_COLON_SECONDS_TZ),
                    ("-0700", STD_NUM_TZ),
                    ("-07:00", STD_NUM_COLON_TZ),
                    ("-07", STD_NUM_SHORT_TZ),
                ] {
                    if has(i, p) {
                        return r(p.len(), std);
                    }
                }
            }
            b'Z' => {
                for (p, std) in [
                    ("Z070000", STD_ISO8601_SECONDS_TZ),
                    ("Z07:00:00", STD_ISO8601_COLON_SECONDS_TZ),
                    ("Z0700", STD_ISO8601_TZ),
                    ("Z07:00", STD_ISO8601_COLON_TZ),
                    ("Z07", STD_ISO8601_SHORT_TZ),
                ] {
                    if has(i, p) {
                        return r(p.len(), std);
                    }
                }
            }
            c @ (b'.' | b',') => {
                if let Some(ch @ (b'0' | b'9')) = b.get(i + 1).copied() {
                    let mut j = i + 1;
                    while b.get(j) == Some(&ch) {
                        j += 1;
                    }
                    if !is_digit(b, j) {
                        let code = if ch == b'9' {
                            STD_FRAC_SECOND9
                        } else {
                            STD_FRAC_SECOND0
                        };
                        let n = ((j - (i + 1)) as u32) & 0xfff;
                        let mut std = code | (n << STD_ARG_SHIFT);
                        if c == b',' {
                            std |= 1 << STD_SEPARATOR_SHIFT;
                        }
                        let (p, s) = (layout.get(..i).unwrap_or(""), layout.get(j..).unwrap_or(""));
                        return (p, std, s);
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    (layout, 0, "")
}

fn append_int(b: &mut String, x: i64, width: usize) {
    if x < 0 {
        b.push('-');
    }
    let digits = x.unsigned_abs().to_string();
    for _ in digits.len()..width {
        b.push('0');
    }
    b.push_str(&digits);
}

fn digits_len(std: u32) -> usize {
    ((std >> STD_ARG_SHIFT) & 0xfff) as usize
}

fn format_nano(b: &mut String, nsec: i64, std: u32) {
    let mut n = digits_len(std).min(9);
    let sep = if std >> STD_SEPARATOR_SHIFT == 0 {
        '.'
    } else {
        ','
    };
    let buf = format!("{nsec:09}");
    let buf = buf.as_bytes();
    if std & STD_MASK == STD_FRAC_SECOND9 {
        while n > 0 && buf.get(n - 1) == Some(&b'0') {
            n -= 1;
        }
        if n == 0 {
            return;
        }
    }
    b.push(sep);
    b.push_str(std::str::from_utf8(buf.get(..n).unwrap_or_default()).unwrap_or(""));
}

// ── parsing (time.ParseInLocation) ──

/// Go's `time.quote` (used in parse and duration errors).
fn quote(s: &str) -> String {
    quote_bytes(s.as_bytes())
}

/// [`quote`] of bytes: Go cuts values by bytes, so an error can show half a character. Every
/// byte of a non-ASCII character (or of an invalid sequence) and every control byte is `\xNN`.
fn quote_bytes(s: &[u8]) -> String {
    let mut out = String::from("\"");
    for &b in s {
        if !(b' '..0x80).contains(&b) {
            out.push_str(&format!("\\x{b:02x}"));
        } else {
            if b == b'"' || b == b'\\' {
                out.push('\\');
            }
            out.push(char::from(b));
        }
    }
    out.push('"');
    out
}

fn lookup_name(tab: &[&str], val: &[u8]) -> Option<(usize, usize)> {
    tab.iter().enumerate().find_map(|(i, v)| {
        val.get(..v.len())
            .filter(|p| p.eq_ignore_ascii_case(v.as_bytes()))
            .map(|_| (i, v.len()))
    })
}

fn getnum(s: &[u8], fixed: bool) -> Option<(i64, usize)> {
    if !is_digit(s, 0) {
        return None;
    }
    let d0 = i64::from(s.first().copied().unwrap_or(b'0') - b'0');
    if !is_digit(s, 1) {
        if fixed {
            return None;
        }
        return Some((d0, 1));
    }
    Some((
        d0 * 10 + i64::from(s.get(1).copied().unwrap_or(b'0') - b'0'),
        2,
    ))
}

fn getnum3(s: &[u8], fixed: bool) -> Option<(i64, usize)> {
    let mut n = 0i64;
    let mut i = 0;
    while i < 3 && is_digit(s, i) {
        n = n * 10 + i64::from(s.get(i).copied().unwrap_or(b'0') - b'0');
        i += 1;
    }
    if i == 0 || (fixed && i != 3) {
        return None;
    }
    Some((n, i))
}

/// Go's `leadingInt`: (value, bytes consumed), `None` on overflow.
fn leading_int(s: &[u8]) -> Option<(u64, usize)> {
    let mut x: u64 = 0;
    let mut i = 0;
    while let Some(c @ b'0'..=b'9') = s.get(i).copied() {
        if x > (1 << 63) / 10 {
            return None;
        }
        x = x * 10 + u64::from(c - b'0');
        if x > 1 << 63 {
            return None;
        }
        i += 1;
    }
    Some((x, i))
}

/// Go's `time.atoi`.
fn atoi(s: &[u8]) -> Option<i64> {
    let (neg, s) = match s.first() {
        Some(b'-') => (true, s.get(1..).unwrap_or_default()),
        Some(b'+') => (false, s.get(1..).unwrap_or_default()),
        _ => (false, s),
    };
    let (q, n) = leading_int(s)?;
    if n != s.len() {
        return None;
    }
    let x = q as i64;
    Some(if neg { x.wrapping_neg() } else { x })
}

/// Go's `time.skip`, byte by byte (a layout and a value that differ inside a character fail there).
fn skip<'v>(mut value: &'v [u8], prefix: &str) -> Result<&'v [u8], &'v [u8]> {
    let mut prefix = prefix.as_bytes();
    let cutspace = |s: &[u8]| -> usize { s.iter().take_while(|&&c| c == b' ').count() };
    while let Some(&p0) = prefix.first() {
        if p0 == b' ' {
            if value.first().is_some_and(|&c| c != b' ') {
                return Err(value);
            }
            prefix = prefix.get(cutspace(prefix)..).unwrap_or_default();
            value = value.get(cutspace(value)..).unwrap_or_default();
            continue;
        }
        if value.first() != Some(&p0) {
            return Err(value);
        }
        prefix = prefix.get(1..).unwrap_or_default();
        value = value.get(1..).unwrap_or_default();
    }
    Ok(value)
}

fn parse_nanoseconds(value: &[u8], nbytes: usize) -> Result<i64, Option<&'static str>> {
    if !matches!(value.first(), Some(b'.' | b',')) {
        return Err(None);
    }
    let nbytes = nbytes.min(10);
    let mut ns = atoi(value.get(1..nbytes).unwrap_or_default()).ok_or(None)?;
    if ns < 0 {
        return Err(Some("fractional second"));
    }
    for _ in 0..10 - nbytes {
        ns *= 10;
    }
    Ok(ns)
}

fn parse_time_zone(value: &[u8]) -> Option<usize> {
    let b = value;
    if b.len() < 3 {
        return None;
    }
    if value.starts_with(b"ChST") || value.starts_with(b"MeST") {
        return Some(4);
    }
    if value.starts_with(b"GMT") {
        let rest = value.get(3..).unwrap_or_default();
        if rest.is_empty() {
            return Some(3);
        }
        return Some(3 + parse_signed_offset(rest));
    }
    if matches!(b.first(), Some(b'+' | b'-')) {
        let n = parse_signed_offset(value);
        return (n > 0).then_some(n);
    }
    let n_upper = b
        .iter()
        .take(6)
        .take_while(|c| c.is_ascii_uppercase())
        .count();
    match n_upper {
        5 if b.get(4) == Some(&b'T') => Some(5),
        4 if b.get(3) == Some(&b'T') || value.starts_with(b"WITA") => Some(4),
        3 => Some(3),
        _ => None,
    }
}

fn parse_signed_offset(value: &[u8]) -> usize {
    let b = value;
    if !matches!(b.first(), Some(b'+' | b'-')) {
        return 0;
    }
    match leading_int(b.get(1..).unwrap_or_default()) {
        Some((x, n)) if n > 0 && x <= 23 => 1 + n,
        _ => 0,
    }
}

struct ParseError {
    layout: String,
    value: String,
    layout_elem: String,
    value_elem: Vec<u8>,
    message: String,
}

impl ParseError {
    fn text(&self) -> String {
        if self.message.is_empty() {
            format!(
                "parsing time {} as {}: cannot parse {} as {}",
                quote(&self.value),
                quote(&self.layout),
                quote_bytes(&self.value_elem),
                quote(&self.layout_elem)
            )
        } else {
            format!("parsing time {}{}", quote(&self.value), self.message)
        }
    }
}

/// `time.ParseInLocation(layout, value, loc)` with `loc` = `Local` (sprig's `toDate`).
pub(in crate::template) fn parse_local(layout: &str, value: &str) -> Result<GoTime, String> {
    parse(layout, value).map_err(|e| e.text())
}

fn parse(alayout: &str, avalue: &str) -> Result<GoTime, ParseError> {
    let perr = |le: &str, ve: &[u8], m: &str| ParseError {
        layout: alayout.to_owned(),
        value: avalue.to_owned(),
        layout_elem: le.to_owned(),
        value_elem: ve.to_vec(),
        message: m.to_owned(),
    };
    let (mut layout, mut value) = (alayout, avalue.as_bytes());
    let (mut am, mut pm) = (false, false);
    let (mut year, mut month, mut day, mut yday) = (0i64, -1i64, -1i64, -1i64);
    let (mut hour, mut min, mut sec, mut nsec) = (0i64, 0i64, 0i64, 0i64);
    let mut utc = false;
    let mut zone_offset: Option<i64> = None;
    let mut zone_name = String::new();
    loop {
        let (prefix, std, suffix) = next_std_chunk(layout);
        let stdstr = layout
            .get(prefix.len()..layout.len() - suffix.len())
            .unwrap_or("");
        value = skip(value, prefix).map_err(|v| perr(prefix, v, ""))?;
        if std == 0 {
            if !value.is_empty() {
                return Err(perr(
                    "",
                    value,
                    &format!(": extra text: {}", quote_bytes(value)),
                ));
            }
            break;
        }
        layout = suffix;
        let vb = value;
        let mut range_err: Option<&str> = None;
        let mut ok = true;
        let mut adv = 0usize;
        match std & STD_MASK {
            STD_YEAR => {
                if vb.len() < 2 {
                    ok = false;
                } else {
                    match atoi(value.get(..2).unwrap_or_default()) {
                        Some(y) => {
                            adv = 2;
                            year = if y >= 69 { y + 1900 } else { y + 2000 };
                        }
                        None => ok = false,
                    }
                }
            }
            STD_LONG_YEAR => {
                if vb.len() < 4 || !is_digit(vb, 0) {
                    ok = false;
                } else {
                    adv = 4;
                    match value.get(..4).and_then(atoi) {
                        Some(y) => year = y,
                        None => ok = false,
                    }
                }
            }
            STD_MONTH | STD_LONG_MONTH => {
                let tab: Vec<&str> = if std == STD_MONTH {
                    MONTHS.iter().map(|m| short(m)).collect()
                } else {
                    MONTHS.to_vec()
                };
                match lookup_name(&tab, value) {
                    Some((i, n)) => {
                        month = i as i64 + 1;
                        adv = n;
                    }
                    None => ok = false,
                }
            }
            STD_NUM_MONTH | STD_ZERO_MONTH => match getnum(vb, std == STD_ZERO_MONTH) {
                Some((m, n)) => {
                    month = m;
                    adv = n;
                    if !(1..=12).contains(&m) {
                        range_err = Some("month");
                    }
                }
                None => ok = false,
            },
            STD_WEEK_DAY | STD_LONG_WEEK_DAY => {
                let tab: Vec<&str> = if std == STD_WEEK_DAY {
                    DAYS.iter().map(|d| short(d)).collect()
                } else {
                    DAYS.to_vec()
                };
                match lookup_name(&tab, value) {
                    Some((_, n)) => adv = n,
                    None => ok = false,
                }
            }
            STD_DAY | STD_UNDER_DAY | STD_ZERO_DAY => {
                let mut off = 0;
                if std == STD_UNDER_DAY && vb.first() == Some(&b' ') {
                    off = 1;
                }
                match getnum(vb.get(off..).unwrap_or_default(), std == STD_ZERO_DAY) {
                    Some((d, n)) => {
                        day = d;
                        adv = off + n;
                    }
                    None => {
                        ok = false;
                        adv = off;
                    }
                }
            }
            STD_UNDER_YEAR_DAY | STD_ZERO_YEAR_DAY => {
                let mut off = 0;
                for _ in 0..2 {
                    if std == STD_UNDER_YEAR_DAY && vb.get(off) == Some(&b' ') {
                        off += 1;
                    }
                }
                match getnum3(vb.get(off..).unwrap_or_default(), std == STD_ZERO_YEAR_DAY) {
                    Some((d, n)) => {
                        yday = d;
                        adv = off + n;
                    }
                    None => {
                        ok = false;
                        adv = off;
                    }
                }
            }
            STD_HOUR => match getnum(vb, false) {
                Some((h, n)) => {
                    hour = h;
                    adv = n;
                    if !(0..24).contains(&h) {
                        range_err = Some("hour");
                    }
                }
                None => ok = false,
            },
            STD_HOUR12 | STD_ZERO_HOUR12 => match getnum(vb, std == STD_ZERO_HOUR12) {
                Some((h, n)) => {
                    hour = h;
                    adv = n;
                    if !(0..=12).contains(&h) {
                        range_err = Some("hour");
                    }
                }
                None => ok = false,
            },
            STD_MINUTE | STD_ZERO_MINUTE => match getnum(vb, std == STD_ZERO_MINUTE) {
                Some((m, n)) => {
                    min = m;
                    adv = n;
                    if !(0..60).contains(&m) {
                        range_err = Some("minute");
                    }
                }
                None => ok = false,
            },
            STD_SECOND | STD_ZERO_SECOND => match getnum(vb, std == STD_ZERO_SECOND) {
                Some((s, n)) => {
                    sec = s;
                    adv = n;
                    if !(0..60).contains(&s) {
                        range_err = Some("second");
                    } else {
                        let rest = vb.get(n..).unwrap_or_default();
                        if rest.len() >= 2
                            && matches!(rest.first(), Some(b'.' | b','))
                            && is_digit(rest, 1)
                        {
                            let (_, nstd, _) = next_std_chunk(layout);
                            let nstd = nstd & STD_MASK;
                            if nstd != STD_FRAC_SECOND0 && nstd != STD_FRAC_SECOND9 {
                                let mut k = 2;
                                while is_digit(rest, k) {
                                    k += 1;
                                }
                                match parse_nanoseconds(rest, k) {
                                    Ok(ns) => nsec = ns,
                                    Err(Some(r)) => range_err = Some(r),
                                    Err(None) => ok = false,
                                }
                                adv = n + k;
                            }
                        }
                    }
                }
                None => ok = false,
            },
            STD_PM | STD_LOWER_PM => {
                if vb.len() < 2 {
                    ok = false;
                } else {
                    adv = 2;
                    let (p, a) = if std == STD_PM {
                        (&b"PM"[..], &b"AM"[..])
                    } else {
                        (&b"pm"[..], &b"am"[..])
                    };
                    match vb.get(..2) {
                        Some(x) if x == p => pm = true,
                        Some(x) if x == a => am = true,
                        _ => ok = false,
                    }
                }
            }
            STD_ISO8601_TZ..=STD_NUM_COLON_SECONDS_TZ => {
                if matches!(
                    std,
                    STD_ISO8601_TZ | STD_ISO8601_SHORT_TZ | STD_ISO8601_COLON_TZ
                ) && vb.first() == Some(&b'Z')
                {
                    adv = 1;
                    utc = true;
                } else {
                    let g = |a: usize, b: usize| value.get(a..b).unwrap_or_default();
                    let parts = match std {
                        STD_ISO8601_COLON_TZ | STD_NUM_COLON_TZ => (vb.len() >= 6
                            && vb.get(3) == Some(&b':'))
                        .then(|| (g(0, 1), g(1, 3), g(4, 6), &b"00"[..], 6)),
                        STD_NUM_SHORT_TZ | STD_ISO8601_SHORT_TZ => {
                            (vb.len() >= 3).then(|| (g(0, 1), g(1, 3), &b"00"[..], &b"00"[..], 3))
                        }
                        STD_ISO8601_COLON_SECONDS_TZ | STD_NUM_COLON_SECONDS_TZ => {
                            (vb.len() >= 9 && vb.get(3) == Some(&b':') && vb.get(6) == Some(&b':'))
                                .then(|| (g(0, 1), g(1, 3), g(4, 6), g(7, 9), 9))
                        }
                        STD_ISO8601_SECONDS_TZ | STD_NUM_SECONDS_TZ => {
                            (vb.len() >= 7).then(|| (g(0, 1), g(1, 3), g(3, 5), g(5, 7), 7))
                        }
                        _ => (vb.len() >= 5).then(|| (g(0, 1), g(1, 3), g(3, 5), &b"00"[..], 5)),
                    };
                    match parts {
                        None => ok = false,
                        Some((sign, h, m, s, n)) => {
                            adv = n;
                            match (atoi(h), atoi(m), atoi(s)) {
                                (Some(h), Some(m), Some(s)) => {
                                    let off = (h * 60 + m) * 60 + s;
                                    match sign {
                                        b"+" => zone_offset = Some(off),
                                        b"-" => zone_offset = Some(-off),
                                        _ => ok = false,
                                    }
                                }
                                _ => ok = false,
                            }
                        }
                    }
                }
            }
            STD_TZ => {
                if value.starts_with(b"UTC") {
                    utc = true;
                    adv = 3;
                } else {
                    match parse_time_zone(value) {
                        Some(n) => {
                            // ASCII: capitals, or GMT followed by a sign and digits.
                            zone_name = String::from_utf8_lossy(value.get(..n).unwrap_or_default())
                                .into_owned();
                            adv = n;
                        }
                        None => ok = false,
                    }
                }
            }
            STD_FRAC_SECOND0 => {
                let nd = 1 + digits_len(std);
                if vb.len() < nd {
                    ok = false;
                } else {
                    match parse_nanoseconds(vb, nd) {
                        Ok(ns) => nsec = ns,
                        Err(Some(r)) => range_err = Some(r),
                        Err(None) => ok = false,
                    }
                    adv = nd;
                }
            }
            // Fractional second omitted: nothing to do.
            STD_FRAC_SECOND9
                if vb.len() >= 2 && matches!(vb.first(), Some(b'.' | b',')) && is_digit(vb, 1) =>
            {
                let mut i = 0;
                while i < 9 && is_digit(vb, i + 1) {
                    i += 1;
                }
                match parse_nanoseconds(vb, 1 + i) {
                    Ok(ns) => nsec = ns,
                    Err(Some(r)) => range_err = Some(r),
                    Err(None) => ok = false,
                }
                adv = 1 + i;
            }
            _ => {}
        }
        // Go leaves `value` unchanged on most failures; the error shows what was left.
        let rest = if ok {
            value.get(adv..).unwrap_or_default()
        } else {
            value
        };
        if let Some(r) = range_err {
            return Err(perr(stdstr, rest, &format!(": {r} out of range")));
        }
        if !ok {
            return Err(perr(stdstr, rest, ""));
        }
        value = rest;
    }
    if pm && hour < 12 {
        hour += 12;
    } else if am && hour == 12 {
        hour = 0;
    }
    let (year, hour, min, sec) = (i128::from(year), hour, min, sec);
    if yday >= 0 {
        let mut yd = yday;
        let mut d = 0;
        let mut m = 0;
        if is_leap(year) {
            if yd == 31 + 29 {
                m = 2;
                d = 29;
            } else if yd > 31 + 29 {
                yd -= 1;
            }
        }
        if !(1..=365).contains(&yd) {
            return Err(perr("", value, ": day-of-year out of range"));
        }
        if m == 0 {
            const BEFORE: [i64; 13] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365];
            m = (yd - 1) / 31 + 1;
            if BEFORE.get(m as usize).copied().unwrap_or(365) < yd {
                m += 1;
            }
            d = yd - BEFORE.get(m as usize - 1).copied().unwrap_or(0);
        }
        if month >= 0 && month != m {
            return Err(perr("", value, ": day-of-year does not match month"));
        }
        month = m;
        if day >= 0 && day != d {
            return Err(perr("", value, ": day-of-year does not match day"));
        }
        day = d;
    } else {
        if month < 0 {
            month = 1;
        }
        if day < 0 {
            day = 1;
        }
    }
    if day < 1 || i128::from(day) > days_in(month.into(), year) {
        return Err(perr("", value, ": day out of range"));
    }
    let local = days_from_civil(year, month.into(), day.into()) * 86_400
        + i128::from(hour * 3600 + min * 60 + sec);
    let local = i64::try_from(local).unwrap_or(0);
    let mk = |s: i64, loc: Loc| GoTime {
        sec: s,
        nsec,
        loc: Rc::new(loc),
        mono: None,
    };
    if utc {
        return Ok(mk(local, Loc::Utc));
    }
    if let Some(off) = zone_offset {
        let t = local - off;
        // Local (UTC) has offset 0, abbreviation "UTC".
        if off == 0 && (zone_name.is_empty() || zone_name == "UTC") {
            return Ok(mk(t, Loc::Local));
        }
        return Ok(mk(t, Loc::Fixed(zone_name, off as i32)));
    }
    if !zone_name.is_empty() {
        // Local knows only "UTC", handled above; anything else is a fabricated zone.
        let mut offset = 0;
        if zone_name.len() > 3 && zone_name.starts_with("GMT") {
            offset = atoi(zone_name.as_bytes().get(3..).unwrap_or_default()).unwrap_or(0) * 3600;
        }
        return Ok(mk(local, Loc::Fixed(zone_name, offset as i32)));
    }
    Ok(mk(local, Loc::Local))
}

// ── durations ──

/// `time.ParseDuration`.
pub(in crate::template) fn parse_duration(orig: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration {}", quote(orig));
    let mut s = orig.as_bytes();
    let mut neg = false;
    if let Some(&c @ (b'-' | b'+')) = s.first() {
        neg = c == b'-';
        s = s.get(1..).unwrap_or_default();
    }
    if s == b"0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut d: u64 = 0;
    while !s.is_empty() {
        if !matches!(s.first(), Some(b'.' | b'0'..=b'9')) {
            return Err(invalid());
        }
        let (mut v, n) = leading_int(s).ok_or_else(invalid)?;
        s = s.get(n..).unwrap_or_default();
        let pre = n > 0;
        let (mut f, mut scale, mut post) = (0u64, 1f64, false);
        if s.first() == Some(&b'.') {
            s = s.get(1..).unwrap_or_default();
            let mut i = 0;
            let mut overflow = false;
            while let Some(c @ b'0'..=b'9') = s.get(i).copied() {
                i += 1;
                if overflow {
                    continue;
                }
                if f > ((1u64 << 63) - 1) / 10 {
                    overflow = true;
                    continue;
                }
                let y = f * 10 + u64::from(c - b'0');
                if y > 1 << 63 {
                    overflow = true;
                    continue;
                }
                f = y;
                scale *= 10.0;
            }
            post = i > 0;
            s = s.get(i..).unwrap_or_default();
        }
        if !pre && !post {
            return Err(invalid());
        }
        let i = s
            .iter()
            .position(|&c| c == b'.' || c.is_ascii_digit())
            .unwrap_or(s.len());
        if i == 0 {
            return Err(format!("time: missing unit in duration {}", quote(orig)));
        }
        let u = s.get(..i).unwrap_or_default();
        s = s.get(i..).unwrap_or_default();
        let unit: u64 = match u {
            b"ns" => 1,
            b"us" | [0xc2, 0xb5, b's'] | [0xce, 0xbc, b's'] => 1_000,
            b"ms" => 1_000_000,
            b"s" => 1_000_000_000,
            b"m" => 60_000_000_000,
            b"h" => 3_600_000_000_000,
            _ => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    quote_bytes(u),
                    quote(orig)
                ));
            }
        };
        if v > (1 << 63) / unit {
            return Err(invalid());
        }
        v *= unit;
        if f > 0 {
            v += (f as f64 * (unit as f64 / scale)) as u64;
            if v > 1 << 63 {
                return Err(invalid());
            }
        }
        d += v;
        if d > 1 << 63 {
            return Err(invalid());
        }
    }
    if neg {
        return Ok((d as i64).wrapping_neg());
    }
    if d > (1 << 63) - 1 {
        return Err(invalid());
    }
    Ok(d as i64)
}

fn fmt_frac(buf: &mut Vec<u8>, mut v: u64, prec: usize) -> u64 {
    let mut print = false;
    for _ in 0..prec {
        let digit = v % 10;
        print = print || digit != 0;
        if print {
            buf.push(digit as u8 + b'0');
        }
        v /= 10;
    }
    if print {
        buf.push(b'.');
    }
    v
}

fn fmt_int(buf: &mut Vec<u8>, mut v: u64) {
    if v == 0 {
        buf.push(b'0');
    }
    while v > 0 {
        buf.push((v % 10) as u8 + b'0');
        v /= 10;
    }
}

/// `time.Duration.String`.
pub(in crate::template) fn duration_string(d: i64) -> String {
    // Built back to front, as Go does.
    let mut buf: Vec<u8> = Vec::new();
    let neg = d < 0;
    let mut u = d.unsigned_abs();
    if u < 1_000_000_000 {
        buf.push(b's');
        let prec = match u {
            0 => return "0s".into(),
            1..=999 => {
                buf.push(b'n');
                0
            }
            1_000..=999_999 => {
                // "µ" reversed
                buf.extend_from_slice(&[0xb5, 0xc2]);
                3
            }
            _ => {
                buf.push(b'm');
                6
            }
        };
        u = fmt_frac(&mut buf, u, prec);
        fmt_int(&mut buf, u);
    } else {
        buf.push(b's');
        u = fmt_frac(&mut buf, u, 9);
        fmt_int(&mut buf, u % 60);
        u /= 60;
        if u > 0 {
            buf.push(b'm');
            fmt_int(&mut buf, u % 60);
            u /= 60;
            if u > 0 {
                buf.push(b'h');
                fmt_int(&mut buf, u);
            }
        }
    }
    if neg {
        buf.push(b'-');
    }
    buf.reverse();
    String::from_utf8_lossy(&buf).into_owned()
}

/// `time.Duration.Round(m)`.
fn duration_round(d: i64, m: i64) -> i64 {
    if m <= 0 {
        return d;
    }
    let less_than_half = |x: i64| (x as u64).wrapping_add(x as u64) < m as u64;
    let mut r = d % m;
    if d < 0 {
        r = -r;
        if less_than_half(r) {
            return d + r;
        }
        match (d - m).checked_add(r) {
            Some(d1) if d1 < d => d1,
            _ => i64::MIN,
        }
    } else {
        if less_than_half(r) {
            return d - r;
        }
        match d.checked_add(m - r) {
            Some(d1) if d1 > d => d1,
            _ => i64::MAX,
        }
    }
}

/// sprig `durationRound`'s coarse rendering of a duration.
fn coarse(d: i64) -> String {
    let u = d.unsigned_abs();
    const H: u64 = 3_600_000_000_000;
    for (unit, suffix) in [
        (H * 24 * 365, "y"),
        (H * 24 * 30, "mo"),
        (H * 24, "d"),
        (H, "h"),
        (60_000_000_000, "m"),
        (1_000_000_000, "s"),
    ] {
        if u > unit {
            return format!("{}{suffix}", u / unit);
        }
    }
    "0s".into()
}

/// `time.LoadLocation(name)`: `None` where Go fails (sprig then uses UTC).
fn load_location(ex: &Exec<'_>, name: &str) -> Option<Rc<Loc>> {
    match name {
        "" | "UTC" => return Some(Rc::new(Loc::Utc)),
        "Local" => return Some(Rc::new(Loc::Local)),
        _ => {}
    }
    // Go's containsDotDot, and no absolute paths.
    if name.split('/').any(|p| p == "..")
        || name.starts_with('/')
        || name.starts_with('\\')
        || name.contains('\0')
    {
        return None;
    }
    let data = (ex.env.zoneinfo)(name)?;
    let tz = jiff::tz::TimeZone::tzif(name, &data).ok()?;
    Some(Rc::new(Loc::Tz(tz)))
}

impl Exec<'_> {
    fn now(&self) -> GoTime {
        GoTime {
            sec: self.env.now_unix.0,
            nsec: i64::from(self.env.now_unix.1),
            loc: Rc::new(Loc::Local),
            mono: Some(self.env.now_mono),
        }
    }

    /// A `time.Time` parameter.
    fn time_arg(&self, v: &Value) -> XR<GoTime> {
        match v {
            Value::Obj(o) => match &**o {
                Obj::Time(t) => Ok(t.clone()),
                other => self.err(format!(
                    "wrong type for value; expected time.Time; got {}",
                    other.type_name()
                )),
            },
            Value::Nil => self.err("invalid value; expected time.Time"),
            o => self.err(format!(
                "wrong type for value; expected time.Time; got {}",
                o.type_name()
            )),
        }
    }

    /// sprig's `interface{}` date argument: a time, or Unix seconds; anything else is now.
    fn date_arg(&self, v: &Value) -> GoTime {
        match v {
            Value::Obj(o) => match &**o {
                Obj::Time(t) => t.clone(),
                _ => self.now(),
            },
            Value::Int(i) => GoTime::unix(*i, Rc::new(Loc::Local)),
            _ => self.now(),
        }
    }

    fn date_in_zone(&self, layout: &Value, date: &Value, zone: &Value) -> XR<Value> {
        let layout = self.text(layout)?;
        let zone = self.text(zone)?;
        let t = self.date_arg(date);
        let loc = load_location(self, &zone).unwrap_or_else(|| Rc::new(Loc::Utc));
        Ok(Value::str(&t.in_loc(loc).format(&layout)))
    }
}

pub(super) fn apply(ex: &mut Exec<'_>, f: &'static str, args: Vec<Value>) -> XR<Answer> {
    let v = match f {
        "now" => {
            ex.fixed::<0>(f, args)?;
            time_value(ex.now())
        }
        "date" => {
            let [l, d] = ex.fixed::<2>(f, args)?;
            ex.date_in_zone(&l, &d, &Value::str("Local"))?
        }
        "htmlDate" => {
            let [d] = ex.fixed::<1>(f, args)?;
            ex.date_in_zone(&Value::str("2006-01-02"), &d, &Value::str("Local"))?
        }
        "htmlDateInZone" => {
            let [d, z] = ex.fixed::<2>(f, args)?;
            ex.date_in_zone(&Value::str("2006-01-02"), &d, &z)?
        }
        "dateInZone" | "date_in_zone" => {
            let [l, d, z] = ex.fixed::<3>(f, args)?;
            ex.date_in_zone(&l, &d, &z)?
        }
        "dateModify" | "date_modify" | "mustDateModify" | "must_date_modify" => {
            let [m, t] = ex.fixed::<2>(f, args)?;
            let m = ex.text(&m)?;
            let t = ex.time_arg(&t)?;
            match parse_duration(&m) {
                Ok(d) => time_value(t.add(d)),
                Err(e) if f.starts_with("must") => return ex.call_err(f, e),
                Err(_) => time_value(t),
            }
        }
        "ago" => {
            let [d] = ex.fixed::<1>(f, args)?;
            let t = ex.date_arg(&d);
            let since = ex.now().sub(&t);
            Value::str(&duration_string(duration_round(since, 1_000_000_000)))
        }
        "duration" => {
            let [v] = ex.fixed::<1>(f, args)?;
            let n: i64 = match &v {
                Value::Str(s) => std::str::from_utf8(s)
                    .ok()
                    .and_then(|s| s.parse::<i64>().ok())
                    .unwrap_or(0),
                Value::Int(i) => *i,
                _ => 0,
            };
            Value::str(&duration_string(n.wrapping_mul(1_000_000_000)))
        }
        "durationRound" => {
            let [v] = ex.fixed::<1>(f, args)?;
            let d = match &v {
                Value::Str(s) => parse_duration(&String::from_utf8_lossy(s)).unwrap_or(0),
                Value::Int(i) => *i,
                Value::Obj(o) => match &**o {
                    Obj::Time(t) => ex.now().sub(t),
                    _ => 0,
                },
                _ => 0,
            };
            Value::str(&coarse(d))
        }
        "toDate" | "mustToDate" => {
            let [l, s] = ex.fixed::<2>(f, args)?;
            let (l, s) = (ex.text(&l)?, ex.text(&s)?);
            match parse_local(&l, &s) {
                Ok(t) => time_value(t),
                Err(e) if f == "mustToDate" => return ex.call_err(f, e),
                Err(_) => time_value(GoTime::unix(ZERO_UNIX, Rc::new(Loc::Utc))),
            }
        }
        "unixEpoch" => {
            let [t] = ex.fixed::<1>(f, args)?;
            let t = ex.time_arg(&t)?;
            Value::str(&t.sec.to_string())
        }
        _ => return Ok(Err(args)),
    };
    Ok(Ok(v))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn durations_print_like_go() {
        for (d, s) in [
            (0, "0s"),
            (1, "1ns"),
            (1_500, "1.5µs"),
            (2_000_000, "2ms"),
            (1_000_000_000, "1s"),
            (95_000_000_000, "1m35s"),
            (3_600_000_000_000, "1h0m0s"),
            (-5_400_000_000_000, "-1h30m0s"),
            (i64::MIN, "-2562047h47m16.854775808s"),
        ] {
            assert_eq!(duration_string(d), s);
        }
        assert_eq!(parse_duration("1h30m").unwrap(), 5_400_000_000_000);
        assert_eq!(parse_duration("-1.5h").unwrap(), -5_400_000_000_000);
        assert!(parse_duration("bogus").is_err());
        assert!(parse_duration("1").is_err());
    }

    #[test]
    fn layouts_format_and_parse_like_go() {
        let t = parse_local("2006-01-02T15:04:05Z07:00", "2021-03-04T05:06:07+02:00").unwrap();
        assert_eq!(t.string(), "2021-03-04 05:06:07 +0200 +0200");
        assert_eq!(
            t.format("Mon Jan _2 3:04PM 2006 002"),
            "Thu Mar  4 5:06AM 2021 063"
        );
        let e = parse_local("2006-01-02", "2021-02-30").err().unwrap();
        assert_eq!(e, "parsing time \"2021-02-30\": day out of range");
    }
}
