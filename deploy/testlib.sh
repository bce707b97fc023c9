# Helpers of the deploy/*/test.sh scripts (sourced, not run).

# A TCP port on which nothing listens, nor on the next one.
free_port() {
    local p
    while :; do
        p=$(( 20000 + RANDOM % 20000 ))
        if ! ss -ltn "( sport = :$p or sport = :$((p + 1)) )" 2>/dev/null | grep -q LISTEN; then
            echo "$p"
            return
        fi
    done
}

# Installs those of the Debian packages named that are missing.
need_packages() {
    local missing=()
    for p in "$@"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    [ "${#missing[@]}" = 0 ] && return
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null 2>&1 ||
        { apt-get update >/dev/null && apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null; }
}
