"""PII detection and the masking round trip: what leaves is placeholders, what comes back is
restored so that the pair's SQL runs with the real literal (scripted endpoint whose answers
reuse the placeholders it was shown; the real-server proofs are in test_pii_servers.py)."""

from __future__ import annotations

import json
import re

import pytest

from nl2sql_pipeline.core.cards import build_cards
from nl2sql_pipeline.core.config import PiiConfig, parse_databases
from nl2sql_pipeline.core.execution import executor_for
from nl2sql_pipeline.core.llm import LLMClient, LLMSettings
from nl2sql_pipeline.core.llm.generator import generate_with_llm, synthesized_by, validated_by
from nl2sql_pipeline.core.llm.pii import PLACEHOLDER, PiiMasker, is_loopback, masker_for, resolve_mode, sensitive_columns
from nl2sql_pipeline.core.llm.pii_detect import column_kind, find_values, valid_cn_id
from nl2sql_pipeline.core.llm.prompting import value_lines
from nl2sql_pipeline.core.samples import Topic, TopicPlan
from nl2sql_pipeline.core.schema.catalog import read_schema
from nl2sql_pipeline_tests import pii_data
from nl2sql_pipeline_tests.core.llm.test_llm_client import Scripted, ok, scripted  # noqa: F401 (fixture)


def test_value_patterns_check_their_checksums() -> None:
    text = ("tel 13800138000, +86 139-1234-5678; id 11010519491231002X but not 110105194912310021; "
            "card 4111 1111 1111 1111 but not 4111111111111112; a.b@corp.com.cn; 10.2.3.4, fe80::1:2; "
            "order 2024-01-01, 12:30:00, version 1.2.3")
    found = [(text[s:e], kind) for s, e, kind in find_values(text)]
    assert found == [("13800138000", "phone"), ("+86 139-1234-5678", "phone"), ("11010519491231002X", "id_card"),
                     ("4111 1111 1111 1111", "bank_card"), ("a.b@corp.com.cn", "email"), ("10.2.3.4", "ip"),
                     ("fe80::1:2", "ip")]
    assert valid_cn_id("11010519491231002X") and not valid_cn_id("110105194912310021")


@pytest.mark.parametrize(("table", "column", "comment", "kind"), [
    ("customers", "mobile_no", None, "phone"), ("t", "contact", "联系人手机", "person"), ("t", "c1", "客户手机号", "phone"),
    ("orders", "收货地址", None, "address"), ("t", "x", "身份证号码", "id_card"), ("t", "userEmail", None, "email"),
    ("members", "name", None, "person"), ("t", "card", "银行卡号", "bank_card"), ("users", "password_hash", None, "secret"),
    ("t", "passport_no", None, "passport"), ("staff", "national_id", None, "id_card"),
    ("products", "name", "商品名称", None), ("orders", "contact_id", "联系人编号", None), ("t", "paid", None, None),
    ("hotels", "stars", None, None), ("t", "amount", "订单金额, 单位: 元", None),
])
def test_sensitive_columns_by_name_and_comment(table: str, column: str, comment: str | None, kind: str | None) -> None:
    hit = column_kind(table, column, comment)
    assert (hit[0] if hit else None) == kind


def test_endpoint_decides_the_default_mode() -> None:
    auto = PiiConfig()
    assert resolve_mode(auto, "https://api.deepseek.com/v1") == "mask"
    assert resolve_mode(auto, "http://10.0.0.5:8000/v1") == "mask"
    assert all(is_loopback(u) for u in ("http://127.0.0.1:8000/v1", "http://localhost/v1", "http://[::1]:80/v1"))
    assert resolve_mode(auto, "http://127.0.0.1:8000/v1") == "off"
    assert resolve_mode(PiiConfig(mode="mask"), "http://127.0.0.1:8000/v1") == "mask"


@pytest.fixture
def crm(tmp_path):
    url, desc, planted = pii_data.sqlite_database(tmp_path)
    return url, desc, planted


def _db(url: str, desc, generator: str = "llm", pii: dict | None = None):
    return parse_databases({"databases": [{"name": "crm", "url": url, "descriptions": str(desc), "sample_budget": 4,
                                           "language": "zh", "generator": generator, "pii": pii or {}}]}).databases[0]


