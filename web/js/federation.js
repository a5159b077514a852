// The federation panel: every member on this node's roster, its standing in
// the replicated roster (admitted, pending admissions, removed), whether it is a
// connected peer, how far behind it is, when this node last heard from it,
// and any problem the merge flagged (a forked log, rejected operations).
// Actions (docs/membership.md): expel another admitted member, leave the
// federation, rotate this node's key; each asks for confirmation first and
// says in plain words what was written or why it was refused.
// Also the "last synced with" strip shown on every screen, and the progress
// of long work (a catch-up, an import, an audit export or verification) with
// done/total, rate and time left, from the status the app polls.
import { h, countryName, relativeTime, formatNumber } from './format.js';
import { t } from './i18n.js';
import * as api from './api.js';

// A member's standing in the replicated roster (docs/membership.md), as the
// members API gives it: admitted (or founder), pending with its admissions,
// removed or left after a delta, or trusted by this node alone.
function membershipText(m) {
  switch (m.status) {
    case 'admitted': {
      const standing = t(m.founder ? 'member_founder' : 'member_admitted');
      if (!m.removalVotes) return standing;
      const votes = t(m.removalVotedBySelf ? 'member_expel_votes_self' : 'member_expel_votes', { n: m.removalVotes, q: m.quorum });
      return `${standing} · ${votes}`;
    }
    case 'pending':
      return t('member_pending', { n: m.admissions, q: m.quorum });
    case 'removed':
    case 'left':
      return t('member_' + m.status, { n: m.lastSeq ?? '?' });
    case 'override':
      return t('member_override');
    default:
      return '';
  }
}

export class FederationView {
  // localName(id, cardName): the name a member is shown under.
  constructor(localName = (id, card) => card) {
    this.localName = localName;
    this.table = document.getElementById('members-table');
    this.summary = document.getElementById('members-summary');
    this.strip = document.getElementById('sync-peers');
    this.workBox = document.getElementById('work-box');
    this.work = document.getElementById('work-progress');
    this.result = document.getElementById('members-result');
    this.data = { self: null, members: [], peers: [] };
    this.tasks = [];
    // Set by the app: refetches the members after an action.
    this.onChanged = null;
    for (const id of ['members-rotate', 'members-leave']) {
      const b = document.getElementById(id);
      if (b) b.addEventListener('click', () => this.act(b.dataset.action, null));
    }
    this.table.addEventListener('click', (e) => {
      const b = e.target.closest('button[data-action="expel"]');
      if (!b) return;
      const m = this.data.members.find((x) => x.id === b.dataset.id);
      if (m) this.act('expel', m);
    });
  }

  // One membership write, confirmed first; the answer in plain words. With
  // a quorum above 1 an expel is one vote of several, and says so.
  async act(kind, member) {
    const name = member ? this.name(member.id) : '';
    const vote = kind === 'expel' && member.quorum > 1;
    const votes = vote ? { n: member.removalVotes, q: member.quorum } : {};
    if (!window.confirm(t(vote ? 'confirm_expel_vote' : 'confirm_' + kind, { name, ...votes }))) return;
    const path =
      kind === 'expel' ? `/api/v1/members/${member.id}/expel` : kind === 'leave' ? '/api/v1/members/leave' : '/api/v1/keys/rotate';
    try {
      const r = await api.request('POST', path, {});
      if (r && r.rejected) this.say(kind, 'refused', t('action_not_counted', { detail: r.rejected.detail }));
      else {
        const seq = r && r.delta ? r.delta.seq : '?';
        this.say(kind, 'done', vote ? t('done_expel_vote', { name, n: seq, v: votes.n + 1, q: votes.q }) : t('done_' + kind, { name, n: seq }));
      }
    } catch (e) {
      this.say(kind, 'refused', t('action_refused', { detail: e.detail || e.message }));
    }
    if (this.onChanged) await this.onChanged();
  }

