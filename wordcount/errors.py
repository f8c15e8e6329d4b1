"""The one exception type that means "the user did something we can explain".

Anything raised as `UserError` is printed by the command-line entry points as
a single line (no traceback) and turned into a non-zero exit status. Anything
else is a bug and keeps its traceback.
"""
from __future__ import annotations


class UserError(Exception):
    """A mistake in input, configuration or environment, with a fix to suggest."""

    exit_code = 2


class JobFailed(Exception):
    """The job ran but could not finish (e.g. every worker kept dying)."""

    exit_code = 3
