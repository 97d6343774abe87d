// Cornerstone3D set-up: rendering engine, stack viewport, tool group and the ROI <-> payload mapping.
import { RenderingEngine, Enums, getEnabledElement, init as csInit, imageLoader, utilities as csUtils } from '@cornerstonejs/core';
import {
  init as csToolsInit,
  addTool,
  ToolGroupManager,
  Enums as ToolEnums,
  annotation,
  utilities as toolUtils,
  WindowLevelTool,
  PanTool,
  ZoomTool,
  StackScrollTool,
  EllipticalROITool,
  RectangleROITool,
  PlanarFreehandROITool,
} from '@cornerstonejs/tools';
import { init as dicomLoaderInit } from '@cornerstonejs/dicom-image-loader';

import { pixelToWorld, worldToPixel } from './coords.js';
import { t } from './messages.js';
import { settings } from './settings.js';

const { MouseBindings, KeyboardBindings } = ToolEnums;

export const VIEWPORT_ID = 'sag';
const ENGINE_ID = 'vbq';
const GROUP_ID = 'vbq-tools';

/** Cornerstone tool name <-> the shape name the REST API stores. */
export const SHAPE_OF_TOOL = {
  [EllipticalROITool.toolName]: 'ellipse',
  [RectangleROITool.toolName]: 'rectangle',
  [PlanarFreehandROITool.toolName]: 'polygon',
};
export const TOOL_OF_SHAPE = Object.fromEntries(Object.entries(SHAPE_OF_TOOL).map(([t, s]) => [s, t]));
export const NAV_TOOLS = {
  WindowLevel: WindowLevelTool.toolName,
  Pan: PanTool.toolName,
  Zoom: ZoomTool.toolName,
};

/** Zoom factor of one wheel notch (OHIF's feel: 10 notches ≈ 1.1^10 = 2.6×). */
export const ZOOM_PER_NOTCH = 1.1;

/**
 * Cornerstone's zoom, as OHIF users know it: a fixed factor per wheel notch (the stock tool zooms 25 / canvas
 * height per notch: 3 % on a 900-pixel canvas) about the cursor, and dragging up zooms in (`invert`).
 * Same tool name as the stock tool, which it replaces in the tool group.
 */
class NotchZoomTool extends ZoomTool {
  static toolName = ZoomTool.toolName;

  constructor(props = {}) {
    super({ ...props, configuration: { invert: true, ...(props.configuration || {}) } });
  }

  mouseWheelCallback(evt) {
    const { element, points, wheel } = evt.detail;
    // Wheel up (direction -1) zooms in: the view scale is divided by the factor. The drag code computes the new
    // parallel scale as (1 - k) * scale with k = deltaY * 5 / height (sign flipped by invert): solve for deltaY.
    const factor = wheel.direction < 0 ? ZOOM_PER_NOTCH : 1 / ZOOM_PER_NOTCH;
    const k = 1 - 1 / factor;
    const deltaY = ((k * Math.max(element.clientHeight, 1)) / 5) * (this.configuration.invert ? -1 : 1);
    const detail = {
      element,
      eventName: evt.detail.eventName,
      renderingEngineId: evt.detail.renderingEngineId,
      viewportId: evt.detail.viewportId,
      camera: {},
      deltaPoints: { page: points.page, client: points.client, world: points.world, canvas: [0, deltaY] },
      startPoints: points,
      lastPoints: points,
      currentPoints: points,
    };
    this.preMouseDownCallback({ detail }); // zoom about the cursor
    this._dragCallback({ detail });
  }
}

/**
 * The ellipse tool; Cornerstone draws an ellipse from its centre out. With the reader's setting "Draw ellipses from
 * a corner" (settings.ellipseFromCorner) the drag spans the bounding box instead: mouse-down at one corner,
 * mouse-up at the opposite one. The stored handles are the same four points either way.
 */
class VbqEllipseTool extends EllipticalROITool {
  static toolName = EllipticalROITool.toolName;

  constructor(...args) {
    super(...args);
    const centreOut = this._dragDrawCallback;
    this._dragDrawCallback = (evt) => (settings.ellipseFromCorner ? this._dragCornerCallback(evt) : centreOut(evt));
  }

