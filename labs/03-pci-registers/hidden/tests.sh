# Lab 03's hidden test: graded after submission, never shipped to students.
# The runner sources it after guest/tests.sh, so their helpers are available here.

rebind_works() {
    [ -n "$BDF" ] || return 1
    [ -d "$DRV" ] || { echo "no driver pci_lab registered"; return 1; }
    bound || echo "$BDF" >"$DRV/bind" 2>/tmp/bind.err
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
    else
        expect_num "count after rebind" "$DBG/count" $WRITES \
            "probe runs the test again on each bind (see test_sequence)" || _ok=1
    fi
    read_hw || return 1
    expect_eq "device COUNT register after rebind" $WRITES "$hw_count" || _ok=1
    return $_ok
}
