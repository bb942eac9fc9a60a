"""DWPose (YOLOX-L person detector + RTMPose-style SimCC whole-body model) on onnxruntime.

The two ONNX files come from a user folder (``model_dir``, ``$EVALKIT_DWPOSE_DIR``, or the cache); the
pre- and post-processing is written here, following the DWPose ONNX pipeline:

* detector ``yolox_l.onnx``: letterbox to 640×640 (scale r = min(640/H, 640/W), bilinear resize, pad 114
  right/bottom), BGR, float32 0–255 without normalisation; raw (1, N, 5+C) outputs decoded on the
  stride-8/16/32 grids (xy = (out + grid)·stride, wh = exp(out)·stride), score = objectness · class score,
  class-wise NMS (IoU 0.45, score > 0.1), persons (class 0) with score > 0.3; boxes / r.
* pose ``dw-ll_ucoco_384.onnx``: box -> centre and size·1.25, widened to the model's aspect (288:384),
  affine crop (bilinear) to 288×384 (w×h), RGB normalised with the ImageNet mean/std (0–255 scale);
  simcc_x/simcc_y argmax / split ratio 2.0 -> crop pixels -> back-projected into the frame.
  Score = min(max simcc_x, max simcc_y), as DWPose's ``get_simcc_maximum``.

Choices where DWPose itself differs from what a metric needs (documented in docs/pose.md):
one dancer per frame — the highest-scoring person box; no person box -> the frame has no person (DWPose
would run the pose model on the whole frame instead); SimCC scores are clipped to [0, 1] (they are
unnormalised; any threshold below 1 is unaffected); a joint whose score is <= 0 is NaN with conf 0.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from evalkit.errors import EvalkitError
from evalkit.paths import cache_dir

DIR_ENV = "EVALKIT_DWPOSE_DIR"
DET_FILE = "yolox_l.onnx"
POSE_FILE = "dw-ll_ucoco_384.onnx"
SOURCE = "https://huggingface.co/yzd-v/DWPose (yolox_l.onnx, dw-ll_ucoco_384.onnx)"
PAD_VALUE = 114
STRIDES = (8, 16, 32)
MEAN = np.array([123.675, 116.28, 103.53])
STD = np.array([58.395, 57.12, 57.375])


def find_model_dir(model_dir: str | Path | None = None) -> Path:
    given = model_dir or os.environ.get(DIR_ENV)
    folder = Path(given).expanduser() if given else cache_dir("pose", "dwpose")
    missing = [name for name in (DET_FILE, POSE_FILE) if not (folder / name).is_file()]
    if missing:
        raise EvalkitError(f"DWPose model file(s) missing: {', '.join(missing)}", path=folder,
                           hint=f"put them there from {SOURCE}, set {DIR_ENV}, or pass model_dir=DIR")
    return folder


# --- detector: YOLOX ------------------------------------------------------------------------------
def letterbox(frame_rgb: np.ndarray, size: tuple[int, int] = (640, 640)) -> tuple[np.ndarray, float]:
    """RGB uint8 (H,W,3) -> BGR float32 (3, h, w) letterboxed into ``size`` (h, w), and the scale r."""
    import cv2

    height, width = frame_rgb.shape[:2]
    r = min(size[0] / height, size[1] / width)
    new_w, new_h = int(width * r), int(height * r)
    canvas = np.full((size[0], size[1], 3), PAD_VALUE, dtype=np.uint8)
    bgr = np.ascontiguousarray(frame_rgb[..., ::-1])
    canvas[:new_h, :new_w] = cv2.resize(bgr, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(canvas.transpose(2, 0, 1), dtype=np.float32), r


def yolox_grid(size: tuple[int, int], strides=STRIDES) -> tuple[np.ndarray, np.ndarray]:
    """Anchor-point grid (N, 2) as (x, y) cell indices and their strides (N, 1), in the model's output order."""
    cells, steps = [], []
    for stride in strides:
        gy, gx = np.mgrid[0:size[0] // stride, 0:size[1] // stride]
        cells.append(np.stack([gx.ravel(), gy.ravel()], axis=1))
        steps.append(np.full((gx.size, 1), stride))
    return np.concatenate(cells).astype(np.float64), np.concatenate(steps).astype(np.float64)


def yolox_decode(raw: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Raw (N, 5+C) -> boxes (N, 4) xyxy in letterbox pixels and class scores (N, C) = obj · cls."""
    raw = np.asarray(raw, dtype=np.float64)
    grid, stride = yolox_grid(size)
    if raw.shape[0] != grid.shape[0]:
        raise EvalkitError(f"detector output has {raw.shape[0]} anchors, expected {grid.shape[0]} for input {size}",
                           hint=f"use the DWPose {DET_FILE}")
    centre = (raw[:, :2] + grid) * stride
    wh = np.exp(raw[:, 2:4]) * stride
    boxes = np.concatenate([centre - wh / 2, centre + wh / 2], axis=1)
    return boxes, raw[:, 4:5] * raw[:, 5:]


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> list[int]:
    """Greedy NMS, highest score first; areas with YOLOX's +1 pixel convention."""
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(scores)[::-1]
    keep = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(int(best))
        iw = np.maximum(0.0, np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]) + 1)
        ih = np.maximum(0.0, np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]) + 1)
        inter = iw * ih
        order = rest[inter / (areas[best] + areas[rest] - inter) <= iou_threshold]
    return keep


