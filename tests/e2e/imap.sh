#!/bin/bash
# imap.sh - the daemon's bounce intake against a real IMAP server: Dovecot on
# loopback with its own config and a Maildir in the temp dir. Bounces are
# delivered into the mailbox, the daemon applies them, flags them \Seen, and
# after a restart (with one message made unseen again, as after a stop
# between commit and flag) nothing is applied twice.
. "$(dirname "$0")/../lib.sh"
DOVECOT=$(command -v dovecot || echo /usr/sbin/dovecot)
[ -x "$DOVECOT" ] || { not_ok "dovecot installed (make deps)"; exit 1; }
chmod 755 "$T"		# Dovecot's mail processes run as nobody
IMAP_PORT=$(free_port)
HTTP_PORT=$(free_port)
DV=$T/dovecot
mkdir -p "$DV/run" "$DV/state" "$DV/mail/bounces/Maildir/new" "$DV/mail/bounces/Maildir/cur" \
	"$DV/mail/bounces/Maildir/tmp"
echo "bounces:{PLAIN}s3cret::::::" >"$DV/passwd"
cat >"$DV/dovecot.conf" <<CONF
base_dir = $DV/run
state_dir = $DV/state
log_path = $DV/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
first_valid_uid = 1
default_login_user = dovenull
default_internal_user = dovecot
passdb {
  driver = passwd-file
  args = scheme=PLAIN $DV/passwd
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=$DV/mail/%u
}
mail_location = maildir:$DV/mail/%u/Maildir
service imap-login {
  chroot =
  inet_listener imap {
    address = 127.0.0.1
    port = $IMAP_PORT
  }
  inet_listener imaps {
    port = 0
  }
}
service anvil {
  chroot =
}
CONF
chown -R nobody:nogroup "$DV/mail"
"$DOVECOT" -F -c "$DV/dovecot.conf" &
dvpid=$!
on_exit "kill $dvpid 2>/dev/null; wait $dvpid 2>/dev/null"
imap() { curl -s --user bounces:s3cret "imap://127.0.0.1:$IMAP_PORT/$1" ${2:+-X "$2"}; }
for _ in $(seq 50); do imap "" "NOOP" >/dev/null && break; sleep 0.1; done
imap "INBOX" "NOOP" >/dev/null && ok "dovecot answers on 127.0.0.1:$IMAP_PORT" || not_ok "dovecot answers"

write_config </dev/null
sed -i '/^bounces:/d' "$CONF"
cat >>"$CONF" <<CONF
http: { listen = "127.0.0.1:$HTTP_PORT"; };
bounces: { address = "bounces@example.com";
           imap: { url = "imap://127.0.0.1:$IMAP_PORT/INBOX"; username = "bounces";
                   password = "s3cret"; interval = "1s"; }; };
CONF
$BS config check "$CONF" >/dev/null || { not_ok "config with bounces.imap { ... } is valid"; exit 1; }
$BS init >/dev/null
$BS subscriber add dead@example.org >/dev/null
$BS subscriber add full@example.org >/dev/null
# The returned copies' Message-IDs carry the MAC of (delivery, subscriber):
# the proof that the bounces answer copies we sent.
mid1=$(proof msgid 1 1); mid2=$(proof msgid 2 2)
now=$(date +%s)	# recent copies: retention (90 days) leaves them alone
sql "INSERT INTO issues (subject, source, created_at, updated_at) VALUES ('one', 'x', 1, 1), ('two', 'y', 1, 1);
     INSERT INTO deliveries (issue_id, subscriber_id, state, message_id, created_at, updated_at)
       VALUES (1, 1, 'sent', '$mid1', $now, $now), (1, 2, 'sent', '$mid2', $now, $now),
              (2, 1, 'queued', NULL, $now, $now), (2, 2, 'queued', NULL, $now, $now);"

