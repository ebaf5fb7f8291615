"""points_debit reads the account's open lots 32 at a time (LIMIT), so the partial index yields them in order and
the read stops early: 0004's single unlimited read sorted every open lot of the account on each debit, which
bench/points.py showed costing 3.5 ms a redemption for a member with about a thousand open lots.

Same semantics as 0004 (see its docstring): one statement, the lots read after the account's row lock, a taken
idempotency key undoes the function's writes. Serialised by the same advisory lock as 0004 for parallel migrations.
"""

from django.db import migrations

FORWARD = """
SELECT pg_advisory_xact_lock(hashtext('ekr.points.ledger_functions'));

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
    v_constraint text;
BEGIN
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
    RETURNING id INTO entry_id;
    -- oldest expiry first (NULL = never, last), 32 lots a read: with LIMIT the partial index points_lot_open gives
    -- them in order and the read stops there (a member with a thousand open lots is not sorted on every debit).
    -- Lots a window empties drop out of the next read (remaining > 0), so each read starts where the last ended.
    LOOP
        v_read := 0;
        FOR v_lot IN
            SELECT id, remaining FROM points_pointslot
            WHERE points_pointslot.account_id = points_debit.account_id AND remaining > 0
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
EXCEPTION WHEN unique_violation THEN
    GET STACKED DIAGNOSTICS v_constraint = CONSTRAINT_NAME;
    IF v_constraint NOT LIKE '%idempotency_key%' THEN
        RAISE;
    END IF;
    status := 'key_taken'; entry_id := NULL; account_id := NULL; balance := NULL;
END;
$$;
"""


class Migration(migrations.Migration):
    dependencies = [("points", "0004_ledger_functions")]

    operations = [migrations.RunSQL(FORWARD, migrations.RunSQL.noop)]