def best_person(boxes: np.ndarray, scores: np.ndarray, ratio: float, score_threshold: float = 0.1,
                nms_threshold: float = 0.45, person_threshold: float = 0.3) -> tuple[np.ndarray, float] | None:
    """The highest-scoring person box (xyxy, frame pixels) after class-0 NMS, or None."""
    # NMS is per class, so the person boxes that survive depend on class-0 scores only
    person = scores[:, 0]
    valid = np.flatnonzero(person > score_threshold)
    if valid.size == 0:
        return None
    kept = valid[nms(boxes[valid], person[valid], nms_threshold)]
    kept = kept[person[kept] > person_threshold]
    if kept.size == 0:
        return None
    top = kept[np.argmax(person[kept])]
    return boxes[top] / ratio, float(person[top])


# --- pose: RTMPose SimCC ------------------------------------------------------------------------
def box_to_centre_scale(box: np.ndarray, padding: float, aspect: float) -> tuple[np.ndarray, np.ndarray]:
    """xyxy -> centre (2,), size (2,) × padding, widened to width/height = ``aspect``."""
    box = np.asarray(box, dtype=np.float64)
    centre = (box[:2] + box[2:]) / 2
    w, h = (box[2:] - box[:2]) * padding
    scale = np.array([w, w / aspect]) if w > h * aspect else np.array([h * aspect, h])
    return centre, scale


def crop_matrix(centre: np.ndarray, scale: np.ndarray, out_wh: tuple[int, int]) -> np.ndarray:
    """2×3 affine frame -> crop: the box centre to the crop centre, scaled by out_w / box_w (no rotation)."""
    s = out_wh[0] / scale[0]
    return np.array([[s, 0.0, out_wh[0] / 2 - s * centre[0]], [0.0, s, out_wh[1] / 2 - s * centre[1]]])


def normalise(crop_rgb: np.ndarray) -> np.ndarray:
    """RGB uint8 (h,w,3) -> float32 (3,h,w), (x − mean) / std per channel."""
    return np.ascontiguousarray(((crop_rgb.astype(np.float64) - MEAN) / STD).transpose(2, 0, 1), dtype=np.float32)


