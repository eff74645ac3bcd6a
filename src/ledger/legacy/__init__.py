"""Adopting the ledger from a legacy system, in four parts: ``ids`` (a legacy
ticket's ids in the ledger), ``mapping`` (legacy rows -> plans of ledger commands,
pure), ``source`` (the legacy PostgreSQL table) and
``recording`` (a plan -> the ledger, through its commands). The way back, the
rollback export, is a read-side job: ``projections.legacy_export``.
"""
