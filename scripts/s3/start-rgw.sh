#!/usr/bin/env bash
# start-rgw.sh [DIR] [PORT]
#
# The project's own starter for a real S3 server in tests (test/helpers/s3.ts runs it, one per test
# file, on a free port with DIR in a temp dir; scripts/setup.sh installs the packages). Adapted from
# the shared starter so that a fresh clone needs nothing outside the repository.
#
# Starts a throwaway single-node Ceph cluster (1 mon, 1 memstore OSD, no mgr)
# plus a RADOS Gateway (S3) on 127.0.0.1:PORT. Everything (config, keys, mon
# store, OSD, logs, PID files) lives under DIR. Nothing listens on any
# address other than 127.0.0.1.
#
# Needs the Debian packages: ceph-mon ceph-osd radosgw ceph-common
#   apt-get install -y --no-install-recommends ceph-mon ceph-osd radosgw ceph-common
#
# Idempotent: if the cluster in DIR is already running and answers signed S3
# requests, it only prints the credentials. If DIR holds a broken/stopped
# cluster made by this script, that cluster is stopped and recreated.
#
# Last lines of stdout (eval-able):
#   S3_ENDPOINT=http://127.0.0.1:PORT AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=...
#
# Optional environment:
#   RGW_ACCESS_KEY / RGW_SECRET_KEY   fixed credentials (default: random, kept in DIR)
#   RGW_MON_PORT                      monitor port (default: a free port)
#   RGW_OBJECTSTORE                   memstore (default: all data in the OSD's RAM, fastest start)
#                                     or bluestore (data in a sparse file DIR/osd.0/block, bounded RAM;
#                                     DIR must be on a filesystem with O_DIRECT, i.e. not tmpfs)
#   RGW_MEMSTORE_BYTES                memstore capacity (default 8 GiB; RSS grows ~2x the data stored)
#   RGW_BLUESTORE_BYTES               bluestore block file size, sparse (default 20 GiB)
#   RGW_START_TIMEOUT                 seconds per wait step (default 120)
set -Eeuo pipefail

DIR=${1:-${TMPDIR:-/tmp}/airlock-rgw}
PORT=${2:-7480}
TIMEOUT=${RGW_START_TIMEOUT:-120}
MEMSTORE_BYTES=${RGW_MEMSTORE_BYTES:-8589934592}
BLUESTORE_BYTES=${RGW_BLUESTORE_BYTES:-21474836480}
OBJECTSTORE=${RGW_OBJECTSTORE:-memstore}
HOST=127.0.0.1
MARKER=.airlock-rgw
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

exec 8>&2     # our real stderr, also usable inside redirected function calls
log() { echo "[start-rgw +${SECONDS}s] $*" >&8 || true; }
trap '' PIPE   # a reader of our stderr going away must not kill us half-way
die() { log "ERROR: $*"; exit 1; }

case "$PORT" in ''|*[!0-9]*) die "PORT must be a number, got '$PORT'";; esac
case "$OBJECTSTORE" in
  memstore) STORE_CONF="memstore_device_bytes = $MEMSTORE_BYTES";;
  bluestore) STORE_CONF="bluestore_block_size = $BLUESTORE_BYTES
bluestore_block_create = true
osd_memory_target = 1073741824";;
  *) die "RGW_OBJECTSTORE must be memstore or bluestore";;
esac
for b in ceph-mon ceph-osd radosgw radosgw-admin ceph ceph-authtool monmaptool uuidgen setsid; do
  command -v "$b" >/dev/null 2>&1 || die "missing '$b' (apt-get install -y ceph-mon ceph-osd radosgw ceph-common)"
done

DIR=$(realpath -m -- "$DIR")
# Unix socket paths are limited to 107 bytes.
[ ${#DIR} -le 70 ] || die "DIR path too long (${#DIR} > 70 chars): admin sockets would not fit"
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd -P)
CONF=$DIR/ceph.conf
ENVF=$DIR/s3.env
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)

# Serialise concurrent start/stop calls on the same DIR (lock on the directory itself).
exec 9<"$DIR"
if command -v flock >/dev/null 2>&1; then
  flock -w 300 9 || die "timed out waiting for the lock on $DIR"
