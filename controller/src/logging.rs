//! Log lines as upstream writes them: Go's log/slog with upstream's `MultiStreamHandler`
//! (`pkg/log/log.go`). One line per record, in one of two formats:
//!
//! - text (`--log-format` anything but `json`), slog's `TextHandler`:
//!   `time=2026-12-01T10:44:15.123Z level=INFO msg="New key written" secret=sealed-secrets-keyx2v9q`
//! - JSON (`--log-format json`), slog's `JSONHandler`:
//!   `{"time":"2026-12-01T10:44:15.123456789Z","level":"INFO","msg":"New key written","secret":"…"}`
//!
//! `time`, `level` and `msg` come first, then the fields of the enclosing spans (outermost first)
//! and of the event, as slog's attributes. Records at INFO and below go to the low stream
//! (stdout with `--log-info-stdout`, the default), WARN and ERROR to stderr. `--log-level` is
//! slog's level syntax (`DEBUG`, `INFO`, `WARN`, `ERROR`, case-insensitive, with an optional
//! `+N`/`-N` offset; anything else is INFO); a record is written when its level is at least that.
//! tracing's TRACE records (from dependencies) are never written: slog has nothing below DEBUG
//! that upstream logs.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::Mutex;
use std::time::SystemTime;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// slog's level numbers: DEBUG −4, INFO 0, WARN 4, ERROR 8.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SlogLevel(pub i32);

impl SlogLevel {
    pub const DEBUG: Self = Self(-4);
    pub const INFO: Self = Self(0);
    pub const WARN: Self = Self(4);
    pub const ERROR: Self = Self(8);

    /// slog's `Level.UnmarshalText`, as upstream calls it: a name (case-insensitive) and an
    /// optional signed offset (`INFO+2`, `debug-4`); upstream ignores the error of anything
    /// else and keeps INFO.
    pub fn parse(s: &str) -> Self {
        let (name, offset) = match s.find(['+', '-']) {
            Some(i) => match (s.get(..i), s.get(i..).and_then(|o| o.parse::<i32>().ok())) {
                (Some(name), Some(offset)) => (name, offset),
                _ => return Self::INFO,
            },
            None => (s, 0),
        };
        let base = match name.to_ascii_uppercase().as_str() {
            "DEBUG" => Self::DEBUG,
            "INFO" => Self::INFO,
            "WARN" => Self::WARN,
            "ERROR" => Self::ERROR,
            _ => return Self::INFO,
        };
        Self(base.0.saturating_add(offset))
    }

    /// The level of a tracing record (TRACE is below anything slog names: DEBUG−4).
    fn of(level: &Level) -> Self {
        match *level {
            Level::ERROR => Self::ERROR,
            Level::WARN => Self::WARN,
            Level::INFO => Self::INFO,
            Level::DEBUG => Self::DEBUG,
            _ => Self(-8),
        }
    }

    /// slog's `Level.String`: the name, with the offset from it when there is one.
    fn name(self) -> String {
        let (base, name) = if self < Self::INFO {
            (Self::DEBUG, "DEBUG")
        } else if self < Self::WARN {
            (Self::INFO, "INFO")
        } else if self < Self::ERROR {
            (Self::WARN, "WARN")
        } else {
            (Self::ERROR, "ERROR")
        };
        match self.0 - base.0 {
            0 => name.to_owned(),
            d => format!("{name}{d:+}"),
        }
    }
}

/// slog's two handlers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `TextHandler`: `key=value` pairs.
    Text,
    /// `JSONHandler`: one JSON object.
    Json,
}

/// Where finished lines go: `high` is true for WARN and ERROR.
pub trait Sink: Send + Sync + 'static {
    /// Write one whole line (ending in `\n`).
    fn write_line(&self, high: bool, line: &[u8]);
}

/// stdout for the low stream (INFO and below) when `info_stdout`, stderr otherwise.
#[derive(Debug)]
pub struct StdSink {
    /// `--log-info-stdout`.
    pub info_stdout: bool,
}

impl Sink for StdSink {
    fn write_line(&self, high: bool, line: &[u8]) {
        // A failed log write has nowhere to be reported; slog drops it too.
        if high || !self.info_stdout {
            let _ = std::io::stderr().lock().write_all(line);
        } else {
            let _ = std::io::stdout().lock().write_all(line);
        }
    }
}