def test_config_columns_extend_and_allow(crm) -> None:
    url, desc, _ = crm
    cards = build_cards(read_schema(_db(url, desc)))
    found = {f"{c.table}.{c.column}": c.kind for c in sensitive_columns(cards, PiiConfig())}
    assert found == {"customers.full_name": "person", "customers.mobile": "phone", "customers.email": "email",
                     "customers.id_no": "id_card", "customers.card": "bank_card", "customers.home": "address"}
    tuned = PiiConfig(extra_columns=["customers.city"], allow_columns=["customers.home"])
    found = {f"{c.table}.{c.column}" for c in sensitive_columns(cards, tuned)}
    assert "customers.city" in found and "customers.home" not in found


def test_sql_round_trip_quotes_the_real_value_as_the_dialect_does(crm) -> None:
    url, desc, planted = crm
    db = _db(url, desc, pii={"mode": "mask"})
    meta = read_schema(db)
    masker = masker_for(db, build_cards(meta), "https://llm.example.com/v1")
    mobile = pii_data.planted_rows()[0][0]["mobile"]  # 张伟's
    sql = "SELECT count(*) FROM customers WHERE full_name = 'O''Neil Zhang' OR mobile LIKE '%" + mobile + "%'"
    masker.register_sql(sql)
    sent = masker.mask(sql)
    assert "Neil" not in sent and mobile not in sent and len(PLACEHOLDER.findall(sent)) == 2
    back = masker.unmask_sql(sent)
    assert back == sql
    # a model that drops the quotes around a placeholder still gets a valid literal
    bare = re.sub(r"'(PII_PERSON_[0-9a-f]+)'", r"\1", sent)
    assert masker.unmask_sql(bare) == sql
    assert executor_for(db).execute(back).rows == [(2,)]  # O'Neil and the mobile's owner
    assert masker.counts() == {"customers.full_name": 1, "customers.mobile": 1}


def _echo_model(body: dict) -> tuple[int, dict]:
    """A scripted model that writes its SQL with the placeholders the prompt showed it."""
    prompt = body["messages"][-1]["content"]
    names = re.findall(r"PII_PERSON_[0-9a-f]+", prompt)
    if (body.get("response_format") or {}).get("json_schema", {}).get("name") == "questions":
        ids = re.findall(r"^(\d+)\. (.*)$", prompt, re.M)
        return 200, ok(json.dumps({"questions": [
            {"id": int(n), "question": "查询" + " ".join(PLACEHOLDER.findall(sql)) + "的信息"} for n, sql in ids]}))
    items = [{"question": f"{n}的手机号是多少?", "sql": f"SELECT mobile FROM customers WHERE full_name = '{n}'",
              "hardness": "easy", "style": "direct"} for n in dict.fromkeys(names)]
    return 200, ok(json.dumps({"samples": items}, ensure_ascii=False))


def _llm_mode_run(url: str, desc, server: Scripted, cache: bool):
    """Stage B in `llm` mode on the planted customers, values in prompts, a fresh masker (a new run)."""
    db = _db(url, desc, pii={"mode": "mask"})
    meta = read_schema(db)
    cards = build_cards(meta)
    client = LLMClient(LLMSettings(base_url=server.url, model="m", cache=cache,
                                   generator={"topup_rounds": 0, "offline_fill": False, "values_per_column": 8}),
                       masker=masker_for(db, cards, server.url))
    plan = TopicPlan(database="crm", dialect="sqlite", total=4, topics=[Topic(name="客户", tables=["customers"], count=4)])
    executor = executor_for(db)
    raw = generate_with_llm(plan, cards, db, client, accept=validated_by(meta, executor, keep_empty=False),
                            values=value_lines(executor, meta, db, 8, client.masker))
    return raw, client, executor


def test_llm_mode_pairs_keep_the_real_literals_and_execute(crm, scripted) -> None:  # noqa: F811
    url, desc, planted = crm
    server = Scripted([(200, {}, _echo_model)])
    scripted.append(server)
    raw, _, executor = _llm_mode_run(url, desc, server, cache=False)
    assert pii_data.leaked([json.dumps(b, ensure_ascii=False) for b in server.bodies], planted) == []
    assert len(raw) == 4 and all(s.sql.startswith("SELECT mobile") for s in raw.samples)
    for s in raw.samples:
        name = re.search(r"full_name = '(.*)'$", s.sql).group(1).replace("''", "'")
        assert name in pii_data.NAMES and s.question.startswith(name)
        assert executor.execute(s.sql).ok and executor.execute(s.sql).rows
    note = next(n for n in raw.notes if n.startswith("PII mask"))
    assert "customers.full_name 8" in note and "customers.mobile (column name 'mobile')" in note


