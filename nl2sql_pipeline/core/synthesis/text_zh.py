"""Chinese questions from the IR: codes by their meaning, amounts with units, flags as yes/no,
joined rows by their role, in five styles (formal, colloquial, imperative, interrogative, concise)."""

from __future__ import annotations

from nl2sql_pipeline.core.synthesis.ir import Agg, Col, Cond, Item, Query, Tree, YearOf
from nl2sql_pipeline.core.synthesis.phrasing import (
    Writer, col_label, cond_key, flag_core, is_temporal, item_key, like_text, link_role, reverse_role, value_text,
)

AGG = {"sum": ("总{}", "{}总和"), "avg": ("平均{}", "{}的平均值"), "min": ("最低{}", "最小{}"), "max": ("最高{}", "最大{}")}
DATE_AGG = {"min": "最早{}", "max": "最晚{}"}
CMP = {
    "=": ("为{v}", "是{v}"), "!=": ("不是{v}", "不为{v}"),
    ">": ("大于{v}", "超过{v}", "高于{v}"), "<": ("小于{v}", "低于{v}", "不到{v}"),
    ">=": ("不低于{v}", "至少为{v}", "大于等于{v}"), "<=": ("不超过{v}", "至多为{v}", "小于等于{v}"),
}
_YES = {"是", "有", "yes", "y", "true", "1"}
_GENERIC = {"数量", "个数", "总数", "数"}  # too bare without the table's name (read as a count)


def joined(of: str, what: str, entity: str) -> str:
    """`<of>的<what>`, without saying the entity twice: 库存数量不超过100件的库存 + 库存数量 ->
    …的库存数量, 部门 + 部门数量 -> 部门数量; a joined row's label (仓库管理员的邮箱) stays whole."""
    if what.startswith(entity) and of.endswith(entity) and "的" not in what:
        return of + what[len(entity):]
    return f"{of}的{what}"


