import Foundation
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// The tutorial's `lsb:httpd`: Debian has no httpd, so the test brings an LSB init script of
/// that name (in each node root's etc/init.d, read before /etc/init.d) that runs a small real
/// web server, python3's http.server, on port 80 of every address of the node, serving
/// `$SWIFTHA_ROOT/var/www/html`. Its pid file is under the node's HA_RSCTMP, so each node
/// knows only its own server; start returns once the server listens.
enum TutorialHTTPD {
    static let script = #"""
#!/bin/sh
### BEGIN INIT INFO
# Provides:          httpd
# Required-Start:    $network $remote_fs
# Required-Stop:     $network $remote_fs
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: a small web server (python3 -m http.server on port 80)
# Description:       Serves ${SWIFTHA_ROOT}/var/www/html on every address of the node, port 80.
### END INIT INFO
# LSB exit codes: start/stop 0 ok, 1 failed; status 0 running, 1 dead with a pid file, 3 not running.
PIDFILE="${HA_RSCTMP:-/run}/httpd.pid"
DOCROOT="${SWIFTHA_ROOT:-}/var/www/html"
PYTHON=/usr/bin/python3
running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }
listening() { "$PYTHON" -c 'import socket; socket.create_connection(("127.0.0.1", 80), 0.5).close()' 2>/dev/null; }
case "$1" in
start)
    running && exit 0
    [ -d "$DOCROOT" ] || { echo "httpd: $DOCROOT does not exist" >&2; exit 6; }
    setsid "$PYTHON" -m http.server 80 --bind 0.0.0.0 --directory "$DOCROOT" >/dev/null 2>&1 </dev/null &
    echo $! > "$PIDFILE"
    i=0
    while [ $i -lt 50 ]; do
        listening && exit 0
        running || break
        sleep 0.1; i=$((i + 1))
    done
    echo "httpd: the server did not listen on port 80" >&2
    kill "$(cat "$PIDFILE")" 2>/dev/null; rm -f "$PIDFILE"
    exit 1 ;;
stop)
    if running; then
        pid=$(cat "$PIDFILE"); kill "$pid"
        i=0
        while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
        kill -0 "$pid" 2>/dev/null && { kill -9 "$pid"; sleep 0.1; }
    fi
    rm -f "$PIDFILE"
    exit 0 ;;
status)
    running && { echo "httpd is running"; exit 0; }
    [ -f "$PIDFILE" ] && { echo "httpd is dead, $PIDFILE exists"; exit 1; }
    echo "httpd is not running"; exit 3 ;;
restart|force-reload)
    "$0" stop && exec "$0" start ;;
*)
    echo "usage: $0 {start|stop|status|restart|force-reload}" >&2; exit 2 ;;
esac
"""#
}
