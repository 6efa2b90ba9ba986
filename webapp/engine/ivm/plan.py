"""From a view body to a tree of ``ops`` operators, using DuckDB's own parser.

The body is parsed by ``json_serialize_sql`` (DuckDB's AST as JSON). The planner accepts SELECT
blocks made of: a FROM of tables, views and subqueries joined by inner or outer equi-joins; WHERE;
GROUP BY with COUNT, SUM, AVG, MIN, MAX (DISTINCT and FILTER allowed); HAVING; DISTINCT; UNION
[ALL]; ORDER BY without LIMIT (ignored: a view is a bag). Anything else raises ``Unsupported`` and
the view is recomputed instead.

Column references are rewritten to positions (``__c3``) of the rows an operator sees, turned
back into SQL by ``json_deserialize_sql``, and evaluated by DuckDB over the changed rows. The one
exception is a filter whose predicate lies in the small subset ``pyfilter`` reproduces exactly
(comparisons of columns and constants, AND/OR/NOT, IS NULL) and whose output is plain input
columns: a small change is filtered in Python, without DuckDB's fixed cost a query. Every type comes from DuckDB binding the same pieces of
the original query against a scratch database holding the program's tables and views, and the
finished plan must produce exactly the column types DuckDB gives the view, or it is refused.
"""

from __future__ import annotations

from .agg import AGG_KINDS, Aggregate, AggSpec
from .expr import (Ctx, Scope, Unsupported, check_expr, colref, conj, conjuncts, expr_key, is_agg, plain_pos,
                       positional, walk)
from .join import IndexSide, Join, TableSide
from .ops import Distinct, Node, Select, Source, TypeInfo, UnionAll
from .pyfilter import compile_filter
from ..sql import quote


def make_select(ctx: Ctx, child: Node, exprs: list[dict], where: dict | None, out_types: list[TypeInfo],
                keys_in=None) -> Select:
    """A Select over ``child`` computing positional ``exprs`` where positional ``where`` holds."""
    in_types = child.types
    refs: set[int] = set()
    for e in exprs + ([where] if where else []):
        walk(e, lambda x: refs.add(plain_pos(x)) if x["class"] == "COLUMN_REF" else None)
    refs.discard(None)
    plain = [plain_pos(e) for e in exprs]
    fast = keep = None
    if all(p is not None and in_types[p].duck == t.duck for p, t in zip(plain, out_types)):
        if where is None:
            fast = plain
        else:  # a filter that picks columns: Python may filter a small change (``pyfilter``)
            keep = compile_filter(where, in_types, ctx.constant)
    exprs_sql = [ctx.expr_sql(e) for e in exprs]
    where_sql = ctx.expr_sql(where) if where else None
    keys = []
    for k in (child.keys if keys_in is None else keys_in):
        mapped = []
        for p in k:
            if p not in plain:
                break
            mapped.append(plain.index(p))
        else:
            keys.append(tuple(mapped))
    return Select(child, out_types, keys, exprs_sql, where_sql, sorted(refs), fast, keep)


def _identity_filter(ctx: Ctx, child: Node, where: dict) -> Select:
    exprs = [colref(i) for i in range(len(child.types))]
    sel = make_select(ctx, child, exprs, where, child.types)
    sel.identity = True
    return sel


# ---------------------------------------------------------------------------------------------
# Queries

def plan_query(ctx: Ctx, node: dict) -> tuple[Node, list[str]]:
    """(operator tree, output column names) for a SELECT or set-operation node."""
    for m in node.get("modifiers") or []:
        if m["type"] == "ORDER_MODIFIER":
            continue
        if m["type"] == "DISTINCT_MODIFIER" and not m.get("distinct_on_targets"):
            continue
        raise Unsupported(f"{m['type'].replace('_MODIFIER', '').replace('_', ' ')} is not maintained incrementally")
    if (node.get("cte_map") or {}).get("map"):
        raise Unsupported("WITH (common table expressions) is not maintained incrementally")
    if node["type"] == "SET_OPERATION_NODE":
        return _plan_setop(ctx, node)
    if node["type"] != "SELECT_NODE":
        raise Unsupported(f"{node['type']} is not maintained incrementally")
    return _plan_select(ctx, node)