fi

ceph_() { timeout 30 ceph -c "$CONF" --connect-timeout 10 "$@"; }

# Is the PID in file $1 alive and one of ours (its command line names our conf)?
pid_ok() {
  local f=$1 pid
  [ -s "$f" ] || return 1
  pid=$(cat "$f")
  case "$pid" in ''|*[!0-9]*) return 1;; esac
  tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF -- "$CONF"
}

# Signed S3 ListBuckets (SigV4, stdlib only). Exit 0 on HTTP 200.
s3_probe() {
  "$PY" - "$1" "$2" "$3" <<'PYEOF'
import sys, hashlib, hmac, datetime, urllib.request
ep, ak, sk = sys.argv[1:4]
host = ep.split('://', 1)[1]
t = datetime.datetime.now(datetime.timezone.utc)
amzdate, date = t.strftime('%Y%m%dT%H%M%SZ'), t.strftime('%Y%m%d')
region, service = 'us-east-1', 's3'
ph = hashlib.sha256(b'').hexdigest()
ch = 'host:%s\nx-amz-content-sha256:%s\nx-amz-date:%s\n' % (host, ph, amzdate)
sh = 'host;x-amz-content-sha256;x-amz-date'
creq = '\n'.join(['GET', '/', '', ch, sh, ph])
scope = '%s/%s/%s/aws4_request' % (date, region, service)
sts = '\n'.join(['AWS4-HMAC-SHA256', amzdate, scope, hashlib.sha256(creq.encode()).hexdigest()])
def h(k, m): return hmac.new(k, m.encode(), hashlib.sha256).digest()
k = h(h(h(h(('AWS4' + sk).encode(), date), region), service), 'aws4_request')
sig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
req = urllib.request.Request(ep + '/', headers={
    'x-amz-date': amzdate, 'x-amz-content-sha256': ph,
    'Authorization': 'AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s' % (ak, scope, sh, sig)})
try:
    with urllib.request.urlopen(req, timeout=5) as r:
        sys.exit(0 if r.status == 200 else 1)
except Exception as e:
    print(e, file=sys.stderr); sys.exit(1)
PYEOF
}

# Anonymous GET / ; exit 0 if anything HTTP answers.
http_up() {
  "$PY" - "$1" <<'PYEOF'
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(sys.argv[1] + '/', timeout=3); sys.exit(0)
except urllib.error.HTTPError: sys.exit(0)
except Exception: sys.exit(1)
PYEOF
}

port_free() {
  "$PY" - "$1" <<'PYEOF'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # like the daemons: ignore TIME_WAIT
try:
    s.bind(('127.0.0.1', int(sys.argv[1]))); sys.exit(0)
except OSError: sys.exit(1)
finally: s.close()
PYEOF
}

free_port() {
  "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_for() { # pidfile timeout cmd... : retry cmd until it succeeds; fail fast if the daemon died
  local pidf=$1 t=$2; shift 2
  local end=$((SECONDS + t))
  until "$@" >/dev/null 2>&1; do
    pid_ok "$pidf" || { log "daemon from $pidf exited (see $DIR/log/)"; return 1; }
    [ $SECONDS -lt $end ] || return 1
    sleep 0.25
  done
}

emit() {
  # shellcheck disable=SC1090
  . "$ENVF"
  echo "S3_ENDPOINT=http://$HOST:$PORT AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY"
}

# ---------------------------------------------------------------- idempotency
if [ -f "$DIR/$MARKER" ] && [ -f "$ENVF" ]; then
  # shellcheck disable=SC1090
  . "$ENVF"
  if [ "${RGW_PORT:-}" = "$PORT" ] && pid_ok "$DIR/run/mon.pid" && pid_ok "$DIR/run/osd.pid" \
     && pid_ok "$DIR/run/rgw.pid" && s3_probe "http://$HOST:$PORT" "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY"; then
    log "already running in $DIR"
    emit
    exit 0
  fi
  log "stale or different cluster in $DIR: stopping it and starting fresh"
  RGW_LOCK_HELD=1 "$SCRIPT_DIR/stop-rgw.sh" "$DIR" >&2 || true
fi

