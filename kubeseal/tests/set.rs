//! `kubeseal set FILE …` against the real binary: one value changed, one line changed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)] // test code: a panic is a failure

mod support;

use common::documents::parse_sealed_secrets;
use common::sealing::{UnsealOptions, unseal};
use support::*;

/// A file as a user keeps it in Git: comments, two items, the namespace-wide scope.
fn sealed_file(dir: &TempDir) -> String {
    let cert = cert_arg();
    let secret = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: prod\n  annotations:\n    sealedsecrets.bitnami.com/namespace-wide: \"true\"\nstringData:\n  password: old-password\n  user: admin\n";
    let out = run(
        dir.path(),
        &["--cert", &cert, "-o", "yaml"],
        secret.as_bytes(),
    );
    out.ok();
    format!("# database credentials (prod)\n{}", out.stdout_str())
}

fn opened(text: &str) -> std::collections::BTreeMap<String, String> {
    let ss = &parse_sealed_secrets(text.as_bytes()).unwrap()[0];
    let s = unseal(
        ss,
        &[&key()],
        &UnsealOptions::default(),
        &mut Default::default(),
    )
    .unwrap();
    s.secret()
        .data
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8(v.0).unwrap()))
        .collect()
}

/// Lines removed and added, as `git diff --numstat` counts them (the files are written next to
/// each other in a scratch directory).
fn changed_lines(a: &str, b: &str) -> (usize, usize) {
    let d = TempDir::new("numstat");
    std::fs::write(d.path().join("a"), a).unwrap();
    std::fs::write(d.path().join("b"), b).unwrap();
    let out = std::process::Command::new("git")
        .args(["diff", "--no-index", "--numstat", "a", "b"])
        .current_dir(d.path())
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let mut f = text.split_whitespace();
    let added = f.next().map_or(0, |n| n.parse().unwrap());
    let removed = f.next().map_or(0, |n| n.parse().unwrap());
    (removed, added)
}

#[test]
fn set_replaces_one_value_and_only_its_line_changes() {
    let d = TempDir::new("set-one");
    let before = sealed_file(&d);
    let file = d.path().join("db.yaml");
    std::fs::write(&file, &before).unwrap();
    let cert = cert_arg();
    // Value from stdin (not a terminal).
    let out = run(
        d.path(),
        &["set", "db.yaml", "password", "--cert", &cert],
        b"new-password",
    );
    out.ok();
    assert_eq!(out.stdout, b"");
    assert!(!out.stderr.contains("new-password"), "{}", out.stderr);
    let after = std::fs::read_to_string(&file).unwrap();
    assert_eq!(changed_lines(&before, &after), (1, 1));
    let old_line = before
        .lines()
        .find(|l| l.trim_start().starts_with("password: "))
        .unwrap();
    assert!(!after.contains(old_line));
    assert!(after.starts_with("# database credentials (prod)\n"));
    let values = opened(&after);
    assert_eq!(values["password"], "new-password");
    assert_eq!(values["user"], "admin");
}

#[test]
fn literal_file_generate_and_delete_in_one_run() {
    let d = TempDir::new("set-many");
    let before = sealed_file(&d);
    let file = d.path().join("db.yaml");
    std::fs::write(&file, &before).unwrap();
    std::fs::write(
        d.path().join("ca.pem"),
        b"-----BEGIN CERTIFICATE-----\nMIIB\n",
    )
    .unwrap();
    let cert = cert_arg();
    let out = run(
        d.path(),
        &[
            "set",
            "db.yaml",
            "--cert",
            &cert,
            "--from-literal",
            "user=root",
            "--from-file",
            "ca.crt=ca.pem",
            "--generate",
            "token",
            "--length",
            "40",
            "--charset",
            "hex",
            "--delete",
            "password",
        ],
        b"",
    );
    out.ok();
    let after = std::fs::read_to_string(&file).unwrap();
    let values = opened(&after);
    assert_eq!(values["user"], "root");
    assert_eq!(values["ca.crt"], "-----BEGIN CERTIFICATE-----\nMIIB\n");
    assert!(!values.contains_key("password"));
    let token = &values["token"];
    assert_eq!(token.len(), 40);
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()), "{token}");
    // Never printed.
    assert!(!out.stderr.contains(token.as_str()) && !out.stdout_str().contains(token.as_str()));
    // user replaced (1 → 1), password removed, ca.crt and token added.
    assert_eq!(changed_lines(&before, &after), (2, 3));
}

