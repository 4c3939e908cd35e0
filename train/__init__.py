"""Everything after the data: one sub-package per job.

| package                     | job                                                                              |
|-----------------------------|----------------------------------------------------------------------------------|
| `signllm.train.islr`        | ISLR backbone pretraining recipe (`signllm train islr / islr-eval / islr-export`) |
| `signllm.train.slt`         | SLT/SSA curriculum recipe (`signllm train slt`): stages, data, collator, sampler  |
| `signllm.train.evaluation`  | SLT / SSA / ISLR metrics, the `evaluate` modules, `signllm evaluate`              |
| `signllm.train.inference`   | full-video translation and alignment, subtitle/ELAN export, plot                  |
| `signllm.train.hub`         | Hub export, model card, push (`signllm push`)                                     |
| `signllm.train.demo`        | `signllm demo` and its synthetic corpus (uses the rest; nothing uses it)          |

`signllm.train.cli` only dispatches the ``signllm`` command to each package's own command line;
`signllm.train.run_config` holds the YAML config layers both recipes share.
"""
