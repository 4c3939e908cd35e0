"""The 203-joint MediaPipe Holistic layout used by SignLLM, its skeleton graphs and per-clip normalisation.

Layout (architecture §2.1, same as SignCLIP / pose-format ``reduce_holistic``):

| articulator | joints | indices |
|---|---|---|
| body       | 33  | 0–32    (pose landmarks; legs 25–32 hidden) |
| face       | 128 | 33–160  (the FACEMESH_CONTOURS points of the 468/478 face mesh) |
| left hand  | 21  | 161–181 |
| right hand | 21  | 182–202 |

Only numpy is used here so the processor, the model and the host-side tools share one definition.
"""

from __future__ import annotations

import logging
from collections import deque

import numpy as np

logger = logging.getLogger(__name__)

NUM_BODY_JOINTS = 33
NUM_FACE_JOINTS = 128
NUM_HAND_JOINTS = 21
NUM_JOINTS = NUM_BODY_JOINTS + NUM_FACE_JOINTS + 2 * NUM_HAND_JOINTS  # 203

ARTICULATORS = ("body", "face", "left_hand", "right_hand")
ARTICULATOR_SLICES: dict[str, slice] = {
    "body": slice(0, 33),
    "face": slice(33, 161),
    "left_hand": slice(161, 182),
    "right_hand": slice(182, 203),
}
HIDDEN_BODY_JOINTS = tuple(range(25, 33))  # legs: "hide legs" as in SignCLIP preprocessing
LEFT_SHOULDER, RIGHT_SHOULDER = 11, 12  # pose landmark ids (body slice starts at 0)
#: [ours] plausibility bound: a joint farther than this many shoulder widths from the shoulder centre (in any
#: coordinate) is a tracking failure or corrupt data, not a pose; it is masked before normalisation. A signer's
#: fingertips reach ~3 shoulder widths from the centre, MediaPipe's off-screen guesses a few more.
MAX_KEYPOINT_DISTANCE = 10.0

# mediapipe.python.solutions.pose_connections.POSE_CONNECTIONS (35 edges)
POSE_CONNECTIONS: tuple[tuple[int, int], ...] = (
    (0, 1), (1, 2), (2, 3), (3, 7), (0, 4), (4, 5), (5, 6), (6, 8), (9, 10), (11, 12), (11, 13),
    (13, 15), (15, 17), (15, 19), (15, 21), (17, 19), (12, 14), (14, 16), (16, 18), (16, 20), (16, 22),
    (18, 20), (11, 23), (12, 24), (23, 24), (23, 25), (24, 26), (25, 27), (26, 28), (27, 29), (28, 30),
    (29, 31), (30, 32), (27, 31), (28, 32),
)  # fmt: skip

# mediapipe.python.solutions.hands_connections.HAND_CONNECTIONS (21 edges)
HAND_CONNECTIONS: tuple[tuple[int, int], ...] = (
    (0, 1), (0, 5), (9, 13), (13, 17), (5, 9), (0, 17),
    (1, 2), (2, 3), (3, 4), (5, 6), (6, 7), (7, 8), (9, 10), (10, 11), (11, 12),
    (13, 14), (14, 15), (15, 16), (17, 18), (18, 19), (19, 20),
)  # fmt: skip

# mediapipe.python.solutions.face_mesh_connections: FACEMESH_CONTOURS =
# LIPS (40) + LEFT_EYE (16) + LEFT_EYEBROW (8) + RIGHT_EYE (16) + RIGHT_EYEBROW (8) + FACE_OVAL (36) = 124 edges
FACEMESH_LIPS = (
    (61, 146), (146, 91), (91, 181), (181, 84), (84, 17), (17, 314), (314, 405), (405, 321), (321, 375),
    (375, 291), (61, 185), (185, 40), (40, 39), (39, 37), (37, 0), (0, 267), (267, 269), (269, 270),
    (270, 409), (409, 291), (78, 95), (95, 88), (88, 178), (178, 87), (87, 14), (14, 317), (317, 402),
    (402, 318), (318, 324), (324, 308), (78, 191), (191, 80), (80, 81), (81, 82), (82, 13), (13, 312),
    (312, 311), (311, 310), (310, 415), (415, 308),
)  # fmt: skip
FACEMESH_LEFT_EYE = (
    (263, 249), (249, 390), (390, 373), (373, 374), (374, 380), (380, 381), (381, 382), (382, 362),
    (263, 466), (466, 388), (388, 387), (387, 386), (386, 385), (385, 384), (384, 398), (398, 362),
)  # fmt: skip
FACEMESH_LEFT_EYEBROW = ((276, 283), (283, 282), (282, 295), (295, 285), (300, 293), (293, 334), (334, 296), (296, 336))
FACEMESH_RIGHT_EYE = (
    (33, 7), (7, 163), (163, 144), (144, 145), (145, 153), (153, 154), (154, 155), (155, 133),
    (33, 246), (246, 161), (161, 160), (160, 159), (159, 158), (158, 157), (157, 173), (173, 133),
)  # fmt: skip
FACEMESH_RIGHT_EYEBROW = ((46, 53), (53, 52), (52, 65), (65, 55), (70, 63), (63, 105), (105, 66), (66, 107))
FACEMESH_FACE_OVAL = (
    (10, 338), (338, 297), (297, 332), (332, 284), (284, 251), (251, 389), (389, 356), (356, 454),
    (454, 323), (323, 361), (361, 288), (288, 397), (397, 365), (365, 379), (379, 378), (378, 400),
    (400, 377), (377, 152), (152, 148), (148, 176), (176, 149), (149, 150), (150, 136), (136, 172),
    (172, 58), (58, 132), (132, 93), (93, 234), (234, 127), (127, 162), (162, 21), (21, 54),
    (54, 103), (103, 67), (67, 109), (109, 10),
)  # fmt: skip
FACEMESH_CONTOURS = (
    FACEMESH_LIPS + FACEMESH_LEFT_EYE + FACEMESH_LEFT_EYEBROW + FACEMESH_RIGHT_EYE + FACEMESH_RIGHT_EYEBROW
    + FACEMESH_FACE_OVAL
)

