// The dashboard's entry point: sign-in, the views, filters, the live change
// stream and the periodic status poll. Everything the page shows comes from
// this node's API; partners' data arrives through the node's sync.
import * as api from './api.js';
import { downloadCsv } from './csv_export.js';
import { SheetError, importSheet } from './csv_import.js';
import { LANGUAGES, apply as applyI18n, language, setLanguage, supported, t } from './i18n.js';
import { countryName, languageName, localised } from './format.js';
import { PlacementsView } from './placements.js';
import { TimelineView } from './timeline.js';
import { RequestsView } from './requests.js';
import { FederationView } from './federation.js';
import { openReserveDialog } from './reserve.js';
import { loadReservations } from './reservations.js';
import { recordViews } from './record_views.js';
import { localiseFormChecks } from './ui.js';

const STATUS_POLL_MS = 5000;
const REFRESH_DEBOUNCE_MS = 200;
const VIEWS = ['placements', 'timeline', 'requests', 'federation', 'mobilities', 'mobility', 'contacts', 'organisations', 'report', 'audit'];
const BASE_COUNTRIES = ['FI', 'SE', 'NO', 'RU'];
const BASE_LANGUAGES = ['en', 'fi', 'sv', 'nb', 'no', 'ru', 'de', 'se'];

const state = {
  self: null, // {id, name, country, role}
  frozen: new Set(),
  members: [],
  peers: [],
  orgs: new Map(),
  placements: [],
  placementById: new Map(),
  incoming: [],
  outgoing: [],
  filters: { trade: '', country: '', from: '', to: '', language: '', available: false },
  trades: new Set(),
  countries: new Set(BASE_COUNTRIES),
  languages: new Set(BASE_LANGUAGES),
  generation: 0,
  view: 'placements',
};

// What tests and the render-time measurement read (no secrets here).
const debug = (window.conect = { ready: false, refreshes: 0, loads: 0, timings: {}, live: false });

const $ = (id) => document.getElementById(id);

// ------------------------------------------------------------------ context
const ctx = {
  hostName(p) {
    const org = state.orgs.get(p.host);
    const name = org ? localised(org.names, language()) : '';
    return name || memberName(p.owner);
  },
  isOwn(p) {
    return Boolean(state.self && p.owner === state.self.id);
  },
  // The host's node left the federation or was removed: nobody decides a
  // request any more (the node refuses one).
  hostGone(p) {
    const m = state.members.find((x) => x.id === p.owner);
    return Boolean(m && (m.status === 'left' || m.status === 'removed'));
  },
  isAuditor() {
    return Boolean(state.self && state.self.role === 'auditor');
  },
  onRequest(p, windowId, button) {
    openReserveDialog(p, windowId, button, async (body) => {
      const r = await api.request('POST', `/api/v1/placements/${encodeURIComponent(p.id)}/reservations`, body);
      announce(t('reserve_sent'));
      onChange({ records: [{ id: r && r.id ? String(r.id) : p.id, record_type: r && r.id ? 'reservation' : 'placement' }] });
    });
  },
  memberName,
  onEditPlacement: (p, button) => records.placements.edit(p, button),
  onClosePlacement: (p, button) => records.placements.close(p, button),
  placement(id) {
    return state.placementById.get(id) || state.reservationPlacements?.get(id) || null;
  },
  async onDecide(r, action, button) {
    button.disabled = true;
    try {
      await api.request('POST', `/api/v1/reservations/${encodeURIComponent(r.id)}/${action}`, {});
      showError(null);
      onChange({ records: [{ id: r.id, record_type: 'reservation' }] });
    } catch (e) {
      showError(e);
      button.disabled = false;
    }
  },
};

// A member under the name its own organisation of that name has in the
// reader's language: a card carries one name (often English), the
// organisation its local ones, and a school showed under both.
function localMemberName(id, card) {
  if (!card) return card;
  for (const o of state.orgs.values())
    if (api.ownerOf(o.id) === id && o.names.some((n) => n.text === card)) return localised(o.names, language()) || card;
  return card;
}