#[test]
fn nothing_changed_leaves_the_file_untouched() {
    let d = TempDir::new("set-noop");
    let before = sealed_file(&d);
    let file = d.path().join("db.yaml");
    std::fs::write(&file, &before).unwrap();
    let mtime = std::fs::metadata(&file).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    // Deleting an absent item needs no certificate and changes nothing.
    run(d.path(), &["set", "db.yaml", "--delete", "absent"], b"").ok();
    assert_eq!(std::fs::read_to_string(&file).unwrap(), before);
    assert_eq!(std::fs::metadata(&file).unwrap().modified().unwrap(), mtime);
}

#[test]
fn several_sealed_secrets_need_name_and_only_that_one_changes() {
    let d = TempDir::new("set-multi");
    let one = sealed_file(&d);
    let two = one.replace("name: db", "name: cache");
    let both = format!(
        "{one}{}",
        two.trim_start_matches("# database credentials (prod)\n")
    );
    let file = d.path().join("all.yaml");
    std::fs::write(&file, &both).unwrap();
    let cert = cert_arg();
    let out = run(
        d.path(),
        &["set", "all.yaml", "user", "--cert", &cert],
        b"x",
    );
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .contains("2 SealedSecrets (db, cache); choose one with --name"),
        "{}",
        out.stderr
    );
    // The scope is the file's: namespace-wide, so the rename above still opens.
    run(
        d.path(),
        &[
            "set", "all.yaml", "user", "--name", "cache", "--cert", &cert,
        ],
        b"cache-user",
    )
    .ok();
    let after = std::fs::read_to_string(&file).unwrap();
    let docs = parse_sealed_secrets(after.as_bytes()).unwrap();
    let first = |d: &common::crd::SealedSecret| serde_json::to_value(d).unwrap();
    assert_eq!(
        first(&docs[0]),
        first(&parse_sealed_secrets(both.as_bytes()).unwrap()[0])
    );
    assert_eq!(changed_lines(&both, &after), (1, 1));
}

#[test]
fn bad_arguments_name_the_problem_and_never_echo_values() {
    let d = TempDir::new("set-bad");
    std::fs::write(d.path().join("db.yaml"), sealed_file(&d)).unwrap();
    let out = run(
        d.path(),
        &["set", "db.yaml", "--from-literal", "s3cr3t-no-equals"],
        b"",
    );
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("--from-literal expects KEY=VALUE"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("s3cr3t"));
    let out = run(d.path(), &["set", "db.yaml", "bad/key"], b"");
    assert!(
        out.stderr.contains("invalid item name \"bad/key\""),
        "{}",
        out.stderr
    );
    let out = run(d.path(), &["set", "missing.yaml", "--delete", "a"], b"");
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("missing.yaml"), "{}", out.stderr);
}

/// On a terminal the value comes from a prompt that does not echo it: kubeseal runs in a real
/// pseudo-terminal (tmux), the value is typed with `send-keys`, and the screen never shows it.
#[test]
fn the_prompt_on_a_terminal_does_not_echo_the_value() {
    let d = TempDir::new("set-tty");
    let file = d.path().join("db.yaml");
    std::fs::write(&file, sealed_file(&d)).unwrap();
    let script = format!(
        "{} set db.yaml password --cert {}; echo EXIT=$?; sleep 60",
        env!("CARGO_BIN_EXE_kubeseal"),
        cert_arg()
    );
    let term = Terminal::start(&d, &[], &script);
    term.wait_for("Value for \"password\" (not echoed):");
    term.type_line("typed-s3cr3t");
    term.wait_for("EXIT=0");
    let shown = term.screen();
    drop(term);
    assert!(!shown.contains("typed-s3cr3t"), "{shown}");
    let values = opened(&std::fs::read_to_string(&file).unwrap());
    assert_eq!(values["password"], "typed-s3cr3t");
    assert_eq!(values["user"], "admin");
}

