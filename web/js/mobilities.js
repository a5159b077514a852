// The mobilities list: outgoing (this node sends) or incoming (this node
// hosts), filtered exactly as GET /api/v1/mobilities is (direction, status,
// type, partner, period, country), each row with its state at a glance.
// Outgoing also lists this node's confirmed reservations that still lack a
// mobility, each with "Create mobility" (two clicks with the dialog).
import * as api from './api.js';
import { h, countryName, formatRange, parseDay } from './format.js';
import { t } from './i18n.js';
import { IncrementalList } from './incremental.js';
import { normaliseMobility, STATUSES, TYPES } from './mobility_model.js';
import { field, filterForm, input, select } from './ui.js';
import { windowDates } from './bars.js';
import { placementTitle } from './placements.js';

const $ = (id) => document.getElementById(id);

export function datesText(start, end) {
  if (!start && !end) return t('no_dates');
  return formatRange(parseDay(start || end), parseDay(end || start));
}

export function confirmationText(c) {
  return t('conf_' + c.state);
}

export class MobilitiesView {
  // ctx: { self(), orgs(), orgName(id), orgOptions(keep), reservations(), placement(id),
  //        newMobility(prefill, opener), showError(e) }
  constructor(ctx) {
    this.ctx = ctx;
    this.items = [];
    this.generation = 0;
    this.list = new IncrementalList($('mob-body'), $('mob-more'), {
      chunk: 100,
      key: (m) => m.id,
      signature: (m) => m.sig,
      render: (m) => this.row(m),
    });
    for (const r of document.querySelectorAll('input[name=mob-direction]')) r.addEventListener('change', () => this.load());
    $('mob-new').addEventListener('click', (ev) => this.ctx.newMobility({}, ev.currentTarget));
    $('mob-res-table').addEventListener('click', (ev) => {
      const b = ev.target.closest('button[data-reservation]');
      if (b) this.ctx.newMobility(this.prefill.get(b.dataset.reservation), b);
    });
    this.prefill = new Map();
    this.buildFilters();
  }

  direction() {
    return document.querySelector('input[name=mob-direction]:checked').value;
  }

  buildFilters() {
    const form = $('mob-filters');
    const any = [['', t('any')]];
    const f = this.filters || {};
    this.controls = {
      status: select('status', [...any, ...STATUSES.map((s) => [s, t('mstatus_' + s)])], f.status),
      type: select('type', [...any, ...TYPES.map((x) => [x, t('type_' + x)])], f.type),
      partner: select('partner', [...any, ...this.partnerOptions()], f.partner),
      from: input('from', 'date', f.from),
      to: input('to', 'date', f.to),
      country: select('country', [...any, ...this.countryOptions()], f.country),
    };
    const c = this.controls;
    filterForm(
      form,
      [
        field(t('col_status'), c.status),
        field(t('col_type'), c.type),
        field(t('col_partner'), c.partner),
        field(t('filter_from'), c.from),
        field(t('filter_to'), c.to),
        field(t('filter_country'), c.country),
      ],
      () => this.load(),
    );
  }

  partnerOptions() {
    const self = this.ctx.self();
    return this.ctx.orgOptions((o) => api.ownerOf(o.id) !== (self && self.id));
  }

  countryOptions() {
    const set = new Set([...this.ctx.orgs().values()].map((o) => o.country).filter(Boolean));
    return [...set].map((c) => [c, `${countryName(c)} (${c})`]).sort((a, b) => a[1].localeCompare(b[1]));
  }

  // The query the list shows: the API's parameters one to one.
  query() {
    const c = this.controls;
    return {
      direction: this.direction(),
      status: c.status.value,
      type: c.type.value,
      partner: c.partner.value,
      from: c.from.value,
      to: c.to.value,
      country: c.country.value,
    };
  }

  async show() {
    this.buildFiltersKeeping();
    await this.load();
  }

  buildFiltersKeeping() {
    if (this.controls) this.filters = Object.fromEntries(Object.entries(this.controls).map(([k, v]) => [k, v.value]));
    this.buildFilters();
  }

  async refresh() {
    await this.load();
  }

  relabel() {
    this.buildFiltersKeeping();
    this.head();
    this.list.invalidate();
    this.paintReservations();
    this.count();
  }

  head() {
    const cols = ['col_participant', 'col_partner', 'col_type', 'col_dates', 'col_status', 'col_host_status', 'col_confirmations', 'col_actions'];
    $('mob-head').replaceChildren(h('tr', null, cols.map((k) => h('th', { scope: 'col' }, t(k)))));
  }

  // Fetches every page (500 at a time); the first page is drawn at once.
  async load() {
    const gen = ++this.generation;
    const t0 = performance.now();
    const timings = (window.conect.timings.mobilities = { loading: true });
    const self = this.ctx.self();
    const acc = [];
    let first = true;
    this.head();
    const all = await api.fetchAll('/api/v1/mobilities', this.query(), {
      limit: 500,
      firstLimit: 100, // the rows the list builds first
      isStale: () => gen !== this.generation,
      onPage: (items) => {
        for (const it of items) {
          const m = normaliseMobility(it, self.id);
          m.sig = JSON.stringify(it);
          acc.push(m);
        }
        if (first) {
          this.paint(acc.slice(), true);
          timings.firstPageMs = performance.now() - t0;
        }
        first = false;
      },
    });
    if (all === null) return;
    this.paint(acc, false);
    timings.allMs = performance.now() - t0;
    timings.count = acc.length;
    timings.loading = false;
    window.conect.mobilityLoads = (window.conect.mobilityLoads || 0) + 1;
    this.paintReservations();
  }

