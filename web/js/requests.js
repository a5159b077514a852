// Reservation requests: the ones partners made on this node's placements
// (the host decides: confirm or reject, one at a time) and the ones this
// node made on partners' placements (the requester may cancel).
import { h } from './format.js';
import { t } from './i18n.js';
import { windowDates } from './bars.js';
import { placementTitle } from './placements.js';

export class RequestsView {
  // ctx: { memberName(id), placement(id), onDecide(reservation, action, button) }
  constructor(ctx) {
    this.ctx = ctx;
    this.incoming = document.getElementById('incoming-table');
    this.outgoing = document.getElementById('outgoing-table');
    for (const table of [this.incoming, this.outgoing]) {
      table.addEventListener('click', (ev) => {
        const b = ev.target.closest('button[data-action]');
        if (!b) return;
        const r = this.byId.get(b.dataset.reservation);
        if (r) this.ctx.onDecide(r, b.dataset.action, b);
      });
    }
    this.byId = new Map();
    this.last = { incoming: [], outgoing: [] };
  }

  show(incoming, outgoing) {
    this.last = { incoming, outgoing };
    this.byId = new Map([...incoming, ...outgoing].map((r) => [r.id, r]));
    this.fill(this.incoming, incoming, true);
    this.fill(this.outgoing, outgoing, false);
  }

  relabel() {
    this.show(this.last.incoming, this.last.outgoing);
  }

  fill(table, list, incoming) {
    const focusKey = table.contains(document.activeElement) ? document.activeElement.dataset.focusKey : undefined;
    const head = h(
      'thead',
      null,
      h(
        'tr',
        null,
        ['col_placement', 'col_window', incoming ? 'col_requester' : 'col_host', 'col_slots', 'col_note', 'col_status', 'col_actions'].map(
          (k) => h('th', { scope: 'col' }, t(k)),
        ),
      ),
    );
    const body = h('tbody');
    if (list.length === 0) {
      body.append(h('tr', null, h('td', { colspan: 7, class: 'empty' }, t('requests_empty'))));
    }
    // Pending first (they need a decision), then newest-looking ids.
    const order = { pending: 0, confirmed: 1, rejected: 2, cancelled: 3 };
    const sorted = [...list].sort((a, b) => (order[a.decision] ?? 9) - (order[b.decision] ?? 9) || (a.id < b.id ? 1 : -1));
    for (const r of sorted) body.append(this.row(r, incoming));
    table.replaceChildren(head, body);
    if (focusKey) {
      const again = table.querySelector(`[data-focus-key="${CSS.escape(focusKey)}"]`);
      if (again) again.focus();
    }
  }

  row(r, incoming) {
    const p = this.ctx.placement(r.placement);
    const w = p ? p.windows.find((x) => x.id === r.windowId) : null;
    const actions = [];
    if (incoming && r.decision === 'pending') {
      actions.push(this.button(r, 'confirm', 'primary'), this.button(r, 'reject', ''));
    }
    if (!incoming && (r.decision === 'pending' || r.decision === 'confirmed')) {
      actions.push(this.button(r, 'cancel', ''));
    }
    return h(
      'tr',
      { dataset: { id: r.id, decision: r.decision, placement: r.placement } },
      h('td', { 'data-label': t('col_placement') }, p ? placementTitle(p) : r.placement),
      h('td', { 'data-label': t('col_window') }, w ? windowDates(w) : '#' + r.windowId),
      h('td', { 'data-label': t(incoming ? 'col_requester' : 'col_host') }, incoming ? this.ctx.memberName(r.requester) : this.host(p, r)),
      h('td', { 'data-label': t('col_slots'), class: 'num' }, String(r.slots)),
      h('td', { 'data-label': t('col_note') }, r.note),
      h(
        'td',
        { 'data-label': t('col_status') },
        h('span', { class: 'decision decision-' + r.decision }, t('decision_' + r.decision)),
        // A pending request its window has no room for: the host sees why
        // before a confirmation is refused.
        incoming && r.decision === 'pending' && w && w.free < r.slots
          ? h('span', { class: 'hint no-room', dataset: { free: String(w.free) } }, ' · ' + t('request_no_room', { n: w.free }))
          : '',
      ),
      h('td', { 'data-label': t('col_actions'), class: 'actions' }, actions),
    );
  }

  // The host of an outgoing request: the placement's host organisation (a
  // partner company the host school's node speaks for, often), and that
  // node when it is named otherwise. It showed the node alone, so a
  // request to a company read as one to the school.
  host(p, r) {
    const node = this.ctx.memberName(r.placement.split('-')[0]);
    if (!p) return node;
    const org = this.ctx.hostName(p);
    return org && org !== node ? `${org} · ${node}` : node;
  }

  button(r, action, cls) {
    const label = action === 'cancel' ? t('cancel_request') : t(action);
    return h(
      'button',
      { type: 'button', class: 'small ' + cls, dataset: { action, reservation: r.id, focusKey: `${action}:${r.id}` } },
      label,
    );
  }
}
