"""Chinese questions from the IR: codes by their meaning, amounts with units, flags as yes/no,
joined rows by their role, in five styles (formal, colloquial, imperative, interrogative, concise)."""

from __future__ import annotations

from nl2sql_pipeline.core.synthesis.ir import Agg, Col, Cond, Item, Query, Tree, YearOf
from nl2sql_pipeline.core.synthesis.phrasing import Writer, col_label, cond_key, flag_core, is_temporal, item_key, rows_label
from nl2sql_pipeline.core.synthesis.schema import to_one
from nl2sql_pipeline.core.synthesis.text_zh_conds import ChineseConditions

AGG = {"sum": ("总{}", "{}总和"), "avg": ("平均{}", "{}的平均值"), "min": ("最低{}", "最小{}"), "max": ("最高{}", "最大{}")}
DATE_AGG = {"min": "最早{}", "max": "最晚{}"}
_GENERIC = {"数量", "个数", "总数", "数"}  # too bare without the table's name (read as a count)
_BARE = _GENERIC | {"方式", "日期", "时间", "金额"}  # 回款方式不是现金的回款, not 方式不是现金的回款
_OWNED = ("所", "以其为")  # 员工所管理的仓库: the base row's own rows, said without 的


def joined(of: str, what: str, entity: str) -> str:
    """`<of>的<what>`, without saying the entity twice: 库存数量不超过100件的库存 + 库存数量 ->
    …的库存数量, 部门 + 部门数量 -> 部门数量; a joined row's label (仓库管理员的邮箱) stays whole."""
    if what.startswith(entity) and of.endswith(entity) and "的" not in what:
        return of + what[len(entity):]
    return of + what if what.startswith(_OWNED) else f"{of}的{what}"


def _alias_of(it: Item) -> str | None:
    col = it if isinstance(it, Col) else it.arg
    return col.alias if isinstance(col, Col) else None


def stat_alias(q: Query, views: dict) -> str | None:
    """The alias whose rows a grouped statistic is over: its argument's, or COUNT(*)'s last to-many join."""
    for it in q.select:
        if isinstance(it, Agg):
            if it.arg is not None:
                return it.arg.alias
            many = [j for j in q.joins if not to_one(j.step, views)]
            return many[-1].right_alias if many else q.alias
    return None


