// Speed (issue #18 point 8): the next case's slices are fetched while the reader works on this one, so that after
// Submit the next case shows at once; and the moment the first image is drawn is recorded for the bench.
//
// Submit navigates to the next case's page (location.assign), which starts a new document: Cornerstone's cache
// does not survive it, the browser's HTTP cache does (pixel files are sent with Cache-Control: private,
// max-age). So once this case has rendered, the next case's series payload (/dicom/series/<id>/: pixel-grant
// links for this session) is fetched and its slices are loaded through Cornerstone's request pool as
// low-priority Prefetch requests (interaction requests of this case always go first), which puts the files in
// the HTTP cache (and Cornerstone's cache of this page). The links are handed to the next page in
// sessionStorage: it asks for the very same URLs, so the browser answers from its cache. A grant is valid for
// this session for hours (studies/pixel_grants.py); a hand-over older than HANDOVER_MS, or left by another user
// of this tab (a logout and another login), is not used.
//
// Turned off by localStorage 'vbq.viewer.prefetch' = 'off' (or opening a viewer page with ?prefetch=0; ?prefetch=1
// turns it on again): the bench's baseline (bench/viewer_speed.py).
import { Enums as CoreEnums, imageLoader, imageLoadPoolManager } from '@cornerstonejs/core';

import { api } from './api.js';

const FLAG = 'vbq.viewer.prefetch';
const HANDOVER = 'vbq.viewer.prefetched';
const HANDOVER_MS = 20 * 60 * 1000;

function storage(kind) {
  try {
    return kind === 'local' ? window.localStorage : window.sessionStorage;
  } catch {
    return null; // storage disabled: no prefetch hand-over, the viewer works as before
  }
}

/** Prefetch on unless turned off in this browser; ?prefetch=0 / ?prefetch=1 on a viewer page sets it. */
export function prefetchEnabled() {
  const local = storage('local');
  const param = new URLSearchParams(location.search).get('prefetch');
  if (local && param === '0') local.setItem(FLAG, 'off');
  if (local && param === '1') local.removeItem(FLAG);
  return local?.getItem(FLAG) !== 'off';
}

/** wadouri imageId of a series-payload instance (a frame of a multi-frame file: ?frame=n, 1-based, last). */
export function imageIdOf(instance) {
  const href = new URL(instance.url, location.href).href;
  return `wadouri:${href}${instance.frame ? `${href.includes('?') ? '&' : '?'}frame=${instance.frame}` : ''}`;
}

/**
 * This case's series payload with the links the previous page prefetched (the same URLs, so the browser's cache
 * answers), where it prefetched this series for this session not long ago; else the payload unchanged.
 */
export function withPrefetchedUrls(series, userId) {
  const session = storage('session');
  if (!series || !session || !prefetchEnabled()) return series;
  let handover = null;
  try {
    handover = JSON.parse(session.getItem(HANDOVER) || 'null');
  } catch {
    handover = null;
  }
  const stale = !handover || handover.userId !== userId || Date.now() - handover.at > HANDOVER_MS;
  if (stale || handover.seriesId !== series.id) return series;
  let used = 0;
  const instances = series.instances.map((inst) => {
    const url = handover.urls[inst.id];
    if (!url) return inst;
    used += 1;
    return { ...inst, url };
  });
  document.body.dataset.prefetchedUsed = String(used);
  return { ...series, instances };
}

/** Record when the viewport first draws an image (ms since navigation start): what the bench reads. */
export function markFirstImage(element) {
  element.addEventListener(
    CoreEnums.Events.IMAGE_RENDERED,
    () => {
      document.body.dataset.firstImageMs = performance.now().toFixed(1);
      performance.mark('vbq-first-image');
    },
    { once: true },
  );
}

/**
 * Start loading the slice a case usually opens on (the middle) at once, while the page still waits for its ROIs:
 * setStack then finds it in Cornerstone's cache (or in flight) instead of asking for it only afterwards.
 */
export function preloadStartSlice(imageIds) {
  const imageId = imageIds[Math.floor(imageIds.length / 2)];
  if (imageId) imageLoader.loadAndCacheImage(imageId).catch(() => {}); // setStack reports a failure itself
}

/** Middle slice first (where the next case opens), then outwards. */
function middleOut(items) {
  const mid = Math.floor(items.length / 2);
  const order = [];
  for (let d = 0; order.length < items.length; d++) {
    if (mid - d >= 0 && d > 0) order.push(items[mid - d]);
    if (mid + d < items.length) order.push(items[mid + d]);
  }
  return order;
}

/**
 * Once this case has rendered: fetch the next case's series payload and queue its slices as low-priority
 * prefetch requests; hand the links to the next page. body[data-prefetch] says 'off', 'loading' or 'done'.
 */
export function prefetchNextCase(cfg) {
  const body = document.body.dataset;
  if (!cfg.nextSeriesUrl || !cfg.editable || !prefetchEnabled()) {
    body.prefetch = 'off';
    return;
  }
  const idle = window.requestIdleCallback || ((fn) => setTimeout(fn, 50));
  idle(
    async () => {
      let series;
      try {
        series = await api('GET', cfg.nextSeriesUrl);
      } catch {
        body.prefetch = 'failed'; // the next case loads as usual when it is opened
        return;
      }
      const instances = series.instances || [];
      const urls = Object.fromEntries(instances.map((inst) => [inst.id, inst.url]));
      const handover = { seriesId: series.id, userId: cfg.userId, at: Date.now(), urls };
      storage('session')?.setItem(HANDOVER, JSON.stringify(handover));
      body.prefetch = 'loading';
      let left = instances.length;
      const settle = () => {
        left -= 1;
        if (left === 0) body.prefetch = 'done';
      };
      if (!left) body.prefetch = 'done';
      for (const inst of middleOut(instances)) {
        const imageId = imageIdOf(inst);
        imageLoadPoolManager.addRequest(
          () => imageLoader.loadAndCacheImage(imageId).then(settle, settle),
          CoreEnums.RequestType.Prefetch,
          { imageId },
          5, // below the default (0) of other prefetches; Interaction requests are served first anyway
        );
      }
    },
    { timeout: 1000 },
  );
}