#: The 128 face-mesh landmark ids kept (sorted), as pose-format's ``reduce_holistic``.
FACE_MESH_INDICES: tuple[int, ...] = tuple(sorted({i for edge in FACEMESH_CONTOURS for i in edge}))
_FACE_MESH_TO_LOCAL = {mesh_id: local for local, mesh_id in enumerate(FACE_MESH_INDICES)}
FACE_CONNECTIONS: tuple[tuple[int, int], ...] = tuple(
    (_FACE_MESH_TO_LOCAL[a], _FACE_MESH_TO_LOCAL[b]) for a, b in FACEMESH_CONTOURS
)

#: Local (0-based, per articulator) edge lists of each articulator graph.
ARTICULATOR_EDGES: dict[str, tuple[tuple[int, int], ...]] = {
    "body": POSE_CONNECTIONS,
    "face": FACE_CONNECTIONS,
    "left_hand": HAND_CONNECTIONS,
    "right_hand": HAND_CONNECTIONS,
}
ARTICULATOR_NUM_JOINTS = {"body": 33, "face": 128, "left_hand": 21, "right_hand": 21}

# Mouth-crop anchor points of the Auto-AVSR protocol, as face-mesh ids (right eye centre ≈ mean of the
# right-eye contour, left eye likewise, nose tip 1, mouth centre ≈ mean of the inner lips 13/14/78/308).
FACE_MESH_NOSE_TIP = 1
FACE_MESH_INNER_LIPS = (13, 14, 78, 308)

# Whole-holistic layouts we know how to read: number of landmarks -> (face size, has world landmarks).
# Canonical order of a holistic array: pose 33, face 468|478, left hand 21, right hand 21, [pose world 33].
HOLISTIC_LAYOUTS = {543: (468, False), 553: (478, False), 576: (468, True), 586: (478, True)}


def graph_roots(edges: tuple[tuple[int, int], ...], num_nodes: int) -> list[int]:
    """Root of every connected component: the graph centre (smallest eccentricity, ties -> smallest id).

    The paper does not say how the MediaPipe graphs are oriented for the inward/outward partition;
    taking each component's centre is our choice (it gives the wrist for hands and the torso for the body).
    """
    neighbours = _neighbours(edges, num_nodes)
    seen: set[int] = set()
    roots = []
    for start in range(num_nodes):
        if start in seen:
            continue
        component = list(_bfs_distances(neighbours, start))
        seen.update(component)
        eccentricity = {node: max(_bfs_distances(neighbours, node).values()) for node in component}
        roots.append(min(component, key=lambda node: (eccentricity[node], node)))
    return roots


def inward_edges(edges: tuple[tuple[int, int], ...], num_nodes: int) -> list[tuple[int, int]]:
    """Edges oriented (child, parent) towards each component's root (2s-AGCN ``inward``)."""
    neighbours = _neighbours(edges, num_nodes)
    depth: dict[int, int] = {}
    for root in graph_roots(edges, num_nodes):
        depth.update(_bfs_distances(neighbours, root))
    oriented = []
    for a, b in edges:
        oriented.append((a, b) if depth[a] > depth[b] else (b, a))
    return oriented


