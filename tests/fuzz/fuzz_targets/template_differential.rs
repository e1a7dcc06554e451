//! Differential fuzzing of `common::template` against Go's own `text/template` + sprig (the
//! reference renderer of `tests/templates/`, one long-lived subprocess for the whole run).
//!
//! The input drives a generator over the function table: actions, pipelines, parentheses,
//! `if`/`with`/`range`/`else`, variables, `define`/`template`/`block`, literals of every type
//! and the data map's fields. Each template is rendered by both engines with the controller's
//! limits, and must give identical bytes or an error in both (one input gives several templates,
//! rendered by Go in one round trip: see `BUDGET`). Not compared: our own limit
//! errors (Go has none), Go timeouts, and what docs/templates.md lists as deliberate differences
//! — so the generator leaves out random functions, `bcrypt`/`htpasswd`, the reflection functions
//! and `%T` (our one integer type), sprig's int64-returning arithmetic (`deepEqual`, `has`,
//! `uniq`, `without` would see int64 ≠ int), `keys`/`values` (Go's map order is random), `toYaml`,
//! `sha512sum` (sprig 3.3 only), Go 1.22+ syntax, integral float literals, the functions in
//! `template::OMITTED`; Go's error for a field of a nil list element is accepted; and
//! the Go type names inside fmt's `%!verb(type=value)` markers are compared as `T` (ours has one
//! list type and one integer type).
#![no_main]

#[path = "../../../common/tests/goref/mod.rs"]
#[allow(dead_code)]
mod goref;

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};

use common::template::{Limits, TemplateError, render};
use goref::{GoOutcome, GoRef};
use libfuzzer_sys::fuzz_target;
use zeroize::Zeroizing;

