"""The REST API's shared parts: who is calling (auth.py), the one error shape (errors.py), cursor
pages (pagination.py) and the per-user rate limit (throttling.py). Each app's `api/` package holds
its routers; synthreview/api.py puts them together under /api/v1/."""
