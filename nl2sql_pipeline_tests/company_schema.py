"""A 13-table company database (sales, purchasing, stock, staff) with Chinese comments, code
legends, units, self-references and composite keys, built the same way on SQLite and PostgreSQL;
and the schema changes users make to it (drifts), in each engine's own DDL.
"""

from __future__ import annotations

import random
from pathlib import Path

import sqlalchemy as sa
import yaml

# table -> (comment, [(column, type, constraint, comment)], extra table constraints)
TABLES: dict[str, tuple[str, list[tuple[str, str, str, str]], list[str]]] = {
    "departments": ("部门", [
        ("dept_id", "INTEGER", "PRIMARY KEY", "部门编号"),
        ("dept_name", "VARCHAR(40)", "NOT NULL", "部门名称"),
        ("parent_dept_id", "INTEGER", "REFERENCES departments(dept_id)", "上级部门编号"),
    ], []),
    "employees": ("员工", [
        ("emp_id", "INTEGER", "PRIMARY KEY", "员工编号"),
        ("emp_name", "VARCHAR(40)", "NOT NULL", "员工姓名"),
        ("dept_id", "INTEGER", "REFERENCES departments(dept_id)", "所属部门"),
        ("salary", "NUMERIC(10,2)", "", "月薪（元）"),
        ("status", "INTEGER", "", "在职状态：1=在职 2=离职 3=休假"),
    ], []),
    "customers": ("客户", [
        ("customer_id", "INTEGER", "PRIMARY KEY", "客户编号"),
        ("customer_name", "VARCHAR(60)", "NOT NULL", "客户名称"),
        ("city", "VARCHAR(20)", "", "所在城市"),
        ("member_level", "INTEGER", "", "会员等级：1=普通 2=银卡 3=金卡"),
    ], []),
    "categories": ("商品类目", [
        ("category_id", "INTEGER", "PRIMARY KEY", "类目编号"),
        ("category_name", "VARCHAR(40)", "NOT NULL", "类目名称"),
        ("parent_id", "INTEGER", "REFERENCES categories(category_id)", "上级类目"),
    ], []),
    "products": ("商品", [
        ("product_id", "INTEGER", "PRIMARY KEY", "商品编号"),
        ("product_name", "VARCHAR(60)", "NOT NULL", "商品名称"),
        ("category_id", "INTEGER", "REFERENCES categories(category_id)", "所属类目"),
        ("list_price", "NUMERIC(10,2)", "", "标价（元）"),
        ("weight_kg", "NUMERIC(8,3)", "", "重量（千克）"),
    ], []),
    "orders": ("销售订单", [
        ("order_id", "INTEGER", "PRIMARY KEY", "订单编号"),
        ("customer_id", "INTEGER", "REFERENCES customers(customer_id)", "下单客户"),
        ("emp_id", "INTEGER", "REFERENCES employees(emp_id)", "经手销售"),
        ("order_date", "DATE", "", "下单日期"),
        ("status", "INTEGER", "", "订单状态：0=待付款 1=已付款 2=已发货 3=已完成 9=已取消"),
        ("total_amount", "NUMERIC(12,2)", "", "订单金额（元）"),
    ], []),
    "order_items": ("订单明细", [
        ("order_id", "INTEGER", "NOT NULL REFERENCES orders(order_id)", "订单编号"),
        ("product_id", "INTEGER", "NOT NULL REFERENCES products(product_id)", "商品编号"),
        ("quantity", "INTEGER", "", "数量（件）"),
        ("unit_price", "NUMERIC(10,2)", "", "成交单价（元）"),
    ], ["PRIMARY KEY (order_id, product_id)"]),
    "payments": ("收款记录", [
        ("payment_id", "INTEGER", "PRIMARY KEY", "收款编号"),
        ("order_id", "INTEGER", "REFERENCES orders(order_id)", "订单编号"),
        ("paid_date", "DATE", "", "收款日期"),
        ("amount", "NUMERIC(12,2)", "", "收款金额（元）"),
        ("method", "INTEGER", "", "支付方式：1=现金 2=银行转账 3=微信 4=支付宝"),
    ], []),
    "warehouses": ("仓库", [
        ("warehouse_id", "INTEGER", "PRIMARY KEY", "仓库编号"),
        ("warehouse_name", "VARCHAR(40)", "NOT NULL", "仓库名称"),
        ("city", "VARCHAR(20)", "", "所在城市"),
        ("manager_emp_id", "INTEGER", "", "仓库主管（员工编号）"),
    ], []),
    "inventory": ("库存", [
        ("warehouse_id", "INTEGER", "NOT NULL REFERENCES warehouses(warehouse_id)", "仓库编号"),
        ("product_id", "INTEGER", "NOT NULL REFERENCES products(product_id)", "商品编号"),
        ("on_hand", "INTEGER", "", "现有库存（件）"),
    ], ["PRIMARY KEY (warehouse_id, product_id)"]),
    "suppliers": ("供应商", [
        ("supplier_id", "INTEGER", "PRIMARY KEY", "供应商编号"),
        ("supplier_name", "VARCHAR(60)", "NOT NULL", "供应商名称"),
        ("rating", "INTEGER", "", "评级：1=A 2=B 3=C"),
    ], []),
    "purchase_orders": ("采购单", [
        ("po_id", "INTEGER", "PRIMARY KEY", "采购单号"),
        ("supplier_id", "INTEGER", "REFERENCES suppliers(supplier_id)", "供应商"),
        ("warehouse_id", "INTEGER", "REFERENCES warehouses(warehouse_id)", "入库仓库"),
        ("po_date", "DATE", "", "采购日期"),
        ("amount", "NUMERIC(12,2)", "", "采购金额（元）"),
    ], []),
    "audit_log": ("操作日志", [
        ("log_id", "INTEGER", "PRIMARY KEY", "日志编号"),
        ("emp_id", "INTEGER", "REFERENCES employees(emp_id)", "操作员工"),
        ("action", "VARCHAR(20)", "", "操作类型：login=登录 export=导出 delete=删除"),
        ("logged_date", "DATE", "", "操作日期"),
    ], []),
}