def _plan_setop(ctx: Ctx, node: dict) -> tuple[Node, list[str]]:
    if node.get("setop_type") != "UNION":
        raise Unsupported(f"{node.get('setop_type')} is not maintained incrementally")
    kids = node.get("children") or [node["left"], node["right"]]
    cols = ctx.describe_node(node)
    types = ctx.types(cols)
    plans = []
    for k in kids:
        p, _ = plan_query(ctx, k)
        if len(p.types) != len(types):
            raise Unsupported("UNION of queries with different column counts")
        if any(a.duck != b.duck for a, b in zip(p.types, types)):
            casts = [ctx.parse(f"SELECT CAST(__c{i} AS {t.duck})")["select_list"][0] for i, t in enumerate(types)]
            p = make_select(ctx, p, casts, None, types)
        plans.append(p)
    out: Node = UnionAll(plans, types, [])
    if not node.get("setop_all"):
        out = Distinct(out, types, [tuple(range(len(types)))])
    return out, [c for c, _ in cols]


def _plan_select(ctx: Ctx, node: dict) -> tuple[Node, list[str]]:
    if node.get("qualify") or node.get("sample"):
        raise Unsupported("QUALIFY/SAMPLE are not maintained incrementally")
    if node.get("from_table", {}).get("type") in (None, "EMPTY"):
        raise Unsupported("a view without FROM has nothing to maintain")
    child, scope = plan_from(ctx, node["from_table"])
    select_list = _expand_stars(node["select_list"], scope)
    where = node.get("where_clause")
    for e in select_list:
        check_expr(ctx, e, allow_agg=True)
    if where:
        check_expr(ctx, where, allow_agg=False)
    cols = ctx.describe_node(node)
    out_types = ctx.types(cols)
    names = [c for c, _ in cols]
    has_agg = bool(node.get("group_expressions")) or node.get("aggregate_handling") == "FORCE_AGGREGATES" \
        or node.get("having") is not None or _contains_agg(ctx, select_list)
    if has_agg:
        plan = _plan_aggregate(ctx, node, child, scope, select_list, where, out_types)
    else:
        exprs = [positional(e, scope) for e in select_list]
        plan = make_select(ctx, child, exprs, positional(where, scope) if where else None, out_types)
    if any(m["type"] == "DISTINCT_MODIFIER" for m in node.get("modifiers") or []):
        plan = Distinct(plan, out_types, plan.keys + [tuple(range(len(out_types)))])
    return plan, names


def _contains_agg(ctx, exprs) -> bool:
    found = []
    walk(exprs, lambda x: found.append(1) if is_agg(ctx, x) else None)
    return bool(found)


def _expand_stars(select_list: list[dict], scope: Scope) -> list[dict]:
    out = []
    for e in select_list:
        if e.get("class") != "STAR":
            out.append(e)
            continue
        if e.get("exclude_list") or e.get("replace_list") or e.get("columns") or e.get("expr") \
                or e.get("qualified_exclude_list") or e.get("rename_list"):
            raise Unsupported("* with EXCLUDE/REPLACE/COLUMNS is not maintained incrementally")
        rel = (e.get("relation_name") or "").lower()
        leaves = [lf for lf in scope.leaves if not rel or lf[0] == rel]
        if not leaves:
            raise Unsupported(f"{rel}.* names no relation of the FROM clause")
        for alias, names, _ in leaves:
            for n in names:
                out.append({"class": "COLUMN_REF", "type": "COLUMN_REF", "alias": "", "query_location": 0,
                            "query_location_length": 0, "column_names": [alias, n]})
    return out


# ---------------------------------------------------------------------------------------------
# FROM

