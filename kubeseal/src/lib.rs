//! The kubeseal CLI as a library: [`cli`] turns arguments into a [`config::Config`], [`run`]
//! dispatches to the modes, which are plain functions over bytes.

pub mod certs;
pub mod cli;
pub mod config;
pub mod http;
pub mod input;
pub mod keycmd;
pub mod kubeconfig;
pub mod online;
pub mod output;
pub mod privkeys;
pub mod reencrypt;
pub mod remote;
pub mod rng;
pub mod run;
pub mod seal;
pub mod unseal;

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
    #[test]
    fn io_text_is_go_style() {
        let e = std::io::Error::from(std::io::ErrorKind::NotFound);
        let os = std::io::Error::from_raw_os_error(2);
        assert_eq!(super::io_text(&os), "no such file or directory");
        assert_eq!(super::io_text(&e), "entity not found");
        let custom = std::io::Error::other("Ünïcode (os error 7) tail");
        assert_eq!(super::io_text(&custom), "ünïcode");
    }
}
