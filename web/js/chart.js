// Horizontal bar charts as inline SVG, drawn here (no chart library, nothing
// fetched): one bar per category with its label on the left and its count
// written at the end of the bar, so colour and length are never the only
// cue. The figure's caption names it; the numbers are also in the report's
// table for screen readers (the SVG is one image with a text summary).
import { formatNumber } from './format.js';

const NS = 'http://www.w3.org/2000/svg';
const ROW = 26;
const LABEL = 190;
const WIDTH = 640;
const VALUE_ROOM = 56;

function el(tag, attrs, text) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

// Shortens a label to fit the label column (the full text is in <title>).
function clip(text, max = 28) {
  return text.length > max ? text.slice(0, max - 1) + '…' : text;
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
  const span = WIDTH - LABEL - VALUE_ROOM;
  bars.forEach((b, i) => {
    const y = 4 + i * ROW;
    const w = b.value > 0 ? Math.max(2, Math.round((span * b.value) / max)) : 0;
    const g = el('g', { class: 'chart-bar', 'data-key': b.key, 'data-value': b.value });
    g.append(el('title', {}, `${b.label}: ${formatNumber(b.value)}`));
    g.append(el('text', { x: LABEL - 8, y: y + ROW / 2 + 1, 'text-anchor': 'end', 'dominant-baseline': 'middle', class: 'chart-label' }, clip(b.label)));
    g.append(el('rect', { x: LABEL, y: y + 3, width: w, height: ROW - 8, rx: 3, class: 'chart-rect' }));
    g.append(el('text', { x: LABEL + w + 6, y: y + ROW / 2 + 1, 'dominant-baseline': 'middle', class: 'chart-value' }, formatNumber(b.value)));
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