def plan_from(ctx: Ctx, t: dict) -> tuple[Node, Scope]:
    kind = t["type"]
    if t.get("sample") or t.get("at_clause"):
        raise Unsupported("TABLESAMPLE / AT are not maintained incrementally")
    if kind == "BASE_TABLE":
        return _plan_base(ctx, t)
    if kind == "SUBQUERY":
        plan, names = plan_query(ctx, t["subquery"]["node"])
        alias = (t.get("alias") or "unnamed_subquery").lower()
        names = _renamed([n.lower() for n in names], t.get("column_name_alias") or [])
        return plan, Scope([(alias, names, 0)], plan.types)
    if kind == "JOIN":
        return _plan_join(ctx, t)
    raise Unsupported(f"{kind.lower()} in FROM is not maintained incrementally")


def _renamed(names: list[str], aliases: list[str]) -> list[str]:
    return [a.lower() for a in aliases] + names[len(aliases):]


def _plan_base(ctx: Ctx, t: dict) -> tuple[Node, Scope]:
    if t.get("schema_name") or t.get("catalog_name"):
        raise Unsupported("schema-qualified names are not maintained incrementally")
    name = t["table_name"]
    rel = ctx.program.by_internal(name)
    if rel is None:
        raise Unsupported(f"unknown relation {name}")
    cols = ctx.describe(f"SELECT * FROM {quote(rel.internal)}")
    types = ctx.types(cols)
    if rel.kind == "table":
        keys = [tuple(rel.column_names.index(k) for k in rel.primary_key)] if rel.primary_key else []
        node = Source(rel.name, types, keys, True)
    else:
        up = ctx.views.get(rel.name)
        node = Source(rel.name, types, list(up.keys) if up is not None else [], False)
    node.colnames = [c for c, _ in cols]
    node.internal = rel.internal
    alias = (t.get("alias") or name).lower()
    names = _renamed([c.lower() for c, _ in cols], t.get("column_name_alias") or [])
    return node, Scope([(alias, names, 0)], types)


_COMPATIBLE = [{"int", "decimal"}, {"float"}, {"str"}, {"bool"}, {"date"}, {"time"}, {"timestamp"}]


def _plan_join(ctx: Ctx, t: dict) -> tuple[Node, Scope]:
    jt, ref = t.get("join_type"), t.get("ref_type")
    if ref != "REGULAR" or t.get("using_columns") or t.get("condition") is None:
        raise Unsupported(f"{(ref or '').lower()} joins without ON (CROSS, NATURAL, USING, ...) are not "
                          "maintained incrementally")
    if jt not in ("INNER", "LEFT", "RIGHT", "OUTER", "FULL"):
        raise Unsupported(f"{jt} joins are not maintained incrementally")
    pad_right = jt in ("LEFT", "OUTER", "FULL")
    pad_left = jt in ("RIGHT", "OUTER", "FULL")
    lplan, lscope = plan_from(ctx, t["left"])
    rplan, rscope = plan_from(ctx, t["right"])
    lw = len(lplan.types)
    scope = Scope(lscope.leaves + rscope.shifted(lw), lplan.types + rplan.types)
    check_expr(ctx, t["condition"], allow_agg=False)
    lk, rk, left_only, right_only, rest = [], [], [], [], []
    for c in conjuncts(t["condition"]):
        refs = scope.refs(c)
        if c.get("class") == "COMPARISON" and c.get("type") == "COMPARE_EQUAL":
            a, b = c["left"], c["right"]
            if a.get("class") == "COLUMN_REF" and b.get("class") == "COLUMN_REF":
                pa_, pb = scope.resolve(a["column_names"]), scope.resolve(b["column_names"])
                if pa_ >= lw > pb:
                    pa_, pb = pb, pa_
                if pa_ < lw <= pb and _compatible(scope.types[pa_], scope.types[pb]):
                    lk.append(pa_)
                    rk.append(pb - lw)
                    continue
        if refs and all(r < lw for r in refs):
            left_only.append(c)
        elif refs and all(r >= lw for r in refs):
            right_only.append(c)
        else:
            rest.append(c)
    if not lk:
        raise Unsupported("a join needs an equality between a column of each side to be maintained")
    if pad_right and (left_only or rest) or pad_left and (right_only or rest):
        raise Unsupported("an outer join's ON condition may only add conditions on the padded side")
    # Conditions on one side only are applied to that side before the join (for an outer join
    # that is what they mean; for an inner join it makes the join's state smaller).
    if right_only:
        rplan = _identity_filter(ctx, rplan, positional(conj(right_only), Scope(rscope.leaves, rplan.types)))
    if left_only:
        lplan = _identity_filter(ctx, lplan, positional(conj(left_only), Scope(lscope.leaves, lplan.types)))
    post = rest
    keys = _join_keys(lplan.keys, rplan.keys, lk, rk, lw, pad_left, pad_right)
    node: Node = Join(_side(lplan, tuple(lk)), _side(rplan, tuple(rk)), lplan.types + rplan.types, keys,
                      pad_left, pad_right)
    if post:
        node = _identity_filter(ctx, node, positional(conj(post), scope))
    return node, scope


