// The auditor's view: download the signed audit bundle (everything or one
// organisation), and run the node's own verification of its store as a
// background job (POST /api/v1/audit/verification) whose progress is polled;
// the result is shown in the words of `conect-node audit verify`: the
// verdict, the content digest, one line per institution, then failures,
// warnings and rejected operations, and the command's full output.
import * as api from './api.js';
import { h, countryName, formatNumber } from './format.js';
import { t } from './i18n.js';
import { formatTime } from './mobility_history.js';
import { field, plainError, select } from './ui.js';

const $ = (id) => document.getElementById(id);
const POLL_MS = 400;

export class AuditView {
  // ctx: { orgOptions(keep), memberName(id) }
  constructor(ctx) {
    this.ctx = ctx;
    this.job = null;
    this.polling = false;
    $('audit-run').addEventListener('click', () => this.start());
  }

  buildDownload() {
    const form = $('audit-download');
    const keep = this.org ? this.org.value : '';
    this.org = select('organisation', [['', t('audit_everything')], ...this.ctx.orgOptions()], keep);
    this.link = h('a', { class: 'button-link primary', id: 'audit-download-link', download: 'conect-audit.bundle' }, t('audit_download'));
    const update = () => (this.link.href = '/api/v1/audit/export' + api.query({ organisation: this.org.value }));
    this.org.addEventListener('change', update);
    update();
    this.link.addEventListener('click', (ev) => {
      ev.preventDefault();
      this.download();
    });
    this.downloadError = h('p', { class: 'error', role: 'alert', id: 'audit-download-error', hidden: true });
    form.replaceChildren(field(t('audit_selection'), this.org), h('div', { class: 'field buttons' }, this.link), this.downloadError);
    form.onsubmit = (ev) => ev.preventDefault();
  }

