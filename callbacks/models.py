"""The WeChat callback inbox: one public table holding every callback WeChat delivered to any brand.

A row is written before WeChat gets its answer, and processed later by Celery in the brand's schema. Rows that
failed verification are kept too (status `rejected`, with the reason) as evidence; they are never processed.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class CallbackEvent(models.Model):
    class Source(models.TextChoices):
        MESSAGE = "message", "Message / event"
        PAY = "pay", "WeChat Pay notification"

    class Status(models.TextChoices):
        RECEIVED = "received", "Received (not queued yet)"
        QUEUED = "queued", "Queued"
        PROCESSING = "processing", "Processing"
        DONE = "done", "Done"
        IGNORED = "ignored", "Ignored (no handler)"
        FAILED = "failed", "Failed (will retry)"
        DEAD = "dead", "Dead (gave up)"
        REJECTED = "rejected", "Rejected (failed verification)"

    # Null only for rejected rows whose appid is unknown or belongs to another brand than the host's.
    brand = models.ForeignKey(
        "tenants.Brand", on_delete=models.PROTECT, null=True, blank=True, related_name="callback_events"
    )
    appid = models.CharField(max_length=64, db_index=True)
    source = models.CharField(max_length=16, choices=Source.choices)
    kind = models.CharField(max_length=64, db_index=True, help_text="e.g. event.user_get_card, text, pay.notify")
    # Null for rejected rows, so that garbage never meets the unique constraint.
    dedup_key = models.CharField(max_length=255, null=True, blank=True)
    payload = models.JSONField(default=dict, blank=True, help_text="The verified (decrypted) message.")
    raw = models.TextField(blank=True, help_text="Rejected requests only: the start of the body as received.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECEIVED)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, help_text="Reason of the rejection, or the last processing error.")
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True, help_text="Start of the current processing attempt.")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = "WeChat callback"
        constraints = [
            models.UniqueConstraint(
                fields=["appid", "dedup_key"], condition=Q(dedup_key__isnull=False), name="callbacks_event_unique_dedup"
            ),
            models.CheckConstraint(
                condition=Q(status="rejected") | (Q(brand__isnull=False) & Q(dedup_key__isnull=False)),
                name="callbacks_event_accepted_has_brand_and_key",
            ),
        ]
        indexes = [
            # The sweeper's scans: rows not finished, by status and age.
            models.Index(
                fields=["status", "received_at"],
                name="callbacks_status_received",
                condition=Q(status__in=["received", "queued", "processing", "failed"]),
            ),
            models.Index(fields=["brand", "-id"], name="callbacks_brand_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({self.status})"