/// (name, argument kinds): `a` any, `s` string, `i` int, `l` list, `d` dict, `r` regex, `T` a date,
/// `f` printf format, `*` any number of any (0–3).
const FUNCS: &[(&str, &str)] = &[
    ("toDate", "ss"),
    ("mustToDate", "ss"),
    ("date", "sT"),
    ("dateInZone", "sTs"),
    ("date_in_zone", "sTs"),
    ("htmlDate", "T"),
    ("htmlDateInZone", "Ts"),
    ("dateModify", "sT"),
    ("date_modify", "sT"),
    ("mustDateModify", "sT"),
    ("unixEpoch", "T"),
    ("semver", "s"),
    ("and", "a*"),
    ("or", "a*"),
    ("not", "a"),
    ("len", "a"),
    ("index", "ai"),
    ("index", "ds"),
    ("print", "*"),
    ("println", "*"),
    ("printf", "f*"),
    ("eq", "aa"),
    ("ne", "aa"),
    ("lt", "aa"),
    ("le", "aa"),
    ("gt", "aa"),
    ("ge", "aa"),
    ("html", "*"),
    ("urlquery", "*"),
    ("js", "*"),
    ("call", "a"),
    ("default", "aa"),
    ("empty", "a"),
    ("coalesce", "*"),
    ("ternary", "aaa"),
    ("all", "*"),
    ("any", "*"),
    ("fail", "s"),
    ("fromJson", "s"),
    ("mustFromJson", "s"),
    ("toJson", "a"),
    ("mustToJson", "a"),
    ("toPrettyJson", "a"),
    ("toRawJson", "a"),
    ("deepCopy", "a"),
    ("upper", "s"),
    ("lower", "s"),
    ("title", "s"),
    ("untitle", "s"),
    ("trim", "s"),
    ("trimAll", "ss"),
    ("trimall", "ss"),
    ("trimPrefix", "ss"),
    ("trimSuffix", "ss"),
    ("replace", "sss"),
    ("quote", "*"),
    ("squote", "*"),
    ("cat", "*"),
    ("indent", "is"),
    ("nindent", "is"),
    ("repeat", "is"),
    ("contains", "ss"),
    ("hasPrefix", "ss"),
    ("hasSuffix", "ss"),
    ("nospace", "s"),
    ("trunc", "is"),
    ("abbrev", "is"),
    ("abbrevboth", "iis"),
    ("substr", "iis"),
    ("initials", "s"),
    ("swapcase", "s"),
    ("wrap", "is"),
    ("wrapWith", "iss"),
    ("plural", "ssi"),
    ("split", "ss"),
    ("splitList", "ss"),
    ("splitn", "sis"),
    ("join", "sl"),
    ("sortAlpha", "l"),
    ("toString", "a"),
    ("toStrings", "a"),
    ("snakecase", "s"),
    ("camelcase", "s"),
    ("kebabcase", "s"),
    ("hello", ""),
    ("b64enc", "s"),
    ("b64dec", "s"),
    ("b32enc", "s"),
    ("b32dec", "s"),
    ("sha1sum", "s"),
    ("sha256sum", "s"),
    ("adler32sum", "s"),
    ("atoi", "s"),
    ("int", "a"),
    ("float64", "a"),
    ("maxf", "a*"),
    ("minf", "a*"),
    ("addf", "*"),
    ("add1f", "a"),
    ("subf", "a*"),
    ("mulf", "a*"),
    ("divf", "a*"),
    ("floor", "a"),
    ("ceil", "a"),
    ("round", "ai"),
    ("until", "i"),
    ("untilStep", "iii"),
    ("seq", "*"),
    ("list", "*"),
    ("tuple", "*"),
    ("append", "la"),
    ("prepend", "la"),
    ("first", "l"),
    ("last", "l"),
    ("rest", "l"),
    ("initial", "l"),
    ("compact", "l"),
    ("reverse", "l"),
    ("concat", "ll"),
    ("slice", "lii"),
    ("chunk", "il"),
    ("mustFirst", "l"),
    ("mustRest", "l"),
    ("dict", "sasa"),
    ("get", "ds"),
    ("set", "dsa"),
    ("unset", "ds"),
    ("hasKey", "ds"),
    ("pick", "ds"),
    ("omit", "ds"),
    ("pluck", "sd"),
    ("merge", "dd"),
    ("mergeOverwrite", "dd"),
    ("dig", "ssad"),
    ("regexMatch", "rs"),
    ("mustRegexMatch", "rs"),
    ("regexFind", "rs"),
    ("regexFindAll", "rsi"),
    ("regexReplaceAll", "rss"),
    ("regexReplaceAllLiteral", "rss"),
    ("regexSplit", "rsi"),
    ("regexQuoteMeta", "s"),
    ("base", "s"),
    ("dir", "s"),
    ("clean", "s"),
    ("ext", "s"),
    ("isAbs", "s"),
    ("osBase", "s"),
    ("osDir", "s"),
    ("osClean", "s"),
    ("osExt", "s"),
    ("osIsAbs", "s"),
];

