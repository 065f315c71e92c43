# Shell helpers shared by tools/setup.sh and tools/sanitizers/tsan_deps.sh
# (sourced, not run). The sourcing script sets:
#   LOG_PREFIX  the tag in front of every progress line ("setup", ...);
#   LOG_DIR     where each step's full output is kept;
#   STEP_FD     the fd progress goes to (default 1; 2 when stdout carries
#               the script's result);
#   APTDIR      for apt_private: the private apt state directory, holding
#               sources.list (the system's apt state is never touched);
#   APT_DEFAULT_RELEASE  optional, for apt_private.

step() { printf '[%s] %s\n' "$LOG_PREFIX" "$*" >&"${STEP_FD:-1}"; }

fail() {
  printf '[%s] FAILED: %s\n' "$LOG_PREFIX" "$*" >&2
  exit 1
}

# run STEP-NAME CMD...: runs CMD with its output in a log; on failure names
# the step and the command, and prints the log's tail.
run() {
  local name="$1"
  shift
  local log="$LOG_DIR/${name// /_}.log"
  mkdir -p "$LOG_DIR"
  if ! "$@" >"$log" 2>&1; then
    tail -n 30 "$log" >&2 || true
    fail "step '$name': command failed: $* (full log: $log)"
  fi
}

# apt-get with every state and cache directory under $APTDIR, so fetching
# packages of another suite (trixie) or source packages leaves the system's
# apt configuration and lists as they were.
apt_private() {
  local release=()
  [[ -n ${APT_DEFAULT_RELEASE:-} ]] &&
    release=(-o "APT::Default-Release=$APT_DEFAULT_RELEASE")
  apt-get -o Dir::Etc::SourceList="$APTDIR/sources.list" \
    -o Dir::Etc::SourceParts="$APTDIR/none" \
    -o Dir::State="$APTDIR/state" -o Dir::Cache="$APTDIR/cache" \
    -o Dir::State::status="$APTDIR/state/status" \
    "${release[@]}" -o Debug::NoLocking=1 "$@"
}