n=0
deliver() {	# rcpt status diagnostic message-id
	n=$((n + 1))
	f="$DV/mail/bounces/Maildir/tmp/$n.broadside-test"
	dsn "$1" "$2" "$3" "$4" "<bounce$n@mx.example.net>" >"$f"
	chown nobody:nogroup "$f"
	mv "$f" "$DV/mail/bounces/Maildir/new/$n.broadside-test"
}
deliver dead@example.org 5.1.1 "550 5.1.1 User unknown" "$mid1"
deliver full@example.org 5.2.2 "552 5.2.2 Mailbox full" "$mid2"
printf 'From: x@example.org\nTo: bounces@example.com\nSubject: Out of office\nAuto-Submitted: auto-replied\n\nAway.\n' \
	>"$DV/mail/bounces/Maildir/new/3.broadside-test"
chown nobody:nogroup "$DV/mail/bounces/Maildir/new/3.broadside-test"; n=3

wait_for() {	# SQL VALUE: poll the database until it says VALUE (at most ~15 s)
	for _ in $(seq 150); do [ "$(sql "$1" 2>/dev/null)" = "$2" ] && return 0; sleep 0.1; done
	return 1
}
start_daemon() { $BSD --config "$CONF" 2>>"$T/daemon.log" & dpid=$!; }
stop_daemon() { kill -TERM "$dpid"; wait "$dpid"; drc=$?; }
on_exit 'kill $dpid 2>/dev/null'

start_daemon
wait_for "SELECT count(*) FROM imap_seen" 3
is "first run: all three messages processed" "$(sql "SELECT count(*) FROM imap_seen")" "3"
is "hard bounce applied" "$(sql "SELECT status FROM subscribers WHERE id = 1")" "bounced"
is "soft bounce counted" "$(sql "SELECT bounce_score || ' ' || status FROM subscribers WHERE id = 2")" "1 active"
is "two bounces recorded (the vacation reply is not one)" "$(sql "SELECT count(*) FROM bounces")" "2"
is "queued delivery of the hard-bounced subscriber dropped" \
	"$(sql "SELECT state FROM deliveries WHERE id = 3")" "dropped"
for _ in $(seq 50); do [ "$(imap INBOX 'UID SEARCH SEEN' | tr -d '\r')" = "* SEARCH 1 2 3" ] && break; sleep 0.1; done
is "processed messages flagged \\Seen" "$(imap INBOX 'UID SEARCH SEEN' | tr -d '\r')" "* SEARCH 1 2 3"
stop_daemon
is "daemon stops cleanly on SIGTERM" "$drc" "0"

# As if the daemon had stopped between its commit and the flag:
imap INBOX 'UID STORE 2 -FLAGS (\Seen)' >/dev/null
deliver full@example.org 4.2.2 "452 4.2.2 Mailbox full, try later" "$mid2"
start_daemon
wait_for "SELECT count(*) FROM imap_seen" 4
is "after restart: only the new message processed" "$(sql "SELECT count(*) FROM imap_seen")" "4"
is "after restart: nothing applied twice" "$(sql "SELECT count(*) FROM bounces")" "3"
for _ in $(seq 50); do [ "$(imap INBOX 'UID SEARCH UNSEEN' | tr -d '\r')" = "* SEARCH" ] && break; sleep 0.1; done
is "the message made unseen is flagged again, not applied" \
	"$(imap INBOX 'UID SEARCH UNSEEN' | tr -d '\r')" "* SEARCH"
stop_daemon
is "daemon stops cleanly again" "$drc" "0"

# With imap_delete the processed messages leave the mailbox (EXPUNGE): the
# new one, and the ones recorded before, as the polls come across them.
sed -i 's/interval = "1s";/interval = "1s"; delete = true;/' "$CONF"
deliver full@example.org 5.2.2 "552 5.2.2 Mailbox full" "$mid2"
start_daemon
wait_for "SELECT count(*) FROM imap_seen" 5
is "delete mode: the new message processed" "$(sql "SELECT count(*) FROM imap_seen")" "5"
for _ in $(seq 50); do [ "$(imap INBOX 'UID SEARCH ALL' | tr -d '\r')" = "* SEARCH" ] && break; sleep 0.1; done
is "delete mode: the mailbox is emptied" "$(imap INBOX 'UID SEARCH ALL' | tr -d '\r')" "* SEARCH"
is "delete mode: no message applied twice" "$(sql "SELECT count(*) FROM bounces")" "4"
stop_daemon
grep -q "bounce intake: polling" "$T/daemon.log" && ok "daemon logs the intake" || not_ok "daemon logs the intake"
