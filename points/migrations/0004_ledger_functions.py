"""The ledger's two hot writes as SQL functions: a credit or a debit is one statement, so one round trip.

Each function is atomic (one statement) and, being VOLATILE plpgsql, takes a fresh snapshot per statement inside it
(READ COMMITTED): the debit reads the lots after it holds the account's row lock, as the two-statement version did.
An idempotency key already taken returns no entry and undoes the function's other writes (the EXCEPTION block is a
subtransaction), so a caller's own transaction is never aborted by a replay.

The functions live once, in the public schema, and name tables unqualified: they act on the brand whose schema
leads the search_path (in the public schema alone they find no ledger tables and fail). One copy for every brand
keeps a database session's function cache from growing with the brands it serves; PostgreSQL re-plans the
functions' cached statements when the search_path changes, as it does for prepared statements. Every brand's
migration runs the same CREATE OR REPLACE (the template's comes first), and undoing it in one brand leaves them
for the others. The expiry rule is the one in points/services/expiry.py; tests/points/test_ledger_functions.py
checks both give the same instant.
"""

from django.db import migrations

# Brands migrate in parallel (EKR_MIGRATE_PARALLEL): one at a time here, or a concurrent CREATE OR REPLACE of the
# same function fails ("tuple concurrently updated", or a duplicate key in pg_proc for a new one); the lock ends
# with the brand's migration transaction.
FORWARD = """
SELECT pg_advisory_xact_lock(hashtext('ekr.points.ledger_functions'));

CREATE OR REPLACE FUNCTION public.points_lot_expiry(p_now timestamptz) RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_mode varchar;
    v_months integer;
    v_day date := (p_now AT TIME ZONE 'Asia/Shanghai')::date;
BEGIN
    SELECT expiry_mode, expiry_months INTO v_mode, v_months FROM points_pointspolicy WHERE id = 1;
    IF NOT FOUND THEN
        v_mode := 'months';
        v_months := 12;
    END IF;
    IF v_mode = 'never' THEN
        RETURN NULL;
    ELSIF v_mode = 'end_of_next_year' THEN
        RETURN make_date(extract(year FROM v_day)::integer + 2, 1, 1)::timestamp AT TIME ZONE 'Asia/Shanghai';
    END IF;
    RETURN ((v_day + make_interval(months => v_months))::date + 1)::timestamp AT TIME ZONE 'Asia/Shanghai';
END;
$$;

CREATE OR REPLACE FUNCTION public.points_credit(
    p_member bigint, p_kind varchar, p_points bigint, p_key varchar, p_fp varchar, p_reference varchar,
    p_reason varchar, p_actor integer, p_now timestamptz, p_expires_at timestamptz, p_by_policy boolean,
    OUT entry_id bigint, OUT account_id bigint, OUT balance bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_constraint text;
BEGIN
    UPDATE points_pointsaccount SET balance = points_pointsaccount.balance + p_points, updated_at = p_now
    WHERE member_id = p_member RETURNING id, points_pointsaccount.balance INTO account_id, balance;
    IF NOT FOUND THEN  -- the member's first credit (an upsert every time costs a speculative insert)
        INSERT INTO points_pointsaccount AS a (member_id, balance, updated_at) VALUES (p_member, p_points, p_now)
        ON CONFLICT (member_id) DO UPDATE SET balance = a.balance + EXCLUDED.balance, updated_at = EXCLUDED.updated_at
        RETURNING a.id, a.balance INTO account_id, balance;
    END IF;
    INSERT INTO points_pointsentry (account_id, member_id, kind, amount, balance_after, idempotency_key, fingerprint,
                                    reference, reason, actor_id, shortfall, created_at)
    VALUES (account_id, p_member, p_kind, p_points, balance, p_key, p_fp, p_reference, p_reason, p_actor, 0, p_now)
    RETURNING id INTO entry_id;
    INSERT INTO points_pointslot (account_id, entry_id, amount, remaining, expires_at, created_at)
    VALUES (account_id, entry_id, p_points, p_points,
            CASE WHEN p_by_policy THEN public.points_lot_expiry(p_now) ELSE p_expires_at END, p_now);
EXCEPTION WHEN unique_violation THEN
    GET STACKED DIAGNOSTICS v_constraint = CONSTRAINT_NAME;
    IF v_constraint NOT LIKE '%idempotency_key%' THEN
        RAISE;
    END IF;
    entry_id := NULL; account_id := NULL; balance := NULL;
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
    -- oldest expiry first (NULL = never, last); the partial index points_lot_open yields them in this order
    FOR v_lot IN
        SELECT id, remaining FROM points_pointslot
        WHERE points_pointslot.account_id = points_debit.account_id AND remaining > 0
        ORDER BY expires_at ASC NULLS LAST, id
    LOOP
        v_n := LEAST(v_lot.remaining, v_left);
        UPDATE points_pointslot SET remaining = remaining - v_n WHERE id = v_lot.id;
        INSERT INTO points_pointslotuse (entry_id, lot_id, amount) VALUES (points_debit.entry_id, v_lot.id, v_n);
        v_left := v_left - v_n;
        EXIT WHEN v_left = 0;
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
    dependencies = [("points", "0003_restore_to_lots")]

    operations = [migrations.RunSQL(FORWARD, migrations.RunSQL.noop)]
