"""The brand-side rows of the rights market (vouchers issued, listings): filled by its issue."""
