// Real things for the dashboard's browser tests: a mailhooks server on a temp SQLite file,
// an HTTP receiver on 127.0.0.1:0 whose reply can be switched, and Debian's Chromium.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, mkdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SCREENSHOTS = process.env.MAILHOOKS_SCREENSHOT_DIR
  ? path.resolve(process.env.MAILHOOKS_SCREENSHOT_DIR)
  : path.join(ROOT, 'docs', 'screenshots');

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
// Without these Chromium reaches for the network (updates, sync, field trials) and a
// GPU; the tests must run offline in a container.
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

function binaryPath() {
  if (process.env.MAILHOOKS_BIN) return process.env.MAILHOOKS_BIN;
  const target = process.env.CARGO_TARGET_DIR
    ? path.resolve(ROOT, process.env.CARGO_TARGET_DIR)
    : path.join(ROOT, 'target');
  return path.join(target, 'debug', 'mailhooks');
}

/** Starts `mailhooks serve` on 127.0.0.1:0 and resolves once it says where it listens. */
export async function startServer({ apiKey, extraArgs = [] }) {
  const bin = binaryPath();
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run cargo build --bin mailhooks`);
  const dir = mkdtempSync(path.join(tmpdir(), 'mailhooks-e2e-'));
  const args = [
    'serve',
    '--listen', '127.0.0.1:0',
    '--database-url', 'sqlite://' + path.join(dir, 'mailhooks.db'),
    '--mail-dir', path.join(dir, 'mail'),
    '--allow-private-targets',
    '--bootstrap-api-key', apiKey,
    '--batch-linger', '200ms',
    '--delivery-timeout', '5s',
    ...extraArgs,
  ];
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MAILHOOKS_') && k !== 'DATABASE_URL'));
  env.RUST_LOG = env.RUST_LOG || 'warn';
  const child = spawn(bin, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let stderr = '';
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('mailhooks did not start in 20 s:\n' + output)), 20_000);
    child.stdout.on('data', (chunk) => { output += chunk; });
    child.stderr.on('data', (chunk) => {
      output += chunk;
      stderr += chunk;
      // The line is on stderr, and only a whole line counts: output arrives in chunks,
      // and one may end inside the address (a CI run once got "http://127").
      const m = stderr.match(/mailhooks listening on (http:\/\/\S+)\r?\n/);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`mailhooks exited with ${code} before listening:\n${output}`));
    });
  });
  return {
    url,
    apiKey,
    log: () => output,
    async api(method, route, body, key = apiKey) {
      const res = await fetch(url + route, {
        method,
        headers: { Authorization: 'Bearer ' + key, 'Content-Type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
    },
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** An endpoint on 127.0.0.1:0 that records every request and answers as it is told. */
export async function startReceiver() {
  const requests = [];
  let reply = { status: 200, body: 'ok' };
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let json = null;
      try { json = JSON.parse(raw); } catch { json = null; }
      requests.push({ method: req.method, url: req.url, headers: req.headers, body: json, raw });
      res.writeHead(reply.status, { 'Content-Type': 'text/plain' });
      res.end(reply.body);
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}/hooks/mail`,
    requests,
    succeed() { reply = { status: 200, body: 'ok' }; },
    fail(status = 500, body = 'receiver is down') { reply = { status, body }; },
    close() { return new Promise((resolve) => server.close(resolve)); },
  };
}

/** Debian's Chromium, headless, on a fresh profile that is removed afterwards. */
export async function startBrowser() {
  const profile = mkdtempSync(path.join(tmpdir(), 'mailhooks-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1200, height: 800 },
    locale: 'en-GB',
    timezoneId: 'UTC',
  });
  context.setDefaultTimeout(10_000);
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Polls `check` until it returns a truthy value; fails after `timeoutMs`. */
export async function eventually(check, { timeoutMs = 10_000, intervalMs = 100, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}${last ? ': ' + last.message : ''}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export async function screenshot(page, name, options = {}) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.mouse.move(0, 0); // no hover state in the picture
  await page.screenshot({ path: path.join(SCREENSHOTS, name + '.png'), ...options });
}
