// Browser tests of the annotator page: a real rungd on an ephemeral port with
// a temporary database, a real Chromium driven by playwright-core. No mocks.
//
//   RUNGD=build-dev/server/rungd RUNG_BUILD_DIR=build-dev node browser.test.mjs
//
// Prints one line per check and a closing "N passed, N failed" line; exits
// non-zero when any check fails.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import {
  BUILD_DIR, LAUNCH, RUNGD, STATIC_DIR, api, assert, check, expect, fail, ok, rawGet, run, rungd,
  sleep, startDaemon, trainLayer,
} from './harness.mjs';

const TEST_DEADLINE_MS = 5 * 60 * 1000;
const notes = [];

function sql(db, query) {
  const out = execFileSync('sqlite3', ['-json', '-readonly', db, query], { encoding: 'utf8' }).trim();
  return out ? JSON.parse(out) : [];
}

/* ---------- the items ---------- */

const XSS = [
  '<script>window.__pwned=1</script>',
  '<img src=x onerror="window.__pwned=1">',
  '<a href="javascript:window.__pwned=1">click</a>',
];

// case -> what the page should send. Each prompt carries its case tag.
const CASES = {
  P1: { item: { prompt: '[case:P1] What is the capital of France?', responses: ['Paris.', 'Lyon, probably.'] }, key: '1', answer: 'a' },
  P2: {
    item: {
      prompt: '[case:P2] Write a function that adds two numbers.\nUse Python.',
      responses: [
        'Here you go:\n```python\ndef add(a, b):\n    return a - b\n```\nThat should work.',
        'Sure.\n\n```python\ndef add(a, b):\n    return a + b\n```\n\nCall it as `add(2, 3)`.\nIt returns 5.',
      ],
    },
    key: '2', answer: 'b',
  },
  P3: { item: { prompt: '[case:P3] Say hello.', responses: ['Hello!', 'Hello!'] }, key: '3', answer: 'tie' },
  S1: { item: { prompt: '[case:S1] What is 2 + 2?', response: '2 + 2 = 4.' }, key: '1', answer: 'good' },
  S2: { item: { prompt: '[case:S2] Name a prime number greater than 10.', response: '15 is prime.' }, key: '2', answer: 'bad', confidence: 4, rationale: 'typed 1 2 3 s here: 15 = 3 * 5' },
  X: {
    item: { prompt: `[case:X] Render this: ${XSS[0]} ${XSS[1]}`, responses: [`A says ${XSS[1]}\n${XSS[2]}`, `B says ${XSS[0]}\n\`\`\`html\n${XSS[2]}\n\`\`\``] },
    key: '1', answer: 'a',
  },
  // Skipped: the server never offers a skipped task to the same rater again.
  K: { item: { prompt: '[case:K] Skipped, so this rater does not see it again.', responses: ['left', 'right'] }, skip: true },
  C: { item: { prompt: '[case:C] Labelled elsewhere first.', responses: ['one', 'two'] }, key: '1', answer: 'b' /* the API's answer stands */ },
};

/* ---------- the browser ---------- */

function watchPage(page, label, state) {
  page.on('dialog', (dg) => { state.dialogs.push(`${label}: ${dg.type()} ${dg.message()}`); dg.dismiss().catch(() => {}); });
  page.on('pageerror', (e) => state.pageErrors.push(`${label}: ${e.message}`));
  page.on('console', (m) => {
    const t = m.text();
    if (/Content Security Policy|Refused to/i.test(t)) state.cspErrors.push(`${label}: ${t}`);
  });
  page.on('request', (r) => state.urls.push(r.url()));
  page.on('framenavigated', (f) => state.urls.push(f.url()));
}

const visible = (page, sel) => page.locator(sel).isVisible();

async function waitSettled(page, timeout = 30000) {
  await page.waitForFunction(() => {
    const $ = (id) => document.getElementById(id);
    return $('loading').hidden && (!$('task').hidden || !$('empty').hidden);
  }, null, { timeout });
}

async function currentCase(page) {
  const prompt = await page.locator('#prompt').textContent();
  const m = /\[case:([A-Z0-9]+)\]/.exec(prompt || '');
  const id = ((await page.locator('#task-id').textContent()) || '').replace(/\D+/g, '');
  return { tag: m ? m[1] : null, taskId: Number(id) };
}

function nextTaskResponse(page) {
  return page.waitForResponse((r) => r.url().includes('/v1/tasks/next') && r.request().method() === 'GET', { timeout: 30000 });
}

/* ---------- the run ---------- */

