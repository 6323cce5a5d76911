/* rung admin page.
 *
 * Everything that comes from the API (batch and rater names, layer notes) is
 * data: it goes into the page with textContent, never parsed as HTML. The
 * admin token lives in sessionStorage only and goes out in the Authorization
 * header. Charts are Chart.js from Debian's libjs-chart.js (/vendor/chart.js);
 * without it the page says so and shows the tables. */
'use strict';

(function () {
  const TOKEN_KEY = 'rung.admin.token';
  const REFRESH_MS = 30000;
  const BATCH_DETAIL_MAX = 100;  // batches whose detail (labels per hour) is fetched
  const BATCH_PAGES_MAX = 20;    // pages of GET /v1/batches followed
  const KINDS = ['pair', 'single', 'subquestion'];

  const $ = (id) => document.getElementById(id);
  const state = { generation: 0, timer: 0, busy: false };

  /* ---------- storage and HTTP ---------- */

  function getToken() {
    try { return sessionStorage.getItem(TOKEN_KEY) || ''; } catch (e) { return ''; }
  }
  function setToken(t) {
    try { if (t) sessionStorage.setItem(TOKEN_KEY, t); else sessionStorage.removeItem(TOKEN_KEY); } catch (e) { /* private mode */ }
  }

  class HttpError extends Error {
    constructor(status, data) {
      super(data && data.error && typeof data.error.message === 'string' ? data.error.message : 'HTTP ' + status);
      this.status = status;
    }
  }

  async function get(path, asText) {
    const res = await fetch(path, {
      headers: { 'Authorization': 'Bearer ' + getToken(), 'Accept': asText ? 'text/plain' : 'application/json' },
      cache: 'no-store', credentials: 'omit', redirect: 'error',
    });
    const text = await res.text();
    let data = null;
    if (!asText || !res.ok) {
      try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
    }
    if (!res.ok) throw new HttpError(res.status, data);
    return asText ? text : data;
  }

  /* ---------- small DOM helpers (text only) ---------- */

  function node(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function clear(e) { while (e.firstChild) e.removeChild(e.firstChild); }
  function pct(x, digits = 1) { return typeof x === 'number' && isFinite(x) ? (x * 100).toFixed(digits) + '%' : '—'; }
  function num(x, digits = 3) { return typeof x === 'number' && isFinite(x) ? x.toFixed(digits) : '—'; }
  function interval(iv) { return Array.isArray(iv) && iv.length === 2 ? `${num(iv[0])} – ${num(iv[1])}` : '—'; }
  function fact(dl, label, value, small) {
    const d = document.createElement('div');
    d.appendChild(node('dt', label));
    const dd = node('dd', value);
    if (small) { dd.appendChild(document.createTextNode(' ')); dd.appendChild(node('small', small)); }
    d.appendChild(dd);
    dl.appendChild(d);
  }
  function cell(tr, text, cls) { tr.appendChild(node('td', text, cls)); }
  function duration(ms) {
    if (ms === 0) return 'done';
    if (typeof ms !== 'number' || !isFinite(ms)) return '— (no labels in the last hour)';
    const m = Math.round(ms / 60000);
    if (m < 60) return `in ${m} min`;
    const h = Math.round(m / 6) / 10;
    return h < 48 ? `in ${h} h` : `in ${Math.round(h / 24)} days`;
  }
  function notice(text, kind) {
    const n = $('notice');
    n.textContent = text || '';
    n.className = 'notice' + (kind ? ' notice-' + kind : '');
    n.hidden = !text;
  }

  /* ---------- data ---------- */

  async function allBatches() {
    const out = [];
    let after = null;
    for (let page = 0; page < BATCH_PAGES_MAX; page++) {
      const q = after === null ? '' : '&after=' + encodeURIComponent(after);
      const r = await get('/v1/batches?limit=100' + q);
      for (const b of (r && r.batches) || []) out.push(b);
      if (!r || r.next === null || r.next === undefined) break;
      after = r.next;
    }
    return out;
  }

  async function batchDetails(batches) {
    const some = batches.slice(0, BATCH_DETAIL_MAX);
    const details = await Promise.all(some.map((b) =>
      get('/v1/batches/' + encodeURIComponent(b.batch)).catch(() => null)));
    return details;
  }

  /* Prometheus text → {kind: depth} of rung_queue_depth. */
  function queueDepth(text) {
    const depth = { pair: 0, single: 0, subquestion: 0 };
    const re = /^rung_queue_depth\{kind="([a-z_]+)"\}\s+([-+0-9.eE]+)\s*$/;
    for (const line of String(text).split('\n')) {
      const m = re.exec(line);
      if (m) depth[m[1]] = Number(m[2]);
    }
    return depth;
  }

  async function loadAll() {
    const [status, batches, raters, layers, metrics] = await Promise.all([
      get('/v1/status'), allBatches(), get('/v1/raters?limit=1000'), get('/v1/layers'), get('/metrics', true),
    ]);
    const details = await batchDetails(batches);
    return { status, batches, details, raters, layers: (layers && layers.layers) || [], depth: queueDepth(metrics) };
  }

  /* ---------- charts ---------- */

  function chartsReady() { return typeof window.Chart === 'function'; }

  function drawChart(id, config) {
    if (!chartsReady()) return null;
    const canvas = $(id);
    const old = window.Chart.getChart(canvas);
    if (old) old.destroy();
    config.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false }, config.options || {});
    return new window.Chart(canvas, config);
  }

  function colour(name, fallback) {
    const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return v || fallback;
  }

  function drawLabelsPerHour(details) {
    const sum = new Array(24).fill(0);
    for (const d of details) {
      if (!d || !Array.isArray(d.labels_per_hour)) continue;
      const v = d.labels_per_hour;
      for (let i = 0; i < v.length && i < 24; i++) sum[24 - v.length + i] += Number(v[i]) || 0;
    }
    const labels = sum.map((_, i) => (i === 23 ? 'last hour' : `-${24 - i} h`));
    drawChart('chart-labels', {
      type: 'bar',
      data: { labels, datasets: [{ label: 'Labels', data: sum, backgroundColor: colour('--accent', '#2f5bd3') }] },
      options: { plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
    });
  }

  function drawQueue(depth) {
    drawChart('chart-queue', {
      type: 'bar',
      data: {
        labels: KINDS,
        datasets: [{ label: 'Open tasks', data: KINDS.map((k) => depth[k] || 0),
          backgroundColor: [colour('--a', '#2f5bd3'), colour('--good', '#1f7a45'), colour('--b', '#8a3fc2')] }],
      },
      options: { plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
    });
  }

  /* The coverage curve differenced into confidence bins, as the server's
   * aggregate_calibration_read does: [{from, to, n, accuracy}]. */
  function calibrationBins(cal) {
    const curve = (cal.curve || []).filter((p) => typeof p.confidence === 'number')
      .sort((a, b) => a.confidence - b.confidence);
    const items = Number(cal.items) || 0;
    const count = (p) => (typeof p.coverage === 'number' ? p.coverage * items : 0);
    const right = (p) => (typeof p.accuracy === 'number' ? p.accuracy * count(p) : 0);
    const bins = [];
    for (let g = 0; g < curve.length; g++) {
      const next = curve[g + 1];
      const n = count(curve[g]) - (next ? count(next) : 0);
      const c = right(curve[g]) - (next ? right(next) : 0);
      if (n > 0.5) {
        bins.push({ from: curve[g].confidence, to: next ? next.confidence : 1, n: Math.round(n), accuracy: Math.min(1, Math.max(0, c / n)) });
      }
    }
    return bins;
  }

  function drawLayerCharts(cal, tau) {
    const curve = (cal.curve || []).slice().sort((a, b) => a.confidence - b.confidence);
    drawChart('chart-coverage', {
      type: 'line',
      data: {
        labels: curve.map((p) => p.confidence.toFixed(2)),
        datasets: [
          { label: 'Coverage', data: curve.map((p) => p.coverage), borderColor: colour('--a', '#2f5bd3'), backgroundColor: colour('--a', '#2f5bd3') },
          { label: 'Accuracy on covered', data: curve.map((p) => p.accuracy), borderColor: colour('--good', '#1f7a45'), backgroundColor: colour('--good', '#1f7a45') },
        ],
      },
      options: {
        scales: { x: { title: { display: true, text: 'confidence threshold' + (typeof tau === 'number' ? ` (τ = ${tau.toFixed(3)})` : '') } },
          y: { min: 0, max: 1 } },
      },
    });
    const bins = calibrationBins(cal);
    drawChart('chart-calibration', {
      type: 'scatter',
      data: {
        datasets: [
          { label: 'Accuracy in bin', data: bins.map((b) => ({ x: (b.from + b.to) / 2, y: b.accuracy, n: b.n })),
            borderColor: colour('--b', '#8a3fc2'), backgroundColor: colour('--b', '#8a3fc2'), showLine: true, pointRadius: 4 },
          { label: 'Perfect calibration', data: [{ x: 0.5, y: 0.5 }, { x: 1, y: 1 }],
            borderColor: colour('--muted', '#5d6470'), borderDash: [5, 4], showLine: true, pointRadius: 0 },
        ],
      },
      options: {
        scales: { x: { min: 0.5, max: 1, title: { display: true, text: 'confidence' } }, y: { min: 0, max: 1, title: { display: true, text: 'accuracy' } } },
        plugins: { tooltip: { callbacks: { label: (c) => `accuracy ${pct(c.raw.y)}` + (c.raw.n ? ` (n=${c.raw.n})` : '') } } },
      },
    });
  }

  /* ---------- views ---------- */

  function renderOverview(data) {
    const dl = $('overview');
    clear(dl);
    const st = data.status || {};
    const items = Number(st.items) || 0;
    const by = st.by_status || {};
    fact(dl, 'Items', String(items));
    fact(dl, 'Auto-resolved by the layer', items ? pct((by.auto || 0) / items) : '—', items ? `${by.auto || 0} of ${items}` : 'no items');
    fact(dl, 'Awaiting people', String(by.awaiting_human || 0));
    const open = KINDS.reduce((s, k) => s + (data.depth[k] || 0), 0);
    fact(dl, 'Open human tasks', String(open));
    const active = data.layers.find((l) => l.status === 'active');
    if (active) fact(dl, 'Active layer', `#${active.id}`, `${active.kind}, τ = ${num(active.threshold)}`);
    else fact(dl, 'Active layer', 'none', 'everything goes to people');
  }

  function renderBatches(data) {
    const body = $('batches').querySelector('tbody');
    clear(body);
    $('batches-empty').hidden = data.batches.length > 0;
    data.batches.forEach((b, i) => {
      const d = data.details[i] || null;
      const tr = document.createElement('tr');
      cell(tr, b.batch, 'name');
      cell(tr, b.items, 'num');
      cell(tr, b.decided, 'num');
      cell(tr, b.outstanding, 'num');
      const td = document.createElement('td');
      const total = (Number(b.decided) || 0) + (Number(b.outstanding) || 0);
      const bar = document.createElement('progress');
      bar.max = total || 1;
      bar.value = total ? Number(b.decided) || 0 : 0;
      bar.setAttribute('aria-label', `${b.decided} of ${total} decided`);
      td.appendChild(bar);
      td.appendChild(node('span', total ? pct((Number(b.decided) || 0) / total, 0) : '—', 'pct'));
      tr.appendChild(td);
      cell(tr, d && d.assistance ? d.assistance : '—');
      cell(tr, d ? duration(d.eta_ms) : '—');
      body.appendChild(tr);
    });
  }

  function renderAgreement(ag) {
    const dl = $('agreement');
    clear(dl);
    ag = ag || {};
    const fk = ag.fleiss_kappa || {};
    const ka = ag.krippendorff_alpha || {};
    fact(dl, "Fleiss' κ", num(fk.value), `95% ${interval(fk.interval)}, ${fk.items || 0} tasks`);
    fact(dl, "Krippendorff's α", num(ka.value), `95% ${interval(ka.interval)}, ${ka.items || 0} tasks`);
    const body = $('kappas').querySelector('tbody');
    clear(body);
    const pairs = Array.isArray(ag.cohen_kappa) ? ag.cohen_kappa : [];
    for (const p of pairs) {
      const tr = document.createElement('tr');
      cell(tr, (p.raters || []).join(' · '), 'name');
      cell(tr, num(p.kappa), 'num');
      cell(tr, interval(p.interval));
      cell(tr, p.items, 'num');
      body.appendChild(tr);
    }
    $('kappas').hidden = pairs.length === 0;
    $('kappas-empty').hidden = pairs.length > 0;
    $('kappas-empty').textContent = `No pair of raters shares ${ag.min_shared_items || 20} tasks yet, so there is no Cohen's κ.`;
  }

  function renderRaters(data) {
    // Every key is listed; an admin or pipeline key that never labelled is no rater.
    const list = ((data.raters && data.raters.raters) || []).filter((r) => r.role === 'rater' || r.labels > 0);
    const body = $('raters').querySelector('tbody');
    clear(body);
    $('raters-empty').hidden = list.length > 0;
    for (const r of list) {
      const tr = document.createElement('tr');
      cell(tr, r.name, 'name');
      cell(tr, r.labels, 'num');
      cell(tr, r.gold_seen, 'num');
      cell(tr, r.gold_seen ? pct(r.gold_accuracy) : '—', 'num');
      cell(tr, pct(r.left_share), 'num');
      body.appendChild(tr);
    }
    renderAgreement(data.raters && data.raters.agreement);
  }

  function renderLayer(data) {
    const active = data.layers.find((l) => l.status === 'active');
    $('layer-none').hidden = !!active;
    $('layer-body').hidden = !active;
    if (!active) return;
    const dl = $('layer-facts');
    clear(dl);
    const m = active.metrics && typeof active.metrics === 'object' ? active.metrics : {};
    const cal = m.calibration && typeof m.calibration === 'object' ? m.calibration : null;
    fact(dl, 'Layer', `#${active.id}`, active.kind);
    fact(dl, 'Threshold τ', num(active.threshold));
    fact(dl, 'Trained on', String(active.train_size || 0), 'comparisons');
    if (cal) {
      fact(dl, 'Held-out accuracy', pct(cal.accuracy), `${cal.items || 0} pairs`);
      fact(dl, 'Calibration error (ECE)', num(cal.ece));
    }
    const hasCurve = !!(cal && Array.isArray(cal.curve) && cal.curve.length);
    $('layer-nocurve').hidden = hasCurve;
    $('layer-charts').hidden = !hasCurve;
    if (hasCurve) drawLayerCharts(cal, active.threshold);
  }

  function render(data) {
    renderOverview(data);
    drawLabelsPerHour(data.details);
    drawQueue(data.depth);
    renderBatches(data);
    renderRaters(data);
    renderLayer(data);
    $('updated').textContent = 'Updated ' + new Date().toLocaleTimeString();
  }

  /* ---------- session ---------- */

  function showSignin(message) {
    state.generation++;
    clearInterval(state.timer);
    $('admin-view').hidden = true;
    $('session-info').hidden = true;
    $('signin-view').hidden = false;
    $('signin-msg').textContent = message || '';
    $('signin-msg').hidden = !message;
    $('token').value = '';
    $('token').focus();
  }

  function authMessage(e) {
    if (e.status === 401) return 'That token was not accepted (unknown or revoked). Check it and try again.';
    if (e.status === 403) return 'That token is not an admin token: this page needs one with the admin role.';
    return '';
  }

  async function refresh() {
    if (state.busy) return;
    state.busy = true;
    const gen = state.generation;
    try {
      const data = await loadAll();
      if (gen !== state.generation) return;
      render(data);
      notice('');
    } catch (e) {
      if (gen !== state.generation) return;
      const auth = e instanceof HttpError ? authMessage(e) : '';
      if (auth) { setToken(''); showSignin(auth); return; }
      notice('Could not load the figures: ' + (e && e.message ? e.message : String(e)), 'error');
    } finally {
      state.busy = false;
    }
  }

  async function signIn(token) {
    setToken(token);
    $('signin-btn').disabled = true;
    try {
      await get('/v1/status');
    } catch (e) {
      setToken('');
      const auth = e instanceof HttpError ? authMessage(e) : '';
      showSignin(auth || 'The server could not be reached: ' + (e && e.message ? e.message : String(e)));
      return;
    } finally {
      $('signin-btn').disabled = false;
    }
    startSession();
  }

  function startSession() {
    state.generation++;
    $('signin-view').hidden = true;
    $('admin-view').hidden = false;
    $('session-info').hidden = false;
    $('charts-missing').hidden = chartsReady();
    clearInterval(state.timer);
    state.timer = setInterval(refresh, REFRESH_MS);
    refresh();
  }

  $('signin-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const t = $('token').value.trim();
    if (!t) { showSignin('Paste an admin token first.'); return; }
    signIn(t);
  });
  $('signout').addEventListener('click', () => { setToken(''); showSignin(''); });
  $('refresh').addEventListener('click', () => refresh());

  if (getToken()) startSession();
  else showSignin('');
})();
