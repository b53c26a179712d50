// The dashboard page: three views drawn from the JSON and event streams of the server.
// Plain JavaScript on purpose: no build step, nothing fetched from elsewhere, works offline.
'use strict';

const main = () => document.getElementById('main');
let clockOffset = 0;           // server clock minus this browser's, in seconds: ages as the command computes them
const serverNow = () => Date.now() / 1000 + clockOffset;
const syncClock = (now) => { if (typeof now === 'number') clockOffset = now - Date.now() / 1000; };

function esc(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

// as symphony.status.format_age
function formatAge(seconds) {
  seconds = Math.max(0, seconds);
  if (seconds < 60) return `${Math.floor(seconds)}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 86400) return `${(seconds / 3600).toFixed(1)}h`;
  return `${(seconds / 86400).toFixed(1)}d`;
}

// the head of ProcessStatus.state_text (the age is its own column here)
function stateHead(p) {
  let head = p.state;
  if (p.state === 'exited' && p.exit_code !== null) head = `exited (${p.exit_code})`;
  else if (p.state === 'killed' && p.signal) head = `killed (${p.signal})`;
  else if (p.state === 'restarting' && (p.exit_code !== null || p.signal)) head = `restarting (${p.signal || `exit ${p.exit_code}`})`;
  if (p.detail) head += `: ${p.detail}`;
  return head;
}

const ENDED = new Set(['exited', 'killed', 'lost', 'restarting']);
function since(p) { return ENDED.has(p.state) && p.finished ? p.finished : p.started; }

// the colours of `symphony p` on a terminal
function stateClass(p) {
  if (p.state === 'exited' && p.exit_code) return 'bad';
  return { running: 'good', pending: 'warn', restarting: 'warn', waiting: 'warn', exited: 'dim',
           killed: 'bad', failed: 'bad', lost: 'bad', terminated: 'dim' }[p.state] || '';
}

function path(...parts) { return '/' + parts.map(encodeURIComponent).join('/'); }

function setLive(text, kind) {
  const live = document.getElementById('live');
  live.textContent = text;
  live.className = `live ${kind || ''}`;
}

function banner(message) {
  const element = document.getElementById('banner');
  element.textContent = message || '';
  element.hidden = !message;
}

function crumbs(items) {
  document.getElementById('crumbs').innerHTML = items.map(([text, href]) =>
    href ? `<a href="${esc(href)}">${esc(text)}</a>` : `<span>${esc(text)}</span>`).join(' / ');
}

// An event stream that comes back: after a network error the browser retries by itself (the
// server asks for one second); a stream it gave up on (the server was restarting) is reopened
// here, unless the server now refuses the token.
function stream(url, handlers) {
  let source = null;
  let stopped = false;
  const open = () => {
    source = new EventSource(url);
    source.onopen = () => { setLive('live', 'ok'); };
    for (const [name, handler] of Object.entries(handlers)) {
      source.addEventListener(name, (event) => handler(JSON.parse(event.data)));
    }
    source.onerror = async () => {
      setLive('reconnecting…', 'warn');
      if (source.readyState !== EventSource.CLOSED || stopped) return;
      try {
        const answer = await fetch(url, { method: 'HEAD', cache: 'no-store' });
        if (answer.status === 403) {
          setLive('refused', 'bad');
          banner('The dashboard refuses this page’s token: open the URL that `symphony dashboard` printed.');
          return;
        }
      } catch (error) { /* server still down: try again below */ }
      setTimeout(() => { if (!stopped) open(); }, 1000);
    };
  };
  open();
  // A page the browser keeps in its back-forward cache would keep its streams open, and the
  // browser allows six connections per server: a few such pages and the next page never loads.
  // So a hidden page lets go of its stream, and takes it up again if it is shown from the cache.
  window.addEventListener('pagehide', () => { if (source) source.close(); });
  window.addEventListener('pageshow', (event) => { if (event.persisted && !stopped) open(); });
  return { close() { stopped = true; source.close(); } };
}

// ---------------------------------------------------------------- experiments page
function overviewView() {
  document.title = 'Symphony: experiments';
  document.body.dataset.page = 'experiments';
  crumbs([['experiments']]);
  main().innerHTML = '<h1>Experiments</h1><table id="experiments"><thead><tr><th>Backend</th><th>Experiment</th>'
    + '<th>Processes</th><th>Running</th><th>Restarting</th><th>Failed</th><th>Restarts</th><th>Age</th></tr></thead>'
    + '<tbody><tr><td colspan="8" class="dim">loading…</td></tr></tbody></table>';
  stream('/api/events', {
    snapshot(state) {
      syncClock(state.now);
      banner('');
      const rows = [];
      for (const backend of state.backends) {
        if (backend.error) {
          rows.push(`<tr class="backend-error" data-backend="${esc(backend.backend)}"><td>${esc(backend.backend)}</td>`
            + `<td colspan="7" class="bad">unavailable: ${esc(backend.error)}</td></tr>`);
          continue;
        }
        if (backend.loading) {
          rows.push(`<tr data-backend-loading="${esc(backend.backend)}"><td>${esc(backend.backend)}</td>`
            + '<td colspan="7" class="dim">loading…</td></tr>');
          continue;
        }
        if (!backend.experiments.length) {
          rows.push(`<tr data-backend="${esc(backend.backend)}"><td>${esc(backend.backend)}</td>`
            + '<td colspan="7" class="dim">no experiments</td></tr>');
        }
        for (const e of backend.experiments) {
          rows.push(`<tr class="experiment" data-backend="${esc(e.backend)}" data-experiment="${esc(e.name)}">`
            + `<td>${esc(e.backend)}</td><td><a href="${esc(path('e', e.backend, e.name))}">${esc(e.name)}</a></td>`
            + `<td class="num">${e.processes}</td><td class="num good">${e.running}</td>`
            + `<td class="num ${e.restarting ? 'warn' : ''}">${e.restarting}</td>`
            + `<td class="num ${e.failed ? 'bad' : ''}">${e.failed}</td><td class="num">${e.restarts}</td>`
            + `<td class="age" data-since="${e.started || ''}">${ageText(e.started)}</td></tr>`);
        }
      }
      document.querySelector('#experiments tbody').innerHTML = rows.join('');
    },
    failure(data) { banner(data.error); },
  });
}

// ---------------------------------------------------------------- one experiment
const COLUMNS = '<th>Name</th><th>State</th><th>Ready</th><th>Restarts</th><th>Age</th><th>Exit</th>'
  + '<th>CPU %</th><th>Memory</th><th>PID</th>';

function processRow(p, backend, experiment, metrics) {
  const logs = `${path('e', backend, experiment, 'logs')}?process=${encodeURIComponent(p.key)}&tail=1000`;
  const m = metrics && metrics[p.key];
  return `<tr class="process ${stateClass(p)}" id="p:${esc(p.key)}" data-key="${esc(p.key)}" data-state="${esc(p.state)}">`
    + `<td class="name"><a href="${esc(logs)}" title="logs of ${esc(p.key)}">${esc(p.name)}</a></td>`
    + `<td class="state">${esc(stateHead(p))}</td><td class="num">${p.ready ? '1' : '0'}</td>`
    + `<td class="num restarts">${p.restarts}</td><td class="age" data-since="${since(p) || ''}">${ageText(since(p))}</td>`
    + `<td class="num">${p.exit_code !== null ? esc(p.exit_code) : (p.signal ? esc(p.signal) : '')}</td>`
    + `<td class="num cpu">${m ? m[0].toFixed(1) : ''}</td><td class="num mem">${m ? formatBytes(m[1]) : ''}</td>`
    + `<td class="num dim">${p.pid || ''}</td></tr>`;
}

function formatBytes(bytes) {
  if (bytes >= 1 << 30) return `${(bytes / (1 << 30)).toFixed(1)} GiB`;
  if (bytes >= 1 << 20) return `${(bytes / (1 << 20)).toFixed(1)} MiB`;
  return `${Math.round(bytes / 1024)} KiB`;
}

function experimentView(backend, experiment) {
  document.title = `Symphony: ${experiment}`;
  document.body.dataset.page = 'experiment';
  crumbs([['experiments', '/'], [`${experiment} (${backend})`]]);
  main().innerHTML = `<h1>${esc(experiment)} <span class="badge">${esc(backend)}</span>`
    + '<button id="delete" class="danger">Delete…</button></h1>'
    + '<p id="services" class="services"></p><p id="summary" class="dim"></p>'
    + `<table id="processes"><thead><tr>${COLUMNS}</tr></thead><tbody></tbody></table>`;
  let processes = new Map();   // key -> process, in the backend's order
  let metrics = {};
  const render = () => {
    const groups = new Map();
    for (const p of processes.values()) {
      if (!groups.has(p.group)) groups.set(p.group, []);
      groups.get(p.group).push(p);
    }
    const names = [...groups.keys()].sort((a, b) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b)));
    const html = [];
    for (const group of names) {
      if (group) html.push(`<tr class="group" data-group="${esc(group)}"><th colspan="9">${esc(group)}</th></tr>`);
      for (const p of groups.get(group)) html.push(processRow(p, backend, experiment, metrics));
    }
    document.querySelector('#processes tbody').innerHTML = html.join('');
    summary();
  };
  const summary = () => {
    const counts = {};
    for (const p of processes.values()) counts[p.state] = (counts[p.state] || 0) + 1;
    document.getElementById('summary').textContent = `${processes.size} processes: `
      + Object.entries(counts).map(([state, n]) => `${n} ${state}`).join(', ');
  };
  const connection = stream(path('api', 'events', backend, experiment), {
    snapshot(state) {
      syncClock(state.now);
      banner('');
      processes = new Map(state.document.processes.map((p) => [p.key, p]));
      metrics = state.metrics || {};
      render();
      // when the table was first drawn, in ms since navigation (what the performance test reads)
      if (window.firstRender === undefined) window.firstRender = performance.now();
      if (!servicesAsked) { servicesAsked = true; showServices(); }   // after the processes: they matter first
    },
    delta(change) {
      syncClock(change.now);
      let redraw = change.removed.length > 0;
      for (const key of change.removed) processes.delete(key);
      for (const p of change.changed) {
        if (!processes.has(p.key)) redraw = true;
        processes.set(p.key, p);
      }
      if (redraw) { render(); return; }
      for (const p of change.changed) {
        const row = document.getElementById(`p:${p.key}`);
        if (row) row.outerHTML = processRow(p, backend, experiment, metrics);
      }
      summary();
    },
    metrics(moved) {   // only the processes whose figures moved
      for (const [key, m] of Object.entries(moved)) {
        metrics[key] = m;
        const row = document.getElementById(`p:${key}`);
        if (!row || !m) continue;
        const cpu = m[0].toFixed(1);
        const mem = formatBytes(m[1]);
        const cpuCell = row.querySelector('.cpu');
        const memCell = row.querySelector('.mem');
        if (cpuCell.textContent !== cpu) cpuCell.textContent = cpu;
        if (memCell.textContent !== mem) memCell.textContent = mem;
      }
    },
    gone(data) {
      connection.close();
      setLive('gone', 'bad');
      banner(`${data.error}`);
      document.querySelector('#processes tbody').innerHTML = '';
    },
    failure(data) { banner(data.error); },
  });
  let servicesAsked = false;
  const showServices = () => fetch(path('api', 'experiments', backend, experiment, 'services')).then((r) => r.json()).then((answer) => {
    const element = document.getElementById('services');
    if (answer.services === null || answer.services === undefined) { element.textContent = ''; return; }
    element.innerHTML = answer.services.length
      ? 'Services: ' + answer.services.map((s) => `<a class="visit" target="_blank" rel="noopener noreferrer" `
          + `href="${esc(path('visit', backend, experiment, s))}">${esc(s)} ↗</a>`).join(' ')
      : '<span class="dim">no exposed services</span>';
  });
  document.getElementById('delete').onclick = () => confirmDelete(backend, experiment, processes.size, connection);
}

function confirmDelete(backend, experiment, count, connection) {
  const dialog = document.getElementById('confirm-delete');
  const input = document.getElementById('confirm-name');
  const ok = document.getElementById('confirm-ok');
  const error = document.getElementById('confirm-error');
  document.getElementById('confirm-question').textContent =
    `Delete experiment ${experiment} on the ${backend} backend? This stops its ${count} processes.`;
  input.value = '';
  error.textContent = '';
  ok.disabled = true;
  input.oninput = () => { ok.disabled = input.value !== experiment; };
  ok.onclick = async () => {
    ok.disabled = true;
    error.textContent = 'deleting…';
    const answer = await fetch(path('api', 'experiments', backend, experiment, 'delete'), {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ confirm: input.value }),
    });
    const body = await answer.json();
    if (!answer.ok) { error.textContent = body.error; ok.disabled = false; return; }
    connection.close();
    dialog.close();
    window.location.assign('/');
  };
  dialog.showModal();
  input.focus();
}

// ---------------------------------------------------------------- logs
const LOG_LIMIT = 20000;   // lines kept on the page: a page left following for hours stays small

function logsView(backend, experiment, query) {
  const process = query.get('process') || '';
  document.title = `Symphony: logs of ${process}`;
  document.body.dataset.page = 'logs';
  crumbs([['experiments', '/'], [`${experiment} (${backend})`, path('e', backend, experiment)], [`logs of ${process}`]]);
  const follow = query.get('follow') !== '0';
  main().innerHTML = `<h1>Logs of ${esc(process)}</h1>`
    + '<form id="log-options" class="options">'
    + `<input type="hidden" name="process" value="${esc(process)}">`
    + `<label>since <input name="since" size="6" placeholder="5m" value="${esc(query.get('since') || '')}"></label>`
    + `<label>tail <input name="tail" size="6" placeholder="-1" value="${esc(query.get('tail') || '')}"></label>`
    + `<label><input type="checkbox" name="follow" value="1" ${follow ? 'checked' : ''}> follow</label>`
    + '<button type="submit">Show</button> <span id="log-state" class="dim"></span></form>'
    + '<pre id="log"></pre>';
  document.getElementById('log-options').onsubmit = (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    const next = new URLSearchParams({ process });
    if (form.get('since')) next.set('since', form.get('since'));
    if (form.get('tail')) next.set('tail', form.get('tail'));
    next.set('follow', form.get('follow') ? '1' : '0');
    window.location.search = next.toString();
  };
  const log = document.getElementById('log');
  const state = document.getElementById('log-state');
  const params = new URLSearchParams({ process, follow: follow ? '1' : '0' });
  if (query.get('since')) params.set('since', query.get('since'));
  if (query.get('tail')) params.set('tail', query.get('tail'));
  const connection = stream(`${path('api', 'logs', backend, experiment)}?${params}`, {
    reset() { log.textContent = ''; state.textContent = follow ? 'following…' : ''; banner(''); },
    lines(lines) {
      const atBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 40;
      const fragment = document.createDocumentFragment();
      for (const line of lines) fragment.appendChild(ansiLine(line));
      log.appendChild(fragment);
      while (log.childElementCount > LOG_LIMIT) log.firstElementChild.remove();
      if (atBottom) window.scrollTo(0, document.body.scrollHeight);
    },
    end() { connection.close(); state.textContent = follow ? 'the process has ended: end of log' : 'end of log'; setLive('done', ''); },
    failure(data) { connection.close(); banner(data.error); state.textContent = ''; setLive('stopped', 'bad'); },
  });
}

// ANSI SGR colours as terminals show them; other escape sequences are dropped. Text is only
// ever set as text, never as HTML.
const SGR = /\x1b\[([0-9;]*)m/g;
const OTHER_ESCAPES = /\x1b\[[0-9;?]*[A-Za-ln-z]|\x1b[()][0-9A-Za-z]|\x1b[=>]/g;
function ansiLine(raw) {
  let line = raw.replace(/\r+$/, '');
  if (line.includes('\r')) line = line.slice(line.lastIndexOf('\r') + 1);   // a progress bar: what a terminal shows last
  line = line.replace(OTHER_ESCAPES, '');
  const div = document.createElement('div');
  let style = {};
  let last = 0;
  const add = (text) => {
    if (!text) return;
    const span = document.createElement('span');
    span.textContent = text;
    const classes = [];
    if (style.bold) classes.push('ansi-bold');
    if (style.dim) classes.push('ansi-dim');
    if (style.italic) classes.push('ansi-italic');
    if (style.underline) classes.push('ansi-underline');
    if (typeof style.fg === 'number') classes.push(`ansi-fg-${style.fg}`);
    if (typeof style.bg === 'number') classes.push(`ansi-bg-${style.bg}`);
    if (typeof style.fg === 'string') span.style.color = style.fg;
    if (typeof style.bg === 'string') span.style.backgroundColor = style.bg;
    span.className = classes.join(' ');
    div.appendChild(span);
  };
  for (const match of line.matchAll(SGR)) {
    add(line.slice(last, match.index));
    last = match.index + match[0].length;
    const codes = match[1] === '' ? [0] : match[1].split(';').map(Number);
    for (let i = 0; i < codes.length; i++) {
      const code = codes[i];
      if (code === 0) style = {};
      else if (code === 1) style.bold = true;
      else if (code === 2) style.dim = true;
      else if (code === 3) style.italic = true;
      else if (code === 4) style.underline = true;
      else if (code === 22) { style.bold = false; style.dim = false; }
      else if (code === 23) style.italic = false;
      else if (code === 24) style.underline = false;
      else if (code >= 30 && code <= 37) style.fg = code - 30;
      else if (code >= 90 && code <= 97) style.fg = code - 90 + 8;
      else if (code === 39) delete style.fg;
      else if (code >= 40 && code <= 47) style.bg = code - 40;
      else if (code >= 100 && code <= 107) style.bg = code - 100 + 8;
      else if (code === 49) delete style.bg;
      else if ((code === 38 || code === 48) && codes[i + 1] === 5) {
        const n = codes[i + 2];
        style[code === 38 ? 'fg' : 'bg'] = n < 16 ? n : xterm256(n);
        i += 2;
      } else if ((code === 38 || code === 48) && codes[i + 1] === 2) {
        style[code === 38 ? 'fg' : 'bg'] = `rgb(${codes[i + 2] | 0}, ${codes[i + 3] | 0}, ${codes[i + 4] | 0})`;
        i += 4;
      }
    }
  }
  add(line.slice(last));
  if (!div.firstChild) div.appendChild(document.createTextNode('\u200b'));   // keep an empty line's height
  return div;
}

function xterm256(n) {
  if (n >= 232) { const v = 8 + (n - 232) * 10; return `rgb(${v}, ${v}, ${v})`; }
  n -= 16;
  const level = (x) => (x ? 55 + x * 40 : 0);
  return `rgb(${level(Math.floor(n / 36))}, ${level(Math.floor(n / 6) % 6)}, ${level(n % 6)})`;
}

// ---------------------------------------------------------------- ages, routing
function ageText(since) { return since ? formatAge(serverNow() - since) : ''; }

function updateAges() {
  for (const cell of document.querySelectorAll('td.age')) {
    const text = ageText(parseFloat(cell.dataset.since));
    if (cell.textContent !== text) cell.textContent = text;
  }
}

function route() {
  const parts = window.location.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  const query = new URLSearchParams(window.location.search);
  if (parts.length === 0) overviewView();
  else if (parts[0] === 'e' && parts.length === 3) experimentView(parts[1], parts[2]);
  else if (parts[0] === 'e' && parts.length === 4 && parts[3] === 'logs') logsView(parts[1], parts[2], query);
  else main().textContent = 'No such page.';
  setInterval(updateAges, 1000);
}

document.addEventListener('DOMContentLoaded', route);
