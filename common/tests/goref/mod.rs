//! Client of the Go reference renderer (`tests/templates/goref/main.go`): Go's own `text/template`
//! with sprig, configured as upstream's controller configures it. One long-lived subprocess,
//! one JSON line per request and per answer (see the protocol in main.go). Shared by the
//! differential test (`common/tests/template_differential.rs`) and the differential fuzz target
//! (`tests/fuzz/fuzz_targets/template_differential.rs`), which include this file by path.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

/// What Go did with one template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GoOutcome {
    /// Rendered: the output bytes.
    Ok(Vec<u8>),
    /// `Parse` failed (syntax, undefined function, …).
    Parse(String),
    /// `Execute` failed.
    Exec(String),
    /// The output passed the byte limit it was given.
    Limit,
    /// No answer within the renderer's 300 s (RSA-4096 key generation on a loaded machine
    /// can take minutes): no verdict.
    Timeout,
}

impl GoOutcome {
    /// Any failure (parse, exec or the output limit).
    pub fn is_err(&self) -> bool {
        matches!(
            self,
            GoOutcome::Parse(_) | GoOutcome::Exec(_) | GoOutcome::Limit
        )
    }
}

/// One template of a batch: name, source, data, output limit.
pub type BatchItem<'a> = (&'a str, &'a str, &'a BTreeMap<String, Vec<u8>>, usize);

/// The running reference renderer.
pub struct GoRef {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

/// The repository root (this file is `common/tests/goref/mod.rs`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .find(|p| p.join("tests/templates/goref.sh").is_file())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".."))
}

/// Builds the renderer with `tests/templates/goref.sh` (which installs Debian's Go and sprig
/// when they are missing) unless `SSRS_GOREF` names a built one, and starts it.
pub fn start() -> Result<GoRef, String> {
    let bin = match std::env::var_os("SSRS_GOREF") {
        Some(b) => PathBuf::from(b),
        None => {
            let script = repo_root().join("tests/templates/goref.sh");
            let out = Command::new("bash")
                .arg(&script)
                .stderr(Stdio::inherit())
                .output()
                .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
            if !out.status.success() {
                return Err(format!(
                    "{} failed ({}): the Go reference renderer needs Debian's golang-go and \
                     golang-github-masterminds-sprig-dev (the script installs them as root)",
                    script.display(),
                    out.status
                ));
            }
            PathBuf::from(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        }
    };
    let mut child = Command::new(&bin)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    let stdin = child.stdin.take().ok_or("no stdin")?;
    let stdout = BufReader::new(child.stdout.take().ok_or("no stdout")?);
    Ok(GoRef {
        child,
        stdin,
        stdout,
    })
}

impl GoRef {
    fn call(&mut self, req: &serde_json::Value) -> Result<serde_json::Value, String> {
        let mut line = serde_json::to_vec(req).map_err(|e| e.to_string())?;
        line.push(b'\n');
        self.stdin
            .write_all(&line)
            .and_then(|()| self.stdin.flush())
            .map_err(|e| format!("goref stdin: {e}"))?;
        let mut answer = String::new();
        let n = self
            .stdout
            .read_line(&mut answer)
            .map_err(|e| format!("goref stdout: {e}"))?;
        if n == 0 {
            return Err("goref exited".into());
        }
        serde_json::from_str(&answer).map_err(|e| format!("goref answer: {e}"))
    }

    /// Every function name Go accepts in upstream's configuration (builtins and the sprig map).
    pub fn names(&mut self) -> Result<Vec<String>, String> {
        let a = self.call(&serde_json::json!({ "names": true }))?;
        let out = a["out"].as_str().unwrap_or_default();
        let bytes = B64.decode(out).map_err(|e| e.to_string())?;
        Ok(String::from_utf8_lossy(&bytes)
            .lines()
            .map(str::to_owned)
            .collect())
    }

    /// Renders `tpl` named `name` over `data` with the output bounded to `max` bytes.
    pub fn render(
        &mut self,
        name: &str,
        tpl: &str,
        data: &BTreeMap<String, Vec<u8>>,
        max: usize,
    ) -> Result<GoOutcome, String> {
        let a = self.call(&request(name, tpl, data, max))?;
        outcome(&a)
    }

    /// [`Self::render`] for several templates (name, source, data, limit) in one round trip.
    #[allow(dead_code)] // used by the fuzz target, not by the differential test
    pub fn render_batch(&mut self, items: &[BatchItem<'_>]) -> Result<Vec<GoOutcome>, String> {
        let batch: Vec<serde_json::Value> = items
            .iter()
            .map(|(n, t, d, m)| request(n, t, d, *m))
            .collect();
        let a = self.call(&serde_json::json!({ "batch": batch }))?;
        let answers = a["batch"]
            .as_array()
            .ok_or("goref: no batch in the answer")?;
        if answers.len() != items.len() {
            return Err(format!(
                "goref: {} answers for {} templates",
                answers.len(),
                items.len()
            ));
        }
        answers.iter().map(outcome).collect()
    }
}

fn request(
    name: &str,
    tpl: &str,
    data: &BTreeMap<String, Vec<u8>>,
    max: usize,
) -> serde_json::Value {
    let data: serde_json::Map<String, serde_json::Value> = data
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(B64.encode(v))))
        .collect();
    serde_json::json!({ "name": name, "tpl": B64.encode(tpl), "data": data, "max": max })
}

fn outcome(a: &serde_json::Value) -> Result<GoOutcome, String> {
    let err = a["err"].as_str().unwrap_or_default().to_owned();
    Ok(if a["ok"].as_bool() == Some(true) {
        let out = a["out"].as_str().unwrap_or_default();
        GoOutcome::Ok(B64.decode(out).map_err(|e| e.to_string())?)
    } else {
        match a["stage"].as_str() {
            Some("parse") => GoOutcome::Parse(err),
            Some("exec") => GoOutcome::Exec(err),
            Some("limit") => GoOutcome::Limit,
            Some("timeout") => GoOutcome::Timeout,
            _ => return Err(format!("goref: {err}")),
        }
    })
}

impl Drop for GoRef {
    fn drop(&mut self) {
        // Closing stdin ends the renderer's loop; then reap it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
