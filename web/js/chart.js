// Horizontal bar charts as inline SVG, drawn here (no chart library, nothing
// fetched): one bar per category with its label on the left and its count
// written at the end of the bar, so colour and length are never the only
// cue. The figure's caption names it; the numbers are also in the report's
// table for screen readers (the SVG is one image with a text summary).
import { formatNumber } from './format.js';

const NS = 'http://www.w3.org/2000/svg';
const ROW = 26;
const WIDTH = 640;
const VALUE_ROOM = 56;
// The label column: as wide as the widest label, within these bounds (in
// the SVG's units, which scale with the chart like its 13-unit font does).
const LABEL_MIN = 120;
const LABEL_MAX = 280;
const FONT = 13;

function el(tag, attrs, text) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

// A label's width in the chart's units, measured in the page's font: a
// count of characters clipped Russian labels at the chart's left edge
// (Cyrillic is wider than Latin), or cut short labels that fitted.
let measure;
function textWidth(text) {
  if (!measure) {
    measure = document.createElement('canvas').getContext('2d');
    measure.font = `${FONT}px ${getComputedStyle(document.body).fontFamily}`;
  }
  return measure.measureText(text).width;
}

// Shortens a label to fit `room` (the full text is in <title>).
function fit(text, room) {
  if (textWidth(text) <= room) return text;
  let s = text;
  while (s.length > 1 && textWidth(s + '…') > room) s = s.slice(0, -1);
  return s.trimEnd() + '…';
}

// bars: [{key, label, value}], drawn in the given order. Returns a <figure>.
export function barChart({ id, caption, bars }) {
  const max = Math.max(1, ...bars.map((b) => b.value));
  const height = Math.max(1, bars.length) * ROW + 8;
  const svg = el('svg', {
    viewBox: `0 0 ${WIDTH} ${height}`,
    width: '100%',
    role: 'img',
    class: 'chart',
    'aria-labelledby': id + '-caption',
    preserveAspectRatio: 'xMinYMin meet',
  });
  const summary = bars.map((b) => `${b.label}: ${formatNumber(b.value)}`).join('; ');
  svg.append(el('desc', {}, summary));
  const room = Math.min(LABEL_MAX, Math.max(LABEL_MIN, ...bars.map((b) => Math.ceil(textWidth(b.label)))));
  const labelEnd = room + 10;
  const span = WIDTH - labelEnd - VALUE_ROOM;
  bars.forEach((b, i) => {
    const y = 4 + i * ROW;
    const w = b.value > 0 ? Math.max(2, Math.round((span * b.value) / max)) : 0;
    const g = el('g', { class: 'chart-bar', 'data-key': b.key, 'data-value': b.value });
    g.append(el('title', {}, `${b.label}: ${formatNumber(b.value)}`));
    g.append(el('text', { x: labelEnd - 8, y: y + ROW / 2 + 1, 'text-anchor': 'end', 'dominant-baseline': 'middle', class: 'chart-label' }, fit(b.label, room)));
    g.append(el('rect', { x: labelEnd, y: y + 3, width: w, height: ROW - 8, rx: 3, class: 'chart-rect' }));
    g.append(el('text', { x: labelEnd + w + 6, y: y + ROW / 2 + 1, 'dominant-baseline': 'middle', class: 'chart-value' }, formatNumber(b.value)));
    svg.append(g);
  });
  const figure = document.createElement('figure');
  figure.className = 'chart-figure';
  figure.id = id;
  const cap = document.createElement('figcaption');
  cap.id = id + '-caption';
  cap.textContent = caption;
  figure.append(cap, svg);
  return figure;
}
