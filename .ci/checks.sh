# The helpers .ci/run is built of (sourced; a test sources them too).
#   phase TEXT              prints the time since start and TEXT
#   check NAME COMMAND...   runs COMMAND; if it fails, records NAME in $failures
#   side_by_side FUNCTION...  runs each FUNCTION in its own process, at once
# The caller sets `failures` to an empty file: failed checks are recorded as lines
# of a file, not in a shell variable, so that a check in a background process
# (side_by_side) still reports its failure.

start=$SECONDS
phase() { echo "=== $(date -u +%H:%M:%S) +$((SECONDS - start))s  $*" >&2; }
check() {
  local name=$1
  shift
  phase "$name"
  if ! "$@"; then
    echo "CI: FAILED: $name" >&2
    echo "$name" >>"$failures"
  fi
}
side_by_side() {
  # Each one's output goes to a log, printed whole once it ends. A FUNCTION that
  # itself fails (not a check inside it) is recorded under its own name.
  local names=("$@") logs=() pids=() i
  for i in "$@"; do
    logs+=("$(mktemp)")
    "$i" >"${logs[-1]}" 2>&1 &
    pids+=("$!")
  done
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || echo "${names[$i]} (exit status $?)" >>"$failures"
    cat "${logs[$i]}" >&2
    rm -f "${logs[$i]}"
  done
}