  _dragCornerCallback(evt) {
    this.isDrawing = true;
    const { element, currentPoints } = evt.detail;
    const { viewport } = getEnabledElement(element);
    const { annotation: a, viewportIdsToRender, centerWorld, newAnnotation } = this.editData;
    this.createMemo(element, a, { newAnnotation });
    const start = viewport.worldToCanvas(centerWorld); // mouse-down point = the first corner
    const end = currentPoints.canvas;
    const cx = (start[0] + end[0]) / 2;
    const cy = (start[1] + end[1]) / 2;
    const dX = Math.abs(end[0] - start[0]) / 2;
    const dY = Math.abs(end[1] - start[1]) / 2;
    // Cornerstone's handle order: bottom, top, left, right (canvas y grows downwards).
    a.data.handles.points = [
      [cx, cy - dY],
      [cx, cy + dY],
      [cx - dX, cy],
      [cx + dX, cy],
    ].map((p) => viewport.canvasToWorld(p));
    a.invalidated = true;
    this.editData.hasMoved = true;
    toolUtils.triggerAnnotationRenderForViewportIds(viewportIdsToRender);
    annotation.state.triggerAnnotationModified(a, element, ToolEnums.ChangeTypes.HandlesUpdated);
  }
}

export function isRoiTool(toolName) {
  return toolName in SHAPE_OF_TOOL;
}

/** Initialise Cornerstone, enable the stack viewport on `element` and set up the tools. */
export function createViewer(element) {
  csInit(); // synchronous in 5.x
  dicomLoaderInit({
    maxWebWorkers: Math.max(1, Math.min(navigator.hardwareConcurrency || 1, 4)),
    // same-origin XHR already carries the session cookie; the header makes Django treat it as an API call
    beforeSend: () => ({ 'X-Requested-With': 'XMLHttpRequest' }),
  });
  csToolsInit();

  // Labels and statistics live in our own overlay and side panel: Cornerstone's text boxes would sit on
  // top of neighbouring structures and grab the mouse-down meant for the next ROI (guide §7.4).
  const styles = annotation.config.style.getDefaultToolStyles();
  styles.global = { ...styles.global, textBoxVisibility: false, lineWidth: '2' };
  annotation.config.style.setDefaultToolStyles(styles);

  element.oncontextmenu = (e) => e.preventDefault(); // right-drag is window/level
  const engine = new RenderingEngine(ENGINE_ID);
  engine.enableElement({ viewportId: VIEWPORT_ID, type: Enums.ViewportType.STACK, element });
  const viewport = engine.getViewport(VIEWPORT_ID);

  const tools = [WindowLevelTool, PanTool, NotchZoomTool, StackScrollTool, VbqEllipseTool, RectangleROITool, PlanarFreehandROITool];
  tools.forEach((T) => addTool(T));
  const group = ToolGroupManager.createToolGroup(GROUP_ID);
  for (const T of tools) {
    const config = {};
    if (T === PlanarFreehandROITool) Object.assign(config, { allowOpenContours: false, calculateStats: true });
    group.addTool(T.toolName, config);
  }
  // Fixed secondary bindings; the primary (left) button is the "current tool".
  group.setToolActive(StackScrollTool.toolName, { bindings: [{ mouseButton: MouseBindings.Wheel }] });
  group.setToolActive(ZoomTool.toolName, {
    bindings: [
      { mouseButton: MouseBindings.Wheel, modifierKey: KeyboardBindings.Ctrl },
      { mouseButton: MouseBindings.Primary, modifierKey: KeyboardBindings.Ctrl },
    ],
  });
  group.setToolActive(PanTool.toolName, {
    bindings: [
      { mouseButton: MouseBindings.Auxiliary },
      { mouseButton: MouseBindings.Primary, modifierKey: KeyboardBindings.Shift },
    ],
  });
  group.setToolActive(WindowLevelTool.toolName, { bindings: [{ mouseButton: MouseBindings.Secondary }] });
  // Tools added to a group start Disabled = not even rendered: ROI tools must be at least Passive.
  Object.keys(SHAPE_OF_TOOL).forEach((t) => group.setToolPassive(t));
  group.addViewport(VIEWPORT_ID, ENGINE_ID);
  return { engine, viewport, group };
}

/**
 * Make `toolName` the left-button tool, keeping the fixed bindings above. ROI tools drop back to Passive
 * (still drawn and editable by their handles); navigation tools keep their other bindings.
 */
export function setPrimaryTool(group, toolName) {
  const plainPrimary = (b) => b.mouseButton === MouseBindings.Primary && !b.modifierKey;
  for (const [name, opts] of Object.entries(group.toolOptions)) {
    // setToolPassive removes only the plain left-button binding; a tool with other bindings stays Active.
    if (name !== toolName && (opts.bindings || []).some(plainPrimary)) group.setToolPassive(name);
  }
  group.setToolActive(toolName, { bindings: [{ mouseButton: MouseBindings.Primary }] }); // merged with its others
}

/** World points of an annotation's outline: the 4 handles of an ellipse/rectangle, the polygon's vertices. */
export function annotationWorldPoints(a) {
  return a.metadata.toolName === PlanarFreehandROITool.toolName ? a.data.contour?.polyline || [] : a.data.handles.points;
}

