// The sealing page's lint (eslint, test-time only): user data reaches the page only as text, no
// code is built from strings, and the page talks to exactly two relative endpoints.
//
//   node tests/ui/lint.mjs            (also run by unit.test.mjs)

import { ESLint } from 'eslint';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

const BROWSER_GLOBALS = Object.fromEntries(
  ['window', 'document', 'navigator', 'fetch', 'Blob', 'URL', 'TextEncoder', 'atob', 'btoa', 'setTimeout',
    'structuredClone', 'console'].map((g) => [g, 'readonly']),
);

const SINK = 'user data must reach the page as text (textContent, value), never as HTML';

export const config = [
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { ecmaVersion: 2024, sourceType: 'module', globals: BROWSER_GLOBALS },
    rules: {
      'no-undef': 'error',
      'no-unused-vars': ['error', { caughtErrors: 'none' }],
      'no-eval': 'error',
      'no-implied-eval': 'error',
      'no-new-func': 'error',
      'no-script-url': 'error',
      'no-restricted-properties': [
        'error',
        { property: 'innerHTML', message: SINK },
        { property: 'outerHTML', message: SINK },
        { property: 'srcdoc', message: SINK },
        { property: 'sendBeacon', message: 'the page sends nothing but the sealed object to ../v1/verify' },
      ],
      'no-restricted-syntax': [
        'error',
        {
          selector: "CallExpression[callee.property.name=/^(insertAdjacentHTML|write|writeln|createContextualFragment|setHTMLUnsafe|parseHTMLUnsafe|parseFromString)$/]",
          message: SINK,
        },
        {
          selector: "CallExpression[callee.name='fetch'][arguments.0.type!='Literal']",
          message: 'fetch only literal, relative endpoints',
        },
        {
          selector: "CallExpression[callee.name='fetch'] > Literal.arguments:first-child[value!=/^\\.\\.\\/v1\\/(cert\\.pem|verify)$/]",
          message: 'the page may fetch only ../v1/cert.pem and ../v1/verify',
        },
        {
          selector: "NewExpression[callee.name=/^(XMLHttpRequest|WebSocket|EventSource|Worker|SharedWorker|Function|DOMParser)$/]",
          message: 'no other channels, no code from strings',
        },
      ],
      'no-restricted-globals': ['error', 'XMLHttpRequest', 'WebSocket', 'EventSource', 'importScripts'],
    },
  },
];

/** Lint `files` (absolute paths) or, when `files` is null, the source text `code`. */
export async function lint(files, code) {
  const eslint = new ESLint({ cwd: ROOT, overrideConfigFile: true, overrideConfig: config });
  if (files) return eslint.lintFiles(files);
  return eslint.lintText(code, { filePath: resolve(ROOT, 'controller/ui/snippet.js') });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const results = await lint([resolve(ROOT, 'controller/ui/seal.js')]);
  const formatter = await new ESLint().loadFormatter('stylish');
  const out = await formatter.format(results);
  if (out) console.log(out);
  process.exit(results.some((r) => r.errorCount > 0) ? 1 : 0);
}