fn plain_secret(password: &str, scope_annotation: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: prod\n  annotations:\n    sealedsecrets.bitnami.com/namespace-wide: \"{scope_annotation}\"\nstringData:\n  password: {password}\n  user: admin\n"
    )
}

fn item_line<'a>(text: &'a str, key: &str) -> &'a str {
    text.lines()
        .find(|l| l.trim_start().starts_with(&format!("{key}: ")))
        .unwrap()
}

/// `kubectl create secret … -o yaml | kubeseal --keep-unchanged db.yaml -w db.yaml`: only the
/// item whose value changed gets a new ciphertext, proven with local keys.
#[test]
fn keep_unchanged_reseals_only_the_changed_item() {
    let d = TempDir::new("keep");
    let before = sealed_file(&d);
    let file = d.path().join("db.yaml");
    std::fs::write(&file, &before).unwrap();
    let (cert, key) = (cert_arg(), key_arg());
    let args = [
        "--cert",
        &cert,
        "--keep-unchanged",
        "db.yaml",
        "--recovery-private-key",
        &key,
        "-w",
        "db.yaml",
    ];
    let out = run(
        d.path(),
        &args,
        plain_secret("new-password", "true").as_bytes(),
    );
    out.ok();
    assert!(
        out.stderr
            .contains("1 item(s) kept from db.yaml (proven unchanged), 1 sealed again"),
        "{}",
        out.stderr
    );
    let after = std::fs::read_to_string(&file).unwrap();
    assert_eq!(changed_lines(&before, &after), (1, 1));
    assert_eq!(item_line(&after, "user"), item_line(&before, "user"));
    assert!(
        after.starts_with("# database credentials (prod)\n"),
        "comments kept"
    );
    assert_eq!(opened(&after)["password"], "new-password");

    // The same input again: nothing changes at all, the file is not even rewritten.
    let mtime = std::fs::metadata(&file).unwrap().modified().unwrap();
    run(
        d.path(),
        &args,
        plain_secret("new-password", "true").as_bytes(),
    )
    .ok();
    assert_eq!(std::fs::read_to_string(&file).unwrap(), after);
    assert_eq!(std::fs::metadata(&file).unwrap().modified().unwrap(), mtime);
}

#[test]
fn keep_unchanged_without_a_proof_or_under_another_label_reseals_everything() {
    let d = TempDir::new("keep-none");
    let before = sealed_file(&d);
    std::fs::write(d.path().join("db.yaml"), &before).unwrap();
    let (cert, key) = (cert_arg(), key_arg());
    // No --recovery-private-key: nothing is proven, to stdout.
    let out = run(
        d.path(),
        &["--cert", &cert, "--keep-unchanged", "db.yaml", "-o", "yaml"],
        plain_secret("old-password", "true").as_bytes(),
    );
    out.ok();
    assert!(
        out.stderr.contains("0 item(s) kept") && out.stderr.contains("nothing can be proven"),
        "{}",
        out.stderr
    );
    assert_ne!(
        item_line(&out.stdout_str(), "user"),
        item_line(&before, "user")
    );
    // Another scope (strict instead of namespace-wide) is another label: nothing kept.
    let out = run(
        d.path(),
        &[
            "--cert",
            &cert,
            "--keep-unchanged",
            "db.yaml",
            "--recovery-private-key",
            &key,
            "-o",
            "yaml",
        ],
        plain_secret("old-password", "false").as_bytes(),
    );
    out.ok();
    assert!(out.stderr.contains("0 item(s) kept"), "{}", out.stderr);
    // The same label and values, to stdout: both kept, byte for byte.
    let out = run(
        d.path(),
        &[
            "--cert",
            &cert,
            "--keep-unchanged",
            "db.yaml",
            "--recovery-private-key",
            &key,
            "-o",
            "yaml",
        ],
        plain_secret("old-password", "true").as_bytes(),
    );
    out.ok();
    assert!(out.stderr.contains("2 item(s) kept"), "{}", out.stderr);
    let text = out.stdout_str();
    assert_eq!(item_line(&text, "user"), item_line(&before, "user"));
    assert_eq!(item_line(&text, "password"), item_line(&before, "password"));
}

