/**
 * Renders a call tree (see buildCallTree) as one self-contained flame graph page: inline
 * SVG drawn by a small inline script, no CDN, opens from file://.
 *
 * Why not 0x: `0x --visualize-cpu-profile` renders any thread's profile, but its frame
 * categorizer (0x 6.0, visualizer/cmp/graph.js) only recognises frames ending in
 * `.js:<line>` / `.mjs:<line>`. Our TypeScript frames (`.ts`), Node's `node:` frames and
 * native frames all land in its "v8" category, which its default view hides: the graph
 * showed only node_modules code. Recheck when upgrading 0x.
 */
import type { CallTreeNode, FrameCategory } from './cpuprofile.ts';

const CATEGORIES: FrameCategory[] = ['app', 'deps', 'node', 'native', 'vm'];

export interface FlameGraphPage {
  title: string;
  /** One line under the title (thread busy share, samples...). */
  headline: string;
  /** Link back to the run's index, relative to the page. */
  indexHref: string;
}

/** Returns the HTML text of the flame graph page for `tree`. */
export function renderFlameGraphHtml(tree: CallTreeNode, page: FlameGraphPage): string {
  // Compact rows keep the page small: [name, location, category index, self, total, children].
  const pack = (n: CallTreeNode): unknown[] => [n.name, n.location, CATEGORIES.indexOf(n.category), n.self, n.total, n.children.map(pack)];
  // "<" escaped so no function name can close the script element.
  const data = JSON.stringify({ categories: CATEGORIES, tree: pack(tree) }).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(page.title)}</title>
