"""Two performance fixes for moto's DynamoDB, applied only in local mode's moto process.

moto 5.2.5 gives correct answers in time proportional to the whole table: ``TransactWriteItems``
deep-copies every table it touches (all items and all stream records) so it can roll back, and
every ``Query`` sorts and walks all items of the table to find one partition. With the few
thousand transactions of the demo a POST took seconds (measured: 0.47 s per transaction at 750
items, growing linearly). The fixes keep moto's answers and make the cost follow what a request
touches:

1. a transaction's rollback snapshot holds only the items it writes, and the stream's length;
2. a query walks only the items of its partition: the table's own hash for a table query, and
   an index kept per index hash-key attribute (maintained by every write path) for a GSI/LSI
   query. moto's own filtering still runs on those candidates, so a superset is harmless.

Requests are serialised by the server (``servers.py``): moto's models are not thread-safe.
``tests/e2e/test_moto_patches.py`` checks that patched and unpatched moto answer alike.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import moto.dynamodb.models as ddb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table

_state = threading.local()
Key = tuple[Any, Any]


class _CopyModule:
    """Stands in for the ``copy`` module inside moto's backend: inside a transaction, "copying" a
    whole table for rollback returns the table itself (the wrapper snapshots what is touched)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    @staticmethod
    def deepcopy(obj: Any, memo: dict[int, Any] | None = None) -> Any:
        if isinstance(obj, Table) and getattr(_state, "in_transaction", False):
            return obj
        return copy.deepcopy(obj, memo)


# --- partition index ----------------------------------------------------------------------------


class _PartitionIndex:
    """Items by the value of each index hash-key attribute: ``{attribute: {value: {key: item}}}``."""

    def __init__(self, table: Table) -> None:
        self.attributes = sorted({a for a in map(_hash_attribute, table.all_indexes()) if a is not None})
        self.by_value: dict[str, dict[DynamoType, dict[Key, Item]]] = {a: {} for a in self.attributes}
        self.value_of: dict[str, dict[Key, DynamoType]] = {a: {} for a in self.attributes}
        for item in _stored_items(table):
            self.update(_key(item), item)

    def update(self, key: Key, item: Item | None) -> None:
        for attribute in self.attributes:
            old = self.value_of[attribute].pop(key, None)
            if old is not None:
                bucket = self.by_value[attribute][old]
                bucket.pop(key, None)
                if not bucket:
                    del self.by_value[attribute][old]
            value = item.attrs.get(attribute) if item is not None else None
            if value is not None:
                self.by_value[attribute].setdefault(value, {})[key] = item  # type: ignore[assignment]
                self.value_of[attribute][key] = value

    def candidates(self, attribute: str, value: DynamoType) -> list[Item] | None:
        if attribute not in self.by_value:
            return None
        return list(self.by_value[attribute].get(value, {}).values())