/// `kubeseal diff OLD NEW`: which items changed, never the values; a re-sealed item is told from a
/// changed one only with a proof.
#[test]
fn diff_names_items_never_values() {
    let d = TempDir::new("diff");
    let old = sealed_file(&d);
    std::fs::write(d.path().join("old.yaml"), &old).unwrap();
    std::fs::write(d.path().join("new.yaml"), &old).unwrap();
    let cert = cert_arg();
    let key = key_arg();
    // user re-sealed with the same value, password changed, token added.
    run(
        d.path(),
        &[
            "set",
            "new.yaml",
            "--cert",
            &cert,
            "--from-literal",
            "user=admin",
            "--from-literal",
            "password=p2",
            "--generate",
            "token",
        ],
        b"",
    )
    .ok();
    let out = run(
        d.path(),
        &[
            "diff",
            "old.yaml",
            "new.yaml",
            "--recovery-private-key",
            &key,
        ],
        b"",
    );
    out.ok();
    assert_eq!(
        out.stdout_str(),
        "prod/db password: changed\nprod/db token: added\nprod/db user: re-sealed, same value\n"
    );
    let out = run(d.path(), &["diff", "old.yaml", "new.yaml"], b"");
    out.ok();
    assert!(
        out.stdout_str()
            .contains("prod/db user: differs (no --recovery-private-key opens both"),
        "{}",
        out.stdout_str()
    );
    assert!(!out.stdout_str().contains("admin") && !out.stdout_str().contains("p2"));
    let out = run(d.path(), &["diff", "old.yaml", "old.yaml"], b"");
    assert_eq!(
        out.stdout_str(),
        "prod/db password: unchanged\nprod/db user: unchanged\n"
    );
}