const STRINGS: &[&str] = &[
    "2006-01-02",
    "15:04:05.000 MST Z07:00",
    "Mon Jan _2 3PM -0700 002",
    "2024-02-29",
    "1h30m",
    "-1.5h",
    "Europe/Paris",
    "Asia/Kolkata",
    "",
    "a",
    "b,c",
    " x ",
    "A_b-C",
    "héllo wörld",
    "1.2.3",
    "/p/q.txt",
    "0777",
    "true",
    "12",
    "-3.5",
    "{\"k\":[1,\"v\"],\"m\":{\"n\":null}}",
    "<&>'\"",
    "HTTPServerID",
    "aGk=",
    "NBUQ====",
    "a\nb\n",
    "x.Y-z",
    "$1",
    "${1}",
    "ü",
    "__",
    "a b c d e f",
];
const REGEXES: &[&str] = &[
    "a",
    "a*",
    "(a)(b)?",
    "[a-c]+",
    "\\d+",
    "\\w",
    "\\s",
    "\\bx",
    "^a",
    "b$",
    "(?i)A",
    "(?P<n>b)",
    "",
    "(",
    "[",
    "a{2}",
    ".",
    "[^,]",
    "\\pL",
    "x*",
    "a|b",
    "(?s).",
    "[[:alpha:]]",
    "\\\\",
];
const FORMATS: &[&str] = &[
    "%v", "%s", "%d", "%q", "%x", "%5.2f", "%-4s|", "%+d", "%#v", "%t", "%c", "%e", "%g", "%%",
    "%08.3f", "%s %s", "%!", "%z", "% x", "%X", "%#g", "%.2x", "%#x", "%b", "%+.1e",
];
/// Dates (`T`): fixed instants, so both engines see the same time (`now` and `ago` are
/// compared by shape in the corpus instead).
const TIMES: &[&str] = &[
    "(toDate \"2006-01-02\" \"2024-02-29\")",
    "(toDate \"2006-01-02T15:04:05.999Z07:00\" \"2021-03-04T05:06:07.5+05:30\")",
    "(toDate \"Jan _2 15:04 MST\" \"Feb  3 04:05 CET\")",
    "(toDate \"15:04\" \"bad\")",
    "(dateModify \"36h\" (toDate \"2006\" \"2020\"))",
    "1700000000",
    "0",
    "-1",
];
const TEXT: &[&str] = &["x", " ", "\n", "-", ",", "é"];
const FIELDS: &[&str] = &[".a", ".b", ".n", ".e", ".missing", "."];

struct Gen<'a> {
    data: &'a [u8],
    pos: usize,
    out: String,
    depth: usize,
    vars: Vec<String>,
    defs: Vec<String>,
    in_range: usize,
}

