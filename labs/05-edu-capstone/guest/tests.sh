# Lab 05 guest tests: /init loaded edu.ko; QEMU has one `-device edu`.
# Each test is one `eductl` command (guest/eductl.c), which explains what it saw.

EDUCTL=/lab/eductl

# The sysfs directory of the edu device (vendor 0x1234, device 0x11e8).
edu_sysfs() {
    for d in /sys/bus/pci/devices/*; do
        if [ "$(cat "$d/vendor")" = 0x1234 ] && [ "$(cat "$d/device")" = 0x11e8 ]; then
            echo "$d"
            return 0
        fi
    done
    return 1
}

# The module that drives the edu device, empty when it is not bound.
edu_driver_module() {
    d=$(edu_sysfs) || return 1
    [ -e "$d/driver/module" ] || return 1
    basename "$(readlink "$d/driver/module")"
}

# The sysfs directory of the PCI driver that module edu registered (whatever its name).
edu_driver_dir() {
    for drv in /sys/bus/pci/drivers/*; do
        [ "$(basename "$(readlink "$drv/module" 2>/dev/null)")" = edu ] && { echo "$drv"; return 0; }
    done
    return 1
}

# Binds the edu device to the edu module if an earlier test left it otherwise: a test
# that needs the binding sets it up rather than failing for another test's reason.
ensure_bound() {
    [ "$(edu_driver_module)" = edu ] && return 0
    module_loaded edu || insmod /lab/edu.ko 2>/dev/null
    d=$(edu_sysfs) && drv=$(edu_driver_dir) && basename "$d" >"$drv/bind" 2>/dev/null
    [ "$(edu_driver_module)" = edu ] && return 0
    echo "the edu device is not bound to the edu module, so this cannot be checked" \
        "(see device_bound)"
    return 1
}

device_bound() {
    expect_eq "insmod exit status" 0 "$INSMOD_RC" || { cat /tmp/insmod.err 2>/dev/null; return 1; }
    edu_sysfs >/dev/null || { echo "no edu device in the guest (QEMU setup problem)"; return 1; }
    mod=$(edu_driver_module)
    if [ "$mod" != edu ]; then
        echo "the edu PCI device is not bound to the edu module (bound to: '${mod:-nothing}')"
        echo "hint: match class 0x00ff00 in the ID table, check vendor 0x1234 and device" \
            "0x11e8 in probe, and return Ok from probe"
        dmesg | grep -i edu | tail -n 5
        return 1
    fi
    [ -c /dev/edu ] || { echo "/dev/edu is missing: register a misc device named \"edu\""; return 1; }
    $EDUCTL open
}

# Unloads and reloads the module; checks that /dev/edu and the binding come and go.
reload() {
    rmmod edu || { echo "rmmod edu failed"; return 1; }
    if [ -e /dev/edu ]; then
        echo "/dev/edu still exists after rmmod: the misc device was not deregistered"
        return 1
    fi
    if [ -n "$(edu_driver_module)" ]; then
        echo "the edu device is still bound after rmmod"
        return 1
    fi
    insmod /lab/edu.ko || { echo "insmod edu.ko failed after rmmod"; dmesg | tail -n 5; return 1; }
    [ "$(edu_driver_module)" = edu ] || {
        echo "the edu device was not bound again after insmod"
        dmesg | tail -n 5
        return 1
    }
}

# Task 7: after unbind the device raises no more interrupts. The state to undo is set
# here through BAR0 (resource0), whatever the driver did before: factorial interrupts on
# (STATUS bit 7), as EDU_IOC_FACTORIAL leaves them.
unbind_quiesces() {
    ensure_bound || return 1
    d=$(edu_sysfs)
    drv=$(edu_driver_dir)
    $EDUCTL reg "$d" 0x20 0x80 || return 1
    basename "$d" >"$drv/unbind" 2>/tmp/unbind.err || {
        echo "unbind failed: $(cat /tmp/unbind.err)"
        return 1
    }
    [ -z "$(edu_driver_module)" ] || { echo "the edu device is still bound after unbind"; return 1; }
    # Memory decoding may be off once unbound: on just to look at STATUS.
    echo 1 >"$d/enable"
    status=$($EDUCTL reg "$d" 0x20)
    echo 0 >"$d/enable"
    basename "$d" >"$drv/bind" 2>/dev/null # bound again for the tests after this one
    [ $((status & 0x80)) -eq 0 ] && return 0
    echo "STATUS (0x20) reads $status after unbind: factorial interrupts are still on" \
        "(bit 7, irq_on_done), with no handler left to take them"
    echo "hint: quiesce the device in unbind: write STATUS with irq_on_done clear"
    return 1
}

reload_rebinds() {
    reload || return 1
    $EDUCTL id || return 1
    # Interrupts work again: the vectors and the handler were freed and allocated again.
    $EDUCTL raise || { echo "(after rmmod and insmod)"; return 1; }
}

dma_reaches_device() {
    $EDUCTL dma-fill 7 || return 1
    reload || return 1
    $EDUCTL dma-check 7
}

# Tests that are one eductl command each.
id_register() { $EDUCTL id; }
liveness() { $EDUCTL liveness; }
factorial_values() { $EDUCTL fact; }
factorial_interrupts() { $EDUCTL fact-irqs; }
raised_interrupts() { $EDUCTL raise; }
dma_roundtrip() { $EDUCTL dma; }
dma_interrupts() { $EDUCTL dma-irqs; }
concurrent_users() { $EDUCTL concurrent; }
dma_range_checked() { $EDUCTL dma-range; }