/// `kubeseal edit` driven in a real terminal with Debian's vi: one value changed, one line changed
/// in the file, the password's sealed bytes kept, and nothing left in the private RAM directory.
#[test]
fn edit_in_vi_changes_one_line_and_leaves_nothing_behind() {
    let d = TempDir::new("edit-vi");
    let before = sealed_file(&d);
    let file = d.path().join("db.yaml");
    std::fs::write(&file, &before).unwrap();
    let run_dir = d.path().join("run");
    std::fs::create_dir(&run_dir).unwrap();
    let script = format!(
        "{} edit db.yaml --cert {} --recovery-private-key {}; echo EXIT=$?; sleep 60",
        env!("CARGO_BIN_EXE_kubeseal"),
        cert_arg(),
        key_arg()
    );
    let home = format!("HOME={}", d.path().display());
    let xdg = format!("XDG_RUNTIME_DIR={}", run_dir.display());
    let term = Terminal::start(
        &d,
        &[&home, &xdg, "EDITOR=vi -i NONE", "KUBE_EDITOR=", "VISUAL="],
        &script,
    );
    term.wait_for("user: admin");
    // The view: one 0700 directory holding the 0600 file, while the editor runs.
    use std::os::unix::fs::PermissionsExt as _;
    let dirs: Vec<_> = std::fs::read_dir(&run_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    assert_eq!(
        std::fs::metadata(&dirs[0]).unwrap().permissions().mode() & 0o777,
        0o700
    );
    let view = dirs[0].join("db.yaml");
    assert_eq!(
        std::fs::metadata(&view).unwrap().permissions().mode() & 0o777,
        0o600
    );
    term.type_line(":%s/user: admin/user: root/");
    term.type_line(":wq");
    term.wait_for("EXIT=0");
    drop(term);
    let after = std::fs::read_to_string(&file).unwrap();
    assert_eq!(changed_lines(&before, &after), (1, 1));
    assert_eq!(
        item_line(&after, "password"),
        item_line(&before, "password")
    );
    let values = opened(&after);
    assert_eq!(
        (values["user"].as_str(), values["password"].as_str()),
        ("root", "old-password")
    );
    assert_eq!(
        std::fs::read_dir(&run_dir).unwrap().count(),
        0,
        "the private directory is gone"
    );
    // No plaintext anywhere under the test's directory (its HOME: vi runs with `-i NONE`, as the
    // docs recommend, else its .viminfo keeps registers) nor in /dev/shm.
    for dir in [d.path().to_path_buf(), std::path::PathBuf::from("/dev/shm")] {
        for e in walk(&dir) {
            let bytes = std::fs::read(&e).unwrap_or_default();
            let text = String::from_utf8_lossy(&bytes);
            assert!(
                !text.contains("old-password") && !text.contains("user: root"),
                "plaintext left in {}",
                e.display()
            );
        }
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if p.extension().is_none_or(|x| x != "sock") {
            out.push(p);
        }
    }
    out
}

/// Without keys the values are placeholders; leaving them alone changes nothing at all.
#[test]
fn edit_without_keys_shows_placeholders_and_keeps_the_file() {
    let d = TempDir::new("edit-none");
    let before = sealed_file(&d);
    let file = d.path().join("db.yaml");
    std::fs::write(&file, &before).unwrap();
    let run_dir = d.path().join("run");
    std::fs::create_dir(&run_dir).unwrap();
    // An "editor" that copies the view out for the test, then adds one item.
    let seen = d.path().join("seen.yaml");
    let editor = format!(
        "sh -c 'cp \"$0\" {} && printf \"  token: fresh\\\\n\" >> \"$0\"'",
        seen.display()
    );
    let xdg = run_dir.to_str().unwrap();
    let cert = cert_arg();
    let out = run_env(
        d.path(),
        &["edit", "db.yaml", "--cert", &cert],
        b"",
        &[
            ("EDITOR", &editor),
            ("XDG_RUNTIME_DIR", xdg),
            ("PATH", "/usr/bin:/bin"),
        ],
    );
    out.ok();
    let view = std::fs::read_to_string(&seen).unwrap();
    assert!(
        view.contains("password: \"<sealed: unchanged>\"")
            && view.contains("user: \"<sealed: unchanged>\""),
        "{view}"
    );
    assert!(!view.contains("admin"));
    let after = std::fs::read_to_string(&file).unwrap();
    assert_eq!(changed_lines(&before, &after), (0, 1));
    assert_eq!(opened(&after)["token"], "fresh");
    assert_eq!(std::fs::read_dir(&run_dir).unwrap().count(), 0);
    // An editor that changes nothing: the file keeps its bytes.
    let out = run_env(
        d.path(),
        &["edit", "db.yaml", "--cert", &cert],
        b"",
        &[
            ("EDITOR", "true"),
            ("XDG_RUNTIME_DIR", xdg),
            ("PATH", "/usr/bin:/bin"),
        ],
    );
    out.ok();
    assert!(out.stderr.contains("nothing changed"), "{}", out.stderr);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), after);
}

/// A real terminal for kubeseal: a tmux server of the test's own (socket in the test directory)
/// running `script` in a 160x30 window; killed when dropped.
struct Terminal {
    sock: std::path::PathBuf,
}

