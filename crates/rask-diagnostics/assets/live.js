// Rask's live dashboard: the pages the dashboard server serves, on top of
// rask.js. Data comes from the server that served the page: /api/events
// (server-sent events: status and new task records), /api/graph.svg,
// /api/explain?key=... Nothing else is fetched.
(function () {
  'use strict';
  const Rask = window.Rask;
  // ---------- the live dashboard ----------
  Rask.live = function () {
    const $ = id => document.getElementById(id);
    const openTask = key => { window.location.href = 'task?key=' + encodeURIComponent(key); };
    const stream = new Rask.TaskStream($('stream'), { follow: true, followSpan: 10e9, max: 100000, onTask: openTask });
    const samples = new Rask.Samples();
    let status = null, updates = 0;
    const render = () => {
      if (!status) return;
      $('summary').innerHTML = Rask.summaryHtml(status, ' · updates <b id="updates">' + updates + '</b>');
      $('counts').innerHTML = Rask.countsHtml(status.tasks);
      $('progress').innerHTML = Rask.progressTable(status.prefixes);
      $('prefix-time').innerHTML = Rask.timeTable(status.prefixes, 'key prefix');
      $('function-time').innerHTML = Rask.timeTable(status.functions, 'function');
      $('workers').innerHTML = Rask.workersTable(status.workers);
      $('resources').innerHTML = Rask.resourcesHtml(samples, status.workers);
      stream.setWorkers(status.workers);
      document.body.dataset.updates = String(updates);
    };
    let graphRun = null;
    const refreshGraph = () => fetch('api/graph.svg').then(r => r.ok ? r.text() : '').then(svg => {
      $('graph').innerHTML = svg || '<p class="muted">No graph kept yet (runs larger than the recorder\'s graph limit are not kept).</p>';
      Rask.mountGraph($('graph'), openTask);
    }).catch(() => {});
    const dot = $('live-dot');
    const es = new EventSource('api/events');
    es.addEventListener('update', ev => {
      const u = JSON.parse(ev.data);
      updates++;
      status = u.status;
      stream.setNames(u.stream.names);
      samples.append(u.stream.samples, 20000);
      stream.append(u.stream.tasks);
      render();
      const last = status.runs.length ? status.runs[status.runs.length - 1] : null;
      const runKey = last ? last.id + ':' + (last.end_ns != null) : null;
      if (runKey !== graphRun || updates % 4 === 0) { graphRun = runKey; refreshGraph(); }
      dot.classList.add('on');
    });
    es.onerror = () => dot.classList.remove('on');
    $('find').addEventListener('submit', ev => { ev.preventDefault(); openTask($('key').value); });
  };

  // ---------- a task's page ----------
  Rask.task = function (key) {
    const $ = id => document.getElementById(id);
    const show = () => fetch('api/explain?key=' + encodeURIComponent(key)).then(r => r.json().then(j => [r.ok, j])).then(([ok, d]) => {
      if (!ok) { $('detail').innerHTML = '<p class="error">' + Rask.esc(d.error || 'unknown task') + '</p>'; return; }
      let h = '<h2><span class="state ' + d.state + '">' + d.state + '</span> ' + Rask.esc(d.key) + '</h2><p id="why">' + Rask.esc(d.why) + '</p><table>';
      h += '<tr><th>run</th><td>' + d.run + '</td></tr><tr><th>worker</th><td>' + (d.worker == null ? '-' : d.worker) + '</td></tr>';
      h += '<tr><th>attempts</th><td>' + d.attempts + '</td></tr><tr><th>started</th><td>' + Rask.fmtTime(d.started_ns) + '</td></tr>';
      h += '<tr><th>ran for</th><td>' + Rask.fmtTime(d.duration_ns) + '</td></tr>';
      if (d.error) h += '<tr><th>error</th><td class="error">' + Rask.esc(d.error) + '</td></tr>';
      h += '</table><h2>Dependencies (' + d.missing + ' of ' + d.dependencies.length + ' not finished)</h2>';
      h += d.dependencies.length ? '<table><tr><th>task</th><th>state</th><th>where</th></tr>' + d.dependencies.map(x =>
        '<tr><td><a href="task?key=' + encodeURIComponent(x.key) + '">' + Rask.esc(x.key) + '</a></td><td><span class="state ' + x.state + '">' + x.state +
        '</span></td><td>' + Rask.esc(x.location || '-') + '</td></tr>').join('') + '</table>' : '<p class="muted">None: a root task.</p>';
      h += '<h2>Dependents (' + d.dependents_total + ')</h2><p>' + d.dependents.map(k => '<a href="task?key=' + encodeURIComponent(k) + '">' + Rask.esc(k) + '</a>').join(', ') +
        (d.dependents_total > d.dependents.length ? ', …' : '') + '</p>';
      $('detail').innerHTML = h;
      document.body.dataset.state = d.state;
    }).catch(() => {});
    show();
    setInterval(show, 1000);
  };

})();
