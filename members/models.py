"""The brand's people: franchisees and their store managers, and mini-program members. Brand schema."""
from __future__ import annotations

from django.conf import settings
from django.db import models


class Franchisee(models.Model):
    """A business that runs franchise stores for the brand. Its store managers see only its stores."""

    name = models.CharField(max_length=100)
    contact_name = models.CharField(max_length=50, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class StaffProfile(models.Model):
    """Ties a brand user to a franchisee (store manager). No profile, or no franchisee: HQ staff."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff_profile")
    franchisee = models.ForeignKey(Franchisee, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="managers")

    def __str__(self) -> str:
        return f"{self.user} @ {self.franchisee or 'HQ'}"


class Member(models.Model):
    """A member of the brand, known by the openid of the brand's mini-program."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        DISABLED = "disabled", "Disabled"

    openid = models.CharField(max_length=64, unique=True, null=True, blank=True)
    unionid = models.CharField(max_length=64, unique=True, null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"member {self.pk}"
