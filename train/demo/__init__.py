"""``signllm demo``: the whole system on a generated corpus, offline, in minutes on a CPU.

`corpus` animates a 203-joint signer with an invented 20-sign vocabulary (not a sign language); `run` prepares,
trains, evaluates and exports through the other packages. The demo uses the rest of ``signllm.train``;
nothing uses the demo.
"""
