"""Publishing: a trained folder → a self-contained ``trust_remote_code`` Hub folder with its model card.

    signllm push --model-dir runs/bobsl/stage3 --repo-id me/signllm-bobsl

`push_to_hub` registers the Auto classes and the ``sign-translation`` pipeline, stages and uploads the folder;
`model_card` renders ``model_cards/signllm.md``.
"""