/** The geometry part of the REST payload: image pixel coordinates in Cornerstone's handle order. */
export function annotationGeometry(a, sopOfImageId) {
  const imageId = a.metadata.referencedImageId;
  return {
    shape: SHAPE_OF_TOOL[a.metadata.toolName],
    sop_instance_uid: sopOfImageId.get(imageId),
    points_px: annotationWorldPoints(a).map((p) => worldToPixel(imageId, p).map((v) => round6(v))),
  };
}

const round6 = (v) => Math.round(v * 1e6) / 1e6; // µpixel: drops float noise, keeps the geometry exact

/**
 * Draw a stored ROI again (reopen, or the server's version after a 409). Returns the annotationUID.
 * The image must be in the stack; its metadata is loaded first so pixel -> world works.
 */
export async function hydrateRoi(viewport, roi, imageId) {
  await imageLoader.loadAndCacheImage(imageId); // makes imagePlaneModule available
  const world = roi.points_px.map((p) => pixelToWorld(imageId, p));
  const annotationUID = csUtils.uuidv4();
  const { viewPlaneNormal, viewUp } = viewport.getCamera();
  if (roi.shape === 'polygon') {
    // PlanarFreehandROITool has no hydrate(): build the closed-contour annotation it would have drawn.
    annotation.state.addAnnotation(
      {
        annotationUID,
        highlighted: false,
        invalidated: true,
        isLocked: false,
        isVisible: true,
        metadata: {
          toolName: PlanarFreehandROITool.toolName,
          referencedImageId: imageId,
          FrameOfReferenceUID: viewport.getFrameOfReferenceUID(),
          viewPlaneNormal: [...viewPlaneNormal],
          viewUp: [...viewUp],
        },
        data: {
          contour: { polyline: world, closed: true },
          handles: { points: [], activeHandleIndex: null, textBox: { hasMoved: false } },
          label: roi.label,
          cachedStats: {},
        },
      },
      viewport.element,
    );
  } else {
    const Tool = roi.shape === 'ellipse' ? EllipticalROITool : RectangleROITool;
    Tool.hydrate(viewport.id, world, { referencedImageId: imageId, annotationUID });
    // 5.14: hydrate() returns undefined and drops viewPlaneNormal/viewUp when referencedImageId is given,
    // which leaves every statistic NaN: copy them from the camera (guide §4).
    const a = annotation.state.getAnnotation(annotationUID);
    Object.assign(a.metadata, { viewPlaneNormal: [...viewPlaneNormal], viewUp: [...viewUp] });
    a.data.label = roi.label;
    a.invalidated = true;
  }
  return annotationUID;
}

/** Cornerstone's own statistics of an annotation on its image: {n, mean} (for cross-checks in tests). */
export function cornerstoneStats(a) {
  const stats = Object.values(a.data.cachedStats || {})[0];
  if (!stats) return null;
  const count = (stats.statsArray || []).find((s) => s.name === 'count');
  return { n: count ? count.value : null, mean: stats.mean, stdDev: stats.stdDev };
}

export function renderAnnotations(viewport) {
  toolUtils.triggerAnnotationRenderForViewportIds([viewport.id]);
}

/**
 * Window presets named by the tissue they show best on a sagittal T1-weighted spine MR. MR signal has no fixed
 * units (unlike CT's Hounsfield), so each preset is placed relative to the image's own window — the DICOM Window
 * Center/Width, else the server's percentile window of the series (studies/dicom/window.py) — `lo..hi`, w = hi − lo:
 *   Auto        lo .. hi, the image's window.
 *   T1 marrow   lo + 0.3 w .. hi + 0.1 w: narrower and higher, for the texture of bright (fatty) vertebral marrow.
 *   CSF         lo − 0.05 w .. lo + 0.55 w: the dark end widened, to tell CSF from cord, disc and cortical bone.
 *   Full range  the image's minimum .. maximum pixel value.
 * Shift+1…4 in the viewer (plain 1–6 pick the ROI label).
 */
export const PRESETS = [
  { id: 'auto', label: t('preset.auto'), key: '1' },
  { id: 'marrow', label: t('preset.marrow'), key: '2' },
  { id: 'csf', label: t('preset.csf'), key: '3' },
  { id: 'full', label: t('preset.full'), key: '4' },
];

/** The VOI range of preset `id` given the image's default window [lo, hi] (see PRESETS). */
export function presetRange(id, [lo, hi], image) {
  const w = hi - lo;
  if (id === 'full' && image) return { lower: image.minPixelValue, upper: image.maxPixelValue };
  if (id === 'marrow') return { lower: lo + 0.3 * w, upper: hi + 0.1 * w };
  if (id === 'csf') return { lower: lo - 0.05 * w, upper: lo + 0.55 * w };
  return { lower: lo, upper: hi };
}

export function applyPreset(viewport, id, defaultRange) {
  viewport.setProperties({ voiRange: presetRange(id, defaultRange, viewport.csImage) });
  viewport.render();
}
