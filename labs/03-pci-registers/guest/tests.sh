# Lab 03 guest tests: pci_lab.ko was loaded by /init with writes=3; QEMU has one pci-testdev.

DRV=/sys/bus/pci/drivers/pci_lab
DBG=/sys/kernel/debug/pci_lab
WRITES=3

# The kernel log as plain messages, without the "[    0.512345] " timestamps.
klog() { dmesg | sed 's/^\[[ 0-9.]*\] //'; }

# The PCI address (BDF) of the pci-testdev function.
find_testdev() {
    for d in /sys/bus/pci/devices/*; do
        if [ "$(cat "$d/vendor")" = 0x1b36 ] && [ "$(cat "$d/device")" = 0x0005 ]; then
            basename "$d"
            return 0
        fi
    done
    return 1
}
BDF=$(find_testdev)
SYS=/sys/bus/pci/devices/$BDF

bound() { [ -n "$BDF" ] && [ -e "$DRV/$BDF" ]; }

need_bound() {
    bound && return 0
    echo "pci_lab is not bound to pci-testdev ($BDF), so this cannot be checked (see probe_binds_device)"
    return 1
}

# The value in a debugfs or sysfs file as a decimal number; hex (0x...) and
# decimal are both accepted, quotes and blanks are ignored. Prints the raw
# text in brackets when it is not a number, "<missing>" when there is no file.
num() {
    [ -f "$1" ] || { echo "<missing>"; return; }
    _v=$(tr -d ' "\n' <"$1" 2>/dev/null)
    case $_v in
    [0-9]*) (echo $((_v))) 2>/dev/null && return ;;
    esac
    echo "[$_v]"
}

# The text in a debugfs file without surrounding quotes and blanks.
text() {
    [ -f "$1" ] || { echo "<missing>"; return; }
    tr -d '"\n' <"$1" | sed 's/^ *//; s/ *$//'
}

hex() { printf '0x%x' "$1" 2>/dev/null || echo "$1"; }

# expect_num WHAT FILE EXPECTED(number) HINT
expect_num() {
    _got=$(num "$2")
    [ "$_got" = "$(($3))" ] && return 0
    case $_got in
    "<missing>") echo "$1: $2 does not exist" ;;
    \[*) echo "$1: expected $3 in $2, got $_got (not a number)" ;;
    *)
        case $3 in
        0x*) echo "$1: expected $(hex "$3") in $2, got $(hex "$_got")" ;;
        *) echo "$1: expected $3 in $2, got $_got" ;;
        esac
        ;;
    esac
    [ -n "$4" ] && echo "hint: $4"
    return 1
}

# The device's registers as seen from user space (guest/bar0.c), as shell variables
# hw_mem, hw_test, hw_width, hw_offset, hw_data, hw_count, hw_name.
read_hw() {
    hw_out=$(/lab/bar0 "$BDF" 2>&1) || { echo "cannot read BAR0 from user space: $hw_out"; return 1; }
    eval "$(echo "$hw_out" | sed -n 's/^\([a-z]*\)=\(.*\)$/hw_\1="\2"/p')"
}

# The address range of BAR0 as /proc/iomem prints it ("febff000-febfffff").
bar0_range() {
    [ -f "$SYS/resource" ] || return 0
    set -- $(head -n 1 "$SYS/resource")
    printf '%08x-%08x' $(($1)) $(($2))
}
BAR0_RANGE=$(bar0_range)

# Names of the requests nested in BAR0's range of /proc/iomem (a driver's
# pci_request_region shows up there under the name it passed).
bar0_requests() {
    [ -n "$BAR0_RANGE" ] || return 0
    grep -E "^ *$BAR0_RANGE : " /proc/iomem | sed 's/^ *[0-9a-f]*-[0-9a-f]* : //' | grep -v "^$BDF\$"
}

