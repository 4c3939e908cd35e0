"""Inference on whole videos: translation per sentence window and subtitle alignment with DTW.

    signllm translate episode.npz -o translations.vtt --model runs/bobsl/stage3 --segments subtitles.vtt
    signllm align episode.npz subtitles.vtt -o aligned.vtt --model runs/bobsl/stage3 --eaf aligned.eaf --plot aligned.png

| module          | what                                                                              |
|-----------------|-----------------------------------------------------------------------------------|
| `generation`    | windows cut from the video → processor → batched beam search, with confidences     |
| `translation`   | full-video SLT: one window per sentence                                            |
| `alignment`     | full-video SSA: one window per subtitle, plateau-decay profiles, monotone DTW      |
| `export`        | aligned subtitles → VTT / SRT, JSON, ELAN ``.eaf``                                  |
| `plot`          | the alignment timeline PNG                                                          |
| `cli_translate`, `cli_align` | ``signllm translate`` / ``signllm align``                              |
"""
