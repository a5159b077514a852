// Finds the reservations the Requests view shows.
//
// The API lists reservations per placement (GET /api/v1/placements/{id}/
// reservations). Incoming ones are those on this node's own placements
// (found through its own organisations, ?host=ORG). Outgoing ones are found
// on partners' placements that have any pending or confirmed slot; so a
// request of ours that was rejected drops out of the list once nothing else
// is pending there (likewise on own placements when there are over 100). If the node offers a federation-wide reservation list
// (GET /api/v1/reservations), it is used instead.
import * as api from './api.js';

const MAX_PLACEMENTS = 400;
const PARALLEL = 6;

let hasListEndpoint = null; // unknown until probed once

async function probeListEndpoint() {
  if (hasListEndpoint !== null) return hasListEndpoint;
  try {
    await api.request('GET', '/api/v1/reservations?limit=1');
    hasListEndpoint = true;
  } catch (e) {
    hasListEndpoint = false;
  }
  return hasListEndpoint;
}

async function inParallel(items, fn) {
  const out = [];
  let next = 0;
  async function worker() {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  }
  await Promise.all(Array.from({ length: Math.min(PARALLEL, items.length) }, worker));
  return out;
}

async function reservationsOf(placementId) {
  try {
    const list = await api.fetchAll(`/api/v1/placements/${encodeURIComponent(placementId)}/reservations`, {}, {
      limit: null,
    });
    return list.map(api.normaliseReservation);
  } catch (e) {
    if (e.status === 404) return [];
    throw e;
  }
}

// Own placements, whatever the dashboard's filters say: from the list on
// screen when it is unfiltered, else asked for per own organisation.
async function ownPlacements(selfId, orgs, shown, unfiltered) {
  if (unfiltered) return shown.filter((p) => p.owner === selfId);
  const mine = [...orgs.values()].filter((o) => api.ownerOf(o.id) === selfId);
  if (mine.length > 50) return shown.filter((p) => p.owner === selfId);
  const lists = await inParallel(mine, (o) => api.fetchAll('/api/v1/placements', { host: o.id }));
  return lists.flat().map(api.normalisePlacement);
}

// Returns {incoming, outgoing, placements: Map id -> placement} for the
// reservations found.
export async function loadReservations(selfId, orgs, shown, unfiltered) {
  const placements = new Map();
  let all = [];
  if (await probeListEndpoint()) {
    all = (await api.fetchAll('/api/v1/reservations')).map(api.normaliseReservation);
  } else {
    const own = await ownPlacements(selfId, orgs, shown, unfiltered);
    for (const p of own) placements.set(p.id, p);
    const active = (p) => p.windows.some((w) => w.pending > 0 || w.confirmed > 0);
    // All own placements when there are few (so decided requests stay
    // listed), else those with something pending or confirmed.
    const ownTargets = own.length <= 100 ? own : own.filter(active);
    const partners = shown.filter((p) => p.owner !== selfId && active(p));
    const targets = [...ownTargets.slice(0, MAX_PLACEMENTS / 2), ...partners.slice(0, MAX_PLACEMENTS / 2)];
    all = (await inParallel(targets, (p) => reservationsOf(p.id))).flat();
  }
  for (const p of shown) placements.set(p.id, p);
  const incoming = all.filter((r) => api.ownerOf(r.placement) === selfId);
  const outgoing = all.filter((r) => r.requester === selfId && api.ownerOf(r.placement) !== selfId);
  // Placements of listed reservations that no list above brought in.
  const missing = [...new Set(all.map((r) => r.placement))].filter((id) => !placements.has(id)).slice(0, MAX_PLACEMENTS);
  const fetched = await inParallel(missing, async (id) => {
    try {
      return api.normalisePlacement(await api.request('GET', `/api/v1/placements/${encodeURIComponent(id)}`));
    } catch {
      return null;
    }
  });
  for (const p of fetched) if (p) placements.set(p.id, p);
  return { incoming, outgoing, placements };
}
