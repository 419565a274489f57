"""Frames the VM writes are the same on both sides of the precomputed-header limit.

The VM looks up the headers of short output and call bodies in tables and packs
the longer ones; every body size around that limit must give the frame the
generated classes give.
"""

from __future__ import annotations

import pytest

from restate_core import CoreVM, Success, Target
from restate_core.protocol import Decoder, Version, encode_frame, v2, v5
from restate_core.protocol._framing import SMALL_BODY
from restate_core.testing import encode_input

VERSIONS = [Version.V1, Version.V2, Version.V5, Version.V6]
# Target body sizes; each test's own framing shifts them by a few bytes, still across the limit.
SIZES = range(SMALL_BODY - 10, SMALL_BODY + 3)


def started(version: Version) -> CoreVM:
    proto = v2 if version.is_legacy else v5
    entry = v2.InputEntryMessage() if version.is_legacy else v5.InputCommandMessage()
    vm = CoreVM([("content-type", version.content_type)])
    vm.notify_input(encode_input(version, [proto.StartMessage(id=b"inv", debug_id="inv", known_entries=1), entry]))
    vm.notify_input_closed()
    vm.sys_input()
    return vm


def written(vm: CoreVM) -> list[bytes]:
    data = b""
    while chunk := vm.take_output():
        data += chunk
    decoder = Decoder()
    decoder.push(data)
    return [message.encode() for message in decoder]


@pytest.mark.parametrize("version", VERSIONS, ids=str)
@pytest.mark.parametrize("size", SIZES)
def test_output_frames_around_the_header_table(version: Version, size: int) -> None:
    vm = started(version)
    value = b"o" * (size - 3)  # field tag, two length bytes, the value
    vm.sys_write_output(Success(value))
    if version.is_legacy:
        message_type, body = v2.MessageType.OUTPUT_ENTRY, v2.OutputEntryMessage(value=value).SerializeToString()
    else:
        command = v5.OutputCommandMessage()
        command.value.content = value
        message_type, body = v5.MessageType.OUTPUT_COMMAND, command.SerializeToString()
    assert written(vm) == [encode_frame(message_type, body)]


@pytest.mark.parametrize("version", VERSIONS, ids=str)
@pytest.mark.parametrize("size", SIZES)
def test_call_frames_around_the_header_table(version: Version, size: int) -> None:
    vm = started(version)
    parameter = b"p" * (size - 18)
    vm.sys_call(Target("Service", "handler", None), parameter)
    if version.is_legacy:
        entry = v2.CallEntryMessage(service_name="Service", handler_name="handler", parameter=parameter)
        message_type, body = v2.MessageType.CALL_ENTRY, entry.SerializeToString()
    else:
        command = v5.CallCommandMessage(
            service_name="Service",
            handler_name="handler",
            parameter=parameter,
            invocation_id_notification_idx=1,
            result_completion_id=2,
        )
        message_type, body = v5.MessageType.CALL_COMMAND, command.SerializeToString()
    assert written(vm) == [encode_frame(message_type, body)]
