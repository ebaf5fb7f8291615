"""public.market_redeem: a redemption's steps in one statement, in the request (issue 17, bench/market.py).

The exchange state machine (rights_market.services.exchanges) ran a redemption as four transactions on the worker,
each re-reading and re-locking the exchange and switching the search path between the accepting brand and the
issuer. This function does the same work as one atomic statement, called in the member's request while the
connection is in the accepting brand's schema:

    debit the member (public.points_debit, on the accepting brand's ledger: the schema leading the search path),
    for an offer published from a coupon template, take one coupon of the template's stock (as
    miniprograms.services.coupons.coupon_template_reserve does; none left: refused as sold_out),
    issue the voucher in the issuer's schema (schema-qualified, never through the search path),
    insert the exchange (fulfilled; or stock_taken for a provider's code, the one outside call, which the
    worker's fulfil step makes after commit), the clearing line,
    then the member's count and the offer's stock (last: every redemption of the offer waits for its row, held
    from here to commit only).

Promises, the same as the steps':
- All or nothing: a refusal (insufficient_points, member_limit_reached, sold_out) undoes every write of the call
  in its own subtransaction and is returned as `status`; the caller's transaction stays usable.
- Idempotent: the exchange is unique on (accepting brand, member, request_key); a second call with the same key
  writes nothing and returns status 'replay' with the first exchange's id (a concurrent twin waits for the first
  to commit, then sees it). The debit is keyed on the new exchange's id ("market-exchange-<id>") with the
  fingerprint points.services would compute, so undoing it later (points_restore_to_lots) finds it as usual.
- Tenancy: the listing must be the calling brand's, and the accepting brand's schema must lead the search path
  (else SQLSTATE EKRM9 and nothing is written): the debit can only touch the member's own brand. The only other
  schema written is the offer's issuer's, by its name in tenants_brand: the defined cross-brand exchange.
- Lock order as in the state machine: the points account, then the issuer's coupon template (as its fulfil step),
  then MemberTake, then the offer.
"""

from django.db import migrations

