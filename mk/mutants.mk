# SPDX-License-Identifier: MIT
# Mutation check (tools/mutants.sh): each tests/mutants/*.patch puts one
# bug back; the tests that claim to guard against it must fail.

.PHONY: mutants
## mutants: re-introduce each known bug (tests/mutants/*.patch) and check its tests fail
mutants: deps build
	tools/mutants.sh
