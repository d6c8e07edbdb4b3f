"""English questions from the IR, with several phrasings per construct."""

from __future__ import annotations

from nl2sql_pipeline.core.synthesis.ir import Agg, Col, Cond, Item, Query, Tree, YearOf
from nl2sql_pipeline.core.synthesis.phrasing import Writer, col_label, is_temporal, like_text, plural, value_text

AGG = {"sum": ("total", "sum of the"), "avg": ("average", "mean"), "min": ("minimum", "lowest"), "max": ("maximum", "highest")}
CMP = {
    "=": ("is {v}", "equals {v}"), "!=": ("is not {v}", "is other than {v}"),
    ">": ("is greater than {v}", "is above {v}", "exceeds {v}"), "<": ("is less than {v}", "is below {v}", "is under {v}"),
    ">=": ("is at least {v}", "is {v} or more"), "<=": ("is at most {v}", "is no more than {v}"),
}


class English(Writer):
    def plural(self, label: str) -> str:
        # Names with letters outside English (sänger, bevölkerung) are not given an English "-s".
        return plural(label) if self.english_names else label

    def label(self, it: Item, q: Query) -> str:
        if isinstance(it, Col):
            return col_label(it, q, self.views, "en")
        if isinstance(it, YearOf):
            return f"year of the {col_label(it.arg, q, self.views, 'en')}"
        if it.arg is None:
            return f"number of {self.plural(q.counted or q.entity)}"
        inner = col_label(it.arg, q, self.views, "en")
        if it.func == "count":
            return f"number of distinct {self.plural(inner)}" if it.distinct else f"number of {self.plural(inner)}"
        return f"{self.pick(*AGG[it.func])} {inner}"

    def items(self, items: list[Item], q: Query) -> str:
        labels = [self.label(i, q) for i in items]
        return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]

    def clause(self, c: Cond, q: Query) -> str:
        """`<label> is above 30`: a condition on a value, as a clause."""
        who = self.label(c.left, q)
        if c.op in (">", "<") and is_temporal(c.left):
            return f"{who} is {'after' if c.op == '>' else 'before'} {value_text(c.values[0], 'en')}"
        if c.op in CMP:
            return f"{who} " + self.pick(*CMP[c.op]).format(v=value_text(c.values[0], "en"))
        if c.op == "between":
            return f"{who} is between {value_text(c.values[0], 'en')} and {value_text(c.values[1], 'en')}"
        if c.op == "in":
            return f"{who} " + self.pick("is {} or {}", "is either {} or {}").format(*(value_text(v, "en") for v in c.values))
        if c.op == "like":
            kind, word = like_text(c.values[0])
            return f"{who} {'contains' if kind == 'contains' else 'starts with'} \"{word}\""
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
            return self.pick(f"that have no related {c.sub.entity}", f"without any matching {c.sub.entity}")
        if c.op == "in-sub":
            inner = " and ".join(self.clause(x, c.sub) for x in c.sub.where)
            return self.pick(f"that have a related {c.sub.entity} whose {inner}", f"linked to a {c.sub.entity} whose {inner}")
        return f"whose {self.clause(c, q)}"

    def conds(self, q: Query) -> str:
        if not q.where:
            return ""
        return " " + f" {q.conj} ".join(self.cond(c, q) for c in q.where)

    def order(self, q: Query) -> str:
        it, desc = q.order[0]
        what = self.label(it, q)
        if q.limit is not None:
            adj = "highest" if desc else "lowest"
            if q.limit == 1:
                return self.pick(f", only the one with the {adj} {what}", f", keeping just the row with the {adj} {what}")
            return self.pick(f", keeping the {q.limit} with the {adj} {what}",
                             f", only the top {q.limit} by {what} ({adj} first)")
        return self.pick(f", sorted by {what} in {'descending' if desc else 'ascending'} order",
                         f", ordered by {what}{' from high to low' if desc else ' from low to high'}")

    def query(self, q: Query, lead: bool = True) -> str:
        entity = self.plural(q.entity)
        where = self.conds(q)
        if q.group:
            g = self.items(q.group, q)
            rest = [i for i in q.select if i not in q.group]
            if not rest:
                k = q.having.values[0] if q.having else 1
                more = "more than" if q.having and q.having.op == ">" else "at least"
                return self.pick(f"Which {g} values appear in {more} {k} {entity}{where}?",
                                 f"List the {g} shared by {more} {k} {entity}{where}.")
            text = self.pick(f"For each {g}, what is the {self.items(rest, q)}",
                             f"Show each {g} and the {self.items(rest, q)}",
                             f"List every {g} together with the {self.items(rest, q)}")
            text += ("" if rest == [Agg("count")] and not where and not q.joins else f" of {entity}{where}") + (self.order(q) if q.order else "")
            return text + ("?" if text.startswith("For") else ".")
        if q.select == [Agg("count")]:
            return self.pick(f"How many {entity} are there{where}?", f"Count the {entity}{where}.",
                             f"What is the number of {entity}{where}?")
        what = ("distinct " if q.distinct else "") + self.items(q.select, q)
        suffix = where + (self.order(q) if q.order else "")
        if all(isinstance(i, Agg) for i in q.select):
            return self.pick(f"What is the {what} of {entity}{suffix}?", f"Compute the {what} over {entity}{suffix}.")
        return self.pick(f"List the {what} of {entity}{suffix}.", f"Show the {what} of all {entity}{suffix}.",
                         f"What are the {what} of the {entity}{suffix}?", f"Find the {what} for {entity}{suffix}.",
                         f"Give me the {what} of {entity}{suffix}.")

    def tree(self, t: Tree) -> str:
        if isinstance(t, Query):
            return self.query(t)
        what, entity = self.items(t.left.select, t.left), self.plural(t.left.entity)
        a, b = self.conds(t.left).strip(), self.conds(t.right).strip()
        if t.op == "union":
            return self.pick(f"List the {what} of {entity} {a}, together with those of {entity} {b}.",
                             f"What {what} belong to {entity} {a}, or to {entity} {b}?")
        if t.op == "intersect":
            return self.pick(f"Which {what} occur both among {entity} {a} and among {entity} {b}?",
                             f"Find the {what} common to {entity} {a} and {entity} {b}.")
        return self.pick(f"Which {what} of {entity} {a} do not occur among {entity} {b}?",
                         f"List the {what} of {entity} {a}, except those of {entity} {b}.")
