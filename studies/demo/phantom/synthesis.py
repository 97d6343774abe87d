"""Image synthesis: the marrow pattern, drawing a subject's anatomy, rendering a slice, Rician noise (no Django).

Signal model (T1 spin echo, arbitrary units): CSF sets the scale; marrow of each level is
``csf × target VBQ × level factor`` where the L1–L4 factors have median exactly 1, so the VBQ of the noise-free
image (median L1–L4 marrow / CSF at L3) equals the subject's target. The anatomy is heterogeneous, as on real
T1 images, so that where a reader's ROI lands matters: the marrow has patchy red/yellow marrow, end-plate
(Modic) zones, fat islands and haemangiomas in a per-subject style (homogeneous to patchy and speckled), and a
darker basivertebral region posteriorly; the spine is curved and sized per subject (:mod:`.spine`); the canal holds
the cord or the cauda equina in dark CSF, epidural fat and veins, and a retrovertebral venous plexus, with disc
bulges and fat pads at the disc levels. Each measurement box keeps its level's mean (the marrow
pattern is scaled per body, the CSF box lies in pure CSF). A slight blur (point-spread) and Rician noise
(magnitude of complex Gaussian noise of SD ``noise_sigma``) follow. :class:`~.geometry.PhantomGeometry` reports the
expected means of the measurement boxes including the Rician bias, and the expected SD of the air background
(Rayleigh: 0.655 σ).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .anatomy import (
    ABDOMEN,
    ANTERIOR_SKIN,
    BODY_HALF_WIDTH,
    CORD,
    CORTEX,
    CSF_BOX_HALF,
    CSF_BOX_OFFSET,
    DISC,
    FAT,
    LIGAMENT,
    MUSCLE,
    POSTERIOR_SKIN,
    SKIN,
    Anatomy,
    CanalProfile,
    canal_profile,
    draw_canal,
    wall_slant,
)
from .cohort import PhantomSubject
from .geometry import COLUMNS, CSF_LEVELS, LEVELS, ROWS, Region
from .spine import RIM, Body, body_frame, layout, marrow_box, rounded_box


def _gaussian_kernel(sigma: float) -> np.ndarray:
    radius = max(1, math.ceil(3 * sigma))
    x = np.arange(-radius, radius + 1, dtype=float)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur with edge padding (numpy only)."""
    k = _gaussian_kernel(sigma)
    radius = len(k) // 2
    out = image
    for axis in (0, 1):
        padded = np.pad(out, [(radius, radius) if a == axis else (0, 0) for a in (0, 1)], mode="edge")
        acc = np.zeros_like(out, dtype=float)
        n = out.shape[axis]
        for i, w in enumerate(k):
            acc += w * (padded[i : i + n, :] if axis == 0 else padded[:, i : i + n])
        out = acc
    return out


def _texture(rng: np.random.Generator, sigma_px: float, sd: float) -> np.ndarray:
    field_ = _blur(rng.standard_normal((ROWS, COLUMNS)), sigma_px)
    return field_ / field_.std() * sd


def _clipped_mean(image: np.ndarray, region: Region) -> float:
    """Mean of ``image`` over the part of ``region`` inside the image (T9 and T10 may be cut by the field of view)."""
    rows, cols = region.slices()
    part = image[max(0, rows.start) : max(0, rows.stop), max(0, cols.start) : max(0, cols.stop)]
    return float(part.mean()) if part.size else 1.0  # a box wholly outside the image: nothing to keep


@dataclass(frozen=True)
class MarrowStyle:
    """A subject's marrow: how patchy its red/yellow marrow is (SD of the smooth field), how many fat islands a
    body holds on average, how often a body has a haemangioma, how often an end plate has a Modic change."""

    patch_sd: float
    islands: float
    haemangioma: float
    modic: float


def _marrow_style(rng: np.random.Generator) -> MarrowStyle:
    """Drawn per subject: from homogeneous marrow (SD 4 %, few islands) to patchy, speckled fatty marrow."""
    return MarrowStyle(
        patch_sd=float(rng.uniform(0.04, 0.14)),
        islands=float(rng.choice([0.2, 0.5, 0.8, 1.2])),
        haemangioma=float(rng.uniform(0.05, 0.2)),
        modic=float(rng.uniform(0.5, 1.5)),
    )


def _endplate_change(rng: np.random.Generator, modic: float) -> float:
    """Relative T1 signal change of a subchondral band: Modic type 2 (fatty, 35 % × ``modic``), type 1 (oedema,
    8 % × ``modic``), else a slight ± 4 % variation."""
    kind = rng.uniform()
    if kind < 0.35 * modic:
        return float(rng.uniform(0.2, 0.5))
    if kind < 0.43 * modic:
        return float(-rng.uniform(0.15, 0.3))
    return float(rng.normal(0.0, 0.04))


