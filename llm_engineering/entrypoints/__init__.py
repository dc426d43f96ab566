"""Entry points that serve the library to users: the HTTP API (``entrypoints.api``).

They sit on top of every other layer; nothing in the library imports them.
"""