  say(kind, outcome, text) {
    if (!this.result) return;
    this.result.hidden = false;
    this.result.dataset.action = kind;
    this.result.dataset.outcome = outcome;
    this.result.textContent = text;
  }

  show(self, members, peers, tasks = this.tasks) {
    this.data = { self, members, peers };
    this.tasks = tasks;
    this.paint();
  }

  // True while some long work runs: the app then polls the status faster.
  busy() {
    return this.tasks.some((x) => x.state === 'running');
  }

  relabel() {
    this.paint();
  }

  // Called every few seconds so "12 s ago" stays true without refetching.
  tick() {
    this.paint();
  }

  name(id) {
    const m = this.data.members.find((x) => x.id === id);
    if (m && m.name) return this.localName(id, m.name);
    if (this.data.self && this.data.self.id === id) return this.localName(id, this.data.self.name);
    return id ? id.slice(0, 12) + '…' : '';
  }

  paint() {
    const { self, members, peers } = this.data;
    const now = Date.now();
    const peerById = new Map(peers.map((p) => [p.id, p]));
    const rows = [];
    const seen = new Set();
    const all = [...members];
    if (self && !members.some((m) => m.id === self.id)) all.unshift({ ...self, equivocation: false, rejected: 0 });
    // A node that left or was removed writes nothing that counts: it is
    // offered no rotation, leaving or vote.
    const selfMember = self && members.find((m) => m.id === self.id);
    const outside = Boolean(selfMember && (selfMember.status === 'left' || selfMember.status === 'removed'));
    for (const id of ['members-rotate', 'members-leave']) {
      const b = document.getElementById(id);
      if (b) b.hidden = outside;
    }
    for (const p of peers) if (!all.some((m) => m.id === p.id)) all.push({ id: p.id, name: '', country: '', role: '', rejected: 0 });
    for (const m of all) {
      if (seen.has(m.id)) continue;
      seen.add(m.id);
      const isSelf = self && m.id === self.id;
      const p = peerById.get(m.id);
      const state = isSelf ? 'self' : p ? (p.connected ? 'connected' : 'disconnected') : 'none';
      const membership = membershipText(m);
      const problems = [];
      if (m.equivocation) problems.push(t('problem_equivocation'));
      if (m.rejected) problems.push(t('problem_rejected', { n: m.rejected }));
      rows.push(
        h(
          'tr',
          { dataset: { id: m.id, state }, class: problems.length ? 'flagged' : null },
          h(
            'th',
            { scope: 'row', 'data-label': t('col_member') },
            h('span', { class: 'member-name' }, this.name(m.id)),
            h('code', { class: 'node-id', title: m.id }, m.id.slice(0, 16) + '…'),
          ),
          h('td', { 'data-label': t('col_country') }, countryName(m.country)),
          h('td', { 'data-label': t('col_role') }, m.role ? t('role_' + m.role) : ''),
          h('td', { 'data-label': t('col_membership'), class: 'membership', dataset: { status: m.status || '' } }, membership),
          h(
            'td',
            { 'data-label': t('col_connection'), class: 'connection' },
            h('span', { class: 'dot dot-' + state, 'aria-hidden': 'true' }),
            isSelf ? t('this_node') : p ? t(p.connected ? 'connected' : 'disconnected') : t('not_a_peer'),
          ),
          h('td', { 'data-label': t('col_behind') }, isSelf || !p ? '' : p.lag ? t('deltas_behind', { n: p.lag }) : t('up_to_date')),
          h('td', { 'data-label': t('col_last_seen') }, isSelf || !p ? '' : relativeTime(p.lastSync || p.lastSeen, now)),
          h('td', { 'data-label': t('col_problems'), class: 'problems' }, problems.length ? problems.join('; ') : t('no_problems')),
          h(
            'td',
            { 'data-label': t('col_actions'), class: 'actions' },
            !isSelf && !outside && m.status === 'admitted' && !m.removalVotedBySelf ? h('button', { type: 'button', class: 'author-only', dataset: { action: 'expel', id: m.id } }, t('action_expel')) : '',
          ),
        ),
      );
    }
    this.table.replaceChildren(
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          ['col_member', 'col_country', 'col_role', 'col_membership', 'col_connection', 'col_behind', 'col_last_seen', 'col_problems', 'col_actions'].map((k) =>
            h('th', { scope: 'col' }, t(k)),
          ),
        ),
      ),
      h('tbody', null, rows),
    );
    this.paintSummary(all);
    this.paintStrip(now);
    this.paintWork(now);
  }

  // One line above the table: how many members the replicated roster
  // admitted, how many await more admissions, and the quorum.
  paintSummary(all) {
    if (!this.summary) return;
    const admitted = all.filter((m) => m.status === 'admitted').length;
    const pending = all.filter((m) => m.status === 'pending').length;
    const quorum = all.reduce((q, m) => (m.quorum ? m.quorum : q), 0);
    this.summary.dataset.admitted = String(admitted);
    this.summary.dataset.pending = String(pending);
    this.summary.textContent = quorum ? t('members_summary', { admitted, pending, quorum }) : '';
  }

  // A finished task stays a minute, so the end of a catch-up is seen.
  paintWork(now) {
    const shown = this.tasks.filter((x) => x.state === 'running' || (x.finished && now - x.finished < 60000));
    this.workBox.hidden = shown.length === 0;
    this.work.replaceChildren(
      ...shown.map((x) => {
        const unit = t('unit_' + x.unit);
        const label = t('task_' + x.task) + (x.phase ? ' (' + x.phase + ')' : '');
        let text;
        if (x.state === 'running') {
          const pct = x.total ? Math.floor((100 * x.done) / x.total) + ' %' : '…';
          text = t('progress_line', { done: formatNumber(x.done), total: formatNumber(x.total), unit, pct, rate: formatNumber(Math.round(x.perSecond)) });
          if (x.etaSeconds !== null) text += ' · ' + t('progress_eta', { eta: duration(x.etaSeconds) });
        } else {
          text = t(x.state === 'done' ? 'progress_finished' : 'progress_failed', { done: formatNumber(x.done), unit });
        }
        return h(
          'li',
          { dataset: { task: x.task, state: x.state } },
          h('span', { class: 'work-label', id: 'work-label-' + x.task }, label),
          ' ',
          h('progress', { max: Math.max(1, x.total), value: Math.min(x.done, Math.max(1, x.total)), 'aria-labelledby': 'work-label-' + x.task }),
          ' ',
          h('span', { class: 'work-figures' }, text),
        );
      }),
    );
  }

  paintStrip(now) {
    const { peers } = this.data;
    if (peers.length === 0) {
      this.strip.replaceChildren(h('li', { class: 'muted' }, t('no_peers')));
      return;
    }
    this.strip.replaceChildren(
      ...peers.map((p) =>
        h(
          'li',
          { dataset: { id: p.id, state: p.connected ? 'connected' : 'disconnected' } },
          h('span', { class: 'dot dot-' + (p.connected ? 'connected' : 'disconnected'), 'aria-hidden': 'true' }),
          h('span', { class: 'peer-name' }, this.name(p.id)),
          ' ',
          h('span', { class: 'peer-when' }, relativeTime(p.lastSeen, now)),
          p.connected ? null : h('span', { class: 'sr-only' }, ' (' + t('disconnected') + ')'),
          // A partner that refused the link as removed: this node's writes
          // count nowhere now, and the strip on every page says so.
          p.refusesUs ? h('strong', { class: 'peer-refuses error', dataset: { refuses: '1' } }, ' ' + t('peer_refuses_removed')) : null,
        ),
      ),
    );
  }
}

// 75 -> "1 min 15 s"; whole seconds, minutes, hours as people say them.
function duration(s) {
  if (s < 90) return t('seconds', { n: s });
  if (s < 90 * 60) return t('minutes', { n: Math.round(s / 60) });
  return t('hours', { n: Math.round(s / 360) / 10 });
}