async function main() {
  console.log(`rungd: ${RUNGD}`);
  console.log(`static: ${STATIC_DIR}`);
  console.log(`screenshots: ${BUILD_DIR}`);
  if (!fs.existsSync(RUNGD)) throw new Error(`no rungd at ${RUNGD} (set RUNGD)`);
  fs.mkdirSync(BUILD_DIR, { recursive: true });

  // Item order and no undo: these cases are about keys, text and conflicts;
  // the review daemon (checkReview) has random sides and undo.
  const d = await startDaemon('main', ['--side-order', 'fixed', '--undo-seconds', '0']);
  ok(`daemon started on port ${d.port}`);

  // The tasks API must be there, or nothing below can pass.
  const probe = await api(d, 'GET', '/v1/tasks/next', d.rater);
  if (probe.status === 501) throw new Error('GET /v1/tasks/next answers 501: the tasks API is not implemented in this build');
  expect(probe.status === 204, 'an empty queue answers 204 to the API', `got ${probe.status}`);

  /* --- static files: types, CSP, no way out of the directory --- */
  for (const [p, type] of [['/', 'text/html'], ['/app.js', 'text/javascript'], ['/style.css', 'text/css']]) {
    await check(`GET ${p} is 200 ${type} with a CSP`, async () => {
      const r = await rawGet(d.port, p);
      assert(r.status === 200, `status ${r.status}`);
      assert((r.headers['content-type'] || '').startsWith(type), `content-type ${r.headers['content-type']}`);
      const csp = r.headers['content-security-policy'] || '';
      assert(/default-src 'none'/.test(csp) && /script-src 'self'/.test(csp), `CSP ${JSON.stringify(csp)}`);
      assert(r.headers['x-content-type-options'] === 'nosniff', 'no nosniff');
    });
  }
  for (const p of ['/..%2fmeson.build', '/%2e%2e/meson.build', '/static/../meson.build', '/../meson.build', '/%2e%2e%2fmeson.build']) {
    await check(`GET ${p} is 404`, async () => {
      const r = await rawGet(d.port, p);
      assert(r.status === 404, `status ${r.status}`);
      assert(!/project\(/.test(r.body), 'body looks like meson.build');
    });
  }
  await check('the page has no inline script or style', async () => {
    const html = fs.readFileSync(path.join(STATIC_DIR, 'index.html'), 'utf8');
    assert(!/<script(?![^>]*\bsrc=)[^>]*>/i.test(html), 'inline <script>');
    assert(!/<style/i.test(html), '<style> block');
    assert(!/\sstyle=/i.test(html), 'style attribute');
    assert(!/\son[a-z]+=/i.test(html), 'inline event handler');
    const js = fs.readFileSync(path.join(STATIC_DIR, 'app.js'), 'utf8');
    assert(!/innerHTML|outerHTML|insertAdjacentHTML|document\.write/.test(js), 'HTML sinks in app.js');
  });

  const browser = await chromium.launch(LAUNCH);
  const state = { dialogs: [], pageErrors: [], cspErrors: [], urls: [] };
  try {
    /* --- wrong token --- */
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await ctx.newPage();
    watchPage(page, 'rater', state);
    await page.goto(d.base + '/');
    await check('sign-in shows a field labelled "Token"', async () => {
      await page.getByLabel('Token', { exact: true }).waitFor({ state: 'visible', timeout: 5000 });
      const forId = await page.locator('label', { hasText: /^Token$/ }).getAttribute('for');
      assert(forId === 'token', `label for=${forId}`);
    });
    await page.getByLabel('Token', { exact: true }).fill('rung_wrong_token_123');
    await page.getByLabel('Token', { exact: true }).press('Enter');
    await check('a wrong token shows a clear message and stays on sign-in', async () => {
      await page.locator('#signin-msg').waitFor({ state: 'visible', timeout: 10000 });
      const msg = await page.locator('#signin-msg').textContent();
      assert(/not accepted/i.test(msg) && /token/i.test(msg), `message: ${msg}`);
      assert(await visible(page, '#token'), 'token field not shown');
      assert(await page.evaluate(() => sessionStorage.getItem('rung.token')) === null, 'wrong token kept');
    });

    /* --- sign in with an empty queue --- */
    await page.getByLabel('Token', { exact: true }).fill(d.rater);
    await page.getByLabel('Token', { exact: true }).press('Enter');
    await check('an empty queue shows a clear message', async () => {
      await page.locator('#empty').waitFor({ state: 'visible', timeout: 10000 });
      const t = await page.locator('#empty').textContent();
      assert(/No tasks are waiting/i.test(t), `text: ${t}`);
      assert(/Tasks left: 0/.test(await page.locator('#progress').textContent()), 'progress line');
    });
    await check('the empty page keeps polling with ?wait=20', async () => {
      for (let i = 0; i < 50 && !state.urls.some((u) => u.includes('/v1/tasks/next?wait=20')); i++) await sleep(200);
      assert(state.urls.some((u) => u.includes('/v1/tasks/next?wait=20')), 'no GET /v1/tasks/next?wait=20');
    });
    await check('sessionStorage holds the token', async () => {
      assert(await page.evaluate(() => sessionStorage.getItem('rung.token')) === d.rater, 'not in sessionStorage');
      assert(await page.evaluate(() => localStorage.length) === 0, 'localStorage used');
    });

    /* --- items arrive while the page waits --- */
    const posted = await api(d, 'POST', '/v1/items', d.pipeline, { items: Object.values(CASES).map((c) => c.item) });
    const tags = Object.keys(CASES);
    await check('items posted', async () => {
      assert(posted.status === 201, `status ${posted.status} ${JSON.stringify(posted.data)}`);
      assert(posted.data.items.length === tags.length, 'count');
      tags.forEach((t, i) => { CASES[t].itemId = posted.data.items[i].id; });
    });
    const t0 = Date.now();
    await check('a waiting page shows a task once one arrives', async () => {
      await page.locator('#task').waitFor({ state: 'visible', timeout: 30000 });
    });
    const woke = Date.now() - t0;
    console.log(`       (task appeared ${woke} ms after the items were posted)`);
    if (woke > 5000) notes.push(`a waiting GET /v1/tasks/next?wait=20 was not woken by new items (task appeared after ${woke} ms)`);

    /* --- label every task by keyboard --- */
    const done = new Set();
    const seen = new Set();
    let skipped = false;
    let shotTaken = false;
    for (let guard = 0; guard < 30; guard++) {
      await waitSettled(page);
      if (await visible(page, '#empty')) break;
      const { tag, taskId } = await currentCase(page);
      if (!tag || !CASES[tag]) { fail('task is one of ours', `prompt ${await page.locator('#prompt').textContent()}`); break; }
      const c = CASES[tag];
      c.taskId = taskId;
      seen.add(tag);

      if (!shotTaken && c.item.responses) {
        shotTaken = true;
        await checkPairView(page, d, ctx);
      }
      if (tag === 'X') await checkXss(page);
      if (tag === 'P2') await checkCode(page);
      if (tag === 'S1') {
        await check('a single task shows Good / Bad', async () => {
          const labels = await page.locator('#answers button').allTextContents();
          assert(labels.length === 2 && /Good/.test(labels[0]) && /Bad/.test(labels[1]), JSON.stringify(labels));
          assert(await visible(page, '#resp-single') && !(await visible(page, '#resp-a')), 'layout');
        });
      }

      if (tag === 'K') {
        if (skipped) { fail('a skipped task is not offered again', `task ${taskId} came back`); break; }
        skipped = true;
        const rel = page.waitForResponse((r) => /\/v1\/tasks\/\d+\/release$/.test(r.url()));
        const nxt = nextTaskResponse(page);
        await page.keyboard.press('s');
        await check('"s" releases the task and fetches the next', async () => {
          const r = await rel;
          assert(r.status() === 200, `release answered ${r.status()}`);
          await nxt;
        });
        done.add(tag);
        continue;
      }

      if (tag === 'S2') {
        await page.locator('label[for="conf-4"]').click();
        await page.locator('#rationale').click();
        await page.keyboard.type(c.rationale);
        await check('keys typed in the rationale do not trigger shortcuts', async () => {
          await sleep(300);
          assert(await page.locator('#rationale').inputValue() === c.rationale, 'rationale text');
          assert(await visible(page, '#task'), 'task left the screen');
          const { taskId: still } = await currentCase(page);
          assert(still === taskId, 'task changed');
        });
        await page.keyboard.press('Escape');
      }

      let apiAnswer = null;
      if (tag === 'C') {
        apiAnswer = await api(d, 'POST', `/v1/tasks/${taskId}/labels`, d.rater, { answer: 'b' });
        expect(apiAnswer.status === 201, 'the same rater labels a task through the API first', `got ${apiAnswer.status} ${JSON.stringify(apiAnswer.data)}`);
      }

      const lab = page.waitForResponse((r) => /\/v1\/tasks\/\d+\/labels$/.test(r.url()), { timeout: 15000 });
      const nxt = nextTaskResponse(page);
      await page.keyboard.press(c.key);
      const r = await lab;
      if (tag === 'C') {
        await check('a label refused with 409 shows a message and moves on', async () => {
          assert(r.status() === 409, `label answered ${r.status()}`);
          await nxt;
          const n = await page.locator('#notice').textContent();
          assert(/not saved/i.test(n), `notice: ${n}`);
        });
      } else {
        expect(r.status() === 201, `task ${tag} labelled by key "${c.key}"`, `label answered ${r.status()} ${await r.text()}`);
        await nxt;
      }
      done.add(tag);
    }
    expect(done.size === tags.length, 'every task was shown and answered', `answered ${[...done]}; seen ${[...seen]}`);

    await check('after the last task the queue-empty message shows', async () => {
      await page.locator('#empty').waitFor({ state: 'visible', timeout: 10000 });
      // Six by the page and C through the API: the server counts them all.
      // The page shows the empty queue first and asks /v1/me beside it, so
      // the counts may arrive a moment later.
      const want = /Labelled today: 7 · total: 7\b/;
      await page.waitForFunction((re) => new RegExp(re).test(document.getElementById('progress').textContent),
        want.source, { timeout: 10000 }).catch(() => {});
      const p = await page.locator('#progress').textContent();
      assert(want.test(p), `progress: ${p}`);
    });

    /* --- the labels are in the database --- */
    await check('the labels are in the database', async () => {
      const rows = sql(d.db, `SELECT l.task_id, l.answer, l.confidence, l.rationale, l.seconds, i.id AS item_id
                               FROM labels l JOIN tasks t ON t.id = l.task_id JOIN items i ON i.seq = t.item_seq`);
      const byItem = Object.fromEntries(rows.map((x) => [x.item_id, x]));
      for (const t of tags) {
        const row = byItem[CASES[t].itemId];
        if (CASES[t].skip) { assert(!row, `${t} was skipped but has a label`); continue; }
        assert(row, `no label for ${t}`);
        assert(row.answer === CASES[t].answer, `${t}: answer ${row.answer}, want ${CASES[t].answer}`);
        if (t !== 'C') assert(typeof row.seconds === 'number' && row.seconds >= 0, `${t}: seconds ${row.seconds}`);
      }
      const s2 = byItem[CASES.S2.itemId];
      assert(s2.confidence === 4, `S2 confidence ${s2.confidence}`);
      assert(s2.rationale === CASES.S2.rationale, `S2 rationale ${JSON.stringify(s2.rationale)}`);
      assert(byItem[CASES.P1.itemId].confidence === null && byItem[CASES.P1.itemId].rationale === null, 'P1 sent no confidence/rationale');
    });
    await check('the API shows human verdicts', async () => {
      for (const t of ['P1', 'S1', 'X']) {
        const r = await api(d, 'GET', `/v1/items/${CASES[t].itemId}`, d.pipeline);
        assert(r.status === 200, `${t}: ${r.status}`);
        assert(r.data.verdict === CASES[t].answer && r.data.verdict_source === 'human',
          `${t}: status ${r.data.status} verdict ${r.data.verdict} source ${r.data.verdict_source}`);
      }
    });

    await check('a skipped task goes back to the queue for other raters', async () => {
      const r = await api(d, 'GET', '/v1/tasks/next', d.rater2);
      assert(r.status === 200 && r.data.id === CASES.K.taskId, `got ${r.status} ${JSON.stringify(r.data)}`);
      await api(d, 'POST', `/v1/tasks/${r.data.id}/release`, d.rater2);
    });

    /* --- token handling --- */
    await check('no cookie is set', async () => {
      const cookies = await ctx.cookies();
      assert(cookies.length === 0, JSON.stringify(cookies));
      assert(await page.evaluate(() => document.cookie) === '', 'document.cookie');
    });
    await check('the token never appears in a URL', async () => {
      const bad = state.urls.filter((u) => u.includes(d.rater) || u.includes('rung_wrong_token_123'));
      assert(bad.length === 0, bad.join(' '));
      assert(state.urls.length > 5, 'no requests seen');
    });
    await check('sign-out clears sessionStorage and shows sign-in', async () => {
      await page.locator('#signout').click();
      await page.getByLabel('Token', { exact: true }).waitFor({ state: 'visible', timeout: 5000 });
      assert(await page.evaluate(() => sessionStorage.length) === 0, 'sessionStorage not empty');
      await page.reload();
      await page.getByLabel('Token', { exact: true }).waitFor({ state: 'visible', timeout: 5000 });
    });

    /* --- a lost lease --- */
    await checkLostLease(browser, state);

    /* --- side order, assistance modes, guidelines, undo --- */
    await checkReview(browser, state);

    /* --- long texts: the answer bar stays in view --- */
    await checkLayout(browser, state);

    /* --- a hard math item: its steps asked one at a time --- */
    await checkSubquestions(browser, state);

    expect(state.dialogs.length === 0, 'no dialog fired', state.dialogs.join('; '));
    expect(state.pageErrors.length === 0, 'no script errors', state.pageErrors.join('; '));
    expect(state.cspErrors.length === 0, 'no CSP violations', state.cspErrors.join('; '));
    await ctx.close();
  } finally {
    await browser.close();
  }
}

async function checkPairView(page, d, ctx) {
  await check('a pair task shows the prompt and both responses side by side', async () => {
    assert(await visible(page, '#prompt') && await visible(page, '#resp-a') && await visible(page, '#resp-b'), 'parts missing');
    const a = await page.locator('#resp-a').boundingBox();
    const b = await page.locator('#resp-b').boundingBox();
    assert(Math.abs(a.y - b.y) < 2 && b.x > a.x + a.width, `A ${JSON.stringify(a)} B ${JSON.stringify(b)}`);
    const labels = await page.locator('#answers button').allTextContents();
    assert(labels.length === 3 && /A/.test(labels[0]) && /B/.test(labels[1]) && /Tie/.test(labels[2]), JSON.stringify(labels));
    assert(/1/.test(labels[0]) && /2/.test(labels[1]) && /3/.test(labels[2]), 'key hints on buttons');
  });
  await check('the lease countdown shows mm:ss', async () => {
    const t = await page.locator('#lease').textContent();
    assert(/\b(09|10):\d\d\b/.test(t), `lease: ${t}`);
  });
  await check('the progress line shows the session count and tasks left', async () => {
    const t = await page.locator('#progress').textContent();
    assert(/Labelled today: \d+ · total: \d+/.test(t) && /Tasks left: \d+/.test(t), t);
  });
  await check('no assistance is shown without a layer', async () => !(await visible(page, '#assist')));
  await check('the URL holds no token', async () => !page.url().includes(d.rater));
  await check('pair view screenshot saved', async () => {
    const file = path.join(BUILD_DIR, 'pair-view.png');
    await page.screenshot({ path: file, fullPage: true });
    assert(fs.statSync(file).size > 5000, 'tiny file');
    console.log(`       (${file})`);
  });
  await check('on a narrow screen the responses are stacked', async () => {
    await page.setViewportSize({ width: 420, height: 900 });
    const a = await page.locator('#resp-a').boundingBox();
    const b = await page.locator('#resp-b').boundingBox();
    await page.setViewportSize({ width: 1280, height: 900 });
    assert(b.y >= a.y + a.height, `A ${JSON.stringify(a)} B ${JSON.stringify(b)}`);
  });
}

async function checkXss(page) {
  await check('markup in model text is shown as literal text', async () => {
    const all = (await page.locator('#prompt').textContent()) + (await page.locator('#resp-a').textContent()) +
      (await page.locator('#resp-b').textContent());
    for (const s of XSS) assert(all.includes(s), `missing literal ${s}`);
  });
  await check('no img/script/a elements inside the task area', async () => {
    const n = await page.locator('#task').evaluate((t) => t.querySelectorAll('img, script, a, iframe, svg, object').length);
    assert(n === 0, `${n} elements`);
  });
  await check('window.__pwned stays undefined', async () => {
    await sleep(300);
    assert(await page.evaluate(() => typeof window.__pwned) === 'undefined', 'pwned');
  });
}

async function checkCode(page) {
  await check('fenced code is shown in <pre><code>, line breaks kept', async () => {
    const code = await page.locator('#resp-b pre code').textContent();
    assert(code === 'def add(a, b):\n    return a + b', `code: ${JSON.stringify(code)}`);
    const font = await page.locator('#resp-b pre code').evaluate((e) => getComputedStyle(e).fontFamily);
    assert(/mono/i.test(font), `font ${font}`);
    const ws = await page.locator('#prompt .prose').first().evaluate((e) => getComputedStyle(e).whiteSpace);
    assert(ws === 'pre-wrap', `white-space ${ws}`);
    const h = await page.locator('#prompt .prose').first().evaluate((e) => e.getClientRects().length && e.offsetHeight);
    const lh = await page.locator('#prompt .prose').first().evaluate((e) => parseFloat(getComputedStyle(e).lineHeight));
    assert(h >= 2 * lh - 1, 'the prompt\'s two lines were joined');
  });
}

/* A second daemon with a trained layer and a 3-second lease: the page shows
 * the layer's assistance; its hold runs out, another rater takes the task,
 * and the page's answer is refused with 409. */
async function checkLostLease(browser, state) {
  const d = await startDaemon('lease', ['--lease-seconds', '3', '--gold-rate', '0'], trainLayer);
  // Two equal replies: the layer cannot decide, so the item goes to a human.
  const twin = { prompt: 'Question: explain topic 4', responses: ['the answer is that so it', 'the answer is that so it'] };
  const posted = await api(d, 'POST', '/v1/items', d.pipeline, { items: [twin] });
  expect(posted.status === 201 && posted.data.items[0].status === 'awaiting_human', 'lease daemon: an undecided item goes to a human',
    `${posted.status} ${JSON.stringify(posted.data)}`);
  if (posted.status !== 201) { fail('lease daemon: items posted', `${posted.status}`); return; }
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  watchPage(page, 'lease', state);
  await page.goto(d.base + '/');
  await page.getByLabel('Token', { exact: true }).fill(d.rater);
  await page.getByLabel('Token', { exact: true }).press('Enter');
  await check('a coin-flip preference of the layer is not shown', async () => {
    await page.locator('#task').waitFor({ state: 'visible', timeout: 10000 });
    assert(!(await visible(page, '#assist')), `shown: ${await page.locator('#assist').textContent()}`);
  });
  await check('a short lease counts down to "Time is up"', async () => {
    await page.waitForFunction(() => /00:00/.test(document.getElementById('lease').textContent), null, { timeout: 10000 });
    const n = await page.locator('#notice').textContent();
    assert(/run out/i.test(n), `notice: ${n}`);
  });
  await sleep(600);
  const other = await api(d, 'GET', '/v1/tasks/next', d.rater2);
  expect(other.status === 200, 'another rater leases the expired task', `got ${other.status} ${JSON.stringify(other.data)}`);
  const lab = page.waitForResponse((r) => /\/v1\/tasks\/\d+\/labels$/.test(r.url()), { timeout: 15000 });
  await page.keyboard.press('1');
  await check('a lost lease (409 lease_lost) shows a message and fetches the next task', async () => {
    const r = await lab;
    const body = await r.text();
    assert(r.status() === 409, `label answered ${r.status()} ${body}`);
    assert(/lease_lost/.test(body), `code: ${body}`);
    await page.locator('#empty').waitFor({ state: 'visible', timeout: 10000 });
    const n = await page.locator('#notice').textContent();
    assert(/lease was lost/i.test(n) && /not saved/i.test(n), `notice: ${n}`);
  });
  await ctx.close();
}

/* ---------- what raters meet: side order, assistance, guidelines, undo ---------- */

// A layer report whose calibration curve makes the bin [0.6, 0.8) right
// 62 of 80 times (78%); written straight into the database, as are the
// items' scores (confidence 0.7, the item's b preferred).
const REPORT = { calibration: { items: 200, curve: [
  { confidence: 0.5, coverage: 1.0, accuracy: 0.6 },
  { confidence: 0.6, coverage: 0.5, accuracy: 0.8 },
  { confidence: 0.8, coverage: 0.1, accuracy: 0.9 }] } };

function sqlWrite(db, query) {
  execFileSync('sqlite3', [db, query], { encoding: 'utf8' });
}
const q = (v) => `'${String(v).replace(/'/g, "''")}'`;

/* The next task as the server sent it to the page, and the page once shown. */
async function nextShown(page, action) {
  const resp = nextTaskResponse(page);
  await action();
  const t = await (await resp).json();
  await page.waitForFunction((id) => !document.getElementById('task').hidden &&
    document.getElementById('task-id').textContent === 'Task ' + id, t.id, { timeout: 10000 });
  return t;
}

async function checkReview(browser, state) {
  const d = await startDaemon('review', ['--gold-rate', '0']);
  const admin = d.admin;
  const guidelines = '<b>Be fair</b> <img src=x onerror="window.__pwned=1">\nLength is not quality.';
  for (const [batch, body] of [['shown', { guidelines }], ['after', { assistance: 'after' }], ['hidden', { assistance: 'hidden' }]]) {
    const r = await api(d, 'PUT', '/v1/batches/' + batch, admin, body);
    expect(r.status === 200, `PUT /v1/batches/${batch}`, `${r.status} ${JSON.stringify(r.data)}`);
  }
  const items = [['shown', 3], ['after', 2], ['hidden', 1]].map(([batch, priority]) =>
    ({ prompt: `[case:${batch}] Which is kinder?`, responses: [`kind reply (${batch})`, `curt reply (${batch})`], batch, priority }));
  const posted = await api(d, 'POST', '/v1/items', d.pipeline, { items });
  if (posted.status !== 201) { fail('review daemon: items posted', `${posted.status}`); return; }
  const ids = posted.data.items.map((x) => x.id);
  sqlWrite(d.db, `INSERT INTO layers(id, status, kind, metrics, created_ms) VALUES(7, 'candidate', 'hashed-bt', ${q(JSON.stringify(REPORT))}, 0);` +
    `UPDATE items SET layer_id = 7, scores = ${q(JSON.stringify({ layer: 7, p_a: 0.2, confidence: 0.7, preference: 'b' }))};`);
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  watchPage(page, 'review', state);
  await page.goto(d.base + '/');
  await page.getByLabel('Token', { exact: true }).fill(d.rater);
  const shown = await nextShown(page, () => page.getByLabel('Token', { exact: true }).press('Enter'));
  const left = shown.swapped ? 'curt reply (shown)' : 'kind reply (shown)';
  await check('a pair is shown in the order the server chose', async () => {
    const a = (await page.locator('#resp-a').textContent()).trim();
    assert(a === left && shown.responses[0] === left, `left ${a}, swapped ${shown.swapped}`);
  });
  await check('guidelines are shown above the task, inert', async () => {
    assert(await visible(page, '#guidelines'), 'hidden');
    assert(await page.locator('#guidelines-text').textContent() === guidelines, 'text differs');
    assert(await page.locator('#guidelines-text *').count() === 0, 'markup was parsed');
    assert(await page.evaluate(() => window.__pwned) === undefined, 'script ran');
  });
  await check('assistance in calibrated terms, in display order', async () => {
    const t = await page.locator('#assist').textContent();
    console.log(`       (${t})`);
    const side = shown.swapped ? 'A' : 'B'; // the item's b, where it is shown
    assert(t === `The model prefers ${side}. At this confidence the layer was right 78% of the time (n=80).`, `text: ${t}`);
  });
  let lab = page.waitForResponse((r) => /\/v1\/tasks\/\d+\/labels$/.test(r.url()), { timeout: 15000 });
  const after = await nextShown(page, () => page.keyboard.press('1'));
  await check('"A is better" on the left response maps back to the item', async () => {
    assert((await lab).status() === 201, 'label refused');
    const r = await api(d, 'GET', `/v1/items/${ids[0]}`, d.pipeline);
    assert(r.data.verdict === (shown.swapped ? 'b' : 'a'), `verdict ${r.data.verdict}, swapped ${shown.swapped}`);
  });
  await check('the "Saved." notice offers undo', async () => {
    const n = await page.locator('#notice').textContent();
    assert(/Saved\./.test(n) && await visible(page, '#notice-action'), `notice: ${n}`);
  });
  /* Undo by keyboard: the last task comes back, and a new answer replaces the first. */
  const back = page.waitForResponse((r) => new RegExp(`/v1/tasks/${shown.id}$`).test(r.url()), { timeout: 10000 });
  await page.keyboard.press('u');
  await check('"u" brings the last task back to change the answer', async () => {
    assert((await back).status() === 200, 'GET /v1/tasks/{id} failed');
    await page.waitForFunction((id) => document.getElementById('task-id').textContent === 'Task ' + id, shown.id, { timeout: 5000 });
    const c = await page.locator('#changing').textContent();
    assert(await visible(page, '#changing') && /A is better/.test(c), `banner: ${c}`);
    assert((await page.locator('#resp-a').textContent()).trim() === left, 'order changed');
  });
  lab = page.waitForResponse((r) => /\/v1\/tasks\/\d+\/labels$/.test(r.url()), { timeout: 15000 });
  const again = await nextShown(page, () => page.keyboard.press('2'));
  await check('the new answer replaces the old one and the verdict is redone', async () => {
    const r = await lab;
    const body = await r.json();
    assert(r.status() === 200 && body.replaced === true, `${r.status()} ${JSON.stringify(body)}`);
    const it = await api(d, 'GET', `/v1/items/${ids[0]}`, d.pipeline);
    assert(it.data.verdict === (shown.swapped ? 'a' : 'b'), `verdict ${it.data.verdict}`);
    assert(again.id === after.id, 'the held task did not come back');
    assert(sql(d.db, "SELECT kind FROM events").length === 1, 'no event');
  });
  await check('mode "after": nothing before the answer, the assistance after it', async () => {
    assert(/\[case:after\]/.test(await page.locator('#prompt').textContent()), 'not the after task');
    assert(!(await visible(page, '#assist')), 'assistance shown before answering');
    const side = again.swapped ? 'A' : 'B';
    await nextShown(page, () => page.keyboard.press('3'));
    const n = await page.locator('#notice').textContent();
    assert(n.includes(`The model preferred ${side}. At this confidence the layer was right 78% of the time (n=80).`), `notice: ${n}`);
  });
  await check('mode "hidden": no assistance before or after', async () => {
    assert(/\[case:hidden\]/.test(await page.locator('#prompt').textContent()), 'not the hidden task');
    assert(!(await visible(page, '#assist')), 'assistance shown');
    lab = page.waitForResponse((r) => /\/v1\/tasks\/\d+\/labels$/.test(r.url()), { timeout: 15000 });
    await page.keyboard.press('3');
    await lab;
    await page.locator('#empty').waitFor({ state: 'visible', timeout: 10000 });
    const n = await page.locator('#notice').textContent();
    assert(/Saved\./.test(n) && !/model/i.test(n), `notice: ${n}`);
  });
  await check('progress counts come from the server', async () => {
    const p = await page.locator('#progress').textContent();
    assert(/Labelled today: 3 · total: 3\b/.test(p), `progress: ${p}`);
    await page.reload();
    await page.locator('#empty').waitFor({ state: 'visible', timeout: 10000 });
    await page.waitForFunction(() => /Labelled today: 3 · total: 3/.test(document.getElementById('progress').textContent), null, { timeout: 5000 });
  });
  await ctx.close();
}

/* ---------- long texts on small and large screens ---------- */

/* ~bytes of plain sentences, newline every few sentences. */
function longText(label, bytes) {
  let s = '';
  for (let i = 1; s.length < bytes; i++) s += `${label} sentence ${i} says something worth reading.` + (i % 4 ? ' ' : '\n');
  return s;
}

/* Where the answer bar's parts are, relative to the viewport. */
function answerBarBox(page) {
  return page.evaluate(() => {
    const r = (sel) => document.querySelector(sel).getBoundingClientRect();
    const parts = ['#question', '#answers', '#keys-hint'].map((sel) => r(sel));
    return { top: Math.min(...parts.map((b) => b.top)), bottom: Math.max(...parts.map((b) => b.bottom)), vh: window.innerHeight };
  });
}

async function barInViewEverywhere(page, label) {
  const total = await page.evaluate(() => document.documentElement.scrollHeight);
  for (const y of [0, Math.floor(total / 3), Math.floor(total / 2), total]) {
    await page.evaluate((yy) => window.scrollTo(0, yy), y);
    const b = await answerBarBox(page);
    assert(b.top >= 0 && b.bottom <= b.vh, `${label}: at scroll ${y} the answer bar spans ${b.top.toFixed(0)}..${b.bottom.toFixed(0)} of ${b.vh}`);
  }
}

/* A 3 KB pair in an HH-style dialogue: at 1280x800 and 390x844 the question,
 * the answer buttons and the key hints are in view wherever the page is
 * scrolled; each long response scrolls in its own box; turns are shown as
 * turns; the "Saved." notice does not move the task. */
async function checkLayout(browser, state) {
  const d = await startDaemon('layout', ['--gold-rate', '0']);
  const dialogue = '\n\nHuman: [case:L] I need help planning a trip.\n\nAssistant: Where to?\n\nHuman: ' + longText('Prompt', 600);
  const items = [1, 2].map((n) => ({ prompt: dialogue + ` (#${n})`, responses: [longText('Left', 3000), longText('Right', 3000)] }));
  const posted = await api(d, 'POST', '/v1/items', d.pipeline, { items });
  if (posted.status !== 201) { fail('layout daemon: items posted', `${posted.status}`); return; }
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  watchPage(page, 'layout', state);
  await page.goto(d.base + '/');
  await page.getByLabel('Token', { exact: true }).fill(d.rater);
  await page.getByLabel('Token', { exact: true }).press('Enter');
  await page.locator('#task').waitFor({ state: 'visible', timeout: 10000 });
  await check('1280x800, 3 KB pair: the answer bar is in view at every scroll position', () => barInViewEverywhere(page, '1280x800'));
  await check('each long response scrolls in its own box', async () => {
    const boxes = await page.evaluate(() => ['resp-a', 'resp-b'].map((id) => {
      const n = document.getElementById(id);
      return { sh: n.scrollHeight, ch: n.clientHeight, overflow: getComputedStyle(n).overflowY };
    }));
    for (const b of boxes) assert(b.sh > b.ch && b.overflow === 'auto', JSON.stringify(boxes));
  });
  await check('an HH dialogue is shown as Human / Assistant turns', async () => {
    const turns = await page.evaluate(() => [...document.querySelectorAll('#prompt .turn')].map((t) =>
      [t.className, t.querySelector('.turn-speaker').textContent]));
    assert(JSON.stringify(turns.map((t) => t[1])) === '["Human","Assistant","Human"]', JSON.stringify(turns));
    assert(turns[1][0].includes('turn-assistant'), JSON.stringify(turns));
    const first = await page.locator('#prompt .turn .prose').first().textContent();
    assert(first.startsWith('[case:L] I need help'), `first turn: ${first}`);
  });
  await page.setViewportSize({ width: 390, height: 844 });
  await check('390x844, 3 KB pair: the answer bar is in view at every scroll position', () => barInViewEverywhere(page, '390x844'));
  await check('narrow screen screenshot saved', async () => {
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: path.join(BUILD_DIR, 'browser-narrow-long-pair.png') });
  });
  await check('the "Saved." notice does not move the task', async () => {
    await page.evaluate(() => window.scrollTo(0, 0));
    const before = await page.evaluate(() => document.querySelector('.prompt-card').getBoundingClientRect().top);
    const firstId = await page.locator('#task-id').textContent();
    await page.keyboard.press('1');
    await page.waitForFunction((id) => document.getElementById('task-id').textContent !== id &&
      !document.getElementById('task').hidden, firstId, { timeout: 10000 });
    assert(await visible(page, '#notice'), 'no notice after the label');
    const after = await page.evaluate(() => document.querySelector('.prompt-card').getBoundingClientRect().top);
    assert(Math.abs(after - before) < 1, `prompt moved from ${before} to ${after}`);
  });
  await ctx.close();
}

