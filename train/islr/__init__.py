"""ISLR backbone pretraining (architecture §5): pose / lip classifiers on isolated sign clips, their
evaluation with late fusion, and the export of their backbones for the SLT model.

    signllm train islr --config islr_pose --set data.train=data/bobsl --set output_dir=runs/islr_pose
    signllm train islr-eval runs/islr_pose/final --data data/gislr
    signllm train islr-export runs/islr_pose/final runs/islr_lip/final -o runs/backbones.safetensors

`recipe` holds the data, trainer and command lines; `configs/` the run configs (``--config <name>``).
"""
