#!/usr/bin/env bash
# Runs every test of aijobs: Go (SQLite and PostgreSQL), the TypeScript
# client, the Node stream clients and the browser tests.
# Needs: Go, Node 20 + npm, PostgreSQL on 127.0.0.1:5432 (else those tests
# skip, or fail under CI=true), Chromium at /usr/bin/chromium (likewise).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== go vet and gofmt"
go vet ./...
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './node_modules/*'))
if [ -n "$unformatted" ]; then echo "gofmt needed: $unformatted"; exit 1; fi

echo "== go test"
go test -count=1 -timeout 20m ./...

for dir in clients/typescript e2e/node web/e2e; do
  [ -f "$dir/package.json" ] || continue
  echo "== npm test in $dir"
  [ -d "$dir/node_modules" ] || (cd "$dir" && npm ci --no-audit --no-fund)
  (cd "$dir" && npm test)
done
echo "== all tests passed"
