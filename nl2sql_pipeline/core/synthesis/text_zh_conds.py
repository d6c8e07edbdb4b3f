"""Chinese conditions from the IR: codes by their meaning, flags as yes/no, years as 在2025年,
keys by their role (有直属上级, 签约过…的销售合同), rows reached against a key as rows the base row
has (有职级为3的员工的部门). A mixin of the Chinese writer, which supplies labels and choices."""

from __future__ import annotations

from nl2sql_pipeline.core.synthesis.ir import Agg, Col, Cond, Query, YearOf
from nl2sql_pipeline.core.synthesis.phrasing import (
    col_label, cond_key, flag_core, is_temporal, like_text, link_role, reverse_role, reverses, value_text,
)
from nl2sql_pipeline.core.synthesis.relations import chain, hop, role_of, sub_zh
from nl2sql_pipeline.core.synthesis.schema import to_one

CMP = {
    "=": ("为{v}", "是{v}"), "!=": ("不是{v}", "不为{v}"),
    ">": ("大于{v}", "超过{v}", "高于{v}"), "<": ("小于{v}", "低于{v}", "不到{v}"),
    ">=": ("不低于{v}", "至少为{v}", "大于等于{v}"), "<=": ("不超过{v}", "至多为{v}", "小于等于{v}"),
}
_YES = {"是", "有", "yes", "y", "true", "1"}
_CLAUSE = ("有", "没有", "是", "不是", "已", "未")  # 员工有直属上级: a predicate, glued to its subject
YEAR_CMP = {"=": "在{v}年", "!=": "不在{v}年", ">": "晚于{v}年", "<": "早于{v}年", ">=": "在{v}年及以后",
            "<=": "在{v}年及以前"}


class ChineseConditions:
    """Conditions as Chinese clauses; `label`, `pick`, `say` and `views` come from the writer."""

    def _flag(self, c: Cond, col: Col, who: str, q: Query) -> str:
        value = c.values[0]
        meaning = col.column.meaning(value)
        yes = (meaning or str(value)).lower() in _YES if not isinstance(value, bool) else value
        if c.op == "!=":
            yes = not yes
        label = col.column.label
        core = flag_core(label)
        if core == label:
            return f"{who}为{'是' if yes else '否'}"
        # A joined row's flag says whose it is: 物料已启用的合同明细, not 已启用的合同明细.
        named = col_label(col, q, self.views, "zh")
        owner = named[:-len(label)].removesuffix("的") if named.endswith(label) and named != label else ""
        if core.startswith("已"):
            return owner + (core if yes else "未" + core[1:])
        if len(core) <= 2:
            return owner + ("已" if yes else "未") + core
        return owner + ("是" if yes else "不是") + core

    def cond(self, c: Cond, q: Query) -> str:
        self.say(f"where:{cond_key(c)}")
        if (many := self._through_many(c, q)) is not None:
            return many
        who = self.label(c.left, q, short=True)  # 姓名以“张”开头的员工, not 员工姓名以…的员工
        col = c.left if isinstance(c.left, Col) else None
        column = col.column if col is not None else None
        if col is not None and c.op in ("=", "!=") and (column.role == "flag" or column.type == "boolean"):
            return self._flag(c, col, who, q)
        v = [value_text(x, "zh", column) for x in c.values]
        if isinstance(c.left, YearOf) and c.op in YEAR_CMP:  # 盘点日期在2025年
            return self.label(c.left.arg, q, short=True) + YEAR_CMP[c.op].format(v=v[0])
        if isinstance(c.left, YearOf) and c.op == "between":
            return f"{self.label(c.left.arg, q, short=True)}在{v[0]}年到{v[1]}年之间"
        if col is not None and column.key and c.op in ("is-null", "not-null") and (role := role_of(who)) != who:
            owner, _, own = role.rpartition("的")  # 有直属上级的员工, not 填写了直属上级编号
            return owner + ("没有" if c.op == "is-null" else "有") + own
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
        own = sub.table == q.table
        if c.op == "not-in-sub":
            if role := reverse_role(c, q, self.views):  # 没有签约过任何销售合同的员工
                return sub_zh(role, sub.entity, "", True, self_ref=own)
            return self.pick(f"没有任何相关{sub.entity}记录", f"不存在对应{sub.entity}")
        if c.op == "in-sub":
            inner = "且".join(self.cond(x, sub) for x in sub.where)
            if role := link_role(c, q, self.views):  # 签约人的月薪超过…的销售合同
                return inner if inner.startswith(role) else role + ("" if inner.startswith(_CLAUSE) else "的") + inner
            if role := reverse_role(c, q, self.views):  # 签约过…的销售合同的员工, 管理…的仓库的员工
                return sub_zh(role, sub.entity, inner, False, self_ref=own)
            if reverses(c, q, self.views):  # 有…的工资发放的员工 (存在有直属上级的员工的部门)
                return f"{'存在' if inner.startswith(_CLAUSE) else '有'}{inner}的{sub.entity}"
            return self.pick(f"存在{inner}的相关{sub.entity}", f"关联的{sub.entity}中有{inner}的记录")
        higher = "高于" if c.op == ">sub" else "低于"
        return f"{who}{higher}所有{sub.entity}的{self.label(sub.select[0], sub)}"

    def _through_many(self, c: Cond, q: Query) -> str | None:
        """A filter on rows one join against a key reaches, said as the base row having such rows
        (有职级为3的员工的部门, 签约过签订日期早于…的销售合同的员工), not as the base row's value
        (员工的职级为3的部门). Not where a statistic counts those rows: it counts the matching ones."""
        col = c.left if isinstance(c.left, Col) else None
        if col is None or c.sub is not None or col.alias in (None, q.alias) or any(
                isinstance(i, Agg) for i in q.select) or q.having is not None:
            return None
        path = chain(col.alias, q)
        if not path or to_one(path[0].step, self.views):
            return None
        _, role = hop(path[0], self.views)
        view = self.views[path[0].step.right]
        # The filter as said of those rows, whose own joins go on from there (负责有…的销售合同的客户).
        inner = self.cond(c, Query(table=view.name, entity=view.label, select=[], alias=path[0].right_alias,
                                   joins=path[1:]))
        if role:
            return sub_zh(role, view.label, inner, False)
        return ("存在" if inner.startswith(_CLAUSE) else "有") + f"{inner}的{view.label}"

    def conds(self, q: Query) -> str:
        return ("且" if q.conj == "and" else "或").join(self.cond(c, q) for c in q.where)
