# Company-owned OAuth clients (bring your own app) and which client minted each connection.

import django.db.models.deletion
import django.db.models.manager
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('catalog', '0002_tenant_clients_client_credentials'),
        ('connections', '0009_selfservice'),
        ('vault', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name='event',
            name='kind',
            field=models.CharField(choices=[('attempt_started', 'Link started'), ('attempt_failed', 'Link failed'), ('attempt_cancelled', 'Re-authorization cancelled'), ('attempt_abandoned', 'Link abandoned'), ('reauthorization_account_differs', 'Provider reported a different account'), ('created', 'Created'), ('tested', 'Tested'), ('checked', 'Checked'), ('reauthorized', 'Re-authorized'), ('link_refused', 'Link refused: not a member of this company'), ('superseded_grant_revoked', 'Revocation of the previous grant at the app'), ('discarded_grant_revoked', 'Revocation of an unused grant at the app'), ('source_reauthorized', 'Source of a global connection re-authorized'), ('publication_review_reopened', 'Back in review after a re-authorization'), ('renamed', 'Renamed'), ('revoked', 'Revoked'), ('grant_revoked', 'Grant revoked at the app'), ('status_changed', 'Status changed'), ('rotation_due', 'Rotation due'), ('alert_sent', 'Alert sent'), ('publication_requested', 'Publication requested'), ('publication_withdrawn', 'Publication request withdrawn'), ('publication_rejected', 'Publication rejected'), ('published', 'Published globally'), ('unpublished', 'Unpublished'), ('api_token_created', 'API token created'), ('api_token_revoked', 'API token revoked'), ('webhook_updated', 'Webhook saved'), ('webhook_secret_rotated', 'Webhook signing secret rotated'), ('webhook_removed', 'Webhook removed'), ('member_invited', 'Member invited'), ('invitation_cancelled', 'Invitation cancelled'), ('member_joined', 'Member joined'), ('member_role_changed', "Member's role changed"), ('member_removed', 'Member removed'), ('setup_requested', 'App setup requested'), ('connection_removed', 'Revoked connection removed from the history'), ('alert_recipients_updated', 'Alert recipients changed'), ('oauth_client_saved', 'Company OAuth client saved'), ('oauth_client_removed', 'Company OAuth client removed')], max_length=48, verbose_name='kind'),
        ),
        migrations.CreateModel(
            name='TenantOAuthClient',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('client_id', models.CharField(max_length=255, verbose_name='client id')),
                ('created_at', models.DateTimeField(auto_now_add=True, verbose_name='created at')),
                ('updated_at', models.DateTimeField(auto_now=True, verbose_name='updated at')),
                ('retired_at', models.DateTimeField(blank=True, null=True, verbose_name='retired at')),
                ('retired_reason', models.CharField(blank=True, max_length=16, verbose_name='retired because')),
                ('app', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='tenant_clients', to='catalog.app')),
                ('client_secret', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='vault.secret')),
                ('created_by', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('tenant', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='oauth_clients', to='connections.tenant')),
            ],
            options={
                'verbose_name': 'company OAuth client',
                'verbose_name_plural': 'company OAuth clients',
                'ordering': ['-created_at'],
                'default_manager_name': 'all_objects',
            },
            managers=[
                ('all_objects', django.db.models.manager.Manager()),
            ],
        ),
        migrations.AddField(
            model_name='attempt',
            name='oauth_client',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='connections.tenantoauthclient'),
        ),
        migrations.AddField(
            model_name='connection',
            name='oauth_client',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.RESTRICT, related_name='+', to='connections.tenantoauthclient', verbose_name='minted by'),
        ),
        migrations.AddField(
            model_name='globalconnection',
            name='oauth_client',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.RESTRICT, related_name='+', to='connections.tenantoauthclient', verbose_name='minted by'),
        ),
        migrations.AddConstraint(
            model_name='tenantoauthclient',
            constraint=models.UniqueConstraint(condition=models.Q(('retired_at__isnull', True)), fields=('tenant', 'app'), name='tenant_oauth_client_one_live'),
        ),
    ]
