"""Leaner ledger writes (issue 17, bench/points.py): fewer index entries per credit and debit, HOT lot updates, and
ledger functions without a subtransaction.

- points_pointsentry: the idempotency key's UNIQUE becomes a named constraint (points_entry_idempotency_key), which
  drops the LIKE (varchar_pattern_ops) index Django adds beside `unique=True` (nothing searches keys by prefix);
  the B-tree on created_at (period reports) becomes a BRIN (entries are appended in time order).
- points_pointslot: `is_open` (remaining > 0, a stored generated column) is what the partial indexes test, so a
  debit that leaves points in its lot changes no indexed column; with fillfactor 80 the page has room for the new
  version, and the update is HOT (no index entries; before, each such debit added one to each of four indexes).
  The fillfactor is set before the column is added, so the rewrite that adding it causes already leaves the room.
- points_credit / points_debit: the EXCEPTION block (a subtransaction on every call, only there to undo the writes
  when the idempotency key is taken) is gone. A key already written is found by one index probe before anything is
  written (a replay writes nothing at all); a key written by a concurrent call that committed after that probe is
  caught by the entry's INSERT ... ON CONFLICT (idempotency_key) DO NOTHING, and the function then gives the
  account back the balance it changed (deleting it if this call created it), before any lot was touched. The one
  trace that race leaves is the account's updated_at. Same results, same statuses as 0004/0005.

The functions are shared (public, see 0004) and now read `is_open`: like 0004 and 0005, they serve the brands that
have this migration; migrate every brand (migrate_schemas) before serving with this code.
"""

import django.contrib.postgres.indexes
from importlib import import_module

from django.conf import settings
from django.db import migrations, models

# Undoing this migration puts back the functions of 0004 and 0005 (they read `remaining > 0`, not `is_open`).
BACKWARD_FUNCTIONS = (
    import_module("points.migrations.0004_ledger_functions").FORWARD
    + import_module("points.migrations.0005_debit_lots_windowed").FORWARD
)


