/* rung annotator page.
 *
 * Model text is data: everything that comes from the API is put into the page
 * with textContent (or as a text node), never parsed as HTML. The token lives
 * in sessionStorage only and goes out in the Authorization header. */
'use strict';

(function () {
  const TOKEN_KEY = 'rung.token';
  const WAIT_SECONDS = 20;
  const RATIONALE_MAX_BYTES = 4096;

  const $ = (id) => document.getElementById(id);
  const el = {
    sessionInfo: $('session-info'),
    progress: $('progress'),
    lease: $('lease'),
    signout: $('signout'),
    signinView: $('signin-view'),
    signinForm: $('signin-form'),
    token: $('token'),
    signinMsg: $('signin-msg'),
    signinBtn: $('signin-btn'),
    workView: $('work-view'),
    notice: $('notice'),
    loading: $('loading'),
    empty: $('empty'),
    task: $('task'),
    taskKind: $('task-kind'),
    taskId: $('task-id'),
    prompt: $('prompt'),
    pair: $('pair-responses'),
    respA: $('resp-a'),
    respB: $('resp-b'),
    single: $('single-response'),
    respSingle: $('resp-single'),
    checksA: $('checks-a'),
    checksB: $('checks-b'),
    checksSingle: $('checks-single'),
    subq: { box: $('subq-response'), title: $('subq-label'), text: $('subq-text') },
    assist: $('assist'),
    question: $('question'),
    answers: $('answers'),
    confClear: $('conf-clear'),
    rationale: $('rationale'),
    rationaleCount: $('rationale-count'),
    keysHint: $('keys-hint'),
    skip: $('skip'),
    changing: $('changing'),
    guidelines: $('guidelines'),
    guidelinesText: $('guidelines-text'),
  };

  const ANSWERS = {
    pair: [
      { key: '1', answer: 'a', label: 'A is better' },
      { key: '2', answer: 'b', label: 'B is better' },
      { key: '3', answer: 'tie', label: 'Tie' },
    ],
    single: [
      { key: '1', answer: 'good', label: 'Good' },
      { key: '2', answer: 'bad', label: 'Bad' },
    ],
    subquestion: [
      { key: 'y', answer: 'yes', label: 'Yes, correct' },
      { key: 'n', answer: 'no', label: 'No, wrong' },
      { key: 'u', answer: 'unsure', label: 'Unsure' },
    ],
  };

  const state = {
    task: null,          // the task on screen
    shownAt: 0,          // performance.now() when it was shown
    leaseDeadline: 0,    // Date.now() value when the lease ends
    leaseTimer: 0,
    busy: false,         // a label/skip request is in flight
    generation: 0,       // bumps on sign-out so stale responses are ignored
    abort: null,         // AbortController of the pending fetch of the next task
    remaining: null,
    progress: null,      // {today, total} from the server
    last: null,          // the last label: {id, until} while it may be changed
  };

  /* ---------- storage ---------- */

  function getToken() {
    try { return sessionStorage.getItem(TOKEN_KEY) || ''; } catch (e) { return ''; }
  }
  function setToken(t) { sessionStorage.setItem(TOKEN_KEY, t); }

  /* ---------- HTTP ---------- */

  class AuthError extends Error {}

  async function api(method, path, body, signal) {
    const headers = { 'Authorization': 'Bearer ' + getToken(), 'Accept': 'application/json' };
    const init = { method, headers, signal, cache: 'no-store', credentials: 'omit', redirect: 'error' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const res = await fetch(path, init);
    let data = null;
    if (res.status !== 204) {
      const text = await res.text();
      if (text) {
        try { data = JSON.parse(text); } catch (e) { data = null; }
      }
    }
    return { status: res.status, data };
  }

  function errorCode(data) {
    return data && data.error && typeof data.error.code === 'string' ? data.error.code : '';
  }
  function errorMessage(data, fallback) {
    return data && data.error && typeof data.error.message === 'string' && data.error.message
      ? data.error.message : fallback;
  }

  /* ---------- views and messages ---------- */

  function show(node, on) { node.hidden = !on; }

  let noticeTimer = 0;
  /* Shows a notice; action {label, run, ms} adds a link that runs run and
   * keeps the notice up for ms (else confirmations fade after 4 s;
   * warnings and errors stay). */
  function notify(text, kind, action) {
    clearTimeout(noticeTimer);
    const ms = action && action.ms > 0 ? action.ms : 4000;
    if (text && kind === 'ok') noticeTimer = setTimeout(() => notify(''), ms);
    el.notice.textContent = text || '';
    if (text && action && action.label) {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'notice-link';
      b.id = 'notice-action';
      b.textContent = action.label;
      b.addEventListener('click', action.run);
      el.notice.appendChild(b);
    }
    el.notice.className = 'notice' + (kind ? ' notice-' + kind : '');
    show(el.notice, !!text);
  }

  function showSignIn(message) {
    state.generation++;
    if (state.abort) state.abort.abort();
    stopLease();
    state.task = null;
    show(el.workView, false);
    show(el.sessionInfo, false);
    show(el.signinView, true);
    el.signinMsg.textContent = message || '';
    show(el.signinMsg, !!message);
    el.signinBtn.disabled = false;
    el.token.value = '';
    el.token.focus();
  }

  function showWork() {
    show(el.signinView, false);
    show(el.workView, true);
    show(el.sessionInfo, true);
    updateProgress();
  }

  function showState(which) { // 'loading' | 'empty' | 'task'
    show(el.loading, which === 'loading');
    show(el.empty, which === 'empty');
    show(el.task, which === 'task');
    if (which !== 'task') {
      stopLease();
      state.task = null;
    }
  }

  function setProgress(p) {
    if (p && typeof p.today === 'number' && typeof p.total === 'number') state.progress = p;
  }

  /* The counts come from the server (labels today, in total). */
  function updateProgress() {
    const p = state.progress;
    let text = 'Labelled today: ' + (p ? p.today : '…');
    if (p) text += ' · total: ' + p.total;
    if (state.remaining !== null) text += ' · Tasks left: ' + state.remaining;
    el.progress.textContent = text;
  }

  async function loadProgress() {
    const gen = state.generation;
    try {
      const r = await api('GET', '/v1/me');
      if (gen !== state.generation || r.status !== 200 || !r.data) return;
      setProgress(r.data.progress);
      updateProgress();
    } catch (e) { /* the next task or label brings the counts */ }
  }

  /* ---------- model text ---------- */

  /* Splits text on ``` fences: even parts are prose, odd parts code. An
   * opening fence may carry a language word on its line. An unclosed fence
   * runs to the end, as in Markdown. */
  function splitFences(text) {
    const parts = String(text).split('```');
    const out = [];
    for (let i = 0; i < parts.length; i++) {
      let s = parts[i];
      if (i % 2 === 1) {
        let lang = '';
        const m = /^([A-Za-z0-9_+#.-]*)[ \t]*\r?\n/.exec(s);
        if (m) { lang = m[1]; s = s.slice(m[0].length); }
        s = s.replace(/\r?\n$/, '');
        out.push({ code: true, text: s, lang });
      } else {
        // Blank lines next to a code block: the block's margin stands for them.
        if (i > 0) s = s.replace(/^(?:[ \t]*\r?\n)+/, '');
        if (i < parts.length - 1) s = s.replace(/(?:\r?\n[ \t]*)+$/, '');
        if (s !== '') out.push({ code: false, text: s });
      }
    }
    return out;
  }

  /* Splits an HH-style dialogue ("\n\nHuman: …\n\nAssistant: …") into
   * turns; null when the text is not one (it must start with a turn). */
  function splitTurns(text) {
    const re = /(?:^|\n\n)(Human|Assistant):[ \t]?/g;
    const marks = [];
    let m;
    while ((m = re.exec(text)) !== null) marks.push({ speaker: m[1], at: m.index, body: re.lastIndex });
    if (!marks.length || text.slice(0, marks[0].at).trim() !== '') return null;
    return marks.map((k, i) => ({
      speaker: k.speaker,
      text: text.slice(k.body, i + 1 < marks.length ? marks[i + 1].at : text.length).trim(),
    }));
  }

  /* Appends prose and fenced code as text nodes: never parsed as markup. */
  function appendParts(node, text) {
    for (const part of splitFences(text)) {
      if (part.code) {
        const pre = document.createElement('pre');
        pre.className = 'code';
        if (part.lang) {
          const tag = document.createElement('span');
          tag.className = 'code-lang';
          tag.textContent = part.lang;
          pre.appendChild(tag);
        }
        const code = document.createElement('code');
        code.textContent = part.text;
        pre.appendChild(code);
        node.appendChild(pre);
      } else {
        const div = document.createElement('div');
        div.className = 'prose';
        div.textContent = part.text;
        node.appendChild(div);
      }
    }
  }

  function renderModelText(node, text) {
    node.replaceChildren();
    node.scrollTop = 0;
    if (typeof text !== 'string' || text === '') {
      const p = document.createElement('p');
      p.className = 'muted empty-text';
      p.textContent = '(empty)';
      node.appendChild(p);
      return;
    }
    const turns = splitTurns(text);
    if (!turns) { appendParts(node, text); return; }
    for (const t of turns) {
      const div = document.createElement('div');
      div.className = 'turn turn-' + t.speaker.toLowerCase();
      const who = document.createElement('span');
      who.className = 'turn-speaker';
      who.textContent = t.speaker;
      div.appendChild(who);
      appendParts(div, t.text);
      node.appendChild(div);
    }
  }

  /* ---------- the task ---------- */

  /* The layer's view in calibrated terms: how often it was right at this
   * confidence on held-out data. The server sends none when the layer was
   * no better than a coin there, and then nothing is said. */
  function assistanceText(kind, a) {
    if (!a || typeof a !== 'object' || typeof a.preference !== 'string') return '';
    if (typeof a.right_share !== 'number' || typeof a.right_n !== 'number') return '';
    const names = { a: 'A', b: 'B', good: 'good', bad: 'bad', tie: 'a tie' };
    const name = names[a.preference] || a.preference;
    const pct = Math.round(a.right_share * 100);
    return (kind === 'pair' ? 'The model prefers ' + name : 'The model rates this ' + name) +
      '. At this confidence the layer was right ' + pct + '% of the time (n=' + a.right_n + ').';
  }

  function answerLabel(kind, answer) {
    const opt = (ANSWERS[kind] || []).find((o) => o.answer === answer);
    return opt ? opt.label : String(answer);
  }

  function buildAnswers(kind) {
    el.answers.replaceChildren();
    for (const opt of ANSWERS[kind]) {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'btn btn-answer answer-' + opt.answer;
      b.dataset.answer = opt.answer;
      const label = document.createElement('span');
      label.className = 'answer-label';
      label.textContent = opt.label;
      const k = document.createElement('kbd');
      k.textContent = opt.key;
      b.append(label, k);
      b.addEventListener('click', () => submitLabel(opt.answer));
      el.answers.appendChild(b);
    }
    el.answers.className = 'answers answers-' + kind;
    const keys = ANSWERS[kind].map((o) => o.key + ' ' + o.label).join(' · ');
    const undo = kind === 'subquestion' ? 'Backspace' : 'U';
    el.keysHint.textContent = 'Keys: ' + keys + ' · S skip · ' + undo + ' undo the last answer';
  }

  function resetInputs() {
    for (const r of document.querySelectorAll('input[name="confidence"]')) r.checked = false;
    el.rationale.value = '';
    updateRationaleCount();
  }

  /* A sub-question task: one response, the asked segment highlighted. */
  function renderSubq(t) {
    el.taskKind.textContent = 'Check one step';
    el.question.textContent = window.rungSubq.render(el.subq, t);
  }

  /* Shows a task; a task brought back to change its answer carries the
   * rater's label (t.label) and says so. */
  function renderTask(t) {
    const kind = Object.prototype.hasOwnProperty.call(ANSWERS, t.kind) ? t.kind : 'pair';
    const label = t.label && typeof t.label.answer === 'string' ? t.label : null;
    state.task = { id: t.id, kind, assistance: t.assistance || null, changing: !!label };
    el.changing.textContent = label
      ? 'Changing your answer (it was: ' + answerLabel(kind, label.answer) + '). Pick again.' : '';
    show(el.changing, !!label);
    const g = typeof t.guidelines === 'string' ? t.guidelines : '';
    el.guidelinesText.textContent = g;
    show(el.guidelines, g !== '');
    el.taskKind.textContent = kind === 'pair' ? 'Compare two responses' : 'Judge one response';
    el.taskId.textContent = 'Task ' + String(t.id);
    renderModelText(el.prompt, t.prompt);
    if (kind === 'pair') {
      const rs = Array.isArray(t.responses) ? t.responses : [];
      renderModelText(el.respA, rs[0]);
      renderModelText(el.respB, rs[1]);
      window.rungChecks.render(el.checksA, t.checks, 0, rs[0], el.respA);
      window.rungChecks.render(el.checksB, t.checks, 1, rs[1], el.respB);
      el.question.textContent = 'Which response is better?';
    } else if (kind === 'single') {
      renderModelText(el.respSingle, t.response);
      window.rungChecks.render(el.checksSingle, t.checks, 0, t.response, el.respSingle);
      el.question.textContent = 'Is this response good?';
    }
    if (t.kind === 'subquestion') renderSubq(t);
    show(el.pair, kind === 'pair');
    show(el.single, kind === 'single');
    show(el.subq.box, kind === 'subquestion');
    el.respA.closest('section').classList.remove('preferred');
    el.respB.closest('section').classList.remove('preferred');
    const at = kind === 'subquestion' ? '' : assistanceText(kind, t.assistance);
    el.assist.textContent = [at, window.rungSubq.summary(t)].filter(Boolean).join(' · ');
    show(el.assist, !!el.assist.textContent);
    buildAnswers(kind);
    resetInputs();
    if (typeof t.remaining === 'number') state.remaining = t.remaining;
    setProgress(t.progress);
    updateProgress();
    showState('task');
    state.shownAt = performance.now();
    startLease(t);
    window.scrollTo(0, 0);
    // Keep focus off any input so the keys work at once.
    if (document.activeElement && document.activeElement !== document.body) document.activeElement.blur();
  }

  /* ---------- the lease countdown ---------- */

  function startLease(t) {
    stopLease();
    const now = Date.now();
    const secs = typeof t.lease_seconds === 'number' ? t.lease_seconds : 0;
    let deadline = typeof t.lease_expires_ms === 'number' ? t.lease_expires_ms : 0;
    // Trust the server's deadline unless this browser's clock is clearly
    // off from it; then count lease_seconds from now.
    if (secs > 0 && (!deadline || deadline - now > secs * 1000 + 60000 || deadline < now - 60000)) {
      deadline = now + secs * 1000;
    }
    if (!deadline) { show(el.lease, false); return; }
    state.leaseDeadline = deadline;
    tickLease();
    state.leaseTimer = setInterval(tickLease, 1000);
    show(el.lease, true);
  }

  function stopLease() {
    if (state.leaseTimer) clearInterval(state.leaseTimer);
    state.leaseTimer = 0;
    state.leaseDeadline = 0;
    show(el.lease, false);
  }

  function tickLease() {
    const left = Math.max(0, Math.round((state.leaseDeadline - Date.now()) / 1000));
    const mm = String(Math.floor(left / 60)).padStart(2, '0');
    const ss = String(left % 60).padStart(2, '0');
    el.lease.textContent = left > 0 ? 'Time left ' + mm + ':' + ss : 'Time is up 00:00';
    el.lease.classList.toggle('lease-low', left <= 60);
    if (left === 0 && state.leaseTimer) {
      clearInterval(state.leaseTimer);
      state.leaseTimer = 0;
      notify('Your hold on this task has run out. You can still answer, but if someone else took it the answer will not be saved.', 'warn');
    }
  }

  /* ---------- fetching ---------- */

  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  /* Fetches the next task; while the queue is empty, keeps asking with
   * ?wait=20 so the server holds the request until something arrives. */
  async function loadNext(opts) {
    const gen = state.generation;
    if (state.abort) state.abort.abort();
    const ctl = new AbortController();
    state.abort = ctl;
    let wait = 0;
    let failures = 0;
    if (!(opts && opts.keepScreen)) showState('loading');
    for (;;) {
      if (gen !== state.generation || ctl.signal.aborted) return;
      const started = Date.now();
      let r;
      try {
        r = await api('GET', '/v1/tasks/next' + (wait ? '?wait=' + wait : ''), undefined, ctl.signal);
      } catch (e) {
        if (ctl.signal.aborted || gen !== state.generation) return;
        failures++;
        notify('Cannot reach the server. Retrying…', 'error');
        await sleep(Math.min(30000, 1000 * 2 ** Math.min(failures, 5)));
        continue;
      }
      if (gen !== state.generation) return;
      if (failures) { failures = 0; notify(''); }
      if (r.status === 200 && r.data && r.data.id !== undefined) {
        renderTask(r.data);
        return;
      }
      if (r.status === 204) {
        state.remaining = 0;
        // Labels given elsewhere (another tab, the API) count too.
        if (!wait) loadProgress();
        updateProgress();
        showState('empty');
        // A server that answers at once in spite of ?wait must not be
        // hammered.
        if (wait && Date.now() - started < 1000) await sleep(5000);
        wait = WAIT_SECONDS;
        continue;
      }
      if (r.status === 401) {
        signOut('That token was not accepted (unknown or revoked). Check it and sign in again.');
        return;
      }
      if (r.status === 403) {
        signOut('This token may not review tasks: it needs a rater key. ' + errorMessage(r.data, ''));
        return;
      }
      failures++;
      notify('The server could not hand out a task (' + r.status + '): ' +
        errorMessage(r.data, 'unexpected reply') + ' Retrying…', 'error');
      await sleep(Math.min(30000, 1000 * 2 ** Math.min(failures, 5)));
    }
  }

  /* ---------- answering ---------- */

  function utf8Bytes(s) { return new TextEncoder().encode(s).length; }

  function updateRationaleCount() {
    const n = utf8Bytes(el.rationale.value);
    el.rationaleCount.textContent = String(n);
    el.rationaleCount.parentElement.classList.toggle('over', n > RATIONALE_MAX_BYTES);
  }

  function selectedConfidence() {
    const r = document.querySelector('input[name="confidence"]:checked');
    return r ? parseInt(r.value, 10) : null;
  }

  function setBusy(on) {
    state.busy = on;
    for (const b of el.answers.querySelectorAll('button')) b.disabled = on;
    el.skip.disabled = on;
  }

  function markChosen(answer) {
    for (const b of el.answers.querySelectorAll('button')) {
      b.classList.toggle('chosen', b.dataset.answer === answer);
    }
  }

  async function submitLabel(answer) {
    const task = state.task;
    if (!task || state.busy) return;
    if (!ANSWERS[task.kind].some((o) => o.answer === answer)) return;
    const rationale = el.rationale.value.trim();
    if (utf8Bytes(rationale) > RATIONALE_MAX_BYTES) {
      notify('The rationale is longer than 4 KB; please shorten it.', 'error');
      return;
    }
    const body = { answer };
    const conf = selectedConfidence();
    if (conf) body.confidence = conf;
    if (rationale) body.rationale = rationale;
    body.seconds = Math.round((performance.now() - state.shownAt) / 100) / 10;
    const gen = state.generation;
    markChosen(answer);
    setBusy(true);
    let r;
    try {
      r = await api('POST', '/v1/tasks/' + encodeURIComponent(task.id) + '/labels', body);
    } catch (e) {
      if (gen !== state.generation) return;
      setBusy(false);
      markChosen('');
      notify('Cannot reach the server; your answer was not saved. Try again.', 'error');
      return;
    }
    if (gen !== state.generation) return;
    setBusy(false);
    if (r.status === 200 || r.status === 201) {
      saved(task, r.data || {});
      loadNext();
      return;
    }
    if (r.status === 401) {
      signOut('That token is no longer accepted. Sign in again.');
      return;
    }
    if (r.status === 409) {
      const code = errorCode(r.data);
      const msg = {
        lease_lost: 'Your hold on that task ran out (the lease was lost), so the answer was not saved. Moving on to the next task.',
        task_complete: 'That task already has all the labels it needs, so the answer was not saved. Moving on to the next task.',
        label_conflict: task.changing
          ? 'The time to change that answer had passed, so your first answer stands. Moving on to the next task.'
          : 'You had already labelled that task with a different answer, so this one was not saved (the first answer stands). Moving on to the next task.',
      }[code] || ('That answer was not saved: ' + errorMessage(r.data, 'conflict') + ' Moving on to the next task.');
      notify(msg, 'warn');
      loadNext();
      return;
    }
    markChosen('');
    notify('The answer was not saved (' + r.status + '): ' + errorMessage(r.data, 'unexpected reply'), 'error');
  }

  /* After a label: the server's counts, the assistance revealed after
   * answering (mode after), and undo while the grace period lasts. */
  function saved(task, d) {
    setProgress(d.progress);
    if (!task.changing && d.status === 'recorded' && typeof state.remaining === 'number' &&
        state.remaining > 0) state.remaining--;
    updateProgress();
    let text = d.replaced ? 'Changed: your answer is now ' + answerLabel(task.kind, d.answer) + '.'
      : 'Saved.';
    const after = assistanceText(task.kind, d.assistance);
    if (after) text += ' ' + after.replace(/^The model prefers/, 'The model preferred')
      .replace(/^The model rates/, 'The model rated');
    const until = typeof d.undo_until_ms === 'number' ? d.undo_until_ms : 0;
    state.last = until > Date.now() ? { id: task.id, until } : null;
    // Long enough to read the revealed assistance, or to reach the link.
    const ms = Math.max(after ? 10000 : 4000, state.last ? Math.min(until - Date.now(), 10000) : 0);
    notify(text, 'ok', { label: state.last ? 'Undo (U or Backspace)' : '', run: undoLast, ms });
  }

  /* Brings the last labelled task back so its answer can change (within
   * the grace period the server allows). */
  async function undoLast() {
    const last = state.last;
    if (!last || state.busy) return;
    if (Date.now() >= last.until) {
      state.last = null;
      notify('Too late to change that answer: the time to undo has passed.', 'warn');
      return;
    }
    const gen = state.generation;
    if (state.abort) state.abort.abort();
    setBusy(true);
    let r;
    try {
      r = await api('GET', '/v1/tasks/' + encodeURIComponent(last.id));
    } catch (e) {
      if (gen !== state.generation) return;
      setBusy(false);
      notify('Cannot reach the server to bring that task back. Try again.', 'error');
      return;
    }
    if (gen !== state.generation) return;
    setBusy(false);
    if (r.status === 200 && r.data && r.data.id !== undefined) {
      state.last = null;
      notify('');
      renderTask(r.data);
      return;
    }
    notify('That task cannot be brought back (' + r.status + '): ' + errorMessage(r.data, 'unexpected reply'), 'error');
    loadNext();
  }

  async function skipTask() {
    const task = state.task;
    if (!task || state.busy) return;
    const gen = state.generation;
    setBusy(true);
    try {
      const r = await api('POST', '/v1/tasks/' + encodeURIComponent(task.id) + '/release');
      if (gen !== state.generation) return;
      if (r.status === 401) { setBusy(false); signOut('That token is no longer accepted. Sign in again.'); return; }
      notify(r.status === 200 ? 'Skipped.' : '', 'ok');
    } catch (e) {
      if (gen !== state.generation) return;
    }
    setBusy(false);
    loadNext();
  }

  /* ---------- sign-in / sign-out ---------- */

  function signOut(message) {
    const task = state.task;
    const token = getToken();
    if (task && token && !message) {
      // Hand the task back so nobody waits for the lease to run out.
      fetch('/v1/tasks/' + encodeURIComponent(task.id) + '/release', {
        method: 'POST', headers: { 'Authorization': 'Bearer ' + token }, keepalive: true,
        credentials: 'omit', cache: 'no-store',
      }).catch(() => {});
    }
    try { sessionStorage.clear(); } catch (e) { /* nothing to clear */ }
    state.remaining = null;
    state.progress = null;
    state.last = null;
    notify('');
    showSignIn(message);
  }

  function start() {
    showWork();
    notify('');
    loadProgress();
    loadNext();
  }

  el.signinForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const t = el.token.value.trim();
    if (!t) {
      el.signinMsg.textContent = 'Enter your token.';
      show(el.signinMsg, true);
      return;
    }
    setToken(t);
    el.token.value = '';
    start();
  });

  el.signout.addEventListener('click', () => signOut(''));
  el.skip.addEventListener('click', skipTask);
  el.confClear.addEventListener('click', () => {
    for (const r of document.querySelectorAll('input[name="confidence"]')) r.checked = false;
  });
  el.rationale.addEventListener('input', updateRationaleCount);

  /* ---------- keys ---------- */

  function typingIn(t) {
    if (!t || !(t instanceof Element)) return false;
    if (t.isContentEditable) return true;
    const tag = t.tagName;
    if (tag === 'TEXTAREA' || tag === 'SELECT') return true;
    if (tag === 'INPUT') {
      const type = (t.getAttribute('type') || 'text').toLowerCase();
      return !['radio', 'checkbox', 'button', 'submit', 'reset', 'range', 'color'].includes(type);
    }
    return false;
  }

  document.addEventListener('keydown', (e) => {
    if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey) return;
    if (typingIn(e.target)) {
      if (e.key === 'Escape' && e.target === el.rationale) el.rationale.blur();
      return;
    }
    if (el.workView.hidden) return;
    // Undo: Backspace, or U outside sub-question tasks (where U is "unsure").
    const undoKey = e.key === 'Backspace' ||
      ((e.key === 'u' || e.key === 'U') && !(state.task && state.task.kind === 'subquestion'));
    if (undoKey && state.last) {
      e.preventDefault();
      if (!e.repeat) undoLast();
      return;
    }
    if (!state.task || el.task.hidden) return;
    if (e.repeat) { if (/^[123ynusS]$/.test(e.key)) e.preventDefault(); return; }
    const opt = ANSWERS[state.task.kind].find((o) => o.key === e.key);
    if (opt) {
      e.preventDefault();
      submitLabel(opt.answer);
      return;
    }
    if (e.key === 's' || e.key === 'S') {
      e.preventDefault();
      skipTask();
    }
  });

  /* ---------- boot ---------- */

  if (getToken()) start();
  else showSignIn('');
})();
