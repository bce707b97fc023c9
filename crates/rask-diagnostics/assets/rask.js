// Rask's report and dashboard: one script, inlined in every page. No
// dependencies and no network: the report passes its data in a JSON block,
// the dashboard fetches /api/* from the server that served the page.
(function () {
  'use strict';
  const Rask = {};

  // ---------- formatting ----------
  function fmtTime(ns) {
    if (ns == null || ns < 0) return '-';
    if (ns < 1e3) return ns.toFixed(0) + ' ns';
    if (ns < 1e6) return (ns / 1e3).toFixed(ns < 1e4 ? 2 : 1) + ' µs';
    if (ns < 1e9) return (ns / 1e6).toFixed(ns < 1e7 ? 2 : 1) + ' ms';
    return (ns / 1e9).toFixed(ns < 1e10 ? 3 : 1) + ' s';
  }
  function fmtSecs(s) { return fmtTime(s * 1e9); }
  function fmtBytes(b) {
    if (b == null || b < 0) return '-';
    const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (b >= 1024 && i < u.length - 1) { b /= 1024; i++; }
    return (i ? b.toFixed(1) : b.toFixed(0)) + ' ' + u[i];
  }
  function fmtInt(n) { return (n == null ? 0 : n).toLocaleString('en-US'); }
  function esc(s) {
    return String(s).replace(/[&<>"']/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
  }
  // The same colour per name as the Rust side (graph::group_colour): FNV-1a over UTF-8.
  const colourCache = new Map();
  const enc = new TextEncoder();
  function colour(name) {
    let c = colourCache.get(name);
    if (c) return c;
    let h = 2166136261 >>> 0;
    for (const b of enc.encode(name)) { h = Math.imul((h ^ b) >>> 0, 16777619) >>> 0; }
    c = 'hsl(' + (h % 360) + ', 55%, 65%)';
    colourCache.set(name, c);
    return c;
  }
  function keyText(name, flags, index) {
    const k = flags & 3;
    return k === 1 ? name + '[' + index + ']' : k === 2 ? name + '#' + index : name;
  }
  function workerName(id, workers) {
    const w = (workers || []).find(w => w.id === id);
    if (w) return w.name;
    return id === 4294967295 ? 'client' : 'worker-' + id;
  }
  Rask.fmtTime = fmtTime; Rask.fmtBytes = fmtBytes; Rask.colour = colour; Rask.keyText = keyText; Rask.esc = esc;

  // ---------- the task stream (canvas, zoomable) ----------
  // Records are kept column by column; lanes are (worker, thread) pairs.
  class TaskStream {
    constructor(el, opts) {
      this.el = el;
      this.opts = opts || {};
      this.canvas = document.createElement('canvas');
      this.tip = document.createElement('div');
      this.tip.className = 'tip';
      el.appendChild(this.canvas);
      el.appendChild(this.tip);
      this.cols = { start: [], dur: [], prefix: [], index: [], flags: [], worker: [], thread: [], attempt: [], nbytes: [] };
      this.names = [];
      this.workers = [];
      this.lanes = new Map(); // "w:t" -> row
      this.laneList = [];
      this.view = null; // [t0, t1] in ns, null: fit
      this.follow = !!this.opts.follow;
      this.max = this.opts.max || 0;
      this.laneH = 18;
      this.left = 110;
      this.drawn = 0;
      this._bind();
    }
    setNames(names) { this.names = names; }
    setWorkers(ws) { this.workers = ws || []; }
    append(c) {
      const d = this.cols;
      for (const k of Object.keys(d)) { const src = c[k] || []; for (let i = 0; i < src.length; i++) d[k].push(src[i]); }
      if (this.max && d.start.length > this.max) {
        const cut = d.start.length - this.max;
        for (const k of Object.keys(d)) d[k].splice(0, cut);
      }
      this._lanes();
      this.draw();
    }
    _lanes() {
      const d = this.cols, seen = new Map();
      for (let i = 0; i < d.start.length; i++) {
        const k = d.worker[i] + ':' + d.thread[i];
        if (!seen.has(k)) seen.set(k, [d.worker[i], d.thread[i]]);
      }
      const list = [...seen.values()].sort((a, b) => (a[0] - b[0]) || (a[1] - b[1]));
      this.laneList = list;
      this.lanes = new Map(list.map((l, i) => [l[0] + ':' + l[1], i]));
    }
    extent() {
      const d = this.cols;
      let lo = Infinity, hi = -Infinity;
      for (let i = 0; i < d.start.length; i++) {
        if (d.start[i] < lo) lo = d.start[i];
        const e = d.start[i] + d.dur[i];
        if (e > hi) hi = e;
      }
      if (!isFinite(lo)) return [0, 1e9];
      if (hi - lo < 1000) hi = lo + 1000;
      return [lo, hi];
    }
    window() {
      if (this.view) return this.view;
      const [lo, hi] = this.extent();
      if (this.follow && this.opts.followSpan && hi - lo > this.opts.followSpan) return [hi - this.opts.followSpan, hi];
      const pad = (hi - lo) * 0.01;
      return [lo - pad, hi + pad];
    }
    draw() {
      const cv = this.canvas, dpr = window.devicePixelRatio || 1;
      const rows = Math.max(1, this.laneList.length);
      this.laneH = Math.max(14, Math.min(36, Math.floor(240 / rows)));
      const cssW = Math.max(300, this.el.clientWidth || 800);
      const cssH = 24 + rows * this.laneH + 6;
      if (cv.width !== Math.round(cssW * dpr) || cv.height !== Math.round(cssH * dpr)) {
        cv.width = Math.round(cssW * dpr); cv.height = Math.round(cssH * dpr);
        cv.style.height = cssH + 'px';
      }
      const g = cv.getContext('2d');
      g.setTransform(dpr, 0, 0, dpr, 0, 0);
      g.clearRect(0, 0, cssW, cssH);
      const [t0, t1] = this.window();
      const L = this.left, W = cssW - L - 8;
      const x = t => L + (t - t0) / (t1 - t0) * W;
      // Axis.
      g.fillStyle = '#6b7280'; g.font = '10px sans-serif'; g.strokeStyle = '#eef0f3';
      const span = t1 - t0, step = niceStep(span / 8);
      for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) {
        const px = x(t);
        g.beginPath(); g.moveTo(px, 16); g.lineTo(px, cssH); g.stroke();
        g.fillText(fmtTime(t), px + 2, 11);
      }
      // Lane labels.
      for (let r = 0; r < this.laneList.length; r++) {
        const [w, th] = this.laneList[r];
        const y = 24 + r * this.laneH;
        g.fillStyle = r % 2 ? '#fafafa' : '#fff';
        g.fillRect(L, y, W, this.laneH);
        g.fillStyle = '#374151';
        const label = workerName(w, this.workers) + (th ? ' / ' + th : '');
        g.fillText(label.length > 18 ? label.slice(0, 17) + '…' : label, 4, y + 12);
      }
      // Tasks.
      const d = this.cols;
      let drawn = 0;
      for (let i = 0; i < d.start.length; i++) {
        const s = d.start[i], e = s + d.dur[i];
        if (e < t0 || s > t1) continue;
        const r = this.lanes.get(d.worker[i] + ':' + d.thread[i]);
        const y = 24 + r * this.laneH + 2;
        let a = x(s), b = x(e);
        if (b - a < 1) b = a + 1;
        const failed = d.flags[i] & 4;
        g.fillStyle = failed ? '#de2d26' : colour(this.names[d.prefix[i]] || '?');
        g.fillRect(Math.max(a, L), y, Math.min(b, L + W) - Math.max(a, L), this.laneH - 4);
        drawn++;
      }
      this.drawn = drawn;
      this.el.dataset.drawn = String(drawn);
      this.el.dataset.tasks = String(d.start.length);
      if (this.opts.onDraw) this.opts.onDraw(this);
    }
    _hit(px, py) {
      const r = Math.floor((py - 24) / this.laneH);
      if (r < 0 || r >= this.laneList.length) return -1;
      const [t0, t1] = this.window();
      const W = (this.el.clientWidth || 800) - this.left - 8;
      const t = t0 + (px - this.left) / W * (t1 - t0);
      const tol = 2 / W * (t1 - t0);
      const d = this.cols, lane = this.laneList[r];
      let best = -1;
      for (let i = 0; i < d.start.length; i++) {
        if (d.worker[i] !== lane[0] || d.thread[i] !== lane[1]) continue;
        if (d.start[i] - tol <= t && t <= d.start[i] + d.dur[i] + tol) { best = i; break; }
      }
      return best;
    }
    _bind() {
      const cv = this.canvas;
      let drag = null;
      cv.addEventListener('wheel', ev => {
        ev.preventDefault();
        const [t0, t1] = this.window();
        const rect = cv.getBoundingClientRect();
        const W = rect.width - this.left - 8;
        const f = Math.min(1, Math.max(0, (ev.clientX - rect.left - this.left) / W));
        const at = t0 + f * (t1 - t0);
        const k = Math.exp(ev.deltaY * 0.0015);
        const span = Math.max(200, (t1 - t0) * k);
        this.view = [at - f * span, at - f * span + span];
        this.follow = false;
        this.draw();
      }, { passive: false });
      cv.addEventListener('mousedown', ev => { drag = { x: ev.clientX, view: this.window() }; cv.classList.add('dragging'); });
      window.addEventListener('mouseup', () => { drag = null; cv.classList.remove('dragging'); });
      window.addEventListener('mousemove', ev => {
        if (!drag) return;
        const W = cv.getBoundingClientRect().width - this.left - 8;
        const dt = (ev.clientX - drag.x) / W * (drag.view[1] - drag.view[0]);
        this.view = [drag.view[0] - dt, drag.view[1] - dt];
        this.follow = false;
        this.draw();
      });
      cv.addEventListener('dblclick', () => { this.view = null; this.follow = !!this.opts.follow; this.draw(); });
      cv.addEventListener('mousemove', ev => {
        if (drag) { this.tip.style.display = 'none'; return; }
        const rect = cv.getBoundingClientRect();
        const i = this._hit(ev.clientX - rect.left, ev.clientY - rect.top);
        if (i < 0) { this.tip.style.display = 'none'; return; }
        const d = this.cols;
        const key = keyText(this.names[d.prefix[i]] || '?', d.flags[i], d.index[i]);
        let text = key + '\n' + fmtTime(d.dur[i]) + ' on ' + workerName(d.worker[i], this.workers) +
          (d.thread[i] ? ' / thread ' + d.thread[i] : '') + '\nstarted at ' + fmtTime(d.start[i]);
        if (d.nbytes[i] >= 0) text += '\nresult ' + fmtBytes(d.nbytes[i]);
        if (d.attempt[i] > 1) text += '\nattempt ' + d.attempt[i];
        if (d.flags[i] & 16) text += '\ndid not run (a dependency failed)';
        else if (d.flags[i] & 8) text += '\nfailed, retried';
        else if (d.flags[i] & 4) text += '\nfailed';
        this.tip.textContent = text;
        this.tip.style.display = 'block';
        this.tip.style.left = Math.min(ev.clientX - rect.left + 12, rect.width - 220) + 'px';
        this.tip.style.top = (ev.clientY - rect.top + 12) + 'px';
      });
      cv.addEventListener('mouseleave', () => { this.tip.style.display = 'none'; });
      cv.addEventListener('click', ev => {
        if (!this.opts.onTask) return;
        const rect = cv.getBoundingClientRect();
        const i = this._hit(ev.clientX - rect.left, ev.clientY - rect.top);
        if (i >= 0) {
          const d = this.cols;
          this.opts.onTask(keyText(this.names[d.prefix[i]] || '?', d.flags[i], d.index[i]));
        }
      });
      window.addEventListener('resize', () => this.draw());
    }
  }
  function niceStep(x) {
    if (!(x > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(x)));
    const m = x / p;
    return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
  }
  Rask.TaskStream = TaskStream;

  // ---------- tables ----------
  function progressTable(prefixes) {
    if (!prefixes.length) return '<p class="muted">No tasks yet.</p>';
    const rows = prefixes.slice().sort((a, b) => a.name.localeCompare(b.name)).map(p => {
      const total = Math.max(p.planned, p.done + p.failed + p.running, 1);
      const pc = v => (100 * v / total).toFixed(2) + '%';
      return '<tr data-prefix="' + esc(p.name) + '"><td><span class="swatch" style="background:' + colour(p.name) + '"></span>' + esc(p.name) +
        '</td><td><div class="bar"><span class="done" style="width:' + pc(p.done) + '"></span><span class="failed" style="width:' + pc(p.failed) +
        '"></span><span class="running" style="width:' + pc(p.running) + '"></span></div></td><td class="num prefix-done">' + fmtInt(p.done) + ' / ' +
        fmtInt(p.planned || (p.done + p.failed + p.running)) + '</td><td class="num">' + (p.failed ? '<span style="color:#b91c1c">' + fmtInt(p.failed) + ' failed</span>' : '') + '</td></tr>';
    }).join('');
    return '<table><tr><th>prefix</th><th>progress</th><th class="num">done</th><th class="num"></th></tr>' + rows + '</table>';
  }
  function timeTable(items, label) {
    if (!items.length) return '<p class="muted">Nothing yet.</p>';
    const max = Math.max(...items.map(i => i.busy_s), 1e-12);
    const total = items.reduce((s, i) => s + i.busy_s, 0) || 1e-12;
    const rows = items.slice(0, 40).map(i => {
      const n = i.calls != null ? i.calls : i.done;
      return '<tr><td><span class="swatch" style="background:' + colour(i.name) + '"></span>' + esc(i.name) + '</td><td class="num">' + fmtInt(n) +
        '</td><td class="num">' + fmtSecs(i.busy_s) + '</td><td class="num">' + (100 * i.busy_s / total).toFixed(1) + '%</td><td class="num">' +
        (n ? fmtSecs(i.busy_s / n) : '-') + '</td><td><div class="bar"><span style="width:' + (100 * i.busy_s / max).toFixed(1) + '%;background:' + colour(i.name) + '"></span></div></td></tr>';
    }).join('');
    return '<table><tr><th>' + label + '</th><th class="num">tasks</th><th class="num">time</th><th class="num">share</th><th class="num">mean</th><th></th></tr>' + rows + '</table>';
  }
  function workersTable(workers) {
    if (!workers.length) return '<p class="muted">No workers yet.</p>';
    const rows = workers.map(w => '<tr data-worker="' + w.id + '"><td>' + esc(w.name) + (w.alive ? '' : ' <span class="muted">(lost: ' + esc(w.lost || '') + ')</span>') +
      '</td><td class="num">' + fmtInt(w.running) + '</td><td class="num worker-done">' + fmtInt(w.done) + '</td><td class="num">' + fmtSecs(w.busy_s) +
      '</td><td class="num">' + (w.cpu_percent == null ? '-' : w.cpu_percent.toFixed(0) + '%') + '</td><td class="num">' + fmtBytes(w.rss_bytes) +
      '</td><td class="num">' + fmtBytes(w.spilled_bytes) + '</td><td class="num">' + fmtBytes(w.moved_bytes) + '</td></tr>').join('');
    return '<table><tr><th>worker</th><th class="num">running</th><th class="num">done</th><th class="num">busy</th><th class="num">cpu</th><th class="num">memory</th><th class="num">spilled</th><th class="num">moved</th></tr>' + rows + '</table>';
  }
  function countsHtml(t) {
    return '<div class="counts">' + ['waiting', 'ready', 'running', 'done', 'failed', 'skipped'].map(s =>
      '<div class="count ' + s + '" data-state="' + s + '"><b>' + fmtInt(t[s]) + '</b>' + s + '</div>').join('') + '</div>';
  }
  Rask.progressTable = progressTable; Rask.timeTable = timeTable; Rask.workersTable = workersTable;

  // ---------- resource charts (SVG) ----------
  class Samples {
    constructor() { this.cols = { t: [], worker: [], cpu: [], rss: [], managed: [], spilled: [], moved: [] }; }
    append(c, max) {
      for (const k of Object.keys(this.cols)) { const s = c[k] || []; for (let i = 0; i < s.length; i++) this.cols[k].push(s[i]); }
      if (max && this.cols.t.length > max) { const cut = this.cols.t.length - max; for (const k of Object.keys(this.cols)) this.cols[k].splice(0, cut); }
    }
    series(field) {
      const by = new Map(), c = this.cols;
      for (let i = 0; i < c.t.length; i++) {
        const v = c[field][i];
        if (v == null || v < 0) continue;
        if (!by.has(c.worker[i])) by.set(c.worker[i], []);
        by.get(c.worker[i]).push([c.t[i], v]);
      }
      return by;
    }
  }
  function chart(title, series, fmt, workers) {
    let t0 = Infinity, t1 = -Infinity, hi = 0;
    for (const pts of series.values()) for (const [t, v] of pts) { t0 = Math.min(t0, t); t1 = Math.max(t1, t); hi = Math.max(hi, v); }
    if (!series.size || !isFinite(t0)) return '<div class="chart"><b>' + esc(title) + '</b><p class="muted">No samples.</p></div>';
    if (t1 <= t0) t1 = t0 + 1;
    if (hi <= 0) hi = 1;
    const W = 600, H = 180, L = 56, B = 18, T = 6;
    const X = t => L + (t - t0) / (t1 - t0) * (W - L - 6), Y = v => T + (1 - v / hi) * (H - T - B);
    let s = '<svg viewBox="0 0 ' + W + ' ' + H + '" preserveAspectRatio="none">';
    for (let k = 0; k <= 4; k++) {
      const v = hi * k / 4, y = Y(v);
      s += '<line class="grid" x1="' + L + '" x2="' + W + '" y1="' + y + '" y2="' + y + '"/><text x="2" y="' + (y + 3) + '">' + esc(fmt(v)) + '</text>';
    }
    s += '<line class="axis" x1="' + L + '" x2="' + L + '" y1="' + T + '" y2="' + (H - B) + '"/>';
    s += '<text x="' + L + '" y="' + (H - 4) + '">' + fmtTime(t0) + '</text><text x="' + (W - 60) + '" y="' + (H - 4) + '">' + fmtTime(t1) + '</text>';
    let legend = '';
    for (const [w, pts] of series) {
      const name = workerName(w, workers), col = colour('worker ' + name);
      const d = pts.map((p, i) => (i ? 'L' : 'M') + X(p[0]).toFixed(1) + ',' + Y(p[1]).toFixed(1)).join('');
      s += '<path class="series" stroke="' + col + '" d="' + d + '"><title>' + esc(name) + '</title></path>';
      legend += '<span><span class="swatch" style="background:' + col + '"></span>' + esc(name) + '</span>';
    }
    s += '</svg>';
    return '<div class="chart"><b>' + esc(title) + '</b>' + s + '<div class="legend">' + legend + '</div></div>';
  }
  function resourcesHtml(samples, workers) {
    const parts = [
      chart('CPU (% of one core)', samples.series('cpu'), v => v.toFixed(0) + '%', workers),
      chart('Memory (resident)', samples.series('rss'), fmtBytes, workers),
    ];
    const spilled = samples.series('spilled'), moved = samples.series('moved');
    if ([...spilled.values()].some(p => p.some(x => x[1] > 0))) parts.push(chart('Spilled to disk', spilled, fmtBytes, workers));
    if ([...moved.values()].some(p => p.some(x => x[1] > 0))) parts.push(chart('Bytes moved', moved, fmtBytes, workers));
    return '<div class="charts">' + parts.join('') + '</div>';
  }
  Rask.Samples = Samples; Rask.resourcesHtml = resourcesHtml;

  // ---------- graph (pan and zoom an inline SVG through its viewBox) ----------
  function mountGraph(el, onTask) {
    const svg = el.querySelector('svg');
    if (!svg) return;
    const w = parseFloat(svg.getAttribute('width')) || 800, h = parseFloat(svg.getAttribute('height')) || 400;
    const boxW = el.clientWidth || 800;
    const boxH = Math.max(120, Math.min(600, h * Math.min(1, boxW / w)));
    svg.removeAttribute('width');
    svg.removeAttribute('height');
    svg.style.width = '100%';
    svg.style.height = boxH + 'px';
    svg.setAttribute('preserveAspectRatio', 'xMidYMid meet');
    // Fit the drawing, but never enlarge it past its natural size.
    const s0 = Math.min(1, boxW / w, boxH / h);
    const fit = [w / 2 - boxW / s0 / 2, h / 2 - boxH / s0 / 2, boxW / s0, boxH / s0];
    let vb = fit.slice();
    const apply = () => svg.setAttribute('viewBox', vb.map(v => v.toFixed(1)).join(' '));
    apply();
    // Screen point -> drawing point, under "meet" scaling.
    const toSvg = (cx, cy) => {
      const r = svg.getBoundingClientRect();
      const k = Math.min(r.width / vb[2], r.height / vb[3]);
      const ox = (r.width - vb[2] * k) / 2, oy = (r.height - vb[3] * k) / 2;
      return [vb[0] + (cx - r.left - ox) / k, vb[1] + (cy - r.top - oy) / k, k];
    };
    svg.addEventListener('wheel', ev => {
      ev.preventDefault();
      const [px, py] = toSvg(ev.clientX, ev.clientY);
      const k = Math.exp(ev.deltaY * 0.0015);
      const nw = Math.min(fit[2] * 4, Math.max(20, vb[2] * k)), f = nw / vb[2];
      vb = [px - (px - vb[0]) * f, py - (py - vb[1]) * f, vb[2] * f, vb[3] * f];
      apply();
    }, { passive: false });
    let drag = null, moved = false;
    svg.addEventListener('mousedown', ev => { drag = { x: ev.clientX, y: ev.clientY, vb: vb.slice() }; moved = false; });
    window.addEventListener('mouseup', () => { drag = null; });
    window.addEventListener('mousemove', ev => {
      if (!drag) return;
      const [, , k] = toSvg(ev.clientX, ev.clientY);
      const dx = (ev.clientX - drag.x) / k, dy = (ev.clientY - drag.y) / k;
      if (Math.abs(dx) + Math.abs(dy) > 2) moved = true;
      vb = [drag.vb[0] - dx, drag.vb[1] - dy, vb[2], vb[3]];
      apply();
    });
    svg.addEventListener('dblclick', () => { vb = fit.slice(); apply(); });
    if (onTask) svg.addEventListener('click', ev => {
      if (moved) return;
      const g = ev.target.closest && ev.target.closest('g.task');
      if (g) onTask(g.getAttribute('data-key'));
    });
  }
  Rask.mountGraph = mountGraph;

  function summaryHtml(status, extra) {
    const t = status.tasks || {};
    const runs = status.runs || [];
    let wall = 0;
    for (const r of runs) wall += (r.end_ns != null ? r.end_ns : (status.now_ns || r.start_ns)) - r.start_ns;
    const busy = (status.prefixes || []).reduce((s, p) => s + p.busy_s, 0);
    return '<b>' + fmtInt((t.done || 0) + (t.failed || 0)) + '</b> tasks (' + fmtInt(t.failed || 0) + ' failed) in <b>' + runs.length +
      '</b> run' + (runs.length === 1 ? '' : 's') + (status.executor ? ' on <b>' + esc(status.executor) + '</b>' : '') +
      ' · wall <b>' + fmtTime(wall) + '</b> · inside tasks <b>' + fmtSecs(busy) + '</b>' + cacheHtml(status.cache) + (extra || '');
  }

  function cacheHtml(c) {
    if (!c) return '';
    return ' · result cache <b>' + fmtInt(c.hits) + '</b> hits, ' + fmtInt(c.misses) + ' misses, ' + fmtInt(c.evictions) +
      ' evicted, <b>' + fmtBytes(c.bytes) + '</b> of ' + fmtBytes(c.capacity) + ' held';
  }

  function failuresHtml(errors) {
    if (!errors || !errors.length) return '<p class="muted">No task failed.</p>';
    return '<table><tr><th>task</th><th>error</th></tr>' + errors.map(e => '<tr><td>' + esc(e[0]) + '</td><td class="error">' + esc(e[1]) + '</td></tr>').join('') + '</table>';
  }

  Rask.summaryHtml = summaryHtml; Rask.countsHtml = countsHtml; Rask.failuresHtml = failuresHtml;

  // ---------- the static report ----------
  Rask.report = function (data) {
    const $ = id => document.getElementById(id);
    const st = data.status;
    const dropped = data.tasks_not_shown ? ' · <b>' + fmtInt(data.tasks_not_shown) + '</b> earlier tasks not in the stream (counted in the tables)' : '';
    $('summary').innerHTML = summaryHtml(st, dropped);
    const stream = new TaskStream($('stream'), {});
    stream.setNames(data.names);
    stream.setWorkers(st.workers);
    stream.append(data.tasks);
    $('progress').innerHTML = progressTable(st.prefixes);
    $('prefix-time').innerHTML = timeTable(st.prefixes, 'key prefix');
    $('function-time').innerHTML = timeTable(st.functions, 'function');
    $('workers').innerHTML = workersTable(st.workers);
    const samples = new Samples();
    samples.append(data.samples);
    $('resources').innerHTML = resourcesHtml(samples, st.workers);
    $('failures').innerHTML = failuresHtml(data.errors);
    mountGraph($('graph'));
    document.body.dataset.ready = '1';
  };

  window.Rask = Rask;
})();