def _hash_attribute(index: Any) -> str | None:
    return next((k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH"), None)


def _key(item: Item) -> Key:
    return (item.hash_key, item.range_key)


def _stored_items(table: Table) -> Iterator[Item]:
    for stored in table.items.values():
        if table.range_key_attr:
            yield from stored.values()
        else:
            yield stored  # type: ignore[misc]


def _index(table: Table) -> _PartitionIndex:
    index: _PartitionIndex | None = table.__dict__.get("_local_partition_index")
    if index is None:
        index = _PartitionIndex(table)
        table.__dict__["_local_partition_index"] = index
    return index


# --- wrappers -----------------------------------------------------------------------------------


def _put_item(original: Callable[..., Item]) -> Callable[..., Item]:
    def put_item(self: Table, *args: Any, **kwargs: Any) -> Item:
        item = original(self, *args, **kwargs)
        _index(self).update(_key(item), item)
        return item

    return put_item


def _delete_item(original: Callable[..., Item | None]) -> Callable[..., Item | None]:
    def delete_item(self: Table, hash_key: DynamoType, range_key: DynamoType | None) -> Item | None:
        item = original(self, hash_key, range_key)
        if item is not None:
            _index(self).update((hash_key, range_key), None)
        return item

    return delete_item


def _update_item(original: Callable[..., Item]) -> Callable[..., Item]:
    # Updates change the stored item in place, so it is re-indexed afterwards.
    def update_item(self: DynamoDBBackend, table_name: str, *args: Any, **kwargs: Any) -> Item:
        item = original(self, table_name, *args, **kwargs)
        _index(self.get_table(table_name)).update(_key(item), item)
        return item

    return update_item


def _all_items(original: Callable[[Table], list[Item]]) -> Callable[[Table], list[Item]]:
    def all_items(self: Table) -> list[Item]:
        narrowed = getattr(_state, "narrowed", None)
        if narrowed is not None and narrowed[0] is self:
            return sorted(narrowed[1], key=lambda x: (x.hash_key, x.range_key) if x.range_key else x.hash_key)
        return original(self)

    return all_items


def _query(original: Callable[..., Any]) -> Callable[..., Any]:
    def query(self: Table, hash_key: DynamoType | None, *args: Any, **kwargs: Any) -> Any:
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        conditions = kwargs.get("hash_key_conditions") or []
        candidates: list[Item] | None = None
        if not index_name and hash_key is not None:
            stored = self.items.get(hash_key)
            if self.range_key_attr:
                candidates = list(stored.values()) if stored else []
            else:
                candidates = [stored] if stored is not None else []  # type: ignore[list-item]
        elif index_name and len(conditions) == 1:
            candidates = _index(self).candidates(*conditions[0])
        if candidates is None:
            return original(self, hash_key, *args, **kwargs)
        _state.narrowed = (self, candidates)
        try:
            return original(self, hash_key, *args, **kwargs)
        finally:
            _state.narrowed = None

    return query


def _transact_write_items(original: Callable[..., None]) -> Callable[..., None]:
    def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        touched: list[tuple[Table, DynamoType, DynamoType | None, Item | None]] = []
        stream_lengths: dict[int, tuple[Table, int]] = {}
        for entry in transact_items:
            op_type, op = next(iter(entry.items()))
            table = self.tables.get(op.get("TableName"))
            attrs = op.get("Item") if op_type == "Put" else op.get("Key")
            if table is None or not isinstance(attrs, dict):
                continue
            try:
                hash_value = DynamoType(attrs[table.hash_key_attr])
                range_value = DynamoType(attrs[table.range_key_attr]) if table.range_key_attr else None
                previous = table.get_item(hash_value, range_value)
            except Exception:
                continue
            touched.append((table, hash_value, range_value, copy.deepcopy(previous)))
            if table.stream_shard is not None:
                stream_lengths.setdefault(id(table), (table, len(table.stream_shard.items)))
        _state.in_transaction = True
        try:
            original(self, transact_items)
        except Exception:
            for table, hash_value, range_value, previous in reversed(touched):
                _restore(table, hash_value, range_value, previous)
            for table, length in stream_lengths.values():
                del table.stream_shard.items[length:]  # type: ignore[union-attr]
            raise
        finally:
            _state.in_transaction = False

    return transact_write_items


def _restore(table: Table, hash_value: DynamoType, range_value: DynamoType | None, previous: Item | None) -> None:
    if table.range_key_attr:
        partition = table.items.get(hash_value)
        if previous is not None:
            table.items.setdefault(hash_value, {})[range_value] = previous
        elif partition is not None:
            partition.pop(range_value, None)
            if not partition:
                del table.items[hash_value]
    elif previous is not None:
        table.items[hash_value] = previous  # type: ignore[assignment]
    else:
        table.items.pop(hash_value, None)
    _index(table).update((hash_value, range_value), previous)


_TARGETS: tuple[tuple[type, str, Callable[[Any], Any]], ...] = (
    (Table, "put_item", _put_item),
    (Table, "delete_item", _delete_item),
    (Table, "all_items", _all_items),
    (Table, "query", _query),
    (DynamoDBBackend, "update_item", _update_item),
    (DynamoDBBackend, "transact_write_items", _transact_write_items),
)


def apply() -> Callable[[], None]:
    """Install the fixes; returns a function that removes them (tests compare both)."""
    originals = [(owner, name, owner.__dict__[name]) for owner, name, _ in _TARGETS]
    for owner, name, wrap in _TARGETS:
        setattr(owner, name, wrap(owner.__dict__[name]))
    original_copy = ddb_models.copy
    ddb_models.copy = _CopyModule()  # type: ignore[assignment]  # duck-typed: deepcopy and the rest

    def undo() -> None:
        for owner, name, function in originals:
            setattr(owner, name, function)
        ddb_models.copy = original_copy

    return undo


@contextmanager
def patched() -> Iterator[None]:
    undo = apply()
    try:
        yield
    finally:
        undo()
