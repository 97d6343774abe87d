// Image pixel coordinates <-> world coordinates (mm, patient LPS) for one image of the stack.
//
// Convention shared with the server (scoring/pixels.py): continuous [col, row] with pixel *centres* at
// integers, so pixel (0, 0) is centred on ImagePositionPatient. We do NOT use core's
// utilities.worldToImageCoords: it is half-pixel shifted and swaps row/column spacing (cornerstone3D#2758).
import { metaData } from '@cornerstonejs/core';

function plane(imageId) {
  // imagePlaneModule is available once the instance has been loaded (loadAndCacheImage / displayed).
  const p = metaData.get('imagePlaneModule', imageId);
  if (!p) throw new Error(`no image plane metadata for ${imageId} (image not loaded yet)`);
  return {
    o: p.imagePositionPatient,
    r: p.rowCosines, // direction of increasing column
    c: p.columnCosines, // direction of increasing row
    dx: p.columnPixelSpacing, // mm between columns
    dy: p.rowPixelSpacing, // mm between rows
  };
}

const dot = (a, b) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];

/** World point (mm) -> [col, row] on the image's plane (the out-of-plane component is dropped). */
export function worldToPixel(imageId, w) {
  const { o, r, c, dx, dy } = plane(imageId);
  const d = [w[0] - o[0], w[1] - o[1], w[2] - o[2]];
  return [dot(d, r) / dx, dot(d, c) / dy];
}

/** [col, row] -> world point (mm) on the image's plane. */
export function pixelToWorld(imageId, [col, row]) {
  const { o, r, c, dx, dy } = plane(imageId);
  return [0, 1, 2].map((k) => o[k] + r[k] * col * dx + c[k] * row * dy);
}
