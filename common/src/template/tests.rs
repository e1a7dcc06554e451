//! Unit tests of the template engine (the differential tests against Go are in
//! `common/tests/template_differential.rs`).

use super::*;

fn data(kv: &[(&str, &[u8])]) -> BTreeMap<String, Zeroizing<Vec<u8>>> {
    kv.iter()
        .map(|(k, v)| (k.to_string(), Zeroizing::new(v.to_vec())))
        .collect()
}

fn r(src: &str, kv: &[(&str, &[u8])]) -> Result<Vec<u8>, TemplateError> {
    render("k", src, &data(kv), &Limits::default()).map(|v| v.to_vec())
}

#[track_caller]
fn ok(src: &str, kv: &[(&str, &[u8])], want: &str) {
    match r(src, kv) {
        Ok(v) => assert_eq!(String::from_utf8_lossy(&v), want, "template: {src}"),
        Err(e) => panic!("template {src:?} failed: {e}"),
    }
}

#[track_caller]
fn fails(src: &str, kv: &[(&str, &[u8])], needle: &str) -> String {
    match r(src, kv) {
        Ok(v) => panic!(
            "template {src:?} unexpectedly gave {:?}",
            String::from_utf8_lossy(&v)
        ),
        Err(e) => {
            let m = e.to_string();
            assert!(m.contains(needle), "error {m:?} lacks {needle:?}");
            m
        }
    }
}

#[test]
fn upstream_cases() {
    ok(
        r#"secret {{ index . "foo" }} !"#,
        &[("foo", b"bar")],
        "secret bar !",
    );
    ok("no data at all", &[], "no data at all");
    ok("", &[], "");
    for f in ["env", "expandenv", "getHostByName"] {
        let e = check("k", &format!("{{{{ {f} \"HOME\" }}}}"), &Limits::default()).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("template: k:1: function \"{f}\" not defined")
        );
    }
    fails(
        "{{ nosuchfunc }}",
        &[],
        "function \"nosuchfunc\" not defined",
    );
}

