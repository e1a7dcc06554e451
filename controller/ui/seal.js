// The sealing page of sealed-secrets-rs (served at /ui/ with the controller's --ui flag).
//
// Write-only: values are encrypted here, in the browser, with WebCrypto, for the certificate the
// controller serves at ../v1/cert.pem; the only other request is the optional check, which POSTs
// the sealed object (ciphertext only) to ../v1/verify. Every URL is relative, so the page works
// behind `kubectl port-forward` and under the kube-apiserver's service-proxy path.
//
// The first half of this module is the crypto and document core: no DOM, importable by Node
// (tests/ui/unit.test.mjs). The second half builds the page; it runs only where `document`
// exists. User data only ever reaches the page as text (textContent, value): never as HTML.
//
// Wire format (upstream's pkg/crypto HybridEncrypt), per value:
//   u16be(len(rsa)) || RSA-OAEP(SHA-256, label)(32-byte AES key) || AES-256-GCM(key, nonce 0^12)
// with label "namespace/name" (strict), "namespace" (namespace-wide) or "" (cluster-wide).

export const NAMESPACE_WIDE = 'sealedsecrets.bitnami.com/namespace-wide';
export const CLUSTER_WIDE = 'sealedsecrets.bitnami.com/cluster-wide';
export const SCOPES = ['strict', 'namespace-wide', 'cluster-wide'];
const LAST_APPLIED = [
  'kubectl.kubernetes.io/last-applied-configuration',
  'kubecfg.ksonnet.io/last-applied-configuration',
];
const SESSION_KEY_BYTES = 32;

/** An error whose message is safe to show: it never quotes the input. */
export class InputError extends Error {}

const utf8 = new TextEncoder();

// ---------------------------------------------------------------------------------------------
// Scopes and labels

/** The OAEP label of a value sealed for `scope` (upstream's EncryptionLabel). */
export function encryptionLabel(scope, namespace, name) {
  switch (scope) {
    case 'cluster-wide':
      return new Uint8Array(0);
    case 'namespace-wide':
      return utf8.encode(namespace);
    case 'strict':
      return utf8.encode(`${namespace}/${name}`);
    default:
      throw new InputError(`unknown scope: must be one of: ${SCOPES.join(', ')}`);
  }
}

/** The scope selected by `annotations` (cluster-wide wins; the value must be exactly "true"). */
export function scopeOf(annotations) {
  const a = annotations ?? {};
  if (a[CLUSTER_WIDE] === 'true') return 'cluster-wide';
  if (a[NAMESPACE_WIDE] === 'true') return 'namespace-wide';
  return 'strict';
}

/** `annotations` (copied) with exactly `scope`'s annotation (upstream's UpdateScopeAnnotations). */
export function withScope(annotations, scope) {
  const out = { ...(annotations ?? {}) };
  delete out[NAMESPACE_WIDE];
  delete out[CLUSTER_WIDE];
  if (scope === 'namespace-wide') out[NAMESPACE_WIDE] = 'true';
  if (scope === 'cluster-wide') out[CLUSTER_WIDE] = 'true';
  return out;
}

// ---------------------------------------------------------------------------------------------
// Base64, PEM and DER

/** Standard base64 with padding, as Go's base64.StdEncoding. */
export function toBase64(bytes) {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

/** Decode standard base64 (blanks ignored); `what` names the field in the error. */
export function fromBase64(text, what) {
  const clean = String(text).replace(/[\s]/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(clean) || clean.length % 4 === 1) {
    throw new InputError(`${what}: not valid base64`);
  }
  let bin;
  try {
    bin = atob(clean);
  } catch {
    throw new InputError(`${what}: not valid base64`);
  }
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** The DER of the first CERTIFICATE block of `pem` (kubeseal takes the first). */
export function pemToDer(pem) {
  const m = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]*?)-----END CERTIFICATE-----/.exec(pem);
  if (!m) throw new InputError('no PEM CERTIFICATE block in the certificate');
  return fromBase64(m[1], 'certificate');
}

/** One DER element at `pos` of `buf`: tag, content offsets, end. */
function derElement(buf, pos, end = buf.length) {
  if (pos + 2 > end) throw new InputError('certificate: truncated DER');
  const tag = buf[pos];
  if ((tag & 0x1f) === 0x1f) throw new InputError('certificate: unsupported DER tag');
  let len = buf[pos + 1];
  let off = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || off + n > end) throw new InputError('certificate: bad DER length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[off + i];
    off += n;
  }
  if (off + len > end) throw new InputError('certificate: truncated DER');
  return { tag, start: pos, content: off, end: off + len };
}

/** The elements inside constructed element `el`. */
function derChildren(buf, el) {
  const out = [];
  for (let pos = el.content; pos < el.end; ) {
    const child = derElement(buf, pos, el.end);
    out.push(child);
    pos = child.end;
  }
  return out;
}

const SEQUENCE = 0x30;
const RSA_ENCRYPTION_OID = '2a864886f70d010101'; // 1.2.840.113549.1.1.1

function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** An ASN.1 UTCTime (0x17) or GeneralizedTime (0x18) in UTC ("Z"), as a Date. */
export function parseDerTime(tag, text) {
  const m =
    tag === 0x17
      ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text)
      : tag === 0x18
        ? /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text)
        : null;
  if (!m) throw new InputError('certificate: bad validity time');
  let year = Number(m[1]);
  if (tag === 0x17) year += year >= 50 ? 1900 : 2000; // RFC 5280 4.1.2.5.1
  const [mo, d, h, mi, s] = m.slice(2).map(Number);
  const t = Date.UTC(year, mo - 1, d, h, mi, s);
  const back = new Date(t);
  if (back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d || h > 23 || mi > 59 || s > 59) {
    throw new InputError('certificate: bad validity time');
  }
  return back;
}

/**
 * Walk an X.509 certificate's DER to what sealing needs: the SubjectPublicKeyInfo (WebCrypto
 * imports "spki", not certificates), the validity and the RSA modulus size.
 */
