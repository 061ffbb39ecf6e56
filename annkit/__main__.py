"""``python -m annkit`` is the ``annkit`` command."""

from annkit.cli import main

raise SystemExit(main())
