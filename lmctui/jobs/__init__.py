"""The persistent job queue and the worker threads that drain it. No torch at import time."""
