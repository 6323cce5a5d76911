// Browser tests of the admin page (/admin): a real rungd on an ephemeral port
// with a temporary database, items and labels posted through the API, a real
// Chromium driven by playwright-core. No mocks, except one run where the
// Chart.js script is made to fail, to see the page say so.
//
//   RUNGD=build-dev/server/rungd node admin.test.mjs
//
// Prints one line per check and a closing "N passed, N failed" line; exits
// non-zero when any check fails.
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import {
  BUILD_DIR, LAUNCH, RUNGD, STATIC_DIR, api, assert, check, expect, fail, ok, rawGet, run, rungd,
  startDaemon, trainLayer,
} from './harness.mjs';

const TEST_DEADLINE_MS = 4 * 60 * 1000;

/* Labels up to max tasks as this rater: the side whose text starts with
 * "good" (or, with contrary, the other one). Returns the labels given. */
async function labelAll(d, token, max, contrary = () => false) {
  let n = 0;
  while (n < max) {
    const t = await api(d, 'GET', '/v1/tasks/next', token);
    if (t.status === 204) break;
    assert(t.status === 200, `tasks/next ${t.status} ${JSON.stringify(t.data)}`);
    const goodFirst = /^good/.test(t.data.responses[0]);
    let answer = goodFirst ? 'a' : 'b';
    if (contrary(n)) answer = answer === 'a' ? 'b' : 'a';
    const l = await api(d, 'POST', `/v1/tasks/${t.data.id}/labels`, token, { answer, seconds: 3 });
    assert(l.status === 200 || l.status === 201, `label ${l.status} ${JSON.stringify(l.data)}`);
    n++;
  }
  return n;
}

/* ---------- the browser ---------- */

function watchPage(page, label, state) {
  page.on('dialog', (dg) => { state.dialogs.push(`${label}: ${dg.type()} ${dg.message()}`); dg.dismiss().catch(() => {}); });
  page.on('pageerror', (e) => state.pageErrors.push(`${label}: ${e.message}`));
  page.on('console', (m) => {
    const t = m.text();
    if (/Content Security Policy|Refused to/i.test(t)) state.cspErrors.push(`${label}: ${t}`);
  });
}

