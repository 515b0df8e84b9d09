"""Notifications: the executions people asked to hear about, sent where they asked.

- ``enqueue.py``: the recorder's hook. Every finished execution is matched against the
  notifications (pure: ``domain/notifications.py``) and a delivery per match is written
  to the outbox in the transaction that records the execution.
- ``delivery.py``: the loop that sends the outbox (on every instance; rows are claimed
  safely), retries with backoff, and gives up after ``notifications.attempts``.
- ``webhook.py``, ``slack.py``, ``mail.py`` (email): one sender per type, in ``senders.py``;
  ``base.py`` what a sender is; ``http.py`` the POST the first two share.
- ``settings.py``: the ``notifications:`` section of ``scalehook.yaml``.

A notification failing never fails the action it reports: the action is recorded and
answered before anything is sent, and sending happens in the loop.
"""
