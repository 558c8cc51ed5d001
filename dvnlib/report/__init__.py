"""Tables, figures and verdicts from result files: what the notebooks display and the book renders.

Everything here reads files and nothing trains or imports torch. One module per concern, data
flowing one way (sources -> stats -> verdicts -> comparisons / tables / figures -> pages):

* ``sources``: where the results, per-image predictions, curves, benchmark and the paper's numbers
  are, and reading them; which profile the book renders (``study``, else ``quick`` labelled "not evidence");
* ``stats``: means over seeds, exact t intervals, the paired bootstrap over seeds and test images,
  Holm's correction, detectable differences;
* ``paper``: the paper's numbers as reported, laid out as its tables and looked up beside ours;
* ``verdicts``: the preregistered decision rules (verdict words, Holm, density matching, a
  claim's verdict over its comparisons);
* ``comparisons``: each claim's comparisons, as the preregistration fixes them, at both capacities;
* ``tables`` and ``figures``: what the notebooks and pages show;
* ``cost``: the benchmark's files formatted for the cost page and claim 4;
* ``records``: run records, commands, what this build found, how each twin's runs were configured;
* ``numbers``: the book's one number format;
* ``overview``: the intro's verdict table, the map of the paper's tables and figures, the
  limitations' figures;
* ``zoo``: the deployment page's model zoo (its summary over seeds, table and figure, int8 against
  float32 at each top level);
* ``pages``: the ``show_*`` functions the book's pages call; ``deployment``: the deployment page's.

The names below are the package's public surface (``from dvnlib import report; report.table(df)``).
"""
from .verdicts import (CLAIM_VERDICTS, COULD_NOT, DENSITY_SLACK, DETECTABLE, MATCH_MARGIN, NO_FIT, VERDICTS,
                       Comparison, combine, counts, decide, matched_level, rule_link, verdict)
from .comparisons import CLAIMS, PARTS, Claim, Results, claim1, claim2, claim3, claim4, claim5, claims, estimate
from .cost import bench_levels, fmt_speedup, table2, targets_table
from .figures import convergence_figure, curves_figure, density_figure, speedup_figure, unit_orders_figure
from .paper import MATCH_TOLERANCE, paper_speedups, reported_cost_all, reported_densities, reported_table
from .pages import (show_ablation, show_bench_run, show_bench_switches, show_bench_targets, show_claim,
                    show_claims_summary, show_convergence, show_cost, show_curves, show_figure, show_fh1_anchor, show_finetune_sweep, show_precision, show_reported,
                    show_reproducibility, show_retrain_check, show_scenario, show_status, show_table, show_twins, show_verdict_table,
                    show_paper_map, show_limitations, limitations_text, show_other_ablations, show_configuration)
from .numbers import ci, interval, num, paper_num, plain
from .overview import PAPER_MAP, not_compared, paper_map_table, verdict_table
from .records import bench_record, build_record, commands_table, configuration_table, is_current_run, run_facts, run_records, status, stopped_runs, study_record
from .sources import (ABLATIONS, BENCH_COMMAND, BOOK_SCENARIOS, EVIDENCE_PROFILE, FAMILY_METHODS, NARROW_PROFILE,
                      book_profile, capacities, label, load_bench, load_bench_meta, load_bench_table, load_curves,
                      load_metrics, load_predictions, load_reported, load_anchor, load_reported_cost, rerun_command,
                      BadInput, read_csv, read_json, results_dir, twin_name)
from .stats import (Difference, aggregate, compare, diff_ci, difference, holm, mdd, mean_ci, paired_bootstrap,
                    t_quantile, welch_ci)
from .tables import (FH1_ANCHOR, PRECISION_TARGET, ablation_table, median_half_width, precision, anchors_table, budget_table, convergence_table, fh1_anchor_table, finetune_choice, finetune_table, j3_units_table, ours_table, profiles_table,
                     resnet42_table, table, twins_table, unit_orders_table)
from .zoo import (INT8_MAX_ACCURACY_LOSS, INT8_MAX_BYTES_SHARE, export_agreement, int8_check, int8_table, zoo_figure,
                  zoo_source, zoo_source_text, zoo_summary, zoo_table)
