use super::*;

const YAML: &str = "\
# sealed for prod
---
apiVersion: bitnami.com/v1alpha1
kind: SealedSecret
metadata:
  name: db   # the database
  namespace: prod
spec:
  encryptedData:
    # rotated 2026-01
    password: AgBy3i4OJSWK+PiTySYZZA==
    user: 'AgAAAA=='   # quoted
  template:
    metadata:
      name: db
";

const FP: &str = crate::fingerprint::ANNOTATION;

fn set(key: &str, ct: &str) -> ItemEdit {
    ItemEdit::Set {
        key: key.into(),
        ciphertext: ct.into(),
    }
}

fn del(key: &str) -> ItemEdit {
    ItemEdit::Delete { key: key.into() }
}

fn items(text: &str, index: usize) -> Map<String, Value> {
    documents(text).unwrap()[index].value["spec"]["encryptedData"]
        .as_object()
        .unwrap()
        .clone()
}

/// (removed, added) lines between two texts, from a longest-common-subsequence line diff.
fn line_changes(old: &str, new: &str) -> (usize, usize) {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let common = lcs[0][0];
    (a.len() - common, b.len() - common)
}

#[test]
fn replacing_one_yaml_item_changes_one_line_and_keeps_its_quotes_and_comments() {
    let out = edit_encrypted_data(YAML, 0, &[set("user", "AgNEW==")]).unwrap();
    assert_eq!(out.rewritten, None);
    assert_eq!(out.text, YAML.replace("'AgAAAA=='", "'AgNEW=='"));
    assert_eq!(line_changes(YAML, &out.text), (1, 1));
}

#[test]
fn adding_keeps_a_sorted_file_sorted_and_deleting_removes_only_that_line() {
    let out = edit_encrypted_data(YAML, 0, &[set("token", "AgT=="), del("password")]).unwrap();
    assert_eq!(out.rewritten, None);
    let want = YAML
        .replace("    password: AgBy3i4OJSWK+PiTySYZZA==\n", "")
        .replace(
            "    user: 'AgAAAA=='",
            "    token: AgT==\n    user: 'AgAAAA=='",
        );
    assert_eq!(out.text, want);
    assert_eq!(line_changes(YAML, &out.text), (1, 1));
}

#[test]
fn deleting_every_item_leaves_an_empty_mapping() {
    let out = edit_encrypted_data(YAML, 0, &[del("password"), del("user")]).unwrap();
    assert_eq!(out.rewritten, None);
    assert!(
        out.text.contains("  encryptedData: {}\n    # rotated"),
        "{}",
        out.text
    );
    assert!(items(&out.text, 0).is_empty());
    // And back from `{}`.
    let back = edit_encrypted_data(&out.text, 0, &[set("a", "AgA=")]).unwrap();
    assert_eq!(back.rewritten, None);
    assert!(
        back.text.contains("  encryptedData:\n    a: AgA=\n"),
        "{}",
        back.text
    );
}

#[test]
fn keys_that_yaml_would_read_as_something_else_are_quoted() {
    let out = edit_encrypted_data(YAML, 0, &[set("yes", "AgY="), set("1x", "Ag1=")]).unwrap();
    assert_eq!(out.rewritten, None);
    assert!(out.text.contains("    \"yes\": AgY=\n"), "{}", out.text);
    assert!(out.text.contains("    \"1x\": Ag1=\n"), "{}", out.text);
    assert_eq!(items(&out.text, 0)["yes"], "AgY=");
}

#[test]
fn only_the_chosen_document_of_a_stream_changes() {
    let two = format!("{YAML}---\n{}", YAML.replace("name: db", "name: other"));
    let out = edit_encrypted_data(&two, 1, &[set("password", "AgX=")]).unwrap();
    assert_eq!(out.rewritten, None);
    assert_eq!(line_changes(&two, &out.text), (1, 1));
    assert_eq!(items(&out.text, 0)["password"], "AgBy3i4OJSWK+PiTySYZZA==");
    assert_eq!(items(&out.text, 1)["password"], "AgX=");
}

