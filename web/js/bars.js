// The slot bar of one window: confirmed (solid grey), pending (striped amber)
// and free (green) as shares of the capacity, with the exact counts as text
// beside it and in its accessible name, so colour is never the only cue.
import { h, formatRange, parseDay } from './format.js';
import { language, t } from './i18n.js';

export function windowDates(w) {
  return formatRange(parseDay(w.start), parseDay(w.end));
}

const summaries = new Map();
export function slotSummary(w) {
  const key = `${language()}|${w.free}|${w.pending}|${w.confirmed}|${w.capacity}|${w.overbooked}`;
  let s = summaries.get(key);
  if (s === undefined) {
    s = slotSummaryNow(w);
    summaries.set(key, s);
  }
  return s;
}

function slotSummaryNow(w) {
  let s = t('slots_summary', { free: w.free, pending: w.pending, confirmed: w.confirmed, capacity: w.capacity });
  if (w.overbooked) s += ' (' + t('overbooked', { n: w.overbooked }) + ')';
  return s;
}

// A bar is one element whose shares are two custom properties that the CSS
// gradient reads (a bar per window, thousands of windows: every element and
// inline style counts). Pending requests compete for the free slots: the bar
// shows the part of the free slots they would take as striped.
export function barStyle(w) {
  const cap = Math.max(w.capacity, w.confirmed, 1);
  const confirmed = Math.min(w.confirmed, cap);
  const pending = Math.min(w.pending, w.free);
  const c = ((100 * confirmed) / cap).toFixed(1);
  const p = ((100 * (confirmed + pending)) / cap).toFixed(1);
  return `--c:${c}%;--p:${p}%;`;
}

// Decorative: the counts are always written next to it.
export function slotBar(w) {
  return h('span', { class: 'bar' + (w.overbooked ? ' overbooked' : ''), 'aria-hidden': 'true', style: barStyle(w) });
}
