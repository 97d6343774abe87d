// Save operations for the SaveQueue: each returns the request to send *when it is sent* (current geometry,
// current server id and version), or null when there is nothing to send any more.
import { annotation } from '@cornerstonejs/tools';

import { isReference } from './protocol.js';
import { annotationGeometry } from './tools.js';

export function makeOps(state, cfg) {
  function upsertOp(label) {
    return () => {
      const uid = state.uidOf.get(label);
      const a = uid && annotation.state.getAnnotation(uid);
      if (!a) return null;
      const body = { label, ...annotationGeometry(a, state.sopOf) };
      if (isReference(label)) body.csf_level = state.csfLevel;
      const cur = state.rois.get(label);
      if (!cur) return { method: 'POST', url: cfg.roiApi, body };
      // A click on a handle without a move still fires "modified": do not bump the version for nothing
      // (that would make every other open tab stale).
      if (!cur.excluded && sameGeometry(cur, body)) return null;
      Object.assign(body, { excluded: false, exclusion_reason: '', exclusion_note: '', version: cur.version });
      return { method: 'PUT', url: `${cfg.roiApi}${cur.id}/`, body };
    };
  }

  function sameGeometry(roi, body) {
    const close = (p, q) => Math.abs(p[0] - q[0]) < 1e-6 && Math.abs(p[1] - q[1]) < 1e-6;
    return (
      roi.shape === body.shape &&
      roi.sop_instance_uid === body.sop_instance_uid &&
      (roi.csf_level || '') === (body.csf_level || '') &&
      roi.points_px?.length === body.points_px.length &&
      roi.points_px.every((p, k) => close(p, body.points_px[k]))
    );
  }

  function deleteOp(label) {
    return () => {
      const cur = state.rois.get(label);
      return cur ? { method: 'DELETE', url: `${cfg.roiApi}${cur.id}/?version=${cur.version}` } : null;
    };
  }

  /** The geometry of the label's ROI drawn in this page, or nothing (a level excluded before it was drawn). */
  function drawnGeometry(label) {
    const uid = state.uidOf.get(label);
    const a = uid && annotation.state.getAnnotation(uid);
    return a ? annotationGeometry(a, state.sopOf) : {};
  }

  function excludeOp(label, reason, note) {
    return () => {
      // The ROI goes with the exclusion: the server keeps it (left out of the scores), so undo restores it.
      const body = { label, ...drawnGeometry(label), excluded: true, exclusion_reason: reason, exclusion_note: note };
      const cur = state.rois.get(label);
      if (!cur) return { method: 'POST', url: cfg.roiApi, body };
      return { method: 'PUT', url: `${cfg.roiApi}${cur.id}/`, body: { ...body, version: cur.version } };
    };
  }

  /** Undo an exclusion: the level's kept ROI is measured and counted again. */
  function includeOp(label) {
    return () => {
      const cur = state.rois.get(label);
      if (!cur) return null;
      const body = { label, ...drawnGeometry(label), excluded: false, exclusion_reason: '', exclusion_note: '', version: cur.version };
      return { method: 'PUT', url: `${cfg.roiApi}${cur.id}/`, body };
    };
  }

  return { upsertOp, deleteOp, excludeOp, includeOp };
}