class Chinese(ChineseConditions, Writer):
    def label(self, it: Item, q: Query, short: bool = False) -> str:
        if isinstance(it, Col):
            text = col_label(it, q, self.views, "zh")
            # 员工的姓名, not 员工的员工姓名: after "<entity>的" the entity already names the table.
            rest = text[len(q.entity):]
            if short and text == it.column.label and text.startswith(q.entity) and len(rest) >= 2 and rest not in _BARE:
                text = rest
            label = it.column.label
            if it.column.role == "flag" and flag_core(label) != label and text.endswith(label):
                return text[:-len(label)] + f"{flag_core(label)}标志"  # 发票的红冲发票标志, not 发票的是否红冲发票
            return text
        if isinstance(it, YearOf):
            return f"{self.label(it.arg, q)}的年份"
        if it.arg is None:
            rows = rows_label(q, self.views, "zh") or q.counted or q.entity
            return f"{rows}{self.count_word(q.counted or q.entity)}"
        inner = self.label(it.arg, q)
        if it.func == "count":  # 物料的不同名称的个数, not 物料的不同物料名称的个数
            inner = self.label(it.arg, q, short)
            return f"不同{inner}的个数" if it.distinct else f"{inner}的个数"
        owner, _, own = inner.rpartition("的")  # 仓库管理员的最低月薪, not 最低仓库管理员的月薪
        form = DATE_AGG[it.func] if it.arg.column.temporal and it.func in DATE_AGG else self.pick(*AGG[it.func])
        return f"{owner}的{form.format(own)}" if owner else form.format(inner)

    def shown(self, it: Item, q: Query) -> str:
        """An item the question already shows, named again without its path (按最低合同金额排序,
        not 按员工所签约的销售合同的最低合同金额排序) unless another shown item ends the same way."""
        full = self.owned(it, q)
        if it not in q.select or "的" not in full:
            return full
        tail = full.rpartition("的")[2]
        others = [self.label(i, q).rpartition("的")[2] for i in q.select if i != it]
        return full if tail in others or tail in _GENERIC else tail

    def owned(self, it: Item, q: Query) -> str:
        """A label said on its own (a group or order key) names whose rows it means: 员工所管理的仓库的…"""
        text = self.label(it, q)
        return q.entity + text if text.startswith(_OWNED) and not text.startswith(("所在", "所属")) else text

    def count_word(self, entity: str) -> str:
        """数量, or 记录数 where `<entity>数量` is a column's label (库存数量 is a quantity, not a count)."""
        taken = any(c.label == f"{entity}数量" for v in self.views.values() for c in v.columns)
        return "记录数" if taken else "数量"

    def items(self, items: list[Item], q: Query, kind: str = "select", short: bool = False) -> str:
        self.say(*(f"{kind}:{item_key(i)}" for i in items))
        return "、".join(self.label(i, q, short) for i in items)

    def group_items(self, q: Query) -> str:
        """Group keys; a key of the very rows the statistic is over needs no path (按支付方式统计
        部门的员工所签约的销售合同的最低合同金额, not 按部门的员工所签约的销售合同的支付方式…)."""
        self.say(*(f"group:{item_key(i)}" for i in q.group))
        over = stat_alias(q, self.views)
        return "、".join(i.column.label if isinstance(i, Col) and over not in (None, q.alias) and i.alias == over
                        else self.owned(i, q) for i in q.group)

    def order(self, q: Query) -> str:
        self.say(*(f"order:{item_key(i)}" for i, _ in q.order))
        (it, desc), *rest = q.order
        what = self.shown(it, q)
        tie = ""
        if rest:
            tb, tb_desc = rest[0]
            tie = f"，{what}相同时按{self.shown(tb, q)}{'降序' if tb_desc else '升序'}"
        high = ("最晚" if desc else "最早") if is_temporal(it) else ("最高" if desc else "最低")
        way = ("从晚到早" if desc else "从早到晚") if is_temporal(it) else ("从高到低" if desc else "从低到高")
        if q.limit is not None:
            self.say(f"limit:{q.limit}")
            if q.limit == 1:
                return self.pick(f"，只取{what}{high}的一条", f"，只看{what}{high}的那一条") + tie
            return self.pick(f"，按{what}{way}排序后只取前{q.limit}条", f"，取{what}{high}的前{q.limit}条") + tie
        return self.pick(f"，按{what}{way}排序", f"，结果按{what}{'降序' if desc else '升序'}排列") + tie

    def rows_note(self, q: Query) -> tuple[list[Cond], str]:
        """(the filters said of the base row, a note for the others): where a statistic runs over
        joined rows, a filter on them picks the rows it counts, not the base rows that have such
        rows (各在职状态的员工所签约的销售合同的总金额（只算客户注册日期在2022年的销售合同）)."""
        if not q.joins or q.conj != "and" or not any(isinstance(i, Agg) for i in q.select):
            return q.where, ""
        first = next((i for i, j in enumerate(q.joins) if not to_one(j.step, self.views)), None)
        beyond = {j.right_alias for j in q.joins[first:]} if first is not None else set()  # rows that multiply
        on_rows = [c for c in q.where if isinstance(c.left, Col | YearOf | Agg) and _alias_of(c.left) in beyond]
        if not on_rows:
            return q.where, ""
        rows = rows_label(q, self.views, "zh") or q.counted or q.entity
        note = "且".join(self.cond(c, q) for c in on_rows)
        return [c for c in q.where if c not in on_rows], f"（只算{note}的{q.entity + rows if rows.startswith('所') else rows}）"

    def query(self, q: Query) -> str:
        base, note = self.rows_note(q)
        where = ("且" if q.conj == "and" else "或").join(self.cond(c, q) for c in base)
        of = f"{where}的{q.entity}" if where else q.entity
        order = self.order(q) if q.order else ""
        if q.group:
            g = self.group_items(q)
            rest = [i for i in q.select if i not in q.group]
            self.say(*(f"select:{item_key(i)}" for i in q.group))
            if not rest:
                if q.having is not None:
                    self.say(f"having:{cond_key(q.having)}")
                k = q.having.values[0] if q.having else 1
                more = "超过" if q.having and q.having.op == ">" else "至少为"
                n = f"{of}{self.count_word(q.entity)}{more}{k}"  # 员工数量至少为2, not 对应的员工至少有2条
                return self.styled(formal=f"请列出{n}的{g}。", colloquial=f"哪些{g}的{n}啊？", imperative=f"列出{n}的{g}。",
                                   interrogative=f"{n}的{g}有哪些？", concise=f"{n}的{g}。")
            if rest == [Agg("count")] and not q.joins:
                self.say(f"select:{item_key(rest[0])}")
                stat = self.count_word(q.entity)
            else:
                stat = self.items(rest, q)
            ofs = joined(of, stat, q.entity) + note
            if "的" in g:  # 按仓库管理员的在职状态统计…, not 每个仓库管理员的在职状态的仓库…
                return self.styled(formal=f"请按{g}统计{ofs}{order}。", colloquial=f"按{g}分一下，{ofs}分别是多少{order}？",
                                   imperative=f"按{g}列出{ofs}{order}。", interrogative=f"按{g}来分，{ofs}各是多少{order}？",
                                   concise=f"按{g}统计的{ofs}{order}。")
            return self.styled(formal=f"请按{g}统计{ofs}{order}。", colloquial=f"每个{g}的{ofs}分别是多少{order}？",
                               imperative=f"列出每个{g}及其{ofs}{order}。",
                               interrogative=f"不同{g}的{ofs}各是多少{order}？", concise=f"各{g}的{ofs}{order}。")
        if q.select == [Agg("count")]:
            self.say(f"select:{item_key(q.select[0])}")
            if self.count_word(q.entity) != "数量":
                return self.styled(formal=f"请统计{of}的记录条数。", colloquial=f"{of}一共有多少条记录？",
                                   imperative=f"统计{of}的记录数。", interrogative=f"{of}有多少条记录？",
                                   concise=f"{of}的记录数。")
            return self.styled(formal=f"请统计{of}的总数。", colloquial=f"{of}一共有多少个？", imperative=f"统计{of}的数量。",
                               interrogative=f"{of}有多少个？", concise=f"{of}的数量。")
        if q.distinct:
            self.say("distinct")
        what = ("不同的" if q.distinct else "") + self.items(q.select, q, short=True)
        ofw = joined(of, what, q.entity) + note
        if all(isinstance(i, Agg) for i in q.select):
            return self.styled(formal=f"请计算{ofw}{order}。", colloquial=f"想知道{ofw}是多少{order}。",
                               imperative=f"求{ofw}{order}。", interrogative=f"{ofw}是多少{order}？",
                               concise=f"{ofw}{order}。")
        return self.styled(formal=f"请查询{ofw}{order}。", colloquial=f"帮我看看{ofw}都有哪些{order}。",
                           imperative=f"列出{ofw}{order}。",
                           # "<X>有哪些？请给出<Y>" only where Y belongs to X itself
                           interrogative=f"{of}有哪些？请给出{what}{order}。" if not q.joins else f"{ofw}分别是什么{order}？",
                           concise=f"{ofw}{order}。")

    def tree(self, t: Tree) -> str:
        if isinstance(t, Query):
            return self.query(t)
        self.say(f"set:{t.op}")
        self.items(t.right.select, t.right)
        what, entity = self.items(t.left.select, t.left, short=True), t.left.entity
        a, b = self.conds(t.left), self.conds(t.right)
        if t.op == "union":
            return self.styled(formal=f"请列出{a}或{b}的{entity}的{what}。",
                               colloquial=f"{a}的{entity}和{b}的{entity}都有哪些{what}？合起来看看。",
                               imperative=f"列出{a}或{b}的{entity}的{what}。",
                               interrogative=f"{a}的{entity}和{b}的{entity}各有哪些{what}？合并列出。",
                               concise=f"{a}或{b}的{entity}的{what}。")
        if t.op == "intersect":
            return self.styled(formal=f"请找出既出现在{a}的{entity}中、也出现在{b}的{entity}中的{what}。",
                               colloquial=f"哪些{what}既在{a}的{entity}里，也在{b}的{entity}里？",
                               imperative=f"找出{a}的{entity}和{b}的{entity}都有的{what}。",
                               interrogative=f"哪些{what}既出现在{a}的{entity}中，也出现在{b}的{entity}中？",
                               concise=f"{a}的{entity}与{b}的{entity}都有的{what}。")
        return self.styled(formal=f"请列出{a}的{entity}的{what}中，没有出现在{b}的{entity}里的。",
                           colloquial=f"{a}的{entity}里，去掉{b}的以后还剩哪些{what}？",
                           imperative=f"列出{a}的{entity}的{what}，但不含{b}的{entity}的{what}。",
                           interrogative=f"在{a}的{entity}中，排除{b}的{entity}之后，还有哪些{what}？",
                           concise=f"{a}的{entity}的{what}，不含{b}的{entity}的{what}。")
