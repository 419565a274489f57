"""A fix for hypercorn's HTTP/2, kept apart from the example SDK so that any endpoint
served with hypercorn can use it (bench/e2e_share.py serves the official SDK with it too)."""

from __future__ import annotations


def tolerate_late_http2_data() -> None:
    """Keep HTTP/2 connections alive when DATA arrives for a stream that already ended.

    The Restate server may still send on an invocation's request stream after
    the response ended (e.g. a notification racing the End message).
    hypercorn 0.18 then raises KeyError and drops the whole connection, with
    every other invocation on it (pgjones/hypercorn#329). Such frames carry
    nothing the ended invocation needs: return their flow-control credit and
    drop them.
    """
    import h2.events
    from hypercorn.protocol.h2 import H2Protocol

    handle_events = H2Protocol._handle_events

    async def handle_events_of_live_streams(self: H2Protocol, events: list[h2.events.Event]) -> None:
        # One event at a time: a stream opened by an earlier event of the batch must count as live.
        for event in events:
            if isinstance(event, h2.events.DataReceived) and event.stream_id not in self.streams:
                self.connection.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            else:
                await handle_events(self, [event])

    H2Protocol._handle_events = handle_events_of_live_streams  # type: ignore[method-assign]