if [ -n "$(ls -A "$DIR" 2>/dev/null)" ]; then
  [ -f "$DIR/$MARKER" ] || die "$DIR is not empty and was not created by this script; refusing to wipe it"
  # Leave nothing of ours running before wiping.
  for f in "$DIR"/run/*.pid; do
    [ -e "$f" ] || continue
    if pid_ok "$f"; then die "a daemon from $f is still running; run stop-rgw.sh $DIR first"; fi
  done
  find "$DIR" -mindepth 1 -delete
fi

port_free "$PORT" || die "127.0.0.1:$PORT is already in use"

MON_PORT=${RGW_MON_PORT:-$(free_port)}
port_free "$MON_PORT" || die "monitor port 127.0.0.1:$MON_PORT is in use"

touch "$DIR/$MARKER"
mkdir -p "$DIR/run" "$DIR/log" "$DIR/mon.a" "$DIR/osd.0" "$DIR/rgw.a" "$DIR/crash"

# From here on, any failure (set -e, die, signal) stops whatever was started;
# DIR is kept for its logs.
on_exit() {
  local rc=$?
  [ "$rc" -ne 0 ] || return 0
  log "start failed (rc=$rc); last log lines:"
  for l in "$DIR"/log/*.log; do [ -f "$l" ] && { echo "== $l" >&8; tail -n 15 "$l" >&8; }; done
  RGW_LOCK_HELD=1 "$SCRIPT_DIR/stop-rgw.sh" "$DIR" >&8 2>&8 || true
}
trap on_exit EXIT
trap 'log "interrupted"; exit 130' INT TERM HUP

rand() { "$PY" -c 'import secrets,string,sys; a=sys.argv[2]; print("".join(secrets.choice(a) for _ in range(int(sys.argv[1]))))' "$@"; }
AK=${RGW_ACCESS_KEY:-$(rand 20 ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789)}
SK=${RGW_SECRET_KEY:-$(rand 40 ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789)}
cat >"$ENVF" <<EOF
AWS_ACCESS_KEY_ID=$AK
AWS_SECRET_ACCESS_KEY=$SK
S3_ENDPOINT=http://$HOST:$PORT
RGW_PORT=$PORT
MON_PORT=$MON_PORT
EOF
chmod 600 "$ENVF"

FSID=$(uuidgen)
OSD_UUID=$(uuidgen)

cat >"$CONF" <<EOF
# generated by start-rgw.sh -- throwaway test cluster, loopback only
[global]
fsid = $FSID
mon_host = v2:$HOST:$MON_PORT
public_addr = $HOST
cluster_addr = $HOST
ms_bind_ipv4 = true
ms_bind_ipv6 = false
ms_bind_msgr1 = false
ms_bind_msgr2 = true
auth_cluster_required = cephx
auth_service_required = cephx
auth_client_required = cephx
auth_allow_insecure_global_id_reclaim = false
keyring = $DIR/keyring
run_dir = $DIR/run
crash_dir = $DIR/crash
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
osd_crush_chooseleaf_type = 0
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
mon_allow_pool_delete = true
mon_max_pg_per_osd = 1000
mon_data_avail_warn = 2
mon_data_avail_crit = 1
mon_osd_full_ratio = .99
mon_osd_nearfull_ratio = .98
mon_osd_backfillfull_ratio = .985
osd_failsafe_full_ratio = .995

[client]
admin_socket = $DIR/run/\$name.\$pid.asok

[mon]
mon_data = $DIR/mon.\$id
log_file = $DIR/log/\$name.log
pid_file = $DIR/run/\$name.daemon.pid
mon_cluster_log_file = $DIR/log/cluster.log
# single monitor: commit map changes quickly instead of batching them for 1 s
# (rgw's first start makes ~10 osdmap changes: pools + application tags)
paxos_propose_interval = 0.05
paxos_min_wait = 0.01

[osd]
osd_data = $DIR/osd.\$id
osd_objectstore = $OBJECTSTORE
$STORE_CONF
osd_crush_initial_weight = 1
log_file = $DIR/log/\$name.log
pid_file = $DIR/run/\$name.daemon.pid

[client.rgw.a]
rgw_data = $DIR/rgw.\$id
rgw_frontends = beast endpoint=$HOST:$PORT
admin_socket = $DIR/run/\$name.asok
# reclaim space of deleted objects quickly (memstore keeps everything in RAM)
rgw_gc_obj_min_wait = 60
rgw_gc_processor_period = 60
log_file = $DIR/log/\$name.log
pid_file = $DIR/run/\$name.daemon.pid
EOF

# Keys: mon., client.admin, osd.0 and client.rgw.a all go into the initial
# keyring that the monitor imports at mkfs time.
ceph-authtool --create-keyring "$DIR/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
ceph-authtool "$DIR/keyring" --gen-key -n client.admin \
  --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' --cap mds 'allow *' >/dev/null
ceph-authtool "$DIR/keyring" --gen-key -n osd.0 \
  --cap mon 'allow profile osd' --cap mgr 'allow profile osd' --cap osd 'allow *' >/dev/null
ceph-authtool "$DIR/keyring" --gen-key -n client.rgw.a \
  --cap mon 'allow rw' --cap osd 'allow rwx' --cap mgr 'allow rw' >/dev/null
chmod 600 "$DIR/keyring"

monmaptool --create --fsid "$FSID" --addv a "[v2:$HOST:$MON_PORT]" \
  --enable-all-features --set-min-mon-release pacific "$DIR/monmap" >/dev/null
ceph-mon -c "$CONF" --mkfs -i a --monmap "$DIR/monmap" --keyring "$DIR/keyring" \
  >>"$DIR/log/mkfs.log" 2>&1

# start DAEMON-NAME PIDFILE cmd... : run in foreground mode, detached, record PID.
start_daemon() {
  local name=$1 pidf=$2; shift 2
  (
    # close every inherited fd > 2 so no caller pipe stays open in the daemon
    for fd in /proc/$BASHPID/fd/*; do
      fd=${fd##*/}; [ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-"
    done
    exec setsid "$@" -f
  ) </dev/null >>"$DIR/log/$name.out" 2>&1 &
  echo $! >"$pidf"
  log "started $name pid $(cat "$pidf")"
}