impl Terminal {
    fn start(dir: &TempDir, env: &[&str], script: &str) -> Self {
        let t = Terminal {
            sock: dir.path().join("tmux.sock"),
        };
        let mut args = vec!["new-session", "-d", "-s", "t", "-x", "160", "-y", "30"];
        let cwd = dir.path().to_str().unwrap();
        args.extend(["-c", cwd]);
        for e in env {
            args.extend(["-e", e]);
        }
        args.push(script);
        let out = t.tmux(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        t
    }

    fn tmux(&self, args: &[&str]) -> std::process::Output {
        std::process::Command::new("tmux")
            .arg("-S")
            .arg(&self.sock)
            .args(args)
            .output()
            .expect("tmux (Debian package tmux; tests/run.sh installs it)")
    }

    fn screen(&self) -> String {
        String::from_utf8(self.tmux(&["capture-pane", "-p", "-t", "t"]).stdout).unwrap()
    }

    fn wait_for(&self, what: &str) {
        for _ in 0..200 {
            if self.screen().contains(what) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("no {what:?} on the screen:\n{}", self.screen());
    }

    /// Types `text` literally, then Enter.
    fn type_line(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "t", "-l", text]);
        self.tmux(&["send-keys", "-t", "t", "Enter"]);
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
    }
}

/// The fingerprint annotation of the first SealedSecret of `text`, by item.
fn fingerprints(text: &str) -> std::collections::BTreeMap<String, String> {
    let ss = &parse_sealed_secrets(text.as_bytes()).unwrap()[0];
    common::fingerprint::of_annotations(ss.metadata.annotations.as_ref())
}