def _compatible(a: TypeInfo, b: TypeInfo) -> bool:
    return any(a.kind in g and b.kind in g for g in _COMPATIBLE)


def _side(plan: Node, keypos: tuple[int, ...]):
    """A stored table (or a filter of one) is probed in place; anything else is indexed in memory."""
    base, post = plan, None
    if isinstance(plan, Select) and getattr(plan, "identity", False) and isinstance(plan.child, Source):
        base, post = plan.child, plan
    if isinstance(base, Source) and base.is_table:
        return TableSide(plan, keypos, base.internal, base.types, [base.colnames[p] for p in keypos], keypos, post)
    return IndexSide(plan, keypos)


def _join_keys(lkeys, rkeys, lk, rk, lw, pad_left, pad_right) -> list[tuple[int, ...]]:
    keys = []
    for a in lkeys:
        for b in rkeys:
            keys.append(tuple(a) + tuple(lw + p for p in b))
    if not pad_left and any(set(b) <= set(rk) for b in rkeys):
        keys += [tuple(a) for a in lkeys]
    if not pad_right and any(set(a) <= set(lk) for a in lkeys):
        keys += [tuple(lw + p for p in b) for b in rkeys]
    return list(dict.fromkeys(keys))


# ---------------------------------------------------------------------------------------------
# GROUP BY

def _plan_aggregate(ctx, node, child, scope, select_list, where, out_types) -> Node:
    if len(node.get("group_sets") or []) > 1:
        raise Unsupported("GROUPING SETS / ROLLUP / CUBE are not maintained incrementally")
    having = node.get("having")
    if having:
        check_expr(ctx, having, allow_agg=True)
    # group expressions, in the original spelling (for typing) and positional (for evaluation)
    groups = []
    if node.get("aggregate_handling") == "FORCE_AGGREGATES" and not node.get("group_expressions"):
        # DuckDB groups by the select items without aggregates, constants left out
        groups = [e for e in select_list if not _contains_agg(ctx, e) and _has_column(e)]
    for g in node.get("group_expressions") or []:
        groups.append(_group_target(g, select_list, scope))
    for g in groups:
        check_expr(ctx, g, allow_agg=False)
    gpos = [positional(g, scope) for g in groups]
    gkeys = {}
    for j, g in enumerate(gpos):
        gkeys.setdefault(expr_key(g), j)
    # aggregates
    aggs: list[dict] = []
    akeys: dict[str, int] = {}

    def collect(e):
        if is_agg(ctx, e):
            k = expr_key(positional(e, scope))
            if k not in akeys:
                akeys[k] = len(aggs)
                aggs.append(e)
    for e in select_list + ([having] if having else []):
        _walk_aggs(ctx, e, collect)
    m = len(groups)
    pre_orig = list(groups)
    specs_raw = []
    for a in aggs:
        name = a["function_name"].lower()
        args = [x["expression"] if "expression" in x else x for x in a.get("arguments") or []]
        kind = {"mean": "avg", "bool_and": "min", "bool_or": "max"}.get(name, name)
        if kind == "count" and not args:
            kind = "count_star"
        if kind not in AGG_KINDS or (kind != "count_star" and len(args) != 1) or a.get("export_state"):
            raise Unsupported(f"aggregate {name}() is not maintained incrementally")
        argpos = filtpos = None
        if args:
            argpos = _pre_slot(pre_orig, args[0], scope)
        if a.get("filter"):
            filtpos = _pre_slot(pre_orig, a["filter"], scope)
        specs_raw.append((kind, argpos, filtpos, bool(a.get("distinct")), a))
    pre_from = dict(node, select_list=[dict(e, alias="") for e in pre_orig], group_expressions=[], group_sets=[],
                    having=None, aggregate_handling="STANDARD_HANDLING", modifiers=[])
    pre_types = ctx.types(ctx.describe_node(pre_from)) if pre_orig else []
    pre = make_select(ctx, child, [positional(e, scope) for e in pre_orig],
                      positional(where, scope) if where else None, pre_types, keys_in=[])
    agg_node = dict(pre_from, select_list=[dict(a, alias="") for a in aggs])
    agg_types = ctx.types(ctx.describe_node(agg_node)) if aggs else []
    specs = []
    for (kind, argpos, filtpos, distinct, a), ot in zip(specs_raw, agg_types):
        spec = AggSpec(kind, argpos, filtpos, distinct, pre_types[argpos] if argpos is not None else None, ot)
        if not spec.supported():
            raise Unsupported(f"{a['function_name']}() over {spec.in_type.duck if spec.in_type else '*'} "
                              "is not maintained incrementally")
        specs.append(spec)
    agg = Aggregate(pre, m, specs, pre_types[:m] + agg_types)
    # the select list and HAVING over (group values..., aggregate values...)
    def post(e):
        return _post_expr(ctx, e, scope, gkeys, akeys, m)
    exprs = [post(e) for e in select_list]
    return make_select(ctx, agg, exprs, post(having) if having else None, out_types)


