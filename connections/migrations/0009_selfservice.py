# Members and invitations, setup requests for unconfigured apps, alert recipients (self-service).

import django.db.models.deletion
import django.db.models.manager
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('catalog', '0001_initial'),
        ('connections', '0008_twilio_user_name'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='member',
            name='alerts',
            field=models.BooleanField(blank=True, null=True, verbose_name='gets alerts'),
        ),
        migrations.AlterField(
            model_name='event',
            name='kind',
            field=models.CharField(choices=[('attempt_started', 'Link started'), ('attempt_failed', 'Link failed'), ('attempt_cancelled', 'Re-authorization cancelled'), ('attempt_abandoned', 'Link abandoned'), ('reauthorization_account_differs', 'Provider reported a different account'), ('created', 'Created'), ('tested', 'Tested'), ('checked', 'Checked'), ('reauthorized', 'Re-authorized'), ('link_refused', 'Link refused: not a member of this company'), ('superseded_grant_revoked', 'Revocation of the previous grant at the app'), ('discarded_grant_revoked', 'Revocation of an unused grant at the app'), ('source_reauthorized', 'Source of a global connection re-authorized'), ('publication_review_reopened', 'Back in review after a re-authorization'), ('renamed', 'Renamed'), ('revoked', 'Revoked'), ('grant_revoked', 'Grant revoked at the app'), ('status_changed', 'Status changed'), ('rotation_due', 'Rotation due'), ('alert_sent', 'Alert sent'), ('publication_requested', 'Publication requested'), ('publication_withdrawn', 'Publication request withdrawn'), ('publication_rejected', 'Publication rejected'), ('published', 'Published globally'), ('unpublished', 'Unpublished'), ('api_token_created', 'API token created'), ('api_token_revoked', 'API token revoked'), ('webhook_updated', 'Webhook saved'), ('webhook_secret_rotated', 'Webhook signing secret rotated'), ('webhook_removed', 'Webhook removed'), ('member_invited', 'Member invited'), ('invitation_cancelled', 'Invitation cancelled'), ('member_joined', 'Member joined'), ('member_role_changed', "Member's role changed"), ('member_removed', 'Member removed'), ('setup_requested', 'App setup requested'), ('connection_removed', 'Revoked connection removed from the history'), ('alert_recipients_updated', 'Alert recipients changed')], max_length=48, verbose_name='kind'),
        ),
        migrations.CreateModel(
            name='AlertSettings',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('extra_emails', models.JSONField(blank=True, default=list, verbose_name='extra addresses')),
                ('updated_at', models.DateTimeField(auto_now=True, verbose_name='updated at')),
                ('tenant', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='alert_settings', to='connections.tenant')),
            ],
            options={
                'verbose_name': 'alert settings',
                'verbose_name_plural': 'alert settings',
            },
        ),
        migrations.CreateModel(
            name='Invitation',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('email', models.EmailField(max_length=254, verbose_name='email')),
                ('role', models.CharField(choices=[('admin', 'Admin'), ('operator', 'Operator'), ('viewer', 'Viewer')], default='operator', max_length=16, verbose_name='role')),
                ('token_hash', models.CharField(max_length=64, unique=True)),
                ('created_at', models.DateTimeField(auto_now_add=True, verbose_name='created at')),
                ('expires_at', models.DateTimeField(verbose_name='expires at')),
                ('accepted_at', models.DateTimeField(blank=True, null=True, verbose_name='accepted at')),
                ('cancelled_at', models.DateTimeField(blank=True, null=True, verbose_name='cancelled at')),
                ('accepted_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('invited_by', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('tenant', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='invitations', to='connections.tenant')),
            ],
            options={
                'verbose_name': 'invitation',
                'verbose_name_plural': 'invitations',
                'ordering': ['-created_at'],
                'default_manager_name': 'all_objects',
            },
            managers=[
                ('all_objects', django.db.models.manager.Manager()),
            ],
        ),
        migrations.CreateModel(
            name='SetupRequest',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('audience', models.CharField(choices=[('admins', 'Company admins'), ('staff', 'Platform administrators')], max_length=8, verbose_name='told')),
                ('created_at', models.DateTimeField(auto_now_add=True, verbose_name='created at')),
                ('dismissed_at', models.DateTimeField(blank=True, null=True, verbose_name='dismissed at')),
                ('app', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='catalog.app')),
                ('requested_by', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('tenant', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='setup_requests', to='connections.tenant')),
            ],
            options={
                'verbose_name': 'setup request',
                'verbose_name_plural': 'setup requests',
                'ordering': ['-created_at'],
                'default_manager_name': 'all_objects',
            },
            managers=[
                ('all_objects', django.db.models.manager.Manager()),
            ],
        ),
    ]
