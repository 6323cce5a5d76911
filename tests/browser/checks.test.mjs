// Browser test of the checkers' findings on the annotator page (issue 11):
// a real rungd, a real Chromium. The findings of a pair task are listed
// under each response, a wrong equation first with its span's text quoted,
// each checked equation is marked in the response, and model text inside a
// finding's span stays text, never markup.
//
//   RUNGD=build-dev/server/rungd node checks.test.mjs
import { chromium } from 'playwright-core';
import path from 'node:path';
import { BUILD_DIR, LAUNCH, api, assert, check, run, startDaemon } from './harness.mjs';

const TEST_DEADLINE_MS = 2 * 60 * 1000;
const IMG = '<img src=x onerror="window.__pwned=1">';
const BAD = `Half of 48 is 48 / 2 = 25.\nSo 48 + 25 = 73 ${IMG}\nA: ${IMG}`;
const GOOD = 'Half of 48 is 48 / 2 = 24.\nIn all 48 + 24 = 72.\nA: 72';

async function main() {
  const d = await startDaemon('checks', ['--gold-rate', '0', '--side-order', 'fixed']);
  const item = { prompt: '[case:CK] 48 clips in April, half as many in May. How many in all?', responses: [BAD, GOOD] };
  const posted = await api(d, 'POST', '/v1/items', d.pipeline, { items: [item] });
  assert(posted.status === 201, `post: ${posted.status} ${JSON.stringify(posted.data)}`);
  const browser = await chromium.launch(LAUNCH);
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (/Content Security Policy|Refused to/i.test(m.text())) errors.push(m.text()); });
  await page.goto(d.base + '/');
  await page.getByLabel('Token', { exact: true }).fill(d.rater);
  await page.getByLabel('Token', { exact: true }).press('Enter');
  await page.locator('#checks-a').waitFor({ state: 'visible', timeout: 15000 });

  await check('each response lists its findings, a wrong equation first with its span quoted', async () => {
    const first = page.locator('#checks-a li').first();
    assert((await first.getAttribute('class')).includes('check-fail'), await first.getAttribute('class'));
    assert((await first.locator('.check-name').textContent()) === 'arithmetic', 'not the arithmetic checker');
    assert(/it is 24, not 25/.test(await first.locator('.check-finding').textContent()), await first.textContent());
    assert((await first.locator('.check-span').textContent()) === '48 / 2 = 25', await first.textContent());
    const b = await page.locator('#checks-b').textContent();
    assert(/final answer 72/.test(b), `B: ${b}`);
    assert((await page.locator('#checks-b li.check-fail').count()) === 0, 'B has a failure');
    assert((await page.locator('#checks-b li.check-pass').count()) >= 2, 'B shows no verified equation');
  });

  await check('each checked equation is marked at its span in the response, the text unchanged', async () => {
    const bad = page.locator('#resp-a mark.eq-fail');
    assert((await bad.count()) === 1, `A's wrong equations marked: ${await bad.count()}`);
    assert((await page.locator('#resp-a mark.eq-pass').textContent()) === '48 + 25 = 73', 'A\'s right one');
    assert((await bad.first().textContent()) === '48 / 2 = 25', await bad.first().textContent());
    assert((await bad.first().getAttribute('title')) === 'wrong: it is 24, not 25', 'title');
    assert((await page.locator('#resp-b mark.eq-pass').count()) === 2, 'B\'s right equations not marked');
    assert((await page.locator('#resp-b mark.eq-fail').count()) === 0, 'B has a wrong mark');
    assert((await page.locator('#resp-a').textContent()) === BAD, 'the response text changed');
    await page.screenshot({ path: path.join(BUILD_DIR, 'checks-view.png'), fullPage: true });
  });

  await check('markup in a finding\'s span is shown as text, never rendered', async () => {
    const a = await page.locator('#checks-a').textContent();
    assert(a.includes('<img src=x'), `the span's text is not shown: ${a}`);
    assert(await page.evaluate(() => !document.querySelector('.checks img, .checks script')), 'markup parsed');
    assert(await page.evaluate(() => window.__pwned === undefined), 'script ran');
    assert(errors.length === 0, errors.join('; '));
  });
  await ctx.close();
  await browser.close();
}

await run('checks', main, TEST_DEADLINE_MS);
