"""The StartMessage as the VM reads it: its eager state as a protobuf map.

``StartMessage.state_map`` is declared ``repeated StateEntry`` (``bytes key = 1;
bytes value = 2``). A ``map<string, bytes>`` field is encoded exactly the same
way on the wire, so a copy of the StartMessage whose field 4 is declared as
that map parses the same bytes. Read that way, protobuf builds the lookup table
itself, in C, and checks every key for UTF-8 while parsing: the VM then looks
values up in it instead of copying every entry into a ``dict`` first. A key
that is not UTF-8 makes the view fail to parse; the VM then reads the message
with the declared class, which reports that key as the protocol requires.

Both views are built at import time from the generated descriptors, in a pool
of their own, so they follow the ``.proto`` sources without a second copy of
them.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from . import v2_pb2, v5_pb2

__all__ = ["START_VIEW_V2", "START_VIEW_V5", "start_view"]

_Field = descriptor_pb2.FieldDescriptorProto
_STATE_MAP = 4  # StartMessage.state_map


def start_view(start_message: Any, package: str) -> Any:
    """A message class that reads ``start_message``'s bytes, with ``state_map`` as ``map<string, bytes>``."""
    file = descriptor_pb2.FileDescriptorProto(
        name=f"{package.replace('.', '/')}/start_view.proto", package=package, syntax="proto3"
    )
    message = file.message_type.add()
    start_message.DESCRIPTOR.CopyToProto(message)
    message.name = "StartMessageView"
    del message.nested_type[:]  # StateEntry, replaced by the map's entry type
    entry = message.nested_type.add(name="StateMapEntry")
    entry.options.map_entry = True
    entry.field.add(name="key", number=1, type=_Field.TYPE_STRING, label=_Field.LABEL_OPTIONAL)
    entry.field.add(name="value", number=2, type=_Field.TYPE_BYTES, label=_Field.LABEL_OPTIONAL)
    for field in message.field:
        if field.number == _STATE_MAP:
            field.type_name = f".{package}.StartMessageView.StateMapEntry"
        elif field.type in (_Field.TYPE_MESSAGE, _Field.TYPE_ENUM, _Field.TYPE_GROUP):
            raise TypeError(f"StartMessage.{field.name} refers to another type; the view cannot copy it")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{package}.StartMessageView"))


START_VIEW_V2: Any = start_view(v2_pb2.StartMessage, "restate_core.start_view.v2")
START_VIEW_V5: Any = start_view(v5_pb2.StartMessage, "restate_core.start_view.v5")
