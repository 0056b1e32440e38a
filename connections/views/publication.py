"""Tenant side of publication: a tenant admin requests it for a connection, or withdraws the request."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods, require_POST

from .. import selectors
from ..forms import PublicationRequestForm
from ..models import ConnectionStatus, PublicationRequest, Role
from ..permissions import tenant_required
from ..services import publication as publication_services
from ..services.publication import PublicationError


@require_http_methods(["GET", "POST"])
@tenant_required(Role.ADMIN)
def publication_request(request, pk):
    connection = selectors.connection_get_for_tenant(tenant=request.tenant, pk=pk)
    form = PublicationRequestForm(request.POST or None)
    error = None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                publication_services.publication_request_create(
                    connection=connection, user=request.user, reason=form.cleaned_data["reason"]
                )
            except PublicationError as failure:
                error, status = failure.message, 409
            else:
                messages.success(
                    request,
                    _("Publication requested: a system administrator will review “%(name)s”.") % {"name": connection.name},
                )
                return redirect(connection.get_absolute_url())
        else:
            status = 400
    context = {
        "connection": connection,
        "app": connection.app,
        "form": form,
        "error": error,
        "publishable": connection.status == ConnectionStatus.ACTIVE,
    }
    return render(request, "connections/publication_request.html", context, status=status)


@require_POST
@tenant_required(Role.ADMIN)
def publication_withdraw(request, pk):
    try:
        publication = PublicationRequest.objects.select_related("connection").get(
            pk=pk, connection__tenant=request.tenant
        )
    except PublicationRequest.DoesNotExist:
        raise Http404("No such publication request.") from None
    try:
        publication_services.publication_withdraw(publication_request=publication, user=request.user)
    except PublicationError as failure:
        messages.error(request, failure.message)
    else:
        messages.success(request, _("Publication request withdrawn."))
    return redirect(publication.connection.get_absolute_url())
