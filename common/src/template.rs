//! A bounded re-implementation of the subset of Go's `text/template` plus the
//! sprig function library that Sealed Secrets users write in
//! `spec.template.data`.
//!
//! Upstream executes every `spec.template.data[k]` as
//! `template.New(k).Funcs(sprig.GenericFuncMap() - {env, expandenv, getHostByName}).Parse(src)`
//! and then `Execute(buf, data)` where `data` is a `map[string]string` of the
//! decrypted values. [`render`] does the same over a map of byte strings.
//!
//! Safety properties (the input is untrusted, the data is secret):
//! * work, output size and nesting are bounded by [`Limits`]; every
//!   intermediate string is bounded by `max_output_bytes` as well;
//! * nothing in this module panics on any input (no unwrap / indexing);
//! * error messages ([`TemplateError`]) only ever contain template names,
//!   source positions, source snippets, function names, key names and type
//!   names, never a data value;
//! * buffers that hold plaintext are `Zeroizing` and are grown by copying into
//!   a fresh zeroizing buffer so no stale copy is left behind by `realloc`.

use std::collections::BTreeMap;
use std::rc::Rc;

use rand::CryptoRng;
use zeroize::Zeroizing;

mod exec;
mod format;
mod funcs;
mod lex;
mod parse;
#[cfg(test)]
mod tests;
mod value;

pub use self::value::Env;
use self::{lex::*, parse::*, value::*};

// ───────────────────────────── public API ─────────────────────────────

/// Resource bounds for one template execution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Maximum size of the output, and of any intermediate string value.
    pub max_output_bytes: usize,
    /// Maximum number of evaluation steps (nodes, function calls, range
    /// iterations, elements produced or visited by functions).
    pub max_steps: u64,
    /// Maximum nesting depth (control structures and parentheses when
    /// parsing; nested lists / maps when executing).
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_output_bytes: 1024 * 1024,
            max_steps: 1_000_000,
            max_depth: 100,
        }
    }
}

/// Template parse or execution failure. The message never contains a data value.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// Syntax error, unknown function, undefined variable, …
    #[error("template: {name}:{line}: {message}")]
    Parse {
        /// Template name (the data key).
        name: String,
        /// 1-based line.
        line: usize,
        /// Description.
        message: String,
    },
    /// Runtime error (wrong argument types, bad index, …).
    #[error("template: {name}:{line}:{col}: executing \"{name}\" at <{context}>: {message}")]
    Exec {
        /// Template name (the data key).
        name: String,
        /// 1-based line.
        line: usize,
        /// 0-based byte column (as Go reports it).
        col: usize,
        /// The template source of the failing node.
        context: String,
        /// Description.
        message: String,
    },
    /// The output (or an intermediate value) grew beyond `max_output_bytes`.
    #[error("template output exceeds {limit} bytes (template \"{name}\")")]
    OutputLimit {
        /// Template name.
        name: String,
        /// The limit in force.
        limit: usize,
    },
    /// More than `max_steps` evaluation steps.
    #[error("template exceeds {limit} steps (template \"{name}\")")]
    StepLimit {
        /// Template name.
        name: String,
        /// The limit in force.
        limit: u64,
    },
    /// Nesting deeper than `max_depth`.
    #[error("template nesting exceeds {limit} levels (template \"{name}\")")]
    DepthLimit {
        /// Template name.
        name: String,
        /// The limit in force.
        limit: usize,
    },
}