function memberName(id) {
  const card = state.self && state.self.id === id ? state.self.name : state.members.find((x) => x.id === id)?.name;
  return card ? localMemberName(id, card) : id ? id.slice(0, 12) + '…' : '';
}

const views = {
  placements: new PlacementsView(ctx),
  timeline: new TimelineView(ctx),
  requests: new RequestsView(ctx),
  federation: new FederationView(localMemberName),
};

// Mobilities, contacts, organisations, report and audit: each loads what it
// shows when opened and again when a change touches it (record_views.js).
const records = recordViews({
  self: () => state.self,
  orgs: () => state.orgs,
  members: () => state.members,
  memberName,
  reservations: () => state.outgoing,
  placement: (id) => ctx.placement(id),
  showError,
  changed: (list) => onChange({ records: list }),
  reloadOrgs: () => loadOrganisations(),
});
$('placement-new').addEventListener('click', (ev) => records.placements.edit(null, ev.currentTarget));
// The sheets of `conect-node export placements|mobilities|contacts`.
for (const b of document.querySelectorAll('button[data-csv]'))
  b.addEventListener('click', async () => {
    b.disabled = true;
    try {
      const n = await downloadCsv(b.dataset.csv);
      showError(null);
      announce(t('csv_saved', { n }));
    } catch (e) {
      showError(e);
    } finally {
      b.disabled = false;
    }
  });

// The same sheets read back (`conect-node import`): a file chosen here is
// checked, then imported whole or not at all; a refusal lists its lines.
const sheetPicker = Object.assign(document.createElement('input'), { id: 'csv-picker', type: 'file', accept: '.csv,text/csv', hidden: true });
sheetPicker.setAttribute('aria-label', t('csv_import'));
sheetPicker.dataset.i18nAttr = 'aria-label:csv_import';
document.body.append(sheetPicker);
for (const b of document.querySelectorAll('button[data-csv-import]'))
  b.addEventListener('click', () => {
    sheetPicker.dataset.kind = b.dataset.csvImport;
    sheetPicker.value = '';
    sheetPicker.click();
  });
sheetPicker.addEventListener('change', async () => {
  const file = sheetPicker.files[0];
  const kind = sheetPicker.dataset.kind;
  if (!file) return;
  try {
    const n = await importSheet(kind, await file.text());
    showError(null);
    announce(t('csv_imported', { n, file: file.name }));
    onChange(null); // many new records: reload the views
  } catch (e) {
    showError(e instanceof SheetError ? new Error(t('csv_import_refused', { file: file.name }) + '\n' + e.message) : e);
  }
});

// --------------------------------------------------------------- utilities
function announce(text) {
  const a = $('announcer');
  a.textContent = '';
  requestAnimationFrame(() => (a.textContent = text));
}

// The page's error banner. A live refresh clears only what a refresh
// showed: a refusal of the coordinator's own action (a confirmation the
// window has no room for) stays until her next action, not two seconds.
let errorFrom = null;
function showError(e, from = 'action') {
  const el = $('error');
  if (!e) {
    if (from === 'refresh' && errorFrom !== 'refresh') return;
    el.hidden = true;
    errorFrom = null;
    return;
  }
  el.textContent = records.plainError(e);
  el.hidden = false;
  errorFrom = from;
}

// ------------------------------------------------------------------ sign-in
async function ensureSession() {
  const url = new URL(window.location.href);
  const code = url.searchParams.get('login');
  if (code !== null) {
    // Strip the one-time code from the address bar and history first, so it
    // is not left behind whatever happens next.
    url.searchParams.delete('login');
    history.replaceState(history.state, '', url.pathname + url.search + url.hash);
    try {
      await api.createSession({ login: code });
    } catch (e) {
      if (e.status !== 401) throw e;
      return askForToken(t('login_code_failed'));
    }
  }
  try {
    return await api.request('GET', '/api/v1/status');
  } catch (e) {
    if (e.status !== 401) throw e;
    return askForToken('');
  }
}

