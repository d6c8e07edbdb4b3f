"""English questions from the IR: codes by their meaning, amounts with units, flags as yes/no,
joined rows by their role, in five styles (formal, colloquial, imperative, interrogative, concise)."""

from __future__ import annotations

from nl2sql_pipeline.core.synthesis.ir import Agg, Col, Cond, Item, Query, Tree, YearOf
from nl2sql_pipeline.core.synthesis.phrasing import (
    Writer, article, col_label, cond_key, flag_core, is_temporal, item_key, like_text, link_role, plural, possessive,
    reverse_role, reverses, rows_label, singular, value_text,
)
from nl2sql_pipeline.core.synthesis.relations import role_of, shared_target, sub_en

AGG = {"sum": ("total", "sum of the"), "avg": ("average", "mean"), "min": ("minimum", "lowest"), "max": ("maximum", "highest")}
DATE_AGG = {"min": "earliest", "max": "latest"}
CMP = {
    "=": ("is {v}",), "!=": ("is not {v}", "is other than {v}"),
    ">": ("is greater than {v}", "is above {v}", "exceeds {v}"), "<": ("is less than {v}", "is below {v}", "is under {v}"),
    ">=": ("is at least {v}", "is {v} or more"), "<=": ("is at most {v}", "is no more than {v}"),
}
_YES = {"yes", "y", "true", "1", "是"}


