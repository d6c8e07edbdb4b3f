"""A small customer database with planted personal data (valid CN ID numbers, Luhn-valid bank
cards, mobile numbers, emails, names, addresses, IPs in free text), on SQLite or PostgreSQL,
with Chinese comments (PostgreSQL keeps them; SQLite gets them from a descriptions file)."""

from __future__ import annotations

import random
from pathlib import Path

import sqlalchemy as sa
import yaml

from nl2sql_pipeline.core.llm.pii_detect import valid_luhn

HOTLINE = "13800138000"
COMMENTS = {
    "customers": (f"客户 (客服热线 {HOTLINE})", {  # a value in a comment reaches every card
        "customer_id": "客户编号", "full_name": "客户姓名", "mobile": "手机号", "email": "邮箱",
        "id_no": "身份证号", "card": "银行卡号", "home": "家庭住址", "level": "会员等级: 1=普通, 2=银卡, 3=金卡",
        "city": "所在城市"}),
    "orders": ("订单", {
        "order_id": "订单编号", "customer_id": "下单客户", "amount": "订单金额, 单位: 元", "status": "订单状态",
        "remark": "备注", "created_at": "下单日期"}),
}
NAMES = ["张伟", "王芳", "李娜", "刘洋", "陈静", "O'Neil Zhang", "赵磊", "孙丽"]
CITIES = ["北京", "上海", "广州", "深圳"]
STATUSES = ["已支付", "已发货", "已完成", "已取消"]


def cn_id(rng: random.Random) -> str:
    body = f"{rng.choice(['110105', '310101', '440305'])}{rng.randint(1960, 2002)}{rng.randint(1, 12):02d}" \
           f"{rng.randint(1, 28):02d}{rng.randint(100, 999)}"
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]


def luhn_card(rng: random.Random) -> str:
    body = "622202" + "".join(str(rng.randint(0, 9)) for _ in range(9))
    return next(body + str(d) for d in range(10) if valid_luhn(body + str(d)))


def planted_rows(seed: int = 7) -> tuple[list[dict], list[dict], list[str]]:
    """(customers, orders, every planted sensitive value)."""
    rng = random.Random(seed)
    customers, orders, planted = [], [], [HOTLINE]
    for i, name in enumerate(NAMES, start=1):
        row = {"customer_id": i, "full_name": name, "mobile": f"13{rng.randint(5, 9)}{rng.randint(10**7, 10**8 - 1)}",
               "email": f"user{i}.{rng.randint(100, 999)}@example-corp.cn", "id_no": cn_id(rng), "card": luhn_card(rng),
               "home": f"{rng.choice(CITIES)}市朝阳区建国路{rng.randint(1, 200)}号{rng.randint(1, 30)}栋",
               "level": str(rng.randint(1, 3)), "city": rng.choice(CITIES)}
        customers.append(row)
        planted += [row[k] for k in ("full_name", "mobile", "email", "id_no", "card", "home")]
    for j in range(1, 25):
        c = customers[j % len(customers)]
        ip = f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        phone = f"139{rng.randint(10**7, 10**8 - 1)}"
        orders.append({"order_id": j, "customer_id": c["customer_id"], "amount": round(rng.uniform(10, 900), 2),
                       "status": rng.choice(STATUSES), "remark": f"送货前致电{phone}, 下单IP {ip}",
                       "created_at": f"2024-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}"})
        planted += [phone, ip]
    return customers, orders, planted


def _tables(meta: sa.MetaData) -> tuple[sa.Table, sa.Table]:
    customers = sa.Table(
        "customers", meta, sa.Column("customer_id", sa.Integer, primary_key=True),
        *(sa.Column(c, sa.String(80)) for c in ("full_name", "mobile", "email", "id_no", "card", "home", "level", "city")))
    orders = sa.Table(
        "orders", meta, sa.Column("order_id", sa.Integer, primary_key=True),
        sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.customer_id")),
        sa.Column("amount", sa.Numeric(10, 2)), sa.Column("status", sa.String(20)), sa.Column("remark", sa.String(200)),
        sa.Column("created_at", sa.Date))
    for table in (customers, orders):
        table.comment, columns = COMMENTS[table.name]
        for col in table.columns:
            col.comment = columns[col.name]
    return customers, orders


def build(url: str) -> list[str]:
    """Create and fill the planted database at `url`; returns the planted values."""
    import datetime as dt

    rows_c, rows_o, planted = planted_rows()
    engine = sa.create_engine(url)
    meta = sa.MetaData()
    customers, orders = _tables(meta)
    with engine.begin() as conn:
        meta.create_all(conn)
        conn.execute(customers.insert(), rows_c)
        conn.execute(orders.insert(), [{**o, "created_at": dt.date.fromisoformat(o["created_at"])} for o in rows_o])
    engine.dispose()
    return planted


def sqlite_database(folder: Path) -> tuple[str, Path, list[str]]:
    """(url, descriptions file, planted values) of a planted SQLite file in `folder`."""
    path = folder / "crm.sqlite"
    planted = build(f"sqlite:///{path}")
    desc = folder / "crm.descriptions.yaml"
    desc.write_text(yaml.safe_dump({"tables": {t: {"comment": c, "columns": cols} for t, (c, cols) in COMMENTS.items()}},
                                   allow_unicode=True), encoding="utf-8")
    return f"sqlite:///{path}", desc, planted


def leaked(bodies: list[str], planted: list[str]) -> list[str]:
    """The planted values found in any request body (raw, and with JSON escapes decoded)."""
    import json

    texts = bodies + [json.dumps(json.loads(b), ensure_ascii=False) for b in bodies if b.strip()]
    forms = {f: v for v in planted for f in (v, v.replace("'", "''"))}
    return sorted({v for f, v in forms.items() for t in texts if f in t})
