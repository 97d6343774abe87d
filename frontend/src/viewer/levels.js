// Level identification aid (issue #18 point 2): the reader marks two vertebral bodies, one at the thoracolumbar
// junction (T11, T12 or L1) and one at the lumbosacral junction (L5 or S1), and the viewer proposes the other levels
// T11…S1 at the body centres, as small labels in the overlay layer (toggled with O).
//
// The proposals are the reader's own: computed here from the reader's marks and the image's geometry (Pixel
// Spacing, Image Orientation), never from the server or another read. The marks are kept in this browser's
// localStorage under the read's id, so read 2 of the same case and other readers never see them; the aid is only
// offered on the reader's own open read (not the PI's view-only page).
//
// Method (proposeLevels): the bodies between the two marks lie on a circular arc through them that bulges
// anteriorly by the typical lumbar lordosis (35° between L1 and S1, pro rata for the part of L1–S1 the marks span),
// spaced in proportion to typical adult centre-to-centre distances (PITCH_MM); levels beyond the marks continue
// along the chord to the neighbouring proposal at the same scale. Scaling to the reader's two marks absorbs the
// subject's size and the pixel spacing, the arc most of the lordosis.
// Why these two marks: on 100 of the demo phantom's lordotic spines (lordosis 25–45°, body and disc sizes ±15 %),
// marks on T11/T12/L1 and L5/S1 put every proposal inside its body's marrow (worst: 0.99 of the inner half size, L1
// + S1); any other pair extrapolates the lordosis or a short baseline and missed the body on some spines (T12 + L3:
// 97 of 800 proposals outside, L3 + S1: 197; L2 + S1: 9; T11 + L4: 44). A single mark with a nominal pitch misses by
// ±15 % per level (sizes vary), so one mark proposes nothing.
import { Enums as CoreEnums, metaData } from '@cornerstonejs/core';

import { pixelToWorld, worldToPixel } from './coords.js';
import { t } from './messages.js';

/** Levels the aid knows, cranial → caudal. */
export const LEVEL_ORDER = ['T11', 'T12', 'L1', 'L2', 'L3', 'L4', 'L5', 'S1'];
/** Typical adult distance (mm) from a body's centre to the next caudal body's centre: body height + disc
 * (thoracolumbar bodies ~24–27 mm high, lumbar discs 8–11 mm; the lower lumbar segments are the tallest). */
export const PITCH_MM = { T11: 31, T12: 33, L1: 35, L2: 36, L3: 37, L4: 37, L5: 35 };
export const LORDOSIS_DEG = 35; // typical L1–S1 lordosis of an adult, standing or supine
/** The levels the reader may mark: one of the upper ones and one of the lower ones (see above for why). */
export const MARK_UPPER = ['T11', 'T12', 'L1'];
export const MARK_LOWER = ['L5', 'S1'];
export const MARKABLE = [...MARK_UPPER, ...MARK_LOWER];

const arcMm = (level) => {
  let s = 0;
  for (const l of LEVEL_ORDER.slice(0, LEVEL_ORDER.indexOf(level))) s += PITCH_MM[l];
  return s;
};
const sub = (a, b) => [a[0] - b[0], a[1] - b[1]];
const add = (a, b) => [a[0] + b[0], a[1] + b[1]];
const mul = (a, k) => [a[0] * k, a[1] * k];
const norm = (a) => Math.hypot(a[0], a[1]);

/**
 * Proposed body centres for every level from two marks, in one plane's 2-D coordinates (mm).
 *
 * marks: [{label, p: [x, y]}] (two: one of MARK_UPPER, one of MARK_LOWER); anterior: the in-plane direction
 * towards the patient's front (null or [0, 0] when not in the plane: no bending). Returns {label: [x, y]} for
 * LEVEL_ORDER (the marks themselves included, unchanged), or null when the marks do not allow a proposal.
 */