class English(Writer):
    def plural(self, label: str) -> str:
        # Names with letters outside English (sänger, bevölkerung) are not given an English "-s".
        return plural(label) if self.english_names else label

    def label(self, it: Item, q: Query) -> str:
        if isinstance(it, Col):
            text = col_label(it, q, self.views, "en")
            return f"{text} flag" if it.column.role == "flag" and not text.endswith("flag") else text
        if isinstance(it, YearOf):
            return f"year of the {col_label(it.arg, q, self.views, 'en')}"
        if it.arg is None:
            return f"number of {rows_label(q, self.views, 'en') or self.plural(q.counted or q.entity)}"
        inner = col_label(it.arg, q, self.views, "en")
        if it.func == "count":
            return f"number of distinct {self.plural(inner)}" if it.distinct else f"number of {self.plural(inner)}"
        if it.arg.column.temporal and it.func in DATE_AGG:
            return f"{DATE_AGG[it.func]} {inner}"
        return f"{self.pick(*AGG[it.func])} {inner}"

    def items(self, items: list[Item], q: Query, kind: str = "select") -> str:
        self.say(*(f"{kind}:{item_key(i)}" for i in items))
        labels = [self.label(i, q) for i in items]
        return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]

    def clause(self, c: Cond, q: Query) -> str:
        """`<label> is above 30`: a condition on a value, as a clause."""
        self.say(f"where:{cond_key(c)}")
        who = self.label(c.left, q)
        column = c.left.column if isinstance(c.left, Col) else None
        v = [value_text(x, "en", column) for x in c.values]
        if c.op in (">", "<") and is_temporal(c.left):
            return f"{who} is {'after' if c.op == '>' else 'before'} {v[0]}"
        if c.op in CMP:
            return f"{who} " + self.pick(*CMP[c.op]).format(v=v[0])
        if c.op == "between":
            return f"{who} is between {v[0]} and {v[1]}"
        if c.op == "in":
            return f"{who} " + self.pick("is {} or {}", "is either {} or {}").format(*v)
        if c.op == "like":
            kind, word = like_text(c.values[0])
            return f"{who} {'contains' if kind == 'contains' else 'starts with'} \"{word}\""
        if c.op in ("is-null", "not-null") and column is not None and column.key:
            who = role_of(who) or who  # whose direct manager is missing, not whose direct manager id is missing
        if c.op == "is-null":
            return self.pick(f"{who} is missing", f"{who} is not recorded")
        if c.op == "not-null":
            return self.pick(f"{who} is known", f"{who} is recorded")
        sub = c.sub
        assert sub is not None
        agg = sub.select[0]
        return f"{who} is {'above' if c.op == '>sub' else 'below'} the {self.label(agg, sub)} of all {self.plural(sub.entity)}"

    def cond(self, c: Cond, q: Query) -> str:
        """A condition as a relative phrase after the entity: `whose ...` or `that have ...`."""
        if c.op == "not-in-sub":
            self.say(f"where:{cond_key(c)}")
            if role := reverse_role(c, q, self.views):  # who are not the approver of any expense claim
                return sub_en(role, singular(c.sub.entity), "", True)
            if reverses(c, q, self.views) and shared_target(self.views, c.sub.table, q.table):
                return f"without any {c.sub.entity} of their own"  # not: that they approve
            return self.pick(f"that have no related {c.sub.entity}", f"without any matching {c.sub.entity}")
        if c.op == "in-sub":
            self.say(f"where:{cond_key(c)}")
            inner = " and ".join(self.clause(x, c.sub) for x in c.sub.where)
            if role := link_role(c, q, self.views):  # contracts whose signer's salary is ...
                return f"whose {possessive(role)} {inner}"
            if role := reverse_role(c, q, self.views):  # who are the approver of an expense claim whose ...
                return sub_en(role, singular(c.sub.entity), inner, False)
            one = singular(c.sub.entity)
            if reverses(c, q, self.views) and shared_target(self.views, c.sub.table, q.table):
                return f"with {article(one)} of their own whose {inner}"
            return self.pick(f"that have {article('related ' + one)} whose {inner}", f"linked to {article(one)} whose {inner}")
        col = c.left if isinstance(c.left, Col) else None
        if col is not None and c.op in ("=", "!=") and (col.column.role == "flag" or col.column.type == "boolean"):
            self.say(f"where:{cond_key(c)}")
            value = c.values[0]
            meaning = col.column.meaning(value)
            yes = value if isinstance(value, bool) else (meaning or str(value)).lower() in _YES
            if c.op == "!=":
                yes = not yes
            core = flag_core(col_label(col, q, self.views, "en"))
            return f"that are {'' if yes else 'not '}marked as {core}"
        return f"whose {self.clause(c, q)}"

    def conds(self, q: Query) -> str:
        if not q.where:
            return ""
        return " " + f" {q.conj} ".join(self.cond(c, q) for c in q.where)

    def order(self, q: Query) -> str:
        self.say(*(f"order:{item_key(i)}" for i, _ in q.order))
        (it, desc), *rest = q.order
        what = self.label(it, q)
        tie = ""
        if rest:
            tb, tb_desc = rest[0]
            tie = f" (ties broken by {self.label(tb, q)}, {'descending' if tb_desc else 'ascending'})"
        if q.limit is not None:
            self.say(f"limit:{q.limit}")
            adj = ("latest" if desc else "earliest") if is_temporal(it) else ("highest" if desc else "lowest")
            if q.limit == 1:
                return self.pick(f", only the one with the {adj} {what}", f", keeping just the row with the {adj} {what}") + tie
            return self.pick(f", keeping the {q.limit} with the {adj} {what}",
                             f", only the top {q.limit} by {what} ({adj} first)") + tie
        return self.pick(f", sorted by {what} in {'descending' if desc else 'ascending'} order",
                         f", ordered by {what}{' from high to low' if desc else ' from low to high'}") + tie

    def query(self, q: Query) -> str:
        entity = self.plural(q.entity)
        where = self.conds(q)
        order = self.order(q) if q.order else ""
        if q.group:
            g = self.items(q.group, q, "group")
            self.say(*(f"select:{item_key(i)}" for i in q.group))
            rest = [i for i in q.select if i not in q.group]
            if not rest:
                if q.having is not None:
                    self.say(f"having:{cond_key(q.having)}")
                k = q.having.values[0] if q.having else 1
                more = "more than" if q.having and q.having.op == ">" else "at least"
                return self.styled(formal=f"Please list each {g} shared by {more} {k} {entity}{where}.",
                                   colloquial=f"Which {g} values show up in {more} {k} {entity}{where}?",
                                   imperative=f"List the {g} shared by {more} {k} {entity}{where}.",
                                   interrogative=f"Which {g} values appear in {more} {k} {entity}{where}?",
                                   concise=f"{g} values with {more} {k} {entity}{where}.")
            stat = self.items(rest, q)
            counted = rest == [Agg("count")] and (q.counted or q.entity) == q.entity  # the base rows themselves
            of = "" if rest == [Agg("count")] and not where and not q.joins else where if counted else f" of {entity}{where}"
            return self.styled(formal=f"Please report, for each {g}, the {stat}{of}{order}.",
                               colloquial=f"Can you break down the {stat}{of} by {g}{order}?",
                               imperative=f"Show each {g} and the {stat}{of}{order}.",
                               interrogative=f"For each {g}, what is the {stat}{of}{order}?",
                               concise=f"{stat}{of} per {g}{order}.")
        if q.select == [Agg("count")]:
            self.say(f"select:{item_key(q.select[0])}")
            return self.styled(formal=f"Please report the number of {entity}{where}.",
                               colloquial=f"How many {entity}{where} do we have?", imperative=f"Count the {entity}{where}.",
                               interrogative=f"How many {entity} are there{where}?", concise=f"Number of {entity}{where}.")
        if q.distinct:
            self.say("distinct")
        what = ("distinct " if q.distinct else "") + self.items(q.select, q)
        suffix = where + order
        if all(isinstance(i, Agg) for i in q.select):
            return self.styled(formal=f"Please compute the {what} of {entity}{suffix}.",
                               colloquial=f"What's the {what} for {entity}{suffix}?",
                               imperative=f"Compute the {what} over {entity}{suffix}.",
                               interrogative=f"What is the {what} of {entity}{suffix}?", concise=f"{what} of {entity}{suffix}.")
        return self.styled(formal=f"Please list the {what} of all {entity}{suffix}.",
                           colloquial=f"Can you show me the {what} of {entity}{suffix}?",
                           imperative=f"List the {what} of {entity}{suffix}.",
                           interrogative=f"What are the {what} of the {entity}{suffix}?", concise=f"{what} of {entity}{suffix}.")

    def tree(self, t: Tree) -> str:
        if isinstance(t, Query):
            return self.query(t)
        self.say(f"set:{t.op}")
        self.items(t.right.select, t.right)
        what, entity = self.items(t.left.select, t.left), self.plural(t.left.entity)
        a, b = self.conds(t.left).strip(), self.conds(t.right).strip()
        if t.op == "union":
            return self.styled(formal=f"Please list the {what} of {entity} {a}, together with those of {entity} {b}.",
                               colloquial=f"What {what} belong to {entity} {a}, or to {entity} {b}?",
                               imperative=f"List the {what} of {entity} {a}, together with those of {entity} {b}.",
                               interrogative=f"Which {what} belong to {entity} {a} or to {entity} {b}?",
                               concise=f"{what} of {entity} {a} or {b}.")
        if t.op == "intersect":
            return self.styled(formal=f"Please find the {what} common to {entity} {a} and {entity} {b}.",
                               colloquial=f"Which {what} show up both among {entity} {a} and among {entity} {b}?",
                               imperative=f"Find the {what} common to {entity} {a} and {entity} {b}.",
                               interrogative=f"Which {what} occur both among {entity} {a} and among {entity} {b}?",
                               concise=f"{what} shared by {entity} {a} and {entity} {b}.")
        return self.styled(formal=f"Please list the {what} of {entity} {a}, except those of {entity} {b}.",
                           colloquial=f"Which {what} of {entity} {a} don't show up among {entity} {b}?",
                           imperative=f"List the {what} of {entity} {a}, except those of {entity} {b}.",
                           interrogative=f"Which {what} of {entity} {a} do not occur among {entity} {b}?",
                           concise=f"{what} of {entity} {a}, minus those {b}.")
