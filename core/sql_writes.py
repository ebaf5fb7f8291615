"""A row and the rows that belong to it, inserted in one statement: what `parent.save(force_insert=True)` followed
by saving each child would write, in one round trip and without the ORM's compile of each INSERT.

Values go through each field's `pre_save(add=True)` and `get_db_prep_save`, as `Model.save` sends them; the
instances get their ids and are marked saved, as after `save()`. Where something listens to pre_save or post_save
of one of the models, the rows are saved through the ORM instead, so that it is told.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection
from django.db.models import Model
from django.db.models.signals import post_save, pre_save


def insert_with_children(parent: Model, children: Sequence[tuple[Model, str]]) -> None:
    """INSERT `parent`, then each child with its foreign key `field_name` set to the parent's new id, in one
    statement (in the transaction of the caller). Sets the ids (and the children's foreign keys)."""
    models = {type(parent), *(type(child) for child, _ in children)}
    if any(pre_save.has_listeners(m) or post_save.has_listeners(m) for m in models):
        parent.save(force_insert=True)
        for child, name in children:
            setattr(child, name, parent)
            child.save(force_insert=True)
        return
    quote = connection.ops.quote_name
    params: list = []

    def columns_and_values(obj: Model, skip: str | None) -> tuple[list[str], list[str]]:
        fields = [f for f in type(obj)._meta.concrete_fields if not f.primary_key and f.name != skip]
        params.extend(f.get_db_prep_save(f.pre_save(obj, add=True), connection) for f in fields)
        return [quote(f.column) for f in fields], ["%s"] * len(fields)

    columns, values = columns_and_values(parent, None)
    parts = [
        f"p AS (INSERT INTO {quote(parent._meta.db_table)} ({', '.join(columns)}) VALUES ({', '.join(values)}) "
        'RETURNING "id")'
    ]
    for i, (child, name) in enumerate(children):
        fk = type(child)._meta.get_field(name)
        columns, values = columns_and_values(child, name)
        parts.append(
            f"c{i} AS (INSERT INTO {quote(child._meta.db_table)} ({quote(fk.column)}, {', '.join(columns)}) "
            f'SELECT p."id", {", ".join(values)} FROM p RETURNING "id")'
        )
    names = ["p", *(f"c{i}" for i in range(len(children)))]
    sql = f"WITH {', '.join(parts)} SELECT {', '.join(f'{n}.id' for n in names)} FROM {', '.join(names)}"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        ids = cursor.fetchone()
    for obj, pk in zip([parent, *(child for child, _ in children)], ids, strict=True):
        obj.pk = pk
        obj._state.adding, obj._state.db = False, connection.alias
    for child, name in children:
        setattr(child, type(child)._meta.get_field(name).attname, parent.pk)
