#!/usr/bin/env bash
# Time `make run` on a fresh machine: a fresh clone, an empty pip cache, no pulled model, no
# provider configured, until the quickstart's first answer from the local model.
#
#   bench/fresh_run.sh [REPO] [REF]      (defaults: this checkout, its HEAD)
#
# Prints when each step of `make run` started (the Makefile announces them), the total beside
# the baseline, and leaves the log in $WORK/make-run.log. Everything lives under one temporary
# folder (removed at the end unless KEEP=1); the server listens on 127.0.0.1 only.
set -euo pipefail

REPO=${1:-$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)}
REF=${2:-HEAD}
BASELINE_S=600 # the issue: "~10 minutes to a first answer", 6.5 of them compiling llama.cpp
PROMPT=${PROMPT:-"What's the weather in Paris?"}
DEADLINE_S=${DEADLINE_S:-1800}

WORK=$(mktemp -d /tmp/agentdown-fresh-XXXXXX)
cleanup() {
    if [[ -n "${MAKE_PID:-}" ]] && kill -0 "$MAKE_PID" 2>/dev/null; then
        kill -INT -- "-$MAKE_PID" 2>/dev/null || true
        sleep 2
        kill -KILL -- "-$MAKE_PID" 2>/dev/null || true
    fi
    [[ "${KEEP:-0}" == 1 ]] || rm -rf "$WORK"
}
trap cleanup EXIT

git clone --quiet "$REPO" "$WORK/agentdown"
git -C "$WORK/agentdown" checkout --quiet "$REF"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# A fresh machine: nothing cached, no model pulled, no provider chosen.
env_args=(
    PIP_CACHE_DIR="$WORK/pip-cache" XDG_CACHE_HOME="$WORK/cache"
    AGENTDOWN_MODELS_DIR="$WORK/models" AGENTDOWN_DATA_DIR="$WORK/data" AGENTDOWN_PORT="$PORT"
    AGENTDOWN_PROVIDER= AZURE_FUNCTIONS_AGENTS_PROVIDER= AZURE_OPENAI_ENDPOINT= FOUNDRY_PROJECT_ENDPOINT=
    OPENAI_API_KEY= OPENAI_BASE_URL=
)
LOG="$WORK/make-run.log"
START=$(date +%s.%N)
# setsid: make and everything it starts form one process group, stopped together at the end.
setsid env "${env_args[@]}" make -C "$WORK/agentdown" run >"$LOG" 2>&1 &
MAKE_PID=$!

elapsed() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.0f}')" "$START" "$(date +%s.%N)"; }

URL=""
while [[ -z "$URL" ]]; do
    if ! kill -0 "$MAKE_PID" 2>/dev/null; then
        echo "make run stopped before serving:" >&2
        tail -30 "$LOG" >&2
        exit 1
    fi
    if (($(elapsed) > DEADLINE_S)); then
        echo "no server after ${DEADLINE_S}s" >&2
        exit 1
    fi
    URL=$(grep -oE 'chat page +http://[^ ]+/agents/quickstart/' "$LOG" | grep -oE 'http://[^ ]+' | head -1 || true)
    sleep 1
done
SERVING_S=$(elapsed)

ANSWER=$(curl -sS --max-time 900 -X POST "${URL}chat" -H 'content-type: application/json' \
    -d "$(python3 -c 'import json, sys; print(json.dumps({"prompt": sys.argv[1]}))' "$PROMPT")")
TOTAL_S=$(elapsed)

echo "steps of make run (wall clock):"
grep -E '^make: [0-9:]{8} ' "$LOG" | sed 's/^/  /'
echo "answer: $(python3 -c 'import json, sys; print(json.loads(sys.argv[1]).get("text", sys.argv[1])[:200])' "$ANSWER")"
printf '%-32s %6s s\n' "serving (chat page URL printed)" "$SERVING_S" "first answer" "$TOTAL_S" \
    "baseline (issue)" "$BASELINE_S"
