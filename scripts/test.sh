#!/usr/bin/env bash
# Runs every test: the Swift suites (engine, protocol, daemon over loopback,
# end-to-end with the built binaries), the Python and Go clients' suites
# against the chand binary just built, then the short reliability suite (load, faults,
# hostile input against the daemon, 30 s of fuzzing, the Swift suites under
# ASan and TSan; about 8 minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build --build-tests
swift test --skip-build

# The Python client (clients/python), in a fresh virtualenv at .venv-test.
python3 -m venv --clear .venv-test
.venv-test/bin/pip install -q ./clients/python pytest
CHAND_BIN="$(swift build --show-bin-path)/chand" .venv-test/bin/python -m pytest -q clients/python/tests

# The Go client (clients/go): go vet, go test.
CHAND_BIN="$(swift build --show-bin-path)/chand" bash scripts/test-go.sh

bash scripts/reliability.sh
