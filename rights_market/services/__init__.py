"""Every write of the rights market. Catalogue (publishing, listing), exchanges (the state machine),
settlement (statements). Brand-side writes (vouchers) are in rights_market.brandside.services."""
