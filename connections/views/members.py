"""Members of the company: the list, invitations, role changes, removals; accepting an invite."""

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_http_methods, require_POST

from ..forms import InvitationSignupForm, InviteForm, MemberRoleForm
from ..middleware import SESSION_KEY
from ..models import Event, EventKind, Invitation, Member, Role
from ..permissions import tenant_required
from ..presenters import decorate_events
from ..services.members import (
    MemberError,
    invitation_accept,
    invitation_cancel,
    invitation_create,
    invitation_for_token,
    member_remove,
    member_role_change,
)

MEMBER_EVENTS = (
    EventKind.MEMBER_INVITED,
    EventKind.INVITATION_CANCELLED,
    EventKind.MEMBER_JOINED,
    EventKind.MEMBER_ROLE_CHANGED,
    EventKind.MEMBER_REMOVED,
)


def _members(request):
    return Member.objects.filter(tenant=request.tenant).select_related("user")


def _admin_only(request):
    if not request.membership.is_admin:
        raise PermissionDenied("Only company admins manage members.")


@tenant_required()
@require_http_methods(["GET", "POST"])
def member_list(request):
    """List the company's members; admins also invite, change roles and see pending invites."""
    is_admin = request.membership.is_admin
    form = InviteForm() if is_admin else None
    if request.method == "POST":
        _admin_only(request)
        form = InviteForm(request.POST)
        if form.is_valid():
            try:
                invitation, _token = invitation_create(
                    tenant=request.tenant, actor=request.user, **form.cleaned_data
                )
            except MemberError as error:
                form.add_error("email", str(error))
            else:
                messages.success(
                    request,
                    f"Invitation sent to {invitation.email}. The link works once, until "
                    f"{invitation.expires_at:%b %-d}.",
                )
                return redirect("tenants:members")
    members = (
        Member.objects.filter(tenant=request.tenant).select_related("user").order_by("user__username")
    )
    context = {"members": members, "roles": Role, "form": form, "is_admin": is_admin}
    if is_admin:
        context["invitations"] = [
            i
            for i in Invitation.objects.for_tenant(request.tenant)
            .filter(accepted_at=None, cancelled_at=None)
            .select_related("invited_by")
            if i.is_pending
        ]
        context["events"] = decorate_events(
            list(
                Event.objects.for_tenant(request.tenant)
                .filter(kind__in=MEMBER_EVENTS)
                .select_related("actor")[:20]
            )
        )
        context["admin_count"] = sum(1 for m in members if m.role == Role.ADMIN)
    return render(request, "tenants/members.html", context)


@tenant_required()
@require_POST
def member_role(request, pk):
    """Change a member's role (admins only; never the last admin's)."""
    member = get_object_or_404(_members(request), pk=pk)
    _admin_only(request)
    form = MemberRoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose admin, operator or viewer.")
        return redirect("tenants:members")
    try:
        member = member_role_change(member=member, role=form.cleaned_data["role"], actor=request.user)
    except MemberError as error:
        messages.error(request, str(error))
    else:
        role = member.get_role_display().lower()
        messages.success(request, f"{member.user.get_username()} is now {role}.")
    return redirect("tenants:members")


@tenant_required()
@require_http_methods(["GET", "POST"])
def member_remove_view(request, pk):
    """Confirm, then remove a member from the company (admins only; never the last admin)."""
    member = get_object_or_404(_members(request), pk=pk)
    _admin_only(request)
    if request.method == "POST":
        try:
            member_remove(member=member, actor=request.user)
        except MemberError as error:
            messages.error(request, str(error))
            return redirect("tenants:members")
        who = member.user.get_username()
        messages.success(request, f"{who} was removed from {request.tenant.name}.")
        if member.user_id == request.user.pk:
            request.session.pop(SESSION_KEY, None)
            return redirect("connections:list")
        return redirect("tenants:members")
    is_last_admin = (
        member.role == Role.ADMIN
        and not Member.objects.filter(tenant=request.tenant, role=Role.ADMIN)
        .exclude(pk=member.pk)
        .exists()
    )
    return render(request, "tenants/member_remove.html", {"member": member, "is_last_admin": is_last_admin})


@tenant_required()
@require_POST
def invitation_cancel_view(request, pk):
    """Cancel a pending invitation of the company (admins only)."""
    invitation = get_object_or_404(Invitation.objects.for_tenant(request.tenant), pk=pk)
    _admin_only(request)
    invitation_cancel(invitation=invitation, actor=request.user)
    messages.success(
        request, f"The invitation of {invitation.email} was cancelled; its link no longer works."
    )
    return redirect("tenants:members")


@never_cache
@sensitive_post_parameters("password1", "password2")
@sensitive_variables("token")
@require_http_methods(["GET", "POST"])
def invitation_accept_view(request, token):
    """Accept an invitation: join with the signed-in account, or create one with a password."""
    invitation = invitation_for_token(token)
    if invitation is None:
        return render(request, "tenants/invitation_invalid.html", {"reason": "unknown"}, status=404)
    if not invitation.is_pending:
        if invitation.accepted_at:
            reason = "accepted"
        else:
            reason = "cancelled" if invitation.cancelled_at else "expired"
        return render(request, "tenants/invitation_invalid.html", {"reason": reason}, status=410)
    signed_in = request.user.is_authenticated
    form = None if signed_in else InvitationSignupForm()
    if request.method == "POST":
        if signed_in:
            try:
                member = invitation_accept(invitation=invitation, user=request.user)
            except MemberError as error:
                messages.error(request, str(error))
                return redirect("connections:list")
            request.session[SESSION_KEY] = member.tenant_id
            role = member.get_role_display().lower()
            messages.success(request, f"Welcome to {member.tenant.name}: you joined as {role}.")
            return redirect("connections:list")
        form = InvitationSignupForm(request.POST)
        if form.is_valid():
            try:
                invitation_accept(
                    invitation=invitation,
                    username=form.cleaned_data["username"],
                    password=form.cleaned_data["password1"],
                )
            except MemberError as error:
                context = {"reason": "accepted", "message": str(error)}
                return render(request, "tenants/invitation_invalid.html", context, status=410)
            messages.success(
                request,
                f"Your account “{form.cleaned_data['username']}” was created and joined "
                f"{invitation.tenant.name}. Sign in with your new password.",
            )
            return redirect_to_login("/connections/")
    return render(
        request,
        "tenants/invitation_accept.html",
        {"invitation": invitation, "form": form, "signed_in": signed_in},
    )