def spatial_adjacency(edges: tuple[tuple[int, int], ...], num_nodes: int) -> np.ndarray:
    """The 2s-AGCN spatial partition ``(3, V, V)``: self links, inward, outward; inward/outward column-normalised.

    ``A[k, j, i] = 1`` means node ``i`` sends to node ``j`` in subset ``k`` (2s-AGCN ``edge2mat``), then
    ``A_k @ diag(1 / column_sum)`` as in ``normalize_digraph``.
    """
    inward = inward_edges(edges, num_nodes)
    outward = [(parent, child) for child, parent in inward]
    identity = np.eye(num_nodes, dtype=np.float32)
    return np.stack([identity, _normalize_digraph(_edge2mat(inward, num_nodes)),
                     _normalize_digraph(_edge2mat(outward, num_nodes))])  # fmt: skip


def articulator_adjacency(articulator: str) -> np.ndarray:
    """``(3, V, V)`` spatial-partition adjacency of one articulator (``body``, ``face``, ``left_hand``...)."""
    if articulator not in ARTICULATOR_EDGES:
        raise ValueError(f"Unknown articulator {articulator!r}; expected one of {ARTICULATORS}.")
    return spatial_adjacency(ARTICULATOR_EDGES[articulator], ARTICULATOR_NUM_JOINTS[articulator])