def _body_pattern(
    rng: np.random.Generator, body: Body, style: MarrowStyle, rr: np.ndarray, cc: np.ndarray
) -> np.ndarray:
    """Multiplicative marrow pattern of one vertebral body on the grid (rr, cc); 1 = the body's average marrow.

    In the body's own (tilted) frame (:func:`~.spine.body_frame`):

    - Basivertebral venous channel: a dark cleft entering the posterior cortex at mid-height (reaching 5–11 px
      forward, 20–55 % darker), and marrow up to 20 % darker in the posterior 14 px.
    - End-plate zones: subchondral bands 2–5 px thick under each end plate with a Modic-type change
      (:func:`_endplate_change`).
    - Focal fat: on average ``style.islands`` fat islands of 1.5–3.5 px radius (30–80 % brighter) per body, and in
      ``style.haemangioma`` of bodies a haemangioma (round, sharply marginated, 60–100 % brighter, 3–6 px).

    References: Modic MT et al. Radiology 1988;166:193-199; Shah LM, Hanrahan CJ. AJR 2011;197:1298-1308.
    """
    hw = body.half_width
    u, v = body_frame(body.col, body.row, body.angle, rr, cc)
    from_back = hw - u  # px in front of the posterior wall
    pattern = np.ones(rr.shape)

    reach, darkness, thickness = rng.uniform(5, 11), rng.uniform(0.2, 0.55), rng.uniform(1.2, 2.5)
    cleft_v = rng.normal(0.0, 1.0)
    cleft = np.clip((reach - from_back) / 3, 0, 1) * np.exp(-0.5 * ((v - cleft_v) / thickness) ** 2)
    pattern *= 1 - darkness * cleft
    pattern *= 1 - rng.uniform(0.0, 0.2) * np.clip(1 - from_back / 14, 0, 1)

    inner_half = body.half_height - RIM
    for edge_distance in (v + inner_half, inner_half - v):
        band, change = rng.uniform(2, 5), _endplate_change(rng, style.modic)
        pattern *= 1 + change * np.clip((band - edge_distance) / 1.5 + 0.5, 0, 1)

    for _ in range(int(rng.poisson(style.islands))):
        iu, iv = rng.uniform(-0.8, 0.8) * hw, rng.uniform(-0.8, 0.8) * inner_half
        radius, amplitude = rng.uniform(1.5, 3.5), rng.uniform(0.3, 0.8)
        pattern *= 1 + amplitude * np.exp(-0.5 * ((u - iu) ** 2 + (v - iv) ** 2) / radius**2)
    if rng.uniform() < style.haemangioma:
        iu, iv = rng.uniform(-0.6, 0.6) * hw, rng.uniform(-0.6, 0.6) * inner_half
        radius, amplitude = rng.uniform(3, 6), rng.uniform(0.6, 1.0)
        distance = np.hypot(u - iu, v - iv)
        pattern *= 1 + amplitude / (1 + np.exp((distance - radius) / 0.6))
    inside = rounded_box(rr, cc, body.col, body.row, body.angle, hw, body.half_height, 4)
    return np.where(inside, pattern, 1.0)  # the tilted body's bounding square reaches into its neighbours


def _marrow_pattern(rng: np.random.Generator, bodies: list[Body]) -> np.ndarray:
    """Heterogeneity of the vertebral marrow on a sagittal T1 image (multiplicative, 1 outside the bodies).

    The subject's :class:`MarrowStyle`, then patchy red and yellow marrow (a smooth random field of 6 px
    correlation length, SD ``patch_sd``) times each body's focal pattern (:func:`_body_pattern`). One pattern
    serves every slice of the series; the renderer scales each body so that its measurement box keeps the
    level's mean signal.
    """
    style = _marrow_style(rng)
    rr, cc = np.mgrid[0:ROWS, 0:COLUMNS].astype(float)
    pattern = np.exp(style.patch_sd * _texture(rng, 6.0, 1.0))
    for body in bodies:
        reach = math.ceil(math.hypot(body.half_width, body.half_height)) + 1
        r0, r1 = max(0, body.row - reach), min(ROWS, body.row + reach + 1)
        c0, c1 = max(0, body.col - reach), min(COLUMNS, body.col + reach + 1)
        if r0 < r1 and c0 < c1:
            pattern[r0:r1, c0:c1] *= _body_pattern(rng, body, style, rr[r0:r1, c0:c1], cc[r0:r1, c0:c1])
    return pattern


def draw_anatomy(rng: np.random.Generator) -> Anatomy:
    """The subject's anatomy, drawn once per series (the order of the draws from ``rng`` fixes the output)."""
    spine = layout(rng)
    canal = draw_canal(rng, len(spine.discs), wall_slant(list(spine.bodies), "L3"))
    marrow = _marrow_pattern(rng, list(spine.bodies))
    return Anatomy(spine, canal, marrow, _texture(rng, 4.0, 0.08), _texture(rng, 1.5, 0.04), _texture(rng, 1.5, 0.015))


