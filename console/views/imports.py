"""Member imports (HQ): upload a CSV, watch a progress bar (htmx polls the import's counters, committed batch by
batch by the Celery run), download the per-row error report as CSV. members.services.imports does the work."""

from __future__ import annotations

import csv
import io

from django.http import HttpResponse, HttpResponseRedirect, JsonResponse
from django.urls import reverse
from django.utils.translation import gettext as _

from console.selectors import keyset_page, member_import_percent
from console.views.base import HQView, int_or_none
from core.errors import ApplicationError
from members.models import MemberImport
from members.selectors import member_import_get
from members.services import (
    member_import_chunk_add,
    member_import_create,
    member_import_from_bytes,
    member_import_start,
)
from members.services.imports import CHUNK_MAX_BYTES


class ImportListView(HQView):
    def get(self, request):
        imports, next_before = keyset_page(MemberImport.objects.all(), before=int_or_none(request.GET.get("before")))
        return self.page(
            "console/members/imports.html",
            section="members",
            imports=imports,
            next_before=next_before,
            encodings=MemberImport.Encoding.choices,
            max_kb=CHUNK_MAX_BYTES // 1024,
        )

    def post(self, request):
        """Without JavaScript: the whole file in one form post (up to the request size limit)."""
        upload = request.FILES.get("file")
        if upload is None:
            raise ApplicationError("Choose a CSV file.")
        imp = member_import_from_bytes(
            filename=upload.name, content=upload.read(), encoding=_encoding(request), created_by_id=request.user.id
        )
        return HttpResponseRedirect(reverse("console:import", args=[imp.pk]))


def _encoding(request) -> str:
    encoding = request.POST.get("encoding") or MemberImport.Encoding.UTF8
    if encoding not in MemberImport.Encoding.values:
        raise ApplicationError("Unknown encoding.")
    return encoding


class ImportOpenView(HQView):
    """POST filename, encoding: open an import for the page's script to upload in chunks (files of any size up to
    the service's limit, each request under the body limit)."""

    json_errors = True

    def post(self, request):
        imp = member_import_create(
            filename=request.POST.get("filename", "import.csv"),
            encoding=_encoding(request),
            created_by_id=request.user.id,
        )
        return JsonResponse(
            {
                "id": imp.pk,
                "chunk_bytes": CHUNK_MAX_BYTES,
                "chunk_url": reverse("console:import_chunk", args=[imp.pk, 0])[:-1] + "{seq}",
                "start_url": reverse("console:import_start", args=[imp.pk]),
            },
            status=201,
        )


class ImportChunkView(HQView):
    """POST the raw bytes of chunk `seq` (0, 1, 2 ...). Sending the same chunk again is harmless."""

    json_errors = True

    def post(self, request, import_id: int, seq: int):
        imp = member_import_chunk_add(member_import=member_import_get(import_id), seq=seq, data=request.body)
        return JsonResponse({"id": imp.pk, "size_bytes": imp.size_bytes})


class ImportStartView(HQView):
    json_errors = True

    def post(self, request, import_id: int):
        imp = member_import_start(member_import=member_import_get(import_id))
        return JsonResponse({"id": imp.pk, "url": reverse("console:import", args=[imp.pk])}, status=202)


class ImportDetailView(HQView):
    """The import with its progress bar; `?partial=1` (htmx, every second until it is finished) is the bar only."""

    def get(self, request, import_id: int):
        imp = member_import_get(import_id)
        template = "console/members/import_progress.html" if request.htmx else "console/members/import.html"
        return self.page(
            template,
            section="members",
            imp=imp,
            percent=member_import_percent(imp),
            finished=imp.status in (MemberImport.Status.DONE, MemberImport.Status.FAILED),
        )


class ImportErrorsView(HQView):
    """The per-row error report as a CSV download (line of the file, what is wrong)."""

    def get(self, request, import_id: int):
        imp = member_import_get(import_id)
        buffer = io.StringIO()
        buffer.write("\ufeff")  # Excel opens UTF-8 with a BOM correctly
        writer = csv.writer(buffer)
        writer.writerow([_("line"), _("error")])
        for row_number, message in imp.errors.values_list("row_number", "message").iterator():
            writer.writerow([row_number, message])
        response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="import-{imp.pk}-errors.csv"'
        return response
