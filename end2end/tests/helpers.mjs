// Shared helpers for the GridFlex browser tests.
//
// Each test file starts its own server (the built `gridflex` binary, demo data, a
// temporary SQLite database, a free port on 127.0.0.1) in `before` and stops it in
// `after`. Every test gets a fresh Chromium profile with JavaScript disabled: the
// console is server-rendered and must work without it.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const __dirname = path.dirname(fileURLToPath(import.meta.url));

/** The repository root (/work/main): end2end/tests/ -> ../.. */
export const REPO_ROOT = path.resolve(__dirname, '..', '..');

/** The server binary: $GRIDFLEX_BIN (relative paths taken from the repo root) or target/debug/gridflex. */
export const SERVER_BIN = process.env.GRIDFLEX_BIN
  ? path.resolve(REPO_ROOT, process.env.GRIDFLEX_BIN)
  : path.resolve(REPO_ROOT, 'target', 'debug', 'gridflex');

export const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';

export const PASSWORD = 'gridflex-demo';

/** Demo login -> the role its home page announces in h1[data-home]. */
export const ROLES = {
  manager: 'program_manager',
  operator: 'operator',
  approver: 'approver',
  auditor: 'auditor',
  admin: 'admin',
};

/** Masked personal data, exactly. */
export const MASK = '••••••';

const STARTUP_TIMEOUT_MS = 180_000; // the demo (with its settled past events) loads first
const LOG_TAIL_CHARS = 20_000;

/** A free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export function tempDir(prefix = 'gridflex-e2e-') {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts `gridflex serve --demo` on a free port with a fresh SQLite database and
 * waits until GET /health answers 200. Returns { baseURL, stop, logs }.
 */
