"""Hot reads whose SQL is written once: model instances with related rows attached, as `select_related` gives them,
for one round trip and no ORM compile a call.

Building a queryset's SQL (filters, joins, select_related, ordering) costs more Python than the round trip on the
paths a flash sale runs thousands of times a second (the cart read of every order attempt, the pay notification's
order lock). A `JoinedRead` writes its column list from the models' fields the first time it runs and keeps the
SQL; a call executes it, runs the fields' database converters (JSON, encrypted fields) and builds the instances
as `Model.from_db` does (see `_builder`). Each one is tested against the queryset it stands for.
"""

from __future__ import annotations

from collections.abc import Sequence
from inspect import getattr_static
from typing import Any

from django.db import connection
from django.db.models import Model
from django.db.models.base import ModelState
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute
from django.db.models.query_utils import DeferredAttribute
from django.db.models.signals import post_init, pre_init


class JoinedRead:
    """`models`: [(alias, model)], the first the one returned; `attach`: [(parent alias, field name, child alias)],
    parent.<field> is set to the child's instance (None when the child's id is NULL, a LEFT JOIN that found
    nothing); `tail`: the SQL after the column list, with `{alias}` standing for `"<table>" alias` and `%s` for the
    parameters; `joined`: {alias: model} of tables the tail names whose columns are not read; `only`: {alias: field
    names} reads just those fields (and the primary key) of that alias, the others deferred as `.only()` leaves
    them; `extra`: [(attribute, SQL expression naming the aliases as such)], each value set on the first model's
    instance as `.annotate()` sets it."""

    def __init__(
        self,
        *,
        models: Sequence[tuple[str, type[Model]]],
        attach: Sequence[tuple[str, str, str]],
        tail: str,
        joined: dict[str, type[Model]] | None = None,
        only: dict[str, Sequence[str]] | None = None,
        extra: Sequence[tuple[str, str]] = (),
    ):
        self.models = list(models)
        self.joined = dict(joined or {})
        self.attach = list(attach)
        self.tail = tail
        self.only = {alias: list(names) for alias, names in (only or {}).items()}
        self.extra = list(extra)
        self._sql: str | None = None

    def _prepare(self) -> None:
        columns: list[str] = []
        spans, converters = [], []
        for alias, model in self.models:
            fields = list(model._meta.concrete_fields)
            if alias in self.only:
                wanted = {model._meta.pk.name, *self.only[alias]}
                fields = [f for f in fields if f.name in wanted or f.attname in wanted]
            start = len(columns)
            columns += [f'{alias}."{f.column}"' for f in fields]
            pk_at = start + fields.index(model._meta.pk)
            names = [f.attname for f in fields]
            spans.append((alias, _builder(model, names), start, len(columns), pk_at))
            converters += [(start + i, f.from_db_value) for i, f in enumerate(fields) if hasattr(f, "from_db_value")]
        aliases = dict(self.models)
        self._links = [(parent, aliases[parent]._meta.get_field(name), child) for parent, name, child in self.attach]
        self._spans, self._converters = spans, converters
        tables = {alias: f'"{model._meta.db_table}" {alias}' for alias, model in [*self.models, *self.joined.items()]}
        self._extra_at = len(columns)
        columns += [f"({sql})" for _, sql in self.extra]
        self._sql = f"SELECT {', '.join(columns)} " + self.tail.format(**tables)

    @property
    def sql(self) -> str:
        if self._sql is None:
            self._prepare()
        return self._sql

    def __call__(self, params: Sequence[Any]) -> list[Model]:
        first = self.models[0][0]
        return [objects[first] for objects in self.rows(params)]

    def rows(self, params: Sequence[Any]) -> list[dict[str, Model | None]]:
        """Every row as {alias: instance, or None where a LEFT JOIN found nothing}, related rows attached, the
        `extra` values set on the first model's instance."""
        sql = self.sql
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        db = connection.alias
        found = []
        for row in rows:
            if self._converters:
                row = list(row)
                for i, convert in self._converters:
                    row[i] = convert(row[i], None, connection)
            objects = {
                alias: build(db, row[start:end]) if row[pk_at] is not None else None
                for alias, build, start, end, pk_at in self._spans
            }
            for parent, field, child in self._links:
                if objects[parent] is not None:
                    field.set_cached_value(objects[parent], objects[child])
            first = objects[self.models[0][0]]
            for n, (attribute, _) in enumerate(self.extra):
                setattr(first, attribute, row[self._extra_at + n])
            found.append(objects)
        return found


_PLAIN_ATTRIBUTES = (DeferredAttribute, ForeignKeyDeferredAttribute)
_new = object.__new__


def _builder(model: type[Model], names: list[str]):
    """`build(db, values)`: `model.from_db(db, names, values)` for a row of the model's concrete fields `names`
    (all of them, or those `only` reads: the others are then absent from the instance's __dict__, deferred, as
    from_db leaves them).

    Where that is all from_db and Model.__init__ would do, without them: a fresh ModelState (adding False, the
    database's alias) and each attname set in the instance's __dict__, which is what setting it through a plain
    field attribute does on a new instance (nothing cached to clear), without the per-field setattr and the two
    signals. A model with its own from_db or __init__, or a field with another descriptor, or anything listening
    to pre_init or post_init for the model (checked at each call), is built by from_db."""

    def by_from_db(db, values):
        return model.from_db(db, names, values)

    plain = (
        model.from_db.__func__ is Model.from_db.__func__
        and model.__init__ is Model.__init__
        and all(type(getattr_static(model, name, None)) in _PLAIN_ATTRIBUTES for name in names)
    )
    if not plain:
        return by_from_db

    def build(db, values):
        if pre_init.has_listeners(model) or post_init.has_listeners(model):
            return model.from_db(db, names, values)
        new = _new(model)
        state = new._state = ModelState()
        state.adding, state.db = False, db
        new.__dict__.update(zip(names, values, strict=True))
        return new

    return build
