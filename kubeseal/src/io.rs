//! Input and output: `-f FILE` or stdin (with upstream's hint on a terminal), stdout or a file
//! written atomically (temp file in the same directory, then rename, so a failed run never leaves a
//! half-written file), and I/O errors worded as Go's.

use std::io::{IsTerminal, Read, Write};
use std::path::Path;

use anyhow::Context as _;

use crate::config::Output;

/// Read all of `file`, or stdin when `None`. `tty_hint` is printed to stderr first when stdin is
/// a terminal.
pub fn read_input(file: Option<&Path>, tty_hint: &str) -> anyhow::Result<Vec<u8>> {
    match file {
        Some(path) => read_file(path).context("Could not read file specified with --secret-file"),
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

/// True when `err` is (caused by) a broken pipe: `kubeseal | head` is not an error.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Write `bytes` to `path` atomically: a temp file next to it, fsync, rename over. The file's
/// permissions are kept when it exists.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    write_atomic_with(path, bytes, false)
}

/// Write `bytes` to `path` atomically with mode 0600, whatever the file had (key backups).
pub fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    write_atomic_with(path, bytes, true)
}

fn write_atomic_with(path: &Path, bytes: &[u8], private: bool) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let base = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let tmp = dir.join(format!(".{base}.{}.{nanos}.tmp", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        if private {
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        }
        let mut f = options.open(&tmp)?;
        if private {
            #[cfg(unix)]
            f.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
        } else if let Ok(meta) = std::fs::metadata(path) {
            let _ = f.set_permissions(meta.permissions());
        }
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        anyhow::bail!("cannot write {}: {}", path.display(), io_text(&e));
    }
    Ok(())
}

/// Write `bytes` to a new file `path` with mode 0600; an existing file is never replaced (a
/// temp file next to it is hard-linked to `path`, which fails when `path` exists).
pub fn write_new_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if std::fs::symlink_metadata(path).is_ok() {
        anyhow::bail!("{} exists: it is never overwritten", path.display());
    }
    let tmp = path.with_file_name(format!(
        ".{}.{}.new",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "out".into()),
        std::process::id()
    ));
    write_private(&tmp, bytes)?;
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            anyhow::bail!("{} exists: it is never overwritten", path.display())
        }
        Err(e) => anyhow::bail!("cannot write {}: {}", path.display(), io_text(&e)),
    }
}

/// Write to stdout, flushing.
pub fn write_stdout(bytes: &[u8]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()?;
    Ok(())
}

/// `true` for a `.yaml`/`.yml` path (forces YAML output, as upstream).
pub fn is_yaml_path(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"))
}

/// Write `bytes` where `output` says: its file (atomically) or stdout.
pub fn emit(output: &Output, bytes: &[u8]) -> anyhow::Result<()> {
    match &output.file {
        Some(path) => write_atomic(path, bytes),
        None => write_stdout(bytes),
    }
}

/// Go-style text for an I/O error: lower case, without Rust's `(os error N)` suffix, so that
/// upstream's messages (`open x: no such file or directory`) are reproduced.
pub fn io_text(e: &std::io::Error) -> String {
    let s = e.to_string();
    let s = match s.split_once(" (os error") {
        Some((text, _)) => text.to_string(),
        None => s,
    };
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
        None => s,
    }
}

/// Error for failing to open `path`, as Go's `os.Open`.
pub fn open_error(path: &std::path::Path, e: &std::io::Error) -> anyhow::Error {
    anyhow::anyhow!("open {}: {}", path.display(), io_text(e))
}

/// Read a file with Go-style errors.
pub fn read_file(path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| open_error(path, &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_text_is_go_style() {
        let e = std::io::Error::from(std::io::ErrorKind::NotFound);
        let os = std::io::Error::from_raw_os_error(2);
        assert_eq!(io_text(&os), "no such file or directory");
        assert_eq!(io_text(&e), "entity not found");
        let custom = std::io::Error::other("Ünïcode (os error 7) tail");
        assert_eq!(io_text(&custom), "ünïcode");
    }

    #[test]
    fn write_private_is_0600() {
        let dir = std::env::temp_dir().join(format!("kubeseal-wp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("keys.yaml");
        write_private(&p, b"x").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
