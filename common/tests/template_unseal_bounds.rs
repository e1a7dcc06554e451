//! The controller renders `spec.template.data` through `sealing::unseal` with
//! `UnsealOptions::default()` (controller/src/reconcile/mod.rs); this checks that this path, not
//! only `template::render` called directly, cuts off output, step and nesting bombs with the
//! default `template::Limits`, item by item, and that the other items still fail cleanly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use common::crd::SealedSecret;
use common::sealing::{UnsealOptions, unseal};
use common::template::Limits;

#[test]
fn unseal_applies_the_template_limits() {
    let limits = Limits::default();
    let deep = format!(
        "{}1{}",
        "(".repeat(limits.max_depth + 5),
        ")".repeat(limits.max_depth + 5)
    );
    let mut ss = SealedSecret::new("b", Default::default());
    ss.metadata.namespace = Some("a".into());
    ss.spec.template.data = Some(BTreeMap::from([
        ("output".into(), "{{ repeat 100000000 \"x\" }}".into()),
        ("steps".into(), "{{ range seq 100000000 }}{{ end }}".into()),
        (
            "untilbomb".into(),
            "{{ range until 10000000 }}{{ end }}".into(),
        ),
        (
            "keybomb".into(),
            "{{ range until 10 }}{{ genPrivateKey \"rsa\" }}{{ end }}".into(),
        ),
        (
            "certbomb".into(),
            "{{ range until 100 }}{{ genCA \"x\" 1 }}{{ end }}".into(),
        ),
        ("nesting".into(), format!("{{{{ {deep} }}}}")),
        ("fine".into(), "{{ dateInZone \"2006\" 0 \"UTC\" }}".into()),
    ]));
    let opts = UnsealOptions::default();
    assert_eq!(
        opts.template_limits, limits,
        "the controller's options carry the limits"
    );
    let err = unseal(&ss, &[], &opts, &mut Default::default()).unwrap_err();
    let msg = err.to_string();
    for want in [
        format!(
            "template output exceeds {} bytes (template \"output\")",
            limits.max_output_bytes
        ),
        format!(
            "template exceeds {} steps (template \"steps\")",
            limits.max_steps
        ),
        format!(
            "template exceeds {} steps (template \"untilbomb\")",
            limits.max_steps
        ),
        format!(
            "template exceeds {} steps (template \"keybomb\")",
            limits.max_steps
        ),
        format!(
            "template nesting exceeds {} levels (template \"nesting\")",
            limits.max_depth
        ),
    ] {
        assert!(msg.contains(&want), "{want:?} not in {msg:?}");
    }
    assert!(!msg.contains("\"fine\""), "{msg}");
}
