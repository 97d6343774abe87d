// Text and scale overlays over the image, as on a reading workstation: orientation letters at the four edges,
// window width/level, zoom, slice number and position, and a scale bar in millimetres. One key (O) toggles them.
//
// Everything is derived from what is on screen: the letters and the scale bar from the viewport's canvas <-> world
// (patient LPS, mm) mapping, which Cornerstone builds from Image Orientation/Position (Patient) and Pixel Spacing, so
// they stay right whatever the zoom, pan or flip.
import { Enums as CoreEnums, metaData } from '@cornerstonejs/core';

import { t } from './messages.js';
import { setSetting, settings } from './settings.js';

// DICOM patient coordinates (LPS): +x towards the patient's Left, +y Posterior, +z Head. [negative, positive]
const LETTERS = [
  ['R', 'L'],
  ['A', 'P'],
  ['F', 'H'],
];
const OBLIQUE = 0.4; // a second letter when that axis contributes more than this (about 24° off the main axis)
const SCALE_STEPS_MM = [1, 2, 5, 10, 20, 50, 100, 200, 500];

/**
 * Letters for a direction in patient LPS: the dominant axis, then a clearly contributing second one (e.g. "AH").
 * Sagittal image, screen right = posterior: "P"; screen down = feet: "F".
 */
export function orientationLetters(v) {
  const len = Math.hypot(v[0], v[1], v[2]) || 1;
  const order = [0, 1, 2].sort((a, b) => Math.abs(v[b]) - Math.abs(v[a]));
  return order
    .filter((k, i) => i === 0 || Math.abs(v[k]) / len > OBLIQUE)
    .slice(0, 2)
    .map((k) => LETTERS[k][v[k] > 0 ? 1 : 0])
    .join('');
}

/** The largest round length (mm) whose bar fits in `maxPx` screen pixels at `mmPerPx`. */
export function scaleBarMm(mmPerPx, maxPx) {
  let best = SCALE_STEPS_MM[0];
  for (const mm of SCALE_STEPS_MM) if (mm / mmPerPx <= maxPx) best = mm;
  return best;
}

const sub = (a, b) => [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
const neg = (a) => [-a[0], -a[1], -a[2]];
const dot = (a, b) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
const cross = (a, b) => [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
const fmt = (v, digits = 0) => (Number.isFinite(v) ? v.toFixed(digits) : '–');

/** What the overlays show for the viewport now (also the test hook's view of them). */
export function overlayValues(viewport) {
  const canvas = viewport.canvas;
  const w = canvas.clientWidth;
  const h = canvas.clientHeight;
  const c = viewport.canvasToWorld([w / 2, h / 2]);
  const right = sub(viewport.canvasToWorld([w / 2 + 100, h / 2]), c);
  const down = sub(viewport.canvasToWorld([w / 2, h / 2 + 100]), c);
  const mmPerPx = Math.hypot(...right) / 100; // world units are mm: Pixel Spacing and zoom both included
  const voi = viewport.getProperties().voiRange || { lower: NaN, upper: NaN };
  const imageId = viewport.getCurrentImageId();
  const plane = imageId && metaData.get('imagePlaneModule', imageId);
  let position = NaN;
  if (plane?.imagePositionPatient && plane.rowCosines && plane.columnCosines) {
    // Position along the slice normal (row × column direction), the axis the slices are numbered along.
    position = dot(plane.imagePositionPatient, cross(plane.rowCosines, plane.columnCosines));
  }
  const maxPx = Math.min(160, w / 4);
  const barMm = scaleBarMm(mmPerPx, maxPx);
  return {
    left: orientationLetters(neg(right)),
    right: orientationLetters(right),
    top: orientationLetters(neg(down)),
    bottom: orientationLetters(down),
    windowWidth: voi.upper - voi.lower,
    windowCenter: (voi.upper + voi.lower) / 2,
    zoom: viewport.getZoom(),
    index: viewport.getCurrentImageIdIndex() + 1,
    total: viewport.getImageIds().length,
    position,
    mmPerPx,
    barMm,
    barPx: barMm / mmPerPx,
  };
}

/** Build the overlay layer in `wrap` and keep it in step with the viewport. Returns {toggle(), visible()}. */
export function mountOverlays(wrap, viewport) {
  const layer = document.createElement('div');
  layer.id = 'vw-overlay';
  layer.className = 'vw-overlay';
  layer.setAttribute('aria-hidden', 'true');
  const span = (cls, attr) => {
    const s = document.createElement('span');
    s.className = cls;
    if (attr) s.dataset.overlay = attr;
    layer.append(s);
    return s;
  };
  const letters = Object.fromEntries(['left', 'right', 'top', 'bottom'].map((side) => [side, span(`vw-orient vw-orient-${side}`, `orient-${side}`)]));
  const info = span('vw-ov-info');
  const lines = Object.fromEntries(
    ['slice', 'position', 'window', 'zoom'].map((k) => {
      const line = document.createElement('span');
      line.dataset.overlay = k;
      info.append(line);
      return [k, line];
    }),
  );
  const scale = span('vw-scale', 'scale');
  const bar = document.createElement('span');
  bar.className = 'vw-scale-bar';
  const label = document.createElement('span');
  label.className = 'vw-scale-label';
  scale.append(label, bar);
  wrap.append(layer);

  const set = (el, text) => {
    if (el.textContent !== text) el.textContent = text;
  };
  let frame = 0;
  function update() {
    frame = 0;
    if (layer.hidden || !viewport.getCurrentImageId()) return;
    const v = overlayValues(viewport);
    for (const side of Object.keys(letters)) set(letters[side], v[side]);
    set(lines.slice, t('overlay.slice', { index: v.index, total: v.total }));
    set(lines.position, t('overlay.position', { mm: fmt(v.position, 1) }));
    set(lines.window, t('overlay.window', { width: fmt(v.windowWidth), center: fmt(v.windowCenter) }));
    set(lines.zoom, t('overlay.zoom', { zoom: fmt(v.zoom, 2) }));
    set(label, t('overlay.scale', { mm: v.barMm }));
    bar.style.width = `${v.barPx.toFixed(1)}px`;
    scale.dataset.mm = String(v.barMm);
  }
  const schedule = () => {
    if (!frame) frame = requestAnimationFrame(update);
  };
  for (const name of ['IMAGE_RENDERED', 'VOI_MODIFIED', 'CAMERA_MODIFIED', 'STACK_NEW_IMAGE']) {
    viewport.element.addEventListener(CoreEnums.Events[name], schedule);
  }

  function show(on) {
    layer.hidden = !on;
    document.body.dataset.overlays = on ? 'on' : 'off';
    if (on) update();
  }
  show(settings.overlays);
  return {
    toggle() {
      setSetting('overlays', layer.hidden);
      show(settings.overlays);
    },
    update,
  };
}