def simcc_decode(simcc_x: np.ndarray, simcc_y: np.ndarray, split_ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """(K, Wx), (K, Wy) -> locations (K, 2) in crop pixels, scores (K,) = min of the two maxima; NaN where <= 0."""
    locs = np.stack([np.argmax(simcc_x, axis=1), np.argmax(simcc_y, axis=1)], axis=1) / split_ratio
    scores = np.minimum(simcc_x.max(axis=1), simcc_y.max(axis=1)).astype(np.float64)
    locs = locs.astype(np.float64)
    locs[scores <= 0] = np.nan
    return locs, scores


def back_project(locs: np.ndarray, centre: np.ndarray, scale: np.ndarray, out_wh: tuple[int, int]) -> np.ndarray:
    """Crop pixels -> frame pixels (inverse of :func:`crop_matrix`)."""
    return locs / np.asarray(out_wh, dtype=np.float64) * scale + centre - scale / 2


def providers_available(preferred: tuple[str, ...] | None = None) -> list[str]:
    import onnxruntime as ort

    have = ort.get_available_providers()
    wanted = preferred or ("CUDAExecutionProvider", "CPUExecutionProvider")
    chosen = [p for p in wanted if p in have]
    if not chosen:
        raise EvalkitError(f"none of the onnxruntime providers {', '.join(wanted)} is available",
                           hint=f"available: {', '.join(have)}")
    return chosen


_SESSIONS: dict[tuple, object] = {}


def _session(path: Path, providers: tuple[str, ...], threads: int):
    """One onnxruntime session per (file, providers) per process: loading yolox_l takes seconds."""
    import onnxruntime as ort

    memo = (str(path.resolve()), providers, threads)
    if memo not in _SESSIONS:
        opts = ort.SessionOptions()
        opts.log_severity_level = 3  # errors only
        if threads:
            opts.intra_op_num_threads = threads
        try:
            _SESSIONS[memo] = ort.InferenceSession(str(path), sess_options=opts, providers=list(providers))
        except Exception as err:
            raise EvalkitError(f"cannot load ONNX model ({type(err).__name__}: {str(err).splitlines()[0]})",
                               path=path, hint=f"use the DWPose files from {SOURCE}") from None
    return _SESSIONS[memo]


def _input_hw(session, default: tuple[int, int]) -> tuple[int, int]:
    shape = session.get_inputs()[0].shape
    if len(shape) != 4:
        raise EvalkitError(f"ONNX model input has shape {shape}, expected (1, 3, H, W)",
                           hint=f"use the DWPose files from {SOURCE}")
    h, w = shape[2], shape[3]
    return (h, w) if isinstance(h, int) and isinstance(w, int) else default


class DWPose:
    name = "dwpose"

    def __init__(self, model_dir: str | Path | None = None, providers: tuple[str, ...] | None = None,
                 threads: int = 0, det_score_threshold: float = 0.3, det_nms_threshold: float = 0.45,
                 bbox_padding: float = 1.25, simcc_split_ratio: float = 2.0):
        from evalkit.pose.cache import file_sha256

        self.folder = find_model_dir(model_dir)
        self.det_path, self.pose_path = self.folder / DET_FILE, self.folder / POSE_FILE
        self.model_sha256 = {"detector": file_sha256(self.det_path), "pose": file_sha256(self.pose_path)}
        self.providers = tuple(providers_available(tuple(providers) if providers else None))
        self.threads = int(threads)
        self.settings = {
            "det_input": "letterbox pad 114, BGR, 0-255", "det_score_threshold": float(det_score_threshold),
            "det_nms_threshold": float(det_nms_threshold), "det_candidate_threshold": 0.1,
            "person": "highest-scoring box", "bbox_padding": float(bbox_padding),
            "pose_input": "affine crop, RGB, ImageNet mean/std", "simcc_split_ratio": float(simcc_split_ratio),
            "confidence": "min(max simcc_x, max simcc_y) clipped to [0,1]", "joints": "wholebody[:17]",
        }

    def identity(self) -> dict:
        return {"model": f"{DET_FILE}+{POSE_FILE}", "model_sha256": self.model_sha256, "settings": self.settings}

    def runtime(self) -> dict:
        import onnxruntime as ort

        return {"onnxruntime": ort.__version__, "provider": self.providers[0]}

    def __call__(self, frames: np.ndarray, fps: float):
        """frames (T,H,W,3) uint8 RGB -> joints (T,17,2) px, conf (T,17), present (T,)."""
        import cv2

        det = _session(self.det_path, self.providers, self.threads)
        pose = _session(self.pose_path, self.providers, self.threads)
        det_hw = _input_hw(det, (640, 640))
        pose_h, pose_w = _input_hw(pose, (384, 288))
        out_wh = (pose_w, pose_h)
        det_in, pose_in = det.get_inputs()[0].name, pose.get_inputs()[0].name
        pose_out = [o.name for o in pose.get_outputs()]
        s = self.settings
        num = frames.shape[0]
        joints = np.full((num, 17, 2), np.nan)
        conf = np.zeros((num, 17))
        present = np.zeros(num, dtype=bool)
        for i in range(num):
            image, ratio = letterbox(frames[i], det_hw)
            raw = det.run(None, {det_in: image[None]})[0]
            boxes, scores = yolox_decode(raw.reshape(raw.shape[-2], raw.shape[-1]), det_hw)
            found = best_person(boxes, scores, ratio, s["det_candidate_threshold"], s["det_nms_threshold"],
                                s["det_score_threshold"])
            if found is None:
                continue
            centre, scale = box_to_centre_scale(found[0], s["bbox_padding"], pose_w / pose_h)
            crop = cv2.warpAffine(frames[i], crop_matrix(centre, scale, out_wh), out_wh, flags=cv2.INTER_LINEAR)
            outputs = dict(zip(pose_out, pose.run(pose_out, {pose_in: normalise(crop)[None]})))
            simcc_x, simcc_y = outputs.get("simcc_x"), outputs.get("simcc_y")
            if simcc_x is None or simcc_y is None:
                raise EvalkitError(f"pose model outputs {pose_out}, expected simcc_x and simcc_y",
                                   path=self.pose_path, hint=f"use the DWPose files from {SOURCE}")
            locs, vals = simcc_decode(simcc_x[0, :17], simcc_y[0, :17], s["simcc_split_ratio"])
            joints[i] = back_project(locs, centre, scale, out_wh)
            conf[i] = np.clip(np.where(np.isnan(locs[:, 0]), 0.0, vals), 0.0, 1.0)
            present[i] = True
        return joints, conf, present
