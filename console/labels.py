"""Translated names of the apps' status values, for the console's pages. The models' own choice labels stay as
they are (English, what the API and the admin have always shown); the console names them in the user's language."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

LABELS = {
    "order_status": {
        "pending_payment": _("Awaiting payment"),
        "paid": _("Paid"),
        "cancelled": _("Cancelled"),
        "refunding": _("Refund requested"),
        "refunded": _("Refunded"),
    },
    "order_channel": {"online": _("Mini-program"), "pos": _("Store POS")},
    "fulfilment": {"pickup": _("Pick-up at the store"), "delivery": _("Delivery"), "in_store": _("Sold in store")},
    "fulfilment_status": {
        "none": _("Not started"),
        "preparing": _("Preparing"),
        "ready_for_pickup": _("Ready for pick-up"),
        "picked_up": _("Picked up"),
        "shipped": _("Shipped"),
        "delivered": _("Delivered"),
    },
    "refund_status": {
        "requested": _("Requested"),
        "approved": _("Approved"),
        "rejected": _("Rejected"),
        "succeeded": _("Refunded"),
        "failed": _("Failed at WeChat"),
    },
    "order_event": {
        "placed": _("Placed"),
        "paid": _("Paid"),
        "cancelled": _("Cancelled"),
        "refund_requested": _("Refund requested"),
        "refund_rejected": _("Refund rejected"),
        "refund_approved": _("Refund approved"),
        "refund_failed": _("Refund failed at WeChat"),
        "return_requested": _("Return requested"),
        "goods_received": _("Returned goods received"),
        "refunded": _("Refunded"),
        "refund_confirmed": _("Refund confirmed by WeChat"),
        "refund_abnormal": _("Refund abnormal at WeChat"),
        "refund_abnormal_offline": _("Abnormal refund settled offline"),
        "refund_abnormal_to_bank": _("Abnormal refund sent to the merchant's bank account"),
        "coupon_returned": _("Coupon returned"),
        "coupon_expired": _("Coupon expired, not returned"),
        "preparing": _("Preparing"),
        "ready_for_pickup": _("Ready for pick-up"),
        "picked_up": _("Picked up"),
        "shipped": _("Shipped"),
        "delivered": _("Delivered"),
    },
    "import_status": {
        "uploading": _("Uploading"),
        "queued": _("Queued"),
        "running": _("Running"),
        "done": _("Done"),
        "failed": _("Failed"),
    },
    "store_status": {"preparing": _("Preparing"), "open": _("Open"), "closed": _("Closed")},
    "coupon_kind": {"amount_off": _("Amount off"), "percent_off": _("Percent off")},
    "coupon_status": {"available": _("Available"), "used": _("Used"), "expired": _("Expired")},
    "card_state": {
        "none": _("No card"),
        "received": _("Received"),
        "submitted": _("Form submitted"),
        "activated": _("Activated"),
        "deleted": _("Deleted"),
    },
    "join_channel": {
        "mini_program": _("Mini-program"),
        "store_counter": _("Store counter"),
        "store_qr": _("Store QR code"),
        "guide_share": _("Guide share"),
        "live_stream": _("Live stream"),
        "rights_market": _("Rights market"),
        "card": _("Member card"),
        "import": _("Import"),
    },
    "points_kind": {
        "earn": _("Earned"),
        "redeem": _("Redeemed"),
        "adjust": _("Adjusted"),
        "expire": _("Expired"),
        "reverse": _("Reversed"),
    },
    "tier_change": {
        "initial": _("Initial"),
        "upgrade": _("Upgrade"),
        "downgrade": _("Downgrade"),
        "manual": _("Set by hand"),
        "import": _("Import"),
    },
    "offer_status": {"draft": _("Draft"), "live": _("Live"), "paused": _("Paused"), "ended": _("Ended")},
    "listing_status": {"listed": _("Listed"), "delisted": _("Delisted")},
    "statement_status": {"open": _("Open"), "confirmed": _("Confirmed by both"), "paid": _("Paid")},
    "live_status": {
        "draft": _("Draft"),
        "upcoming": _("Not started"),
        "live": _("Live"),
        "paused": _("Paused"),
        "ended": _("Ended"),
        "banned": _("Banned"),
        "abnormal": _("Abnormal"),
        "expired": _("Expired"),
    },
    "commission_status": {"pending": _("Pending"), "payable": _("Payable"), "reversed": _("Reversed")},
}


def label(value, kind: str):
    """The translated name of `value` among `kind`'s values; the value itself when it has none."""
    return LABELS.get(kind, {}).get(value, value)