function askForToken(message) {
  const dialog = $('login-dialog');
  const form = $('login-form');
  const input = $('login-token');
  const err = $('login-error');
  err.hidden = !message;
  err.textContent = message;
  return new Promise((resolve) => {
    const submit = async (ev) => {
      ev.preventDefault();
      const token = input.value.trim();
      input.value = ''; // never kept past this call
      if (!token) return;
      try {
        await api.createSession({ token });
        const status = await api.request('GET', '/api/v1/status');
        form.removeEventListener('submit', submit);
        dialog.removeEventListener('cancel', block);
        dialog.close();
        resolve(status);
      } catch (e) {
        err.textContent = e.status === 401 ? t('login_failed') : t('error', { detail: e.detail || e.message });
        err.hidden = false;
        input.focus();
      }
    };
    const block = (ev) => ev.preventDefault(); // nothing to show without a session
    form.addEventListener('submit', submit);
    dialog.addEventListener('cancel', block);
    dialog.showModal();
    input.focus();
  });
}

// ------------------------------------------------------------------ loading
function readStatus(s) {
  state.self = { id: s.node_id ?? '', name: s.name ?? '', country: s.country ?? '', role: s.role ?? '' };
  // An auditor's node authors nothing (the node refuses every write): the
  // controls that write are not offered, and a note says why.
  document.body.classList.toggle('auditor-node', state.self.role === 'auditor');
  $('auditor-note').hidden = state.self.role !== 'auditor';
  state.peers = (Array.isArray(s.peers) ? s.peers : []).map(api.normalisePeer);
  state.tasks = (Array.isArray(s.progress) ? s.progress : []).map(api.normaliseTask);
  // An origin whose log forked is frozen at the fork (DESIGN §4).
  state.frozen = new Set();
  for (const [origin, head] of Object.entries(s.version_vector || {})) {
    if (head && head.frozen_at !== null && head.frozen_at !== undefined) state.frozen.add(origin);
  }
  readStatusLabel();
}

async function loadStatus() {
  readStatus(await api.request('GET', '/api/v1/status'));
}

async function loadMembers() {
  const list = await api.fetchAll('/api/v1/members', {}, { limit: null });
  state.members = list.map(api.normaliseMember);
  for (const m of state.members) if (m.country) state.countries.add(m.country);
}

// Problems the merge flagged, per member: a frozen (forked) log from the
// status, and operations it rejected in the records this page loaded.
function flagMembers() {
  const rejected = new Map();
  const count = (list) => {
    for (const r of list) if (r && r.origin) rejected.set(r.origin, (rejected.get(r.origin) || 0) + 1);
  };
  for (const p of state.placements) count(p.rejected);
  for (const o of state.orgs.values()) count(o.rejected);
  for (const m of state.members) {
    m.equivocation = m.equivocation || state.frozen.has(m.id);
    m.rejected = Math.max(m.rejected, rejected.get(m.id) || 0);
  }
}

async function loadOrganisations() {
  const list = await api.fetchAll('/api/v1/organisations');
  state.orgs = new Map(list.map(api.normaliseOrganisation).map((o) => [o.id, o]));
  if (state.self) readStatusLabel(); // the node's own organisation names it
}

function apiFilters() {
  const f = state.filters;
  return {
    trade: f.trade.trim(),
    country: f.country,
    from: f.from,
    to: f.to,
    language: f.language,
    available: f.available ? 'true' : '',
  };
}

function bySignature(item) {
  const p = api.normalisePlacement(item);
  p.sig = JSON.stringify(item);
  return p;
}

