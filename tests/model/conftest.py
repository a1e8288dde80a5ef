"""The model tests share the small trained project of tests/conftest.py (`trained`)."""
