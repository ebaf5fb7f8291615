"""Serializer fields the API views share."""

from __future__ import annotations

import datetime as dt

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)


class BusinessDateTimeField(serializers.DateTimeField):
    """A moment of the business (a sale, a show, an offer's validity): from 2000 up to 2100. Anything else is a
    client's mistake (400), never stored: a date in year 242 would come back with Shanghai's local mean time offset
    (+08:05:43), which no client parses, and one near year 1 cannot be converted between time zones at all."""

    default_error_messages = {"out_of_range": _("A date and time from %(earliest)s up to %(latest)s.")}

    def to_internal_value(self, value):
        moment = super().to_internal_value(value)
        if not EARLIEST <= moment < LATEST:
            self.fail("out_of_range", earliest=EARLIEST.year, latest=LATEST.year)
        return moment
