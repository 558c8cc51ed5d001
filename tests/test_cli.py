"""The command line: JSON schema of the summary, and bad input without a traceback."""
import json
import subprocess
import sys


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "dvnlib", *args], capture_output=True, text=True, timeout=120)


def test_summary_json_schema():
    p = _cli("summary", "J2", "--json")
    assert p.returncode == 0, p.stderr
    info = json.loads(p.stdout)
    assert info["scenario"] == "J2" and info["backbone"] == "ResNet-42"
    assert isinstance(info["total_params"], int)
    assert len(info["outputs"]) == 16
    first = info["outputs"][0]
    assert {"task", "level", "units", "params", "density"} <= set(first)
    assert (first["task"], first["level"], first["units"]) == (1, 1, [1])
    assert info["outputs"][5]["units"] == [2, 1]


def test_summary_does_not_import_torch():
    p = subprocess.run([sys.executable, "-c", "import sys; from dvnlib.cli import main; main(['summary', 'J1']);"
                        "print('torch' in sys.modules)"], capture_output=True, text=True, timeout=60)
    assert p.stdout.strip().endswith("False")


def test_a_wrong_run_argument_is_refused_before_torch_loads():
    # the method registry names its methods without importing them, so checking a request is instant
    code = ("import sys; from dvnlib.cli import main\n"
            "for bad in (['--set', 'foo=1'], ['--methods', 'dvm'], ['--seeds', '-1'], ['--set', 'epochs=0']):\n"
            "    assert main(['run', 'FJ1', *bad]) == 2, bad\n"
            "print('torch' in sys.modules)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and p.stdout.strip() == "False", p.stdout + p.stderr
    assert "unknown override 'foo'" in p.stderr and "unknown method 'dvm'" in p.stderr


def test_unknown_scenario_lists_valid_ones_without_traceback():
    for cmd in (("summary", "J9"), ("run", "J9")):
        p = _cli(*cmd)
        assert p.returncode == 2
        assert "valid scenarios are J1, J2, J3, H1, S1, S2, FJ1" in p.stderr
        assert "Traceback" not in p.stderr


def test_the_narrow_profile_is_offered_where_a_scenario_has_it():
    # the study's capacity-limited width: FJ1 and FJ2 have it; elsewhere a one-line error lists the valid ones
    p = _cli("summary", "FJ1", "--profile", "narrow", "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["backbone"] == "WRN-8-1 (base 4 maps)"
    p = _cli("run", "FS1", "--profile", "narrow")
    assert p.returncode == 2 and "valid profiles are smoke, quick, study, paper" in p.stderr
    assert "Traceback" not in p.stderr


def test_inconsistent_override_names_valid_value():
    p = _cli("summary", "J2", "--units", "3")
    assert p.returncode == 2 and "units must be 4" in p.stderr and "Traceback" not in p.stderr


def test_missing_dataset_is_a_clear_error(tmp_path):
    p = _cli("run", "FJ1", "--data-root", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out"))
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert str(tmp_path / "nowhere") in p.stderr and "get_fashion_mnist.sh" in p.stderr
