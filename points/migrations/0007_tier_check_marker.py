"""An earn asks for the member's tier check in the write it already makes, not in Redis (issue 17, bench/points.py).

Before, every earn ran a Redis SET NX after commit (enqueue_coalesced) to learn whether a tier check was already
waiting: a round trip per earn, most of the earn's own CPU. Now the account row, which points_credit updates and
locks anyway, carries `tier_check_asked_at`: the earn that finds it empty (or older than the TTL) sets it to now()
and gets `tier_check_due` true, and only that earn queues the check (after commit); the others find it set and ask
for nothing. The check (members.services.tiers.member_tier_refresh) clears it as its first step, by an UPDATE of
the same row, before it reads the trailing 12 months:
- an earn that committed before the clear is seen by the read that follows it;
- an earn in flight holds the row lock, so the clear waits for its commit, and the read that follows sees it;
- an earn after the clear finds the column empty and queues a check of its own.
No clock other than the database's takes part, and no ETA: a check that runs early, late, or twice reads what
committed before its clear. The TTL only covers a check lost after its earn committed (a crash before the send):
the next earn after it queues a new one. An earn whose key turned out taken undoes its mark with its balance.

points_credit gains `p_tier_ttl` (seconds; NULL: this credit is no tier input and leaves the mark alone) and the
OUT column `tier_check_due`, so the old signature is dropped. Like 0004-0006, the function is shared (public) and
serves the brands that have this migration: migrate every brand before serving with this code.
"""

from importlib import import_module

from django.db import migrations, models

OLD_SIGNATURE = (
    "public.points_credit(bigint, varchar, bigint, varchar, varchar, varchar, varchar, integer, timestamptz, "
    "timestamptz, boolean)"
)
NEW_SIGNATURE = OLD_SIGNATURE[:-1] + ", integer)"

FORWARD = f"""
SELECT pg_advisory_xact_lock(hashtext('ekr.points.ledger_functions'));

DROP FUNCTION IF EXISTS {OLD_SIGNATURE};

CREATE OR REPLACE FUNCTION public.points_credit(
    p_member bigint, p_kind varchar, p_points bigint, p_key varchar, p_fp varchar, p_reference varchar,
    p_reason varchar, p_actor integer, p_now timestamptz, p_expires_at timestamptz, p_by_policy boolean,
    p_tier_ttl integer,
    OUT entry_id bigint, OUT account_id bigint, OUT balance bigint, OUT tier_check_due boolean)
LANGUAGE plpgsql AS $$
DECLARE
    v_created boolean := false;
BEGIN
    -- a replay writes nothing (entry_id NULL: the caller reads the first entry for the key)
    PERFORM 1 FROM points_pointsentry WHERE idempotency_key = p_key;
    IF FOUND THEN
        RETURN;
    END IF;
    -- the tier mark: kept while a check asked for within the TTL has not cleared it, else set to now() (due)
    UPDATE points_pointsaccount AS a SET balance = a.balance + p_points, updated_at = p_now,
        tier_check_asked_at = CASE
            WHEN p_tier_ttl IS NULL OR a.tier_check_asked_at > now() - make_interval(secs => p_tier_ttl)
            THEN a.tier_check_asked_at ELSE now() END
    WHERE member_id = p_member
    RETURNING a.id, a.balance, p_tier_ttl IS NOT NULL AND a.tier_check_asked_at = now()
    INTO account_id, balance, tier_check_due;
    IF NOT FOUND THEN  -- the member's first credit (an upsert every time costs a speculative insert)
        INSERT INTO points_pointsaccount AS a (member_id, balance, updated_at, tier_check_asked_at)
        VALUES (p_member, p_points, p_now, CASE WHEN p_tier_ttl IS NULL THEN NULL ELSE now() END)
        ON CONFLICT (member_id) DO UPDATE SET balance = a.balance + EXCLUDED.balance, updated_at = EXCLUDED.updated_at,
            tier_check_asked_at = CASE
                WHEN p_tier_ttl IS NULL OR a.tier_check_asked_at > now() - make_interval(secs => p_tier_ttl)
                THEN a.tier_check_asked_at ELSE now() END
        RETURNING a.id, a.balance, (xmax = 0), p_tier_ttl IS NOT NULL AND a.tier_check_asked_at = now()
        INTO account_id, balance, v_created, tier_check_due;
    END IF;
    INSERT INTO points_pointsentry (account_id, member_id, kind, amount, balance_after, idempotency_key, fingerprint,
                                    reference, reason, actor_id, shortfall, created_at)
    VALUES (account_id, p_member, p_kind, p_points, balance, p_key, p_fp, p_reference, p_reason, p_actor, 0, p_now)
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id INTO entry_id;
    IF entry_id IS NULL THEN  -- a concurrent call took the key and committed after the probe: undo our change
        IF v_created THEN
            DELETE FROM points_pointsaccount WHERE id = account_id;
        ELSE  -- a mark this call set has no check coming: cleared (an empty and an expired mark mean the same)
            UPDATE points_pointsaccount AS a SET balance = a.balance - p_points,
                tier_check_asked_at = CASE WHEN tier_check_due THEN NULL ELSE a.tier_check_asked_at END
            WHERE id = account_id;
        END IF;
        account_id := NULL; balance := NULL; tier_check_due := false;
        RETURN;
    END IF;
    INSERT INTO points_pointslot (account_id, entry_id, amount, remaining, expires_at, created_at)
    VALUES (account_id, entry_id, p_points, p_points,
            CASE WHEN p_by_policy THEN public.points_lot_expiry(p_now) ELSE p_expires_at END, p_now);
END;
$$;
"""

# Undoing puts back 0006's functions (the credit without the tier mark).
BACKWARD = (
    "SELECT pg_advisory_xact_lock(hashtext('ekr.points.ledger_functions'));\n"
    f"DROP FUNCTION IF EXISTS {NEW_SIGNATURE};\n" + import_module("points.migrations.0006_ledger_lean_writes").FORWARD_FUNCTIONS
)


class Migration(migrations.Migration):
    dependencies = [
        ("points", "0006_ledger_lean_writes"),
    ]

    operations = [
        migrations.AddField(
            model_name="pointsaccount",
            name="tier_check_asked_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        # the function reads the column: created after it, dropped before it
        migrations.RunSQL(FORWARD, BACKWARD),
    ]
