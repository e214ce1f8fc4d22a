# Lab 03's hidden test: graded after submission, never shipped to students.
# The runner sources it after guest/tests.sh, so their helpers are available here.

# Whatever an earlier test left, the device is unbound, then bound again: the bind must
# recreate the debugfs files and leave the device running a test (COUNT, whatever its
# value, is test_sequence's business).
rebind_works() {
    [ -n "$BDF" ] || return 1
    [ -d "$DRV" ] || { echo "no driver pci_lab registered"; return 1; }
    bound && echo "$BDF" >"$DRV/unbind"
    echo "$BDF" >"$DRV/bind" 2>/tmp/bind.err
    if ! bound; then
        echo "binding $BDF to pci_lab again failed: $(cat /tmp/bind.err 2>/dev/null)"
        klog | grep -i -e pci_lab -e "$BDF" | tail -n 4
        return 1
    fi
    _ok=0
    if [ ! -f "$DBG/count" ]; then
        echo "$DBG/count does not exist after binding again"
        echo "hint: creating a debugfs directory fails (silently) while one of the same name exists: was the previous binding's directory removed?"
        _ok=1
    fi
    read_hw || return 1
    if [ "$hw_offset" != 0x800 ] || [ "$hw_count" = 0 ]; then
        echo "after binding again the device shows no test run (OFFSET=$hw_offset COUNT=$hw_count)"
        echo "hint: probe selects the test and runs it on every bind (see test_sequence)"
        _ok=1
    fi
    return $_ok
}