/// The functions supported, for docs. `toYaml` is a Helm extension; the rest
/// are Go `text/template` builtins or sprig functions.
pub const FUNCTIONS: &[&str] = &[
    // Go builtins
    "and",
    "or",
    "not",
    "len",
    "index",
    "slice",
    "print",
    "printf",
    "println",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "html",
    "urlquery",
    // sprig: defaults / flow
    "default",
    "empty",
    "coalesce",
    "ternary",
    "all",
    "any",
    // sprig: strings
    "upper",
    "lower",
    "title",
    "trim",
    "trimAll",
    "trimPrefix",
    "trimSuffix",
    "replace",
    "quote",
    "squote",
    "cat",
    "indent",
    "nindent",
    "repeat",
    "contains",
    "hasPrefix",
    "hasSuffix",
    "nospace",
    "trunc",
    "abbrev",
    "substr",
    "plural",
    "split",
    "splitList",
    "splitn",
    "join",
    "sortAlpha",
    "toString",
    "toStrings",
    // sprig: encoding / hashing
    "b64enc",
    "b64dec",
    "b32enc",
    "b32dec",
    "sha256sum",
    "sha1sum",
    "adler32sum",
    "toJson",
    "toPrettyJson",
    "toRawJson",
    "fromJson",
    "toYaml",
    // sprig: numbers
    "atoi",
    "int",
    "int64",
    "float64",
    "add",
    "add1",
    "sub",
    "mul",
    "div",
    "mod",
    "max",
    "min",
    "biggest",
    "floor",
    "ceil",
    "until",
    // sprig: lists
    "list",
    "append",
    "push",
    "prepend",
    "first",
    "last",
    "rest",
    "initial",
    "uniq",
    "has",
    "without",
    "compact",
    "reverse",
    "concat",
    // sprig: dicts
    "dict",
    "get",
    "set",
    "unset",
    "hasKey",
    "keys",
    "values",
    "pick",
    "omit",
    // sprig: reflection
    "typeOf",
    "typeIs",
    "kindOf",
    "kindIs",
    // issue 15: the rest of sprig (template/funcs/)
    "call",
    "js",
    "hello",
    "untitle",
    "trimall",
    "abbrevboth",
    "initials",
    "swapcase",
    "wrap",
    "wrapWith",
    "shuffle",
    "randAlphaNum",
    "randAlpha",
    "randAscii",
    "randNumeric",
    "fail",
    "typeIsLike",
    "mustToJson",
    "mustToPrettyJson",
    "mustToRawJson",
    "mustFromJson",
    "sha512sum",
    "uuidv4",
    "randBytes",
    "bcrypt",
    "htpasswd",
    "addf",
    "add1f",
    "subf",
    "mulf",
    "divf",
    "maxf",
    "minf",
    "round",
    "untilStep",
    "seq",
    "toDecimal",
    "randInt",
    "tuple",
    "mustAppend",
    "mustPush",
    "mustPrepend",
    "mustFirst",
    "mustLast",
    "mustRest",
    "mustInitial",
    "mustReverse",
    "mustUniq",
    "mustWithout",
    "mustHas",
    "mustCompact",
    "mustSlice",
    "chunk",
    "mustChunk",
    "merge",
    "mustMerge",
    "mergeOverwrite",
    "mustMergeOverwrite",
    "deepCopy",
    "mustDeepCopy",
    "deepEqual",
    "pluck",
    "dig",
    "regexMatch",
    "mustRegexMatch",
    "regexFind",
    "mustRegexFind",
    "regexFindAll",
    "mustRegexFindAll",
    "regexReplaceAll",
    "mustRegexReplaceAll",
    "regexReplaceAllLiteral",
    "mustRegexReplaceAllLiteral",
    "regexSplit",
    "mustRegexSplit",
    "regexQuoteMeta",
    "base",
    "dir",
    "clean",
    "ext",
    "isAbs",
    "osBase",
    "osDir",
    "osClean",
    "osExt",
    "osIsAbs",
    "snakecase",
    "camelcase",
    "kebabcase",
    "semverCompare",
    "encryptAES",
    "decryptAES",
    "urlParse",
    "urlJoin",
    "genPrivateKey",
    "derivePassword",
    // sprig date.go
    "ago",
    "date",
    "date_in_zone",
    "date_modify",
    "dateInZone",
    "dateModify",
    "duration",
    "durationRound",
    "htmlDate",
    "htmlDateInZone",
    "must_date_modify",
    "mustDateModify",
    "mustToDate",
    "now",
    "toDate",
    "unixEpoch",
    // sprig semver.go
    "semver",
    // sprig crypto.go: certificates
    "genCA",
    "genCAWithKey",
    "genSelfSignedCert",
    "genSelfSignedCertWithKey",
    "genSignedCert",
    "genSignedCertWithKey",
    "buildCustomCert",
];

