# Sourced by the scripts that build Go programs (tests/fixtures/build.sh,
# scripts/bench-*.sh): the go command of a release as they name it.

# /usr/local/go's go command, or Debian's go1.19 when there is none.
local_go() {
	if [ -x /usr/local/go/bin/go ]; then echo /usr/local/go/bin/go; else echo /usr/lib/go-1.19/bin/go; fi
}

# Prints a command line that runs the go command of a release: local, debian
# (Debian's go1.19) or goX.Y.Z (through GOTOOLCHAIN and the module proxy).
go_cmd() {
	case $1 in
	local) local_go ;;
	debian) echo /usr/lib/go-1.19/bin/go ;;
	go1.*) echo "env GOTOOLCHAIN=$1 $(local_go)" ;;
	*) return 1 ;;
	esac
}