impl Gen<'_> {
    fn byte(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }
    fn pick<'s>(&mut self, from: &[&'s str]) -> &'s str {
        let i = usize::from(self.byte()) % from.len();
        from[i]
    }
    fn done(&self) -> bool {
        self.pos >= self.data.len()
    }

    fn literal(&mut self, kind: char) {
        let k = match kind {
            's' => 0,
            'i' => 1,
            'l' => 5,
            'd' => 6,
            'r' => 7,
            'f' => 8,
            'T' => 9,
            _ => self.byte() % 7,
        };
        match k {
            0 => {
                let s = self.pick(STRINGS);
                self.out.push_str(&format!("{s:?}"));
            }
            1 => {
                let n = i64::from(self.byte() % 14) - 3;
                self.out.push_str(&n.to_string());
            }
            2 => {
                // No integral floats (`3.0`, `1e3`): Go converts those to int parameters and ours
                // does not (docs/templates.md).
                let f = self.pick(&["1.5", "0.1", "-2.25", "2.5e-3", "-0.5", "3.25"]);
                self.out.push_str(f);
            }
            3 => {
                let b = self.pick(&["true", "false", "nil"]);
                self.out.push_str(b);
            }
            4 => {
                let f = self.pick(FIELDS);
                self.out.push_str(f);
            }
            5 => {
                self.out.push_str("(list");
                for _ in 0..self.byte() % 4 {
                    self.out.push(' ');
                    self.operand('a');
                }
                self.out.push(')');
            }
            6 => {
                self.out.push_str("(dict");
                for _ in 0..self.byte() % 3 {
                    self.out.push(' ');
                    let k = self.pick(&["\"k\"", "\"m\"", "\"a\""]);
                    self.out.push_str(k);
                    self.out.push(' ');
                    self.operand('a');
                }
                self.out.push(')');
            }
            9 => {
                let t = self.pick(TIMES);
                self.out.push_str(t);
            }
            7 => {
                let r = self.pick(REGEXES);
                self.out.push_str(&format!("{r:?}"));
            }
            _ => {
                let f = self.pick(FORMATS);
                self.out.push_str(&format!("{f:?}"));
            }
        }
    }

    fn operand(&mut self, kind: char) {
        let choice = self.byte() % 8;
        if self.depth < 4 && choice == 0 {
            self.depth += 1;
            self.out.push('(');
            self.pipeline();
            self.out.push(')');
            self.depth -= 1;
        } else if choice == 1 && !self.vars.is_empty() {
            let i = usize::from(self.byte()) % self.vars.len();
            let v = self.vars[i].clone();
            self.out.push_str(&v);
        } else {
            self.literal(kind);
        }
    }

    fn command(&mut self, piped: bool) {
        let i = usize::from(self.byte()) % FUNCS.len();
        let (name, kinds) = FUNCS[i];
        self.out.push_str(name);
        let mut kinds: Vec<char> = kinds.chars().collect();
        if kinds.contains(&'*') {
            kinds.retain(|k| *k != '*');
            for _ in 0..self.byte() % 4 {
                kinds.push('a');
            }
        }
        // A piped value becomes the last argument.
        if piped && !kinds.is_empty() {
            kinds.pop();
        }
        for k in kinds {
            self.out.push(' ');
            self.operand(k);
        }
    }

    fn pipeline(&mut self) {
        if self.byte() % 5 == 0 {
            self.operand('a');
        } else {
            self.command(false);
        }
        for _ in 0..self.byte() % 3 {
            self.out.push_str(" | ");
            self.command(true);
        }
    }

    fn action(&mut self) {
        let trim_l = if self.byte() % 6 == 0 { "- " } else { " " };
        let trim_r = if self.byte() % 6 == 0 { " -" } else { " " };
        self.out.push_str("{{");
        self.out.push_str(trim_l);
        if self.byte() % 6 == 0 {
            let v = format!("$v{}", self.vars.len());
            self.out.push_str(&v);
            self.out.push_str(" := ");
            self.vars.push(v);
        }
        self.pipeline();
        self.out.push_str(trim_r);
        self.out.push_str("}}");
    }

    fn list(&mut self, max: u8) {
        for _ in 0..=self.byte() % max {
            if self.done() {
                return;
            }
            self.item();
        }
    }

    fn item(&mut self) {
        match self.byte() % 12 {
            0..=2 => {
                let t = self.pick(TEXT);
                self.out.push_str(t);
            }
            3..=6 => self.action(),
            7 | 8 if self.depth < 4 => {
                let kw = self.pick(&["if", "with", "range"]);
                self.depth += 1;
                let mark = self.vars.len();
                self.out.push_str(&format!("{{{{ {kw} "));
                if kw == "range" {
                    // Go 1.19 ranges over lists, maps and channels only.
                    if self.byte() % 2 == 0 {
                        self.literal('l');
                    } else {
                        let r = self.pick_field_or_dict();
                        self.out.push_str(r);
                    }
                    self.in_range += 1;
                } else {
                    self.pipeline();
                }
                self.out.push_str(" }}");
                self.list(3);
                if kw == "range" {
                    if self.byte() % 4 == 0 {
                        let b = self.pick(&["{{ break }}", "{{ continue }}"]);
                        self.out.push_str(b);
                    }
                    self.in_range -= 1;
                }
                if self.byte() % 3 == 0 {
                    self.out.push_str("{{ else }}");
                    self.list(2);
                }
                self.out.push_str("{{ end }}");
                self.vars.truncate(mark);
                self.depth -= 1;
            }
            9 if !self.defs.is_empty() => {
                let i = usize::from(self.byte()) % self.defs.len();
                let name = self.defs[i].clone();
                self.out.push_str(&format!("{{{{ template {name:?} "));
                self.operand('a');
                self.out.push_str(" }}");
            }
            _ => self.action(),
        }
    }

    fn pick_field_or_dict(&mut self) -> &'static str {
        self.pick(&[
            ".",
            "(dict \"a\" 1 \"b\" (list 2 3))",
            "(splitList \",\" .b)",
            ".missing",
        ])
    }

    /// One template from at most `budget` more input bytes.
    fn template(&mut self, budget: usize) {
        let end = self.pos.saturating_add(budget).min(self.data.len());
        let mut bounded = Gen {
            data: self.data.get(..end).unwrap_or(self.data),
            pos: self.pos,
            out: String::new(),
            depth: 0,
            vars: Vec::new(),
            defs: Vec::new(),
            in_range: 0,
        };
        bounded.whole_template();
        self.pos = bounded.pos.max(self.pos + 1);
        self.out = bounded.out;
    }

    fn whole_template(&mut self) {
        // A few top-level defines first, then the main body.
        for i in 0..self.byte() % 3 {
            let name = format!("t{i}");
            let vars = std::mem::take(&mut self.vars);
            self.out.push_str(&format!("{{{{ define {name:?} }}}}"));
            self.list(3);
            self.out.push_str("{{ end }}");
            self.vars = vars;
            self.defs.push(name);
        }
        while !self.done() && self.out.len() < 4096 {
            self.item();
        }
    }
}

