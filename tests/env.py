"""Loaded by pytest before Django (see pyproject.toml): a key so settings import in tests."""
import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production-0000000000000000000000")
# Tests talk plain HTTP to the test client and live servers (production sets this to 1).
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