def _has_column(e) -> bool:
    found = []
    walk(e, lambda x: found.append(1) if x["class"] == "COLUMN_REF" else None)
    return bool(found)


def _walk_aggs(ctx, e, fn):
    """Call ``fn`` on each outermost aggregate call in ``e``."""
    if isinstance(e, dict):
        if is_agg(ctx, e):
            fn(e)
            return
        for v in e.values():
            _walk_aggs(ctx, v, fn)
    elif isinstance(e, list):
        for x in e:
            _walk_aggs(ctx, x, fn)


def _group_target(g: dict, select_list: list[dict], scope: Scope) -> dict:
    """GROUP BY 2 and GROUP BY alias name a select item; anything else is the expression itself."""
    if g.get("class") == "CONSTANT" and g["literal"].get("kind") in ("INTEGER", "BIGINT"):
        i = int(g["literal"]["text"])
        if not 1 <= i <= len(select_list):
            raise Unsupported("GROUP BY position out of range")
        return select_list[i - 1]
    if g.get("class") == "COLUMN_REF" and len(g["column_names"]) == 1:
        try:
            scope.resolve(g["column_names"])
        except Unsupported:
            hits = [e for e in select_list if (e.get("alias") or "").lower() == g["column_names"][0].lower()]
            if len(hits) == 1:
                return hits[0]
            raise
    return g


def _pre_slot(pre: list[dict], e: dict, scope: Scope) -> int:
    k = expr_key(positional(e, scope))
    for i, x in enumerate(pre):
        if expr_key(positional(x, scope)) == k:
            return i
    pre.append(e)
    return len(pre) - 1


def _post_expr(ctx, e, scope, gkeys, akeys, m):
    def rec(x):
        if isinstance(x, list):
            return [rec(y) for y in x]
        if not isinstance(x, dict):
            return x
        if "class" in x:
            if is_agg(ctx, x):
                return colref(m + akeys[expr_key(positional(x, scope))])
            if x["class"] not in ("TYPE", "CONSTANT"):
                try:
                    k = expr_key(positional(x, scope))
                except Unsupported:
                    k = None
                if k in gkeys:
                    return colref(gkeys[k])
            if x["class"] == "COLUMN_REF":
                raise Unsupported(f"column {'.'.join(x['column_names'])} is neither grouped nor aggregated")
        return {k: (rec(v) if k != "type_expr" else v) for k, v in x.items()}
    return rec(e)


__all__ = ["Ctx", "Unsupported", "plan_query", "expr_key"]
