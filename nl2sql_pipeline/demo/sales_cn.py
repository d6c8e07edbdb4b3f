"""中文销售 (sales_cn): a Chinese retail schema of 10 related tables with composite keys and
~4,500 deterministic rows. Structure lives here; comments live in sales_cn.descriptions.yaml."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import sqlalchemy as sa
import yaml

DESCRIPTIONS = Path(__file__).with_name("sales_cn.descriptions.yaml")
C = sa.Column


def _fk(target: str) -> sa.ForeignKey:
    return sa.ForeignKey(target)


def metadata() -> sa.MetaData:
    md = sa.MetaData()
    sa.Table("categories", md, C("category_id", sa.Integer, primary_key=True, autoincrement=False),
             C("category_name", sa.String(50), nullable=False), C("parent_id", sa.Integer, _fk("categories.category_id")))
    sa.Table("suppliers", md, C("supplier_id", sa.Integer, primary_key=True, autoincrement=False),
             C("supplier_name", sa.String(100), nullable=False), C("city", sa.String(20)),
             C("contact_phone", sa.String(20)), C("rating", sa.Integer))
    sa.Table("products", md, C("product_id", sa.Integer, primary_key=True, autoincrement=False),
             C("product_name", sa.String(100), nullable=False),
             C("category_id", sa.Integer, _fk("categories.category_id"), nullable=False),
             C("supplier_id", sa.Integer, _fk("suppliers.supplier_id")),
             C("unit_price", sa.Numeric(10, 2), nullable=False), C("launch_date", sa.Date), C("is_active", sa.Boolean))
    sa.Table("stores", md, C("store_id", sa.Integer, primary_key=True, autoincrement=False),
             C("store_name", sa.String(100), nullable=False), C("province", sa.String(20)), C("city", sa.String(20)),
             C("open_date", sa.Date), C("area_sqm", sa.Integer))
    sa.Table("employees", md, C("employee_id", sa.Integer, primary_key=True, autoincrement=False),
             C("employee_name", sa.String(50), nullable=False), C("store_id", sa.Integer, _fk("stores.store_id")),
             C("position", sa.String(20)), C("hire_date", sa.Date), C("salary", sa.Numeric(10, 2)),
             C("manager_id", sa.Integer, _fk("employees.employee_id")))
    sa.Table("customers", md, C("customer_id", sa.Integer, primary_key=True, autoincrement=False),
             C("customer_name", sa.String(50), nullable=False), C("gender", sa.String(4)), C("birth_date", sa.Date),
             C("city", sa.String(20)), C("member_level", sa.String(10)), C("register_date", sa.Date),
             C("phone", sa.String(20)))
    sa.Table("orders", md, C("order_id", sa.Integer, primary_key=True, autoincrement=False),
             C("customer_id", sa.Integer, _fk("customers.customer_id"), nullable=False),
             C("store_id", sa.Integer, _fk("stores.store_id"), nullable=False),
             C("employee_id", sa.Integer, _fk("employees.employee_id")),
             C("order_date", sa.Date, nullable=False), C("status", sa.String(10)), C("channel", sa.String(10)),
             C("total_amount", sa.Numeric(12, 2)))
    sa.Table("order_items", md, C("order_id", sa.Integer, _fk("orders.order_id"), primary_key=True, autoincrement=False),
             C("line_no", sa.Integer, primary_key=True, autoincrement=False),
             C("product_id", sa.Integer, _fk("products.product_id"), nullable=False),
             C("quantity", sa.Integer, nullable=False), C("unit_price", sa.Numeric(10, 2), nullable=False),
             C("discount", sa.Numeric(4, 2)))
    sa.Table("inventory", md, C("store_id", sa.Integer, _fk("stores.store_id"), primary_key=True, autoincrement=False),
             C("product_id", sa.Integer, _fk("products.product_id"), primary_key=True, autoincrement=False),
             C("quantity", sa.Integer, nullable=False), C("updated_at", sa.Date))
    sa.Table("payments", md, C("payment_id", sa.Integer, primary_key=True, autoincrement=False),
             C("order_id", sa.Integer, _fk("orders.order_id"), nullable=False), C("method", sa.String(10)),
             C("amount", sa.Numeric(12, 2)), C("paid_at", sa.Date))
    _apply_comments(md)
    return md


def _apply_comments(md: sa.MetaData) -> None:
    desc = yaml.safe_load(DESCRIPTIONS.read_text(encoding="utf-8"))["tables"]
    for table in md.tables.values():
        table.comment = desc[table.name]["comment"]
        for col in table.columns:
            col.comment = desc[table.name]["columns"][col.name]


SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = ["伟", "芳", "娜", "敏", "静", "磊", "洋", "艳", "勇", "军", "杰", "娟", "涛", "明", "超", "秀英", "丽", "强", "平", "刚", "桂英", "建华", "晓东", "雨欣"]
CITIES = {"北京": "北京", "上海": "上海", "广州": "广东", "深圳": "广东", "杭州": "浙江", "宁波": "浙江",
          "成都": "四川", "武汉": "湖北", "南京": "江苏", "苏州": "江苏", "西安": "陕西", "重庆": "重庆"}
CATEGORIES = [(1, "食品饮料", None), (2, "家用电器", None), (3, "服装鞋帽", None), (4, "日用百货", None),
              (5, "零食", 1), (6, "饮料", 1), (7, "厨房电器", 2), (8, "生活电器", 2), (9, "男装", 3),
              (10, "女装", 3), (11, "清洁用品", 4), (12, "个人护理", 4)]
PRODUCTS = {5: ["薯片", "牛肉干", "坚果礼盒", "巧克力", "饼干"], 6: ["矿泉水", "绿茶", "橙汁", "咖啡", "酸奶"],
            7: ["电饭煲", "微波炉", "榨汁机", "电磁炉", "空气炸锅"], 8: ["吸尘器", "电风扇", "加湿器", "电熨斗", "吹风机"],
            9: ["衬衫", "夹克", "牛仔裤", "运动鞋", "T恤"], 10: ["连衣裙", "风衣", "半身裙", "高跟鞋", "毛衣"],
            11: ["洗衣液", "洗洁精", "消毒液", "抽纸", "垃圾袋"], 12: ["牙膏", "洗发水", "沐浴露", "面霜", "剃须刀"]}
PRICE_RANGE = {5: (5, 120), 6: (2, 40), 7: (150, 900), 8: (80, 1500), 9: (60, 600), 10: (80, 900), 11: (5, 60), 12: (10, 300)}


def _day(rng: random.Random, start: dt.date, end: dt.date) -> dt.date:
    return start + dt.timedelta(days=rng.randrange((end - start).days))


def rows(seed: int = 20260101) -> dict[str, list[dict]]:
    rng = random.Random(seed)
    person = lambda: rng.choice(SURNAMES) + rng.choice(GIVEN)  # noqa: E731
    cities = list(CITIES)
    out: dict[str, list[dict]] = {}
    out["categories"] = [dict(category_id=i, category_name=n, parent_id=p) for i, n, p in CATEGORIES]
    out["suppliers"] = [
        dict(supplier_id=i, supplier_name=f"{c}{s}贸易有限公司", city=c, contact_phone=f"0{rng.randint(10, 99)}-{rng.randint(1000000, 9999999)}",
             rating=rng.randint(1, 5))
        for i, (c, s) in enumerate(((rng.choice(cities), w) for w in "华鑫盛源恒达丰泰瑞祥和兴隆"), start=1)
    ]
    products = []
    for cat, names in PRODUCTS.items():
        lo, hi = PRICE_RANGE[cat]
        for name in names:
            for grade in ("标准款", "高级款"):
                products.append(dict(product_id=len(products) + 1, product_name=f"{name}{grade}", category_id=cat,
                                     supplier_id=rng.randint(1, len(out["suppliers"])),
                                     unit_price=round(rng.uniform(lo, hi) * (1.6 if grade == "高级款" else 1), 2),
                                     launch_date=_day(rng, dt.date(2018, 1, 1), dt.date(2024, 6, 1)),
                                     is_active=rng.random() > 0.1))
    out["products"] = products
    out["stores"] = [
        dict(store_id=i, store_name=f"{c}{'中心' if i % 2 else '万达'}店", province=CITIES[c], city=c,
             open_date=_day(rng, dt.date(2012, 1, 1), dt.date(2023, 1, 1)), area_sqm=rng.randrange(300, 5000, 50))
        for i, c in enumerate(cities, start=1)
    ]
    employees = []
    for store in out["stores"]:
        manager = len(employees) + 1
        for k in range(5):
            employees.append(dict(employee_id=len(employees) + 1, employee_name=person(), store_id=store["store_id"],
                                  position="店长" if k == 0 else rng.choice(["导购", "收银员", "仓管员"]),
                                  hire_date=_day(rng, store["open_date"], dt.date(2024, 12, 1)),
                                  salary=round(rng.uniform(12000, 20000) if k == 0 else rng.uniform(4500, 9000), 2),
                                  manager_id=None if k == 0 else manager))
    out["employees"] = employees
    out["customers"] = [
        dict(customer_id=i, customer_name=person(), gender=rng.choice(["男", "女"]),
             birth_date=_day(rng, dt.date(1960, 1, 1), dt.date(2005, 1, 1)), city=rng.choice(cities),
             member_level=rng.choices(["普通", "银卡", "金卡", "钻石"], [55, 25, 15, 5])[0],
             register_date=_day(rng, dt.date(2019, 1, 1), dt.date(2024, 12, 1)),
             phone=None if rng.random() < 0.1 else f"1{rng.choice('3589')}{rng.randint(100000000, 999999999)}")
        for i in range(1, 301)
    ]
    orders, items, payments = [], [], []
    for oid in range(1, 801):
        store = rng.choice(out["stores"])
        staff = [e for e in employees if e["store_id"] == store["store_id"]]
        status = rng.choices(["已完成", "已发货", "待付款", "已取消"], [70, 12, 10, 8])[0]
        lines = []
        for line_no in range(1, rng.randint(1, 5) + 1):
            prod = rng.choice(products)
            disc = rng.choice([1.0, 1.0, 0.95, 0.9, 0.8])
            lines.append(dict(order_id=oid, line_no=line_no, product_id=prod["product_id"], quantity=rng.randint(1, 6),
                              unit_price=prod["unit_price"], discount=disc))
        total = round(sum(l["quantity"] * float(l["unit_price"]) * l["discount"] for l in lines), 2)
        day = _day(rng, dt.date(2023, 1, 1), dt.date(2025, 1, 1))
        orders.append(dict(order_id=oid, customer_id=rng.randint(1, 300), store_id=store["store_id"],
                           employee_id=None if rng.random() < 0.05 else rng.choice(staff)["employee_id"],
                           order_date=day, status=status, channel=rng.choice(["门店", "小程序", "APP", "电话"]),
                           total_amount=total))
        items.extend(lines)
        if status in ("已完成", "已发货"):
            payments.append(dict(payment_id=len(payments) + 1, order_id=oid,
                                 method=rng.choice(["微信支付", "支付宝", "银行卡", "现金"]), amount=total,
                                 paid_at=day + dt.timedelta(days=rng.randint(0, 2))))
    out["orders"], out["order_items"], out["payments"] = orders, items, payments
    out["inventory"] = [
        dict(store_id=s["store_id"], product_id=p["product_id"], quantity=rng.randint(0, 300),
             updated_at=_day(rng, dt.date(2024, 10, 1), dt.date(2025, 1, 1)))
        for s in out["stores"] for p in rng.sample(products, 40)
    ]
    return out