export function proposeLevels(marks, anterior) {
  if (!marks || marks.length !== 2) return null;
  const [a, b] = [...marks].sort((m, n) => LEVEL_ORDER.indexOf(m.label) - LEVEL_ORDER.indexOf(n.label));
  const ia = LEVEL_ORDER.indexOf(a.label);
  const ib = LEVEL_ORDER.indexOf(b.label);
  if (!MARK_UPPER.includes(a.label) || !MARK_LOWER.includes(b.label)) return null;
  const sa = arcMm(a.label);
  const sb = arcMm(b.label);
  const chord = sub(b.p, a.p);
  const len = norm(chord);
  if (!(len > 0)) return null;
  const d = mul(chord, 1 / len);
  let n = [-d[1], d[0]];
  const ant = anterior && norm(anterior) > 0.3 ? anterior : null;
  if (ant && n[0] * ant[0] + n[1] * ant[1] < 0) n = mul(n, -1);
  // Turning of the axis between the marks: the lordosis, pro rata for the part of L1–S1 they span.
  const l1 = arcMm('L1');
  const s1 = arcMm('S1');
  const spanned = Math.max(0, Math.min(sb, s1) - Math.max(sa, l1));
  const phi = ant ? ((LORDOSIS_DEG * Math.PI) / 180) * (spanned / (s1 - l1)) : 0;
  const between = (frac) => {
    if (phi < 1e-3) return add(a.p, mul(chord, frac));
    // Circle through both marks with the arc's centre on the posterior side, so the arc bulges anteriorly.
    const r = len / (2 * Math.sin(phi / 2));
    const centre = sub(mul(add(a.p, b.p), 0.5), mul(n, r * Math.cos(phi / 2)));
    const a0 = Math.atan2(a.p[1] - centre[1], a.p[0] - centre[0]);
    const a1 = Math.atan2(b.p[1] - centre[1], b.p[0] - centre[0]);
    const da = ((a1 - a0 + 3 * Math.PI) % (2 * Math.PI)) - Math.PI;
    const ang = a0 + frac * da;
    return add(centre, [r * Math.cos(ang), r * Math.sin(ang)]);
  };
  const out = {};
  for (let i = ia; i <= ib; i++) out[LEVEL_ORDER[i]] = between((arcMm(LEVEL_ORDER[i]) - sa) / (sb - sa));
  out[a.label] = a.p;
  out[b.label] = b.p;
  // Beyond the marks: straight on along the chord to the neighbouring proposal, at the marks' scale.
  const scale = len / (sb - sa); // image mm per typical mm
  const up = sub(out[LEVEL_ORDER[ia + 1]], a.p);
  const down = sub(b.p, out[LEVEL_ORDER[ib - 1]]);
  for (let i = ia - 1; i >= 0; i--) out[LEVEL_ORDER[i]] = sub(a.p, mul(up, ((sa - arcMm(LEVEL_ORDER[i])) * scale) / norm(up)));
  for (let i = ib + 1; i < LEVEL_ORDER.length; i++) out[LEVEL_ORDER[i]] = add(b.p, mul(down, ((arcMm(LEVEL_ORDER[i]) - sb) * scale) / norm(down)));
  return out;
}

// ------------------------------------------------------------------------------------------- storage

const storeKey = (readId) => `vbq.levelMarks.${readId}`;

/** The reader's marks of one read ([{label, col, row}] in image pixels), from this browser. */
export function loadMarks(readId) {
  try {
    const v = JSON.parse(localStorage.getItem(storeKey(readId)) || '[]');
    return Array.isArray(v) ? v.filter((m) => LEVEL_ORDER.includes(m.label) && Number.isFinite(m.col) && Number.isFinite(m.row)) : [];
  } catch {
    return []; // storage off or a damaged entry: no marks
  }
}

function saveMarks(readId, marks) {
  try {
    if (marks.length) localStorage.setItem(storeKey(readId), JSON.stringify(marks));
    else localStorage.removeItem(storeKey(readId));
  } catch {
    /* storage full or disabled: the marks last for this page only */
  }
}

// ------------------------------------------------------------------------------------------- UI

/**
 * Mount the aid: a "Mark level" select in the toolbar (choosing a level arms it; the next click on the image marks
 * that body's centre; its last option clears the marks), and the labels in the overlay layer. Returns {marks, proposals, update}.
 */