  // Fetches the bundle first: a refusal (a session that expired, an
  // organisation this node does not hold) is said here in plain words,
  // instead of being saved as "conect-audit.bundle" holding the JSON error,
  // which `audit verify` then calls no bundle at all.
  async download() {
    const el = this.downloadError;
    el.hidden = true;
    let r;
    try {
      r = await fetch(this.link.href, { credentials: 'same-origin', cache: 'no-store' });
    } catch (e) {
      r = null;
      el.textContent = plainError(new api.ApiError(0, 'unreachable', e.message));
    }
    if (r && !r.ok) {
      let body = null;
      try {
        body = await r.json();
      } catch {
        body = null;
      }
      el.textContent = plainError(new api.ApiError(r.status, body?.error ?? `http_${r.status}`, body?.detail ?? ''));
    }
    if (!r || !r.ok) {
      el.hidden = false;
      window.conect.auditDownload = { ok: false };
      return;
    }
    const blob = await r.blob();
    window.conect.auditDownload = { ok: true, bytes: blob.size, head: await blob.slice(0, 12).text() };
    const url = URL.createObjectURL(blob);
    const a = h('a', { href: url, download: 'conect-audit.bundle', hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  }

  async show() {
    this.buildDownload();
    try {
      this.job = await api.request('GET', '/api/v1/audit/verification');
    } catch (e) {
      if (e.status !== 404) throw e;
      this.job = null;
    }
    this.paint();
    if (this.job && this.job.state === 'running') this.poll();
  }

  async refresh() {}

  relabel() {
    this.buildDownload();
    this.paint();
  }

  async start() {
    const button = $('audit-run');
    button.disabled = true;
    try {
      this.job = await api.request('POST', '/api/v1/audit/verification', {});
    } catch (e) {
      if (e.status === 409) this.job = await api.request('GET', '/api/v1/audit/verification');
      else {
        $('audit-result').replaceChildren(h('p', { class: 'error', role: 'alert' }, plainError(e)));
        button.disabled = false;
        return;
      }
    }
    this.paint();
    this.poll();
  }

  async poll() {
    if (this.polling) return;
    this.polling = true;
    try {
      while (this.job && this.job.state === 'running') {
        await new Promise((r) => setTimeout(r, POLL_MS));
        this.job = await api.request('GET', '/api/v1/audit/verification');
        this.paint();
      }
    } catch (e) {
      $('audit-result').replaceChildren(h('p', { class: 'error', role: 'alert' }, plainError(e)));
    } finally {
      this.polling = false;
      $('audit-run').disabled = false;
    }
  }

  paint() {
    const job = this.job;
    const prog = $('audit-progress');
    $('audit-run').disabled = Boolean(job && job.state === 'running');
    if (!job) {
      prog.hidden = true;
      $('audit-result').replaceChildren(h('p', { class: 'muted' }, t('audit_not_run')));
      return;
    }
    prog.hidden = job.state !== 'running';
    if (job.state === 'running') {
      const bar = h('progress', { id: 'audit-progress-bar', max: Math.max(1, job.total), value: job.done, 'aria-labelledby': 'audit-progress-label' });
      prog.replaceChildren(
        h('span', { id: 'audit-progress-label' }, t('audit_phase_' + job.phase, { done: formatNumber(job.done), total: formatNumber(job.total) })),
        bar,
      );
      prog.dataset.phase = job.phase;
    }
    const result = $('audit-result');
    result.dataset.state = job.state;
    result.dataset.job = String(job.id);
    if (job.state === 'running') result.replaceChildren();
    else if (job.state === 'failed') result.replaceChildren(h('p', { class: 'error', role: 'alert' }, t('audit_failed', { detail: job.error ? job.error.detail : '' })));
    else result.replaceChildren(...this.report(job));
  }

  report(job) {
    const r = job.report;
    const verdict = h('p', { class: 'verdict verdict-' + r.verdict.toLowerCase(), id: 'audit-verdict', dataset: { verdict: r.verdict } },
      h('strong', null, t('audit_verdict', { verdict: r.verdict })), ' — ', t('verdict_' + r.verdict.toLowerCase()));
    const header = h('dl', { class: 'fields' },
      h('dt', null, t('audit_finished')), h('dd', null, formatTime(job.finished) || job.finished || ''),
      h('dt', null, t('audit_selection')), h('dd', null, r.selection === 'everything' ? t('audit_everything') : r.selection),
      h('dt', null, t('audit_counts')), h('dd', null, t('audit_counts_value', { deltas: formatNumber(r.deltas), records: formatNumber(r.records), institutions: r.institutions.length })),
      h('dt', null, t('audit_digest')), h('dd', null, h('code', { id: 'audit-digest' }, r.content_digest), h('span', { class: 'hint' }, ' ' + t('audit_digest_help'))),
      h('dt', null, t('audit_header')), h('dd', null, r.header_signed ? t('audit_header_signed', { by: this.ctx.memberName(r.exported_by) }) : t('audit_header_unsigned')));
    const cols = ['col_member', 'col_country', 'col_role', 'col_chain', 'col_deltas', 'col_records', 'col_sent', 'col_received', 'col_rejected', 'col_conf_ok', 'col_conf_changed'];
    const rows = r.institutions.map((i) => {
      // data-chain keeps the words of `audit verify` (tests compare them); the cell is in the reader's language.
      const chain = !i.on_roster ? 'NO CARD' : i.frozen_at !== null ? 'FROZEN' : i.chain_valid ? 'ok' : 'BROKEN';
      const chainText = t({ 'NO CARD': 'chain_no_card', FROZEN: 'chain_frozen', ok: 'chain_ok', BROKEN: 'chain_broken' }[chain]);
      return h('tr', { dataset: { id: i.node_id, chain } },
        h('th', { scope: 'row', 'data-label': t('col_member') }, i.name || t('not_on_roster'), h('code', { class: 'node-id' }, ' ' + i.node_id.slice(0, 16))),
        h('td', { 'data-label': t('col_country') }, countryName(i.country)),
        h('td', { 'data-label': t('col_role') }, i.role ? t('role_' + i.role) : ''),
        h('td', { 'data-label': t('col_chain') }, chainText),
        ...[i.deltas, i.records, i.mobilities_sent, i.mobilities_received, i.rejected_operations, i.confirmations_valid, i.confirmations_changed_since].map((n, k) =>
          h('td', { class: 'num', 'data-label': t(cols[k + 4]) }, formatNumber(n))));
    });
    const findings = (title, list, cls) => list.length
      ? [h('h3', null, `${t(title)} (${list.length})`), h('ul', { class: cls }, list.map((f) => h('li', null, h('code', null, f.reason || f.rule), ' ', f.where || t('audit_where_delta', { seq: f.seq, origin: f.origin.slice(0, 16) }), ': ', f.detail)))]
      : [];
    return [
      verdict,
      header,
      h('div', { class: 'table-wrap' }, h('table', { id: 'audit-institutions', class: 'audit' },
        h('thead', null, h('tr', null, cols.map((k) => h('th', { scope: 'col' }, t(k))))), h('tbody', null, rows))),
      ...findings('audit_failures', r.failures, 'findings fail'),
      ...findings('audit_warnings', r.warnings, 'findings warn'),
      ...findings('audit_rejected', r.rejected_operations, 'findings warn'),
      h('details', null, h('summary', null, t('audit_full_output')), h('pre', { class: 'verify-text', id: 'audit-text' }, job.text || '')),
    ];
  }
}
