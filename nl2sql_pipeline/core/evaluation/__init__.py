"""Evaluation: execution match as the truth signal, text metrics beside it (Dagster-free).

extract (SQL out of model output) -> runner (read-only execution, parallel, timeouts) ->
compare (test-suite / set / ordered result matching) -> report (rates, breakdowns, before/after);
textmetrics for exact match, token F1, BLEU and ROUGE; inputs for Spider and LLaMA-Factory files.
"""
