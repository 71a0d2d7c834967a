// aijobs operator page: charts of GET /api/v1/admin/stats (an admin's token
// only; anyone else gets that route's 404), refreshed every few seconds.
// uPlot (vendor/, MIT) draws them; it is loaded as a classic script before
// this module and sets window.uPlot. Nothing is loaded from another origin,
// so the dashboard's Content-Security-Policy (script-src 'self') holds.
const OWN_KEY = 'aijobs.ops_token';     // this page's token
const DASHBOARD_KEY = 'aijobs.api_token'; // the dashboard's, tried when there is none
const REFRESH_MS = 5000;
const HEIGHT = 220;

const $ = (id) => document.getElementById(id);
const el = {
  state: $('ops-state'), error: $('ops-error'), charts: $('ops-charts'),
  form: $('ops-token-form'), input: $('ops-token-input'), forget: $('ops-token-forget'),
};

function readToken() {
  try { return sessionStorage.getItem(OWN_KEY) || sessionStorage.getItem(DASHBOARD_KEY) || ''; } catch { return ''; }
}

let token = readToken();
let timer = null;
const charts = {};

// Colours: distinguishable, with AA contrast on light and dark cards.
const C = {
  green: '#1a7f37', red: '#cf222e', purple: '#8250df', blue: '#0969da', orange: '#bc4c00', grey: '#6e7781', teal: '#1b7c83',
};

/** The charts: which series of the answer each draws, and how. */
const SPECS = [
  { id: 'chart-jobs', unit: '/min', series: [
    ['submitted', (s) => s.jobs_per_minute.submitted, C.blue],
    ['completed', (s) => s.jobs_per_minute.completed, C.green],
    ['failed', (s) => s.jobs_per_minute.failed, C.red],
    ['cancelled', (s) => s.jobs_per_minute.cancelled, C.purple],
  ] },
  { id: 'chart-depth', unit: '', series: [
    ['queued', (s) => s.queue_depth.queued, C.blue],
    ['working', (s) => s.queue_depth.working, C.green],
    ['retrying', (s) => s.queue_depth.retrying, C.orange],
  ] },
  { id: 'chart-wait', unit: ' s', series: [
    ['p50', (s) => s.wait_seconds.p50, C.teal],
    ['p95', (s) => s.wait_seconds.p95, C.orange],
  ] },
  { id: 'chart-run', unit: ' s', series: [
    ['p50', (s) => s.run_seconds.p50, C.teal],
    ['p95', (s) => s.run_seconds.p95, C.orange],
  ] },
  { id: 'chart-errors', unit: '/min', series: [
    ['provider errors', (s) => s.provider_errors_per_minute, C.red],
  ] },
  { id: 'chart-streams', unit: '', series: [
    ['SSE', (s) => s.open_streams.sse, C.blue],
    ['user SSE', (s) => s.open_streams.user_sse, C.teal],
    ['long-poll', (s) => s.open_streams.long_poll, C.orange],
    ['/cable', (s) => s.open_streams.cable, C.purple],
    ['/cable subs', (s) => s.open_streams.cable_subscription, C.grey],
  ] },
];

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888';
}

const fmt = (v, unit) => (v == null ? '–' : `${Number.isInteger(v) ? v : v.toPrecision(3)}${unit}`);

function makeChart(spec, data) {
  const fig = $(spec.id);
  const plot = fig.querySelector('.ops-plot');
  const axis = { stroke: cssVar('--muted'), grid: { stroke: cssVar('--border'), width: 1 }, ticks: { stroke: cssVar('--border') } };
  const u = new window.uPlot({
    width: Math.max(plot.clientWidth, 300),
    height: HEIGHT,
    scales: { x: { time: true }, y: { range: (_u, min, max) => [0, Math.max(max * 1.1, 1)] } },
    axes: [axis, { ...axis, size: 56, values: (_u, vals) => vals.map((v) => fmt(v, '')) }],
    series: [{}, ...spec.series.map(([label, , stroke]) => ({
      label, stroke, width: 2, spanGaps: false,
      // Dots while there are few points, so a lone bucket still shows.
      points: { show: (_u, _si, i0, i1) => i1 - i0 < 12, size: 5 },
      value: (_u, v) => fmt(v, spec.unit),
    }))],
  }, data, plot);
  new ResizeObserver(() => u.setSize({ width: Math.max(plot.clientWidth, 300), height: HEIGHT })).observe(plot);
  return u;
}

/** render draws one answer of /api/v1/admin/stats. */
function render(stats) {
  let points = 0;
  for (const spec of SPECS) {
    const data = [stats.time, ...spec.series.map(([, pick]) => pick(stats) || [])];
    if (charts[spec.id]) charts[spec.id].setData(data);
    else charts[spec.id] = makeChart(spec, data);
    const last = stats.time.length - 1;
    $(spec.id).querySelector('.ops-now').textContent = last < 0 ? 'No data yet.' :
      'Now: ' + spec.series.map(([label, pick]) => `${label} ${fmt((pick(stats) || [])[last], spec.unit)}`).join(', ');
    for (const [, pick] of spec.series) points += (pick(stats) || []).filter((v) => v > 0).length;
  }
  el.charts.dataset.points = String(points);
  el.charts.dataset.buckets = String(stats.time.length);
}

function setState(text, live) {
  el.state.textContent = text;
  el.state.dataset.state = live ? 'live' : '';
}

function showError(message) {
  el.error.textContent = message;
  el.error.hidden = !message;
}

async function refresh() {
  if (!token) {
    setState('Not signed in.', false);
    return;
  }
  try {
    const res = await fetch('/api/v1/admin/stats', { headers: { Accept: 'application/json', Authorization: `Bearer ${token}` }, cache: 'no-store' });
    if (res.status === 404) {
      stop();
      el.charts.hidden = true;
      setState('Not signed in.', false);
      showError('This token is not an admin token (or no longer works): the stats are for admins only. Paste an admin token.');
      el.input.focus();
      return;
    }
    if (!res.ok) throw new Error(`the server answered ${res.status}`);
    const stats = await res.json();
    showError('');
    el.charts.hidden = false;
    render(stats);
    setState(`Live · updated ${new Date().toLocaleTimeString()} · ${stats.scope === 'node' ? 'this node' : stats.scope}`, true);
  } catch (err) {
    setState('Reconnecting…', false);
    showError(`Could not read the stats: ${err.message}. Retrying every ${REFRESH_MS / 1000} s.`);
  }
}

function stop() {
  if (timer) clearInterval(timer);
  timer = null;
}

function start() {
  stop();
  refresh();
  timer = setInterval(refresh, REFRESH_MS);
}

el.form.addEventListener('submit', (e) => {
  e.preventDefault();
  const t = el.input.value.trim();
  if (!t) { el.input.focus(); return; }
  token = t;
  try { sessionStorage.setItem(OWN_KEY, t); } catch { /* private mode: keep it in memory */ }
  el.input.value = '';
  start();
});

el.forget.addEventListener('click', () => {
  try { sessionStorage.removeItem(OWN_KEY); } catch { /* nothing stored */ }
  token = '';
  stop();
  el.charts.hidden = true;
  showError('');
  setState('Not signed in.', false);
});

// Pause while the tab is hidden; catch up at once when it shows again.
document.addEventListener('visibilitychange', () => {
  if (document.hidden) stop();
  else if (token) start();
});

if (token) start();