export function parseCertificate(der) {
  const cert = derElement(der, 0);
  if (cert.tag !== SEQUENCE || cert.end !== der.length) throw new InputError('certificate: not a DER SEQUENCE');
  const [tbs] = derChildren(der, cert);
  if (!tbs || tbs.tag !== SEQUENCE) throw new InputError('certificate: no tbsCertificate');
  const fields = derChildren(der, tbs);
  // [0] version is optional (v1 certificates have none).
  const i = fields[0]?.tag === 0xa0 ? 1 : 0;
  const validity = fields[i + 3];
  const spki = fields[i + 5];
  if (!validity || validity.tag !== SEQUENCE || !spki || spki.tag !== SEQUENCE) {
    throw new InputError('certificate: unexpected tbsCertificate layout');
  }
  const times = derChildren(der, validity).map((t) =>
    parseDerTime(t.tag, String.fromCharCode(...der.subarray(t.content, t.end))),
  );
  if (times.length !== 2) throw new InputError('certificate: bad validity');
  const [algorithm, bits] = derChildren(der, spki);
  const [oid] = derChildren(der, algorithm);
  if (oid?.tag !== 0x06 || hex(der.subarray(oid.content, oid.end)) !== RSA_ENCRYPTION_OID) {
    throw new InputError('expected RSA public key in the certificate');
  }
  if (bits?.tag !== 0x03 || der[bits.content] !== 0) throw new InputError('certificate: bad public key');
  const rsaKey = derElement(der, bits.content + 1, bits.end);
  const [modulus] = derChildren(der, rsaKey);
  let m = der.subarray(modulus.content, modulus.end);
  while (m.length > 1 && m[0] === 0) m = m.subarray(1);
  return {
    spki: der.slice(spki.start, spki.end),
    notBefore: times[0],
    notAfter: times[1],
    modulusBits: m.length * 8 - Math.clz32(m[0]) + 24,
  };
}

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August',
  'September', 'October', 'November', 'December'];

/** Go's `t.Format("January 2, 2006")` in UTC. */
export function formatDate(d) {
  return `${MONTHS[d.getUTCMonth()]} ${d.getUTCDate()}, ${d.getUTCFullYear()}`;
}

/** The WebCrypto API, or an error that tells how to get a secure context. */
export function requireSubtle(c = globalThis.crypto) {
  if (!c?.subtle) {
    throw new InputError(
      'WebCrypto (crypto.subtle) is not available: browsers offer it only on https:// pages ' +
        'and on http://localhost. Open this page through kubectl port-forward or kubectl proxy.',
    );
  }
  return c.subtle;
}

/**
 * A sealer for the certificate `pem`: its public key imported for RSA-OAEP SHA-256. An expired
 * certificate is refused with kubeseal's message (NotBefore and the signature are not checked,
 * as kubeseal does not). `random(n)` gives n random bytes: the page uses getRandomValues; tests
 * pass a pinned stream.
 */
