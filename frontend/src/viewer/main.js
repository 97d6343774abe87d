// VBQ Reader viewer entry point: one read per page.
//
// Config comes from Django ({{ cfg|json_script:"viewer-config" }}, studies/viewer_page.py). The server is the
// source of truth for ROIs and their statistics; this module keeps the Cornerstone annotations and the
// server's ROI records in step (one ROI per label per read, so the label is the key everywhere).
import { Enums as CoreEnums, eventTarget, metaData, utilities as csUtils } from '@cornerstonejs/core';
import { annotation, cancelActiveManipulations, Enums as ToolEnums, state as toolsState } from '@cornerstonejs/tools';

import { api, SaveQueue, setCsrfToken } from './api.js';
import { pixelToWorld, worldToPixel } from './coords.js';
import { makeOps } from './ops.js';
import { t } from './messages.js';
import { bindKeys } from './keys.js';
import { buildProtocolPanel, defaultTool, isLevel, isReference, labelColor, labelName, setProtocol, toolGroupOf } from './protocol.js';
import {
  applyPreset,
  cornerstoneStats,
  createViewer,
  hydrateRoi,
  isRoiTool,
  PRESETS,
  renderAnnotations,
  setPrimaryTool,
} from './tools.js';
import { isHelpOpen, notice, renderChecks, renderNameTags, renderSaveStatus, setHelpOpen } from './ui.js';
import { markFirstImage, preloadStartSlice, prefetchNextCase, withPrefetchedUrls } from './prefetch.js';
import { mountOverlays, overlayValues } from './overlays.js';
import { mountDrawingHint } from './hint.js';
import { mountLevelAid } from './levels.js';

const TE = ToolEnums.Events;
const { ChangeTypes } = ToolEnums;
// Annotation changes that are not edits by the reader (stats refreshes also fire when an ROI is displayed).
const NOT_EDITS = new Set([ChangeTypes.StatsUpdated, ChangeTypes.LabelChange, ChangeTypes.InitialSetup, ChangeTypes.MetadataReferenceModified]);
const EDIT_DEBOUNCE_MS = 400; // a move/resize fires per mouse step; there is no "edit finished" event
const POLL_MS = 1000; // while a worker is still scoring an ROI

const cfg = JSON.parse(document.getElementById('viewer-config').textContent);
setProtocol(cfg.protocol);
setCsrfToken(cfg.csrfToken);

const state = {
  cfg,
  editable: Boolean(cfg.editable),
  labels: cfg.protocol.map((p) => p.label),
  selected: null, // the label the next drawn ROI gets
  rois: new Map(), // label -> the server's ROI record (latest known)
  uidOf: new Map(), // label -> annotationUID drawn here
  labelOf: new Map(), // annotationUID -> label
  toolFor: {}, // tool group ("levels", "CSF", "NOISE") -> tool the reader prefers
  csfLevel: cfg.protocol.find((p) => p.role === 'reference')?.levels[0] || '',
  rowError: new Map(),
  pendingExclusion: new Map(), // label -> {reason, note} until the server confirms
  pendingLabels: new Set(),
  failedLabels: new Set(),
  checks: { problems: [], warnings: [] },
  sopOf: new Map(), // imageId -> SOP Instance UID
  imageIdOf: new Map(), // SOP Instance UID -> imageId
  sliceOfLabel: (label) => {
    const uid = state.uidOf.get(label);
    const a = uid && annotation.state.getAnnotation(uid);
    const imageId = a?.metadata.referencedImageId || state.imageIdOf.get(state.rois.get(label)?.sop_instance_uid);
    const index = state.imageIds.indexOf(imageId);
    return index >= 0 ? index + 1 : null;
  },
  imageIds: [],
};

const internalRemovals = new Set(); // annotationUIDs we remove ourselves (not a reader's delete)
const editTimers = new Map(); // label -> debounce timer

let viewport;
let group;
let panel;
let defaultVoi;

// ------------------------------------------------------------------------------------------- helpers

const isExcluded = (label) => state.pendingExclusion.has(label) || Boolean(state.rois.get(label)?.excluded);
const isDone = (label) => state.uidOf.has(label) || state.rois.has(label) || state.pendingExclusion.has(label);