// Runs before the page's own scripts (through the DevTools protocol, so the
// CSP does not apply to it): records every CSP violation the page meets.
const RECORD_CSP = () => {
  window.__csp = [];
  document.addEventListener('securitypolicyviolation', (e) => {
    window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`);
  });
};

async function signIn(page, token) {
  await page.getByLabel('Token', { exact: true }).fill(token);
  await page.getByLabel('Token', { exact: true }).press('Enter');
}

// No '/' in it: a batch is addressed as one path segment (/v1/batches/{batch}).
const MARKUP_BATCH = '<img src=x onerror="window.__pwned=1"><b>batch & co';

/* Chart facts the page holds: for each canvas, whether Chart.js drew it,
 * its size and its data. */
function chartFacts(page, ids) {
  return page.evaluate((ids) => {
    const out = { loaded: typeof window.Chart === 'function' };
    for (const id of ids) {
      const c = document.getElementById(id);
      const ch = out.loaded && c ? window.Chart.getChart(c) : null;
      out[id] = {
        chart: !!ch, width: c ? c.width : 0, height: c ? c.height : 0, type: ch ? ch.config.type : null,
        data: ch ? ch.data.datasets.map((s) => s.data) : null,
      };
    }
    return out;
  }, ids);
}

/* ---------- the run ---------- */

async function checkHttp(d) {
  for (const [p, type] of [['/admin', 'text/html'], ['/admin.js', 'text/javascript'], ['/admin.css', 'text/css'],
    ['/vendor/chart.js', 'text/javascript']]) {
    await check(`GET ${p} is 200 ${type} with the CSP`, async () => {
      const r = await rawGet(d.port, p);
      assert(r.status === 200, `status ${r.status} ${r.body.slice(0, 200)}`);
      assert((r.headers['content-type'] || '').startsWith(type), `content-type ${r.headers['content-type']}`);
      const csp = r.headers['content-security-policy'] || '';
      assert(/default-src 'none'/.test(csp) && /script-src 'self'/.test(csp) && /style-src 'self'/.test(csp), `CSP ${csp}`);
    });
  }
  await check('/vendor/chart.js is Debian\'s Chart.js', async () => {
    const r = await rawGet(d.port, '/vendor/chart.js');
    assert(/Chart\.js v\d/.test(r.body.slice(0, 300)), r.body.slice(0, 100));
  });
  await check('/vendor/other.js is a JSON 404', async () => {
    const r = await rawGet(d.port, '/vendor/other.js');
    assert(r.status === 404 && /"not_found"/.test(r.body), `${r.status} ${r.body}`);
  });
  await check('admin.html has no inline script, style or handler', async () => {
    const html = fs.readFileSync(path.join(STATIC_DIR, 'admin.html'), 'utf8');
    assert(!/<script(?![^>]*\bsrc=)[^>]*>/i.test(html), 'inline <script>');
    assert(!/<style/i.test(html), '<style>');
    assert(!/\sstyle=/i.test(html), 'style attribute');
    assert(!/\son[a-z]+=/i.test(html), 'event handler attribute');
  });
  await check('admin.js never uses innerHTML or similar', async () => {
    const js = fs.readFileSync(path.join(STATIC_DIR, 'admin.js'), 'utf8');
    assert(!/innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function/.test(js), 'HTML sink');
  });
}

/* Two batches: "plain-2" (20 pairs, two labels each, both raters) and the
 * markup-named one (4 pairs, 2 labelled). */
async function seed(d) {
  const pair = (batch, i) => ({ prompt: `Question ${i} of ${batch}`, responses: [`good answer ${i}`, `bad answer ${i}`], batch });
  const ov = await api(d, 'PUT', '/v1/overlap', d.admin, { batch: 'plain-2', overlap: 2, future: true });
  assert(ov.status === 200, `overlap ${ov.status} ${JSON.stringify(ov.data)}`);
  let p = await api(d, 'POST', '/v1/items', d.pipeline, { items: Array.from({ length: 20 }, (_, i) => pair('plain-2', i)) });
  assert(p.status === 201, `items ${p.status} ${JSON.stringify(p.data)}`);
  const n1 = await labelAll(d, d.rater, 100);
  const n2 = await labelAll(d, d.rater2, 100, (i) => i % 5 === 0);
  p = await api(d, 'POST', '/v1/items', d.pipeline, { items: Array.from({ length: 4 }, (_, i) => pair(MARKUP_BATCH, i)) });
  assert(p.status === 201, `items ${p.status} ${JSON.stringify(p.data)}`);
  const n3 = await labelAll(d, d.rater, 2);
  const as = await api(d, 'PUT', `/v1/batches/${encodeURIComponent(MARKUP_BATCH)}`, d.admin, { assistance: 'after' });
  assert(as.status === 200, `assistance ${as.status} ${JSON.stringify(as.data)}`);
  return n1 + n2 + n3;
}

async function checkMain(browser, state) {
  const d = await startDaemon('main', ['--gold-rate', '0', '--quiet']);
  ok(`daemon started on port ${d.port}`);
  await checkHttp(d);
  let labels = 0;
  await check('items posted in two batches and labelled through the API', async () => {
    labels = await seed(d);
    assert(labels === 42, `labels given: ${labels}`);
  });

  const ctx = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
  await ctx.addInitScript(RECORD_CSP);
  const page = await ctx.newPage();
  watchPage(page, 'admin', state);
  await page.goto(d.base + '/admin');

  await check('a wrong token shows a clear message', async () => {
    await signIn(page, 'not-a-token');
    await page.locator('#signin-msg').waitFor({ state: 'visible', timeout: 10000 });
    const m = await page.locator('#signin-msg').textContent();
    assert(/not accepted/i.test(m), `message: ${m}`);
    assert(await page.locator('#admin-view').isHidden(), 'admin view shown');
  });
  await check('a rater token is refused with a clear message', async () => {
    await signIn(page, d.rater);
    await page.waitForFunction(() => /admin token/.test(document.getElementById('signin-msg').textContent), null, { timeout: 10000 });
    assert(await page.locator('#admin-view').isHidden(), 'admin view shown');
  });
  await check('the admin token signs in and the batch table fills', async () => {
    await signIn(page, d.admin);
    await page.locator('#admin-view').waitFor({ state: 'visible', timeout: 10000 });
    await page.waitForFunction(() => document.querySelectorAll('#batches tbody tr').length === 2, null, { timeout: 15000 });
    const stored = await page.evaluate(() => sessionStorage.getItem('rung.admin.token'));
    assert(stored === d.admin, 'token not in sessionStorage');
  });
  await check('a batch name with markup is literal text', async () => {
    const names = await page.locator('#batches tbody td.name').allTextContents();
    assert(names.includes(MARKUP_BATCH), `names: ${JSON.stringify(names)}`);
    assert(await page.evaluate(() => !document.querySelector('#batches img, #batches b')), 'markup parsed');
    assert(await page.evaluate(() => window.__pwned === undefined), 'script ran');
  });
  await check('batch rows: items, decided, outstanding, progress bar, assistance', async () => {
    const rows = await page.evaluate(() => [...document.querySelectorAll('#batches tbody tr')].map((tr) => ({
      cells: [...tr.children].map((td) => td.textContent), bar: tr.querySelector('progress') && [tr.querySelector('progress').value, tr.querySelector('progress').max],
    })));
    const plain = rows.find((r) => r.cells[0] === 'plain-2');
    const mark = rows.find((r) => r.cells[0] === MARKUP_BATCH);
    assert(plain && plain.cells[1] === '20' && plain.cells[2] === '20' && plain.cells[3] === '0', JSON.stringify(plain));
    assert(plain.bar && plain.bar[0] === 20 && plain.bar[1] === 20, `bar ${JSON.stringify(plain.bar)}`);
    assert(mark && mark.cells[1] === '4' && mark.cells[2] === '2' && mark.cells[3] === '2', JSON.stringify(mark));
    assert(mark.bar && mark.bar[0] === 2 && mark.bar[1] === 4, `bar ${JSON.stringify(mark.bar)}`);
    assert(mark.cells[5] === 'after' && plain.cells[5] === 'shown', `assistance ${mark.cells[5]} ${plain.cells[5]}`);
  });
  await check('both charts are drawn by Chart.js with the data', async () => {
    await page.waitForFunction(() => window.Chart && window.Chart.getChart(document.getElementById('chart-queue')), null, { timeout: 10000 });
    const f = await chartFacts(page, ['chart-labels', 'chart-queue']);
    assert(f.loaded, 'window.Chart missing');
    for (const id of ['chart-labels', 'chart-queue']) {
      assert(f[id].chart, `${id}: no Chart instance`);
      assert(f[id].width > 0 && f[id].height > 0, `${id}: size ${f[id].width}x${f[id].height}`);
    }
    const sum = f['chart-labels'].data[0].reduce((a, b) => a + b, 0);
    assert(f['chart-labels'].data[0].length === 24 && sum === labels, `labels per hour sum ${sum}, want ${labels}`);
    assert(JSON.stringify(f['chart-queue'].data[0]) === JSON.stringify([2, 0, 0]), `queue ${JSON.stringify(f['chart-queue'].data)}`);
    assert(await page.locator('#charts-missing').isHidden(), 'missing-charts message shown');
  });
  await check('the overview shows items, auto-resolved share and no active layer', async () => {
    const t = await page.locator('#overview').textContent();
    assert(/Items\s*24/.test(t), t);
    assert(/Auto-resolved by the layer\s*0\.0%/.test(t), t);
    assert(/Active layer\s*none/.test(t), t);
  });
  await check('raters with labels, and agreement (Cohen pair, Fleiss, α)', async () => {
    const rows = await page.evaluate(() => [...document.querySelectorAll('#raters tbody tr')].map((tr) => [...tr.children].map((td) => td.textContent)));
    const r1 = rows.find((r) => r[0] === 'r1');
    const r2 = rows.find((r) => r[0] === 'r2');
    assert(r1 && r1[1] === '22' && r2 && r2[1] === '20', JSON.stringify(rows));
    const kap = await page.evaluate(() => [...document.querySelectorAll('#kappas tbody tr')].map((tr) => [...tr.children].map((td) => td.textContent)));
    assert(kap.length === 1 && /r1/.test(kap[0][0]) && /r2/.test(kap[0][0]) && /^-?\d\.\d{3}$/.test(kap[0][1]) && kap[0][3] === '20', JSON.stringify(kap));
    const ag = await page.locator('#agreement').textContent();
    assert(/Fleiss' κ\s*-?\d\.\d{3}/.test(ag) && /Krippendorff's α\s*-?\d\.\d{3}/.test(ag), ag);
  });
  await check('no layer: the page says so', async () => {
    assert(await page.locator('#layer-none').isVisible(), 'no message');
    assert(await page.locator('#layer-body').isHidden(), 'layer body shown');
  });
  await page.screenshot({ path: path.join(BUILD_DIR, 'admin-page.png'), fullPage: true });
  await check('no CSP violation and no page error', async () => {
    const v = await page.evaluate(() => window.__csp);
    assert(Array.isArray(v) && v.length === 0, `violations: ${JSON.stringify(v)}`);
    assert(state.cspErrors.length === 0, state.cspErrors.join('; '));
    assert(state.pageErrors.length === 0, state.pageErrors.join('; '));
  });
  await check('sign out forgets the token', async () => {
    await page.locator('#signout').click();
    await page.locator('#signin-view').waitFor({ state: 'visible', timeout: 5000 });
    assert(await page.evaluate(() => sessionStorage.getItem('rung.admin.token') === null), 'token kept');
  });
  await ctx.close();
  return d;
}

/* Chart.js missing (the script answers 404 as rungd does without the
 * package): the page says so and the tables still fill. */
async function checkNoCharts(browser, d) {
  const local = { pageErrors: [], cspErrors: [], dialogs: [] };
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await ctx.route('**/vendor/chart.js', (r) => r.fulfill({ status: 404, contentType: 'application/json',
    body: '{"error":{"code":"not_found","message":"Chart.js is missing: install Debian\'s libjs-chart.js."}}' }));
  const page = await ctx.newPage();
  watchPage(page, 'nocharts', local);
  await page.goto(d.base + '/admin');
  await signIn(page, d.admin);
  await check('without Chart.js the page says "Charts need Debian\'s libjs-chart.js"', async () => {
    await page.locator('#charts-missing').waitFor({ state: 'visible', timeout: 10000 });
    const t = await page.locator('#charts-missing').textContent();
    assert(/Charts need Debian's libjs-chart\.js/.test(t), t);
  });
  await check('without Chart.js the tables still fill, with no page error', async () => {
    await page.waitForFunction(() => document.querySelectorAll('#batches tbody tr').length === 2, null, { timeout: 10000 });
    assert(local.pageErrors.length === 0, local.pageErrors.join('; '));
  });
  await ctx.close();
}

async function checkLayer(browser, state) {
  const d = await startDaemon('layer', ['--gold-rate', '0', '--quiet'], trainLayer);
  const p = await api(d, 'POST', '/v1/items', d.pipeline, { items: [
    { prompt: 'Question: explain topic 4', responses: ['the answer is that so it', 'the answer is that so it'], batch: 'b' },
    { prompt: 'Question 3: explain topic 3', responses: ['correct careful step because therefore verified clear precise', 'wrong whatever guess dunno lol random rude nonsense'], batch: 'b' },
  ] });
  expect(p.status === 201, 'layer daemon: items posted', `${p.status} ${JSON.stringify(p.data)}`);
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
  await ctx.addInitScript(RECORD_CSP);
  const page = await ctx.newPage();
  watchPage(page, 'layer', state);
  await page.goto(d.base + '/admin');
  await signIn(page, d.admin);
  await check('the active layer shows with τ in the overview and its facts', async () => {
    await page.locator('#layer-body').waitFor({ state: 'visible', timeout: 15000 });
    const o = await page.locator('#overview').textContent();
    assert(/Active layer\s*#\d+.*τ = \d\.\d{3}/.test(o), o);
    const f = await page.locator('#layer-facts').textContent();
    assert(/Threshold τ\s*\d\.\d{3}/.test(f) && /Held-out accuracy\s*\d/.test(f), f);
  });
  await check('coverage–accuracy curve and calibration plot are drawn', async () => {
    await page.waitForFunction(() => window.Chart && window.Chart.getChart(document.getElementById('chart-calibration')), null, { timeout: 10000 });
    const f = await chartFacts(page, ['chart-coverage', 'chart-calibration']);
    for (const id of ['chart-coverage', 'chart-calibration']) {
      assert(f[id].chart && f[id].width > 0 && f[id].height > 0, `${id}: ${JSON.stringify(f[id]).slice(0, 200)}`);
    }
    assert(f['chart-coverage'].data[0].length >= 5, `curve points ${f['chart-coverage'].data[0].length}`);
    const bins = f['chart-calibration'].data[0];
    assert(bins.length >= 1 && bins.every((b) => b.x >= 0.5 && b.x <= 1 && b.y >= 0 && b.y <= 1), JSON.stringify(bins));
  });
  await page.screenshot({ path: path.join(BUILD_DIR, 'admin-layer.png'), fullPage: true });
  await check('layer view: no CSP violation and no page error', async () => {
    const v = await page.evaluate(() => window.__csp);
    assert(Array.isArray(v) && v.length === 0, `violations: ${JSON.stringify(v)}`);
    assert(state.cspErrors.length === 0, state.cspErrors.join('; '));
    assert(state.pageErrors.length === 0, state.pageErrors.join('; '));
  });
  await ctx.close();
}

async function main() {
  console.log(`rungd: ${RUNGD}`);
  if (!fs.existsSync(RUNGD)) throw new Error(`no rungd at ${RUNGD} (set RUNGD)`);
  if (!fs.existsSync('/usr/share/javascript/chart.js/chart.min.js')) {
    throw new Error("Debian's libjs-chart.js is not installed (apt-get install libjs-chart.js)");
  }
  fs.mkdirSync(BUILD_DIR, { recursive: true });
  const state = { pageErrors: [], cspErrors: [], dialogs: [] };
  const browser = await chromium.launch(LAUNCH);
  try {
    const d = await checkMain(browser, state);
    await checkNoCharts(browser, d);
    await checkLayer(browser, state);
    expect(state.dialogs.length === 0, 'no dialogs', state.dialogs.join('; '));
  } finally {
    await browser.close();
  }
}

await run('admin', main, TEST_DEADLINE_MS);