/// Go type names our one list type and one integer type cannot reproduce (docs/templates.md):
/// they show only inside fmt's `%!verb(type=value)` and `%!(EXTRA type=value)` markers.
const TYPE_NAMES: &[&str] = &[
    "[][]interface {}", "[]interface {}", "[]string", "[]int", "map[string]interface {}",
    "map[string]string", "int64", "int",
];

/// Replaces the type names in fmt's error markers by `T`, when there are markers at all. A
/// marker can also have gone through `js` (its `=` is `\u003D`) or `urlquery` (all of it
/// escaped): session 7's finds.
fn normalize(b: &[u8]) -> Vec<u8> {
    let s = String::from_utf8_lossy(b);
    if !s.contains("%!") && !s.contains("%25%21") {
        return b.to_vec();
    }
    let mut out = s.into_owned();
    for t in TYPE_NAMES {
        for prefix in ["(", ", ", "(EXTRA "] {
            for eq in ["=", "\\u003D"] {
                out = out.replace(&format!("{prefix}{t}{eq}"), &format!("{prefix}T{eq}"));
            }
            let escaped = query_escape(&format!("{prefix}{t}="));
            out = out.replace(&escaped, &query_escape(&format!("{prefix}T=")));
        }
    }
    out.into_bytes()
}

/// Go's `url.QueryEscape` (what `urlquery` applies).
fn query_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn go() -> &'static Mutex<GoRef> {
    static GO: OnceLock<Mutex<GoRef>> = OnceLock::new();
    GO.get_or_init(|| Mutex::new(goref::start().unwrap_or_else(|e| panic!("{e}"))))
}

/// Input bytes per generated template: one input gives up to `len / BUDGET` templates, sent to
/// Go in one round trip (a round trip per template left both processes waiting on each other,
/// and libFuzzer's per-input bookkeeping is shared by all of them).
const BUDGET: usize = 96;

fuzz_target!(|input: &[u8]| {
    let mut g = Gen {
        data: input,
        pos: 0,
        out: String::new(),
        depth: 0,
        vars: Vec::new(),
        defs: Vec::new(),
        in_range: 0,
    };
    let mut sources = Vec::new();
    while !g.done() || sources.is_empty() {
        g.template(BUDGET);
        sources.push(std::mem::take(&mut g.out));
    }
    let data_plain: BTreeMap<String, Vec<u8>> = [("a", "v1"), ("b", "x,y"), ("n", "12"), ("e", "")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.as_bytes().to_vec()))
        .collect();
    let data: BTreeMap<String, Zeroizing<Vec<u8>>> = data_plain
        .iter()
        .map(|(k, v)| (k.clone(), Zeroizing::new(v.clone())))
        .collect();
    let limits = Limits::default();
    // Ours first; a template that hits our own limits is not compared (Go has none).
    let mut pending = Vec::new();
    for src in &sources {
        let ours = render("t", src, &data, &limits);
        if matches!(
            ours,
            Err(TemplateError::OutputLimit { .. }
                | TemplateError::StepLimit { .. }
                | TemplateError::DepthLimit { .. })
        ) {
            continue;
        }
        pending.push((src.as_str(), ours));
    }
    if pending.is_empty() {
        return;
    }
    let items: Vec<(&str, &str, &BTreeMap<String, Vec<u8>>, usize)> = pending
        .iter()
        .map(|(src, _)| ("t", *src, &data_plain, limits.max_output_bytes))
        .collect();
    let answers = {
        let mut go = go()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        go.render_batch(&items).unwrap_or_else(|e| panic!("{e}"))
    };
    for ((src, ours), theirs) in pending.iter().zip(&answers) {
        compare(src, theirs, ours);
    }
});

