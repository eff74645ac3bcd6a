"""Read side: projections folded from the ledger's events into read tables,
the stores that keep them, the runner that keeps them current, and the
queries the API runs on them (docs/architecture.md, "Read side")."""