# The device is idle: no test selected, so the whole header reads as zero.
expect_idle() {
    read_hw || return 1
    if [ "$hw_mem" != 1 ]; then
        # Memory decoding is off: switch it on just to look at the registers.
        echo 1 >"$SYS/enable"
        read_hw
        echo 0 >"$SYS/enable"
    fi
    [ "$hw_test$hw_offset$hw_data$hw_count" = "00x00x000" ] && return 0
    echo "$1 the device is still running a test: TEST=$hw_test OFFSET=$hw_offset DATA=$hw_data COUNT=$hw_count"
    echo "hint: in unbind, write TEST with a number that selects no test (3..255, e.g. Test::Idle = 0xff); the device then reads as all zeros"
    return 1
}

expect_released() {
    _left=$(bar0_requests)
    [ -z "$_left" ] && return 0
    echo "$1 BAR0 ($BAR0_RANGE) is still requested by '$_left' in /proc/iomem"
    echo "hint: the pci::Bar must be dropped with the driver data (keep it in Data<'bound>, do not leak it)"
    return 1
}

expect_no_debugfs() {
    [ -e "$DBG" ] || return 0
    _files=$(ls "$DBG" | tr '\n' ' ')
    echo "$1 $DBG still exists (files: ${_files:-none})"
    echo "hint: a debugfs directory goes away when its last handle (Scope, Dir, File) is dropped: keep them in the driver data, and never leak or forget one"
    return 1
}

probe_binds_device() {
    [ -n "$BDF" ] || { echo "no pci-testdev (1b36:0005) in the guest: lab setup problem"; return 1; }
    expect_eq "insmod exit status" 0 "$INSMOD_RC" || { cat /tmp/insmod.err 2>/dev/null; return 1; }
    if ! bound; then
        echo "pci_lab did not bind to pci-testdev at $BDF ($DRV/$BDF does not exist)"
        if klog | grep -q "probe with driver pci_lab failed"; then
            echo "hint: the ID table matched but probe returned an error. A BAR whose memory decoding is off reads as all ones (WIDTH = 0xff) and ignores writes: is pdev.enable_device_mem() called before BAR0 is used?"
        elif [ -d "$DRV" ]; then
            echo "hint: the driver is registered; does its ID table match vendor 0x1b36 (pci::Vendor::REDHAT), device 0x0005, and does probe succeed?"
        else
            echo "hint: no PCI driver named pci_lab is registered (module_pci_driver! name)"
        fi
        echo "kernel log:"
        klog | grep -i -e pci_lab -e "$BDF" | tail -n 6
        return 1
    fi
    if [ -z "$(bar0_requests)" ]; then
        echo "pci_lab is bound but BAR0 ($BAR0_RANGE) is not requested (nothing nested under it in /proc/iomem)"
        echo "hint: map BAR0 with pdev.iomap_region_sized::<SIZE>(0, c\"pci_lab\")"
        return 1
    fi
}

config_ids() {
    need_bound || return 1
    [ -d "$DBG" ] || { echo "$DBG does not exist; hint: create the debugfs directory pci_lab in probe and keep its handle in the driver data"; return 1; }
    _ok=0
    expect_num "vendor" "$DBG/vendor" "$(cat "$SYS/vendor")" \
        "the Vendor ID is the 16-bit register at offset 0x00 of configuration space" || _ok=1
    expect_num "device" "$DBG/device" "$(cat "$SYS/device")" \
        "the Device ID is the 16-bit register at offset 0x02 (bits 31:16 of the dword at 0x00)" || _ok=1
    return $_ok
}

config_class_revision() {
    need_bound || return 1
    [ -d "$DBG" ] || { echo "$DBG does not exist"; return 1; }
    _ok=0
    expect_num "revision" "$DBG/revision" "$(cat "$SYS/revision")" \
        "the Revision ID is the byte at offset 0x08 of configuration space" || _ok=1
    expect_num "class" "$DBG/class" "$(cat "$SYS/class")" \
        "the 24-bit class code is in bits 31:8 of the dword at 0x08 (0x0b base class, 0x0a subclass, 0x09 prog-if)" || _ok=1
    return $_ok
}