function nextMissing(after) {
  const start = after ? state.labels.indexOf(after) + 1 : 0;
  for (let k = 0; k < state.labels.length; k++) {
    const label = state.labels[(start + k) % state.labels.length];
    if (!isDone(label)) return label;
  }
  return null;
}

/** Bind an annotation to its label. An excluded level keeps its ROI: drawn dashed and locked, left out of VBQ. */
function bind(label, uid, { excluded = false } = {}) {
  if (!excluded) state.pendingExclusion.delete(label);
  state.uidOf.set(label, uid);
  state.labelOf.set(uid, label);
  const a = annotation.state.getAnnotation(uid);
  if (a) a.data.label = label;
  styleRoi(label, uid, excluded);
}

function styleRoi(label, uid, excluded) {
  const c = labelColor(label);
  const locked = excluded || !state.editable;
  // colorLocked: a locked (read-only or excluded) ROI keeps its label's colour instead of Cornerstone's yellow;
  // white marks the ROI under the mouse or selected only where it can be edited.
  annotation.config.style.setAnnotationStyles(uid, {
    color: c,
    colorHighlighted: locked ? c : '#ffffff',
    colorSelected: locked ? c : '#ffffff',
    colorLocked: c,
    lineWidth: '2',
    lineDash: excluded ? '6,4' : '',
  });
  annotation.locking.setAnnotationLocked(uid, locked);
}

function unbind(label) {
  const uid = state.uidOf.get(label);
  if (!uid) return;
  state.uidOf.delete(label);
  state.labelOf.delete(uid);
  if (annotation.state.getAnnotation(uid)) {
    internalRemovals.add(uid);
    annotation.state.removeAnnotation(uid);
  }
}

function toolFor(label) {
  return state.toolFor[toolGroupOf(label)] || defaultTool(label);
}

function select(label, { tool = true } = {}) {
  state.selected = label;
  // The label's usual tool (ellipse for levels, rectangle for CSF and noise, or what the reader picked);
  // when the protocol is complete the left button goes back to window/level, so a stray drag draws nothing.
  if (tool && state.editable) setTool(label ? toolFor(label) : 'WindowLevel', { remember: false });
  refresh();
}

function setTool(toolName, { remember = true } = {}) {
  if (!state.editable && isRoiTool(toolName)) return;
  setPrimaryTool(group, toolName);
  if (remember && isRoiTool(toolName) && state.selected) state.toolFor[toolGroupOf(state.selected)] = toolName;
  document.querySelectorAll('[data-tool]').forEach((b) => b.setAttribute('aria-pressed', String(b.dataset.tool === toolName)));
}

function refresh() {
  state.pendingLabels = new Set([...queue.pendingKeys(), ...editTimers.keys()]);
  state.failedLabels = new Set(queue.failedKeys());
  panel?.update(state);
  renderSaveStatus({
    pending: state.pendingLabels.size,
    failed: state.failedLabels.size,
    lastError: queue.lastError,
    nextRetryAt: queue.nextRetryAt,
  });
  const missing = state.labels.filter((l) => !isDone(l)).map(labelName);
  renderChecks(state.checks, { editable: state.editable, pending: state.pendingLabels.size, missing });
  if (viewport) {
    renderNameTags(viewport, state.uidOf);
    updateSliceIndicator();
  }
}

// ------------------------------------------------------------------------------------------- saving

const { upsertOp, deleteOp, excludeOp, includeOp } = makeOps(state, cfg);

function save(label, op) {
  state.rowError.delete(label);
  queue.request(label, op);
}

