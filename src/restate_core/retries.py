"""Retry policies for runs (side effects), built on tenacity's strategies.

When a run attempt fails with a ``RetryableFailure`` the VM asks the run's
policy what to do, given the attempts made so far (``n``, counting the one that
just failed) and the time spent in the retry loop (``d``, including that
attempt):

* *retry after a delay*: the VM fails the invocation attempt with the run's
  error and asks the runtime to retry the invocation after that delay;
* *retry, the runtime chooses the delay*: the same without a delay;
* *do not retry*: the failure becomes the run's terminal result.

A policy is a tenacity ``stop`` strategy (when to give up) plus an optional
tenacity ``wait`` strategy (the delay; ``None`` lets the runtime pick). The
strategies see a ``tenacity.RetryCallState`` whose ``attempt_number`` is ``n``
and whose ``seconds_since_start`` is ``d``. The bounds of the named
constructors are inclusive: ``max_attempts=3`` gives up on the third failure,
``max_duration=2s`` gives up once ``d >= 2s``; zero for either means never
retry.

Delays are rounded to whole microseconds before being truncated to the
milliseconds the protocol carries, so that a 570 ms interval stays 570 ms
whatever binary rounding the float arithmetic of a strategy introduced.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import NamedTuple

import tenacity
from tenacity.stop import stop_base
from tenacity.wait import wait_base

from ._values import EntryRetryInfo

__all__ = ["RetryDecision", "RetryPolicy"]


class RetryDecision(NamedTuple):
    """What a policy decided: ``retry`` or not, and the delay (``None``: the runtime picks)."""

    retry: bool
    delay: timedelta | None = None


_DO_NOT_RETRY = RetryDecision(False)
_RETRY_RUNTIME_DELAY = RetryDecision(True)
_ONE_MS = timedelta(milliseconds=1)


def _seconds(duration: timedelta, what: str) -> float:
    if not isinstance(duration, timedelta):
        raise TypeError(f"{what} must be a datetime.timedelta, not {type(duration).__name__}")
    if duration < timedelta(0):
        raise ValueError(f"{what} must not be negative, got {duration}")
    return duration.total_seconds()


def _stop(max_attempts: int | None, max_duration: timedelta | None) -> stop_base:
    stops: list[stop_base] = []
    if max_attempts is not None:
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int):
            raise TypeError(f"max_attempts must be an int, not {type(max_attempts).__name__}")
        if max_attempts < 0:
            raise ValueError(f"max_attempts must not be negative, got {max_attempts}")
        stops.append(tenacity.stop_after_attempt(max_attempts))
    if max_duration is not None:
        stops.append(tenacity.stop_after_delay(_seconds(max_duration, "max_duration")))
    if not stops:
        return tenacity.stop_never
    if len(stops) == 1:
        return stops[0]
    return tenacity.stop_any(*stops)


class RetryPolicy:
    """When to retry a failed run, and after which delay.

    Build one with a named constructor, or from any tenacity pair:
    ``RetryPolicy(stop=tenacity.stop_after_attempt(5), wait=tenacity.wait_fixed(2))``.
    ``wait=None`` leaves the delay to the runtime.
    """

    __slots__ = ("_description", "stop", "wait")

    stop: stop_base
    wait: wait_base | None

    def __init__(self, stop: stop_base, wait: wait_base | None = None, *, description: str | None = None) -> None:
        if not callable(stop):
            raise TypeError("stop must be a tenacity stop strategy")
        if wait is not None and not callable(wait):
            raise TypeError("wait must be a tenacity wait strategy or None")
        self.stop = stop
        self.wait = wait
        self._description = description or f"RetryPolicy(stop={stop!r}, wait={wait!r})"

    # ---- named constructors ----

    @classmethod
    def infinite(cls) -> RetryPolicy:
        """Always retry; the runtime chooses the delay. The default policy."""
        return cls(tenacity.stop_never, None, description="RetryPolicy.infinite()")

    @classmethod
    def none(cls) -> RetryPolicy:
        """Never retry: the first retryable failure becomes terminal."""
        return cls(tenacity.stop_after_attempt(0), None, description="RetryPolicy.none()")

    @classmethod
    def fixed_delay(
        cls,
        interval: timedelta,
        *,
        max_attempts: int | None = None,
        max_duration: timedelta | None = None,
    ) -> RetryPolicy:
        """Retry after a constant ``interval`` until a bound (if any) is reached."""
        wait = tenacity.wait_fixed(_seconds(interval, "interval"))
        description = (
            f"RetryPolicy.fixed_delay({interval!r}, max_attempts={max_attempts!r}, max_duration={max_duration!r})"
        )
        return cls(_stop(max_attempts, max_duration), wait, description=description)

    @classmethod
    def exponential(
        cls,
        initial_interval: timedelta,
        factor: float,
        *,
        max_interval: timedelta | None = None,
        max_attempts: int | None = None,
        max_duration: timedelta | None = None,
    ) -> RetryPolicy:
        """Retry after ``initial_interval * factor ** (n - 1)``, capped at ``max_interval``."""
        if isinstance(factor, bool) or not isinstance(factor, (int, float)):
            raise TypeError(f"factor must be a number, not {type(factor).__name__}")
        if not math.isfinite(factor) or factor <= 0:
            raise ValueError(f"factor must be a positive finite number, got {factor}")
        cap = math.inf if max_interval is None else _seconds(max_interval, "max_interval")
        wait = tenacity.wait_exponential(
            multiplier=_seconds(initial_interval, "initial_interval"), exp_base=factor, max=cap
        )
        description = (
            f"RetryPolicy.exponential({initial_interval!r}, {factor!r}, max_interval={max_interval!r}, "
            f"max_attempts={max_attempts!r}, max_duration={max_duration!r})"
        )
        return cls(_stop(max_attempts, max_duration), wait, description=description)

    # ---- the decision ----

    def decide(self, info: EntryRetryInfo) -> RetryDecision:
        """Decide for a run that failed ``info.retry_count`` times in ``info.retry_loop_duration``.

        ``info.retry_count`` counts the attempt that just failed, so it is at least 1.
        """
        state = tenacity.RetryCallState(None, None, (), {})  # type: ignore[arg-type]
        state.attempt_number = info.retry_count
        state.start_time = 0.0
        state.outcome_timestamp = info.retry_loop_duration.total_seconds()
        if self.stop(state):
            return _DO_NOT_RETRY
        if self.wait is None:
            return _RETRY_RUNTIME_DELAY
        seconds = self.wait(state)
        micros = max(0, round(seconds * 1_000_000))
        return RetryDecision(True, timedelta(microseconds=micros))

    def __repr__(self) -> str:
        return self._description


def delay_millis(delay: timedelta) -> int:
    """Whole milliseconds of ``delay``, truncated, as the protocol carries them."""
    return delay // _ONE_MS