#[test]
fn a_layout_it_does_not_handle_is_rewritten_and_says_so() {
    let flow = YAML.replace(
        "  encryptedData:\n    # rotated 2026-01\n    password: AgBy3i4OJSWK+PiTySYZZA==\n    user: 'AgAAAA=='   # quoted\n",
        "  encryptedData: {password: AgB=, user: AgA=}\n",
    );
    let out = edit_encrypted_data(&flow, 0, &[set("user", "AgN=")]).unwrap();
    assert!(out.rewritten.is_some());
    let got = items(&out.text, 0);
    assert_eq!(
        (got["password"].as_str(), got["user"].as_str()),
        (Some("AgB="), Some("AgN="))
    );
    // The leading comment and `---` of the file are outside the document and kept.
    assert!(out.text.starts_with("# sealed for prod\n---\n"));
}

const JSON: &str = r#"{
  "kind": "SealedSecret",
  "apiVersion": "bitnami.com/v1alpha1",
  "metadata": {
    "name": "db",
    "namespace": "prod",
    "creationTimestamp": null
  },
  "spec": {
    "template": {
      "metadata": {
        "name": "db",
        "namespace": "prod",
        "creationTimestamp": null
      }
    },
    "encryptedData": {
      "password": "AgBy3i4OJSWK+PiTySYZZA==",
      "user": "AgAAAA=="
    }
  }
}
"#;

#[test]
fn json_items_are_replaced_added_and_deleted_in_place() {
    let out = edit_encrypted_data(JSON, 0, &[set("password", "AgP=")]).unwrap();
    assert_eq!(out.rewritten, None);
    assert_eq!(out.text, JSON.replace("AgBy3i4OJSWK+PiTySYZZA==", "AgP="));

    let out = edit_encrypted_data(JSON, 0, &[set("zeta", "AgZ=")]).unwrap();
    assert_eq!(out.rewritten, None);
    // The last item gets a comma: the one line it is on changes, one line is added.
    assert_eq!(line_changes(JSON, &out.text), (1, 2));
    assert!(
        out.text
            .contains("\"user\": \"AgAAAA==\",\n      \"zeta\": \"AgZ=\"\n    }")
    );

    let out = edit_encrypted_data(JSON, 0, &[del("password")]).unwrap();
    assert_eq!(out.rewritten, None);
    assert_eq!(line_changes(JSON, &out.text), (1, 0));

    let out = edit_encrypted_data(JSON, 0, &[del("password"), del("user")]).unwrap();
    assert!(out.rewritten.is_some());
    assert!(items(&out.text, 0).is_empty());
}

#[test]
fn not_a_sealed_secret_is_an_error_naming_the_document() {
    let err = edit_encrypted_data("kind: ConfigMap\n", 0, &[del("a")]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "document 1 is not a SealedSecret with a spec"
    );
    let err = edit_encrypted_data(YAML, 3, &[del("a")]).unwrap_err();
    assert_eq!(err.to_string(), "the file has no document 4");
}

// ------------------------------------------------------------------------------------------------
// Property: random files, random edits.

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    fn b64(&mut self) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let n = 4 * (1 + self.below(20));
        let mut s: String = (0..n).map(|_| A[self.below(64)] as char).collect();
        if self.chance(30) {
            s.replace_range(n - 2.., "==");
        }
        s
    }
    fn key(&mut self) -> String {
        const K: &[&str] = &[
            "password", "user", "token", "ca.crt", "tls.key", "a-b", "z_1", "yes", "on", "9lives",
            "api.key",
        ];
        K[self.below(K.len())].to_owned()
    }
}

fn random_yaml(rng: &mut Rng, ind: usize, items: &[(String, String)]) -> String {
    let p = " ".repeat(ind);
    let mut s = String::new();
    if rng.chance(30) {
        s.push_str("# a comment before the document\n");
    }
    s.push_str("apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n");
    let annotations = match rng.below(4) {
        0 => format!("{p}annotations:\n{p}{p}sealedsecrets.bitnami.com/managed: \"true\"\n"),
        1 => format!(
            "{p}annotations:\n{p}{p}note: |\n{p}{p}{p}two\n{p}{p}{p}lines\n{p}{p}{FP}: '{{\"a\":\"v1:x\"}}'\n"
        ),
        2 => format!("{p}annotations: {{}}\n"),
        _ => String::new(),
    };
    let first = rng.chance(50);
    if first {
        s.push_str(&annotations);
    }
    s.push_str(&format!("{p}name: db\n{p}namespace: prod\n"));
    if !first {
        s.push_str(&annotations);
    }
    s.push_str("spec:\n");
    let tpl = format!("{p}template:\n{p}{p}metadata:\n{p}{p}{p}name: db\n{p}{p}type: Opaque\n");
    if rng.chance(50) {
        s.push_str(&tpl);
    }
    if items.is_empty() {
        s.push_str(&format!("{p}encryptedData: {{}}\n"));
    } else {
        s.push_str(&format!(
            "{p}encryptedData:{}\n",
            if rng.chance(20) { "  # items" } else { "" }
        ));
        for (k, v) in items {
            let key = if rng.chance(15) {
                format!("\"{k}\"")
            } else {
                yaml_key(k)
            };
            let val = match rng.below(5) {
                0 => format!("'{v}'"),
                1 => format!("\"{v}\""),
                _ => v.clone(),
            };
            let comment = if rng.chance(15) { "   # note" } else { "" };
            s.push_str(&format!("{p}{p}{key}: {val}{comment}\n"));
            if rng.chance(10) {
                s.push_str(&format!("{p}{p}# between items\n"));
            }
        }
    }
    if !s.contains("template:") {
        s.push_str(&tpl);
    }
    s
}