<style>
body { font: 13px/1.4 system-ui, sans-serif; margin: 1em 1.5em; }
h1 { font-size: 1.3em; margin: 0 0 0.2em; }
.bar { display: flex; gap: 1em; align-items: center; flex-wrap: wrap; margin: 0.6em 0; }
#q { width: 24em; padding: 0.2em 0.4em; }
.sw { display: inline-block; width: 0.9em; height: 0.9em; vertical-align: -0.1em; margin: 0 0.25em 0 0.6em; border-radius: 2px; }
#chart svg { display: block; }
#chart g { cursor: pointer; }
#chart g:hover rect { stroke: #000; stroke-width: 0.6; }
#chart text { font: 11px ui-monospace, monospace; pointer-events: none; fill: #111; }
#chart rect.focus { stroke: #000; stroke-width: 1; }
#tip { position: fixed; display: none; background: #fffff0; border: 1px solid #999; padding: 0.4em 0.6em; font-size: 12px; max-width: 40em; pointer-events: none; word-break: break-all; box-shadow: 0 2px 6px rgba(0,0,0,.2); }
.muted { color: #666; }
</style>
</head>
<body>
<h1>${escapeHtml(page.title)}</h1>
<div class="muted">${escapeHtml(page.headline)} &middot; <a href="${escapeHtml(page.indexHref)}">all threads</a></div>
<div class="bar">
<input id="q" placeholder="search: function or file (regex)" autocomplete="off">
<span id="match"></span>
<button id="reset">reset zoom</button>
<span id="legend"></span>
</div>
<div class="muted">Width = share of the thread's busy samples ((idle) left out). Callers above callees. Click a frame to zoom, Esc or "reset zoom" to go back.</div>
<div id="chart"></div>
<div id="tip"></div>
<script>
const DATA = ${data};
(function () {
  const LABEL = { app: 'project code', deps: 'dependencies', node: 'Node.js core', native: 'native (C++)', vm: 'V8: GC, (program)' };
  const HUE = { app: [18, 85], deps: [205, 60], node: [48, 75], native: [0, 0], vm: [275, 45] };
  const ROW = 18;
  const nodes = [];
  function unpack(a, parent) {
    const n = { name: a[0], loc: a[1], cat: DATA.categories[a[2]], self: a[3], total: a[4], parent: parent, kids: [] };
    n.id = nodes.push(n) - 1;
    n.kids = a[5].map(function (c) { return unpack(c, n); });
    return n;
  }
  const root = unpack(DATA.tree, null);
  const TOTAL = root.total || 1;
  let focus = root;
  let re = null;
  const chart = document.getElementById('chart');
  const tip = document.getElementById('tip');
  const q = document.getElementById('q');
  const match = document.getElementById('match');

  function esc(s) { return String(s).replace(/[&<>"]/g, function (c) { return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }[c]; }); }
  function pct(x) { return (x * 100 / TOTAL).toFixed(2) + '%'; }
  function matches(n) { return re !== null && (re.test(n.name) || re.test(n.loc)); }
  function color(n) {
    if (matches(n)) return '#e040fb';
    const hs = HUE[n.cat] || [0, 0];
    let h = 0;
    for (let i = 0; i < n.name.length; i++) h = (h * 31 + n.name.charCodeAt(i)) & 0xffff;
    return 'hsl(' + (hs[0] + (h % 16) - 8) + ',' + hs[1] + '%,' + (58 + (h % 18)) + '%)';
  }
  function fit(s, w) {
    const max = Math.floor((w - 6) / 6.6);
    if (s.length <= max) return s;
    return max > 3 ? s.slice(0, max - 1) + '\\u2026' : '';
  }

  function render() {
    const width = Math.max(chart.clientWidth, 300);
    const parts = [];
    let rows = 0;
    function box(n, x, w, y) {
      rows = Math.max(rows, y + 1);
      const label = fit(n.name, w);
      parts.push('<g data-id="' + n.id + '" transform="translate(' + x.toFixed(2) + ',' + y * ROW + ')">' +
        '<rect width="' + Math.max(w - 0.8, 0.4).toFixed(2) + '" height="' + (ROW - 1) + '" fill="' + color(n) + '"' + (n === focus && n !== root ? ' class="focus"' : '') + '></rect>' +
        (label ? '<text x="3" y="' + (ROW - 5) + '">' + esc(label) + '</text>' : '') + '</g>');
    }
    // The zoomed frame and its callers span the full width; its callees share it by weight.
    const chain = [];
    for (let n = focus; n; n = n.parent) chain.unshift(n);
    chain.forEach(function (n, i) { box(n, 0, width, i); });
    const scale = width / (focus.total || 1);
    (function walk(n, x, y) {
      for (let i = 0; i < n.kids.length; i++) {
        const c = n.kids[i];
        const w = c.total * scale;
        if (w < 0.3) break; // children are sorted heaviest first: the rest are narrower
        box(c, x, w, y);
        walk(c, x, y + 1);
        x += w;
      }
    })(focus, 0, chain.length);
    chart.innerHTML = '<svg xmlns="http://www.w3.org/2000/svg" width="' + width + '" height="' + rows * ROW + '">' + parts.join('') + '</svg>';
  }

  function updateMatch() {
    if (re === null) { match.textContent = ''; return; }
    let sum = 0;
    (function walk(n) {
      if (n !== root && matches(n)) { sum += n.total; return; } // nested matches are already inside this one
      n.kids.forEach(walk);
    })(root);
    match.textContent = 'matched: ' + pct(sum) + ' of busy samples';
  }

  document.getElementById('legend').innerHTML = DATA.categories.map(function (c) {
    const hs = HUE[c];
    return '<span class="sw" style="background:hsl(' + hs[0] + ',' + hs[1] + '%,65%)"></span>' + esc(LABEL[c]);
  }).join('');
  chart.addEventListener('click', function (e) {
    const g = e.target.closest('g[data-id]');
    if (!g) return;
    focus = nodes[Number(g.getAttribute('data-id'))];
    render();
  });
  chart.addEventListener('mousemove', function (e) {
    const g = e.target.closest('g[data-id]');
    if (!g) { tip.style.display = 'none'; return; }
    const n = nodes[Number(g.getAttribute('data-id'))];
    tip.innerHTML = '<b>' + esc(n.name) + '</b><br>' + esc(n.loc || '(native)') + '<br>' + esc(LABEL[n.cat]) +
      '<br>total ' + pct(n.total) + ' (' + n.total + ' samples)<br>self ' + pct(n.self) + ' (' + n.self + ' samples)';
    tip.style.display = 'block';
    tip.style.left = Math.max(0, Math.min(e.clientX + 14, window.innerWidth - tip.offsetWidth - 8)) + 'px';
    tip.style.top = (e.clientY + 16) + 'px';
  });
  chart.addEventListener('mouseleave', function () { tip.style.display = 'none'; });
  q.addEventListener('input', function () {
    try { re = q.value ? new RegExp(q.value, 'i') : null; } catch (err) { re = null; }
    updateMatch();
    render();
  });
  document.getElementById('reset').addEventListener('click', function () { focus = root; render(); });
  window.addEventListener('keydown', function (e) { if (e.key === 'Escape') { focus = root; render(); } });
  window.addEventListener('resize', render);
  render();
})();
</script>
</body>
</html>
`;
}

function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
