# liblayercode: `make` builds, `make demo` runs the demo, `make test` runs every test.
# Both fetch what is missing on Debian 12 (tools/ensure-deps.sh).

PREFIX ?= /usr/local
VERSION := 0.1.0
SOMAJOR := 0
BUILD := build
CC ?= cc
SWIFT ?= swift
PY := .venv/bin/python

# ARCH=x86_64 (this machine) builds into build/, a cross ARCH (aarch64, armhf) into
# build/$(ARCH)/ with Debian's cross gcc and the target's multiarch -dev packages
# (tools/ensure-deps.sh --cross installs them). `make cross` builds every CROSS_ARCHES, which
# make test checks and runs under qemu (tests/cross).
ARCH ?= x86_64
CROSS_ARCHES := aarch64 armhf
TRIPLET_aarch64 := aarch64-linux-gnu
TRIPLET_armhf := arm-linux-gnueabihf
ifeq ($(ARCH),x86_64)
OUT := $(BUILD)
TARGET_CC := $(CC)
TARGET_STRIP := strip
else ifdef TRIPLET_$(ARCH)
OUT := $(BUILD)/$(ARCH)
TARGET_CC := $(TRIPLET_$(ARCH))-gcc
TARGET_STRIP := $(TRIPLET_$(ARCH))-strip
else
$(error ARCH=$(ARCH): x86_64, aarch64 or armhf)
endif

LIB := $(OUT)/lib/liblayercode.so.$(VERSION)
PLAYER := $(OUT)/bin/layercode-player
HEADER := $(OUT)/include/layercode.h

# The shipped .so is Embedded Swift (no Swift runtime at all), built by
# tools/build-embedded.sh: a version script exports only lc_*, soname liblayercode.so.0,
# --gc-sections. SWIFT_OPT -O, not -Osize: -Osize made LayercodeCore's code 18% smaller but
# the codec and jitter-buffer microbenchmarks 1.2 to 3 times slower, and -O is within the
# size goal. `swift build`/`swift test` stay normal Swift (unit tests, benchmarks, sanitizers).
SWIFT_OPT ?= -O

