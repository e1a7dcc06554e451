// The sealing page in a real browser (Debian's chromium, driven by playwright-core) against a real
// controller (`--ui`) on the real control plane of tests/cluster/cluster.sh:
//
// - the controller runs in the pod network namespace and is registered behind a Service, so the
//   page is reached through the kube-apiserver's service proxy, under its path prefix, via a
//   localhost forwarder that adds the token as `kubectl proxy` does; and through a localhost TCP
//   forwarder, as `kubectl port-forward`; and over plain HTTP on the pod address, where WebCrypto
//   is missing and the page must say so;
// - a canary value is typed, sealed, checked with the controller, and every request the browser
//   makes is recorded: the canary is in no URL, header or body; the YAML is applied and the
//   controller's Secret holds the canary (and a binary file item, byte for byte);
// - an existing SealedSecret (as the apiserver returns it) is edited: one item replaced, one
//   deleted, one added, the untouched one byte-identical; applied; the Secret follows;
// - the headers (CSP and the rest) arrive through the proxy; no CSP violation in the console;
// - a screenshot is written (path printed) for a person to look at.
//
// Needs the environment of `tests/cluster/cluster.sh up`, the debug controller binary
// ($CARGO_TARGET_DIR/debug/controller, or SSRS_CONTROLLER) and /usr/bin/chromium. Without a
// cluster the test is skipped, unless SSRS_REQUIRE_CLUSTER=1 (tests/run.sh), where it fails.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';

import { parseDocument } from '../../controller/ui/seal.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '../..');
const env = process.env;
const NEEDED = ['SSRS_CLUSTER_DIR', 'SSRS_APISERVER', 'SSRS_ADMIN_TOKEN', 'SSRS_NETNS', 'SSRS_POD_IP', 'KUBECONFIG'];
const missing = NEEDED.filter((v) => !env[v]);
const skip = missing.length > 0 && env.SSRS_REQUIRE_CLUSTER !== '1' ? `no cluster (${missing.join(', ')} unset)` : false;
const CHROMIUM = env.SSRS_CHROMIUM ?? '/usr/bin/chromium';
const SERVICE = 'sealed-secrets';
const WAIT_MS = 60_000;