/// Lines kept in memory (tests).
#[derive(Debug, Default)]
pub struct MemorySink {
    /// `(high, line)` in order.
    pub lines: Mutex<Vec<(bool, String)>>,
}

impl Sink for std::sync::Arc<MemorySink> {
    fn write_line(&self, high: bool, line: &[u8]) {
        if let Ok(mut l) = self.lines.lock() {
            l.push((high, String::from_utf8_lossy(line).into_owned()));
        }
    }
}

/// The tracing layer that writes slog's lines.
pub struct SlogLayer<S> {
    format: Format,
    level: SlogLevel,
    sink: S,
}

impl<S: Sink> SlogLayer<S> {
    /// A layer writing records at `level` or above in `format` to `sink`.
    pub fn new(format: Format, level: SlogLevel, sink: S) -> Self {
        Self {
            format,
            level,
            sink,
        }
    }

    fn wanted(&self, level: &Level) -> bool {
        *level != Level::TRACE && SlogLevel::of(level) >= self.level
    }
}

/// One attribute value, kept typed so JSON gets numbers and booleans.
#[derive(Clone, Debug, PartialEq)]
enum Value {
    Str(String),
    I64(i64),
    U64(u64),
    F64(f64),
    Bool(bool),
}

/// The fields of a span, stored in its extensions.
struct SpanFields(Vec<(&'static str, Value)>);

/// Collects a record's fields; `message` becomes `msg`.
#[derive(Default)]
struct Fields {
    message: Option<String>,
    attrs: Vec<(&'static str, Value)>,
}

impl Fields {
    fn push(&mut self, field: &Field, value: Value) {
        // The source location tracing-log adds to `log` records (rustls): slog writes no source
        // unless asked (`AddSource`), and upstream does not ask. `log.target` stays.
        if matches!(field.name(), "log.module_path" | "log.file" | "log.line") {
            return;
        }
        if field.name() == "message" {
            self.message = Some(match value {
                Value::Str(s) => s,
                other => plain(&other),
            });
        } else {
            self.attrs.push((field.name(), value));
        }
    }
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.push(field, Value::Str(format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field, Value::Str(value.to_owned()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, Value::I64(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field, Value::U64(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field, Value::F64(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, Value::Bool(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        // slog prints an error value as `err.Error()`.
        self.push(field, Value::Str(value.to_string()));
    }
}

impl<S, W> Layer<S> for SlogLayer<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: Sink,
{
    fn enabled(&self, metadata: &Metadata<'_>, _: Context<'_, S>) -> bool {
        // Spans carry attributes for the events inside them: keep them whatever their level.
        metadata.is_span() || self.wanted(metadata.level())
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanFields(fields.attrs));
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        values.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            let mut ext = span.extensions_mut();
            match ext.get_mut::<SpanFields>() {
                Some(existing) => existing.0.extend(fields.attrs),
                None => ext.insert(SpanFields(fields.attrs)),
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let level = event.metadata().level();
        if !self.wanted(level) {
            return;
        }
        let mut attrs = Vec::new();
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(f) = span.extensions().get::<SpanFields>() {
                    attrs.extend(f.0.iter().cloned());
                }
            }
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        attrs.extend(fields.attrs);
        let msg = fields.message.unwrap_or_default();
        let level = SlogLevel::of(level);
        let line = format_line(self.format, SystemTime::now(), level, &msg, &attrs);
        self.sink
            .write_line(level > SlogLevel::INFO, line.as_bytes());
    }
}

/// One record as slog's handler writes it, newline included.
fn format_line(
    format: Format,
    time: SystemTime,
    level: SlogLevel,
    msg: &str,
    attrs: &[(&'static str, Value)],
) -> String {
    let mut out = String::with_capacity(128);
    match format {
        Format::Json => {
            let _ = write!(
                out,
                "{{\"time\":\"{}\",\"level\":{},\"msg\":{}",
                common::go::format_rfc3339_nano(time),
                json_string(&level.name()),
                json_string(msg)
            );
            for (k, v) in attrs {
                let _ = write!(out, ",{}:{}", json_string(k), json_value(v));
            }
            out.push('}');
        }
        Format::Text => {
            let _ = write!(
                out,
                "time={} level={} msg={}",
                common::go::format_rfc3339_millis(time),
                text_string(&level.name()),
                text_string(msg)
            );
            for (k, v) in attrs {
                let value = match v {
                    Value::Str(s) => text_string(s),
                    other => plain(other),
                };
                let _ = write!(out, " {}={value}", text_string(k));
            }
        }
    }
    out.push('\n');
    out
}

/// A number or boolean as Go's `strconv` prints it (strings as they are).
fn plain(v: &Value) -> String {
    match v {
        Value::Str(s) => s.clone(),
        Value::I64(n) => n.to_string(),
        Value::U64(n) => n.to_string(),
        Value::F64(f) if f.is_nan() => "NaN".to_owned(),
        Value::F64(f) if f.is_infinite() => if *f > 0.0 { "+Inf" } else { "-Inf" }.to_owned(),
        Value::F64(f) => f.to_string(),
        Value::Bool(b) => b.to_string(),
    }
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

fn json_value(v: &Value) -> String {
    match v {
        Value::Str(s) => json_string(s),
        // slog writes a non-finite float as a string.
        Value::F64(f) if !f.is_finite() => json_string(&plain(v)),
        other => plain(other),
    }
}

/// slog's text handler: a string is written bare unless it is empty or holds a space, `=`, `"`,
/// a control character or a non-printing one; then it is quoted as Go's `strconv.Quote` does.
fn text_string(s: &str) -> String {
    let needs_quoting = s.is_empty()
        || s.chars().any(|c| {
            c == ' '
                || c == '='
                || c == '"'
                || c.is_control()
                || (!c.is_ascii() && c.is_whitespace())
        });
    if !needs_quoting {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_control() || (!c.is_ascii() && c.is_whitespace()) => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Install the layer as the global subscriber (also taking `log` records from dependencies).
pub fn init(format: Format, level: SlogLevel, info_stdout: bool) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let layer = SlogLayer::new(format, level, StdSink { info_stdout });
    // Fails only when a subscriber is already set, which `main` never does.
    let _ = tracing_subscriber::registry().with(layer).try_init();
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    /// Run `f` with a layer writing into memory; the lines written.
    fn capture(format: Format, level: &str, f: impl FnOnce()) -> Vec<(bool, String)> {
        let sink = Arc::new(MemorySink::default());
        let layer = SlogLayer::new(format, SlogLevel::parse(level), sink.clone());
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, f);
        sink.lines.lock().map(|l| l.clone()).unwrap_or_default()
    }

    #[test]
    fn levels_parse_as_slog_does() {
        assert_eq!(SlogLevel::parse("INFO"), SlogLevel::INFO);
        assert_eq!(SlogLevel::parse("debug"), SlogLevel::DEBUG);
        assert_eq!(SlogLevel::parse("Warn"), SlogLevel::WARN);
        assert_eq!(SlogLevel::parse("ERROR"), SlogLevel::ERROR);
        assert_eq!(SlogLevel::parse("INFO+2"), SlogLevel(2));
        assert_eq!(SlogLevel::parse("DEBUG-4"), SlogLevel(-8));
        assert_eq!(SlogLevel::parse("error+1"), SlogLevel(9));
        // Errors leave upstream's INFO.
        for bad in [
            "", "WARNING", "nonsense", "INFO+", "INFO+x", " INFO", "INFO 2",
        ] {
            assert_eq!(SlogLevel::parse(bad), SlogLevel::INFO, "{bad:?}");
        }
        assert_eq!(SlogLevel(2).name(), "INFO+2");
        assert_eq!(SlogLevel(-8).name(), "DEBUG-4");
        assert_eq!(SlogLevel::WARN.name(), "WARN");
    }

    #[test]
    fn text_lines_are_slog_text() {
        let lines = capture(Format::Text, "INFO", || {
            tracing::info!(
                secret = "sealed-secrets-keyx2v9q",
                count = 3u64,
                ok = true,
                "New key written"
            );
            tracing::warn!(error = %"no \"key\"\nfound", empty = "", "cannot record event");
            tracing::debug!("not at INFO");
            tracing::info!(
                log.target = "rustls::client",
                log.file = "/src/hs.rs",
                log.line = 90u64,
                "from log"
            );
        });
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(
            lines[2]
                .1
                .ends_with(" level=INFO msg=\"from log\" log.target=rustls::client\n"),
            "{lines:?}"
        );
        let (high, first) = &lines[0];
        assert!(!high);
        let rest = first.strip_prefix("time=").unwrap_or_default();
        let (time, rest) = rest.split_once(' ').unwrap_or_default();
        assert_eq!(time.len(), "2026-12-01T10:44:15.123Z".len(), "{time}");
        assert!(time.ends_with('Z') && time.as_bytes()[19] == b'.', "{time}");
        assert_eq!(
            rest,
            "level=INFO msg=\"New key written\" secret=sealed-secrets-keyx2v9q count=3 ok=true\n"
        );
        let (high, second) = &lines[1];
        assert!(high);
        assert!(
            second.ends_with(
                " level=WARN msg=\"cannot record event\" error=\"no \\\"key\\\"\\nfound\" empty=\"\"\n"
            ),
            "{second}"
        );
    }

    #[test]
    fn json_lines_have_upstreams_keys_in_order() {
        let lines = capture(Format::Json, "DEBUG", || {
            let span = tracing::info_span!("reconcile", namespace = "apps", name = "db");
            let _g = span.enter();
            tracing::debug!(in_sync = false, "in-sync check");
            tracing::error!(error = "boom", "Failed to generate new key");
        });
        assert_eq!(lines.len(), 2, "{lines:?}");
        for (high, line) in &lines {
            assert!(
                line.ends_with("}\n") && !line.trim_end().contains('\n'),
                "{line}"
            );
            let v: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
            let keys: Vec<&str> = v
                .as_object()
                .map(|o| o.keys().map(String::as_str).collect())
                .unwrap_or_default();
            // The order is checked on the raw line (serde_json's map does not keep it).
            assert!(line.starts_with("{\"time\":\""), "{line}");
            let after_time = line
                .split_once("\",\"level\":")
                .map(|x| x.1)
                .unwrap_or_default();
            assert!(after_time.contains(",\"msg\":"), "{line}");
            assert!(
                keys.contains(&"namespace") && keys.contains(&"name"),
                "{line}"
            );
            let level = v["level"].as_str().unwrap_or_default();
            assert_eq!(*high, level == "ERROR", "{line}");
            let time = v["time"].as_str().unwrap_or_default();
            assert!(time.starts_with("20") && time.ends_with('Z'), "{time}");
        }
        let first: serde_json::Value = serde_json::from_str(&lines[0].1).unwrap_or_default();
        assert_eq!(first["level"], "DEBUG");
        assert_eq!(first["msg"], "in-sync check");
        assert_eq!(first["in_sync"], false);
        assert_eq!(first["namespace"], "apps");
        let second: serde_json::Value = serde_json::from_str(&lines[1].1).unwrap_or_default();
        assert_eq!(second["level"], "ERROR");
        assert_eq!(second["error"], "boom");
    }

    #[test]
    fn level_threshold_as_slog() {
        let emit = || {
            tracing::trace!("t");
            tracing::debug!("d");
            tracing::info!("i");
            tracing::warn!("w");
            tracing::error!("e");
        };
        let msgs = |level: &str| -> Vec<String> {
            capture(Format::Text, level, emit)
                .into_iter()
                .map(|(_, l)| {
                    l.split("msg=")
                        .nth(1)
                        .unwrap_or_default()
                        .trim_end()
                        .to_owned()
                })
                .collect()
        };
        assert_eq!(msgs("DEBUG-4"), ["d", "i", "w", "e"]); // never TRACE
        assert_eq!(msgs("DEBUG"), ["d", "i", "w", "e"]);
        assert_eq!(msgs("INFO"), ["i", "w", "e"]);
        assert_eq!(msgs("bogus"), ["i", "w", "e"]);
        assert_eq!(msgs("INFO+2"), ["w", "e"]);
        assert_eq!(msgs("ERROR"), ["e"]);
        assert!(msgs("ERROR+1").is_empty());
    }

    #[test]
    fn text_quoting_follows_go() {
        assert_eq!(text_string("plain"), "plain");
        assert_eq!(text_string("a/b:c,d"), "a/b:c,d");
        assert_eq!(text_string("back\\slash"), "back\\slash");
        assert_eq!(text_string(""), "\"\"");
        assert_eq!(text_string("a b"), "\"a b\"");
        assert_eq!(text_string("k=v"), "\"k=v\"");
        assert_eq!(text_string("tab\there"), "\"tab\\there\"");
        assert_eq!(text_string("nul\u{0}"), "\"nul\\x00\"");
        assert_eq!(text_string("bell\u{7}"), "\"bell\\a\"");
        assert_eq!(text_string("ünïcode"), "ünïcode");
        assert_eq!(text_string("nb\u{a0}sp"), "\"nb\\u00a0sp\"");
    }
}
