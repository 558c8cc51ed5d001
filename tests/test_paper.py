"""The paper's cost figures, read once (``dvnlib.paper``) for the benchmark and the book."""
import math
import subprocess
import sys

import pytest

from dvnlib import paper


def test_table2_speedups_from_the_projects_copy():
    p = paper.paper_speedups()
    assert p == {("J2", 1): 5.8, ("J2", 2): 2.8, ("J2", 3): 1.6, ("J2", 4): 1.0}  # Section 4.3 gives none
    rows = paper.reported_cost()
    j1 = [r for r in rows if r["scenario"] == "J1"]
    assert j1 and all(math.isnan(r["speedup_x"]) and r["inference_ms_per_image"] > 0 for r in j1)
    assert all(isinstance(r["level"], int) and isinstance(r["units_used"], str) for r in rows)


def test_bench_and_report_read_the_same_rows():
    from dvnlib import report
    from dvnlib.bench import readout
    from dvnlib.report.sources import load_reported_cost
    assert readout.paper_speedups is report.paper_speedups is paper.paper_speedups
    df = load_reported_cost()
    assert list(df.columns) == list(paper.reported_cost()[0])  # the file's order
    assert df.fillna(-1).to_dict("records") == [{k: (-1 if v != v else v) for k, v in r.items()}
                                                for r in paper.reported_cost()]


@pytest.mark.parametrize("text, words", [("source,scenario\nTable 2,J2\n", "has no column"),
                                         (None, "is missing")])
def test_a_broken_copy_is_one_line_naming_the_file(tmp_path, monkeypatch, text, words):
    (tmp_path / "reported.csv").write_text("x\n")
    if text is not None:
        (tmp_path / "reported_cost.csv").write_text(text)
    monkeypatch.setattr(paper, "paper_dir", lambda: tmp_path)
    with pytest.raises((ValueError, FileNotFoundError)) as e:
        paper.reported_cost()
    msg = str(e.value)
    assert words in msg and str(tmp_path / "reported_cost.csv") in msg and "\n" not in msg


def test_a_figure_that_is_not_a_number_names_the_file(tmp_path, monkeypatch):
    good = (paper.project_root() / "results" / "paper" / "reported_cost.csv").read_text()
    (tmp_path / "reported_cost.csv").write_text(good.replace(",5.8,", ",5.8x,"))
    monkeypatch.setattr(paper, "paper_dir", lambda: tmp_path)
    with pytest.raises(ValueError, match="not a number") as e:
        paper.reported_cost()
    assert str(tmp_path / "reported_cost.csv") in str(e.value)


def test_the_benchmark_does_not_import_the_report():
    code = "import sys, dvnlib.bench; assert 'dvnlib.report' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_timing_and_paper_import_without_torch_or_pandas():
    """The book's light environment imports them; the benchmark imports them without the report."""
    code = ("import sys, dvnlib.timing, dvnlib.paper; "
            "assert not {'torch', 'pandas'} & set(sys.modules), sorted({'torch', 'pandas'} & set(sys.modules))")
    subprocess.run([sys.executable, "-c", code], check=True)