FORWARD = r"""
CREATE OR REPLACE FUNCTION public.market_redeem(
    p_brand bigint, p_member bigint, p_listing bigint, p_request_key varchar, p_reason varchar, p_code varchar,
    p_code_enc text, p_now timestamptz,
    OUT r_status text, OUT r_exchange bigint, OUT r_voucher bigint, OUT r_offer bigint, OUT r_points integer,
    OUT r_issuer bigint, OUT r_valid_until timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    v record;
    v_debit record;
    v_fulfil boolean;
    v_template bigint;
    v_taken integer;
    v_reference varchar;
BEGIN
    SELECT l.points_price, l.offer_id, o.issuer_id, o.kind, o.title, o.face_value_fen, o.voucher_valid_days,
           o.valid_until, o.settlement_price_fen, o.source_ref, a.schema_name AS accepting_schema,
           i.schema_name AS issuer_schema
      INTO v
      FROM public.rights_market_listing l
      JOIN public.rights_market_offer o ON o.id = l.offer_id
      JOIN public.tenants_brand a ON a.id = l.brand_id
      JOIN public.tenants_brand i ON i.id = o.issuer_id
     WHERE l.id = p_listing AND l.brand_id = p_brand AND l.status = 'listed';
    IF NOT FOUND THEN
        r_status := 'listing_not_found';
        RETURN;
    END IF;
    IF (current_schemas(false))[1] IS DISTINCT FROM v.accepting_schema THEN
        RAISE EXCEPTION 'market_redeem: the search path must lead with the accepting brand''s schema %, not %',
            v.accepting_schema, (current_schemas(false))[1] USING ERRCODE = 'EKRM9';
    END IF;
    r_offer := v.offer_id;
    r_points := v.points_price;
    r_issuer := v.issuer_id;
    v_fulfil := v.kind <> 'virtual';
    IF v.source_ref ~ '^coupon_template:[0-9]+$' THEN  -- rights_market.brandside.services._template_id_of
        v_template := substr(v.source_ref, 17)::bigint;
    END IF;
    r_exchange := nextval('public.rights_market_exchange_id_seq');
    v_reference := 'market:' || r_exchange;
    BEGIN
        SELECT * INTO v_debit FROM public.points_debit(
            p_member, 'redeem', v.points_price, 'market-exchange-' || r_exchange,
            -- points.services.ledger.request_fingerprint("redeem", member=, points=, reference=, reason=)
            encode(sha256(convert_to(format('{"member":%s,"op":"redeem","points":%s,"reason":%s,"reference":%s}',
                p_member, v.points_price, to_json(p_reason::text), to_json(v_reference::text)), 'UTF8')), 'hex'),
            v_reference, p_reason, NULL, p_now);
        IF v_debit.status = 'insufficient' THEN
            RAISE EXCEPTION 'insufficient_points' USING ERRCODE = 'EKRM0';
        ELSIF v_debit.status <> 'ok' THEN  -- a fresh exchange id: its debit key cannot be taken
            RAISE EXCEPTION 'market_redeem: debit %', v_debit.status USING ERRCODE = 'EKRM8';
        END IF;
        IF v_template IS NOT NULL THEN  -- one coupon of the issuer's template (miniprograms coupon_template_reserve)
            EXECUTE format(
                'UPDATE %I.miniprograms_coupontemplate SET issued_count = issued_count + 1 '
                'WHERE id = $1 AND active AND issued_count < total_stock', v.issuer_schema)
              USING v_template;
            GET DIAGNOSTICS v_taken = ROW_COUNT;
            IF v_taken = 0 THEN
                RAISE EXCEPTION 'sold_out' USING ERRCODE = 'EKRM0';
            END IF;
        END IF;
        IF v_fulfil THEN
            r_valid_until := p_now + make_interval(days => v.voucher_valid_days);
            IF v.valid_until > p_now THEN
                r_valid_until := GREATEST(r_valid_until, v.valid_until);
            END IF;
            EXECUTE format(
                'INSERT INTO %I.market_brand_voucher (exchange_id, offer_id, accepting_brand_id, code, title, kind, '
                'face_value_fen, valid_until, status, claim_made_member, order_amount_fen, created_at, '
                'coupon_template_id) '
                'VALUES ($1, $2, $3, $4, $5, $6, $7, $8, ''issued'', false, 0, $9, $10) RETURNING id', v.issuer_schema)
              INTO r_voucher
              USING r_exchange, v.offer_id, p_brand, p_code, v.title, v.kind, v.face_value_fen, r_valid_until, p_now,
                    v_template;
        END IF;
        INSERT INTO public.rights_market_exchange (
            id, accepting_brand_id, issuer_id, offer_id, listing_id, member_id, request_key, points,
            settlement_price_fen, status, requested_at, points_debited_at, stock_taken_at, fulfilled_at, undo_reason,
            attempts, last_error, fulfilment_ref, fulfilment_code, updated_at)
        VALUES (
            r_exchange, p_brand, v.issuer_id, v.offer_id, p_listing, p_member, p_request_key, v.points_price,
            v.settlement_price_fen, CASE WHEN v_fulfil THEN 'fulfilled' ELSE 'stock_taken' END, p_now, p_now, p_now,
            CASE WHEN v_fulfil THEN p_now END, '', 0, '', CASE WHEN v_fulfil THEN 'voucher:' || r_voucher ELSE '' END,
            CASE WHEN v_fulfil THEN p_code_enc ELSE '' END, p_now)
        ON CONFLICT ON CONSTRAINT market_exchange_request_once DO NOTHING;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'replay' USING ERRCODE = 'EKRM0';
        END IF;
        IF v_fulfil THEN
            INSERT INTO public.rights_market_clearingline (exchange_id, payer_id, payee_id, offer_id, amount_fen, month,
                                                         created_at)
            VALUES (r_exchange, p_brand, v.issuer_id, v.offer_id, v.settlement_price_fen,
                    date_trunc('month', p_now AT TIME ZONE 'Asia/Shanghai')::date, p_now);
        END IF;
        INSERT INTO public.rights_market_membertake AS t (offer_id, brand_id, member_id, taken, limit_at_take)
        SELECT o.id, p_brand, p_member, 1, o.per_member_limit FROM public.rights_market_offer o WHERE o.id = v.offer_id
        ON CONFLICT (offer_id, brand_id, member_id)
        DO UPDATE SET taken = t.taken + 1, limit_at_take = EXCLUDED.limit_at_take
        WHERE t.taken < EXCLUDED.limit_at_take;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'member_limit_reached' USING ERRCODE = 'EKRM0';
        END IF;
        UPDATE public.rights_market_offer o SET remaining_stock = o.remaining_stock - 1, updated_at = p_now
         WHERE o.id = v.offer_id AND o.remaining_stock > 0 AND o.status = 'live'
           AND (o.valid_from IS NULL OR o.valid_from <= p_now) AND (o.valid_until IS NULL OR o.valid_until > p_now);
        IF NOT FOUND THEN
            RAISE EXCEPTION 'sold_out' USING ERRCODE = 'EKRM0';
        END IF;
        r_status := CASE WHEN v_fulfil THEN 'fulfilled' ELSE 'stock_taken' END;
    EXCEPTION WHEN SQLSTATE 'EKRM0' THEN  -- every write above is undone
        r_status := SQLERRM;
        r_voucher := NULL;
        r_valid_until := NULL;
        r_exchange := NULL;
        IF r_status = 'replay' THEN
            SELECT e.id INTO r_exchange FROM public.rights_market_exchange e
             WHERE e.accepting_brand_id = p_brand AND e.member_id = p_member AND e.request_key = p_request_key;
        END IF;
    END;
END;
$$;
"""

BACKWARD = "DROP FUNCTION IF EXISTS public.market_redeem(bigint, bigint, bigint, varchar, varchar, varchar, text, timestamptz);"


class Migration(migrations.Migration):
    dependencies = [("rights_market", "0003_netted_statements")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
