"""Messages the services raise that the console shows (core.errors.ApplicationError.message), listed here so
makemessages puts them in the catalog; the console translates them with gettext when it shows them. The API keeps
them as they are (English), with their stable codes."""
from django.utils.translation import gettext_noop as N_

MESSAGES = [
    N_("This refund was already decided."), N_("Only a paid order is fulfilled."), N_("No such SKU."),
    N_("No such shop."), N_("No such member."), N_("No such order."), N_("No such guide."), N_("No such store."),
    N_("No such coupon."), N_("No such tag."), N_("No such refund."), N_("Enter a price."),
    N_("A price is a number of yuan with at most two decimals."), N_("Stock cannot be negative."),
    N_("Choose a CSV file."), N_("Unknown encoding."), N_("Unknown decision."), N_("Enter how many coupons there are."),
    N_("Reload the page and try again."), N_("This guide is inactive."), N_("The brand has no mini-program."),
    N_("Only HQ staff may do this."), N_("This import has already started."), N_("Empty chunk."),
    N_("The file is too large."), N_("Upload the file first."), N_("This coupon is all gone."),
    N_("These fields cannot be changed."), N_("WeChat could not make the code."),
]
