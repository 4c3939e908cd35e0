"""``signllm app`` and ``signllm render``: see what the model sees, in a web page or as a video file.

| module       | what                                                                                      |
|--------------|-------------------------------------------------------------------------------------------|
| `backend`    | every call into SignLLM's public API (extraction, keypoints, alignment, translation, export) |
| `analysis`   | one run without the page: inputs → results + downloadable files                           |
| `overlay`    | the skeleton / detection-strip / subtitle drawing shared by the page and ``render``         |
| `lanes`      | the page's HTML: detection and alignment lanes, translation table, metrics, messages        |
| `ui`         | the Gradio ``Blocks`` (``build_app``)                                                      |
| `space`      | stage a Hugging Face Space folder (``signllm app --write-space``)                            |
| `cli`, `cli_render` | ``signllm app`` / ``signllm render``                                              |
"""