CITIES = ["北京", "上海", "广州", "深圳", "杭州", "成都"]
WORDS = ["华东", "远航", "星辰", "金桥", "云峰", "海川", "恒泰", "长青"]


def ddl(table: str, columns: list[tuple[str, str, str, str]], extra: list[str]) -> str:
    parts = [f"{name} {type_} {constraint}".strip() for name, type_, constraint, _ in columns] + extra
    return f"CREATE TABLE {table} (\n  " + ",\n  ".join(parts) + "\n)"


def _value(column: str, type_: str, i: int, pk: str | None, rng: random.Random) -> object:
    if column == pk:
        return i
    if column.endswith("_id"):  # every table has ids 1..12, so any of them is a valid reference
        return rng.randint(1, 12)
    if type_ == "INTEGER":
        return rng.randint(1, 3)
    if type_.startswith("NUMERIC"):
        return round(rng.uniform(10, 5000), 2)
    if type_ == "DATE":
        return f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    if column == "city":
        return rng.choice(CITIES)
    if column == "action":
        return rng.choice(["login", "export", "delete"])
    return f"{rng.choice(WORDS)}{i}"


def rows(table: str, count: int = 12) -> list[dict[str, object]]:
    rng = random.Random(table)
    columns = TABLES[table][1]
    pk = columns[0][0] if "PRIMARY KEY" in columns[0][2] else None
    out = []
    for i in range(1, count + 1):
        row = {name: _value(name, type_, i, pk, rng) for name, type_, _, _ in columns}
        if pk is None:  # composite keys (order_items, inventory): distinct pairs
            first, second = (c[0] for c in columns[:2])
            row[first], row[second] = (i - 1) // 3 + 1, (i - 1) % 3 + 1
        if table in ("departments", "categories"):  # a tree: the first row is the root
            row[columns[2][0]] = None if i == 1 else rng.randint(1, i - 1)
        out.append(row)
    return out


def create_company(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for table, (_, columns, extra) in TABLES.items():
            conn.exec_driver_sql(ddl(table, columns, extra))
        for table, (_, columns, _) in TABLES.items():
            names = [c[0] for c in columns]
            conn.execute(sa.text(f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join(':' + n for n in names)})"),
                         rows(table))
        if engine.dialect.name == "postgresql":
            for table, (comment, columns, _) in TABLES.items():
                conn.exec_driver_sql(f"COMMENT ON TABLE {table} IS '{comment}'")
                for name, _, _, text in columns:
                    conn.exec_driver_sql(f"COMMENT ON COLUMN {table}.{name} IS '{text}'")
    engine.dispose()


def write_descriptions(path: Path, overrides: dict[str, dict[str, str]] | None = None,
                       only: list[str] | None = None) -> Path:
    """The comments as a descriptions file (SQLite keeps none); `overrides` {table: {column: text}};
    `only` these tables (the catalog keeps the others' comments)."""
    tables = {}
    for table, (comment, columns, _) in TABLES.items():
        if only is not None and table not in only:
            continue
        texts = {name: text for name, _, _, text in columns}
        texts.update((overrides or {}).get(table, {}))
        tables[table] = {"comment": comment, "columns": texts}
    path.write_text(yaml.safe_dump({"tables": tables}, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def execute(url: str, *statements: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement)
    engine.dispose()


def rebuild_sqlite_table(url: str, table: str, columns: list[tuple[str, str, str, str]], extra: list[str]) -> None:
    """SQLite cannot retype a column or add a foreign key in place: its documented rebuild (new
    table, copy, drop, rename), which keeps other tables' references to the name intact."""
    names = ", ".join(c[0] for c in columns)
    execute(url, ddl(f"{table}_new", columns, extra), f"INSERT INTO {table}_new ({names}) SELECT {names} FROM {table}",
            f"DROP TABLE {table}", f"ALTER TABLE {table}_new RENAME TO {table}")
