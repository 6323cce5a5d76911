/* rung annotator page: the sub-question view.
 *
 * A sub-question task asks about one segment (a step, a code unit, a
 * paragraph, a criterion) of one response. This shows the prompt's response
 * with that segment highlighted, the segments before it in full, the ones
 * after it dimmed, and for every segment the layer's score (doubted ones
 * marked) and any answer already given. Spans are UTF-8 byte offsets, so
 * the text is cut as bytes and decoded piece by piece. Model text is data:
 * it goes into the page as text nodes only. app.js calls render() and
 * summary(); nothing here talks to the server. */
'use strict';

window.rungSubq = (function () {
  const enc = new TextEncoder();
  const dec = new TextDecoder('utf-8', { fatal: false });

  /* The text of bytes [a, b) of the UTF-8 encoded response. */
  function slice(bytes, a, b) {
    return dec.decode(bytes.subarray(Math.max(0, a), Math.min(bytes.length, b)));
  }

  function badge(q) {
    const span = document.createElement('span');
    span.className = 'seg-badge';
    const parts = [];
    if (typeof q.score === 'number' && Number.isFinite(q.score)) {
      parts.push('model ' + q.score.toFixed(2));
      // Scored but not answered by the layer: it was not sure.
      if (q.source !== 'layer') span.classList.add('seg-doubted');
    }
    if (q.answer === 'yes' || q.answer === 'no') {
      parts.push((q.answer === 'yes' ? '✓ ' : '✗ ') + (q.source === 'layer' ? 'model' : 'rater'));
    } else if (q.status === 'closed') {
      parts.push('not asked');
    }
    span.textContent = parts.join(' · ');
    return parts.length ? span : null;
  }

  /* Fills node with the response of side (a, b, or null for a single
   * response), its segments marked, the asked one (id) highlighted. */
  function renderResponse(node, text, subqs, side, id) {
    const bytes = enc.encode(typeof text === 'string' ? text : '');
    const segs = subqs.filter((q) => (q.response || 'a') === (side || 'a') && q.kind !== 'criterion')
      .sort((x, y) => x.span[0] - y.span[0]);
    node.replaceChildren();
    let at = 0;
    let before = true;
    for (const q of segs) {
      if (q.span[0] > at) node.appendChild(document.createTextNode(slice(bytes, at, q.span[0])));
      const s = document.createElement('span');
      const mine = q.id === id;
      s.className = 'seg ' + (mine ? 'seg-current' : before ? 'seg-before' : 'seg-after');
      if (q.answer === 'no') s.classList.add('seg-no');
      s.dataset.subq = String(q.id);
      s.appendChild(document.createTextNode(slice(bytes, q.span[0], q.span[1])));
      const b = badge(q);
      if (b) s.appendChild(b);
      node.appendChild(s);
      if (mine) before = false;
      at = Math.max(at, q.span[1]);
    }
    if (at < bytes.length) node.appendChild(document.createTextNode(slice(bytes, at, bytes.length)));
  }

  /* Renders a sub-question task into the view's elements:
   * {title, text, criterion}. Returns the question to show. */
  function render(view, t) {
    const q = t.subquestion || {};
    const subqs = Array.isArray(t.subquestions) ? t.subquestions : [];
    const pair = Array.isArray(t.responses);
    const side = pair ? q.response : null;
    const text = pair ? t.responses[side === 'b' ? 1 : 0] : t.response;
    view.title.textContent = pair ? 'Response ' + (side === 'b' ? 'B' : 'A') : 'Response';
    renderResponse(view.text, text, subqs, side, q.id);
    const cur = view.text.querySelector('.seg-current');
    if (cur && typeof cur.scrollIntoView === 'function') cur.scrollIntoView({ block: 'nearest' });
    return typeof q.question === 'string' ? q.question : 'Is this part correct?';
  }

  /* One line of the sub-verdicts a whole-item task is shown with, or ''. */
  function summary(t) {
    const r = t && t.rollup;
    if (!r || typeof r !== 'object' || t.kind === 'subquestion') return '';
    const name = { pass: 'passed', fail: 'failed', open: 'undecided' };
    const sides = Array.isArray(t.responses)
      ? 'A ' + (name[r.a] || r.a) + ', B ' + (name[r.b] || r.b)
      : 'the response ' + (name[r.a] || r.a);
    return 'Step by step: ' + sides + '.';
  }

  return { render, summary };
})();
