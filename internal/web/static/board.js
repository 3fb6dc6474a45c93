// medcmdb board: a small single-page app over the GraphQL API. Every value is put into
// the page as text (never as HTML), so device strings from the network cannot inject.
'use strict';

const TOKEN_KEY = 'medcmdb.token';
const REFRESH_MS = 10000;
const PRIORITIES = ['P1', 'P2', 'P3', 'P4', 'P5'];
const STATUSES = ['OPERATIONAL', 'DEGRADED', 'DOWN', 'UNKNOWN', 'MAINTENANCE', 'RETIRED'];

let refreshTimer = null;
let tickers = [];

// ---- tiny DOM helpers -------------------------------------------------------------

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    // CSSOM, not a style attribute: the page's CSP forbids inline style attributes.
    else if (k === 'style') Object.assign(e.style, v);
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    e.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}
const $ = (id) => document.getElementById(id);
const badge = (v) => el('span', { class: 'badge ' + v }, v);
const fmtTime = (s) => (s ? new Date(s).toLocaleString() : '—');

function fmtDuration(ms) {
  const neg = ms < 0;
  let s = Math.floor(Math.abs(ms) / 1000);
  const d = Math.floor(s / 86400); s -= d * 86400;
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  const txt = d > 0 ? `${d}d ${h}h` : h > 0 ? `${h}h ${m}m` : `${m}m ${String(s).padStart(2, '0')}s`;
  return neg ? '-' + txt : txt;
}

function toast(msg) {
  const t = $('toast');
  t.textContent = msg;
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, 4000);
}

// ---- API ------------------------------------------------------------------------

class AuthError extends Error {}

async function gql(query, variables) {
  const token = localStorage.getItem(TOKEN_KEY) || '';
  const res = await fetch('/graphql', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: 'Bearer ' + token },
    body: JSON.stringify({ query, variables: variables || {} }),
  });
  let body;
  try { body = await res.json(); } catch (e) { throw new Error('HTTP ' + res.status); }
  if (body.errors && body.errors.length) {
    const code = body.errors[0].extensions && body.errors[0].extensions.code;
    if (code === 'UNAUTHENTICATED') throw new AuthError(body.errors[0].message);
    throw new Error(body.errors[0].message);
  }
  return body.data;
}

// ---- routing --------------------------------------------------------------------