  paint(items, loading) {
    this.items = items;
    this.loading = loading;
    this.list.setItems(items);
    this.count();
  }

  count() {
    const el = $('mob-count');
    el.textContent = this.loading
      ? t('mob_loading', { n: this.items.length })
      : this.items.length === 0
        ? t('mob_empty')
        : t('mob_count', { n: this.items.length });
    el.dataset.loading = this.loading ? 'true' : 'false';
  }

  row(m) {
    const partner = m.partnerOrg ? this.ctx.orgName(m.partnerOrg) : '';
    const org = this.ctx.orgs().get(m.partnerOrg);
    const name = m.personalStatus === 'held' && m.personal.name ? m.personal.name : '';
    return h(
      'tr',
      { dataset: { id: m.id, status: m.status, hostStatus: m.hostStatus } },
      h('th', { scope: 'row', 'data-label': t('col_participant') }, h('span', { class: 'host-name pseudonym' }, m.pseudonym), name ? h('span', { class: 'country' }, name) : null),
      h('td', { 'data-label': t('col_partner') }, h('span', null, partner), org ? h('span', { class: 'country' }, countryName(org.country)) : null),
      h('td', { 'data-label': t('col_type') }, t('type_' + m.type), h('span', { class: 'country' }, t('cat_' + m.category))),
      h('td', { 'data-label': t('col_dates') }, datesText(m.start, m.end)),
      h('td', { 'data-label': t('col_status') }, h('span', { class: 'mstatus mstatus-' + m.status }, t('mstatus_' + m.status))),
      h('td', { 'data-label': t('col_host_status') }, h('span', { class: 'decision decision-' + m.hostStatus }, t('host_' + m.hostStatus))),
      h(
        'td',
        { 'data-label': t('col_confirmations'), class: 'confs' },
        h('span', { class: 'conf conf-' + m.confirmSending.state, dataset: { party: 'sending' } }, t('party_sending') + ': ' + confirmationText(m.confirmSending)),
        h('span', { class: 'conf conf-' + m.confirmHost.state, dataset: { party: 'host' } }, t('party_host') + ': ' + confirmationText(m.confirmHost)),
      ),
      h(
        'td',
        { 'data-label': t('col_actions'), class: 'actions' },
        h('a', { href: '#mobility/' + m.id, class: 'button-link', 'aria-label': t('mob_open_named', { name: m.pseudonym }), dataset: { focusKey: 'open:' + m.id } }, t('mob_open')),
      ),
    );
  }

  // Confirmed requests of this node (outgoing) with fewer mobilities than
  // slots: the starting point of a mobility.
  paintReservations() {
    const box = $('mob-from-reservations');
    const table = $('mob-res-table');
    if (this.direction() !== 'outgoing') {
      box.hidden = true;
      return;
    }
    const used = new Map();
    for (const m of this.items) {
      // A cancelled mobility gives its slot back to this list (still booked at the host).
      if (m.status === 'cancelled') continue;
      const k = `${m.sending.placement}|${m.sending.window_id}`;
      used.set(k, (used.get(k) || 0) + 1);
    }
    // The window's mobilities fill its confirmed reservations in id order;
    // each was compared with all of them, so a second reservation of one
    // window was never offered while the first had its mobility.
    const taken = new Map();
    const confirmed = this.ctx.reservations().filter((r) => r.decision === 'confirmed').sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    for (const r of confirmed) {
      const k = `${r.placement}|${r.windowId}`;
      const n = Math.min(r.slots, used.get(k) || 0);
      used.set(k, (used.get(k) || 0) - n);
      taken.set(r.id, n);
    }
    const open = confirmed.filter((r) => taken.get(r.id) < r.slots);
    box.hidden = open.length === 0;
    this.prefill = new Map();
    const rows = open.map((r) => {
      const p = this.ctx.placement(r.placement);
      const w = p ? p.windows.find((x) => x.id === r.windowId) : null;
      this.prefill.set(r.id, { reservation: r, placement: p, window: w });
      const title = p ? placementTitle(p) : r.placement;
      return h(
        'tr',
        { dataset: { id: r.id, placement: r.placement } },
        h('td', { 'data-label': t('col_placement') }, title),
        h('td', { 'data-label': t('col_host') }, p ? this.ctx.orgName(p.host) : ''),
        h('td', { 'data-label': t('col_window') }, w ? windowDates(w) : '#' + r.windowId),
        h('td', { 'data-label': t('col_slots'), class: 'num' }, t('mob_slots_used', { used: taken.get(r.id), slots: r.slots })),
        h(
          'td',
          { 'data-label': t('col_actions'), class: 'actions' },
          h('button', { type: 'button', class: 'small primary', dataset: { reservation: r.id }, 'aria-label': t('mob_create_for', { title }) }, t('mob_create')),
        ),
      );
    });
    const cols = ['col_placement', 'col_host', 'col_window', 'col_slots', 'col_actions'];
    table.replaceChildren(h('thead', null, h('tr', null, cols.map((k) => h('th', { scope: 'col' }, t(k))))), h('tbody', null, rows));
  }
}
