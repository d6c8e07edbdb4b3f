"""Step 4 offline: group tables into business topics along the foreign-key graph and divide the
sample budget among them.

`plan_topics` builds a plan from table cards alone; `validate_plan` repairs any plan, offline or
from an LLM, into one that the synthesizer can trust:

    >>> from nl2sql_pipeline.core.cards import build_cards
    >>> from nl2sql_pipeline.core.schema.metadata import ColumnInfo, ForeignKey, SchemaMetadata, TableInfo
    >>> col = lambda n: ColumnInfo(name=n, type="integer", raw_type="INTEGER", nullable=False)
    >>> cards = build_cards(SchemaMetadata(database="d", backend="sqlite", dialect="sqlite", tables=[
    ...     TableInfo(name="singer", columns=[col("singer_id")]),
    ...     TableInfo(name="concert", columns=[col("concert_id"), col("singer_id")], foreign_keys=[
    ...         ForeignKey(columns=["singer_id"], ref_table="singer", ref_columns=["singer_id"])])]))
    >>> llm_plan = TopicPlan(database="d", dialect="sqlite", total=7,
    ...                      topics=[Topic(name="gigs", tables=["Concert", "tickets"], count=7)])
    >>> plan = validate_plan(llm_plan, cards, PlanningConfig(), total=300)
    >>> [(t.name, t.tables, t.count) for t in plan.topics]
    [('gigs', ['concert', 'singer'], 300)]
    >>> plan.notes
    ["topic 'gigs': unknown table 'tickets' dropped", "topic 'gigs': tables adjusted to ['concert', 'singer'] (min 2, max 4)", 'counts rescaled from 7 to 300']
"""

from __future__ import annotations

import re
from collections import deque

from nl2sql_pipeline.core.cards import TableCard, TableCards
from nl2sql_pipeline.core.chinese import HAN_CHARACTER, has_chinese, mostly_chinese
from nl2sql_pipeline.core.config import PlanningConfig
from nl2sql_pipeline.core.samples import Topic, TopicPlan
from nl2sql_pipeline.core.semantics.legend import table_label


def is_chinese(cards: TableCards) -> bool:
    """True when most comments (table and column) are written in Chinese."""
    return mostly_chinese([c.comment or "" for c in cards.cards] + [col.comment or "" for c in cards.cards for col in c.columns])


def fk_graph(cards: TableCards) -> dict[str, set[str]]:
    """Undirected FK adjacency between the tables that exist (self-references dropped)."""
    names = {c.table.lower(): c.table for c in cards.cards}
    graph: dict[str, set[str]] = {c.table: set() for c in cards.cards}
    for card in cards.cards:
        for link in card.links:
            other = names.get(link.other_table.lower())
            if other and other != card.table:
                graph[card.table].add(other)
                graph[other].add(card.table)
    return graph


def richness(card: TableCard, graph: dict[str, set[str]]) -> float:
    """How much a table offers to questions: columns, join partners, rows."""
    return 1.0 + 0.25 * len(card.columns) + 0.75 * len(graph.get(card.table, ())) + (0.5 if card.row_count else 0.0)


def _tokens(text: str) -> set[str]:
    """Name parts (`sales`, `contract`) and Chinese character pairs (`合同`) a table is known by."""
    words = {w.rstrip("s") for w in re.split(r"[^a-z0-9]+", text.lower()) if len(w) > 2}
    cjk = "".join(HAN_CHARACTER.findall(text))
    return words | {cjk[i:i + 2] for i in range(len(cjk) - 1)}


def similarity(a: str, b: str, cards: TableCards | None) -> int:
    """Shared name parts and label character pairs: 销售合同 ~ 合同明细, sales_contracts ~ contract_lines."""
    def known_by(t: str) -> set[str]:
        card = cards.card(t) if cards is not None else None
        return _tokens(t) | _tokens((card.comment or "") if card else "")
    return len(known_by(a) & known_by(b))


def _neighbourhood(seed: str, graph: dict[str, set[str]], size: int, covered: set[str],
                   cards: TableCards | None = None) -> list[str]:
    """A connected group of up to `size` tables grown breadth-first from `seed`: uncovered tables
    first, then those of the same business area (similar names and labels), then hubs."""
    chosen, queue = [seed], deque([seed])
    while queue and len(chosen) < size:
        current = queue.popleft()
        for nb in sorted(graph[current] - set(chosen),
                         key=lambda t: (t in covered, -similarity(seed, t, cards), -len(graph[t]), t)):
            if len(chosen) >= size:
                break
            chosen.append(nb)
            queue.append(nb)
    return chosen


