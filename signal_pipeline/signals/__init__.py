"""Signal management: model, store, retrieval, outcomes, expiration, conflicts, analytics."""
