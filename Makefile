# rrun — build, test rootfs, demo and benchmark.
#
#   make            release build for this machine (x86_64 or aarch64), static,
#                   copied to target/release/rrun; make TARGET=<triple> builds
#                   for another (see README: Building)
#   make rootfs     busybox-static rootfs in target/rootfs (scripts/mkrootfs.sh);
#                   rebuilt when the script or /bin/busybox changes (make -B rootfs
#                   forces it)
#   make test       every test (scripts/test.sh): as root, first prepares the
#                   machine (scripts/test-setup.sh: packages, test users, ...)
#                   and runs the tests as root and as $RRUN_TEST_USER; as an
#                   ordinary user, the rootless tests as that user. Ends with
#                   a list of the tests that did not run and why.
#   make demo       scripts/demo.sh
#   make bench-start  start-up time and memory against bwrap and unshare
#   make bench-bridge bridge start-up and kernel-DNAT throughput (root)
#   make baseline [REV=...]  rrun of a git revision in target/baseline/
#                   (scripts/build-rev.sh; default REV: merge base with main),
#                   for BASELINE=target/baseline/rrun-... make bench-start /
#                   bench-bridge: an interleaved A/B against that binary
#   make bench-lifecycle  ps -a over 200 containers; how soon -d returns; a start
#                   with 400 running against none, rm -f of 200; restart latency;
#                   create + start against run -d (root and rootless);
#                   BENCH_PARTS="4 5" runs only some of its parts (1 to 5)
#   make bench-forward  the userspace port forwarder beside docker-proxy, pasta, socat (root)
#   make bench-rootless rootless start with a network, first network, podman, forwarder (root runs it as rrtest)
#   make bench-outbound  containers reaching "the outside" (a namespace of the
#                   bench's own): root bridge, rootless rrun, podman with
#                   slirp4netns, pasta alone; TCP up/down, 8 streams, RR and
#                   connect rates (root; rootless paths as rrtest)
#   make bench-logs   logs --tail 1 on a 1 GiB log: time and peak RSS
#   make bench-dns    name lookups from a container on a user-defined
#                   network: rrun's resolver against dnsmasq; how soon names
#                   come and go; start and memory (root; in a network
#                   namespace of the bench's own)
#   make bench-dns-servers  two DNS servers answering a hosts file, side by
#                   side: dnsmasq and DNS_BENCH_SECOND='LABEL=COMMAND'
#   make bench-limits  what -m/--cpus/--pids-limit cost a start: interleaved
#                   pairs with and without them (root)
#   make bench-image  image save of a ~100 MB tree (a copy of /usr/lib/python3*)
#                   against tar -c | gzip -6 in the same run, and its peak RSS
#   make lint       rustfmt and clippy
#   make man        man pages in target/man (rrun.1, rrun-ps.1, …)
#   make install [PREFIX=/usr/local] [DESTDIR=] [RRUN_BIN=path]
#                   the binary, its man pages and its bash, zsh and fish
#                   completions; builds first unless RRUN_BIN names a binary
#                   already built (`make && sudo make install RRUN_BIN=target/release/rrun`)
#   make uninstall [PREFIX=…] [DESTDIR=]  removes what install put there
#   make clean

CARGO   ?= cargo
# The triple to build for: by default the machine's own, as rustc names it
# (none is written here). It is passed to cargo explicitly, as
# .cargo/config.toml's `host-tuple` is, so that the static-linking flags reach
# only what runs on the target, not proc-macros; cargo's output lands in
# target/$(TARGET)/.
TARGET  ?= $(shell rustc -vV 2>/dev/null | sed -n 's/^host: //p')
BUSYBOX := /bin/busybox
ROOTFS  := target/rootfs

# Installation: where, and which binary (default: the one `make build` makes).
PREFIX  ?= /usr/local
DESTDIR ?=
RRUN_BIN ?=
BIN_SRC := $(or $(RRUN_BIN),target/release/rrun)
BINDIR  := $(DESTDIR)$(PREFIX)/bin
MAN1DIR := $(DESTDIR)$(PREFIX)/share/man/man1
BASHDIR := $(DESTDIR)$(PREFIX)/share/bash-completion/completions
ZSHDIR  := $(DESTDIR)$(PREFIX)/share/zsh/site-functions
FISHDIR := $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d

.PHONY: all build rootfs test demo baseline bench-start bench-bridge bench-lifecycle bench-forward bench-rootless bench-outbound bench-logs bench-dns bench-dns-servers bench-limits bench-image clean lint man install uninstall

