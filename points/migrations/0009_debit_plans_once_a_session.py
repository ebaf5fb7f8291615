"""points_debit keeps one plan a session for each of its statements (issue 17): no planning on every redemption.

PL/pgSQL caches the plans of a function's statements for the session, but under plan_cache_mode = auto a statement
with parameters is planned anew for every call (a custom plan) as long as the planner thinks the generic plan
costs more than the custom ones. The window of lots (`... WHERE account_id = $1 AND is_open ORDER BY expires_at,
id LIMIT 32`) stayed on custom plans: perf on a backend running redemptions showed BuildCachedPlan under the FOR
loop's SPI_cursor_open in about 8% of the function's CPU, every call.

Since 0008 the function runs with sorts and bitmap scans priced out, so the generic plan of that statement is the
same ordered walk of points_lot_open the custom plans chose, whatever the statistics (that was 0008's point); its
other statements are unique-key look-ups, whose generic plan is their only plan. The function now runs with
plan_cache_mode = force_generic_plan (a SET clause like 0008's: in force only while it runs): each statement is
planned once a session. tests/points/test_ledger_functions.py holds the window's reads (buffers) to a one-lot
member's and pins the settings; a later CREATE OR REPLACE of points_debit must repeat them.
"""

from django.db import migrations

SIGNATURE = "public.points_debit(bigint, varchar, bigint, varchar, varchar, varchar, varchar, integer, timestamptz)"

# Brands migrate in parallel and the function is one row of pg_proc: serialized as 0004-0008 are.
LOCK = "SELECT pg_advisory_xact_lock(hashtext('ekr.points.ledger_functions'));\n"
FORWARD = LOCK + f"ALTER FUNCTION {SIGNATURE} SET plan_cache_mode = force_generic_plan;"
# Undone brand by brand: a brand undone further back (0004) may have dropped the shared function already.
BACKWARD = (
    LOCK
    + f"""DO $$ BEGIN
    IF to_regprocedure('{SIGNATURE}') IS NOT NULL THEN
        ALTER FUNCTION {SIGNATURE} RESET plan_cache_mode;
    END IF;
END $$;"""
)


class Migration(migrations.Migration):
    dependencies = [
        ("points", "0008_debit_reads_lots_in_index_order"),
    ]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