T0=$(date +%s.%N)
start_daemon mon "$DIR/run/mon.pid" ceph-mon -c "$CONF" -i a
wait_for "$DIR/run/mon.pid" "$TIMEOUT" ceph_ mon stat || die "monitor did not come up"
log "mon up"

OSD_ID=$(ceph_ osd new "$OSD_UUID" 0)
[ "$OSD_ID" = 0 ] || die "unexpected osd id '$OSD_ID'"
ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$OSD_UUID" >>"$DIR/log/mkfs.log" 2>&1
# ceph silently falls back to its default store on a bad value: check what was made
[ "$(cat "$DIR/osd.0/type" 2>/dev/null)" = "$OBJECTSTORE" ] || die "OSD mkfs did not create a $OBJECTSTORE store (see $DIR/log/mkfs.log)"
start_daemon osd "$DIR/run/osd.pid" ceph-osd -c "$CONF" -i 0
osd_up() { ceph_ osd stat -f json | grep -q '"num_up_osds":1,'; }
wait_for "$DIR/run/osd.pid" "$TIMEOUT" osd_up || die "osd did not come up"
log "osd up"

start_daemon rgw "$DIR/run/rgw.pid" radosgw -c "$CONF" -n client.rgw.a
wait_for "$DIR/run/rgw.pid" "$TIMEOUT" http_up "http://$HOST:$PORT" || die "radosgw did not answer on $HOST:$PORT"
log "rgw answering"

timeout 60 radosgw-admin -c "$CONF" user create --uid test --display-name test \
  --access-key "$AK" --secret-key "$SK" >"$DIR/user.json" 2>>"$DIR/log/radosgw-admin.log"
wait_for "$DIR/run/rgw.pid" "$TIMEOUT" s3_probe "http://$HOST:$PORT" "$AK" "$SK" || die "signed S3 request failed"
T1=$(date +%s.%N)
log "S3 ready: $(awk "BEGIN{printf \"%.1f\", $T1-$T0}") s from starting ceph-mon to first signed ListBuckets OK"
trap - EXIT INT TERM HUP
emit
