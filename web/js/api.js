// The node's HTTP API as the dashboard uses it: same-origin fetches that
// carry the HttpOnly session cookie (the page never sees a token after
// sign-in), cursor pagination, the server-sent change stream, and the one
// place that turns the API's JSON into the shapes the views render.

export class ApiError extends Error {
  // body: the whole answer (an import's refusal lists its rows there).
  constructor(status, code, detail, body = null) {
    super(detail || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.body = body;
  }
}

// The CSRF token of the session (POST /api/v1/session answers it): every
// cookie-authenticated write carries it as X-CSRF-Token. Kept in memory and
// in this tab's sessionStorage (a reload keeps it), never in a cookie.
const CSRF_KEY = 'conect.csrf';
let csrf = null;
let onCsrfRefused = null; // async () => void: signs in again (a new token)

function csrfToken() {
  if (csrf === null) {
    try {
      csrf = sessionStorage.getItem(CSRF_KEY) || '';
    } catch {
      csrf = '';
    }
  }
  return csrf;
}

function keepCsrf(token) {
  csrf = typeof token === 'string' ? token : '';
  try {
    if (csrf) sessionStorage.setItem(CSRF_KEY, csrf);
    else sessionStorage.removeItem(CSRF_KEY);
  } catch {
    // storage may be off: the token stays in memory for this page
  }
}

// fn is called when a write was refused for a missing or stale CSRF token
// (a session made in another tab): it signs in again, then the write is
// retried once.
export function setCsrfRefusedHandler(fn) {
  onCsrfRefused = fn;
}

export async function request(method, path, body, retried = false) {
  try {
    return await send(method, path, body);
  } catch (e) {
    if (!retried && onCsrfRefused && e.status === 403 && String(e.code).startsWith('csrf_token')) {
      await onCsrfRefused();
      return request(method, path, body, true);
    }
    throw e;
  }
}

async function send(method, path, body) {
  const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json' }, cache: 'no-store' };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  if (method !== 'GET' && method !== 'HEAD' && csrfToken()) init.headers['X-CSRF-Token'] = csrfToken();
  let r;
  try {
    r = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, 'unreachable', 'the node did not answer (' + e.message + ')');
  }
  const text = await r.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!r.ok) throw new ApiError(r.status, data?.error ?? `http_${r.status}`, data?.detail ?? text.slice(0, 200), data);
  return data;
}

// Exchanges the API token or a one-time login code for the session cookie
// (and the session's CSRF token, kept for later writes).
export async function createSession({ token, login }) {
  const r = await send('POST', '/api/v1/session', token !== undefined ? { token } : { login });
  keepCsrf(r && r.csrf_token);
  return r;
}

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === '' || v === false) continue;
    q.set(k, v === true ? 'true' : String(v));
  }
  const s = q.toString();
  return s ? '?' + s : '';
}

// The list in a page, whatever the resource calls it.
export function pageItems(body) {
  if (Array.isArray(body)) return body;
  if (!body || typeof body !== 'object') return [];
  for (const k of ['items', 'placements', 'reservations', 'members', 'organisations', 'records', 'results', 'data']) {
    if (Array.isArray(body[k])) return body[k];
  }
  return [];
}

export function pageCursor(body) {
  if (!body || Array.isArray(body)) return null;
  return body.next_cursor ?? body.cursor ?? body.next ?? null;
}

// Fetches every page of a list. onPage(items, soFar) is called as pages
// arrive so the first rows render before the last page is in. `isStale()`
// stops the walk when a newer request superseded this one.
// `firstLimit`, when given, is the size of the first page only: a small one
// puts the first rows on screen sooner.
export async function fetchAll(path, params = {}, { limit = 500, firstLimit, onPage, isStale } = {}) {
  const all = [];
  let cursor = null;
  for (let guard = 0; guard < 10000; guard++) {
    // Some lists (a placement's reservations, the roster) are not paged and
    // refuse paging parameters: limit null asks without them.
    const size = guard === 0 && firstLimit ? firstLimit : limit;
    const paging = limit === null ? {} : { limit: size, cursor };
    const body = await request('GET', path + query({ ...params, ...paging }));
    if (isStale && isStale()) return null;
    const items = pageItems(body);
    all.push(...items);
    if (onPage) onPage(items, all);
    const next = pageCursor(body);
    if (!next || items.length === 0) break;
    cursor = next;
  }
  return all;
}

// ------------------------------------------------------------------ shapes
// A record in a list may be the bare fields next to an "id", or wrapped as
// {id, <type>: {...}} / {id, record: {...}}; both read the same here.
function unwrap(item, type) {
  if (!item || typeof item !== 'object') return {};
  const inner = item[type] ?? item.record ?? item.state ?? item.fields ?? null;
  return inner && typeof inner === 'object' && !Array.isArray(inner) ? { ...item, ...inner } : item;
}

export function ownerOf(recordId) {
  return typeof recordId === 'string' ? recordId.split('-')[0] : '';
}

function num(v) {
  const n = Number(v);
  return Number.isFinite(n) && n > 0 ? n : 0;
}

