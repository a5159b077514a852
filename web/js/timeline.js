// The timeline: one row per placement, ISO weeks along the top, each window
// a bar from its first to its last day whose fill shows confirmed, pending
// and free slots. The range is the filter's period when one is set, else
// the span of the windows shown (capped, so a stray date cannot make the
// page kilometres wide).
import { h, DAY_MS, countryName, formatMonth, isoWeek, mondayOf, parseDay } from './format.js';
import { t } from './i18n.js';
import { IncrementalList } from './incremental.js';
import { barStyle, slotSummary, windowDates } from './bars.js';
import { placementTitle } from './placements.js';

const MIN_DAY_PX = 4; // a week at least 28px wide
const MAX_DAY_PX = 16;
const MAX_WEEKS = 156;

export class TimelineView {
  constructor(ctx) {
    this.ctx = ctx;
    this.root = document.getElementById('timeline');
    this.head = h('div', { class: 'tl-head', 'aria-hidden': 'true' });
    this.rows = h('div', { class: 'tl-rows', role: 'list' });
    this.empty = h('p', { class: 'tl-empty', hidden: true });
    this.root.append(this.head, this.rows, this.empty);
    this.range = null;
    this.list = new IncrementalList(this.rows, document.getElementById('timeline-more'), {
      chunk: 150,
      key: (p) => p.id,
      signature: (p) => p.sig + '|' + this.ctx.hostName(p) + '|' + this.rangeKey,
      render: (p) => this.row(p),
    });
    this.rangeKey = '';
    this.dayPx = MIN_DAY_PX;
    this.last = null;
    let timer = 0;
    window.addEventListener('resize', () => {
      clearTimeout(timer);
      timer = setTimeout(() => this.last && this.show(...this.last), 150);
    });
  }

  // Short ranges stretch to the width available; long ones scroll sideways.
  fitDayPx(weeks) {
    const main = document.getElementById('main');
    const label = parseFloat(getComputedStyle(this.root).getPropertyValue('--label')) || 16;
    const rem = parseFloat(getComputedStyle(document.documentElement).fontSize) || 15;
    const avail = main.clientWidth - label * rem - 48;
    return Math.max(MIN_DAY_PX, Math.min(MAX_DAY_PX, Math.floor(avail / (weeks * 7))));
  }

  show(placements, filters) {
    this.last = [placements, filters];
    this.range = this.computeRange(placements, filters);
    if (this.range) this.dayPx = this.fitDayPx(this.range.weeks);
    const key = this.range ? `${this.range.start}:${this.range.weeks}:${this.dayPx}` : '';
    if (key !== this.rangeKey) {
      this.rangeKey = key;
      this.paintHead();
    }
    const withWindows = placements.filter((p) => p.windows.length > 0);
    this.empty.hidden = withWindows.length > 0;
    this.empty.textContent = t('timeline_empty');
    this.list.setItems(this.range ? withWindows : []);
  }

  relabel() {
    this.paintHead();
    this.list.invalidate();
  }

  computeRange(placements, filters) {
    let lo = parseDay(filters.from);
    let hi = parseDay(filters.to);
    if (!Number.isFinite(lo) || !Number.isFinite(hi)) {
      let minS = Infinity;
      let maxE = -Infinity;
      for (const p of placements) {
        for (const w of p.windows) {
          const s = parseDay(w.start);
          const e = parseDay(w.end);
          if (Number.isFinite(s) && s < minS) minS = s;
          if (Number.isFinite(e) && e > maxE) maxE = e;
        }
      }
      if (!Number.isFinite(lo)) lo = minS;
      if (!Number.isFinite(hi)) hi = maxE;
    }
    if (!Number.isFinite(lo) || !Number.isFinite(hi) || hi < lo) return null;
    const start = mondayOf(lo);
    const weeks = Math.min(MAX_WEEKS, Math.max(1, Math.ceil((hi - start + DAY_MS) / (7 * DAY_MS))));
    return { start, weeks, end: start + weeks * 7 * DAY_MS };
  }

  paintHead() {
    this.head.replaceChildren();
    if (!this.range) return;
    const { start, weeks } = this.range;
    const px = this.dayPx;
    const months = h('div', { class: 'tl-months', style: `width:${weeks * 7 * px}px` });
    const cells = h('div', { class: 'tl-weeks', style: `width:${weeks * 7 * px}px` });
    let lastMonth = -1;
    for (let i = 0; i < weeks; i++) {
      const ms = start + i * 7 * DAY_MS;
      const month = new Date(ms + 3 * DAY_MS).getUTCMonth();
      if (month !== lastMonth) {
        months.append(h('span', { class: 'tl-month', style: `left:${i * 7 * px}px` }, formatMonth(ms + 3 * DAY_MS)));
        lastMonth = month;
      }
      cells.append(h('span', { class: 'tl-week', title: t('week', { n: isoWeek(ms) }) }, String(isoWeek(ms))));
    }
    this.head.append(h('div', { class: 'tl-corner' }), h('div', { class: 'tl-scale' }, months, cells));
    this.root.style.setProperty('--tl-width', `${weeks * 7 * px}px`);
    this.root.style.setProperty('--tl-week', `${7 * px}px`);
    this.root.dataset.dayPx = String(px); // tests read the scale
  }

  row(p) {
    const { start, end } = this.range;
    const title = placementTitle(p);
    const track = h('div', { class: 'tl-track', role: 'list', 'aria-label': title });
    for (const w of p.windows) {
      const s = parseDay(w.start);
      const e = parseDay(w.end) + DAY_MS;
      if (!Number.isFinite(s) || !Number.isFinite(e) || e <= start || s >= end) continue;
      const left = (Math.max(s, start) - start) / DAY_MS;
      const width = Math.max(1, (Math.min(e, end) - Math.max(s, start)) / DAY_MS);
      const label = `${windowDates(w)}: ${slotSummary(w)}`;
      track.append(
        h(
          'div',
          {
            class: 'tl-window bar' + (w.free === 0 ? ' full' : '') + (w.overbooked ? ' overbooked' : ''),
            style: `${barStyle(w)}left:${left * this.dayPx}px;width:${width * this.dayPx}px`,
            title: label,
            role: 'listitem',
            dataset: { window: w.id, free: w.free },
          },
          h('span', { class: 'tl-free', 'aria-hidden': 'true' }, String(w.free)),
          h('span', { class: 'sr-only' }, label),
        ),
      );
    }
    return h(
      'div',
      { class: 'tl-row' + (this.ctx.isOwn(p) ? ' own' : ''), role: 'listitem', dataset: { id: p.id } },
      h(
        'div',
        { class: 'tl-label' },
        h('span', { class: 'tl-title' }, title),
        h('span', { class: 'tl-sub' }, [this.ctx.hostName(p), p.city, countryName(p.country)].filter(Boolean).join(' · ')),
      ),
      track,
    );
  }

  renderAll() {
    this.list.renderAll();
  }
}