const routes = [
  [/^#?\/?$/, 'noc', viewNOC],
  [/^#\/incidents$/, 'incidents', viewIncidents],
  [/^#\/incident\/(.+)$/, 'incidents', viewIncident],
  [/^#\/assets$/, 'assets', viewAssets],
  [/^#\/problems$/, 'problems', viewProblems],
  [/^#\/asset\/(.+)$/, 'assets', viewAsset],
];

async function render() {
  clearInterval(refreshTimer);
  tickers = [];
  const hash = location.hash || '#/';
  const path = hash.split('?')[0];
  const params = new URLSearchParams(hash.split('?')[1] || '');
  for (const [re, name, fn] of routes) {
    const m = path.match(re);
    if (!m) continue;
    for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.route === name);
    const view = $('view');
    try {
      await fn(view, decodeURIComponent(m[1] || ''), params);
    } catch (e) {
      if (e instanceof AuthError) return showSignin(e.message);
      view.replaceChildren(el('p', { class: 'error' }, 'Could not load: ' + e.message));
    }
    return;
  }
  $('view').replaceChildren(el('p', {}, 'Not found.'));
}

function autoRefresh(fn) {
  refreshTimer = setInterval(() => fn().catch((e) => {
    if (e instanceof AuthError) showSignin(e.message);
  }), REFRESH_MS);
}

// ---- NOC board ------------------------------------------------------------------

// The board lists what someone must act on: open incidents not suppressed by a root
// cause (a root carries what it took down).
const NOC_QUERY = `query NOC {
  ${STATUSES.map((s) => `${s}: assets(filter: {status: ${s}}, first: 0) { totalCount }`).join('\n  ')}
  open: incidents(filter: {open: true, suppressed: false}, first: 500) {
    totalCount
    nodes { id number title priority state suppressed suppressedDeviceCount suppressedIncidentCount worstImpact flapping openedAt ackDueAt resolveDueAt slaBreached careArea
            suppressedBy { id number }
            asset { id name location { unit careArea } } }
  }
  health: assetHealth(groupBy: [CARE_AREA]) { careArea total operational degraded down unknown maintenance }
}`;

async function viewNOC(view) {
  view.classList.toggle('wall', window.innerWidth > 1600);
  const head = el('h1', {}, 'NOC board');
  const cards = el('div', { class: 'grid cards' });
  const prioCards = el('div', { class: 'grid cards' });
  const areas = el('div');
  const queue = el('div');
  view.replaceChildren(head,
    el('h2', {}, 'Devices'), cards,
    el('h2', {}, 'Open incidents by priority'), prioCards,
    el('div', { class: 'grid two' }, el('section', { 'data-testid': 'areas' }, el('h2', {}, 'Health by care area'), areas),
      el('section', {}, el('h2', {}, 'Open incidents'), queue)));
  const load = async () => {
    const d = await gql(NOC_QUERY);
    cards.replaceChildren(...STATUSES.filter((s) => s !== 'RETIRED').map((s) =>
      el('a', { class: 'card status-card st-' + s, href: `#/assets?status=${s}`, 'data-testid': 'status-' + s },
        el('div', { class: 'n' }, d[s].totalCount), el('div', { class: 'l' }, s === 'UNKNOWN' ? 'UNKNOWN (monitoring lost)' : s))));
    const open = d.open.nodes;
    prioCards.replaceChildren(...PRIORITIES.map((p) =>
      el('a', { class: 'card', href: `#/incidents?priority=${p}` },
        el('div', { class: 'n' }, open.filter((i) => i.priority === p).length),
        el('div', { class: 'l' }, badge(p)))));
    renderAreas(areas, d.health, open);
    queue.replaceChildren(incidentTable(open, true));
  };
  await load();
  autoRefresh(load);
}

const AREA_STATUSES = ['OPERATIONAL', 'DEGRADED', 'DOWN', 'UNKNOWN', 'MAINTENANCE'];

// renderAreas shows health per care area: devices down, degraded and unknown
// (monitoring lost: no collector vouches for them), and the worst open P1/P2. A care
// area with an open P1 or P2 is never drawn green, whatever its device counts say.
function renderAreas(target, health, open) {
  const worst = {};
  for (const i of open) {
    const area = i.careArea || (i.asset && i.asset.location && i.asset.location.careArea) || '(none)';
    if ((i.priority === 'P1' || i.priority === 'P2') && (!worst[area] || i.priority < worst[area])) worst[area] = i.priority;
  }
  const rows = health.map((g) => ({ key: g.careArea || '(none)', total: g.total,
    counts: { OPERATIONAL: g.operational, DEGRADED: g.degraded, DOWN: g.down, UNKNOWN: g.unknown, MAINTENANCE: g.maintenance } }));
  const rank = (r) => (worst[r.key] === 'P1' ? 0 : worst[r.key] === 'P2' ? 1 : 2);
  rows.sort((a, b) => (rank(a) - rank(b)) || ((b.counts.DOWN || 0) - (a.counts.DOWN || 0)) ||
    ((b.counts.UNKNOWN || 0) - (a.counts.UNKNOWN || 0)) || a.key.localeCompare(b.key));
  const num = (n, cls) => el('td', { class: n ? cls : '' }, n || 0);
  target.replaceChildren(el('table', { 'data-testid': 'area-table' },
    el('thead', {}, el('tr', {}, ['Care area', 'Devices', 'Down', 'Degraded', 'Unknown', 'Open P1/P2', 'Health'].map((h) => el('th', {}, h)))),
    el('tbody', {}, rows.map((r) => {
      const alert = worst[r.key];
      return el('tr', { class: 'row-link' + (alert ? ' area-alert alert-' + alert : ''), 'data-area': r.key,
        onclick: () => { location.hash = '#/assets?careArea=' + encodeURIComponent(r.key); } },
      el('td', {}, r.key), el('td', {}, r.total), num(r.counts.DOWN, 'n-down'),
      num(r.counts.DEGRADED, 'n-degraded'), num(r.counts.UNKNOWN, 'n-unknown'),
      el('td', {}, alert ? badge(alert) : el('span', { class: 'muted' }, '—')),
      el('td', {}, el('div', { class: 'bar', title: JSON.stringify(r.counts) },
        AREA_STATUSES.map((st) =>
          // With an open P1/P2 the healthy share is drawn neutral, not green.
          el('span', { class: st === 'OPERATIONAL' && alert ? 'OPERATIONAL held' : st,
            style: { width: `${(100 * (r.counts[st] || 0)) / Math.max(1, r.total)}%` } })))));
    }))));
}

// rootLine says what a root cause took down, in devices and in incidents.
function rootLine(i) {
  if (!i.suppressedIncidentCount) return null;
  if (!i.suppressedDeviceCount) {
    // Only the device's own other conditions (its HL7 heartbeat while SNMP is down).
    return el('div', { class: 'muted' }, `also ${plural(i.suppressedIncidentCount, 'other condition')} of this device, suppressed under it`);
  }
  return el('div', { class: 'root' }, `root cause: ${plural(i.suppressedDeviceCount, 'device')} down behind it ` +
    `(${plural(i.suppressedIncidentCount, 'incident')} suppressed)` + (i.worstImpact ? ` · worst ${i.worstImpact}` : ''));
}
const plural = (n, noun) => `${n} ${noun}${n === 1 ? '' : 's'}`;

// countdown renders time left to a due date, updated every second.
function countdown(due, done) {
  const span = el('span', { class: 'countdown' });
  const upd = () => {
    if (done) { span.textContent = '—'; return; }
    const left = new Date(due) - Date.now();
    span.textContent = left < 0 ? 'overdue ' + fmtDuration(-left) : fmtDuration(left);
    span.classList.toggle('overdue', left < 0);
  };
  upd();
  tickers.push(upd);
  return span;
}

// slaCell is an incident's SLA countdown; a suppressed incident has no clock of its
// own in the view: its root's clock is the one that counts.
function slaCell(i, due, done) {
  if (i.suppressed) {
    return el('td', { class: 'muted', 'data-sla': 'suppressed' }, 'suppressed by ',
      i.suppressedBy ? el('a', { href: '#/incident/' + i.suppressedBy.id, onclick: (e) => e.stopPropagation() }, i.suppressedBy.number) : 'its root');
  }
  return el('td', { 'data-sla': 'countdown' }, countdown(due, done));
}

function incidentTable(list, compact) {
  if (!list.length) return el('p', { class: 'muted' }, 'No incidents.');
  return el('table', { 'data-testid': 'incident-table' },
    el('thead', {}, el('tr', {}, el('th', {}, 'Pri'), el('th', {}, 'Incident'), el('th', {}, 'State'),
      el('th', {}, 'Where'), el('th', {}, 'Ack due'), compact ? null : el('th', {}, 'Restore due'))),
    el('tbody', {}, list.map((i) => el('tr', { class: 'row-link' + (i.suppressed ? ' suppressed' : ''), 'data-incident': i.number,
      'data-suppressed': i.suppressed ? 'true' : 'false', onclick: () => { location.hash = '#/incident/' + i.id; } },
      el('td', {}, badge(i.priority)),
      el('td', {}, el('div', {}, i.number + ' · ' + i.title),
        rootLine(i),
        i.flapping ? el('div', { class: 'muted' }, 'flapping') : null),
      el('td', {}, badge(i.state)),
      el('td', {}, (i.asset && i.asset.location && (i.asset.location.unit || i.asset.location.careArea)) || i.careArea || '—'),
      slaCell(i, i.ackDueAt, i.state !== 'OPEN'),
      compact ? null : slaCell(i, i.resolveDueAt, i.state === 'RESOLVED')))));
}

// ---- incidents ------------------------------------------------------------------

const INCIDENT_FIELDS = `id number title priority impact urgency priorityReason state suppressed condition
  openedAt acknowledgedAt resolvedAt ackDueAt resolveDueAt slaBreached careArea flapping escalationLevel
  suppressedCount suppressedIncidentCount suppressedDeviceCount impactedIncidentCount impactedDeviceCount dependents
  worstImpact suppressedBy { id number title }
  knowledge { title url text match }
  problems { id number title state }
  asset { id name class status location { building floor unit careArea room bed } }
  timeline { at kind actor note }`;

// The queue lists what someone must act on; incidents suppressed by a root cause are
// one click away (the toggle), never mixed in by default.
async function viewIncidents(view, _, params) {
  const state = params.get('state') || '';
  const priority = params.get('priority') || '';
  const open = params.get('all') ? null : true;
  const withSuppressed = params.get('suppressed') === '1';
  const stateSel = el('select', { 'aria-label': 'state' }, el('option', { value: '' }, 'any state'),
    ['OPEN', 'ACKNOWLEDGED', 'RESOLVED'].map((s) => el('option', { value: s, selected: s === state }, s)));
  const prioSel = el('select', { 'aria-label': 'priority' }, el('option', { value: '' }, 'any priority'),
    PRIORITIES.map((p) => el('option', { value: p, selected: p === priority }, p)));
  const supBox = el('input', { type: 'checkbox', id: 'show-suppressed', checked: withSuppressed, 'data-testid': 'show-suppressed' });
  const apply = () => {
    const q = new URLSearchParams();
    if (stateSel.value) q.set('state', stateSel.value);
    if (prioSel.value) q.set('priority', prioSel.value);
    if (stateSel.value === 'RESOLVED') q.set('all', '1');
    if (supBox.checked) q.set('suppressed', '1');
    location.hash = '#/incidents' + (q.toString() ? '?' + q : '');
  };
  stateSel.onchange = apply;
  prioSel.onchange = apply;
  supBox.onchange = apply;
  const list = el('div');
  view.replaceChildren(el('h1', {}, 'Incident queue'), el('div', { class: 'toolbar' }, stateSel, prioSel,
    el('label', { for: 'show-suppressed', class: 'check' }, supBox, ' show suppressed (their root cause is down)')), list);
  const load = async () => {
    const filter = {};
    if (state) filter.state = state;
    if (priority) filter.priority = priority;
    if (open !== null && !state) filter.open = true;
    const hidden = { ...filter, suppressed: true };
    if (!withSuppressed) filter.suppressed = false;
    // The server's order: unresolved first, P1 first, the one open longest first.
    const d = await gql(`query Q($f: IncidentFilter, $h: IncidentFilter) {
      incidents(filter: $f, first: 200) { totalCount nodes { ${INCIDENT_FIELDS} } }
      hidden: incidents(filter: $h, first: 0) { totalCount } }`, { f: filter, h: hidden });
    const n = d.incidents.totalCount;
    const shown = d.incidents.nodes.length < n ? ` (the first ${d.incidents.nodes.length} shown)` : '';
    const note = withSuppressed
      ? `${n} incident(s)${shown}, ${d.hidden.totalCount} of them suppressed under a root cause`
      : `${n} incident(s) to act on${shown}; ${d.hidden.totalCount} suppressed under a root cause not shown`;
    list.replaceChildren(el('p', { class: 'muted', 'data-testid': 'incident-count' }, note), incidentTable(d.incidents.nodes, false));
  };
  await load();
  autoRefresh(load);
}

async function viewIncident(view, id) {
  const load = async () => {
    const d = await gql(`query Q($id: ID!) { incident(id: $id) { ${INCIDENT_FIELDS}
      impactedDevices(first: 500) { id name class status patientConnected location { unit careArea } } } }`, { id });
    const i = d.incident;
    if (!i) { view.replaceChildren(el('p', {}, 'No such incident.')); return; }
    const note = el('textarea', { placeholder: 'Note (optional)', 'aria-label': 'note' });
    const act = async (mutation, label) => {
      try {
        const noteType = mutation === 'addIncidentNote' ? 'String!' : 'String';
        await gql(`mutation M($id: ID!, $note: ${noteType}) { ${mutation}(id: $id, note: $note) { id state } }`, { id: i.id, note: note.value || null });
        toast(`${i.number} ${label}`);
        await load();
      } catch (e) {
        if (e instanceof AuthError) return showSignin(e.message);
        toast('Failed: ' + e.message);
      }
    };
    view.replaceChildren(
      el('h1', {}, badge(i.priority), ' ', i.number, ' · ', i.title),
      el('div', { class: 'actions' },
        badge(i.state), i.suppressed ? el('span', { class: 'muted' }, 'suppressed: an upstream device is down') : null,
        note,
        el('button', { type: 'button', disabled: i.state !== 'OPEN', 'data-action': 'acknowledge', onclick: () => act('acknowledgeIncident', 'acknowledged') }, 'Acknowledge'),
        el('button', { type: 'button', class: 'secondary', disabled: i.state === 'RESOLVED', 'data-action': 'resolve', onclick: () => act('resolveIncident', 'resolved') }, 'Resolve'),
        el('button', { type: 'button', class: 'secondary', 'data-action': 'note', onclick: () => {
          if (!note.value.trim()) { toast('Write a note first'); return; }
          act('addIncidentNote', 'noted');
        } }, 'Add note')),
      el('div', { class: 'grid two' },
        el('section', {}, el('h2', {}, 'Details'), el('dl', { class: 'kv' },
          kv('Condition', i.condition), kv('Why this priority', i.priorityReason),
          kv('Impact / urgency', `${i.impact} / ${i.urgency}`),
          kv('Opened', fmtTime(i.openedAt)),
          i.suppressed ? kv('SLA', el('span', { 'data-sla': 'suppressed' }, 'none of its own: suppressed by ',
            i.suppressedBy ? el('a', { href: '#/incident/' + i.suppressedBy.id }, i.suppressedBy.number) : 'its root cause', ', whose clock counts')) : [
            kv('Acknowledge due', el('span', {}, fmtTime(i.ackDueAt), ' (', countdown(i.ackDueAt, i.state !== 'OPEN'), ')')),
            kv('Restore due', el('span', {}, fmtTime(i.resolveDueAt), ' (', countdown(i.resolveDueAt, i.state === 'RESOLVED'), ')'))],
          kv('Acknowledged', fmtTime(i.acknowledgedAt)), kv('Resolved', fmtTime(i.resolvedAt)),
          kv('SLA breached', i.slaBreached ? 'yes' : 'no'),
          kv('Escalation level', i.escalationLevel || '—'),
          i.suppressedBy ? kv('Suppressed by', el('a', { href: '#/incident/' + i.suppressedBy.id }, i.suppressedBy.number + ' · ' + i.suppressedBy.title)) : null,
          i.impactedDeviceCount ? kv('Root cause of', el('span', { 'data-testid': 'root-counts' },
            `${plural(i.suppressedDeviceCount, 'device')} down behind it now (${plural(i.suppressedIncidentCount, 'incident')} suppressed); ` +
            `${plural(i.impactedDeviceCount, 'device')} (${plural(i.impactedIncidentCount, 'incident')}) taken down in all; worst ${i.worstImpact || '—'}`)) : null,
          !i.impactedDeviceCount && i.impactedIncidentCount ? kv('Also suppressed under it', plural(i.impactedIncidentCount, 'other condition') + ' of this device') : null,
          i.dependents ? kv('Dependents at opening', plural(i.dependents, 'device')) : null,
          kv('Device', i.asset ? el('a', { href: '#/asset/' + i.asset.id }, i.asset.name || i.asset.id) : '—'),
          kv('Location', i.asset ? locText(i.asset.location) : '—'))),
        el('section', {},
          impactedTable(i),
          i.knowledge.length ? [el('h2', {}, 'Runbooks'), el('ul', { 'data-testid': 'knowledge' }, i.knowledge.map((k) => el('li', {},
            k.url && /^https?:\/\//.test(k.url) ? el('a', { href: k.url, target: '_blank', rel: 'noopener noreferrer' }, k.title) : el('b', {}, k.title),
            k.text ? el('div', {}, k.text) : null, el('div', { class: 'muted' }, k.match))))] : null,
          i.problems.length ? [el('h2', {}, 'Problems'), el('ul', {}, i.problems.map((p) => el('li', {},
            el('a', { href: '#/problems' }, p.number + ' · ' + p.title), ' ', badge(p.state))))] : null,
          el('h2', {}, 'Timeline'), el('ul', { class: 'timeline' },
          i.timeline.map((e) => el('li', {}, el('div', {}, el('b', {}, e.kind), ' · ', e.actor, ' · ', el('span', { class: 'muted' }, fmtTime(e.at))),
            e.note ? el('div', {}, e.note) : null))))));
  };
  await load();
}

// impactedTable lists the devices a root incident took down, with links to them.
function impactedTable(i) {
  if (!i.impactedDevices.length) return null;
  return [el('h2', {}, `Devices taken down (${i.impactedDeviceCount})`),
    el('table', { 'data-testid': 'impacted-devices' },
      el('thead', {}, el('tr', {}, ['Device', 'Class', 'Unit', 'Care area', 'Patient connected', 'Status'].map((h) => el('th', {}, h)))),
      el('tbody', {}, i.impactedDevices.map((a) => el('tr', { 'data-asset': a.name || a.id },
        el('td', {}, el('a', { href: '#/asset/' + a.id }, a.name || a.id)), el('td', {}, a.class),
        el('td', {}, (a.location && a.location.unit) || '—'), el('td', {}, (a.location && a.location.careArea) || '—'),
        el('td', { class: a.patientConnected ? 'overdue' : 'muted' }, a.patientConnected ? 'yes' : 'no'),
        el('td', {}, badge(a.status))))))];
}

// ---- problems -------------------------------------------------------------------

async function viewProblems(view) {
  const list = el('div');
  view.replaceChildren(el('h1', {}, 'Problems'), el('p', { class: 'muted' },
    'Recurring failures of one device, or of one make and model across devices, grouped by the policy.'), list);
  const d = await gql(`{ problems(first: 200) { totalCount nodes { id number title scope state manufacturer model incidentCount assetCount conditions { condition count } firstSeenAt lastSeenAt rootCause } } }`);
  if (!d.problems.nodes.length) { list.replaceChildren(el('p', { class: 'muted' }, 'No problems.')); return; }
  list.replaceChildren(el('table', { 'data-testid': 'problems' },
    el('thead', {}, el('tr', {}, ['Problem', 'Scope', 'State', 'Incidents', 'Devices', 'Conditions', 'First seen', 'Last seen', 'Root cause'].map((h) => el('th', {}, h)))),
    el('tbody', {}, d.problems.nodes.map((p) => el('tr', {},
      el('td', {}, p.number + ' · ' + p.title), el('td', {}, p.scope), el('td', {}, badge(p.state)),
      el('td', {}, p.incidentCount), el('td', {}, p.assetCount), el('td', {}, p.conditions.map((c) => `${c.condition} ×${c.count}`).join(', ')),
      el('td', {}, fmtTime(p.firstSeenAt)), el('td', {}, fmtTime(p.lastSeenAt)), el('td', {}, p.rootCause || '—'))))));
}

const kv = (k, v) => [el('dt', {}, k), el('dd', {}, v === '' || v === null || v === undefined ? '—' : v)];
function locText(l) {
  if (!l) return '—';
  return [l.building, l.floor && 'floor ' + l.floor, l.unit, l.careArea && '(' + l.careArea + ')', l.room && 'room ' + l.room, l.bed && 'bed ' + l.bed]
    .filter(Boolean).join(' ') || '—';
}

// ---- assets ---------------------------------------------------------------------

async function viewAssets(view, _, params) {
  const search = el('input', { type: 'search', placeholder: 'Name, serial, IP, MAC, model…', value: params.get('q') || '', 'aria-label': 'search' });
  const status = el('select', { 'aria-label': 'status' }, el('option', { value: '' }, 'any status'),
    STATUSES.map((s) => el('option', { value: s, selected: s === params.get('status') }, s)));
  const area = el('input', { placeholder: 'Care area', value: params.get('careArea') || '', 'aria-label': 'care area', size: 10 });
  const results = el('div');
  const go = () => {
    const q = new URLSearchParams();
    if (search.value) q.set('q', search.value);
    if (status.value) q.set('status', status.value);
    if (area.value) q.set('careArea', area.value);
    location.hash = '#/assets' + (q.toString() ? '?' + q : '');
  };
  const form = el('form', { class: 'toolbar', onsubmit: (e) => { e.preventDefault(); go(); } }, search, status, area, el('button', { type: 'submit' }, 'Search'));
  status.onchange = go;
  view.replaceChildren(el('h1', {}, 'Assets'), form, results);
  const filter = {};
  if (params.get('q')) filter.search = params.get('q');
  if (params.get('status')) filter.status = params.get('status');
  if (params.get('careArea')) filter.careArea = params.get('careArea');
  let after = null;
  const rows = el('tbody');
  const more = el('button', { type: 'button', class: 'secondary' }, 'More');
  const count = el('p', { class: 'muted' });
  const page = async () => {
    const d = await gql(`query Q($f: AssetFilter, $after: String) { assets(filter: $f, first: 100, after: $after) {
      totalCount pageInfo { hasNextPage endCursor }
      nodes { id name class status manufacturer model serialNumber firmwareVersion ipAddresses location { unit careArea } } } }`, { f: filter, after });
    count.textContent = `${d.assets.totalCount} asset(s)`;
    for (const a of d.assets.nodes) {
      rows.appendChild(el('tr', { class: 'row-link', 'data-asset': a.name || a.id, onclick: () => { location.hash = '#/asset/' + a.id; } },
        el('td', {}, a.name || a.id), el('td', {}, a.class), el('td', {}, badge(a.status)),
        el('td', {}, [a.manufacturer, a.model].filter(Boolean).join(' ') || '—'), el('td', {}, a.serialNumber || '—'),
        el('td', {}, a.firmwareVersion || '—'), el('td', {}, a.ipAddresses.join(', ') || '—'),
        el('td', {}, (a.location && (a.location.unit || a.location.careArea)) || '—')));
    }
    after = d.assets.pageInfo.endCursor;
    more.hidden = !d.assets.pageInfo.hasNextPage;
  };
  more.onclick = () => page().catch((e) => toast(e.message));
  results.replaceChildren(count, el('table', {}, el('thead', {}, el('tr', {},
    ['Name', 'Class', 'Status', 'Make / model', 'Serial', 'Firmware', 'IP', 'Where'].map((h) => el('th', {}, h)))), rows), more);
  await page();
}

async function viewAsset(view, id) {
  const d = await gql(`query Q($id: ID!) { asset(id: $id) {
    id name class status manufacturer model serialNumber firmwareVersion softwareVersion sysName sysDescr sysObjectID
    eui64 ipAddresses macAddresses site sources firstSeenAt lastSeenAt activeConditions patientConnected
    assetTag owner supportGroup installDate warrantyEnd nextPMDue pmOverdue notes
    location { building floor unit careArea room bed }
    risk { function physicalRisk maintenance incidentHistory score managed }
    upstream { kind port source asset { id name class status } }
    dependents { kind port source asset { id name class status } }
    recalls { reference title }
    advisories { reference title severity }
    history(first: 100) { at source actor field before after }
    incidents { id number title priority state openedAt }
  } }`, { id });
  const a = d.asset;
  if (!a) { view.replaceChildren(el('p', {}, 'No such asset.')); return; }
  view.replaceChildren(
    el('h1', {}, a.name || a.id, ' ', badge(a.status)),
    el('div', { class: 'grid two' },
      el('section', { 'data-testid': 'asset-main' },
        el('h2', {}, 'Identity'), el('dl', { class: 'kv' },
          kv('Class', a.class), kv('Manufacturer', a.manufacturer), kv('Model', a.model), kv('Serial', a.serialNumber),
          kv('Firmware', a.firmwareVersion), kv('Software', a.softwareVersion), kv('EUI-64', a.eui64),
          kv('sysName', a.sysName), kv('sysDescr', a.sysDescr), kv('sysObjectID', a.sysObjectID),
          kv('IP addresses', a.ipAddresses.join(', ')), kv('MAC addresses', a.macAddresses.join(', ')),
          kv('Seen by', a.sources.join(', ')), kv('First seen', fmtTime(a.firstSeenAt)), kv('Last seen', fmtTime(a.lastSeenAt)),
          kv('Active conditions', a.activeConditions.join(', ')), kv('Patient connected', a.patientConnected ? 'yes' : 'no')),
        el('h2', {}, 'Location'), el('dl', { class: 'kv' }, kv('Site', a.site), kv('Location', locText(a.location))),
        el('h2', {}, 'Risk (equipment management number)'), el('dl', { class: 'kv', 'data-testid': 'risk' },
          kv('Score', `${a.risk.score}` + (a.risk.managed ? ' — in the managed programme (≥ 12)' : '')),
          kv('Factors', `function ${a.risk.function} + physical risk ${a.risk.physicalRisk} + maintenance ${a.risk.maintenance} + incident history ${a.risk.incidentHistory}`)),
        el('h2', {}, 'Biomed'), el('dl', { class: 'kv' },
          kv('Asset tag', a.assetTag), kv('Owner', a.owner), kv('Support group', a.supportGroup),
          kv('Installed', a.installDate), kv('Warranty end', a.warrantyEnd),
          kv('Next PM due', a.nextPMDue ? el('span', { class: a.pmOverdue ? 'overdue' : '' }, a.nextPMDue + (a.pmOverdue ? ' (overdue)' : '')) : ''),
          kv('Recalls', a.recalls.map((r) => r.reference + (r.title ? ' ' + r.title : '')).join('; ')),
          kv('Advisories', a.advisories.map((x) => `${x.reference} (${x.severity})` + (x.title ? ' ' + x.title : '')).join('; ')),
          kv('Notes', a.notes)),
        el('h2', {}, 'Relationships'), el('div', { 'data-testid': 'relationships' }, relTable('Depends on', a.upstream), relTable('Depended on by', a.dependents)),
        el('h2', {}, 'Incidents'),
        a.incidents.length ? el('div', { class: 'fit' }, el('table', {}, el('tbody', {}, a.incidents.map((i) =>
          el('tr', { class: 'row-link', onclick: () => { location.hash = '#/incident/' + i.id; } },
            el('td', {}, badge(i.priority)), el('td', { class: 'wrap' }, i.number + ' · ' + i.title), el('td', {}, badge(i.state)), el('td', {}, fmtTime(i.openedAt)))))))
          : el('p', { class: 'muted' }, 'None.')),
      el('section', { 'data-testid': 'asset-history' }, el('h2', {}, 'History'), el('ul', { class: 'timeline', 'data-testid': 'history' },
        a.history.map((h) => el('li', {},
          el('div', {}, el('b', {}, h.field), ': ', h.before || '∅', ' → ', h.after || '∅'),
          el('div', { class: 'muted' }, fmtTime(h.at), ' · ', h.source, ' · ', h.actor)))))));
}

function relTable(title, rels) {
  if (!rels.length) return el('p', { class: 'muted' }, title + ': none.');
  // Wrapped so that a long name or many columns scroll inside the column, never over
  // the History next to it.
  // Compact: the class under the name and the source under the kind keep four
  // columns, which fit the narrow column.
  return el('div', { class: 'fit' }, el('table', { class: 'rels' }, el('caption', {}, title), el('tbody', {}, rels.map((r) => el('tr', { class: 'row-link', onclick: () => { location.hash = '#/asset/' + r.asset.id; } },
    el('td', {}, r.kind, el('div', { class: 'muted small' }, r.source)),
    el('td', { class: 'wrap' }, r.asset.name || r.asset.id, el('div', { class: 'muted small' }, r.asset.class)),
    el('td', {}, badge(r.asset.status)),
    el('td', { class: 'wrap' }, r.port ? 'port ' + r.port : ''))))));
}

// ---- sign-in and start ----------------------------------------------------------

function showSignin(msg) {
  clearInterval(refreshTimer);
  $('signin').hidden = false;
  $('signin-error').textContent = msg && localStorage.getItem(TOKEN_KEY) ? msg : '';
  $('token-input').focus();
}

async function signin(e) {
  e.preventDefault();
  const token = $('token-input').value.trim();
  localStorage.setItem(TOKEN_KEY, token);
  try {
    await gql('{ assets(first: 0) { totalCount } }');
  } catch (err) {
    $('signin-error').textContent = err instanceof AuthError ? 'That token is not valid.' : err.message;
    return;
  }
  $('token-input').value = '';
  $('signin').hidden = true;
  render();
}

function start() {
  $('signin-form').addEventListener('submit', signin);
  $('signout').addEventListener('click', () => { localStorage.removeItem(TOKEN_KEY); showSignin(); });
  window.addEventListener('hashchange', render);
  setInterval(() => {
    $('clock').textContent = new Date().toLocaleTimeString();
    for (const t of tickers) t();
  }, 1000);
  if (!localStorage.getItem(TOKEN_KEY)) showSignin();
  else render();
}

document.addEventListener('DOMContentLoaded', start);
