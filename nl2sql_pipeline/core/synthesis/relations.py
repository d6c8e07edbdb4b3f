"""How a question names rows reached through a foreign key: by the role the key's label gives
(签约人, 仓库管理员, approver), in both directions.

Along the key (a contract to its signer) the role names the other row: 签约人的月薪, the
approver's grade. Against it (an employee to the contracts that name them as signer) the rows
are the base row's by that role: 所签约的销售合同, 所管理的仓库, expense claims with the staff
member as approver. A plain link (inventory.wh_id, labelled 仓库编号 on the warehouses table) has
no role and names the table. A self-reference turns its role round: 直属上级 -> 直属下属,
上级部门 -> 下级部门 (English says the role itself: the manager of a staff member).
"""

from __future__ import annotations

import re

from nl2sql_pipeline.core.synthesis.ir import Join, Query
from nl2sql_pipeline.core.synthesis.schema import to_one

ID_SUFFIX = re.compile(r"(\s*(编号|编码|代码|id|ID|号|code|no))$", re.IGNORECASE)
# Role nouns whose verb is not the noun without its last character (管理员 -> 管理 is).
_ZH_VERBS = (("客户经理", "负责"), ("经理", "负责"), ("主管", "主管"), ("负责人", "负责"), ("管理员", "管理"))
_ZH_DURATIVE = {"负责", "管理", "主管"}  # a standing duty: 管理…的仓库, not 管理过
_EN_IRREGULAR = {"keeper": "kept", "holder": "held", "seller": "sold", "buyer": "bought", "payer": "paid"}


def role_of(label: str) -> str:
    return ID_SUFFIX.sub("", label).strip()


def plain_link(role: str, label: str) -> bool:
    """`staff` and `staff members`, `office` and `offices`, 所属部门 and 部门: one name, no role."""
    a, b = role.lower(), label.lower()
    if not a.isascii() and (a.endswith(b) or b.endswith(a)):
        return True  # 合同 for 销售合同, 发货仓库 for 仓库: the table's own name
    return a == b or a.rstrip("s") == b.rstrip("s") or (a.isascii() and b.startswith(a + " ")) or (
        a.isascii() and a.startswith(b + " "))


def hop(join: Join, views: dict) -> tuple[bool, str | None]:
    """(along the key, role) of one join step; the role is None for a plain link."""
    step = join.step
    left, right = views.get(step.left), views.get(step.right)
    if left is None or right is None:
        return True, None
    along = tuple(b for _, b in step.pairs) == right.primary_key
    if len(step.pairs) != 1:
        return along, None
    (mine, theirs), = step.pairs
    owner, key, named = (left, mine, right) if along else (right, theirs, left)
    link = next((c for c in owner.columns if c.name == key), None)
    if link is None:
        return along, None
    role = role_of(link.label)
    # Along the key 所属部门 is a fine name for the department; against it, it is no role.
    plain = role == named.label if along else plain_link(role, named.label)
    return along, (None if not role or role == link.label or plain else role)


def shared_target(views: dict, table: str, target: str) -> bool:
    """`table` points at `target` by more than one key (a claim's claimant and its approver): the
    plain one no longer goes without saying, so English names those rows as the target's own."""
    view = views.get(table)
    return view is not None and sum(1 for s in view.steps if s.right == target and len(s.pairs) == 1
                                    and to_one(s, views)) > 1


def chain(alias: str | None, q: Query) -> list[Join]:
    """The joins from the base table to `alias`, in order."""
    by_right = {j.right_alias: j for j in q.joins}
    out: list[Join] = []
    while alias in by_right and alias != q.alias:
        out.append(by_right[alias])
        alias = by_right[alias].left_alias
    return out[::-1]


def inverse_zh(role: str) -> str | None:
    """The other end of a hierarchy: 直属上级 -> 直属下属, 上级部门 -> 下级部门."""
    if role.endswith("上级"):
        return role[:-2] + "下属"
    return role.replace("上级", "下级") if "上级" in role else None


def verb_zh(role: str, table: str) -> str | None:
    """签约人 -> 签约, 仓库管理员 (on 仓库) -> 管理, 客户经理 -> 负责; None when no verb shows."""
    own = role[len(table):] if role.startswith(table) and len(role) > len(table) else role
    for noun, verb in _ZH_VERBS:
        if own.endswith(noun):
            return verb
    if len(own) >= 3 and own.endswith(("人", "员")):
        return own[:-1]
    return None


def verb_en(role: str) -> str | None:
    """approver -> approved, signer -> signed, keeper -> kept."""
    last = role.split()[-1].lower()
    if last in _EN_IRREGULAR:
        return _EN_IRREGULAR[last]
    if re.search(r"[a-z]{3}(er|or)$", last) and not last.endswith(("manager", "member", "customer", "order")):
        return last[:-2] + ("ed" if not last[:-2].endswith("e") else "d")
    return None


def owned_zh(role: str, table: str) -> str:
    """Rows of `table` that name the base row as `role`: 所签约的销售合同, 以其为客户经理的客户."""
    if verb := verb_zh(role, table):
        return f"所{verb}的{table}"
    return f"以其为{role}的{table}"


def owned_en(role: str, table: str, entity: str) -> str:
    if verb := verb_en(role):
        return f"{table} {verb} by the {entity}"
    return f"{table} with the {entity} as {role}"


def sub_zh(role: str, table: str, inner: str, negate: bool, self_ref: bool = False) -> str:
    """`pk IN (SELECT fk FROM table WHERE inner)` said of the base row: 签约过…的销售合同,
    管理…的仓库, 有…的直属下属; negated: 没有签约过任何销售合同."""
    verb, inverse = verb_zh(role, table), inverse_zh(role) if self_ref else None
    if negate:
        if inverse:
            return f"没有{inverse}"
        if verb:
            return f"没有{verb}{'' if verb in _ZH_DURATIVE else '过'}任何{table}"
        return f"不是任何{table}的{role}"
    if inverse:
        return f"有{inner}的{inverse}"
    if verb:
        return f"{verb}{'' if verb in _ZH_DURATIVE else '过'}{inner}的{table}"
    return f"担任{inner}的{table}的{role}"


def sub_en(role: str, table: str, inner: str, negate: bool) -> str:
    # English says the role itself (the manager of a staff member whose ...): no inverse needed.
    """`who are the approver of an expense claim whose ...`; negated: `who are not the approver of any ...`."""
    if negate:
        return f"who are not the {role} of any {table}"
    article = "an" if table[:1].lower() in "aeiou" else "a"
    return f"who are the {role} of {article} {table} whose {inner}"