FORWARD_FUNCTIONS = """
SELECT pg_advisory_xact_lock(hashtext('ekr.points.ledger_functions'));

CREATE OR REPLACE FUNCTION public.points_credit(
    p_member bigint, p_kind varchar, p_points bigint, p_key varchar, p_fp varchar, p_reference varchar,
    p_reason varchar, p_actor integer, p_now timestamptz, p_expires_at timestamptz, p_by_policy boolean,
    OUT entry_id bigint, OUT account_id bigint, OUT balance bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_created boolean := false;
BEGIN
    -- a replay writes nothing (entry_id NULL: the caller reads the first entry for the key)
    PERFORM 1 FROM points_pointsentry WHERE idempotency_key = p_key;
    IF FOUND THEN
        RETURN;
    END IF;
    UPDATE points_pointsaccount SET balance = points_pointsaccount.balance + p_points, updated_at = p_now
    WHERE member_id = p_member RETURNING id, points_pointsaccount.balance INTO account_id, balance;
    IF NOT FOUND THEN  -- the member's first credit (an upsert every time costs a speculative insert)
        INSERT INTO points_pointsaccount AS a (member_id, balance, updated_at) VALUES (p_member, p_points, p_now)
        ON CONFLICT (member_id) DO UPDATE SET balance = a.balance + EXCLUDED.balance, updated_at = EXCLUDED.updated_at
        RETURNING a.id, a.balance, (xmax = 0) INTO account_id, balance, v_created;
    END IF;
    INSERT INTO points_pointsentry (account_id, member_id, kind, amount, balance_after, idempotency_key, fingerprint,
                                    reference, reason, actor_id, shortfall, created_at)
    VALUES (account_id, p_member, p_kind, p_points, balance, p_key, p_fp, p_reference, p_reason, p_actor, 0, p_now)
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id INTO entry_id;
    IF entry_id IS NULL THEN  -- a concurrent call took the key and committed after the probe: undo our change
        IF v_created THEN
            DELETE FROM points_pointsaccount WHERE id = account_id;
        ELSE
            UPDATE points_pointsaccount SET balance = points_pointsaccount.balance - p_points WHERE id = account_id;
        END IF;
        account_id := NULL; balance := NULL;
        RETURN;
    END IF;
    INSERT INTO points_pointslot (account_id, entry_id, amount, remaining, expires_at, created_at)
    VALUES (account_id, entry_id, p_points, p_points,
            CASE WHEN p_by_policy THEN public.points_lot_expiry(p_now) ELSE p_expires_at END, p_now);
END;
$$;

CREATE OR REPLACE FUNCTION public.points_debit(
    p_member bigint, p_kind varchar, p_points bigint, p_key varchar, p_fp varchar, p_reference varchar,
    p_reason varchar, p_actor integer, p_now timestamptz,
    OUT status text, OUT entry_id bigint, OUT account_id bigint, OUT balance bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_left bigint := p_points;
    v_n bigint;
    v_read integer;
    v_lot record;
BEGIN
    PERFORM 1 FROM points_pointsentry WHERE idempotency_key = p_key;
    IF FOUND THEN  -- a replay writes nothing
        status := 'key_taken';
        RETURN;
    END IF;
    UPDATE points_pointsaccount SET balance = points_pointsaccount.balance - p_points, updated_at = p_now
    WHERE member_id = p_member AND points_pointsaccount.balance >= p_points
    RETURNING id, points_pointsaccount.balance INTO account_id, balance;
    IF NOT FOUND THEN
        status := 'insufficient';
        RETURN;
    END IF;
    INSERT INTO points_pointsentry (account_id, member_id, kind, amount, balance_after, idempotency_key, fingerprint,
                                    reference, reason, actor_id, shortfall, created_at)
    VALUES (account_id, p_member, p_kind, -p_points, balance, p_key, p_fp, p_reference, p_reason, p_actor, 0, p_now)
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id INTO entry_id;
    IF entry_id IS NULL THEN  -- a concurrent call took the key and committed after the probe: undo our change
        UPDATE points_pointsaccount SET balance = points_pointsaccount.balance + p_points WHERE id = account_id;
        status := 'key_taken'; account_id := NULL; balance := NULL;
        RETURN;
    END IF;
    -- oldest expiry first (NULL = never, last), 32 open lots a read from the partial index points_lot_open (0005)
    LOOP
        v_read := 0;
        FOR v_lot IN
            SELECT id, remaining FROM points_pointslot
            WHERE points_pointslot.account_id = points_debit.account_id AND is_open
            ORDER BY expires_at ASC NULLS LAST, id
            LIMIT 32
        LOOP
            v_read := v_read + 1;
            v_n := LEAST(v_lot.remaining, v_left);
            UPDATE points_pointslot SET remaining = remaining - v_n WHERE id = v_lot.id;
            INSERT INTO points_pointslotuse (entry_id, lot_id, amount) VALUES (points_debit.entry_id, v_lot.id, v_n);
            v_left := v_left - v_n;
            EXIT WHEN v_left = 0;
        END LOOP;
        EXIT WHEN v_left = 0 OR v_read = 0;
    END LOOP;
    IF v_left <> 0 THEN  -- balance and lots disagree: refuse rather than write a ledger that does not add up
        RAISE EXCEPTION 'points lots do not cover the balance of account %', account_id USING ERRCODE = 'EKRL1';
    END IF;
    status := 'ok';
END;
$$;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0009_merge_20261130_1740"),
        ("points", "0005_debit_lots_windowed"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="pointsentry",
            name="points_entry_created_at",
        ),
        migrations.RemoveIndex(
            model_name="pointslot",
            name="points_lot_open",
        ),
        migrations.RemoveIndex(
            model_name="pointslot",
            name="points_lot_due",
        ),
        migrations.RunSQL(
            "ALTER TABLE points_pointslot SET (fillfactor = 80)", "ALTER TABLE points_pointslot RESET (fillfactor)"
        ),
        migrations.AddField(
            model_name="pointslot",
            name="is_open",
            field=models.GeneratedField(
                db_persist=True,
                expression=models.ExpressionWrapper(models.Q(("remaining__gt", 0)), output_field=models.BooleanField()),
                output_field=models.BooleanField(),
            ),
        ),
        migrations.AlterField(
            model_name="pointsentry",
            name="idempotency_key",
            field=models.CharField(max_length=128),
        ),
        migrations.AddIndex(
            model_name="pointsentry",
            index=django.contrib.postgres.indexes.BrinIndex(
                autosummarize=True, fields=["created_at"], name="points_entry_created_brin", pages_per_range=32
            ),
        ),
        migrations.AddIndex(
            model_name="pointslot",
            index=models.Index(
                condition=models.Q(("is_open", True)), fields=["account", "expires_at", "id"], name="points_lot_open"
            ),
        ),
        migrations.AddIndex(
            model_name="pointslot",
            index=models.Index(condition=models.Q(("is_open", True)), fields=["expires_at"], name="points_lot_due"),
        ),
        migrations.AddConstraint(
            model_name="pointsentry",
            constraint=models.UniqueConstraint(fields=("idempotency_key",), name="points_entry_idempotency_key"),
        ),
        migrations.RunSQL(FORWARD_FUNCTIONS, BACKWARD_FUNCTIONS),
    ]