/// A CI pipeline that holds every value but no private key: the keyed fingerprints prove which
/// items did not change (`--fingerprint-key-file`, or the key in `SEALED_SECRETS_FINGERPRINT_KEY`).
#[test]
fn fingerprints_prove_unchanged_items_without_a_private_key() {
    let d = TempDir::new("fingerprint");
    let cert = cert_arg();
    // A new key: mode 0600, never overwritten.
    run(d.path(), &["fingerprint-key", "new", "-o", "fp.key"], b"").ok();
    let key_path = d.path().join("fp.key");
    let key_text = std::fs::read_to_string(&key_path).unwrap();
    assert_eq!(key_text.trim().len(), 44, "32 bytes of base64");
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&key_path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let again = run(d.path(), &["fingerprint-key", "new", "-o", "fp.key"], b"");
    assert_ne!(again.code, 0);
    assert!(
        again.stderr.contains("never overwritten"),
        "{}",
        again.stderr
    );
    assert_eq!(std::fs::read_to_string(&key_path).unwrap(), key_text);

    // First sealing writes a fingerprint per item, never the key.
    let first = run(
        d.path(),
        &[
            "--cert",
            &cert,
            "--fingerprint-key-file",
            "fp.key",
            "-o",
            "yaml",
        ],
        plain_secret("old-password", "true").as_bytes(),
    );
    first.ok();
    let before = first.stdout_str();
    assert!(!before.contains(key_text.trim()));
    let fps = fingerprints(&before);
    assert_eq!(fps.keys().collect::<Vec<_>>(), ["password", "user"]);
    assert!(fps.values().all(|v| v.starts_with("v1:")));
    let file = d.path().join("db.yaml");
    std::fs::write(&file, &before).unwrap();

    let keep = |stdin: &str, env: &[(&str, &str)], key_file: bool| {
        let mut args = vec![
            "--cert",
            &cert,
            "--keep-unchanged",
            "db.yaml",
            "-w",
            "db.yaml",
        ];
        if key_file {
            args.extend(["--fingerprint-key-file", "fp.key"]);
        }
        let out = run_env(d.path(), &args, stdin.as_bytes(), env);
        out.ok();
        out.stderr
    };
    // The same values: everything kept, the file not even rewritten.
    let mtime = std::fs::metadata(&file).unwrap().modified().unwrap();
    let err = keep(&plain_secret("old-password", "true"), &[], true);
    assert!(err.contains("2 item(s) kept"), "{err}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), before);
    assert_eq!(std::fs::metadata(&file).unwrap().modified().unwrap(), mtime);
    // The key from the environment proves the same.
    let err = keep(
        &plain_secret("old-password", "true"),
        &[("SEALED_SECRETS_FINGERPRINT_KEY", key_text.trim())],
        false,
    );
    assert!(err.contains("2 item(s) kept"), "{err}");

    // One value changed: its line and the annotation's line change, nothing else.
    let err = keep(&plain_secret("new-password", "true"), &[], true);
    assert!(
        err.contains("1 item(s) kept") && err.contains("1 sealed again"),
        "{err}"
    );
    let after = std::fs::read_to_string(&file).unwrap();
    assert_eq!(changed_lines(&before, &after), (2, 2));
    assert_eq!(item_line(&after, "user"), item_line(&before, "user"));
    assert_eq!(opened(&after)["password"], "new-password");
    assert_eq!(fingerprints(&after)["user"], fps["user"]);
    assert_ne!(fingerprints(&after)["password"], fps["password"]);
    let err = keep(&plain_secret("new-password", "true"), &[], true);
    assert!(err.contains("2 item(s) kept"), "{err}");

    // Swapped ciphertexts are never kept: a fingerprint names its ciphertext.
    let (pw, user) = (item_line(&after, "password"), item_line(&after, "user"));
    let swapped = after
        .replace(pw, "@@PW@@")
        .replace(user, &pw.replace("password:", "user:"))
        .replace("@@PW@@", &user.replace("user:", "password:"));
    std::fs::write(&file, &swapped).unwrap();
    let err = keep(&plain_secret("new-password", "true"), &[], true);
    assert!(err.contains("0 item(s) kept"), "{err}");

    // Another key proves nothing, and the fingerprints are rewritten with it.
    std::fs::write(&file, &after).unwrap();
    run(
        d.path(),
        &["fingerprint-key", "new", "-o", "other.key"],
        b"",
    )
    .ok();
    let out = run(
        d.path(),
        &[
            "--cert",
            &cert,
            "--keep-unchanged",
            "db.yaml",
            "--fingerprint-key-file",
            "other.key",
            "-o",
            "yaml",
        ],
        plain_secret("new-password", "true").as_bytes(),
    );
    out.ok();
    assert!(out.stderr.contains("0 item(s) kept"), "{}", out.stderr);
    assert_ne!(fingerprints(&out.stdout_str())["user"], fps["user"]);

    // A key file that is not a key: the file is named, its content never shown.
    std::fs::write(d.path().join("bad.key"), "hunter2 is not a key\n").unwrap();
    let out = run(
        d.path(),
        &["--cert", &cert, "--fingerprint-key-file", "bad.key"],
        plain_secret("x", "true").as_bytes(),
    );
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("bad.key") && !out.stderr.contains("hunter2"),
        "{}",
        out.stderr
    );
}

