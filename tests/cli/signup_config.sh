# signup_config.sh - the signup settings: checked against their limits, and
# the confirmation email's templates checked before the daemon relies on them.
. "$(dirname "$0")/../lib.sh"

cp -r "$TOP/templates" "$T/tpl"
write_config <<CONF
relays = ( { host = "127.0.0.1"; port = 25; } );
CONF
sed -i "s|^templates = .*|templates = \"$T/tpl\";|" "$CONF"
expect_out "defaults: the config is valid" 0 ': ok' $BS config check "$CONF"
rm "$T/tpl/confirm.html"
expect_out "confirm.html missing: config check names it" 66 'signup confirmation email: .*confirm.html' \
	$BS config check "$CONF"
echo 'signup: { enabled = false; };' >>"$CONF"
expect_out "signup.enabled = false: confirm.html is not needed" 0 ': ok' $BS config check "$CONF"
cp "$TOP/templates/confirm.html" "$T/tpl/"
printf '<p>{{list_name}}</p>\n' >"$T/tpl/confirm.txt"
sed -i 's/enabled = false;/enabled = true;/' "$CONF"
expect_out "a confirm.txt without {{confirm_url}}: refused" 78 'has no \{\{confirm_url\}\} slot' $BS config check "$CONF"
cp "$TOP/templates/confirm.txt" "$T/tpl/"
sed -i 's/enabled = true;/enabled = true; ip_limit = 0;/' "$CONF"
expect_out "signup.ip_limit below its limit: refused with the key" 78 'signup.ip_limit' $BS config check "$CONF"
sed -i 's/ip_limit = 0;/pending_expiry = "30s";/' "$CONF"
expect_out "signup.pending_expiry below an hour: refused" 78 'signup.pending_expiry' $BS config check "$CONF"
sed -i 's/pending_expiry = "30s";/min_fill_time = "0s"; confirmations_per_day = 1;/' "$CONF"
expect_out "min_fill_time 0 and one confirmation a day: valid" 0 ': ok' $BS config check "$CONF"