/* ---------- sub-questions (issue 10) ---------- */

async function checkSubquestions(browser, state) {
  const d = await startDaemon('subq', ['--gold-rate', '0']);
  const good = 'Half of 48 is 48 / 2 = 24.\nIn all 48 + 24 = 72.\n#### 72';
  const bad = `First 48 / 2 = 24 ${XSS[1]}\nThen 48 + 24 = 62.\n#### 62`;
  const item = { prompt: `[case:Q] Clips sold in April and May? ${XSS[0]}`, responses: [good, bad], domain: 'math' };
  const posted = await api(d, 'POST', '/v1/items', d.pipeline, { items: [item] });
  expect(posted.status === 201 && posted.data.items[0].status === 'decomposed', 'subq daemon: a math pair is decomposed',
    `${posted.status} ${JSON.stringify(posted.data)}`);
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  watchPage(page, 'subq', state);
  await page.goto(d.base + '/');
  await page.getByLabel('Token', { exact: true }).fill(d.rater);
  await page.getByLabel('Token', { exact: true }).press('Enter');
  await check('a sub-question shows its response with the step highlighted and y/n/u answers', async () => {
    await page.locator('#subq-text').waitFor({ state: 'visible', timeout: 10000 });
    const cur = await page.locator('#subq-text .seg-current').textContent();
    assert(cur.startsWith('Half of 48'), `highlighted: ${cur}`);
    assert(/steps before it/.test(await page.locator('#question').textContent()), 'question');
    const keys = await page.locator('#keys-hint').textContent();
    assert(/y Yes/.test(keys) && /n No/.test(keys) && /u Unsure/.test(keys), `keys: ${keys}`);
    assert(!(await visible(page, '#pair-responses')), 'the pair view is shown too');
    await page.screenshot({ path: path.join(BUILD_DIR, 'subq-view.png'), fullPage: true });
  });
  // Answer by keys: yes to every step of A, no to B's first: B is never asked again.
  const seen = [];
  for (let i = 0; i < 5; i++) {
    const el = page.locator('#subq-text .seg-current');
    if (!(await visible(page, '#subq-text'))) break; // the queue is empty: the item is decided
    const text = await el.textContent();
    seen.push(text);
    const lab = page.waitForResponse((r) => /\/v1\/tasks\/\d+\/labels$/.test(r.url()), { timeout: 15000 });
    const next = nextTaskResponse(page);
    await page.keyboard.press(text.startsWith('First') ? 'n' : 'y');
    await lab;
    await next;
    await waitSettled(page);
  }
  await check('keys answer each step; after a no, that response is not asked again', async () => {
    assert(seen.length === 4, `asked: ${JSON.stringify(seen)}`);
    assert(seen.filter((t) => /^(Then|####)/.test(t) && /62/.test(t)).length === 0, `B asked after its no: ${seen}`);
    const it = await api(d, 'GET', `/v1/items/${posted.data.items[0].id}`, d.pipeline);
    assert(it.data.verdict === 'a' && it.data.verdict_source === 'aggregate', JSON.stringify(it.data.rollup));
  });
  await check('model text in the sub-question view stays inert', async () => {
    assert(await page.evaluate(() => window.__pwned === undefined), 'script ran');
    assert(await page.evaluate(() => !document.querySelector('#subq-text img, #subq-text script')), 'markup parsed');
  });
  await ctx.close();
}

await run('browser', main, TEST_DEADLINE_MS, notes);
