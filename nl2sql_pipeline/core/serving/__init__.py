"""Serving the fine-tuned model on vLLM (or any OpenAI-compatible server) and checking it.

config: `configs/serve.yaml`; server: launch / attach, readiness, stop by process group;
check: adapter-vs-base comparison and dev-split probes; session: one check run end to end.
"""
