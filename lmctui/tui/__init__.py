"""The Textual app `lmctui`. Never imports torch at module import time."""
