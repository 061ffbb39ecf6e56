"""annkit.bench — efficiency measurements: ``blocks`` (non-local vs APNB/AFNB), shared helpers in ``common``.

Run them with ``annkit bench blocks`` (see ``annkit bench --help``).
"""
