// Became status page: plain JS, no libraries. Data from /status, /models, /tasks; live updates from /events (SSE).
// Every figure from the device goes in through textContent: task names come from task payloads.
'use strict';

const page = {
  status: null,
  models: [],
  tasks: new Map(),
  events: [],
  progress: null,
  refreshTimer: 0,
};

const byId = (id) => document.getElementById(id);

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function row1(cell) {
  const row = el('tr');
  row.append(cell);
  return row;
}

// Local time as 2026-12-01 05:33: unambiguous on every locale.
function when(iso) {
  const d = new Date(iso);
  const two = (n) => String(n).padStart(2, '0');
  return d.getFullYear() + '-' + two(d.getMonth() + 1) + '-' + two(d.getDate()) + ' ' + two(d.getHours()) + ':' + two(d.getMinutes());
}

function fixed(value, digits) {
  return typeof value === 'number' && Number.isFinite(value) ? value.toFixed(digits) : '–';
}

function setConnection(live) {
  const pill = byId('connection');
  pill.textContent = live ? 'live' : 'reconnecting…';
  pill.className = 'pill ' + (live ? 'pill-live' : 'pill-wait');
}

async function getJson(path) {
  const reply = await fetch(path, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
  if (reply.status === 401) {
    // The session cookie is gone (another token, a new browser): the page itself shows the login form.
    window.location.assign('/');
    throw new Error('token required');
  }
  if (!reply.ok) throw new Error(path + ': HTTP ' + reply.status);
  return reply.json();
}

async function refresh() {
  page.refreshTimer = 0;
  try {
    const [models, tasks] = await Promise.all([getJson('/models'), getJson('/tasks')]);
    page.models = models;
    page.tasks = new Map(tasks.map((t) => [t.id, t]));
    renderLineage();
    renderVersions();
  } catch (e) {
    if (e.message !== 'token required') showReply('Could not read the versions: ' + e.message, true);
  }
}

function scheduleRefresh() {
  if (!page.refreshTimer) page.refreshTimer = window.setTimeout(refresh, 150);
}

// ---- status and training -------------------------------------------------------------------------------------

function renderStatus() {
  const s = page.status;
  if (!s) return;
  byId('deployed-version').textContent = s.deployedVersion > 0 ? 'v' + s.deployedVersion : 'none';
  const state = byId('agent-state');
  state.textContent = s.state;
  state.className = 'big state ' + s.state;
  byId('queue-length').textContent = s.queueLength;
  byId('tasks-learned').textContent = s.tasksLearned;
  const groups = byId('groups');
  groups.hidden = !(s.groups && s.groups.length);
  groups.textContent = groups.hidden ? '' : 'groups: ' + s.groups.join(', ');
  const error = byId('last-error');
  error.hidden = !s.lastError;
  error.textContent = s.lastError ? 'Last error: ' + s.lastError : '';
  renderProgress();
}

function renderProgress() {
  const training = page.status && page.status.state === 'training';
  const p = training ? page.progress : null;
  const bar = byId('progress-bar');
  const fill = byId('progress-fill');
  const label = byId('progress-label');
  bar.classList.toggle('busy', training && !p);
  if (!training) {
    label.textContent = 'Idle: waiting for a task.';
    fill.style.setProperty('width', '0%');
    bar.setAttribute('aria-valuenow', '0');
  } else if (!p) {
    label.textContent = 'Training: preparing the task…';
    fill.style.removeProperty('width');
  } else {
    const percent = Math.max(0, Math.min(100, (100 * p.epoch) / Math.max(1, p.epochs)));
    label.textContent = 'Training ' + (p.taskId || '') + ': stage ' + p.stage + ', epoch ' + p.epoch + ' / ' + p.epochs;
    fill.style.setProperty('width', percent.toFixed(1) + '%');
    bar.setAttribute('aria-valuenow', percent.toFixed(0));
  }
  byId('progress-loss').textContent = p ? fixed(p.loss, 4) : '–';
  byId('progress-accuracy').textContent = p && typeof p.validationAccuracy === 'number' ? fixed(p.validationAccuracy, 1) + ' %' : '–';
  byId('progress-rate').textContent = p && typeof p.samplesPerSecond === 'number' ? Math.round(p.samplesPerSecond).toLocaleString('en') : '–';
}

// ---- lineage: accuracy heatmap and memory ranks ----------------------------------------------------------------

function lineage() {
  const byVersion = new Map(page.models.map((m) => [m.version, m]));
  const current = page.models.find((m) => m.deployed);
  const chain = [];
  for (let m = current; m && !chain.includes(m); m = byVersion.get(m.parent)) chain.unshift(m);
  return { chain, current };
}

// A light-to-dark ramp from pale orange (50 %) to deep blue (100 %): the last digits stay readable on every cell.
const ramp = [[0, [251, 227, 214]], [0.25, [246, 241, 231]], [0.55, [201, 220, 239]], [0.8, [91, 143, 201]], [1, [31, 79, 143]]];

function heatColour(t) {
  t = Math.max(0, Math.min(1, t));
  for (let i = 1; i < ramp.length; i++) {
    if (t <= ramp[i][0]) {
      const [t0, c0] = ramp[i - 1];
      const [t1, c1] = ramp[i];
      const f = (t - t0) / (t1 - t0);
      return 'rgb(' + c0.map((c, k) => Math.round(c + f * (c1[k] - c))).join(',') + ')';
    }
  }
  return 'rgb(31,79,143)';
}

function heatCell(value, t, digits) {
  if (typeof value !== 'number') return el('td', '·', 'empty');
  const cell = el('td', fixed(value, digits));
  cell.style.setProperty('background-color', heatColour(t));
  cell.style.setProperty('color', t > 0.72 ? '#fff' : '#1b2430');
  return cell;
}

function versionHeader(chain, current, corner) {
  const head = el('thead');
  const row = el('tr');
  row.append(el('th', corner));
  for (const m of chain) {
    const th = el('th', 'v' + m.version, m === current ? 'current' : undefined);
    th.title = 'version ' + m.version + ' learned ' + m.taskId;
    row.append(th);
  }
  head.append(row);
  return head;
}

function taskLabel(id) {
  const task = page.tasks.get(id);
  return task && task.name && task.name !== id ? task.name + ' (' + id + ')' : id;
}

function renderLineage() {
  const { chain, current } = lineage();
  const matrix = byId('accuracy-matrix');
  const ranks = byId('memory-ranks');
  matrix.replaceChildren();
  ranks.replaceChildren();
  if (!current) {
    matrix.append(el('caption', 'No model deployed yet.', 'muted'));
    ranks.append(el('caption', 'No model deployed yet.', 'muted'));
    return;
  }

  // The colour scale starts at the lowest figure shown, rounded down to 5 (never above 90): forgetting of a few
  // points stays visible when every task is in the high nineties.
  const figures = chain.flatMap((m) => current.tasks.map((t) => (m.accuracy || {})[t]).filter((a) => typeof a === 'number'));
  const low = Math.min(90, Math.floor(Math.min(100, ...figures) / 5) * 5);
  byId('legend-low').textContent = low + '%';
  matrix.append(versionHeader(chain, current, 'Task'));
  const body = el('tbody');
  for (const task of current.tasks) {
    const row = el('tr');
    const th = el('th', taskLabel(task));
    th.title = taskLabel(task);
    row.append(th);
    for (const m of chain) {
      const a = m.accuracy ? m.accuracy[task] : undefined;
      row.append(heatCell(a, (a - low) / (100 - low), 1));
    }
    body.append(row);
  }
  matrix.append(body);
  const foot = el('tfoot');
  const merge = el('tr');
  merge.append(el('th', 'merge a'));
  for (const m of chain) merge.append(el('td', typeof m.mergeCoefficient === 'number' ? fixed(m.mergeCoefficient, 3) : '–'));
  foot.append(merge);
  matrix.append(foot);

  const layers = Math.max(0, ...chain.map((m) => (m.memoryRanks || []).length));
  const top = Math.max(1, ...chain.flatMap((m) => m.memoryRanks || []));
  ranks.append(versionHeader(chain, current, 'Layer'));
  const rankBody = el('tbody');
  for (let layer = 0; layer < layers; layer++) {
    const row = el('tr');
    row.append(el('th', 'layer ' + (layer + 1)));
    for (const m of chain) {
      const r = (m.memoryRanks || [])[layer];
      row.append(heatCell(r, (0.25 + (0.75 * (r || 0)) / top), 0));
    }
    rankBody.append(row);
  }
  if (layers === 0) rankBody.append(row1(el('td', 'No memory yet.', 'empty')));
  ranks.append(rankBody);
}

// ---- versions and rollback ----------------------------------------------------------------------------------

function verdict(m) {
  if (m.corrupt) return ['corrupt', m.corrupt];
  if (m.deployed) return ['deployed', null];
  if (m.gateReason) return ['rejected', m.gateReason];
  return ['stored', null];
}

function renderVersions() {
  const table = byId('versions');
  table.replaceChildren();
  const head = el('thead');
  const hr = el('tr');
  for (const [name, cls] of [['Version'], ['Task'], ['Accuracy', 'num'], ['Without task id', 'num'], ['Verdict'], ['Created', 'wide'], ['']]) hr.append(el('th', name, cls));
  head.append(hr);
  table.append(head);
  const body = el('tbody');
  for (const m of [...page.models].sort((a, b) => b.version - a.version)) {
    const row = el('tr');
    row.dataset.version = m.version;
    row.append(el('td', 'v' + m.version));
    const task = page.tasks.get(m.taskId);
    const taskCell = el('td', task && task.name ? task.name : m.taskId);
    if (task && task.name && task.name !== m.taskId) taskCell.append(el('span', m.taskId, 'task-id'));
    row.append(taskCell);
    row.append(el('td', m.accuracy && typeof m.accuracy[m.taskId] === 'number' ? fixed(m.accuracy[m.taskId], 1) + ' %' : '–', 'num'));
    row.append(el('td', typeof m.taskAgnosticAccuracy === 'number' ? fixed(m.taskAgnosticAccuracy, 1) + ' %' : '–', 'num'));
    const [kind, reason] = verdict(m);
    const cell = el('td');
    cell.append(el('span', kind, 'badge ' + kind));
    if (reason) cell.append(el('span', reason, 'reason'));
    row.append(cell);
    row.append(el('td', m.createdAt ? when(m.createdAt) : '', 'wide'));
    const action = el('td');
    if (!m.deployed && !m.corrupt) {
      const button = el('button', 'Deploy', 'deploy');
      button.type = 'button';
      button.dataset.version = m.version;
      button.addEventListener('click', () => rollback(m.version, button));
      action.append(button);
    }
    row.append(action);
    body.append(row);
  }
  if (page.models.length === 0) body.append(row1(el('td', 'No versions yet.', 'muted')));
  table.append(body);
}

function showReply(text, failed) {
  const reply = byId('rollback-reply');
  reply.hidden = false;
  reply.textContent = text;
  reply.className = 'reply' + (failed ? ' failed' : '');
}

async function rollback(version, button) {
  if (!window.confirm('Deploy version ' + version + '? The device serves it at once (or after the task now training).')) return;
  button.disabled = true;
  try {
    // The header tells the agent this POST comes from its own page (a cookie alone never authorises a change).
    const reply = await fetch('/models/' + version + '/deploy', { method: 'POST', credentials: 'same-origin', headers: { 'X-Became-Page': '1' } });
    const body = await reply.json().catch(() => ({}));
    if (reply.status === 200) showReply('Version ' + version + ' is deployed.', false);
    else if (reply.status === 202) showReply('Rollback to version ' + version + ' queued: a task is training; the version is deployed when it ends.', false);
    else showReply('Rollback refused (' + (body.error || 'HTTP ' + reply.status) + '): ' + (body.message || ''), true);
  } catch (e) {
    showReply('Rollback failed: ' + e.message, true);
  } finally {
    button.disabled = false;
    scheduleRefresh();
  }
}

// ---- events -------------------------------------------------------------------------------------------------

const warnings = new Set(['task.deferred', 'job.interrupted', 'message.dropped', 'model.rejected', 'request.rejected']);
const failures = new Set(['task.rejected', 'job.failed', 'model.corrupt']);

function summary(e) {
  switch (e.type) {
    case 'task.accepted': return (e.name ? e.name + ': ' : '') + e.samples + ' samples, ' + e.classes + ' classes; queue ' + e.queueLength;
    case 'task.duplicate': return 'already ' + e.state;
    case 'model.merged': return 'merge coefficient ' + fixed(e.mergeCoefficient, 3);
    case 'model.deployed': return 'v' + e.version + (e.rollback ? ' (rollback)' : '') + (e.trainingSeconds ? ', trained in ' + fixed(e.trainingSeconds, 1) + ' s' : '');
    case 'model.rejected': return 'v' + e.version + ' kept back: ' + e.reason;
    case 'model.corrupt': return 'v' + e.version + ' corrupt; serving v' + e.fallbackVersion;
    case 'job.failed': return e.reason + (e.retry ? ', retry in ' + fixed(e.retryInSeconds, 0) + ' s' : '');
    case 'job.interrupted': return 'restarting from the beginning';
    default: return [e.reason, e.message, e.topic].filter(Boolean).join(': ');
  }
}

function renderEvents() {
  const list = byId('events');
  list.replaceChildren();
  const shown = page.events.filter((e) => e.type !== 'training.progress').slice(-40).reverse();
  for (const e of shown) {
    const item = el('li');
    const time = el('time', new Date(e.time).toLocaleTimeString('en-GB'));
    time.dateTime = e.time;
    item.append(time);
    item.append(el('span', e.type, 'type' + (failures.has(e.type) ? ' bad' : warnings.has(e.type) ? ' warn' : '')));
    item.append(el('span', (e.taskId ? e.taskId + ' · ' : '') + summary(e), 'what'));
    list.append(item);
  }
  if (shown.length === 0) list.append(el('li', 'No events yet.', 'muted'));
}

function onEvent(e) {
  page.events.push(e);
  if (page.events.length > 400) page.events.splice(0, page.events.length - 400);
  if (e.type === 'training.progress') {
    page.progress = e;
    renderProgress();
    return;
  }
  if (e.type === 'model.deployed' || e.type === 'model.rejected') page.progress = null;
  renderEvents();
  if (e.type.startsWith('model.') || e.type.startsWith('task.') || e.type === 'job.failed') scheduleRefresh();
}

function onStatus(s) {
  const before = page.status;
  page.status = s;
  if (s.state !== 'training') page.progress = null;
  renderStatus();
  if (!before || before.deployedVersion !== s.deployedVersion || before.tasksLearned !== s.tasksLearned) scheduleRefresh();
}

function connect() {
  const source = new EventSource('/events');
  source.onopen = () => setConnection(true);
  source.onerror = () => setConnection(false);
  source.onmessage = (m) => onEvent(JSON.parse(m.data));
  source.addEventListener('status', (m) => onStatus(JSON.parse(m.data)));
}

document.addEventListener('DOMContentLoaded', () => {
  renderEvents();
  refresh();
  connect();
});
