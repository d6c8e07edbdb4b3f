"""The one prompt builder: export, LLaMA-Factory prediction, serving probes and evaluation all
get their prompts from `question_prompt` (prediction and serving read the exported files, which
it wrote), so a model is scored and served on exactly the prompts a user's question produces.

    settings = PromptSettings(schema_context="linked", budget_tokens=1200, max_tables=6)
    prompt = question_prompt("每个门店的订单总额是多少？", index, settings)
    prompt.messages  # [{"role": "system", ...}, {"role": "user", ...}]

`schema_context` per database: `linked` (default; the whole schema when it fits), `full` (every
table, whatever the budget) or `oracle` (the gold SQL's tables plus FK neighbours: a labelled
diagnostic only, never what a deployed model sees). Gold tables reach a prompt only in training
prompts (`split="train"`: linked tables plus any gold table the linker missed) and in oracle mode.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from nl2sql_pipeline.core.cards import TableCards, estimate_tokens
from nl2sql_pipeline.core.linking.columns import render_part
from nl2sql_pipeline.core.linking.index import SchemaIndex
from nl2sql_pipeline.core.linking.linker import (
    ExtraScores,
    LinkConfig,
    LinkedSchema,
    Mode,
    link,
    shuffled,
    with_missed_gold,
)

INSTRUCTIONS = {
    "zh": "将下面的自然语言问题转换为SQL查询语句。",  # the reference design's instruction
    "en": "Convert the natural-language question below into an SQL query.",
}
SYSTEM_PROMPT = "You are an expert {dialect} SQL assistant. Answer with one SQL query and nothing else."
MAX_VALUE_HINTS = 5
Split = Literal["train", "dev"]


class PromptSettings(BaseModel):
    """Everything that decides a prompt's bytes, besides the question and the index."""

    instruction: str = INSTRUCTIONS["zh"]
    system_prompt: str = SYSTEM_PROMPT
    schema_format: Literal["ddl", "cards"] = "ddl"
    schema_context: Mode = "linked"
    budget_tokens: int = Field(1200, ge=50)
    max_tables: int = Field(0, ge=0)  # 0: only the budget limits the tables
    value_hints: bool = True  # name sampled values the question mentions (`stores.city: 北京`)

    def link_config(self) -> LinkConfig:
        return LinkConfig(budget_tokens=self.budget_tokens, max_tables=self.max_tables, schema_format=self.schema_format)


class Prompt(BaseModel):
    system: str
    instruction: str
    input: str  # schema context, value hints, question: the Alpaca `input`
    linked: LinkedSchema

    @property
    def user(self) -> str:
        """The user turn; LLaMA-Factory joins an Alpaca row's instruction and input with one newline,
        so the ShareGPT rows and serving do the same: one prompt, whichever file a model reads."""
        return f"{self.instruction}\n{self.input}"

    @property
    def messages(self) -> list[dict[str, str]]:
        return [{"role": "system", "content": self.system}, {"role": "user", "content": self.user}]


def oracle_tables(used: list[str], cards: TableCards, budget_tokens: int, fmt: str) -> tuple[list[str], bool]:
    """Tables the SQL uses (always), then their FK neighbours while the budget allows; and whether
    the used tables alone exceed the budget."""
    cost = {c.table: c.tokens if fmt == "cards" else estimate_tokens(c.ddl) for c in cards.cards}
    chosen = [c.table for t in used if (c := cards.card(t))]
    chosen = list(dict.fromkeys(chosen))
    spent = sum(cost[t] for t in chosen)
    over = spent > budget_tokens
    neighbours = [link.other_table for t in chosen if (card := cards.card(t)) for link in card.links]
    for name in dict.fromkeys(neighbours):
        card = cards.card(name)
        if card and card.table not in chosen and spent + cost[card.table] <= budget_tokens:
            chosen.append(card.table)
            spent += cost[card.table]
    return chosen, over


def choose_schema(question: str, index: SchemaIndex, settings: PromptSettings, *, split: Split = "dev",
                  gold_tables: list[str] | None = None, extra: ExtraScores | None = None) -> LinkedSchema:
    """The tables one prompt shows. `gold_tables` is read only for training prompts and oracle mode;
    `extra` adds another retriever's scores (e.g. `embeddings.EmbeddingRetriever`)."""
    fmt = settings.schema_format
    mode = settings.schema_context
    if mode == "oracle":
        if gold_tables is None:
            raise ValueError("schema_context 'oracle' needs the gold tables; serving and 'ask' paths use 'linked'.")
        tables, over = oracle_tables(gold_tables, index.cards, settings.budget_tokens, fmt)
        return LinkedSchema(database=index.database, mode="oracle", tables=tables, over_budget=over,
                            tokens=sum(index.cost(t, fmt) for t in tables))
    if mode == "full":
        return LinkedSchema(database=index.database, mode="full", tables=index.tables, whole_schema=True,
                            tokens=sum(index.cost(t, fmt) for t in index.tables))
    linked = link(question, index, settings.link_config(), extra=extra)
    if split == "train" and gold_tables:
        linked = with_missed_gold(linked, gold_tables, index, fmt)
    if not linked.whole_schema:
        linked = linked.model_copy(update={"tables": shuffled(linked.tables, f"{index.database}\0{question}")})
    return linked


def render_schema(tables: list[str], cards: TableCards, fmt: str, columns: dict[str, list[str]] | None = None) -> str:
    """The schema text of `tables`; tables in `columns` show only those columns (wide tables)."""
    columns = columns or {}
    parts = []
    for table in tables:
        card = cards.card(table)
        if card is None:
            continue
        if table in columns:
            parts.append(render_part(card, columns[table], fmt, cards.dialect))
        else:
            parts.append(card.text if fmt == "cards" else card.ddl)
    return "\n\n".join(parts)


def build_prompt(question: str, linked: LinkedSchema, index: SchemaIndex, settings: PromptSettings) -> Prompt:
    """The prompt for `question` over the tables `linked` chose (see `choose_schema`)."""
    schema = render_schema(linked.tables, index.cards, settings.schema_format, linked.columns)
    shown = {t.lower() for t in linked.tables}
    hints = [h for h in linked.value_hints if h.split(".", 1)[0].lower() in shown][:MAX_VALUE_HINTS]
    hint_text = f"Values mentioned: {'; '.join(hints)}\n\n" if settings.value_hints and hints else ""
    text = f"Database schema ({index.dialect}):\n{schema}\n\n{hint_text}Question: {question}"
    return Prompt(system=settings.system_prompt.format(dialect=index.dialect), instruction=settings.instruction,
                  input=text, linked=linked)


def question_prompt(question: str, index: SchemaIndex, settings: PromptSettings, *, split: Split = "dev",
                    gold_tables: list[str] | None = None, extra: ExtraScores | None = None) -> Prompt:
    """`choose_schema` then `build_prompt`: the prompt a question gets, given the database's index."""
    linked = choose_schema(question, index, settings, split=split, gold_tables=gold_tables, extra=extra)
    return build_prompt(question, linked, index, settings)
