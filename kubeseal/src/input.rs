//! Reading the input: `-f FILE` or stdin, with upstream's hint when stdin is a terminal.

use std::io::{IsTerminal, Read};
use std::path::Path;

use anyhow::Context as _;

/// Read all of `file`, or stdin when `None`. `tty_hint` is printed to stderr first when stdin is
/// a terminal.
pub fn read_input(file: Option<&Path>, tty_hint: &str) -> anyhow::Result<Vec<u8>> {
    match file {
        Some(path) => {
            crate::read_file(path).context("Could not read file specified with --secret-file")
        }
        None => read_stdin(tty_hint),
    }
}

/// Read all of stdin; print `tty_hint` first when it is a terminal.
pub fn read_stdin(tty_hint: &str) -> anyhow::Result<Vec<u8>> {
    let mut stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!("{tty_hint}");
    }
    let mut buf = Vec::new();
    stdin.read_to_end(&mut buf).context("cannot read stdin")?;
    Ok(buf)
}

/// Hint for document input.
pub const TTY_HINT_RESOURCE: &str = "(tty detected: expecting json/yaml k8s resource in stdin)";
/// Hint for `--raw`.
pub const TTY_HINT_RAW: &str = "(tty detected: expecting a secret to encrypt in stdin)";