def render(
    subject: PhantomSubject, anatomy: Anatomy, x_mm: float
) -> tuple[np.ndarray, dict[str, Region], dict[str, Region], dict[str, Region]]:
    """Noise-free signal of one sagittal slice at x_mm, and the marrow, CSF and dural sac boxes (mid slice)."""
    csf = subject.csf_signal
    bodies, discs, canal = anatomy.bodies, anatomy.discs, anatomy.canal
    rr, cc = np.mgrid[0:ROWS, 0:COLUMNS].astype(float)
    img = np.zeros((ROWS, COLUMNS))
    ax = abs(x_mm)
    mid = x_mm == 0

    # Body outline: skin, subcutaneous fat, muscle and abdominal contents; air outside.
    wobble = 3 * np.sin(rr / ROWS * math.pi * 1.3)
    front = ANTERIOR_SKIN + wobble + 0.02 * ax * ax / 4
    back = POSTERIOR_SKIN - wobble * 0.5 - 0.02 * ax * ax / 4
    inside = (cc >= front) & (cc <= back)
    img[inside] = ABDOMEN * csf
    img[inside] *= 1 + anatomy.abdomen_texture[inside]
    img[inside & (cc < front + 3)] = SKIN * csf
    img[inside & (cc >= front + 3) & (cc < front + 18)] = FAT * csf
    img[inside & (cc >= front + 18) & (cc < front + 30)] = MUSCLE * csf  # rectus abdominis
    img[inside & (cc > back - 3)] = SKIN * csf
    img[inside & (cc <= back - 3) & (cc > back - 22)] = FAT * csf

    profile = canal_profile(anatomy)
    canal_front = profile.front[:, None]
    canal_back = profile.back[:, None]
    # Paraspinal muscles from just behind the canal to the subcutaneous fat.
    img[(cc > canal_back + 2) & (cc <= back - 22)] = MUSCLE * csf
    # Prevertebral soft tissue (psoas, vessels) in front of the column.
    img[(cc >= canal_front - 2 * BODY_HALF_WIDTH - 16) & (cc < canal_front - 2 * BODY_HALF_WIDTH - 2)] = (
        MUSCLE * 1.1 * csf
    )

    # Lateral slices cut the bodies and discs narrower (an elliptical cross-section 22 mm in half width).
    narrowing = math.sqrt(max(0.0, 1 - (ax / 22.0) ** 2))
    csf_tex = anatomy.csf_texture.copy()
    vertebra_boxes: dict[str, Region] = {}
    csf_boxes: dict[str, Region] = {}
    sac_boxes: dict[str, Region] = {}

    for disc in discs:
        hw = disc.half_width * narrowing
        if hw < 3:
            break
        # Drawn taller than the disc (its end plates are not parallel): the bodies drawn next cover the excess.
        reach = disc.height / 2 + disc.half_width * 0.35 + 1.5
        band = rounded_box(rr, cc, disc.col, disc.row, disc.angle, hw, reach, 1)
        _, v = body_frame(disc.col, disc.row, disc.angle, rr[band], cc[band])
        img[band] = DISC * csf * (1 + 0.15 * np.exp(-((v / 3.0) ** 2)))

    marrow_field = anatomy.marrow * (1 + anatomy.marrow_texture)
    for body in bodies:
        level = body.level
        marrow = csf * subject.target_vbq * (subject.level_factors[LEVELS.index(level)] if level in LEVELS else 1.0)
        # Posterior elements: lamina and spinous process behind the canal (mid-line slices only).
        if ax <= 6:
            lam = (np.abs(rr - (body.row + 4)) <= body.half_height * 0.6) & (
                (cc > canal_back + 3) & (cc <= canal_back + 3 + 42)
            )
            img[lam] = 0.95 * marrow
            rim = lam & ~(
                (np.abs(rr - (body.row + 4)) <= body.half_height * 0.6 - RIM)
                & (cc > canal_back + 3 + RIM)
                & (cc <= canal_back + 3 + 42 - RIM)
            )
            img[rim] = CORTEX * csf
        hw = body.half_width * narrowing
        if hw < 3:
            continue
        outer = rounded_box(rr, cc, body.col, body.row, body.angle, hw, body.half_height, 4)
        inner = rounded_box(rr, cc, body.col, body.row, body.angle, hw - RIM, body.half_height - RIM, 2)
        img[outer] = CORTEX * csf
        box = marrow_box(body)
        # The pattern is scaled so that the measurement box has the level's mean marrow signal.
        img[inner] = marrow * marrow_field[inner] / _clipped_mean(marrow_field, box)
        if level in LEVELS and mid:
            vertebra_boxes[level] = box

    # Canal: posterior longitudinal ligament, epidural fat, dural sac (CSF, cord or cauda equina, disc bulges
    # and dorsal fat pads at the disc levels), ligamentum flavum (pedicles off mid-line).
    conus_tip = round(anatomy.spine.disc("T12").row)  # the conus ends at the T12/L1 disc
    canal_rows = rr <= ROWS  # the sacral canal runs on below the field of view
    if ax <= 11:
        sac_front, sac_back = profile.sac_front[:, None], profile.sac_back[:, None]
        pll = canal_rows & (cc >= canal_front - RIM - 1) & (cc < canal_front)
        img[pll] = LIGAMENT * csf
        dura = profile.dura[:, None]
        img[canal_rows & (cc >= canal_front) & (cc <= canal_back)] = FAT * csf  # dorsal epidural fat
        img[canal_rows & (cc >= canal_front) & (cc < dura)] = canal.anterior_signal * csf
        indent = canal_rows & (cc >= dura) & (cc < sac_front)  # venous plexus or disc bulge
        img[indent] = (profile.indent_signal[:, None] * csf * np.ones((1, COLUMNS)))[indent]
        flavum = canal_rows & (cc > canal_back) & (cc <= canal_back + 3)
        img[flavum] = LIGAMENT * csf
        sac = canal_rows & (cc >= sac_front) & (cc <= sac_back)
        # Roots of the cauda equina on the dorsal dura below the conus (partial volume: a 2 px ramp).
        roots = np.clip((canal.root_layer + 1 - (sac_back - cc)) / 2, 0, 1) * (rr > conus_tip)
        cord = np.zeros_like(sac)
        if ax <= 4:
            centre = (sac_front + sac_back) / 2
            taper = np.clip((conus_tip - rr) / 12.0, 0, 1)
            cord = sac & (rr <= conus_tip) & (np.abs(cc - centre) <= 1 + 3 * taper)
        if mid:
            for body in bodies:
                if body.level in CSF_LEVELS:
                    box = _csf_box(profile, canal.root_layer, body.row)
                    last = int(profile.sac_back[body.row])
                    dura_col = int(profile.dura[body.row])
                    csf_boxes[body.level] = box
                    sac_boxes[body.level] = Region(
                        col=dura_col + (last - dura_col) // 2,
                        row=body.row,
                        half_width=(last - dura_col) // 2,
                        half_height=marrow_box(body).half_height,
                    )
                    band = sac & (np.abs(rr - box.row) <= box.half_height)  # zero-mean texture in the box
                    csf_tex[band] -= csf_tex[box.slices()].mean()
        img[sac] = (csf * (1 + csf_tex) * (1 + (canal.root_signal - 1) * roots))[sac]
        img[cord] = CORD * csf
    elif ax <= 20:  # pedicles and facets in the canal's place
        ped = canal_rows & (cc >= canal_front - 2) & (cc <= canal_back + 4)
        img[ped] = 0.9 * csf * subject.target_vbq
    img[~inside] = 0.0
    return _blur(img, 0.7), vertebra_boxes, csf_boxes, sac_boxes


