"""Training: recipes (configs/train/), the LLaMA-Factory and PEFT backends, prediction for evaluation.

- `recipes`: pydantic-validated recipes; refuse what cannot run (no model path, bf16 without GPU).
- `llamafactory`: writes the run's YAML and runs `llamafactory-cli` as a subprocess, streaming progress.
- `peft_trainer`: transformers Trainer + peft, loss on response tokens only, early stopping.
- `predict`: LLaMA-Factory predict_with_generate for base and adapter -> `PredictionSet`s.
- `tiny_model` / `random_model`: offline models for tests (tiny) and GPU benchmarks (real shapes).
- `lf_shim/torchaudio`: the one documented workaround for LLaMA-Factory's torchaudio import.
"""
