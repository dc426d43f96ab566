"""Pydantic models of the domain. No I/O happens in this package except through the ODM bases."""
