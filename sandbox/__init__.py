"""A local stand-in for Personio's v1 API, for demos and tests.

Run it with `python -m sandbox`; it imports nothing from the product and only the standard library.
"""