def _csf_box(profile: CanalProfile, root_layer: float, row: int) -> Region:
    """The CSF box behind the body centred on ``row``: ``CSF_BOX_OFFSET`` px behind the sac's front (the dura, the
    plexus or a bulge) on every row of the box and 2 px clear of the roots along the dorsal dura on every row.

    ``CSF_BOX_HALF`` in size where that fits; where the canal, following a tilted body, brings front and roots out
    of line over its rows, the tallest box that fits (half height ≥ 5), else a narrower one (3 px wide)."""
    for half_width, lowest in ((CSF_BOX_HALF[0], 5), (1, 3)):
        for half in range(CSF_BOX_HALF[1], lowest - 1, -1):
            rows = slice(row - half, row + half + 1)
            first = int(profile.sac_front[rows].max())
            back = first + CSF_BOX_OFFSET + 2 * half_width  # last column of the box
            roots_from = float((profile.sac_back[rows] - root_layer - 1).min())  # first column the roots reach
            if back + 2 <= roots_from:
                return Region(col=first + CSF_BOX_OFFSET + half_width, row=row, half_width=half_width, half_height=half)
    return Region(col=first + CSF_BOX_OFFSET + 1, row=row, half_width=1, half_height=3)


def rician(truth: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    re_ = truth + rng.normal(0.0, sigma, truth.shape)
    im_ = rng.normal(0.0, sigma, truth.shape)
    return np.hypot(re_, im_)


def rician_mean(truth: np.ndarray, sigma: float) -> np.ndarray:
    """Mean of |A + n| for complex Gaussian n of SD sigma per channel, to second order in sigma / A."""
    return np.sqrt(truth * truth + sigma * sigma)
