"""A faster transcoder with eventsourcing's own stored format.

Events are stored exactly as eventsourcing's ``JSONTranscoder`` stores them
(UUIDs, datetimes and Decimals as ``{"_type_": …, "_data_": …}``), so either
transcoder reads what the other wrote; orjson does the parsing and printing.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import JSONTranscoder, TranscodingNotRegisteredError


class OrjsonTranscoder(JSONTranscoder):
    def encode(self, obj: Any) -> bytes:
        return orjson.dumps(self._tag(obj))

    def decode(self, data: bytes) -> Any:
        return self._untag(orjson.loads(data))

    def _tag(self, value: Any) -> Any:
        kind = type(value)
        if kind is dict:
            return {k: self._tag(v) for k, v in value.items()}
        if kind is list or kind is tuple:
            return [self._tag(v) for v in value]
        if kind is str or kind is int or kind is float or kind is bool or value is None:
            return value
        if kind is UUID or kind is datetime or kind is Decimal or kind in self.types:
            return self._encode_obj(value)
        msg = f"Object of type {kind} is not serializable; register a transcoding for it."
        raise TranscodingNotRegisteredError(msg)

    def _untag(self, value: Any) -> Any:
        """Replaces tagged objects in place (the parsed JSON is ours to change)."""
        kind = type(value)
        if kind is dict:
            if len(value) == 2 and "_type_" in value and "_data_" in value:
                return self._decode_obj(value)
            for k, v in value.items():
                if type(v) is dict or type(v) is list:
                    value[k] = self._untag(v)
            return value
        if kind is list:
            for i, v in enumerate(value):
                if type(v) is dict or type(v) is list:
                    value[i] = self._untag(v)
            return value
        return value