class Chinese(Writer):
    def label(self, it: Item, q: Query, short: bool = False) -> str:
        if isinstance(it, Col):
            text = col_label(it, q, self.views, "zh")
            # 员工的姓名, not 员工的员工姓名: after "<entity>的" the entity already names the table.
            rest = text[len(q.entity):]
            if short and text == it.column.label and text.startswith(q.entity) and len(rest) >= 2 and rest not in _GENERIC:
                text = rest
            if short and it.column.role == "flag" and flag_core(text) != text:
                return f"{flag_core(text)}标志"  # 发票的红冲发票标志, not 发票的是否红冲发票
            return text
        if isinstance(it, YearOf):
            return f"{self.label(it.arg, q)}的年份"
        if it.arg is None:
            return f"{q.counted or q.entity}{self.count_word(q.counted or q.entity)}"
        inner = self.label(it.arg, q)
        if it.func == "count":
            return f"不同{inner}的个数" if it.distinct else f"{inner}的个数"
        owner, _, own = inner.rpartition("的")  # 仓库管理员的最低月薪, not 最低仓库管理员的月薪
        form = DATE_AGG[it.func] if it.arg.column.temporal and it.func in DATE_AGG else self.pick(*AGG[it.func])
        return f"{owner}的{form.format(own)}" if owner else form.format(inner)

    def count_word(self, entity: str) -> str:
        """数量, or 记录数 where `<entity>数量` is a column's label (库存数量 is a quantity, not a count)."""
        taken = any(c.label == f"{entity}数量" for v in self.views.values() for c in v.columns)
        return "记录数" if taken else "数量"

    def items(self, items: list[Item], q: Query, kind: str = "select", short: bool = False) -> str:
        self.say(*(f"{kind}:{item_key(i)}" for i in items))
        return "、".join(self.label(i, q, short) for i in items)

    def _flag(self, c: Cond, col: Col, who: str) -> str:
        value = c.values[0]
        meaning = col.column.meaning(value)
        yes = (meaning or str(value)).lower() in _YES if not isinstance(value, bool) else value
        if c.op == "!=":
            yes = not yes
        label = col.column.label
        core = flag_core(label)
        if core == label:
            return f"{who}为{'是' if yes else '否'}"
        if core.startswith("已"):
            return core if yes else "未" + core[1:]
        if len(core) <= 2:
            return ("已" if yes else "未") + core
        return ("是" if yes else "不是") + core

    def cond(self, c: Cond, q: Query) -> str:
        self.say(f"where:{cond_key(c)}")
        who = self.label(c.left, q)
        col = c.left if isinstance(c.left, Col) else None
        column = col.column if col is not None else None
        if col is not None and c.op in ("=", "!=") and (column.role == "flag" or column.type == "boolean"):
            return self._flag(c, col, who)
        v = [value_text(x, "zh", column) for x in c.values]
        if c.op in (">", "<") and is_temporal(c.left):
            return f"{who}{'晚于' if c.op == '>' else '早于'}{v[0]}"
        if c.op in CMP:
            return who + self.pick(*CMP[c.op]).format(v=v[0])
        if c.op == "between":
            return f"{who}在{v[0]}到{v[1]}之间"
        if c.op == "in":
            return f"{who}为" + "或".join(v)
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
            if role := link_role(c, q, self.views):  # 签约人的月薪超过…的销售合同
                return inner if inner.startswith(role) else f"{role}的{inner}"
            if role := reverse_role(c, q, self.views):  # 是…的销售合同的签约人(的员工)
                return f"有{inner}的{sub.entity}" if role == q.entity else f"是{inner}的{sub.entity}的{role}"
            return self.pick(f"存在{inner}的相关{sub.entity}", f"关联的{sub.entity}中有{inner}的记录")
        higher = "高于" if c.op == ">sub" else "低于"
        return f"{who}{higher}所有{sub.entity}的{self.label(sub.select[0], sub)}"

    def conds(self, q: Query) -> str:
        return ("且" if q.conj == "and" else "或").join(self.cond(c, q) for c in q.where)

    def order(self, q: Query) -> str:
        self.say(*(f"order:{item_key(i)}" for i, _ in q.order))
        (it, desc), *rest = q.order
        what = self.label(it, q)
        tie = ""
        if rest:
            tb, tb_desc = rest[0]
            tie = f"，{what}相同时按{self.label(tb, q)}{'降序' if tb_desc else '升序'}"
        high = ("最晚" if desc else "最早") if is_temporal(it) else ("最高" if desc else "最低")
        way = ("从晚到早" if desc else "从早到晚") if is_temporal(it) else ("从高到低" if desc else "从低到高")
        if q.limit is not None:
            self.say(f"limit:{q.limit}")
            if q.limit == 1:
                return self.pick(f"，只取{what}{high}的一条", f"，只看{what}{high}的那一条") + tie
            return self.pick(f"，按{what}{way}排序后只取前{q.limit}条", f"，取{what}{high}的前{q.limit}条") + tie
        return self.pick(f"，按{what}{way}排序", f"，结果按{what}{'降序' if desc else '升序'}排列") + tie

    def query(self, q: Query) -> str:
        where = self.conds(q)
        of = f"{where}的{q.entity}" if where else q.entity
        order = self.order(q) if q.order else ""
        if q.group:
            g = self.items(q.group, q, "group")
            rest = [i for i in q.select if i not in q.group]
            self.say(*(f"select:{item_key(i)}" for i in q.group))
            if not rest:
                if q.having is not None:
                    self.say(f"having:{cond_key(q.having)}")
                k = q.having.values[0] if q.having else 1
                more = "超过" if q.having and q.having.op == ">" else "至少有"
                return self.styled(formal=f"请列出对应的{of}{more}{k}条的{g}。", colloquial=f"哪些{g}的{of}{more}{k}条啊？",
                                   imperative=f"列出对应{of}{more}{k}条的{g}。", interrogative=f"哪些{g}对应的{of}{more}{k}条？",
                                   concise=f"{of}{more}{k}条的{g}。")
            if rest == [Agg("count")] and not q.joins:
                self.say(f"select:{item_key(rest[0])}")
                stat = self.count_word(q.entity)
            else:
                stat = self.items(rest, q)
            ofs = joined(of, stat, q.entity)
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
        ofw = joined(of, what, q.entity)
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
            return self.styled(formal=f"请找出{a}且同时{b}的{entity}共有的{what}。",
                               colloquial=f"哪些{what}既在{a}的{entity}里，也在{b}的{entity}里？",
                               imperative=f"找出{a}且同时{b}的{entity}共有的{what}。",
                               interrogative=f"哪些{what}既出现在{a}的{entity}中，也出现在{b}的{entity}中？",
                               concise=f"{a}且{b}的{entity}共有的{what}。")
        return self.styled(formal=f"请列出{a}但不属于{b}的{entity}的{what}。",
                           colloquial=f"{a}的{entity}里，去掉{b}的以后还剩哪些{what}？",
                           imperative=f"列出{a}但不属于{b}的{entity}的{what}。",
                           interrogative=f"在{a}的{entity}中，排除{b}的{entity}之后，还有哪些{what}？",
                           concise=f"{a}而非{b}的{entity}的{what}。")
