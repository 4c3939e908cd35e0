"""Kaggle "Isolated Sign Language Recognition" (GISLR, ``asl-signs``) landmark layout -> ISLR sign rows.

Layout (``kaggle_islr.md``): ``train.csv`` (``path,participant_id,sequence_id,sign``),
``sign_to_prediction_index_map.json`` and ``train_landmark_files/<participant>/<sequence>.parquet``.
The competition has one labelled split; we hold out a stable ``val_fraction`` of *participants* (signer-independent
validation) [ours]. Label ids are the competition's (the full 250-sign map is written to ``labels.json``).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

from .prepare import Meta, PrepareOptions, Row, Skip, hashed_split

CORPUS = "kaggle-islr"
_REQUIRED = ("path", "participant_id", "sequence_id", "sign")


def read_label_map(root: Path) -> dict[str, int]:
    path = root / "sign_to_prediction_index_map.json"
    if not path.is_file():
        raise ValueError(f"{root}: sign_to_prediction_index_map.json not found (Kaggle GISLR layout)")
    mapping = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(mapping, dict) or not all(isinstance(v, int) for v in mapping.values()):
        raise ValueError(f"{path}: expected a JSON object sign -> integer index")
    return mapping


def build(root: Path, options: PrepareOptions) -> Iterator[Row | Meta | Skip]:
    table = root / "train.csv"
    if not table.is_file():
        raise ValueError(f"{root}: train.csv not found (Kaggle GISLR layout: train.csv + train_landmark_files/)")
    labels = read_label_map(root)
    yield Meta("labels", labels)
    with table.open(newline="", encoding="utf-8-sig") as stream:
        reader = csv.DictReader(stream)
        missing = [c for c in _REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{table}: missing column(s) {missing}; found {reader.fieldnames}")
        for number, row in enumerate(reader, start=2):
            sign = row["sign"].strip()
            if sign not in labels:
                yield Skip("unknown_label", f"train.csv line {number}: sign {sign!r} not in the label map")
                continue
            participant = row["participant_id"].strip()
            yield Row(
                "signs",
                {
                    "sample_id": f"{participant}/{row['sequence_id'].strip()}",
                    "split": hashed_split(participant, options.val_fraction),
                    "episode_id": row["sequence_id"].strip(),
                    "label": sign,
                    "label_id": labels[sign],
                    "source": "kaggle",
                    "keypoints_path": str(root / row["path"].strip()),
                    "signer": participant,
                    "sign_language": options.sign_language or "ase",
                },
            )
