# Broadside - self-hosted newsletter delivery daemon.
#
#   make deps       install the Debian packages the build and tests need
#   make            build build/broadside and build/broadsided
#   make test       build, run the whole suite, then again under ASan+UBSan
#   make test-asan  the suite under AddressSanitizer + UndefinedBehaviorSanitizer
#   make demo       send a sample issue to sample subscribers through a local sink
#   make bench      print throughput figures, each beside its baseline
#   make fuzz       run the bounce fuzzers (parser; parser + apply) for FUZZ_SECONDS
#   make install    PREFIX=/usr/local DESTDIR= : binaries, templates, unit, config;
#                   without DESTDIR also the broadside user and /var/lib/broadside

PREFIX	?= /usr/local
DESTDIR	?=
SYSCONFDIR ?= /etc
UNITDIR	?= /lib/systemd/system
STATEDIR ?= /var/lib/broadside
# What makes the system user: systemd-sysusers where there is one, else useradd.
SYSUSERS ?= systemd-sysusers
USERADD	?= useradd
DATADIR	= $(PREFIX)/share/broadside

VERSION	= 0.1.0
BUILD	?= build
SAN	?=
CC	?= cc

PKGS	= libesmtp-1.0 libcurl sqlite3 libconfig libcmark-gfm libmicrohttpd \
	  libssl libcrypto libsystemd gmime-3.0

# Debian packages: libraries to build against, then the servers and tools the
# tests and the demo talk to.
DEB_BUILD = build-essential pkg-config libesmtp-dev libcurl4-openssl-dev \
	  libsqlite3-dev libconfig-dev libcmark-gfm-dev libcmark-gfm-extensions-dev \
	  libmicrohttpd-dev libssl-dev libsystemd-dev libgmime-3.0-dev
DEB_TEST = python3 python3-aiosmtpd python3-dkim python3-nacl python3-feedparser spamassassin postfix dovecot-imapd sqlite3 \
	  curl clang libclang-rt-14-dev apache2-utils wrk faketime chromium chromium-driver python3-selenium
DEB_ALL	= $(DEB_BUILD) $(DEB_TEST)

CFLAGS_BASE = -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -pthread
ifeq ($(SAN),1)
CFLAGS_OPT = -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
	  -fno-sanitize-recover=undefined
else
CFLAGS_OPT = -O2 -g
endif
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
ALL_CFLAGS = $(CFLAGS_BASE) $(CFLAGS_OPT) $(PKG_CFLAGS) -Idaemon -I$(BUILD) $(CFLAGS)
ALL_LDFLAGS = $(CFLAGS_OPT) -pthread $(LDFLAGS)
LIBS	= $(PKG_LIBS) -lm