const queue = new SaveQueue({
  onSaved(label, result, req) {
    if (req.body?.excluded || req.method === 'DELETE') state.pendingExclusion.delete(label);
    if (req.method === 'DELETE') state.rois.delete(label);
    else state.rois.set(label, result);
    if (isReference(label) && result?.csf_level) state.csfLevel = result.csf_level;
    schedulePoll();
    refresh();
  },
  async onConflict(label, current) {
    state.pendingExclusion.delete(label);
    clearTimeout(editTimers.get(label));
    editTimers.delete(label);
    notice(`${labelName(label)} was changed in another tab or window. The latest saved version is shown; your last change to it was not applied.`, {
      kind: 'warn',
      id: 'conflict',
    });
    await reloadFromServer(label, current);
  },
  async onRejected(label, err, req) {
    state.pendingExclusion.delete(label);
    if (err.status === 403) {
      setReadOnly(err.message);
      notice(err.message, { kind: 'error', id: 'closed' });
      return;
    }
    if (err.status === 404) {
      notice(`${labelName(label)} was deleted in another tab or window.`, { kind: 'warn', id: 'conflict' });
      await reloadFromServer(label, null);
      return;
    }
    const msg = t('save.refused', { label: labelName(label), error: err.message });
    state.rowError.set(label, err.message);
    notice(msg, { kind: 'error', id: `rejected-${label}` });
    // Back to what the server has; a new ROI that was refused is removed so it can be drawn again.
    if (req.method !== 'DELETE') await reloadFromServer(label, state.rois.get(label) || null, { keepError: true });
    if (!state.rois.has(label)) select(label);
  },
  onChange: () => {
    refresh();
    if (queue.pendingKeys().length === 0 && editTimers.size === 0) scheduleChecks();
  },
});

/** Show the server's version of one label's ROI (after a 409, 404 or a refused save). */
async function reloadFromServer(label, current, { keepError = false } = {}) {
  unbind(label);
  if (!keepError) state.rowError.delete(label);
  if (current) {
    state.rois.set(label, current);
    if (isReference(label) && current.csf_level) state.csfLevel = current.csf_level;
    const imageId = state.imageIdOf.get(current.sop_instance_uid);
    if (imageId && current.points_px?.length) bind(label, await hydrateRoi(viewport, current, imageId), { excluded: current.excluded });
  } else {
    state.rois.delete(label);
  }
  renderAnnotations(viewport);
  refresh();
  scheduleChecks();
}

let pollTimer = null;
function schedulePoll() {
  if (pollTimer || ![...state.rois.values()].some((r) => r.score_status === 'pending')) return;
  pollTimer = setTimeout(async () => {
    pollTimer = null;
    try {
      for (const r of await api('GET', cfg.roiApi)) {
        const cur = state.rois.get(r.label);
        if (cur && cur.id === r.id && cur.version === r.version) state.rois.set(r.label, r); // never go back in time
      }
      scheduleChecks();
    } catch {
      /* offline: try again on the next tick */
    }
    refresh();
    schedulePoll();
  }, POLL_MS);
}

let checksTimer = null;
function scheduleChecks() {
  clearTimeout(checksTimer);
  checksTimer = setTimeout(async () => {
    try {
      state.checks = await api('GET', cfg.checksApi);
    } catch {
      return;
    }
    refresh();
  }, 250);
}

window.addEventListener('beforeunload', (e) => {
  if (queue.pendingKeys().length || editTimers.size) {
    e.preventDefault();
    e.returnValue = ''; // the browser shows its own "leave site?" text
  }
});

// ------------------------------------------------------------------------------------------- reader actions

const actions = {
  select: (label) => select(label),
  remove(label) {
    if (!state.editable) return;
    unbind(label);
    save(label, deleteOp(label));
    select(label);
    renderAnnotations(viewport);
  },
  exclude(label, reason, note) {
    if (!state.editable) return;
    // The ROI stays (dashed, locked) and is sent with the exclusion: undo brings it back as it was.
    const uid = state.uidOf.get(label);
    if (uid) styleRoi(label, uid, true);
    // Shown as excluded at once; the save confirms it (or a 409/400 puts the server's state back).
    state.pendingExclusion.set(label, { reason, note });
    save(label, excludeOp(label, reason, note));
    renderAnnotations(viewport);
    if (state.selected === label || !state.selected) select(nextMissing(label));
    else refresh();
  },
  include(label) {
    if (!state.editable) return;
    state.pendingExclusion.delete(label);
    const uid = state.uidOf.get(label);
    const cur = state.rois.get(label);
    if (!uid) {
      save(label, deleteOp(label)); // excluded before it was drawn: back to "to draw"
      select(label);
      return;
    }
    styleRoi(label, uid, false); // its ROI back, solid and editable, measured again
    if (cur) state.rois.set(label, { ...cur, excluded: false, exclusion_reason: '', exclusion_note: '', score_status: 'pending', stats: null });
    save(label, includeOp(label));
    renderAnnotations(viewport);
    refresh();
  },
  csfLevel(level) {
    state.csfLevel = level;
    const reference = state.labels.find(isReference);
    if (state.uidOf.has(reference)) save(reference, upsertOp(reference));
    refresh();
  },
};

