//! `kubeseal diff OLD NEW` (ours): per SealedSecret (by namespace and name) and item, whether it
//! was added, removed, changed or only re-sealed; never a value. An item whose ciphertext differs
//! is "re-sealed, same value" or "changed" only with a proof (`--recovery-private-key`: both
//! ciphertexts opened and compared); without one it is "differs".

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use common::crd::SealedSecret;
use common::documents::parse_sealed_secrets;
use common::keys::PrivateKey;
use common::sealing::{label_of, open_value};

use super::keep::id;

use crate::config::Config;
use crate::io::{read_file, write_stdout};

/// Run `kubeseal diff`.
pub fn run(old: &Path, new: &Path, config: &Config) -> anyhow::Result<()> {
    let parse = |p: &Path| -> anyhow::Result<Vec<SealedSecret>> {
        parse_sealed_secrets(&read_file(p)?).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))
    };
    let keys = super::recovery::read_private_keys(&config.recovery_private_keys)?;
    let report = diff(&parse(old)?, &parse(new)?, &keys);
    write_stdout(report.as_bytes())
}

fn open(ss: &SealedSecret, ct: &str, keys: &[PrivateKey]) -> Option<zeroize::Zeroizing<Vec<u8>>> {
    open_value(keys, &label_of(ss), ct)
}

/// One line per SealedSecret and item: `<namespace>/<name> <item>: <status>`.
pub fn diff(old: &[SealedSecret], new: &[SealedSecret], keys: &[PrivateKey]) -> String {
    let ids: BTreeSet<(String, String)> = old.iter().chain(new).map(id).collect();
    let mut out = String::new();
    for key in ids {
        let o = old.iter().find(|s| id(s) == key);
        let n = new.iter().find(|s| id(s) == key);
        let name = format!("{}/{}", key.0, key.1);
        let (o, n) = match (o, n) {
            (None, Some(_)) => {
                let _ = writeln!(out, "{name}: added");
                continue;
            }
            (Some(_), None) => {
                let _ = writeln!(out, "{name}: removed");
                continue;
            }
            (Some(o), Some(n)) => (o, n),
            (None, None) => continue,
        };
        if label_of(o) != label_of(n) {
            let _ = writeln!(
                out,
                "{name}: scope changed (every item sealed under another label)"
            );
        }
        let items: BTreeSet<&String> = o
            .spec
            .encrypted_data
            .keys()
            .chain(n.spec.encrypted_data.keys())
            .collect();
        for item in items {
            let status = match (
                o.spec.encrypted_data.get(item),
                n.spec.encrypted_data.get(item),
            ) {
                (None, Some(_)) => "added",
                (Some(_), None) => "removed",
                (Some(a), Some(b)) if a == b => "unchanged",
                (Some(a), Some(b)) => match (open(o, a, keys), open(n, b, keys)) {
                    (Some(x), Some(y)) if *x == *y => "re-sealed, same value",
                    (Some(_), Some(_)) => "changed",
                    _ => "differs (no --recovery-private-key opens both: changed or re-sealed)",
                },
                (None, None) => continue,
            };
            let _ = writeln!(out, "{name} {item}: {status}");
        }
    }
    out
}