def _label(card: TableCard, chinese: bool) -> str:
    """The table's business name from its comment (`操作日志表（无外键）` -> `操作日志`), never the raw comment."""
    label = table_label(card.comment)
    if label and has_chinese(label) == chinese:
        return label
    return card.table.replace("_", " ")


def topic_name(tables: list[str], cards: TableCards, chinese: bool) -> str:
    """`销售合同、合同明细与发货单`, `Singers and concerts`: the labels of the topic's first tables."""
    labels = list(dict.fromkeys(_label(c, chinese) for t in tables if (c := cards.card(t))))
    shown, more = labels[:3], len(labels) > 3
    if chinese:
        head = "、".join(shown[:-1]) + "与" + shown[-1] if len(shown) > 1 else shown[0]
        return head + ("等" if more else "")
    head = ", ".join(shown[:-1]) + " and " + shown[-1] if len(shown) > 1 else shown[0]
    return head[:1].upper() + head[1:] + (" etc." if more else "")


def _topic_reason(tables: list[str], graph: dict[str, set[str]]) -> str:
    if len(tables) == 1:
        return "isolated table: no foreign key links it to another table"
    links = sorted({f"{a}-{b}" for a in tables for b in graph[a] if b in tables and a < b})
    return "linked by foreign keys: " + ", ".join(links)


def plan_topics(cards: TableCards, total: int, cfg: PlanningConfig) -> TopicPlan:
    """Topics from the FK graph: richest uncovered table first, grown into a connected neighbourhood."""
    graph = fk_graph(cards)
    chinese = is_chinese(cards)
    by_rich = sorted(cards.cards, key=lambda c: (-richness(c, graph), c.table))
    covered: set[str] = set()
    topics = []
    for card in by_rich:
        if card.table in covered:
            continue
        tables = _neighbourhood(card.table, graph, cfg.max_tables, covered, cards)
        covered.update(tables)
        topics.append(Topic(name=topic_name(tables, cards, chinese), tables=tables,
                            reason=_topic_reason(tables, graph), count=0, dialect=cards.dialect))
    plan = TopicPlan(database=cards.database, dialect=cards.dialect, total=total, topics=topics, source="offline")
    return validate_plan(plan, cards, cfg, total)


def _resolve_tables(topic: Topic, cards: TableCards, notes: list[str]) -> list[str]:
    tables: list[str] = []
    for name in topic.tables:
        card = cards.card(str(name).strip().strip('`"[]'))
        if card is None:
            notes.append(f"topic {topic.name!r}: unknown table {name!r} dropped")
        elif card.table not in tables:
            tables.append(card.table)
    return tables


def _fit_size(tables: list[str], graph: dict[str, set[str]], cfg: PlanningConfig, covered: set[str]) -> list[str]:
    """Trim to max_tables keeping the group connected; grow toward min_tables along FK links.
    A new list: the caller compares it with what it passed to note the adjustment."""
    tables = list(tables)
    if len(tables) > cfg.max_tables:
        kept = _neighbourhood(tables[0], {t: graph[t] & set(tables) for t in tables}, cfg.max_tables, set())
        tables = kept + [t for t in tables if t not in kept][: cfg.max_tables - len(kept)]
    for t in list(tables):
        if len(tables) >= cfg.min_tables:
            break
        for nb in sorted(graph[t] - set(tables), key=lambda n: (n in covered, n)):
            if len(tables) >= cfg.min_tables:
                break
            tables.append(nb)
    return tables