/// The date functions whose date argument falls back to the current time when it is not one.
const DATE_FUNCS: &[&str] = &[
    "date ",
    "dateInZone",
    "date_in_zone",
    "htmlDate",
    "dateModify",
    "ago",
];

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// ASCII-lowercased, without backslashes.
fn unescaped_lower(b: &[u8]) -> Vec<u8> {
    b.iter()
        .filter(|&&c| c != b'\\')
        .map(u8::to_ascii_lowercase)
        .collect()
}

/// Every ASCII digit as `0`.
fn digits_masked(b: &[u8]) -> Vec<u8> {
    b.iter().map(|&c| if c.is_ascii_digit() { b'0' } else { c }).collect()
}

fn compare(src: &str, theirs: &GoOutcome, ours: &Result<Zeroizing<Vec<u8>>, TemplateError>) {
    match (theirs, ours) {
        (GoOutcome::Timeout, _) => {}
        // `range` over an integer is Go 1.22 (upstream's Go; the reference is 1.19).
        (GoOutcome::Exec(e), Ok(_))
            if e.split("range can't iterate over ").nth(1).is_some_and(|r| {
                r.starts_with(|c: char| c.is_ascii_digit() || c == '-')
            }) => {}
        // A field of a nil list or dict element: Go's nil interface (docs/templates.md).
        (GoOutcome::Exec(e), Ok(_)) if e.contains("nil pointer evaluating interface {}") => {}
        // `get`, `hasKey`, `keys`, `values`, `pick`, `omit` accept the data map, which Go
        // rejects as a map[string]string (docs/templates.md).
        (GoOutcome::Exec(e), Ok(_))
            if e.contains("expected map[string]interface {}; got map[string]string") => {}
        // fmt with a verb other than v/s/x/X/q prints a time.Time's struct fields, among them
        // a *time.Location pointer (an address): not reproducible (docs/templates.md).
        // (Lowercased and unescaped: `kebabcase`, `regexQuoteMeta` and friends may have run on it.)
        (GoOutcome::Ok(g), Ok(_)) if contains(&unescaped_lower(g), b"*time.location") => {}
        // A date function given something that is not a date formats time.Now() (sprig's
        // default branch): both clocks read at different instants, so the digits may differ.
        (GoOutcome::Ok(g), Ok(u))
            if DATE_FUNCS.iter().any(|f| src.contains(f))
                && normalize(&digits_masked(g)) == normalize(&digits_masked(u)) => {}
        (GoOutcome::Ok(g), Ok(u)) => assert!(
            normalize(g) == normalize(u),
            "output differs from Go for {src:?}:\n go   {:?}\n ours {:?}",
            String::from_utf8_lossy(g),
            String::from_utf8_lossy(u)
        ),
        (g, Err(_)) if g.is_err() => {}
        (g, u) => panic!(
            "Go and ours disagree on success for {src:?}:\n go   {g:?}\n ours {:?}",
            u.as_ref()
                .map(|o| String::from_utf8_lossy(o).into_owned())
                .map_err(ToString::to_string)
        ),
    }
}