async function submit() {
  const btn = document.getElementById('vw-submit');
  const out = document.getElementById('vw-submit-error');
  if (btn.disabled) {
    if (state.checks.problems.length) notice(state.checks.problems.join(' '), { kind: 'warn', id: 'problems' });
    return;
  }
  btn.disabled = true;
  out.textContent = '';
  try {
    await api('POST', cfg.submitApi);
  } catch (err) {
    out.textContent = err.body?.errors?.join(' ') || err.message;
    refresh();
    return;
  }
  document.body.dataset.submitted = '1';
  location.assign(cfg.nextUrl || cfg.worklistUrl);
}

/**
 * Ctrl+Enter: ask before submitting (a shortcut is easy to hit by accident, and a submitted read is closed to its
 * reader). Enter confirms, Esc goes back. The Submit button itself submits at once: clicking it is deliberate.
 */
function confirmSubmit() {
  const btn = document.getElementById('vw-submit');
  if (!state.editable) return;
  if (btn.disabled) {
    submit(); // says what is still missing
    return;
  }
  const dialog = document.getElementById('vw-confirm');
  if (dialog.open) return;
  dialog.returnValue = '';
  dialog.showModal();
  dialog.querySelector('[data-action="confirm-submit"]').focus();
}

function setReadOnly(message) {
  state.editable = false;
  const banner = document.getElementById('vw-readonly');
  banner.textContent = message;
  banner.hidden = false;
  for (const uid of state.labelOf.keys()) annotation.locking.setAnnotationLocked(uid, true);
  document.querySelectorAll('[data-tool$="ROI"]').forEach((b) => (b.disabled = true));
  setTool('WindowLevel');
  refresh();
}

// ------------------------------------------------------------------------------------------- annotation events

function onCompleted({ detail: { annotation: a } }) {
  const uid = a.annotationUID;
  if (!isRoiTool(a.metadata.toolName) || state.labelOf.has(uid)) return;
  const drop = (msg) => {
    internalRemovals.add(uid);
    annotation.state.removeAnnotation(uid);
    renderAnnotations(viewport);
    if (msg) notice(msg, { id: 'drop' });
  };
  if (!state.editable) return drop(t('viewer.cannotChange'));
  const label = state.selected;
  if (!label) return drop(t('viewer.allPlaced'));
  unbind(label); // drawing a label again replaces its ROI
  bind(label, uid);
  save(label, upsertOp(label));
  select(nextMissing(label)); // auto-advance: a complete case is one drag per ROI
  renderAnnotations(viewport);
}

function onModified({ detail: { annotation: a, changeType } }) {
  const label = state.labelOf.get(a.annotationUID);
  if (!label || NOT_EDITS.has(changeType) || !state.editable || isExcluded(label)) return;
  clearTimeout(editTimers.get(label));
  editTimers.set(
    label,
    setTimeout(() => {
      editTimers.delete(label);
      save(label, upsertOp(label));
    }, EDIT_DEBOUNCE_MS),
  );
  refresh();
}

function onRemoved({ detail: { annotation: a } }) {
  const uid = a.annotationUID;
  if (internalRemovals.delete(uid)) return;
  const label = state.labelOf.get(uid);
  if (!label) return;
  state.uidOf.delete(label);
  state.labelOf.delete(uid);
  if (!state.editable) return;
  clearTimeout(editTimers.get(label));
  editTimers.delete(label);
  save(label, deleteOp(label));
  select(label);
}

// ------------------------------------------------------------------------------------------- start-up

function scrollBy(delta) {
  csUtils.scroll(viewport, { delta });
}

function updateSliceIndicator() {
  if (!state.imageIds.length) return; // not loaded yet
  const k = viewport.getCurrentImageIdIndex();
  const n = state.imageIds.length;
  const here = [...state.uidOf.keys()].filter((l) => state.sliceOfLabel(l) === k + 1).length;
  const box = document.getElementById('vw-slice');
  box.textContent = t('slice.label', { index: k + 1, total: n }) + (k === Math.floor(n / 2) ? t('slice.middle') : '') + (here ? t(here > 1 ? 'slice.rois' : 'slice.roi', { n: here }) : '');
  box.dataset.index = String(k);
  // Slice numbers count along the slice normal (studies/slices.py); the scanner's numbering may differ.
  const number = cfg.series.instances[k]?.instance_number;
  const frame = cfg.series.instances[k]?.frame;
  box.title = t('slice.title', { index: k + 1, total: n }) + (frame ? t('slice.frame', { frame }) : number != null ? t('slice.instance', { number }) : '');
}

