"""The one error the policies package raises for bad input documents."""
from __future__ import annotations


class PolicyError(ValueError):
    """A policy document (or a data file of this package) is invalid.

    `problems` holds every problem found, each as "<path>: <message>" (e.g.
    "Statement[1].Action[0]: ..."), so a caller can show all of them at once instead of
    making the author fix one error per round trip.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems) or "invalid policy")
