# Shared by the scripts that test a real `sequent serve` (test-dashboard.sh, test-interop.sh, schemathesis.sh):
# build it, start one on a free port in a data directory, learn the port from its first stdout line, stop it.

# build_sequent SCRATCH [swift build options…]: a debug build in SCRATCH (.build, or a --scratch-path); sets BIN.
build_sequent() {
  local scratch=$1
  shift
  if [ "$scratch" = ".build" ]; then swift build "$@"; else swift build --scratch-path "$scratch" "$@"; fi
  BIN="$scratch/debug/sequent"
}

# start_sequent BIN DATA [serve options…]: sets SERVER_PID and PORT; exits with the server's log if it dies or
# prints no port within 60 s.
start_sequent() {
  local bin=$1 data=$2
  shift 2
  mkdir -p "$data"
  "$bin" serve --port 0 --data-dir "$data" "$@" >"$data/stdout" 2>"$data/server.log" &
  SERVER_PID=$!
  PORT=""
  local deadline=$((SECONDS + 60)) line
  while [ $SECONDS -lt $deadline ]; do
    line=$(head -n 1 "$data/stdout" 2>/dev/null || true)
    case "$line" in "sequent listening on port "*) PORT=${line##* }; return 0 ;; esac
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then echo "sequent serve exited:"; cat "$data/server.log"; exit 1; fi
    sleep 0.1
  done
  echo "sequent serve printed no port"; cat "$data/server.log"; exit 1
}

# stop_sequent: SIGTERM, up to 10 s to exit, then SIGKILL.
stop_sequent() {
  if [ -n "${SERVER_PID:-}" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    local deadline=$((SECONDS + 10))
    while kill -0 "$SERVER_PID" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
}
