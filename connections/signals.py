"""Signals of the connections app.

`connection_status_changed` is sent by services/health.py's `connection_status_set` (the only
writer of a connection's status) inside the transaction that moved the status, after the
`status_changed` Event is written: sender is Connection or GlobalConnection, with `connection`
(the row), `old_status`, `new_status` and `event` (that Event). Receivers must defer any
delivery until the transaction commits (`transaction.on_commit`, `Task.delay_on_commit`).
"""

from django.dispatch import Signal

connection_status_changed = Signal()
