# Convenience targets; the scripts are the source of truth (they work without make).
.PHONY: run test build bench package clean

run:
	./scripts/run.sh

test:
	./scripts/test.sh

build:
	./scripts/deps.sh build
	go build -o bin/porch .

bench:
	./scripts/bench.sh

# Desktop bundle via fyne package (needs the fyne tool: go install fyne.io/tools/cmd/fyne@latest).
package:
	./scripts/deps.sh build
	fyne package -os linux --release
	mkdir -p dist && mv -f ./*.tar.xz dist/

clean:
	rm -rf bin dist artifacts