function sortPlacements(list) {
  return list.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

// Fetches the filtered placements page by page; the first page renders at
// once, later pages extend the list, and a newer load (a filter change)
// abandons this one.
async function loadPlacements() {
  const gen = ++state.generation;
  const t0 = performance.now();
  $('placements-count').dataset.loading = 'true';
  let first = true;
  const acc = [];
  const list = await api.fetchAll('/api/v1/placements', apiFilters(), {
    limit: 500,
    isStale: () => gen !== state.generation,
    onPage: (items) => {
      for (const it of items) acc.push(bySignature(it));
      if (first && state.placements.length === 0) {
        paintPlacements(sortPlacements([...acc]), true);
        debug.timings.firstPageMs = performance.now() - t0;
      }
      first = false;
    },
  });
  if (list === null) return false;
  const placements = sortPlacements(acc);
  for (const p of placements) {
    if (p.trade) state.trades.add(p.trade);
    if (p.country) state.countries.add(p.country);
    for (const l of p.languages) state.languages.add(l.lang);
  }
  debug.timings.fetchMs = performance.now() - t0;
  const r0 = performance.now();
  paintPlacements(placements, false);
  debug.timings.paintMs = performance.now() - r0;
  debug.timings.count = placements.length;
  debug.loads++; // completed loads that reached the screen (tests wait on it)
  return true;
}

function paintPlacements(placements, loading) {
  state.placements = placements;
  state.placementById = new Map(placements.map((p) => [p.id, p]));
  views.placements.show(placements, { loading });
  views.timeline.show(placements, state.filters);
}

async function loadRequests() {
  const { incoming, outgoing, placements } = await loadReservations(
    state.self.id,
    state.orgs,
    state.placements,
    Object.values(apiFilters()).every((v) => !v),
  );
  state.reservationPlacements = placements;
  state.incoming = incoming;
  state.outgoing = outgoing;
  views.requests.show(incoming, outgoing);
  const pending = incoming.filter((r) => r.decision === 'pending').length;
  const badge = $('requests-badge');
  badge.hidden = pending === 0;
  badge.textContent = String(pending);
}

// One refresh at a time; changes that arrive meanwhile fold into one more.
// A change event names the records its commit touched: when they are only
// placements and reservations and the list is unfiltered, just those
// placements are refetched (a federation of 5,000 placements does not
// reload them all for one booking); anything else refetches everything.
const TARGETED_MAX = 50;
// light: mobilities and contacts changed; only the record view on screen
// (and the status) needs them.
const pending = { full: false, light: false, records: new Map() };
let refreshing = false;
let refreshTimer = 0;
let firstScheduled = 0;

function scheduleRefresh(delay = REFRESH_DEBOUNCE_MS, records = null, light = false) {
  if (light) pending.light = true;
  else if (records) for (const r of records) pending.records.set(r.id, r.record_type);
  else pending.full = true;
  if (pending.records.size > TARGETED_MAX) pending.full = true;
  // Debounce bursts, but never postpone a refresh by more than a second.
  const now = Date.now();
  if (!refreshTimer) firstScheduled = now;
  else if (now - firstScheduled > 1000) return;
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => {
    refreshTimer = 0;
    refresh();
  }, delay);
}

function onChange(data) {
  const records = data && Array.isArray(data.records) ? data.records : null;
  const targeted =
    records &&
    records.length > 0 &&
    records.every((r) => r && r.id && (r.record_type === 'placement' || r.record_type === 'reservation')) &&
    Object.values(apiFilters()).every((v) => !v);
  const light = records && records.length > 0 && records.every((r) => r && (r.record_type === 'mobility' || r.record_type === 'contact'));
  if (light) pending.changed = [...(pending.changed || []), ...records];
  scheduleRefresh(REFRESH_DEBOUNCE_MS, targeted ? records : null, light);
}

async function refresh() {
  if (refreshing) return; // the running one picks pending work up when done
  refreshing = true;
  try {
    while (pending.full || pending.light || pending.records.size) {
      const full = pending.full;
      const light = pending.light && !full && pending.records.size === 0;
      const records = new Map(pending.records);
      const changed = pending.changed || null;
      pending.full = false;
      pending.light = false;
      pending.changed = null;
      pending.records.clear();
      try {
        if (full) await refreshAll();
        else if (light) await loadStatus();
        else await refreshRecords(records);
        await recordViewsRefresh(full ? null : changed);
        debug.refreshes++;
        debug.lastRefresh = Date.now();
        showError(null, 'refresh');
      } catch (e) {
        if (e.status === 401) await askForToken('');
        else showError(e, 'refresh');
        pending.full = true;
        if (e.status !== 401) break; // the next change event or poll retries
      }
    }
  } finally {
    refreshing = false;
  }
}

