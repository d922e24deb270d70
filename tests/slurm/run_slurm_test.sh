#!/usr/bin/env bash
# End-to-end test of profiles/slurm against a real SLURM: a one-node cluster on this machine.
#
#   sudo bash tests/slurm/run_slurm_test.sh
#
# What it does (Debian 12, as root, on a throwaway machine or container: it starts daemons on
# SLURM's default ports 6817-6819):
#   1. installs slurm-wlm, slurmdbd, munge and mariadb-server when missing (apt-get update first);
#   2. starts munge, a private MariaDB (its own data folder and port), slurmdbd, slurmctld and
#      slurmd, all configured under $PT_SLURM_STATE (default /tmp/pt-slurm-test): /etc/slurm is
#      not touched, every SLURM command finds the cluster through SLURM_CONF;
#   3. runs config/smoke.yaml locally (study smoke_local) and through --profile profiles/slurm
#      (study smoke_slurm; the profile's account/partition placeholders filled in, nothing else);
#   4. checks with sacct that every non-local job ran through the scheduler and COMPLETED, and
#      that both studies produced the same numbers (tests/slurm/compare_runs.py);
#   5. stops the daemons it started (by process id) and prints the time each stage took.
# PT_SLURM_TARGETS (optional): Snakemake targets instead of the whole DAG, "{study}" standing for
# the study name, e.g. PT_SLURM_TARGETS='results/{study}/runs/baseline/seed0' to test the
# scheduler path quickly.
# Idempotent: a second run stops what a killed first run left behind, wipes the state folder and
# the two studies' results, and starts again. Exit status 0 means every check passed.
#
# The accounting database is needed because the executor plugin (2.8) reads job states with
# sacct, and SLURM 22.05 (Debian 12) has no file-based accounting storage any more:
# AccountingStorageType=accounting_storage/none makes sacct answer "Slurm accounting storage is
# disabled". So: MariaDB -> slurmdbd -> slurmctld.
#
# The training rule asks for a GPU (gres gpu:1) and tens of GB of memory, as on a real cluster;
# this node declares GPUs (fake device files, one per CPU) and a large RealMemory with
# SlurmdParameters=config_overrides so that the profile's requests are accepted unchanged. The
# smoke jobs themselves run on the CPU and use little memory.
set -euo pipefail

REPO="$(cd "$(dirname "$0")/../.." && pwd)"
STATE="${PT_SLURM_STATE:-/tmp/pt-slurm-test}"
PY="$REPO/.venv/bin/python"
CLUSTER=ptest
ACCOUNT=ptest_acct
PARTITION=debug
DB_PORT="${PT_SLURM_DB_PORT:-3317}"
DB_PASS=ptest-slurmdbd
HOST="$(hostname -s)"
NCPU="$(nproc)"
T0=$(date +%s)