SWIFT_SOURCES := $(shell find Sources -type f) Package.swift include/layercode.h
PLAYER_SOURCES := $(wildcard examples/player/*.c examples/player/*.h)
MAN_PAGE := doc/layercode-player.1

# bench/aec/aec_scene.c linked with the engines' shim, built like the library builds it:
# WebRTC's APM 1.x (AEC3) if pkg-config has webrtc-audio-processing-1, else 0.3 (the legacy
# AEC), else none; speexdsp always (LCECHO_WEBRTC: 1, 3 or 0, as in Sources/CEchoCancel).
AEC_SCENE := $(BUILD)/bench/aec_scene
AEC_WEBRTC_PC := $(shell pkg-config --exists webrtc-audio-processing-1 && echo webrtc-audio-processing-1 \
	|| { pkg-config --exists webrtc-audio-processing && echo webrtc-audio-processing; })
AEC_WEBRTC_DEFINE := $(if $(filter webrtc-audio-processing-1,$(AEC_WEBRTC_PC)),1,$(if $(AEC_WEBRTC_PC),3,0))

.PHONY: all deps lib player demo bench bench-aec test test-swift test-tsan test-abi test-python install clean docs man \
	fuzz fuzz-build fuzz-check

all: $(LIB) $(HEADER) $(PLAYER)

# The cross tools only where a cross build needs them (ARCH other than x86_64, make cross,
# make test).
deps:
	@tools/ensure-deps.sh $(if $(filter x86_64,$(ARCH)),,--cross)

deps-cross:
	@tools/ensure-deps.sh --cross

$(LIB): $(SWIFT_SOURCES) tools/build-embedded.sh tools/embedded-runtime.c
	VERSION=$(VERSION) SWIFT_OPT=$(SWIFT_OPT) TARGET_CC=$(TARGET_CC) tools/build-embedded.sh $(ARCH) $(OUT)

# Every cross architecture (library, header, player), one after the other.
.PHONY: cross deps-cross
cross: deps-cross
	@for arch in $(CROSS_ARCHES); do $(MAKE) --no-print-directory ARCH=$$arch all || exit 1; done

lib: $(LIB)

$(HEADER): include/layercode.h
	@mkdir -p $(@D)
	cp $< $@

$(PLAYER): $(PLAYER_SOURCES) $(LIB) include/layercode.h
	@mkdir -p $(@D)
	$(TARGET_CC) -std=c99 -O2 -Wall -Wextra -Werror -Iinclude $(filter %.c,$(PLAYER_SOURCES)) \
		-L$(OUT)/lib -llayercode -lpthread -lm -Wl,-rpath,'$$ORIGIN/../lib' -o $@

player: $(PLAYER)

demo: deps all
	$(PY) tools/demo.py $(DEMO_FLAGS)

# The device, an offline Layercode and the customer's backend (issue 15): the example backend
# (examples/backend), the devserver bridging to its webhook, the player asking a spoken
# question; prints the dashboard's address. DEMO_BACKEND_FLAGS="--keep-open 120" keeps the
# servers up afterwards to look at the dashboard (tools/demo_backend.py).
.PHONY: demo-backend
demo-backend: deps all
	$(PY) tools/demo_backend.py $(DEMO_BACKEND_FLAGS)

# The side-by-side benchmark's venv (bench-peers below).
BENCH_VENV := .venv-bench

bench: deps all $(AEC_SCENE) $(BENCH_VENV)/.installed bench-onset
	$(PY) bench/run.py
	@command -v valgrind >/dev/null || { apt-get update -q && apt-get install -y -q valgrind; }
	$(PY) bench/peers/run.py
	$(MAKE) --no-print-directory bench-scale
	$(MAKE) --no-print-directory bench-webhook

# Spoken turns through the devserver's webhook bridge to examples/backend (issue 15): end of
# speech to first agent audio per turn and its parts (recognition, the webhook's first
# event), and the recogniser's word error rate; bench/results/webhook_latency.json.
.PHONY: bench-webhook
bench-webhook: deps
	$(PY) bench/webhook_latency.py

# N sessions in one process (issue 14, item 2; bench/scale/scale.py): N = 1..500 external-audio
# clients with one pacing thread against the load server, the table with the real-time
# verdict into bench/results/scale.{json,md}. BENCH_SCALE_N="1,10,50", BENCH_SCALE_WINDOW=20.
.PHONY: bench-scale
bench-scale: deps all
	$(PY) bench/scale/scale.py

# The side-by-side benchmark (issue 14): the player, a C and a Python external-audio client
# beside layercode-gym and a minimal websockets client, one devserver, CPU/PSS/threads over a
# 60 s window after 10 s, three interleaved rounds, every run checked for real time at the
# server, and callgrind instruction counts (bench/peers/run.py; knobs BENCH_PEERS_* there).
# Writes bench/results/peers.{json,md,png} and prints the table (about 22 minutes).
# BENCH_VENV (defined above bench): layercode-gym (pinned) and matplotlib,
# bench/requirements-peers.txt.
$(BENCH_VENV)/.installed: bench/requirements-peers.txt
	python3 -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install -q --disable-pip-version-check -r bench/requirements-peers.txt
	touch $@

.PHONY: bench-peers
bench-peers: deps all $(BENCH_VENV)/.installed
	@command -v valgrind >/dev/null || { apt-get update -q && apt-get install -y -q valgrind; }
	$(PY) bench/peers/run.py

# Voice onset to vad_start on the wire (issue 14): the player in ALSA mode on the PulseAudio
# rig of tests/audio, a talker with 12 known onsets, the devserver's log; prints the table
# of the parts and writes bench/results/onset.json (bench/onset.py).
.PHONY: bench-onset
bench-onset: deps all
	$(PY) bench/onset.py

# The echo scenes alone (issue 13): builds the scenes (bench/aec/scenes.py), runs every
# engine built over each with bench/aec/aec_scene, prints the table with the goals beside
# the numbers and writes bench/results/aec_scenes.json (bench/aec/score.py).
.PHONY: bench-aec
bench-aec: deps $(AEC_SCENE)
	$(PY) bench/aec/score.py --aec-scene $(AEC_SCENE)

# The echo scenes' harness (AEC_SCENE above).
$(AEC_SCENE): bench/aec/aec_scene.c Sources/CEchoCancel/echo.cpp Sources/CEchoCancel/include/lc_echo.h
	@mkdir -p $(@D)
	$(CC) -std=c11 -O2 -Wall -Wextra -Werror -ISources/CEchoCancel/include -c bench/aec/aec_scene.c \
		-o $(@D)/aec_scene.o
	$(CXX) -std=c++17 -O2 -fno-exceptions -fno-rtti -DLCECHO_WEBRTC=$(AEC_WEBRTC_DEFINE) \
		-ISources/CEchoCancel/include $$(pkg-config --cflags $(AEC_WEBRTC_PC) speexdsp | sed 's/-I/-isystem /g') \
		-c Sources/CEchoCancel/echo.cpp -o $(@D)/echo.o
	$(CXX) $(@D)/aec_scene.o $(@D)/echo.o $$(pkg-config --libs $(AEC_WEBRTC_PC) speexdsp) -lm -o $@

# The fault matrix: the library against each devserver fault, one row per fault
# (tools/faults.py); fails if any row breaks the reconnect contract.
.PHONY: faults
faults: deps all
	$(PY) tools/faults.py

test: deps deps-cross all cross test-abi test-swift test-tsan test-python

test-swift:
	$(SWIFT) test

# The lock-free rings' two-thread stress tests under ThreadSanitizer.
test-tsan:
	tools/tsan-ring-stress.sh

# The checks of tools/check-abi.sh on the x86_64 library and every cross-built one.
ABI_LIBS := $(BUILD)/lib/liblayercode.so.$(VERSION) \
	$(foreach arch,$(CROSS_ARCHES),$(BUILD)/$(arch)/lib/liblayercode.so.$(VERSION))

test-abi: all cross
	@for lib in $(ABI_LIBS); do tools/check-abi.sh $$lib || exit 1; done

test-python: all
	$(PY) -m pytest -q tests/devserver tests/backend tests/integration tests/audio tests/c tests/python tests/conformance \
		tests/faults tests/tls tests/fuzz tests/docs tests/soak tests/bench tests/cross \
		tests/test_pytest_rootdir.py

# WebSocket conformance: Autobahn-style cases (tools/wsconformance) against our client
# through the echo client tools/wsecho. Report table and summary; fails if a case FAILED.
.PHONY: conformance
conformance: deps
	$(SWIFT) build --product layercode-wsecho
	$(PY) tools/wsconformance/run.py --client "$$($(SWIFT) build --show-bin-path)/layercode-wsecho"

# libFuzzer targets for the pure decoders (fuzz/README.md): `make fuzz SECONDS=600` fuzzes
# each target for SECONDS (FUZZ_TARGETS="json http" for a subset); fails on any crash.
SECONDS ?= 60
FUZZ_TARGETS ?=

fuzz:
	tools/fuzz.sh run $(SECONDS) $(FUZZ_TARGETS)

fuzz-build:
	tools/fuzz.sh build $(FUZZ_TARGETS)

# Each target once over its seeds and fuzz/regressions/ (no fuzzing).
fuzz-check:
	tools/fuzz.sh check $(FUZZ_TARGETS)

# Every Swift test and the C programs of tests/c under ASan+LSan, then TSan, against a
# liblayercode built with the same sanitizer (.build-asan, .build-tsan); fails on any report.
# Not part of `make test` (about 3 minutes with warm builds, 5 from a clean tree).
.PHONY: sanitize
sanitize: deps
	tools/sanitize.sh

# A SOAK_SECONDS (300) full-duplex session against the devserver with a barge-in every 10 s;
# fails if the process's RSS grows by 1 MB or more after the warm-up (bench/soak.py).
.PHONY: soak
soak: deps all
	$(PY) bench/soak.py

# The library against a hostile devserver (stops reading and pings, floods, huge ids), one
# phase each after a calm warm-up; fails if RSS grows past what the configured limits allow
# (bench/soak_hostile.py; SOAK_SECONDS, default 60). Not part of make test.
.PHONY: soak-hostile
soak-hostile: deps all
	$(PY) bench/soak_hostile.py

# dist/layercode-<version>-py3-none-manylinux_2_36_<arch>.whl: bindings/python with the
# library of ARCH bundled in the package directory (tools/build_wheel.py; the platform tag
# follows the library's ELF machine); tests/python/test_wheel.py installs it.
.PHONY: wheel
wheel: deps all
	$(PY) tools/build_wheel.py --lib $(OUT)/lib/liblayercode.so.$(SOMAJOR)

install: all
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/bin \
		$(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 0755 -s --strip-program=$(TARGET_STRIP) $(LIB) $(DESTDIR)$(PREFIX)/lib/
	ln -sf liblayercode.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/liblayercode.so.$(SOMAJOR)
	ln -sf liblayercode.so.$(SOMAJOR) $(DESTDIR)$(PREFIX)/lib/liblayercode.so
	install -m 0644 include/layercode.h $(DESTDIR)$(PREFIX)/include/
	$(TARGET_CC) -std=c99 -O2 -Iinclude $(filter %.c,$(PLAYER_SOURCES)) -L$(OUT)/lib -llayercode \
		-lpthread -lm -Wl,-rpath,'$$ORIGIN/../lib' -o $(DESTDIR)$(PREFIX)/bin/layercode-player
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' tools/layercode.pc.in \
		> $(DESTDIR)$(PREFIX)/lib/pkgconfig/layercode.pc
	install -m 0644 $(MAN_PAGE) $(DESTDIR)$(PREFIX)/share/man/man1/
	install -D -m 0644 LICENSE $(DESTDIR)$(PREFIX)/share/doc/liblayercode/LICENSE
	@tools/ldconfig-after-install.sh "$(DESTDIR)" "$(PREFIX)/lib"

# Removes what `make install` installed (same PREFIX and DESTDIR), then refreshes the
# linker cache like install does.
INSTALLED := lib/liblayercode.so.$(VERSION) lib/liblayercode.so.$(SOMAJOR) lib/liblayercode.so \
	include/layercode.h lib/pkgconfig/layercode.pc bin/layercode-player \
	share/man/man1/layercode-player.1 share/doc/liblayercode/LICENSE

.PHONY: uninstall
uninstall:
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/,$(INSTALLED))
	rmdir $(DESTDIR)$(PREFIX)/share/doc/liblayercode 2>/dev/null || true
	@tools/ldconfig-after-install.sh "$(DESTDIR)" "$(PREFIX)/lib"

# HTML reference of include/layercode.h in $(BUILD)/docs/html (doc/Doxyfile). Fails if any
# public symbol is undocumented or a doc comment is malformed (Doxygen's warnings are errors).
docs:
	@mkdir -p $(BUILD)/docs
	( cat doc/Doxyfile; echo 'OUTPUT_DIRECTORY = $(BUILD)/docs'; \
	  echo 'PROJECT_NUMBER = $(VERSION)' ) | doxygen -

# The player's man page rendered to text in $(BUILD)/man; fails on any groff warning.
man: $(BUILD)/man/layercode-player.txt

$(BUILD)/man/layercode-player.txt: $(MAN_PAGE)
	@mkdir -p $(@D)
	groff -man -Tutf8 -ww -P-cbou $< > $@.tmp 2> $@.warnings; status=$$?; \
	cat $@.warnings >&2; \
	if [ $$status -ne 0 ] || [ -s $@.warnings ]; then rm -f $@.tmp; exit 1; fi; \
	mv $@.tmp $@

clean:
	rm -rf $(BUILD) .build
