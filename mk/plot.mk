# SPDX-License-Identifier: MIT
# Plots and RESULTS.md from the benchmark JSON (tools/plot/).
# Debian's interpreter on purpose: python3-matplotlib is installed for it,
# and a `python3` earlier on PATH may not see it.

PLOT_PY := /usr/bin/python3
PLOT_DIR := results/plots

.PHONY: plot results test-plot

## plot: PNG figures from results/*.json into results/plots/
plot: deps
	$(PLOT_PY) tools/plot/plot.py plots --results results --out $(PLOT_DIR)

## results: rewrite RESULTS.md's generated sections from results/*.json
results: deps
	$(PLOT_PY) tools/plot/plot.py results --results results --plots $(PLOT_DIR) --file RESULTS.md

## test-plot: the plot and RESULTS.md tools against fixtures (seconds)
test-plot: deps
	$(PLOT_PY) -m unittest discover -s tools/plot -p 'test_*.py'