/// Functions Go (text/template + sprig) has that we do not implement, with the reason. A
/// template naming one fails at parse time with `function "NAME" not supported: REASON`.
pub const OMITTED: &[(&str, &str)] = &[];

/// Functions of sprig 3.3 (upstream's pin) that the reference renderer's sprig 3.2.3 lacks.
pub const SPRIG_3_3_ONLY: &[&str] = &["sha512sum"];

/// Functions we accept that upstream's map does not have (listed in docs/templates.md).
pub const EXTENSIONS: &[&str] = &["toYaml"];

/// Parse and execute one template named `name` over `data` (decrypted key -> bytes). The
/// random functions draw from the thread's CSPRNG (`rand::rng()`, seeded from the OS), as
/// sprig draws from `crypto/rand`; `now` reads the system clock and `dateInZone` the host's
/// `/usr/share/zoneinfo`, as Go's `time` does. [`render_in`] takes all three as arguments.
pub fn render(
    name: &str,
    src: &str,
    data: &BTreeMap<String, Zeroizing<Vec<u8>>>,
    limits: &Limits,
) -> Result<Zeroizing<Vec<u8>>, TemplateError> {
    render_with_rng(name, src, data, limits, &mut rand::rng())
}

/// [`render`] with the random functions' source given (tests pin it).
pub fn render_with_rng(
    name: &str,
    src: &str,
    data: &BTreeMap<String, Zeroizing<Vec<u8>>>,
    limits: &Limits,
    rng: &mut dyn CryptoRng,
) -> Result<Zeroizing<Vec<u8>>, TemplateError> {
    render_in(name, src, data, limits, rng, &system_env(&read_zoneinfo))
}

/// Go's zoneinfo search on Linux without `$ZONEINFO`: the first of these directories that has
/// the file (the controller image ships Debian's tzdata in the first).
const ZONEINFO_DIRS: &[&str] = &[
    "/usr/share/zoneinfo/",
    "/usr/share/lib/zoneinfo/",
    "/usr/lib/locale/TZ/",
];

fn read_zoneinfo(name: &str) -> Option<Vec<u8>> {
    // A TZif file is small; anything large is not one (bounds the read).
    const MAX: u64 = 1 << 20;
    ZONEINFO_DIRS.iter().find_map(|d| {
        let p = std::path::Path::new(d).join(name);
        let meta = std::fs::metadata(&p).ok()?;
        (meta.is_file() && meta.len() <= MAX)
            .then(|| std::fs::read(&p).ok())
            .flatten()
    })
}

/// The process's clock, with `zoneinfo` for the time zones.
pub fn system_env<'a>(zoneinfo: &'a dyn Fn(&str) -> Option<Vec<u8>>) -> Env<'a> {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let start = *START.get_or_init(std::time::Instant::now);
    let now = std::time::SystemTime::now();
    let unix = match now.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => (
            i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            d.subsec_nanos(),
        ),
        Err(_) => (0, 0),
    };
    Env {
        now_unix: unix,
        // Go's monotonic readings start just above zero at process start.
        now_mono: i64::try_from(start.elapsed().as_nanos())
            .unwrap_or(i64::MAX)
            .saturating_add(1),
        zoneinfo,
    }
}

/// [`render`] with everything from outside given: the random source, the clock and the time
/// zones.
pub fn render_in(
    name: &str,
    src: &str,
    data: &BTreeMap<String, Zeroizing<Vec<u8>>>,
    limits: &Limits,
    rng: &mut dyn CryptoRng,
    env: &Env<'_>,
) -> Result<Zeroizing<Vec<u8>>, TemplateError> {
    let tree = parse(name, src, limits)?;
    let mut ex = Exec::new(name, src, data, limits, rng, &tree.defs, env);
    let res = ex.walk(&Value::Root, &tree.root);
    match res {
        Ok(_) => Ok(std::mem::take(&mut ex.out).into_inner()),
        Err(e) => Err(ex.to_error(e)),
    }
}

/// Parse only (validates syntax and that every function is defined).
pub fn check(name: &str, src: &str, limits: &Limits) -> Result<(), TemplateError> {
    parse(name, src, limits).map(|_| ())
}
