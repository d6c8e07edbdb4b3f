"""The LLM endpoint as a Dagster resource (settings from configs/llm.yaml, the key from the
environment) and the LLM branches of `topic_plan` and `raw_samples`."""

import dagster as dg

from nl2sql_pipeline.core.cards import TableCards
from nl2sql_pipeline.core.config import DatabaseConfig
from nl2sql_pipeline.core.llm import (
    LLMClient, LLMSettings, generator, load_llm_settings, parse, pii, pii_detect, planner, prompting,
)
from nl2sql_pipeline.core.samples import RawSamples, TopicPlan
from nl2sql_pipeline.core.schema.metadata import SchemaMetadata
from nl2sql_pipeline.defs.audit import audited_executor
from nl2sql_pipeline.prompts import PROMPTS_DIR


class LLMResource(dg.ConfigurableResource):
    """An OpenAI-compatible endpoint for databases with `generator: llm` or `llm-sql-first`.

    The API key is read when a run needs it, from the environment variable named by `api_key_env`
    (through `dg.EnvVar`, so offline runs need no key), or bound directly with
    `LLMResource(api_key=dg.EnvVar("MY_KEY"))`. It is never logged, stored or put in metadata.
    """

    config_path: str = ""  # default: $NL2SQL_LLM_CONFIG or configs/llm.yaml
    base_url: str = ""  # overrides the file
    model: str = ""
    api_key: str = ""
    api_key_env: str = "NL2SQL_LLM_API_KEY"

    def settings(self) -> LLMSettings:
        """Returns:
        The validated settings (file, then environment overrides, then this resource's overrides).
        """
        return load_llm_settings(self.config_path or None, base_url=self.base_url, model=self.model)

    def client(self) -> LLMClient:
        """Returns:
        A client with its own counters, sharing the on-disk response cache.
        """
        key = self.api_key or dg.EnvVar(self.api_key_env).get_value()
        return LLMClient(self.settings(), api_key=key)

    def describe(self) -> dict[str, str]:
        """Returns:
        Endpoint facts safe for asset metadata (never the key).
        """
        s = self.settings()
        return {"llm_base_url": s.base_url, "llm_model": s.model, "llm_json_mode": s.json_mode}


# What decides an LLM-made plan or sample set besides the endpoint: prompts, parsing, the loops.
LLM_PLAN_PARTS = (parse, planner, pii, pii_detect, PROMPTS_DIR)
LLM_SAMPLE_PARTS = (parse, generator, prompting, pii, pii_detect, PROMPTS_DIR)


def masked_client(llm: LLMResource, db: DatabaseConfig, cards: TableCards) -> LLMClient:
    """A client that masks the database's personal data in every prompt (`pii`, core/llm/pii.py)."""
    client = llm.client()
    client.masker = pii.masker_for(db, cards, client.settings.base_url)
    return client


def llm_plan(context: dg.AssetExecutionContext, db: DatabaseConfig, cards: TableCards, llm: LLMResource) -> TopicPlan:
    """Stage A with the database's LLM generator; the plan's notes say which endpoint made it."""
    client = masked_client(llm, db, cards)
    plan = planner.plan_with_llm(cards, db, client)
    context.log.info(f"LLM plan for {db.name}: {plan.source}; {client.stats.as_dict()}")
    masked = [client.masker.note()] if client.masker else []
    return plan.model_copy(update={"notes": [*plan.notes, *masked, _endpoint_note(llm, client)]})


def llm_samples(context: dg.AssetExecutionContext, db: DatabaseConfig, meta: SchemaMetadata, cards: TableCards,
                plan: TopicPlan, llm: LLMResource) -> RawSamples:
    """Stage B (`llm` or `llm-sql-first`): validated by the same checks as step 6, topped up, then filled."""
    client = masked_client(llm, db, cards)
    executor = audited_executor(context, db, "generation")
    settings = client.settings
    values = None
    if settings.sends_values_for(db.name):
        values = prompting.value_lines(executor, meta, db, settings.generator.values_per_column, client.masker)
    raw = generator.generate_with_llm(
        plan, cards, db, client, mode=db.generator,  # type: ignore[arg-type]
        accept=generator.validated_by(meta, executor, db.validation.keep_empty),
        synthesize=generator.synthesized_by(meta, executor, db), values=values, progress=context.log,
        executor=executor)
    return raw.model_copy(update={"notes": [*raw.notes, _endpoint_note(llm, client)]})


def _endpoint_note(llm: LLMResource, client: LLMClient) -> str:
    facts = llm.describe()
    stats = client.stats.as_dict()
    return (f"LLM {facts['llm_model']} at {facts['llm_base_url']}: {stats['requests']} requests, "
            f"{stats['cache_hits']} cache hits, {stats['retries']} retries")
