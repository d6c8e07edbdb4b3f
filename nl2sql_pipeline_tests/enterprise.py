"""A Chinese ERP/HR/finance schema for tests (13 tables), and a small English HR variant (whose
expense claims reference staff twice: the claimant and the approver).

Comments carry legends, units, ranges and formats in the styles real schemas use; departments
and employees reference themselves; deliveries reference contract lines by a composite key;
salaries, levels and amounts repeat, so ORDER BY ... LIMIT meets ties. On PostgreSQL and MariaDB
the comments are real COMMENTs; SQLite gets them from a descriptions file (some columns in the
structured `{label, values}` form).

The legends are also kept here as data (`CODED`), the truth the tests' independent checkers use.
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import sqlalchemy as sa
import yaml

C = sa.Column
I, S, D, N = sa.Integer, sa.String, sa.Date, sa.Numeric

# (table, column) -> code -> meaning; the columns whose values are codes, per the comments below.
CODED: dict[tuple[str, str], dict[str, str]] = {
    ("departments", "dept_type"): {"1": "职能", "2": "业务", "3": "研发"},
    ("employees", "gender"): {"M": "男", "F": "女"},
    ("employees", "status"): {"1": "在职", "2": "离职", "3": "停薪留职"},
    ("customers", "cust_type"): {"1": "个人", "2": "企业"},
    ("products", "is_active"): {"Y": "是", "N": "否"},
    ("sales_contracts", "status"): {"0": "草稿", "1": "生效", "2": "终止"},
    ("deliveries", "delivery_status"): {"1": "待发货", "2": "已发货", "3": "已签收"},
    ("invoices", "invoice_type"): {"1": "增值税专用发票", "2": "增值税普通发票", "3": "电子发票"},
    ("invoices", "is_red"): {"1": "是", "0": "否"},
    ("operation_logs", "action"): {"C": "新增", "U": "修改", "D": "删除"},
    ("staff", "status"): {"1": "active", "2": "left", "3": "on leave"},
    ("staff", "gender"): {"M": "male", "F": "female"},
    ("expense_claims", "approved"): {"Y": "yes", "N": "no"},
    ("expense_claims", "expense_type"): {"1": "travel", "2": "meals", "3": "training"},
}
# Ordinal codes without a legend (levels, grades): no arithmetic either.
LEVELS = {("employees", "job_level"), ("customers", "credit_grade"), ("staff", "grade")}
# Columns given in the descriptions file's structured form (the rest as plain strings).
STRUCTURED = {("employees", "status"), ("invoices", "invoice_type"), ("sales_contracts", "amount")}


def _fk(target: str) -> sa.ForeignKey:
    return sa.ForeignKey(target)


def metadata() -> sa.MetaData:
    md = sa.MetaData()
    sa.Table("departments", md,
             C("dept_id", I, primary_key=True, autoincrement=False, comment="部门编号"),
             C("dept_name", S(40), nullable=False, comment="部门名称"),
             C("parent_dept_id", I, _fk("departments.dept_id"), comment="上级部门编号（顶级部门为空）"),
             C("city", S(20), comment="所在城市"),
             C("dept_type", I, comment="部门类型：1职能 2业务 3研发"),
             C("established_date", D, comment="成立日期"), comment="部门信息表")
    sa.Table("employees", md,
             C("emp_id", I, primary_key=True, autoincrement=False, comment="员工编号"),
             C("emp_name", S(30), nullable=False, comment="员工姓名"),
             C("gender", S(1), comment="性别：M男 F女"),
             C("dept_id", I, _fk("departments.dept_id"), comment="所属部门编号"),
             C("manager_id", I, _fk("employees.emp_id"), comment="直属上级编号"),
             C("job_level", I, comment="职级，1-10"),
             C("status", I, comment="在职状态：1在职 2离职 3停薪留职"),
             C("hire_date", D, comment="入职日期"),
             C("monthly_salary", N(10, 2), comment="月薪（元）"),
             C("email", S(60), comment="邮箱"), comment="员工信息表")
    sa.Table("customers", md,
             C("cust_id", I, primary_key=True, autoincrement=False, comment="客户编号"),
             C("cust_name", S(60), nullable=False, comment="客户名称（全称）"),
             C("cust_type", I, comment="客户类型 1-个人 2-企业"),
             C("credit_grade", S(1), comment="信用等级A-E"),
             C("city", S(20), comment="所在城市"),
             C("sales_rep_id", I, _fk("employees.emp_id"), comment="客户经理编号"),
             C("register_date", D, comment="注册日期"), comment="客户档案表")
    sa.Table("products", md,
             C("product_id", I, primary_key=True, autoincrement=False, comment="物料编号"),
             C("product_name", S(40), nullable=False, comment="物料名称"),
             C("category", S(10), comment="物料类别：原材料/半成品/成品"),
             C("std_price", N(10, 2), comment="标准单价（元）"),
             C("weight_kg", N(8, 2), comment="净重(kg)"),
             C("is_active", S(1), comment="是否启用 Y/N"), comment="物料表")
    sa.Table("warehouses", md,
             C("wh_id", I, primary_key=True, autoincrement=False, comment="仓库编号"),
             C("wh_name", S(40), nullable=False, comment="仓库名称"),
             C("city", S(20), comment="所在城市"),
             C("keeper_id", I, _fk("employees.emp_id"), comment="仓库管理员编号"),
             C("capacity", I, comment="库容（立方米）"), comment="仓库表")
    sa.Table("inventory", md,
             C("wh_id", I, _fk("warehouses.wh_id"), primary_key=True, autoincrement=False, comment="仓库编号"),
             C("product_id", I, _fk("products.product_id"), primary_key=True, autoincrement=False, comment="物料编号"),
             C("qty", I, comment="库存数量（件）"),
             C("last_check_date", D, comment="盘点日期"), comment="库存表")
    sa.Table("sales_contracts", md,
             C("contract_id", I, primary_key=True, autoincrement=False, comment="合同编号"),
             C("customer_id", I, _fk("customers.cust_id"), nullable=False, comment="客户编号"),
             C("signer_id", I, _fk("employees.emp_id"), comment="签约人编号"),
             C("sign_date", D, comment="签订日期"),
             C("amount", N(12, 2), comment="合同金额（万元）"),
             C("status", I, comment="合同状态(0:草稿,1:生效,2:终止)"),
             C("pay_method", S(6), comment="支付方式：电汇/承兑/现金"), comment="销售合同表")
    sa.Table("contract_lines", md,
             C("contract_id", I, _fk("sales_contracts.contract_id"), primary_key=True, autoincrement=False, comment="合同编号"),
             C("line_no", I, primary_key=True, autoincrement=False, comment="行号"),
             C("product_id", I, _fk("products.product_id"), nullable=False, comment="物料编号"),
             C("quantity", I, comment="数量（件）"),
             C("unit_price", N(10, 2), comment="成交单价（元）"),
             C("discount_rate", N(4, 2), comment="折扣率，0-1"), comment="合同明细表")
    sa.Table("deliveries", md,
             C("delivery_id", I, primary_key=True, autoincrement=False, comment="发货单号"),
             C("contract_id", I, comment="合同编号"),
             C("line_no", I, comment="合同行号"),
             C("wh_id", I, _fk("warehouses.wh_id"), comment="发货仓库编号"),
             C("ship_date", D, comment="发货日期"),
             C("ship_qty", I, comment="发货数量（件）"),
             C("delivery_status", I, comment="发货状态：1待发货 2已发货 3已签收"),
             sa.ForeignKeyConstraint(["contract_id", "line_no"], ["contract_lines.contract_id", "contract_lines.line_no"]),
             comment="发货单表")
    sa.Table("invoices", md,
             C("invoice_id", I, primary_key=True, autoincrement=False, comment="发票编号"),
             C("contract_id", I, _fk("sales_contracts.contract_id"), comment="合同编号"),
             C("invoice_type", I, comment="发票类型：1增值税专用发票；2增值税普通发票；3电子发票"),
             C("is_red", I, comment="是否红冲发票：1是 0否"),
             C("invoice_amount", N(12, 2), comment="开票金额（元）"),
             C("invoice_date", D, comment="开票日期"),
             C("tax_rate", I, comment="税率，单位：%"), comment="发票表")
    sa.Table("receipts", md,
             C("receipt_id", I, primary_key=True, autoincrement=False, comment="回款编号"),
             C("contract_id", I, _fk("sales_contracts.contract_id"), comment="合同编号"),
             C("receipt_date", D, comment="回款日期"),
             C("receipt_amount", N(12, 2), comment="回款金额（元）"),
             C("receipt_method", S(6), comment="回款方式：电汇/承兑/现金"), comment="回款记录表")
    sa.Table("payroll", md,
             C("payroll_id", I, primary_key=True, autoincrement=False, comment="工资单编号"),
             C("emp_id", I, _fk("employees.emp_id"), nullable=False, comment="员工编号"),
             C("pay_month", S(7), comment="发薪月份，格式YYYY-MM"),
             C("gross_pay", N(10, 2), comment="应发工资（元）"),
             C("bonus", N(10, 2), comment="奖金（元）"), comment="工资发放表")
    sa.Table("operation_logs", md,
             C("log_id", I, primary_key=True, autoincrement=False, comment="日志编号"),
             C("operator_name", S(30), comment="操作人"),
             C("action", S(1), comment="操作类型：C新增 U修改 D删除"),
             C("log_time", sa.DateTime, comment="操作时间"),
             C("remark", S(100), comment="备注"), comment="操作日志表（无外键）")
    return md


def metadata_en() -> sa.MetaData:
    md = sa.MetaData()
    sa.Table("offices", md,
             C("office_id", I, primary_key=True, autoincrement=False, comment="office id"),
             C("office_name", S(40), comment="office name"),
             C("city", S(20), comment="city"),
             C("floor_area", I, comment="floor area (sqm)"), comment="Offices")
    sa.Table("staff", md,
             C("staff_id", I, primary_key=True, autoincrement=False, comment="staff id"),
             C("full_name", S(40), comment="full name"),
             C("gender", S(1), comment="gender (M/F)"),
             C("status", I, comment="status: 1=active, 2=left, 3=on leave"),
             C("grade", I, comment="pay grade, 1-8"),
             C("office_id", I, _fk("offices.office_id"), comment="office id"),
             C("manager_id", I, _fk("staff.staff_id"), comment="direct manager id"),
             C("annual_salary", N(10, 2), comment="annual salary (USD)"),
             C("start_date", D, comment="start date"), comment="Staff members")
    sa.Table("expense_claims", md,
             C("claim_id", I, primary_key=True, autoincrement=False, comment="claim id"),
             C("staff_id", I, _fk("staff.staff_id"), comment="staff id"),
             C("approver_id", I, _fk("staff.staff_id"), comment="approver id"),  # a second key to staff
             C("expense_type", I, comment="expense type: 1=travel, 2=meals, 3=training"),
             C("amount", N(10, 2), comment="amount (USD)"),
             C("approved", S(1), comment="approved: Y/N"),
             C("claim_month", S(7), comment="Claim month, format YYYY-MM"), comment="Expense claims")
    return md


_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
_GIVEN = ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "涛", "明", "超", "秀英", "桂英", "建华", "志强"]
_CITIES = ["上海", "苏州", "杭州", "南京", "北京", "深圳"]
_PRODUCTS = ["冷轧钢板", "镀锌卷", "铝型材", "铜排", "轴承", "齿轮箱", "电机", "减速机", "液压泵", "控制柜"]


def rows(rng: random.Random) -> dict[str, list[dict]]:
    day = lambda y0, y1: dt.date(rng.randint(y0, y1), rng.randint(1, 12), rng.randint(1, 28))  # noqa: E731
    depts = [{"dept_id": 1, "dept_name": "总经办", "parent_dept_id": None, "city": "上海", "dept_type": 1,
              "established_date": dt.date(2010, 3, 1)}]
    names = ["财务部", "人力资源部", "华东销售部", "华南销售部", "研发中心", "质量部", "采购部", "苏州工厂", "杭州分公司",
             "软件研发部", "硬件研发部"]
    for i, name in enumerate(names, start=2):
        parent = 1 if i <= 6 else rng.choice([4, 5, 6])
        depts.append({"dept_id": i, "dept_name": name, "parent_dept_id": parent, "city": rng.choice(_CITIES),
                      "dept_type": 2 if "销售" in name or "分公司" in name else 3 if "研发" in name else 1,
                      "established_date": day(2010, 2020)})
    emps = []
    for i in range(1, 121):
        emps.append({"emp_id": i, "emp_name": rng.choice(_SURNAMES) + rng.choice(_GIVEN), "gender": rng.choice("MF"),
                     "dept_id": rng.randint(1, 12), "manager_id": None if i <= 3 else rng.randint(1, min(i - 1, 20)),
                     "job_level": rng.choice([3, 4, 4, 5, 5, 6, 7, 8, 10, 10]), "status": rng.choice([1, 1, 1, 1, 2, 3]),
                     "hire_date": day(2012, 2024), "monthly_salary": rng.choice([8000, 9500, 12000, 12000, 15000, 18000, 25000]),
                     "email": f"user{i}@example.com"})
    custs = [{"cust_id": i, "cust_name": f"{rng.choice(_CITIES)}{rng.choice(['恒达', '宏远', '永兴', '华信', '金源'])}"
              f"{rng.choice(['机械', '贸易', '科技', '实业'])}有限公司{i}", "cust_type": rng.choice([1, 2, 2]),
              "credit_grade": rng.choice("ABBCCDE"), "city": rng.choice(_CITIES), "sales_rep_id": rng.randint(4, 60),
              "register_date": day(2015, 2024)} for i in range(1, 81)]
    prods = [{"product_id": i, "product_name": f"{_PRODUCTS[i % 10]}{chr(65 + i // 10)}型",
              "category": rng.choice(["原材料", "半成品", "成品"]), "std_price": rng.choice([120, 350, 350, 980, 1500, 2600]),
              "weight_kg": rng.choice([1.5, 2.0, 12.5, 40.0]), "is_active": rng.choice("YYYN")} for i in range(1, 41)]
    whs = [{"wh_id": i, "wh_name": f"{c}仓", "city": c, "keeper_id": rng.randint(20, 80), "capacity": rng.choice([5000, 8000, 8000])}
           for i, c in enumerate(_CITIES[:5], start=1)]
    inv = [{"wh_id": w, "product_id": p, "qty": rng.choice([0, 50, 100, 100, 300]), "last_check_date": day(2024, 2025)}
           for w in range(1, 6) for p in range(1, 41) if rng.random() < 0.7]
    contracts, lines, deliveries, invoices, receipts = [], [], [], [], []
    for i in range(1, 151):
        contracts.append({"contract_id": i, "customer_id": rng.randint(1, 80), "signer_id": rng.randint(4, 60),
                          "sign_date": day(2021, 2025), "amount": rng.choice([5, 12.5, 20, 20, 48, 100, 150]),
                          "status": rng.choice([0, 1, 1, 1, 2]), "pay_method": rng.choice(["电汇", "电汇", "承兑", "现金"])})
        for ln in range(1, rng.randint(1, 4) + 1):
            lines.append({"contract_id": i, "line_no": ln, "product_id": rng.randint(1, 40), "quantity": rng.choice([10, 20, 50, 100]),
                          "unit_price": rng.choice([100, 300, 900, 1400]), "discount_rate": rng.choice([0.9, 0.95, 1.0])})
    for n, line in enumerate(lines, start=1):
        if rng.random() < 0.75:
            deliveries.append({"delivery_id": n, "contract_id": line["contract_id"], "line_no": line["line_no"],
                               "wh_id": rng.randint(1, 5), "ship_date": day(2022, 2025), "ship_qty": line["quantity"],
                               "delivery_status": rng.choice([1, 2, 3, 3])})
    for i in range(1, 201):
        invoices.append({"invoice_id": i, "contract_id": rng.randint(1, 150), "invoice_type": rng.choice([1, 1, 2, 3]),
                         "is_red": rng.choice([0, 0, 0, 0, 1]), "invoice_amount": rng.choice([5000, 12000, 30000, 30000, 80000]),
                         "invoice_date": day(2022, 2025), "tax_rate": rng.choice([6, 9, 13, 13])})
        receipts.append({"receipt_id": i, "contract_id": rng.randint(1, 150), "receipt_date": day(2022, 2025),
                         "receipt_amount": rng.choice([5000, 10000, 20000, 20000, 50000]),
                         "receipt_method": rng.choice(["电汇", "承兑", "现金"])})
    payroll = [{"payroll_id": (e - 1) * 5 + m, "emp_id": e, "pay_month": f"2025-{m:02d}",
                "gross_pay": emps[e - 1]["monthly_salary"], "bonus": rng.choice([0, 0, 500, 1000, 2000])}
               for e in range(1, 121) for m in range(1, 6)]
    logs = [{"log_id": i, "operator_name": rng.choice(_SURNAMES) + rng.choice(_GIVEN), "action": rng.choice("CUUD"),
             "log_time": dt.datetime(2025, rng.randint(1, 6), rng.randint(1, 28), rng.randint(8, 18), rng.randint(0, 59)),
             "remark": rng.choice(["修改客户信息", "新增合同", "删除草稿合同", "调整库存", "审核发票"])} for i in range(1, 101)]
    return {"departments": depts, "employees": emps, "customers": custs, "products": prods, "warehouses": whs,
            "inventory": inv, "sales_contracts": contracts, "contract_lines": lines, "deliveries": deliveries,
            "invoices": invoices, "receipts": receipts, "payroll": payroll, "operation_logs": logs}


def rows_en(rng: random.Random) -> dict[str, list[dict]]:
    offices = [{"office_id": i, "office_name": f"{c} office", "city": c, "floor_area": rng.choice([400, 800, 800, 1200])}
               for i, c in enumerate(["London", "Berlin", "Austin", "Toronto"], start=1)]
    first = ["Alice", "Bob", "Carol", "David", "Erin", "Frank", "Grace", "Henry", "Ivy", "Jack"]
    staff = [{"staff_id": i, "full_name": f"{rng.choice(first)} {rng.choice(['Smith', 'Jones', 'Brown', 'Lee'])}",
              "gender": rng.choice("MF"), "status": rng.choice([1, 1, 1, 2, 3]), "grade": rng.choice([2, 3, 3, 5, 8]),
              "office_id": rng.randint(1, 4), "manager_id": None if i <= 2 else rng.randint(1, min(i - 1, 8)),
              "annual_salary": rng.choice([52000, 61000, 61000, 75000, 98000]),
              "start_date": dt.date(rng.randint(2015, 2024), rng.randint(1, 12), 1)} for i in range(1, 61)]
    claims = [{"claim_id": i, "staff_id": rng.randint(1, 60), "expense_type": rng.choice([1, 1, 2, 3]),
               "amount": rng.choice([45, 120, 120, 800, 1500]), "approved": rng.choice("YYN"),
               "claim_month": f"2025-{rng.randint(1, 6):02d}", "approver_id": rng.randint(1, 8)} for i in range(1, 151)]
    return {"offices": offices, "staff": staff, "expense_claims": claims}


def descriptions(md: sa.MetaData) -> dict:
    """The comments as a descriptions file (SQLite keeps none); a few in the structured form."""
    from nl2sql_pipeline.core.semantics.legend import parse_comment

    tables: dict = {}
    for t in md.sorted_tables:
        cols: dict = {}
        for c in t.columns:
            if (t.name, c.name) in STRUCTURED:
                p = parse_comment(c.comment)
                cols[str(c.name)] = {"label": p.label, **({"values": dict(p.values)} if p.values else {}),
                                **({"unit": p.unit} if p.unit else {})}
            else:
                cols[str(c.name)] = c.comment
        tables[str(t.name)] = {"comment": t.comment, "columns": cols}
    return {"tables": tables}


def build(url: str, english: bool = False, seed: int = 15) -> None:
    md = metadata_en() if english else metadata()
    data = (rows_en if english else rows)(random.Random(seed))
    engine = sa.create_engine(url)
    try:
        md.create_all(engine)
        with engine.begin() as conn:
            for table in md.sorted_tables:
                if data[table.name]:
                    conn.execute(table.insert(), data[table.name])
    finally:
        engine.dispose()


def build_sqlite(folder: Path, english: bool = False) -> tuple[Path, Path]:
    """(database file, descriptions file) in `folder`."""
    name = "hr_en" if english else "erp_cn"
    path, desc = folder / f"{name}.sqlite", folder / f"{name}.descriptions.yaml"
    if not path.exists():
        build(f"sqlite:///{path}", english=english)
        desc.write_text(yaml.safe_dump(descriptions(metadata_en() if english else metadata()), allow_unicode=True),
                        encoding="utf-8")
    return path, desc