/** A request to the apiserver with the admin token. */
function api(method, path, body, contentType = 'application/json') {
  const url = new URL(path, env.SSRS_APISERVER);
  const ca = readFileSync(join(env.SSRS_CLUSTER_DIR, 'certs/apiserver.crt'));
  return new Promise((ok, fail) => {
    const req = https.request(url, {
      method,
      ca,
      headers: { Authorization: `Bearer ${env.SSRS_ADMIN_TOKEN}`, 'Content-Type': contentType, Accept: 'application/json' },
      timeout: 20_000,
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let json = null;
        try {
          json = JSON.parse(text);
        } catch {
          // not JSON
        }
        ok({ status: res.statusCode, headers: res.headers, text, json });
      });
    });
    req.on('error', fail);
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timeout`)));
    if (body !== undefined) req.write(typeof body === 'string' ? body : JSON.stringify(body));
    req.end();
  });
}

async function waitFor(what, fn, ms = WAIT_MS) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
}

/** What `kubectl proxy` does: a localhost HTTP server forwarding to the apiserver with the token. */
function apiserverProxy(allowedPrefix) {
  const target = new URL(env.SSRS_APISERVER);
  const ca = readFileSync(join(env.SSRS_CLUSTER_DIR, 'certs/apiserver.crt'));
  const server = http.createServer((req, res) => {
    if (!req.url.startsWith(allowedPrefix)) {
      res.writeHead(403).end('outside the proxied Service\n');
      return;
    }
    const headers = { ...req.headers, host: target.host, authorization: `Bearer ${env.SSRS_ADMIN_TOKEN}` };
    const up = https.request({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers, ca }, (r) => {
      res.writeHead(r.statusCode, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.writeHead(502).end());
    req.pipe(up);
  });
  return listen(server);
}

/** What `kubectl port-forward` does: a localhost TCP port piped to the Pod's port. */
function portForward(host, port) {
  const server = net.createServer((c) => {
    const up = net.connect(port, host);
    c.pipe(up).pipe(c);
    up.on('error', () => c.destroy());
    c.on('error', () => up.destroy());
  });
  return listen(server);
}

function listen(server) {
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok({ server, port: server.address().port })));
}

function controllerBin() {
  const p = env.SSRS_CONTROLLER ?? join(env.CARGO_TARGET_DIR ?? join(ROOT, 'target'), 'debug/controller');
  assert.ok(existsSync(p), `${p} not found: run cargo build --workspace --bins first`);
  return p;
}

/** Start the controller with --ui in the pod netns, scoped to `ns`; resolves with its port. */
async function startController(ns) {
  const logs = { out: '', err: '' };
  const child = spawn('ip', ['netns', 'exec', env.SSRS_NETNS, controllerBin(), '--ui', '--all-namespaces=false',
    '--key-size=2048', `--listen-addr=${env.SSRS_POD_IP}:0`, '--listen-metrics-addr=127.0.0.1:0'], {
    env: { PATH: env.PATH, KUBECONFIG: env.KUBECONFIG, POD_NAMESPACE: ns },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (d) => (logs.out += d));
  child.stderr.on('data', (d) => (logs.err += d));
  const stop = () => new Promise((done) => {
    if (child.exitCode !== null || child.signalCode !== null) return done();
    const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(kill);
      done();
    });
    child.kill('SIGTERM');
  });
  process.once('exit', () => child.kill('SIGKILL'));
  try {
    const port = await waitFor('the controller to listen', () => {
      if (child.exitCode !== null) throw new Error(`controller exited: ${logs.out}${logs.err}`);
      const m = /msg="server listening" server=http addr=\S*:(\d+)/.exec(logs.out + logs.err);
      return m && Number(m[1]);
    }, 30_000);
    return { child, port, logs, stop };
  } catch (e) {
    await stop();
    throw new Error(`${e.message}\ncontroller logs:\n${logs.out}${logs.err}`);
  }
}

async function createNamespace() {
  const ns = `ui-${randomBytes(4).toString('hex')}`;
  const r = await api('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  assert.equal(r.status, 201, r.text);
  return ns;
}

async function ensureCrd() {
  const crd = readFileSync(join(ROOT, 'charts/sealed-secrets/crds/bitnami.com_sealedsecrets.yaml'), 'utf8');
  const r = await api('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd, 'application/yaml');
  assert.ok(r.status === 201 || r.status === 409, r.text);
  await waitFor('the SealedSecret CRD to be served', async () => {
    const c = await api('GET', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/sealedsecrets.bitnami.com');
    return c.json?.status?.conditions?.some((x) => x.type === 'Established' && x.status === 'True');
  });
}

async function waitSecret(ns, name, check) {
  return waitFor(`Secret ${ns}/${name}`, async () => {
    const r = await api('GET', `/api/v1/namespaces/${ns}/secrets/${name}`);
    return r.status === 200 && check(r.json) && r.json;
  });
}

const decode = (v) => Buffer.from(v ?? '', 'base64');

/** Every request the page makes, with headers and body, and anything the console reports. */
function record(page) {
  const requests = [];
  const console = [];
  page.on('request', (r) => {
    const entry = { url: r.url(), method: r.method(), headers: r.headers(), body: r.postDataBuffer() ?? Buffer.alloc(0) };
    // All headers (cookies and the like included) arrive asynchronously; awaited before checking.
    entry.ready = r.allHeaders().then((h) => (entry.headers = h), () => {});
    requests.push(entry);
  });
  page.on('console', (m) => console.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => console.push(`pageerror: ${e.message}`));
  return { requests, console };
}

async function assertNotLeaked(requests, secrets, origin) {
  assert.ok(requests.length >= 3, 'requests were recorded');
  await Promise.all(requests.map((r) => r.ready));
  for (const r of requests) {
    assert.ok(r.url.startsWith(origin) || r.url.startsWith('data:') || r.url.startsWith('blob:'), `request outside the origin: ${r.url}`);
    const surfaces = [r.url, decodeURIComponent(r.url), JSON.stringify(r.headers), r.body.toString('latin1'), r.body.toString('utf8')];
    for (const s of secrets) {
      const forms = [s, Buffer.from(s).toString('base64'), encodeURIComponent(s)];
      for (const surface of surfaces) for (const f of forms) assert.ok(!surface.includes(f), `a secret value appeared in ${r.method} ${r.url}`);
    }
  }
}

test('the sealing page in Chromium against the real controller', { skip, timeout: 240_000 }, async (t) => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} not found (apt-get install chromium)`);
  const { chromium } = await import('playwright-core');
  await ensureCrd();
  const ns = await createNamespace();
  const artifacts = env.SSRS_UI_ARTIFACTS ?? join(env.CARGO_TARGET_DIR ?? join(ROOT, 'target'), 'ui-artifacts');
  mkdirSync(artifacts, { recursive: true });
  const profile = mkdtempSync(join(tmpdir(), 'ssrs-chromium-'));
  const cleanups = [];
  t.after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
  });
  cleanups.push(() => api('DELETE', `/api/v1/namespaces/${ns}`));
  const ctl = await startController(ns);
  cleanups.push(ctl.stop);
  execFileSync('bash', [join(ROOT, 'tests/cluster/register-pod.sh'), ns, SERVICE, String(ctl.port)], { stdio: ['ignore', 'ignore', 'pipe'] });
  const prefix = `/api/v1/namespaces/${ns}/services/http:${SERVICE}:http/proxy/`;
  const proxy = await apiserverProxy(prefix);
  const forward = await portForward(env.SSRS_POD_IP, ctl.port);
  cleanups.push(async () => proxy.server.close());
  cleanups.push(async () => forward.server.close());
  const proxied = `http://127.0.0.1:${proxy.port}${prefix}`;
  await waitFor('the certificate through the service proxy', async () => {
    const r = await fetch(`${proxied}v1/cert.pem`);
    return r.status === 200;
  });

  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    acceptDownloads: true,
    viewport: { width: 1200, height: 1500 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-quic'],
  });
  cleanups.push(() => context.close());

  await t.test('headers arrive through the service proxy; /ui redirects relatively', async () => {
    const r = await fetch(`${proxied}ui/`);
    assert.equal(r.status, 200);
    const csp = r.headers.get('content-security-policy');
    assert.match(csp, /default-src 'none'; script-src 'self'; style-src 'self';/);
    assert.match(csp, /connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'/);
    assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(r.headers.get('referrer-policy'), 'no-referrer');
    // The apiserver's proxy adds its own "no-cache, private" in front of ours.
    assert.ok(r.headers.get('cache-control').split(/,\s*/).includes('no-store'), r.headers.get('cache-control'));
    const redirect = await fetch(`${proxied}ui`, { redirect: 'manual' });
    assert.equal(redirect.status, 301);
    assert.ok(new URL(redirect.headers.get('location'), `${proxied}ui`).href === `${proxied}ui/`, redirect.headers.get('location'));
  });

  const canary = `canary-${randomBytes(9).toString('hex')}`;
  const binary = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  let sealedName = 'app-credentials';
  await t.test('new Secret through the service-proxy path: sealed in the browser, applied, unsealed', async () => {
    const page = await context.newPage();
    const rec = record(page);
    await page.goto(`${proxied}ui/`);
    await page.locator('#status').filter({ hasText: 'Ready.' }).waitFor();
    await page.fill('#new-name', sealedName);
    await page.fill('#new-namespace', ns);
    const rows = page.locator('#rows .item');
    await rows.nth(0).locator('.item-name').fill('password');
    await rows.nth(0).locator('.item-value').fill(canary);
    await page.click('#add-row');
    await rows.nth(1).locator('.item-name').fill('username');
    await rows.nth(1).locator('.item-value').fill('admin');
    await page.click('#add-row');
    await rows.nth(2).locator('.item-name').fill('blob');
    await rows.nth(2).locator('.item-file').setInputFiles({ name: 'blob.bin', mimeType: 'application/octet-stream', buffer: binary });
    await rows.nth(2).locator('.file-label').filter({ hasText: '256 bytes' }).waitFor();
    await page.click('#seal-new');
    await page.locator('#status.ok').waitFor();
    const yaml = await page.inputValue('#output');
    const sealed = parseDocument(yaml);
    assert.deepEqual(Object.keys(sealed.spec.encryptedData), ['blob', 'password', 'username']);
    assert.ok(!yaml.includes(canary));
    await page.click('#check');
    await page.locator('#check-result.ok').waitFor();
    const download = page.waitForEvent('download');
    await page.click('#download');
    const file = await (await download).path();
    assert.equal(readFileSync(file, 'utf8'), yaml);
    await page.screenshot({ path: join(artifacts, 'sealing-page.png'), fullPage: true });
    t.diagnostic(`screenshot: ${join(artifacts, 'sealing-page.png')}`);

    await assertNotLeaked(rec.requests, [canary, binary.toString('latin1')], `http://127.0.0.1:${proxy.port}/`);
    const paths = rec.requests.map((r) => `${r.method} ${new URL(r.url).pathname.slice(prefix.length - 1)}`);
    assert.deepEqual([...new Set(paths.filter((p) => !p.includes('data:')))].sort(),
      ['GET /ui/', 'GET /ui/seal.js', 'GET /ui/style.css', 'GET /v1/cert.pem', 'POST /v1/verify'].sort(), paths.join(', '));
    assert.deepEqual(rec.console.filter((m) => /error|Content Security Policy|TrustedHTML/i.test(m)), []);

    const created = await api('POST', `/apis/bitnami.com/v1alpha1/namespaces/${ns}/sealedsecrets`, yaml, 'application/yaml');
    assert.equal(created.status, 201, created.text);
    const secret = await waitSecret(ns, sealedName, () => true).catch((e) => {
      throw new Error(`${e.message}\ncontroller logs:\n${ctl.logs.out}${ctl.logs.err}`);
    });
    assert.equal(decode(secret.data.password).toString(), canary);
    assert.equal(decode(secret.data.username).toString(), 'admin');
    assert.deepEqual(decode(secret.data.blob), binary);
    await page.close();
  });

  const canary2 = `canary2-${randomBytes(9).toString('hex')}`;
  await t.test('edit an existing SealedSecret: one item replaced, one deleted, one added, the untouched one byte-identical', async () => {
    const current = await api('GET', `/apis/bitnami.com/v1alpha1/namespaces/${ns}/sealedsecrets/${sealedName}`);
    assert.equal(current.status, 200);
    const before = current.json;
    const page = await context.newPage();
    const rec = record(page);
    await page.goto(`${proxied}ui/`);
    await page.locator('#status').filter({ hasText: 'Ready.' }).waitFor();
    await page.click('#tab-edit');
    // Pasted as the apiserver returns it: status, managedFields, resourceVersion and all.
    await page.fill('#sealed-input', current.text);
    await page.click('#load-sealed');
    await page.locator('#edit-form').waitFor();
    assert.equal(await page.inputValue('#edit-name'), sealedName);
    assert.equal(await page.inputValue('#edit-namespace'), ns);
    assert.equal(await page.inputValue('#edit-scope'), 'strict');
    assert.equal(await page.locator('#edit-name').getAttribute('readonly'), '');
    const row = (name) => page.locator('#edit-rows .item').filter({ has: page.locator(`.item-name[value="${name}"]`) });
    await row('password').locator('.item-action').selectOption('replace');
    await row('password').locator('.item-value').fill(canary2);
    await row('blob').locator('.item-action').selectOption('delete');
    await page.click('#edit-add');
    const added = page.locator('#edit-rows .item').last();
    await added.locator('.item-name').fill('extra');
    await added.locator('.item-value').fill('x');
    await page.click('#seal-edit');
    await page.locator('#status.ok').waitFor();
    const after = parseDocument(await page.inputValue('#output'));
    assert.deepEqual(Object.keys(after.spec.encryptedData), ['extra', 'password', 'username']);
    assert.equal(after.spec.encryptedData.username, before.spec.encryptedData.username, 'untouched item byte-identical');
    assert.notEqual(after.spec.encryptedData.password, before.spec.encryptedData.password);
    assert.equal(after.status, undefined);
    assert.equal(after.metadata.resourceVersion, undefined);
    assert.equal(after.metadata.managedFields, undefined);
    assert.deepEqual(after.spec.template, before.spec.template);
    await page.click('#check');
    await page.locator('#check-result.ok').waitFor();
    await page.screenshot({ path: join(artifacts, 'sealing-page-edit.png'), fullPage: true });
    await assertNotLeaked(rec.requests, [canary2], `http://127.0.0.1:${proxy.port}/`);

    // `kubectl replace`: the edited object with the current resourceVersion.
    after.metadata.resourceVersion = before.metadata.resourceVersion;
    const put = await api('PUT', `/apis/bitnami.com/v1alpha1/namespaces/${ns}/sealedsecrets/${sealedName}`, after);
    assert.equal(put.status, 200, put.text);
    const secret = await waitSecret(ns, sealedName, (s) => decode(s.data?.password).toString() === canary2);
    assert.equal(decode(secret.data.username).toString(), 'admin');
    assert.equal(decode(secret.data.extra).toString(), 'x');
    assert.equal(secret.data.blob, undefined);
    await page.close();
  });

  await t.test('a pasted Secret through a port-forward-style localhost address', async () => {
    const page = await context.newPage();
    const rec = record(page);
    const canary3 = `canary3-${randomBytes(9).toString('hex')}`;
    await page.goto(`http://127.0.0.1:${forward.port}/ui`);
    assert.equal(new URL(page.url()).pathname, '/ui/');
    await page.locator('#status').filter({ hasText: 'Ready.' }).waitFor();
    await page.click('#tab-secret');
    await page.fill('#secret-input', `apiVersion: v1\nkind: Secret\nmetadata:\n  name: pasted\n  namespace: ${ns}\n  annotations:\n    sealedsecrets.bitnami.com/namespace-wide: "true"\nstringData:\n  token: ${canary3}\n`);
    await page.click('#seal-secret');
    await page.locator('#status.ok').waitFor();
    const sealed = parseDocument(await page.inputValue('#output'));
    assert.equal(sealed.metadata.annotations['sealedsecrets.bitnami.com/namespace-wide'], 'true');
    const r = await api('POST', `/apis/bitnami.com/v1alpha1/namespaces/${ns}/sealedsecrets`, sealed);
    assert.equal(r.status, 201, r.text);
    const secret = await waitSecret(ns, 'pasted', () => true);
    assert.equal(decode(secret.data.token).toString(), canary3);
    await assertNotLeaked(rec.requests, [canary3], `http://127.0.0.1:${forward.port}/`);
    await page.close();
  });

  await t.test('type helpers: TLS rows, registry credentials the apiserver validates', async () => {
    const page = await context.newPage();
    const rec = record(page);
    const password = `canary4-${randomBytes(9).toString('hex')}`;
    await page.goto(`http://127.0.0.1:${forward.port}/ui/`);
    await page.locator('#status').filter({ hasText: 'Ready.' }).waitFor();
    await page.selectOption('#new-type', 'kubernetes.io/tls');
    const names = async () => page.locator('#rows .item-name').evaluateAll((els) => els.map((e) => e.value));
    assert.deepEqual(await names(), ['', 'tls.crt', 'tls.key']);
    await page.reload();
    await page.locator('#status').filter({ hasText: 'Ready.' }).waitFor();
    await page.fill('#new-name', 'registry');
    await page.fill('#new-namespace', ns);
    await page.selectOption('#new-type', 'kubernetes.io/dockerconfigjson');
    await page.fill('#docker-server', 'registry.example.com');
    await page.fill('#docker-username', 'robot');
    await page.fill('#docker-password', password);
    await page.click('#docker-fill');
    assert.equal(await page.inputValue('#docker-password'), '', 'the helper forgets the password');
    await page.click('#seal-new');
    await page.locator('#status.ok').waitFor();
    const sealed = parseDocument(await page.inputValue('#output'));
    assert.deepEqual(Object.keys(sealed.spec.encryptedData), ['.dockerconfigjson']);
    assert.equal(sealed.spec.template.type, 'kubernetes.io/dockerconfigjson');
    const r = await api('POST', `/apis/bitnami.com/v1alpha1/namespaces/${ns}/sealedsecrets`, sealed);
    assert.equal(r.status, 201, r.text);
    // The apiserver refuses a dockerconfigjson Secret whose item is not valid JSON.
    const secret = await waitSecret(ns, 'registry', () => true);
    assert.equal(secret.type, 'kubernetes.io/dockerconfigjson');
    const auths = JSON.parse(decode(secret.data['.dockerconfigjson'])).auths['registry.example.com'];
    assert.deepEqual(auths, { username: 'robot', password, auth: Buffer.from(`robot:${password}`).toString('base64') });
    await assertNotLeaked(rec.requests, [password], `http://127.0.0.1:${forward.port}/`);
    await page.close();
  });

  await t.test('plain HTTP on a non-localhost address: no WebCrypto, the page says so', async () => {
    const page = await context.newPage();
    await page.goto(`http://${env.SSRS_POD_IP}:${ctl.port}/ui/`);
    await page.locator('#insecure').waitFor();
    assert.match(await page.textContent('#insecure-command'), /kubectl -n kube-system port-forward svc\/sealed-secrets 8080:8080/);
    assert.ok(await page.locator('#seal-new').isDisabled());
    await page.screenshot({ path: join(artifacts, 'sealing-page-insecure.png') });
    await page.close();
  });
});
