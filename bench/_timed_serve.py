"""The example endpoint (``python -m examples.serve``) with every ``CoreVM`` call timed.

Used by ``bench/e2e_share.py`` (see ``bench/_vm_timing.py``); not a benchmark by itself.
Each public method of the journal models, and the construction of a VM, is wrapped.
"""

from __future__ import annotations

import sys

from restate_core import CoreVM
from restate_core.vm._current import CurrentVM
from restate_core.vm._legacy import LegacyVM

from ._vm_timing import overhead, report_on_signal, timed


def _instrument() -> None:
    names = [name for name in vars(CoreVM) if not name.startswith("_") and callable(vars(CoreVM)[name])]
    for model in (LegacyVM, CurrentVM):
        for name in names:
            setattr(model, name, timed(getattr(model, name), name))
    CoreVM.__new__ = staticmethod(timed(CoreVM.__new__, "CoreVM()"))  # type: ignore[method-assign]


def _nothing() -> None:
    return None


def main() -> None:
    report_on_signal(*overhead(timed(_nothing), _nothing))
    _instrument()
    from examples.serve import main as serve

    sys.argv[0] = "examples.serve"
    serve()


if __name__ == "__main__":
    main()
