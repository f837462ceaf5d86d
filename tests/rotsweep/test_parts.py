"""The three rules that decide which copy of a key's rows is live (rotsweep.parts)."""

from __future__ import annotations

import pyarrow.fs as pafs

from rotsweep.parts import Compacted, Partition, key_of, live_rows, safe_name, tombstones


def partition(*files: Compacted, loose: tuple[str, ...] = ()) -> Partition:
    part = Partition("p", loose={k: pafs.FileInfo(f"p/part-{k}.parquet") for k in loose})
    part.compacted = list(files)
    return part


def test_one_clean_file_is_read_whole() -> None:
    a = Compacted("p/compact-1-a.parquet", 1, (("t1", 3), ("t2", 2)))
    assert live_rows(partition(a)) == {a.path: None}


def test_a_loose_part_wins_over_its_compacted_copy() -> None:
    a = Compacted("p/compact-1-a.parquet", 1, (("t1", 3), ("t2", 2), ("t3", 4)))
    assert live_rows(partition(a, loose=("t2",))) == {a.path: [("t1", 0, 3), ("t3", 5, 9)]}


def test_the_newer_file_wins_and_a_tombstone_kills_older_copies() -> None:
    old = Compacted("p/compact-1-a.parquet", 1, (("t1", 3), ("t2", 2)))
    new = Compacted("p/compact-2-b.parquet", 2, (("t2", 2), ("t3", 1)), deleted={"t1": 2})
    view = live_rows(partition(old, new))
    assert view == {old.path: [], new.path: None}  # t1 deleted at 2, t2 newer in 'new'
    # the tombstone matters while 'old' stays, and not once it is merged
    assert tombstones(partition(old, new), merged={new.path}) == {"t1": 2}
    assert tombstones(partition(old, new), merged={old.path, new.path}) == {}
    # a key written again after its deletion (a newer file) is live again
    again = Compacted("p/compact-3-c.parquet", 3, (("t1", 1),))
    assert live_rows(partition(old, new, again))[again.path] is None


def test_equal_sequence_numbers_are_ordered_by_name() -> None:
    a = Compacted("p/compact-2-a.parquet", 2, (("t1", 1), ("t2", 1)))
    b = Compacted("p/compact-2-b.parquet", 2, (("t1", 1),))
    assert live_rows(partition(a, b)) == {a.path: [("t2", 1, 2)], b.path: None}


def test_keys_come_from_file_names() -> None:
    assert key_of(f"part-{safe_name('a/b c')}.parquet") == "a_b_c"
    assert key_of("other.parquet") == "other.parquet"