all: build

build:
	@test -n "$(TARGET)" || { echo "make: cannot tell the host triple (is rustc on PATH?)" >&2; exit 1; }
	$(CARGO) build --release --target $(TARGET)
	mkdir -p target/release
	cp -f target/$(TARGET)/release/rrun target/release/rrun.tmp
	mv -f target/release/rrun.tmp target/release/rrun

rootfs: $(ROOTFS)

# A file target, so a rootfs that tests or a demo are using is not pulled away
# from under them on every make invocation.
$(ROOTFS): scripts/mkrootfs.sh $(wildcard $(BUSYBOX))
	@if ! BUSYBOX=$(BUSYBOX) bash scripts/mkrootfs.sh --check; then \
	    if [ "$$(id -u)" -ne 0 ]; then \
	        echo "make: no static busybox at $(BUSYBOX); install Debian's busybox-static package (as root: apt-get install busybox-static)" >&2; \
	        exit 1; \
	    fi; \
	    echo "make: installing busybox-static"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y busybox-static || \
	    { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y busybox-static; } || exit 1; \
	fi
	BUSYBOX=$(BUSYBOX) bash scripts/mkrootfs.sh $@

# As root, the machine is prepared first (before the rootfs, which needs
# busybox-static); by an ordinary user, nothing is changed on it.
test:
	@if [ "$$(id -u)" -eq 0 ]; then bash scripts/test-setup.sh; fi
	@$(MAKE) --no-print-directory rootfs
	CARGO="$(CARGO)" bash scripts/test.sh

demo: build rootfs
	bash scripts/demo.sh

baseline:
	bash scripts/build-rev.sh $(REV)

bench-start: build rootfs
	bash bench/start.sh

bench-bridge: build rootfs
	bash bench/bridge.sh

bench-lifecycle: build rootfs
	bash bench/lifecycle.sh

bench-forward: build rootfs
	bash bench/forward.sh

bench-rootless: build rootfs
	bash bench/rootless.sh

bench-outbound: build rootfs
	bash bench/outbound.sh

bench-logs: build rootfs
	bash bench/logs.sh

bench-dns: build rootfs
	bash bench/netdns.sh

bench-dns-servers: build
	bash bench/dns.sh

bench-limits: build rootfs
	bash bench/limits.sh

bench-image: build
	bash bench/image.sh

# Generated from the same clap definitions as --help (`rrun __man DIR`).
man: $(if $(RRUN_BIN),,build)
	rm -rf target/man
	$(BIN_SRC) __man target/man

# The pages and completions come from the binary being installed, made in a
# temporary directory first, so a failure installs nothing half-written.
install: $(if $(RRUN_BIN),,build)
	@test -x "$(BIN_SRC)" || { echo "make: $(BIN_SRC) is not an executable; run make first, or set RRUN_BIN" >&2; exit 1; }
	set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	"$(BIN_SRC)" __man "$$tmp/man"; \
	"$(BIN_SRC)" completion bash >"$$tmp/rrun.bash"; \
	"$(BIN_SRC)" completion zsh >"$$tmp/_rrun"; \
	"$(BIN_SRC)" completion fish >"$$tmp/rrun.fish"; \
	install -d "$(BINDIR)" "$(MAN1DIR)" "$(BASHDIR)" "$(ZSHDIR)" "$(FISHDIR)"; \
	install -m 0755 "$(BIN_SRC)" "$(BINDIR)/rrun"; \
	install -m 0644 "$$tmp"/man/*.1 "$(MAN1DIR)/"; \
	install -m 0644 "$$tmp/rrun.bash" "$(BASHDIR)/rrun"; \
	install -m 0644 "$$tmp/_rrun" "$(ZSHDIR)/_rrun"; \
	install -m 0644 "$$tmp/rrun.fish" "$(FISHDIR)/rrun.fish"

uninstall:
	rm -f "$(BINDIR)/rrun" "$(MAN1DIR)"/rrun.1 "$(MAN1DIR)"/rrun-*.1 \
	    "$(BASHDIR)/rrun" "$(ZSHDIR)/_rrun" "$(FISHDIR)/rrun.fish"

lint:
	$(CARGO) fmt --check && $(CARGO) clippy --all-targets -- -D warnings

clean:
	rm -rf $(ROOTFS) target/.rootfs.tmp.* target/.rootfs.old.*
	$(CARGO) clean
