"""MkDocs hook: render the Sphinx roles of numpydoc docstrings as code.

The docstrings follow numpydoc, whose cross-references are Sphinx roles such
as ``:class:`~sklearn.model_selection.GridSearchCV```. mkdocstrings leaves
them as text (``:class:`` followed by the code span); this shows the code
span alone, shortened to its last component when it starts with ``~``.
"""

import re

_ROLE = re.compile(
    r":(?:py:)?(?:class|func|meth|mod|attr|obj|data|exc|term|ref):<code>(~?)([^<]+)</code>"
)


def _code(match):
    target = match.group(2)
    if match.group(1):
        target = target.rsplit(".", 1)[-1]
    return f"<code>{target}</code>"


def on_page_content(html, **kwargs):
    return _ROLE.sub(_code, html)
