//! Go `text/template` + sprig rendering (`common::template`), as the controller renders
//! `spec.template.data`, with the controller's default limits.
//!
//! Input: `template source || 0x00 || key=value || 0x00 || key=value …` (the data map stands for
//! the decrypted values). Checked: no panic, no hang, no unbounded memory (a timeout or OOM is a
//! finding: the engine bounds steps, depth and output), the output is within the limit, `check`
//! agrees with `render` on parse errors, and an error message never contains a data value (checked
//! for values holding a DEL byte, which the engine's own message text never has).
#![no_main]

use std::collections::BTreeMap;

use common::template::{Limits, TemplateError, check, render};
use libfuzzer_sys::fuzz_target;
use sealed_secrets_fuzz::contains;
use zeroize::Zeroizing;

fuzz_target!(|input: &[u8]| {
    let mut parts = input.split(|b| *b == 0);
    let Some(src) = parts.next().and_then(|s| std::str::from_utf8(s).ok()) else {
        return;
    };
    let mut data: BTreeMap<String, Zeroizing<Vec<u8>>> = BTreeMap::new();
    for pair in parts {
        let (k, v) = match pair.iter().position(|b| *b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &[][..]),
        };
        data.insert(
            String::from_utf8_lossy(k).into_owned(),
            Zeroizing::new(v.to_vec()),
        );
    }
    let limits = Limits::default();
    let rendered = render("k", src, &data, &limits);
    let checked = check("k", src, &limits);
    match &rendered {
        Ok(out) => {
            assert!(
                out.len() <= limits.max_output_bytes,
                "output over the limit"
            );
            assert!(checked.is_ok(), "render accepted what check refuses");
        }
        Err(e) => {
            if matches!(e, TemplateError::Parse { .. }) {
                assert!(checked.is_err(), "check accepted what render cannot parse");
            }
            let msg = e.to_string();
            // Values marked with a DEL byte (never part of the engine's own message text) must
            // not appear, unless the source or a key name holds them too.
            for v in data.values().filter(|v| v.contains(&0x7f)) {
                let elsewhere = contains(src.as_bytes(), v, 1)
                    || data.keys().any(|k| contains(k.as_bytes(), v, 1));
                assert!(
                    elsewhere || !contains(msg.as_bytes(), v, 6),
                    "template error message contains a data value"
                );
            }
        }
    }
});