export function mountLevelAid({ viewport, readId, toolbar, overlayLayer, notice }) {
  const element = viewport.element;
  let marks = loadMarks(readId);
  let armed = null; // the level the next click marks

  // One select keeps the toolbar on one line: a level arms the next click, the last option clears the marks.
  const group = document.createElement('div');
  group.className = 'vw-group vw-levelaid';
  const select = document.createElement('select');
  select.id = 'vw-mark-level';
  select.title = t('levels.title');
  select.setAttribute('aria-label', t('levels.title'));
  select.append(new Option(t('levels.mark'), ''), ...MARKABLE.map((l) => new Option(l, l)), new Option(t('levels.clear'), 'clear'));
  group.append(select);
  toolbar.insertBefore(group, toolbar.querySelector('.vw-spacer'));

  const layer = document.createElement('div');
  layer.className = 'vw-levels';
  layer.id = 'vw-levels';
  overlayLayer.append(layer);

  // Mark positions in the current image's plane, 2-D mm (x along the rows' direction, y along the columns').
  function planeInfo(imageId) {
    const p = metaData.get('imagePlaneModule', imageId);
    if (!p?.rowCosines || !p.columnCosines) return null;
    const A = [0, -1, 0]; // anterior in patient LPS
    const dot = (u, v) => u[0] * v[0] + u[1] * v[1] + u[2] * v[2];
    return { dx: p.columnPixelSpacing, dy: p.rowPixelSpacing, anterior: [dot(A, p.rowCosines), dot(A, p.columnCosines)] };
  }

  function proposals() {
    const imageId = viewport.getCurrentImageId();
    const info = imageId && planeInfo(imageId);
    if (!info || marks.length !== 2) return null;
    const mm = proposeLevels(
      marks.map((m) => ({ label: m.label, p: [m.col * info.dx, m.row * info.dy] })),
      info.anterior,
    );
    if (!mm) return null;
    return Object.fromEntries(Object.entries(mm).map(([l, [x, y]]) => [l, { col: x / info.dx, row: y / info.dy }]));
  }

  let frame = 0;
  function update() {
    frame = 0;
    const imageId = viewport.getCurrentImageId();
    if (!imageId || !metaData.get('imagePlaneModule', imageId)) return;
    const marked = new Set(marks.map((m) => m.label));
    const shown = proposals() || Object.fromEntries(marks.map((m) => [m.label, m]));
    const seen = new Set();
    for (const [label, { col, row }] of Object.entries(shown)) {
      let tag = layer.querySelector(`[data-level="${label}"]`);
      if (!tag) {
        tag = document.createElement('span');
        tag.dataset.level = label;
        tag.textContent = label;
        layer.append(tag);
      }
      const kind = marked.has(label) ? 'mark' : 'proposed';
      tag.className = `vw-level vw-level-${kind}`;
      tag.dataset.kind = kind;
      tag.dataset.col = col.toFixed(1);
      tag.dataset.row = row.toFixed(1);
      const [x, y] = viewport.worldToCanvas(pixelToWorld(imageId, [col, row]));
      tag.style.left = `${x}px`;
      tag.style.top = `${y}px`;
      seen.add(label);
    }
    layer.querySelectorAll('[data-level]').forEach((tag) => seen.has(tag.dataset.level) || tag.remove());
    layer.dataset.count = String(Object.keys(shown).length - marks.length);
  }
  const schedule = () => {
    if (!frame) frame = requestAnimationFrame(update);
  };
  for (const name of ['IMAGE_RENDERED', 'CAMERA_MODIFIED', 'STACK_NEW_IMAGE']) element.addEventListener(CoreEnums.Events[name], schedule);

  function explain() {
    if (marks.length === 1) notice(t('levels.needSecond', { label: marks[0].label, other: MARK_UPPER.includes(marks[0].label) ? 'S1' : 'L1' }), { id: 'levels' });
    else if (marks.length === 2 && !proposals()) notice(t('levels.pair'), { kind: 'warn', id: 'levels' });
  }

  function setMarks(next) {
    marks = next;
    saveMarks(readId, marks);
    update();
  }

  const dropNotice = () => document.querySelector('#vw-notices [data-notice="levels"]')?.remove();
  select.addEventListener('change', () => {
    armed = MARKABLE.includes(select.value) ? select.value : null;
    if (select.value === 'clear') {
      select.value = '';
      dropNotice();
      setMarks([]);
      element.focus({ preventScroll: true });
    }
    element.classList.toggle('vw-marking', Boolean(armed));
    if (armed) notice(t('levels.clickBody', { label: armed }), { id: 'levels' });
  });

  // The click that places a mark must not reach Cornerstone's tools (no ROI, no W/L drag): captured on the way down.
  const wrap = element.parentElement;
  let swallowMouse = false;
  const take = (e) => {
    if (e.type === 'mousedown') {
      // preventDefault on pointerdown already suppresses it in Chromium; stop it anyway where it still comes.
      if (swallowMouse) {
        swallowMouse = false;
        e.stopPropagation();
        e.preventDefault();
      }
      return;
    }
    if (!armed || e.button !== 0 || !element.contains(e.target)) return;
    e.stopPropagation();
    e.preventDefault();
    swallowMouse = true;
    const rect = viewport.canvas.getBoundingClientRect();
    const imageId = viewport.getCurrentImageId();
    const [col, row] = worldToPixel(imageId, viewport.canvasToWorld([e.clientX - rect.left, e.clientY - rect.top]));
    const label = armed;
    armed = null;
    select.value = '';
    element.classList.remove('vw-marking');
    // The newest two marks count (a third replaces the older one; marking a level again moves it).
    const kept = marks.filter((m) => m.label !== label).slice(-1);
    setMarks([...kept, { label, col, row }]);
    dropNotice();
    explain();
    element.focus({ preventScroll: true }); // the keys (1–6, O, …) work again at once
  };
  for (const type of ['pointerdown', 'mousedown']) wrap.addEventListener(type, take, { capture: true });
  wrap.addEventListener('pointerup', () => (swallowMouse = false), { capture: true }); // a mousedown comes before it or never
  document.addEventListener('keydown', (e) => {
    if (e.key !== 'Escape' || !armed) return; // Esc gives up marking
    armed = null;
    select.value = '';
    element.classList.remove('vw-marking');
    dropNotice();
  });

  update();
  return { marks: () => marks, proposals, update, proposeLevels }; // proposeLevels: for the tests' phantom spines
}
