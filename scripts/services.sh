#!/usr/bin/env bash
# Makes sure Redis and MariaDB answer at MMO_REDIS_URL and MMO_MYSQL_URL. A service on loopback that
# does not answer is installed (from Debian's packages) and started; a service elsewhere is not ours
# to manage, so it is only checked. When both already answer this takes a few milliseconds.
set -euo pipefail

REDIS_URL=${MMO_REDIS_URL:-redis://127.0.0.1:6379}
MYSQL_URL=${MMO_MYSQL_URL:-mysql://root@127.0.0.1:3306}
WAIT_SECS=${MMO_SERVICES_WAIT:-60}
LAST_ERR='' # what the last failed check said, for the final message

# Root needs no sudo; anyone else gets `sudo -n`, which fails at once rather than wait on a
# password prompt that CI (no stdin) can never answer.
SUDO=()
if [[ $(id -u) -ne 0 ]]; then SUDO=(sudo -n); fi

die() {
  echo "services.sh: $*" >&2
  exit 1
}

urldecode() {
  # Only decode when there is something to decode, so that backslashes stay literal.
  if [[ $1 == *%* ]]; then printf '%b' "${1//%/\\x}"; else printf '%s' "$1"; fi
}

# Splits scheme://[user[:password]@]host[:port][/path][?query] into U_USER, U_PASS, U_HOST and
# U_PORT ($2 when the URL names no port). The path and query (database, options) are not needed.
parse_url() {
  local rest=${1#*://} auth='' hp
  rest=${rest%%[/?#]*}
  hp=$rest
  if [[ $rest == *@* ]]; then auth=${rest%@*} hp=${rest##*@}; fi
  U_USER=$(urldecode "${auth%%:*}")
  U_PASS=''
  if [[ $auth == *:* ]]; then U_PASS=$(urldecode "${auth#*:}"); fi
  if [[ $hp == \[* ]]; then # [ipv6]:port
    U_HOST=${hp#\[} U_PORT=${hp##*]}
    U_HOST=${U_HOST%%]*} U_PORT=${U_PORT#:}
  else
    U_HOST=${hp%%:*} U_PORT=''
    if [[ $hp == *:* ]]; then U_PORT=${hp##*:}; fi
  fi
  U_HOST=${U_HOST:-127.0.0.1} U_PORT=${U_PORT:-$2}
}

is_loopback() { [[ $1 == localhost || $1 == 127.* || $1 == ::1 ]]; }

# Polls a check once a second until it passes or WAIT_SECS have gone by.
wait_for() {
  local deadline=$((SECONDS + WAIT_SECS))
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 1
  done
}

APT_UPDATED=0
apt_install() {
  command -v apt-get >/dev/null || die "cannot install $*: there is no apt-get on this machine"
  echo "services.sh: installing $* from Debian's packages" >&2
  # The package lists are fetched once per run, however many packages are missing.
  if ((APT_UPDATED == 0)); then
    "${SUDO[@]}" apt-get update -qq </dev/null || die "apt-get update failed"
    APT_UPDATED=1
  fi
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" </dev/null >/dev/null ||
    die "apt-get install $* failed"
}

# --- Redis -------------------------------------------------------------------------------------

redis_ok() { # host port user password
  if command -v redis-cli >/dev/null; then
    local args=(-h "$1" -p "$2") envs=()
    if [[ -n $3 ]]; then args+=(--user "$3"); fi
    # The password goes through the environment so that it shows neither in `ps` nor in a warning.
    if [[ -n $4 ]]; then envs=(REDISCLI_AUTH="$4"); fi
    # stderr is kept: a failed AUTH is reported there while PING still answers PONG.
    LAST_ERR=$(env "${envs[@]}" timeout 5 redis-cli "${args[@]}" ping 2>&1) || true
    [[ $LAST_ERR == PONG ]]
  else
    # Without redis-cli, speak RESP over bash's /dev/tcp: AUTH first if the URL has a password.
    LC_ALL=C timeout 5 bash -c '
      exec 3<>"/dev/tcp/$0/$1" || exit 1
      if [[ -n $3 ]]; then
        if [[ -n $2 ]]; then
          printf "*3\r\n\$4\r\nAUTH\r\n\$%d\r\n%s\r\n\$%d\r\n%s\r\n" ${#2} "$2" ${#3} "$3" >&3
        else
          printf "*2\r\n\$4\r\nAUTH\r\n\$%d\r\n%s\r\n" ${#3} "$3" >&3
        fi
        IFS= read -r line <&3 && [[ $line == +OK* ]] || exit 1
      fi
      printf "PING\r\n" >&3
      IFS= read -r line <&3 && [[ $line == +PONG* ]]' "$1" "$2" "$3" "$4" 2>/dev/null ||
      { LAST_ERR="no PONG over /dev/tcp" && return 1; }
  fi
}

ensure_redis() {
  parse_url "$REDIS_URL" 6379
  local h=$U_HOST p=$U_PORT u=$U_USER pw=$U_PASS
  if redis_ok "$h" "$p" "$u" "$pw"; then
    echo "redis: ok at $h:$p"
    return
  fi
  is_loopback "$h" || die "redis: no answer at $h:$p ($LAST_ERR); not on loopback, so not started here"
  echo "redis: no answer at $h:$p, starting it" >&2
  if ! command -v redis-server >/dev/null; then apt_install redis-server; fi
  # The package may have started its own server on the default port: start ours only if needed.
  if ! redis_ok "$h" "$p" "$u" "$pw"; then
    local extra=()
    if [[ -n $pw && -z $u ]]; then extra=(--requirepass "$pw"); fi
    "${SUDO[@]}" mkdir -p /var/lib/redis /var/log/redis
    # Nothing is persisted: this server holds test and development data only.
    "${SUDO[@]}" redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$p" --save "" \
      --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log "${extra[@]}" ||
      die "redis: redis-server failed to start (see /var/log/redis/ci.log)"
  fi
  wait_for redis_ok "$h" "$p" "$u" "$pw" ||
    die "redis: still no answer at $h:$p after ${WAIT_SECS}s ($LAST_ERR; see /var/log/redis/ci.log)"
  echo "redis: ok at $h:$p (started)"
}

# --- MariaDB -----------------------------------------------------------------------------------

mysql_client() { command -v mariadb || command -v mysql || true; }

mysql_ok() { # host port user password
  local client envs=()
  client=$(mysql_client)
  if [[ -z $client ]]; then
    # No client to log in with: the server's greeting on connect is the best evidence left.
    LAST_ERR="no mariadb/mysql client, and no greeting over /dev/tcp"
    timeout 5 bash -c 'exec 3<>"/dev/tcp/$0/$1" && head -c 4 <&3 >/dev/null' "$1" "$2" 2>/dev/null
    return
  fi
  if [[ -n $4 ]]; then envs=(MYSQL_PWD="$4"); fi
  # TCP even for "localhost", as the servers connect; the client would otherwise use the socket.
  LAST_ERR=$(env "${envs[@]}" timeout 10 "$client" --protocol=TCP -h "$1" -P "$2" -u "$3" \
    --connect-timeout=3 -N -B -e 'SELECT 1' 2>&1 </dev/null >/dev/null)
}

# Like mysql_ok, but once the server is up, lets root log in over TCP with no password if the URL
# asks for that: Debian's root@localhost otherwise only logs in through the unix socket.
ROOT_FIXED=0
mysql_ready() {
  mysql_ok "$@" && return 0
  [[ $3 == root && -z $4 && $ROOT_FIXED == 0 ]] || return 1
  local client
  client=$(mysql_client)
  "${SUDO[@]}" "$client" -u root -e 'SELECT 1' </dev/null >/dev/null 2>&1 || return 1
  echo "mariadb: letting root@localhost log in over TCP with an empty password" >&2
  "${SUDO[@]}" "$client" -u root </dev/null \
    -e "ALTER USER root@localhost IDENTIFIED VIA mysql_native_password USING PASSWORD('')" ||
    return 1
  ROOT_FIXED=1
  mysql_ok "$@"
}

ensure_mysql() {
  parse_url "$MYSQL_URL" 3306
  local h=$U_HOST p=$U_PORT u=${U_USER:-root} pw=$U_PASS server
  if mysql_ok "$h" "$p" "$u" "$pw"; then
    echo "mariadb: ok at $u@$h:$p"
    return
  fi
  is_loopback "$h" ||
    die "mariadb: no login as $u at $h:$p ($LAST_ERR); not on loopback, so not started here"
  echo "mariadb: no login as $u at $h:$p, starting it" >&2
  server=$(command -v mariadbd || ls /usr/sbin/mariadbd 2>/dev/null || true)
  if [[ -z $server ]]; then
    apt_install mariadb-server mariadb-client
    server=/usr/sbin/mariadbd
  elif [[ -z $(mysql_client) ]]; then
    apt_install mariadb-client
  fi
  if ! mysql_ready "$h" "$p" "$u" "$pw"; then
    # Without an init system the package's setup may leave the data directory empty.
    if ! "${SUDO[@]}" test -d /var/lib/mysql/mysql; then
      "${SUDO[@]}" mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null ||
        die "mariadb: mariadb-install-db failed"
    fi
    # The socket and pid file live here; tmpfiles.d would make it, but no init system runs it.
    "${SUDO[@]}" install -d -o mysql -g mysql /run/mysqld
    # --oknodo: a server that runs but refuses our login is kept; mysql_ready fixes the login.
    "${SUDO[@]}" start-stop-daemon --start --oknodo --background --exec "$server" -- \
      --user=mysql --port="$p" >&2 || die "mariadb: $server failed to start"
  fi
  wait_for mysql_ready "$h" "$p" "$u" "$pw" ||
    die "mariadb: still no login as $u at $h:$p after ${WAIT_SECS}s ($LAST_ERR)"
  echo "mariadb: ok at $u@$h:$p (started)"
}

ensure_redis
ensure_mysql