def holistic_to_203(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Select the 203 joints from full MediaPipe Holistic landmarks.

    Args:
        landmarks: ``(t, k, c)`` with ``k`` in {543, 553, 576, 586} in canonical holistic order
            (pose 33, face 468|478, left hand 21, right hand 21, [pose world 33]); ``c`` is 2 or 3
            (a missing ``z`` is filled with 0). Missing landmarks are NaN (Kaggle style) or exactly 0.
    Returns:
        ``values (t, 203, 3)`` float32 with missing joints set to 0, and ``mask (t, 203)`` bool, True = valid.
        Legs (25–32) are hidden: zeroed and masked.
    """
    landmarks = np.asarray(landmarks, dtype=np.float32)
    if landmarks.ndim != 3:
        raise ValueError(f"Expected holistic landmarks of shape (frames, keypoints, coords), got {landmarks.shape}.")
    _, num_points, num_coords = landmarks.shape
    if num_points not in HOLISTIC_LAYOUTS:
        raise ValueError(
            f"Unsupported number of holistic landmarks {num_points}; expected one of {sorted(HOLISTIC_LAYOUTS)} "
            "(pose 33 + face 468/478 + hands 21+21 [+ world 33]) or an already reduced (frames, 203, 3) array."
        )
    if num_coords not in (2, 3):
        raise ValueError(f"Expected 2 or 3 coordinates per landmark, got {num_coords}.")
    if num_coords == 2:
        landmarks = np.concatenate([landmarks, np.zeros_like(landmarks[..., :1])], axis=-1)
    face_size, _ = HOLISTIC_LAYOUTS[num_points]
    face_start = 33
    left_start = face_start + face_size
    right_start = left_start + 21
    index = np.concatenate([
        np.arange(33), face_start + np.asarray(FACE_MESH_INDICES), np.arange(left_start, left_start + 21),
        np.arange(right_start, right_start + 21),
    ])  # fmt: skip
    values = landmarks[:, index]
    return mask_missing(values)


def mask_missing(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validity mask of ``(t, 203, 3)`` keypoints: NaN/inf or all-zero joints and the hidden legs are invalid.

    Returns a copy of ``values`` with invalid joints set to 0, and the ``(t, 203)`` bool mask.
    """
    values = np.array(values, dtype=np.float32, copy=True)
    if values.ndim != 3 or values.shape[1] != NUM_JOINTS or values.shape[2] != 3:
        raise ValueError(f"Expected keypoints of shape (frames, {NUM_JOINTS}, 3), got {values.shape}.")
    finite = np.isfinite(values).all(axis=-1)
    nonzero = np.abs(np.nan_to_num(values)).sum(axis=-1) > 0
    mask = finite & nonzero
    mask[:, list(HIDDEN_BODY_JOINTS)] = False
    values[~mask] = 0.0
    return values, mask


def mask_implausible(
    values: np.ndarray, mask: np.ndarray, max_distance: float | None = MAX_KEYPOINT_DISTANCE
) -> tuple[np.ndarray, np.ndarray, int]:
    """Mask joints farther than ``max_distance`` shoulder widths from the shoulder centre in any coordinate.

    The centre and width are the **medians** over frames with both shoulders (robust to the very outliers being
    looked for; the paper's mean normalisation follows on the cleaned joints). Computed in float64, so values
    near the float32 limit cannot overflow. Clips without both shoulders in any frame are left as they are
    (normalisation then reports them).

    Returns:
        ``values`` with masked joints at 0, the updated ``mask`` and the number of joints (frame, joint) masked.
    """
    values = np.asarray(values, dtype=np.float32)
    mask = np.asarray(mask, dtype=bool)
    if max_distance is None or max_distance <= 0 or not mask.any():
        return values, mask, 0
    shoulders_ok = mask[:, LEFT_SHOULDER] & mask[:, RIGHT_SHOULDER]
    if not shoulders_ok.any():
        return values, mask, 0
    left = values[shoulders_ok, LEFT_SHOULDER].astype(np.float64)
    right = values[shoulders_ok, RIGHT_SHOULDER].astype(np.float64)
    centre = np.median((left + right) / 2, axis=0)
    width = float(np.median(np.linalg.norm(left - right, axis=-1)))
    if not np.isfinite(width) or width <= 0 or not np.isfinite(centre).all():
        return values, mask, 0
    with np.errstate(over="ignore", invalid="ignore"):
        far = ~(np.abs(values.astype(np.float64) - centre) <= max_distance * width).all(axis=-1)
    bad = far & mask
    count = int(bad.sum())
    if count:
        values = values.copy()
        values[bad] = 0.0
        mask = mask & ~bad
    return values, mask, count


def normalize_keypoints(
    values: np.ndarray, mask: np.ndarray, eps: float = 1e-6, max_distance: float | None = MAX_KEYPOINT_DISTANCE,
    source: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-clip normalisation: centre on the mean shoulder midpoint, scale so the mean shoulder width is 1.

    Implausible joints (`mask_implausible`, more than ``max_distance`` shoulder widths away) are masked first,
    with a warning that counts them; training windows, ISLR clips, the CLI and the pipeline all normalise here.

    Args:
        values: ``(t, 203, 3)`` keypoints (invalid joints may hold anything).
        mask: ``(t, 203)`` bool validity mask.
        max_distance: plausibility bound in shoulder widths (``None`` turns the check off).
        source: what the clip is (a file name), for the warning.
    Returns:
        normalised ``(t, 203, 3)`` float32 with invalid joints at 0, and the mask (implausible joints removed).
    Raises:
        ValueError: when no frame has both shoulders (no person in the clip): the clip cannot be normalised.
    """
    values = np.asarray(values, dtype=np.float32)
    mask = np.asarray(mask, dtype=bool)
    values, mask, masked = mask_implausible(values, mask, max_distance)
    if masked:
        warn_implausible(masked, mask.shape, max_distance, source)
    shoulders_ok = mask[:, LEFT_SHOULDER] & mask[:, RIGHT_SHOULDER]
    if not shoulders_ok.any():
        raise ValueError(
            "No frame has both shoulders detected (no person in frame?): cannot normalise the clip. "
            "Check the video shows the signer's upper body."
        )
    left = values[shoulders_ok, LEFT_SHOULDER]
    right = values[shoulders_ok, RIGHT_SHOULDER]
    centre = ((left + right) / 2).mean(axis=0)
    scale = float(np.linalg.norm(left - right, axis=-1).mean())
    if not np.isfinite(scale) or scale < eps:
        raise ValueError(f"Degenerate shoulder width ({scale:.3g}): cannot normalise the clip.")
    normalised = (values - centre) / scale
    normalised[~mask] = 0.0
    return normalised.astype(np.float32), mask


def warn_implausible(count: int, shape: tuple[int, ...], max_distance: float | None, source: str | None) -> None:
    """The one warning for masked implausible joints (counts, bound, where)."""
    where = f" in {source}" if source else ""
    logger.warning(
        "masked %d implausible joint position(s)%s (%d frames x %d joints): farther than %g shoulder widths from "
        "the shoulder centre (corrupt or failed tracking); they are treated as missing.",
        count, where, shape[0], shape[1], max_distance,
    )


def _edge2mat(edges: list[tuple[int, int]], num_nodes: int) -> np.ndarray:
    matrix = np.zeros((num_nodes, num_nodes), dtype=np.float32)
    for source, target in edges:
        matrix[target, source] = 1.0
    return matrix


def _normalize_digraph(matrix: np.ndarray) -> np.ndarray:
    column_sum = matrix.sum(axis=0)
    inverse = np.where(column_sum > 0, 1.0 / np.maximum(column_sum, 1e-12), 0.0).astype(np.float32)
    return matrix @ np.diag(inverse)


def _neighbours(edges: tuple[tuple[int, int], ...], num_nodes: int) -> list[list[int]]:
    neighbours: list[list[int]] = [[] for _ in range(num_nodes)]
    for a, b in edges:
        neighbours[a].append(b)
        neighbours[b].append(a)
    return neighbours


def _bfs_distances(neighbours: list[list[int]], start: int) -> dict[int, int]:
    distances = {start: 0}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for other in neighbours[node]:
            if other not in distances:
                distances[other] = distances[node] + 1
                queue.append(other)
    return distances
