# SPDX-License-Identifier: ISC
"""The Python examples of python/README.md and README.md run as written
against the real pollexd (found through $POLLEX_SOCKET, as the examples
find it), with the publish poller of the HTTP test service."""

import contextlib
import io
import os
import re
import unittest
from unittest import mock

from pxharness import DaemonTestCase

TOP = os.path.abspath(os.environ.get("srcdir", "."))


def python_blocks(path, heading):
    """The ```python blocks of the section under ``heading``."""
    with open(os.path.join(TOP, path)) as f:
        text = f.read()
    start = text.index(heading)
    nxt = re.search(r"^## ", text[start + len(heading):], re.M)
    section = text[start:start + len(heading) + nxt.start()] if nxt \
        else text[start:]
    return re.findall(r"^```python\n(.*?)^```$", section, re.M | re.S)


class ReadmeExamples(DaemonTestCase):

    def run_block(self, code):
        out = io.StringIO()
        with mock.patch.dict(os.environ, {"POLLEX_SOCKET": self.socket}), \
                contextlib.redirect_stdout(out):
            exec(compile(code, "<README>", "exec"), {"__name__": "readme"})
        return out.getvalue()

    def test_pollexecutor_example(self):
        blocks = python_blocks("python/README.md",
                               "## PollExecutor's example, with pollex")
        self.assertEqual(len(blocks), 1)
        out = self.run_block(blocks[0])
        for name in ("img-1", "img-2", "img-3"):
            self.assertRegex(out, r"%s published: \{'id': \d+, 'object': "
                             r"'%s'\}" % (name, name))

    def test_main_readme_example(self):
        blocks = python_blocks("README.md", "## Using it from Python")
        self.assertEqual(len(blocks), 1)
        out = self.run_block(blocks[0])
        self.assertEqual(len(re.findall(r"'object': 'img-\d+'", out)), 100)


if __name__ == "__main__":
    unittest.main()
