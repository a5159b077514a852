// The mobility report (GET /api/v1/report/mobilities) for a funder's officer:
// bar charts per country pair (sending → receiving), per year or month, by
// activity and by participant category; the full table beneath; a CSV
// download of the same numbers; and what was left out, and why.
import * as api from './api.js';
import { h, countryName, formatNumber } from './format.js';
import { t } from './i18n.js';
import { barChart } from './chart.js';
import { checkbox, field, filterForm, select } from './ui.js';

const $ = (id) => document.getElementById(id);

function country(code) {
  return code === '??' ? t('report_unknown') : countryName(code);
}

export function pairLabel(p) {
  return `${country(p.sending_country)} → ${country(p.receiving_country)}`;
}

export class ReportView {
  // ctx: { orgOptions(keep) }
  constructor(ctx) {
    this.ctx = ctx;
    this.data = null;
    this.generation = 0;
  }

  buildOptions() {
    const form = $('report-options');
    const keep = this.controls
      ? { by: this.controls.by.value, organisation: this.controls.organisation.value, cancelled: this.controls.cancelled.querySelector('input').checked }
      : { by: 'year', organisation: '', cancelled: false };
    this.controls = {
      by: select('by', [['year', t('report_by_year')], ['month', t('report_by_month')]], keep.by),
      organisation: select('organisation', [['', t('report_all_orgs')], ...this.ctx.orgOptions()], keep.organisation),
      cancelled: checkbox(t('report_include_cancelled'), 'include_cancelled', keep.cancelled),
    };
    this.csv = h('a', { class: 'button-link', download: 'conect-mobility-report.csv' }, t('report_csv'));
    filterForm(
      form,
      [field(t('report_period'), this.controls.by), field(t('col_organisation'), this.controls.organisation), this.controls.cancelled],
      () => this.load(),
      { submitLabel: t('report_show'), reset: false, extra: [this.csv] },
    );
    this.controls.cancelled.querySelector('input').onchange = () => this.load();
    this.controls.by.onchange = () => this.load();
  }

  query(format) {
    return api.query({
      by: this.controls.by.value,
      organisation: this.controls.organisation.value,
      include_cancelled: this.controls.cancelled.querySelector('input').checked ? 'true' : '',
      format,
    });
  }

  async show() {
    this.buildOptions();
    await this.load();
  }

  async refresh() {
    if (this.controls) await this.load(); // shown once: the options exist
  }

  relabel() {
    this.buildOptions();
    if (this.data) this.paint();
  }

  async load() {
    const gen = ++this.generation;
    this.csv.href = '/api/v1/report/mobilities' + this.query('csv');
    const data = await api.request('GET', '/api/v1/report/mobilities' + this.query('json'));
    if (gen !== this.generation) return;
    this.data = data;
    const t0 = performance.now();
    this.paint();
    window.conect.timings.reportMs = performance.now() - t0;
    window.conect.reportLoads = (window.conect.reportLoads || 0) + 1;
  }

  paint() {
    const d = this.data;
    const sortDesc = (entries) => entries.sort((a, b) => b.value - a.value || a.label.localeCompare(b.label));
    const pairs = sortDesc((d.by_country_pair || []).map((p) => ({ key: `${p.sending_country}-${p.receiving_country}`, label: pairLabel(p), value: p.count })));
    const periods = Object.entries(d.by_period || {})
      .map(([k, v]) => ({ key: k, label: k === 'unknown' ? t('report_unknown') : k, value: v }))
      .sort((a, b) => a.key.localeCompare(b.key));
    const named = (obj, prefix) => sortDesc(Object.entries(obj || {}).map(([k, v]) => ({ key: k, label: t(prefix + k), value: v })));
    const by = this.controls.by.value;
    $('report-charts').replaceChildren(
      barChart({ id: 'chart-pairs', caption: t('chart_pairs'), bars: pairs }),
      barChart({ id: 'chart-periods', caption: t(by === 'month' ? 'chart_months' : 'chart_years'), bars: periods }),
      barChart({ id: 'chart-activity', caption: t('chart_activity'), bars: named(d.by_activity, 'type_') }),
      barChart({ id: 'chart-category', caption: t('chart_category'), bars: named(d.by_category, 'cat_') }),
    );
    this.summary();
    this.table();
  }

  // The total, and every mobility not counted (or counted as unknown) with why.
  summary() {
    const d = this.data;
    const notes = [t('report_total', { n: formatNumber(d.total || 0) })];
    if (d.cancelled_excluded) notes.push(t('report_excluded_cancelled', { n: formatNumber(d.cancelled_excluded) }));
    if (d.host_rejected_excluded) notes.push(t('report_excluded_rejected', { n: formatNumber(d.host_rejected_excluded) }));
    if (!d.cancelled_excluded && !d.host_rejected_excluded) notes.push(t('report_excluded_none'));
    const unknown = (d.rows || []).filter((r) => r.sending_country === '??' || r.receiving_country === '??').reduce((s, r) => s + r.count, 0);
    if (unknown) notes.push(t('report_unknown_country', { n: formatNumber(unknown) }));
    const noPeriod = (d.rows || []).filter((r) => r.period === 'unknown').reduce((s, r) => s + r.count, 0);
    if (noPeriod) notes.push(t('report_unknown_period', { n: formatNumber(noPeriod) }));
    // A total mixes plans with periods that took place: said by status.
    const byStatus = Object.entries(d.by_status || {});
    if (byStatus.length)
      notes.push(t('report_by_status', { list: byStatus.map(([s, n]) => `${formatNumber(n)} ${t('mstatus_' + s)}`).join(', ') }));
    notes.push(t('report_verified_only'));
    const el = $('report-summary');
    el.textContent = notes.join(' ');
    el.dataset.total = String(d.total || 0);
    el.dataset.excluded = String((d.cancelled_excluded || 0) + (d.host_rejected_excluded || 0));
  }

  table() {
    const cols = ['col_pair', 'col_category', 'col_activity', 'col_period', 'col_count'];
    const rows = (this.data.rows || []).map((r) =>
      h(
        'tr',
        { dataset: { pair: `${r.sending_country}-${r.receiving_country}` } },
        h('td', { 'data-label': t('col_pair') }, pairLabel(r)),
        h('td', { 'data-label': t('col_category') }, t('cat_' + r.participant_category)),
        h('td', { 'data-label': t('col_activity') }, t('type_' + r.activity)),
        h('td', { 'data-label': t('col_period') }, r.period === 'unknown' ? t('report_unknown') : r.period),
        h('td', { 'data-label': t('col_count'), class: 'num' }, formatNumber(r.count)),
      ),
    );
    if (rows.length === 0) rows.push(h('tr', null, h('td', { colspan: cols.length, class: 'empty' }, t('report_empty'))));
    $('report-table').replaceChildren(h('thead', null, h('tr', null, cols.map((k) => h('th', { scope: 'col' }, t(k))))), h('tbody', null, rows));
  }
}
