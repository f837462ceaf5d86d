"""read_table: a filter or column the table does not have is named in the error."""

from __future__ import annotations

from pathlib import Path

import pytest

from rotsweep.tables import read_table, write_part


def test_unknown_filter_or_column_names_the_table_and_the_name(tmp_path: Path) -> None:
    write_part(tmp_path, "hog_svm", [{"study": "s", "dataset": "d", "eval_angle": 0,
                                      "accuracy": 0.5}], key="h")
    with pytest.raises(KeyError, match="table 'hog_svm' has no column 'trial_id'"):
        read_table(tmp_path, "hog_svm", filters=[("trial_id", "==", "x")])
    with pytest.raises(KeyError, match="no column 'acuracy'"):
        read_table(tmp_path, "hog_svm", columns=["eval_angle", "acuracy"])
    # disjunctive filters (a list of AND-lists) are checked too, and work
    with pytest.raises(KeyError, match="no column 'epoch'"):
        read_table(tmp_path, "hog_svm", filters=[[("eval_angle", "==", 0)], [("epoch", "==", 1)]])
    both = read_table(tmp_path, "hog_svm",
                      filters=[[("eval_angle", "==", 0)], [("eval_angle", "==", 9)]],
                      columns=["eval_angle", "accuracy"])
    assert both["accuracy"].tolist() == [0.5]


def test_load_results_reads_only_the_tables_and_columns_asked(tmp_path: Path) -> None:
    from analysis.results import load_results

    write_part(tmp_path, "saliency", [{"study": "s", "dataset": "d", "trial_id": "t",
                                       "train_angles": angles, "eval_angle": 7.5,
                                       "image_id": "i", "dice": 0.5}
                                      for angles in ([22.5, 90], [0], None)], key="t")
    write_part(tmp_path, "hog_svm", [{"study": "s", "dataset": "d", "eval_angle": 7.5}], key="h")
    res = load_results(tmp_path, tables=["saliency"],
                       columns={"saliency": ["trial_id", "train_angles", "dice"]})
    assert res.present() == ["saliency"] and res.hog_svm is None
    assert list(res.saliency.columns) == ["trial_id", "train_angles", "dice"]
    assert res.saliency["train_angles"].tolist() == ["22.5,90", "0", ""]  # hashable labels
    with pytest.raises(KeyError, match="no table 'salency'"):
        load_results(tmp_path, tables=["salency"])
    with pytest.raises(KeyError, match="no column 'dise'"):
        load_results(tmp_path, columns={"saliency": ["dise"]})
