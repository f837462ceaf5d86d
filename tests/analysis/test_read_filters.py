"""read_table: a filter or column the table does not have is named in the error."""

from __future__ import annotations

from pathlib import Path

import pytest

from rotsweep.tables import read_table, write_part


def test_unknown_filter_or_column_names_the_table_and_the_name(tmp_path: Path) -> None:
    write_part(tmp_path, "hog_svm", [{"study": "s", "dataset": "d", "angle": 0,
                                      "accuracy": 0.5}], key="h")
    with pytest.raises(KeyError, match="table 'hog_svm' has no column 'trial_id'"):
        read_table(tmp_path, "hog_svm", filters=[("trial_id", "==", "x")])
    with pytest.raises(KeyError, match="no column 'acuracy'"):
        read_table(tmp_path, "hog_svm", columns=["angle", "acuracy"])
    # disjunctive filters (a list of AND-lists) are checked too, and work
    with pytest.raises(KeyError, match="no column 'epoch'"):
        read_table(tmp_path, "hog_svm", filters=[[("angle", "==", 0)], [("epoch", "==", 1)]])
    both = read_table(tmp_path, "hog_svm", filters=[[("angle", "==", 0)], [("angle", "==", 9)]],
                      columns=["angle", "accuracy"])
    assert both["accuracy"].tolist() == [0.5]
