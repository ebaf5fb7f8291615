"""Messages the services raise that the console shows (core.errors.ApplicationError.message), listed here so
makemessages puts them in the catalog. The services now raise their messages with gettext_lazy, so
ApplicationError.message is already in the request's language (the API sends it so too, with the stable code);
the console's gettext over it is kept for the few messages still raised as plain strings."""

from django.utils.translation import gettext_noop

MESSAGES = [
    gettext_noop("This refund was already decided."),
    gettext_noop("Only a paid order is fulfilled."),
    gettext_noop("No such SKU."),
    gettext_noop("No such shop."),
    gettext_noop("No such member."),
    gettext_noop("No such order."),
    gettext_noop("No such guide."),
    gettext_noop("No such store."),
    gettext_noop("No such coupon."),
    gettext_noop("No such tag."),
    gettext_noop("No such refund."),
    gettext_noop("Enter a price."),
    gettext_noop("A price is a number of yuan with at most two decimals."),
    gettext_noop("Stock cannot be negative."),
    gettext_noop("Choose a CSV file."),
    gettext_noop("Unknown encoding."),
    gettext_noop("Unknown decision."),
    gettext_noop("Enter how many coupons there are."),
    gettext_noop("Reload the page and try again."),
    gettext_noop("This guide is inactive."),
    gettext_noop("The brand has no mini-program."),
    gettext_noop("Only HQ staff may do this."),
    gettext_noop("This import has already started."),
    gettext_noop("Empty chunk."),
    gettext_noop("The file is too large."),
    gettext_noop("Upload the file first."),
    gettext_noop("This coupon is all gone."),
    gettext_noop("These fields cannot be changed."),
    gettext_noop("WeChat could not make the code."),
]