#[test]
fn fields_index_missing() {
    let d: &[(&str, &[u8])] = &[
        ("password", b"hunter2"),
        ("my-key", b"v"),
        ("user", b"admin"),
    ];
    ok("{{ .password }}", d, "hunter2");
    ok("{{.password}}", d, "hunter2");
    ok(r#"{{ index . "my-key" }}"#, d, "v");
    ok(r#"{{ index . "missing" }}|"#, d, "|");
    // Go's default missingkey=default prints "<no value>" for a missing field.
    ok("{{ .missing }}", d, "<no value>");
    ok(r#"{{ .missing | default "x" }}"#, d, "x");
    ok("{{ $.user }}{{ $ := 1 }}", d, "admin");
    fails("{{ .my-key }}", d, "bad character");
    fails("{{ .user.x }}", d, "can't evaluate field x in type string");
}

#[test]
fn pipelines_and_printf() {
    let d: &[(&str, &[u8])] = &[("user", b"admin"), ("pass", b"s3cr3t"), ("x", b"hi")];
    ok("{{ .user | b64enc }}", d, "YWRtaW4=");
    ok("{{ .x | upper | quote }}", d, "\"HI\"");
    ok(
        r#"{{ printf "%s:%s" .user .pass | b64enc }}"#,
        d,
        "YWRtaW46czNjcjN0",
    );
    ok(r#"{{ printf "%q" .x }}"#, d, "\"hi\"");
    ok(
        r#"{{ printf "%d|%5d|%-5d|%05d|%x|%X|%v" 42 42 42 -42 255 255 1.5 }}"#,
        d,
        "42|   42|42   |-0042|ff|FF|1.5",
    );
    ok(
        r#"{{ printf "%8s|%-8s|%.2s|%x|% x" .x .x .user .x .x }}"#,
        d,
        "      hi|hi      |ad|6869|68 69",
    );
    ok(r#"{{ printf "%d %s" 1 }}"#, d, "1 %!s(MISSING)");
    ok(r#"{{ printf "%d" "a" }}"#, d, "%!d(string=a)");
    ok(r#"{{ printf "%s" 1 2 }}"#, d, "%!s(int=1)%!(EXTRA int=2)");
    ok(
        r#"{{ printf "%t %c %q %.2f %e %g %%" true 65 66 3.14159 1234.5678 0.000001 }}"#,
        d,
        "true A 'B' 3.14 1.234568e+03 1e-06 %",
    );
    ok(
        r#"{{ printf "%v %v %v" 1e6 123456.0 100000000.0 }}"#,
        d,
        "1e+06 123456 1e+08",
    );
    ok(r#"{{ print "a" 1 2 "b" }}"#, d, "a1 2b");
    ok(r#"{{ println "a" 1 }}"#, d, "a 1\n");
    ok(r#"{{ "x" | printf "%s-%s" "y" }}"#, d, "y-x");
}

#[test]
fn json_and_quoting() {
    ok(
        "{{ toJson .password }}",
        &[("password", b"p\"w\n")],
        r#""p\"w\n""#,
    );
    ok(
        "{{ toJson .p }}",
        &[("p", b"<a&b>\t\x01")],
        r#""\u003ca\u0026b\u003e\t\u0001""#,
    );
    ok("{{ toJson .p }}", &[("p", b"a\xffb")], r#""a\ufffdb""#);
    ok("{{ toRawJson .p }}", &[("p", b"<a>")], r#""<a>""#);
    ok(
        "{{ toJson . }}",
        &[("a", b"1"), ("b", b"2")],
        r#"{"a":"1","b":"2"}"#,
    );
    ok(
        r#"{{ toPrettyJson (dict "a" 1 "b" (list 1 "x")) }}"#,
        &[],
        "{\n  \"a\": 1,\n  \"b\": [\n    1,\n    \"x\"\n  ]\n}",
    );
    ok(
        r#"{{ toJson (list) }}{{ toJson (dict) }}{{ toJson nil }}"#,
        &[],
        "[]{}null",
    );
    ok(
        r#"{{ (fromJson "{\"a\":[1,2.5,\"s\"],\"b\":null}").a | toJson }}"#,
        &[],
        "[1,2.5,\"s\"]",
    );
    ok(
        r#"{{ quote .a }} {{ squote .a }} {{ quote "a\tb" 1 }}"#,
        &[("a", b"x\"y")],
        r#""x\"y" 'x"y' "a\tb" "1""#,
    );
    ok(
        "{{ quote .a }}",
        &[("a", b"\xff\xc3\xa9\x00")],
        r#""\xffé\x00""#,
    );
}

#[test]
fn yaml() {
    ok(
        r#"{{ toYaml (dict "b" (list "x" "w") "a" "plain" "c" (dict "d" "true" "e" 1)) }}"#,
        &[],
        "a: plain\nb:\n- x\n- w\nc:\n  d: \"true\"\n  e: 1",
    );
    ok(
        r#"{{ toYaml (list (dict "a" 1 "b" 2) "z") }}"#,
        &[],
        "- a: 1\n  b: 2\n- z",
    );
    ok(
        r#"{{ toYaml "a: b" }}|{{ toYaml "" }}|{{ toYaml .p }}"#,
        &[("p", b"l1\nl2")],
        "\"a: b\"|\"\"|\"l1\\nl2\"",
    );
}

#[test]
fn whitespace_comments_control() {
    ok("a  {{- .x -}}  \n b", &[("x", b"X")], "aXb");
    ok("a {{/* comment */}} b", &[], "a  b");
    ok("a {{- /* comment */ -}} b", &[], "ab");
    ok("{{ if .x }}yes{{ else }}no{{ end }}", &[("x", b"1")], "yes");
    ok("{{ if .x }}yes{{ else }}no{{ end }}", &[("x", b"")], "no");
    ok(
        "{{ if .y }}y{{ else if .x }}x{{ else }}n{{ end }}",
        &[("x", b"1")],
        "x",
    );
    ok(
        "{{ with .x }}[{{ . }}]{{ else }}none{{ end }}",
        &[("x", b"v")],
        "[v]",
    );
    ok(
        "{{ with .nope }}[{{ . }}]{{ else }}none{{ end }}",
        &[],
        "none",
    );
    ok(
        "{{ range $k, $v := . }}{{ $k }}={{ $v }};{{ end }}",
        &[("b", b"2"), ("a", b"1"), ("c", b"3")],
        "a=1;b=2;c=3;",
    );
    ok(
        "{{ range . }}{{ . }}{{ end }}",
        &[("b", b"2"), ("a", b"1")],
        "12",
    );
    ok(
        "{{ range $i, $e := list \"x\" \"y\" }}{{ $i }}{{ $e }}{{ end }}",
        &[],
        "0x1y",
    );
    ok("{{ range list }}x{{ else }}empty{{ end }}", &[], "empty");
    ok(
        "{{ range $i := until 5 }}{{ if eq $i 3 }}{{ break }}{{ end }}{{ if eq $i 1 }}{{ continue }}{{ end }}{{ $i }}{{ end }}",
        &[],
        "02",
    );
    ok("{{ range 3 }}{{ . }}{{ end }}", &[], "012");
    ok(
        "{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}{{ $x }}",
        &[],
        "2",
    );
    ok(
        "{{ $x := \"a\" }}{{ with $y := \"b\" }}{{ $x }}{{ $y }}{{ end }}",
        &[],
        "ab",
    );
    ok(
        "{{ (list 1 2) }} {{ (dict \"a\" 1) }} {{ 1.0 }} {{ 0x10 }} {{ 'a' }} {{ -3 }} {{ `raw\\n` }}",
        &[],
        "[1 2] map[a:1] 1 16 97 -3 raw\\n",
    );
    ok(
        "{{ and 1 0 }} {{ or 0 \"\" 3 }} {{ not 0 }} {{ and 1 2 }}",
        &[],
        "0 3 true 2",
    );
    ok(
        "{{ eq 1 1 }} {{ eq \"a\" \"b\" \"a\" }} {{ ne 1 2 }} {{ lt 1 2 }} {{ le 2 2 }} {{ gt \"b\" \"a\" }} {{ ge 1 2 }}",
        &[],
        "true true true true true true false",
    );
    fails("{{ eq 1 \"a\" }}", &[], "incompatible types for comparison");
    fails("{{ if }}{{ end }}", &[], "missing value for if");
    fails("{{ end }}", &[], "unexpected {{end}}");
    fails("{{ if 1 }}", &[], "unexpected EOF");
    fails("{{ .x", &[], "unclosed action");
    fails("{{ $u }}", &[], "undefined variable \"$u\"");
    fails("{{ break }}", &[], "{{break}} outside {{range}}");
    fails("{{ template \"x\" }}", &[], "template \"x\" not defined");
}

#[test]
fn builtins_len_index_slice() {
    let d: &[(&str, &[u8])] = &[("a", b"hello")];
    ok(
        "{{ len .a }} {{ len . }} {{ len (list 1 2 3) }}",
        d,
        "5 1 3",
    );
    ok(
        "{{ index (list 1 2 3) 1 }} {{ index .a 0 }} {{ index (dict \"k\" \"v\") \"k\" }}",
        d,
        "2 104 v",
    );
    // sprig's `slice` replaces Go's builtin: lists only.
    ok("{{ slice (list 1 2 3) 1 }}", d, "[2 3]");
    fails(
        "{{ slice .a 1 3 }}",
        d,
        "list should be type of slice or array but string",
    );
    fails(
        "{{ index (list 1) 5 }}",
        d,
        "error calling index: index out of range: 5",
    );
    ok(
        "{{ html \"<a href='x'>&\" }} {{ urlquery \"a b&c\" }}",
        d,
        "&lt;a href=&#39;x&#39;&gt;&amp; a+b%26c",
    );
}

#[test]
fn sprig_strings() {
    let d: &[(&str, &[u8])] = &[("s", b"  Hello World  "), ("p", b"a,b,c")];
    ok(
        "{{ upper \"abc\" }} {{ lower \"ABC\" }} {{ title \"hello wo_rld x-y\" }}",
        d,
        "ABC abc Hello Wo_rld X-Y",
    );
    ok("{{ upper \"straße é\" }}", d, "STRAßE É");
    ok(
        "[{{ trim .s }}] [{{ trimAll \"$\" \"$$a$\" }}] [{{ trimPrefix \"ab\" \"abc\" }}] [{{ trimSuffix \"bc\" \"abc\" }}]",
        d,
        "[Hello World] [a] [c] [a]",
    );
    ok(
        "{{ replace \",\" \";\" .p }} {{ replace \"\" \"-\" \"ab\" }}",
        d,
        "a;b;c -a-b-",
    );
    ok("{{ cat \"a\" 1 nil \"b\" }}", d, "a 1 b");
    ok(
        "{{ indent 2 \"a\\nb\" }}|{{ nindent 2 \"a\" }}",
        d,
        "  a\n  b|\n  a",
    );
    ok(
        "{{ repeat 3 \"ab\" }} {{ contains \"ll\" \"hello\" }} {{ hasPrefix \"he\" \"hello\" }} {{ hasSuffix \"x\" \"hello\" }}",
        d,
        "ababab true true false",
    );
    ok(
        "{{ nospace \" a b\\tc \" }} {{ trunc 3 \"abcdef\" }} {{ trunc -2 \"abcdef\" }} {{ abbrev 5 \"abcdefgh\" }}",
        d,
        "abc abc ef ab...",
    );
    ok(
        "{{ substr 1 3 \"abcdef\" }} {{ substr -1 2 \"abcdef\" }} {{ substr 2 99 \"abcdef\" }}",
        d,
        "bc ab cdef",
    );
    ok(
        "{{ plural \"one\" \"many\" 1 }} {{ plural \"one\" \"many\" 2 }}",
        d,
        "one many",
    );
    ok(
        "{{ splitList \",\" .p }} {{ (split \",\" .p)._1 }} {{ splitn \",\" 2 .p }}",
        d,
        "[a b c] b map[_0:a _1:b,c]",
    );
    ok(
        "{{ join \"-\" (splitList \",\" .p) }} {{ join \",\" (list 1 nil \"x\") }}",
        d,
        "a-b-c 1,x",
    );
    ok(
        "{{ sortAlpha (list \"b\" \"a\" \"c\") }} {{ toString 12 }} {{ toStrings (list 1 2) }}",
        d,
        "[a b c] 12 [1 2]",
    );
}

#[test]
fn sprig_encoding() {
    let d: &[(&str, &[u8])] = &[("bin", b"\x00\xff\x10")];
    ok(
        "{{ b64enc \"hello\" }} {{ b64dec \"aGVsbG8=\" }} {{ b64dec \"!!\" }}",
        d,
        "aGVsbG8= hello illegal base64 data at input byte 0",
    );
    ok(
        "{{ b32enc \"hello\" }} {{ b32dec \"NBSWY3DP\" }} {{ b32enc \"a\" }} {{ b32dec \"ME======\" }}",
        d,
        "NBSWY3DP hello ME====== a",
    );
    ok(
        "{{ sha256sum \"abc\" }}",
        d,
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    );
    ok(
        "{{ sha1sum \"abc\" }} {{ adler32sum \"abc\" }}",
        d,
        "a9993e364706816aba3e25717850c26c9cd0d89d 38600999",
    );
    let out = r("{{ .bin | b64enc | b64dec }}", d).unwrap();
    assert_eq!(out, b"\x00\xff\x10");
}

#[test]
fn sprig_numbers_defaults() {
    ok(
        "{{ add 1 2 3 }} {{ add1 1 }} {{ sub 5 2 }} {{ mul 2 3 4 }} {{ div 7 2 }} {{ mod 7 2 }} {{ max 1 5 3 }} {{ min 4 2 }}",
        &[],
        "6 2 3 24 3 1 5 2",
    );
    ok(
        "{{ atoi \"42\" }} {{ int \"7\" }} {{ int64 3.9 }} {{ float64 \"1.5\" }} {{ floor 1.5 }} {{ ceil 1.2 }} {{ until 3 }}",
        &[],
        "42 7 3 1.5 1 2 [0 1 2]",
    );
    ok("{{ add \"2\" 1 }}", &[], "3");
    fails(
        "{{ div 1 0 }}",
        &[],
        "error calling div: runtime error: integer divide by zero",
    );
    ok(
        "{{ default \"d\" \"\" }} {{ default \"d\" \"v\" }} {{ \"\" | default \"p\" }} {{ empty \"\" }} {{ empty 1 }}",
        &[],
        "d v p true false",
    );
    ok(
        "{{ coalesce \"\" 0 \"x\" }} {{ ternary \"a\" \"b\" true }} {{ false | ternary \"a\" \"b\" }} {{ all 1 \"x\" }} {{ any 0 \"\" }}",
        &[],
        "x a b true false",
    );
    fails(
        "{{ ternary \"a\" \"b\" \"notbool\" }}",
        &[],
        "wrong type for value; expected bool; got string",
    );
    fails(
        "{{ upper 1 }}",
        &[],
        "wrong type for value; expected string; got int",
    );
    fails(
        "{{ upper }}",
        &[],
        "wrong number of args for upper: want 1 got 0",
    );
}

#[test]
fn sprig_lists_dicts() {
    ok(
        "{{ list 1 \"a\" }} {{ append (list 1) 2 }} {{ prepend (list 1) 0 }} {{ first (list 1 2) }} {{ last (list 1 2) }} {{ rest (list 1 2) }} {{ initial (list 1 2) }}",
        &[],
        "[1 a] [1 2] [0 1] 1 2 [2] [1]",
    );
    ok(
        "{{ uniq (list 1 1 2) }} {{ has 2 (list 1 2) }} {{ without (list 1 2 3) 2 }} {{ compact (list 0 1 \"\" \"a\") }} {{ reverse (list 1 2) }} {{ concat (list 1) (list 2 3) }}",
        &[],
        "[1 2] true [1 3] [1 a] [2 1] [1 2 3]",
    );
    ok(
        "{{ $d := dict \"a\" 1 }}{{ $_ := set $d \"b\" 2 }}{{ $d }} {{ get $d \"a\" }} {{ hasKey $d \"b\" }} {{ keys $d }} {{ values $d }} {{ unset $d \"a\" }}",
        &[],
        "map[a:1 b:2] 1 true [a b] [1 2] map[b:2]",
    );
    ok(
        "{{ pick (dict \"a\" 1 \"b\" 2) \"a\" }} {{ omit (dict \"a\" 1 \"b\" 2) \"a\" }} {{ keys . }} {{ hasKey . \"x\" }}",
        &[("x", b"1"), ("y", b"2")],
        "map[a:1] map[b:2] [x y] true",
    );
    ok(
        "{{ typeOf 1 }} {{ typeOf \"s\" }} {{ kindOf (list) }} {{ kindIs \"map\" (dict) }} {{ typeIs \"bool\" true }}",
        &[],
        "int string slice true true",
    );
    // self-referencing dicts cannot hang or overflow the stack
    fails(
        "{{ $d := dict }}{{ $_ := set $d \"self\" $d }}{{ toJson $d }}",
        &[],
        "nesting exceeds",
    );
}

/// docs/templates.md has one table row per function: implemented ones say so, omitted ones
/// say "not supported", and no row names a function the registry does not know.
#[test]
fn docs_list_every_function() {
    let doc = include_str!("../../../docs/templates.md");
    let rows: BTreeMap<&str, &str> = doc
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split_once("` | "))
        .collect();
    for f in FUNCTIONS {
        let row = rows
            .get(f)
            .unwrap_or_else(|| panic!("{f}: no row in docs/templates.md"));
        assert!(row.starts_with("implemented"), "{f}: {row}");
    }
    for (f, _) in OMITTED {
        let row = rows
            .get(f)
            .unwrap_or_else(|| panic!("{f}: no row in docs/templates.md"));
        assert!(row.starts_with("**not supported**"), "{f}: {row}");
    }
    for (name, row) in &rows {
        let known = FUNCTIONS.contains(name)
            || OMITTED.iter().any(|(n, _)| n == name)
            || ["env", "expandenv", "getHostByName"].contains(name);
        assert!(known, "docs row for unknown function {name}: {row}");
    }
}

#[test]
fn sha512sum_is_sprig_3_3s() {
    // FIPS 180-2 test vector ("abc"); the Go reference (sprig 3.2.3) has no sha512sum.
    ok(
        "{{ sha512sum \"abc\" }}",
        &[],
        "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
         2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
    );
}

#[test]
fn hostile_new_functions_are_bounded() {
    // bcrypt is charged 10,000 steps: a loop of them hits the step limit, not the CPU.
    let e = fails(
        "{{ range until 200 }}{{ bcrypt \"x\" }}{{ end }}",
        &[],
        "steps",
    );
    assert!(!e.contains("x\""));
    // Output bombs through replacement, wrapping and sequences.
    fails(
        "{{ regexReplaceAll \"\" (repeat 1000 \"a\") (repeat 2000 \"b\") }}",
        &[],
        "output exceeds",
    );
    fails(
        "{{ wrapWith 1 (repeat 600000 \"x\") (repeat 1000 \"a b \") }}",
        &[],
        "output exceeds",
    );
    fails("{{ seq 100000000 }}", &[], "steps");
    fails("{{ untilStep 0 100000000 1 }}", &[], "steps");
    fails("{{ randAlphaNum 100000000 }}", &[], "output exceeds");
    fails("{{ randBytes 100000000 }}", &[], "output exceeds");
    // Nesting: a template calling itself, and deepCopy of a dict that contains itself.
    fails(
        "{{ define \"r\" }}{{ template \"r\" }}{{ end }}{{ template \"r\" }}",
        &[],
        "nesting",
    );
    fails(
        "{{ $d := dict }}{{ $_ := set $d \"d\" $d }}{{ deepCopy $d }}",
        &[],
        "nesting",
    );
    fails(
        "{{ $d := dict }}{{ $_ := set $d \"d\" $d }}{{ merge (dict \"d\" (dict)) $d }}",
        &[],
        "nesting",
    );
}

#[test]
fn every_listed_function_is_implemented() {
    for f in FUNCTIONS {
        let src = format!("{{{{ {f} }}}}");
        check("k", &src, &Limits::default()).unwrap();
        if let Err(e) = r(&src, &[]) {
            assert!(!e.to_string().contains("not defined"), "{f}: {e}");
        }
    }
}

#[test]
fn hostile_output_bound() {
    let t = std::time::Instant::now();
    fails(
        "{{ repeat 100000000 \"x\" }}",
        &[],
        "template output exceeds 1048576 bytes",
    );
    fails(
        "{{ range until 2000 }}{{ printf \"%1000000d\" 1 }}{{ end }}",
        &[],
        "exceeds",
    );
    fails(
        "{{ $x := repeat 1000000 \"x\" }}{{ $x }}{{ $x }}",
        &[],
        "template output exceeds 1048576 bytes",
    );
    fails(
        "{{ printf \"%9999999d\" 1 | repeat 1000000 }}",
        &[],
        "exceeds",
    );
    assert!(t.elapsed().as_secs() < 10);
}

#[test]
fn hostile_steps_and_depth() {
    let t = std::time::Instant::now();
    fails(
        "{{ range until 1000 }}{{ range until 1000 }}{{ range until 1000 }}x{{ end }}{{ end }}{{ end }}",
        &[],
        "steps",
    );
    fails("{{ range $i := until 1000000000 }}{{ end }}", &[], "steps");
    let deep = format!("{{{{ {}1{} }}}}", "(".repeat(10_000), ")".repeat(10_000));
    fails(&deep, &[], "nesting exceeds 100 levels");
    let ifs = format!("{}x{}", "{{if 1}}".repeat(10_000), "{{end}}".repeat(10_000));
    fails(&ifs, &[], "nesting exceeds");
    // 99 levels still work, inside a default-sized test thread stack
    let ok_deep = format!("{{{{ {}1{} }}}}", "(".repeat(99), ")".repeat(99));
    ok(&ok_deep, &[], "1");
    let mut l = String::from("{{ $l := list }}{{ range until 500 }}{{ $l = list $l }}{{ end }}");
    l.push_str("{{ len $l }}");
    fails(&l, &[], "nesting exceeds");
    let big = "{{ $x := repeat 1000000 \"ab\" }}";
    fails(big, &[], "exceeds");
    let small = Limits {
        max_steps: 50_000,
        ..Limits::default()
    };
    let e = render(
        "k",
        "{{ $x := repeat 500000 \"a\" }}{{ range until 100000 }}{{ $y := contains \"b\" $x }}{{ end }}",
        &BTreeMap::new(),
        &small,
    );
    assert!(e.unwrap_err().to_string().contains("exceeds 50000 steps"));
    assert!(t.elapsed().as_secs() < 20, "{:?}", t.elapsed());
}

#[test]
fn errors_never_leak_values() {
    let secret: &[u8] = b"TOPSECRET-p4ss";
    let d: &[(&str, &[u8])] = &[("pw", secret), ("n", b"12")];
    let cases = [
        "{{ .pw.field }}",
        "{{ .pw 1 }}",
        "{{ index .pw 99 }}",
        "{{ index . .pw }}x{{ index (list 1) .pw }}",
        "{{ eq .pw 1 }}",
        "{{ lt .pw true }}",
        "{{ upper (len .pw) }}",
        "{{ ternary 1 2 .pw }}",
        "{{ range .pw }}{{ end }}",
        "{{ repeat (len .pw) .pw | repeat 100000000 }}",
        "{{ div (int .n) 0 }}",
        "{{ first .pw }}",
        "{{ set .pw \"a\" 1 }}",
        "{{ slice .pw 3 1 }}",
        "{{ substr 5 2 .pw }}",
    ];
    for c in cases {
        let e = r(c, d).expect_err(c);
        let msg = e.to_string();
        let dbg = format!("{e:?}");
        assert!(
            !msg.contains("TOPSECRET") && !dbg.contains("TOPSECRET"),
            "{c}: {msg}"
        );
    }
    let e = r("x\n  {{ .pw.field }}", d).unwrap_err().to_string();
    assert_eq!(
        e,
        "template: k:2:5: executing \"k\" at <.pw.field>: can't evaluate field field in type string"
    );
}

#[test]
fn non_utf8_values() {
    let d: &[(&str, &[u8])] = &[("b", b"\xfe\xffA")];
    assert_eq!(r("{{ .b }}", d).unwrap(), b"\xfe\xffA");
    ok("{{ upper .b }}", d, "\u{fffd}\u{fffd}A");
    ok("{{ len .b }} {{ printf \"%x\" .b }}", d, "3 feff41");
}

#[test]
fn random_functions_draw_from_the_given_rng() {
    use rand::SeedableRng as _;
    let src = "{{ uuidv4 }} {{ randAlphaNum 12 }} {{ shuffle \"abcdef\" }} {{ randInt 0 1000 }}";
    let once = |seed: u64| {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        render_with_rng("k", src, &BTreeMap::new(), &Limits::default(), &mut rng)
            .map(|o| String::from_utf8_lossy(&o).into_owned())
            .unwrap()
    };
    assert_eq!(once(7), once(7), "same seed, same output");
    assert_ne!(once(7), once(8), "another seed, another output");
}

#[test]
fn hostile_key_generation_is_bounded() {
    // Each RSA-4096 key is charged 400,000 steps before any work: with 300,000 steps left the
    // first one is refused without generating anything.
    let tight = Limits {
        max_steps: 300_000,
        ..Limits::default()
    };
    let e = render("k", "{{ genPrivateKey \"rsa\" }}", &BTreeMap::new(), &tight).unwrap_err();
    assert!(matches!(e, TemplateError::StepLimit { .. }), "{e}");
    // Cheap keys in a loop run into the step limit too.
    fails(
        "{{ range until 5000 }}{{ genPrivateKey \"ed25519\" }}{{ end }}",
        &[],
        "steps",
    );
    fails(
        "{{ genPrivateKey \"dsa\" }}",
        &[],
        "DSA keys are not supported",
    );
}
