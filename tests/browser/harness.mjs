// What the browser tests share: where things are, the check reporting, a
// real rungd on an ephemeral port with a temporary database and its keys,
// plain HTTP calls, and Chromium's launch options. No mocks.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const here = path.dirname(fileURLToPath(import.meta.url));
export const RUNGD = path.resolve(process.env.RUNGD || path.join(here, '../../build-dev/server/rungd'));
export const BUILD_DIR = path.resolve(process.env.RUNG_BUILD_DIR || path.dirname(path.dirname(RUNGD)));
export const STATIC_DIR = path.resolve(here, '../../static');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

/* Headless Debian Chromium; the background-networking flags keep it from
 * calling out of this closed network. */
export const LAUNCH = {
  executablePath: CHROMIUM,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--no-first-run', '--disable-sync', '--disable-quic'],
};

/* ---------- reporting: one line per check ---------- */

export const results = { passed: 0, failed: 0 };

export function ok(name) { results.passed++; console.log(`ok     ${name}`); }
export function fail(name, why) { results.failed++; console.log(`FAIL   ${name}: ${why}`); }
export function expect(cond, name, why = 'condition false') { cond ? ok(name) : fail(name, why); return !!cond; }
export async function check(name, fn) {
  try {
    const r = await fn();
    if (r === false) fail(name, 'condition false');
    else ok(name);
    return r !== false;
  } catch (e) {
    fail(name, e && e.message ? e.message.split('\n')[0] : String(e));
    return false;
  }
}
export function assert(cond, why) { if (!cond) throw new Error(why); }
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/* ---------- the daemon ---------- */

export const daemons = [];
export const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rung-browser-'));

export function rungd(args) {
  return execFileSync(RUNGD, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}
function createKey(db, role, name) {
  const out = rungd(['keys', 'create', '--db', db, '--role', role, '--name', name]).trim().split('\n');
  return out[out.length - 1].trim();
}

/* Starts rungd serve on a new database (prepare(db) runs first) with four
 * keys: admin "boss", raters "r1" and "r2", pipeline "p1". Resolves with
 * {name, db, child, admin, rater, rater2, pipeline, port, base, logPath}. */
export async function startDaemon(name, extra = [], prepare = null) {
  const db = path.join(tmp, name + '.db');
  if (prepare) prepare(db);
  // Keys first, while nothing else has the database open.
  const d = {
    name, db, port: 0, logPath: path.join(tmp, name + '.log'),
    admin: createKey(db, 'admin', 'boss'),
    rater: createKey(db, 'rater', 'r1'),
    rater2: createKey(db, 'rater', 'r2'),
    pipeline: createKey(db, 'pipeline', 'p1'),
  };
  d.child = spawn(RUNGD, ['serve', '--db', db, '--listen', '127.0.0.1:0', '--static', STATIC_DIR, ...extra],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  daemons.push(d);
  fs.writeFileSync(d.logPath, '');
  d.child.stderr.on('data', (chunk) => fs.appendFileSync(d.logPath, chunk));
  d.port = await new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error('rungd did not say where it listens within 10 s')), 10000);
    d.child.stdout.on('data', (chunk) => {
      buf += chunk;
      fs.appendFileSync(d.logPath, chunk);
      const m = /listening on http:\/\/[^:/]+:(\d+)\//.exec(buf);
      if (m && !d.port) { clearTimeout(timer); resolve(Number(m[1])); }
    });
    d.child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`rungd exited (${code}) before listening`)); });
  });
  d.base = `http://127.0.0.1:${d.port}`;
  return d;
}

export async function stopDaemons() {
  for (const d of daemons) {
    if (!d.child || d.child.exitCode !== null || d.child.signalCode !== null) continue;
    const gone = new Promise((r) => d.child.once('exit', r));
    d.child.kill('SIGTERM');
    const t = setTimeout(() => d.child.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(t);
  }
}

/* A raw request: the path is sent exactly as given (fetch would normalise
 * '..' and '%2e%2e' away before they reach the server). */
export function rawGet(port, rawPath) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: rawPath, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/* One API call with a bearer token: {status, data} (data parsed JSON, the
 * text when it does not parse, null when empty). */
export async function api(d, method, p, token, body) {
  const headers = { Authorization: `Bearer ${token}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(d.base + p, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = text; }
  return { status: res.status, data };
}

/* Runs main() under a deadline, stops the daemons, shows their logs when a
 * check failed (else removes the scratch folder), prints the notes and the
 * closing "label: N passed, N failed" line, and sets the exit code. */
export async function run(label, main, deadlineMs, notes = []) {
  const deadline = setTimeout(() => {
    console.log(`FAIL   the run took longer than ${deadlineMs / 1000} s`);
    for (const d of daemons) if (d.child) d.child.kill('SIGKILL');
    process.exit(1);
  }, deadlineMs);
  try {
    await main();
  } catch (e) {
    fail('run', e && e.stack ? e.stack : String(e));
  } finally {
    await stopDaemons();
    clearTimeout(deadline);
    if (results.failed) {
      for (const d of daemons) {
        console.log(`--- ${d.name} daemon log (${d.logPath}) ---`);
        try { console.log(fs.readFileSync(d.logPath, 'utf8').split('\n').slice(-30).join('\n')); } catch { /* none */ }
      }
    } else {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
    for (const n of notes) console.log(`note   ${n}`);
    console.log(`${label}: ${results.passed} passed, ${results.failed} failed`);
    process.exitCode = results.failed ? 1 : 0;
  }
}

/* Imports a small, clearly learnable preference file into db (chosen
 * replies use GOOD words, rejected ones BAD words) and trains a layer on it
 * in milliseconds (on a new database the first layer becomes active). */
export function trainLayer(db) {
  const GOOD = ['correct', 'careful', 'step', 'because', 'therefore', 'verified', 'clear', 'precise'];
  const BAD = ['wrong', 'whatever', 'guess', 'dunno', 'lol', 'random', 'rude', 'nonsense'];
  const FILLER = ['the', 'a', 'answer', 'is', 'we', 'see', 'that', 'so', 'it', 'and'];
  let seed = 7;
  const rnd = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; };
  const pick = (v) => v[Math.floor(rnd() * v.length)];
  const reply = (v) => Array.from({ length: 14 }, () => pick(rnd() < 0.5 ? v : FILLER)).join(' ');
  const file = path.join(tmp, 'train.jsonl');
  const lines = [];
  for (let i = 0; i < 800; i++) {
    lines.push(JSON.stringify({ prompt: `Question ${i}: explain topic ${i % 17}`, chosen: reply(GOOD), rejected: reply(BAD) }));
  }
  fs.writeFileSync(file, lines.join('\n') + '\n');
  rungd(['import', '--db', db, '--format', 'trl', '--as', 'comparisons', file]);
  rungd(['train', '--db', db, '--target', '0.9', '--members', '2', '--bits', '14']);
}