export async function startServer(extraArgs = []) {
  if (!fs.existsSync(SERVER_BIN)) {
    throw new Error(`server binary not found: ${SERVER_BIN} (run \`cargo build\` in ${REPO_ROOT}, or set GRIDFLEX_BIN)`);
  }
  const dir = tempDir();
  const port = await freePort();
  const baseURL = `http://127.0.0.1:${port}`;
  const args = [
    'serve', '--demo',
    '--database-url', `sqlite://${path.join(dir, 'e2e.db')}`,
    '--listen', `127.0.0.1:${port}`,
    ...extraArgs,
  ];
  const child = spawn(SERVER_BIN, args, {
    cwd: REPO_ROOT,
    env: { ...process.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });

  let stderr = '';
  let stdout = '';
  child.stderr.setEncoding('utf8');
  child.stdout.setEncoding('utf8');
  child.stderr.on('data', (d) => { stderr = (stderr + d).slice(-LOG_TAIL_CHARS); });
  child.stdout.on('data', (d) => { stdout = (stdout + d).slice(-LOG_TAIL_CHARS); });

  let exited = null;
  const exitPromise = new Promise((resolve) => {
    child.on('exit', (code, signal) => { exited = { code, signal }; resolve(exited); });
    child.on('error', (err) => { exited = { error: err }; resolve(exited); });
  });
  // Never leave a server behind if the test process dies.
  const killOnExit = () => { try { child.kill('SIGKILL'); } catch { /* gone */ } };
  process.once('exit', killOnExit);

  const logs = () => `--- server stderr ---\n${stderr}\n--- server stdout ---\n${stdout}`;

  async function stop() {
    process.removeListener('exit', killOnExit);
    if (!exited) {
      child.kill('SIGTERM');
      let timer;
      const timedOut = await Promise.race([
        exitPromise.then(() => false),
        new Promise((r) => { timer = setTimeout(() => r(true), 10_000); }),
      ]);
      clearTimeout(timer);
      if (timedOut) {
        child.kill('SIGKILL');
        await exitPromise;
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }

  const started = Date.now();
  let lastError = 'no answer yet';
  while (Date.now() - started < STARTUP_TIMEOUT_MS) {
    if (exited) {
      await stop();
      throw new Error(`server exited during startup (${JSON.stringify(exited)}): ${SERVER_BIN} ${args.join(' ')}\n${logs()}`);
    }
    try {
      const res = await fetch(`${baseURL}/health`, { signal: AbortSignal.timeout(2_000) });
      if (res.status === 200) return { baseURL, stop, logs, dir };
      lastError = `GET /health answered ${res.status}`;
    } catch (err) {
      lastError = String(err?.cause?.code || err?.message || err);
    }
    await sleep(150);
  }
  await stop();
  throw new Error(`server not healthy after ${STARTUP_TIMEOUT_MS / 1000}s (${lastError})\n${logs()}`);
}

const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

/**
 * A fresh browser (own profile, so own cookies) with JavaScript disabled unless
 * `javaScript` is set (the live page's script, the accessibility check); `viewport`
 * sets the window size, `bypassCSP` lets a test inject axe-core.
 * Returns { context, page, close }.
 */
export async function openBrowser(baseURL, { javaScript = false, viewport, bypassCSP = false } = {}) {
  const profile = tempDir('gridflex-e2e-profile-');
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    javaScriptEnabled: javaScript,
    baseURL,
    args: CHROMIUM_ARGS,
    ...(viewport ? { viewport } : {}),
    bypassCSP,
  });
  context.setDefaultTimeout(10_000);
  context.setDefaultNavigationTimeout(15_000);
  const page = context.pages()[0] ?? (await context.newPage());
  const close = async () => {
    await context.close().catch(() => {});
    fs.rmSync(profile, { recursive: true, force: true });
  };
  return { context, page, close };
}

/** The path of the page's current URL (no query). */
export function pathOf(page) {
  return new URL(page.url()).pathname;
}

/** Clicks something that navigates (a link or a form submit) and waits for the new page. */
export async function clickAndWait(page, locator) {
  await Promise.all([
    page.waitForNavigation({ waitUntil: 'load' }),
    locator.click(),
  ]);
}

/** Fills the login form and submits it; returns after the resulting page has loaded. */
export async function submitLogin(page, username, password = PASSWORD) {
  const res = await page.goto('/login');
  if (!res || res.status() !== 200) throw new Error(`GET /login answered ${res && res.status()}`);
  const form = page.locator('form#login-form');
  await form.locator('input[name=username]').fill(username);
  await form.locator('input[name=password]').fill(password);
  await clickAndWait(page, form.locator('button[type=submit]'));
}

/** Logs in and checks that the browser ended on /home. */
export async function login(page, username, password = PASSWORD) {
  await submitLogin(page, username, password);
  if (pathOf(page) !== '/home') {
    const body = (await page.locator('body').innerText().catch(() => '')).slice(0, 500);
    throw new Error(`login as ${username} ended on ${page.url()} instead of /home; page says: ${body}`);
  }
}

/** The links of the top bar as [{ text, href }]. */
export async function navLinks(page) {
  return page.locator('header.topbar nav a').evaluateAll((as) =>
    as.map((a) => ({ text: a.textContent.trim(), href: a.getAttribute('href') })));
}

/** Rows of a table as arrays of trimmed cell texts. */
export async function tableRows(page, selector) {
  return page.locator(`${selector} tbody tr`).evaluateAll((rows) =>
    rows.map((r) => [...r.cells].map((c) => c.textContent.replace(/\s+/g, ' ').trim())));
}

/** "1,234 enrollments" -> 1234 */
export function parseCount(text) {
  const m = /([\d,]+)\s+enrollments?\b/.exec(text || '');
  if (!m) throw new Error(`result count not understood: ${JSON.stringify(text)}`);
  return Number(m[1].replace(/,/g, ''));
}

/** Runs fn({ context, page }) in a fresh browser and always closes it. */
export async function withBrowser(baseURL, fn, options = {}) {
  const b = await openBrowser(baseURL, options);
  try {
    return await fn(b);
  } finally {
    await b.close();
  }
}
