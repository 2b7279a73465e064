"""TreeCase: a unittest base class whose tests each get a fresh temporary folder (a fixture tree)."""

import os
import tempfile
import unittest


class TreeCase(unittest.TestCase):
    """self.root is a temporary folder, removed after each test; self.write fills it."""

    def setUp(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.root = tmp.name

    def write(self, path, text):
        """Writes text to root/path (folders created); returns the full path."""
        full = os.path.join(self.root, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as fh:
            fh.write(text)
        return full