def _allocate(weights: list[float], total: int, minimum: int) -> list[int]:
    """Counts summing exactly to `total`: `minimum` each, the rest by weight (largest remainder)."""
    n = len(weights)
    base = min(minimum, total // n)
    spare = total - base * n
    wsum = sum(weights) or float(n)
    shares = [spare * (w if sum(weights) else 1.0) / wsum for w in weights]
    counts = [base + int(s) for s in shares]
    order = sorted(range(n), key=lambda i: (-(shares[i] - int(shares[i])), i))
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


def _trim(topics: list[Topic], keep: int, weights: dict[str, float]) -> list[Topic]:
    """Keep `keep` topics, choosing greedily the ones that add the most uncovered tables."""
    chosen: list[Topic] = []
    covered: set[str] = set()
    rest = list(topics)
    while rest and len(chosen) < keep:
        best = max(rest, key=lambda t: (len(set(t.tables) - covered), weights[t.name], -topics.index(t)))
        chosen.append(best)
        covered.update(best.tables)
        rest.remove(best)
    return sorted(chosen, key=topics.index)


def validate_plan(plan: TopicPlan, cards: TableCards, cfg: PlanningConfig, total: int) -> TopicPlan:
    """Repair a plan so that the synthesizer can trust it; every change is written to `notes`.

    - unknown tables are dropped (names resolve case-insensitively), repeated tables and topics removed;
    - each topic is trimmed to `max_tables` and grown toward `min_tables` along FK links (a
      database with fewer tables, or an isolated table, keeps a smaller topic);
    - tables no topic mentions get a topic of their own neighbourhood;
    - counts (LLM counts are taken as weights, else table richness) are rescaled to exactly `total`,
      with at least `min_per_topic` each; when `total` is too small, the topics covering the most
      tables are kept.
    """
    notes = list(plan.notes)
    graph = fk_graph(cards)
    database, dialect = plan.database or cards.database, plan.dialect or cards.dialect
    topics = _repaired_topics(plan, cards, cfg, graph, notes)
    topics = _unique_names(topics + _uncovered_topics(topics, cards, cfg, graph, notes))
    if total <= 0 or not topics:
        return TopicPlan(database=database, dialect=dialect, total=0, topics=[], source=plan.source,
                         notes=notes + ["nothing to plan"])
    return TopicPlan(database=database, dialect=dialect, total=total, source=plan.source,
                     topics=_budgeted(topics, cards, cfg, graph, total, notes), notes=notes)


def _repaired_topics(plan: TopicPlan, cards: TableCards, cfg: PlanningConfig, graph: dict[str, set[str]],
                     notes: list[str]) -> list[Topic]:
    """The plan's topics over known tables, each sized to the config; empty and repeated ones dropped."""
    topics: list[Topic] = []
    seen_sets: set[frozenset[str]] = set()
    covered: set[str] = set()
    for topic in plan.topics:
        tables = _resolve_tables(topic, cards, notes)
        if not tables:
            notes.append(f"topic {topic.name!r}: no known table left, topic dropped")
            continue
        fitted = _fit_size(tables, graph, cfg, covered)
        if fitted != tables:
            notes.append(f"topic {topic.name!r}: tables adjusted to {fitted} (min {cfg.min_tables}, max {cfg.max_tables})")
        if frozenset(fitted) in seen_sets:
            notes.append(f"topic {topic.name!r}: same tables as an earlier topic, merged")
            continue
        seen_sets.add(frozenset(fitted))
        covered.update(fitted)
        topics.append(topic.model_copy(update={"tables": fitted, "dialect": plan.dialect or cards.dialect}))
    return topics


def _uncovered_topics(topics: list[Topic], cards: TableCards, cfg: PlanningConfig, graph: dict[str, set[str]],
                      notes: list[str]) -> list[Topic]:
    """A topic of its own neighbourhood for each table no topic mentions, richest first."""
    chinese = is_chinese(cards)
    covered = {t for topic in topics for t in topic.tables}
    added: list[Topic] = []
    for card in sorted(cards.cards, key=lambda c: (-richness(c, graph), c.table)):
        if card.table not in covered:
            tables = _neighbourhood(card.table, graph, cfg.max_tables, covered, cards)
            covered.update(tables)
            notes.append(f"table {card.table!r} was in no topic: added a topic for it")
            added.append(Topic(name=topic_name(tables, cards, chinese), tables=tables,
                               reason=_topic_reason(tables, graph), count=0, dialect=cards.dialect))
    return added


def _unique_names(topics: list[Topic]) -> list[Topic]:
    """Topics with distinct, non-empty names: samples refer to topics by name."""
    names: set[str] = set()
    unique = []
    for i, topic in enumerate(topics):
        name, n = topic.name.strip() or f"topic {i + 1}", 2
        while name in names:
            name, n = f"{topic.name} ({n})", n + 1
        names.add(name)
        unique.append(topic.model_copy(update={"name": name}))
    return unique


def _budgeted(topics: list[Topic], cards: TableCards, cfg: PlanningConfig, graph: dict[str, set[str]], total: int,
              notes: list[str]) -> list[Topic]:
    """The topics the budget allows, with counts summing exactly to `total`."""
    llm_counts = any(t.count for t in topics)  # an LLM's counts are its weights; else the tables' richness
    weights = {
        t.name: float(t.count) if llm_counts else sum(richness(c, graph) for n in t.tables if (c := cards.card(n)))
        for t in topics
    }
    keep = max(1, min(len(topics), total // max(1, cfg.min_per_topic)))
    if keep < len(topics):
        notes.append(f"budget {total} allows {keep} of {len(topics)} topics at {cfg.min_per_topic} samples each: "
                     "kept those covering the most tables")
        topics = _trim(topics, keep, weights)
    counts = _allocate([max(weights[t.name], 0.0) for t in topics], total, cfg.min_per_topic)
    before = sum(t.count for t in topics)
    if before and before != total:
        notes.append(f"counts rescaled from {before} to {total}")
    return [t.model_copy(update={"count": c}) for t, c in zip(topics, counts, strict=True)]
