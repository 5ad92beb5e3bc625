"""Signal layer assets: realised performance of stored signals, analytics, expiration."""