test_sequence() {
    need_bound || return 1
    [ -d "$DBG" ] || { echo "$DBG does not exist"; return 1; }
    _ok=0
    _name=$(text "$DBG/test_name")
    expect_eq "test_name" "mmio-no-eventfd" "$_name" || {
        _ok=1
        echo "hint: NAME is a byte array at 0x10, readable only after test 0 was selected by writing TEST (0x00)"
    }
    expect_num "test_offset" "$DBG/test_offset" 0x800 \
        "OFFSET is the 32-bit register at 0x04, read after selecting the test" || _ok=1
    expect_num "test_data" "$DBG/test_data" 0xfa \
        "DATA is the byte at 0x08, read after selecting the test" || _ok=1
    expect_num "count" "$DBG/count" $WRITES \
        "select the test once (TEST=0 resets COUNT), then write DATA at OFFSET 'writes' times (one byte each), then read COUNT at 0x0c" || _ok=1
    return $_ok
}

device_state_matches() {
    need_bound || return 1
    read_hw || return 1
    [ "$hw_mem" = 1 ] || { echo "memory decoding is off in the PCI command register; hint: pdev.enable_device_mem()"; return 1; }
    _ok=0
    expect_eq "device TEST register" 0 "$hw_test" || _ok=1
    expect_eq "device OFFSET register" 0x800 "$hw_offset" || _ok=1
    expect_eq "device COUNT register (matching writes the device saw)" $WRITES "$hw_count" || {
        _ok=1
        echo "hint: the device itself counted $hw_count matching writes; write DATA (one byte) at OFFSET $WRITES times after selecting test 0"
    }
    return $_ok
}

# Before checking that unbinding quiets the device, it must be running a test. When the
# driver's own test left it otherwise (a wrong number of writes, no test selected), test 0
# is selected here through BAR0, so that unbind is checked on its own merits.
make_active() {
    read_hw || return 1
    [ "$hw_offset" = 0x800 ] && return 0
    [ "$hw_mem" = 1 ] || echo 1 >"$SYS/enable"
    /lab/bar0 "$BDF" select 0
    [ "$hw_mem" = 1 ] || echo 0 >"$SYS/enable"
}

unbind_quiets_device() {
    need_bound || return 1
    make_active || return 1
    echo "$BDF" >"$DRV/unbind" 2>/tmp/unbind.err || { echo "unbind failed: $(cat /tmp/unbind.err)"; return 1; }
    if bound; then
        echo "$DRV/$BDF still exists after unbind"
        return 1
    fi
    _ok=0
    expect_no_debugfs "after unbind," || _ok=1
    expect_released "after unbind," || _ok=1
    expect_idle "after unbind," || _ok=1
    return $_ok
}

rmmod_clean() {
    module_loaded pci_lab || { echo "pci_lab is not loaded"; return 1; }
    bound || echo "$BDF" >"$DRV/bind" 2>/dev/null
    bound || {
        echo "pci_lab is not bound to pci-testdev, so removal cannot be checked (see probe_binds_device)"
        rmmod pci_lab 2>/dev/null
        return 1
    }
    make_active || { rmmod pci_lab 2>/dev/null; return 1; }
    rmmod pci_lab 2>/tmp/rmmod.err || { echo "rmmod pci_lab failed: $(cat /tmp/rmmod.err)"; return 1; }
    _ok=0
    ! module_loaded pci_lab || { echo "pci_lab is still in /proc/modules"; _ok=1; }
    expect_no_debugfs "after rmmod," || _ok=1
    expect_released "after rmmod," || _ok=1
    expect_idle "after rmmod," || _ok=1
    if klog | grep -q -e "BUG:" -e "Oops" -e "WARNING:" -e "panicked"; then
        echo "the kernel log reports a problem:"
        klog | grep -e "BUG:" -e "Oops" -e "WARNING:" -e "panicked" | head -n 3
        _ok=1
    fi
    return $_ok
}
