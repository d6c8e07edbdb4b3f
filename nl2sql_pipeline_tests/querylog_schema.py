"""A small ERP-like schema of its own for the query-log tests: Chinese comments with code
legends and units, a self-referencing department tree and manager chain, a composite key.

The same SQLAlchemy MetaData loads into SQLite (comments then come from `descriptions()`),
PostgreSQL and MariaDB (real COMMENTs)."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import sqlalchemy as sa
import yaml

COMMENTS: dict[str, tuple[str, dict[str, str]]] = {
    "dept": ("部门表", {"dept_id": "部门编号", "dept_name": "部门名称", "parent_id": "上级部门编号", "city": "所在城市"}),
    "staff": ("员工信息表", {"staff_id": "员工编号", "name": "姓名", "gender": "性别：M男 F女", "dept_id": "所属部门编号",
                          "manager_id": "直属上级编号", "hire_date": "入职日期", "salary": "月薪（元）",
                          "status": "在职状态：1在职 2离职"}),
    "customer": ("客户表", {"cust_id": "客户编号", "cust_name": "客户名称", "level": "信用等级A-E", "city": "所在城市",
                          "owner_id": "客户经理编号"}),
    "product": ("商品表", {"sku": "商品编码", "product_name": "商品名称", "category": "商品类别", "list_price": "标准单价（元）"}),
    "sales_order": ("销售订单表", {"order_id": "订单编号", "cust_id": "客户编号", "staff_id": "销售员编号",
                                 "order_date": "下单日期", "status": "订单状态：1待付款 2已付款 3已发货 4已取消",
                                 "amount": "订单金额（元）"}),
    "order_line": ("订单明细表", {"order_id": "订单编号", "line_no": "行号", "sku": "商品编码", "qty": "数量",
                                "unit_price": "成交单价（元）"}),
}


def metadata() -> sa.MetaData:
    md = sa.MetaData()

    def col(table: str, name: str, *args: object, **kw: object) -> sa.Column:
        return sa.Column(name, *args, comment=COMMENTS[table][1][name], **kw)

    def table(name: str, *cols: object) -> sa.Table:
        return sa.Table(name, md, *cols, comment=COMMENTS[name][0])

    table("dept", col("dept", "dept_id", sa.Integer, primary_key=True), col("dept", "dept_name", sa.String(40)),
          col("dept", "parent_id", sa.Integer, sa.ForeignKey("dept.dept_id")), col("dept", "city", sa.String(20)))
    table("staff", col("staff", "staff_id", sa.Integer, primary_key=True), col("staff", "name", sa.String(20)),
          col("staff", "gender", sa.String(1)), col("staff", "dept_id", sa.Integer, sa.ForeignKey("dept.dept_id")),
          col("staff", "manager_id", sa.Integer, sa.ForeignKey("staff.staff_id")), col("staff", "hire_date", sa.Date),
          col("staff", "salary", sa.Numeric(10, 2)), col("staff", "status", sa.Integer))
    table("customer", col("customer", "cust_id", sa.Integer, primary_key=True), col("customer", "cust_name", sa.String(40)),
          col("customer", "level", sa.String(1)), col("customer", "city", sa.String(20)),
          col("customer", "owner_id", sa.Integer, sa.ForeignKey("staff.staff_id")))
    table("product", col("product", "sku", sa.String(12), primary_key=True), col("product", "product_name", sa.String(40)),
          col("product", "category", sa.String(20)), col("product", "list_price", sa.Numeric(10, 2)))
    table("sales_order", col("sales_order", "order_id", sa.Integer, primary_key=True),
          col("sales_order", "cust_id", sa.Integer, sa.ForeignKey("customer.cust_id")),
          col("sales_order", "staff_id", sa.Integer, sa.ForeignKey("staff.staff_id")),
          col("sales_order", "order_date", sa.Date), col("sales_order", "status", sa.Integer),
          col("sales_order", "amount", sa.Numeric(12, 2)))
    table("order_line", col("order_line", "order_id", sa.Integer, sa.ForeignKey("sales_order.order_id"), primary_key=True),
          col("order_line", "line_no", sa.Integer, primary_key=True),
          col("order_line", "sku", sa.String(12), sa.ForeignKey("product.sku")), col("order_line", "qty", sa.Integer),
          col("order_line", "unit_price", sa.Numeric(10, 2)))
    return md


CITIES = ["上海", "北京", "苏州", "杭州"]


def rows() -> dict[str, list[dict]]:
    rng = random.Random(20)
    depts = [{"dept_id": 1, "dept_name": "总部", "parent_id": None, "city": "上海"}] + [
        {"dept_id": i, "dept_name": f"销售{i - 1}部", "parent_id": 1, "city": CITIES[i % 4]} for i in range(2, 7)]
    staff = [{"staff_id": i, "name": f"员工{i:02d}", "gender": rng.choice("MF"), "dept_id": 1 + i % 6,
              "manager_id": None if i == 1 else 1 + (i - 2) // 5, "hire_date": dt.date(2015 + i % 9, 1 + i % 12, 1 + i % 27),
              "salary": 6000 + 250 * (i % 17), "status": 2 if i % 7 == 0 else 1} for i in range(1, 31)]
    customers = [{"cust_id": i, "cust_name": f"客户{i:03d}", "level": "ABCDE"[i % 5], "city": CITIES[i % 4],
                  "owner_id": 1 + i % 30} for i in range(1, 41)]
    categories = ["办公用品", "电子产品", "家具"]
    products = [{"sku": f"SKU{i:04d}", "product_name": f"商品{i}", "category": categories[i % 3],
                 "list_price": 20 + 37 * i} for i in range(1, 16)]
    orders, lines = [], []
    for i in range(1, 201):
        orders.append({"order_id": i, "cust_id": 1 + rng.randrange(40), "staff_id": 1 + rng.randrange(30),
                       "order_date": dt.date(2024, 1, 1) + dt.timedelta(days=rng.randrange(360)),
                       "status": rng.choice([1, 2, 2, 3, 3, 4]), "amount": round(rng.uniform(100, 9000), 2)})
        for n in range(1, 1 + rng.randrange(1, 4)):
            p = products[rng.randrange(15)]
            lines.append({"order_id": i, "line_no": n, "sku": p["sku"], "qty": rng.randrange(0, 9),
                          "unit_price": p["list_price"]})
    return {"dept": depts, "staff": staff, "customer": customers, "product": products, "sales_order": orders,
            "order_line": lines}


def load(url: str) -> None:
    engine = sa.create_engine(url)
    md = metadata()
    md.create_all(engine)
    data = rows()
    with engine.begin() as conn:
        for table in md.sorted_tables:
            conn.execute(table.insert(), data[table.name])
    engine.dispose()


def descriptions(path: Path) -> Path:
    """The comments as a descriptions file (SQLite keeps none)."""
    tables = {t: {"comment": c, "columns": cols} for t, (c, cols) in COMMENTS.items()}
    path.write_text(yaml.safe_dump({"tables": tables}, allow_unicode=True), encoding="utf-8")
    return path