// The record view on screen, after a change (null: anything may have changed).
async function recordViewsRefresh(changed) {
  if (records.has(state.view)) await records.refresh(state.view, changed);
}

// After an expel, leave or key rotation from the federation panel: the
// members list again (standing, key changes), then the panel.
views.federation.onChanged = async () => {
  await Promise.all([loadStatus(), loadMembers()]);
  flagMembers();
  views.federation.show(state.self, state.members, state.peers, state.tasks || []);
};

async function refreshAll() {
  await Promise.all([loadStatus(), loadMembers(), loadOrganisations()]);
  await loadPlacements();
  await loadRequests();
  flagMembers();
  views.federation.show(state.self, state.members, state.peers, state.tasks || []);
  fillFilterOptions();
}

async function getOrNull(path) {
  try {
    return await api.request('GET', path);
  } catch (e) {
    if (e.status === 404) return null;
    throw e;
  }
}

// Refetches the named placements (and those of the named reservations) and
// puts them into the unfiltered list in start-date order.
async function refreshRecords(records) {
  const ids = new Set();
  let reservations = false;
  for (const [id, type] of records) {
    if (type === 'placement') ids.add(id);
    else {
      reservations = true;
      const r = await getOrNull(`/api/v1/reservations/${encodeURIComponent(id)}`);
      if (r) ids.add(api.normaliseReservation(r).placement);
    }
  }
  const gen = state.generation;
  const fetched = await Promise.all(
    [...ids].map((id) => getOrNull(`/api/v1/placements/${encodeURIComponent(id)}`)),
  );
  if (gen !== state.generation || Object.values(apiFilters()).some((v) => v)) {
    pending.full = true; // a filter changed meanwhile: the slice is stale
    return;
  }
  const byId = new Map(state.placements.map((p) => [p.id, p]));
  for (const item of fetched) if (item) byId.set(String(item.id), bySignature(item));
  paintPlacements(sortPlacements([...byId.values()]), false);
  if (reservations || [...ids].some((id) => api.ownerOf(id) === state.self.id)) await loadRequests();
  await loadStatus();
  views.federation.show(state.self, state.members, state.peers, state.tasks || []);
}

// ------------------------------------------------------------------ filters
function fillSelect(select, values, label) {
  const current = select.value;
  const opts = [new Option(t('any'), '')];
  for (const v of [...values].sort((a, b) => label(a).localeCompare(label(b)))) opts.push(new Option(`${label(v)} (${v})`, v));
  select.replaceChildren(...opts);
  select.value = current;
}

function fillFilterOptions() {
  fillSelect($('f-country'), state.countries, countryName);
  fillSelect($('f-language'), state.languages, languageName);
  $('trade-options').replaceChildren(...[...state.trades].sort().map((tr) => new Option(tr)));
}

function readFilters() {
  state.filters = {
    trade: $('f-trade').value,
    country: $('f-country').value,
    from: $('f-from').value,
    to: $('f-to').value,
    language: $('f-language').value,
    available: $('f-available').checked,
  };
}

async function applyFilters() {
  readFilters();
  state.placements = [];
  try {
    await loadPlacements();
    showError(null);
  } catch (e) {
    showError(e);
  }
}

// ------------------------------------------------------------------ routing
// "#mobility/ID" opens one mobility; its tab is Mobilities.
function showView(hash) {
  let [name, arg] = hash.split(/\/(.*)/s);
  if (!VIEWS.includes(name)) name = 'placements';
  state.view = name;
  const tabOf = name === 'mobility' ? 'mobilities' : name;
  for (const v of VIEWS) {
    $('view-' + v).hidden = v !== name;
    const tab = $('tab-' + v);
    if (!tab) continue;
    if (v === tabOf) tab.setAttribute('aria-current', 'page');
    else tab.removeAttribute('aria-current');
  }
  $('filter-box').hidden = !(name === 'placements' || name === 'timeline');
  if (records.has(name) && debug.ready) records.show(name, arg ? decodeURIComponent(arg) : undefined);
}

