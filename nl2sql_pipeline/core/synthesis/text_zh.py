"""Chinese questions from the IR, with several phrasings per construct."""

from __future__ import annotations

from nl2sql_pipeline.core.synthesis.ir import Agg, Col, Cond, Item, Query, Tree, YearOf
from nl2sql_pipeline.core.synthesis.phrasing import Writer, col_label, is_temporal, like_text, value_text

AGG = {"sum": ("总{}", "{}总和"), "avg": ("平均{}", "{}的平均值"), "min": ("最低{}", "最小{}"), "max": ("最高{}", "最大{}")}
CMP = {
    "=": ("为{v}", "是{v}", "等于{v}"), "!=": ("不是{v}", "不等于{v}"),
    ">": ("大于{v}", "超过{v}", "高于{v}"), "<": ("小于{v}", "低于{v}", "不到{v}"),
    ">=": ("不低于{v}", "至少为{v}", "大于等于{v}"), "<=": ("不超过{v}", "至多为{v}", "小于等于{v}"),
}


class Chinese(Writer):
    def label(self, it: Item, q: Query) -> str:
        if isinstance(it, Col):
            return col_label(it, q, self.views, "zh")
        if isinstance(it, YearOf):
            return f"{col_label(it.arg, q, self.views, 'zh')}的年份"
        if it.arg is None:
            return f"{q.counted or q.entity}数量"
        inner = col_label(it.arg, q, self.views, "zh")
        if it.func == "count":
            return f"不同{inner}的个数" if it.distinct else f"{inner}的个数"
        return self.pick(*AGG[it.func]).format(inner)

    def items(self, items: list[Item], q: Query) -> str:
        return "、".join(self.label(i, q) for i in items)

    def cond(self, c: Cond, q: Query) -> str:
        who = self.label(c.left, q)
        if c.op in (">", "<") and is_temporal(c.left):
            return f"{who}{'晚于' if c.op == '>' else '早于'}{value_text(c.values[0], 'zh')}"
        if c.op in CMP:
            return who + self.pick(*CMP[c.op]).format(v=value_text(c.values[0], "zh"))
        if c.op == "between":
            return f"{who}在{value_text(c.values[0], 'zh')}到{value_text(c.values[1], 'zh')}之间"
        if c.op == "in":
            return f"{who}为" + "或".join(value_text(v, "zh") for v in c.values)
        if c.op == "like":
            kind, word = like_text(c.values[0])
            return f"{who}包含“{word}”" if kind == "contains" else f"{who}以“{word}”开头"
        if c.op == "is-null":
            return self.pick(f"{who}为空", f"没有填写{who}")
        if c.op == "not-null":
            return self.pick(f"{who}不为空", f"填写了{who}")
        assert c.sub is not None
        sub = c.sub
        if c.op == "not-in-sub":
            return self.pick(f"没有任何相关{sub.entity}记录", f"不存在对应{sub.entity}")
        if c.op == "in-sub":
            inner = "且".join(self.cond(x, sub) for x in sub.where)
            return self.pick(f"存在{inner}的相关{sub.entity}", f"关联的{sub.entity}中有{inner}的记录")
        higher = "高于" if c.op == ">sub" else "低于"
        return f"{who}{higher}所有{sub.entity}的{self.label(sub.select[0], sub)}"

    def conds(self, q: Query) -> str:
        return ("且" if q.conj == "and" else "或").join(self.cond(c, q) for c in q.where)

    def order(self, q: Query) -> str:
        it, desc = q.order[0]
        what = self.label(it, q)
        way = "从高到低" if desc else "从低到高"
        if q.limit == 1:
            return self.pick(f"，只取{what}{'最高' if desc else '最低'}的一条", f"，只看{what}{'最高' if desc else '最低'}的那一条")
        if q.limit is not None:
            return self.pick(f"，按{what}{way}排序后只取前{q.limit}条", f"，取{what}{'最高' if desc else '最低'}的前{q.limit}条")
        return self.pick(f"，按{what}{way}排序", f"，结果按{what}{'降序' if desc else '升序'}排列")

    def query(self, q: Query) -> str:
        where = self.conds(q)
        of = f"{where}的{q.entity}" if where else q.entity
        if q.group:
            g = self.items(q.group, q)
            rest = [i for i in q.select if i not in q.group]
            if not rest:
                k = q.having.values[0] if q.having else 1
                more = "超过" if q.having and q.having.op == ">" else "至少有"
                return self.pick(f"哪些{g}对应的{of}{more}{k}条？", f"列出{of}数量{more}{k}条的{g}。")
            stat = "数量" if rest == [Agg("count")] and not q.joins else self.items(rest, q)
            text = self.pick(f"按{g}统计{of}的{stat}", f"每个{g}的{of}{stat}分别是多少", f"列出每个{g}及其{of}的{stat}")
            text += self.order(q) if q.order else ""
            return text + ("？" if text.startswith("每个") and not q.order else "。")
        if q.select == [Agg("count")]:
            return self.pick(f"{of}有多少个？", f"统计{of}的数量。", f"一共有多少{of}？")
        what = ("不同的" if q.distinct else "") + self.items(q.select, q)
        order = self.order(q) if q.order else ""
        if all(isinstance(i, Agg) for i in q.select):
            return self.pick(f"{of}的{what}是多少{order}？", f"求{of}的{what}{order}。")
        return self.pick(f"查询{of}的{what}{order}。", f"列出所有{of}的{what}{order}。",
                         f"{of}有哪些？请给出{what}{order}。", f"请找出{of}，显示其{what}{order}。")

    def tree(self, t: Tree) -> str:
        if isinstance(t, Query):
            return self.query(t)
        what, entity = self.items(t.left.select, t.left), t.left.entity
        a, b = self.conds(t.left), self.conds(t.right)
        if t.op == "union":
            return self.pick(f"列出{a}或{b}的{entity}的{what}。", f"{a}的{entity}和{b}的{entity}各有哪些{what}？合并列出。")
        if t.op == "intersect":
            return self.pick(f"哪些{what}既出现在{a}的{entity}中，也出现在{b}的{entity}中？", f"找出{a}且同时{b}的{entity}共有的{what}。")
        return self.pick(f"在{a}的{entity}中，排除{b}的{entity}之后，还有哪些{what}？", f"列出{a}但不属于{b}的{entity}的{what}。")
