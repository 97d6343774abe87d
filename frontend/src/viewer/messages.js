// The viewer's own words in one place, so a translation (issue #18 point 7) replaces one catalogue.
//
// t(key, params) fills {name} placeholders; a missing key shows the key itself (visible in tests, never blank).
// Strings still written inline elsewhere in the viewer move here as they are touched.
// The language is the page's (<html lang>, set by Django from the user's setting or the browser): zh-hans uses
// messages-zh.js, key by key over English.

import { ZH } from './messages-zh.js';

const EN = {
  // Overlays on the image (orientation, window, zoom, slice, scale)
  'overlay.window': 'W {width} L {center}',
  'overlay.zoom': 'Zoom {zoom}×',
  'overlay.slice': 'Slice {index} / {total}',
  'overlay.position': 'Pos {mm} mm',
  'overlay.scale': '{mm} mm',
  'overlay.toggle': 'Overlays: orientation, window, zoom, slice, scale (O)',
  // Level identification aid (levels.js): the reader's two marks, the proposed labels in the overlays
  'levels.mark': 'Level…',
  'levels.title': 'Level aid: choose T11, T12 or L1 and click the centre of its body, then L5 or S1; the other levels are proposed',
  'levels.clear': 'Clear level marks',
  'levels.clickBody': 'Click the centre of the {label} body.',
  'levels.needSecond': '{label} marked. Mark a second vertebra (e.g. {other}) to get the other levels proposed.',
  'levels.pair': 'Mark one of T11, T12 or L1 and one of L5 or S1: the other levels are placed between and beside them.',
  // Window presets: named by what they show on a T1-weighted spine MR (values derive from the image's window)
  'preset.auto': 'Auto',
  'preset.marrow': 'T1 marrow',
  'preset.csf': 'CSF',
  'preset.full': 'Full range',
  // Exclusion form
  'exclude.reason': 'Reason…',
  'exclude.note': 'Note (needed for Other)',
  'exclude.noteRequired': 'Describe why {label} is excluded: a note is needed when the reason is “Other”.',
  'exclude.reasonRequired': 'Choose why {label} is excluded.',
  'exclude.kept': 'excluded: {reason}{note} · ROI kept, left out of the scores',
  'exclude.undo': 'Undo the exclusion of {label} (its ROI comes back)',
  // Drawing hint and setting
  'hint.ellipseCentre': 'Ellipses draw from the centre.',
  'hint.ellipseCorner': 'Ellipses draw corner to corner.',
  'hint.ellipseTitle': 'Centre out: press in the middle of the vertebra and drag to its edge. Corner: drag across the vertebra from one corner of its box to the opposite one.',
  'setting.ellipseCorner': 'From a corner',
  // Panel: save status, checks, submit (ui.js)
  'save.saved': 'All changes saved',
  'save.saving': 'Saving…',
  'save.unsaved': 'Unsaved changes ({why}) — retrying{when}',
  'save.retryIn': ' in {secs} s',
  'save.offline': 'offline',
  'save.expired': 'session expired: log in again in another tab',
  'save.unreachable': 'server not reachable',
  'checks.todo': 'Still to do: {labels}.',
  'submit.waiting': 'Waiting for the last changes to be saved',
  'submit.go': 'Submit and go on',
  'notice.dismiss': 'Dismiss',
  // Panel: the protocol's rows (protocol.js)
  'roi.toDraw': 'to draw',
  'roi.drawn': 'drawn',
  'roi.slice': 'slice {slice}',
  'roi.drawNext': 'Draw {name} next ({key})',
  'roi.exclude': 'Exclude…',
  'roi.undo': 'Undo',
  'roi.delete': 'Delete',
  'roi.deleteTitle': 'Delete the {name} ROI',
  'roi.measuring': 'measuring…',
  'roi.csfAt': ' · at {level}',
  'roi.saving': ' · saving…',
  'roi.notSaved': ' · not saved yet',
  'exclude.leftOut': 'excluded: {reason}{note} · left out of the scores',
  'roi.measureError': 'Could not measure: {error}',
  'exclude.reasonLabel': 'Reason for excluding {label}',
  'exclude.submit': 'Exclude {label}',
  'exclude.cancel': 'Cancel',
  // Viewer (main.js): slice indicator, drawing refusals, view-only banner, start-up errors
  'slice.label': 'Slice {index} / {total}',
  'slice.middle': ' (middle)',
  'slice.roi': ' · {n} ROI',
  'slice.rois': ' · {n} ROIs',
  'slice.title': 'Slice {index} of {total} along the slice normal',
  'slice.frame': ' (frame {frame} of the multi-frame file)',
  'slice.instance': ' (DICOM Instance Number {number})',
  'viewer.cannotChange': 'This read cannot be changed.',
  'viewer.allPlaced': 'All ROIs are placed. To redraw one, pick it in the panel (keys 1–6) first.',
  'viewer.noImages': 'This case has no images to show.',
  'viewer.failed': 'The viewer could not start: {error}',
  // Saving and the server's answers (api.js; the server's own sentences come in the page's language)
  'save.refused': '{label} could not be saved: {error}',
  'api.offline': 'You seem to be offline ({error}).',
  'api.failed': '{method} {url} failed with HTTP {status}.',
  'readonly.submitted': 'This read is submitted: view only.',
  'readonly.viewOnly': 'View only: you cannot change this read.',
};

const CATALOGUES = { 'zh-hans': ZH };

let catalogue = { ...EN, ...(CATALOGUES[(document.documentElement.lang || '').toLowerCase()] || {}) };

/** Install another language's catalogue (falls back to English key by key). */
export function setMessages(messages) {
  catalogue = { ...EN, ...messages };
}

export function t(key, params = {}) {
  const text = catalogue[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name]) : m));
}