export async function makeSealer(pem, { subtle = requireSubtle(), now = new Date(), random } = {}) {
  const cert = parseCertificate(pemToDer(pem));
  if (now.getTime() > cert.notAfter.getTime()) {
    throw new InputError(`failed to encrypt using an expired certificate on ${formatDate(cert.notAfter)}`);
  }
  const key = await subtle.importKey('spki', cert.spki, { name: 'RSA-OAEP', hash: 'SHA-256' }, false, [
    'encrypt',
  ]);
  const rand =
    random ??
    ((n) => {
      const b = new Uint8Array(n);
      globalThis.crypto.getRandomValues(b);
      return b;
    });
  return {
    notAfter: cert.notAfter,
    modulusBits: cert.modulusBits,
    /** One value sealed under `label`: the envelope bytes. */
    async encrypt(plaintext, label) {
      const sessionKey = rand(SESSION_KEY_BYTES);
      if (!(sessionKey instanceof Uint8Array) || sessionKey.length !== SESSION_KEY_BYTES) {
        throw new Error('random source must return 32 bytes');
      }
      try {
        const rsa = new Uint8Array(await subtle.encrypt({ name: 'RSA-OAEP', label }, key, sessionKey));
        const aesKey = await subtle.importKey('raw', sessionKey, { name: 'AES-GCM' }, false, ['encrypt']);
        const aes = new Uint8Array(
          await subtle.encrypt({ name: 'AES-GCM', iv: new Uint8Array(12), tagLength: 128 }, aesKey, plaintext),
        );
        const out = new Uint8Array(2 + rsa.length + aes.length);
        out[0] = rsa.length >> 8;
        out[1] = rsa.length & 0xff;
        out.set(rsa, 2);
        out.set(aes, 2 + rsa.length);
        return out;
      } finally {
        sessionKey.fill(0);
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Documents: a YAML subset reader (what kubectl and kubeseal write), a YAML writer, JSON

/**
 * Parse one JSON or YAML document. The YAML reader takes block mappings and sequences, plain,
 * quoted and block scalars, comments, `---`, and one-line flow collections; anchors, aliases and
 * tags are refused. Plain scalars are strings except null, ~ and true/false (Secret fields are
 * strings; a number-looking label value stays as written). Errors name the line, never its text.
 */
export function parseDocument(text) {
  const t = String(text).replace(/^\uFEFF/, '');
  if (/^\s*[{[]/.test(t)) {
    try {
      return JSON.parse(t);
    } catch {
      throw new InputError('cannot parse the input as JSON');
    }
  }
  const docs = parseYamlDocuments(t).filter((d) => d !== null);
  if (docs.length === 0) throw new InputError('the input is empty');
  if (docs.length > 1) throw new InputError('paste one object at a time (found several documents)');
  return docs[0];
}

/** Every document of a YAML stream. */
export function parseYamlDocuments(text) {
  const docs = [];
  let current = [];
  for (const raw of text.split(/\r?\n/)) {
    if (/^---(\s|$)/.test(raw) || /^\.\.\.(\s|$)/.test(raw)) {
      docs.push(current);
      current = [];
      const rest = raw.slice(3).trim();
      if (rest && !rest.startsWith('#')) current.push(rest);
    } else {
      current.push(raw);
    }
  }
  docs.push(current);
  return docs.map((lines) => new YamlReader(lines).document()).filter((d) => d !== undefined);
}

class YamlReader {
  constructor(lines) {
    this.lines = lines.map((text) => {
      if (/^ *\t/.test(text)) throw new InputError('YAML: tabs are not allowed in indentation');
      return text;
    });
    this.i = 0;
  }

  fail(msg, line = this.i) {
    throw new InputError(`YAML line ${line + 1}: ${msg}`);
  }

  /** Index of the next line with content (not blank, not only a comment), from `i`. */
  nextContent(i = this.i) {
    while (i < this.lines.length && /^\s*(#.*)?$/.test(this.lines[i])) i++;
    return i;
  }

  indentOf(i) {
    return this.lines[i].length - this.lines[i].trimStart().length;
  }

  document() {
    const i = this.nextContent();
    if (i >= this.lines.length) return undefined;
    if (/^\s*%/.test(this.lines[i])) this.fail('directives are not supported', i);
    this.i = i;
    const v = this.node(this.indentOf(i));
    const rest = this.nextContent();
    if (rest < this.lines.length) this.fail('unexpected content (check the indentation)', rest);
    return v;
  }

  /** The node starting at the next content line, whose indentation must be at least `min`. */
  node(min) {
    const i = this.nextContent();
    if (i >= this.lines.length || this.indentOf(i) < min) return null;
    this.i = i;
    const indent = this.indentOf(i);
    const text = stripComment(this.lines[i].slice(indent));
    if (text === '-' || text.startsWith('- ')) return this.sequence(indent);
    if (mappingKey(text)) return this.mapping(indent);
    return this.scalarLines(indent, text, indent - 1);
  }

  mapping(indent) {
    const out = {};
    for (;;) {
      const i = this.nextContent();
      if (i >= this.lines.length || this.indentOf(i) !== indent) break;
      this.i = i;
      const text = stripComment(this.lines[i].slice(indent));
      const kv = mappingKey(text);
      if (!kv) this.fail('expected "key: value"');
      if (Object.prototype.hasOwnProperty.call(out, kv.key)) this.fail('duplicate key');
      this.i = i + 1;
      const value = this.value(kv.rest, indent, true);
      Object.defineProperty(out, kv.key, { value, enumerable: true, writable: true, configurable: true });
    }
    return out;
  }

  sequence(indent) {
    const out = [];
    for (;;) {
      const i = this.nextContent();
      if (i >= this.lines.length || this.indentOf(i) !== indent) break;
      const text = stripComment(this.lines[i].slice(indent));
      if (!(text === '-' || text.startsWith('- '))) break;
      const rest = text.slice(1).trimStart();
      if (rest === '') {
        this.i = i + 1;
        out.push(this.node(indent + 1));
      } else if (mappingKey(rest) || rest === '-' || rest.startsWith('- ')) {
        // "- key: value": the rest of the line starts a node at its own column.
        const col = indent + (text.length - rest.length);
        this.lines[i] = ' '.repeat(col) + this.lines[i].slice(col);
        this.i = i;
        out.push(this.node(col));
      } else {
        this.i = i + 1;
        out.push(this.value(rest, indent, false));
      }
    }
    return out;
  }

  /** The value after "key:" or "- " on line this.i - 1, owned by a node at `indent`. */
  value(rest, indent, inMapping) {
    if (rest === '') {
      const i = this.nextContent();
      if (inMapping && i < this.lines.length && this.indentOf(i) === indent) {
        const t = stripComment(this.lines[i].slice(indent));
        if (t === '-' || t.startsWith('- ')) return this.sequence(indent);
      }
      return this.node(indent + 1);
    }
    if (/^[&*!]/.test(rest)) this.fail('anchors, aliases and tags are not supported', this.i - 1);
    if (/^[|>]/.test(rest)) return this.blockScalar(rest, indent);
    if (rest.startsWith('{') || rest.startsWith('[')) {
      const [v, end] = parseFlow(rest, 0, (m) => this.fail(m, this.i - 1));
      if (rest.slice(end).trim() !== '') this.fail('unexpected text after a flow collection', this.i - 1);
      return v;
    }
    return this.scalarLines(indent, rest, indent, this.i - 1);
  }

  /** A plain or quoted scalar starting with `first`, continued on lines indented more than `indent`. */
  scalarLines(indent, first, ownerIndent, lineNo = this.i) {
    const more = [];
    let j = lineNo + 1;
    const quote = first[0] === '"' || first[0] === "'" ? first[0] : null;
    if (quote && closingQuote(first, quote) >= 0) {
      this.i = lineNo + 1;
      return this.quoted(first, lineNo);
    }
    // Continuation lines: more indented than the owner (plain), or until the closing quote.
    for (; j < this.lines.length; j++) {
      const l = this.lines[j];
      if (/^\s*$/.test(l)) {
        more.push('');
        continue;
      }
      if (!quote && (this.indentOf(j) <= ownerIndent || /^\s*#/.test(l))) break;
      if (!quote && mappingKey(stripComment(l.trim()))) this.fail('unexpected "key: value" (check the indentation)', j);
      more.push(quote ? l.trim() : stripComment(l.trim()));
      if (quote && closingQuote(first + ' ' + more.join(' '), quote) >= 0) {
        j++;
        break;
      }
    }
    while (more.length && more[more.length - 1] === '') {
      more.pop();
      j--;
    }
    this.i = j;
    if (quote) return this.quoted(foldLines([first, ...more]), lineNo);
    if (more.length === 0) return plainScalar(first);
    return foldLines([first, ...more]);
  }

  quoted(text, lineNo) {
    const q = text[0];
    const end = closingQuote(text, q);
    if (end < 0) this.fail('unterminated quoted string', lineNo);
    if (text.slice(end + 1).trim() !== '') this.fail('unexpected text after a quoted string', lineNo);
    const body = text.slice(1, end);
    if (q === "'") return body.replaceAll("''", "'");
    return unescapeDouble(body, () => this.fail('bad escape in a double-quoted string', lineNo));
  }

  blockScalar(header, indent) {
    const m = /^([|>])([1-9]?)([+-]?)\s*(#.*)?$/.exec(header) ?? /^([|>])([+-]?)([1-9]?)\s*(#.*)?$/.exec(header);
    if (!m) this.fail('bad block scalar header', this.i - 1);
    const folded = m[1] === '>';
    const chomp = [m[2], m[3]].find((x) => x === '+' || x === '-') ?? '';
    const explicit = Number([m[2], m[3]].find((x) => /\d/.test(x)) ?? 0);
    const body = [];
    let blockIndent = explicit ? indent + explicit : 0;
    let j = this.i;
    for (; j < this.lines.length; j++) {
      const l = this.lines[j];
      if (/^\s*$/.test(l)) {
        body.push('');
        continue;
      }
      const ind = this.indentOf(j);
      if (!blockIndent) blockIndent = ind;
      if (ind < blockIndent || ind <= indent) break;
      body.push(l.slice(blockIndent));
    }
    let trailing = 0;
    while (body.length && body[body.length - 1] === '') {
      body.pop();
      trailing++;
    }
    this.i = j - trailing;
    let text;
    if (folded) {
      // Line folding: a break between two lines of text becomes a space, n empty lines become n
      // breaks; lines indented more than the block keep their breaks.
      text = '';
      let empty = 0;
      let prevMore = false;
      body.forEach((l, k) => {
        if (l === '') {
          empty++;
          return;
        }
        const more = /^\s/.test(l);
        if (k > 0) text += more || prevMore ? '\n'.repeat(empty + 1) : empty ? '\n'.repeat(empty) : ' ';
        text += l;
        empty = 0;
        prevMore = more;
      });
    } else {
      text = body.join('\n');
    }
    if (body.length === 0) return '';
    if (chomp === '-') return text;
    if (chomp === '+') return text + '\n'.repeat(1 + trailing);
    return text + '\n';
  }
}

/** `key: rest` at the start of `text`, or null. */
function mappingKey(text) {
  if (text[0] === '"' || text[0] === "'") {
    const end = closingQuote(text, text[0]);
    if (end < 0) return null;
    const after = text.slice(end + 1);
    const m = /^\s*:(\s+|$)(.*)$/.exec(after);
    if (!m) return null;
    const key =
      text[0] === "'"
        ? text.slice(1, end).replaceAll("''", "'")
        : unescapeDouble(text.slice(1, end), () => {
            throw new InputError('YAML: bad escape in a key');
          });
    return { key, rest: m[2].trim() };
  }
  if (/^[[\]{}&*!|>%@`#,?-]/.test(text) && !/^-[^\s]/.test(text)) return null;
  const m = /^(.*?)\s*:(?:\s+(.*))?$/.exec(text);
  if (!m || m[1] === '' || /:\s/.test(m[1])) return null;
  return { key: m[1], rest: (m[2] ?? '').trim() };
}

/** Drop a trailing comment (`#` after a blank, outside quotes). */
function stripComment(text) {
  let q = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (q) {
      if (c === '\\' && q === '"') i++;
      else if (c === q) q = null;
    } else if ((c === '"' || c === "'") && (i === 0 || /[\s:[{,-]/.test(text[i - 1]))) {
      q = c;
    } else if (c === '#' && (i === 0 || /\s/.test(text[i - 1]))) {
      return text.slice(0, i).trimEnd();
    }
  }
  return text.trimEnd();
}

function closingQuote(text, q) {
  for (let i = 1; i < text.length; i++) {
    if (q === '"' && text[i] === '\\') i++;
    else if (text[i] === q) {
      if (q === "'" && text[i + 1] === "'") i++;
      else return i;
    }
  }
  return -1;
}

/** YAML line folding: one break becomes a space, each empty line a newline. */
function foldLines(lines) {
  let out = '';
  let pendingBreaks = 0;
  lines.forEach((l, k) => {
    if (l === '') {
      pendingBreaks++;
      return;
    }
    if (k > 0) out += pendingBreaks ? '\n'.repeat(pendingBreaks) : out.endsWith('\\') ? '' : ' ';
    pendingBreaks = 0;
    out += l;
  });
  return out;
}

function unescapeDouble(body, fail) {
  const map = { 0: '\0', a: '\x07', b: '\b', t: '\t', '\t': '\t', n: '\n', v: '\v', f: '\f', r: '\r', e: '\x1b',
    ' ': ' ', '"': '"', '/': '/', '\\': '\\', N: '\x85', _: '\xa0', L: '\u2028', P: '\u2029' };
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c !== '\\') {
      out += c;
      continue;
    }
    const e = body[++i];
    if (e === undefined) fail();
    if (e in map) out += map[e];
    else if (e === ' ' || e === '\n') continue;
    else if (e === 'x' || e === 'u' || e === 'U') {
      const n = { x: 2, u: 4, U: 8 }[e];
      const h = body.slice(i + 1, i + 1 + n);
      if (!/^[0-9a-fA-F]+$/.test(h) || h.length !== n) fail();
      out += String.fromCodePoint(parseInt(h, 16));
      i += n;
    } else fail();
  }
  return out;
}

function plainScalar(text) {
  if (text === '' || text === '~' || /^(null|Null|NULL)$/.test(text)) return null;
  if (/^(true|True|TRUE)$/.test(text)) return true;
  if (/^(false|False|FALSE)$/.test(text)) return false;
  return text;
}

/** A one-line flow collection (`{a: b, c: [d]}`) or scalar at `pos` of `s`: [value, end]. */
function parseFlow(s, pos, fail) {
  const ws = () => {
    while (s[pos] === ' ') pos++;
  };
  ws();
  const open = s[pos];
  if (open === '{' || open === '[') {
    const close = open === '{' ? '}' : ']';
    const out = open === '{' ? {} : [];
    pos++;
    ws();
    if (s[pos] === close) return [out, pos + 1];
    for (;;) {
      if (open === '{') {
        const [k, e1] = parseFlowScalar(s, pos, fail, true);
        pos = e1;
        ws();
        let v = null;
        if (s[pos] === ':') {
          [v, pos] = parseFlow(s, pos + 1, fail);
        }
        Object.defineProperty(out, String(k), { value: v, enumerable: true, writable: true, configurable: true });
      } else {
        let v;
        [v, pos] = parseFlow(s, pos, fail);
        out.push(v);
      }
      ws();
      if (s[pos] === ',') {
        pos++;
        ws();
        if (s[pos] === close) return [out, pos + 1];
        continue;
      }
      if (s[pos] === close) return [out, pos + 1];
      fail('bad flow collection (only one-line flow collections are supported)');
    }
  }
  return parseFlowScalar(s, pos, fail, false);
}

function parseFlowScalar(s, pos, fail, isKey) {
  while (s[pos] === ' ') pos++;
  const q = s[pos];
  if (q === '"' || q === "'") {
    const end = closingQuote(s.slice(pos), q);
    if (end < 0) fail('unterminated quoted string');
    const body = s.slice(pos + 1, pos + end);
    const v = q === "'" ? body.replaceAll("''", "'") : unescapeDouble(body, () => fail('bad escape'));
    return [v, pos + end + 1];
  }
  let end = pos;
  while (end < s.length && !/[,\]}]/.test(s[end]) && !(s[end] === ':' && (isKey || /[\s,\]}]/.test(s[end + 1] ?? ' ')))) {
    end++;
  }
  return [plainScalar(s.slice(pos, end).trim()), end];
}

const PLAIN_SAFE = /^[A-Za-z0-9_./=+^$()-][A-Za-z0-9_./=+@^$() :,-]*$/;

/** A scalar as YAML: plain when unambiguous, else double-quoted (JSON strings are YAML). */
function yamlScalar(v) {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'boolean' || typeof v === 'number') return String(v);
  const s = String(v);
  const ambiguous =
    s === '' ||
    !PLAIN_SAFE.test(s) ||
    /^\s|\s$/.test(s) ||
    /: |:$| #/.test(s) ||
    /^(null|Null|NULL|~|true|True|TRUE|false|False|FALSE|yes|Yes|YES|no|No|NO|on|On|ON|off|Off|OFF|y|Y|n|N)$/.test(s) ||
    /^[-+]?(\.?[0-9]|\.(inf|Inf|INF|nan|NaN|NAN)$)/.test(s) ||
    /^0[xob]/.test(s) ||
    /^-( |$)/.test(s);
  return ambiguous ? JSON.stringify(s) : s;
}

function isMap(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** `value` as a block-style YAML document (kubeseal's `-o yaml` starts each document with ---). */
export function toYaml(value) {
  const lines = ['---'];
  const emit = (v, indent) => {
    const pad = ' '.repeat(indent);
    if (isMap(v)) {
      for (const [k, x] of Object.entries(v)) {
        if (x === undefined) continue;
        const key = yamlScalar(k);
        if (isMap(x) && Object.keys(x).length) {
          lines.push(`${pad}${key}:`);
          emit(x, indent + 2);
        } else if (Array.isArray(x) && x.length) {
          lines.push(`${pad}${key}:`);
          emit(x, indent);
        } else {
          lines.push(`${pad}${key}: ${isMap(x) ? '{}' : Array.isArray(x) ? '[]' : yamlScalar(x)}`);
        }
      }
    } else if (Array.isArray(v)) {
      for (const x of v) {
        if (isMap(x) && Object.keys(x).length) {
          const start = lines.length;
          emit(x, indent + 2);
          lines[start] = `${pad}- ${lines[start].slice(indent + 2)}`;
        } else if (Array.isArray(x) && x.length) {
          lines.push(`${pad}-`);
          emit(x, indent + 2);
        } else {
          lines.push(`${pad}- ${isMap(x) ? '{}' : Array.isArray(x) ? '[]' : yamlScalar(x)}`);
        }
      }
    }
  };
  emit(value, 0);
  return lines.join('\n') + '\n';
}

// ---------------------------------------------------------------------------------------------
// Secret → SealedSecret, and editing a SealedSecret without opening it

const SERVER_FIELDS = ['uid', 'resourceVersion', 'generation', 'creationTimestamp', 'deletionTimestamp',
  'deletionGracePeriodSeconds', 'selfLink', 'managedFields'];

function str(v, what) {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean' || typeof v === 'number') return String(v);
  throw new InputError(`${what} must be a string`);
}

function stringMap(v, what) {
  if (v === null || v === undefined) return undefined;
  if (!isMap(v)) throw new InputError(`${what} must be a mapping`);
  const out = {};
  for (const [k, x] of Object.entries(v)) out[k] = str(x, `${what}[${k}]`);
  return out;
}

function cleanMetadata(meta) {
  if (meta !== undefined && meta !== null && !isMap(meta)) throw new InputError('metadata must be a mapping');
  const out = { ...(meta ?? {}) };
  for (const f of SERVER_FIELDS) delete out[f];
  delete out.ownerReferences;
  if (out.annotations !== undefined) {
    const a = stringMap(out.annotations, 'metadata.annotations') ?? {};
    for (const k of LAST_APPLIED) delete a[k];
    out.annotations = a;
    if (Object.keys(a).length === 0) delete out.annotations;
  }
  if (out.labels !== undefined) out.labels = stringMap(out.labels, 'metadata.labels');
  out.name = str(out.name, 'metadata.name');
  out.namespace = str(out.namespace, 'metadata.namespace');
  return out;
}

/** The items of a Secret object (`data` base64-decoded, then `stringData`, which wins). */
export function secretItems(secret) {
  const items = new Map();
  const data = secret.data ?? {};
  if (!isMap(data)) throw new InputError('data must be a mapping');
  for (const [k, v] of Object.entries(data)) items.set(k, fromBase64(str(v, `data[${k}]`), `data[${k}]`));
  const sd = secret.stringData ?? {};
  if (!isMap(sd)) throw new InputError('stringData must be a mapping');
  for (const [k, v] of Object.entries(sd)) items.set(k, utf8.encode(str(v, `stringData[${k}]`)));
  return items;
}

const KEY_RE = /^[-._a-zA-Z0-9]+$/;

/** Check an item name as the apiserver does for Secret keys. */
export function checkItemName(k) {
  if (!k || k.length > 253 || !KEY_RE.test(k)) {
    throw new InputError('item names must consist of alphanumeric characters, "-", "_" or "." (at most 253)');
  }
}

/**
 * Seal a Secret, as kubeseal: `meta` (name, namespace, labels, annotations…) becomes the
 * template's metadata; the SealedSecret's own metadata has name, namespace and the scope
 * annotation. `items` is a Map of name → bytes. `scope` overrides the annotations' scope.
 */
export async function sealSecret(sealer, { metadata, type, immutable, items, scope }) {
  const meta = cleanMetadata(metadata);
  const sc = scope ?? scopeOf(meta.annotations);
  if (!meta.name) throw new InputError('missing metadata.name');
  if (sc !== 'cluster-wide' && !meta.namespace) throw new InputError('secret must declare a namespace');
  if (items.size === 0) throw new InputError('the Secret has no items to seal');
  const annotations = withScope(meta.annotations, sc);
  const template = { ...meta, annotations };
  if (Object.keys(annotations).length === 0) delete template.annotations;
  if (!template.namespace) delete template.namespace;
  const label = encryptionLabel(sc, meta.namespace, meta.name);
  const encryptedData = {};
  for (const k of [...items.keys()].sort()) {
    checkItemName(k);
    encryptedData[k] = toBase64(await sealer.encrypt(items.get(k), label));
  }
  const outer = { name: meta.name };
  if (meta.namespace) outer.namespace = meta.namespace;
  const scopeAnnotations = withScope({}, sc);
  if (Object.keys(scopeAnnotations).length) outer.annotations = scopeAnnotations;
  const tpl = { metadata: orderedMeta(template) };
  if (type) tpl.type = type;
  if (immutable === true) tpl.immutable = true;
  return {
    apiVersion: 'bitnami.com/v1alpha1',
    kind: 'SealedSecret',
    metadata: outer,
    spec: { encryptedData, template: tpl },
  };
}

function orderedMeta(m) {
  const out = {};
  for (const k of ['name', 'namespace', 'labels', 'annotations']) if (m[k] !== undefined) out[k] = m[k];
  for (const [k, v] of Object.entries(m)) if (!(k in out)) out[k] = v;
  return out;
}

/** Seal a pasted Secret object (apiVersion v1, kind Secret). */
export async function sealSecretObject(sealer, obj, scope) {
  if (!isMap(obj) || obj.kind !== 'Secret') throw new InputError('the input is not a Secret (kind: Secret)');
  return sealSecret(sealer, {
    metadata: obj.metadata,
    type: obj.type === undefined || obj.type === null ? undefined : str(obj.type, 'type'),
    immutable: obj.immutable,
    items: secretItems(obj),
    scope,
  });
}

/** What the page needs to know of a pasted SealedSecret: its identity, scope and item names. */
export function describeSealedSecret(obj) {
  if (!isMap(obj) || obj.kind !== 'SealedSecret' || obj.apiVersion !== 'bitnami.com/v1alpha1') {
    throw new InputError('the input is not a bitnami.com/v1alpha1 SealedSecret');
  }
  if (!isMap(obj.spec)) throw new InputError('spec must be a mapping');
  if (obj.spec.data !== undefined && obj.spec.data !== null) {
    throw new InputError('spec.data (the deprecated v1 format) cannot be edited item by item: re-seal it');
  }
  const meta = isMap(obj.metadata) ? obj.metadata : {};
  const ed = obj.spec.encryptedData ?? {};
  if (!isMap(ed)) throw new InputError('spec.encryptedData must be a mapping');
  for (const [k, v] of Object.entries(ed)) str(v, `spec.encryptedData[${k}]`);
  return {
    name: str(meta.name, 'metadata.name'),
    namespace: str(meta.namespace, 'metadata.namespace'),
    scope: scopeOf(stringMap(meta.annotations, 'metadata.annotations')),
    items: Object.keys(ed),
  };
}

/**
 * Edit a SealedSecret without opening it: `replace` (Map name → bytes) seals new values for
 * the object's own name, namespace and scope (as the controller will compute the label);
 * `remove` deletes items. Every other item keeps its exact ciphertext string and position; the
 * rest of the object is kept as given, less server-set fields, status and the last-applied
 * annotation (which would carry the old ciphertexts).
 */
export async function editSealedSecret(sealer, obj, { replace = new Map(), remove = [] }) {
  const d = describeSealedSecret(obj);
  if (d.scope !== 'cluster-wide' && !d.namespace) throw new InputError('the SealedSecret has no metadata.namespace');
  if (!d.name) throw new InputError('the SealedSecret has no metadata.name');
  const out = structuredClone(obj);
  delete out.status;
  const meta = { ...(out.metadata ?? {}) };
  for (const f of SERVER_FIELDS) delete meta[f];
  if (isMap(meta.annotations)) {
    const a = { ...meta.annotations };
    for (const k of LAST_APPLIED) delete a[k];
    meta.annotations = a;
    if (Object.keys(a).length === 0) delete meta.annotations;
  }
  out.metadata = meta;
  const label = encryptionLabel(d.scope, d.namespace, d.name);
  const old = out.spec.encryptedData ?? {};
  const oldKeys = Object.keys(old);
  const sorted = oldKeys.every((k, i) => i === 0 || oldKeys[i - 1] <= k);
  const sealed = new Map();
  for (const [k, v] of replace) {
    checkItemName(k);
    sealed.set(k, toBase64(await sealer.encrypt(v, label)));
  }
  const drop = new Set(remove);
  const ed = {};
  let keys = oldKeys.filter((k) => !drop.has(k));
  const added = [...sealed.keys()].filter((k) => !(k in old)).sort();
  keys = sorted ? [...keys, ...added].sort() : [...keys, ...added];
  for (const k of keys) ed[k] = sealed.has(k) ? sealed.get(k) : old[k];
  out.spec.encryptedData = ed;
  return out;
}

/** A `.dockerconfigjson` value for one registry (what `kubectl create secret docker-registry` writes). */
export function dockerConfigJson({ server, username, password, email }) {
  if (!server) throw new InputError('docker-config: the registry server is required');
  const entry = { username, password };
  if (email) entry.email = email;
  entry.auth = toBase64(utf8.encode(`${username}:${password}`));
  return utf8.encode(JSON.stringify({ auths: { [server]: entry } }));
}

// ---------------------------------------------------------------------------------------------
// The page (only where there is a DOM)


/** Build an element; children that are strings become text nodes. */
function h(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'text') e.textContent = v;
    else if (v === true) e.setAttribute(k, '');
    else if (v !== false && v !== undefined && v !== null) e.setAttribute(k, String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) e.append(c);
  return e;
}

const NO_ASSIST = { autocomplete: 'off', spellcheck: 'false', autocapitalize: 'off', autocorrect: 'off' };

const TYPES = ['Opaque', 'kubernetes.io/dockerconfigjson', 'kubernetes.io/tls', 'kubernetes.io/basic-auth',
  'kubernetes.io/ssh-auth'];

function main() {
  const $ = (id) => document.getElementById(id);
  const status = $('status');
  const say = (msg, kind = 'info') => {
    status.textContent = msg;
    status.className = `status ${kind}`;
  };
  let sealerPromise = null;
  const sealer = () => {
    sealerPromise ??= (async () => {
      const subtle = requireSubtle();
      const r = await fetch('../v1/cert.pem', { cache: 'no-store', credentials: 'same-origin' });
      if (!r.ok) throw new InputError(`cannot fetch the controller's certificate (HTTP ${r.status})`);
      const s = await makeSealer(await r.text(), { subtle });
      $('cert-info').textContent =
        `Sealing for the controller's current certificate: RSA-${s.modulusBits}, valid until ${formatDate(s.notAfter)}.`;
      return s;
    })();
    sealerPromise.catch(() => {
      sealerPromise = null;
    });
    return sealerPromise;
  };

  if (!globalThis.crypto?.subtle) {
    $('insecure').hidden = false;
    const cmd = $('insecure-command');
    cmd.textContent = [
      'kubectl -n kube-system port-forward svc/sealed-secrets 8080:8080',
      '# then open http://localhost:8080/ui/',
      '',
      '# or, through the API server:',
      'kubectl proxy --port 8001',
      '# then open http://localhost:8001/api/v1/namespaces/kube-system/services/http:sealed-secrets:http/proxy/ui/',
    ].join('\n');
    for (const b of document.querySelectorAll('button.seal')) b.disabled = true;
    for (const e of document.querySelectorAll('nav.tabs, main')) e.hidden = true;
    say('This page needs a secure context (https:// or http://localhost) to encrypt.', 'error');
    return;
  }
  sealer().then(
    () => say('Ready. Values are encrypted in this browser; nothing is sent but the sealed result.'),
    (e) => say(message(e), 'error'),
  );

  // Tabs
  const tabs = ['new', 'secret', 'edit'];
  const show = (name) => {
    for (const t of tabs) {
      $(`tab-${t}`).setAttribute('aria-selected', String(t === name));
      $(`panel-${t}`).hidden = t !== name;
    }
  };
  for (const t of tabs) $(`tab-${t}`).addEventListener('click', () => show(t));
  show('new');

  // Output
  let lastSealed = null;
  const output = $('output');
  const setOutput = (obj) => {
    lastSealed = obj;
    output.value = obj ? toYaml(obj) : '';
    $('output-actions').hidden = !obj;
    $('check-result').textContent = '';
  };
  $('copy').addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(output.value);
      say('Copied the SealedSecret to the clipboard.', 'ok');
    } catch {
      output.select();
      say('Select-all done: copy with Ctrl+C.', 'info');
    }
  });
  $('download').addEventListener('click', () => {
    const name = lastSealed?.metadata?.name || 'sealedsecret';
    const url = URL.createObjectURL(new Blob([output.value], { type: 'application/yaml' }));
    const a = h('a', { href: url, download: `${name.replace(/[^-._a-zA-Z0-9]/g, '_')}.sealed.yaml` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  });
  $('check').addEventListener('click', async () => {
    const r = $('check-result');
    r.textContent = 'Checking…';
    try {
      const resp = await fetch('../v1/verify', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(lastSealed),
        cache: 'no-store',
        credentials: 'same-origin',
      });
      r.textContent =
        resp.status === 200
          ? 'OK: the controller can open every item.'
          : resp.status === 409
            ? 'The controller cannot open these items (another cluster, or sealed for another name, namespace or scope).'
            : resp.status === 429
              ? 'Rate limited: try again in a second.'
              : `The check failed (HTTP ${resp.status}).`;
      r.className = resp.status === 200 ? 'ok' : 'error';
    } catch (e) {
      r.textContent = `The check failed: ${message(e)}`;
      r.className = 'error';
    }
  });

  const run = (fn) => async () => {
    try {
      say('Sealing…');
      const out = await fn(await sealer());
      setOutput(out);
      say(`Sealed ${Object.keys(out.spec.encryptedData).length} item(s) for ${out.metadata.namespace ?? ''}/${out.metadata.name}.`, 'ok');
    } catch (e) {
      say(message(e), 'error');
    }
  };

  // New Secret
  const typeSelect = $('new-type');
  for (const t of TYPES) typeSelect.append(h('option', { value: t }, t));
  typeSelect.append(h('option', { value: '' }, 'other…'));
  const rows = $('rows');
  const addRow = (name = '') => {
    const row = itemRow(name, { removable: true });
    rows.append(row.el);
    return row;
  };
  const rowByName = (n) => [...rows.children].find((r) => r.querySelector('.item-name').value === n);
  const ensureRows = (names) => {
    for (const n of names) if (!rowByName(n)) addRow(n);
  };
  typeSelect.addEventListener('change', () => {
    const t = typeSelect.value;
    $('type-other').hidden = t !== '';
    $('docker-helper').hidden = t !== 'kubernetes.io/dockerconfigjson';
    $('tls-helper').hidden = t !== 'kubernetes.io/tls';
    if (t === 'kubernetes.io/tls') ensureRows(['tls.crt', 'tls.key']);
    if (t === 'kubernetes.io/basic-auth') ensureRows(['username', 'password']);
    if (t === 'kubernetes.io/ssh-auth') ensureRows(['ssh-privatekey']);
  });
  $('add-row').addEventListener('click', () => addRow());
  $('docker-fill').addEventListener('click', () => {
    try {
      const value = dockerConfigJson({
        server: $('docker-server').value.trim(),
        username: $('docker-username').value,
        password: $('docker-password').value,
        email: $('docker-email').value.trim(),
      });
      const row = rowByName('.dockerconfigjson') ?? addRow('.dockerconfigjson');
      row.querySelector('.item-name').value = '.dockerconfigjson';
      row.setBytes(value, 'registry credentials (JSON)');
      $('docker-password').value = '';
      say('The .dockerconfigjson item is filled in.', 'ok');
    } catch (e) {
      say(message(e), 'error');
    }
  });
  addRow();
  $('seal-new').addEventListener(
    'click',
    run((s) => {
      const type = typeSelect.value || $('type-other-input').value.trim();
      return sealSecret(s, {
        metadata: { name: $('new-name').value.trim(), namespace: $('new-namespace').value.trim() },
        type: type || undefined,
        items: collect(rows),
        scope: $('new-scope').value,
      });
    }),
  );

  // Paste a Secret
  $('seal-secret').addEventListener(
    'click',
    run((s) => {
      const obj = parseDocument($('secret-input').value);
      const scope = $('secret-scope').value;
      return sealSecretObject(s, obj, scope === 'from-object' ? undefined : scope);
    }),
  );

  // Edit a SealedSecret
  let editing = null;
  const editRows = $('edit-rows');
  const addEditRow = (name, existing) => {
    const row = itemRow(name, { existing, removable: !existing });
    editRows.append(row.el);
    return row;
  };
  $('load-sealed').addEventListener('click', () => {
    try {
      const obj = parseDocument($('sealed-input').value);
      const d = describeSealedSecret(obj);
      editing = obj;
      $('edit-name').value = d.name;
      $('edit-namespace').value = d.namespace;
      $('edit-scope').value = d.scope;
      editRows.replaceChildren();
      for (const k of d.items) addEditRow(k, true);
      $('edit-form').hidden = false;
      say(`Loaded ${d.items.length} item(s). Untouched items keep their exact ciphertext.`, 'ok');
    } catch (e) {
      editing = null;
      $('edit-form').hidden = true;
      say(message(e), 'error');
    }
  });
  $('edit-add').addEventListener('click', () => addEditRow('', false));
  $('seal-edit').addEventListener(
    'click',
    run((s) => {
      if (!editing) throw new InputError('load a SealedSecret first');
      const replace = new Map();
      const remove = [];
      for (const r of editRows.children) {
        const name = r.querySelector('.item-name').value.trim();
        const action = r.dataset.action;
        if (action === 'delete') remove.push(r.dataset.original);
        else if (action === 'replace' || action === 'new') {
          if (!name) throw new InputError('every new item needs a name');
          if (action === 'new' && replace.has(name)) throw new InputError('two new items have the same name');
          replace.set(name, r.bytes());
        }
      }
      return editSealedSecret(s, editing, { replace, remove });
    }),
  );
}

function message(e) {
  if (e instanceof InputError) return e.message;
  if (e && e.name === 'OperationError') return 'the browser could not encrypt with this certificate';
  return `unexpected error: ${e?.message ?? e}`;
}

/**
 * One item row: name, value (text or a file, binary-safe), and for an existing item of a
 * SealedSecret the choice keep / replace / delete.
 */
function itemRow(name, { existing = false, removable = false }) {
  let fileBytes = null;
  const nameInput = h('input', { class: 'item-name', type: 'text', placeholder: 'item name', value: name, ...NO_ASSIST });
  const value = h('textarea', { class: 'item-value', rows: 2, placeholder: 'value', ...NO_ASSIST });
  const fileLabel = h('span', { class: 'file-label' });
  const file = h('input', { type: 'file', class: 'item-file' });
  const clearFile = () => {
    fileBytes = null;
    fileLabel.textContent = '';
    value.disabled = false;
  };
  file.addEventListener('change', async () => {
    const f = file.files?.[0];
    if (!f) return clearFile();
    fileBytes = new Uint8Array(await f.arrayBuffer());
    fileLabel.textContent = `from file (${fileBytes.length} bytes)`;
    value.value = '';
    value.disabled = true;
  });
  const valueBox = h('div', { class: 'item-value-box' }, value, h('label', { class: 'file' }, 'or a file: ', file), fileLabel);
  const el = h('div', { class: 'item' });
  el.dataset.action = existing ? 'keep' : 'new';
  el.dataset.original = name;
  if (existing) {
    nameInput.readOnly = true;
    const choice = h('select', { class: 'item-action', 'aria-label': 'what to do with this item' },
      h('option', { value: 'keep' }, 'keep as is'),
      h('option', { value: 'replace' }, 'replace value'),
      h('option', { value: 'delete' }, 'delete'));
    valueBox.hidden = true;
    choice.addEventListener('change', () => {
      el.dataset.action = choice.value;
      valueBox.hidden = choice.value !== 'replace';
      el.classList.toggle('deleted', choice.value === 'delete');
    });
    el.append(nameInput, choice, valueBox);
  } else {
    el.append(nameInput, valueBox);
  }
  if (removable) el.append(h('button', { type: 'button', class: 'remove', 'aria-label': 'remove this item', onclick: () => el.remove() }, '×'));
  el.bytes = () => fileBytes ?? utf8.encode(value.value);
  el.setBytes = (bytes, what) => {
    fileBytes = bytes;
    fileLabel.textContent = `${what} (${bytes.length} bytes)`;
    value.value = '';
    value.disabled = true;
  };
  return { el, querySelector: (s) => el.querySelector(s), setBytes: el.setBytes };
}

/** The items of the new-Secret rows (name → bytes); names checked, duplicates refused. */
function collect(rows) {
  const items = new Map();
  for (const r of rows.children) {
    const name = r.querySelector('.item-name').value.trim();
    const bytes = r.bytes();
    if (!name && bytes.length === 0) continue;
    checkItemName(name);
    if (items.has(name)) throw new InputError('two items have the same name');
    items.set(name, bytes);
  }
  return items;
}

// Last, so that every declaration above is initialised when the page starts.
if (typeof document !== 'undefined' && typeof window !== 'undefined') {
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', () => main());
  else main();
}
