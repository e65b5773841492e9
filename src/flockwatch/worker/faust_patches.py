"""One targeted patch to Faust's consumer hot path (found by the faust spike, see docs/worker.md).

`Consumer._drain_messages` hands every message to the streams with
`await self.wait_first(callback(message), self.suspend_flow.wait())`: per message that
is several asyncio tasks, an `asyncio.wait` and cancellations (~100 µs), which caps one
worker near 2,000-5,000 messages/s on a 2-core machine whatever the agent does. The
fast path awaits the callback directly while the flow is not suspended, and keeps the
original `wait_first` (abandon the delivery when a rebalance suspends the flow)
whenever it is.

The patch rewrites that one statement of the installed source and recompiles the
method. If the statement is not found (another Faust version), nothing is patched and
a warning says so: the worker is then correct but slower.
"""

from __future__ import annotations

import inspect
import logging
import textwrap

log = logging.getLogger(__name__)

_I = " " * 28  # the statement's indentation inside the method
_ORIGINAL = f"{_I}await self.wait_first(\n{_I}    callback(message), self.suspend_flow.wait()\n{_I})"
_FAST = (f"{_I}if self.suspend_flow.is_set():\n"
         f"{_I}    await self.wait_first(\n{_I}        callback(message), self.suspend_flow.wait()\n{_I}    )\n"
         f"{_I}else:\n{_I}    await callback(message)")

_applied = False


def apply_fast_drain() -> bool:
    """Patch `faust.transport.consumer.Consumer._drain_messages`; True if patched (idempotent)."""
    global _applied
    if _applied:
        return True
    import faust.transport.consumer as consumer_module

    method = consumer_module.Consumer._drain_messages
    try:
        source = inspect.getsource(method)
    except (OSError, TypeError):
        source = ""
    if source.count(_ORIGINAL) != 1:
        log.warning("faust %s: Consumer._drain_messages is not the expected code; running without the "
                    "fast drain path (correct, but about half the throughput)", _faust_version())
        return False
    namespace: dict[str, object] = {}
    code = compile(textwrap.dedent(source.replace(_ORIGINAL, _FAST)), consumer_module.__file__, "exec")
    exec(code, consumer_module.__dict__, namespace)  # noqa: S102 - Faust's own source, one statement changed
    consumer_module.Consumer._drain_messages = namespace["_drain_messages"]  # type: ignore[method-assign]
    _applied = True
    return True


def _faust_version() -> str:
    import faust

    return str(getattr(faust, "__version__", "?"))