/// `kubeseal set` keeps the fingerprints in step: a new one for an item set with the key, none
/// for an item set without it, none for a deleted item, the others untouched.
#[test]
fn set_keeps_the_fingerprints_in_step() {
    let d = TempDir::new("fingerprint-set");
    let cert = cert_arg();
    run(d.path(), &["fingerprint-key", "-o", "fp.key", "new"], b"").ok();
    let out = run(
        d.path(),
        &[
            "--cert",
            &cert,
            "--fingerprint-key-file",
            "fp.key",
            "-o",
            "yaml",
        ],
        plain_secret("old-password", "true").as_bytes(),
    );
    out.ok();
    let before = format!("# kept comment\n{}", out.stdout_str());
    let file = d.path().join("db.yaml");
    std::fs::write(&file, &before).unwrap();
    let fps = fingerprints(&before);

    let set = |args: &[&str], stdin: &[u8]| {
        let mut all = vec!["set", "db.yaml", "--cert", &cert];
        all.extend(args);
        run(d.path(), &all, stdin).ok();
        std::fs::read_to_string(&file).unwrap()
    };
    // With the key: the new value's fingerprint proves it to a later --keep-unchanged.
    let with_key = set(
        &["password", "--fingerprint-key-file", "fp.key"],
        b"new-password",
    );
    assert_eq!(changed_lines(&before, &with_key), (2, 2));
    assert!(with_key.starts_with("# kept comment\n"));
    let now = fingerprints(&with_key);
    assert_eq!(now["user"], fps["user"]);
    assert_ne!(now["password"], fps["password"]);
    let out = run(
        d.path(),
        &[
            "--cert",
            &cert,
            "--keep-unchanged",
            "db.yaml",
            "--fingerprint-key-file",
            "fp.key",
            "-o",
            "yaml",
        ],
        plain_secret("new-password", "true").as_bytes(),
    );
    out.ok();
    assert!(out.stderr.contains("2 item(s) kept"), "{}", out.stderr);

    // Without the key: the changed item's fingerprint is dropped (it named the old ciphertext).
    let without = set(&["--from-literal", "user=root"], b"");
    let now = fingerprints(&without);
    assert!(!now.contains_key("user"));
    assert!(now.contains_key("password"));
    // Deleting an item deletes its fingerprint; the last one removes the annotation.
    let deleted = set(&["--delete", "password"], b"");
    assert!(
        !deleted.contains(common::fingerprint::ANNOTATION),
        "{deleted}"
    );
    assert_eq!(opened(&deleted)["user"], "root");
}

/// `--merge-into` has no fingerprint key: the items it seals lose their fingerprints, the others
/// keep theirs.
#[test]
fn merge_into_drops_the_fingerprints_of_the_items_it_seals() {
    let d = TempDir::new("fingerprint-merge");
    let cert = cert_arg();
    run(d.path(), &["fingerprint-key", "new", "-o", "fp.key"], b"").ok();
    let out = run(
        d.path(),
        &[
            "--cert",
            &cert,
            "--fingerprint-key-file",
            "fp.key",
            "-o",
            "yaml",
        ],
        plain_secret("old-password", "true").as_bytes(),
    );
    out.ok();
    let before = out.stdout_str();
    std::fs::write(d.path().join("db.yaml"), &before).unwrap();
    let update = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: prod\nstringData:\n  password: merged\n";
    run(
        d.path(),
        &["--cert", &cert, "--merge-into", "db.yaml"],
        update.as_bytes(),
    )
    .ok();
    let after = std::fs::read_to_string(d.path().join("db.yaml")).unwrap();
    let (old, new) = (fingerprints(&before), fingerprints(&after));
    assert_eq!(new.keys().collect::<Vec<_>>(), ["user"]);
    assert_eq!(new["user"], old["user"]);
    assert_eq!(opened(&after)["password"], "merged");
}

/// Several `--cert` (one SealedSecret per certificate): each gets its own fingerprints.
#[test]
fn fleet_sealing_writes_the_fingerprints_of_every_output() {
    let d = TempDir::new("fingerprint-fleet");
    let cert = cert_arg();
    run(d.path(), &["fingerprint-key", "new", "-o", "fp.key"], b"").ok();
    let out = run(
        d.path(),
        &[
            "--cert",
            &cert,
            "--cert",
            &cert,
            "--fingerprint-key-file",
            "fp.key",
            "-o",
            "yaml",
        ],
        plain_secret("pw", "true").as_bytes(),
    );
    out.ok();
    let all = parse_sealed_secrets(out.stdout_str().as_bytes()).unwrap();
    assert_eq!(all.len(), 2);
    let fps: Vec<_> = all
        .iter()
        .map(|ss| common::fingerprint::of_annotations(ss.metadata.annotations.as_ref()))
        .collect();
    for f in &fps {
        assert_eq!(f.keys().collect::<Vec<_>>(), ["password", "user"]);
    }
    // Each fingerprint names its own ciphertext.
    assert_ne!(fps[0]["password"], fps[1]["password"]);
}
