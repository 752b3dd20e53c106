# config.sh - broadside config check|example, init, the config lookup order.
. "$(dirname "$0")/../lib.sh"

expect_out "config example prints every group" 0 'relays = \(' $BS config example
$BS config example >"$T/example.conf"
expect_out "the example config names the installed templates" 0 '/share/broadside/templates' \
	grep '^templates' "$T/example.conf"
expect_out "config check reads the templates it names" 66 'layout.txt: cannot read template' \
	$BS config check "$T/example.conf"
sed -i "s|^templates = .*|templates = \"$TOP/templates\";|" "$T/example.conf"
expect_out "the example config is valid" 0 ': ok' $BS config check "$T/example.conf"
for key in database templates list.name list.from retry.max_age http.listen bounces.address; do
	grep -q "${key##*.} = " "$T/example.conf" && ok "example has $key" || not_ok "example has $key"
done

cat >"$T/bad.conf" <<'CONF'
database = 5;
lisst: { name = "x"; };
relays = ( { host = "h"; port = 70000; tls = "maybe"; foo = 1; } );
retry: { min_backoff = "5 minutes"; max_age = 3; };
CONF
expect "broken config exits EX_CONFIG" 78 $BS config check "$T/bad.conf"
has() { grep -qF -- "$2" <<<"$OUT" && ok "$1" || { not_ok "$1"; echo "#   missing: $2"; }; }
has "wrong type named with line" 'bad.conf:1: database: expected a string'
has "unknown key named with line" 'bad.conf:2: lisst: unknown key'
has "out-of-range value with limits" 'bad.conf:3: relays[0].port: "70000": out of range; must be between 1 and 65535'
has "bad enum" 'relays[0].tls: "maybe": not one of the allowed values'
has "unknown key inside a list group" 'relays[0].foo: unknown key'
has "bad duration" 'bad.conf:4: retry.min_backoff: "5 minutes": bad duration'

printf 'database = "x"\nlist: {\n' >"$T/syntax.conf"
expect_out "syntax error names the line" 78 'syntax.conf:[0-9]+: syntax' $BS config check "$T/syntax.conf"
printf 'retry: { min_backoff = "2h"; max_backoff = "1h"; };\n' >"$T/cross.conf"
expect_out "min_backoff > max_backoff refused" 78 'min_backoff.*longer than retry.max_backoff' $BS config check "$T/cross.conf"
expect_out "missing config file" 66 'nope.conf: cannot read config' $BS --config "$T/nope.conf" stats

write_config </dev/null
expect_out "init creates database and key" 0 'created \(0600\)' $BS init
is "key file is mode 600" "$(stat -c %a "$T/broadside.key")" 600
expect_out "init is idempotent" 0 'kept' $BS init
is "schema version recorded" "$(sql 'PRAGMA user_version')" "$(ls "$TOP"/db/[0-9]*.sql | sed 's|.*/0*||; s|_.*||' | sort -n | tail -1)"
is "WAL mode" "$(sql 'PRAGMA journal_mode')" wal
chmod 644 "$T/broadside.key"
expect_out "a key readable by others is refused" 77 'readable by others' $BS init
chmod 600 "$T/broadside.key"

# Lookup order: --config beats $BROADSIDE_CONFIG.
sed "s|$T/broadside.db|$T/other.db|" "$CONF" >"$T/other.conf"
expect_out "--config is used over BROADSIDE_CONFIG" 66 "other.db: No such file" $BS --config "$T/other.conf" stats
expect_out "BROADSIDE_CONFIG is used without --config" 0 "subscribers" $BS stats

v=$(sql 'PRAGMA user_version')
sql 'PRAGMA user_version = 999'
expect_out "a database newer than the binary is refused" 78 'newer than this broadside' $BS stats
sql "PRAGMA user_version = $v"

expect_out "unknown command" 64 "unknown command 'frobnicate'" $BS frobnicate
expect_out "unknown subcommand" 64 "subscriber: unknown or missing subcommand" $BS subscriber frob
expect_out "--help lists commands" 0 'subscriber import' $BS --help

# Secrets only over TLS: a username needs tls = "required", or the
# operator's explicit allow_plaintext_auth (then config check warns).
auth_conf() {	# relay settings
	{ cat "$CONF"; echo "relays = ( { host = \"127.0.0.1\"; username = \"u\"; password = \"p\"; $1 } );"; } >"$T/auth.conf"
}
auth_conf ''
expect_out "AUTH over plain TCP is refused" 78 'relays\[0\].username: AUTH needs tls = "required"' \
	$BS config check "$T/auth.conf"
auth_conf 'tls = "starttls";'
expect_out "AUTH over unverified STARTTLS is refused" 78 'AUTH needs tls = "required"' \
	$BS config check "$T/auth.conf"
auth_conf 'allow_plaintext_auth = true;'
expect_out "allow_plaintext_auth: accepted" 0 ': ok' $BS config check "$T/auth.conf"
expect_out "allow_plaintext_auth: with a warning" 0 'warning: relays\[0\]: allow_plaintext_auth' \
	$BS config check "$T/auth.conf"
