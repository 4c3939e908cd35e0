"""The SLT/SSA recipe: the paper's curriculum (stages 1, 2, 3, finetune) on ``Seq2SeqTrainer``.

    signllm train slt --stage 1 --run-dir runs/bobsl --train data/bobsl --eval data/bobsl

| module              | what                                                                            |
|---------------------|---------------------------------------------------------------------------------|
| `recipe`            | ``signllm train slt``: config layers → model, processor, datasets → trainer → export |
| `curriculum`        | the stages: what trains in each, run-config defaults                             |
| `data`              | prepared datasets → SLT / SSA windows → processor features                       |
| `collator`          | pads windows of both tasks into one batch                                        |
| `multitask_sampler` | mixes SLT and SSA samples per batch (80 % / 20 % in stage 3)                     |
| `trainer`           | ``Seq2SeqTrainer`` subclass: multitask sampling, generation-based evaluation      |

`configs/` holds the stage files and user override files (``--config <name>``).
"""