// ------------------------------------------------------------------ language
function initLanguage() {
  const saved = localStorage.getItem('conect.lang');
  const browser = (navigator.language || 'en').slice(0, 2).replace('no', 'nb');
  setLanguage(saved && supported(saved) ? saved : supported(browser) ? browser : 'en');
  const select = $('lang-select');
  select.replaceChildren(...LANGUAGES.map((l) => new Option(l.name, l.code)));
  for (const o of select.options) o.lang = o.value;
  select.value = language();
  select.addEventListener('change', () => {
    setLanguage(select.value);
    localStorage.setItem('conect.lang', language()); // the UI language only
    relabel();
  });
  applyI18n();
  localiseFormChecks();
}

function relabel() {
  applyI18n();
  document.title = 'conect · ' + t('app_title');
  if (state.self) readStatusLabel();
  fillFilterOptions();
  for (const v of Object.values(views)) v.relabel();
  records.relabel();
  views.placements.show(state.placements);
  setLive(debug.live);
}

function readStatusLabel() {
  $('node-name').textContent = t('node_label', { name: [memberName(state.self.id), countryName(state.self.country)].filter(Boolean).join(', ') });
}

// ------------------------------------------------------------------ live
function setLive(open) {
  debug.live = open;
  const el = $('live');
  el.dataset.state = open ? 'live' : 'reconnecting';
  el.textContent = open ? t('live') : t('reconnecting');
}

function startLive() {
  let everOpen = false;
  api.subscribe(
    (data) => {
      debug.lastEvent = data;
      onChange(data);
    },
    (open) => {
      setLive(open);
      // A reopened stream may have missed changes: catch up.
      if (open && everOpen) scheduleRefresh(0);
      everOpen = everOpen || open;
    },
  );
}

async function pollStatus() {
  try {
    await loadStatus();
    flagMembers();
    views.federation.show(state.self, state.members, state.peers, state.tasks || []);
    if (pending.full && !refreshing) scheduleRefresh(0); // retry a refresh that failed
  } catch (e) {
    if (e.status !== 401) setLive(false);
  }
}

// ------------------------------------------------------------------ start
async function main() {
  initLanguage();
  // On a phone the filters start folded so the list is on the first screen.
  if (window.matchMedia('(max-width: 760px)').matches) $('filter-box').open = $('mob-filter-box').open = false;
  document.title = 'conect · ' + t('app_title');
  showView(location.hash.slice(1));
  window.addEventListener('hashchange', () => showView(location.hash.slice(1)));
  $('filters').addEventListener('submit', (ev) => {
    ev.preventDefault();
    applyFilters();
  });
  $('filters').addEventListener('reset', () => setTimeout(applyFilters, 0));
  $('f-available').addEventListener('change', () => applyFilters());

  // A write refused for a stale CSRF token (a session made in another tab):
  // sign in again, and the write is retried once.
  api.setCsrfRefusedHandler(() => askForToken(t('login_renew')));
  const status = await ensureSession();
  readStatus(status);
  setLive(false);
  startLive();
  pending.full = true;
  await refresh();
  debug.ready = true;
  showView(location.hash.slice(1)); // a record view opened by its link loads now
  // The status every five seconds, every second while long work runs (its
  // progress bar should move as the work does).
  const poll = async () => {
    await pollStatus();
    setTimeout(poll, views.federation.busy() ? 1000 : STATUS_POLL_MS);
  };
  setTimeout(poll, STATUS_POLL_MS);
  setInterval(() => views.federation.tick(), 1000);
  debug._views = views;
  debug.views = records.views; // tests call the detail view's save() to force a refusal
  // Exposed for the render-time measurement: build every row now.
  debug.renderAll = () => {
    const t0 = performance.now();
    views.placements.renderAll();
    views.timeline.renderAll();
    return performance.now() - t0;
  };
}

main().catch((e) => showError(e));
