"""The hand-written encoders of protocol/_wire.py write exactly what the generated classes write.

For arbitrary field values (empty, short, long enough to need multi-byte
lengths, large integers), each encoder's output must equal
``SerializeToString()`` of the generated message, and each frame builder must
equal ``encode_frame`` of it with the type and flags the protocol assigns.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from restate_core.protocol import COMPLETED, encode_frame, v2, v5
from restate_core.protocol import _wire as wire

data = st.one_of(st.binary(max_size=300), st.binary(min_size=120, max_size=140))
text = st.text(max_size=200)
u32 = st.integers(min_value=0, max_value=2**32 - 1)
u64 = st.integers(min_value=0, max_value=2**64 - 1)


@given(u64)
def test_varint_matches_protobuf(value: int) -> None:
    # A uint64 field 1 is the tag byte 0x08 and the varint; protobuf omits a zero.
    serialized = v5.SleepCommandMessage(wake_up_time=value).SerializeToString()
    assert wire.varint(value) == (serialized[1:] if value else b"\x00")
    assert wire.uint_field(b"\x08", value) == serialized


@given(u32, text)
def test_failure(code: int, message: str) -> None:
    assert wire.failure(code, message) == v2.Failure(code=code, message=message).SerializeToString()
    assert wire.failure(code, message) == v5.Failure(code=code, message=message).SerializeToString()


@given(data, st.sampled_from([wire.V2_NO_RESULT, wire.V2_EMPTY, wire.V2_VALUE]), data)
def test_v2_get_state(key: bytes, result: int, value: bytes) -> None:
    message = v2.GetStateEntryMessage(key=key)
    if result == wire.V2_VALUE:
        message.value = value
    elif result == wire.V2_EMPTY:
        message.empty.SetInParent()
    else:
        value = b""
    assert wire.v2_get_state(key, result, value) == message.SerializeToString()


@given(data, data)
def test_v2_get_state_value_frame(key: bytes, value: bytes) -> None:
    expected = encode_frame(
        v2.MessageType.GET_STATE_ENTRY, v2.GetStateEntryMessage(key=key, value=value).SerializeToString(), COMPLETED
    )
    assert wire.v2_get_state_value_frame(key, value) == expected


@given(data, data)
def test_v2_set_state(key: bytes, value: bytes) -> None:
    body = v2.SetStateEntryMessage(key=key, value=value).SerializeToString()
    assert wire.v2_set_state(key, value) == body
    assert wire.v2_set_state_frame(key, value) == encode_frame(v2.MessageType.SET_STATE_ENTRY, body)


@given(st.one_of(st.none(), data), u32, text)
def test_v2_output(value: bytes | None, code: int, message: str) -> None:
    expected = v2.OutputEntryMessage()
    if value is None:
        expected.failure.code, expected.failure.message = code, message
    else:
        expected.value = value
    assert wire.v2_output(value, wire.failure(code, message)) == expected.SerializeToString()


@given(text, st.one_of(st.none(), data), u32, text)
def test_v2_run(name: str, value: bytes | None, code: int, message: str) -> None:
    expected = v2.RunEntryMessage(name=name)
    if value is None:
        expected.failure.code, expected.failure.message = code, message
    else:
        expected.value = value
    assert wire.v2_run(name, value, wire.failure(code, message)) == expected.SerializeToString()


@given(data, st.one_of(st.none(), data))
def test_v5_get_eager_state(key: bytes, value: bytes | None) -> None:
    message = v5.GetEagerStateCommandMessage(key=key)
    if value is None:
        message.void.SetInParent()
    else:
        message.value.content = value
    body = message.SerializeToString()
    assert wire.v5_get_eager_state(key, value) == body
    assert wire.v5_get_eager_state_frame(key, value) == encode_frame(v5.MessageType.GET_EAGER_STATE_COMMAND, body)


@given(data, u32)
def test_v5_get_lazy_state(key: bytes, completion_id: int) -> None:
    expected = v5.GetLazyStateCommandMessage(key=key, result_completion_id=completion_id)
    assert wire.v5_get_lazy_state(key, completion_id) == expected.SerializeToString()


@given(data, data)
def test_v5_set_state(key: bytes, value: bytes) -> None:
    message = v5.SetStateCommandMessage(key=key)
    message.value.content = value
    body = message.SerializeToString()
    assert wire.v5_set_state(key, value) == body
    assert wire.v5_set_state_frame(key, value) == encode_frame(v5.MessageType.SET_STATE_COMMAND, body)


@given(st.one_of(st.none(), data), u32, text)
def test_v5_output(value: bytes | None, code: int, message: str) -> None:
    expected = v5.OutputCommandMessage()
    if value is None:
        expected.failure.code, expected.failure.message = code, message
    else:
        expected.value.content = value
    assert wire.v5_output(value, wire.failure(code, message)) == expected.SerializeToString()


@given(u32, text)
def test_v5_run(completion_id: int, name: str) -> None:
    expected = v5.RunCommandMessage(result_completion_id=completion_id, name=name)
    assert wire.v5_run(completion_id, name) == expected.SerializeToString()


@given(u32, st.one_of(st.none(), data), u32, text)
def test_v5_propose_run_completion(completion_id: int, value: bytes | None, code: int, message: str) -> None:
    expected = v5.ProposeRunCompletionMessage(result_completion_id=completion_id)
    if value is None:
        expected.failure.code, expected.failure.message = code, message
    else:
        expected.value = value
    assert wire.v5_propose_run_completion(completion_id, value, wire.failure(code, message)) == (
        expected.SerializeToString()
    )


@given(u64, u32)
def test_v5_sleep(wake_up_time: int, completion_id: int) -> None:
    expected = v5.SleepCommandMessage(wake_up_time=wake_up_time, result_completion_id=completion_id)
    assert wire.v5_sleep(wake_up_time, completion_id) == expected.SerializeToString()


@given(text, text, data, text, u32, u32)
def test_v5_call(service: str, handler: str, parameter: bytes, key: str, id_completion: int, result: int) -> None:
    expected = v5.CallCommandMessage(
        service_name=service,
        handler_name=handler,
        parameter=parameter,
        key=key,
        invocation_id_notification_idx=id_completion,
        result_completion_id=result,
    )
    assert wire.v5_call(service, handler, parameter, key, id_completion, result) == expected.SerializeToString()
