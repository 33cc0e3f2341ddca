#!/usr/bin/env bash
# One CI job of the workbench, shared by ci/github-actions.yml and
# ci/gitlab-ci.yml so that both run the same commands (and tests/test_ci.py
# runs them too).
#
# usage: ci/wb-job.sh build|test|evidence
#   build     tree, series, config and build of base and patched: fills ccache
#             for the test jobs, which then rebuild nothing from scratch
#   test      wb all on one filesystem (WB_FS)
#   evidence  wb all, wb series, wb bench --quick, wb evidence -v 1
# Environment:
#   WB_KERNEL     debian-6.12 (Debian's linux-source-6.12, the default) or a
#                 branch/tag of KERNEL_GIT (v7.3-rc7 in the CI files), cloned to
#                 kernel-src and used with --tree; wb applies the series whose
#                 "# kernel:" line names that kernel (none: exit 2)
#   WB_FRAGMENTS  default, or debug (the KASAN/lockdep kernel: --debug)
#   WB_FS         the filesystem of a test job
#   WB_RESULTS    where the job's run directories are copied, also when wb
#                 fails or runs out of time (default: results)
#   WB_MINUTES    wb's time in a test job, below the CI job's own limit so the
#                 results are still collected (default: 100)
set -euo pipefail
cd "$(dirname "$0")/.."

job=${1:?usage: ci/wb-job.sh build|test|evidence}
wb=.venv/bin/wb
results=${WB_RESULTS:-results}

debug=()
[[ ${WB_FRAGMENTS:-default} == debug ]] && debug=(--debug)
tree=()
if [[ ${WB_KERNEL:-debian-6.12} != debian-6.12 ]]; then
	[[ -d kernel-src ]] || git clone -q --depth 1 --branch "$WB_KERNEL" "$KERNEL_GIT" kernel-src
	tree=(--tree kernel-src)
fi

# Every run directory (not the runs/latest link, which would copy one twice),
# whatever the job's outcome.
collect() {
	local status=$? run
	mkdir -p "$results"
	for run in work/runs/*/; do
		[[ -L ${run%/} ]] || cp -r "$run" "$results/"
	done
	if [[ -d work/evidence ]]; then cp -r work/evidence "$results/"; fi
	exit "$status"
}
trap collect EXIT

case $job in
build)
	"$wb" tree "${tree[@]}"
	"$wb" apply
	"$wb" config "${debug[@]}"
	"$wb" build "${debug[@]}"
	;;
test)
	# SIGINT: wb marks the run incomplete and stops QEMU, keeping what finished.
	timeout -s INT -k 60 "${WB_MINUTES:-100}m" \
		"$wb" all "${tree[@]}" --fs "${WB_FS:?WB_FS names the filesystem}" "${debug[@]}"
	;;
evidence)
	"$wb" all "${tree[@]}"
	"$wb" series
	# icount: deterministic guest time, comparable between runners (a kvm
	# clock would need a runner whose KVM works).
	"$wb" bench --quick --clock icount
	# The submission is signed with the git identity; a runner has none, so
	# the user who started the pipeline signs it (set user.name/user.email in
	# the job to sign it otherwise).
	if ! git config user.email >/dev/null; then
		export GIT_CONFIG_COUNT=2 GIT_CONFIG_KEY_0=user.name GIT_CONFIG_KEY_1=user.email
		if [[ -n ${GITLAB_USER_EMAIL:-} ]]; then
			GIT_CONFIG_VALUE_0=${GITLAB_USER_NAME:-$GITLAB_USER_LOGIN}
			GIT_CONFIG_VALUE_1=$GITLAB_USER_EMAIL
		else
			GIT_CONFIG_VALUE_0=${GITHUB_ACTOR:?no git identity to sign the submission with}
			GIT_CONFIG_VALUE_1=$GITHUB_ACTOR@users.noreply.github.com
		fi
		export GIT_CONFIG_VALUE_0 GIT_CONFIG_VALUE_1
	fi
	"$wb" evidence -v 1
	;;
*)
	echo "ci/wb-job.sh: unknown job '$job' (build, test or evidence)" >&2
	exit 2
	;;
esac
