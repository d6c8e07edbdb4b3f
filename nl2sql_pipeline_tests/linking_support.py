"""A warehouse-management schema that looks like a company's: 16 tables, English snake_case and
camelCase names, Chinese comments with code legends and units, a self-reference, composite keys,
a bridge table. Built on SQLite (comments in a descriptions file, as SQLite keeps none) or on
PostgreSQL (real COMMENTs), with a few deterministic rows so the value index has values."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
import yaml

C = sa.Column
I, T, N, D = sa.Integer, sa.String(60), sa.Numeric(12, 2), sa.Date


def _fk(target: str) -> sa.ForeignKey:
    return sa.ForeignKey(target)


def wms_metadata() -> sa.MetaData:
    md = sa.MetaData()
    sa.Table("warehouse", md, C("wh_id", I, primary_key=True, comment="仓库编号"), C("wh_name", T, comment="仓库名称"),
             C("city", T, comment="所在城市"), C("wh_type", I, comment="仓库类型: 1=自营 2=第三方"), comment="仓库")
    sa.Table("sku_category", md, C("category_id", I, primary_key=True, comment="类目编号"),
             C("category_name", T, comment="类目名称"), C("parent_id", I, _fk("sku_category.category_id"), comment="上级类目"),
             comment="商品类目")
    sa.Table("sku", md, C("sku_id", I, primary_key=True, comment="商品编号"), C("sku_name", T, comment="商品名称"),
             C("category_id", I, _fk("sku_category.category_id"), comment="类目编号"), C("unit", T, comment="计量单位"),
             C("weight_kg", N, comment="单件重量(千克)"), comment="商品SKU")
    sa.Table("inventory", md, C("wh_id", I, _fk("warehouse.wh_id"), primary_key=True, comment="仓库编号"),
             C("sku_id", I, _fk("sku.sku_id"), primary_key=True, comment="商品编号"),
             C("qty_on_hand", I, comment="在库数量"), C("updated_at", D, comment="更新日期"), comment="库存")
    sa.Table("supplier", md, C("supplierId", I, primary_key=True, comment="供应商编号"),
             C("supplierName", T, comment="供应商名称"), C("province", T, comment="所在省份"), comment="供应商")
    sa.Table("purchase_order", md, C("po_id", I, primary_key=True, comment="采购单号"),
             C("supplierId", I, _fk("supplier.supplierId"), comment="供应商编号"), C("wh_id", I, _fk("warehouse.wh_id"), comment="入库仓库"),
             C("order_date", D, comment="下单日期"), C("status", I, comment="状态: 0=草稿 1=已下单 2=已入库"), comment="采购单")
    sa.Table("purchase_order_line", md, C("po_id", I, _fk("purchase_order.po_id"), primary_key=True, comment="采购单号"),
             C("line_no", I, primary_key=True, comment="行号"), C("sku_id", I, _fk("sku.sku_id"), comment="商品编号"),
             C("qty", I, comment="采购数量"), C("unit_cost_cny", N, comment="采购单价(元)"), comment="采购单明细")
    sa.Table("customer", md, C("customer_id", I, primary_key=True, comment="客户编号"), C("customer_name", T, comment="客户名称"),
             C("city", T, comment="所在城市"), C("vip_level", I, comment="会员等级: 0=普通 1=银卡 2=金卡"), comment="客户")
    sa.Table("sales_order", md, C("so_id", I, primary_key=True, comment="销售单号"),
             C("customer_id", I, _fk("customer.customer_id"), comment="客户编号"), C("wh_id", I, _fk("warehouse.wh_id"), comment="发货仓库"),
             C("order_time", D, comment="下单时间"), C("status", I, comment="状态: 0=待发货 1=已发货 2=已签收 3=已取消"),
             comment="销售订单")
    sa.Table("sales_order_line", md, C("so_id", I, _fk("sales_order.so_id"), primary_key=True, comment="销售单号"),
             C("line_no", I, primary_key=True, comment="行号"), C("sku_id", I, _fk("sku.sku_id"), comment="商品编号"),
             C("qty", I, comment="销售数量"), C("price_cny", N, comment="成交单价(元)"), comment="销售订单明细")
    sa.Table("carrier", md, C("carrierId", I, primary_key=True, comment="承运商编号"), C("carrierName", T, comment="承运商名称"),
             comment="物流承运商")
    sa.Table("shipment", md, C("shipment_id", I, primary_key=True, comment="运单号"),
             C("so_id", I, _fk("sales_order.so_id"), comment="销售单号"), C("carrierId", I, _fk("carrier.carrierId"), comment="承运商编号"),
             C("shipped_at", D, comment="发货日期"), C("weight_kg", N, comment="包裹重量(千克)"), comment="发货运单")
    sa.Table("employee", md, C("emp_id", I, primary_key=True, comment="员工编号"), C("emp_name", T, comment="员工姓名"),
             C("wh_id", I, _fk("warehouse.wh_id"), comment="所属仓库"), C("manager_id", I, _fk("employee.emp_id"), comment="直属上级"),
             C("title", T, comment="岗位"), comment="仓库员工")
    sa.Table("stock_movement", md, C("move_id", I, primary_key=True, comment="流水号"),
             C("wh_id", I, _fk("warehouse.wh_id"), comment="仓库编号"), C("sku_id", I, _fk("sku.sku_id"), comment="商品编号"),
             C("move_type", I, comment="类型: 1=入库 2=出库 3=调拨"), C("qty", I, comment="变动数量"), C("moved_at", D, comment="发生日期"),
             comment="库存流水")
    sa.Table("return_order", md, C("return_id", I, primary_key=True, comment="退货单号"),
             C("so_id", I, _fk("sales_order.so_id"), comment="原销售单号"), C("reason", T, comment="退货原因"),
             C("refund_cny", N, comment="退款金额(元)"), comment="退货单")
    sa.Table("audit_log", md, C("log_id", I, primary_key=True, comment="日志编号"),
             C("emp_id", I, _fk("employee.emp_id"), comment="操作员工"), C("action", T, comment="操作"),
             C("logged_at", D, comment="操作日期"), comment="操作日志")
    return md


ROWS: dict[str, list[dict]] = {
    "warehouse": [{"wh_id": i, "wh_name": n, "city": c, "wh_type": 1 + i % 2}
                  for i, (n, c) in enumerate([("上海仓", "上海"), ("北京仓", "北京"), ("广州仓", "广州"), ("成都仓", "成都")], 1)],
    "sku_category": [{"category_id": 1, "category_name": "食品", "parent_id": None},
                     {"category_id": 2, "category_name": "饮料", "parent_id": 1}],
    "sku": [{"sku_id": i, "sku_name": n, "category_id": 1 + i % 2, "unit": "箱", "weight_kg": 1.5 * i}
            for i, n in enumerate(["矿泉水", "方便面", "牛奶", "饼干"], 1)],
    "carrier": [{"carrierId": 1, "carrierName": "顺丰速运"}, {"carrierId": 2, "carrierName": "中通快递"}],
    "supplier": [{"supplierId": 1, "supplierName": "康师傅", "province": "天津"},
                 {"supplierId": 2, "supplierName": "农夫山泉", "province": "浙江"}],
    "customer": [{"customer_id": 1, "customer_name": "张三", "city": "杭州", "vip_level": 2},
                 {"customer_id": 2, "customer_name": "李四", "city": "南京", "vip_level": 0}],
}


def descriptions(md: sa.MetaData) -> dict:
    return {"tables": {str(t.name): {"comment": t.comment, "columns": {str(c.name): c.comment for c in t.columns if c.comment}}
                       for t in md.sorted_tables}}


def build_wms(url: str) -> sa.MetaData:
    """Create the schema and its rows at `url` (SQLite file or a scratch PostgreSQL database)."""
    md = wms_metadata()
    engine = sa.create_engine(url)
    try:
        md.create_all(engine)
        with engine.begin() as conn:
            for table in md.sorted_tables:
                if table.name in ROWS:
                    conn.execute(table.insert(), ROWS[table.name])
    finally:
        engine.dispose()
    return md


def build_wms_sqlite(folder: Path) -> tuple[Path, Path]:
    """(SQLite file, descriptions YAML) of the warehouse schema."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "wms.sqlite"
    md = build_wms(f"sqlite:///{path}")
    desc = folder / "wms.descriptions.yaml"
    desc.write_text(yaml.safe_dump(descriptions(md), allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path, desc


# Questions with their gold SQL: Chinese, as the schema's users would ask them.
QUESTIONS = [
    ("上海仓有多少库存？", "SELECT sum(i.qty_on_hand) FROM inventory AS i JOIN warehouse AS w ON i.wh_id = w.wh_id WHERE w.wh_name = '上海仓'"),
    ("每个仓库的员工人数是多少？", "SELECT w.wh_name, count(*) FROM employee AS e JOIN warehouse AS w ON e.wh_id = w.wh_id GROUP BY w.wh_name"),
    ("顺丰速运一共发了多少运单？", "SELECT count(*) FROM shipment AS s JOIN carrier AS c ON s.carrierId = c.carrierId WHERE c.carrierName = '顺丰速运'"),
    ("哪些供应商在浙江？", "SELECT supplierName FROM supplier WHERE province = '浙江'"),
    ("金卡会员有哪些客户？", "SELECT customer_name FROM customer WHERE vip_level = 2"),
    ("已取消的销售订单有多少？", "SELECT count(*) FROM sales_order WHERE status = 3"),
    ("退款金额最高的退货单是哪个？", "SELECT return_id FROM return_order ORDER BY refund_cny DESC LIMIT 1"),
    ("每个商品类目下有多少商品？", "SELECT c.category_name, count(*) FROM sku AS s JOIN sku_category AS c ON s.category_id = c.category_id GROUP BY c.category_name"),
    ("各仓库的出库流水数量是多少？", "SELECT wh_id, count(*) FROM stock_movement WHERE move_type = 2 GROUP BY wh_id"),
    ("采购单明细中采购单价最高的商品名称是什么？", "SELECT s.sku_name FROM purchase_order_line AS l JOIN sku AS s ON l.sku_id = s.sku_id ORDER BY l.unit_cost_cny DESC LIMIT 1"),
    ("每个员工的直属上级是谁？", "SELECT e.emp_name, m.emp_name FROM employee AS e JOIN employee AS m ON e.manager_id = m.emp_id"),
    ("操作日志里每个员工的操作次数是多少？", "SELECT emp_id, count(*) FROM audit_log GROUP BY emp_id"),
    ("杭州的客户下了多少销售订单？", "SELECT count(*) FROM sales_order AS o JOIN customer AS c ON o.customer_id = c.customer_id WHERE c.city = '杭州'"),
    ("矿泉水在各仓库的在库数量是多少？", "SELECT i.wh_id, i.qty_on_hand FROM inventory AS i JOIN sku AS s ON i.sku_id = s.sku_id WHERE s.sku_name = '矿泉水'"),
    ("已入库的采购单有多少张？", "SELECT count(*) FROM purchase_order WHERE status = 2"),
    ("包裹重量超过10千克的运单有哪些？", "SELECT shipment_id FROM shipment WHERE weight_kg > 10"),
]
