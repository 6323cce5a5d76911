/* rung annotator page: the checkers' findings beside each response.
 *
 * A task's "checks" (see the README, Checkers in review) say what the
 * checkers found in each response: its final answer, how many of the
 * prompt's other samples share it (answer clusters with counts), each
 * equation recomputed (verified or wrong, at its span), numbers from
 * nowhere, repetition, truncation, refusals. Each finding is one list item
 * under its response: a mark, the checker, the sentence, and the span's
 * text quoted. Spans are UTF-8 byte offsets into the response, cut as
 * bytes and decoded. Model text and findings are data: they go into the
 * page as text nodes only. app.js calls render(); nothing here talks to
 * the server. */
'use strict';

window.rungChecks = (function () {
  const enc = new TextEncoder();
  const dec = new TextDecoder('utf-8', { fatal: false });
  const MARK = { pass: '✓', fail: '✗', info: '•' };
  const QUOTE_MAX = 80; // characters of a span quoted

  function quote(bytes, span) {
    if (!Array.isArray(span) || span.length !== 2) return '';
    const a = Math.max(0, Number(span[0]) || 0);
    const b = Math.min(bytes.length, Number(span[1]) || 0);
    if (b <= a) return '';
    const s = dec.decode(bytes.subarray(a, b));
    return s.length > QUOTE_MAX ? s.slice(0, QUOTE_MAX - 1) + '…' : s;
  }

  function item(c, bytes) {
    const li = document.createElement('li');
    const verdict = Object.prototype.hasOwnProperty.call(MARK, c.verdict) ? c.verdict : 'info';
    li.className = 'check check-' + verdict;
    const mark = document.createElement('span');
    mark.className = 'check-mark';
    mark.textContent = MARK[verdict];
    mark.title = verdict;
    const who = document.createElement('span');
    who.className = 'check-name';
    who.textContent = String(c.checker || '');
    const what = document.createElement('span');
    what.className = 'check-finding';
    what.textContent = String(c.finding || '');
    li.append(mark, who, what);
    const q = quote(bytes, c.span);
    if (q) {
      const at = document.createElement('q');
      at.className = 'check-span';
      at.textContent = q;
      li.appendChild(at);
    }
    return li;
  }

  /* Marks each equation the arithmetic checker verified or found wrong in
   * the rendered response (node, from text): the span's text is looked
   * for in the text nodes, in order, and wrapped in a <mark> whose title
   * is the finding. Model text stays in text nodes; nothing is parsed. */
  function markSpans(node, mine, bytes) {
    const eqs = mine.filter((c) => c.checker === 'arithmetic' && Array.isArray(c.span) &&
      (c.verdict === 'pass' || c.verdict === 'fail'))
      .sort((x, y) => x.span[0] - y.span[0] || y.span[1] - x.span[1]);
    let at = 0; // spans nest (an annotation inside its equation): mark the outer one
    const walker = document.createTreeWalker(node, NodeFilter.SHOW_TEXT);
    let t = walker.nextNode();
    let from = 0;
    for (const c of eqs) {
      if (c.span[0] < at) continue;
      at = c.span[1];
      const want = dec.decode(bytes.subarray(c.span[0], c.span[1]));
      while (t && t.data.indexOf(want, from) < 0) { t = walker.nextNode(); from = 0; }
      if (!t || !want) break;
      const i = t.data.indexOf(want, from);
      const range = document.createRange();
      range.setStart(t, i);
      range.setEnd(t, i + want.length);
      const m = document.createElement('mark');
      m.className = 'eq eq-' + c.verdict;
      m.title = String(c.finding || '');
      range.surroundContents(m);
      t = walker.nextNode(); // the text after the mark
      from = 0;
      if (t && m.contains(t)) t = walker.nextNode();
    }
  }

  /* Fills list (a <ul>) with the findings of checks on the response shown
   * at index with text, and marks its equations in node (the rendered
   * response); hides the list when there are none. */
  function render(list, checks, index, text, node) {
    list.replaceChildren();
    const bytes = enc.encode(typeof text === 'string' ? text : '');
    const mine = (Array.isArray(checks) ? checks : [])
      .filter((c) => c && typeof c === 'object' && c.response === index);
    // Failures first: they matter most to a rater.
    mine.sort((x, y) => (y.verdict === 'fail') - (x.verdict === 'fail'));
    for (const c of mine) list.appendChild(item(c, bytes));
    list.hidden = mine.length === 0;
    if (node) markSpans(node, mine, bytes);
  }

  return { render };
}());