function hasWindowTags(imageId) {
  const voi = metaData.get('voiLutModule', imageId) || {};
  const some = (v) => (Array.isArray(v) ? v.length > 0 : v != null);
  return (some(voi.windowCenter) && some(voi.windowWidth)) || some(voi.voiLUTSequence);
}

function startSlice(rois) {
  // Resume where the reader left: the slice holding most of their ROIs, else the middle slice.
  const counts = new Map();
  for (const r of rois) if (!r.excluded && state.imageIdOf.has(r.sop_instance_uid)) counts.set(r.sop_instance_uid, (counts.get(r.sop_instance_uid) || 0) + 1);
  const best = [...counts].sort((a, b) => b[1] - a[1])[0];
  return best ? state.imageIds.indexOf(state.imageIdOf.get(best[0])) : Math.floor(state.imageIds.length / 2);
}

async function main() {
  const element = document.getElementById('viewport');
  panel = buildProtocolPanel(document.getElementById('vw-protocol'), cfg, actions);
  const instances = withPrefetchedUrls(cfg.series, cfg.userId)?.instances || []; // the links the previous case prefetched
  if (!instances.length) throw new Error(t('viewer.noImages'));

  ({ viewport, group } = createViewer(element));
  if (!state.editable) {
    setReadOnly(cfg.readOnlyMessage || (cfg.status === 'submitted' ? t('readonly.submitted') : t('readonly.viewOnly')));
  }
  // A frame of a multi-frame (enhanced MR) file: wadouri takes `frame=n` as the last query parameter (1-based).
  state.imageIds = instances.map((i) => {
    const href = new URL(i.url, location.href).href;
    return `wadouri:${href}${i.frame ? `${href.includes('?') ? '&' : '?'}frame=${i.frame}` : ''}`;
  });
  state.imageIds.forEach((id, k) => {
    state.sopOf.set(id, instances[k].sop);
    state.imageIdOf.set(instances[k].sop, id);
  });

  preloadStartSlice(state.imageIds); // the usual start slice loads while the ROIs are fetched
  const rois = await api('GET', cfg.roiApi);
  markFirstImage(element);
  await viewport.setStack(state.imageIds, startSlice(rois));
  // An image without Window Center/Width would get its own min-max (dim MR: the brightest fat sets the top):
  // use the series' percentile window from the server instead (studies/dicom/window.py). Presets derive from it.
  const serverWindow = cfg.series.default_window;
  if (serverWindow && !hasWindowTags(viewport.getCurrentImageId())) {
    viewport.setProperties({ voiRange: { lower: serverWindow.lower, upper: serverWindow.upper } });
  }
  defaultVoi = viewport.getProperties().voiRange;
  defaultVoi = defaultVoi ? [defaultVoi.lower, defaultVoi.upper] : [0, 1];
  viewport.render();

  // Reopen: draw every saved ROI again, exactly where it was (pixel coordinates -> world).
  for (const r of rois) {
    state.rois.set(r.label, r);
    if (isReference(r.label) && r.csf_level) state.csfLevel = r.csf_level;
    const imageId = state.imageIdOf.get(r.sop_instance_uid);
    if (imageId && r.points_px?.length) bind(r.label, await hydrateRoi(viewport, r, imageId), { excluded: r.excluded });
  }
  renderAnnotations(viewport);

  eventTarget.addEventListener(TE.ANNOTATION_COMPLETED, onCompleted);
  eventTarget.addEventListener(TE.ANNOTATION_MODIFIED, onModified);
  eventTarget.addEventListener(TE.ANNOTATION_REMOVED, onRemoved);
  const tags = () => renderNameTags(viewport, state.uidOf);
  eventTarget.addEventListener(TE.ANNOTATION_RENDERED, tags);
  element.addEventListener(CoreEnums.Events.CAMERA_MODIFIED, tags);
  element.addEventListener(CoreEnums.Events.STACK_NEW_IMAGE, () => {
    updateSliceIndicator();
    tags();
  });
  new ResizeObserver(() => {
    viewport.getRenderingEngine().resize(true, true); // keep the reader's zoom/pan; "0" re-fits
    tags();
  }).observe(element);

  // Toolbar, presets, buttons.
  document.querySelectorAll('[data-tool]').forEach((b) => b.addEventListener('click', () => setTool(b.dataset.tool)));
  const presetSelect = document.getElementById('vw-preset');
  presetSelect.replaceChildren(...PRESETS.map((p) => new Option(`${p.label} (⇧${p.key})`, p.id)));
  const overlays = mountOverlays(element.parentElement, viewport);
  mountDrawingHint(document.getElementById('vw-draw-hint'));
  // Level marks and proposals: the reader's own, on their open read only (never on the PI's or a view-only page).
  const levelAid = state.editable
    ? mountLevelAid({ viewport, readId: cfg.readId, toolbar: document.querySelector('.vw-toolbar'), overlayLayer: document.getElementById('vw-overlay'), notice })
    : null;
  const preset = (id) => {
    presetSelect.value = id;
    applyPreset(viewport, id, defaultVoi);
  };
  presetSelect.addEventListener('change', (e) => preset(e.target.value));
  const reset = () => {
    viewport.resetCamera();
    preset('auto');
  };
  document.querySelector('[data-action="reset"]').addEventListener('click', reset);
  document.querySelector('[data-action="help"]').addEventListener('click', () => setHelpOpen(!isHelpOpen()));
  document.querySelector('[data-action="help-close"]').addEventListener('click', () => setHelpOpen(false));
  document.querySelector('[data-action="retry"]').addEventListener('click', () => queue.retryNow());
  document.getElementById('vw-submit').addEventListener('click', submit);
  const confirmDialog = document.getElementById('vw-confirm');
  confirmDialog.addEventListener('close', () => {
    if (confirmDialog.returnValue === 'submit') submit();
    else element.focus({ preventScroll: true });
  });
  setInterval(() => queue.failedKeys().length && refresh(), 1000); // retry countdown

  bindKeys({
    escape() {
      if (isHelpOpen()) setHelpOpen(false);
      else if (panel.isExcludeOpen()) panel.closeExclude();
      else cancelActiveManipulations(element);
    },
    submit: confirmSubmit,
    preset: (i) => PRESETS[i] && preset(PRESETS[i].id),
    selectIndex: (i) => state.labels[i] && select(state.labels[i]),
    tool: (t) => setTool(t),
    reset,
    nextMissing: () => select(nextMissing(state.selected)),
    exclude: () => isLevel(state.selected) && state.editable && panel.openExclude(state.selected),
    help: () => setHelpOpen(!isHelpOpen()),
    overlays: () => overlays.toggle(),
    scroll: scrollBy,
    middle: () => csUtils.jumpToSlice(element, { imageIndex: Math.floor(state.imageIds.length / 2) }),
    deleteSelected() {
      // Selected = clicked on its outline (returns annotationUIDs in 5.x).
      for (const uid of annotation.selection.getAnnotationsSelected() || []) {
        const label = state.labelOf.get(uid);
        if (label && !isExcluded(label)) actions.remove(label); // an excluded level's ROI goes with "Undo" first
      }
    },
  });

  document.getElementById('viewer-loading').remove();
  setTool('WindowLevel', { remember: false });
  select(state.editable ? nextMissing(null) : null);
  updateSliceIndicator();
  scheduleChecks();
  schedulePoll();
  element.focus({ preventScroll: true });

  // Test hook (Playwright) and a handle for debugging in the console.
  window.__viewer = { viewport, annotation, worldToPixel, pixelToWorld, state, queue, group, cornerstoneStats, metaData, overlayValues, toolsState, levelAid };
  document.body.dataset.ready = '1';
  prefetchNextCase(cfg); // the next case's slices, at low priority, now that this one shows
}

main().catch((err) => {
  console.error(err);
  document.body.dataset.error = String(err.message || err);
  const loading = document.getElementById('viewer-loading');
  if (loading) {
    loading.textContent = t('viewer.failed', { error: err.message || err });
    loading.classList.add('error');
  }
});
