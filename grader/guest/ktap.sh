# KTAP helpers for a lab's guest/run.sh (sourced: `. /lib/kdlab/ktap.sh`).
#
#   ktap_plan 3                     KTAP header and plan for 3 tests
#   ktap_test NAME COMMAND [ARG..]  run COMMAND; its output becomes the test's
#                                   diagnostic lines; exit 0 = ok, 77 = skip,
#                                   anything else = not ok
#   ktap_skip NAME REASON           report a test as skipped
#
# Diagnostics come before the result line, as the kernel's KUnit prints them;
# the grader shows them to the student as the test's message.
KTAP_N=0

ktap_plan() {
    echo "KTAP version 1"
    echo "1..$1"
}

ktap_test() {
    _name=$1
    shift
    KTAP_N=$((KTAP_N + 1))
    _out=$("$@" 2>&1)
    _rc=$?
    [ -n "$_out" ] && printf '%s\n' "$_out" | head -n 40 | sed 's/^/# /'
    case $_rc in
    0) echo "ok $KTAP_N $_name" ;;
    77) echo "ok $KTAP_N $_name # SKIP" ;;
    *) echo "not ok $KTAP_N $_name" ;;
    esac
    return 0
}

ktap_skip() {
    KTAP_N=$((KTAP_N + 1))
    echo "ok $KTAP_N $1 # SKIP $2"
}

# Assertion helpers: print what was expected and what was seen, and fail.
expect_eq() {
    # expect_eq WHAT EXPECTED ACTUAL
    if [ "$2" = "$3" ]; then return 0; fi
    echo "$1: expected '$2', got '$3'"
    return 1
}

module_loaded() {
    grep -q "^$1 " /proc/modules
}
