# Sourced by .ci/lowest-deps and .ci/newer-python: the test suite in a fresh
# virtual environment, its install and result appended to a log.

fresh_venv() {  # fresh_venv PYTHON VENV: makes VENV with PYTHON, activates it
  rm -rf "$2"
  "$1" -m venv "$2"
  # shellcheck disable=SC1091
  . "$2/bin/activate"
  python -m pip install --quiet --upgrade pip
}

install_and_test() {  # install_and_test LOG LABEL VENV PIP_ARGS... -- PYTEST_ARGS...
  # In the active VENV: pip install PIP_ARGS, then pytest -q PYTEST_ARGS; the
  # install's output, every installed version and the tests' tail go to LOG,
  # each verdict line starting "# LABEL". A failed install ends the script (the
  # tests would run against whatever was left). Removes VENV; returns pytest's
  # status.
  local log=$1 label=$2 venv=$3 start=$SECONDS status=0 pip_args=()
  shift 3
  while [ "$1" != "--" ]; do pip_args+=("$1"); shift; done
  shift
  pip install --quiet "${pip_args[@]}" 2>&1 \
    | { grep -v "^WARNING: Location" || true; } | tee -a "$log" \
    || { echo "# ${label}pip install failed" | tee -a "$log"; exit 1; }
  echo "# installed:" >> "$log"
  pip freeze --exclude-editable | sed 's/^/#   /' >> "$log"
  pytest -q "$@" 2>&1 | tail -n 25 | tee -a "$log" || status=$?
  echo "# ${label}pytest exit status $status, $((SECONDS - start)) s" | tee -a "$log"
  deactivate
  rm -rf "$venv"
  return "$status"
}
