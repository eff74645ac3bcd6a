"""A faster transcoder with eventsourcing's own stored format.

Values are stored as eventsourcing's ``JSONTranscoder`` stores them: a value of
a registered type becomes ``{"_type_": name, "_data_": data}``, where ``data``
(what the type's transcoding made of it) is tagged in turn, so a UUID inside a
value object, or a value object inside another, comes back as it went in.
Either transcoder reads what the other wrote; orjson does the parsing and
printing. The library's JSON encoder takes subclasses of str, int, float,
list, tuple and dict for those types before it looks for a transcoding, and
so does this one, so both store such values alike.
"""

from __future__ import annotations

from typing import Any

import orjson
from eventsourcing.persistence import Transcoder, Transcoding, TranscodingNotRegisteredError

#: Types JSON holds as they are; a subclass of one is stored as that type.
_JSON_TYPES = (str, int, float, list, tuple, dict)


class OrjsonTranscoder(Transcoder):
    def __init__(self) -> None:
        self._by_type: dict[type, Transcoding] = {}
        self._by_name: dict[str, Transcoding] = {}

    def register(self, transcoding: Transcoding) -> None:
        """Stores values of ``transcoding.type`` tagged with ``transcoding.name``."""
        if not issubclass(transcoding.type, _JSON_TYPES):
            self._by_type[transcoding.type] = transcoding
        self._by_name[transcoding.name] = transcoding

    def encode(self, obj: Any) -> bytes:
        return orjson.dumps(self.tag(obj))

    def decode(self, data: bytes) -> Any:
        return self.untag(orjson.loads(data))

    def tag(self, value: Any) -> Any:
        """``value`` made of JSON types only: each value of a registered type
        replaced by its tagged form (what ``encode`` prints; the hash chain
        prints it with sorted keys)."""
        kind = type(value)
        if kind is str or kind is int or kind is bool or kind is float or value is None:
            return value
        if kind is dict:
            return {k: self.tag(v) for k, v in value.items()}
        if kind is list or kind is tuple:
            return [self.tag(v) for v in value]
        transcoding = self._by_type.get(kind)
        if transcoding is not None:
            data = transcoding.encode(value)
            if type(data) is not str:  # UUIDs, datetimes, Decimals give strings
                data = self.tag(data)
            return {"_type_": transcoding.name, "_data_": data}
        return self._tag_subclass(value)

    def _tag_subclass(self, value: Any) -> Any:
        # The base type's own methods: a subclass may override str() or int().
        if isinstance(value, dict):
            return {k: self.tag(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.tag(v) for v in value]
        if isinstance(value, str):
            return str.__str__(value)
        if isinstance(value, int):
            return int.__int__(value)
        if isinstance(value, float):
            return float.__float__(value)
        msg = (
            f"Object of type {type(value)} is not serializable. Please define "
            "and register a custom transcoding for this type."
        )
        raise TranscodingNotRegisteredError(msg)

    def untag(self, value: Any) -> Any:
        """Parsed JSON with each tagged value decoded, innermost first, so a
        transcoding gets its data decoded. Changes ``value`` in place (the
        parsed JSON is ours to change)."""
        kind = type(value)
        if kind is dict:
            if len(value) == 2 and "_type_" in value and "_data_" in value:
                data = value["_data_"]
                if type(data) is dict or type(data) is list:
                    data = self.untag(data)
                transcoding = self._by_name.get(value["_type_"])
                if transcoding is None:
                    raise _not_deserializable(value["_type_"])
                return transcoding.decode(data)
            for k, v in value.items():
                if type(v) is dict or type(v) is list:
                    value[k] = self.untag(v)
            return value
        if kind is list:
            for i, v in enumerate(value):
                if type(v) is dict or type(v) is list:
                    value[i] = self.untag(v)
        return value


def _not_deserializable(name: str) -> TranscodingNotRegisteredError:
    return TranscodingNotRegisteredError(
        f"Data serialized with name '{name}' is not deserializable. "
        "Please register a custom transcoding for this type."
    )
