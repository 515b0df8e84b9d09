"""The ``scalehook`` command: ``serve``, plus a client of the management API."""
