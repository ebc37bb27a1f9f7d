"""The webhook receiver: where Personio announces changes (near-real-time updates).

A small ASGI service (Starlette on uvicorn; Streamlit cannot take POSTs): `app` answers the
requests, `inbox` checks who is calling and records accepted events, `__main__` serves it
(`python -m sync.webhooks`, `python -m sync webhooks`). It only records; the scheduler turns the
events into runs (`sync.integration.webhook_runs`).
"""