fn random_json(items: &[(String, String)]) -> String {
    let mut ed = Map::new();
    for (k, v) in items {
        ed.insert(k.clone(), Value::String(v.clone()));
    }
    let doc = serde_json::json!({
        "apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret",
        "metadata": if items.len().is_multiple_of(2) {
            serde_json::json!({"name": "db", "namespace": "prod"})
        } else {
            serde_json::json!({"name": "db", "namespace": "prod", "annotations": {FP: "{}", "x": "y"}})
        },
        "spec": {"encryptedData": ed, "template": {"metadata": {"name": "db"}}},
    });
    let mut s = serde_json::to_string_pretty(&doc).unwrap();
    s.push('\n');
    s
}

#[test]
fn property_only_the_edited_items_change() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut surgical = 0;
    for round in 0..400 {
        // Distinct keys, sorted or not.
        let mut items: Vec<(String, String)> = Vec::new();
        for _ in 0..rng.below(6) {
            let k = rng.key();
            if !items.iter().any(|(x, _)| *x == k) {
                items.push((k, rng.b64()));
            }
        }
        if rng.chance(50) {
            items.sort();
        }
        let json = rng.chance(30);
        let docs = 1 + rng.below(3);
        let target = rng.below(docs);
        let mut text = String::new();
        for d in 0..docs {
            if !json {
                if d > 0 || rng.chance(50) {
                    text.push_str("---\n");
                }
                let ind = if rng.chance(70) { 2 } else { 4 };
                text.push_str(&random_yaml(&mut rng, ind, &items));
            }
        }
        if json {
            text = random_json(&items);
        }
        let target = if json { 0 } else { target };
        let mut edits = Vec::new();
        for _ in 0..1 + rng.below(3) {
            let k = rng.key();
            edits.retain(|e: &ItemEdit| e.key() != k);
            edits.push(if rng.chance(70) {
                set(&k, &rng.b64())
            } else {
                del(&k)
            });
        }
        let annotate = rng.chance(40);
        if annotate {
            edits.push(ItemEdit::Annotate {
                key: FP.into(),
                value: match rng.below(3) {
                    0 => None,
                    1 => Some(format!(r#"{{"{}":"v1:{}"}}"#, rng.key(), rng.b64())),
                    _ => Some("it's {\"quoted\"}".into()),
                },
            });
        }
        let out = edit_encrypted_data(&text, target, &edits).unwrap();
        // Every document but the target is unchanged; the target's items are exactly the edit.
        let before = documents(&text).unwrap();
        let after = documents(&out.text).unwrap();
        assert_eq!(before.len(), after.len(), "round {round}");
        let mut want: Map<String, Value> = items
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        let mut changed_lines = 0;
        for e in &edits {
            match e {
                ItemEdit::Set { key, ciphertext } => {
                    let old = want.insert(key.clone(), Value::String(ciphertext.clone()));
                    changed_lines +=
                        usize::from(old.as_ref().and_then(Value::as_str) != Some(ciphertext));
                }
                ItemEdit::Delete { key } => {
                    changed_lines += usize::from(want.remove(key).is_some());
                }
                ItemEdit::Annotate { .. } => {}
            }
        }
        // The annotations expected on the target: the old ones with the edit.
        let mut want_annotations = before[target].value["metadata"]["annotations"].clone();
        for e in &edits {
            if let ItemEdit::Annotate { key, value } = e {
                match value {
                    Some(v) => {
                        if !want_annotations.is_object() {
                            want_annotations = Value::Object(Map::new());
                        }
                        want_annotations[key.as_str()] = Value::String(v.clone());
                    }
                    None => {
                        if let Some(m) = want_annotations.as_object_mut() {
                            m.remove(key);
                        }
                    }
                }
            }
        }
        for (i, (b, a)) in before.iter().zip(&after).enumerate() {
            if i == target {
                assert_eq!(
                    a.value["spec"]["encryptedData"],
                    Value::Object(want.clone()),
                    "round {round}\n{text}\n{}",
                    out.text
                );
                assert_eq!(
                    a.value["metadata"]["annotations"], want_annotations,
                    "round {round}\n{text}\n{}",
                    out.text
                );
                let mut a = a.value.clone();
                let mut b = b.value.clone();
                for v in [&mut a, &mut b] {
                    v["spec"]["encryptedData"] = Value::Null;
                    v["metadata"]["annotations"] = Value::Null;
                }
                assert_eq!(a, b, "round {round}");
            } else {
                assert_eq!(a.value, b.value, "round {round}");
            }
        }
        if out.rewritten.is_none() {
            surgical += 1;
            let (removed, added) = line_changes(&text, &out.text);
            // The annotation: its line changed, or a new block of two lines.
            let changed_lines_items = changed_lines;
            let changed_lines = changed_lines
                + match (annotate, json) {
                    (false, _) => 0,
                    (true, false) => 2,
                    // A new `"annotations": {`, its entry, `}` and the comma of the member before.
                    (true, true) => 4,
                };
            if json {
                // A comma may move with an item added or removed last: one line more at most.
                assert!(
                    removed.max(added) <= changed_lines + 1,
                    "round {round}: {removed} {added} {changed_lines}\n{text}\n{}",
                    out.text
                );
            } else {
                // YAML: one line per changed item (a change of `{}` ↔ block adds the key line).
                let flips = usize::from(items.is_empty() != want.is_empty());
                assert!(
                    removed.max(added) <= changed_lines + flips,
                    "round {round}: -{removed} +{added} for {changed_lines}\n{text}\n---- after\n{}",
                    out.text
                );
                assert!(removed + added >= changed_lines_items, "round {round}");
            }
        }
    }
    // Nearly every generated layout is one the editor handles in place.
    assert!(surgical > 300, "only {surgical} of 400 edited in place");
}

fn annotate(value: Option<&str>) -> ItemEdit {
    ItemEdit::Annotate {
        key: FP.into(),
        value: value.map(Into::into),
    }
}

#[test]
fn an_annotation_is_added_replaced_and_removed_as_one_line() {
    let out = edit_encrypted_data(
        YAML,
        0,
        &[set("user", "AgN="), annotate(Some(r#"{"user":"v1:x"}"#))],
    )
    .unwrap();
    assert_eq!(out.rewritten, None);
    assert!(
        out.text.contains(
            "  namespace: prod\n  annotations:\n    sealed-secrets-rs.dev/fingerprints: '{\"user\":\"v1:x\"}'\nspec:\n"
        ),
        "{}",
        out.text
    );
    assert_eq!(line_changes(YAML, &out.text), (1, 3));
    let again = edit_encrypted_data(&out.text, 0, &[annotate(Some("it's"))]).unwrap();
    assert_eq!(again.rewritten, None);
    assert_eq!(line_changes(&out.text, &again.text), (1, 1));
    assert!(again.text.contains(": 'it''s'\n"));
    let gone = edit_encrypted_data(&again.text, 0, &[annotate(None)]).unwrap();
    assert_eq!(gone.rewritten, None);
    assert!(gone.text.contains("  annotations: {}\n"), "{}", gone.text);
    // Removing what is not there changes nothing.
    let same = edit_encrypted_data(YAML, 0, &[annotate(None)]).unwrap();
    assert_eq!(same.text, YAML);
}

#[test]
fn a_multi_line_annotation_next_to_the_edited_one_is_kept() {
    let text = YAML.replace(
        "  namespace: prod\n",
        "  namespace: prod\n  annotations:\n    note: |\n      two\n      lines\n    sealed-secrets-rs.dev/fingerprints: '{}'\n",
    );
    let out = edit_encrypted_data(&text, 0, &[annotate(Some("{\"a\":\"b\"}"))]).unwrap();
    assert_eq!(out.rewritten, None);
    assert_eq!(line_changes(&text, &out.text), (1, 1));
    let doc = &documents(&out.text).unwrap()[0].value;
    assert_eq!(doc["metadata"]["annotations"]["note"], "two\nlines\n");
    // The multi-line one itself cannot be replaced in place: rewritten, and said.
    let edit = ItemEdit::Annotate {
        key: "note".into(),
        value: Some("one".into()),
    };
    let out = edit_encrypted_data(&text, 0, &[edit]).unwrap();
    assert!(out.rewritten.is_some());
    assert_eq!(
        documents(&out.text).unwrap()[0].value["metadata"]["annotations"]["note"],
        "one"
    );
}

#[test]
fn a_json_annotation_is_added_in_the_files_layout() {
    let out = edit_encrypted_data(JSON, 0, &[annotate(Some(r#"{"a":"v1:x"}"#))]).unwrap();
    assert_eq!(out.rewritten, None);
    assert!(
        out.text.contains(
            "    \"creationTimestamp\": null,\n    \"annotations\": {\n      \"sealed-secrets-rs.dev/fingerprints\": \"{\\\"a\\\":\\\"v1:x\\\"}\"\n    }\n  },"
        ),
        "{}",
        out.text
    );
    let again = edit_encrypted_data(&out.text, 0, &[annotate(Some("{}"))]).unwrap();
    assert_eq!(again.rewritten, None);
    assert_eq!(line_changes(&out.text, &again.text), (1, 1));
}

#[test]
fn a_double_quoted_annotation_with_escapes_stays_double_quoted() {
    let text = YAML.replace(
        "  namespace: prod\n",
        "  namespace: prod\n  annotations:\n    sealed-secrets-rs.dev/fingerprints: \"{\\\"a\\\":\\\"v1:x\\\"}\"  # ours\n",
    );
    let out = edit_encrypted_data(&text, 0, &[annotate(Some("{\"b\":\"v1:y\"}"))]).unwrap();
    assert_eq!(out.rewritten, None);
    assert_eq!(line_changes(&text, &out.text), (1, 1));
    assert!(
        out.text
            .contains("fingerprints: \"{\\\"b\\\":\\\"v1:y\\\"}\"  # ours\n"),
        "{}",
        out.text
    );
}

const ANNOTATED: &str = "\
apiVersion: bitnami.com/v1alpha1
kind: SealedSecret
metadata:
  annotations:
    team: a   # owner
    sealed-secrets-rs.dev/recovery: '{\"v\":1}'
  name: db
  namespace: prod
spec:
  encryptedData:
    password: AgBy
";

#[test]
fn set_annotation_changes_only_its_line() {
    let e = set_annotation(
        ANNOTATED,
        0,
        "sealed-secrets-rs.dev/recovery",
        Some("{\"v\":2}"),
    )
    .unwrap();
    assert_eq!(e.rewritten, None);
    assert_eq!(e.text, ANNOTATED.replace("{\"v\":1}", "{\"v\":2}"));
    assert_eq!(line_changes(ANNOTATED, &e.text), (1, 1));
    // A new annotation goes after the last one; removing it gives the original back.
    let added = set_annotation(ANNOTATED, 0, "x/y", Some("z")).unwrap();
    assert_eq!(added.rewritten, None);
    assert_eq!(line_changes(ANNOTATED, &added.text), (0, 1));
    let removed = set_annotation(&added.text, 0, "x/y", None).unwrap();
    assert_eq!(removed.text, ANNOTATED);
    // Nothing to change: the same text.
    assert_eq!(
        set_annotation(ANNOTATED, 0, "absent", None).unwrap().text,
        ANNOTATED
    );
}

#[test]
fn set_annotation_without_a_block_adds_one_and_a_compact_json_is_rewritten() {
    let e = set_annotation(YAML, 0, "a/b", Some("c")).unwrap();
    assert_eq!(e.rewritten, None);
    assert_eq!(line_changes(YAML, &e.text), (0, 2));
    let doc = &documents(&e.text).unwrap()[0].value;
    assert_eq!(doc["metadata"]["annotations"]["a/b"], "c");
    assert_eq!(
        doc["spec"]["encryptedData"]["password"],
        "AgBy3i4OJSWK+PiTySYZZA=="
    );
    let json = "{\"kind\":\"SealedSecret\",\"metadata\":{\"name\":\"x\"},\"spec\":{}}";
    let e = set_annotation(json, 0, "a/b", Some("c")).unwrap();
    assert!(e.rewritten.is_some());
    assert_eq!(
        documents(&e.text).unwrap()[0].value["metadata"]["annotations"]["a/b"],
        "c"
    );
}