def test_sql_first_questions_get_the_values_back_and_drop_withholds(crm, scripted) -> None:  # noqa: F811
    url, desc, planted = crm
    server = Scripted([(200, {}, _echo_model)])
    scripted.append(server)
    for mode in ("mask", "drop"):
        db = _db(url, desc, "llm-sql-first", pii={"mode": mode, "extra_columns": ["customers.city"]})
        meta = read_schema(db)
        cards = build_cards(meta)
        client = LLMClient(LLMSettings(base_url=server.url, model="m", cache=False, generator={"topup_rounds": 0}),
                           masker=masker_for(db, cards, server.url))
        executor = executor_for(db)
        plan = TopicPlan(database="crm", dialect="sqlite", total=12,
                         topics=[Topic(name="客户", tables=["customers"], count=12)])
        start = len(server.bodies)
        raw = generate_with_llm(plan, cards, db, client, mode="llm-sql-first", accept=validated_by(meta, executor),
                                synthesize=synthesized_by(meta, executor, db))
        bodies = [json.dumps(b, ensure_ascii=False) for b in server.bodies[start:]]
        assert pii_data.leaked(bodies, planted + pii_data.CITIES) == []
        showing = [s for s in raw.samples if client.masker.mask(s.sql) != s.sql]
        assert showing  # the synthesizer's SQL filtered on sensitive values: the case under test
        if mode == "mask":
            asked = [s for s in showing if s.source == "llm-sql-first"]
            assert asked and all("PII_" not in s.question for s in asked)
            # the echoing model put each placeholder into its question: back home, they are real
            assert all(c in s.question for s in asked for c in pii_data.CITIES + planted if c in s.sql)
        else:
            assert all(s.meta.get("fill") == "pii: not sent" and s.source != "llm-sql-first" for s in showing)
            assert "[REDACTED]" not in " ".join(s.question + s.sql for s in raw.samples)


def test_drop_mode_keeps_sensitive_columns_out_of_value_lines(crm) -> None:
    url, desc, planted = crm
    db = _db(url, desc, pii={"mode": "drop"})
    meta = read_schema(db)
    masker = masker_for(db, build_cards(meta), "https://llm.example.com/v1")
    text = value_lines(executor_for(db), meta, db, 8, masker)(Topic(name="t", tables=["customers", "orders"], count=1))
    assert "customers.city" in text and "customers.mobile" not in text and "customers.full_name" not in text
    sent = masker.mask(text)
    assert pii_data.leaked([json.dumps(sent)], planted) == [] and "[REDACTED]" in sent  # the remarks' phones and IPs


def test_masker_placeholders_are_stable_and_keyed(tmp_path) -> None:
    from nl2sql_pipeline.core.llm.pii import SensitiveColumn, masking_key

    cols = [SensitiveColumn("c", "phone", "phone", "test")]
    a = PiiMasker("mask", cols, "sqlite", masking_key(tmp_path / "a"))
    b = PiiMasker("mask", cols, "sqlite", masking_key(tmp_path / "a"))
    other = PiiMasker("mask", cols, "sqlite", masking_key(tmp_path / "b"))
    text = "call 13800138000"
    assert a.mask(text) == b.mask(text) != other.mask(text)  # same key, same prompt: the cache still hits
    assert oct((tmp_path / "a" / "pii.key").stat().st_mode & 0o777) == "0o600"


def test_message_parts_are_masked_too(tmp_path) -> None:
    from nl2sql_pipeline.core.llm.pii import masking_key

    masker = PiiMasker("mask", [], "sqlite", masking_key(tmp_path))
    parts = masker.mask_content([{"type": "text", "text": "call 13800138000"}, {"type": "image_url", "image_url": {}}])
    assert "13800138000" not in json.dumps(parts) and parts[1] == {"type": "image_url", "image_url": {}}


def test_a_rerun_masks_alike_and_is_answered_from_the_cache(crm, scripted) -> None:  # noqa: F811
    url, desc, _ = crm
    server = Scripted([(200, {}, _echo_model)])
    scripted.append(server)
    first, _, _ = _llm_mode_run(url, desc, server, cache=True)
    again, client, _ = _llm_mode_run(url, desc, server, cache=True)  # same key under NL2SQL_HOME
    assert client.stats.requests == 0 and client.stats.cache_hits > 0
    assert again.samples == first.samples and len(again) == 4
