"""Coupons (HQ, as in the API): templates, granting to the members of a tag or a list of phones / member ids,
and their use. Writes through miniprograms.services.coupons; a grant carries a key made when the form was shown,
so submitting the same form twice grants nothing twice."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.db.models import Count, Q
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext as _

from console.money import fen_from_yuan
from console.views.base import HQView, int_or_none
from core.errors import ApplicationError, NotFound
from members.models import MemberTag, Tag
from members.selectors import member_by_phone, members_for_scope
from miniprograms.models import Coupon, CouponTemplate
from miniprograms.services.coupons import coupon_template_create, coupons_auto_issue

MAX_LIST = 5000


def _templates_with_use():
    return CouponTemplate.objects.annotate(
        used=Count("coupons", filter=Q(coupons__status=Coupon.Status.USED)),
        available=Count("coupons", filter=Q(coupons__status=Coupon.Status.AVAILABLE)),
    ).order_by("-id")


class CouponListView(HQView):
    def get(self, request):
        return self.page(
            "console/coupons/list.html",
            section="coupons",
            templates=_templates_with_use(),
            kinds=CouponTemplate.Kind.values,
        )

    def post(self, request):
        kind = request.POST.get("kind", "")
        total = int_or_none(request.POST.get("total_stock"))
        if total is None or total < 1:
            raise ApplicationError("Enter how many coupons there are.")
        amount_off = percent_off = 0
        if kind == CouponTemplate.Kind.AMOUNT_OFF:
            amount_off = fen_from_yuan(request.POST.get("amount_off", ""))
        elif kind == CouponTemplate.Kind.PERCENT_OFF:
            percent_off = int_or_none(request.POST.get("percent_off")) or 0
        template = coupon_template_create(
            name=request.POST.get("name", "").strip()[:100],
            kind=kind,
            total_stock=total,
            amount_off_fen=amount_off,
            percent_off=percent_off,
            threshold_fen=fen_from_yuan(request.POST.get("threshold", ""), blank_is_none=True) or 0,
            per_member_limit=int_or_none(request.POST.get("per_member_limit")) or 1,
            valid_hours=int_or_none(request.POST.get("valid_hours")) or 72,
            claimable=request.POST.get("claimable") == "1",
        )
        messages.success(request, _("Coupon created."))
        return HttpResponseRedirect(reverse("console:coupon", args=[template.pk]))


class CouponDetailView(HQView):
    def get(self, request, template_id: int):
        template = _templates_with_use().filter(pk=template_id).first()
        if template is None:
            raise NotFound("No such coupon.")
        return self.page(
            "console/coupons/detail.html",
            section="coupons",
            template=template,
            tags=Tag.objects.all(),
            grant_key=uuid.uuid4().hex,
            recent=template.coupons.order_by("-id")[:20],
        )

    def post(self, request, template_id: int):
        """Grant to a tag's members or to a list (one phone or member id a line)."""
        template = CouponTemplate.objects.filter(pk=template_id).first()
        if template is None:
            raise NotFound("No such coupon.")
        key = request.POST.get("grant_key", "")[:40]
        if not key:
            raise ApplicationError("Reload the page and try again.")
        tag_id = int_or_none(request.POST.get("tag_id"))
        if tag_id:
            member_ids = list(
                MemberTag.objects.filter(tag_id=tag_id).values_list("member_id", flat=True)[: MAX_LIST + 1]
            )
        else:
            member_ids = []
            for line in request.POST.get("members", "").split():
                if line.isdigit() and len(line) < 11:
                    member_ids.append(int(line))
                else:
                    member = member_by_phone(line)
                    if member is None:
                        raise ApplicationError(_("No member with phone %(phone)s.") % {"phone": line[:20]})
                    member_ids.append(member.pk)
        if len(member_ids) > MAX_LIST:
            raise ApplicationError(_("At most %(n)d members at once.") % {"n": MAX_LIST})
        member_ids = list(members_for_scope(self.scope).filter(pk__in=member_ids).values_list("pk", flat=True))
        result = coupons_auto_issue(template=template, member_ids=member_ids, issue_key=f"console:{key}")
        messages.success(
            request,
            _("Granted %(issued)d, skipped %(skipped)d (already had it, limit or stock).")
            % {"issued": result.issued, "skipped": result.skipped},
        )
        return HttpResponseRedirect(reverse("console:coupon", args=[template.pk]))
