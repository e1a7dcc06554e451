//! The request bodies of `/v1/verify` and `/v1/rotate` (`controller::http::answer`, what the
//! handlers run after the rate limit and the 1 MiB body limit), with the fixture key as the only
//! sealing key.
//!
//! Input: `selector (1 byte: bit 0 = rotate, bit 1 = accept the deprecated v1 data) || body`.
//! Checked: no panic, no hang; verify answers 200 or 409 with an empty body, or 400; rotate
//! answers 200 with a SealedSecret of the same name, namespace and scope whose values open with
//! the key, or 409 with an empty body, or 400; a 400 message never quotes the body (checked for
//! bodies holding a DEL byte).
#![no_main]

use axum::http::StatusCode;
use common::documents::parse_sealed_secrets;
use common::scope::SealingScope;
use common::sealing::verify;
use controller::http::{Endpoint, answer};
use libfuzzer_sys::fuzz_target;
use sealed_secrets_fuzz::{contains, key, ring};

fuzz_target!(|data: &[u8]| {
    let [selector, body @ ..] = data else {
        return;
    };
    let ep = if selector & 1 == 0 {
        Endpoint::Verify
    } else {
        Endpoint::Rotate
    };
    let accept_v1 = selector & 2 != 0;
    let response = answer(ep, body, ring(), accept_v1);
    let status = response.status();
    let bytes = futures::executor::block_on(axum::body::to_bytes(response.into_body(), usize::MAX))
        .expect("response body");
    match (ep, status) {
        (_, StatusCode::BAD_REQUEST) => {
            let text = std::str::from_utf8(&bytes).expect("messages are text");
            assert!(
                text.ends_with('\n') && text.len() < 80,
                "unexpected 400 message"
            );
            // Checked for bodies holding a DEL byte, which the messages' own text never has.
            assert!(
                !body.contains(&0x7f) || !contains(&bytes, body, 6),
                "400 quotes the body"
            );
        }
        (_, StatusCode::CONFLICT) | (Endpoint::Verify, StatusCode::OK) => {
            assert!(
                bytes.is_empty(),
                "verify/rotate {status} must have an empty body"
            );
        }
        (Endpoint::Rotate, StatusCode::OK) => rotated(body, &bytes),
        (_, other) => panic!("unexpected status {other} for {ep:?}"),
    }
});

/// A 200 from rotate: the input's identity and scope, values that open with the key.
fn rotated(request: &[u8], reply: &[u8]) {
    let input = parse_sealed_secrets(request).expect("rotate accepted the body");
    let output = parse_sealed_secrets(reply).expect("rotate output parses");
    assert_eq!(output.len(), 1);
    let (before, after) = (&input[0], &output[0]);
    assert_eq!(after.metadata.name, before.metadata.name);
    assert_eq!(after.metadata.namespace, before.metadata.namespace);
    let scope = SealingScope::from_annotations(before.metadata.annotations.as_ref());
    assert_eq!(
        SealingScope::from_annotations(after.metadata.annotations.as_ref()),
        scope
    );
    assert_eq!(
        SealingScope::from_annotations(after.spec.template.metadata.annotations.as_ref()),
        scope,
        "the template's scope must agree with the object's (CVE-2026-22728)"
    );
    assert!(after.spec.data.is_none());
    verify(after, &[key()], &mut Default::default()).expect("rotated values open with the key");
}
