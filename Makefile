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

# Desktop bundle via fyne package: dist/Porch.tar.xz (the fyne tool is installed into bin/).
package:
	./scripts/deps.sh build
	test -x bin/fyne || GOBIN=$(CURDIR)/bin go install fyne.io/tools/cmd/fyne@v1.7.4
	bin/fyne package -os linux --release
	mkdir -p dist && mv -f ./*.tar.xz dist/

clean:
	rm -rf bin dist artifacts