say() { echo "[slurm-test +$(($(date +%s) - T0))s] $*"; }
die() { echo "[slurm-test] FAILED: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (it installs packages and starts daemons)"
command -v apt-get >/dev/null || die "needs a Debian/Ubuntu machine (apt-get)"
[ -x "$PY" ] || die "no $PY: run scripts/setup.sh first"

# --- 1. packages ----------------------------------------------------------------------------
PKGS=(slurm-wlm slurmdbd munge mariadb-server)
missing=()
for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
T_INSTALL=$(($(date +%s) - T0))

# --- 2. daemons -----------------------------------------------------------------------------
# Daemons this script started, by pid file; stopped on exit (and at the start of the next run,
# should a killed run have left them behind).
PIDFILES=("$STATE/slurmd.pid" "$STATE/slurmctld.pid" "$STATE/slurmdbd.pid" "$STATE/db/mariadb.pid")
stop_daemons() {
  for f in "${PIDFILES[@]}" "$STATE/munged.started"; do
    [ -s "$f" ] || continue
    pid="$(cat "$f")"
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$f"
  done
  # slurmd's configless link, if it points into our state folder
  if [ -L /run/slurm/conf ] && [[ "$(readlink /run/slurm/conf)" == "$STATE"/* ]]; then rm -f /run/slurm/conf; fi
}
[ -d "$STATE" ] && stop_daemons
trap 'stop_daemons' EXIT
rm -rf "$STATE"
mkdir -p "$STATE"/{spool,state,log,slurm_logs,profile}
chmod 755 "$STATE"

# munge: reuse a running munged, else start one with the packaged (or a fresh) key.
if ! (munge -n | unmunge) >/dev/null 2>&1; then
  if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  fi
  chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
  mkdir -p /run/munge && chown munge:munge /run/munge
  runuser -u munge -- /usr/sbin/munged
  cp /run/munge/munged.pid "$STATE/munged.started"
  (munge -n | unmunge) >/dev/null || die "munge does not work"
fi

# MariaDB: a private instance (own data folder, socket and TCP port) for slurmdbd.
say "starting MariaDB on port $DB_PORT"
mkdir -p "$STATE/mysql" "$STATE/db" && chown mysql:mysql "$STATE/mysql" "$STATE/db"  # mariadbd runs as mysql
mariadb-install-db --no-defaults --user=mysql --datadir="$STATE/mysql" --skip-test-db \
  --auth-root-authentication-method=socket >"$STATE/log/mariadb-install.log" 2>&1 \
  || die "mariadb-install-db (see $STATE/log/mariadb-install.log)"
mariadbd --no-defaults --user=mysql --datadir="$STATE/mysql" --socket="$STATE/db/mysql.sock" \
  --port="$DB_PORT" --bind-address=127.0.0.1 --pid-file="$STATE/db/mariadb.pid" \
  --log-error="$STATE/db/mariadb.log" --innodb-buffer-pool-size=64M >"$STATE/log/mariadbd.out" 2>&1 &
for _ in $(seq 100); do [ -S "$STATE/db/mysql.sock" ] && break; sleep 0.2; done
[ -S "$STATE/db/mysql.sock" ] || die "MariaDB did not start (see $STATE/db/mariadb.log)"
mariadb --no-defaults -S "$STATE/db/mysql.sock" -u root <<SQL
CREATE DATABASE slurm_acct_db;
CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
CREATE USER 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
SQL

# SLURM configuration, all under $STATE (slurmdbd.conf and gres.conf are read from the folder
# of SLURM_CONF).
export SLURM_CONF="$STATE/slurm.conf"
cat >"$STATE/slurmdbd.conf" <<EOF
DbdHost=localhost
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db
PidFile=$STATE/slurmdbd.pid
LogFile=$STATE/log/slurmdbd.log
EOF
chmod 600 "$STATE/slurmdbd.conf"

MEM_REAL_MB=$(($(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024))
cat >"$SLURM_CONF" <<EOF
ClusterName=$CLUSTER
SlurmctldHost=$HOST
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$STATE/state
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
# No systemd/cgroups in a container: track processes through /proc, no task binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoreFlags=job_comment
AccountingStorageEnforce=associations
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
SchedulerParameters=sched_interval=2
# Configless: slurmd fetches this file from slurmctld and links it at /run/slurm/conf, where
# commands inside jobs find it. Needed because the jobstep plugin (0.6.1) removes SLURM_CONF
# from the environment of the srun it starts inside each job.
SlurmctldParameters=enable_configless
# The node declares what the profile asks for (real CPUs; fake GPUs; ample memory):
# config_overrides makes slurmd accept it instead of draining the node. Real machine memory: ${MEM_REAL_MB} MB.
SlurmdParameters=config_overrides
GresTypes=gpu
NodeName=$HOST CPUs=$NCPU RealMemory=512000 Gres=gpu:$NCPU State=UNKNOWN
PartitionName=$PARTITION Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
# slurmd drops GPUs without device files: give it character devices with /dev/null's numbers.
for i in $(seq 0 $((NCPU - 1))); do
  mknod "$STATE/fakegpu$i" c 1 3 2>/dev/null || touch "$STATE/fakegpu$i"  # a plain file: slurmd logs an error but counts it
done
echo "NodeName=$HOST Name=gpu File=$STATE/fakegpu[0-$((NCPU - 1))]" >"$STATE/gres.conf"

say "starting slurmdbd, slurmctld, slurmd"
slurmdbd
for _ in $(seq 100); do sacctmgr -n list cluster >/dev/null 2>&1 && break; sleep 0.2; done
sacctmgr -n list cluster >/dev/null 2>&1 || die "slurmdbd did not start (see $STATE/log/slurmdbd.log)"
sacctmgr -i add cluster "$CLUSTER" >/dev/null
sacctmgr -i add account "$ACCOUNT" cluster="$CLUSTER" >/dev/null
sacctmgr -i add user root account="$ACCOUNT" cluster="$CLUSTER" >/dev/null
slurmctld -f "$SLURM_CONF"
env -u SLURM_CONF slurmd --conf-server "$HOST"
for _ in $(seq 150); do
  [ "$(sinfo -h -n "$HOST" -o %t 2>/dev/null)" = idle ] && break
  sleep 0.2
done
[ "$(sinfo -h -n "$HOST" -o %t)" = idle ] || die "node not idle: $(sinfo -h -n "$HOST" -o '%t %E') (see $STATE/log/)"

# One trivial job first: if the scheduler or sacct do not work, say so before the study runs.
jid=$(sbatch --parsable -A "$ACCOUNT" -p "$PARTITION" -o /dev/null --wrap true)
for _ in $(seq 100); do
  [ "$(sacct -n -X -P -j "$jid" -o State 2>/dev/null)" = COMPLETED ] && break
  sleep 0.2
done
[ "$(sacct -n -X -P -j "$jid" -o State)" = COMPLETED ] || die "test job $jid: sacct says '$(sacct -n -X -P -j "$jid" -o State)'"
T_CLUSTER=$(($(date +%s) - T0))
say "cluster up; sacct sees job $jid COMPLETED"

# --- 3. the smoke study, locally and through the profile -------------------------------------
cd "$REPO"
rm -rf results/smoke_local results/smoke_slurm
SMK=("$PY" -m snakemake)  # targets first: --configfile and --config take several values
targets() { for t in ${PT_SLURM_TARGETS:-}; do echo "${t//\{study\}/$1}"; done; }
mapfile -t T_LOCAL_TARGETS < <(targets smoke_local)
mapfile -t T_SLURM_TARGETS < <(targets smoke_slurm)

say "local run (study smoke_local)"
t=$(date +%s)
"${SMK[@]}" "${T_LOCAL_TARGETS[@]}" --configfile config/smoke.yaml --cores "$NCPU" --config study=smoke_local >"$STATE/log/snakemake_local.log" 2>&1 \
  || { tail -40 "$STATE/log/snakemake_local.log"; die "local run failed"; }
T_LOCAL=$(($(date +%s) - t))

# The profile as a user would fill it in: only the placeholders change.
sed -e "s/FILL_IN_ACCOUNT/$ACCOUNT/" -e "s/FILL_IN_CPU_PARTITION/$PARTITION/" \
  -e "s/FILL_IN_GPU_PARTITION/$PARTITION/" profiles/slurm/config.yaml >"$STATE/profile/config.yaml"
grep -q FILL_IN "$STATE/profile/config.yaml" && die "a placeholder of profiles/slurm/config.yaml was not filled"

say "SLURM run (study smoke_slurm, --profile profiles/slurm)"
t=$(date +%s)
# Test-only settings: poll the scheduler every few seconds (the default waits 40 s before the
# first check), keep SLURM's job logs in the state folder.
"${SMK[@]}" "${T_SLURM_TARGETS[@]}" --configfile config/smoke.yaml --profile "$STATE/profile" \
  --config study=smoke_slurm --slurm-init-seconds-before-status-checks 2 --seconds-between-status-checks 2 \
  --slurm-logdir "$STATE/slurm_logs" --slurm-keep-successful-logs --latency-wait 10 \
  >"$STATE/log/snakemake_slurm.log" 2>&1 \
  || { tail -60 "$STATE/log/snakemake_slurm.log"; die "SLURM run failed (logs: $STATE/log, $STATE/slurm_logs)"; }
T_SLURM=$(($(date +%s) - t))

# --- 4. checks ------------------------------------------------------------------------------
say "checking sacct and comparing results"
sacct -n -X -P -a -S now-1days -o JobID,JobName%100,State,ExitCode,Account,Partition,Comment%300 \
  >"$STATE/sacct.txt"
"$PY" tests/slurm/compare_runs.py \
  --local results/smoke_local --slurm results/smoke_slurm \
  --snakemake-log "$STATE/log/snakemake_slurm.log" \
  --sacct "$STATE/sacct.txt" --account "$ACCOUNT" ${PT_SLURM_TARGETS:+--partial} \
  || die "scheduler or result checks failed (listed above; logs in $STATE/log)"

stop_daemons
trap - EXIT
say "PASSED. seconds: install ${T_INSTALL}, cluster start $((T_CLUSTER - T_INSTALL)), local run ${T_LOCAL}, SLURM run ${T_SLURM}, total $(($(date +%s) - T0))"