# One shared core; two small mains. cli_*.c belong to the admin CLI only.
MAINS	= daemon/broadside.c daemon/broadsided.c
CLI_SRC	= $(wildcard daemon/cli_*.c)
CORE_SRC = $(filter-out $(MAINS) $(CLI_SRC),$(wildcard daemon/*.c))
CORE_OBJ = $(patsubst daemon/%.c,$(BUILD)/obj/%.o,$(CORE_SRC)) $(BUILD)/obj/migrations.o
CLI_OBJ	= $(patsubst daemon/%.c,$(BUILD)/obj/%.o,$(CLI_SRC))
UNIT_SRC = $(wildcard tests/unit/test_*.c)
UNIT_BIN = $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
BENCH_SRC = $(wildcard tests/bench/*.c)
BENCH_BIN = $(patsubst tests/bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))
MIGRATIONS = $(sort $(wildcard db/[0-9]*.sql))

.PHONY: FORCE all deps test test-asan check demo bench fuzz install install-user clean
.DEFAULT_GOAL := all

all: $(BUILD)/broadside $(BUILD)/broadsided $(UNIT_BIN) $(BENCH_BIN)

# Installs only what is missing, non-interactive (CI has no stdin), and
# says what it installs and how far it has got (tests/deps.sh).
deps:
	@sh tests/deps.sh $(DEB_ALL)

$(BUILD)/obj/%.o: daemon/%.c $(wildcard daemon/*.h) $(BUILD)/paths.h | $(BUILD)/obj
	@echo "CC $<"; $(CC) $(ALL_CFLAGS) -c -o $@ $<

# The install paths compiled into the binaries (default templates folder,
# config file) and the version; rewritten only when one of them changes.
$(BUILD)/paths.h: FORCE | $(BUILD)/obj
	@printf '#define BROADSIDE_DATADIR "%s"\n#define BROADSIDE_SYSCONFDIR "%s"\n#define BROADSIDE_VERSION "%s"\n' \
	  '$(DATADIR)' '$(SYSCONFDIR)' '$(VERSION)' >$@.tmp; cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@
FORCE:

$(BUILD)/migrations.c: $(MIGRATIONS) db/embed.sh | $(BUILD)/obj
	sh db/embed.sh $(MIGRATIONS) > $@

$(BUILD)/obj/migrations.o: $(BUILD)/migrations.c
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/libbroadside.a: $(CORE_OBJ)
	rm -f $@; ar rcs $@ $^

$(BUILD)/broadside: $(BUILD)/obj/broadside.o $(CLI_OBJ) $(BUILD)/libbroadside.a
	$(CC) $(ALL_LDFLAGS) -o $@ $(BUILD)/obj/broadside.o $(CLI_OBJ) $(BUILD)/libbroadside.a $(LIBS)

$(BUILD)/broadsided: $(BUILD)/obj/broadsided.o $(BUILD)/libbroadside.a
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(BUILD)/libbroadside.a $(LIBS)

$(BUILD)/tests/%: tests/unit/%.c tests/unit/check.h $(BUILD)/libbroadside.a | $(BUILD)/tests
	$(CC) $(ALL_CFLAGS) -Itests/unit $(ALL_LDFLAGS) -o $@ $< $(BUILD)/libbroadside.a $(LIBS)

$(BUILD)/bench/%: tests/bench/%.c $(BUILD)/libbroadside.a | $(BUILD)/bench
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(BUILD)/libbroadside.a $(LIBS)

$(BUILD)/obj $(BUILD)/tests $(BUILD)/bench:
	mkdir -p $@

# The suite runs twice, plain and under ASan+UBSan, and ends with one total.
test: deps
	$(MAKE) all
	$(MAKE) BUILD=build-asan SAN=1 all
	$(MAKE) build-fuzz/fuzz_bounce build-fuzz/fuzz_apply
	FUZZ_SECONDS=$${FUZZ_TEST_SECONDS:-10} tests/run.sh build build-asan

test-asan: deps
	$(MAKE) BUILD=build-asan SAN=1 all
	tests/run.sh build-asan

check: all
	tests/run.sh $(BUILD)

demo: deps all
	tests/demo.sh

bench: deps all
	tests/bench.sh

# The bounce parser under libFuzzer (clang), seeded with the peer corpus.
FUZZ_SECONDS ?= 60
FUZZ_SRC = $(filter-out daemon/bounce_apply.c,$(wildcard daemon/bounce_*.c)) daemon/buf.c daemon/xalloc.c daemon/diag.c daemon/log.c
build-fuzz/fuzz_bounce: tests/fuzz/fuzz_bounce.c $(FUZZ_SRC) $(wildcard daemon/*.h)
	@mkdir -p build-fuzz
	clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
	  -fno-sanitize-recover=undefined -Idaemon $(shell pkg-config --cflags gmime-3.0) \
	  -o $@ tests/fuzz/fuzz_bounce.c $(FUZZ_SRC) $(shell pkg-config --libs gmime-3.0)

# bounce_apply with the parser: the whole core (a database in memory).
FUZZ_CORE_SRC = $(CORE_SRC)
build-fuzz/fuzz_apply: tests/fuzz/fuzz_apply.c $(FUZZ_CORE_SRC) $(wildcard daemon/*.h) $(BUILD)/migrations.c $(BUILD)/paths.h
	@mkdir -p build-fuzz
	clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
	  -fno-sanitize-recover=undefined -Idaemon -I$(BUILD) $(PKG_CFLAGS) \
	  -o $@ tests/fuzz/fuzz_apply.c $(FUZZ_CORE_SRC) $(BUILD)/migrations.c $(PKG_LIBS) -lm

fuzz: build-fuzz/fuzz_bounce build-fuzz/fuzz_apply
	tests/fuzz/run.sh $(CURDIR)/build-fuzz/fuzz_bounce $(FUZZ_SECONDS)
	tests/fuzz/run.sh $(CURDIR)/build-fuzz/fuzz_apply $(FUZZ_SECONDS)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(DATADIR)/templates \
	  $(DESTDIR)$(DATADIR)/db $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSCONFDIR)/broadside
	install -m 0755 $(BUILD)/broadside $(DESTDIR)$(PREFIX)/bin/broadside
	install -m 0755 $(BUILD)/broadsided $(DESTDIR)$(PREFIX)/sbin/broadsided
	install -m 0644 templates/* $(DESTDIR)$(DATADIR)/templates/
	install -m 0644 db/*.sql $(DESTDIR)$(DATADIR)/db/
	install -d $(DESTDIR)$(PREFIX)/share/doc/broadside
	install -m 0644 README.md $(DESTDIR)$(PREFIX)/share/doc/broadside/README.md
	sed -e 's|@SBINDIR@|$(PREFIX)/sbin|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	  -e 's|@DOCDIR@|$(PREFIX)/share/doc/broadside|g' systemd/broadsided.service > $(DESTDIR)$(UNITDIR)/broadsided.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/broadsided.service
	install -D -m 0644 systemd/broadside.sysusers $(DESTDIR)$(PREFIX)/lib/sysusers.d/broadside.conf
	[ -e $(DESTDIR)$(SYSCONFDIR)/broadside/broadside.conf ] || \
	  $(BUILD)/broadside config example > $(DESTDIR)$(SYSCONFDIR)/broadside/broadside.conf
	chmod 0640 $(DESTDIR)$(SYSCONFDIR)/broadside/broadside.conf
	@# On the machine itself (no DESTDIR): the user, its state folder, its config.
	@[ -n "$(DESTDIR)" ] || $(MAKE) -s install-user

# The config folder's mode: the unit's ConfigurationDirectoryMode=, its one source.
CONFDIR_MODE := $(shell sed -n 's/^ConfigurationDirectoryMode=//p' systemd/broadsided.service)

# The 'broadside' user (systemd-sysusers, else useradd), its state folder
# $(STATEDIR) (0750; systemd's StateDirectory= makes it too, but `broadside
# init` and a daemon run without systemd need it first), and its group on
# the config and its folder. Says what it does; does nothing that is done already.
install-user:
	@if id broadside >/dev/null 2>&1; then :; \
	elif command -v $(SYSUSERS) >/dev/null 2>&1; then \
	  echo "install: user broadside ($(SYSUSERS))"; \
	  $(SYSUSERS) $(PREFIX)/lib/sysusers.d/broadside.conf || exit 1; \
	else \
	  echo "install: user broadside ($(USERADD); no $(SYSUSERS) here)"; \
	  $(USERADD) --system --user-group --home-dir $(STATEDIR) --no-create-home \
	    --shell /usr/sbin/nologin --comment "Broadside newsletter daemon" broadside || exit 1; \
	fi
	@if [ ! -d $(STATEDIR) ]; then \
	  echo "install: $(STATEDIR) (0750, owner broadside)"; \
	  install -d -o broadside -g broadside -m 0750 $(STATEDIR); fi
	@chgrp broadside $(SYSCONFDIR)/broadside/broadside.conf
	@# The config folder as the unit's ConfigurationDirectoryMode= has it
	@# (systemd logs a warning at every start and reload otherwise), group
	@# broadside so that the daemon may still walk into it.
	@chgrp broadside $(SYSCONFDIR)/broadside && chmod $(CONFDIR_MODE) $(SYSCONFDIR)/broadside

clean:
	rm -rf build build-asan build-fuzz