export function normaliseWindow(w, avail) {
  const a = avail || w.availability || w;
  const capacity = num(w.capacity ?? a.capacity);
  const confirmed = num(a.confirmed ?? a.confirmed_slots);
  const pending = num(a.pending ?? a.pending_slots);
  const freeRaw = a.available ?? a.free ?? a.available_slots;
  const free = freeRaw === undefined || freeRaw === null ? Math.max(0, capacity - confirmed) : num(freeRaw);
  const overbooked = num(a.overbooked_by ?? Math.max(0, confirmed - capacity));
  return {
    id: Number(w.window_id ?? w.id ?? 0),
    start: w.start ?? '',
    end: w.end ?? '',
    capacity,
    confirmed,
    pending,
    free,
    overbooked,
  };
}

export function normalisePlacement(item) {
  const p = unwrap(item, 'placement');
  const availability = Array.isArray(p.availability) ? p.availability : [];
  const byWindow = new Map(availability.map((a) => [Number(a.window_id ?? a.id), a]));
  const windows = (Array.isArray(p.windows) ? p.windows : []).map((w) =>
    normaliseWindow(w, byWindow.get(Number(w.window_id ?? w.id))),
  );
  windows.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : a.id - b.id));
  return {
    id: String(p.id ?? item.id ?? ''),
    owner: ownerOf(String(p.id ?? item.id ?? '')),
    host: p.host_organisation ?? '',
    title: Array.isArray(p.title) ? p.title : [],
    trade: p.trade ?? '',
    tradeCode: p.trade_code ?? '',
    tasks: p.tasks ?? '',
    city: p.city ?? '',
    country: p.country ?? '',
    windows,
    languages: (Array.isArray(p.languages) ? p.languages : []).filter((l) => l && l.lang),
    safety: (Array.isArray(p.safety) ? p.safety : []).filter((s) => typeof s === 'string'),
    minimumAge: num(p.minimum_age),
    status: p.status ?? '',
    rejected: Array.isArray(p.rejected) ? p.rejected : [],
    start: windows.length ? windows[0].start : '',
  };
}

export function normaliseOrganisation(item) {
  const o = unwrap(item, 'organisation');
  return {
    id: String(o.id ?? ''),
    names: Array.isArray(o.names) ? o.names : [],
    type: o.type ?? '',
    country: o.country ?? '',
    region: o.region ?? '',
    city: o.city ?? '',
    address: o.address ?? '',
    website: o.website ?? '',
    trades: Array.isArray(o.trades) ? o.trades.filter((x) => typeof x === 'string') : [],
    rejected: Array.isArray(o.rejected) ? o.rejected : [],
  };
}

export function normaliseReservation(item) {
  const r = unwrap(item, 'reservation');
  const id = String(r.id ?? '');
  return {
    id,
    requester: ownerOf(id),
    placement: r.placement ?? '',
    windowId: Number(r.window_id ?? 0),
    slots: num(r.slots),
    note: r.note ?? '',
    decision: r.decision ?? 'pending',
  };
}

export function normaliseMember(m) {
  const id = m.node_id ?? m.id ?? '';
  const rejected = num(m.rejected_deltas ?? m.rejected_operations ?? m.rejected ?? 0);
  return {
    id,
    name: m.name ?? m.institution ?? '',
    country: m.country ?? '',
    role: m.role ?? '',
    equivocation: Boolean(m.equivocation ?? m.equivocated ?? m.frozen ?? false),
    rejected,
    seq: m.seq ?? m.head_seq ?? null,
    status: m.status ?? '',
    founder: Boolean(m.founder),
    admissions: num(m.admissions ?? 0),
    removalVotes: num(m.removal_votes ?? 0),
    removalVotedBySelf: Boolean(m.removal_voted_by_self),
    quorum: num(m.quorum ?? 0),
    lastSeq: m.last_seq ?? null,
  };
}

export function normalisePeer(p) {
  const lastSeen = p.last_seen_ms ?? (p.last_seen ? Date.parse(p.last_seen) : 0);
  const lastSync = p.last_sync ? Date.parse(p.last_sync) : 0;
  return {
    id: p.node_id ?? p.id ?? '',
    address: p.address ?? '',
    connected: Boolean(p.connected),
    lag: num(p.lag_deltas ?? p.lag ?? 0),
    lastSeen: Number.isFinite(lastSeen) ? lastSeen : 0,
    // When this node last held everything the peer showed (0: not since start).
    lastSync: Number.isFinite(lastSync) ? lastSync : 0,
    lagSeconds: num(p.lag_s ?? 0),
    // Why the peer refused this node's link (it was removed), else ''.
    refusesUs: p.refuses_us ?? '',
  };
}

// One task of long work (GET /api/v1/status "progress", docs/api.md).
export function normaliseTask(x) {
  return {
    task: x.task ?? '',
    unit: x.unit ?? '',
    phase: x.phase ?? '',
    state: x.state ?? 'running',
    done: num(x.done ?? 0),
    total: num(x.total ?? 0),
    perSecond: Number(x.per_second ?? 0) || 0,
    etaSeconds: x.eta_s === null || x.eta_s === undefined ? null : num(x.eta_s),
    finished: x.finished ? Date.parse(x.finished) : 0,
  };
}

// The change stream. onChange(data) for every `event: change`; onState(open)
// when the stream opens or drops (EventSource reconnects by itself, and a
// reopened stream may have missed events, so the caller refetches).
export function subscribe(onChange, onState) {
  const es = new EventSource('/api/v1/events', { withCredentials: true });
  es.addEventListener('open', () => onState(true));
  es.addEventListener('error', () => onState(false));
  es.addEventListener('change', (ev) => {
    let data = null;
    try {
      data = JSON.parse(ev.data);
    } catch {
      data = null;
    }
    onChange(data);
  });
  return es;
}
