"""A redemption reads its window of open lots in the index's order, whatever the planner believes (issue 17).

points_debit reads at most 32 open lots of the account, oldest expiry first, through the partial index
points_lot_open (account, expires_at, id) WHERE is_open: an index walk that stops at the window. But the plan is
chosen from statistics, and they lag behind the lots: a member whose open lots grew since the last ANALYZE, or any
member once PL/pgSQL has switched the statement to its generic plan (which estimates the rows of an average
account, 21 in bench/points.py), got a bitmap scan of ALL the account's open lots and a sort of them - a
redemption reading 6,000 lots to use one (0.7 ms instead of 0.2; redeem at 1 client fell to 0.30x bare SQL).

The function now runs with sorts and bitmap scans priced out (a SET clause of the function: in force only while it
runs, for the statements of its own body), so the only plan left for that ORDER BY .. LIMIT is the ordered index
walk. Its other statements are unique-key look-ups, which neither setting touches.
Like 0004-0007 the function is shared (public); a later CREATE OR REPLACE of points_debit must repeat these SETs
(tests/points/test_ledger_functions.py checks them).
"""

from django.db import migrations

SIGNATURE = "public.points_debit(bigint, varchar, bigint, varchar, varchar, varchar, varchar, integer, timestamptz)"

# Brands migrate in parallel and the function is one row of pg_proc: serialized as 0004-0007 are.
LOCK = "SELECT pg_advisory_xact_lock(hashtext('ekr.points.ledger_functions'));\n"
FORWARD = LOCK + f"ALTER FUNCTION {SIGNATURE} SET enable_sort = off SET enable_bitmapscan = off;"
# Undone brand by brand: a brand undone further back (0004) may have dropped the shared function already.
BACKWARD = (
    LOCK
    + f"""DO $$ BEGIN
    IF to_regprocedure('{SIGNATURE}') IS NOT NULL THEN
        ALTER FUNCTION {SIGNATURE} RESET ALL;
    END IF;
END $$;"""
)


class Migration(migrations.Migration):
    dependencies = [
        ("points", "0007_tier_check_marker"),
    ]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
