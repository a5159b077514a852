// The placements table: one row per placement, its windows with slot bars
// and a "Request" button each. Rows are built only as the reader scrolls
// (IncrementalList), and a live refresh rebuilds only the rows that changed.
import { h, countryName, languageName, localised } from './format.js';
import { t, language } from './i18n.js';
import { IncrementalList } from './incremental.js';
import { slotBar, slotSummary, windowDates } from './bars.js';

export function placementTitle(p) {
  return localised(p.title, language()) || p.trade || p.id;
}

export function safetyText(p, s) {
  return s === 'minimum_age' ? t('safety_minimum_age', { n: p.minimumAge || '?' }) : t('safety_' + s);
}

export class PlacementsView {
  // ctx: { hostName(p), isOwn(p), hostGone(p), isAuditor(), onRequest(p, windowId), onEditPlacement(p),
  //        onClosePlacement(p) }
  constructor(ctx) {
    this.ctx = ctx;
    this.body = document.getElementById('placements-body');
    this.count = document.getElementById('placements-count');
    this.list = new IncrementalList(this.body, document.getElementById('placements-more'), {
      chunk: 100,
      key: (p) => p.id,
      signature: (p) => p.sig + '|' + this.ctx.hostName(p),
      render: (p) => this.row(p),
    });
    this.body.addEventListener('click', (ev) => {
      const e = ev.target.closest('button[data-placement-action]');
      if (e) {
        const p = this.byId.get(e.dataset.ownPlacement);
        if (p && e.dataset.placementAction === 'edit') this.ctx.onEditPlacement(p, e);
        if (p && e.dataset.placementAction === 'close') this.ctx.onClosePlacement(p, e);
        return;
      }
      const b = ev.target.closest('button[data-window]');
      if (!b) return;
      const p = this.byId.get(b.dataset.placement);
      if (p) this.ctx.onRequest(p, Number(b.dataset.window), b);
    });
    this.byId = new Map();
  }

  show(placements, { loading = false } = {}) {
    this.byId = new Map(placements.map((p) => [p.id, p]));
    this.list.setItems(placements);
    this.count.textContent = loading
      ? t('placements_loading', { n: placements.length })
      : placements.length === 0
        ? t('placements_empty')
        : t('placements_count', { n: placements.length });
    this.count.dataset.loading = loading ? 'true' : 'false';
  }

  relabel() {
    this.list.invalidate();
  }

  row(p) {
    const own = this.ctx.isOwn(p);
    const gone = !own && this.ctx.hostGone(p);
    const title = placementTitle(p);
    return h(
      'tr',
      { dataset: { id: p.id }, class: own ? 'own' : null },
      h(
        'td',
        { class: 'host', 'data-label': t('col_host') },
        h('span', { class: 'host-name' }, this.ctx.hostName(p)),
        h('span', { class: 'country' }, countryName(p.country)),
        own ? h('span', { class: 'tag' }, t('own_placement')) : null,
        p.status && p.status !== 'open' ? h('span', { class: 'tag tag-status' }, t('status_' + p.status)) : null,
        gone ? h('span', { class: 'tag tag-status', dataset: { hostGone: '1' } }, t('host_gone')) : null,
        own ? this.actions(p, title) : null,
      ),
      h('td', { class: 'trade', 'data-label': t('col_trade') }, p.trade),
      h('td', { class: 'title', 'data-label': t('col_title') }, title),
      h('td', { class: 'city', 'data-label': t('col_city') }, p.city),
      h('td', { class: 'windows', 'data-label': t('col_windows') }, this.windows(p, own || gone || p.status !== 'open' || this.ctx.isAuditor(), title)),
      h(
        'td',
        { class: 'languages', 'data-label': t('col_languages') },
        p.languages.map((l) => languageName(l.lang) + (l.level ? ' ' + l.level : '')).join(', '),
      ),
      h(
        'td',
        { class: 'safety', 'data-label': t('col_safety') },
        p.safety.length ? h('ul', { class: 'plain' }, p.safety.map((s) => h('li', null, safetyText(p, s)))) : '',
      ),
    );
  }

  // This node's own placement: edit it (its availability too) or close it.
  actions(p, title) {
    const button = (action, label, named) =>
      h('button', { type: 'button', class: 'small', dataset: { ownPlacement: p.id, placementAction: action, focusKey: `${action}:${p.id}` }, 'aria-label': t(named, { title }) }, t(label));
    return h('span', { class: 'placement-actions' },
      button('edit', 'edit', 'placement_edit_named'),
      p.status === 'open' || p.status === 'draft' ? button('close', 'placement_close', 'placement_close_named') : null);
  }

  // noRequest: own placements and those not open take no requests here.
  windows(p, noRequest, title) {
    return h(
      'ul',
      { class: 'plain window-list' },
      p.windows.map((w) => {
        const dates = windowDates(w);
        return h(
          'li',
          { class: 'window', dataset: { window: w.id, free: w.free, pending: w.pending, confirmed: w.confirmed } },
          h('span', { class: 'dates' }, dates),
          slotBar(w),
          h('span', { class: 'slots' }, slotSummary(w)),
          noRequest
            ? null
            : h(
                'button',
                {
                  type: 'button',
                  class: 'small',
                  dataset: { placement: p.id, window: w.id, focusKey: `req:${p.id}:${w.id}` },
                  disabled: w.free === 0,
                  'aria-label': t('request_slots_for', { title, dates }),
                },
                t('request'),
              ),
        );
      }),
    );
  }

  renderAll() {
    this.list.renderAll();
  }
}
